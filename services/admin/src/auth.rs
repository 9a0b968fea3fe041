//! Operator authentication: `Authorization: Bearer <operator token>`. The token is digested
//! with the deployment's digest key and looked up; the digest is a keyed HMAC, so an index
//! lookup leaks nothing an attacker can use, and the clear token is never stored.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use store::accounts::Account;
use store::rate_limits::BucketShape;

use crate::config::SigninFailureLimit;
use crate::error::{ApiError, FromStore};
use crate::state::AppState;

/// The authenticated caller: every handler that takes one acts within `account`.
pub struct Operator {
    pub account: Account,
}

pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req).map(str::to_owned);
        let source = client_address(req, state.as_ref().map(|state| &state.signin_failures));
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let token = token.ok_or_else(ApiError::unauthorized)?;
            let limit = SigninLimit::new(&state, source);
            // Checked before the token: past the limit even the right token is refused, so
            // the answers tell a guesser nothing.
            limit.check().await?;
            // Every form the token may be stored in (two during a key rotation).
            let candidates = state.digest_key.candidates(&token);
            let forms: Vec<&[u8]> = candidates.iter().map(Vec::as_slice).collect();
            match state.store.authenticate_token_any(&forms).await {
                Ok(Some((account, _))) => Ok(Operator { account }),
                Ok(None) => Err(limit.failed().await),
                Err(err) => Err(ApiError::from_store(err, "account")),
            }
        })
    }
}

/// The client's address for the sign-in limit: the trusted proxy's header when configured,
/// else the peer address.
fn client_address(req: &HttpRequest, limit: Option<&SigninFailureLimit>) -> String {
    let from_header = limit
        .and_then(|limit| limit.client_ip_header.as_deref())
        .and_then(|name| req.headers().get(name))
        .and_then(|value| value.to_str().ok())
        // A proxy chain appends: the first entry is the client as the trusted proxy saw it.
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|value| !value.is_empty() && value.len() <= 64);
    match from_header {
        Some(address) => address.to_owned(),
        None => req
            .peer_addr()
            .map_or_else(|| "unknown".to_owned(), |peer| peer.ip().to_string()),
    }
}

/// The failed sign-ins of one client address, in a bucket shared by every admin replica.
struct SigninLimit<'a> {
    state: &'a AppState,
    key: String,
    shape: BucketShape,
}

impl<'a> SigninLimit<'a> {
    fn new(state: &'a AppState, source: String) -> Self {
        let limit = &state.signin_failures;
        let capacity = f64::from(limit.max_failures.max(1));
        Self {
            state,
            key: format!("signin:{source}"),
            shape: BucketShape {
                capacity,
                per_second: capacity / limit.window.as_secs_f64().max(1.0),
            },
        }
    }

    /// 429 while the client has no failure left.
    async fn check(&self) -> Result<(), ApiError> {
        match self.state.store.peek_tokens(&self.key, self.shape).await {
            Ok(tokens) if tokens >= 1.0 => Ok(()),
            Ok(tokens) => Err(too_many(self.shape.wait_for_one(tokens))),
            Err(err) => Err(ApiError::from_store(err, "account")),
        }
    }

    /// Spends one failure; the answer for the wrong token.
    async fn failed(&self) -> ApiError {
        match self.state.store.take_tokens(&self.key, self.shape, 1).await {
            Ok(lease) if lease.granted == 0 => too_many(self.shape.wait_for_one(lease.remaining)),
            Ok(_) => ApiError::unauthorized(),
            Err(err) => {
                tracing::warn!(error = %err, "sign-in failure not counted");
                ApiError::unauthorized()
            }
        }
    }
}

fn too_many(wait: std::time::Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_sign_ins",
        format!("too many failed sign-ins from this address; retry in {seconds} s"),
    )
    .with_retry_after(seconds.max(1))
}
