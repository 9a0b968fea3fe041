//! Random tokens: API keys and operator tokens, in base62 so they survive URLs, headers and
//! copy-paste unchanged.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::CryptoError;

const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Largest multiple of 62 that fits in a byte: bytes at or above it are rejected so that every
/// character is exactly equally likely (no modulo bias).
const ACCEPT_BELOW: u8 = 248;

/// Length of a generated API key (about 238 bits).
pub const API_KEY_LEN: usize = 40;
/// Operator tokens start with this prefix, so they are recognisable in a secret scanner.
pub const OPERATOR_TOKEN_PREFIX: &str = "op_";

/// `len` uniformly random base62 characters from the system CSPRNG.
pub fn generate_token(len: usize) -> Result<String, CryptoError> {
    let rng = SystemRandom::new();
    let mut token = String::with_capacity(len);
    let mut buffer = [0u8; 64];
    while token.len() < len {
        rng.fill(&mut buffer).map_err(|_| CryptoError::Random)?;
        for &byte in buffer.iter().filter(|&&b| b < ACCEPT_BELOW) {
            if token.len() == len {
                break;
            }
            token.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    buffer.fill(0);
    Ok(token)
}

/// A new API key: 40 base62 characters.
pub fn generate_api_key() -> Result<String, CryptoError> {
    generate_token(API_KEY_LEN)
}

/// A new operator token: `op_` followed by 40 base62 characters.
pub fn generate_operator_token() -> Result<String, CryptoError> {
    Ok(format!("{OPERATOR_TOKEN_PREFIX}{}", generate_token(40)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_requested_length_and_alphabet() {
        for len in [0, 1, 32, 63, 64, 65, 200] {
            let token = generate_token(len).unwrap();
            assert_eq!(token.len(), len);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        let key = generate_api_key().unwrap();
        assert_eq!(key.len(), 40);
        let op = generate_operator_token().unwrap();
        assert_eq!(op.len(), 43);
        assert!(op.starts_with("op_"));
        assert!(op[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn tokens_differ() {
        let a = generate_api_key().unwrap();
        let b = generate_api_key().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn distribution_covers_the_alphabet_without_gross_bias() {
        // 62,000 characters: each symbol expected 1,000 times (sd ~31). Bounds at ~8 sd so the
        // test does not flake, yet a modulo-biased or truncated alphabet fails.
        let sample = generate_token(62_000).unwrap();
        let mut counts = [0usize; 256];
        for b in sample.bytes() {
            counts[usize::from(b)] += 1;
        }
        for &symbol in BASE62 {
            let n = counts[usize::from(symbol)];
            assert!(
                (750..=1250).contains(&n),
                "{} seen {n} times",
                char::from(symbol)
            );
        }
    }

    #[test]
    fn rejection_threshold_is_a_multiple_of_the_alphabet() {
        assert_eq!(usize::from(ACCEPT_BELOW) % BASE62.len(), 0);
        assert!(usize::from(ACCEPT_BELOW) + BASE62.len() > 255);
    }
}
