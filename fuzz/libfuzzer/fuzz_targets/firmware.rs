//! `fuzz_bodies::firmware`: see its documentation for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_bodies::firmware(data);
});
