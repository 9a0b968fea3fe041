//! Checks a `/messages` body the way Meta does (whatsapp-cloud-api.md §5).
//!
//! A missing or malformed parameter answers 100 "Invalid parameter"; a value outside Meta's
//! limits on interactive messages answers 131009 "Parameter value is not valid". Lengths are
//! counted in characters (Unicode scalar values).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::GraphError;

pub const TEXT_BODY_MAX: usize = 4096;
pub const CAPTION_MAX: usize = 1024;
pub const INTERACTIVE_BODY_MAX: usize = 1024;
pub const HEADER_TEXT_MAX: usize = 60;
pub const FOOTER_TEXT_MAX: usize = 60;
pub const BUTTONS_MAX: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;
pub const LIST_BUTTON_MAX: usize = 20;
pub const LIST_SECTIONS_MAX: usize = 10;
pub const LIST_ROWS_MAX: usize = 10;
pub const SECTION_TITLE_MAX: usize = 24;
pub const ROW_ID_MAX: usize = 200;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_DESCRIPTION_MAX: usize = 72;
pub const BIZ_OPAQUE_MAX: usize = 512;

/// What a valid `/messages` body asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SendRequest {
    MarkRead { message_id: String },
    Message(MessageRequest),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageRequest {
    /// `to` or `recipient` as given.
    pub input: String,
    /// The conversation key: digits of `to`, or `recipient` unchanged.
    pub user: String,
    /// Whether the business-scoped `recipient` was used instead of `to`.
    pub by_recipient: bool,
    pub message_type: String,
    pub biz_opaque_callback_data: Option<String>,
}

impl MessageRequest {
    /// Templates may be sent outside the 24-hour window.
    pub fn is_template(&self) -> bool {
        self.message_type == "template"
    }
}

/// The key under which messages to `to` are kept: its digits (Meta's `wa_id`).
pub fn user_key(to: &str) -> String {
    to.chars().filter(char::is_ascii_digit).collect()
}

/// A user as named in the control API: a phone number (`+1 650-555-1234`) is keyed by its
/// digits, anything else (a business-scoped user id) as given.
pub fn normalize_user(user: &str) -> String {
    let phone_like = user
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if phone_like {
        user_key(user)
    } else {
        user.to_owned()
    }
}

pub fn validate(body: &Value) -> Result<SendRequest, GraphError> {
    let Some(body) = body.as_object() else {
        return Err(GraphError::invalid_parameter(
            "The request body must be a JSON object.",
        ));
    };
    match body.get("messaging_product") {
        None | Some(Value::Null) => {
            return Err(GraphError::invalid_parameter(
                "The parameter messaging_product is required.",
            ))
        }
        Some(Value::String(product)) if product == "whatsapp" => {}
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            )))
        }
    }
    if let Some(status) = body.get("status") {
        if status.as_str() != Some("read") {
            return Err(GraphError::invalid_parameter(format!(
                "Param status must be one of {{READ}} - got {status}."
            )));
        }
        let message_id = required_str(body, "message_id", "message_id")?;
        if let Some(indicator) = body.get("typing_indicator") {
            if indicator.get("type").and_then(Value::as_str) != Some("text") {
                return Err(GraphError::invalid_parameter(
                    "Param typing_indicator['type'] must be one of {TEXT}.",
                ));
            }
        }
        return Ok(SendRequest::MarkRead {
            message_id: message_id.to_owned(),
        });
    }
    let (input, user, by_recipient) = recipient(body)?;
    if let Some(kind) = body.get("recipient_type").and_then(Value::as_str) {
        if kind != "individual" && kind != "group" {
            return Err(GraphError::invalid_parameter(format!(
                "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got \"{kind}\"."
            )));
        }
    }
    let message_type = match body.get("type") {
        None => "text",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => {
            return Err(GraphError::invalid_parameter(
                "Param type must be a string.",
            ))
        }
    };
    let biz_opaque_callback_data =
        optional_str(body, "biz_opaque_callback_data", "biz_opaque_callback_data")?;
    if let Some(data) = biz_opaque_callback_data {
        max_len(data, BIZ_OPAQUE_MAX, "biz_opaque_callback_data", false)?;
    }
    if let Some(context) = body.get("context") {
        let context = object(Some(context), "context")?;
        required_str(context, "message_id", "context['message_id']")?;
    }
    let content = body.get(message_type);
    match message_type {
        "text" => {
            let text = object(content, "text")?;
            let body = required_str(text, "body", "text['body']")?;
            max_len(body, TEXT_BODY_MAX, "text['body']", false)?;
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            media(object(content, message_type)?, message_type)?
        }
        "interactive" => interactive(object(content, "interactive")?)?,
        "template" => template(object(content, "template")?)?,
        "reaction" => {
            let reaction = object(content, "reaction")?;
            required_str(reaction, "message_id", "reaction['message_id']")?;
            if !reaction.get("emoji").is_some_and(Value::is_string) {
                return Err(GraphError::invalid_parameter(
                    "Param reaction['emoji'] is required.",
                ));
            }
        }
        "location" => {
            let location = object(content, "location")?;
            for field in ["latitude", "longitude"] {
                if !location
                    .get(field)
                    .is_some_and(|v| v.is_number() || v.is_string())
                {
                    return Err(GraphError::invalid_parameter(format!(
                        "Param location['{field}'] is required."
                    )));
                }
            }
        }
        "contacts" => {
            if content.and_then(Value::as_array).is_none_or(Vec::is_empty) {
                return Err(GraphError::invalid_parameter("Param contacts is required."));
            }
        }
        other => {
            return Err(GraphError::invalid_parameter(format!(
                "Param type must be one of {{AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, \
                 LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}} - got \"{other}\"."
            )))
        }
    }
    Ok(SendRequest::Message(MessageRequest {
        input,
        user,
        by_recipient,
        message_type: message_type.to_owned(),
        biz_opaque_callback_data: biz_opaque_callback_data.map(str::to_owned),
    }))
}

fn recipient(body: &Map<String, Value>) -> Result<(String, String, bool), GraphError> {
    if let Some(to) = optional_str(body, "to", "to")? {
        let user = user_key(to);
        if user.is_empty() {
            return Err(GraphError::invalid_parameter(format!(
                "Param to must be a phone number - got \"{to}\"."
            )));
        }
        return Ok((to.to_owned(), user, false));
    }
    if let Some(recipient) = optional_str(body, "recipient", "recipient")? {
        return Ok((recipient.to_owned(), recipient.to_owned(), true));
    }
    Err(GraphError::invalid_parameter(
        "The parameter to is required.",
    ))
}

fn media(media: &Map<String, Value>, kind: &str) -> Result<(), GraphError> {
    let id = optional_str(media, "id", &format!("{kind}['id']"))?;
    let link = optional_str(media, "link", &format!("{kind}['link']"))?;
    match (id, link) {
        (Some(_), Some(_)) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param {kind} must contain either id or link, not both."
            )))
        }
        (None, None) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param {kind} must contain either id or link."
            )))
        }
        (None, Some(link)) if !(link.starts_with("https://") || link.starts_with("http://")) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param {kind}['link'] must be a valid http(s) URL."
            )))
        }
        _ => {}
    }
    if let Some(caption) = optional_str(media, "caption", &format!("{kind}['caption']"))? {
        max_len(caption, CAPTION_MAX, &format!("{kind}['caption']"), false)?;
    }
    Ok(())
}

fn template(template: &Map<String, Value>) -> Result<(), GraphError> {
    required_str(template, "name", "template['name']")?;
    let language = object(template.get("language"), "template['language']")?;
    required_str(language, "code", "template['language']['code']")?;
    if let Some(components) = template.get("components") {
        if !components.is_array() {
            return Err(GraphError::invalid_parameter(
                "Param template['components'] must be an array.",
            ));
        }
    }
    Ok(())
}

fn interactive(interactive: &Map<String, Value>) -> Result<(), GraphError> {
    let kind = required_str(interactive, "type", "interactive['type']")?;
    if kind != "button" && kind != "list" {
        return Err(GraphError::invalid_parameter(format!(
            "Param interactive['type'] must be one of {{BUTTON, LIST}} - got \"{kind}\"."
        )));
    }
    let body = object(interactive.get("body"), "interactive['body']")?;
    let text = required_str(body, "text", "interactive['body']['text']")?;
    max_len(
        text,
        INTERACTIVE_BODY_MAX,
        "interactive['body']['text']",
        true,
    )?;
    if let Some(footer) = interactive.get("footer") {
        let footer = object(Some(footer), "interactive['footer']")?;
        let text = required_str(footer, "text", "interactive['footer']['text']")?;
        max_len(text, FOOTER_TEXT_MAX, "interactive['footer']['text']", true)?;
    }
    if let Some(header) = interactive.get("header") {
        header_check(object(Some(header), "interactive['header']")?, kind)?;
    }
    let action = object(interactive.get("action"), "interactive['action']")?;
    if kind == "button" {
        buttons(action)
    } else {
        list(action)
    }
}

fn header_check(header: &Map<String, Value>, kind: &str) -> Result<(), GraphError> {
    let header_type = required_str(header, "type", "interactive['header']['type']")?;
    let allowed: &[&str] = if kind == "list" {
        &["text"]
    } else {
        &["text", "image", "video", "document"]
    };
    if !allowed.contains(&header_type) {
        return Err(GraphError::invalid_value(format!(
            "Header type \"{header_type}\" is not allowed for interactive {kind} messages."
        )));
    }
    if header_type == "text" {
        let text = required_str(header, "text", "interactive['header']['text']")?;
        max_len(text, HEADER_TEXT_MAX, "interactive['header']['text']", true)?;
    }
    Ok(())
}

fn buttons(action: &Map<String, Value>) -> Result<(), GraphError> {
    let buttons = array(action.get("buttons"), "interactive['action']['buttons']")?;
    if buttons.is_empty() || buttons.len() > BUTTONS_MAX {
        return Err(GraphError::invalid_value(format!(
            "Buttons count is invalid: {}. Min: 1, Max: {BUTTONS_MAX}.",
            buttons.len()
        )));
    }
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    for button in buttons {
        let button = object(Some(button), "interactive['action']['buttons'][]")?;
        if button.get("type").and_then(Value::as_str) != Some("reply") {
            return Err(GraphError::invalid_parameter(
                "Param interactive['action']['buttons'][]['type'] must be one of {REPLY}.",
            ));
        }
        let reply = object(
            button.get("reply"),
            "interactive['action']['buttons'][]['reply']",
        )?;
        let id = required_str(reply, "id", "button reply id")?;
        let title = required_str(reply, "title", "button title")?;
        if id.chars().count() > BUTTON_ID_MAX {
            return Err(GraphError::invalid_value(format!(
                "Button id length invalid. Min length: 1, Max length: {BUTTON_ID_MAX}"
            )));
        }
        if title.chars().count() > BUTTON_TITLE_MAX {
            return Err(GraphError::invalid_value(format!(
                "Button title length invalid. Min length: 1, Max length: {BUTTON_TITLE_MAX}"
            )));
        }
        if !ids.insert(id) {
            return Err(GraphError::invalid_value(format!(
                "Duplicate button id \"{id}\": button ids must be unique."
            )));
        }
        if !titles.insert(title) {
            return Err(GraphError::invalid_value(format!(
                "Duplicate button title \"{title}\": button titles must be unique."
            )));
        }
    }
    Ok(())
}

fn list(action: &Map<String, Value>) -> Result<(), GraphError> {
    let button = required_str(action, "button", "interactive['action']['button']")?;
    if button.chars().count() > LIST_BUTTON_MAX {
        return Err(GraphError::invalid_value(format!(
            "Button label is too long. Min length: 1, Max length: {LIST_BUTTON_MAX}"
        )));
    }
    let sections = array(action.get("sections"), "interactive['action']['sections']")?;
    if sections.is_empty() || sections.len() > LIST_SECTIONS_MAX {
        return Err(GraphError::invalid_value(format!(
            "Sections count is invalid: {}. Min: 1, Max: {LIST_SECTIONS_MAX}.",
            sections.len()
        )));
    }
    let mut rows_total = 0;
    let mut ids = HashSet::new();
    for section in sections {
        let section = object(Some(section), "interactive['action']['sections'][]")?;
        match section.get("title").and_then(Value::as_str) {
            Some(title) if title.chars().count() > SECTION_TITLE_MAX => {
                return Err(GraphError::invalid_value(format!(
                    "Section title is too long. Max length: {SECTION_TITLE_MAX}"
                )))
            }
            None if sections.len() > 1 => {
                return Err(GraphError::invalid_value(
                    "Section title is required when there is more than one section.",
                ))
            }
            _ => {}
        }
        let rows = array(
            section.get("rows"),
            "interactive['action']['sections'][]['rows']",
        )?;
        if rows.is_empty() {
            return Err(GraphError::invalid_value(
                "A section must have at least one row.",
            ));
        }
        rows_total += rows.len();
        for row in rows {
            let row = object(Some(row), "interactive['action']['sections'][]['rows'][]")?;
            let id = required_str(row, "id", "row id")?;
            let title = required_str(row, "title", "row title")?;
            if id.chars().count() > ROW_ID_MAX {
                return Err(GraphError::invalid_value(format!(
                    "Row id is too long. Max length: {ROW_ID_MAX}"
                )));
            }
            if title.chars().count() > ROW_TITLE_MAX {
                return Err(GraphError::invalid_value(format!(
                    "Row title is too long. Max length: {ROW_TITLE_MAX}"
                )));
            }
            if let Some(description) = row.get("description").and_then(Value::as_str) {
                if description.chars().count() > ROW_DESCRIPTION_MAX {
                    return Err(GraphError::invalid_value(format!(
                        "Row description is too long. Max length: {ROW_DESCRIPTION_MAX}"
                    )));
                }
            }
            if !ids.insert(id) {
                return Err(GraphError::invalid_value(format!(
                    "Duplicate row id \"{id}\": row ids must be unique."
                )));
            }
        }
    }
    if rows_total > LIST_ROWS_MAX {
        return Err(GraphError::invalid_value(format!(
            "Total row count exceed max allowed count: {LIST_ROWS_MAX}"
        )));
    }
    Ok(())
}

fn object<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a Map<String, Value>, GraphError> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Err(GraphError::invalid_parameter(format!(
            "Param {name} is required."
        ))),
        Some(_) => Err(GraphError::invalid_parameter(format!(
            "Param {name} must be an object."
        ))),
    }
}

fn array<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a Vec<Value>, GraphError> {
    match value {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Err(GraphError::invalid_parameter(format!(
            "Param {name} is required."
        ))),
        Some(_) => Err(GraphError::invalid_parameter(format!(
            "Param {name} must be an array."
        ))),
    }
}

/// A non-empty string parameter.
fn required_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<&'a str, GraphError> {
    optional_str(map, key, name)?
        .ok_or_else(|| GraphError::invalid_parameter(format!("Param {name} is required.")))
}

/// A string parameter that may be absent; an empty string counts as absent.
fn optional_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    name: &str,
) -> Result<Option<&'a str>, GraphError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GraphError::invalid_parameter(format!(
            "Param {name} must be a string."
        ))),
    }
}

/// `interactive` limits answer 131009, plain parameters 100.
fn max_len(value: &str, max: usize, name: &str, interactive: bool) -> Result<(), GraphError> {
    if value.chars().count() <= max {
        return Ok(());
    }
    let details = format!("Param {name} must be at most {max} characters long.");
    Err(if interactive {
        GraphError::invalid_value(details)
    } else {
        GraphError::invalid_parameter(details)
    })
}
