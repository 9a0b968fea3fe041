//! `{{variable}}` interpolation (`flow::template`), as the engine renders every message.
//!
//! Properties: nothing panics; text without `{{` renders unchanged; once every variable has a
//! value (without braces), the output has no placeholder left; a value is inserted as data,
//! never interpolated again; a template the strict parser accepts renders exactly as its
//! segments say, asking for exactly the variables `template::variables` lists.
#![no_main]

use flow::template::{self, render_with, Segment};
use libfuzzer_sys::fuzz_target;

/// Stands for a value in the injection check; templates that contain it are skipped there.
const MARKER: &str = "\u{1}\u{2}";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = |name: &str| format!("<{name}>");
    let mut asked = Vec::new();
    let rendered = render_with(text, |name| {
        asked.push(name.to_owned());
        value(name)
    });
    if !text.contains("{{") {
        assert_eq!(
            rendered, text,
            "text without placeholders must render unchanged"
        );
    }
    if let Some(placeholder) = first_placeholder(&rendered) {
        panic!("{placeholder:?} is left in {rendered:?} (template {text:?})");
    }
    if !text.contains(MARKER) {
        let injected = render_with(text, |_| "{{a}}".to_owned());
        let marked = render_with(text, |_| MARKER.to_owned());
        assert_eq!(
            injected,
            marked.replace(MARKER, "{{a}}"),
            "a value was interpolated"
        );
    }
    if let Ok(segments) = template::parse(text) {
        let expected: String = segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(literal) => (*literal).to_owned(),
                Segment::Variable(name) => value(name),
            })
            .collect();
        assert_eq!(rendered, expected, "render and parse disagree");
        let listed = template::variables(text).expect("parse accepted it");
        assert_eq!(
            asked, listed,
            "render asked for other variables than listed"
        );
    }
});

/// The first `{{ name }}` in `text` whose name is a variable name, at any `{{`.
fn first_placeholder(text: &str) -> Option<&str> {
    // Every `{{`, overlapping ones too: `{{{a}}` holds a placeholder at its second brace.
    text.char_indices()
        .filter(|&(at, _)| text[at..].starts_with("{{"))
        .find_map(|(open, _)| {
            let inner_start = open + 2;
            let close = text[inner_start..].find("}}")?;
            let name = text[inner_start..inner_start + close].trim();
            flow::variables::is_valid_variable_name(name)
                .then(|| &text[open..inner_start + close + 2])
        })
}
