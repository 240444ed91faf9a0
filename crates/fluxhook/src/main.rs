//! `fluxhook`: sign, verify, send, listen for, emulate and manage Fluxbase webhooks.

use std::process::ExitCode;

mod cli;
mod cmd;
mod input;

fn main() -> ExitCode {
    let cli = cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(cmd::EXIT_USAGE)
        }
    }
}
