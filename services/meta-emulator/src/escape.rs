//! Webhook bodies as Meta writes them: compact JSON where every non-ASCII character is escaped
//! as lowercase `\uXXXX`, astral characters as a UTF-16 surrogate pair (`😮` becomes
//! `\ud83d\ude2e`). Meta signs these escaped bytes, so a receiver that verifies the signature
//! over re-encoded JSON instead of the received bytes fails against them.

use std::fmt::Write;

use serde::Serialize;

/// Escapes every non-ASCII character of `json` (which must be JSON text) as Meta does; with
/// `escape_slashes`, `/` becomes `\/` too.
///
/// Outside strings JSON text is ASCII and never contains `/`, so every character replaced here
/// is inside a string, where the escape means the same character.
pub fn escape_json_text(json: &str, escape_slashes: bool) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    for c in json.chars() {
        if c == '/' && escape_slashes {
            out.push_str("\\/");
        } else if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

/// Serialises `value` compactly and escapes it as Meta does.
pub fn to_meta_json<T: Serialize + ?Sized>(
    value: &T,
    escape_slashes: bool,
) -> Result<String, serde_json::Error> {
    Ok(escape_json_text(
        &serde_json::to_string(value)?,
        escape_slashes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// `fixtures/meta/webhooks/reaction.json`'s message, compact, as Meta sends it.
    const REACTION_BYTES: &str = r#"{"from":"972987654321","id":"wamid.xyzxyz","timestamp":"1697044456","type":"reaction","reaction":{"message_id":"wamid.yzxyzx=","emoji":"\ud83d\ude2e"}}"#;

    #[test]
    fn astral_characters_become_lowercase_surrogate_pairs() {
        let raw = "{\"emoji\":\"😮\"}";
        assert_eq!(escape_json_text(raw, false), r#"{"emoji":"\ud83d\ude2e"}"#);
    }

    #[test]
    fn bmp_characters_become_four_lowercase_hex_digits() {
        assert_eq!(
            escape_json_text("\"Grüße, Ünal — ok\"", false),
            r#""Gr\u00fc\u00dfe, \u00dcnal \u2014 ok""#
        );
    }

    #[test]
    fn reaction_fixture_bytes_are_reproduced_exactly() {
        // Parse Meta's bytes, re-serialise with the emoji as a raw character, escape: the
        // result must be Meta's bytes again.
        let value: Value = serde_json::from_str(REACTION_BYTES).unwrap();
        assert_eq!(value["reaction"]["emoji"], "😮");
        let raw = r#"{"from":"972987654321","id":"wamid.xyzxyz","timestamp":"1697044456","type":"reaction","reaction":{"message_id":"wamid.yzxyzx=","emoji":"😮"}}"#;
        assert_eq!(escape_json_text(raw, false), REACTION_BYTES);
    }

    #[test]
    fn escaped_text_is_ascii_and_parses_to_the_same_value() {
        let value = json!({"text": {"body": "Ça va? 👋🏽 日本語 \u{10FFFF}"}, "n": [1, 2.5, null]});
        let escaped = to_meta_json(&value, false).unwrap();
        assert!(escaped.is_ascii());
        assert!(escaped.contains(r"\ud83d\udc4b\ud83c\udffd"));
        assert!(escaped.contains(r"\udbff\udfff"));
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn existing_escapes_and_ascii_are_left_alone() {
        let already = r#"{"a":"line\nbreak \"quoted\" \\ \u0001 \ud83d\ude2e"}"#;
        assert_eq!(escape_json_text(already, false), already);
    }

    #[test]
    fn slashes_are_escaped_only_on_request() {
        let raw = r#"{"url":"https://lookaside.fbsbx.com/x"}"#;
        assert_eq!(escape_json_text(raw, false), raw);
        let escaped = escape_json_text(raw, true);
        assert_eq!(escaped, r#"{"url":"https:\/\/lookaside.fbsbx.com\/x"}"#);
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["url"], "https://lookaside.fbsbx.com/x");
    }
}
