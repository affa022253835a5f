//! Standard, padded base64 for 32-byte keys, as `wg(8)` prints them and config files carry them.
//!
//! A 32-byte key is always 44 characters: 42 full symbols, one symbol carrying the last 4 bits,
//! and one `=`. Private keys and preshared keys go through this code, so it avoids
//! secret-dependent branches and table lookups: each symbol is mapped with arithmetic masks,
//! and decoding errors are accumulated and checked once at the end.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::KEY_LEN;
use crate::error::{Error, Result};

/// Length of a base64-encoded 32-byte key, padding included.
pub const KEY_BASE64_LEN: usize = 44;

/// A key encoded as base64 text, held in a fixed buffer (no allocation) and wiped on drop
/// because it may spell a private key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyBase64 {
    text: [u8; KEY_BASE64_LEN],
}

impl KeyBase64 {
    /// The encoded key as a string slice.
    pub fn as_str(&self) -> &str {
        // Only ever filled with base64 alphabet characters, which are ASCII.
        core::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Debug for KeyBase64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text may be a private key: never print it through Debug.
        f.write_str("KeyBase64(<redacted>)")
    }
}

/// Maps a 6-bit value to its base64 symbol without branching on it.
fn encode_symbol(value: u8) -> u8 {
    let v = i16::from(value);
    // Start in 'A'..'Z' and shift into the next range each time `v` passes its start.
    // `(limit - v) >> 8` is all ones exactly when `v > limit`.
    let mut symbol = v + i16::from(b'A');
    symbol += ((25 - v) >> 8) & (i16::from(b'a') - i16::from(b'A') - 26);
    symbol -= ((51 - v) >> 8) & ((i16::from(b'a') - 26) - (i16::from(b'0') - 52));
    symbol -= ((61 - v) >> 8) & (i16::from(b'0') + 62 - 52 - i16::from(b'+'));
    symbol += ((62 - v) >> 8) & (i16::from(b'/') - i16::from(b'+') - 1);
    symbol as u8
}

/// Maps a base64 symbol to its 6-bit value, or to -1 for a character outside the alphabet,
/// without branching on it.
fn decode_symbol(symbol: u8) -> i16 {
    let c = i16::from(symbol);
    // `in_range(lo, hi)` is all ones when lo <= c <= hi, zero otherwise.
    let in_range = |lo: u8, hi: u8| ((i16::from(lo) - 1 - c) & (c - i16::from(hi) - 1)) >> 8;
    // Each range contributes `value + 1`; the sum of all contributions minus one is the value,
    // or -1 if no range matched.
    let mut value = -1;
    value += in_range(b'A', b'Z') & (c - i16::from(b'A') + 1);
    value += in_range(b'a', b'z') & (c - i16::from(b'a') + 26 + 1);
    value += in_range(b'0', b'9') & (c - i16::from(b'0') + 52 + 1);
    value += in_range(b'+', b'+') & (62 + 1);
    value += in_range(b'/', b'/') & (63 + 1);
    value
}

/// Encodes a 32-byte key as 44 characters of padded standard base64.
pub fn encode_key(key: &[u8; KEY_LEN]) -> KeyBase64 {
    let mut text = [0u8; KEY_BASE64_LEN];
    // Ten full groups of 3 bytes -> 4 symbols, then 2 bytes -> 3 symbols and '='.
    for (group, out) in key.chunks(3).zip(text.chunks_mut(4)) {
        let b0 = group[0];
        let b1 = group.get(1).copied().unwrap_or(0);
        let b2 = group.get(2).copied().unwrap_or(0);
        out[0] = encode_symbol(b0 >> 2);
        out[1] = encode_symbol(((b0 & 0x03) << 4) | (b1 >> 4));
        out[2] = encode_symbol(((b1 & 0x0f) << 2) | (b2 >> 6));
        out[3] = if group.len() == 3 {
            encode_symbol(b2 & 0x3f)
        } else {
            b'='
        };
    }
    KeyBase64 { text }
}

/// Decodes 44 characters of padded standard base64 into a 32-byte key.
///
/// Like `wg(8)`, rejects anything but the canonical encoding: wrong length, missing `=`,
/// characters outside the alphabet, or non-zero bits in the unused tail of the last symbol.
pub fn decode_key(text: &str) -> Result<[u8; KEY_LEN]> {
    let text = text.as_bytes();
    if text.len() != KEY_BASE64_LEN || text[KEY_BASE64_LEN - 1] != b'=' {
        return Err(Error::InvalidBase64);
    }
    let mut key = [0u8; KEY_LEN];
    // Becomes non-zero if any symbol is invalid or the tail is non-canonical; checked once.
    let mut invalid: u16 = 0;
    for (symbols, out) in text.chunks(4).zip(key.chunks_mut(3)) {
        let is_last = out.len() < 3;
        let mut group: u32 = 0;
        for (i, &symbol) in symbols.iter().enumerate() {
            // The final '=' (already checked) stands for six zero bits.
            let value = if is_last && i == 3 {
                0
            } else {
                decode_symbol(symbol)
            };
            // -1 (invalid) has its sign bit set; valid values 0..=63 do not.
            invalid |= (value as u16) >> 15;
            group = (group << 6) | u32::from((value & 0x3f) as u8);
        }
        let bytes = group.to_be_bytes();
        out.copy_from_slice(&bytes[1..1 + out.len()]);
        if is_last {
            // The last group carries 16 key bits in 18 symbol bits: the 2 spare bits, now the
            // top of the lowest byte, must be zero for the encoding to be canonical.
            invalid |= u16::from(bytes[3]);
        }
    }
    if invalid != 0 {
        key.zeroize();
        return Err(Error::InvalidBase64);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_roundtrip_over_the_whole_alphabet() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (value, &symbol) in alphabet.iter().enumerate() {
            assert_eq!(encode_symbol(value as u8), symbol);
            assert_eq!(decode_symbol(symbol), value as i16);
        }
        for c in 0..=255u8 {
            if !alphabet.contains(&c) {
                assert_eq!(decode_symbol(c), -1, "{c}");
            }
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(
            encode_key(&[0; 32]).as_str(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
        let mut key = [0u8; 32];
        for (i, b) in key.iter_mut().enumerate() {
            *b = i as u8;
        }
        // Computed independently (Python: base64.b64encode(bytes(range(32)))).
        let text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert_eq!(encode_key(&key).as_str(), text);
        assert_eq!(decode_key(text).unwrap(), key);
        assert_eq!(
            decode_key(encode_key(&[0xff; 32]).as_str()).unwrap(),
            [0xff; 32]
        );
    }

    #[test]
    fn rejects_malformed_text() {
        let good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert!(decode_key(good).is_ok());
        assert_eq!(decode_key(""), Err(Error::InvalidBase64));
        assert_eq!(decode_key(&good[..43]), Err(Error::InvalidBase64));
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=="),
            Err(Error::InvalidBase64)
        );
        // No padding, a character outside the alphabet, '=' in the middle, URL-safe alphabet.
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A"),
            Err(Error::InvalidBase64)
        );
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH.8="),
            Err(Error::InvalidBase64)
        );
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx=dHh8="),
            Err(Error::InvalidBase64)
        );
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-="),
            Err(Error::InvalidBase64)
        );
        // Non-canonical: 'h9' sets one of the two unused bits of the last symbol.
        assert_eq!(
            decode_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="),
            Err(Error::InvalidBase64)
        );
        // Multi-byte UTF-8 of the right byte length.
        let mut wide = [b'A'; KEY_BASE64_LEN];
        wide[43] = b'=';
        wide[10..12].copy_from_slice("é".as_bytes());
        assert_eq!(
            decode_key(core::str::from_utf8(&wide).unwrap()),
            Err(Error::InvalidBase64)
        );
    }
}
