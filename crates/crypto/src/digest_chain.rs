//! Token digests that survive deployment-key rotation.
//!
//! API keys, operator tokens and verify tokens are stored as keyed HMAC-SHA256 digests. A
//! digest is one-way, so a rotation cannot recompute it from the token; it wraps it instead:
//! every deployment key contributes one *layer* (an HMAC key derived from it with HKDF), and the
//! digest of generation `g` is
//!
//! ```text
//! d_0 = HMAC(layer_0, token)          (stored as the 32 bytes: the pre-rotation format)
//! d_g = HMAC(layer_g, d_{g-1})        (stored as [g] ‖ 32 bytes, g in 1..=255)
//! ```
//!
//! A rotation from key `P` (generation `g-1`) to key `K` rewrites each stored `d_{g-1}` to
//! `d_g`. Whoever holds the database and an old key alone cannot test guesses against the
//! stored digests: the outermost layer needs the current key. The older layers live in the
//! database, sealed under the current key (`digest_key_chain`). While a rotation runs, a
//! digest of either generation verifies; lookups by digest try both forms
//! ([`DigestKey::candidates`]).

use std::fmt;
use std::sync::Arc;

use ring::hmac;

use crate::deployment_key::DeploymentKey;
use crate::error::CryptoError;
use crate::secret::Secret;

/// Length of one layer's HMAC key.
pub const DIGEST_LAYER_LEN: usize = 32;
const TAG_LEN: usize = 32;
/// Most rotations a deployment can go through (the generation is one byte).
pub const MAX_DIGEST_GENERATION: usize = 255;

/// The token digest key: the chain of layers and which generations are accepted.
#[derive(Clone)]
pub struct DigestKey {
    layers: Arc<Vec<hmac::Key>>,
    /// Whether the generation before the newest is accepted too (a rotation is under way).
    accept_previous: bool,
}

impl DigestKey {
    pub(crate) fn from_layers(layers: &[[u8; DIGEST_LAYER_LEN]], accept_previous: bool) -> Self {
        Self {
            layers: Arc::new(
                layers
                    .iter()
                    .map(|raw| hmac::Key::new(hmac::HMAC_SHA256, raw))
                    .collect(),
            ),
            accept_previous: accept_previous && layers.len() > 1,
        }
    }

    /// The generation new digests are written in.
    pub fn generation(&self) -> usize {
        self.layers.len() - 1
    }

    /// The digest to store instead of the token (current generation).
    pub fn digest(&self, token: &str) -> Vec<u8> {
        self.digest_of_generation(token, self.generation())
    }

    /// Every stored form the token may have right now: the current generation's, then, during
    /// a rotation, the previous one's. Look up with `digest IN (candidates)`.
    pub fn candidates(&self, token: &str) -> Vec<Vec<u8>> {
        let mut forms = vec![self.digest(token)];
        if self.accept_previous {
            forms.push(self.digest_of_generation(token, self.generation() - 1));
        }
        forms
    }

    /// Whether `token` matches a stored digest of an accepted generation, in constant time
    /// with respect to the token and the digest.
    pub fn verify(&self, token: &str, stored: &[u8]) -> bool {
        let Some((generation, tag)) = split(stored) else {
            return false;
        };
        if !self.accepts(generation) {
            return false;
        }
        let Some((outer, inner)) = self.layers[..=generation].split_last() else {
            return false;
        };
        let message = inner
            .iter()
            .fold(None::<hmac::Tag>, |previous, layer| {
                Some(match previous {
                    None => hmac::sign(layer, token.as_bytes()),
                    Some(tag) => hmac::sign(layer, tag.as_ref()),
                })
            })
            .map_or_else(|| token.as_bytes().to_vec(), |tag| tag.as_ref().to_vec());
        hmac::verify(outer, &message, tag).is_ok()
    }

    /// For the rotation: the stored digest re-wrapped into the current generation when it is
    /// of the previous one; `None` when it already is current (or of no accepted generation,
    /// which [`generation_of`](Self::generation_of) tells apart).
    pub fn rewrap(&self, stored: &[u8]) -> Option<Vec<u8>> {
        let (generation, tag) = split(stored)?;
        let current = self.generation();
        (self.accept_previous && generation + 1 == current)
            .then(|| encode(current, hmac::sign(&self.layers[current], tag).as_ref()))
    }

    /// The generation a stored digest is written in, if it is well formed.
    pub fn generation_of(stored: &[u8]) -> Option<usize> {
        split(stored).map(|(generation, _)| generation)
    }

    fn accepts(&self, generation: usize) -> bool {
        let current = self.generation();
        generation == current || (self.accept_previous && generation + 1 == current)
    }

    fn digest_of_generation(&self, token: &str, generation: usize) -> Vec<u8> {
        let mut tag = hmac::sign(&self.layers[0], token.as_bytes());
        for layer in &self.layers[1..=generation] {
            tag = hmac::sign(layer, tag.as_ref());
        }
        encode(generation, tag.as_ref())
    }
}

fn encode(generation: usize, tag: &[u8]) -> Vec<u8> {
    if generation == 0 {
        return tag.to_vec();
    }
    let mut out = Vec::with_capacity(1 + TAG_LEN);
    // The assembly refuses chains longer than MAX_DIGEST_GENERATION + 1 layers.
    out.push(u8::try_from(generation).unwrap_or(u8::MAX));
    out.extend_from_slice(tag);
    out
}

fn split(stored: &[u8]) -> Option<(usize, &[u8])> {
    match stored.len() {
        TAG_LEN => Some((0, stored)),
        n if n == TAG_LEN + 1 && stored[0] != 0 => Some((usize::from(stored[0]), &stored[1..])),
        _ => None,
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey([redacted])")
    }
}

/// The digest chain as stored: older layers sealed under the current deployment key, one row
/// per generation (`digest_key_chain`). The newest layer is never stored: it comes from the
/// current key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLayer {
    pub generation: usize,
    pub sealed: Vec<u8>,
}

/// The associated data a stored layer is sealed with.
fn layer_aad(generation: usize) -> Vec<u8> {
    format!("digest-key-chain/{generation}").into_bytes()
}

/// What a service or the rotation makes of the stored chain under its configured key(s).
pub struct AssembledChain {
    pub digest_key: DigestKey,
    /// The stored rows as they must be: every older layer sealed under the current key and,
    /// during a rotation, the previous key's layer appended. The rotation writes them first.
    pub rows_to_store: Vec<StoredLayer>,
}

impl DeploymentKey {
    /// Builds the digest key from the stored chain. With a previous key configured (a
    /// rotation), the previous key's layer is generation `n-1` (appended to the stored chain if
    /// the rotation has not stored it yet) and this key's layer generation `n`; digests of
    /// both generations verify.
    pub fn assemble_digest_chain(
        &self,
        stored: &[StoredLayer],
    ) -> Result<AssembledChain, CryptoError> {
        let mut sorted: Vec<&StoredLayer> = stored.iter().collect();
        sorted.sort_by_key(|layer| layer.generation);
        let mut layers: Vec<[u8; DIGEST_LAYER_LEN]> = Vec::with_capacity(sorted.len() + 2);
        let mut rows_to_store = Vec::new();
        let mut previous_found = false;
        for (index, row) in sorted.iter().enumerate() {
            if row.generation != index {
                return Err(CryptoError::ChainCorrupt);
            }
            let aad = layer_aad(row.generation);
            let raw = Secret::new(self.open(&row.sealed, &aad)?.into_inner());
            let raw: [u8; DIGEST_LAYER_LEN] = raw
                .expose()
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::ChainCorrupt)?;
            if crate::constant_time_eq(&raw, self.digest_layer()) {
                // This key's layer is never stored: it would be readable with this key alone.
                return Err(CryptoError::ChainCorrupt);
            }
            if let Some(previous) = self.previous() {
                if crate::constant_time_eq(&raw, previous.digest_layer()) {
                    if index + 1 != sorted.len() {
                        return Err(CryptoError::ChainCorrupt);
                    }
                    previous_found = true;
                }
            }
            let resealed = self.reseal(&row.sealed, &aad)?;
            rows_to_store.push(StoredLayer {
                generation: row.generation,
                sealed: resealed.unwrap_or_else(|| row.sealed.clone()),
            });
            layers.push(raw);
        }
        if let Some(previous) = self.previous() {
            if !previous_found {
                let generation = layers.len();
                rows_to_store.push(StoredLayer {
                    generation,
                    sealed: self.seal(previous.digest_layer(), &layer_aad(generation))?,
                });
                layers.push(*previous.digest_layer());
            }
        }
        layers.push(*self.digest_layer());
        if layers.len() > MAX_DIGEST_GENERATION + 1 {
            return Err(CryptoError::ChainCorrupt);
        }
        let digest_key = DigestKey::from_layers(&layers, self.previous().is_some());
        for layer in &mut layers {
            layer.fill(0);
        }
        Ok(AssembledChain {
            digest_key,
            rows_to_store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DeploymentKey {
        DeploymentKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn without_stored_layers_the_chain_is_the_legacy_digest() {
        let k = key(1);
        let chain = k.assemble_digest_chain(&[]).unwrap();
        assert!(chain.rows_to_store.is_empty());
        assert_eq!(chain.digest_key.generation(), 0);
        assert_eq!(
            chain.digest_key.digest("op_x"),
            k.digest_key().digest("op_x")
        );
        assert_eq!(chain.digest_key.digest("op_x").len(), 32);
    }

    #[test]
    fn a_rotation_wraps_digests_and_accepts_both_generations_until_done() {
        let old = key(1);
        let new = key(2).with_previous(old.clone()).unwrap();
        let before = old.assemble_digest_chain(&[]).unwrap().digest_key;
        let stored_before = before.digest("api-key-1");

        // During the rotation: the previous generation verifies, and is found by lookups.
        let during = new.assemble_digest_chain(&[]).unwrap();
        assert_eq!(during.rows_to_store.len(), 1);
        assert_eq!(during.rows_to_store[0].generation, 0);
        let digest_key = during.digest_key;
        assert_eq!(digest_key.generation(), 1);
        assert!(digest_key.verify("api-key-1", &stored_before));
        assert!(!digest_key.verify("api-key-2", &stored_before));
        assert!(digest_key.candidates("api-key-1").contains(&stored_before));
        let rewrapped = digest_key.rewrap(&stored_before).unwrap();
        assert_eq!(rewrapped, digest_key.digest("api-key-1"));
        assert_eq!(rewrapped.len(), 33);
        assert_eq!(rewrapped[0], 1);
        assert!(digest_key.verify("api-key-1", &rewrapped));
        assert_eq!(digest_key.rewrap(&rewrapped), None);

        // After it: the new key alone, with the stored layer (sealed under the new key).
        let after_key = key(2);
        let after = after_key
            .assemble_digest_chain(&during.rows_to_store)
            .unwrap();
        assert!(after.rows_to_store.iter().all(|row| after_key
            .reseal(&row.sealed, &layer_aad(row.generation))
            .unwrap()
            .is_none()));
        assert!(after.digest_key.verify("api-key-1", &rewrapped));
        assert!(!after.digest_key.verify("api-key-1", &stored_before));
        assert_eq!(after.digest_key.digest("api-key-1"), rewrapped);
        // The old key with the stored rows cannot compute the current digests.
        assert!(old.assemble_digest_chain(&during.rows_to_store).is_err());
    }

    #[test]
    fn a_second_rotation_stacks_a_layer() {
        let first = key(1);
        let second = key(2);
        let third = key(3);
        let rotating = second.clone().with_previous(first.clone()).unwrap();
        let rows1 = rotating.assemble_digest_chain(&[]).unwrap().rows_to_store;
        let gen1 = second.assemble_digest_chain(&rows1).unwrap();
        let stored = gen1.digest_key.digest("tok");
        let rotating = third.clone().with_previous(second).unwrap();
        let chain = rotating.assemble_digest_chain(&rows1).unwrap();
        assert_eq!(chain.rows_to_store.len(), 2);
        assert_eq!(chain.digest_key.generation(), 2);
        assert!(chain.digest_key.verify("tok", &stored));
        let wrapped = chain.digest_key.rewrap(&stored).unwrap();
        let done = third.assemble_digest_chain(&chain.rows_to_store).unwrap();
        assert!(done.digest_key.verify("tok", &wrapped));
        // Re-running the assembly mid-rotation is idempotent.
        let again = rotating
            .assemble_digest_chain(&chain.rows_to_store)
            .unwrap();
        assert_eq!(again.rows_to_store.len(), 2);
        assert!(again.digest_key.verify("tok", &wrapped));
    }

    #[test]
    fn malformed_digests_never_verify() {
        let digest_key = key(1).digest_key();
        assert!(!digest_key.verify("x", &[]));
        assert!(!digest_key.verify("x", &[0u8; 33]));
        assert!(!digest_key.verify("x", &[5u8; 33]));
        assert_eq!(DigestKey::generation_of(&[7u8; 33]), Some(7));
        assert_eq!(DigestKey::generation_of(&[7u8; 31]), None);
    }

    #[test]
    fn the_same_key_twice_is_refused() {
        assert_eq!(
            key(1).with_previous(key(1)).unwrap_err(),
            CryptoError::SameKeys
        );
    }
}
