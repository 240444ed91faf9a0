//! End-to-end tests of the `fluxhook` binary.

mod listen_send;
