//! A one-second cache of active API integrations' access data (key digest, injection flag,
//! rate limit), so that a busy integration costs one database read per second per replica
//! rather than one per request. Only active integrations are cached: an activation takes
//! effect at once; a deactivation within a second here — and at once in the executor, which
//! checks the integration in the turn's own transaction and answers 404.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use contracts::IntegrationId;
use store::integrations::ApiAccess;
use store::{Store, StoreError};

pub struct AccessCache {
    ttl: Duration,
    entries: Mutex<HashMap<IntegrationId, (Instant, ApiAccess)>>,
}

/// Entries kept before the cache starts over; far above the integrations one replica serves.
const MAX_ENTRIES: usize = 100_000;

impl AccessCache {
    pub fn new(ttl: Duration) -> Self {
        AccessCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The integration's access data if it exists and is active.
    pub async fn active(
        &self,
        store: &Store,
        id: IntegrationId,
    ) -> Result<Option<ApiAccess>, StoreError> {
        if let Some(access) = self.fresh(id) {
            return Ok(Some(access));
        }
        let access = store.api_access(id).await?.filter(|access| access.active);
        if let (Some(access), Ok(mut entries)) = (&access, self.entries.lock()) {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(id, (Instant::now(), access.clone()));
        }
        Ok(access)
    }

    fn fresh(&self, id: IntegrationId) -> Option<ApiAccess> {
        let entries = self.entries.lock().ok()?;
        let (at, access) = entries.get(&id)?;
        (at.elapsed() < self.ttl).then(|| access.clone())
    }
}
