//! Fuzz target: see `fluxhook_fuzz::checks::verify_chunks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = fluxhook_fuzz::checks::verify_chunks(data);
});
