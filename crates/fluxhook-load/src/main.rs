//! `fluxhook-load`: see the library's documentation (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    fluxhook_load::main()
}
