//! `fluxhook`: sign, verify, send, listen for, emulate and manage Fluxbase webhooks.

use std::process::ExitCode;

mod cli;
mod cmd;
mod input;
mod output;

fn main() -> ExitCode {
    let cli = cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        // Stdout closed by its reader: stop quietly, as Unix tools do.
        Err(err) if output::closed_stdout(&err) => ExitCode::from(output::EXIT_CLOSED),
        Err(err) => {
            output::errln!("error: {}", output::causes(&err));
            ExitCode::from(cmd::EXIT_USAGE)
        }
    }
}
