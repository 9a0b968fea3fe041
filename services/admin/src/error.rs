//! Where the admin service's errors become HTTP answers: store errors (constraint names, domain
//! rules) are mapped to specific codes and human messages here, and nowhere else.

use store::StoreError;

pub use service_kit::http_error::{extractors, ApiError, ErrorBody, ErrorDetail};

/// Maps store errors to API errors.
pub trait FromStore {
    /// Maps a store error for an operation on `what` (e.g. "bot"). Constraint names become
    /// specific, human messages.
    fn from_store(err: StoreError, what: &str) -> Self;
}

impl FromStore for ApiError {
    fn from_store(err: StoreError, what: &str) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(what),
            StoreError::Conflict { constraint } => conflict_message(&constraint),
            StoreError::Rule(rule) => rule_message(rule),
            StoreError::Concurrent => ApiError::conflict(
                "concurrent_change",
                format!("the {what} was changed concurrently; retry"),
            ),
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                ApiError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

fn conflict_message(constraint: &str) -> ApiError {
    match constraint {
        "bots_account_name_unique" => {
            ApiError::conflict("name_taken", "a bot with this name already exists")
        }
        "saved_scenarios_bot_name_unique" => ApiError::conflict(
            "name_taken",
            "a saved scenario with this name already exists for this bot",
        ),
        "whatsapp_verify_token_unique" => ApiError::conflict(
            "verify_token_taken",
            "this verify token is already used by another WhatsApp integration; choose another",
        ),
        "whatsapp_one_active_per_phone_number" => ApiError::conflict(
            "phone_number_in_use",
            "another active WhatsApp integration already serves this phone number id; \
             deactivate it first",
        ),
        "integrations_bot_id_fkey" => ApiError::conflict(
            "bot_in_use",
            "the bot is connected to an integration; disconnect it first",
        ),
        other => {
            tracing::warn!(constraint = other, "unmapped constraint violation");
            ApiError::conflict("conflict", "the change conflicts with existing data")
        }
    }
}

fn rule_message(rule: &'static str) -> ApiError {
    match rule {
        "bot_not_found" => ApiError::unprocessable("unknown_bot", "bot_id names no bot of yours"),
        "bot_not_published" => ApiError::unprocessable(
            "bot_not_published",
            "the bot must be published before it can be connected",
        ),
        "active_integration_needs_bot" => ApiError::unprocessable(
            "bot_required",
            "an active integration needs a connected bot",
        ),
        store::saved_scenarios::TOO_MANY_SAVED_SCENARIOS => ApiError::unprocessable(
            "too_many_saved_scenarios",
            format!(
                "the bot keeps at most {} saved scenarios; delete one first",
                crate::routes::scenarios::MAX_SAVED_PER_BOT
            ),
        ),
        other => ApiError::unprocessable("rule_violated", other.replace('_', " ")),
    }
}
