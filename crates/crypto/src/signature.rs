//! Meta webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`,
//! keyed with the app secret.

use ring::hmac;
use thiserror::Error;

const PREFIX: &str = "sha256=";
const HEX_LEN: usize = 64;

/// Why a webhook signature was refused. Every variant answers 401/403 in the same way; they are
/// distinct for logs and metrics.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header does not start with \"sha256=\"")]
    BadPrefix,
    #[error("signature is not hexadecimal")]
    BadHex,
    #[error("signature has the wrong length (expected 64 hex digits)")]
    BadLength,
    #[error("signature does not match the body")]
    Mismatch,
}

/// Checks `header` (the `X-Hub-Signature-256` value) against `body` in constant time.
pub fn verify_meta_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digits = header
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::BadPrefix)?;
    if !hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::BadHex);
    }
    if hex_digits.len() != HEX_LEN {
        return Err(SignatureError::BadLength);
    }
    let expected = hex::decode(hex_digits).map_err(|_| SignatureError::BadHex)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    hmac::verify(&key, body, &expected).map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body` (for the emulator and tests).
pub fn sign_meta_payload(app_secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    format!("{PREFIX}{}", hex::encode(hmac::sign(&key, body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"meta-app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    /// Computed independently with Python: hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    const EXPECTED: &str =
        "sha256=ee9f05f989bc0aa2693d85691a477f8b8403933cde7959a1c5c6be7ea85e8d3d";

    #[test]
    fn signs_the_known_vector() {
        assert_eq!(sign_meta_payload(SECRET, BODY), EXPECTED);
    }

    #[test]
    fn accepts_the_known_vector() {
        assert_eq!(verify_meta_signature(SECRET, BODY, Some(EXPECTED)), Ok(()));
        let upper = format!("sha256={}", EXPECTED[7..].to_uppercase());
        assert_eq!(verify_meta_signature(SECRET, BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn distinguishes_each_failure() {
        fn verify(header: Option<&str>) -> Result<(), SignatureError> {
            verify_meta_signature(SECRET, BODY, header)
        }
        assert_eq!(verify(None), Err(SignatureError::Missing));
        assert_eq!(verify(Some(&EXPECTED[7..])), Err(SignatureError::BadPrefix));
        assert_eq!(
            verify(Some(&EXPECTED.replace("sha256=", "sha1="))),
            Err(SignatureError::BadPrefix)
        );
        let bad_hex = format!("sha256={}zz", &EXPECTED[7..69]);
        assert_eq!(verify(Some(&bad_hex)), Err(SignatureError::BadHex));
        assert_eq!(
            verify(Some(&EXPECTED[..69])),
            Err(SignatureError::BadLength)
        );
        assert_eq!(verify(Some("sha256=")), Err(SignatureError::BadLength));
        let flipped = format!("{}0", &EXPECTED[..70]);
        assert_ne!(flipped, EXPECTED);
        assert_eq!(verify(Some(&flipped)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn other_body_or_secret_mismatches() {
        assert_eq!(
            verify_meta_signature(SECRET, b"{}", Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta_signature(b"other", BODY, Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
    }
}
