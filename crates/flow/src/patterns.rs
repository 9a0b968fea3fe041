//! Regular expressions written by bot authors, compiled with bounds.

use regex::{Regex, RegexBuilder};

/// Longest accepted pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 1_000;
/// Memory bound for one compiled pattern, so that a pattern cannot exhaust an executor.
const COMPILED_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a `condition` pattern: it matches anywhere in the value (a search).
pub fn compile_search(pattern: &str) -> Result<Regex, String> {
    compile(pattern, pattern)
}

/// Compiles a `question_text` validation pattern: the whole answer must match.
pub fn compile_full_match(pattern: &str) -> Result<Regex, String> {
    // Checked alone first: `a)|(b` is invalid, yet `^(?:a)|(b)$` would compile unanchored.
    compile(pattern, pattern)?;
    compile(pattern, &format!("^(?:{pattern})$"))
}

fn compile(written: &str, effective: &str) -> Result<Regex, String> {
    if written.len() > MAX_PATTERN_LEN {
        return Err(format!("pattern is longer than {MAX_PATTERN_LEN} bytes"));
    }
    RegexBuilder::new(effective)
        .size_limit(COMPILED_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_match_anchors_and_search_does_not() {
        let full = compile_full_match(r"\d{5}|x").unwrap();
        assert!(full.is_match("12345") && full.is_match("x"));
        assert!(!full.is_match("a12345") && !full.is_match("xx"));
        assert!(compile_search(r"\d").unwrap().is_match("abc1"));
    }

    #[test]
    fn rejects_invalid_and_oversized_patterns() {
        assert!(compile_search("(unclosed").is_err());
        assert!(
            compile_full_match("a)|(b").is_err(),
            "anchoring must not hide a stray paren"
        );
        assert!(compile_search(&"a".repeat(MAX_PATTERN_LEN + 1)).is_err());
        assert!(
            compile_search(r"(\w{100}){100}").is_err(),
            "exceeds the compiled size limit"
        );
    }
}
