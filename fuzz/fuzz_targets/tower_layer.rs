//! Fuzz target: see `fluxhook_fuzz::tower_checks::tower_layer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluxhook_fuzz::tower_checks::tower_layer(data));
