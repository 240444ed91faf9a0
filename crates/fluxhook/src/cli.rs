//! The command line definition (clap derive; doc comments are the help).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fluxbase_webhooks::server::DEFAULT_MAX_CONNECTIONS;
use fluxbase_webhooks::{DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT};

use crate::cmd::stream_url::{StreamUrl, StreamUrlParser};

/// What every command does when its standard output goes away.
const AFTER_HELP: &str = "\
When its standard output is closed before it is done (`fluxhook dead-letters list URL | \
head -1`), a command stops at once, prints nothing more and exits with status 141, as a \
program ended by SIGPIPE does; a write that fails otherwise (a full disk) is an error: \
exit status 2.";

/// Sign, verify, send, receive and manage Fluxbase webhooks.
#[derive(Debug, Parser)]
#[command(
    name = "fluxhook",
    version,
    about,
    propagate_version = true,
    after_help = AFTER_HELP
)]
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
    /// Receive webhooks: print each verified event (or, with --forward, hand it to a Redis Stream), answer the rest with the reason.
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
    pub(crate) secret: Option<String>,
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
        hide_env_values = true
    )]
    pub(crate) secrets: Vec<String>,
    /// The `X-Fluxbase-Signature` header value.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) signature: String,
    /// How old a delivery may be, in seconds: its `t=`, or for a signature
    /// without one (hex, sha256=) the body's `timestamp` field.
    #[arg(long, default_value_t = 300)]
    pub(crate) tolerance: u64,
    /// How far in the future a delivery may be dated, in seconds.
    #[arg(long, alias = "max-skew", default_value_t = 60)]
    pub(crate) future_skew: u64,
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
    pub(crate) secret: Option<String>,
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
        hide_env_values = true
    )]
    pub(crate) secrets: Vec<String>,
    /// Also read the legacy `X-Webhook-Signature` header (servers before
    /// 2026-01 send only that one).
    #[arg(long)]
    pub(crate) legacy_header: bool,
    /// Replay and duplicate detection: `memory` (in this process, bounded),
    /// `off`, or a shared Redis `redis://HOST:PORT/DB`. With detection on,
    /// an exact replay gets 409 `replayed`.
    #[arg(long, value_name = "memory|off|URL", default_value = "memory", value_parser = parse_dedupe)]
    pub(crate) dedupe: DedupeArg,
    /// With `--dedupe memory`: the most keys the store holds (about 130
    /// bytes each). A replay key is kept while its delivery can verify
    /// (about 5 minutes for one sent now and signed with `t=`, 6 at most,
    /// and 6 for one signed without) and never dropped sooner, so the store
    /// takes about KEYS / 300 deliveries per second (KEYS / 361 for
    /// `--legacy-header` senders);
    /// past that, deliveries get 503 with Retry-After until keys expire.
    #[arg(
        long,
        value_name = "KEYS",
        default_value_t = fluxbase_webhooks::dedupe::DEFAULT_MEMORY_CAPACITY as u64,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000_000)
    )]
    pub(crate) dedupe_capacity: u64,
    /// The largest body accepted, in bytes; a larger one gets 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    pub(crate) body_limit: u64,
    /// The most body bytes held at once across all deliveries; past it a
    /// delivery gets 503 with Retry-After.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_BODY_BUDGET)]
    pub(crate) body_budget: u64,
    /// Seconds a body may take to arrive once the request head is in; a
    /// slower one gets 408.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
    pub(crate) read_timeout: Duration,
    /// Seconds a request head may take to arrive, and a kept-alive
    /// connection may stay idle, before the connection is closed.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    pub(crate) header_timeout: Duration,
    /// Seconds an answer may wait for the peer to read any of it before
    /// the connection is closed (a peer that sends requests and never
    /// reads the answers would otherwise keep its connection).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    pub(crate) write_timeout: Duration,
    /// The most connections open at once; more wait to be accepted.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), default_value_t = DEFAULT_MAX_CONNECTIONS as u64)]
    pub(crate) max_connections: u64,
    /// Hand each accepted delivery to a Redis Stream instead of printing its
    /// event: the answer is 202 `{"queued":ID,"duplicate":BOOL}` once it is
    /// in the stream, 503 `queue_unavailable` with Retry-After while Redis
    /// cannot take it or the stream is full (the sender retries). Take the deliveries out with
    /// `fluxhook consume`. The URL's form is consume's STREAM_URL:
    /// `redis://[USER[:PASSWORD]@]HOST[:PORT]/STREAM[?db=N]`; put a password in
    /// FLUXHOOK_QUEUE_URL rather than on the command line.
    #[arg(
        long,
        value_name = "STREAM_URL",
        env = "FLUXHOOK_QUEUE_URL",
        hide_env_values = true,
        value_parser = StreamUrlParser
    )]
    pub(crate) forward: Option<StreamUrl>,
    /// With --forward: the most entries the stream holds (default 100000;
    /// appends in flight at once can pass it by as many). At the bound, the entries every consumer group has acknowledged are
    /// trimmed; when that leaves no room, deliveries get 503 (`queue_full`
    /// in the detail) until the consumers catch up. Nothing not yet
    /// processed is dropped; with no consumer group the stream fills up.
    /// Keep it above the largest backlog.
    #[arg(long, value_name = "ENTRIES", requires = "forward", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_len: Option<u64>,
    /// Print one JSON line per event (with --forward, per queued delivery)
    /// instead of a readable block.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where `listen` remembers deliveries to refuse replays.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum DedupeArg {
    /// A bounded store in this process.
    Memory,
    /// No replay or duplicate detection.
    Off,
    /// A Redis shared by several receivers (the URL).
    Redis(String),
}

impl std::fmt::Debug for DedupeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Off => f.write_str("Off"),
            // The URL may carry a password.
            Self::Redis(_) => f.write_str("Redis(<url>)"),
        }
    }
}

fn parse_dedupe(value: &str) -> Result<DedupeArg, String> {
    match value {
        "memory" => Ok(DedupeArg::Memory),
        "off" => Ok(DedupeArg::Off),
        url if url.starts_with("redis://") => Ok(DedupeArg::Redis(url.to_owned())),
        _ => Err("expected `memory`, `off` or `redis://HOST:PORT/DB`".to_owned()),
    }
}

/// A duration given in seconds, such as `10` or `0.5`: positive and finite.
fn parse_secs(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| "expected a positive number of seconds, such as 10 or 0.5".to_owned())
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
    use fluxbase_webhooks::DEFAULT_READ_TIMEOUT;
    use fluxbase_webhooks::server::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_WRITE_TIMEOUT};

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn listen_defaults_are_the_library_defaults() {
        let cli = Cli::try_parse_from(["fluxhook", "listen", "--secret", "s"]).unwrap();
        let Command::Listen(args) = cli.command else {
            panic!("not listen")
        };
        assert_eq!(args.dedupe, DedupeArg::Memory);
        assert_eq!(args.body_limit, DEFAULT_BODY_LIMIT);
        assert_eq!(args.body_budget, DEFAULT_BODY_BUDGET);
        assert_eq!(args.read_timeout, DEFAULT_READ_TIMEOUT);
        assert_eq!(args.header_timeout, DEFAULT_HEADER_READ_TIMEOUT);
        assert_eq!(args.write_timeout, DEFAULT_WRITE_TIMEOUT);
        assert_eq!(args.max_connections, DEFAULT_MAX_CONNECTIONS as u64);
    }

    #[test]
    fn forward_takes_consumes_stream_url_and_max_len_needs_it() {
        let listen = |args: &[&str]| {
            let mut argv = vec!["fluxhook", "listen", "--secret", "s"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Listen(args) => args,
                _ => panic!("not listen"),
            })
        };
        let args = listen(&["--forward", "redis://:pw@127.0.0.1:7000/a%3Ab?db=2"]).unwrap();
        let url = args.forward.unwrap();
        assert_eq!(url.redis_url(), "redis://:pw@127.0.0.1:7000/2");
        assert_eq!(url.stream(), "a:b");
        assert_eq!(args.max_len, None);
        let args = listen(&["--forward", "redis://h/s", "--max-len", "50"]).unwrap();
        assert_eq!(args.max_len, Some(50));
        assert!(
            listen(&["--max-len", "50"]).is_err(),
            "--max-len without --forward"
        );
        assert!(listen(&["--forward", "redis://h/s", "--max-len", "0"]).is_err());
        let err = listen(&["--forward", "redis://:hunter2@h"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names no stream") && !err.contains("hunter2"),
            "{err}"
        );
        assert!(
            err.contains("invalid value for --forward <STREAM_URL>"),
            "{err}"
        );
    }

    #[test]
    fn dedupe_and_seconds_values() {
        assert_eq!(parse_dedupe("off"), Ok(DedupeArg::Off));
        assert_eq!(
            parse_dedupe("redis://127.0.0.1:6379/0"),
            Ok(DedupeArg::Redis("redis://127.0.0.1:6379/0".to_owned()))
        );
        assert!(parse_dedupe("redis").is_err());
        assert!(parse_dedupe("http://x").is_err());
        assert_eq!(
            format!("{:?}", DedupeArg::Redis("redis://:pw@h/0".into())),
            "Redis(<url>)"
        );
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs("10"), Ok(Duration::from_secs(10)));
        for bad in ["0", "-1", "nan", "inf", "1e30", "soon", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
