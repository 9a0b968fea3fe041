//! Cryptography for the platform, on `ring` only.
//!
//! - [`Secret`]: a wrapper that cannot be printed, displayed or serialized.
//! - [`DeploymentKey`]: AES-256-GCM sealing of secrets at rest, and the [`DigestKey`] used for
//!   one-way digests of API keys and operator tokens.
//! - Token generation ([`generate_api_key`], [`generate_operator_token`]) and the strength
//!   check for keys chosen by users ([`check_api_key_strength`]).
//! - Meta webhook signatures ([`verify_meta_signature`]) and [`constant_time_eq`].
//! - [`install_tls_crypto_provider`], to be called first in every binary and test harness.

mod compare;
mod deployment_key;
mod digest_chain;
mod error;
mod mask;
mod secret;
mod signature;
mod strength;
mod token;

pub use compare::constant_time_eq;

/// Lowercase hex SHA-256 of `bytes` (request fingerprints; not for secrets, which are HMACed).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
pub use deployment_key::{DeploymentKey, DEPLOYMENT_KEY_LEN, NONCE_LEN, TAG_LEN};
pub use digest_chain::{AssembledChain, DigestKey, StoredLayer, MAX_DIGEST_GENERATION};
pub use error::CryptoError;
pub use mask::{hint, mask_secret, masked_from_hint};
pub use secret::{Secret, SecretString};
pub use signature::{sign_meta_payload, verify_meta_signature, SignatureError};
pub use strength::{check_api_key_strength, KeyStrengthError, MIN_API_KEY_LEN};
pub use token::{
    generate_api_key, generate_operator_token, generate_token, API_KEY_LEN, OPERATOR_TOKEN_PREFIX,
};

/// Installs ring as the process-wide rustls crypto provider.
///
/// Call this first in every `main` and test harness: when more than one provider is compiled
/// in, rustls panics at the first TLS connection unless one was installed. Calling it again is
/// harmless (the second install is refused and ignored).
pub fn install_tls_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn tls_provider_install_is_idempotent_and_effective() {
        super::install_tls_crypto_provider();
        super::install_tls_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
