//! Published bot versions are immutable, so they are parsed once and cached for good.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use contracts::BotId;
use flow::engine::BotVersion;
use flow::VariableDecl;
use store::{Store, StoreError};

/// Entries kept before the cache starts over (a bound, not an LRU: versions are small and a
/// deployment rarely has more live versions than this).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("bot {bot} version {version} is unreadable: {reason}")]
    Corrupt {
        bot: BotId,
        version: i32,
        reason: String,
    },
}

#[derive(Default)]
pub struct VersionCache {
    entries: Mutex<HashMap<(BotId, i32), Arc<BotVersion>>>,
}

impl VersionCache {
    pub async fn get(
        &self,
        store: &Store,
        bot: BotId,
        version: i32,
    ) -> Result<Arc<BotVersion>, VersionError> {
        if let Some(found) = self.lookup(bot, version) {
            return Ok(found);
        }
        let stored = store.load_version(bot, version).await?;
        let corrupt = |reason: String| VersionError::Corrupt {
            bot,
            version,
            reason,
        };
        let variables: Vec<VariableDecl> =
            serde_json::from_value(stored.variables).map_err(|e| corrupt(e.to_string()))?;
        let flow = flow::parse_flow_value(stored.flow).map_err(|malformed| {
            corrupt(
                malformed
                    .issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let parsed = Arc::new(BotVersion::new(variables, flow));
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert((bot, version), parsed.clone());
        }
        Ok(parsed)
    }

    fn lookup(&self, bot: BotId, version: i32) -> Option<Arc<BotVersion>> {
        self.entries.lock().ok()?.get(&(bot, version)).cloned()
    }
}
