//! Diesel table definitions, written by hand to match `migrations/` (no libpq, so no
//! `diesel print-schema`); `tests/migrations.rs` checks every column against the database.

diesel::table! {
    accounts (id) {
        id -> Int8,
        name -> Text,
        is_platform_admin -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    operator_tokens (id) {
        id -> Int8,
        account_id -> Int8,
        name -> Text,
        token_digest -> Bytea,
        token_hint -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    bots (id) {
        id -> Int8,
        account_id -> Int8,
        name -> Text,
        variables -> Jsonb,
        draft_flow -> Jsonb,
        draft_revision -> Int8,
        latest_version -> Nullable<Int4>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    bot_versions (bot_id, version) {
        bot_id -> Int8,
        version -> Int4,
        variables -> Jsonb,
        flow -> Jsonb,
        published_at -> Timestamptz,
    }
}

diesel::table! {
    integrations (id) {
        id -> Int8,
        account_id -> Int8,
        kind -> Text,
        name -> Text,
        bot_id -> Nullable<Int8>,
        active -> Bool,
        alert_email_enabled -> Bool,
        alert_email -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_activity_at -> Nullable<Timestamptz>,
        sandbox -> Bool,
        pinned_version -> Nullable<Int4>,
    }
}

diesel::table! {
    api_integrations (integration_id) {
        integration_id -> Int8,
        key_digest -> Bytea,
        key_hint -> Text,
        variable_injection -> Bool,
        rate_limit_per_minute -> Int4,
    }
}

diesel::table! {
    whatsapp_integrations (integration_id) {
        integration_id -> Int8,
        business_account_id -> Text,
        phone_number_id -> Text,
        app_id -> Text,
        app_secret_sealed -> Bytea,
        access_token_sealed -> Bytea,
        access_token_expires_at -> Nullable<Timestamptz>,
        verify_token_sealed -> Bytea,
        verify_token_digest -> Bytea,
        api_version -> Text,
        conversation_expiry_seconds -> Nullable<Int4>,
        template_name -> Nullable<Text>,
        template_language -> Nullable<Text>,
        trigger_recipients -> Array<Text>,
        active_phone_number_id -> Nullable<Text>,
    }
}

diesel::joinable!(operator_tokens -> accounts (account_id));
diesel::joinable!(bots -> accounts (account_id));
diesel::joinable!(bot_versions -> bots (bot_id));
diesel::joinable!(integrations -> bots (bot_id));
diesel::joinable!(api_integrations -> integrations (integration_id));
diesel::joinable!(whatsapp_integrations -> integrations (integration_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    operator_tokens,
    bots,
    bot_versions,
    integrations,
    api_integrations,
    whatsapp_integrations,
    sessions,
    processed_events,
    idempotency_keys,
);

diesel::table! {
    sessions (integration_id, session_id) {
        integration_id -> Int8,
        session_id -> Text,
        user_identifier -> Text,
        bot_id -> Int8,
        bot_version -> Int4,
        state -> Jsonb,
        revision -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    processed_events (event_id) {
        event_id -> Text,
        integration_id -> Int8,
        outputs -> Jsonb,
        processed_at -> Timestamptz,
        session_id -> Nullable<Text>,
        transcript -> Nullable<Jsonb>,
    }
}

diesel::table! {
    idempotency_keys (integration_id, endpoint, key) {
        integration_id -> Int8,
        endpoint -> Text,
        key -> Text,
        request_hash -> Bytea,
        event_id -> Text,
        state -> Text,
        response_status -> Nullable<Int4>,
        response_body -> Nullable<Jsonb>,
        lease_until -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(sessions -> integrations (integration_id));

// `dead_letters` (migration 000006) has 17 columns, past diesel's default 16-column tables; its
// module (`dead_letters.rs`) reads it with SQL, and `tests/dead_letters.rs` reads every column.
