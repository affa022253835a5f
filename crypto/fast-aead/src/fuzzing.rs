//! A differential check for a fuzz target (feature `fuzzing`): every supported backend
//! against RustCrypto's `chacha20poly1305`, sealing and opening in place.

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;

use crate::{supported, Key};

/// Longest plaintext the check uses (the rest of the input is ignored).
pub const MAX_PLAINTEXT: usize = 4096;

/// Interprets `data` as key (32 bytes), nonce (12), AAD length (1), AAD, plaintext; seals and
/// opens it with every supported backend and with RustCrypto, and panics on any difference,
/// on a failed open, or if a flipped tag bit (chosen from the input) is accepted.
pub fn differential_check(data: &[u8]) {
    if data.len() < 45 {
        return;
    }
    let (key, rest) = data.split_at(32);
    let (nonce, rest) = rest.split_at(12);
    let aad_len = (rest[0] as usize).min(rest.len() - 1);
    let aad = &rest[1..1 + aad_len];
    let pt = &rest[1 + aad_len..];
    let pt = &pt[..pt.len().min(MAX_PLAINTEXT)];
    let key: [u8; 32] = key.try_into().unwrap_or([0; 32]);
    let nonce: [u8; 12] = nonce.try_into().unwrap_or([0; 12]);

    let mut expected = [0u8; MAX_PLAINTEXT];
    let expected = &mut expected[..pt.len()];
    expected.copy_from_slice(pt);
    let reference = ChaCha20Poly1305::new(&key.into());
    let expected_tag = reference
        .encrypt_in_place_detached(&nonce.into(), aad, expected)
        .expect("RustCrypto seal");

    let ours = Key::new(&key);
    let mut buf = [0u8; MAX_PLAINTEXT];
    let buf = &mut buf[..pt.len()];
    for b in supported() {
        buf.copy_from_slice(pt);
        let tag = ours
            .seal_with_backend(b, &nonce, aad, buf)
            .expect("supported");
        assert_eq!(&tag[..], &expected_tag[..], "tag, backend {}", b.name());
        assert_eq!(&buf[..], &expected[..], "ciphertext, backend {}", b.name());
        ours.open_with_backend(b, &nonce, aad, buf, &tag)
            .expect("supported")
            .expect("open");
        assert_eq!(&buf[..], pt, "plaintext, backend {}", b.name());
        let mut bad = tag;
        let bit = (pt.len() + aad_len) % 128;
        bad[bit / 8] ^= 1 << (bit % 8);
        buf.copy_from_slice(expected);
        assert!(
            ours.open_with_backend(b, &nonce, aad, buf, &bad)
                .expect("supported")
                .is_err(),
            "forged tag accepted, backend {}",
            b.name()
        );
    }
}
