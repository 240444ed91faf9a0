//! Fuzz target: see `fluxhook_fuzz::checks::signature_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxhook_fuzz::checks::signature_header(data));
