//! Text refused at the edge: the rules every HTTP body must pass before anything of it is
//! stored or published, kept here once for the API gateway and the admin API (and the
//! WhatsApp ingress's repair of Meta's payloads).
//!
//! PostgreSQL cannot store U+0000 in `text`, nor `\u0000` in `jsonb`; JSON may carry lone
//! UTF-16 surrogates (`"\ud800"`) that no Rust string can hold; a body may nest deeper than a
//! recursive parser's stack allows. [`parse_json`] reads a body into a [`serde_json::Value`] in
//! one pass and refuses, naming the field (a JSON path such as `flow.components[2].text`):
//!
//! - a string or object key containing U+0000;
//! - a lone surrogate escape, bytes that are not UTF-8, a raw control character in a string;
//! - a string longer than [`TextLimits::max_string_chars`] (in Unicode scalar values, as JSON
//!   Schema's `maxLength` counts);
//! - nesting deeper than [`TextLimits::max_depth`] (serde_json's own limit is 128; ours is
//!   lower, so a deep body is a clear refusal and never a stack overflow);
//! - an array longer than [`TextLimits::max_array_items`], an object with more than
//!   [`TextLimits::max_object_properties`] members;
//! - a key that appears twice in one object (JSON leaves duplicates undefined and parsers
//!   disagree on which one wins: we refuse rather than guess);
//! - a number outside the range of a 64-bit float.
//!
//! Anything else that is not JSON is [`Problem::Malformed`].

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// serde_json refuses nesting deeper than this; our configured depth must stay below it.
pub const SERDE_JSON_RECURSION_LIMIT: usize = 128;

/// The limits every JSON body is held to. Services read them from the environment
/// (`EDGE_MAX_JSON_DEPTH`, `EDGE_MAX_STRING_CHARS`, `EDGE_MAX_ARRAY_ITEMS`,
/// `EDGE_MAX_OBJECT_PROPERTIES`; see docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Levels of objects and arrays; the body's top-level object is level 1.
    pub max_depth: usize,
    /// Longest string (and object key), in Unicode scalar values.
    pub max_string_chars: usize,
    pub max_array_items: usize,
    pub max_object_properties: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_depth: 32,
            max_string_chars: 16 * 1024,
            max_array_items: 10_000,
            max_object_properties: 1_000,
        }
    }
}

/// What is wrong with the text at a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// U+0000, which PostgreSQL cannot store.
    Nul,
    /// A `\ud800`-style escape without its pair: not a Unicode character.
    LoneSurrogate,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// A raw control character (U+0000 to U+001F) inside a string: JSON wants it escaped.
    ControlCharacter,
    TooLong {
        max_chars: usize,
    },
    TooDeep {
        max_depth: usize,
    },
    TooManyItems {
        max_items: usize,
    },
    TooManyProperties {
        max_properties: usize,
    },
    DuplicateKey,
    /// A number beyond the range of a 64-bit float.
    NumberOutOfRange,
    /// Not JSON at all (serde_json's message, with line and column).
    Malformed(String),
}

impl Problem {
    /// A stable, machine-readable name of the rule.
    pub fn rule(&self) -> &'static str {
        match self {
            Problem::Nul => "nul_character",
            Problem::LoneSurrogate => "lone_surrogate",
            Problem::InvalidUtf8 => "invalid_utf8",
            Problem::ControlCharacter => "control_character",
            Problem::TooLong { .. } => "too_long",
            Problem::TooDeep { .. } => "too_deep",
            Problem::TooManyItems { .. } => "too_many_items",
            Problem::TooManyProperties { .. } => "too_many_properties",
            Problem::DuplicateKey => "duplicate_key",
            Problem::NumberOutOfRange => "number_out_of_range",
            Problem::Malformed(_) => "malformed_json",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Nul => f.write_str("contains the NUL character (U+0000), which cannot be stored"),
            Problem::LoneSurrogate => f.write_str(
                "contains a lone UTF-16 surrogate escape (such as \\ud800), which is not a Unicode character",
            ),
            Problem::InvalidUtf8 => f.write_str("is not valid UTF-8"),
            Problem::ControlCharacter => {
                f.write_str("contains a raw control character; escape it (\\n, \\t, \\u001f)")
            }
            Problem::TooLong { max_chars } => write!(f, "is longer than {max_chars} characters"),
            Problem::TooDeep { max_depth } => {
                write!(f, "nests objects and arrays deeper than {max_depth} levels")
            }
            Problem::TooManyItems { max_items } => write!(f, "has more than {max_items} items"),
            Problem::TooManyProperties { max_properties } => {
                write!(f, "has more than {max_properties} members")
            }
            Problem::DuplicateKey => f.write_str("appears twice in the same object"),
            Problem::NumberOutOfRange => f.write_str("is a number out of range"),
            Problem::Malformed(detail) => write!(f, "is not valid JSON: {detail}"),
        }
    }
}

/// A refused body: the field (a JSON path; `$` is the whole body) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct EdgeError {
    pub field: String,
    pub problem: Problem,
}

impl EdgeError {
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        EdgeError {
            field: field.into(),
            problem,
        }
    }

    /// True for a body that is not JSON at all (as opposed to JSON whose text we refuse).
    pub fn is_malformed(&self) -> bool {
        matches!(self.problem, Problem::Malformed(_))
    }
}

/// Checks one string against the text rules; `field` names it in the error.
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), EdgeError> {
    if text.contains('\0') {
        return Err(EdgeError::new(field, Problem::Nul));
    }
    // Bytes bound chars from above: count only when it could matter.
    if text.len() > max_chars && text.chars().count() > max_chars {
        return Err(EdgeError::new(field, Problem::TooLong { max_chars }));
    }
    Ok(())
}

/// Parses `body` as JSON held to `limits`. The first problem found is returned, naming its field.
pub fn parse_json(body: &[u8], limits: &TextLimits) -> Result<Value, EdgeError> {
    let walker = Walker {
        limits,
        path: RefCell::new(Vec::new()),
        failure: RefCell::new(None),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = ValueSeed {
        walker: &walker,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(err) => Err(walker
            .failure
            .into_inner()
            .unwrap_or_else(|| EdgeError::new("$", classify_message(err.to_string())))),
    }
}

/// Names serde_json's own refusals (it has no public error codes; its messages are stable and
/// pinned by this module's tests).
fn classify_message(message: String) -> Problem {
    if message.contains("surrogate") || message.contains("hex escape") {
        Problem::LoneSurrogate
    } else if message.contains("invalid unicode code point") {
        Problem::InvalidUtf8
    } else if message.contains("control character") {
        Problem::ControlCharacter
    } else if message.contains("number out of range") {
        Problem::NumberOutOfRange
    } else {
        Problem::Malformed(message)
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

struct Walker<'a> {
    limits: &'a TextLimits,
    path: RefCell<Vec<Segment>>,
    /// The first (innermost) problem: set once, where it happened.
    failure: RefCell<Option<EdgeError>>,
}

impl Walker<'_> {
    fn field(&self) -> String {
        let path = self.path.borrow();
        if path.is_empty() {
            return "$".to_owned();
        }
        let mut field = String::new();
        for segment in path.iter() {
            match segment {
                Segment::Key(key) => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(key);
                }
                Segment::Index(index) => {
                    field.push_str(&format!("[{index}]"));
                }
            }
        }
        field
    }

    /// Records `problem` at the current path and stops the parse.
    fn fail<E: de::Error>(&self, problem: Problem) -> E {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(EdgeError::new(self.field(), problem));
        }
        E::custom("refused at the edge")
    }

    /// An error from below, seen first here: it happened at the current path.
    fn caught<E: de::Error>(&self, err: E) -> E {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            let problem = classify_message(err.to_string());
            *failure = Some(EdgeError::new(self.field(), problem));
        }
        err
    }

    fn text<E: de::Error>(&self, text: &str) -> Result<(), E> {
        check_text("", text, self.limits.max_string_chars).map_err(|err| self.fail(err.problem))
    }

    fn push(&self, segment: Segment) {
        self.path.borrow_mut().push(segment);
    }

    fn pop(&self) {
        self.path.borrow_mut().pop();
    }
}

#[derive(Clone, Copy)]
struct ValueSeed<'w, 'a> {
    walker: &'w Walker<'a>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl ValueSeed<'_, '_> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        let depth = self.depth + 1;
        let max_depth = self.walker.limits.max_depth;
        if depth > max_depth {
            return Err(self.walker.fail(Problem::TooDeep { max_depth }));
        }
        Ok(ValueSeed { depth, ..self })
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.walker.fail(Problem::NumberOutOfRange))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.walker.text(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.walker.text(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let walker = self.walker;
        let max_items = walker.limits.max_array_items;
        let mut items = Vec::new();
        loop {
            walker.push(Segment::Index(items.len()));
            let next = seq.next_element_seed(inner).map_err(|e| walker.caught(e));
            let next = match next {
                Ok(Some(_)) if items.len() >= max_items => {
                    Err(walker.fail(Problem::TooManyItems { max_items }))
                }
                other => other,
            };
            walker.pop();
            match next? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let walker = self.walker;
        let max_properties = walker.limits.max_object_properties;
        let mut object = Map::new();
        loop {
            let key = map
                .next_key_seed(KeySeed { walker })
                .map_err(|e| walker.caught(e))?;
            let Some(key) = key else {
                return Ok(Value::Object(object));
            };
            if object.len() >= max_properties {
                return Err(walker.fail(Problem::TooManyProperties { max_properties }));
            }
            walker.push(Segment::Key(key.clone()));
            let checked = if object.contains_key(&key) {
                Err(walker.fail(Problem::DuplicateKey))
            } else {
                map.next_value_seed(inner).map_err(|e| walker.caught(e))
            };
            walker.pop();
            object.insert(key, checked?);
        }
    }
}

/// An object key: the same text rules as a string, reported at the key itself.
struct KeySeed<'w, 'a> {
    walker: &'w Walker<'a>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        let key = v.to_owned();
        if let Err(err) = check_text("", v, self.walker.limits.max_string_chars) {
            self.walker.push(Segment::Key(printable_key(v)));
            let refused = self.walker.fail(err.problem);
            self.walker.pop();
            return Err(refused);
        }
        Ok(key)
    }
}

/// A refused key, shown without its NUL characters and cut short.
fn printable_key(key: &str) -> String {
    key.chars()
        .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
        .take(64)
        .collect()
}

// ---- repair, for payloads that must be taken (Meta's webhooks) --------------------------

/// Makes signed bytes parseable without refusing them: bytes that are not UTF-8 and lone
/// surrogate escapes become U+FFFD (`\ufffd`); everything else is left as it is. Backslashes
/// occur only inside strings in JSON, so no string tracking is needed.
pub fn repair_json_text(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let text = String::from_utf8_lossy(body);
    if !text.contains("\\u") {
        return match text {
            std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(body),
            std::borrow::Cow::Owned(owned) => std::borrow::Cow::Owned(owned.into_bytes()),
        };
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        if bytes[i + 1] != b'u' {
            out.extend_from_slice(&bytes[i..i + 2]);
            i += 2;
            continue;
        }
        match hex_escape(bytes, i) {
            Some(0xD800..=0xDBFF) => {
                if matches!(hex_escape(bytes, i + 6), Some(0xDC00..=0xDFFF)) {
                    out.extend_from_slice(&bytes[i..i + 12]);
                    i += 12;
                } else {
                    out.extend_from_slice(b"\\ufffd");
                    i += 6;
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.extend_from_slice(b"\\ufffd");
                i += 6;
            }
            Some(_) => {
                out.extend_from_slice(&bytes[i..i + 6]);
                i += 6;
            }
            // Not four hex digits: left for the parser to refuse.
            None => {
                out.extend_from_slice(&bytes[i..i + 2]);
                i += 2;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The value of a `\uXXXX` escape starting at `at`, if there is one.
fn hex_escape(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let digits = std::str::from_utf8(&escape[2..]).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// Removes U+0000 from every string and key of `value`; returns how many were removed.
pub fn strip_nul(value: &mut Value) -> usize {
    match value {
        Value::String(text) => strip_nul_text(text),
        Value::Array(items) => items.iter_mut().map(strip_nul).sum(),
        Value::Object(object) => {
            let mut removed = 0;
            if object.keys().any(|key| key.contains('\0')) {
                let members = std::mem::take(object);
                for (mut key, value) in members {
                    removed += strip_nul_text(&mut key);
                    object.insert(key, value);
                }
            }
            removed + object.values_mut().map(strip_nul).sum::<usize>()
        }
        _ => 0,
    }
}

/// Removes U+0000 from `text`; returns how many were removed.
pub fn strip_nul_text(text: &mut String) -> usize {
    let before = text.len();
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
    before - text.len()
}

/// Cuts `text` to at most `max_chars` characters; true when it was cut.
pub fn truncate_chars(text: &mut String, max_chars: usize) -> bool {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => {
            text.truncate(end);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &[u8]) -> EdgeError {
        parse_json(body, &TextLimits::default()).expect_err("refused")
    }

    #[test]
    fn good_json_passes_unchanged() {
        let body = br#"{"a": [1, -2, 3.5, true, null, "x\u00e9\ud83d\ude00"], "b": {"c": ""}}"#;
        let value = parse_json(body, &TextLimits::default()).expect("accepted");
        assert_eq!(value, serde_json::from_slice::<Value>(body).expect("json"));
    }

    #[test]
    fn nul_is_refused_at_any_depth_naming_the_field() {
        let err = refused(br#"{"variables": {"city": "A\u0000da"}}"#);
        assert_eq!(err.field, "variables.city");
        assert_eq!(err.problem, Problem::Nul);
        let err = refused(br#"{"flow": {"components": [{"id": "a"}, {"text": "\u0000"}]}}"#);
        assert_eq!(err.field, "flow.components[1].text");
        let err = refused(br#"{"variables": {"ci\u0000ty": "x"}}"#);
        assert_eq!(err.field, "variables.ci\u{FFFD}ty");
        assert_eq!(err.problem, Problem::Nul);
    }

    #[test]
    fn serde_json_refusals_are_named_and_classified() {
        // Lone surrogates: serde_json refuses them (it cannot make a String of one); we name
        // the field and the rule.
        let err = refused(br#"{"message": "a\ud800b"}"#);
        assert_eq!(
            (err.field.as_str(), &err.problem),
            ("message", &Problem::LoneSurrogate)
        );
        let err = refused(br#"{"message": "\udc00"}"#);
        assert_eq!(err.problem, Problem::LoneSurrogate);
        let err = refused(br#"{"m": ["\ud800"]}"#);
        assert_eq!(err.field, "m[0]");
        assert_eq!(err.problem, Problem::LoneSurrogate);
        let err = refused(b"{\"message\": \"caf\xe9\"}");
        assert_eq!(
            (err.field.as_str(), &err.problem),
            ("message", &Problem::InvalidUtf8)
        );
        let err = refused(b"{\"message\": \"a\x00b\"}");
        assert_eq!(err.problem, Problem::ControlCharacter);
        let err = refused(br#"{"n": 1e400}"#);
        assert_eq!(
            (err.field.as_str(), &err.problem),
            ("n", &Problem::NumberOutOfRange)
        );
        assert!(refused(br#"{"a": }"#).is_malformed());
        assert!(refused(br#"{"a": 1} x"#).is_malformed());
        assert!(refused(b"").is_malformed());
    }

    #[test]
    fn numbers_near_the_float_limits_survive_a_trip_through_postgresql() {
        // jsonb writes -1.7976931348623157e308 back as a 309-digit integer; without serde_json's
        // `float_roundtrip` its reader overflowed on that text and the stored row was unreadable.
        let value = parse_json(br#"{"n": -1.7976931348623157e308}"#, &TextLimits::default())
            .expect("accepted");
        let as_postgresql_writes_it = format!(r#"{{"n": -17976931348623157{}}}"#, "0".repeat(292));
        let back: Value = serde_json::from_str(&as_postgresql_writes_it).expect("readable");
        assert_eq!(back, value);
    }

    #[test]
    fn deep_long_wide_and_duplicate_are_refused() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let err = refused(deep.as_bytes());
        assert_eq!(err.problem, Problem::TooDeep { max_depth: 32 });
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
        let err = refused(deep_object.as_bytes());
        assert!(err.field.starts_with("a.a.a."), "{}", err.field);
        let long = format!(r#"{{"message": "{}"}}"#, "é".repeat(16 * 1024 + 1));
        assert_eq!(
            refused(long.as_bytes()).problem,
            Problem::TooLong {
                max_chars: 16 * 1024
            }
        );
        let at_limit = format!(r#"{{"message": "{}"}}"#, "é".repeat(16 * 1024));
        assert!(parse_json(at_limit.as_bytes(), &TextLimits::default()).is_ok());
        let err = refused(br#"{"a": 1, "b": 2, "a": 3}"#);
        assert_eq!(
            (err.field.as_str(), &err.problem),
            ("a", &Problem::DuplicateKey)
        );
        let limits = TextLimits {
            max_array_items: 2,
            max_object_properties: 2,
            ..TextLimits::default()
        };
        let err = parse_json(br#"{"x": [1, 2, 3]}"#, &limits).expect_err("refused");
        assert_eq!(err.field, "x[2]");
        assert_eq!(err.problem, Problem::TooManyItems { max_items: 2 });
        let err = parse_json(br#"{"v": {"a": 1, "b": 2, "c": 3}}"#, &limits).expect_err("refused");
        assert_eq!(err.field, "v");
        assert_eq!(
            err.problem,
            Problem::TooManyProperties { max_properties: 2 }
        );
    }

    #[test]
    fn repair_makes_meta_payloads_parseable_and_storable() {
        let repaired =
            repair_json_text(b"{\"t\": \"a\\ud800b\\udc00c\\ud83d\\ude00\\\\ud800\xff\"}");
        let mut value: Value = serde_json::from_slice(&repaired).expect("parses");
        assert_eq!(value["t"], "a\u{FFFD}b\u{FFFD}c\u{1F600}\\ud800\u{FFFD}");
        let untouched = br#"{"t": "\u00e9\n"}"#;
        assert_eq!(&*repair_json_text(untouched), &untouched[..]);
        assert!(matches!(
            repair_json_text(b"{}"),
            std::borrow::Cow::Borrowed(_)
        ));
        let mut nul: Value =
            serde_json::from_str(r#"{"a\u0000": ["x\u0000y", {"b": "\u0000"}]}"#).expect("json");
        assert_eq!(strip_nul(&mut nul), 3);
        assert_eq!(nul, serde_json::json!({"a": ["xy", {"b": ""}]}));
        value = Value::String("héllo".into());
        let Value::String(mut text) = value else {
            unreachable!()
        };
        assert!(truncate_chars(&mut text, 2));
        assert_eq!(text, "hé");
        assert!(!truncate_chars(&mut text, 2));
    }
}
