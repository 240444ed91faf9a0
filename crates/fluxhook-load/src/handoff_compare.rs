//! `handoff-compare`: what the durable handoff moves, next to the
//! in-request receiver, in one run on one machine.
//!
//! Into the stream: the same signed 1 KiB deliveries (each a new event,
//! dated and signed when sent) over HTTP to three `serve` processes in
//! turn: `verified` (`VerifyLayer` and a handler that does nothing,
//! answering 204), `handoff` (`queue::Handoff` appending to a Redis without
//! persistence, answering 202) and `handoff-aof` (the same on a Redis with
//! its append-only file flushed before every answer). Requests per second,
//! latency, and the CPU time of the server and of its Redis per request.
//!
//! While the load runs, a consumer group that keeps up stands in for the
//! consumers: every 20 ms it is moved to the stream's last entry (`XGROUP
//! SETID … $`: all read and acknowledged), so the stream's bound trims what
//! it passed, as it does under real consumers, and the handoff never
//! refuses for a full stream. A Redis command every 20 ms, not counted.
//!
//! Out of a consumer group: then, the stream emptied and that group gone,
//! `--drain` fresh deliveries (not recorded) are appended through each
//! handoff and taken out and acknowledged by consumer groups, one group per way of
//! consuming: one `StreamConsumer` acknowledging each message before the
//! next, four of them side by side in one process, and `fluxhook consume
//! --json` (printing each event; when the binary is there). Messages per
//! second, and the CPU time of the consumers and of Redis per message.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use fluxbase_webhooks::queue::{DEFAULT_MAX_LEN, StreamConsumer};
use fluxhook_testkit::{Fsync, Persistence, RedisServer};
use http::StatusCode;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cli::{HandoffCompareArgs, client_secret};
use crate::client;
use crate::compare::{Row, Side, SideBySide, ValidDeliveries, run_rounds};
use crate::process::{Scratch, ServeCommand, children_cpu_time, cpu_time};
use crate::report::{self, RunContext};

/// The stream the handoff servers append to.
const STREAM: &str = "fluxhook-load:deliveries";

/// How long a drain may take at most.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The group that keeps up while the load runs.
const KEEP_UP_GROUP: &str = "keep-up";

/// How often the group that keeps up is moved to the stream's end.
const KEEP_UP_EVERY: Duration = Duration::from_millis(20);

/// One way of taking messages out of the stream.
#[derive(Debug, Serialize)]
struct Drain {
    /// What consumed.
    consumer: String,
    /// The Redis the stream lives on.
    redis: &'static str,
    /// Messages acknowledged.
    messages: u64,
    seconds: f64,
    messages_per_second: f64,
    /// CPU time of the consuming process(es) per message, in µs.
    consumer_cpu_us_per_message: f64,
    /// CPU time of Redis per message, in µs.
    redis_cpu_us_per_message: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    #[serde(flatten)]
    side_by_side: SideBySide,
    drains: Vec<Drain>,
    /// Why a drain was not run.
    notes: Vec<String>,
}

pub(crate) fn run(args: HandoffCompareArgs) -> anyhow::Result<ExitCode> {
    args.load.check()?;
    if args.drain == 0 {
        bail!("--drain must be at least 1");
    }
    client::runtime()?.block_on(compare(args))
}

/// A Redis the handoff appends to.
struct Queue {
    label: &'static str,
    server: RedisServer,
}

async fn compare(args: HandoffCompareArgs) -> anyhow::Result<ExitCode> {
    let mut context = RunContext::start(args.placement.server_cpus.as_deref());
    let secret = client_secret()?;
    let scratch = Scratch::new("handoff-compare")?;
    let start_redis = |persistence| {
        RedisServer::try_start_with(persistence)
            .map_err(|e| anyhow!("{e}: install it (apt-get install redis-server)"))
    };
    let queues = [
        Queue {
            label: "no persistence",
            server: start_redis(Persistence::Off)?,
        },
        Queue {
            label: "AOF, appendfsync always",
            server: start_redis(Persistence::AppendOnly {
                dir: scratch.join("redis"),
                fsync: Fsync::Always,
            })?,
        },
    ];
    let mut keepers = Vec::new();
    for queue in &queues {
        keepers.push(keep_up(&queue.server).await?);
    }
    let command = |mode: &str, redis: Option<&RedisServer>| {
        let mut serve_args = vec!["--mode".to_owned(), mode.to_owned()];
        serve_args.extend(crate::compare::SIZED_STORE.map(String::from));
        if let Some(redis) = redis {
            serve_args.extend([
                "--redis-url".into(),
                redis.url(),
                "--stream".into(),
                STREAM.into(),
            ]);
        }
        ServeCommand {
            args: serve_args,
            cpus: args.placement.server_cpus.clone(),
            log: args.placement.server_log.clone(),
            secret: secret.clone(),
        }
    };
    let expecting = |status| {
        let secret = secret.clone();
        move |addr| Ok(ValidDeliveries::new(addr, &secret, args.load.body)?.expecting(status))
    };
    let mut sides = vec![
        Side::start(
            "verified",
            &command("verified", None),
            expecting(StatusCode::NO_CONTENT),
            args.load.warmup,
            args.load.concurrency,
            None,
        )
        .await?,
    ];
    for (label, queue) in ["handoff", "handoff-aof"].into_iter().zip(&queues) {
        sides.push(
            Side::start(
                label,
                &command("handoff", Some(&queue.server)),
                expecting(StatusCode::ACCEPTED),
                args.load.warmup,
                args.load.concurrency,
                queue.server.pid(),
            )
            .await?,
        );
    }
    run_rounds(&mut sides, args.load.limits(), args.load.rounds).await?;
    for keeper in keepers {
        if keeper.is_finished() {
            keeper
                .await
                .context("the keep-up task failed")?
                .context("the keep-up group could not be moved")?;
            bail!("the keep-up task stopped early");
        }
        keeper.abort();
    }

    // What the drains take: `--drain` fresh deliveries in an emptied stream
    // (at most the stream's bound, as no group reads them yet).
    let fill = args.drain.min(DEFAULT_MAX_LEN as u64);
    let mut held = Vec::new();
    for (queue, side) in queues.iter().zip(&sides[1..]) {
        empty_stream(&queue.server).await?;
        side.send_unrecorded(fill, args.load.concurrency).await?;
        held.push(stream_len(&queue.server).await?);
    }
    let rows = sides
        .into_iter()
        .map(Side::finish)
        .collect::<anyhow::Result<Vec<Row>>>()?;

    let mut drains = Vec::new();
    let mut notes = Vec::new();
    let (plain, aof) = (&queues[0], &queues[1]);
    drains.push(drain_library(plain, "one", 1, held[0]).await?);
    drains.push(drain_library(plain, "four", 4, held[0]).await?);
    match fluxhook_binary(args.fluxhook.clone()) {
        Ok(fluxhook) => drains.push(drain_cli(plain, &fluxhook)?),
        Err(e) => notes.push(format!("fluxhook consume not measured: {e:#}")),
    }
    drains.push(drain_library(aof, "four", 4, held[1]).await?);
    context.finish();
    drop(queues);

    let report = Report {
        side_by_side: SideBySide::new(context, &args.load, rows),
        drains,
        notes,
    };
    report::emit(args.placement.json, &report, text)?;
    Ok(report::exit_code(report.side_by_side.is_clean()))
}

/// A connection to `server`, for the harness's own commands.
async fn redis_conn(server: &RedisServer) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    redis::Client::open(server.url())?
        .get_multiplexed_async_connection()
        .await
        .context("cannot connect to Redis")
}

/// Creates [`KEEP_UP_GROUP`] and moves it to the stream's last entry every
/// [`KEEP_UP_EVERY`] until aborted: consumers that read and acknowledge
/// everything at once, at the cost of one command.
async fn keep_up(server: &RedisServer) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let mut conn = redis_conn(server).await?;
    let () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM)
        .arg(KEEP_UP_GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut conn)
        .await
        .context("cannot create the keep-up group")?;
    Ok(tokio::spawn(async move {
        let mut every = tokio::time::interval(KEEP_UP_EVERY);
        loop {
            every.tick().await;
            let () = redis::cmd("XGROUP")
                .arg("SETID")
                .arg(STREAM)
                .arg(KEEP_UP_GROUP)
                .arg("$")
                .query_async(&mut conn)
                .await?;
        }
    }))
}

/// Removes the keep-up group and every entry, so that the drains take
/// exactly the deliveries appended next.
async fn empty_stream(server: &RedisServer) -> anyhow::Result<()> {
    let mut conn = redis_conn(server).await?;
    let _: usize = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(STREAM)
        .arg(KEEP_UP_GROUP)
        .query_async(&mut conn)
        .await?;
    let _: usize = redis::cmd("XTRIM")
        .arg(STREAM)
        .arg("MAXLEN")
        .arg(0)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

async fn stream_len(server: &RedisServer) -> anyhow::Result<u64> {
    Ok(redis::cmd("XLEN")
        .arg(STREAM)
        .query_async(&mut redis_conn(server).await?)
        .await?)
}

/// `consumers` `StreamConsumer`s of a new group, in this process, taking
/// and acknowledging `messages` messages (each acknowledged before its
/// consumer takes the next).
async fn drain_library(
    queue: &Queue,
    name: &str,
    consumers: usize,
    messages: u64,
) -> anyhow::Result<Drain> {
    let url = queue.server.url();
    let group = format!("drain-{name}");
    let mut connected = Vec::new();
    for i in 0..consumers {
        let consumer = StreamConsumer::builder(url.as_str(), STREAM, group.as_str())
            .consumer(format!("{group}-{i}"))
            .block(Duration::from_millis(100))
            .connect()
            .await
            .context("cannot connect a consumer")?;
        connected.push(consumer);
    }
    let redis_pid = queue
        .server
        .pid()
        .ok_or_else(|| anyhow!("Redis is not running"))?;
    let acked = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_time(std::process::id())?;
    let redis_before = cpu_time(redis_pid)?;
    let started = Instant::now();
    let deadline = started + DRAIN_TIMEOUT;
    let mut tasks = tokio::task::JoinSet::new();
    for mut consumer in connected {
        let acked = Arc::clone(&acked);
        tasks.spawn(async move {
            while acked.load(Ordering::Relaxed) < messages {
                if Instant::now() >= deadline {
                    bail!("the drain took longer than {DRAIN_TIMEOUT:?}");
                }
                if let Some(message) = consumer.try_next().await? {
                    message.ack().await?;
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a consumer task failed")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_time(std::process::id())?.saturating_sub(cpu_before);
    let redis_cpu = cpu_time(redis_pid)?.saturating_sub(redis_before);
    let messages = acked.load(Ordering::Relaxed);
    Ok(drain(
        format!(
            "{consumers} StreamConsumer{} (ack each)",
            if consumers == 1 { "" } else { "s" }
        ),
        queue,
        messages,
        seconds,
        cpu,
        redis_cpu,
    ))
}

/// `fluxhook consume --json --drain` on a new group: every message the
/// stream holds, each printed (to a pipe this process reads) and
/// acknowledged.
fn drain_cli(queue: &Queue, fluxhook: &std::path::Path) -> anyhow::Result<Drain> {
    let url = format!("redis://{}/{STREAM}", queue.server.addr());
    let redis_pid = queue
        .server
        .pid()
        .ok_or_else(|| anyhow!("Redis is not running"))?;
    let children_before = children_cpu_time()?;
    let redis_before = cpu_time(redis_pid)?;
    let started = Instant::now();
    let mut child = Command::new(fluxhook)
        .args(["consume", &url, "--group", "drain-cli", "--json", "--drain"])
        .env_remove("FLUXHOOK_QUEUE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", fluxhook.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("the consumer's output is not piped"))?;
    let messages = BufReader::new(stdout).lines().map_while(Result::ok).count() as u64;
    let status = child.wait().context("cannot wait for fluxhook consume")?;
    let seconds = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("fluxhook consume exited with {status}");
    }
    let cpu = children_cpu_time()?.saturating_sub(children_before);
    let redis_cpu = cpu_time(redis_pid)?.saturating_sub(redis_before);
    Ok(drain(
        "fluxhook consume --json".to_owned(),
        queue,
        messages,
        seconds,
        cpu,
        redis_cpu,
    ))
}

fn drain(
    consumer: String,
    queue: &Queue,
    messages: u64,
    seconds: f64,
    cpu: Duration,
    redis_cpu: Duration,
) -> Drain {
    let per_message = |d: Duration| d.as_secs_f64() * 1e6 / messages.max(1) as f64;
    Drain {
        consumer,
        redis: queue.label,
        messages,
        seconds,
        messages_per_second: if seconds > 0.0 {
            messages as f64 / seconds
        } else {
            0.0
        },
        consumer_cpu_us_per_message: per_message(cpu),
        redis_cpu_us_per_message: per_message(redis_cpu),
    }
}

/// The `fluxhook` binary: the one given, or the one beside this harness.
pub(crate) fn fluxhook_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()
            .context("cannot find the harness binary")?
            .with_file_name(format!("fluxhook{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "no fluxhook binary at {} (build it: cargo build --release -p fluxhook, or pass --fluxhook)",
            path.display()
        );
    }
    Ok(path)
}

fn text(r: &Report) -> String {
    let mut rows = vec![report::cells(&[
        "",
        "req/s",
        "p50",
        "p99",
        "max",
        "server CPU/req",
        "Redis CPU/req",
        "server peak RSS",
        "wrong",
    ])];
    for row in &r.side_by_side.rows {
        rows.push(vec![
            row.mode.to_owned(),
            format!("{:.0}", row.requests_per_second),
            report::ms(row.p50_us),
            report::ms(row.p99_us),
            report::ms(row.max_us),
            format!("{:.1} µs", row.server_cpu_us_per_request),
            row.redis_cpu_us_per_request
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.1} µs")),
            report::mib(row.peak_rss_kib),
            row.wrong_answers.to_string(),
        ]);
    }
    let mut drains = vec![report::cells(&[
        "consumer",
        "Redis",
        "messages",
        "msg/s",
        "consumer CPU/msg",
        "Redis CPU/msg",
    ])];
    for d in &r.drains {
        drains.push(vec![
            d.consumer.clone(),
            d.redis.to_owned(),
            d.messages.to_string(),
            format!("{:.0}", d.messages_per_second),
            format!("{:.1} µs", d.consumer_cpu_us_per_message),
            format!("{:.1} µs", d.redis_cpu_us_per_message),
        ]);
    }
    let mut out = format!(
        "{}\nhandoff = Redis without persistence, handoff-aof = Redis with appendfsync always\n\n\
         into the stream (over HTTP):\n{}\nout of a consumer group:\n{}",
        r.side_by_side.head("handoff-compare"),
        report::table(&rows),
        report::table(&drains),
    );
    for note in &r.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}
