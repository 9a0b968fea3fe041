//! A bot's message to the user, exactly as the API manual shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One message of a turn, tagged by `type`: `text`, `buttons`, `list` or `media`.
///
/// The API gateway returns these verbatim in `messages`; the sender turns them into Graph API
/// payloads. It serialises exactly like the flow engine's `OutMessage` (a test holds the two
/// together), so the executor can pass the engine's output through unchanged. `media_type`,
/// `button_text` and option `description` are additions to the manual that WhatsApp needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BotMessage {
    Text {
        text: String,
    },
    /// Reply buttons (WhatsApp: up to 3).
    Buttons {
        text: String,
        options: Vec<BotOption>,
    },
    /// A list (WhatsApp: up to 10 rows; more become numbered text).
    List {
        text: String,
        options: Vec<BotOption>,
        /// The label of the button that opens the list on WhatsApp.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button_text: Option<String>,
    },
    /// Media by URL.
    Media {
        /// The caption again, or empty: the manual's clients read `text` for every type.
        text: String,
        media_url: String,
        caption: Option<String>,
        media_type: MediaType,
    },
}

impl BotMessage {
    /// The text every message type has (the manual's clients read `text` for all of them).
    pub fn text(&self) -> &str {
        match self {
            Self::Text { text }
            | Self::Buttons { text, .. }
            | Self::List { text, .. }
            | Self::Media { text, .. } => text,
        }
    }

    /// The option ids a buttons or list message offers (empty for other types).
    pub fn option_ids(&self) -> impl Iterator<Item = &str> {
        let options: &[BotOption] = match self {
            Self::Buttons { options, .. } | Self::List { options, .. } => options,
            Self::Text { .. } | Self::Media { .. } => &[],
        };
        options.iter().map(|option| option.id.as_str())
    }
}

/// An option of a buttons or list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotOption {
    /// What the client sends back as `selected_option_id`.
    pub id: String,
    pub text: String,
    /// A list row's second line on WhatsApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Image,
    Video,
    Audio,
    Document,
}
