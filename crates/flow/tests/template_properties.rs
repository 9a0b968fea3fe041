#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Properties of `{{variable}}` interpolation (the fuzz target `fuzz/fuzz_targets/template.rs`
//! checks the same on arbitrary bytes).

use flow::template::{self, render_with, Segment};
use flow::variables::is_valid_variable_name;
use proptest::prelude::*;

/// Templates made of the pieces that matter: names, braces in every grouping, spaces, text.
fn template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just(" ".to_owned()),
        Just("é".to_owned()),
        Just("{{name}}".to_owned()),
        Just("{{ last_input }}".to_owned()),
        "[a-z_]{1,6}",
        "[a-zA-Z0-9 .,!?\u{0}-\u{1f}\u{e9}\u{1f355}]{0,8}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

/// Every value is its name in angle brackets: no braces, so nothing can form a placeholder.
fn value(name: &str) -> String {
    format!("<{name}>")
}

/// The first `{{ name }}` left in `text`, at any `{{` (overlapping ones too).
fn placeholder_in(text: &str) -> Option<&str> {
    text.char_indices()
        .filter(|&(at, _)| text[at..].starts_with("{{"))
        .find_map(|(open, _)| {
            let inner = open + 2;
            let close = text[inner..].find("}}")?;
            is_valid_variable_name(text[inner..inner + close].trim())
                .then(|| &text[open..inner + close + 2])
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn text_without_placeholders_is_unchanged(text in any::<String>()) {
        let text = text.replace("{{", "{ {");
        prop_assert_eq!(render_with(&text, value), text);
    }

    #[test]
    fn no_placeholder_is_left_once_every_variable_has_a_value(text in template()) {
        let rendered = render_with(&text, value);
        prop_assert_eq!(placeholder_in(&rendered), None, "rendered {:?}", rendered);
    }

    #[test]
    fn values_are_inserted_as_data(text in template()) {
        let injected = render_with(&text, |_| "{{name}}".to_owned());
        let marked = render_with(&text, |_| "\u{1}".to_owned());
        prop_assume!(!text.contains('\u{1}'));
        prop_assert_eq!(injected, marked.replace('\u{1}', "{{name}}"));
    }

    #[test]
    fn render_agrees_with_the_strict_parser(text in template()) {
        if let Ok(segments) = template::parse(&text) {
            let mut asked = Vec::new();
            let rendered = render_with(&text, |name| {
                asked.push(name.to_owned());
                value(name)
            });
            let expected: String = segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(literal) => (*literal).to_owned(),
                    Segment::Variable(name) => value(name),
                })
                .collect();
            prop_assert_eq!(rendered, expected);
            prop_assert_eq!(asked, template::variables(&text).unwrap());
        }
    }
}
