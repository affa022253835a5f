//! `fuzz_bodies::config_parser`: see its documentation for what it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fuzz_bodies::config_parser(data);
});
