//! `compare`: the same route plain and behind `VerifyLayer`, under the same
//! load, side by side.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, StatusCode};
use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{CompareArgs, RoundsArgs, client_secret};
use crate::client::{self, Answer, Limits, Post, ReqBody, RunStats, Script};
use crate::payload::{Sign, next_id, row_body, unix_now};
use crate::process::{Mem, ServeCommand, Server, cpu_time};
use crate::report::{self, RunContext};

/// Requests per second of the verified route over the plain one: at least this.
pub(crate) const TARGET_RPS_RATIO: f64 = 0.90;
/// p99 latency of the verified route over the plain one: at most this.
pub(crate) const TARGET_P99_RATIO: f64 = 1.30;

/// Makes the body of a delivery: `(record id, size, date)`.
pub(crate) type MakeBody = fn(u64, usize, OffsetDateTime) -> Bytes;

/// Valid deliveries of one size, each a new event (a record id never sent
/// before) dated and signed when it is sent, as the server sends them: the
/// verified server's replay and duplicate checks pass each one. Every
/// answer must be `204` (a verified server that refused them would look
/// fast), or the status set with [`ValidDeliveries::expecting`].
pub(crate) struct ValidDeliveries {
    addr: SocketAddr,
    sign: Sign,
    size: usize,
    make: MakeBody,
    expect: StatusCode,
    wrong: AtomicU64,
    first_wrong: Mutex<Option<String>>,
}

impl ValidDeliveries {
    /// Row events of `size` bytes.
    ///
    /// # Errors
    ///
    /// For an empty secret.
    pub(crate) fn new(addr: SocketAddr, secret: &str, size: usize) -> anyhow::Result<Self> {
        Self::of(addr, secret, size, row_body)
    }

    /// Deliveries whose bodies `make` builds.
    ///
    /// # Errors
    ///
    /// For an empty secret.
    pub(crate) fn of(
        addr: SocketAddr,
        secret: &str,
        size: usize,
        make: MakeBody,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            sign: Sign::new(secret)?,
            size,
            make,
            expect: StatusCode::NO_CONTENT,
            wrong: AtomicU64::new(0),
            first_wrong: Mutex::new(None),
        })
    }

    /// The status every answer must have instead of `204`.
    pub(crate) fn expecting(mut self, status: StatusCode) -> Self {
        self.expect = status;
        self
    }

    /// Answers other than the expected status.
    pub(crate) fn wrong(&self) -> u64 {
        self.wrong.load(Ordering::Relaxed)
    }

    /// The first wrong answer, described.
    pub(crate) fn first_wrong(&self) -> Option<String> {
        self.first_wrong.lock().ok().and_then(|w| w.clone())
    }
}

impl Script for ValidDeliveries {
    type Ticket = ();

    fn request(&self, _n: u64) -> anyhow::Result<((), Request<ReqBody>)> {
        let body = (self.make)(next_id(), self.size, OffsetDateTime::now_utc());
        let signature = self.sign.header(unix_now(), &body);
        let request = Post {
            addr: self.addr,
            signature: Some(&signature),
            legacy_signature: None,
            body: ReqBody::Full(Some(body)),
            class: None,
            close: false,
        }
        .build()?;
        Ok(((), request))
    }

    fn answer(&self, (): (), answer: Result<&Answer, &anyhow::Error>) {
        let wrong = match answer {
            Ok(a) if a.status == self.expect => return,
            Ok(a) => format!("{} {}", a.status, String::from_utf8_lossy(&a.body)),
            Err(e) => format!("{e:#}"),
        };
        self.wrong.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_wrong.lock() {
            first.get_or_insert(wrong);
        }
    }
}

/// One server's figures.
#[derive(Debug, Serialize)]
pub(crate) struct Row {
    /// What the server runs (`plain`, `verified`, `handoff`, ...).
    pub(crate) mode: &'static str,
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) requests_per_second: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) max_us: u64,
    pub(crate) mean_us: f64,
    /// Server CPU time (user + system) per answered request, in µs: what
    /// the server spends, whoever else shares the cores.
    pub(crate) server_cpu_us_per_request: f64,
    /// Answers other than 204, and requests with no answer.
    pub(crate) wrong_answers: u64,
    /// Server RSS after warm-up, before the measured load.
    pub(crate) rss_before_kib: u64,
    /// Server peak RSS (`VmHWM`) during the measured load.
    pub(crate) peak_rss_kib: u64,
    /// Server RSS once the load ended.
    pub(crate) rss_after_kib: u64,
    /// WARN/ERROR lines the server logged.
    pub(crate) server_warnings: u64,
    /// CPU time of the server's Redis per answered request, in µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_us_per_request: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Ratios {
    requests_per_second: f64,
    requests_per_second_target: f64,
    requests_per_second_met: bool,
    p99: f64,
    p99_target: f64,
    p99_met: bool,
    server_cpu_per_request: f64,
    /// The same three for the verified route without its replay store,
    /// over the plain route: what the store costs, apart from the rest.
    without_dedupe: Against,
}

/// One route's figures over the plain route's.
#[derive(Debug, Serialize)]
struct Against {
    requests_per_second: f64,
    p99: f64,
    server_cpu_per_request: f64,
}

impl Against {
    fn new(route: &Row, plain: &Row) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Self {
            requests_per_second: ratio(route.requests_per_second, plain.requests_per_second),
            p99: ratio(route.p99_us as f64, plain.p99_us as f64),
            server_cpu_per_request: ratio(
                route.server_cpu_us_per_request,
                plain.server_cpu_us_per_request,
            ),
        }
    }
}

/// What every side-by-side report holds: where it ran, the load, a row
/// per server.
#[derive(Debug, Serialize)]
pub(crate) struct SideBySide {
    #[serde(flatten)]
    pub(crate) context: RunContext,
    pub(crate) concurrency: usize,
    pub(crate) body_bytes: usize,
    pub(crate) rounds: u32,
    pub(crate) rows: Vec<Row>,
}

impl SideBySide {
    pub(crate) fn new(context: RunContext, load: &RoundsArgs, rows: Vec<Row>) -> Self {
        Self {
            context,
            concurrency: load.concurrency,
            body_bytes: load.body,
            rounds: load.rounds,
            rows,
        }
    }

    /// Whether every row is clean ([`Row::is_clean`]).
    pub(crate) fn is_clean(&self) -> bool {
        self.rows.iter().all(Row::is_clean)
    }

    /// The head line of the text report, and the machine line.
    pub(crate) fn head(&self, what: &str) -> String {
        format!(
            "{what}: {} connections, {}-byte bodies, {} round(s)\n{}",
            self.concurrency,
            self.body_bytes,
            self.rounds,
            self.context.line()
        )
    }
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    side_by_side: SideBySide,
    ratios: Ratios,
    /// `--verified-args`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_args: Option<String>,
}

pub(crate) fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    args.load.check()?;
    client::runtime()?.block_on(compare(args))
}

impl Row {
    /// Every answer right, and nothing logged at WARN or above.
    pub(crate) fn is_clean(&self) -> bool {
        self.wrong_answers == 0 && self.server_warnings == 0
    }
}

/// A server under test, its load and what it measured.
pub(crate) struct Side {
    pub(crate) label: &'static str,
    pub(crate) server: Server,
    script: Arc<ValidDeliveries>,
    stats: RunStats,
    before: Mem,
    cpu: Duration,
    /// The Redis the server appends to, whose CPU time is counted too.
    redis: Option<u32>,
    redis_cpu: Duration,
}

impl Side {
    /// Starts `serve` with `command`, warms it up with `warmup` requests of
    /// `script`, and notes its memory.
    pub(crate) async fn start(
        label: &'static str,
        command: &ServeCommand,
        script: impl FnOnce(SocketAddr) -> anyhow::Result<ValidDeliveries>,
        warmup: u64,
        concurrency: usize,
        redis: Option<u32>,
    ) -> anyhow::Result<Self> {
        let server =
            Server::spawn(command).with_context(|| format!("cannot start the {label} server"))?;
        let script = Arc::new(script(server.addr)?);
        // Warm-up: connections, buffers, allocator; not recorded.
        unrecorded(&server, &script, warmup, concurrency).await?;
        let before = server.mem()?;
        server.reset_peak()?;
        Ok(Self {
            label,
            server,
            script,
            stats: RunStats::empty()?,
            before,
            cpu: Duration::ZERO,
            redis,
            redis_cpu: Duration::ZERO,
        })
    }

    /// Sends `requests` more requests of its script, not recorded (their
    /// answers are still checked).
    pub(crate) async fn send_unrecorded(
        &self,
        requests: u64,
        concurrency: usize,
    ) -> anyhow::Result<()> {
        unrecorded(&self.server, &self.script, requests, concurrency).await
    }

    /// Stops the server; its row.
    pub(crate) fn finish(self) -> anyhow::Result<Row> {
        let mem = self.server.mem()?;
        let logs = self.server.stop();
        if let Some(first) = self.script.first_wrong() {
            eprintln!("{} server, first wrong answer: {first}", self.label);
        }
        let per_request =
            |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.stats.answered.max(1) as f64;
        let l = &self.stats.latency;
        Ok(Row {
            mode: self.label,
            requests: self.stats.answered,
            seconds: self.stats.elapsed.as_secs_f64(),
            requests_per_second: self.stats.per_second(),
            p50_us: l.value_at_quantile(0.50),
            p99_us: l.value_at_quantile(0.99),
            max_us: l.max(),
            mean_us: l.mean(),
            server_cpu_us_per_request: per_request(self.cpu),
            wrong_answers: self.script.wrong(),
            rss_before_kib: self.before.rss_kib,
            peak_rss_kib: mem.peak_kib,
            rss_after_kib: mem.rss_kib,
            server_warnings: logs.total_warnings(),
            redis_cpu_us_per_request: self.redis.map(|_| per_request(self.redis_cpu)),
        })
    }
}

/// Drives every side with `limits`, `rounds` times, in a rotating order so
/// that drift on a shared machine does not favour one.
pub(crate) async fn run_rounds(
    sides: &mut [Side],
    limits: Limits,
    rounds: u32,
) -> anyhow::Result<()> {
    for round in 0..rounds {
        for k in 0..sides.len() {
            let side = &mut sides[(k + round as usize) % sides.len()];
            let cpu_before = side.server.cpu()?;
            let redis_before = side.redis.map(cpu_time).transpose()?;
            let run = client::drive(side.server.addr, side.script.clone(), limits).await?;
            side.cpu += side.server.cpu()?.saturating_sub(cpu_before);
            if let (Some(pid), Some(before)) = (side.redis, redis_before) {
                side.redis_cpu += cpu_time(pid)?.saturating_sub(before);
            }
            side.stats.add(&run)?;
        }
    }
    Ok(())
}

/// Sends `requests` requests of `script` to `server`, not recorded.
async fn unrecorded(
    server: &Server,
    script: &Arc<ValidDeliveries>,
    requests: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
    let limits = Limits {
        concurrency,
        requests,
        duration: Duration::from_secs(30),
        rate: None,
    };
    client::drive(server.addr, Arc::clone(script), limits).await?;
    Ok(())
}

/// The server flags of a receiver with an in-memory store under this load.
/// The store keeps a replay key per delivery for as long as it can verify
/// (the 300 s window and a second): by default 100,000 keys, enough for
/// about 330 deliveries/s, and past that it sheds load (503). Sized here
/// for up to 120,000 deliveries/s: a 2 s window (the harness dates each
/// delivery when it sends it), so a key lives at most 4 s, and 500,000 keys.
pub(crate) const SIZED_STORE: [&str; 4] = ["--tolerance", "2", "--store-capacity", "500000"];

async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let mut context = RunContext::start(args.placement.server_cpus.as_deref());
    let secret = client_secret()?;
    let mut sides = Vec::new();
    let extra: Vec<&str> = args
        .verified_args
        .as_deref()
        .map_or_else(Vec::new, |a| a.split_whitespace().collect());
    let verified: Vec<&str> = ["--mode", "verified"]
        .into_iter()
        .chain(SIZED_STORE)
        .chain(extra.iter().copied())
        .collect();
    let routes: [(&'static str, &[&str]); 3] = [
        ("plain", &["--mode", "plain"]),
        ("verified", &verified),
        (
            "verified, no dedupe",
            &["--mode", "verified", "--dedupe", "off"],
        ),
    ];
    for (label, server_args) in routes {
        let command = ServeCommand {
            args: server_args.iter().map(|&a| a.into()).collect(),
            cpus: args.placement.server_cpus.clone(),
            log: args.placement.server_log.clone(),
            secret: secret.clone(),
        };
        let script = |addr| ValidDeliveries::new(addr, &secret, args.load.body);
        sides.push(
            Side::start(
                label,
                &command,
                script,
                args.load.warmup,
                args.load.concurrency,
                None,
            )
            .await?,
        );
    }
    run_rounds(&mut sides, args.load.limits(), args.load.rounds).await?;
    context.finish();
    let rows = sides
        .into_iter()
        .map(Side::finish)
        .collect::<anyhow::Result<Vec<Row>>>()?;
    let verified = Against::new(&rows[1], &rows[0]);
    let report = Report {
        ratios: Ratios {
            requests_per_second: verified.requests_per_second,
            requests_per_second_target: TARGET_RPS_RATIO,
            requests_per_second_met: verified.requests_per_second >= TARGET_RPS_RATIO,
            p99: verified.p99,
            p99_target: TARGET_P99_RATIO,
            p99_met: verified.p99 <= TARGET_P99_RATIO,
            server_cpu_per_request: verified.server_cpu_per_request,
            without_dedupe: Against::new(&rows[2], &rows[0]),
        },
        side_by_side: SideBySide::new(context, &args.load, rows),
        verified_args: args.verified_args.clone(),
    };
    report::emit(args.placement.json, &report, text)?;
    Ok(report::exit_code(report.side_by_side.is_clean()))
}

fn text(r: &Report) -> String {
    let [p, v, n] = [0, 1, 2].map(|i| &r.side_by_side.rows[i]);
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    let (ratios, without) = (&r.ratios, &r.ratios.without_dedupe);
    // A figure of each route, then the two ratios over the plain route.
    let row = |what: &str, figure: &dyn Fn(&Row) -> String, ratios: [String; 2]| {
        let [verified, no_dedupe] = ratios;
        vec![
            what.to_owned(),
            figure(p),
            figure(v),
            figure(n),
            verified,
            no_dedupe,
        ]
    };
    let none = || [String::new(), String::new()];
    let rows = vec![
        vec![
            String::new(),
            "plain".into(),
            "verified".into(),
            "verified, no dedupe".into(),
            "verified/plain".into(),
            "no dedupe/plain".into(),
        ],
        row("requests", &|r| r.requests.to_string(), none()),
        row(
            "req/s",
            &|r| format!("{:.0}", r.requests_per_second),
            [
                format!(
                    "{:.3} (target >= {:.2}: {})",
                    ratios.requests_per_second,
                    TARGET_RPS_RATIO,
                    verdict(ratios.requests_per_second_met)
                ),
                format!("{:.3}", without.requests_per_second),
            ],
        ),
        row(
            "p50 latency",
            &|r| report::ms(r.p50_us),
            [v, n].map(|r| format!("{:.3}", r.p50_us as f64 / (p.p50_us.max(1)) as f64)),
        ),
        row(
            "p99 latency",
            &|r| report::ms(r.p99_us),
            [
                format!(
                    "{:.3} (target <= {:.2}: {})",
                    ratios.p99,
                    TARGET_P99_RATIO,
                    verdict(ratios.p99_met)
                ),
                format!("{:.3}", without.p99),
            ],
        ),
        row("max latency", &|r| report::ms(r.max_us), none()),
        row(
            "server CPU per request",
            &|r| format!("{:.1} µs", r.server_cpu_us_per_request),
            [
                format!("{:.3}", ratios.server_cpu_per_request),
                format!("{:.3}", without.server_cpu_per_request),
            ],
        ),
        row(
            "server RSS before",
            &|r| report::mib(r.rss_before_kib),
            none(),
        ),
        row("server peak RSS", &|r| report::mib(r.peak_rss_kib), none()),
        row(
            "server RSS after",
            &|r| report::mib(r.rss_after_kib),
            none(),
        ),
        row("wrong answers", &|r| r.wrong_answers.to_string(), none()),
        row(
            "server WARN/ERROR lines",
            &|r| r.server_warnings.to_string(),
            none(),
        ),
    ];
    let variant = r.verified_args.as_deref().map_or_else(String::new, |a| {
        format!("\nverified side also run with: {a}")
    });
    format!(
        "{}{variant}\n\n{}",
        r.side_by_side.head("compare"),
        report::table(&rows)
    )
}
