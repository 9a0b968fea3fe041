//! Integrations of both kinds. The common part lives in `integrations`; the kind's part in
//! `api_integrations` or `whatsapp_integrations`. Secrets arrive here already digested or sealed
//! by the caller (see the `crypto` crate); this module never sees them in clear.

use chrono::{DateTime, Utc};
use contracts::{AccountId, BotId, IntegrationId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::accounts::account_id;
use crate::bots::bot_id;
use crate::schema::{api_integrations, bots, integrations, whatsapp_integrations};
use crate::{Store, StoreError};

/// Associated data binding a sealed WhatsApp secret to its integration and field (`app_secret`,
/// `access_token`, `verify_token`), so that a sealed value copied to another row or column
/// does not open.
pub fn secret_aad(id: IntegrationId, field: &str) -> Vec<u8> {
    format!("integration:{id}:{field}").into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationKind {
    Api,
    Whatsapp,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Api => "api",
            IntegrationKind::Whatsapp => "whatsapp",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: IntegrationId,
    pub account_id: AccountId,
    pub name: String,
    pub bot_id: Option<BotId>,
    pub bot_name: Option<String>,
    pub active: bool,
    pub alert_email_enabled: bool,
    pub alert_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub details: IntegrationDetails,
}

impl Integration {
    pub fn kind(&self) -> IntegrationKind {
        match self.details {
            IntegrationDetails::Api(_) => IntegrationKind::Api,
            IntegrationDetails::Whatsapp(_) => IntegrationKind::Whatsapp,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationDetails {
    Api(ApiDetails),
    Whatsapp(Box<WhatsappDetails>),
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_integrations, check_for_backend(diesel::pg::Pg))]
pub struct ApiDetails {
    pub key_digest: Vec<u8>,
    pub key_hint: String,
    pub variable_injection: bool,
    pub rate_limit_per_minute: i32,
}

/// A WhatsApp integration's part as stored, and as written when one is created.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = whatsapp_integrations, check_for_backend(diesel::pg::Pg))]
pub struct WhatsappDetails {
    pub business_account_id: String,
    pub phone_number_id: String,
    pub app_id: String,
    pub app_secret_sealed: Vec<u8>,
    pub access_token_sealed: Vec<u8>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub verify_token_sealed: Vec<u8>,
    pub verify_token_digest: Vec<u8>,
    pub api_version: String,
    pub conversation_expiry_seconds: Option<i32>,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
    pub trigger_recipients: Vec<String>,
}

/// The common part of a new integration.
pub struct NewIntegration<'a> {
    pub name: &'a str,
    pub bot_id: Option<BotId>,
    pub alert_email_enabled: bool,
    pub alert_email: Option<&'a str>,
}

pub struct NewApiDetails<'a> {
    pub key_digest: &'a [u8],
    pub key_hint: &'a str,
    pub variable_injection: bool,
    pub rate_limit_per_minute: i32,
}

/// What a new WhatsApp integration is stored as (secrets already sealed by the caller).
pub type NewWhatsappDetails = WhatsappDetails;

/// An edit of the common part; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default, AsChangeset)]
#[diesel(table_name = integrations)]
pub struct IntegrationChanges {
    pub name: Option<String>,
    pub bot_id: Option<Option<i64>>,
    pub alert_email_enabled: Option<bool>,
    pub alert_email: Option<Option<String>>,
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = api_integrations)]
pub struct ApiChanges {
    pub variable_injection: Option<bool>,
    pub rate_limit_per_minute: Option<i32>,
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = whatsapp_integrations)]
pub struct WhatsappChanges {
    pub business_account_id: Option<String>,
    pub phone_number_id: Option<String>,
    pub app_id: Option<String>,
    pub app_secret_sealed: Option<Vec<u8>>,
    pub access_token_sealed: Option<Vec<u8>>,
    pub access_token_expires_at: Option<Option<DateTime<Utc>>>,
    pub verify_token_sealed: Option<Vec<u8>>,
    pub verify_token_digest: Option<Vec<u8>>,
    pub api_version: Option<String>,
    pub conversation_expiry_seconds: Option<Option<i32>>,
    pub template_name: Option<Option<String>>,
    pub template_language: Option<Option<String>>,
    pub trigger_recipients: Option<Vec<String>>,
}

impl WhatsappChanges {
    fn is_empty(&self) -> bool {
        self.business_account_id.is_none()
            && self.phone_number_id.is_none()
            && self.app_id.is_none()
            && self.app_secret_sealed.is_none()
            && self.access_token_sealed.is_none()
            && self.access_token_expires_at.is_none()
            && self.verify_token_sealed.is_none()
            && self.verify_token_digest.is_none()
            && self.api_version.is_none()
            && self.conversation_expiry_seconds.is_none()
            && self.template_name.is_none()
            && self.template_language.is_none()
            && self.trigger_recipients.is_none()
    }
}

/// The kind-specific part of an edit.
pub enum DetailChanges {
    Api(ApiChanges),
    Whatsapp(Box<WhatsappChanges>),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = integrations, check_for_backend(diesel::pg::Pg))]
struct IntegrationRow {
    id: i64,
    account_id: i64,
    name: String,
    bot_id: Option<i64>,
    active: bool,
    alert_email_enabled: bool,
    alert_email: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_activity_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = integrations, check_for_backend(diesel::pg::Pg))]
struct KindRow {
    kind: String,
}

/// Loads the kind-specific parts and bot names of `rows` (two or three small queries, whatever
/// the number of rows) and assembles the integrations in the order of `rows`.
async fn assemble(
    conn: &mut AsyncPgConnection,
    rows: Vec<(IntegrationRow, KindRow)>,
) -> Result<Vec<Integration>, StoreError> {
    use std::collections::HashMap;
    let ids: Vec<i64> = rows.iter().map(|(row, _)| row.id).collect();
    let bot_ids: Vec<i64> = rows.iter().filter_map(|(row, _)| row.bot_id).collect();
    let mut api: HashMap<i64, ApiDetails> = api_integrations::table
        .filter(api_integrations::integration_id.eq_any(&ids))
        .select((api_integrations::integration_id, ApiDetails::as_select()))
        .load::<(i64, ApiDetails)>(conn)
        .await?
        .into_iter()
        .collect();
    let mut whatsapp: HashMap<i64, WhatsappDetails> = whatsapp_integrations::table
        .filter(whatsapp_integrations::integration_id.eq_any(&ids))
        .select((
            whatsapp_integrations::integration_id,
            WhatsappDetails::as_select(),
        ))
        .load::<(i64, WhatsappDetails)>(conn)
        .await?
        .into_iter()
        .collect();
    let bot_names: HashMap<i64, String> = if bot_ids.is_empty() {
        HashMap::new()
    } else {
        bots::table
            .filter(bots::id.eq_any(&bot_ids))
            .select((bots::id, bots::name))
            .load::<(i64, String)>(conn)
            .await?
            .into_iter()
            .collect()
    };
    rows.into_iter()
        .map(|(row, kind)| {
            let details = match kind.kind.as_str() {
                "api" => api.remove(&row.id).map(IntegrationDetails::Api),
                "whatsapp" => whatsapp
                    .remove(&row.id)
                    .map(|details| IntegrationDetails::Whatsapp(Box::new(details))),
                _ => None,
            }
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "integration {} lacks its {} part",
                    row.id, kind.kind
                ))
            })?;
            Ok(Integration {
                id: IntegrationId::new(row.id)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?,
                account_id: account_id(row.account_id)?,
                name: row.name,
                bot_id: row.bot_id.map(bot_id).transpose()?,
                bot_name: row.bot_id.and_then(|id| bot_names.get(&id).cloned()),
                active: row.active,
                alert_email_enabled: row.alert_email_enabled,
                alert_email: row.alert_email,
                created_at: row.created_at,
                updated_at: row.updated_at,
                last_activity_at: row.last_activity_at,
                details,
            })
        })
        .collect()
}

type RowsSelection = (
    diesel::dsl::AsSelect<IntegrationRow, diesel::pg::Pg>,
    diesel::dsl::AsSelect<KindRow, diesel::pg::Pg>,
);

fn rows_query() -> integrations::BoxedQuery<'static, diesel::pg::Pg, RowsSelection> {
    // Sandbox integrations (the test runner's) are never an operator's object.
    integrations::table
        .filter(integrations::sandbox.eq(false))
        .select((IntegrationRow::as_select(), KindRow::as_select()))
        .into_boxed()
}

/// A bot may be connected only when it is the account's and has a published version.
async fn ensure_connectable_bot(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    bot: BotId,
) -> Result<(), StoreError> {
    let latest: Option<Option<i32>> = bots::table
        .filter(bots::id.eq(bot.get()))
        .filter(bots::account_id.eq(account.get()))
        .select(bots::latest_version)
        .for_share()
        .first(conn)
        .await
        .optional()?;
    match latest {
        None => Err(StoreError::Rule("bot_not_found")),
        Some(None) => Err(StoreError::Rule("bot_not_published")),
        Some(Some(_)) => Ok(()),
    }
}

async fn insert_common(
    conn: &mut AsyncPgConnection,
    account: AccountId,
    id: Option<IntegrationId>,
    kind: IntegrationKind,
    common: &NewIntegration<'_>,
) -> Result<i64, StoreError> {
    if let Some(bot) = common.bot_id {
        ensure_connectable_bot(conn, account, bot).await?;
    }
    let values = (
        integrations::account_id.eq(account.get()),
        integrations::kind.eq(kind.as_str()),
        integrations::name.eq(common.name),
        integrations::bot_id.eq(common.bot_id.map(BotId::get)),
        integrations::alert_email_enabled.eq(common.alert_email_enabled),
        integrations::alert_email.eq(common.alert_email),
    );
    let id = match id {
        Some(id) => {
            diesel::insert_into(integrations::table)
                .values((integrations::id.eq(id.get()), values))
                .returning(integrations::id)
                .get_result(conn)
                .await?
        }
        None => {
            diesel::insert_into(integrations::table)
                .values(values)
                .returning(integrations::id)
                .get_result(conn)
                .await?
        }
    };
    Ok(id)
}

async fn load_one(
    conn: &mut AsyncPgConnection,
    account: Option<AccountId>,
    id: IntegrationId,
) -> Result<Integration, StoreError> {
    let mut query = rows_query().filter(integrations::id.eq(id.get()));
    if let Some(account) = account {
        query = query.filter(integrations::account_id.eq(account.get()));
    }
    let row = query.first(conn).await?;
    assemble(conn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// What the API gateway needs to authenticate and admit a request, in one query.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct ApiAccess {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub active: bool,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    pub key_digest: Vec<u8>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub variable_injection: bool,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub rate_limit_per_minute: i32,
}

impl Store {
    /// The API integration `id` as the gateway sees it; `None` when there is no API
    /// integration with that id.
    pub async fn api_access(&self, id: IntegrationId) -> Result<Option<ApiAccess>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(crate::prepared::prepared(
            "SELECT i.active, a.key_digest, a.variable_injection, a.rate_limit_per_minute \
             FROM integrations i JOIN api_integrations a ON a.integration_id = i.id \
             WHERE i.id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(id.get())
        .get_result(&mut conn)
        .await
        .optional()?)
    }

    /// Reserves an id for a new integration, so that secrets can be sealed with the id as
    /// associated data before the row is written.
    pub async fn allocate_integration_id(&self) -> Result<IntegrationId, StoreError> {
        let mut conn = self.conn().await?;
        let raw: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "nextval('integrations_id_seq')",
        ))
        .get_result(&mut conn)
        .await?;
        IntegrationId::new(raw).map_err(|err| StoreError::Corrupt(err.to_string()))
    }

    pub async fn create_api_integration(
        &self,
        account: AccountId,
        common: NewIntegration<'_>,
        api: NewApiDetails<'_>,
    ) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let id = insert_common(conn, account, None, IntegrationKind::Api, &common).await?;
            diesel::insert_into(api_integrations::table)
                .values((
                    api_integrations::integration_id.eq(id),
                    api_integrations::key_digest.eq(api.key_digest),
                    api_integrations::key_hint.eq(api.key_hint),
                    api_integrations::variable_injection.eq(api.variable_injection),
                    api_integrations::rate_limit_per_minute.eq(api.rate_limit_per_minute),
                ))
                .execute(conn)
                .await?;
            let id = IntegrationId::new(id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            load_one(conn, Some(account), id).await
        })
        .await
    }

    /// Creates a WhatsApp integration under an id from `allocate_integration_id`.
    pub async fn create_whatsapp_integration(
        &self,
        account: AccountId,
        id: IntegrationId,
        common: NewIntegration<'_>,
        whatsapp: NewWhatsappDetails,
    ) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let raw =
                insert_common(conn, account, Some(id), IntegrationKind::Whatsapp, &common).await?;
            diesel::insert_into(whatsapp_integrations::table)
                .values((whatsapp_integrations::integration_id.eq(raw), &whatsapp))
                .execute(conn)
                .await?;
            load_one(conn, Some(account), id).await
        })
        .await
    }

    pub async fn get_integration(
        &self,
        account: AccountId,
        id: IntegrationId,
    ) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        load_one(&mut conn, Some(account), id).await
    }

    /// An integration by id alone: for the data plane, which authenticates by the
    /// integration's own key rather than by an operator token.
    pub async fn find_integration(&self, id: IntegrationId) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        load_one(&mut conn, None, id).await
    }

    /// The active WhatsApp integration serving a phone number id, if any.
    pub async fn find_active_whatsapp_integration(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<Integration>, StoreError> {
        let mut conn = self.conn().await?;
        let id: Option<i64> = whatsapp_integrations::table
            .filter(whatsapp_integrations::active_phone_number_id.eq(phone_number_id))
            .select(whatsapp_integrations::integration_id)
            .first(&mut conn)
            .await
            .optional()?;
        match id {
            None => Ok(None),
            Some(raw) => {
                let id = IntegrationId::new(raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                load_one(&mut conn, None, id).await.map(Some)
            }
        }
    }

    pub async fn list_integrations(
        &self,
        account: AccountId,
    ) -> Result<Vec<Integration>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = rows_query()
            .filter(integrations::account_id.eq(account.get()))
            .order(integrations::id.asc())
            .load(&mut conn)
            .await?;
        assemble(&mut conn, rows).await
    }

    /// Edits an integration. A new bot must be the account's and published. When an active
    /// WhatsApp integration changes its phone number id, the one-active-per-number rule is
    /// checked again.
    pub async fn update_integration(
        &self,
        account: AccountId,
        id: IntegrationId,
        common: IntegrationChanges,
        details: DetailChanges,
    ) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let current = load_one(conn, Some(account), id).await?;
            if let Some(Some(bot)) = common.bot_id {
                ensure_connectable_bot(conn, account, bot_id(bot)?).await?;
            }
            if matches!(common.bot_id, Some(None)) && current.active {
                return Err(StoreError::Rule("active_integration_needs_bot"));
            }
            diesel::update(integrations::table.find(id.get()))
                .set((&common, integrations::updated_at.eq(diesel::dsl::now)))
                .execute(conn)
                .await?;
            match (details, &current.details) {
                (DetailChanges::Api(changes), IntegrationDetails::Api(_)) => {
                    if changes.variable_injection.is_some()
                        || changes.rate_limit_per_minute.is_some()
                    {
                        diesel::update(api_integrations::table.find(id.get()))
                            .set(&changes)
                            .execute(conn)
                            .await?;
                    }
                }
                (DetailChanges::Whatsapp(changes), IntegrationDetails::Whatsapp(_)) => {
                    if !changes.is_empty() {
                        let follow_phone = current.active && changes.phone_number_id.is_some();
                        let phone = changes.phone_number_id.clone();
                        diesel::update(whatsapp_integrations::table.find(id.get()))
                            .set(&*changes)
                            .execute(conn)
                            .await?;
                        if follow_phone {
                            diesel::update(whatsapp_integrations::table.find(id.get()))
                                .set(whatsapp_integrations::active_phone_number_id.eq(phone))
                                .execute(conn)
                                .await?;
                        }
                    }
                }
                _ => return Err(StoreError::Rule("integration_kind_mismatch")),
            }
            load_one(conn, Some(account), id).await
        })
        .await
    }

    /// Activates or deactivates. Activation needs a connected bot; a WhatsApp integration is
    /// refused when another active one serves the same phone number id
    /// (`Conflict` on `whatsapp_one_active_per_phone_number`).
    pub async fn set_integration_active(
        &self,
        account: AccountId,
        id: IntegrationId,
        active: bool,
    ) -> Result<Integration, StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async move |conn| {
            let current = load_one(conn, Some(account), id).await?;
            if active && current.bot_id.is_none() {
                return Err(StoreError::Rule("active_integration_needs_bot"));
            }
            diesel::update(integrations::table.find(id.get()))
                .set((
                    integrations::active.eq(active),
                    integrations::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            if let IntegrationDetails::Whatsapp(whatsapp) = &current.details {
                let serving = active.then(|| whatsapp.phone_number_id.clone());
                diesel::update(whatsapp_integrations::table.find(id.get()))
                    .set(whatsapp_integrations::active_phone_number_id.eq(serving))
                    .execute(conn)
                    .await?;
            }
            load_one(conn, Some(account), id).await
        })
        .await
    }

    /// Deletes an integration and (by cascade) everything that hangs off it.
    pub async fn delete_integration(
        &self,
        account: AccountId,
        id: IntegrationId,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let deleted = diesel::delete(
            integrations::table
                .filter(integrations::id.eq(id.get()))
                .filter(integrations::account_id.eq(account.get())),
        )
        .execute(&mut conn)
        .await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records that an integration received or sent a message now.
    pub async fn touch_integration_activity(&self, id: IntegrationId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(integrations::table.find(id.get()))
            .set(integrations::last_activity_at.eq(Some(Utc::now())))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}
