//! `fluxhook dead-letters list|replay|remove`: the events a consumer group
//! gave up on, with their last error and attempt count, and putting them
//! back on the stream.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use fluxbase_webhooks::Event;
use fluxbase_webhooks::queue::{DeadLetter, DeadLetters, EntryId, QueueError};
use serde::Serialize;

use super::consume::rfc3339;
use super::queue_failure::{EXIT_QUEUE, Failure};
use super::stream_url::StreamArgs;
use crate::output::{errln, outln};

const AFTER_HELP: &str = "\
A dead letter whose entry had been removed from the stream (XTRIM or XDEL by hand) before it \
was dead-lettered keeps only its error: `replay` cannot put it back. It is reported on stderr \
(and with --json on stdout), left in the dead-letter stream, and the others are replayed; \
`remove` deletes it. A replay onto a stream full of entries not yet processed (--max-len of \
them, not acknowledged by every consumer group) is refused: the dead letter stays, and \
`replay` stops with status 1 (`--all` first says how many it replayed, and the rest stay).

Exit status: 0 on success; 1 when Redis cannot be reached or refuses a command (a full \
stream included), or when an ID given to replay or remove is not in the dead-letter stream; 2 on a usage error; 3 \
when `replay` left dead letters in place because they hold nothing to replay (the others \
were replayed); 141 when stdout was closed before all was printed (`list URL | head`).";

/// Exit status of a `replay` that left dead letters holding nothing to
/// replay in place.
const EXIT_SKIPPED: u8 = 3;

/// Options of `fluxhook dead-letters`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct DeadLettersArgs {
    #[command(subcommand)]
    command: DeadLettersCommand,
}

#[derive(Debug, Subcommand)]
enum DeadLettersCommand {
    /// List the dead letters, oldest first: their error, attempts and event.
    List(ListArgs),
    /// Put dead letters back on the stream as new entries (their attempts
    /// start again) and remove them from the dead-letter stream; those that
    /// hold nothing to replay are reported and left in place.
    Replay(ReplayArgs),
    /// Delete dead letters without replaying them.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
struct ListArgs {
    #[command(flatten)]
    target: StreamArgs,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Only those after this dead-letter id (to page through).
    #[arg(long, value_name = "ID")]
    after: Option<EntryId>,
    /// One JSON line per dead letter.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
struct ReplayArgs {
    #[command(flatten)]
    target: StreamArgs,
    /// Dead-letter ids (as `list` shows them).
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    ids: Vec<EntryId>,
    /// Every dead letter there is when the command starts.
    #[arg(long)]
    all: bool,
    /// The stream's bound when adding to it; use the receiver's. At the
    /// bound, the entries every consumer group acknowledged are trimmed;
    /// when that leaves no room the replay is refused.
    #[arg(long, default_value_t = fluxbase_webhooks::queue::DEFAULT_MAX_LEN)]
    max_len: usize,
    /// One JSON line per dead letter (`{"id","replayed_as"}`, or
    /// `{"id","code","reason"}` for one left in place); with --all one line
    /// `{"replayed":N,"skipped":[{"id","code","reason"},…],"stopped":null}`
    /// (`"stopped"`: the error's code when it stopped before the last).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
struct RemoveArgs {
    #[command(flatten)]
    target: StreamArgs,
    /// Dead-letter ids (as `list` shows them).
    #[arg(value_name = "ID", required = true)]
    ids: Vec<EntryId>,
}

pub(crate) fn run(args: DeadLettersArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (target, max_len) = match &args.command {
            DeadLettersCommand::List(a) => (&a.target, None),
            DeadLettersCommand::Replay(a) => (&a.target, Some(a.max_len)),
            DeadLettersCommand::Remove(a) => (&a.target, None),
        };
        let dead = match connect(target, max_len).await {
            Ok(dead) => dead,
            Err(e) => return Failure::from(e).exit(&target.url),
        };
        let outcome = match &args.command {
            DeadLettersCommand::List(a) => list(&dead, a).await,
            DeadLettersCommand::Replay(a) => replay(&dead, a).await,
            DeadLettersCommand::Remove(a) => remove(&dead, a).await,
        };
        outcome.or_else(|failure| failure.exit(&target.url))
    })
}

async fn connect(target: &StreamArgs, max_len: Option<usize>) -> Result<DeadLetters, QueueError> {
    let mut builder = DeadLetters::builder(target.url.redis_url(), target.url.stream());
    if let Some(name) = &target.dead_letter_stream {
        builder = builder.dead_letter_stream(name);
    }
    if let Some(max_len) = max_len {
        builder = builder.max_len(max_len);
    }
    builder.connect().await
}

/// The `--json` line of a dead letter.
#[derive(Serialize)]
struct LetterLine<'a> {
    id: String,
    original_id: Option<String>,
    attempts: u32,
    error: &'a str,
    dead_at: Option<String>,
    group: Option<&'a str>,
    consumer: Option<&'a str>,
    /// Its entry was gone before it was dead-lettered: nothing to replay.
    nothing_to_replay: bool,
    /// Why the entry is not a delivery, when it is not one (and not empty).
    not_a_delivery: Option<String>,
    event_key: Option<&'a str>,
    duplicate: Option<bool>,
    received_at: Option<String>,
    /// The typed event, when the body parses.
    event: Option<Event>,
}

impl<'a> LetterLine<'a> {
    fn new(letter: &'a DeadLetter) -> Self {
        let delivery = letter.delivery().ok();
        Self {
            id: letter.id().to_string(),
            original_id: letter.original_id().map(|id| id.to_string()),
            attempts: letter.attempts(),
            error: letter.error(),
            dead_at: letter.dead_at().map(rfc3339),
            group: letter.group(),
            consumer: letter.consumer(),
            nothing_to_replay: letter.holds_nothing(),
            not_a_delivery: letter
                .delivery()
                .err()
                .filter(|_| !letter.holds_nothing())
                .map(ToString::to_string),
            event_key: delivery.and_then(|d| d.event_key()),
            duplicate: delivery.map(|d| d.is_duplicate()),
            received_at: delivery.map(|d| rfc3339(d.received_at())),
            event: delivery.and_then(|d| Event::from_slice(d.body()).ok()),
        }
    }
}

async fn list(dead: &DeadLetters, args: &ListArgs) -> Result<ExitCode, Failure> {
    let letters = dead.list(args.after, args.limit).await?;
    for letter in &letters {
        let line = LetterLine::new(letter);
        if args.json {
            outln!("{}", serde_json::to_string(&line)?)?;
            continue;
        }
        let from = line
            .original_id
            .as_deref()
            .map_or_else(String::new, |id| format!(" (entry {id})"));
        let at = line
            .dead_at
            .as_deref()
            .map_or_else(String::new, |t| format!(" at {t}"));
        let who = match (line.group, line.consumer) {
            (Some(g), Some(c)) => format!(", group {g}, consumer {c}"),
            _ => String::new(),
        };
        outln!(
            "=== {}{from}: dead after {} attempts{at}{who}",
            line.id,
            line.attempts
        )?;
        outln!("error: {}", line.error)?;
        match (&line.event, &line.not_a_delivery) {
            (Some(event), _) => outln!("{}\n", serde_json::to_string_pretty(event)?)?,
            (None, _) if line.nothing_to_replay => outln!(
                "(nothing to replay: its entry had been removed from the stream before it was \
                 dead-lettered)\n"
            )?,
            (None, Some(why)) => outln!("(not a delivery: {why})\n")?,
            (None, None) => outln!("(the body is not a Fluxbase payload)\n")?,
        }
    }
    if !args.json {
        let total = dead.count().await?;
        errln!(
            "{} shown of {total} in {}",
            letters.len(),
            dead.dead_letter_stream()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay(dead: &DeadLetters, args: &ReplayArgs) -> Result<ExitCode, Failure> {
    if args.all {
        let (report, stopped) = match dead.replay_all().await {
            Ok(report) => (report, None),
            Err(stopped) => {
                let (report, error) = stopped.into_parts();
                (report, Some(error))
            }
        };
        for (id, why) in report.skipped() {
            errln!("{id}: not replayed, left in place: {why}");
        }
        if args.json {
            let skipped: Vec<SkippedLine> = report
                .skipped()
                .iter()
                .map(|(id, why)| SkippedLine::new(*id, why))
                .collect();
            outln!(
                "{}",
                serde_json::json!({
                    "replayed": report.replayed().len(),
                    "skipped": skipped,
                    "stopped": stopped.as_ref().map(QueueError::code),
                })
            )?;
        } else {
            errln!(
                "replayed {} onto {}{}{}",
                report.replayed().len(),
                dead.stream(),
                match report.skipped().len() {
                    0 => String::new(),
                    n => format!("; {n} left in {}", dead.dead_letter_stream()),
                },
                match stopped {
                    Some(_) => "; stopped before the last, the rest left in place",
                    None => "",
                }
            );
        }
        // What was replayed before a failure is said first: running the
        // command again goes on from there.
        if let Some(error) = stopped {
            return Err(error.into());
        }
        return Ok(exit(false, !report.skipped().is_empty()));
    }
    let mut missing = false;
    let mut skipped = false;
    for &id in &args.ids {
        match dead.replay(id).await {
            Ok(Some(new_id)) if args.json => outln!(
                "{}",
                serde_json::json!({ "id": id.to_string(), "replayed_as": new_id.to_string() })
            )?,
            Ok(Some(new_id)) => outln!("{id} replayed as {new_id}")?,
            Ok(None) => {
                errln!("{id}: no such dead letter");
                missing = true;
            }
            Err(why @ QueueError::NothingToReplay(_)) => {
                errln!("{id}: not replayed, left in place: {why}");
                if args.json {
                    outln!("{}", serde_json::to_string(&SkippedLine::new(id, &why))?)?;
                }
                skipped = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(exit(missing, skipped))
}

/// A dead letter `replay` left in place, in the `--json` output.
#[derive(Serialize)]
struct SkippedLine {
    id: String,
    code: &'static str,
    reason: String,
}

impl SkippedLine {
    fn new(id: EntryId, why: &QueueError) -> Self {
        Self {
            id: id.to_string(),
            code: why.code(),
            reason: why.to_string(),
        }
    }
}

async fn remove(dead: &DeadLetters, args: &RemoveArgs) -> Result<ExitCode, Failure> {
    let mut missing = false;
    for &id in &args.ids {
        if dead.remove(id).await? {
            outln!("{id} removed")?;
        } else {
            errln!("{id}: no such dead letter");
            missing = true;
        }
    }
    Ok(exit(missing, false))
}

/// An id that is not there is an error (1); dead letters left in place
/// because they hold nothing to replay are 3.
fn exit(missing: bool, skipped: bool) -> ExitCode {
    if missing {
        ExitCode::from(EXIT_QUEUE)
    } else if skipped {
        ExitCode::from(EXIT_SKIPPED)
    } else {
        ExitCode::SUCCESS
    }
}
