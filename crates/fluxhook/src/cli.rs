//! The command line definition (clap derive; doc comments are the help).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sign, verify, send, receive and manage Fluxbase webhooks.
#[derive(Debug, Parser)]
#[command(name = "fluxhook", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

pub(crate) fn parse() -> Cli {
    Cli::parse()
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print the signature header value for a body (FILE, or stdin).
    Sign(SignArgs),
    /// Check a signature header against a body; exit 0 valid, 1 invalid, 2 usage error.
    Verify(VerifyArgs),
    /// Sign a body (FILE, or a sample event) and POST it like Fluxbase does; exit 0 on a 2xx answer, 1 on any other answer, 2 when it cannot send.
    Send(SendArgs),
    /// Receive webhooks: print each verified event, answer the rest with the reason.
    Listen(ListenArgs),
    /// Run a local Fluxbase management API that really delivers webhooks.
    Emulator(crate::cmd::emulator::EmulatorArgs),
    /// Manage webhooks (list, create, get, update, delete, test, deliveries).
    Webhooks(crate::cmd::manage::webhooks::WebhooksArgs),
    /// Manage client keys (API keys on older servers).
    Keys(crate::cmd::manage::keys::KeysArgs),
    /// Manage dashboard invitations.
    Invitations(crate::cmd::manage::invitations::InvitationsArgs),
    /// Emulator, receiver and management client end to end on loopback, step by step.
    Demo(crate::cmd::demo::DemoArgs),
    /// Handle the deliveries queued in a Redis Stream as one consumer of a consumer group: print each event, or run a command for it (retried, then dead-lettered).
    Consume(crate::cmd::consume::ConsumeArgs),
    /// List, replay or remove the dead letters of a Redis Stream (events a consumer group gave up on).
    DeadLetters(crate::cmd::dead_letters::DeadLettersArgs),
}

/// A signature scheme to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemeArg {
    /// `t=<unix>,v1=<hex>` over `"<t>." + body` (what the Fluxbase server sends).
    Timestamped,
    /// Bare hex over the body.
    Hex,
    /// `sha256=<hex>` over the body.
    Sha256,
}

/// Which schemes `verify` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemePolicyArg {
    /// Any of timestamped, hex, sha256.
    Any,
    /// Only `t=..,v1=..`.
    Timestamped,
    /// Only bare hex.
    Hex,
    /// Only `sha256=`.
    Sha256,
}

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The webhook secret (its UTF-8 bytes are the HMAC key).
    #[arg(long, env = "FLUXBASE_WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) secret: String,
    /// The signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Timestamped)]
    pub(crate) scheme: SchemeArg,
    /// Unix seconds to sign with (timestamped scheme; default: now).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) timestamp: Option<i64>,
    /// The body file; stdin when absent or `-`.
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A webhook secret; repeat for rotation (any may match; `key` in the
    /// output is its position, from 0).
    #[arg(
        long = "secret",
        env = "FLUXBASE_WEBHOOK_SECRET",
        hide_env_values = true,
        required = true
    )]
    pub(crate) secrets: Vec<String>,
    /// The `X-Fluxbase-Signature` header value.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) signature: String,
    /// How old a timestamped signature may be, in seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) tolerance: u64,
    /// How far in the future a timestamped signature may be, in seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) max_skew: u64,
    /// Which schemes to accept.
    #[arg(long, value_enum, default_value_t = SchemePolicyArg::Any)]
    pub(crate) scheme: SchemePolicyArg,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The body file; stdin when absent or `-`.
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to POST, e.g. http://127.0.0.1:3000/webhooks.
    pub(crate) url: String,
    /// The webhook secret (its UTF-8 bytes are the HMAC key).
    #[arg(long, env = "FLUXBASE_WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) secret: String,
    /// The signature scheme; `timestamped` also sends the legacy
    /// `X-Webhook-Signature`, as the Fluxbase server does.
    #[arg(long, value_enum, default_value_t = SchemeArg::Timestamped)]
    pub(crate) scheme: SchemeArg,
    /// The event to send a sample of when no FILE is given: INSERT, UPDATE,
    /// DELETE, TEST or a documented name such as user.created.
    #[arg(long, default_value = "INSERT", conflicts_with = "file")]
    pub(crate) event: String,
    /// JSON for the event: the `record` of a row event, the `data` of a
    /// documented one.
    #[arg(long, conflicts_with = "file")]
    pub(crate) data: Option<String>,
    /// The exact body to send (`-` for stdin) instead of a sample.
    pub(crate) file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub(crate) addr: std::net::SocketAddr,
    /// The path deliveries are POSTed to.
    #[arg(long, default_value = "/webhooks", value_parser = parse_path)]
    pub(crate) path: String,
    /// A webhook secret; repeat for rotation (any may match).
    #[arg(
        long = "secret",
        env = "FLUXBASE_WEBHOOK_SECRET",
        hide_env_values = true,
        required = true
    )]
    pub(crate) secrets: Vec<String>,
    /// Also read the legacy `X-Webhook-Signature` header (servers before
    /// 2026-01 send only that one).
    #[arg(long)]
    pub(crate) legacy_header: bool,
    /// Print one JSON line per event instead of a readable block.
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') && !path.contains(['?', '#', ' ']) {
        Ok(path.to_owned())
    } else {
        Err("a path starts with `/` and has no query".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
