//! Fuzz target: see `fluxhook_fuzz::checks::payload`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxhook_fuzz::checks::payload(data));
