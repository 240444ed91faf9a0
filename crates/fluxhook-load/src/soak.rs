//! `soak`: a bounded mix of valid and hostile deliveries against a verified
//! server with replay and duplicate detection; every answer is checked
//! against the status and code it must have, the server's log is read for
//! WARN/ERROR lines caused by valid traffic, and its RSS is sampled.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use fluxbase_webhooks::Scheme;
use fluxhook_testkit::RedisServer;
use http::{Request, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::cli::{DuplicatesArg, SoakArgs, Store, client_secret};
use crate::client::{self, Answer, Limits, Post, ReqBody, Script};
use crate::payload::{Sign, row_body, unix_now};
use crate::process::{LogTally, Mem, ServeCommand, Server, ensure_loopback_url};
use crate::report::{self, RunContext};
use crate::serve::Stats;

/// Size of every delivery that is not oversized.
const BODY: usize = 1024;

/// How many recent accepted deliveries retries and replays pick from.
const RECENT: usize = 256;

/// How many wrong answers are kept to show.
const WRONG_EXAMPLES: usize = 10;

/// One kind of request in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A new event, signed now: handled, `204`.
    Valid,
    /// A new event signed in bare hex over a body dated now (the scheme of
    /// the legacy header and the SDK documentation), dated by the body:
    /// handled, `204`.
    Hex,
    /// The server's retry of an event already delivered: same record, new
    /// body timestamp, re-signed: `200 {"duplicate":true}`.
    Retry,
    /// An earlier valid request sent again: byte for byte, or (every
    /// other one) with the bare hex tag every Fluxbase delivery also
    /// carries copied into `X-Fluxbase-Signature`: `409 replayed`.
    Replay,
    /// Signed with another secret: `401 signature_mismatch`.
    Mismatch,
    /// No signature header: `401 missing_signature`.
    Missing,
    /// A signature header that does not parse: `401 malformed_signature`.
    Malformed,
    /// Signed ten minutes ago: `401 timestamp_too_old`.
    Stale,
    /// Signed in bare hex over a body dated ten minutes ago:
    /// `401 timestamp_too_old` (the body dates a signature without `t=`).
    StaleHex,
    /// One byte over the limit, `Content-Length` announced: `413`.
    Oversized,
    /// One byte over the limit, chunked: `413` once the limit is passed.
    OversizedChunked,
    /// Validly signed, not a payload: `400 invalid_payload`.
    BadPayload,
}

impl Class {
    const ALL: [Self; 12] = [
        Self::Valid,
        Self::Hex,
        Self::Retry,
        Self::Replay,
        Self::Mismatch,
        Self::Missing,
        Self::Malformed,
        Self::Stale,
        Self::StaleHex,
        Self::Oversized,
        Self::OversizedChunked,
        Self::BadPayload,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Hex => "hex",
            Self::Retry => "retry",
            Self::Replay => "replay",
            Self::Mismatch => "mismatch",
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::StaleHex => "stale_hex",
            Self::Oversized => "oversized",
            Self::OversizedChunked => "oversized_chunked",
            Self::BadPayload => "bad_payload",
        }
    }

    /// Share of the mix, in percent.
    fn weight(self) -> u64 {
        match self {
            Self::Valid => 40,
            Self::Retry => 12,
            Self::Replay => 8,
            Self::Hex | Self::Mismatch | Self::Stale | Self::StaleHex | Self::BadPayload => 5,
            Self::Missing | Self::Malformed | Self::Oversized => 4,
            Self::OversizedChunked => 3,
        }
    }

    /// The answer it must get: status, and the problem code for refusals.
    fn expected(self) -> (StatusCode, Option<&'static str>) {
        match self {
            Self::Valid | Self::Hex => (StatusCode::NO_CONTENT, None),
            Self::Retry => (StatusCode::OK, None),
            Self::Replay => (StatusCode::CONFLICT, Some("replayed")),
            Self::Mismatch => (StatusCode::UNAUTHORIZED, Some("signature_mismatch")),
            Self::Missing => (StatusCode::UNAUTHORIZED, Some("missing_signature")),
            Self::Malformed => (StatusCode::UNAUTHORIZED, Some("malformed_signature")),
            Self::Stale | Self::StaleHex => (StatusCode::UNAUTHORIZED, Some("timestamp_too_old")),
            Self::Oversized | Self::OversizedChunked => {
                (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
            }
            Self::BadPayload => (StatusCode::BAD_REQUEST, Some("invalid_payload")),
        }
    }

    /// Traffic a real Fluxbase server sends (which must log nothing).
    fn is_valid_traffic(self) -> bool {
        matches!(self, Self::Valid | Self::Hex | Self::Retry)
    }

    /// The class of request `n`: the weights, interleaved.
    fn of(n: u64) -> Self {
        let mut slot = (n.wrapping_mul(37)) % 100;
        for class in Self::ALL {
            if slot < class.weight() {
                return class;
            }
            slot -= class.weight();
        }
        Self::Valid
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A valid delivery the server accepted, kept to retry and replay.
#[derive(Clone)]
struct Delivered {
    id: u64,
    signature: Arc<str>,
    body: Bytes,
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    ok: AtomicU64,
    wrong: AtomicU64,
    transport_errors: AtomicU64,
}

struct Ticket {
    class: Class,
    /// For a valid delivery: what to remember once it is accepted.
    delivered: Option<Delivered>,
}

/// The mix.
struct Mix {
    addr: SocketAddr,
    sign: Sign,
    forged: Sign,
    oversized: Bytes,
    next_id: AtomicU64,
    recent: Mutex<VecDeque<Delivered>>,
    counts: [Counts; 12],
    wrong: Mutex<Vec<String>>,
}

impl Mix {
    fn new(addr: SocketAddr, secret: &str, limit: u64) -> anyhow::Result<Self> {
        let over = usize::try_from(limit.saturating_add(1)).context("--limit is too large")?;
        Ok(Self {
            addr,
            sign: Sign::new(secret)?,
            forged: Sign::new(&format!("{secret}-forged"))?,
            oversized: row_body(0, over, OffsetDateTime::now_utc()),
            next_id: AtomicU64::new(1),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            counts: Default::default(),
            wrong: Mutex::new(Vec::new()),
        })
    }

    fn new_event(&self) -> (u64, Bytes) {
        self.event_at(OffsetDateTime::now_utc())
    }

    /// A new event dated `at`.
    fn event_at(&self, at: OffsetDateTime) -> (u64, Bytes) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        (id, row_body(id, BODY, at))
    }

    /// A recent accepted delivery, if there is one yet.
    fn pick_recent(&self, n: u64) -> Option<Delivered> {
        let recent = self.recent.lock().ok()?;
        let len = recent.len() as u64;
        (len > 0).then(|| recent[usize::try_from(n % len).unwrap_or(0)].clone())
    }

    fn post(
        &self,
        class: Class,
        signature: Option<&str>,
        body: ReqBody,
    ) -> anyhow::Result<Request<ReqBody>> {
        let oversized = matches!(class, Class::Oversized | Class::OversizedChunked);
        Post {
            addr: self.addr,
            signature,
            legacy_signature: None,
            body,
            class: Some(class.name()),
            // The server reads a refused oversized body only up to its
            // drain limit and may then close the connection: do not reuse it.
            close: oversized,
        }
        .build()
    }

    fn judge(class: Class, answer: &Answer) -> bool {
        let (status, code) = class.expected();
        if answer.status != status {
            return false;
        }
        let json = || serde_json::from_slice::<serde_json::Value>(&answer.body).ok();
        match (class, code) {
            (Class::Valid | Class::Hex, _) => answer.body.is_empty(),
            (Class::Retry, _) => json().is_some_and(|v| v["duplicate"] == true),
            (_, Some(code)) => json().is_some_and(|v| v["code"] == code),
            (_, None) => true,
        }
    }

    fn note_wrong(&self, class: Class, what: String) {
        if let Ok(mut wrong) = self.wrong.lock()
            && wrong.len() < WRONG_EXAMPLES
        {
            let (status, code) = class.expected();
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            wrong.push(format!(
                "{}: expected {}{code}, got {what}",
                class.name(),
                status.as_u16(),
            ));
        }
    }

    fn count(&self, class: Class) -> ClassCount {
        let c = &self.counts[class.index()];
        let (status, code) = class.expected();
        ClassCount {
            class: class.name(),
            expected_status: status.as_u16(),
            expected_code: code,
            sent: c.sent.load(Ordering::Relaxed),
            ok: c.ok.load(Ordering::Relaxed),
            wrong: c.wrong.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
            warn_lines: 0,
        }
    }
}

impl Script for Mix {
    type Ticket = Ticket;

    fn request(&self, n: u64) -> anyhow::Result<(Ticket, Request<ReqBody>)> {
        let mut class = Class::of(n);
        let recent = match class {
            Class::Retry | Class::Replay => self.pick_recent(n),
            _ => None,
        };
        if recent.is_none() && matches!(class, Class::Retry | Class::Replay) {
            // Nothing delivered yet to send again.
            class = Class::Valid;
        }
        let now = unix_now();
        let mut delivered = None;
        let request = match (class, recent) {
            (Class::Retry, Some(first)) => {
                let body = row_body(first.id, BODY, OffsetDateTime::now_utc());
                let signature = self.sign.header(now, &body);
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
            (Class::Replay, Some(first)) => {
                let signature = if n.is_multiple_of(2) {
                    first.signature.to_string()
                } else {
                    self.sign.signed(Scheme::Hex, now, &first.body)
                };
                self.post(class, Some(&signature), ReqBody::Full(Some(first.body)))?
            }
            (Class::Mismatch, _) => {
                let (_, body) = self.new_event();
                let signature = self.forged.header(now, &body);
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
            (Class::Missing, _) => {
                let (_, body) = self.new_event();
                self.post(class, None, ReqBody::Full(Some(body)))?
            }
            (Class::Malformed, _) => {
                let (_, body) = self.new_event();
                let bad = ["t=notanumber,v1=abc", "v1=abc123", "t=1234567890"];
                let signature = bad[usize::try_from(n % 3).unwrap_or(0)];
                self.post(class, Some(signature), ReqBody::Full(Some(body)))?
            }
            (Class::Stale, _) => {
                let (_, body) = self.new_event();
                let signature = self.sign.header(now - 600, &body);
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
            (Class::StaleHex, _) => {
                let ten_minutes_ago = OffsetDateTime::now_utc() - time::Duration::minutes(10);
                let (_, body) = self.event_at(ten_minutes_ago);
                let signature = self.sign.signed(Scheme::Hex, now, &body);
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
            (Class::Oversized, _) => {
                let signature = self.sign.header(now, &self.oversized);
                self.post(
                    class,
                    Some(&signature),
                    ReqBody::Full(Some(self.oversized.clone())),
                )?
            }
            (Class::OversizedChunked, _) => {
                let signature = self.sign.header(now, &self.oversized);
                let chunks = self
                    .oversized
                    .chunks(16 * 1024)
                    .map(|c| self.oversized.slice_ref(c))
                    .collect();
                self.post(class, Some(&signature), ReqBody::Chunks(chunks))?
            }
            (Class::BadPayload, _) => {
                let body = Bytes::from(format!(
                    r#"{{"event":"INSERT","table":"orders","record":{{"id":{n}}}"#
                ));
                let signature = self.sign.header(now, &body);
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
            (Class::Valid | Class::Hex | Class::Retry | Class::Replay, _) => {
                let scheme = if class == Class::Hex {
                    Scheme::Hex
                } else {
                    class = Class::Valid;
                    Scheme::Timestamped
                };
                let (id, body) = self.new_event();
                let signature: Arc<str> = self.sign.signed(scheme, now, &body).into();
                delivered = Some(Delivered {
                    id,
                    signature: signature.clone(),
                    body: body.clone(),
                });
                self.post(class, Some(&signature), ReqBody::Full(Some(body)))?
            }
        };
        self.counts[class.index()]
            .sent
            .fetch_add(1, Ordering::Relaxed);
        Ok((Ticket { class, delivered }, request))
    }

    fn answer(&self, ticket: Ticket, answer: Result<&Answer, &anyhow::Error>) {
        let counts = &self.counts[ticket.class.index()];
        match answer {
            Ok(a) if Self::judge(ticket.class, a) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                if let (Some(d), Ok(mut recent)) = (ticket.delivered, self.recent.lock()) {
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(d);
                }
            }
            Ok(a) => {
                counts.wrong.fetch_add(1, Ordering::Relaxed);
                let body: String = String::from_utf8_lossy(&a.body).chars().take(200).collect();
                self.note_wrong(ticket.class, format!("{} {body}", a.status.as_u16()));
            }
            Err(e) => {
                counts.transport_errors.fetch_add(1, Ordering::Relaxed);
                self.note_wrong(ticket.class, format!("no answer: {e:#}"));
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct ClassCount {
    class: &'static str,
    expected_status: u16,
    expected_code: Option<&'static str>,
    sent: u64,
    ok: u64,
    wrong: u64,
    transport_errors: u64,
    /// WARN/ERROR lines the server logged for requests of this class.
    warn_lines: u64,
}

#[derive(Debug, Serialize)]
struct Sample {
    seconds: f64,
    rss_kib: u64,
    redis_rss_kib: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Rss {
    /// Before the first request.
    start_kib: u64,
    /// The first sample at or after the warm-up.
    after_warmup_kib: Option<u64>,
    /// The last sample under load.
    end_kib: u64,
    /// The largest sample from the warm-up on.
    max_after_warmup_kib: Option<u64>,
    /// `max_after_warmup - after_warmup`.
    growth_after_warmup_kib: Option<i64>,
    /// Whether that growth is within `flat_mib` MiB + 5 %; `None` when the
    /// run ended before the warm-up did.
    flat: Option<bool>,
    /// Peak RSS (`VmHWM`) over the whole run.
    peak_kib: u64,
    /// Once the load ended.
    after_load_kib: u64,
    samples: Vec<Sample>,
}

#[derive(Debug, Serialize)]
struct ServerCheck {
    stats: Stats,
    expected_accepted: u64,
    expected_duplicates: u64,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct LogCheck {
    lines: u64,
    warn_or_error_from_valid_traffic: u64,
    warn_or_error_unattributed: u64,
    error_lines: u64,
    refusal_lines: u64,
    refused_requests: u64,
    examples: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    context: RunContext,
    store: &'static str,
    duplicates: &'static str,
    duration_seconds: f64,
    rate: f64,
    concurrency: usize,
    limit_bytes: u64,
    seconds: f64,
    requests: u64,
    classes: Vec<ClassCount>,
    wrong_answers: u64,
    transport_errors: u64,
    wrong_examples: Vec<String>,
    latency_p50_us: u64,
    latency_p99_us: u64,
    latency_max_us: u64,
    server: ServerCheck,
    log: LogCheck,
    rss: Rss,
    passed: bool,
    failures: Vec<String>,
}

pub(crate) fn run(args: SoakArgs) -> anyhow::Result<ExitCode> {
    for (name, v) in [
        ("--duration", args.duration),
        ("--sample-every", args.sample_every),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            bail!("{name} must be a positive number of seconds");
        }
    }
    let finite = args.rate.is_finite() && args.warmup.is_finite();
    if !finite || args.rate < 0.0 || args.warmup < 0.0 {
        bail!("--rate and --warmup must not be negative");
    }
    if args.concurrency == 0 || args.requests == 0 || args.limit <= BODY as u64 {
        bail!("--concurrency and --requests must be at least 1, --limit over {BODY}");
    }
    if let Some(url) = &args.redis_url {
        ensure_loopback_url(url)?;
    }
    if args.duplicates == DuplicatesArg::Off {
        bail!(
            "--duplicates off: the soak checks that every retry is flagged; use mark or acknowledge"
        );
    }
    client::runtime()?.block_on(soak(args))
}

async fn soak(args: SoakArgs) -> anyhow::Result<ExitCode> {
    let mut context = RunContext::start(args.placement.server_cpus.as_deref());
    let secret = client_secret()?;
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(std::process::id());
    let mut redis = None;
    let mut serve_args: Vec<String> = vec![
        "--mode".into(),
        "verified".into(),
        "--limit".into(),
        args.limit.to_string(),
        "--duplicates".into(),
        args.duplicates.as_str().into(),
        "--store-capacity".into(),
        args.store_capacity.to_string(),
        "--tolerance".into(),
        args.tolerance.to_string(),
        "--tag-requests".into(),
        "--dedupe".into(),
        args.store.as_str().into(),
    ];
    if args.store == Store::Redis {
        let url = match &args.redis_url {
            Some(url) => url.clone(),
            None => {
                let server = RedisServer::try_start().map_err(|e| {
                    anyhow!("{e}: install it (apt-get install redis-server) or pass --redis-url")
                })?;
                let url = server.url();
                redis = Some(server);
                url
            }
        };
        serve_args.extend([
            "--redis-url".into(),
            url,
            "--redis-prefix".into(),
            format!("fluxhook-load:{run_id:x}:"),
        ]);
    }
    let server = Server::spawn(&ServeCommand {
        args: serve_args,
        cpus: args.placement.server_cpus.clone(),
        // Each WARN line is traced to its request through the `load` span
        // (INFO), whatever the filter says; the layer logs inside it even
        // when its own DEBUG span is off.
        log: format!(
            "{},fluxhook_load=info,fluxbase_webhooks=info",
            args.placement.server_log
        ),
        secret: args.server_secret.clone().unwrap_or_else(|| secret.clone()),
    })?;
    let mix = Arc::new(Mix::new(server.addr, &secret, args.limit)?);

    // RSS sampler: the server (and our own Redis) every few seconds.
    let server_pid = server.pid();
    let redis_pid = redis.as_ref().and_then(RedisServer::pid);
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let every = Duration::from_secs_f64(args.sample_every);
    let sampler = tokio::spawn(async move {
        let started = Instant::now();
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Ok(mem) = Mem::of(server_pid) {
                        samples.push(Sample {
                            seconds: started.elapsed().as_secs_f64(),
                            rss_kib: mem.rss_kib,
                            redis_rss_kib: redis_pid.and_then(|p| Mem::of(p).ok()).map(|m| m.rss_kib),
                        });
                    }
                }
                _ = &mut stop_rx => break,
            }
        }
        samples
    });

    let limits = Limits {
        concurrency: args.concurrency,
        requests: args.requests,
        duration: Duration::from_secs_f64(args.duration),
        rate: (args.rate > 0.0).then_some(args.rate),
    };
    let run = client::drive(server.addr, mix.clone(), limits).await;
    let _ = stop_tx.send(());
    let samples = sampler.await.context("the RSS sampler failed")?;
    let run = run?;

    // Let the last log lines out, then read what the handler saw.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats_answer = client::get(server.addr, "/stats").await?;
    let stats: Stats = serde_json::from_slice(&stats_answer.body)
        .with_context(|| format!("unexpected /stats answer: {}", stats_answer.status))?;
    let mem = server.mem()?;
    context.finish();
    let logs = server.stop();
    drop(redis);

    let report = build_report(&args, context, &mix, &run, stats, &logs, samples, mem);
    report::emit(args.placement.json, &report, text)?;
    Ok(report::exit_code(report.passed))
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    args: &SoakArgs,
    context: RunContext,
    mix: &Mix,
    run: &client::RunStats,
    stats: Stats,
    logs: &LogTally,
    samples: Vec<Sample>,
    mem: Mem,
) -> Report {
    let mut classes: Vec<ClassCount> = Class::ALL.iter().map(|c| mix.count(*c)).collect();
    for c in &mut classes {
        c.warn_lines = logs.warnings(c.class);
    }
    let class = |k: Class| &classes[k.index()];
    let wrong_answers: u64 = classes.iter().map(|c| c.wrong).sum();
    let transport_errors: u64 = classes.iter().map(|c| c.transport_errors).sum();

    let expected_duplicates = match args.duplicates {
        DuplicatesArg::Mark => class(Class::Retry).ok,
        // Refused in `run`.
        DuplicatesArg::Acknowledge | DuplicatesArg::Off => 0,
    };
    let expected_accepted = class(Class::Valid).ok + class(Class::Hex).ok;
    let server = ServerCheck {
        expected_accepted,
        expected_duplicates,
        ok: stats.accepted == expected_accepted && stats.duplicates == expected_duplicates,
        stats,
    };

    let from_valid: u64 = Class::ALL
        .iter()
        .filter(|c| c.is_valid_traffic())
        .map(|c| logs.warnings(c.name()))
        .sum();
    let refused: Vec<Class> = Class::ALL
        .into_iter()
        .filter(|c| !c.is_valid_traffic())
        .collect();
    let mut examples: Vec<String> = Class::ALL
        .iter()
        .filter(|c| c.is_valid_traffic())
        .map(|c| c.name())
        .chain(["none", "unparsed"])
        .filter_map(|k| logs.examples.get(k))
        .flatten()
        .cloned()
        .collect();
    examples.truncate(5);
    let log = LogCheck {
        lines: logs.lines,
        warn_or_error_from_valid_traffic: from_valid,
        warn_or_error_unattributed: logs.warnings("none") + logs.unparsed,
        error_lines: logs.error.values().sum(),
        refusal_lines: refused.iter().map(|c| logs.warnings(c.name())).sum(),
        refused_requests: refused.iter().map(|c| class(*c).ok + class(*c).wrong).sum(),
        examples,
    };

    let rss = rss_summary(args, samples, mem);

    let mut failures = Vec::new();
    if wrong_answers > 0 {
        failures.push(format!("{wrong_answers} wrong answers"));
    }
    if transport_errors > 0 {
        failures.push(format!("{transport_errors} requests without an answer"));
    }
    if !server.ok {
        failures.push(format!(
            "the handler saw {} new and {} duplicate deliveries, expected {} and {}",
            server.stats.accepted,
            server.stats.duplicates,
            server.expected_accepted,
            server.expected_duplicates
        ));
    }
    if log.warn_or_error_from_valid_traffic > 0 {
        failures.push(format!(
            "{} WARN/ERROR lines from valid traffic",
            log.warn_or_error_from_valid_traffic
        ));
    }
    if log.warn_or_error_unattributed > 0 {
        failures.push(format!(
            "{} WARN/ERROR or unparsable log lines from no request",
            log.warn_or_error_unattributed
        ));
    }
    if log.error_lines > 0 {
        failures.push(format!("{} ERROR lines", log.error_lines));
    }
    if rss.flat == Some(false) {
        failures.push("RSS grew after warm-up".to_owned());
    }
    let latency = &run.latency;
    Report {
        context,
        store: args.store.as_str(),
        duplicates: args.duplicates.as_str(),
        duration_seconds: args.duration,
        rate: args.rate,
        concurrency: args.concurrency,
        limit_bytes: args.limit,
        seconds: run.elapsed.as_secs_f64(),
        requests: classes.iter().map(|c| c.sent).sum(),
        wrong_answers,
        transport_errors,
        wrong_examples: mix.wrong.lock().map(|w| w.clone()).unwrap_or_default(),
        latency_p50_us: latency.value_at_quantile(0.5),
        latency_p99_us: latency.value_at_quantile(0.99),
        latency_max_us: latency.max(),
        classes,
        server,
        log,
        rss,
        passed: failures.is_empty(),
        failures,
    }
}

fn rss_summary(args: &SoakArgs, samples: Vec<Sample>, mem: Mem) -> Rss {
    let start_kib = samples.first().map_or(mem.rss_kib, |s| s.rss_kib);
    let end_kib = samples.last().map_or(mem.rss_kib, |s| s.rss_kib);
    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.seconds >= args.warmup)
        .collect();
    // Judged only with a sample after the warm-up and some time beyond it.
    let judged = warm.len() >= 2;
    let after_warmup_kib = warm.first().map(|s| s.rss_kib);
    let max_after_warmup_kib = warm.iter().map(|s| s.rss_kib).max();
    let growth = match (after_warmup_kib, max_after_warmup_kib) {
        (Some(a), Some(m)) => Some(report::delta(m, a)),
        _ => None,
    };
    let flat = match (judged, growth, after_warmup_kib) {
        (true, Some(g), Some(a)) => {
            let allowed = args.flat_mib * 1024 + a / 20;
            Some(g <= i64::try_from(allowed).unwrap_or(i64::MAX))
        }
        _ => None,
    };
    Rss {
        start_kib,
        after_warmup_kib,
        end_kib,
        max_after_warmup_kib,
        growth_after_warmup_kib: growth,
        flat,
        peak_kib: mem.peak_kib,
        after_load_kib: mem.rss_kib,
        samples,
    }
}

fn text(r: &Report) -> String {
    let mut rows = vec![vec![
        "class".to_owned(),
        "expected".to_owned(),
        "sent".to_owned(),
        "right".to_owned(),
        "wrong".to_owned(),
        "no answer".to_owned(),
        "WARN lines".to_owned(),
    ]];
    for c in &r.classes {
        rows.push(vec![
            c.class.to_owned(),
            format!("{} {}", c.expected_status, c.expected_code.unwrap_or("")),
            c.sent.to_string(),
            c.ok.to_string(),
            c.wrong.to_string(),
            c.transport_errors.to_string(),
            c.warn_lines.to_string(),
        ]);
    }
    rows.push(vec![
        "total".to_owned(),
        String::new(),
        r.requests.to_string(),
        r.classes.iter().map(|c| c.ok).sum::<u64>().to_string(),
        r.wrong_answers.to_string(),
        r.transport_errors.to_string(),
        r.classes
            .iter()
            .map(|c| c.warn_lines)
            .sum::<u64>()
            .to_string(),
    ]);
    let rss = &r.rss;
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), report::mib);
    let samples: Vec<String> = rss
        .samples
        .iter()
        .map(|s| format!("{:.0}s {}", s.seconds, report::mib(s.rss_kib)))
        .collect();
    let redis: Vec<String> = rss
        .samples
        .iter()
        .filter_map(|s| {
            s.redis_rss_kib
                .map(|k| format!("{:.0}s {}", s.seconds, report::mib(k)))
        })
        .collect();
    let mut out = format!(
        "soak: {:.0} s at most, {} req/s, {} connections, store {} (duplicates: {}), limit {} B\n{}\n\
         ran {:.1} s, {} requests; latency p50 {}, p99 {}, max {}\n\n{}\n",
        r.duration_seconds,
        if r.rate > 0.0 {
            format!("{:.0}", r.rate)
        } else {
            "unpaced".to_owned()
        },
        r.concurrency,
        r.store,
        r.duplicates,
        r.limit_bytes,
        r.context.line(),
        r.seconds,
        r.requests,
        report::ms(r.latency_p50_us),
        report::ms(r.latency_p99_us),
        report::ms(r.latency_max_us),
        report::table(&rows),
    );
    out.push_str(&format!(
        "handler: {} new (expected {}), {} duplicate (expected {})\n\
         server log: {} lines; WARN/ERROR from valid traffic {}, from no request {}, ERROR {}; \
         refusal lines {} for {} refused requests\n\
         server RSS: start {}, after warm-up {}, end {}, max after warm-up {}, growth after warm-up {} ({}); \
         peak {}, after the load {}\n\
         RSS samples: {}\n",
        r.server.stats.accepted,
        r.server.expected_accepted,
        r.server.stats.duplicates,
        r.server.expected_duplicates,
        r.log.lines,
        r.log.warn_or_error_from_valid_traffic,
        r.log.warn_or_error_unattributed,
        r.log.error_lines,
        r.log.refusal_lines,
        r.log.refused_requests,
        report::mib(rss.start_kib),
        opt(rss.after_warmup_kib),
        report::mib(rss.end_kib),
        opt(rss.max_after_warmup_kib),
        rss.growth_after_warmup_kib.map_or("-".to_owned(), report::mib_delta),
        match rss.flat {
            Some(true) => "flat",
            Some(false) => "GREW",
            None => "run shorter than the warm-up: not judged",
        },
        report::mib(rss.peak_kib),
        report::mib(rss.after_load_kib),
        samples.join(", "),
    ));
    if !redis.is_empty() {
        out.push_str(&format!("redis-server RSS: {}\n", redis.join(", ")));
    }
    for w in &r.wrong_examples {
        out.push_str(&format!("wrong: {w}\n"));
    }
    for e in &r.log.examples {
        out.push_str(&format!("log: {e}\n"));
    }
    out.push_str(&report::verdict(&r.failures));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_follows_the_weights() {
        assert_eq!(Class::ALL.iter().map(|c| c.weight()).sum::<u64>(), 100);
        let mut seen = [0u64; 12];
        for n in 0..1000 {
            seen[Class::of(n).index()] += 1;
        }
        for c in Class::ALL {
            assert_eq!(seen[c.index()], c.weight() * 10, "{}", c.name());
        }
        // Interleaved: the first 20 requests already hold several classes.
        let first: std::collections::HashSet<_> = (0..20).map(|n| Class::of(n).index()).collect();
        assert!(first.len() >= 5);
    }

    #[test]
    fn answers_are_judged_by_status_and_code() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
        };
        assert!(Mix::judge(Class::Valid, &answer(204, "")));
        assert!(!Mix::judge(
            Class::Valid,
            &answer(200, r#"{"duplicate":true}"#)
        ));
        assert!(Mix::judge(
            Class::Retry,
            &answer(200, r#"{"duplicate":true}"#)
        ));
        assert!(!Mix::judge(Class::Retry, &answer(204, "")));
        let problem = r#"{"type":"about:blank","status":401,"code":"signature_mismatch"}"#;
        assert!(Mix::judge(Class::Mismatch, &answer(401, problem)));
        assert!(!Mix::judge(Class::Stale, &answer(401, problem)));
        assert!(!Mix::judge(Class::Mismatch, &answer(400, problem)));
        assert!(!Mix::judge(Class::Replay, &answer(409, "not json")));
    }
}
