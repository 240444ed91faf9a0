//! One module per subcommand.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

mod sign;
mod verify;

pub(crate) mod consume;
pub(crate) mod dead_letters;
pub(crate) mod demo;
pub(crate) mod emulator;
pub(crate) mod listen;
pub(crate) mod manage;
mod queue_failure;
mod secret;
mod send;
pub(crate) mod stream_url;

/// Exit status for usage and I/O errors.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Send(args) => send::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Emulator(args) => emulator::run(args),
        Command::Webhooks(args) => manage::webhooks::run_webhooks(args),
        Command::Keys(args) => manage::keys::run_keys(args),
        Command::Invitations(args) => manage::invitations::run_invitations(args),
        Command::Demo(args) => demo::run(args),
        Command::Consume(args) => consume::run(args),
        Command::DeadLetters(args) => dead_letters::run(args),
    }
}
