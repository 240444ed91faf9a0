//! Integration tests: the management client against the emulator over real
//! HTTP in both flavors, the delivery engine against a real receiving
//! server, and the emulator's answers to bad input.

mod support;

mod webhooks;
