//! The cryptographic functions of the WireGuard whitepaper (section 5.4), built on audited crates.
//!
//! * `HASH(input)`: [`hash`], BLAKE2s-256.
//! * `MAC(key, input)`: [`mac`], keyed BLAKE2s with a 16-byte output.
//! * `HMAC(key, input)`: [`hmac()`], RFC 2104 HMAC over BLAKE2s-256 (64-byte block).
//! * `KDF1/2/3(key, input)`: [`kdf1`], [`kdf2`], [`kdf3`], HKDF built on that HMAC.
//! * `AEAD(key, counter, plaintext, ad)`: [`aead_seal`], [`aead_open`], ChaCha20-Poly1305 with
//!   the nonce `4 zero bytes || little-endian counter`.
//! * `XAEAD(key, nonce, plaintext, ad)`: [`xaead_seal`], [`xaead_open`], XChaCha20-Poly1305.
//!
//! Functions that take several input slices hash their concatenation: `hash(&[a, b])` is
//! `HASH(a || b)`. Derived keys are returned in [`Zeroizing`] so they are wiped when dropped.

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use hmac::SimpleHmac;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::constants::{COOKIE_NONCE_LEN, KEY_LEN, MAC_LEN, TAG_LEN};
use crate::error::{Error, Result};

/// A 32-byte symmetric key, wiped from memory when dropped.
pub type SecretKey = Zeroizing<[u8; KEY_LEN]>;

/// `HASH(parts[0] || parts[1] || ...)`: BLAKE2s with a 32-byte digest.
pub fn hash(parts: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut hasher = Blake2s256::new();
    for part in parts {
        Digest::update(&mut hasher, part);
    }
    hasher.finalize().into()
}

/// `MAC(key, parts...)`: keyed BLAKE2s with a 16-byte digest.
///
/// WireGuard keys it with 32-byte hashes (MAC1, cookie secret) and with 16-byte cookies (MAC2);
/// BLAKE2s encodes the key length in its parameter block, so the key is used at its own length.
pub fn mac<const N: usize>(key: &[u8; N], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    // BLAKE2s accepts keys of at most 32 bytes; checked when this function is instantiated.
    const { assert!(N <= KEY_LEN, "BLAKE2s keys are at most 32 bytes") };
    let mut mac = match <Blake2sMac<U16> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // Unreachable: the const assertion above bounds the key length.
        Err(_) => unreachable!("BLAKE2s key length checked at compile time"),
    };
    for part in parts {
        Update::update(&mut mac, part);
    }
    mac.finalize_fixed().into()
}

/// Checks a received 16-byte MAC against the expected one in constant time.
pub fn mac_matches(expected: &[u8; MAC_LEN], received: &[u8]) -> bool {
    // `ct_eq` on slices of different lengths is false, which is what we want for short input.
    expected.as_slice().ct_eq(received).into()
}

/// `HMAC(key, parts...)`: RFC 2104 HMAC over BLAKE2s-256.
///
/// WireGuard's HMAC is the textbook construction with BLAKE2s's 64-byte block size, which is
/// exactly `hmac::SimpleHmac<Blake2s256>` (the crate pads the key to the digest's block size).
/// It is *not* BLAKE2s's built-in keyed mode, which [`mac`] uses.
pub fn hmac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> SecretKey {
    // RFC 2104 zero-pads a short key to the block size; doing it here lets us use the
    // infallible fixed-size constructor and wipe the padded copy afterwards.
    let mut block_key = Zeroizing::new([0u8; 64]);
    block_key[..KEY_LEN].copy_from_slice(key);
    let mut hmac = <SimpleHmac<Blake2s256> as KeyInit>::new((&*block_key).into());
    for part in parts {
        Update::update(&mut hmac, part);
    }
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(&hmac.finalize_fixed());
    out
}

/// The HKDF extract step shared by the `KDFn` functions: `τ0 = HMAC(key, input)`.
fn kdf_extract(key: &[u8; KEY_LEN], input: &[u8]) -> SecretKey {
    hmac(key, &[input])
}

/// `KDF1(key, input)`: one 32-byte output, `τ1 = HMAC(τ0, 0x1)`.
pub fn kdf1(key: &[u8; KEY_LEN], input: &[u8]) -> SecretKey {
    let prk = kdf_extract(key, input);
    hmac(&prk, &[&[1]])
}

/// `KDF2(key, input)`: `(τ1, τ2)` with `τ2 = HMAC(τ0, τ1 || 0x2)`.
pub fn kdf2(key: &[u8; KEY_LEN], input: &[u8]) -> (SecretKey, SecretKey) {
    let prk = kdf_extract(key, input);
    let t1 = hmac(&prk, &[&[1]]);
    let t2 = hmac(&prk, &[&t1[..], &[2]]);
    (t1, t2)
}

/// `KDF3(key, input)`: `(τ1, τ2, τ3)` with `τ3 = HMAC(τ0, τ2 || 0x3)`.
pub fn kdf3(key: &[u8; KEY_LEN], input: &[u8]) -> (SecretKey, SecretKey, SecretKey) {
    let prk = kdf_extract(key, input);
    let t1 = hmac(&prk, &[&[1]]);
    let t2 = hmac(&prk, &[&t1[..], &[2]]);
    let t3 = hmac(&prk, &[&t2[..], &[3]]);
    (t1, t2, t3)
}

/// The 96-bit ChaCha20-Poly1305 nonce WireGuard uses: 32 zero bits, then the 64-bit counter
/// in little-endian.
pub fn counter_nonce(counter: u64) -> chacha20poly1305::Nonce {
    let mut nonce = chacha20poly1305::Nonce::default();
    nonce[4..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

/// `AEAD(key, counter, plaintext, ad)` into `out`, which must be `plaintext.len() + 16` bytes
/// long: the ciphertext followed by the tag.
pub fn aead_seal(
    key: &[u8; KEY_LEN],
    counter: u64,
    plaintext: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let (body, tag_out) = split_sealed_mut(out, plaintext.len())?;
    body.copy_from_slice(plaintext);
    let cipher = ChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(&counter_nonce(counter), ad, body)
        .map_err(|_| Error::BufferTooSmall)?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Inverse of [`aead_seal`]: verifies and decrypts `sealed` (ciphertext then tag) into `out`,
/// which must be `sealed.len() - 16` bytes long. `out` is zeroed if the tag is wrong.
pub fn aead_open(
    key: &[u8; KEY_LEN],
    counter: u64,
    sealed: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let (ciphertext, tag) = split_sealed(sealed, out.len())?;
    out.copy_from_slice(ciphertext);
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(&counter_nonce(counter), ad, out, tag.into())
        .map_err(|_| {
            out.zeroize();
            Error::DecryptFailed
        })
}

/// `XAEAD(key, nonce, plaintext, ad)` into `out` (`plaintext.len() + 16` bytes): the
/// XChaCha20-Poly1305 construction cookie replies use.
pub fn xaead_seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8; COOKIE_NONCE_LEN],
    plaintext: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let (body, tag_out) = split_sealed_mut(out, plaintext.len())?;
    body.copy_from_slice(plaintext);
    let cipher = XChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_in_place_detached(nonce.into(), ad, body)
        .map_err(|_| Error::BufferTooSmall)?;
    tag_out.copy_from_slice(&tag);
    Ok(())
}

/// Inverse of [`xaead_seal`]; `out` must be `sealed.len() - 16` bytes and is zeroed on failure.
pub fn xaead_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; COOKIE_NONCE_LEN],
    sealed: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let (ciphertext, tag) = split_sealed(sealed, out.len())?;
    out.copy_from_slice(ciphertext);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(nonce.into(), ad, out, tag.into())
        .map_err(|_| {
            out.zeroize();
            Error::DecryptFailed
        })
}

/// Splits a sealed buffer into ciphertext and tag, checking it holds exactly `plain_len` bytes
/// of ciphertext.
fn split_sealed(sealed: &[u8], plain_len: usize) -> Result<(&[u8], &[u8; TAG_LEN])> {
    if sealed.len() != plain_len + TAG_LEN {
        return Err(Error::WrongLength);
    }
    let (ciphertext, tag) = sealed.split_at(plain_len);
    let tag = tag.try_into().map_err(|_| Error::WrongLength)?;
    Ok((ciphertext, tag))
}

/// Mutable counterpart of [`split_sealed`] for output buffers.
fn split_sealed_mut(out: &mut [u8], plain_len: usize) -> Result<(&mut [u8], &mut [u8])> {
    if out.len() != plain_len + TAG_LEN {
        return Err(Error::BufferTooSmall);
    }
    Ok(out.split_at_mut(plain_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2104 written out by hand, to check that `SimpleHmac<Blake2s256>` is the HMAC that
    /// WireGuard specifies (64-byte block, ipad 0x36, opad 0x5c).
    fn reference_hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, k) in key.iter().enumerate() {
            ipad[i] ^= k;
            opad[i] ^= k;
        }
        let inner = hash(&[&ipad, data]);
        hash(&[&opad, &inner])
    }

    #[test]
    fn hmac_is_rfc2104_over_blake2s() {
        let key = [7u8; 32];
        for data in [&b""[..], b"abc", &[0xa5; 200]] {
            assert_eq!(*hmac(&key, &[data]), reference_hmac(&key, data));
        }
    }

    #[test]
    fn split_inputs_hash_like_concatenation() {
        assert_eq!(hash(&[b"ab", b"c"]), hash(&[b"abc"]));
        assert_eq!(mac(&[1u8; 32], &[b"ab", b"c"]), mac(&[1u8; 32], &[b"abc"]));
        assert_eq!(
            *hmac(&[1u8; 32], &[b"ab", b"c"]),
            *hmac(&[1u8; 32], &[b"abc"])
        );
    }

    #[test]
    fn kdf_outputs_chain_as_specified() {
        let key = [3u8; 32];
        let prk = hmac(&key, &[b"input"]);
        let t1 = hmac(&prk, &[&[1]]);
        let t2 = hmac(&prk, &[&t1[..], &[2]]);
        let t3 = hmac(&prk, &[&t2[..], &[3]]);
        assert_eq!(*kdf1(&key, b"input"), *t1);
        let (a, b) = kdf2(&key, b"input");
        assert_eq!((*a, *b), (*t1, *t2));
        let (a, b, c) = kdf3(&key, b"input");
        assert_eq!((*a, *b, *c), (*t1, *t2, *t3));
    }

    #[test]
    fn counter_nonce_layout() {
        let nonce = counter_nonce(0x0102_0304_0506_0708);
        assert_eq!(nonce.as_slice(), &[0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn aead_roundtrip_and_wrong_sizes() {
        let key = [9u8; 32];
        let mut sealed = [0u8; 5 + TAG_LEN];
        aead_seal(&key, 3, b"hello", b"ad", &mut sealed).unwrap();
        let mut plain = [0u8; 5];
        aead_open(&key, 3, &sealed, b"ad", &mut plain).unwrap();
        assert_eq!(&plain, b"hello");
        assert_eq!(
            aead_open(&key, 4, &sealed, b"ad", &mut plain),
            Err(Error::DecryptFailed)
        );
        assert_eq!(
            plain, [0; 5],
            "failed open must not leak unauthenticated plaintext"
        );
        assert_eq!(
            aead_open(&key, 3, &sealed[1..], b"ad", &mut plain),
            Err(Error::WrongLength)
        );
        assert_eq!(
            aead_seal(&key, 3, b"hello", b"", &mut sealed[1..]),
            Err(Error::BufferTooSmall)
        );
    }

    #[test]
    fn mac_comparison_rejects_other_lengths() {
        let m = [1u8; 16];
        assert!(mac_matches(&m, &[1u8; 16]));
        assert!(!mac_matches(&m, &[1u8; 15]));
        assert!(!mac_matches(&m, &[1u8; 17]));
        assert!(!mac_matches(&m, &[2u8; 16]));
    }
}
