//! `fluxhook consume`: one consumer of a consumer group on the Redis Stream
//! a receiver hands verified deliveries to. Each event is printed, or given
//! to a command; a failing command is retried and then dead-lettered.

use std::io::Write;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use fluxbase_webhooks::Event;
use fluxbase_webhooks::queue::{Failed, Message, QueueError, StreamConsumer};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::queue_failure::{Failure, queue_failed, report};
use super::stream_url::StreamArgs;
use crate::output::{errln, outln};

/// How much of a failing command's stderr is kept for its error.
const STDERR_TAIL: usize = 1024;

/// How long the rest of a finished command's stderr is waited for.
const STDERR_GRACE: Duration = Duration::from_millis(500);

const AFTER_HELP: &str = "\
With --exec, CMD runs through `sh -c` (so pipes and redirections work) once per event, \
in its own process group: its stdin is the delivery's body exactly as Fluxbase sent it and \
as it was verified (the event's JSON); its stdout and stderr are this command's. \
Its environment adds FLUXHOOK_ENTRY_ID, FLUXHOOK_ATTEMPT, FLUXHOOK_MAX_ATTEMPTS, \
FLUXHOOK_DUPLICATE (1 when the receiver had seen the event before, else 0), FLUXHOOK_EVENT \
(the event's name), FLUXHOOK_EVENT_KEY (when the body has one), FLUXHOOK_BODY_LEN (the body's \
length in bytes), FLUXHOOK_STREAM and FLUXHOOK_GROUP. The command keeps running if this \
consumer dies (it is in its own process group), and then reads a body cut short if the \
consumer died while writing it: a command with side effects should check that it read \
FLUXHOOK_BODY_LEN bytes (its event is handled again by another consumer either way). Exit status 0 acknowledges the event; any other status, a signal or the \
--exec-timeout is a failed attempt: the event is retried (by any consumer of the group) after \
--retry-delay, and after --max-attempts it moves to the dead-letter stream with the \
command's status and the last line of its stderr (see `fluxhook dead-letters`). Handlers \
must be idempotent: an event may be handled more than once (at-least-once delivery).

An event held by a consumer that died is taken over by the group after \
--visibility-timeout. Ctrl-C (or SIGTERM) stops reading, lets the running command finish, \
settles its event and exits; a second Ctrl-C kills the command and hands its event back.

Exit status: 0 when stopped by Ctrl-C / SIGTERM, or with --drain once the group holds \
nothing; 1 when Redis cannot be reached at the start or refuses a command (while Redis \
is down during a run, the consumer waits and retries); 2 on a usage error; 141 when \
stdout was closed (the event being printed is handed back to the group).";

/// Options of `fluxhook consume`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// The consumer group; created (at the stream's first entry) if missing.
    /// Every consumer of a group shares its work; each group gets every event.
    #[arg(long)]
    group: String,
    /// This consumer's name in the group (default: HOST-PID-RANDOM, unique per run).
    /// Two running consumers must not share one.
    #[arg(long)]
    consumer: Option<String>,
    /// Run CMD for each event (see below); without it, each event is printed
    /// and acknowledged.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Print one JSON line per event instead of a readable block.
    #[arg(long, conflicts_with = "exec")]
    json: bool,
    /// Attempts per event before it is dead-lettered.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Seconds an event may stay unacknowledged with one consumer before
    /// the group gives it to another.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = seconds)]
    visibility_timeout: Duration,
    /// Seconds a failed event waits before its next attempt.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    retry_delay: Duration,
    /// Seconds CMD may run before it is killed and the attempt fails; below
    /// --visibility-timeout.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    exec_timeout: Duration,
    /// Events read from Redis at a time.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// Exit once the group holds nothing: no new event, none waiting for a
    /// retry or held by another consumer.
    #[arg(long)]
    drain: bool,
}

/// A number of seconds, fractions allowed.
pub(crate) fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a duration"))
}

pub(crate) fn run(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    if args.exec.is_some() && args.exec_timeout >= args.visibility_timeout {
        anyhow::bail!(
            "--exec-timeout must be below --visibility-timeout, or another consumer takes the \
             event over while the command still runs"
        );
    }
    if args.retry_delay > args.visibility_timeout {
        anyhow::bail!("--retry-delay must not exceed --visibility-timeout");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(consume(args))
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let mut builder = StreamConsumer::builder(
        args.stream.url.redis_url(),
        args.stream.url.stream(),
        &args.group,
    )
    .max_attempts(args.max_attempts)
    .visibility_timeout(args.visibility_timeout)
    .retry_delay(args.retry_delay)
    .claim_interval(
        args.retry_delay
            .clamp(Duration::from_millis(50), Duration::from_secs(1)),
    )
    .batch_size(usize::from(args.batch));
    if let Some(name) = &args.consumer {
        builder = builder.consumer(name);
    }
    if let Some(dead) = &args.stream.dead_letter_stream {
        builder = builder.dead_letter_stream(dead);
    }
    let mut consumer = match builder.connect().await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).exit(&args.stream.url),
    };
    errln!(
        "consuming {} as {} in group {}",
        args.stream.url,
        consumer.consumer(),
        consumer.group()
    );

    let (abort_tx, mut abort) = watch::channel(false);
    let stop = consumer.stop_handle();
    let exec = args.exec.is_some();
    tokio::spawn(async move {
        let mut signals = Signals::new();
        signals.next().await;
        if exec {
            errln!("stopping: finishing the event in hand (Ctrl-C again to abandon it)");
        }
        stop.stop();
        signals.next().await;
        abort_tx.send_replace(true);
    });

    let mut outage = false;
    loop {
        match consumer.try_next().await {
            Ok(Some(message)) => {
                outage = false;
                let handled = match &args.exec {
                    Some(command) => run_command(command, message, &args, &mut abort).await,
                    None => print_and_ack(message, args.json).await,
                };
                match handled {
                    Ok(()) => {}
                    Err(Failure::Queue(e)) if e.is_unavailable() => warn_outage(&mut outage, &e),
                    Err(failure) => return failure.exit(&args.stream.url),
                }
            }
            Ok(None) => {
                if consumer.is_stopped() {
                    break;
                }
                if args.drain {
                    match consumer.pending().await {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.is_unavailable() => warn_outage(&mut outage, &e),
                        Err(e) => return Ok(queue_failed(&e, &args.stream.url)),
                    }
                }
            }
            Err(e) if e.is_unavailable() => warn_outage(&mut outage, &e),
            Err(e) => return Ok(queue_failed(&e, &args.stream.url)),
        }
    }
    if let Err(e) = consumer.close().await {
        errln!(
            "warning: {}",
            crate::output::causes(&anyhow::Error::from(e))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports the first error of an outage (the consumer retries by itself).
fn warn_outage(reported: &mut bool, e: &QueueError) {
    if !*reported {
        errln!("warning: {}; retrying until Redis is back", report(e));
        *reported = true;
    }
}

/// The `--json` line for one event.
#[derive(Serialize)]
struct EventLine<'a> {
    id: String,
    attempt: u32,
    duplicate: bool,
    event_key: Option<&'a str>,
    received_at: String,
    scheme: &'static str,
    key: usize,
    key_id: Option<&'a str>,
    timestamp: Option<i64>,
    event: &'a Event,
}

async fn print_and_ack(message: Message, json: bool) -> Result<(), Failure> {
    if let Err(e) = print_event(&message, json) {
        // stdout is gone (a closed pipe, or a failed write): give the
        // event back, stop (`main` ends quietly for a closed pipe).
        message.release().await?;
        return Err(Failure::Output(e.context("cannot print the event")));
    }
    Ok(message.ack().await?)
}

fn print_event(message: &Message, json: bool) -> anyhow::Result<()> {
    let d = message.delivery();
    if json {
        let line = EventLine {
            id: message.id().to_string(),
            attempt: message.attempt(),
            duplicate: message.is_duplicate(),
            event_key: d.event_key(),
            received_at: rfc3339(d.received_at()),
            scheme: d.scheme().as_str(),
            key: d.key_index(),
            key_id: d.key_id(),
            timestamp: d.timestamp(),
            event: message.event(),
        };
        outln!("{}", serde_json::to_string(&line)?)?;
    } else {
        let event = message.event();
        let what = match event.row() {
            Some(row) => format!("{} {}", event.name(), row.qualified_table()),
            None => event.name().to_owned(),
        };
        let key = match d.key_id() {
            Some(id) => format!("key {id}"),
            None => format!("key {}", d.key_index()),
        };
        let dup = if message.is_duplicate() {
            ", duplicate"
        } else {
            ""
        };
        // One write: the block is never cut between its lines.
        outln!(
            "=== {what} (entry {}, attempt {}{dup}) received {}: {} signature, {key}\n{}\n",
            message.id(),
            message.attempt(),
            rfc3339(d.received_at()),
            d.scheme(),
            serde_json::to_string_pretty(event)?
        )?;
    }
    Ok(())
}

/// RFC 3339, UTC.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    fluxbase_webhooks::Timestamp::from(at).to_string()
}

/// How one run of the command ended.
enum Outcome {
    Succeeded,
    Failed(String),
    /// Killed by a second Ctrl-C.
    Abandoned,
}

async fn run_command(
    command: &str,
    message: Message,
    args: &ConsumeArgs,
    abort: &mut watch::Receiver<bool>,
) -> Result<(), Failure> {
    let id = message.id();
    match exec(command, &message, args, abort).await {
        Outcome::Succeeded => Ok(message.ack().await?),
        Outcome::Failed(reason) => {
            match message.fail(&reason).await? {
                Failed::Retrying { attempt, retry_in } => errln!(
                    "entry {id}: attempt {attempt} of {} failed ({reason}); retrying in {:.1}s",
                    args.max_attempts,
                    retry_in.as_secs_f64()
                ),
                Failed::DeadLettered {
                    dead_letter_id,
                    attempts,
                } => errln!(
                    "entry {id}: dead-lettered as {dead_letter_id} after {attempts} attempts: {reason}"
                ),
                Failed::Reclaimed => {
                    errln!("entry {id}: failed ({reason}) after another consumer had taken it over")
                }
                _ => {}
            }
            Ok(())
        }
        Outcome::Abandoned => {
            errln!("entry {id}: command killed; the event is handed back");
            Ok(message.release().await?)
        }
    }
}

async fn exec(
    command: &str,
    message: &Message,
    args: &ConsumeArgs,
    abort: &mut watch::Receiver<bool>,
) -> Outcome {
    let d = message.delivery();
    let mut cmd = shell(command);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env("FLUXHOOK_ENTRY_ID", message.id().to_string())
        .env("FLUXHOOK_ATTEMPT", message.attempt().to_string())
        .env("FLUXHOOK_MAX_ATTEMPTS", message.max_attempts().to_string())
        .env(
            "FLUXHOOK_DUPLICATE",
            if message.is_duplicate() { "1" } else { "0" },
        )
        .env("FLUXHOOK_EVENT", message.event().name())
        .env("FLUXHOOK_BODY_LEN", d.body().len().to_string())
        .env("FLUXHOOK_STREAM", args.stream.url.stream())
        .env("FLUXHOOK_GROUP", &args.group);
    match d.event_key() {
        Some(key) => cmd.env("FLUXHOOK_EVENT_KEY", key),
        None => cmd.env_remove("FLUXHOOK_EVENT_KEY"),
    };
    // Ctrl-C in a terminal reaches this process only: the command finishes.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("cannot run the command: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let body = d.body().clone();
        // Written alongside the wait: a command that does not read its
        // input must not block us (a closed pipe is not an error).
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let tail = Arc::new(Mutex::new(Vec::new()));
    let forwarder = child
        .stderr
        .take()
        .map(|stderr| tokio::spawn(forward_stderr(stderr, Arc::clone(&tail))));
    let status = tokio::select! {
        status = child.wait() => status,
        () = tokio::time::sleep(args.exec_timeout) => {
            kill(&mut child).await;
            return Outcome::Failed(format!(
                "timed out after {:.1}s",
                args.exec_timeout.as_secs_f64()
            ));
        }
        _ = abort.wait_for(|a| *a) => {
            kill(&mut child).await;
            return Outcome::Abandoned;
        }
    };
    if let Some(mut task) = forwarder {
        // Something the command left running may hold its stderr open:
        // wait a little for the rest, then go on with what arrived.
        if tokio::time::timeout(STDERR_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
    let last_line = last_line(&String::from_utf8_lossy(
        &tail.lock().unwrap_or_else(PoisonError::into_inner),
    ));
    match status {
        Ok(status) if status.success() => Outcome::Succeeded,
        Ok(status) => {
            let mut reason = status.to_string();
            if !last_line.is_empty() {
                reason.push_str(": ");
                reason.push_str(&last_line);
            }
            Outcome::Failed(reason)
        }
        Err(e) => Outcome::Failed(format!("cannot wait for the command: {e}")),
    }
}

#[cfg(unix)]
fn shell(command: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    cmd
}

#[cfg(not(unix))]
fn shell(command: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("cmd");
    cmd.arg("/C").arg(command);
    cmd
}

/// Kills the command and, on Unix, the process group it leads (what it
/// started in a pipeline).
async fn kill(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.kill().await;
}

/// Copies the command's stderr to ours, keeping its last bytes in `tail`.
async fn forward_stderr(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let _ = std::io::stderr().write_all(&buf[..n]);
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    let cut = tail.len() - STDERR_TAIL;
                    tail.drain(..cut);
                }
            }
        }
    }
}

fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    fluxbase_webhooks::truncate_at_char_boundary(line, STDERR_TAIL).to_owned()
}

/// Ctrl-C, and SIGTERM on Unix.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        Self {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(term) = &mut self.term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions() {
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
    }

    #[test]
    fn the_last_stderr_line_is_the_reason() {
        assert_eq!(
            last_line("warming up\nboom: no route\n\n"),
            "boom: no route"
        );
        assert_eq!(last_line(""), "");
        assert_eq!(last_line(&"é".repeat(2000)).len(), STDERR_TAIL);
    }
}
