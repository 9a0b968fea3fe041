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
        let parsed = Arc::new(
            parse_version(stored.variables, stored.flow).map_err(|reason| {
                VersionError::Corrupt {
                    bot,
                    version,
                    reason,
                }
            })?,
        );
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

/// A bot's variables and flow (as stored) as the engine runs them; the reason when they are
/// unreadable.
pub fn parse_version(
    variables: serde_json::Value,
    flow: serde_json::Value,
) -> Result<BotVersion, String> {
    let variables: Vec<VariableDecl> =
        serde_json::from_value(variables).map_err(|e| e.to_string())?;
    let flow = flow::parse_flow_value(flow).map_err(|malformed| {
        malformed
            .issues
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(BotVersion::new(variables, flow))
}
