//! Operator authentication: `Authorization: Bearer <operator token>`. The token is digested
//! with the deployment's digest key and looked up; the digest is a keyed HMAC, so an index
//! lookup leaks nothing an attacker can use, and the clear token is never stored.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use store::accounts::Account;

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
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let token = token.ok_or_else(ApiError::unauthorized)?;
            // Every form the token may be stored in (two during a key rotation).
            let candidates = state.digest_key.candidates(&token);
            let forms: Vec<&[u8]> = candidates.iter().map(Vec::as_slice).collect();
            match state.store.authenticate_token_any(&forms).await {
                Ok(Some((account, _))) => Ok(Operator { account }),
                Ok(None) => Err(ApiError::unauthorized()),
                Err(err) => Err(ApiError::from_store(err, "account")),
            }
        })
    }
}
