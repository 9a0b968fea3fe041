//! Access tokens: opening them, refreshing one the Graph API refused (190), and the background
//! refresher that renews long-lived tokens before they expire.
//!
//! A refresh exchanges the current token for a long-lived one
//! (`GET /oauth/access_token?grant_type=fb_exchange_token`), seals it and stores it only if the
//! stored token is still the one exchanged (compare-and-swap), so that an operator's new token
//! or another refresh is never overwritten. An expired token cannot be exchanged: that, and
//! every failed exchange, raises a `token_failure` alert.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use contracts::IntegrationId;
use crypto::{DeploymentKey, SecretString};
use graph_client::GraphClient;
use store::integrations::{secret_aad, IntegrationDetails, WhatsappDetails};
use store::{Store, StoreError};
use tokio::sync::watch;

use crate::alerts::{AlertKind, AlertSink};

/// The token a batch sends with, and its sealed form as stored (to tell whether it changed).
pub struct Credentials {
    pub token: SecretString,
    pub sealed: Vec<u8>,
}

/// Why no usable token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Unusable(String),
}

pub struct Tokens {
    pub store: Store,
    pub graph: GraphClient,
    pub key: DeploymentKey,
    pub alerts: Arc<dyn AlertSink>,
}

/// A WhatsApp integration's details, `None` when it is gone or of another kind.
pub async fn whatsapp_details(
    store: &Store,
    id: IntegrationId,
) -> Result<Option<Box<WhatsappDetails>>, StoreError> {
    match store.find_integration(id).await {
        Ok(integration) => match integration.details {
            IntegrationDetails::Whatsapp(details) => Ok(Some(details)),
            IntegrationDetails::Api(_) => Ok(None),
        },
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

impl Tokens {
    /// Opens a sealed access token of integration `id`.
    pub fn open(&self, id: IntegrationId, sealed: &[u8]) -> Result<Credentials, TokenError> {
        let token = self
            .key
            .open_string(sealed, &secret_aad(id, "access_token"))
            .map_err(|e| TokenError::Unusable(format!("the access token cannot be opened: {e}")))?;
        Ok(Credentials {
            token,
            sealed: sealed.to_vec(),
        })
    }

    /// The token to try again with after the Graph API refused `used`: the stored one when
    /// someone replaced it meanwhile, else a fresh exchange of `used`.
    pub async fn refresh_after_refusal(
        &self,
        id: IntegrationId,
        used: &Credentials,
    ) -> Result<Credentials, TokenError> {
        let details = whatsapp_details(&self.store, id)
            .await?
            .ok_or_else(|| TokenError::Unusable("the integration is gone".into()))?;
        if details.access_token_sealed != used.sealed {
            tracing::info!(integration = %id, "the access token was replaced meanwhile; using the stored one");
            return self.open(id, &details.access_token_sealed);
        }
        self.exchange_and_store(id, &details).await
    }

    /// Exchanges the stored token for a long-lived one and stores it.
    async fn exchange_and_store(
        &self,
        id: IntegrationId,
        details: &WhatsappDetails,
    ) -> Result<Credentials, TokenError> {
        let current = self.open(id, &details.access_token_sealed)?;
        let app_secret = self
            .key
            .open_string(&details.app_secret_sealed, &secret_aad(id, "app_secret"))
            .map_err(|e| TokenError::Unusable(format!("the app secret cannot be opened: {e}")))?;
        let now = Utc::now();
        let exchanged = self
            .graph
            .exchange_token(
                &details.api_version,
                &details.app_id,
                &app_secret,
                &current.token,
            )
            .await
            .map_err(|e| TokenError::Unusable(format!("the token exchange failed: {e}")))?;
        let sealed = self
            .key
            .seal(
                exchanged.access_token.expose().as_bytes(),
                &secret_aad(id, "access_token"),
            )
            .map_err(|e| TokenError::Unusable(format!("sealing the new token failed: {e}")))?;
        let expires_at = exchanged.expires_at(now);
        if self
            .store
            .replace_access_token(id, &current.sealed, &sealed, expires_at)
            .await?
        {
            tracing::info!(integration = %id, ?expires_at, "access token refreshed");
            return Ok(Credentials {
                token: exchanged.access_token,
                sealed,
            });
        }
        // Replaced while we exchanged: the stored token is the newer decision.
        let stored = whatsapp_details(&self.store, id)
            .await?
            .ok_or_else(|| TokenError::Unusable("the integration is gone".into()))?;
        self.open(id, &stored.access_token_sealed)
    }

    /// One pass of the background refresher: renews every token that expires within `window`;
    /// returns how many were renewed. Expired tokens and failed exchanges raise alerts.
    pub async fn refresh_expiring(&self, window: Duration) -> Result<usize, StoreError> {
        let now = Utc::now();
        let horizon = now + chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(7));
        let mut renewed = 0;
        for id in self.store.access_tokens_expiring_before(horizon).await? {
            let Some(details) = whatsapp_details(&self.store, id).await? else {
                continue;
            };
            match details.access_token_expires_at {
                Some(at) if at <= now => {
                    self.alerts.alert(
                        id,
                        AlertKind::TokenFailure,
                        format!("the access token expired at {at}; set a new one"),
                    );
                }
                Some(_) => match self.exchange_and_store(id, &details).await {
                    Ok(_) => renewed += 1,
                    Err(TokenError::Store(error)) => return Err(error),
                    Err(TokenError::Unusable(reason)) => self.alerts.alert(
                        id,
                        AlertKind::TokenFailure,
                        format!("refreshing the access token before it expires failed: {reason}"),
                    ),
                },
                None => {}
            }
        }
        Ok(renewed)
    }
}

/// Looks for expiring tokens every `interval` (first at once) until shutdown.
pub async fn run_refresher(
    tokens: Arc<Tokens>,
    window: Duration,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        match tokens.refresh_expiring(window).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "access tokens refreshed before expiry"),
            Err(error) => tracing::warn!(%error, "looking for expiring access tokens failed"),
        }
    }
}
