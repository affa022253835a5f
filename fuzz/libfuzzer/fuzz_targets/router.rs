//! `fuzz_bodies::router`: see its documentation for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_bodies::router(data);
});
