//! Curve25519 keys as they appear in configuration files: 44 characters of
//! standard base64 for 32 bytes.

use core::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length in bytes of every WireGuard key.
pub const KEY_LEN: usize = 32;
/// Length of a key in base64 (with its one `=` of padding).
const BASE64_KEY_LEN: usize = 44;

/// Decodes exactly 32 bytes of canonical, padded base64 into `out`.
///
/// The scratch buffer is wiped on return, so secret bytes only ever end up
/// in `out`.
fn decode_key_into(text: &str, out: &mut [u8; KEY_LEN]) -> bool {
    if text.len() != BASE64_KEY_LEN {
        return false;
    }
    // base64 wants room for its worst-case estimate (33 bytes for 44 chars).
    let mut scratch = Zeroizing::new([0u8; KEY_LEN + 3]);
    match STANDARD.decode_slice(text, &mut scratch[..]) {
        Ok(KEY_LEN) => {
            out.copy_from_slice(&scratch[..KEY_LEN]);
            true
        }
        _ => false,
    }
}

/// A public key: not secret, so it prints as base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> PublicKey {
        PublicKey(bytes)
    }

    /// Parses 44 characters of standard base64; `None` if malformed or not 32 bytes.
    pub fn from_base64(text: &str) -> Option<PublicKey> {
        let mut bytes = [0u8; KEY_LEN];
        decode_key_into(text, &mut bytes).then_some(PublicKey(bytes))
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    /// Base64, as in configuration files.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Base64Display::new(&self.0, &STANDARD))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A secret key (a private key or a preshared key).
///
/// Its bytes are wiped when it is dropped, and it never prints them:
/// both `Debug` and `Display` show `<redacted>`. It is deliberately not
/// `Clone`, so the secret has one owner and one place to be wiped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    /// Takes ownership of raw key bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(bytes)
    }

    /// Parses 44 characters of standard base64; `None` if malformed or not 32 bytes.
    pub fn from_base64(text: &str) -> Option<SecretKey> {
        let mut key = SecretKey([0u8; KEY_LEN]);
        decode_key_into(text, &mut key.0).then_some(key)
    }

    /// The secret bytes, for handing to the cryptography.
    pub const fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_base64() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let key = PublicKey::from_bytes(bytes);
        let text = alloc::format!("{key}");
        assert_eq!(text.len(), 44);
        assert_eq!(PublicKey::from_base64(&text), Some(key));
        assert_eq!(
            SecretKey::from_base64(&text).map(|k| *k.expose_secret()),
            Some(bytes)
        );
    }

    #[test]
    fn rejects_wrong_lengths_and_alphabet() {
        // 43 and 45 characters, 44 characters decoding to 33 bytes, bad characters.
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_none());
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==").is_none());
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_none());
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!=").is_none());
        // Non-canonical: the last character carries bits past the 32nd byte.
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=").is_none());
        assert!(PublicKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_some());
    }
}
