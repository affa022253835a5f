//! Curve25519 key types, the preshared key, and the checked Diffie-Hellman WireGuard needs.

use core::fmt;

use rand_core::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::base64::{decode_key, encode_key, KeyBase64};
use crate::constants::KEY_LEN;
use crate::error::{Error, Result};

/// A Curve25519 private key: an interface's static key, or an ephemeral handshake key.
///
/// Stored clamped, as `wg genkey` produces it and as Linux stores a configured key, so that
/// [`PrivateKey::to_base64`] prints what `wg showconf` would. The key is wiped on drop (the
/// inner `StaticSecret` zeroizes itself) and never printed by `Debug`.
pub struct PrivateKey(StaticSecret);

impl PrivateKey {
    /// Draws a fresh key from the caller's cryptographically secure RNG.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> PrivateKey {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(&mut *bytes);
        PrivateKey::from_bytes(*bytes)
    }

    /// Wraps 32 raw bytes, clamping them (clear bits 0-2 and 255, set bit 254). Clamping does
    /// not change any Diffie-Hellman result; it only normalises how the key is stored.
    pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> PrivateKey {
        bytes[0] &= 0xf8;
        bytes[31] = (bytes[31] & 0x7f) | 0x40;
        let key = PrivateKey(StaticSecret::from(bytes));
        bytes.zeroize();
        key
    }

    /// Parses a key written in base64, as in a `PrivateKey =` config line.
    pub fn from_base64(text: &str) -> Result<PrivateKey> {
        let bytes = Zeroizing::new(decode_key(text)?);
        Ok(PrivateKey::from_bytes(*bytes))
    }

    /// The clamped key bytes, in a buffer wiped on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The key in base64, as `wg genkey` prints it (wiped on drop).
    pub fn to_base64(&self) -> KeyBase64 {
        encode_key(&self.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// `DH(self, public)`, refusing the all-zero result.
    ///
    /// An all-zero output means `public` has small order, which would let an attacker force a
    /// known shared secret; WireGuard implementations reject it for every DH they compute. The
    /// zero test is constant-time: the shared secret is secret even when it is rejected.
    pub fn diffie_hellman(&self, public: &PublicKey) -> Result<SharedSecret> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(public.0));
        let is_zero = shared.as_bytes().ct_eq(&[0u8; KEY_LEN]);
        if bool::from(is_zero) {
            return Err(Error::LowOrderKey);
        }
        Ok(SharedSecret(Zeroizing::new(shared.to_bytes())))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// The result of a successful Diffie-Hellman: never all-zero, wiped on drop.
pub struct SharedSecret(Zeroizing<[u8; KEY_LEN]>);

impl SharedSecret {
    /// The 32 shared bytes, to be fed into the key derivation.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A Curve25519 public key (a Montgomery u-coordinate), as sent in handshakes and written in
/// `PublicKey =` config lines. Public, so freely copied, compared and printed (as base64).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps 32 bytes received from the network or a config file; no check is made here
    /// (see [`PublicKey::is_low_order`]).
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> PublicKey {
        PublicKey(bytes)
    }

    /// Parses a key written in base64, as in a `PublicKey =` config line.
    pub fn from_base64(text: &str) -> Result<PublicKey> {
        decode_key(text).map(PublicKey)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key in base64, as `wg pubkey` prints it.
    pub fn to_base64(&self) -> KeyBase64 {
        encode_key(&self.0)
    }

    /// True if this point has small order (including the non-canonical encodings of such
    /// points), i.e. if Diffie-Hellman with it gives the all-zero secret for *every* private
    /// key. Use it to refuse such a peer key at configuration time.
    ///
    /// Works because clamped scalars are multiples of the cofactor 8: multiplying any point of
    /// order 1, 2, 4 or 8 by one lands on the identity, encoded as zero. Any clamped scalar
    /// would do; this fixed one is not secret.
    pub fn is_low_order(&self) -> bool {
        let probe = PrivateKey::from_bytes([0x5a; KEY_LEN]);
        probe.diffie_hellman(self).is_err()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64().as_str())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_base64().as_str())
    }
}

/// The optional 32-byte preshared key mixed into the handshake (`Q` in the whitepaper).
///
/// A peer without one uses the all-zero key, which is what [`PresharedKey::default`] gives.
/// Wiped on drop, compared in constant time, never printed by `Debug`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct PresharedKey([u8; KEY_LEN]);

impl PresharedKey {
    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> PresharedKey {
        PresharedKey(bytes)
    }

    /// Draws a fresh key from the caller's RNG, as `wg genpsk` does.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> PresharedKey {
        let mut key = PresharedKey::default();
        rng.fill_bytes(&mut key.0);
        key
    }

    /// Parses a key written in base64, as in a `PresharedKey =` config line.
    pub fn from_base64(text: &str) -> Result<PresharedKey> {
        let bytes = Zeroizing::new(decode_key(text)?);
        Ok(PresharedKey(*bytes))
    }

    /// The key in base64 (wiped on drop).
    pub fn to_base64(&self) -> KeyBase64 {
        encode_key(&self.0)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl ConstantTimeEq for PresharedKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for PresharedKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for PresharedKey {}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_key_is_clamped() {
        let key = PrivateKey::from_bytes([0xff; 32]);
        let bytes = key.to_bytes();
        assert_eq!(bytes[0], 0xf8);
        assert_eq!(bytes[31], 0x7f);
        // Clamping is what X25519 does anyway: the public key is unchanged by it.
        assert_eq!(
            key.public_key(),
            PrivateKey::from_bytes(*bytes).public_key()
        );
    }

    #[test]
    fn base64_roundtrips() {
        let key = PrivateKey::from_bytes([0x42; 32]);
        let parsed = PrivateKey::from_base64(key.to_base64().as_str()).unwrap();
        assert_eq!(*parsed.to_bytes(), *key.to_bytes());
        let public = key.public_key();
        assert_eq!(
            PublicKey::from_base64(public.to_base64().as_str()).unwrap(),
            public
        );
        let psk = PresharedKey::from_bytes([9; 32]);
        assert_eq!(
            PresharedKey::from_base64(psk.to_base64().as_str()).unwrap(),
            psk
        );
        assert!(PublicKey::from_base64("not a key").is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        extern crate std;
        use std::format;
        let key = PrivateKey::from_bytes([0x42; 32]);
        let secret_text = key.to_base64();
        let printed = format!(
            "{key:?} {:?} {secret_text:?}",
            PresharedKey::from_bytes([0x42; 32])
        );
        assert!(!printed.contains(secret_text.as_str()));
        assert!(printed.contains("redacted"));
        let public = key.public_key();
        assert!(format!("{public:?}").contains(public.to_base64().as_str()));
    }

    #[test]
    fn dh_agrees_and_refuses_zero() {
        let a = PrivateKey::from_bytes([1; 32]);
        let b = PrivateKey::from_bytes([2; 32]);
        let ab = a.diffie_hellman(&b.public_key()).unwrap();
        let ba = b.diffie_hellman(&a.public_key()).unwrap();
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert_eq!(
            a.diffie_hellman(&PublicKey::from_bytes([0; 32]))
                .unwrap_err(),
            Error::LowOrderKey
        );
        assert!(!a.public_key().is_low_order());
    }
}
