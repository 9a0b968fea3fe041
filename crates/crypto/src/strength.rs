//! Strength check for API keys chosen by users. The product promise: a provided key is at least
//! as strong as a generated one (32+ uniformly random base62 characters, about 190 bits).
//!
//! We cannot measure the randomness of one string, so the check rejects what people type
//! instead of random keys (short keys, runs, sequences, repeated chunks, common passwords) and
//! then applies two entropy estimates, each with a bar set just below what genuinely random
//! 32-character base62 keys score, so that such keys practically always pass:
//!
//! - alphabet estimate, `length × log2(size of the character classes used)`: 32 random base62
//!   characters score 190.5 bits; those that happen to contain no digit (1 key in 280) score
//!   182.4. The bar is 180, which refuses 32 hex digits (128) or 32 lowercase+digits (165).
//! - Shannon estimate, `Σ -count·log2(count/length)` over the key's own character frequencies:
//!   in 2 million random 32-character base62 keys the lowest score was 121.2 and fewer than
//!   2 in a million scored under 122. The bar is 116, which refuses keys built from few
//!   distinct characters.
//!
//! Each pattern rule is sized so that a random 40-character key trips it with probability of
//! order 10⁻⁶ or less.

use std::collections::HashSet;

use thiserror::Error;

/// Minimum length of a provided API key, in characters.
pub const MIN_API_KEY_LEN: usize = 32;
/// Keys are digested, so length costs nothing; the cap only bounds the work on bad input.
const MAX_API_KEY_LEN: usize = 512;
/// This many identical characters in a row are refused.
const MAX_RUN: usize = 5;
/// This many consecutive ascending or descending characters ("abcdef", "654321") are refused.
const MAX_SEQUENCE: usize = 6;
/// A chunk of this many characters occurring twice is refused.
const REPEATED_CHUNK_LEN: usize = 6;
const MIN_ALPHABET_BITS: f64 = 180.0;
const MIN_SHANNON_BITS: f64 = 116.0;
const ALLOWED_SYMBOLS: &[u8] = b"._~-";

/// Common passwords and keyboard walks (lowercase); a key containing one is refused. All have
/// six characters or more so that random keys do not contain them by chance.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "passwort",
    "passw0rd",
    "p4ssword",
    "p4ssw0rd",
    "pa55word",
    "qwerty",
    "qwertz",
    "azerty",
    "asdfgh",
    "zxcvbn",
    "qazwsx",
    "1q2w3e",
    "zaq12wsx",
    "letmein",
    "welcome",
    "changeme",
    "iloveyou",
    "trustno1",
    "secret",
    "s3cret",
    "admin1",
    "administrator",
    "master",
    "dragon",
    "monkey",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "shadow",
    "superman",
    "abc123",
    "123123",
    "654321",
    "apikey",
    "api_key",
    "api-key",
    "whatsapp",
    "chatbot",
];

/// Why a provided API key was refused. Messages never contain the key or a part of it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KeyStrengthError {
    #[error("API key must be at least {minimum} characters long (it has {length})")]
    TooShort { length: usize, minimum: usize },
    #[error("API key must be at most {maximum} characters long (it has {length})")]
    TooLong { length: usize, maximum: usize },
    #[error("API key must not contain spaces or other whitespace")]
    Whitespace,
    #[error(
        "API key may contain only letters A-Z and a-z, digits 0-9 and the characters . _ ~ - \
         (character {position} is not allowed)"
    )]
    InvalidCharacter { position: usize },
    #[error("API key repeats one character {run} or more times in a row")]
    RepeatedCharacter { run: usize },
    #[error("API key contains a run of {length} or more consecutive characters such as \"abcdef\" or \"654321\"")]
    Sequence { length: usize },
    #[error("API key repeats a chunk of {length} or more characters")]
    RepeatedChunk { length: usize },
    #[error("API key contains a common password or keyboard pattern")]
    CommonPassword,
    #[error(
        "API key is too predictable: estimated {estimated_bits} bits of entropy, at least \
         {required_bits} required; use 32 or more random characters from A-Z, a-z and 0-9"
    )]
    LowEntropy {
        estimated_bits: u32,
        required_bits: u32,
    },
}

/// Accepts `key` only if it is at least as strong as a generated API key (see module docs).
pub fn check_api_key_strength(key: &str) -> Result<(), KeyStrengthError> {
    if key.chars().any(char::is_whitespace) {
        return Err(KeyStrengthError::Whitespace);
    }
    if let Some(index) = key.chars().position(|c| !is_allowed(c)) {
        return Err(KeyStrengthError::InvalidCharacter {
            position: index + 1,
        });
    }
    // From here on the key is ASCII, so bytes are characters.
    let bytes = key.as_bytes();
    if bytes.len() < MIN_API_KEY_LEN {
        return Err(KeyStrengthError::TooShort {
            length: bytes.len(),
            minimum: MIN_API_KEY_LEN,
        });
    }
    if bytes.len() > MAX_API_KEY_LEN {
        return Err(KeyStrengthError::TooLong {
            length: bytes.len(),
            maximum: MAX_API_KEY_LEN,
        });
    }
    if longest_run(bytes) >= MAX_RUN {
        return Err(KeyStrengthError::RepeatedCharacter { run: MAX_RUN });
    }
    if longest_sequence(bytes) >= MAX_SEQUENCE {
        return Err(KeyStrengthError::Sequence {
            length: MAX_SEQUENCE,
        });
    }
    if has_repeated_chunk(bytes, REPEATED_CHUNK_LEN) {
        return Err(KeyStrengthError::RepeatedChunk {
            length: REPEATED_CHUNK_LEN,
        });
    }
    let lowercase = key.to_ascii_lowercase();
    if COMMON_PASSWORDS.iter().any(|word| lowercase.contains(word)) {
        return Err(KeyStrengthError::CommonPassword);
    }
    check_bits(alphabet_bits(bytes), MIN_ALPHABET_BITS)?;
    check_bits(shannon_bits(bytes), MIN_SHANNON_BITS)
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_ascii() && ALLOWED_SYMBOLS.contains(&(c as u8)))
}

fn check_bits(estimated: f64, required: f64) -> Result<(), KeyStrengthError> {
    if estimated >= required {
        return Ok(());
    }
    // Both values are small and non-negative; truncation is what we want for the message.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Err(KeyStrengthError::LowEntropy {
        estimated_bits: estimated.floor() as u32,
        required_bits: required.ceil() as u32,
    })
}

fn longest_run(bytes: &[u8]) -> usize {
    longest_chain(bytes, |a, b| a == b)
}

/// Longest chain of characters each one above (or each one below) the previous, within one
/// class (digits, lowercase, uppercase).
fn longest_sequence(bytes: &[u8]) -> usize {
    let same_class = |a: u8, b: u8| {
        (a.is_ascii_digit() && b.is_ascii_digit())
            || (a.is_ascii_lowercase() && b.is_ascii_lowercase())
            || (a.is_ascii_uppercase() && b.is_ascii_uppercase())
    };
    let ascending = longest_chain(bytes, |a, b| same_class(a, b) && b.wrapping_sub(a) == 1);
    let descending = longest_chain(bytes, |a, b| same_class(a, b) && a.wrapping_sub(b) == 1);
    ascending.max(descending)
}

/// Length of the longest stretch in which every neighbouring pair satisfies `linked`.
fn longest_chain(bytes: &[u8], linked: impl Fn(u8, u8) -> bool) -> usize {
    let mut longest = usize::from(!bytes.is_empty());
    let mut current = longest;
    for pair in bytes.windows(2) {
        current = if linked(pair[0], pair[1]) {
            current + 1
        } else {
            1
        };
        longest = longest.max(current);
    }
    longest
}

fn has_repeated_chunk(bytes: &[u8], length: usize) -> bool {
    let mut seen = HashSet::new();
    bytes.windows(length).any(|chunk| !seen.insert(chunk))
}

/// `length × log2(pool)`, where the pool is the union of the character classes the key uses.
/// A key made only of hexadecimal digits counts its letters as a pool of 6, not 26.
fn alphabet_bits(bytes: &[u8]) -> f64 {
    let has = |test: fn(&u8) -> bool| bytes.iter().any(test);
    let all_hex = bytes.iter().all(u8::is_ascii_hexdigit);
    let letter_pool = if all_hex { 6 } else { 26 };
    let mut pool = 0u32;
    if has(u8::is_ascii_digit) {
        pool += 10;
    }
    if has(u8::is_ascii_lowercase) {
        pool += letter_pool;
    }
    if has(u8::is_ascii_uppercase) {
        pool += letter_pool;
    }
    if bytes.iter().any(|b| ALLOWED_SYMBOLS.contains(b)) {
        pool += 4;
    }
    length_f64(bytes.len()) * f64::from(pool.max(1)).log2()
}

/// Shannon entropy of the key's own character distribution times its length.
fn shannon_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 128];
    for &b in bytes {
        counts[usize::from(b & 0x7f)] += 1;
    }
    let n = length_f64(bytes.len());
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let c = length_f64(c);
            -c * (c / n).log2()
        })
        .sum()
}

fn length_f64(length: usize) -> f64 {
    // Lengths are at most MAX_API_KEY_LEN, exactly representable.
    u32::try_from(length).map_or(f64::MAX, f64::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{generate_api_key, generate_token};

    const MANUAL_EXAMPLE: &str = "xK9mP2qR7vW4nT8yU1zA5bC6dE3fG0hI";

    #[test]
    fn the_manuals_example_passes() {
        assert_eq!(MANUAL_EXAMPLE.len(), 32);
        assert_eq!(check_api_key_strength(MANUAL_EXAMPLE), Ok(()));
    }

    #[test]
    fn generated_keys_pass() {
        for _ in 0..10 {
            let key = generate_api_key().unwrap();
            assert_eq!(
                check_api_key_strength(&key),
                Ok(()),
                "generated 40-char key refused"
            );
            let key = generate_token(32).unwrap();
            assert_eq!(
                check_api_key_strength(&key),
                Ok(()),
                "generated 32-char key refused"
            );
        }
        let long = generate_token(200).unwrap();
        assert_eq!(check_api_key_strength(&long), Ok(()));
    }

    #[test]
    fn keys_with_symbols_pass() {
        assert_eq!(
            check_api_key_strength("Xk9.mP2_qR7~vW4-nT8yU1zA5bC6dE3fG0hI"),
            Ok(())
        );
    }

    #[test]
    fn short_keys_are_refused() {
        let key = generate_token(31).unwrap();
        assert_eq!(
            check_api_key_strength(&key),
            Err(KeyStrengthError::TooShort {
                length: 31,
                minimum: 32
            })
        );
        assert!(matches!(
            check_api_key_strength(""),
            Err(KeyStrengthError::TooShort { length: 0, .. })
        ));
        assert!(matches!(
            check_api_key_strength(&"xK9mP2qR7vW4nT8y".repeat(40)),
            Err(KeyStrengthError::TooLong { .. })
        ));
    }

    #[test]
    fn whitespace_and_other_characters_are_refused() {
        let spaced = format!("{} {}", &MANUAL_EXAMPLE[..16], &MANUAL_EXAMPLE[16..]);
        assert_eq!(
            check_api_key_strength(&spaced),
            Err(KeyStrengthError::Whitespace)
        );
        let padded = format!(" {MANUAL_EXAMPLE}");
        assert_eq!(
            check_api_key_strength(&padded),
            Err(KeyStrengthError::Whitespace)
        );
        let tabbed = format!("{MANUAL_EXAMPLE}\t");
        assert_eq!(
            check_api_key_strength(&tabbed),
            Err(KeyStrengthError::Whitespace)
        );
        let bang = format!("{MANUAL_EXAMPLE}!");
        assert_eq!(
            check_api_key_strength(&bang),
            Err(KeyStrengthError::InvalidCharacter { position: 33 })
        );
        let accented = format!("é{MANUAL_EXAMPLE}");
        assert_eq!(
            check_api_key_strength(&accented),
            Err(KeyStrengthError::InvalidCharacter { position: 1 })
        );
    }

    #[test]
    fn runs_are_refused() {
        assert_eq!(
            check_api_key_strength(&"a".repeat(40)),
            Err(KeyStrengthError::RepeatedCharacter { run: 5 })
        );
        let with_run = format!("{MANUAL_EXAMPLE}ZZZZZ");
        assert!(matches!(
            check_api_key_strength(&with_run),
            Err(KeyStrengthError::RepeatedCharacter { .. })
        ));
    }

    #[test]
    fn sequences_are_refused() {
        for pattern in ["abcdef", "123456", "fedcba", "987654", "UVWXYZ"] {
            let key = format!("{MANUAL_EXAMPLE}{pattern}");
            assert!(
                matches!(
                    check_api_key_strength(&key),
                    Err(KeyStrengthError::Sequence { .. })
                ),
                "{pattern}"
            );
        }
        // Consecutive codes across classes ("89:" is impossible, "Z" then "a" is not a sequence).
        assert_eq!(longest_sequence(b"XYZabc"), 3);
        assert_eq!(longest_sequence(b"9ab"), 2);
    }

    #[test]
    fn repeated_chunks_are_refused() {
        assert!(matches!(
            check_api_key_strength(&"abcd".repeat(10)),
            Err(KeyStrengthError::RepeatedChunk { .. })
        ));
        let doubled = format!("{}{}", &MANUAL_EXAMPLE[..20], &MANUAL_EXAMPLE[..20]);
        assert!(matches!(
            check_api_key_strength(&doubled),
            Err(KeyStrengthError::RepeatedChunk { .. })
        ));
    }

    #[test]
    fn password_variants_are_refused() {
        for key in [
            "password",
            "passwordpasswordpasswordpassword",
            "Password1234567890Password123456",
            "xK9mP2qR7vW4nT8yU1zA5bC6dPassword",
            "P4ssw0rd-xK9mP2qR7vW4nT8yU1zA5bC6dE3",
            "Zq8.MySecret.Api.Key.For.Prod.2024",
        ] {
            assert!(check_api_key_strength(key).is_err(), "{key} accepted");
        }
        assert_eq!(
            check_api_key_strength("xK9mP2qR7vW4nT8yU1zA5bC6dPassword"),
            Err(KeyStrengthError::CommonPassword)
        );
    }

    #[test]
    fn small_alphabets_are_refused() {
        // 32 hex digits without any pattern: 128 bits, weaker than a generated key.
        let hex = "daeeb975729fae923d5a4fd12aabfe22";
        assert_eq!(
            check_api_key_strength(hex),
            Err(KeyStrengthError::LowEntropy {
                estimated_bits: 128,
                required_bits: 180
            })
        );
        // 32 random lowercase letters and digits: 165 bits.
        assert!(matches!(
            check_api_key_strength("k3j9x2m7q8w1v5b0n4p6z0r7t2y9u3h8"),
            Err(KeyStrengthError::LowEntropy { .. })
        ));
        // 64 hex digits (256 bits) are fine.
        let hex64 = format!("{hex}7c1e04b8f63a59d2e8c07b41a96f3d5e");
        assert_eq!(check_api_key_strength(&hex64), Ok(()));
    }

    #[test]
    fn few_distinct_characters_are_refused() {
        // 4 symbols, no run, sequence or repeated chunk: 80 bits by Shannon.
        let key = "Qy7xxxQxyxx77xyx7xxyx7xyxyQ7yxQyxyQxxxy7";
        assert!(matches!(
            check_api_key_strength(key),
            Err(KeyStrengthError::LowEntropy {
                required_bits: 116,
                ..
            })
        ));
    }

    #[test]
    fn messages_do_not_echo_the_key() {
        let keys = [
            "xK9mP2qR7vW4nT8yU1zA5bC6dPassword".to_owned(),
            format!("{MANUAL_EXAMPLE} "),
            "daeeb975729fae923d5a4fd12aabfe22".to_owned(),
            "abcd".repeat(10),
            "xK9mP2qR7vW4nT8y".to_owned(),
        ];
        for key in keys {
            let message = check_api_key_strength(&key).unwrap_err().to_string();
            assert!(!message.contains(&key[..8]), "{message}");
            assert!(!message.contains(&key[key.len() - 8..]), "{message}");
        }
    }

    #[test]
    fn estimators_match_hand_computed_values() {
        assert!((alphabet_bits(MANUAL_EXAMPLE.as_bytes()) - 32.0 * 62f64.log2()).abs() < 1e-9);
        assert!((shannon_bits(MANUAL_EXAMPLE.as_bytes()) - 160.0).abs() < 1e-9);
        assert!((shannon_bits(b"abab") - 4.0).abs() < 1e-9);
        assert_eq!(shannon_bits(b"aaaa"), 0.0);
    }
}
