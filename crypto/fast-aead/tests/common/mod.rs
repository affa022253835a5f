//! Helpers shared by the integration tests.
#![allow(dead_code)]

use fast_aead::{Backend, Key};

/// Every backend this machine runs, portable first.
pub fn backends() -> Vec<Backend> {
    let v: Vec<Backend> = fast_aead::supported().collect();
    assert_eq!(v[0], Backend::Portable);
    v
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Seals a copy of `pt` on backend `b`.
pub fn seal(b: Backend, key: &Key, nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = pt.to_vec();
    let tag = key
        .seal_with_backend(b, nonce, aad, &mut buf)
        .expect("supported");
    (buf, tag)
}

/// Opens a copy of `ct` on backend `b`.
pub fn open(
    b: Backend,
    key: &Key,
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; 16],
) -> Result<Vec<u8>, Vec<u8>> {
    let mut buf = ct.to_vec();
    match key
        .open_with_backend(b, nonce, aad, &mut buf, tag)
        .expect("supported")
    {
        Ok(()) => Ok(buf),
        Err(_) => Err(buf),
    }
}
