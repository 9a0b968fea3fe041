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

use crate::digest_chain::{DigestKey, DIGEST_LAYER_LEN};
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
    /// HKDF output for the token digest key: this key's layer of the digest chain.
    digest_layer: Secret<[u8; DIGEST_LAYER_LEN]>,
    /// During a rotation (`DEPLOYMENT_KEY_PREVIOUS`): the key being retired, still accepted for
    /// opening; never used to seal.
    previous: Option<DeploymentKey>,
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
        let mut digest_layer = [0u8; DIGEST_LAYER_LEN];
        okm.fill(&mut digest_layer)
            .map_err(|_| CryptoError::KeyDerivation)?;
        Ok(Self {
            inner: Arc::new(Inner {
                aead: LessSafeKey::new(unbound),
                digest_layer: Secret::new(digest_layer),
                previous: None,
            }),
        })
    }

    /// This key for sealing, with `previous` (the key being rotated out) still accepted for
    /// opening until the rotation completes (docs/security.md, "Deployment-key rotation").
    pub fn with_previous(self, previous: DeploymentKey) -> Result<Self, CryptoError> {
        let previous = previous.without_previous();
        if crate::constant_time_eq(
            self.inner.digest_layer.expose(),
            previous.inner.digest_layer.expose(),
        ) {
            return Err(CryptoError::SameKeys);
        }
        let raw_layer = *self.inner.digest_layer.expose();
        let current = self.without_previous();
        Ok(Self {
            inner: Arc::new(Inner {
                aead: current.inner.aead.clone(),
                digest_layer: Secret::new(raw_layer),
                previous: Some(previous),
            }),
        })
    }

    /// The key being rotated out, when one is configured.
    pub fn previous(&self) -> Option<&DeploymentKey> {
        self.inner.previous.as_ref()
    }

    fn without_previous(self) -> Self {
        match &self.inner.previous {
            None => self,
            Some(_) => Self {
                inner: Arc::new(Inner {
                    aead: self.inner.aead.clone(),
                    digest_layer: Secret::new(*self.inner.digest_layer.expose()),
                    previous: None,
                }),
            },
        }
    }

    /// This key's layer of the token digest chain (see [`DigestKey`]).
    pub(crate) fn digest_layer(&self) -> &[u8; DIGEST_LAYER_LEN] {
        self.inner.digest_layer.expose()
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

    /// Decrypts what [`seal`](Self::seal) produced with the same `aad`, under this key or,
    /// during a rotation, the previous one. AES-GCM authenticates: a value sealed under the
    /// other key fails its tag check, so trying both is unambiguous.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Secret<Vec<u8>>, CryptoError> {
        match self.open_with_this_key(sealed, aad) {
            Err(CryptoError::Open) => match &self.inner.previous {
                Some(previous) => previous.open_with_this_key(sealed, aad),
                None => Err(CryptoError::Open),
            },
            other => other,
        }
    }

    /// For the rotation: `None` when `sealed` is already under this key, else the value
    /// re-sealed under this key (it opened under the previous one).
    pub fn reseal(&self, sealed: &[u8], aad: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        match self.open_with_this_key(sealed, aad) {
            Ok(_) => Ok(None),
            Err(CryptoError::Open) => {
                let previous = self.inner.previous.as_ref().ok_or(CryptoError::Open)?;
                let clear = previous.open_with_this_key(sealed, aad)?;
                self.seal(clear.expose(), aad).map(Some)
            }
            Err(other) => Err(other),
        }
    }

    fn open_with_this_key(
        &self,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Secret<Vec<u8>>, CryptoError> {
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

    /// The token digest key of a deployment whose key was never rotated: the chain is this
    /// key's layer alone (generation 0). Services load the stored chain instead
    /// (`store::Store::digest_key`), which equals this until the first rotation.
    pub fn digest_key(&self) -> DigestKey {
        DigestKey::from_layers(&[*self.digest_layer()], false)
    }
}

impl fmt::Debug for DeploymentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeploymentKey([redacted])")
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
