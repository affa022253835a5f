//! The fuzz target's check (`fast_aead::fuzzing::differential_check`, feature `fuzzing`) on
//! seeded random inputs, so that it is itself tested:
//! `cargo test -p gateway-fast-aead --features fuzzing --test fuzzing`.
#![cfg(feature = "fuzzing")]

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

#[test]
fn differential_check_on_random_inputs() {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let mut data = vec![0u8; 45 + 255 + 2100];
    for i in 0..600 {
        let len = 45 + (i * 7) % (data.len() - 45);
        rng.fill_bytes(&mut data[..len]);
        fast_aead::fuzzing::differential_check(&data[..len]);
    }
    // Short inputs are ignored, not rejected.
    fast_aead::fuzzing::differential_check(&[1, 2, 3]);
}
