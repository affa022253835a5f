//! The running chaining key and hash of a Noise handshake, with the operations both roles use.
//!
//! Naming follows the Noise specification: `mix_hash` absorbs public data into the transcript
//! hash `H`, `mix_key` absorbs key material into the chaining key `C`, and
//! `encrypt_and_hash` / `decrypt_and_hash` seal a field with `H` as associated data and then
//! absorb the ciphertext. Both values are secret and wiped when the state is dropped.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::{CONSTRUCTION, IDENTIFIER, KEY_LEN};
use crate::error::Result;
use crate::keys::PublicKey;
use crate::primitives::{aead_open, aead_seal, hash, kdf1, kdf2, kdf3, SecretKey};

/// Chaining key `C` and transcript hash `H` of a handshake in progress.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SymmetricState {
    chaining_key: [u8; KEY_LEN],
    hash: [u8; KEY_LEN],
}

impl SymmetricState {
    /// `C = HASH(CONSTRUCTION)`, `H = HASH(HASH(C || IDENTIFIER) || responder_static)`: the
    /// state both sides start from, bound to the responder's static public key.
    ///
    /// Depends only on public data, so it is computed once per peer (initiator side) or once per
    /// interface (responder side) and cloned for each handshake.
    pub(crate) fn initial(responder_static: &PublicKey) -> SymmetricState {
        let chaining_key = hash(&[CONSTRUCTION]);
        let hash_with_identifier = hash(&[&chaining_key, IDENTIFIER]);
        let hash = hash(&[&hash_with_identifier, responder_static.as_bytes()]);
        SymmetricState { chaining_key, hash }
    }

    /// `H = HASH(H || data)`.
    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.hash = hash(&[&self.hash, data]);
    }

    /// `C = KDF1(C, input)`.
    pub(crate) fn mix_key(&mut self, input: &[u8]) {
        self.chaining_key = *kdf1(&self.chaining_key, input);
    }

    /// `(C, k) = KDF2(C, input)`: returns the key for the next AEAD field.
    pub(crate) fn mix_key_and_derive(&mut self, input: &[u8]) -> SecretKey {
        let (chaining_key, key) = kdf2(&self.chaining_key, input);
        self.chaining_key = *chaining_key;
        key
    }

    /// `(C, τ, k) = KDF3(C, Q)` then `H = HASH(H || τ)`: mixes in the preshared key (the
    /// "psk2" of the Noise pattern) and returns the key for the response's empty field.
    pub(crate) fn mix_preshared_key(&mut self, preshared_key: &[u8; KEY_LEN]) -> SecretKey {
        let (chaining_key, tau, key) = kdf3(&self.chaining_key, preshared_key);
        self.chaining_key = *chaining_key;
        self.mix_hash(&tau[..]);
        key
    }

    /// `out = AEAD(key, 0, plaintext, H)`, then `H = HASH(H || out)`. `out` must be
    /// `plaintext.len() + 16` bytes.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        key: &[u8; KEY_LEN],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        aead_seal(key, 0, plaintext, &self.hash, out)?;
        self.mix_hash(out);
        Ok(())
    }

    /// Opens `sealed` (with `H` as associated data) into `out`, then `H = HASH(H || sealed)`.
    /// `out` must be `sealed.len() - 16` bytes; the state is unchanged on failure.
    pub(crate) fn decrypt_and_hash(
        &mut self,
        key: &[u8; KEY_LEN],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        aead_open(key, 0, sealed, &self.hash, out)?;
        self.mix_hash(sealed);
        Ok(())
    }

    /// The final chaining key, from which the transport keys are derived.
    pub(crate) fn chaining_key(&self) -> &[u8; KEY_LEN] {
        &self.chaining_key
    }

    /// The current transcript hash (exposed for tests against other implementations).
    #[cfg(test)]
    pub(crate) fn hash(&self) -> &[u8; KEY_LEN] {
        &self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_values_match_the_protocol_constants() {
        // HASH(CONSTRUCTION) and HASH(HASH(CONSTRUCTION) || IDENTIFIER), as hard-coded by other
        // WireGuard implementations (e.g. boringtun's INITIAL_CHAIN_KEY / INITIAL_CHAIN_HASH).
        let ck =
            hex_literal::hex!("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
        let h =
            hex_literal::hex!("2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
        assert_eq!(hash(&[CONSTRUCTION]), ck);
        assert_eq!(hash(&[&ck, IDENTIFIER]), h);
        let responder = PublicKey::from_bytes([7; 32]);
        let state = SymmetricState::initial(&responder);
        assert_eq!(state.chaining_key(), &ck);
        assert_eq!(state.hash(), &hash(&[&h, &[7; 32]]));
    }
}
