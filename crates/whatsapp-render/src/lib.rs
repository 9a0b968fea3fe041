//! The executor's messages as Graph API `/messages` bodies (pure; PRODUCT.md 5 and the limits
//! table of docs/flow-format.md).
//!
//! - **Text**: split past 4,096 characters, at a line break in the second half of the window,
//!   else at the last whitespace, else hard; blank text is not sent.
//! - **Options**: a `buttons` message with up to 3 options becomes interactive reply buttons;
//!   `buttons` with 4 to 10 options and `list` with up to 10 become an interactive list; more
//!   than 10 become numbered text (`1. Title`), and the engine accepts the number as the answer.
//! - **Interactive body** over 1,024 characters: the end of the text that fits (from a line
//!   break, else a space) becomes the body; what comes before it is sent first as text. Nothing
//!   is lost or repeated.
//! - **Titles and labels** over their limit (button 20, row 24, row description 72, list button
//!   20, caption 1,024) are cut: the first `limit - 1` characters, trailing spaces removed, and
//!   `…`. Reply-button titles must be unique: a cut title that repeats an earlier one (ignoring
//!   case) ends in `…` and the option's position instead (`Delivery tomorrow…2`).
//! - **Media** by link with its caption; audio takes no caption, so the caption goes first as
//!   a text. A document's file name is the last segment of its URL path.
//!
//! Lengths are counted in characters (Unicode scalar values), as Meta counts them.

use contracts::v1::{BotMessage, BotOption, MediaType, Recipient};
use flow::whatsapp_limits::{
    options_delivery, OptionsDelivery, BUTTON_TITLE_MAX_CHARS, CAPTION_MAX_CHARS,
    INTERACTIVE_BODY_MAX_CHARS, LIST_BUTTON_TEXT_MAX_CHARS, LIST_ROW_DESCRIPTION_MAX_CHARS,
    LIST_ROW_TITLE_MAX_CHARS, TEXT_MAX_CHARS,
};
use graph_client::payload;
use serde_json::{json, Value};

#[cfg(test)]
mod tests;

/// Label of the button that opens a list when the bot gives none.
pub const DEFAULT_LIST_BUTTON: &str = "Choose";
const ELLIPSIS: char = '…';

/// Every message of a batch, in order, as `/messages` bodies for `to`.
pub fn render(messages: &[BotMessage], to: &Recipient) -> Vec<Value> {
    messages
        .iter()
        .flat_map(|message| render_message(message, to))
        .collect()
}

/// One message as the bodies that carry it (none for a blank text).
pub fn render_message(message: &BotMessage, to: &Recipient) -> Vec<Value> {
    match message {
        BotMessage::Text { text } => texts(text, to),
        BotMessage::Buttons { text, options } => options_message(text, options, None, true, to),
        BotMessage::List {
            text,
            options,
            button_text,
        } => options_message(text, options, button_text.as_deref(), false, to),
        BotMessage::Media {
            text,
            media_url,
            caption,
            media_type,
        } => {
            // `text` repeats the caption for the API's clients; prefer the caption itself.
            let caption = caption
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .or(Some(text.as_str()).filter(|t| !t.trim().is_empty()));
            media(*media_type, media_url, caption, to)
        }
    }
}

/// `text` in as many text messages as it takes.
fn texts(text: &str, to: &Recipient) -> Vec<Value> {
    split_text(text, TEXT_MAX_CHARS)
        .into_iter()
        .map(|chunk| payload::message(to, "text", json!({ "body": chunk })))
        .collect()
}

fn options_message(
    text: &str,
    options: &[BotOption],
    button_text: Option<&str>,
    as_buttons: bool,
    to: &Recipient,
) -> Vec<Value> {
    if options.is_empty() {
        // Validation forbids it; should one arrive, the prompt is still worth sending.
        return texts(text, to);
    }
    match options_delivery(options.len(), as_buttons) {
        OptionsDelivery::NumberedText => texts(&numbered_text(text, options), to),
        delivery => {
            let (head, body) = split_interactive_body(text);
            let mut bodies = head.map(|head| texts(&head, to)).unwrap_or_default();
            let interactive = if delivery == OptionsDelivery::Buttons {
                reply_buttons(&body, options)
            } else {
                list(&body, options, button_text)
            };
            bodies.push(payload::message(to, "interactive", interactive));
            bodies
        }
    }
}

fn reply_buttons(body: &str, options: &[BotOption]) -> Value {
    let titles: Vec<String> = options
        .iter()
        .enumerate()
        .map(|(index, option)| title_or_number(&option.text, index))
        .collect();
    let buttons: Vec<Value> = unique_titles(&titles, BUTTON_TITLE_MAX_CHARS)
        .into_iter()
        .zip(options)
        .map(|(title, option)| json!({"type": "reply", "reply": {"id": option.id, "title": title}}))
        .collect();
    json!({"type": "button", "body": {"text": body}, "action": {"buttons": buttons}})
}

fn list(body: &str, options: &[BotOption], button_text: Option<&str>) -> Value {
    let rows: Vec<Value> = options
        .iter()
        .enumerate()
        .map(|(index, option)| {
            let mut row = json!({
                "id": option.id,
                "title": truncate(&title_or_number(&option.text, index), LIST_ROW_TITLE_MAX_CHARS),
            });
            if let Some(description) = option
                .description
                .as_deref()
                .filter(|d| !d.trim().is_empty())
            {
                row["description"] =
                    Value::String(truncate(description.trim(), LIST_ROW_DESCRIPTION_MAX_CHARS));
            }
            row
        })
        .collect();
    let button = button_text
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(DEFAULT_LIST_BUTTON);
    json!({
        "type": "list",
        "body": {"text": body},
        "action": {
            "button": truncate(button, LIST_BUTTON_TEXT_MAX_CHARS),
            "sections": [{"rows": rows}],
        },
    })
}

/// The prompt, a blank line, then `1. Title` (with ` — description` when there is one) per
/// option: the user answers with the number or the title.
pub fn numbered_text(text: &str, options: &[BotOption]) -> String {
    let lines: Vec<String> = options
        .iter()
        .enumerate()
        .map(|(index, option)| {
            let title = title_or_number(&option.text, index);
            match option.description.as_deref().map(str::trim) {
                Some(description) if !description.is_empty() => {
                    format!("{}. {title} — {description}", index + 1)
                }
                _ => format!("{}. {title}", index + 1),
            }
        })
        .collect();
    let prompt = text.trim_end();
    if prompt.trim().is_empty() {
        lines.join("\n")
    } else {
        format!("{prompt}\n\n{}", lines.join("\n"))
    }
}

fn media(kind: MediaType, url: &str, caption: Option<&str>, to: &Recipient) -> Vec<Value> {
    let (name, takes_caption) = match kind {
        MediaType::Image => ("image", true),
        MediaType::Video => ("video", true),
        MediaType::Document => ("document", true),
        MediaType::Audio => ("audio", false),
    };
    let mut bodies = Vec::new();
    let mut content = json!({ "link": url });
    match caption {
        Some(caption) if takes_caption => {
            content["caption"] = Value::String(truncate(caption.trim(), CAPTION_MAX_CHARS));
        }
        Some(caption) => bodies.extend(texts(caption, to)),
        None => {}
    }
    if kind == MediaType::Document {
        if let Some(filename) = file_name(url) {
            content["filename"] = Value::String(filename);
        }
    }
    bodies.push(payload::message(to, name, content));
    bodies
}

/// The last non-empty segment of a URL's path (`report.pdf`), without query or fragment.
pub fn file_name(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_more = after_scheme.split_once('/').map(|(_, path)| path)?;
    let path = path_and_more.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/')
        .find(|segment| !segment.is_empty())
        .map(str::to_owned)
}

/// An option's title, or its number when it rendered blank (Meta refuses empty titles).
fn title_or_number(title: &str, index: usize) -> String {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        (index + 1).to_string()
    } else {
        trimmed.to_owned()
    }
}

/// `text` unchanged when it fits `max` characters, else its first `max - 1` characters
/// (trailing whitespace removed) and `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    with_suffix(text, max, &ELLIPSIS.to_string())
}

/// The start of `text` and `suffix`, together at most `max` characters.
fn with_suffix(text: &str, max: usize, suffix: &str) -> String {
    let keep = max.saturating_sub(suffix.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str(suffix);
    cut
}

/// Titles cut to `max`, unique ignoring case: a repeat ends in `…` and its 1-based position.
pub fn unique_titles(titles: &[String], max: usize) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(titles.len());
    for (index, title) in titles.iter().enumerate() {
        let mut candidate = truncate(title, max);
        if seen.contains(&candidate.to_lowercase()) {
            candidate = with_suffix(title, max, &format!("{ELLIPSIS}{}", index + 1));
        }
        seen.push(candidate.to_lowercase());
        out.push(candidate);
    }
    out
}

/// Splits `text` into pieces of at most `max` characters: at a line break in the second half
/// of each window, else at its last whitespace, else exactly at `max`. The whitespace at a
/// split is dropped; blank pieces are not returned.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let limit = byte_index_of_char(rest, max);
        let window = &rest[..limit];
        let at_line = window.rfind('\n').filter(|&i| i >= limit / 2);
        let at_space = window.rfind(char::is_whitespace).filter(|&i| i > 0);
        let (piece, next) = match at_line.or(at_space) {
            Some(split) => (&rest[..split], &rest[split..]),
            None => (window, &rest[limit..]),
        };
        push_piece(&mut pieces, piece.trim_end());
        rest = next.trim_start();
    }
    push_piece(&mut pieces, rest.trim_end());
    pieces
}

fn push_piece(pieces: &mut Vec<String>, piece: &str) {
    if !piece.trim().is_empty() {
        pieces.push(piece.to_owned());
    }
}

/// The byte index where the character number `n` (0-based) starts, or the length.
fn byte_index_of_char(text: &str, n: usize) -> usize {
    text.char_indices()
        .nth(n)
        .map_or(text.len(), |(index, _)| index)
}

/// An interactive message's body and, when the text is longer than a body may be, the text to
/// send before it. The body is the longest end of the text that fits and starts after a line
/// break, else after a whitespace, else the last 1,024 characters.
pub fn split_interactive_body(text: &str) -> (Option<String>, String) {
    let text = text.trim();
    let total = text.chars().count();
    if total <= INTERACTIVE_BODY_MAX_CHARS {
        let body = if text.is_empty() {
            ELLIPSIS.to_string()
        } else {
            text.to_owned()
        };
        return (None, body);
    }
    let earliest = byte_index_of_char(text, total - INTERACTIVE_BODY_MAX_CHARS);
    let start = boundary_after(text, earliest, |c| c == '\n')
        .or_else(|| boundary_after(text, earliest, char::is_whitespace))
        .unwrap_or(earliest);
    let head = text[..start].trim_end();
    let body = text[start..].trim();
    let head = (!head.is_empty()).then(|| head.to_owned());
    (head, body.to_owned())
}

/// The first index at or after `earliest` that directly follows a character matching `split`
/// and leaves a non-blank rest.
fn boundary_after(text: &str, earliest: usize, split: impl Fn(char) -> bool) -> Option<usize> {
    let candidates = text[..earliest]
        .chars()
        .next_back()
        .filter(|&c| split(c))
        .map(|_| earliest)
        .into_iter()
        .chain(
            text[earliest..]
                .char_indices()
                .filter(|&(_, c)| split(c))
                .map(|(i, c)| earliest + i + c.len_utf8()),
        );
    candidates
        .into_iter()
        .find(|&start| !text[start..].trim().is_empty())
}
