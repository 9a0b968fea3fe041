//! Accounts (tenants) and the operator tokens that act for them. Tokens are stored only as
//! digests (computed by the caller with `crypto::DigestKey`) with a short hint for display.

use chrono::{DateTime, Utc};
use contracts::{AccountId, TokenId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::schema::{accounts, operator_tokens};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub is_platform_admin: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    pub id: TokenId,
    pub account_id: AccountId,
    pub name: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts, check_for_backend(diesel::pg::Pg))]
struct AccountRow {
    id: i64,
    name: String,
    is_platform_admin: bool,
    created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = operator_tokens, check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    id: i64,
    account_id: i64,
    name: String,
    token_hint: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

pub(crate) fn account_id(raw: i64) -> Result<AccountId, StoreError> {
    AccountId::new(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(row: AccountRow) -> Result<Self, StoreError> {
        Ok(Account {
            id: account_id(row.id)?,
            name: row.name,
            is_platform_admin: row.is_platform_admin,
            created_at: row.created_at,
        })
    }
}

impl TryFrom<TokenRow> for OperatorToken {
    type Error = StoreError;
    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(OperatorToken {
            id: TokenId::new(row.id).map_err(|err| StoreError::Corrupt(err.to_string()))?,
            account_id: account_id(row.account_id)?,
            name: row.name,
            hint: row.token_hint,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// What a new operator token is stored as.
pub struct NewToken<'a> {
    pub name: &'a str,
    pub digest: &'a [u8],
    pub hint: &'a str,
}

async fn insert_account(
    conn: &mut diesel_async::AsyncPgConnection,
    name: &str,
    is_platform_admin: bool,
) -> Result<Account, StoreError> {
    let row: AccountRow = diesel::insert_into(accounts::table)
        .values((
            accounts::name.eq(name),
            accounts::is_platform_admin.eq(is_platform_admin),
        ))
        .returning(AccountRow::as_returning())
        .get_result(conn)
        .await?;
    row.try_into()
}

async fn insert_token(
    conn: &mut diesel_async::AsyncPgConnection,
    account: AccountId,
    token: &NewToken<'_>,
) -> Result<OperatorToken, StoreError> {
    let row: TokenRow = diesel::insert_into(operator_tokens::table)
        .values((
            operator_tokens::account_id.eq(account.get()),
            operator_tokens::name.eq(token.name),
            operator_tokens::token_digest.eq(token.digest),
            operator_tokens::token_hint.eq(token.hint),
        ))
        .returning(TokenRow::as_returning())
        .get_result(conn)
        .await?;
    row.try_into()
}

impl Store {
    /// Creates an account together with its first operator token, atomically.
    pub async fn create_account(
        &self,
        name: &str,
        is_platform_admin: bool,
        first_token: NewToken<'_>,
    ) -> Result<(Account, OperatorToken), StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let account = insert_account(conn, name, is_platform_admin).await?;
            let token = insert_token(conn, account.id, &first_token).await?;
            Ok((account, token))
        })
        .await
    }

    /// Makes sure the operator token given in the deployment's configuration exists. The first
    /// start creates a platform-admin account for it; later starts find it and change nothing.
    /// Returns the account and whether it was created now.
    pub async fn bootstrap_account(
        &self,
        account_name: &str,
        token: NewToken<'_>,
    ) -> Result<(Account, bool), StoreError> {
        if let Some((account, _)) = self.authenticate_token(token.digest).await? {
            return Ok((account, false));
        }
        match self.create_account(account_name, true, token).await {
            Ok((account, _)) => Ok((account, true)),
            // Two replicas bootstrapping at once: the other one won, which is fine.
            Err(StoreError::Conflict { .. }) => Err(StoreError::Concurrent),
            Err(other) => Err(other),
        }
    }

    pub async fn get_account(&self, id: AccountId) -> Result<Account, StoreError> {
        let mut conn = self.conn().await?;
        let row: AccountRow = accounts::table
            .find(id.get())
            .select(AccountRow::as_select())
            .first(&mut conn)
            .await?;
        row.try_into()
    }

    /// Finds the account of a live (not revoked) operator token by its digest.
    pub async fn authenticate_token(
        &self,
        digest: &[u8],
    ) -> Result<Option<(Account, TokenId)>, StoreError> {
        self.authenticate_token_any(&[digest]).await
    }

    /// [`authenticate_token`](Self::authenticate_token) by any of the token's digest forms
    /// (`DigestKey::candidates`: during a key rotation a token is stored in one of two).
    pub async fn authenticate_token_any(
        &self,
        candidates: &[&[u8]],
    ) -> Result<Option<(Account, TokenId)>, StoreError> {
        let mut conn = self.conn().await?;
        let found: Option<(AccountRow, i64)> = operator_tokens::table
            .inner_join(accounts::table)
            .filter(operator_tokens::token_digest.eq_any(candidates))
            .filter(operator_tokens::revoked_at.is_null())
            .select((AccountRow::as_select(), operator_tokens::id))
            .first(&mut conn)
            .await
            .optional()?;
        match found {
            None => Ok(None),
            Some((account, token_id)) => Ok(Some((
                account.try_into()?,
                TokenId::new(token_id).map_err(|err| StoreError::Corrupt(err.to_string()))?,
            ))),
        }
    }

    pub async fn create_token(
        &self,
        account: AccountId,
        token: NewToken<'_>,
    ) -> Result<OperatorToken, StoreError> {
        let mut conn = self.conn().await?;
        insert_token(&mut conn, account, &token).await
    }

    pub async fn list_tokens(&self, account: AccountId) -> Result<Vec<OperatorToken>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<TokenRow> = operator_tokens::table
            .filter(operator_tokens::account_id.eq(account.get()))
            .order(operator_tokens::id.asc())
            .select(TokenRow::as_select())
            .load(&mut conn)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Revokes a token of this account. Revoking twice is not an error; another account's
    /// token is `NotFound`.
    pub async fn revoke_token(&self, account: AccountId, token: TokenId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let found: Option<i64> = diesel::update(
            operator_tokens::table
                .filter(operator_tokens::id.eq(token.get()))
                .filter(operator_tokens::account_id.eq(account.get())),
        )
        .set(operator_tokens::revoked_at.eq(Some(Utc::now())))
        .returning(operator_tokens::id)
        .get_result(&mut conn)
        .await
        .optional()?;
        found.map(|_| ()).ok_or(StoreError::NotFound)
    }
}
