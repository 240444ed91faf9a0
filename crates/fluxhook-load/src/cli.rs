//! The command line (clap derive; doc comments are the help).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fluxbase_webhooks::{DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT};

/// Exit code of a usage or setup error (a failed check exits 1).
pub(crate) const EXIT_USAGE: u8 = 2;

/// The secret the client signs with, which the servers it starts get in
/// their environment: `FLUXBASE_WEBHOOK_SECRET`, or when it is unset a
/// random one made for this run (never a fixed, guessable default).
///
/// # Errors
///
/// When `FLUXBASE_WEBHOOK_SECRET` is set but empty or not UTF-8.
pub(crate) fn client_secret() -> anyhow::Result<String> {
    match std::env::var("FLUXBASE_WEBHOOK_SECRET") {
        Ok(secret) if secret.is_empty() => {
            anyhow::bail!("FLUXBASE_WEBHOOK_SECRET is empty: set a real secret, or unset it")
        }
        Ok(secret) => Ok(secret),
        Err(std::env::VarError::NotPresent) => Ok(run_secret()),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("FLUXBASE_WEBHOOK_SECRET is not valid UTF-8")
        }
    }
}

/// A random secret for one run.
fn run_secret() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("whsec-load-{hex}")
}

/// Loopback load, memory and soak harness for fluxhook's `VerifyLayer`.
#[derive(Debug, Parser)]
#[command(name = "fluxhook-load", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

pub(crate) fn parse() -> Cli {
    Cli::parse()
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server under test on loopback; prints `listening on http://ADDR` and runs until killed.
    Serve(ServeArgs),
    /// Plain route vs the same route behind VerifyLayer: req/s, latency and RSS side by side.
    Compare(CompareArgs),
    /// Peak RSS of a verified server receiving bodies exactly at the limit, many at once.
    Memory(MemoryArgs),
    /// A bounded mix of valid and hostile deliveries; every answer checked; exit 1 on any wrong one.
    Soak(SoakArgs),
    /// The durable handoff under crashes: Fluxbase-like deliveries to `fluxhook listen --forward`, `fluxhook consume --exec` processes killed at random, Redis killed and restarted; exit 1 unless every acknowledged delivery was processed and every re-delivery flagged.
    HandoffSoak(HandoffSoakArgs),
    /// Into a Redis Stream over HTTP (the handoff, with and without Redis persistence) next to VerifyLayer with a do-nothing handler, then out of consumer groups: req/s, latency, CPU, msg/s.
    HandoffCompare(HandoffCompareArgs),
}

/// Runs the chosen subcommand.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => crate::serve::run(args).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => crate::compare::run(args),
        Command::Memory(args) => crate::memory::run(args),
        Command::Soak(args) => crate::soak::run(args),
        Command::HandoffSoak(args) => crate::handoff_soak::run_cli(args),
        Command::HandoffCompare(args) => crate::handoff_compare::run(args),
    }
}

/// What serves the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// The bare route: the handler reads the body, nothing is checked.
    Plain,
    /// The same route behind `VerifyLayer`, with a `Receiver` built as the
    /// README recommends (replays refused by an in-memory store unless
    /// `--dedupe` says otherwise).
    Verified,
    /// `queue::Handoff` with the same `Receiver`: each accepted delivery is
    /// appended to the Redis Stream `--stream` on `--redis-url` and answered
    /// 202 once it is there.
    Handoff,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Verified => "verified",
            Self::Handoff => "handoff",
        }
    }
}

/// Where replays and re-deliveries are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Store {
    /// `MemoryStore` inside the server process.
    Memory,
    /// `RedisStore` on a loopback redis-server.
    Redis,
}

impl Store {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
        }
    }
}

/// The server's replay and duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DedupeArg {
    /// `MemoryStore` inside the server process (the library's default).
    Memory,
    /// `RedisStore` on a loopback redis-server.
    Redis,
    /// None: the receiver's explicit opt-out.
    Off,
    /// A store that keeps nothing (every key is new): what the dedupe path
    /// costs without a table. For measuring only: it refuses no replay.
    Null,
}

/// What the server does with a re-delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DuplicatesArg {
    /// The handler is called with the delivery marked duplicate (the library default).
    Mark,
    /// The layer answers 200 `{"duplicate":true}` without calling the handler.
    Acknowledge,
    /// No event key: replays are still refused, re-deliveries are not
    /// looked for (`serve` only; `soak` checks that retries are flagged).
    Off,
}

impl DuplicatesArg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Mark => "mark",
            Self::Acknowledge => "acknowledge",
            Self::Off => "off",
        }
    }
}

/// The server's log format on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line (what `soak` reads).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Plain route, or the same route behind VerifyLayer.
    #[arg(long, value_enum)]
    pub(crate) mode: Mode,
    /// Replay and duplicate detection (verified mode only; default
    /// `memory`, the library's default).
    #[arg(long, value_enum)]
    pub(crate) dedupe: Option<DedupeArg>,
    /// The Redis of `--dedupe redis` and of `--mode handoff` (loopback only).
    #[arg(long, required_if_eq_any([("dedupe", "redis"), ("mode", "handoff")]))]
    pub(crate) redis_url: Option<String>,
    /// The stream `--mode handoff` appends to.
    #[arg(long, default_value = "fluxhook-load:deliveries")]
    pub(crate) stream: String,
    /// Key prefix in Redis, so runs sharing one Redis stay apart.
    #[arg(long, default_value = "fluxhook-load:")]
    pub(crate) redis_prefix: String,
    /// What to do with a re-delivered event.
    #[arg(long, value_enum, default_value_t = DuplicatesArg::Mark)]
    pub(crate) duplicates: DuplicatesArg,
    /// Most keys the in-memory store holds. It refuses replays for up to
    /// capacity / window accepted deliveries per second, and answers 503
    /// past that.
    #[arg(long, default_value_t = fluxbase_webhooks::dedupe::DEFAULT_MEMORY_CAPACITY)]
    pub(crate) store_capacity: usize,
    /// The verifier's window for past signatures, in seconds (default: the
    /// library's 300 s).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) tolerance: Option<u64>,
    /// Body limit in bytes (both modes read the body through it).
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    pub(crate) limit: u64,
    /// The receiver's budget of body bytes held at once (verified mode).
    #[arg(long, default_value_t = DEFAULT_BODY_BUDGET)]
    pub(crate) body_budget: u64,
    /// Address to bind; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) addr: SocketAddr,
    /// The webhook secret (verified mode; no default).
    #[arg(long, env = "FLUXBASE_WEBHOOK_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,
    /// Log filter (tracing-subscriber `EnvFilter` syntax).
    #[arg(long, default_value = "info")]
    pub(crate) log: String,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Open a `load{class=..}` span per request from its `x-load-class`
    /// header, so each log line says which kind of request caused it.
    #[arg(long)]
    pub(crate) tag_requests: bool,
}

/// Settings every client subcommand shares.
#[derive(Debug, Args)]
pub(crate) struct ServerPlacement {
    /// Run the server(s) under `taskset -c CPUS` (e.g. `1`); run the
    /// harness itself under `taskset -c 0` to give each side its own core.
    #[arg(long)]
    pub(crate) server_cpus: Option<String>,
    /// The server's log filter (`serve --log`). The layer's
    /// `fluxbase_webhook` span is at DEBUG: `debug` records it for every
    /// delivery, `info` (a service's usual level) does not.
    #[arg(long, default_value = "info")]
    pub(crate) server_log: String,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The load of a run that drives servers side by side, in rounds.
#[derive(Debug, Args)]
pub(crate) struct RoundsArgs {
    /// Requests per measured run (the run also stops at --duration).
    #[arg(long, default_value_t = 200_000)]
    pub(crate) requests: u64,
    /// Seconds per measured run at most.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) duration: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Body size in bytes (a server-shaped INSERT padded to exactly this size).
    #[arg(long, default_value_t = 1024)]
    pub(crate) body: usize,
    /// Measured runs per server, in rotating order (plain and verified
    /// alternate); figures add up over rounds.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: u32,
    /// Unrecorded requests per server before the first round.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) warmup: u64,
}

impl RoundsArgs {
    /// Refuses a load that cannot run.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 || self.requests == 0 || self.rounds == 0 {
            anyhow::bail!("--concurrency, --requests and --rounds must be at least 1");
        }
        if !(self.duration > 0.0 && self.duration.is_finite()) {
            anyhow::bail!("--duration must be a positive number of seconds");
        }
        Ok(())
    }

    /// One measured run's limits (a closed loop).
    pub(crate) fn limits(&self) -> crate::client::Limits {
        crate::client::Limits {
            concurrency: self.concurrency,
            requests: self.requests,
            duration: std::time::Duration::from_secs_f64(self.duration),
            rate: None,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    #[command(flatten)]
    pub(crate) load: RoundsArgs,
    #[command(flatten)]
    pub(crate) placement: ServerPlacement,
    /// More `serve` arguments for the verified side only, after its own
    /// (space-separated), to measure a variant against the same plain and
    /// no-dedupe sides: `--verified-args "--duplicates off"`,
    /// `--verified-args "--dedupe null"`.
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub(crate) verified_args: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct MemoryArgs {
    /// The server under test (plain shows what axum and hyper alone keep).
    #[arg(long, value_enum, default_value_t = Mode::Verified)]
    pub(crate) mode: Mode,
    /// Concurrent connections, each sending bodies exactly at the limit.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// The server's body limit in bytes, and the size of every body.
    #[arg(long, default_value_t = DEFAULT_BODY_LIMIT)]
    pub(crate) limit: u64,
    /// Requests in all (the run also stops at --duration).
    #[arg(long, default_value_t = 1_024)]
    pub(crate) requests: u64,
    /// Seconds at most.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) duration: f64,
    /// Seconds to wait after the load before reading RSS again.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) pause: f64,
    /// Put the padding in a top-level field rather than in the record, so
    /// the parsed event stays small (shows what the parsed record costs).
    #[arg(long)]
    pub(crate) pad_outside_record: bool,
    /// The "few MiB" of allowed growth on top of concurrency × limit.
    #[arg(long, default_value_t = 4)]
    pub(crate) slack_mib: u64,
    #[command(flatten)]
    pub(crate) placement: ServerPlacement,
}

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Seconds at most.
    #[arg(long, default_value_t = 300.0)]
    pub(crate) duration: f64,
    /// Requests at most.
    #[arg(long, default_value_t = 10_000_000)]
    pub(crate) requests: u64,
    /// Where the server remembers replays and events.
    #[arg(long, value_enum, default_value_t = Store::Memory)]
    pub(crate) store: Store,
    /// A running loopback Redis for `--store redis`; without it the soak
    /// starts its own redis-server on a free loopback port.
    #[arg(long)]
    pub(crate) redis_url: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// Requests per second (0: as fast as the connections go).
    #[arg(long, default_value_t = 2_000.0)]
    pub(crate) rate: f64,
    /// Seconds of warm-up before RSS is expected to stay flat.
    #[arg(long, default_value_t = 60.0)]
    pub(crate) warmup: f64,
    /// Seconds between RSS samples.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) sample_every: f64,
    /// The server's body limit; oversized requests send one byte more.
    #[arg(long, default_value_t = 64 * 1024)]
    pub(crate) limit: u64,
    /// Most keys the server's in-memory store holds.
    #[arg(long, default_value_t = fluxbase_webhooks::dedupe::DEFAULT_MEMORY_CAPACITY)]
    pub(crate) store_capacity: usize,
    /// The server's window for past signatures, in seconds. The in-memory
    /// store keeps a replay key per accepted delivery for the window: the
    /// default keeps the default rate's (about 1,200 accepted/s) inside the
    /// default capacity.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) tolerance: u64,
    /// What the server does with re-delivered events.
    #[arg(long, value_enum, default_value_t = DuplicatesArg::Mark)]
    pub(crate) duplicates: DuplicatesArg,
    /// Growth of RSS after warm-up still called flat, in MiB (on top of 5 %).
    #[arg(long, default_value_t = 4)]
    pub(crate) flat_mib: u64,
    /// The secret the server verifies with, when it must differ from the
    /// client's (to see the soak catch wrong answers).
    #[arg(long, hide = true)]
    pub(crate) server_secret: Option<String>,
    #[command(flatten)]
    pub(crate) placement: ServerPlacement,
}

#[derive(Debug, Args)]
pub(crate) struct HandoffSoakArgs {
    /// The `fluxhook` binary (default: `fluxhook` beside this harness, as
    /// `cargo build` puts it).
    #[arg(long)]
    pub(crate) fluxhook: Option<std::path::PathBuf>,
    /// Events to deliver.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) events: u64,
    /// Share of the events delivered once more after their 202, in percent.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub(crate) redeliver_percent: u64,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub(crate) body: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// First deliveries per second (0: as fast as the answers come).
    #[arg(long, default_value_t = 200.0)]
    pub(crate) rate: f64,
    /// Seconds a sender waits before delivering an unacknowledged attempt again.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) retry_delay: f64,
    /// `fluxhook consume --exec` processes at once.
    #[arg(long, default_value_t = 3)]
    pub(crate) consumers: usize,
    /// Milliseconds the command works on each event (`sleep`), so that
    /// consumers are often killed while they hold one.
    #[arg(long, default_value_t = 10)]
    pub(crate) work_ms: u64,
    /// Kill a consumer every MIN..MAX seconds (at random), e.g. `1..4`; `off` never.
    #[arg(long, default_value = "1..4", value_parser = parse_range)]
    pub(crate) kill_every: KillEvery,
    /// Times Redis is killed and restarted while the senders run.
    #[arg(long, default_value_t = 3)]
    pub(crate) redis_restarts: u32,
    /// Seconds Redis stays down each time.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) redis_down: f64,
    /// How Redis keeps the stream across restarts.
    #[arg(long, value_enum, default_value_t = crate::handoff_soak::Durability::Always)]
    pub(crate) durability: crate::handoff_soak::Durability,
    /// The consumers' --visibility-timeout, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) visibility_timeout: f64,
    /// The consumers' --max-attempts.
    #[arg(long, default_value_t = 50)]
    pub(crate) max_attempts: u32,
    /// Seconds the consumers get to finish once every event is acknowledged.
    #[arg(long, default_value_t = 120.0)]
    pub(crate) settle: f64,
    /// Seconds the senders may take at most.
    #[arg(long, default_value_t = 600.0)]
    pub(crate) send_timeout: f64,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HandoffCompareArgs {
    #[command(flatten)]
    pub(crate) load: RoundsArgs,
    /// Messages each library consumer group takes out of the stream.
    #[arg(long, default_value_t = 50_000)]
    pub(crate) drain: u64,
    /// The `fluxhook` binary for the `fluxhook consume` drain (default:
    /// beside this harness; that drain is skipped, with a note, without it).
    #[arg(long)]
    pub(crate) fluxhook: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) placement: ServerPlacement,
}

/// `--kill-every MIN..MAX` (seconds), or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KillEvery(pub(crate) Option<(f64, f64)>);

fn parse_range(value: &str) -> Result<KillEvery, String> {
    if value == "off" {
        return Ok(KillEvery(None));
    }
    let bad = || format!("expected MIN..MAX in seconds (such as 1..4) or `off`, not {value:?}");
    let (min, max) = value.split_once("..").ok_or_else(bad)?;
    let secs = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    match (secs(min), secs(max)) {
        (Some(min), Some(max)) if min <= max => Ok(KillEvery(Some((min, max)))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn kill_intervals_parse() {
        use super::{KillEvery, parse_range};
        assert_eq!(parse_range("1..4"), Ok(KillEvery(Some((1.0, 4.0)))));
        assert_eq!(parse_range("0.5..0.5"), Ok(KillEvery(Some((0.5, 0.5)))));
        assert_eq!(parse_range("off"), Ok(KillEvery(None)));
        for bad in ["4..1", "0..1", "1", "a..b", "1..inf"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }
}
