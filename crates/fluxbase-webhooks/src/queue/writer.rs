//! [`StreamWriter`]: appends verified deliveries to a bounded Redis Stream.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::StreamMaxlen;

use super::connection::{self, Connection, DEFAULT_TIMEOUT, Source};
use super::{DEFAULT_MAX_LEN, DEFAULT_STREAM, EntryId, QueueError, QueuedDelivery};

/// Appends [`QueuedDelivery`]s to a Redis Stream with
/// `XADD <stream> MAXLEN ~ <max_len> * …`, each call bounded by a timeout.
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
    /// [`QueueError::Unavailable`] or [`QueueError::Timeout`] when Redis is
    /// down, unreachable or slower than the timeout
    /// ([`QueueError::is_unavailable`]); [`QueueError::Refused`] when Redis
    /// refuses the command (the stream key holds another type; an ACL).
    /// The delivery may then be in the stream or not: the sender retries,
    /// and consumers see the event twice at worst (at least once).
    pub async fn append(&self, delivery: &QueuedDelivery) -> Result<EntryId, QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&*self.stream)
            .arg(StreamMaxlen::Approx(self.max_len))
            .arg("*");
        delivery.write_fields(&mut cmd);
        let id: String = self.conn.query(&cmd).await?;
        EntryId::from_reply(&id)
    }

    /// The stream appended to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The approximate number of entries the stream is trimmed to.
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

    /// About how many entries the stream keeps (default [`DEFAULT_MAX_LEN`]):
    /// each append trims the oldest entries past it (`MAXLEN ~`, so Redis
    /// trims whole nodes and the stream may hold somewhat more). Trimming
    /// ignores consumer groups: keep it well above the largest backlog.
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
