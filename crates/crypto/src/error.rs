use thiserror::Error;

/// Errors of key handling and sealing. Messages never contain key material or plaintext.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    #[error("deployment key is not valid standard base64")]
    InvalidKeyEncoding,
    #[error("deployment key must decode to exactly 32 bytes, got {actual}")]
    InvalidKeyLength { actual: usize },
    #[error("the system random number generator failed")]
    Random,
    #[error("key derivation failed")]
    KeyDerivation,
    #[error("encryption failed")]
    Seal,
    #[error("sealed data is too short ({length} bytes) to hold a nonce and a tag")]
    Truncated { length: usize },
    #[error("decryption failed: wrong key, wrong associated data, or tampered data")]
    Open,
    #[error("decrypted secret is not valid UTF-8")]
    NotUtf8,
    #[error("DEPLOYMENT_KEY_PREVIOUS is the same key as DEPLOYMENT_KEY")]
    SameKeys,
    #[error("the stored digest key chain is inconsistent with the configured keys")]
    ChainCorrupt,
}
