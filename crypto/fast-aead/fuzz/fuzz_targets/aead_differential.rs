//! Every AEAD backend this CPU runs, against each other and against
//! RustCrypto's `chacha20poly1305`: the same ciphertext and tag, a
//! successful open, and a flipped tag bit rejected (see
//! `fast_aead::fuzzing::differential_check`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fast_aead::fuzzing::differential_check(data);
});
