//! `handoff-soak`: the durable handoff under crashes, end to end, with the
//! real `fluxhook` binary.
//!
//! - A `redis-server` on loopback (through the workspace's launcher), with
//!   or without its append-only file;
//! - `fluxhook listen --forward redis://…/STREAM`: the receiver, appending
//!   each accepted delivery to the stream and answering 202 only once it is
//!   there (503 while Redis is down);
//! - a few `fluxhook consume --exec CMD` processes on one consumer group;
//!   the command reads the body and appends one line per run to a log
//!   (entry id, attempt, duplicate flag, event key, body length);
//! - a sender that delivers `events` events as a Fluxbase server does: both
//!   signature headers, the body dated at each attempt and re-signed, an
//!   answer other than 2xx (or none) retried after a delay until it is
//!   acknowledged; a share of the events is delivered once more after its
//!   202, as Fluxbase does when it did not see the answer.
//!
//! While the sender runs, a consumer is killed (SIGKILL, by its pid) at
//! random intervals and another started, and Redis is killed and restarted
//! on the same port (and data directory) `redis_restarts` times. Then the
//! consumers are given time to finish, and the run is judged: every
//! delivery acknowledged with 202 must have reached a command that
//! succeeded (none lost), every re-delivery must carry the duplicate flag
//! (in the answer and in the consumer's environment), nothing may be left
//! in the dead letters.
//!
//! With Redis's append-only file off, a restart comes back empty: what was
//! appended and not yet consumed is gone, and the run says how much.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use fluxbase_webhooks::Scheme;
use fluxbase_webhooks::queue::{DeadLetters, StreamConsumer};
use fluxhook_testkit::{Fsync, Persistence, RedisServer};
use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::{self, Post, ReqBody};
use crate::payload::{Sign, row_body, unix_now};
use crate::process::Scratch;

/// The stream the receiver appends to.
const STREAM: &str = "fluxhook-soak:deliveries";

/// The consumer group every consumer joins.
const GROUP: &str = "soak";

/// How long one HTTP request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the chaos loop looks at its consumers and the progress.
const TICK: Duration = Duration::from_millis(50);

/// The least time between two starts of one consumer slot (a consumer
/// started while Redis is down exits at once).
const RESPAWN_EVERY: Duration = Duration::from_millis(500);

/// The command each consumer runs per event: reads the body, works for
/// `$FLUXHOOK_SOAK_WORK` seconds, appends one line to `$FLUXHOOK_SOAK_LOG`
/// (one short `printf`, so one `write` to a file opened for appending:
/// lines of concurrent commands never mix), and fails unless it read the
/// whole body. A command whose consumer was killed while writing the body
/// reads it cut short (and nobody acknowledges its run).
const HANDLER: &str = r#"IFS= read -r body || true
[ "$FLUXHOOK_SOAK_WORK" = 0 ] || sleep "$FLUXHOOK_SOAK_WORK"
printf '%s %s %s %s %s %s\n' "$FLUXHOOK_ENTRY_ID" "$FLUXHOOK_ATTEMPT" "$FLUXHOOK_DUPLICATE" "${FLUXHOOK_EVENT_KEY:--}" "${#body}" "$FLUXHOOK_BODY_LEN" >> "$FLUXHOOK_SOAK_LOG"
[ "${#body}" = "$FLUXHOOK_BODY_LEN" ]"#;

/// How Redis keeps the stream across its restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// No persistence: a restarted Redis is empty.
    None,
    /// The append-only file, flushed to disk before every answer
    /// (`appendfsync always`).
    Always,
    /// The append-only file, flushed once a second (`appendfsync everysec`).
    EverySecond,
}

impl Durability {
    fn persistence(self, dir: &Path) -> Persistence {
        let fsync = match self {
            Self::None => return Persistence::Off,
            Self::Always => Fsync::Always,
            Self::EverySecond => Fsync::EverySecond,
        };
        Persistence::AppendOnly {
            dir: dir.to_path_buf(),
            fsync,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::None => "none (no RDB, no AOF)",
            Self::Always => "AOF, appendfsync always",
            Self::EverySecond => "AOF, appendfsync everysec",
        }
    }
}

/// What a run does. [`Settings::new`] gives the values of a short run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `fluxhook` binary.
    pub fluxhook: PathBuf,
    /// The secret deliveries are signed with (and `listen` verifies with).
    pub secret: String,
    /// Events to deliver.
    pub events: u64,
    /// Share of the events delivered once more after their 202, in percent.
    pub redeliver_percent: u64,
    /// Size of every body, in bytes.
    pub body_size: usize,
    /// Concurrent senders.
    pub concurrency: usize,
    /// First deliveries per second across all senders (`None`: as fast as
    /// the answers come).
    pub rate: Option<f64>,
    /// How long a sender waits before it delivers again an attempt that was
    /// not acknowledged.
    pub retry_delay: Duration,
    /// `fluxhook consume` processes running at once.
    pub consumers: usize,
    /// How long the command works on each event (so that a consumer is
    /// often killed while it holds one).
    pub work: Duration,
    /// A consumer is killed after a random time in this range, again and
    /// again while the senders run (`None`: never).
    pub kill_every: Option<(Duration, Duration)>,
    /// How often Redis is killed and restarted while the senders run, at
    /// even steps of the progress.
    pub redis_restarts: u32,
    /// How long Redis stays down each time.
    pub redis_down: Duration,
    /// How Redis keeps its data across restarts.
    pub durability: Durability,
    /// The consumers' `--visibility-timeout`.
    pub visibility_timeout: Duration,
    /// The consumers' `--max-attempts`.
    pub max_attempts: u32,
    /// How long the consumers get to finish once every event is
    /// acknowledged.
    pub settle_timeout: Duration,
    /// The longest the senders may take.
    pub send_timeout: Duration,
}

impl Settings {
    /// A short run (a few seconds) with `fluxhook` at that path: 60 events,
    /// two consumers killed every 0.3–0.9 s, one restart of a Redis with an
    /// append-only file flushed before every answer.
    pub fn new(fluxhook: impl Into<PathBuf>, secret: impl Into<String>) -> Self {
        Self {
            fluxhook: fluxhook.into(),
            secret: secret.into(),
            events: 60,
            redeliver_percent: 20,
            body_size: 1024,
            concurrency: 4,
            rate: Some(30.0),
            retry_delay: Duration::from_millis(200),
            consumers: 2,
            work: Duration::from_millis(40),
            kill_every: Some((Duration::from_millis(300), Duration::from_millis(900))),
            redis_restarts: 1,
            redis_down: Duration::from_millis(500),
            durability: Durability::Always,
            visibility_timeout: Duration::from_secs(1),
            max_attempts: 50,
            settle_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(120),
        }
    }
}

/// What the senders saw.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Sending {
    /// Events delivered (each acknowledged at least once).
    pub events: u64,
    /// Events delivered once more after their 202.
    pub redelivered_events: u64,
    /// Deliveries answered 202 (first deliveries and re-deliveries).
    pub acknowledged: u64,
    /// Deliveries never acknowledged before the senders' deadline.
    pub unacknowledged: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Answers by status.
    pub answers: BTreeMap<u16, u64>,
    /// Requests that got no answer (refused connection, timeout).
    pub transport_errors: u64,
    /// The most requests one delivery took to be acknowledged.
    pub max_attempts_per_delivery: u32,
}

/// What the consumers' commands did.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Processing {
    /// Runs of the command that reached its end.
    pub handler_runs: u64,
    /// Acknowledged deliveries (stream entries) that a command ran for with
    /// the whole body.
    pub processed: u64,
    /// Acknowledged deliveries that never did.
    pub lost: u64,
    /// Events none of whose deliveries reached a command.
    pub events_lost: u64,
    /// Entries a command ran for more than once (at-least-once at work).
    pub processed_more_than_once: u64,
    /// Entries processed that no 202 named (an append whose answer was
    /// lost: the sender delivered again).
    pub unacknowledged_entries_processed: u64,
    /// The highest `FLUXHOOK_ATTEMPT` a command saw.
    pub max_attempt_seen: u32,
    /// Command runs that read a body cut short: their consumer was killed
    /// while writing it (the run failed; another consumer handled the
    /// entry again).
    pub truncated_runs: u64,
    /// Command runs told of another body length than the one sent (the
    /// stream changed a body).
    pub body_mismatches: u64,
    /// Entries whose `FLUXHOOK_DUPLICATE` differed from the flag in the 202.
    pub flag_mismatches: u64,
    /// Entries in the dead-letter stream at the end.
    pub dead_letters: u64,
    /// Entries the group still held unacknowledged at the end.
    pub pending: u64,
}

/// The duplicate flag, judged.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Duplicates {
    /// Re-deliveries acknowledged.
    pub redeliveries: u64,
    /// Of those, answered with `"duplicate":true`.
    pub flagged: u64,
    /// Re-deliveries answered `"duplicate":false`.
    pub unflagged: u64,
    /// First deliveries answered `"duplicate":true` although no earlier
    /// attempt of theirs went unanswered.
    pub unexpected: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// How Redis kept its data.
    pub durability: String,
    /// Seconds from the start to the verdict.
    pub wall_seconds: f64,
    /// Seconds the senders took.
    pub send_seconds: f64,
    /// Consumers killed with SIGKILL.
    pub consumer_kills: u64,
    /// Consumers that exited by themselves and were started again (one
    /// started while Redis was down exits at once).
    pub consumer_exits: u64,
    /// Times Redis was killed and restarted.
    pub redis_restarts: u32,
    /// Delivery lines `fluxhook listen --json` printed.
    pub listen_queued_lines: u64,
    /// Refusals `fluxhook listen` printed, by code.
    pub listen_refusals: BTreeMap<String, u64>,
    /// What the senders saw.
    pub sending: Sending,
    /// What the consumers did.
    pub processing: Processing,
    /// The duplicate flag.
    pub duplicates: Duplicates,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
    /// Whether every check passed.
    pub passed: bool,
}

/// One delivery answered 202.
#[derive(Debug, Clone)]
struct Ack {
    event: u64,
    entry: String,
    duplicate: bool,
    redelivery: bool,
    /// An earlier attempt of this event went unanswered (it may have been
    /// queued all the same).
    uncertain: bool,
}

/// What the senders share.
struct Senders {
    addr: SocketAddr,
    sign: Sign,
    settings: Settings,
    next: AtomicU64,
    acknowledged_events: Arc<AtomicU64>,
    acks: Mutex<Vec<Ack>>,
    sending: Mutex<Sending>,
    started: Instant,
}

/// The handoff's 202 answer.
#[derive(Deserialize)]
struct Queued {
    queued: String,
    duplicate: bool,
}

/// Runs the soak and judges it.
///
/// # Errors
///
/// When a process cannot be started (`redis-server`, `fluxhook`), or the
/// run cannot be set up; a run that loses a delivery is a report with
/// `passed: false`, not an error.
pub async fn run(settings: Settings) -> anyhow::Result<Report> {
    if settings.events == 0 || settings.consumers == 0 || settings.concurrency == 0 {
        bail!("events, consumers and concurrency must be at least 1");
    }
    if settings.redeliver_percent > 100 {
        bail!("the re-delivered share is a percentage (0-100)");
    }
    let started = Instant::now();
    let scratch = Scratch::new("handoff-soak")?;
    let redis =
        RedisServer::try_start_with(settings.durability.persistence(&scratch.join("redis")))
            .map_err(|e| anyhow!("{e}: install redis-server (apt-get install redis-server)"))?;
    let redis_addr = redis.addr();
    let stream_url = format!("redis://{redis_addr}/{STREAM}");
    let redis = Arc::new(Mutex::new(redis));

    let listen = Listen::spawn(&settings, &stream_url)?;
    let log = scratch.join("processed.log");
    File::create(&log).context("cannot create the processing log")?;
    let mut consumers =
        Consumers::new(&settings, &stream_url, &log, &scratch.join("consumers.log"));
    consumers.fill()?;

    let acknowledged_events = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = watch::channel(false);
    let chaos = tokio::spawn(chaos(
        consumers,
        Arc::clone(&redis),
        Arc::clone(&acknowledged_events),
        done_rx,
        settings.clone(),
    ));
    let senders = Arc::new(Senders {
        addr: listen.addr,
        sign: Sign::new(&settings.secret)?,
        settings: settings.clone(),
        next: AtomicU64::new(0),
        acknowledged_events,
        acks: Mutex::new(Vec::new()),
        sending: Mutex::new(Sending::default()),
        started: Instant::now(),
    });
    let sent = send_all(Arc::clone(&senders)).await;
    let send_seconds = senders.started.elapsed().as_secs_f64();
    done_tx.send_replace(true);
    let (mut consumers, restarts) = chaos.await.context("the chaos task failed")??;
    sent?;

    let acks = std::mem::take(&mut *lock(&senders.acks));
    let acked: HashMap<&str, &Ack> = acks.iter().map(|a| (a.entry.as_str(), a)).collect();
    let redis_url = lock(&redis).url();
    let runs = settle(
        &log,
        &acked,
        &mut consumers,
        &redis_url,
        settings.settle_timeout,
    )
    .await?;
    let (consumer_kills, consumer_exits) = (consumers.kills, consumers.exits);
    consumers.stop();
    let (queued_lines, refusals) = listen.stop();
    let (dead_letters, pending) = leftovers(&redis_url).await;
    drop(redis);

    let sending = lock(&senders.sending).clone();
    let mut report = judge(
        &settings,
        sending,
        &acks,
        &runs,
        Leftovers {
            dead_letters,
            pending,
        },
    );
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.send_seconds = send_seconds;
    report.consumer_kills = consumer_kills;
    report.consumer_exits = consumer_exits;
    report.redis_restarts = restarts;
    report.listen_queued_lines = queued_lines;
    report.listen_refusals = refusals;
    if report.listen_queued_lines != report.sending.acknowledged {
        report.failures.push(format!(
            "fluxhook listen printed {} queued deliveries, {} were acknowledged",
            report.listen_queued_lines, report.sending.acknowledged
        ));
    }
    if settings.kill_every.is_some() && report.consumer_kills == 0 {
        report
            .failures
            .push("no consumer was killed: the run was too short".to_owned());
    }
    if restarts != settings.redis_restarts {
        report.failures.push(format!(
            "Redis restarted {restarts} times, not {}",
            settings.redis_restarts
        ));
    }
    report.passed = report.failures.is_empty();
    if !report.passed {
        scratch.keep();
    }
    Ok(report)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends every event (and the re-deliveries) from `concurrency` tasks.
async fn send_all(senders: Arc<Senders>) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders.settings.concurrency {
        let senders = Arc::clone(&senders);
        tasks.spawn(async move { sender(&senders).await });
    }
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        let result = done
            .map_err(|e| anyhow!("a sender failed: {e}"))
            .and_then(|r| r);
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether event `n` is delivered once more after its 202.
fn redelivered(n: u64, percent: u64) -> bool {
    n.wrapping_mul(7919) % 100 < percent
}

async fn sender(s: &Senders) -> anyhow::Result<()> {
    let mut conn = None;
    let deadline = s.started + s.settings.send_timeout;
    loop {
        let n = s.next.fetch_add(1, Ordering::Relaxed);
        if n >= s.settings.events {
            return Ok(());
        }
        if let Some(rate) = s.settings.rate.filter(|r| *r > 0.0) {
            tokio::time::sleep_until(s.started + Duration::from_secs_f64(n as f64 / rate)).await;
        }
        let record = n + 1;
        let mut uncertain = false;
        let Some(first) = deliver(s, &mut conn, record, deadline, &mut uncertain).await? else {
            continue;
        };
        let redelivery = redelivered(n, s.settings.redeliver_percent);
        {
            let mut sending = lock(&s.sending);
            sending.events += 1;
            sending.redelivered_events += u64::from(redelivery);
        }
        lock(&s.acks).push(Ack {
            event: record,
            entry: first.queued,
            duplicate: first.duplicate,
            redelivery: false,
            uncertain,
        });
        s.acknowledged_events.fetch_add(1, Ordering::Relaxed);
        if redelivery {
            let mut unused = true;
            if let Some(again) = deliver(s, &mut conn, record, deadline, &mut unused).await? {
                lock(&s.acks).push(Ack {
                    event: record,
                    entry: again.queued,
                    duplicate: again.duplicate,
                    redelivery: true,
                    uncertain: false,
                });
            }
        }
    }
}

/// Delivers event `record` until it is answered 202, each attempt dated
/// and signed when it is sent (both headers, as the server sends them);
/// `None` when the deadline passed first. Sets `uncertain` when an attempt
/// got no answer.
async fn deliver(
    s: &Senders,
    conn: &mut Option<hyper::client::conn::http1::SendRequest<ReqBody>>,
    record: u64,
    deadline: Instant,
    uncertain: &mut bool,
) -> anyhow::Result<Option<Queued>> {
    let mut attempts = 0u32;
    loop {
        if Instant::now() >= deadline {
            lock(&s.sending).unacknowledged += 1;
            return Ok(None);
        }
        attempts += 1;
        let body = row_body(record, s.settings.body_size, OffsetDateTime::now_utc());
        let t = unix_now();
        let signature = s.sign.header(t, &body);
        let legacy = s.sign.signed(Scheme::Hex, t, &body);
        let request = Post {
            addr: s.addr,
            signature: Some(&signature),
            legacy_signature: Some(&legacy),
            body: ReqBody::Full(Some(body)),
            class: None,
            close: false,
        }
        .build()?;
        let answer =
            match tokio::time::timeout(REQUEST_TIMEOUT, client::exchange(s.addr, conn, request))
                .await
            {
                Ok(Ok(answer)) => Some(answer),
                Ok(Err(_)) | Err(_) => None,
            };
        {
            let mut sending = lock(&s.sending);
            sending.requests += 1;
            match &answer {
                Some(a) => *sending.answers.entry(a.status.as_u16()).or_default() += 1,
                None => sending.transport_errors += 1,
            }
        }
        match answer {
            Some(a) if a.status == StatusCode::ACCEPTED => {
                let queued: Queued = serde_json::from_slice(&a.body).with_context(|| {
                    format!("a 202 that is not the handoff's answer: {:?}", a.body)
                })?;
                let mut sending = lock(&s.sending);
                sending.acknowledged += 1;
                sending.max_attempts_per_delivery = sending.max_attempts_per_delivery.max(attempts);
                return Ok(Some(queued));
            }
            Some(a) if a.status.is_success() => {
                bail!("a 2xx other than 202: {} {:?}", a.status, a.body)
            }
            Some(_) => {}
            None => {
                *uncertain = true;
                *conn = None;
            }
        }
        tokio::time::sleep(s.settings.retry_delay).await;
    }
}

/// Kills a consumer now and then and restarts Redis at even steps of the
/// progress, until the senders are done; then hands the consumers back.
async fn chaos(
    mut consumers: Consumers,
    redis: Arc<Mutex<RedisServer>>,
    progress: Arc<AtomicU64>,
    mut done: watch::Receiver<bool>,
    settings: Settings,
) -> anyhow::Result<(Consumers, u32)> {
    let mut restarts = 0u32;
    let next_kill = |from: Instant| {
        settings.kill_every.map(|(min, max)| {
            let max = max.max(min);
            from + rand::rng().random_range(min..=max)
        })
    };
    let mut kill_at = next_kill(Instant::now());
    loop {
        if *done.borrow() {
            return Ok((consumers, restarts));
        }
        let now = Instant::now();
        if kill_at.is_some_and(|at| now >= at) {
            consumers.kill_one();
            kill_at = next_kill(now);
        }
        consumers.fill()?;
        let step = settings.events / (u64::from(settings.redis_restarts) + 1);
        if restarts < settings.redis_restarts
            && progress.load(Ordering::Relaxed) >= step * (u64::from(restarts) + 1)
        {
            let redis = Arc::clone(&redis);
            let down = settings.redis_down;
            tokio::task::spawn_blocking(move || {
                let mut redis = lock(&redis);
                redis.stop();
                std::thread::sleep(down);
                redis.try_restart()
            })
            .await
            .context("the Redis restart task failed")?
            .context("cannot restart redis-server")?;
            restarts += 1;
        }
        let _ = tokio::time::timeout(TICK, done.changed()).await;
    }
}

/// Waits until every acknowledged entry was processed and none is pending
/// in the group (or `timeout` passed), with the consumers still running
/// (and restarted if they exit). An entry whose command finished in a
/// consumer killed before its `XACK` stays pending until another consumer
/// reclaims it after the visibility timeout and runs it again.
async fn settle(
    log: &Path,
    acked: &HashMap<&str, &Ack>,
    consumers: &mut Consumers,
    redis_url: &str,
    timeout: Duration,
) -> anyhow::Result<Runs> {
    let deadline = Instant::now() + timeout;
    loop {
        consumers.fill()?;
        let runs = Runs::read(log)?;
        let processed = acked
            .keys()
            .all(|entry| runs.by_entry.get(*entry).is_some_and(|r| r.complete));
        let done = processed && leftovers(redis_url).await.1 == Some(0);
        if done || Instant::now() >= deadline {
            return Ok(runs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the commands logged, by entry id.
#[derive(Default)]
struct Runs {
    total: u64,
    by_entry: HashMap<String, EntryRuns>,
    /// `(bytes read, FLUXHOOK_BODY_LEN)` of every run.
    body_lens: Vec<(usize, usize)>,
}

#[derive(Default)]
struct EntryRuns {
    runs: u64,
    /// Whether a run read the whole body.
    complete: bool,
    max_attempt: u32,
    /// Every `FLUXHOOK_DUPLICATE` seen for the entry.
    duplicate: Vec<bool>,
}

impl Runs {
    fn read(log: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(log).context("cannot read the processing log")?;
        let mut runs = Self::default();
        // A line still being written has no newline yet.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for line in complete.lines() {
            runs.add(line)?;
        }
        Ok(runs)
    }

    fn add(&mut self, line: &str) -> anyhow::Result<()> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [entry, attempt, duplicate, _key, read, len] = fields[..] else {
            bail!("unexpected line in the processing log: {line:?}");
        };
        let bad = || anyhow!("unexpected line in the processing log: {line:?}");
        let attempt: u32 = attempt.parse().map_err(|_| bad())?;
        let read: usize = read.parse().map_err(|_| bad())?;
        let len: usize = len.parse().map_err(|_| bad())?;
        self.total += 1;
        self.body_lens.push((read, len));
        let e = self.by_entry.entry(entry.to_owned()).or_default();
        e.runs += 1;
        e.complete |= read == len;
        e.max_attempt = e.max_attempt.max(attempt);
        e.duplicate.push(duplicate == "1");
        Ok(())
    }
}

/// What was left in Redis at the end.
struct Leftovers {
    dead_letters: Option<u64>,
    pending: Option<u64>,
}

async fn leftovers(redis_url: &str) -> (Option<u64>, Option<u64>) {
    let dead = match DeadLetters::builder(redis_url, STREAM).connect().await {
        Ok(d) => d.count().await.ok().map(|n| n as u64),
        Err(_) => None,
    };
    let pending = match StreamConsumer::builder(redis_url, STREAM, GROUP)
        .consumer("soak-probe")
        .connect()
        .await
    {
        Ok(c) => c.pending().await.ok().map(|n| n as u64),
        Err(_) => None,
    };
    (dead, pending)
}

/// The verdict.
fn judge(
    settings: &Settings,
    sending: Sending,
    acks: &[Ack],
    runs: &Runs,
    left: Leftovers,
) -> Report {
    let mut processing = Processing {
        handler_runs: runs.total,
        truncated_runs: runs
            .body_lens
            .iter()
            .filter(|(read, len)| read != len)
            .count() as u64,
        body_mismatches: runs
            .body_lens
            .iter()
            .filter(|(_, len)| *len != settings.body_size)
            .count() as u64,
        dead_letters: left.dead_letters.unwrap_or(0),
        pending: left.pending.unwrap_or(0),
        ..Processing::default()
    };
    let mut duplicates = Duplicates::default();
    let mut events_processed: HashMap<u64, bool> = HashMap::new();
    let acked: HashMap<&str, &Ack> = acks.iter().map(|a| (a.entry.as_str(), a)).collect();
    for ack in acks {
        let processed = runs.by_entry.get(&ack.entry).filter(|r| r.complete);
        *events_processed.entry(ack.event).or_default() |= processed.is_some();
        match processed {
            Some(r) => {
                processing.processed += 1;
                processing.processed_more_than_once += u64::from(r.runs > 1);
                if r.duplicate.iter().any(|d| *d != ack.duplicate) {
                    processing.flag_mismatches += 1;
                }
            }
            None => processing.lost += 1,
        }
        if ack.redelivery {
            duplicates.redeliveries += 1;
            if ack.duplicate {
                duplicates.flagged += 1;
            } else {
                duplicates.unflagged += 1;
            }
        } else if ack.duplicate && !ack.uncertain {
            duplicates.unexpected += 1;
        }
    }
    processing.events_lost = events_processed.values().filter(|p| !**p).count() as u64;
    processing.unacknowledged_entries_processed = runs
        .by_entry
        .keys()
        .filter(|e| !acked.contains_key(e.as_str()))
        .count() as u64;
    processing.max_attempt_seen = runs
        .by_entry
        .values()
        .map(|r| r.max_attempt)
        .max()
        .unwrap_or(0);

    let checks = [
        (
            sending.unacknowledged,
            format!("{} deliveries never acknowledged", sending.unacknowledged),
        ),
        (
            processing.lost,
            format!(
                "{} acknowledged deliveries lost ({} events)",
                processing.lost, processing.events_lost
            ),
        ),
        (
            duplicates.unflagged,
            format!(
                "{} re-deliveries not flagged duplicate",
                duplicates.unflagged
            ),
        ),
        (
            duplicates.unexpected,
            format!(
                "{} first deliveries flagged duplicate",
                duplicates.unexpected
            ),
        ),
        (
            processing.flag_mismatches,
            format!(
                "{} entries whose consumer saw another duplicate flag than the 202",
                processing.flag_mismatches
            ),
        ),
        (
            processing.body_mismatches,
            format!(
                "{} command runs were told of another body length than {}",
                processing.body_mismatches, settings.body_size
            ),
        ),
    ];
    let mut failures: Vec<String> = checks
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(_, why)| why)
        .collect();
    match (left.dead_letters, left.pending) {
        (Some(0), Some(0)) => {}
        (Some(dead), Some(pending)) => failures.push(format!(
            "left in Redis: {dead} dead letters, {pending} pending entries"
        )),
        _ => failures.push("could not read the dead letters and pending entries".to_owned()),
    }
    Report {
        durability: settings.durability.as_str().to_owned(),
        wall_seconds: 0.0,
        send_seconds: 0.0,
        consumer_kills: 0,
        consumer_exits: 0,
        redis_restarts: 0,
        listen_queued_lines: 0,
        listen_refusals: BTreeMap::new(),
        sending,
        processing,
        duplicates,
        passed: failures.is_empty(),
        failures,
    }
}

/// `fluxhook listen --forward`, with threads reading what it prints.
struct Listen {
    child: Child,
    addr: SocketAddr,
    stdout: Option<JoinHandle<u64>>,
    stderr: Option<JoinHandle<BTreeMap<String, u64>>>,
}

impl Listen {
    fn spawn(settings: &Settings, stream_url: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(&settings.fluxhook)
            .args([
                "listen",
                "--addr",
                "127.0.0.1:0",
                "--json",
                "--forward",
                stream_url,
            ])
            .env("FLUXBASE_WEBHOOK_SECRET", &settings.secret)
            .env_remove("FLUXHOOK_QUEUE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", settings.fluxhook.display()))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            bail!("fluxhook listen's output is not piped");
        };
        let mut stderr = BufReader::new(stderr);
        let mut first = String::new();
        stderr
            .read_line(&mut first)
            .context("cannot read fluxhook listen's address")?;
        let url = first
            .trim()
            .strip_prefix("listening on http://")
            .ok_or_else(|| anyhow!("fluxhook listen said {first:?}"))?;
        // The path is listen's default, `/webhooks`, where `Post` sends.
        let addr: SocketAddr = url
            .strip_suffix("/webhooks")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("fluxhook listen said {first:?}"))?;
        let stdout = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter(|l| l.starts_with(r#"{"id":"#))
                .count() as u64
        });
        let stderr = std::thread::spawn(move || {
            let mut refusals = BTreeMap::new();
            for line in stderr.lines().map_while(Result::ok) {
                // `refused <status> <code>: <message>`
                if let Some(code) = line.strip_prefix("refused ").and_then(|r| {
                    r.split(' ')
                        .nth(1)
                        .map(|c| c.trim_end_matches(':').to_owned())
                }) {
                    *refusals.entry(code).or_default() += 1;
                }
            }
            refusals
        });
        Ok(Self {
            child,
            addr,
            stdout: Some(stdout),
            stderr: Some(stderr),
        })
    }

    /// Kills it; what it printed: queued lines, refusals by code.
    fn stop(mut self) -> (u64, BTreeMap<String, u64>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let queued = self.stdout.take().and_then(|h| h.join().ok()).unwrap_or(0);
        let refused = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (queued, refused)
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `fluxhook consume --exec` processes, one per slot.
struct Consumers {
    command: Vec<String>,
    fluxhook: PathBuf,
    work: String,
    log: PathBuf,
    stderr: PathBuf,
    slots: Vec<Slot>,
    kills: u64,
    exits: u64,
}

struct Slot {
    child: Option<Child>,
    started: Option<Instant>,
}

impl Consumers {
    fn new(settings: &Settings, stream_url: &str, log: &Path, stderr: &Path) -> Self {
        let secs = |d: Duration| format!("{:.3}", d.as_secs_f64());
        // The command may take at most half the visibility timeout.
        let exec_timeout = settings.visibility_timeout / 2;
        let command = vec![
            "consume".to_owned(),
            stream_url.to_owned(),
            "--group".to_owned(),
            GROUP.to_owned(),
            "--exec".to_owned(),
            HANDLER.to_owned(),
            "--visibility-timeout".to_owned(),
            secs(settings.visibility_timeout),
            "--exec-timeout".to_owned(),
            secs(exec_timeout),
            "--retry-delay".to_owned(),
            "0.2".to_owned(),
            "--max-attempts".to_owned(),
            settings.max_attempts.to_string(),
        ];
        Self {
            command,
            fluxhook: settings.fluxhook.clone(),
            work: if settings.work.is_zero() {
                "0".to_owned()
            } else {
                format!("{:.3}", settings.work.as_secs_f64())
            },
            log: log.to_path_buf(),
            stderr: stderr.to_path_buf(),
            slots: (0..settings.consumers)
                .map(|_| Slot {
                    child: None,
                    started: None,
                })
                .collect(),
            kills: 0,
            exits: 0,
        }
    }

    /// Starts a consumer in every empty slot (not more often than
    /// [`RESPAWN_EVERY`] per slot), and notes those that exited.
    fn fill(&mut self) -> anyhow::Result<()> {
        for i in 0..self.slots.len() {
            let exited = match &mut self.slots[i].child {
                Some(child) => child.try_wait().ok().flatten().is_some(),
                None => true,
            };
            if exited && self.slots[i].child.take().is_some() {
                self.exits += 1;
            }
            let due = self.slots[i]
                .started
                .is_none_or(|at| at.elapsed() >= RESPAWN_EVERY);
            if self.slots[i].child.is_none() && due {
                let child = self.spawn()?;
                self.slots[i] = Slot {
                    child: Some(child),
                    started: Some(Instant::now()),
                };
            }
        }
        Ok(())
    }

    fn spawn(&self) -> anyhow::Result<Child> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)
            .context("cannot open the consumers' log")?;
        Command::new(&self.fluxhook)
            .args(&self.command)
            .env("FLUXHOOK_SOAK_LOG", &self.log)
            .env("FLUXHOOK_SOAK_WORK", &self.work)
            .env_remove("FLUXHOOK_QUEUE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot start {} consume", self.fluxhook.display()))
    }

    /// SIGKILLs one running consumer, picked at random (by its pid: only
    /// processes this run started).
    fn kill_one(&mut self) {
        let running: Vec<usize> = (0..self.slots.len())
            .filter(|i| self.slots[*i].child.is_some())
            .collect();
        if running.is_empty() {
            return;
        }
        let pick = running[rand::rng().random_range(0..running.len())];
        if let Some(mut child) = self.slots[pick].child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.kills += 1;
        }
    }

    fn stop(&mut self) {
        for slot in &mut self.slots {
            if let Some(mut child) = slot.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Consumers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `fluxhook-load handoff-soak`: the settings from the command line, the
/// report on stdout, exit 1 unless it passed.
pub(crate) fn run_cli(args: crate::cli::HandoffSoakArgs) -> anyhow::Result<std::process::ExitCode> {
    let secs = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s).map_err(|_| anyhow!("--{what} is not a number of seconds"))
    };
    let fluxhook = crate::handoff_compare::fluxhook_binary(args.fluxhook)?;
    let kill_every = match args.kill_every.0 {
        Some((min, max)) => Some((secs(min, "kill-every")?, secs(max, "kill-every")?)),
        None => None,
    };
    let settings = Settings {
        fluxhook,
        secret: crate::cli::client_secret()?,
        events: args.events,
        redeliver_percent: args.redeliver_percent,
        body_size: args.body,
        concurrency: args.concurrency,
        rate: (args.rate > 0.0).then_some(args.rate),
        retry_delay: secs(args.retry_delay, "retry-delay")?,
        consumers: args.consumers,
        work: Duration::from_millis(args.work_ms),
        kill_every,
        redis_restarts: args.redis_restarts,
        redis_down: secs(args.redis_down, "redis-down")?,
        durability: args.durability,
        visibility_timeout: secs(args.visibility_timeout, "visibility-timeout")?,
        max_attempts: args.max_attempts,
        settle_timeout: secs(args.settle, "settle")?,
        send_timeout: secs(args.send_timeout, "send-timeout")?,
    };
    let report = client::runtime()?.block_on(run(settings))?;
    crate::report::emit(args.json, &report, text)?;
    Ok(crate::report::exit_code(report.passed))
}

/// The report as text.
pub fn text(r: &Report) -> String {
    let s = &r.sending;
    let p = &r.processing;
    let d = &r.duplicates;
    let answers: Vec<String> = s.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let refusals: Vec<String> = r
        .listen_refusals
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let mut out = format!(
        "handoff soak: Redis {}; {:.1} s in all, {:.1} s sending\n\
         chaos: {} consumer kills (SIGKILL), {} consumer exits, {} Redis restarts (SIGKILL)\n\
         sent: {} events ({} delivered again after their 202), {} requests, answers {{{}}}, {} without an answer; \
         {} deliveries acknowledged, {} never; at most {} requests for one delivery\n\
         listen: {} queued lines, refusals {{{}}}\n\
         processed: {} of {} acknowledged deliveries, lost {} ({} events); {} command runs, {} entries run more than once, \
         {} unacknowledged entries run; highest attempt {}; {} runs with a body cut short by a killed consumer, \
         {} body length mismatches\n\
         duplicates: {} re-deliveries, {} flagged, {} not; {} first deliveries flagged; {} consumer flag mismatches\n\
         left in Redis: {} dead letters, {} pending\n",
        r.durability,
        r.wall_seconds,
        r.send_seconds,
        r.consumer_kills,
        r.consumer_exits,
        r.redis_restarts,
        s.events,
        s.redelivered_events,
        s.requests,
        answers.join(", "),
        s.transport_errors,
        s.acknowledged,
        s.unacknowledged,
        s.max_attempts_per_delivery,
        r.listen_queued_lines,
        refusals.join(", "),
        p.processed,
        s.acknowledged,
        p.lost,
        p.events_lost,
        p.handler_runs,
        p.processed_more_than_once,
        p.unacknowledged_entries_processed,
        p.max_attempt_seen,
        p.truncated_runs,
        p.body_mismatches,
        d.redeliveries,
        d.flagged,
        d.unflagged,
        d.unexpected,
        p.flag_mismatches,
        p.dead_letters,
        p.pending,
    );
    out.push_str(&crate::report::verdict(&r.failures));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(event: u64, entry: &str, duplicate: bool, redelivery: bool) -> Ack {
        Ack {
            event,
            entry: entry.to_owned(),
            duplicate,
            redelivery,
            uncertain: false,
        }
    }

    fn runs(lines: &[&str]) -> Runs {
        let mut runs = Runs::default();
        for l in lines {
            runs.add(l).unwrap();
        }
        runs
    }

    const CLEAN: Leftovers = Leftovers {
        dead_letters: Some(0),
        pending: Some(0),
    };

    #[test]
    fn a_run_where_everything_arrived_passes() {
        let settings = Settings::new("fluxhook", "s");
        let acks = [ack(1, "1-0", false, false), ack(1, "2-0", true, true)];
        let runs = runs(&[
            "1-0 1 0 k 0 1024", // the consumer was killed before writing the body
            "1-0 2 0 k 1024 1024",
            "2-0 1 1 k 1024 1024",
        ]);
        let r = judge(&settings, Sending::default(), &acks, &runs, CLEAN);
        assert!(r.passed, "{:?}", r.failures);
        assert_eq!(r.processing.processed, 2);
        assert_eq!(r.processing.truncated_runs, 1);
        assert_eq!(r.processing.processed_more_than_once, 1);
        assert_eq!(r.processing.max_attempt_seen, 2);
        assert_eq!((r.duplicates.redeliveries, r.duplicates.flagged), (1, 1));
    }

    #[test]
    fn losses_wrong_flags_and_leftovers_fail_the_run() {
        let settings = Settings::new("fluxhook", "s");
        let acks = [
            ack(1, "1-0", false, false),
            ack(1, "2-0", false, true),  // a re-delivery not flagged
            ack(2, "3-0", true, false),  // a first delivery flagged
            ack(3, "4-0", false, false), // never processed
        ];
        let runs = runs(&[
            "1-0 1 1 k 1024 1024", // the consumer saw another flag
            "2-0 1 0 k 1000 1000", // another body than the one sent
            "3-0 1 1 k 1024 1024",
            "4-0 1 0 k 10 1024",   // cut short, and never run again: lost
            "9-0 1 0 k 1024 1024", // an entry no 202 named
        ]);
        let left = Leftovers {
            dead_letters: Some(1),
            pending: Some(0),
        };
        let r = judge(&settings, Sending::default(), &acks, &runs, left);
        assert!(!r.passed);
        assert_eq!((r.processing.lost, r.processing.events_lost), (1, 1));
        assert_eq!(r.duplicates.unflagged, 1);
        assert_eq!(r.duplicates.unexpected, 1);
        assert_eq!(r.processing.flag_mismatches, 1);
        assert_eq!(r.processing.body_mismatches, 1);
        assert_eq!(r.processing.truncated_runs, 1);
        assert_eq!(r.processing.unacknowledged_entries_processed, 1);
        assert_eq!(r.failures.len(), 6, "{:?}", r.failures);
        // A first delivery flagged after an unanswered attempt is explained.
        let mut uncertain = ack(2, "3-0", true, false);
        uncertain.uncertain = true;
        let r = judge(&settings, Sending::default(), &[uncertain], &runs, CLEAN);
        assert_eq!(r.duplicates.unexpected, 0);
    }

    #[test]
    fn log_lines_are_checked() {
        assert!(Runs::default().add("1-0 1 0 - 1024 1024").is_ok());
        assert!(Runs::default().add("1-0 1 0 1024 1024").is_err());
        assert!(Runs::default().add("1-0 x 0 k 1024 1024").is_err());
    }

    #[test]
    fn the_redelivered_share_follows_the_percentage() {
        let n = (0..1000).filter(|n| redelivered(*n, 20)).count();
        assert_eq!(n, 200);
        assert!(!(0..1000).any(|n| redelivered(n, 0)));
    }
}
