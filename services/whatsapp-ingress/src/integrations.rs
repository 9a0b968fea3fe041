//! The WhatsApp integrations as the ingress needs them, with their app secret opened, kept for
//! a short time so that the hot path (one POST per message) does not read and decrypt them
//! every time.
//!
//! Staleness is bounded by the TTL and harmless for the bot: the executor checks again that
//! the integration is active before it runs a turn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contracts::{AccountId, IntegrationId};
use crypto::{DeploymentKey, DigestKey, Secret};
use store::integrations::{Integration, IntegrationDetails};
use store::{Store, StoreError};

/// Past this many cached integrations, expired ones are dropped (unknown ids are cached too,
/// so that a flood of made-up URLs does not reach the database on every request).
const CACHE_SWEEP_AT: usize = 10_000;

/// A WhatsApp integration, ready to check signatures and route messages.
pub struct WhatsappIntegration {
    pub id: IntegrationId,
    pub account_id: AccountId,
    pub active: bool,
    pub app_id: String,
    pub phone_number_id: String,
    pub trigger_recipients: Vec<String>,
    verify_token_digest: Vec<u8>,
    app_secret: Secret<Vec<u8>>,
}

impl WhatsappIntegration {
    /// From the store's integration; `None` for an API integration.
    fn open(integration: Integration, key: &DeploymentKey) -> Result<Option<Self>, LookupError> {
        let IntegrationDetails::Whatsapp(details) = integration.details else {
            return Ok(None);
        };
        let aad = store::integrations::secret_aad(integration.id, "app_secret");
        let app_secret = key
            .open(&details.app_secret_sealed, &aad)
            .map_err(|error| LookupError::Secret {
                integration: integration.id,
                reason: error.to_string(),
            })?;
        Ok(Some(WhatsappIntegration {
            id: integration.id,
            account_id: integration.account_id,
            active: integration.active,
            app_id: details.app_id,
            phone_number_id: details.phone_number_id,
            trigger_recipients: details.trigger_recipients,
            verify_token_digest: details.verify_token_digest,
            app_secret,
        }))
    }

    /// The Meta app secret that signs this integration's webhooks.
    pub fn app_secret(&self) -> &[u8] {
        self.app_secret.expose()
    }

    /// Whether `token` is this integration's verify token (exact, constant time).
    pub fn verify_token_matches(&self, digest_key: &DigestKey, token: &str) -> bool {
        digest_key.verify(token, &self.verify_token_digest)
    }

    /// Whether webhooks signed for `self` may carry events of `other`: the same account and
    /// the same Meta app (one app secret, one callback URL for all of its numbers).
    pub fn shares_app_with(&self, other: &WhatsappIntegration) -> bool {
        self.account_id == other.account_id && self.app_id == other.app_id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The sealed secret does not open: another deployment key, or a corrupt row.
    #[error("the app secret of integration {integration} does not open: {reason}")]
    Secret {
        integration: IntegrationId,
        reason: String,
    },
}

type Entry = (Instant, Option<Arc<WhatsappIntegration>>);

pub struct IntegrationCache {
    store: Store,
    key: DeploymentKey,
    ttl: Duration,
    by_id: Mutex<HashMap<IntegrationId, Entry>>,
}

impl IntegrationCache {
    pub fn new(store: Store, key: DeploymentKey, ttl: Duration) -> Self {
        IntegrationCache {
            store,
            key,
            ttl,
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// The WhatsApp integration with this id, or `None` when there is none.
    pub async fn get(
        &self,
        id: IntegrationId,
    ) -> Result<Option<Arc<WhatsappIntegration>>, LookupError> {
        if let Some(cached) = self.cached(id) {
            return Ok(cached);
        }
        let found = match self.store.find_integration(id).await {
            Ok(integration) => WhatsappIntegration::open(integration, &self.key)?.map(Arc::new),
            Err(StoreError::NotFound) => None,
            Err(error) => return Err(error.into()),
        };
        self.remember(id, found.clone());
        Ok(found)
    }

    /// The active WhatsApp integration serving `phone_number_id`, if any (not cached: only
    /// webhooks routed away from their URL's integration ask).
    pub async fn active_for_number(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Arc<WhatsappIntegration>>, LookupError> {
        match self
            .store
            .find_active_whatsapp_integration(phone_number_id)
            .await?
        {
            Some(integration) => {
                Ok(WhatsappIntegration::open(integration, &self.key)?.map(Arc::new))
            }
            None => Ok(None),
        }
    }

    fn cached(&self, id: IntegrationId) -> Option<Option<Arc<WhatsappIntegration>>> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, found)| found.clone())
    }

    fn remember(&self, id: IntegrationId, found: Option<Arc<WhatsappIntegration>>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_SWEEP_AT {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= CACHE_SWEEP_AT {
                map.clear();
            }
        }
        map.insert(id, (Instant::now(), found));
    }
}
