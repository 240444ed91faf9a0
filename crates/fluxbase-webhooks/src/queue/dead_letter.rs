//! The dead-letter stream: how messages get there ([`move_to_dead_letters`]),
//! and [`DeadLetters`], to list them and replay them onto the stream.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply};
use redis::{Cmd, Script};

use super::bound::{FULL, room_lua};
use super::connection::{self, Connection, DEFAULT_TIMEOUT, Source};
use super::delivery::{QueuedDelivery, unix_millis};
use super::{DEFAULT_MAX_LEN, DecodeError, EntryId, QueueError};

const F_ERROR: &str = "dead_error";
const F_FROM: &str = "dead_from";
const F_ATTEMPTS: &str = "dead_attempts";
const F_AT: &str = "dead_at_ms";
const F_GROUP: &str = "dead_group";
const F_CONSUMER: &str = "dead_consumer";

/// Moves a message to the dead-letter stream, if the consumer still holds
/// it: copies the entry's fields and adds the `dead_*` ones, then
/// acknowledges it, in one script. KEYS: stream, dead-letter stream. ARGV:
/// group, consumer, id, then the `dead_*` field/value pairs.
const MOVE: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return false end
local fields = {}
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e > 0 then fields = e[1][2] end
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
return id
";

/// Adds a dead letter's original fields (without the `dead_*` ones) to the
/// stream as a new entry and deletes the dead letter, in one script, if
/// there is room under the stream's bound (see [`room_lua`]). KEYS:
/// dead-letter stream, stream. ARGV: dead letter id, max_len. A dead letter
/// with no such field is left alone and answered with the error code
/// [`EMPTY`]; one for which there is no room with [`FULL`].
static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        room_lua!(),
        r"
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return false end
local src = e[1][2]
local fields = {}
for i = 1, #src, 2 do
  if string.sub(src[i], 1, 5) ~= 'dead_' then
    fields[#fields + 1] = src[i]
    fields[#fields + 1] = src[i + 1]
  end
end
if #fields == 0 then
  return redis.error_reply('EMPTY the dead letter kept no fields of its entry to replay')
end
if not room(KEYS[2], tonumber(ARGV[2])) then
  return redis.error_reply('FULL the stream is full of entries not yet processed')
end
local id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"
    ))
});

/// The error code [`REPLAY`] answers for a dead letter with nothing to
/// replay.
const EMPTY: &str = "EMPTY";

/// How many dead letters [`DeadLetters::replay_all`] reads at a time.
const PAGE: usize = 100;

/// Why and where a message is being dead-lettered.
pub(crate) struct DeadLetterMeta<'a> {
    pub(crate) group: &'a str,
    pub(crate) consumer: &'a str,
    pub(crate) id: &'a str,
    pub(crate) attempts: u32,
    pub(crate) error: &'a str,
}

/// Runs [`MOVE`]: the message's id in the dead-letter stream, or `None` when
/// another consumer holds it.
pub(crate) async fn move_to_dead_letters(
    conn: &Connection,
    stream: &str,
    dead_letters: &str,
    meta: &DeadLetterMeta<'_>,
) -> Result<Option<EntryId>, QueueError> {
    let mut cmd = connection::eval(MOVE, &[stream, dead_letters]);
    cmd.arg(meta.group).arg(meta.consumer).arg(meta.id);
    cmd.arg(F_ERROR).arg(meta.error);
    cmd.arg(F_FROM).arg(meta.id);
    cmd.arg(F_ATTEMPTS).arg(meta.attempts);
    cmd.arg(F_AT).arg(unix_millis(SystemTime::now()));
    cmd.arg(F_GROUP).arg(meta.group);
    cmd.arg(F_CONSUMER).arg(meta.consumer);
    let id: Option<String> = conn.query(&cmd).await?;
    id.map(|id| EntryId::from_reply(&id)).transpose()
}

/// Lists, replays and removes the entries of a dead-letter stream.
///
/// ```no_run
/// # async fn run() -> Result<(), fluxbase_webhooks::queue::QueueError> {
/// use fluxbase_webhooks::queue::DeadLetters;
///
/// let dead = DeadLetters::builder("redis://127.0.0.1:6379/", "fluxhook:deliveries")
///     .connect()
///     .await?;
/// for letter in dead.list(None, 50).await? {
///     println!("{} after {} attempts: {}", letter.id(), letter.attempts(), letter.error());
/// }
/// let report = dead.replay_all().await?;
/// println!("{} messages back on the stream", report.replayed().len());
/// for (id, why) in report.skipped() {
///     eprintln!("{id} left in place: {why}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DeadLetters {
    conn: Connection,
    stream: Arc<str>,
    dead_letters: Arc<str>,
    max_len: usize,
}

/// What [`DeadLetters::replay_all`] did: the dead letters it put back on the
/// stream, and those it left in place with why.
#[derive(Debug, Default)]
pub struct ReplayReport {
    replayed: Vec<(EntryId, EntryId)>,
    skipped: Vec<(EntryId, QueueError)>,
}

/// Why [`DeadLetters::replay_all`] stopped before the last dead letter,
/// and what it had done by then.
///
/// Nothing is lost: the dead letters it [replayed](ReplayReport::replayed)
/// are on the stream, the rest are still in the dead-letter stream. Its
/// [`code`](ReplayStopped::code) is the error's; the error is its
/// [`source`](std::error::Error::source), and `?` turns it into that
/// [`QueueError`] where the report is not wanted.
///
/// ```no_run
/// # async fn f(dead: fluxbase_webhooks::queue::DeadLetters) {
/// match dead.replay_all().await {
///     Ok(report) => println!("replayed {}", report.replayed().len()),
///     Err(stopped) => eprintln!(
///         "replayed {} before {}: {}",
///         stopped.done().replayed().len(),
///         stopped.code(),
///         stopped.error(),
///     ),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("replaying the dead letters stopped early ({} replayed before)", .done.replayed.len())]
pub struct ReplayStopped {
    done: ReplayReport,
    #[source]
    error: QueueError,
}

impl ReplayStopped {
    /// What was done before the error: the dead letters replayed, and those
    /// left in place with nothing to replay.
    pub fn done(&self) -> &ReplayReport {
        &self.done
    }

    /// The error that stopped the replay.
    pub fn error(&self) -> &QueueError {
        &self.error
    }

    /// The error's stable code ([`QueueError::code`]).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// The report and the error.
    pub fn into_parts(self) -> (ReplayReport, QueueError) {
        (self.done, self.error)
    }
}

impl From<ReplayStopped> for QueueError {
    fn from(stopped: ReplayStopped) -> Self {
        stopped.error
    }
}

impl ReplayReport {
    /// The dead letters replayed, oldest first: each one's id in the
    /// dead-letter stream and its new entry's id in the stream.
    pub fn replayed(&self) -> &[(EntryId, EntryId)] {
        &self.replayed
    }

    /// The dead letters left in the dead-letter stream, oldest first, with
    /// why ([`QueueError::NothingToReplay`]): nothing of them is lost, and
    /// [`DeadLetters::remove`] deletes one for good.
    pub fn skipped(&self) -> &[(EntryId, QueueError)] {
        &self.skipped
    }
}

/// Configures and connects [`DeadLetters`].
#[must_use]
pub struct DeadLettersBuilder {
    source: Source,
    stream: String,
    dead_letters: Option<String>,
    max_len: usize,
    timeout: Duration,
}

/// One dead-lettered message: the delivery, the last error, where it came
/// from and how often it was tried.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    id: EntryId,
    original_id: Option<EntryId>,
    error: String,
    attempts: u32,
    dead_at: Option<SystemTime>,
    group: Option<String>,
    consumer: Option<String>,
    delivery: Result<QueuedDelivery, DecodeError>,
    /// No field of its entry was kept (only the `dead_*` ones).
    holds_nothing: bool,
}

impl DeadLetters {
    /// Dead letters of `stream` on the Redis at `url`.
    pub fn builder(url: impl Into<String>, stream: impl Into<String>) -> DeadLettersBuilder {
        DeadLettersBuilder::new(Source::Url(url.into()), stream.into())
    }

    /// Dead letters of `stream` through a Redis client you configured.
    pub fn builder_from_client(
        client: redis::Client,
        stream: impl Into<String>,
    ) -> DeadLettersBuilder {
        DeadLettersBuilder::new(Source::Client(client), stream.into())
    }

    /// Dead letters of `stream` over a connection you already have.
    pub fn builder_from_connection(
        connection: ConnectionManager,
        stream: impl Into<String>,
    ) -> DeadLettersBuilder {
        DeadLettersBuilder::new(Source::Manager(connection), stream.into())
    }

    /// How many dead letters there are.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command.
    pub async fn count(&self) -> Result<usize, QueueError> {
        self.conn.query(&Cmd::xlen(&*self.dead_letters)).await
    }

    /// Up to `count` dead letters, oldest first, after `after` (or from the
    /// first one).
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command.
    pub async fn list(
        &self,
        after: Option<EntryId>,
        count: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let reply: StreamRangeReply = self
            .conn
            .query(&Cmd::xrange_count(&*self.dead_letters, start, "+", count))
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .filter_map(DeadLetter::from_entry)
            .collect())
    }

    /// The dead letter `id`, if it is there.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command.
    pub async fn get(&self, id: EntryId) -> Result<Option<DeadLetter>, QueueError> {
        let id = id.to_string();
        let reply: StreamRangeReply = self
            .conn
            .query(&Cmd::xrange(&*self.dead_letters, &id, &id))
            .await?;
        Ok(reply.ids.into_iter().find_map(DeadLetter::from_entry))
    }

    /// Puts dead letter `id` back on the stream as a new entry (its attempts
    /// start again from 1) and removes it from the dead-letter stream, in one
    /// step. Returns the new entry's id, or `None` when there is no such
    /// dead letter.
    ///
    /// # Errors
    ///
    /// [`QueueError::NothingToReplay`] when the dead letter kept nothing of
    /// its entry (trimmed from the stream before it was dead-lettered; it
    /// stays where it is); [`QueueError::Full`] when the stream is full of
    /// entries not yet processed (see [`DeadLettersBuilder::max_len`]; it
    /// stays too); an error when Redis is unavailable or refuses the
    /// command.
    pub async fn replay(&self, id: EntryId) -> Result<Option<EntryId>, QueueError> {
        let mut script = REPLAY.key(&*self.dead_letters);
        script
            .key(&*self.stream)
            .arg(id.to_string())
            .arg(self.max_len);
        let new_id: Option<String> = match self.conn.invoke(&script).await {
            Err(e) if e.server_code() == Some(EMPTY) => {
                return Err(QueueError::NothingToReplay(id));
            }
            Err(e) if e.server_code() == Some(FULL) => {
                return Err(QueueError::Full {
                    max_len: self.max_len,
                });
            }
            reply => reply?,
        };
        new_id.map(|id| EntryId::from_reply(&id)).transpose()
    }

    /// Replays every dead letter there was when the call began (those
    /// dead-lettered meanwhile stay), oldest first, going on past those
    /// that hold nothing to replay: they stay in the dead-letter stream and
    /// are listed in the report's [`skipped`](ReplayReport::skipped).
    ///
    /// # Errors
    ///
    /// [`ReplayStopped`] when Redis is unavailable or refuses a command, or
    /// when the stream is full ([`QueueError::Full`]): it holds the error and
    /// the report of what was done until then. The dead letters replayed
    /// until then stay replayed, the others stay in the dead-letter stream,
    /// so calling again later goes on where this call stopped.
    pub async fn replay_all(&self) -> Result<ReplayReport, ReplayStopped> {
        let mut report = ReplayReport::default();
        match self.replay_each(&mut report).await {
            Ok(()) => Ok(report),
            Err(error) => Err(ReplayStopped {
                done: report,
                error,
            }),
        }
    }

    /// The loop of [`DeadLetters::replay_all`], recording into `report` as
    /// it goes.
    async fn replay_each(&self, report: &mut ReplayReport) -> Result<(), QueueError> {
        let last: StreamRangeReply = self
            .conn
            .query(&Cmd::xrevrange_count(&*self.dead_letters, "+", "-", 1))
            .await?;
        let Some(last) = last.ids.first().map(|e| e.id.clone()) else {
            return Ok(());
        };
        // Pages follow one another by id: the dead letters left in place
        // are not read again.
        let mut start = "-".to_owned();
        loop {
            let page: StreamRangeReply = self
                .conn
                .query(&Cmd::xrange_count(&*self.dead_letters, &start, &last, PAGE))
                .await?;
            let Some(tail) = page.ids.last() else {
                return Ok(());
            };
            start = format!("({}", tail.id);
            for entry in page.ids {
                let id = EntryId::from_reply(&entry.id)?;
                match self.replay(id).await {
                    Ok(Some(new_id)) => report.replayed.push((id, new_id)),
                    // Removed or replayed by someone else meanwhile.
                    Ok(None) => {}
                    Err(e @ QueueError::NothingToReplay(_)) => report.skipped.push((id, e)),
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Deletes dead letter `id` without replaying it; `false` when there was
    /// no such dead letter.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command.
    pub async fn remove(&self, id: EntryId) -> Result<bool, QueueError> {
        let removed: usize = self
            .conn
            .query(&Cmd::xdel(&*self.dead_letters, &[id.to_string()]))
            .await?;
        Ok(removed > 0)
    }

    /// The stream dead letters are replayed onto.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The dead-letter stream.
    pub fn dead_letter_stream(&self) -> &str {
        &self.dead_letters
    }
}

impl DeadLettersBuilder {
    fn new(source: Source, stream: String) -> Self {
        Self {
            source,
            stream,
            dead_letters: None,
            max_len: DEFAULT_MAX_LEN,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The dead-letter stream (default [`dead_letter_stream`](super::dead_letter_stream)`(stream)`, as
    /// for the consumer).
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.dead_letters = Some(stream.into());
        self
    }

    /// The stream's bound when a replay adds to it (default
    /// [`DEFAULT_MAX_LEN`]; use the writer's): as an
    /// [append](super::StreamWriterBuilder::max_len), a replay that finds
    /// the stream at the bound first trims the entries every consumer group
    /// has acknowledged, and is refused with [`QueueError::Full`] when that
    /// leaves no room.
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries;
        self
    }

    /// How long connecting and each command may take (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects.
    ///
    /// # Errors
    ///
    /// [`QueueError::Config`] for an invalid URL, an empty name, a
    /// dead-letter stream equal to the stream or a `max_len` of 0; an
    /// unavailable error when Redis cannot be reached.
    pub async fn connect(self) -> Result<DeadLetters, QueueError> {
        let dead_letters = connection::dead_letters_of(&self.stream, self.dead_letters)?;
        if self.max_len == 0 {
            return Err(QueueError::Config("max_len must be above 0".to_owned()));
        }
        Ok(DeadLetters {
            conn: self.source.connect(self.timeout).await?,
            stream: self.stream.into(),
            dead_letters: dead_letters.into(),
            max_len: self.max_len,
        })
    }
}

impl DeadLetter {
    /// Reads a dead-letter entry; `None` for an id that is not one.
    fn from_entry(entry: StreamId) -> Option<Self> {
        let id = entry.id.parse().ok()?;
        let mut fields = entry.map;
        let mut text = |name: &str| -> Option<String> {
            fields
                .remove(name)
                .and_then(|v| redis::from_redis_value::<String>(v).ok())
        };
        let error = text(F_ERROR).unwrap_or_default();
        let original_id = text(F_FROM).and_then(|s| s.parse().ok());
        let attempts = text(F_ATTEMPTS).and_then(|s| s.parse().ok()).unwrap_or(0);
        let dead_at = text(F_AT)
            .and_then(|s| s.parse().ok())
            .and_then(super::unix_millis);
        let group = text(F_GROUP);
        let consumer = text(F_CONSUMER);
        // What the replay script would find: no field but the `dead_*` ones.
        let holds_nothing = fields.keys().all(|name| name.starts_with("dead_"));
        Some(Self {
            id,
            original_id,
            error,
            attempts,
            dead_at,
            group,
            consumer,
            delivery: QueuedDelivery::from_fields(&mut fields),
            holds_nothing,
        })
    }

    /// Whether it kept nothing of its entry to replay: the entry had been
    /// trimmed or deleted from the stream before it was dead-lettered, so
    /// only the error and the attempt count were kept.
    /// [`DeadLetters::replay`] refuses it with
    /// [`QueueError::NothingToReplay`]; [`delivery`](DeadLetter::delivery)
    /// is then an error too.
    pub fn holds_nothing(&self) -> bool {
        self.holds_nothing
    }

    /// Its id in the dead-letter stream.
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// Its id in the stream it came from.
    pub fn original_id(&self) -> Option<EntryId> {
        self.original_id
    }

    /// The last error: the one given to the failing attempt, or why the
    /// entry could not be handled at all.
    pub fn error(&self) -> &str {
        &self.error
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When it was dead-lettered.
    pub fn dead_at(&self) -> Option<SystemTime> {
        self.dead_at
    }

    /// The consumer group that gave up on it.
    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    /// The consumer that moved it here.
    pub fn consumer(&self) -> Option<&str> {
        self.consumer.as_deref()
    }

    /// The delivery, or why the entry is not one (an entry some other
    /// program added to the stream, or a newer format version).
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] of an entry that is not a delivery.
    pub fn delivery(&self) -> Result<&QueuedDelivery, &DecodeError> {
        self.delivery.as_ref()
    }
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("stream", &self.stream)
            .field("dead_letters", &self.dead_letters)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DeadLettersBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLettersBuilder")
            .field("redis", &"<redacted>")
            .field("stream", &self.stream)
            .field("dead_letters", &self.dead_letters)
            .field("max_len", &self.max_len)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use redis::Value;

    use super::*;

    #[test]
    fn a_dead_letter_entry_reads_back() {
        let mut map = HashMap::new();
        for (k, v) in [
            (F_ERROR, "exit status 3"),
            (F_FROM, "17-2"),
            (F_ATTEMPTS, "4"),
            (F_AT, "1767323045123"),
            (F_GROUP, "billing"),
            (F_CONSUMER, "host-1-abc"),
            ("other", "x"),
        ] {
            map.insert(k.to_owned(), Value::BulkString(v.as_bytes().to_vec()));
        }
        let letter = DeadLetter::from_entry(StreamId {
            id: "20-0".to_owned(),
            map,
            ..StreamId::default()
        })
        .unwrap();
        assert_eq!(letter.id(), EntryId::new(20, 0));
        assert_eq!(letter.original_id(), Some(EntryId::new(17, 2)));
        assert_eq!(letter.error(), "exit status 3");
        assert_eq!(letter.attempts(), 4);
        assert_eq!(
            letter.dead_at(),
            Some(std::time::UNIX_EPOCH + Duration::from_millis(1_767_323_045_123))
        );
        assert_eq!(
            (letter.group(), letter.consumer()),
            (Some("billing"), Some("host-1-abc"))
        );
        // Not a delivery (it has no `v`): kept, and says why.
        assert_eq!(
            letter.delivery().unwrap_err(),
            &DecodeError::MissingField("v")
        );
    }
}
