//! A phone number in the digits-only international form Meta uses (`wa_id`, `from`): no `+`,
//! 7 to 15 digits (E.164). Input may carry `+`, spaces, dashes, dots and parentheses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a phone number: use the international form with country code, 7 to 15 digits, such as +15551234567")]
pub struct PhoneNumberError(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneNumberError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let trimmed = raw.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneNumberError(raw.chars().take(40).collect())),
            }
        }
        if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(PhoneNumberError(raw.chars().take(40).collect()));
        }
        Ok(PhoneNumber(digits))
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneNumberError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(phone: PhoneNumber) -> String {
        phone.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneNumber;

    #[test]
    fn normalises_to_digits() {
        let phone: PhoneNumber = "+1 (555) 123-4567".parse().unwrap();
        assert_eq!(phone.as_str(), "15551234567");
        assert_eq!(
            "4915112345678".parse::<PhoneNumber>().unwrap().as_str(),
            "4915112345678"
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for bad in [
            "",
            "+",
            "12345",
            "1234567890123456",
            "0123456789",
            "555-CALL-NOW",
            "1555 123 4567 ext 2",
        ] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad}");
        }
    }
}
