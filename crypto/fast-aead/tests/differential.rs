//! Every backend against RustCrypto's `chacha20poly1305`, for every plaintext length
//! 0..=2048 with random keys, nonces (WireGuard counters and arbitrary 12-byte nonces) and
//! associated data; and the backends against each other.

mod common;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use common::{backends, open, seal};
use fast_aead::Key;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn reference(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = pt.to_vec();
    let tag = ChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(nonce.into(), aad, &mut buf)
        .expect("seal");
    (buf, tag.into())
}

#[test]
fn every_length_against_rustcrypto() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x9e37_79b9);
    let backends = backends();
    let mut pt = vec![0u8; 2048];
    for len in 0..=2048usize {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let wg = len % 2 == 0;
        let counter = rng.next_u64();
        let mut nonce = [0u8; 12];
        if wg {
            nonce[4..].copy_from_slice(&counter.to_le_bytes());
        } else {
            rng.fill_bytes(&mut nonce);
        }
        let aad_len = match len % 5 {
            0 => 0,
            1 => 16,
            2 => 1 + (rng.next_u32() % 15) as usize,
            3 => (rng.next_u32() % 100) as usize,
            _ => 17 + (rng.next_u32() % 300) as usize,
        };
        let mut aad = vec![0u8; aad_len];
        rng.fill_bytes(&mut aad);
        rng.fill_bytes(&mut pt[..len]);
        let pt = &pt[..len];
        let (ct, tag) = reference(&key, &nonce, &aad, pt);
        let k = Key::new(&key);
        for &b in &backends {
            let (c, t) = seal(b, &k, &nonce, &aad, pt);
            assert!(
                c == ct,
                "ciphertext differs: backend {b}, length {len}, aad {aad_len}"
            );
            assert_eq!(
                t, tag,
                "tag differs: backend {b}, length {len}, aad {aad_len}"
            );
            let p = open(b, &k, &nonce, &aad, &ct, &tag)
                .unwrap_or_else(|_| panic!("open failed: {b} {len}"));
            assert!(p == pt, "plaintext differs: backend {b}, length {len}");
            if wg && aad.is_empty() {
                // The WireGuard entry points, through the global backend.
                let mut buf = pt.to_vec();
                let t2 = k.seal_in_place(counter, &[], &mut buf);
                assert_eq!((buf.as_slice(), t2), (ct.as_slice(), tag));
                k.open_in_place(counter, &[], &mut buf, &tag)
                    .expect("open_in_place");
                assert!(buf == pt);
            }
        }
    }
}

#[test]
fn backends_agree_on_long_messages() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let backends = backends();
    for len in [4095usize, 4096, 4097, 9000, 65536 + 13] {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let mut pt = vec![0u8; len];
        rng.fill_bytes(&mut pt);
        let k = Key::new(&key);
        let (ct, tag) = reference(&key, &nonce, b"aad", &pt);
        for &b in &backends {
            let (c, t) = seal(b, &k, &nonce, b"aad", &pt);
            assert!(c == ct && t == tag, "backend {b}, length {len}");
        }
    }
}

/// Lengths around the AVX2 backend's switch to four-lane Poly1305 (stretches of 320 bytes
/// and more: a seal's last group, an open's first group) and around its group sizes (two
/// blocks horizontal, four, eight), with and without long associated data.
#[test]
fn around_the_vector_thresholds() {
    let mut rng = ChaCha20Rng::seed_from_u64(320);
    let backends = backends();
    let mut lengths: Vec<usize> = (250..=520).collect();
    for base in [64usize, 128, 192, 256, 448, 512, 960, 1024, 1472, 1536] {
        lengths.extend(base.saturating_sub(17)..=base + 17);
    }
    for &len in &lengths {
        for aad_len in [0usize, 13, 320] {
            let mut key = [0u8; 32];
            rng.fill_bytes(&mut key);
            let mut nonce = [0u8; 12];
            rng.fill_bytes(&mut nonce);
            let mut aad = vec![0u8; aad_len];
            rng.fill_bytes(&mut aad);
            let mut pt = vec![0u8; len];
            rng.fill_bytes(&mut pt);
            let (ct, tag) = reference(&key, &nonce, &aad, &pt);
            let k = Key::new(&key);
            for &b in &backends {
                let (c, t) = seal(b, &k, &nonce, &aad, &pt);
                assert!(
                    c == ct && t == tag,
                    "seal: backend {b}, length {len}, aad {aad_len}"
                );
                let p = open(b, &k, &nonce, &aad, &ct, &tag)
                    .unwrap_or_else(|_| panic!("open failed: {b} {len} {aad_len}"));
                assert!(p == pt, "open: backend {b}, length {len}, aad {aad_len}");
                let mut bad = tag;
                bad[len % 16] ^= 1 << (len % 8);
                assert!(open(b, &k, &nonce, &aad, &ct, &bad).is_err());
            }
        }
    }
}
