//! The caller's account, other accounts (platform admins only) and operator tokens.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use contracts::{AccountId, TokenId};
use serde::{Deserialize, Serialize};
use store::accounts::{Account, NewToken, OperatorToken};
use utoipa::ToSchema;

use service_kit::edge::EdgeJson;

use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    #[schema(value_type = i64)]
    pub id: AccountId,
    pub name: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        AccountView {
            id: account.id,
            name: account.name,
            is_platform_admin: account.is_platform_admin,
            created_at: account.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    #[schema(value_type = i64)]
    pub id: TokenId,
    pub name: String,
    /// The token masked: only its last characters are shown.
    pub token_masked: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<OperatorToken> for TokenView {
    fn from(token: OperatorToken) -> Self {
        TokenView {
            id: token.id,
            name: token.name,
            token_masked: crypto::masked_from_hint(&token.hint),
            created_at: token.created_at,
            revoked_at: token.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
    /// Name of the account's first operator token.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub token_name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountView,
    /// The first operator token of the new account, shown this once.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^\\s*[^\\s\\u0000][^\\u0000]*$"
    )]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The token itself, shown this once.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

fn checked_name(raw: &str, field: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("{field} must be 1 to 200 characters"),
        ));
    }
    Ok(name.to_owned())
}

struct IssuedToken {
    clear: String,
    digest: Vec<u8>,
    hint: String,
}

fn issue_token(state: &AppState) -> Result<IssuedToken, ApiError> {
    let clear = crypto::generate_operator_token().map_err(|err| {
        tracing::error!(error = %err, "token generation failed");
        ApiError::internal()
    })?;
    Ok(IssuedToken {
        digest: state.digest_key.digest(&clear),
        hint: crypto::hint(&clear),
        clear,
    })
}

#[utoipa::path(get, path = "/v1/account", tag = "accounts",
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody)))]
pub async fn get_account(operator: Operator) -> web::Json<AccountView> {
    web::Json(operator.account.into())
}

/// Creates a tenant with its first operator token. Platform admins only.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = CreatedAccount), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_account(
    operator: Operator,
    state: web::Data<AppState>,
    body: EdgeJson<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    if !operator.account.is_platform_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only platform admins can create accounts",
        ));
    }
    let name = checked_name(&body.name, "name")?;
    let token_name = checked_name(body.token_name.as_deref().unwrap_or("first"), "token_name")?;
    let token = issue_token(&state)?;
    let (account, _) = state
        .store
        .create_account(
            &name,
            false,
            NewToken {
                name: &token_name,
                digest: &token.digest,
                hint: &token.hint,
            },
        )
        .await
        .map_err(|err| ApiError::from_store(err, "account"))?;
    Ok(HttpResponse::Created().json(CreatedAccount {
        account: account.into(),
        token: token.clear,
    }))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "accounts",
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    operator: Operator,
    state: web::Data<AppState>,
) -> Result<web::Json<TokenList>, ApiError> {
    let tokens = state
        .store
        .list_tokens(operator.account.id)
        .await
        .map_err(|err| ApiError::from_store(err, "token"))?;
    Ok(web::Json(TokenList {
        tokens: tokens.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/tokens", tag = "accounts", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    operator: Operator,
    state: web::Data<AppState>,
    body: EdgeJson<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let name = checked_name(&body.name, "name")?;
    let token = issue_token(&state)?;
    let stored = state
        .store
        .create_token(
            operator.account.id,
            NewToken {
                name: &name,
                digest: &token.digest,
                hint: &token.hint,
            },
        )
        .await
        .map_err(|err| ApiError::from_store(err, "token"))?;
    Ok(HttpResponse::Created().json(CreatedToken {
        view: stored.into(),
        token: token.clear,
    }))
}

#[utoipa::path(delete, path = "/v1/tokens/{token_id}", tag = "accounts",
    params(("token_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<TokenId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .revoke_token(operator.account.id, path.into_inner())
        .await
        .map_err(|err| ApiError::from_store(err, "token"))?;
    Ok(HttpResponse::NoContent().finish())
}
