//! The deployment key: one 256-bit key per deployment, given in `DEPLOYMENT_KEY`.
//!
//! It seals secrets at rest (AES-256-GCM, random 96-bit nonce stored in front of the
//! ciphertext, the owning row's id as associated data) and derives the HMAC key under which
//! API keys and operator tokens are digested, so a stolen database alone allows neither
//! decryption nor offline guessing of tokens.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

use crate::error::CryptoError;
use crate::secret::{Secret, SecretString};

/// Length of the deployment key in bytes.
pub const DEPLOYMENT_KEY_LEN: usize = 32;
/// Length of the random nonce at the front of sealed data.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag at the end of sealed data.
pub const TAG_LEN: usize = 16;

/// HKDF salt and info for the token digest key. Changing either makes every stored digest
/// unverifiable, so they are fixed forever.
const DIGEST_KEY_SALT: &[u8] = b"chatbot-platform/deployment-key/v1";
const DIGEST_KEY_INFO: &[u8] = b"token-digest-v1";

/// The deployment's master key. Cheap to clone (shared).
#[derive(Clone)]
pub struct DeploymentKey {
    inner: Arc<Inner>,
}

struct Inner {
    aead: LessSafeKey,
    digest: DigestKey,
}

impl DeploymentKey {
    /// Parses the standard base64 encoding of exactly 32 bytes (surrounding whitespace, such
    /// as a trailing newline from a file, is ignored).
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = Secret::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| CryptoError::InvalidKeyEncoding)?,
        );
        let raw: [u8; DEPLOYMENT_KEY_LEN] =
            bytes
                .expose()
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::InvalidKeyLength {
                    actual: bytes.expose().len(),
                })?;
        Self::from_bytes(&raw)
    }

    pub fn from_bytes(raw: &[u8; DEPLOYMENT_KEY_LEN]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, raw)
            .map_err(|_| CryptoError::InvalidKeyLength { actual: raw.len() })?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DIGEST_KEY_SALT).extract(raw);
        let okm = prk
            .expand(&[DIGEST_KEY_INFO], hmac::HMAC_SHA256)
            .map_err(|_| CryptoError::KeyDerivation)?;
        Ok(Self {
            inner: Arc::new(Inner {
                aead: LessSafeKey::new(unbound),
                digest: DigestKey {
                    key: hmac::Key::from(okm),
                },
            }),
        })
    }

    /// A fresh random key and its base64 form (to print once for the operator to store).
    pub fn generate() -> Result<(Self, String), CryptoError> {
        let mut raw = [0u8; DEPLOYMENT_KEY_LEN];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| CryptoError::Random)?;
        let key = Self::from_bytes(&raw)?;
        let encoded = STANDARD.encode(raw);
        raw.fill(0);
        Ok((key, encoded))
    }

    /// Encrypts `plaintext` bound to `aad` (use the owning row's id). Output:
    /// `nonce (12 bytes) || ciphertext || tag (16 bytes)`. Every call uses a fresh nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CryptoError::Random)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        let mut in_out = plaintext.to_vec();
        self.inner
            .aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Seal)?;
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`seal`](Self::seal) produced with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Secret<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Truncated {
                length: sealed.len(),
            });
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len = self
            .inner
            .aead
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| CryptoError::Open)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(Secret::new(in_out))
    }

    /// [`open`](Self::open) for secrets that are text.
    pub fn open_string(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretString, CryptoError> {
        let bytes = self.open(sealed, aad)?.into_inner();
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| CryptoError::NotUtf8)
    }

    /// The HMAC-SHA256 key for token digests, derived with HKDF (info `token-digest-v1`).
    pub fn digest_key(&self) -> DigestKey {
        self.inner.digest.clone()
    }
}

impl fmt::Debug for DeploymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentKey([redacted])")
    }
}

/// HMAC-SHA256 key for one-way digests of API keys and operator tokens.
#[derive(Clone)]
pub struct DigestKey {
    key: hmac::Key,
}

impl DigestKey {
    /// The digest to store instead of the token.
    pub fn digest(&self, token: &str) -> [u8; 32] {
        let tag = hmac::sign(&self.key, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Whether `token` matches a stored digest, in constant time.
    pub fn verify(&self, token: &str, expected: &[u8]) -> bool {
        hmac::verify(&self.key, token.as_bytes(), expected).is_ok()
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 bytes 0x00..0x1f.
    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn key() -> DeploymentKey {
        DeploymentKey::from_base64(KEY_B64).unwrap()
    }

    #[test]
    fn seal_open_round_trip() {
        let key = key();
        let sealed = key.seal(b"EAAG-access-token", b"integration-42").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 17 + TAG_LEN);
        let opened = key.open(&sealed, b"integration-42").unwrap();
        assert_eq!(opened.expose().as_slice(), b"EAAG-access-token");
        let text = key.open_string(&sealed, b"integration-42").unwrap();
        assert_eq!(text.expose(), "EAAG-access-token");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = key();
        let sealed = key.seal(b"", b"id").unwrap();
        assert_eq!(key.open(&sealed, b"id").unwrap().expose().len(), 0);
    }

    #[test]
    fn wrong_aad_fails() {
        let key = key();
        let sealed = key.seal(b"secret", b"integration-1").unwrap();
        assert_eq!(
            key.open(&sealed, b"integration-2").unwrap_err(),
            CryptoError::Open
        );
    }

    #[test]
    fn tampered_data_fails() {
        let key = key();
        let sealed = key.seal(b"secret", b"id").unwrap();
        for index in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            assert_eq!(key.open(&tampered, b"id").unwrap_err(), CryptoError::Open);
        }
        assert_eq!(
            key.open(&sealed[..NONCE_LEN + TAG_LEN - 1], b"id")
                .unwrap_err(),
            CryptoError::Truncated { length: 27 }
        );
    }

    #[test]
    fn another_key_cannot_open() {
        let sealed = key().seal(b"secret", b"id").unwrap();
        let (other, _) = DeploymentKey::generate().unwrap();
        assert_eq!(other.open(&sealed, b"id").unwrap_err(), CryptoError::Open);
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let key = key();
        let a = key.seal(b"same", b"id").unwrap();
        let b = key.seal(b"same", b"id").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn open_string_rejects_non_utf8() {
        let key = key();
        let sealed = key.seal(&[0xff, 0xfe], b"id").unwrap();
        assert_eq!(
            key.open_string(&sealed, b"id").unwrap_err(),
            CryptoError::NotUtf8
        );
    }

    #[test]
    fn from_base64_rejects_bad_input_clearly() {
        assert_eq!(
            DeploymentKey::from_base64("not base64!").unwrap_err(),
            CryptoError::InvalidKeyEncoding
        );
        // 16 bytes
        assert_eq!(
            DeploymentKey::from_base64("AAECAwQFBgcICQoLDA0ODw==").unwrap_err(),
            CryptoError::InvalidKeyLength { actual: 16 }
        );
        // URL-safe alphabet is not standard base64
        assert_eq!(
            DeploymentKey::from_base64("-_8CAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap_err(),
            CryptoError::InvalidKeyEncoding
        );
        assert!(DeploymentKey::from_base64(&format!("{KEY_B64}\n")).is_ok());
    }

    #[test]
    fn generate_returns_the_matching_encoding() {
        let (key, encoded) = DeploymentKey::generate().unwrap();
        let parsed = DeploymentKey::from_base64(&encoded).unwrap();
        let sealed = key.seal(b"x", b"id").unwrap();
        assert_eq!(
            parsed.open(&sealed, b"id").unwrap().expose(),
            &b"x".to_vec()
        );
        let (_, other) = DeploymentKey::generate().unwrap();
        assert_ne!(encoded, other);
    }

    #[test]
    fn debug_is_redacted() {
        let (key, encoded) = DeploymentKey::generate().unwrap();
        let printed = format!("{key:?} {:?}", key.digest_key());
        assert_eq!(printed, "DeploymentKey([redacted]) DigestKey([redacted])");
        assert!(!printed.contains(&encoded));
    }

    #[test]
    fn digest_matches_independent_hkdf_hmac_vector() {
        // Computed with Python's hmac/hashlib (HKDF-SHA256, salt
        // "chatbot-platform/deployment-key/v1", info "token-digest-v1", 32-byte output as the
        // HMAC key), key bytes 0x00..0x1f, token "op_example".
        let digest = key().digest_key().digest("op_example");
        assert_eq!(hex::encode(digest), EXPECTED_DIGEST_HEX);
    }

    const EXPECTED_DIGEST_HEX: &str =
        "0a07bf3e5b3d0781ab23d7ecad937e3faebdb1cb9c4af0f6f1958a214b702171";

    #[test]
    fn digest_verify_accepts_only_the_token() {
        let digest_key = key().digest_key();
        let digest = digest_key.digest("op_abc");
        assert!(digest_key.verify("op_abc", &digest));
        assert!(!digest_key.verify("op_abd", &digest));
        assert!(!digest_key.verify("op_abc", &digest[..31]));
        let (other, _) = DeploymentKey::generate().unwrap();
        assert!(!other.digest_key().verify("op_abc", &digest));
        assert_ne!(other.digest_key().digest("op_abc"), digest);
    }
}
