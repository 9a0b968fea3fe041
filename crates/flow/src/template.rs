//! `{{variable}}` templates.
//!
//! A template is literal text with `{{name}}` placeholders (spaces inside the braces are
//! allowed: `{{ name }}`). There is no escape for a literal `{{`; single braces are literal,
//! and in a run of braces the placeholder opens at the last two: `{{{name}}}` is `{`, the
//! value, `}`. The renderer and the strict parser agree on every template the parser accepts.

use std::fmt;

use crate::variables::is_valid_variable_name;

/// A piece of a parsed template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Literal(&'a str),
    Variable(&'a str),
}

/// Why a template does not parse, with the byte offset of the offending `{{`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub kind: TemplateErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// `{{` without a matching `}}`.
    Unclosed,
    /// `{{...}}` whose content is not a valid variable name.
    InvalidName(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TemplateErrorKind::Unclosed => {
                write!(
                    f,
                    "\"{{{{\" at offset {} is never closed with \"}}}}\"",
                    self.offset
                )
            }
            TemplateErrorKind::InvalidName(name) => write!(
                f,
                "\"{{{{{name}}}}}\" at offset {} is not a variable name \
                 ([A-Za-z_][A-Za-z0-9_]{{0,63}})",
                self.offset
            ),
        }
    }
}

/// Splits a template into literal and variable segments.
pub fn parse(template: &str) -> Result<Vec<Segment<'_>>, TemplateError> {
    let mut segments = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(found) = rest.find("{{") {
        let braces = rest[found..].bytes().take_while(|&b| b == b'{').count();
        let open = found + braces - 2;
        if open > 0 {
            segments.push(Segment::Literal(&rest[..open]));
        }
        let inner_start = open + 2;
        let unclosed = TemplateError {
            offset: offset + open,
            kind: TemplateErrorKind::Unclosed,
        };
        let Some(close) = rest[inner_start..].find("}}") else {
            return Err(unclosed);
        };
        let raw = &rest[inner_start..inner_start + close];
        if raw.contains("{{") {
            // `{{x{{a}}`: another placeholder opens before this one is closed.
            return Err(unclosed);
        }
        let name = raw.trim();
        if !is_valid_variable_name(name) {
            return Err(TemplateError {
                offset: offset + open,
                kind: TemplateErrorKind::InvalidName(raw.to_owned()),
            });
        }
        segments.push(Segment::Variable(name));
        let consumed = inner_start + close + 2;
        rest = &rest[consumed..];
        offset += consumed;
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest));
    }
    Ok(segments)
}

/// The variable names a template reads, in order of appearance.
pub fn variables(template: &str) -> Result<Vec<&str>, TemplateError> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|s| match s {
            Segment::Variable(name) => Some(name),
            Segment::Literal(_) => None,
        })
        .collect())
}

/// Renders a template, asking `value` for each placeholder.
///
/// Lenient, because the engine may run a flow that was never validated: an unclosed `{{` or a
/// placeholder that is not a variable name is kept as literal text. A placeholder opens at the
/// last `{{` before its `}}`, so that no `{{name}}` is left in the output (given values without
/// braces): in `{{{a}}` and `{{x{{a}}` the braces before the placeholder are text. Values are
/// inserted as they are, never interpolated again.
pub fn render_with(template: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(found) = rest.find("{{") {
        let Some(close) = rest[found + 2..].find("}}").map(|c| found + 2 + c) else {
            break;
        };
        let open = rest[..close].rfind("{{").unwrap_or(found);
        let name = rest[open + 2..close].trim();
        let consumed = close + 2;
        if is_valid_variable_name(name) {
            out.push_str(&rest[..open]);
            out.push_str(&value(name));
        } else {
            out.push_str(&rest[..consumed]);
        }
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_and_variables() {
        let segments = parse("Hi {{first_name}} {{ last_name }}!").unwrap();
        assert_eq!(
            segments,
            vec![
                Segment::Literal("Hi "),
                Segment::Variable("first_name"),
                Segment::Literal(" "),
                Segment::Variable("last_name"),
                Segment::Literal("!"),
            ]
        );
        assert_eq!(variables("{{a}}{{b}}{{a}}").unwrap(), vec!["a", "b", "a"]);
        assert_eq!(
            parse("no braces { here }").unwrap(),
            vec![Segment::Literal("no braces { here }")]
        );
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn reports_unclosed_and_invalid_placeholders() {
        assert_eq!(
            parse("ok {{a}} then {{b").unwrap_err(),
            TemplateError {
                offset: 14,
                kind: TemplateErrorKind::Unclosed
            }
        );
        assert_eq!(
            parse("x {{first name}}").unwrap_err(),
            TemplateError {
                offset: 2,
                kind: TemplateErrorKind::InvalidName("first name".into())
            }
        );
        assert!(matches!(
            parse("{{}}").unwrap_err().kind,
            TemplateErrorKind::InvalidName(_)
        ));
        assert!(parse("{{ a }").is_err());
    }

    #[test]
    fn renders_values_and_keeps_malformed_parts_literal() {
        let render = |t: &str| {
            render_with(t, |name| match name {
                "first_name" => "Ada".to_owned(),
                _ => String::new(),
            })
        };
        assert_eq!(render("Hi {{ first_name }}, {{unset}}!"), "Hi Ada, !");
        assert_eq!(
            render("{{first name}} {{first_name"),
            "{{first name}} {{first_name"
        );
        assert_eq!(render("héllo {{first_name}}é"), "héllo Adaé");
    }

    /// Found by the property tests (`tests/template_properties.rs`): the renderer kept
    /// `{{{name}}` whole as literal text, leaving `{{name}}` unresolved in the message.
    #[test]
    fn a_placeholder_opens_at_the_last_braces_before_it_closes() {
        let render = |t: &str| render_with(t, |name| format!("<{name}>"));
        assert_eq!(render("{{{name}}"), "{<name>");
        assert_eq!(render("{{{name}}}"), "{<name>}");
        assert_eq!(render("{{x{{name}}"), "{{x<name>");
        assert_eq!(render("{{ {{name}} }}"), "{{ <name> }}");
        assert_eq!(
            parse("{{{name}}}").unwrap(),
            vec![
                Segment::Literal("{"),
                Segment::Variable("name"),
                Segment::Literal("}"),
            ]
        );
        assert_eq!(
            parse("{{x{{name}}").unwrap_err(),
            TemplateError {
                offset: 0,
                kind: TemplateErrorKind::Unclosed
            }
        );
    }
}
