//! [`StreamWriter`]: appends verified deliveries to a bounded Redis Stream.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;

use super::bound::{FULL, room_lua};
use super::connection::{self, Connection, DEFAULT_TIMEOUT, Source};
use super::{DEFAULT_MAX_LEN, DEFAULT_STREAM, EntryId, QueueError, QueuedDelivery};

/// Adds one entry to the stream if there is room under the bound (see
/// [`room_lua`]), else answers the error code [`FULL`]. KEYS: stream. ARGV:
/// max_len, then the entry's field/value pairs. Answers the entry's id and
/// the stream's length after it.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        room_lua!(),
        r"
if not room(KEYS[1], tonumber(ARGV[1])) then
  return redis.error_reply('FULL the stream is full of entries not yet processed')
end
local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
return {id, redis.call('XLEN', KEYS[1])}
"
    ))
});

/// How long a length the writer read stays good enough to append without
/// the script.
const LENGTH_FRESH_FOR: Duration = Duration::from_millis(100);

/// The stream's length as this writer (and its clones) last read it, and
/// when: far enough below the bound, an append needs no script.
#[derive(Debug)]
struct KnownLength {
    started: Instant,
    /// The length, and the millisecond (since `started`) it was read at,
    /// plus one; 0 when never read.
    len: AtomicU64,
    at: AtomicU64,
}

impl KnownLength {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            len: AtomicU64::new(0),
            at: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// The length read within [`LENGTH_FRESH_FOR`], if any.
    fn fresh(&self) -> Option<u64> {
        let at = self.at.load(Ordering::Acquire);
        let fresh = at != 0 && self.now().saturating_sub(at) <= LENGTH_FRESH_FOR.as_millis() as u64;
        fresh.then(|| self.len.load(Ordering::Relaxed))
    }

    fn set(&self, len: u64) {
        self.len.store(len, Ordering::Relaxed);
        self.at.store(self.now(), Ordering::Release);
    }
}

/// How far below the bound the stream must be for an append to skip the
/// script: a tenth of the bound, and never less than 1,024 entries, so a
/// small bound is always kept exactly.
fn margin(max_len: usize) -> u64 {
    (max_len as u64 / 10).max(1024)
}

/// Appends [`QueuedDelivery`]s to a bounded Redis Stream, each call bounded
/// by a timeout.
///
/// The stream holds at most [`max_len`](StreamWriterBuilder::max_len)
/// entries, and the bound never drops a delivery no consumer has processed:
/// at the bound an append first trims the entries every consumer group has
/// read and acknowledged, and when that leaves no room it is refused with
/// [`QueueError::Full`] (the receiver answers 503 with `Retry-After`, and
/// the sender retries once consumers caught up). Far below the bound (a
/// tenth of it, and at least 1,024 entries, by the length the writer read
/// within the last 100 ms) an append is a plain `XADD` pipelined with
/// `XLEN`, one round trip without a script; nearer, it is one script run
/// by Redis, which checks the length first. Appends in flight at once from
/// writers whose reading was that fresh can take the stream past the bound
/// by as many as they are, never by the margin.
///
/// This is the receiver's hand-over: after verification and dedupe it calls
/// [`StreamWriter::append`], and acknowledges the HTTP request only once
/// that returned `Ok`. Cloning is cheap (one shared, multiplexed connection
/// that reconnects by itself).
///
/// ```no_run
/// # async fn run() -> Result<(), fluxbase_webhooks::queue::QueueError> {
/// use std::time::Duration;
/// use fluxbase_webhooks::{Scheme, queue::{QueuedDelivery, StreamWriter}};
///
/// let writer = StreamWriter::builder("redis://127.0.0.1:6379/")
///     .stream("myapp:webhooks")
///     .max_len(500_000)
///     .timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
/// let body: &'static [u8] = br#"{"event":"TEST"}"#;
/// let id = writer.append(&QueuedDelivery::builder(body, Scheme::Timestamped).build()).await?;
/// println!("queued as {id}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StreamWriter {
    conn: Connection,
    stream: Arc<str>,
    max_len: usize,
    known: Arc<KnownLength>,
}

/// Configures and connects a [`StreamWriter`].
#[must_use]
pub struct StreamWriterBuilder {
    source: Source,
    stream: String,
    max_len: usize,
    timeout: Duration,
}

impl StreamWriter {
    /// A builder for the Redis at `url`
    /// (`redis://[user:password@]host[:port][/db]`).
    pub fn builder(url: impl Into<String>) -> StreamWriterBuilder {
        StreamWriterBuilder::new(Source::Url(url.into()))
    }

    /// A builder for a Redis client you configured yourself.
    pub fn builder_from_client(client: redis::Client) -> StreamWriterBuilder {
        StreamWriterBuilder::new(Source::Client(client))
    }

    /// A builder that appends over a connection you already have. Its own
    /// response timeout still applies; the writer's
    /// [`timeout`](StreamWriterBuilder::timeout) bounds each append on top.
    pub fn builder_from_connection(connection: ConnectionManager) -> StreamWriterBuilder {
        StreamWriterBuilder::new(Source::Manager(connection))
    }

    /// Appends `delivery` and returns its entry id.
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`] when the stream holds
    /// [`max_len`](StreamWriterBuilder::max_len) entries that not every
    /// consumer group has acknowledged yet (the delivery is not in the
    /// stream); [`QueueError::Unavailable`] or [`QueueError::Timeout`] when
    /// Redis is down, unreachable or slower than the timeout
    /// ([`QueueError::is_unavailable`]); [`QueueError::Refused`] when Redis
    /// refuses the command (the stream key holds another type; an ACL).
    /// After an outage or a timeout the delivery may be in the stream or
    /// not: the sender retries, and consumers see the event twice at worst
    /// (at least once).
    pub async fn append(&self, delivery: &QueuedDelivery) -> Result<EntryId, QueueError> {
        let far_below = self
            .known
            .fresh()
            .is_some_and(|len| len.saturating_add(margin(self.max_len)) < self.max_len as u64);
        let (id, len) = match far_below {
            true => {
                let mut add = redis::cmd("XADD");
                add.arg(&*self.stream).arg("*");
                delivery.write_fields(&mut add);
                let mut pipe = redis::pipe();
                pipe.add_command(add).cmd("XLEN").arg(&*self.stream);
                self.conn.pipeline::<(String, u64)>(&pipe).await?
            }
            false => {
                let mut script = APPEND.key(&*self.stream);
                script.arg(self.max_len);
                delivery.write_fields(&mut script);
                match self.conn.invoke::<(String, u64)>(&script).await {
                    Err(e) if e.server_code() == Some(FULL) => {
                        return Err(QueueError::Full {
                            max_len: self.max_len,
                        });
                    }
                    answer => answer?,
                }
            }
        };
        self.known.set(len);
        EntryId::from_reply(&id)
    }

    /// The stream appended to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The most entries the stream holds.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The bound on one append.
    pub fn timeout(&self) -> Duration {
        self.conn.timeout()
    }
}

impl StreamWriterBuilder {
    fn new(source: Source) -> Self {
        Self {
            source,
            stream: DEFAULT_STREAM.to_owned(),
            max_len: DEFAULT_MAX_LEN,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The stream to append to (default [`DEFAULT_STREAM`]).
    pub fn stream(mut self, stream: impl Into<String>) -> Self {
        self.stream = stream.into();
        self
    }

    /// The most entries the stream holds (default [`DEFAULT_MAX_LEN`]). An
    /// append that finds the stream at the bound trims, in the same script,
    /// every entry at its head that all consumer groups of the stream have
    /// read and acknowledged (`XTRIM … MINID`); when the stream is still at
    /// the bound, the append is refused with [`QueueError::Full`]. Entries
    /// not yet processed are never trimmed: with no consumer group at all
    /// nothing is, and the stream fills up and then refuses. Size it above
    /// the largest backlog you expect (consumers down for an hour at the
    /// busiest rate, say): past it the receiver answers 503, and only
    /// Fluxbase's own retries (by default 3 attempts over 15 s) wait for the
    /// consumers; a delivery refused on every attempt shows as failed in
    /// Fluxbase's delivery log, never as accepted and then dropped.
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries;
        self
    }

    /// How long connecting, and then each append, may take before it fails
    /// with [`QueueError::Timeout`] (default 1 s). Keep it well below the
    /// sender's own timeout (Fluxbase's default is 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects.
    ///
    /// # Errors
    ///
    /// [`QueueError::Config`] for an invalid URL, an empty stream name or a
    /// `max_len` of 0; an unavailable error when Redis cannot be reached
    /// (a writer built from a connection does not connect here).
    pub async fn connect(self) -> Result<StreamWriter, QueueError> {
        connection::check_name("stream", &self.stream)?;
        if self.max_len == 0 {
            return Err(QueueError::Config("max_len must be at least 1".to_owned()));
        }
        Ok(StreamWriter {
            conn: self.source.connect(self.timeout).await?,
            stream: self.stream.into(),
            max_len: self.max_len,
            known: Arc::new(KnownLength::new()),
        })
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("timeout", &self.conn.timeout())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StreamWriterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriterBuilder")
            .field("redis", &"<redacted>")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("timeout", &self.timeout)
            .finish()
    }
}
