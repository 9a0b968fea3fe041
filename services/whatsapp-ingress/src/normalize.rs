//! From Meta's message to the executor's `Input`, and who sent it.

use contracts::v1::{InboundMediaType, Input};

use crate::payload::{Contact, MediaBody, Message};

/// What a message means for the bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// A user input: one event for the executor.
    Input(Input),
    /// A `system` message (the user changed number, identity changed): recorded, no turn.
    System,
}

/// Why a message could not be used (it lacks what its `type` promises).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} message without {missing}")]
pub struct Malformed {
    pub kind: String,
    pub missing: &'static str,
}

/// Maps a message to its input.
///
/// - `text` → `Text`; interactive `button_reply` / `list_reply` → `SelectedOption` with the
///   id we sent.
/// - A template quick-reply (`button`) → `Text` with the button's text: its `payload` is set
///   in the template at Meta, not by a flow, so it is no option id the executor knows; the
///   text is what the user saw and tapped, and flows can match it like a typed answer.
/// - image, audio, video, document, sticker → `Media` (caption where Meta has one).
/// - location → `Location`.
/// - contacts, reaction, order, unsupported, other interactive types and any type we do not
///   know → `Unsupported { kind }` with Meta's `type`, so the flow can say it cannot take it.
pub fn meaning(message: &Message) -> Result<Meaning, Malformed> {
    let missing = |what: &'static str| Malformed {
        kind: message.kind.clone(),
        missing: what,
    };
    let input = match message.kind.as_str() {
        "text" => Input::Text {
            text: message
                .text
                .as_ref()
                .ok_or_else(|| missing("text"))?
                .body
                .clone(),
        },
        "interactive" => {
            let interactive = message
                .interactive
                .as_ref()
                .ok_or_else(|| missing("interactive"))?;
            let reply = match interactive.kind.as_str() {
                "button_reply" => interactive.button_reply.as_ref(),
                "list_reply" => interactive.list_reply.as_ref(),
                _ => {
                    return Ok(Meaning::Input(Input::Unsupported {
                        kind: message.kind.clone(),
                    }))
                }
            };
            Input::SelectedOption {
                option_id: reply.ok_or_else(|| missing("the reply's id"))?.id.clone(),
            }
        }
        "button" => Input::Text {
            text: message
                .button
                .as_ref()
                .ok_or_else(|| missing("button"))?
                .text
                .clone(),
        },
        "image" => media(InboundMediaType::Image, message.image.as_ref(), &missing)?,
        "audio" => media(InboundMediaType::Audio, message.audio.as_ref(), &missing)?,
        "video" => media(InboundMediaType::Video, message.video.as_ref(), &missing)?,
        "document" => media(
            InboundMediaType::Document,
            message.document.as_ref(),
            &missing,
        )?,
        "sticker" => media(
            InboundMediaType::Sticker,
            message.sticker.as_ref(),
            &missing,
        )?,
        "location" => {
            let location = message
                .location
                .as_ref()
                .ok_or_else(|| missing("location"))?;
            Input::Location {
                latitude: location.latitude,
                longitude: location.longitude,
                name: location.name.clone(),
                address: location.address.clone(),
            }
        }
        "system" => return Ok(Meaning::System),
        other => Input::Unsupported {
            kind: other.to_owned(),
        },
    };
    Ok(Meaning::Input(input))
}

fn media(
    media_type: InboundMediaType,
    body: Option<&MediaBody>,
    missing: &dyn Fn(&'static str) -> Malformed,
) -> Result<Input, Malformed> {
    let body = body.ok_or_else(|| missing("its media object"))?;
    Ok(Input::Media {
        media_type,
        media_id: body.id.clone(),
        // Audio and stickers have no caption; Meta sends none for them.
        caption: body.caption.clone(),
    })
}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sender {
    /// The phone number (digits); `None` when Meta gives none or an empty one.
    pub wa_id: Option<String>,
    /// The business-scoped user id (BSUID).
    pub user_id: Option<String>,
    pub profile_name: Option<String>,
}

impl Sender {
    /// Finds the sender of `message`: `from` / `from_user_id` on the message, completed by the
    /// matching `contacts[]` element (same `wa_id`, else same `user_id`, else the only one).
    pub fn of(message: &Message, contacts: &[Contact]) -> Sender {
        let from = non_empty(message.from.as_deref());
        let from_user = non_empty(message.from_user_id.as_deref());
        let contact = contacts
            .iter()
            .find(|c| from.is_some() && non_empty(c.wa_id.as_deref()) == from)
            .or_else(|| {
                contacts
                    .iter()
                    .find(|c| from_user.is_some() && non_empty(c.user_id.as_deref()) == from_user)
            })
            .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
        let contact_field = |pick: fn(&Contact) -> Option<&str>| {
            contact.and_then(|c| non_empty(pick(c))).map(str::to_owned)
        };
        Sender {
            wa_id: from
                .map(str::to_owned)
                .or_else(|| contact_field(|c| c.wa_id.as_deref())),
            user_id: from_user
                .map(str::to_owned)
                .or_else(|| contact_field(|c| c.user_id.as_deref())),
            profile_name: contact_field(|c| c.profile.as_ref().and_then(|p| p.name.as_deref())),
        }
    }

    /// The conversation's user key: the `wa_id`, else the business-scoped `user_id`.
    pub fn key(&self) -> Option<&str> {
        self.wa_id.as_deref().or(self.user_id.as_deref())
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Whether a sender may talk to the bot: everyone when the list is empty; otherwise the
/// sender's number (digits only, compared with the list's digits) must be in it. A sender Meta
/// identifies only by BSUID has no number to check and is not allowed by a non-empty list.
pub fn recipient_allowed(trigger_recipients: &[String], sender: &Sender) -> bool {
    if trigger_recipients.is_empty() {
        return true;
    }
    let Some(number) = sender.wa_id.as_deref().map(digits) else {
        return false;
    };
    !number.is_empty()
        && trigger_recipients
            .iter()
            .any(|allowed| digits(allowed) == number)
}

fn digits(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: serde_json::Value) -> Message {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn contact(value: serde_json::Value) -> Contact {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn malformed_messages_say_what_is_missing() {
        let text = message(json!({"id": "w", "type": "text"}));
        assert_eq!(
            meaning(&text).err().map(|e| e.to_string()).as_deref(),
            Some("text message without text")
        );
        let reply = message(json!({"id": "w", "type": "interactive",
            "interactive": {"type": "list_reply"}}));
        assert!(meaning(&reply).is_err());
        let flow = message(json!({"id": "w", "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {}}}));
        assert_eq!(
            meaning(&flow),
            Ok(Meaning::Input(Input::Unsupported {
                kind: "interactive".into()
            }))
        );
        let future = message(json!({"id": "w", "type": "poll_vote"}));
        assert_eq!(
            meaning(&future),
            Ok(Meaning::Input(Input::Unsupported {
                kind: "poll_vote".into()
            }))
        );
    }

    #[test]
    fn sender_prefers_wa_id_and_falls_back_to_the_bsuid() {
        let contacts = [
            contact(json!({"wa_id": "111", "profile": {"name": "One"}})),
            contact(json!({"wa_id": "", "user_id": "US.2", "profile": {"name": "Two"}})),
        ];
        let first = Sender::of(
            &message(json!({"id": "a", "from": "111", "type": "text"})),
            &contacts,
        );
        assert_eq!(first.key(), Some("111"));
        assert_eq!(first.profile_name.as_deref(), Some("One"));
        let second = Sender::of(
            &message(json!({"id": "b", "from_user_id": "US.2", "type": "text"})),
            &contacts,
        );
        assert_eq!(second.wa_id, None);
        assert_eq!(second.key(), Some("US.2"));
        assert_eq!(second.profile_name.as_deref(), Some("Two"));
        // No `from` at all, one contact: that contact; empty wa_id is no wa_id.
        let only = [contact(json!({"wa_id": "", "user_id": "US.3"}))];
        let third = Sender::of(&message(json!({"id": "c", "type": "text"})), &only);
        assert_eq!(third.key(), Some("US.3"));
        let nobody = Sender::of(
            &message(json!({"id": "d", "from": "", "type": "text"})),
            &[],
        );
        assert_eq!(nobody.key(), None);
    }

    #[test]
    fn trigger_recipients_compare_digits() {
        let by_number = |wa_id: Option<&str>| Sender {
            wa_id: wa_id.map(str::to_owned),
            user_id: Some("US.1".into()),
            profile_name: None,
        };
        assert!(recipient_allowed(&[], &by_number(None)));
        let list = vec!["+49 151 2345678".to_owned(), "15551234567".to_owned()];
        assert!(recipient_allowed(&list, &by_number(Some("491512345678"))));
        assert!(recipient_allowed(&list, &by_number(Some("15551234567"))));
        assert!(!recipient_allowed(&list, &by_number(Some("15551234568"))));
        assert!(!recipient_allowed(&list, &by_number(None)));
    }
}
