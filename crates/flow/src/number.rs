//! Numbers as users type them: `42`, `-3.5`, `+7`, `3,5` (decimal comma).

/// Parses a trimmed decimal number; no exponents, no `inf`/`nan`, no thousands separators.
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let mut separators = 0;
    let mut digits = 0;
    for c in unsigned.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' | ',' => separators += 1,
            _ => return None,
        }
    }
    if digits == 0 || separators > 1 {
        return None;
    }
    text.replace(',', ".").parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn parses_what_people_type() {
        assert_eq!(parse_number(" 42 "), Some(42.0));
        assert_eq!(parse_number("-3.5"), Some(-3.5));
        assert_eq!(parse_number("+7"), Some(7.0));
        assert_eq!(parse_number("3,5"), Some(3.5));
        assert_eq!(parse_number(".5"), Some(0.5));
        for bad in [
            "", "-", ".", "1.2.3", "1,000.5", "1e5", "inf", "NaN", "12a", "--1",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }
}
