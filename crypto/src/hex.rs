//! Hexadecimal for 32-byte keys, as the cross-platform UAPI (`wg set`/`wg show` over the
//! control socket) carries them: 64 digits, either case when read, lowercase when written.
//!
//! Private and preshared keys go through this code, so, like [`crate::base64`], it maps each
//! digit with arithmetic masks instead of branches or table lookups, and checks the digits
//! once at the end.

use zeroize::Zeroize;

use crate::constants::KEY_LEN;
use crate::error::{Error, Result};

/// Length of a hex-encoded 32-byte key.
pub const KEY_HEX_LEN: usize = 2 * KEY_LEN;

/// Maps a 4-bit value to its lowercase hex digit without branching on it.
fn encode_nibble(value: u8) -> u8 {
    let v = i16::from(value);
    // `(9 - v) >> 8` is all ones exactly when `v > 9`: then skip from after '9' to 'a'.
    let digit = v + i16::from(b'0') + (((9 - v) >> 8) & (i16::from(b'a') - i16::from(b'0') - 10));
    digit as u8
}

/// Maps a hex digit (either case) to its value, or to -1 for any other byte, without
/// branching on it.
fn decode_nibble(digit: u8) -> i16 {
    let c = i16::from(digit);
    // `in_range(lo, hi)` is all ones when lo <= c <= hi, zero otherwise.
    let in_range = |lo: u8, hi: u8| ((i16::from(lo) - 1 - c) & (c - i16::from(hi) - 1)) >> 8;
    // Each range contributes `value + 1`; one less than the sum is the value, or -1.
    let mut value = -1;
    value += in_range(b'0', b'9') & (c - i16::from(b'0') + 1);
    value += in_range(b'a', b'f') & (c - i16::from(b'a') + 10 + 1);
    value += in_range(b'A', b'F') & (c - i16::from(b'A') + 10 + 1);
    value
}

/// Decodes exactly 64 hex digits (either case, as Go's `hex.DecodeString` takes them) into a
/// 32-byte key. The caller owns the result and should keep a secret in a wiped buffer.
pub fn decode_key(text: &[u8]) -> Result<[u8; KEY_LEN]> {
    if text.len() != KEY_HEX_LEN {
        return Err(Error::InvalidHex);
    }
    let mut key = [0u8; KEY_LEN];
    // Becomes non-zero if any digit is invalid; checked once.
    let mut invalid: u16 = 0;
    for (out, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (decode_nibble(pair[0]), decode_nibble(pair[1]));
        // -1 (invalid) has its sign bit set; valid values 0..=15 do not.
        invalid |= ((high | low) as u16) >> 15;
        *out = (((high & 0x0f) << 4) | (low & 0x0f)) as u8;
    }
    if invalid != 0 {
        key.zeroize();
        return Err(Error::InvalidHex);
    }
    Ok(key)
}

/// Writes `key` as 64 lowercase hex digits.
pub fn encode_key(key: &[u8; KEY_LEN], out: &mut [u8; KEY_HEX_LEN]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(key) {
        pair[0] = encode_nibble(byte >> 4);
        pair[1] = encode_nibble(byte & 0x0f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_against_a_reference() {
        for c in 0..=255u8 {
            let expected = match c {
                b'0'..=b'9' => i16::from(c - b'0'),
                b'a'..=b'f' => i16::from(c - b'a' + 10),
                b'A'..=b'F' => i16::from(c - b'A' + 10),
                _ => -1,
            };
            assert_eq!(decode_nibble(c), expected, "{c}");
        }
        for (value, &digit) in b"0123456789abcdef".iter().enumerate() {
            assert_eq!(encode_nibble(value as u8), digit);
        }
    }

    #[test]
    fn keys_roundtrip_in_either_case() {
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let mut text = [0u8; KEY_HEX_LEN];
        encode_key(&key, &mut text);
        assert!(text.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(decode_key(&text), Ok(key));
        text.make_ascii_uppercase();
        assert_eq!(decode_key(&text), Ok(key));
        assert_eq!(decode_key(&[b'a'; 64]), Ok([0xaa; 32]));
        assert_eq!(decode_key(&[b'F'; 64]), Ok([0xff; 32]));
    }

    #[test]
    fn rejects_wrong_length_and_non_digits() {
        assert_eq!(decode_key(&[b'a'; 63]), Err(Error::InvalidHex));
        assert_eq!(decode_key(&[b'a'; 65]), Err(Error::InvalidHex));
        assert_eq!(decode_key(b""), Err(Error::InvalidHex));
        for bad in [b'g', b'G', b'/', b':', b'@', b'`', b' ', b'-', 0, 0xff] {
            for at in [0, 1, 31, 63] {
                let mut text = [b'0'; 64];
                text[at] = bad;
                assert_eq!(decode_key(&text), Err(Error::InvalidHex), "{bad} at {at}");
            }
        }
    }
}
