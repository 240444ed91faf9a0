//! [`StreamConsumer`]: one consumer of a consumer group, with explicit
//! acknowledgement, reclaiming after a visibility timeout, and dead letters.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use redis::Cmd;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamPendingReply, StreamReadOptions, StreamReadReply,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::connection::{self, Connection, DEFAULT_TIMEOUT, Source};
use super::dead_letter::{self, DeadLetterMeta};
use super::delivery::QueuedDelivery;
use super::{EntryId, QueueError};
use crate::event::Event;

/// Hands a message back to the group if this consumer still holds it: sets
/// its idle time (so `XAUTOCLAIM` may take it after the remaining delay) and
/// its delivery count. KEYS: stream. ARGV: group, consumer, id, idle ms,
/// delivery count.
const HAND_BACK: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'RETRYCOUNT', ARGV[5], 'JUSTID')
return 1
";

/// Removes this consumer from the group if it holds no message (removing a
/// consumer drops its pending messages, so never then). KEYS: stream. ARGV:
/// group, consumer.
const LEAVE: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
";

/// The longest error kept with a dead letter, in bytes.
const MAX_ERROR_LEN: usize = 4096;

/// Longest wait before talking to Redis again after errors in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One consumer of a Redis Stream consumer group.
///
/// [`StreamConsumer::next`] yields [`Message`]s: first the messages of the
/// group whose holder has not acknowledged them within the visibility
/// timeout (reclaimed with `XAUTOCLAIM`, attempt number increased), then new
/// entries (`XREADGROUP … >`, attempt 1). See the [module docs](super) for
/// the guarantees.
///
/// ```no_run
/// # async fn run() -> Result<(), fluxbase_webhooks::queue::QueueError> {
/// use std::time::Duration;
/// use fluxbase_webhooks::queue::StreamConsumer;
///
/// let mut consumer = StreamConsumer::builder("redis://127.0.0.1:6379/", "fluxhook:deliveries", "mailer")
///     .visibility_timeout(Duration::from_secs(120))
///     .max_attempts(5)
///     .connect()
///     .await?;
/// let stop = consumer.stop_handle();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     stop.stop();
/// });
/// while let Some(message) = consumer.next().await? {
///     println!("{} (attempt {})", message.event().name(), message.attempt());
///     message.ack().await?;
/// }
/// consumer.close().await?;
/// # Ok(()) }
/// ```
pub struct StreamConsumer {
    shared: Arc<Shared>,
    /// A connection of its own for the blocking reads, so that they never
    /// hold up acknowledgements.
    reader: Connection,
    batch_size: usize,
    block: Duration,
    claim_interval: Duration,
    group_start: &'static str,
    /// Read but not yet yielded, with the time each was read.
    ready: VecDeque<(Instant, Message)>,
    claim_cursor: String,
    next_claim: Instant,
    stop_tx: Arc<watch::Sender<bool>>,
    stop_rx: watch::Receiver<bool>,
    stopped: bool,
    errors_in_a_row: u32,
}

/// What every [`Message`] of a consumer needs to settle itself.
struct Shared {
    conn: Connection,
    stream: String,
    group: String,
    consumer: String,
    dead_letters: String,
    visibility: Duration,
    max_attempts: u32,
    retry_delay: Duration,
}

/// Configures and connects a [`StreamConsumer`].
#[must_use]
pub struct StreamConsumerBuilder {
    source: Source,
    stream: String,
    group: String,
    consumer: Option<String>,
    dead_letters: Option<String>,
    batch_size: usize,
    block: Duration,
    visibility: Duration,
    max_attempts: u32,
    retry_delay: Duration,
    claim_interval: Duration,
    timeout: Duration,
    new_entries_only: bool,
}

/// Stops a [`StreamConsumer`] from another task (a signal handler, say):
/// [`StreamConsumer::next`] then returns `Ok(None)` once its current read
/// has returned (within the block time), after releasing the messages it had
/// read but not yielded.
#[derive(Clone)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Asks the consumer to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl fmt::Debug for StopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopHandle")
            .field("stopped", &*self.0.borrow())
            .finish()
    }
}

impl StreamConsumer {
    /// A builder for consumer group `group` of `stream` on the Redis at
    /// `url` (`redis://[user:password@]host[:port][/db]`).
    pub fn builder(
        url: impl Into<String>,
        stream: impl Into<String>,
        group: impl Into<String>,
    ) -> StreamConsumerBuilder {
        StreamConsumerBuilder::new(Source::Url(url.into()), stream.into(), group.into())
    }

    /// A builder on a Redis client you configured yourself. The consumer
    /// opens two connections with it: one for its blocking reads, one for
    /// everything else.
    pub fn builder_from_client(
        client: redis::Client,
        stream: impl Into<String>,
        group: impl Into<String>,
    ) -> StreamConsumerBuilder {
        StreamConsumerBuilder::new(Source::Client(client), stream.into(), group.into())
    }

    /// The next message; `Ok(None)` once stopped ([`StopHandle::stop`]).
    /// Waits as long as the stream stays empty.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses a command. The consumer stays
    /// usable: call `next` again; after errors in a row it waits a little
    /// (up to 5 s) before it talks to Redis again. A group that disappeared
    /// (Redis restarted without persistence) is created again.
    pub async fn next(&mut self) -> Result<Option<Message>, QueueError> {
        loop {
            if let Some(message) = self.try_next().await? {
                return Ok(Some(message));
            }
            if self.is_stopped() {
                return Ok(None);
            }
        }
    }

    /// Like [`StreamConsumer::next`], but returns `Ok(None)` when nothing
    /// arrived within one block time, as well as once stopped (tell them
    /// apart with [`StreamConsumer::is_stopped`]).
    ///
    /// # Errors
    ///
    /// As [`StreamConsumer::next`].
    pub async fn try_next(&mut self) -> Result<Option<Message>, QueueError> {
        if self.is_stopped() {
            self.release_ready().await?;
            return Ok(None);
        }
        if let Some(message) = self.next_ready().await? {
            return Ok(Some(message));
        }
        if self.errors_in_a_row > 0 {
            let wait = backoff(self.shared.retry_delay, self.errors_in_a_row);
            let mut stop = self.stop_rx.clone();
            // Stopped while waiting: done.
            if let Ok(Ok(_)) = tokio::time::timeout(wait, stop.wait_for(|stopped| *stopped)).await {
                self.stopped = true;
                return Ok(None);
            }
        }
        match self.fill().await {
            Ok(()) => self.errors_in_a_row = 0,
            Err(e) => {
                self.errors_in_a_row = self.errors_in_a_row.saturating_add(1);
                return Err(e);
            }
        }
        if self.is_stopped() {
            self.release_ready().await?;
            return Ok(None);
        }
        self.next_ready().await
    }

    /// The next message read and not yet yielded. One that waited in the
    /// batch for half the visibility timeout (slow handlers ahead of it) is
    /// handed back untouched instead: its idle time counts from the read, so
    /// another consumer could soon reclaim it and both would run it.
    async fn next_ready(&mut self) -> Result<Option<Message>, QueueError> {
        while let Some((read_at, message)) = self.ready.pop_front() {
            if read_at.elapsed() < self.shared.visibility / 2 {
                return Ok(Some(message));
            }
            message
                .shared
                .hand_back(message.id, Duration::ZERO, message.attempt - 1)
                .await?;
        }
        Ok(None)
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&mut self) -> bool {
        self.stopped = self.stopped || *self.stop_rx.borrow();
        self.stopped
    }

    /// A handle that stops this consumer from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop_tx.clone())
    }

    /// How many entries the group holds that were delivered and are not yet
    /// acknowledged, by any of its consumers.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command.
    pub async fn pending(&self) -> Result<usize, QueueError> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&self.shared.stream).arg(&self.shared.group);
        let reply: StreamPendingReply = self.shared.conn.query(&cmd).await?;
        Ok(reply.count())
    }

    /// Stops, releases the messages read but not yielded, and leaves the
    /// group if this consumer holds no message any more (messages still in
    /// the caller's hands keep it listed, so they can be reclaimed).
    ///
    /// Dropping a consumer without closing it loses nothing either: what it
    /// had read is reclaimed after the visibility timeout.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses a command.
    pub async fn close(mut self) -> Result<(), QueueError> {
        self.stop_tx.send_replace(true);
        self.release_ready().await?;
        let s = &self.shared;
        let mut cmd = connection::eval(LEAVE, &[&s.stream]);
        cmd.arg(&s.group).arg(&s.consumer);
        let _: i64 = s.conn.query(&cmd).await?;
        Ok(())
    }

    /// This consumer's name in the group.
    pub fn consumer(&self) -> &str {
        &self.shared.consumer
    }

    /// The stream read.
    pub fn stream(&self) -> &str {
        &self.shared.stream
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.shared.group
    }

    /// The dead-letter stream.
    pub fn dead_letter_stream(&self) -> &str {
        &self.shared.dead_letters
    }

    /// Reclaims due messages, or reads new ones; fills `ready`.
    async fn fill(&mut self) -> Result<(), QueueError> {
        match self.fill_once().await {
            Err(e) if e.server_code() == Some("NOGROUP") => {
                // The stream or the group is gone (deleted, or Redis
                // restarted empty): create it again and carry on.
                tracing::warn!(
                    stream = %self.shared.stream,
                    group = %self.shared.group,
                    "the consumer group is gone; creating it again"
                );
                self.claim_cursor = "0-0".to_owned();
                create_group(&self.shared, self.group_start).await?;
                self.fill_once().await
            }
            other => other,
        }
    }

    async fn fill_once(&mut self) -> Result<(), QueueError> {
        let now = Instant::now();
        if now >= self.next_claim {
            self.reclaim().await?;
            if !self.ready.is_empty() {
                return Ok(());
            }
        }
        let until_claim = self.next_claim.saturating_duration_since(Instant::now());
        // BLOCK 0 would wait forever.
        let block = self.block.min(until_claim).max(Duration::from_millis(1));
        self.read_new(block).await
    }

    /// `XAUTOCLAIM`s messages idle longer than the visibility timeout.
    async fn reclaim(&mut self) -> Result<(), QueueError> {
        let s = Arc::clone(&self.shared);
        let cmd = Cmd::xautoclaim_options(
            &s.stream,
            &s.group,
            &s.consumer,
            millis(s.visibility),
            &self.claim_cursor,
            StreamAutoClaimOptions::default().count(self.batch_size),
        );
        let reply: StreamAutoClaimReply = s.conn.query(&cmd).await?;
        if reply.next_stream_id == "0-0" {
            // A full pass: wait a while before the next one.
            self.next_claim = Instant::now() + self.claim_interval;
        }
        self.claim_cursor = reply.next_stream_id;
        if !reply.deleted_ids.is_empty() {
            // The writers' bound never trims a pending entry: someone
            // trimmed or deleted it by hand (`XTRIM`, `XDEL`), or another
            // program added to the stream with `XADD … MAXLEN`.
            tracing::warn!(
                stream = %s.stream,
                group = %s.group,
                count = reply.deleted_ids.len(),
                "pending entries were removed from the stream before they were acknowledged \
                 (trimmed or deleted by hand: the writers' bound never removes them)"
            );
        }
        if reply.claimed.is_empty() {
            return Ok(());
        }
        // The delivery counts, which XAUTOCLAIM does not return.
        let mut pipe = redis::pipe();
        for entry in &reply.claimed {
            pipe.cmd("XPENDING")
                .arg(&s.stream)
                .arg(&s.group)
                .arg(&entry.id)
                .arg(&entry.id)
                .arg(1);
        }
        let counts: Vec<StreamPendingCountReply> = s.conn.pipeline(&pipe).await?;
        for (entry, count) in reply.claimed.into_iter().zip(counts) {
            let Some(pending) = count.ids.first().filter(|p| p.consumer == s.consumer) else {
                continue; // Taken by another consumer meanwhile.
            };
            let attempt = u32::try_from(pending.times_delivered).unwrap_or(u32::MAX);
            tracing::debug!(stream = %s.stream, id = %entry.id, attempt, "reclaimed");
            if attempt > s.max_attempts {
                let error = format!(
                    "not acknowledged after {} deliveries: the consumers stopped, crashed or \
                     exceeded the visibility timeout",
                    attempt - 1
                );
                self.dead_letter_entry(&entry.id, attempt - 1, &error)
                    .await?;
                continue;
            }
            self.admit(entry, attempt).await?;
        }
        Ok(())
    }

    /// `XREADGROUP … >`: new entries, attempt 1.
    async fn read_new(&mut self, block: Duration) -> Result<(), QueueError> {
        let s = Arc::clone(&self.shared);
        let options = StreamReadOptions::default()
            .group(&s.group, &s.consumer)
            .count(self.batch_size)
            .block(usize::try_from(block.as_millis()).unwrap_or(usize::MAX));
        let cmd = Cmd::xread_options(&[&s.stream], &[">"], &options);
        let reply: Option<StreamReadReply> = self
            .reader
            .query_within(&cmd, block + self.reader.timeout())
            .await?;
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in key.ids {
                self.admit(entry, 1).await?;
            }
        }
        Ok(())
    }

    /// Turns an entry into a ready message, or dead-letters it when it is
    /// not a delivery or its body not a Fluxbase payload.
    async fn admit(&mut self, entry: StreamId, attempt: u32) -> Result<(), QueueError> {
        let Ok(id) = entry.id.parse::<EntryId>() else {
            tracing::warn!(stream = %self.shared.stream, id = %entry.id, "skipped an entry with an unreadable id");
            return Ok(());
        };
        let mut fields = entry.map;
        let delivery = match QueuedDelivery::from_fields(&mut fields) {
            Ok(delivery) => delivery,
            Err(e) => {
                let error = format!("not a queued delivery: {e}");
                return self.dead_letter_entry(&entry.id, attempt, &error).await;
            }
        };
        match Event::from_slice(delivery.body()) {
            Ok(event) => {
                let message = Message {
                    shared: Arc::clone(&self.shared),
                    id,
                    attempt,
                    event,
                    delivery,
                };
                self.ready.push_back((Instant::now(), message));
                Ok(())
            }
            Err(e) => {
                let error = format!("{}: {e}", e.code());
                self.dead_letter_entry(&entry.id, attempt, &error).await
            }
        }
    }

    async fn dead_letter_entry(
        &self,
        id: &str,
        attempts: u32,
        error: &str,
    ) -> Result<(), QueueError> {
        self.shared.dead_letter(id, attempts, error).await.map(drop)
    }

    /// Hands back what was read but not yielded, for another consumer to
    /// take at once.
    async fn release_ready(&mut self) -> Result<(), QueueError> {
        while let Some((_, message)) = self.ready.pop_front() {
            if let Err(e) = message
                .shared
                .hand_back(message.id, Duration::ZERO, message.attempt - 1)
                .await
            {
                // Still pending under this consumer: reclaimed later.
                self.ready.clear();
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Shared {
    /// [`HAND_BACK`]: `Ok(false)` when another consumer holds the message.
    async fn hand_back(
        &self,
        id: EntryId,
        after: Duration,
        count: u32,
    ) -> Result<bool, QueueError> {
        let idle = self.visibility.saturating_sub(after);
        let mut cmd = connection::eval(HAND_BACK, &[&self.stream]);
        cmd.arg(&self.group)
            .arg(&self.consumer)
            .arg(id.to_string())
            .arg(millis(idle))
            .arg(count);
        let moved: i64 = self.conn.query(&cmd).await?;
        Ok(moved == 1)
    }

    /// Moves entry `id` to the dead-letter stream if this consumer still
    /// holds it; its new id there, or `None` when it is held elsewhere.
    async fn dead_letter(
        &self,
        id: &str,
        attempts: u32,
        error: &str,
    ) -> Result<Option<EntryId>, QueueError> {
        let error = crate::truncate_at_char_boundary(error, MAX_ERROR_LEN);
        tracing::warn!(
            stream = %self.stream,
            dead_letters = %self.dead_letters,
            id,
            attempts,
            error,
            "dead-lettering a message"
        );
        dead_letter::move_to_dead_letters(
            &self.conn,
            &self.stream,
            &self.dead_letters,
            &DeadLetterMeta {
                group: &self.group,
                consumer: &self.consumer,
                id,
                attempts,
                error,
            },
        )
        .await
    }
}

/// One delivery taken from the stream, to be settled with
/// [`Message::ack`], [`Message::fail`] or [`Message::release`].
///
/// Dropped unsettled, it stays pending under this consumer and is reclaimed
/// after the visibility timeout as another attempt.
pub struct Message {
    shared: Arc<Shared>,
    id: EntryId,
    attempt: u32,
    event: Event,
    delivery: QueuedDelivery,
}

/// What [`Message::fail`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failed {
    /// Handed back: any consumer of the group may take it for the next
    /// attempt once the retry delay has passed.
    Retrying {
        /// The attempt that failed.
        attempt: u32,
        /// When it may be taken again.
        retry_in: Duration,
    },
    /// That was the last attempt allowed: the message moved to the
    /// dead-letter stream.
    DeadLettered {
        /// Its id in the dead-letter stream.
        dead_letter_id: EntryId,
        /// The attempts made.
        attempts: u32,
    },
    /// Another consumer had already reclaimed the message (this one held it
    /// longer than the visibility timeout); it decides what happens next.
    Reclaimed,
}

impl Message {
    /// The entry's id in the stream.
    pub fn id(&self) -> EntryId {
        self.id
    }

    /// The typed event, parsed from the body.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The delivery as the receiver handed it over: the raw body and what
    /// verified it.
    pub fn delivery(&self) -> &QueuedDelivery {
        &self.delivery
    }

    /// Which attempt this is: 1 for the first delivery to the group, and one
    /// more for each time the message was reclaimed or failed.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// How many attempts are allowed before the message is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.shared.max_attempts
    }

    /// Whether failing this attempt dead-letters the message.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.shared.max_attempts
    }

    /// Whether the receiver had already seen this event (the duplicate flag
    /// of [`QueuedDelivery::is_duplicate`]).
    pub fn is_duplicate(&self) -> bool {
        self.delivery.is_duplicate()
    }

    /// Acknowledges the message: the group is done with it.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command; the message then
    /// stays pending and is delivered again after the visibility timeout.
    pub async fn ack(self) -> Result<(), QueueError> {
        let s = &self.shared;
        let cmd = Cmd::xack(&s.stream, &s.group, &[self.id.to_string()]);
        let _: i64 = s.conn.query(&cmd).await?;
        Ok(())
    }

    /// Records a failed attempt with its error. Below the maximum number of
    /// attempts, the message is handed back for another attempt after the
    /// retry delay; on the last attempt it moves to the dead-letter stream
    /// with `error` (at most 4 KiB of it), its entry id and the attempt count.
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command; the message then
    /// stays pending and is reclaimed after the visibility timeout, as
    /// another attempt.
    pub async fn fail(self, error: impl fmt::Display) -> Result<Failed, QueueError> {
        let s = &self.shared;
        if self.is_last_attempt() {
            let error = error.to_string();
            return Ok(
                match s
                    .dead_letter(&self.id.to_string(), self.attempt, &error)
                    .await?
                {
                    Some(dead_letter_id) => Failed::DeadLettered {
                        dead_letter_id,
                        attempts: self.attempt,
                    },
                    None => Failed::Reclaimed,
                },
            );
        }
        tracing::debug!(stream = %s.stream, id = %self.id, attempt = self.attempt, %error, "attempt failed");
        let retry_in = s.retry_delay.min(s.visibility);
        Ok(if s.hand_back(self.id, retry_in, self.attempt).await? {
            Failed::Retrying {
                attempt: self.attempt,
                retry_in,
            }
        } else {
            Failed::Reclaimed
        })
    }

    /// Hands the message back unhandled: any consumer may take it at once,
    /// and this attempt is not counted (use it when shutting down).
    ///
    /// # Errors
    ///
    /// When Redis is unavailable or refuses the command; the message then
    /// stays pending and is reclaimed after the visibility timeout.
    pub async fn release(self) -> Result<(), QueueError> {
        self.shared
            .hand_back(self.id, Duration::ZERO, self.attempt - 1)
            .await
            .map(drop)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .field("event", &self.event.name())
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl StreamConsumerBuilder {
    fn new(source: Source, stream: String, group: String) -> Self {
        Self {
            source,
            stream,
            group,
            consumer: None,
            dead_letters: None,
            batch_size: 16,
            block: Duration::from_secs(1),
            visibility: Duration::from_secs(60),
            max_attempts: 5,
            retry_delay: Duration::from_secs(1),
            claim_interval: Duration::from_secs(1),
            timeout: DEFAULT_TIMEOUT,
            new_entries_only: false,
        }
    }

    /// This consumer's name in the group (default: unique per consumer,
    /// `<host>-<pid>-<random>`). Two live consumers must never share one.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = Some(name.into());
        self
    }

    /// How many entries one read or reclaim takes at most (default 16).
    pub fn batch_size(mut self, entries: usize) -> Self {
        self.batch_size = entries;
        self
    }

    /// How long one read waits for new entries (default 1 s); a stop takes
    /// effect within it.
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// How long a message may stay unacknowledged with one consumer before
    /// another reclaims it (default 60 s). Longer than the slowest handling.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility = timeout;
        self
    }

    /// How many attempts a message gets before it is dead-lettered
    /// (default 5, at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// How long a failed message waits before its next attempt (default
    /// 1 s, at most the visibility timeout).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How often the consumer looks for messages to reclaim (default 1 s).
    pub fn claim_interval(mut self, interval: Duration) -> Self {
        self.claim_interval = interval;
        self
    }

    /// The dead-letter stream (default [`dead_letter_stream`](super::dead_letter_stream)`(stream)`).
    pub fn dead_letter_stream(mut self, stream: impl Into<String>) -> Self {
        self.dead_letters = Some(stream.into());
        self
    }

    /// How long connecting and each command other than the blocking read may
    /// take (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// When the group does not exist yet, start it at the end of the stream
    /// (only entries added from now on) instead of at its first entry (the
    /// default, so that nothing a receiver appended before the first
    /// consumer started is skipped).
    pub fn new_entries_only(mut self, new_only: bool) -> Self {
        self.new_entries_only = new_only;
        self
    }

    /// Connects and creates the group (and the stream) if missing.
    ///
    /// # Errors
    ///
    /// [`QueueError::Config`] for an invalid URL, an empty name, a zero
    /// batch size, visibility timeout or attempt count; an unavailable
    /// error when Redis cannot be reached.
    pub async fn connect(self) -> Result<StreamConsumer, QueueError> {
        let dead_letters = connection::dead_letters_of(&self.stream, self.dead_letters)?;
        connection::check_name("group", &self.group)?;
        let consumer = self.consumer.unwrap_or_else(unique_consumer_name);
        connection::check_name("consumer", &consumer)?;
        if self.batch_size == 0 || self.max_attempts == 0 || self.visibility.is_zero() {
            return Err(QueueError::Config(
                "batch size, max attempts and visibility timeout must be above 0".to_owned(),
            ));
        }
        let Some(client) = self.source.client()? else {
            return Err(QueueError::Config("no Redis client".to_owned()));
        };
        let conn = Connection::open(&client, self.timeout, self.timeout).await?;
        let reader = Connection::open(&client, self.timeout, self.block + self.timeout).await?;
        let shared = Arc::new(Shared {
            conn,
            stream: self.stream,
            group: self.group,
            consumer,
            dead_letters,
            visibility: self.visibility,
            max_attempts: self.max_attempts,
            retry_delay: self.retry_delay,
        });
        let group_start = if self.new_entries_only { "$" } else { "0" };
        create_group(&shared, group_start).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        Ok(StreamConsumer {
            shared,
            reader,
            batch_size: self.batch_size,
            block: self.block,
            claim_interval: self.claim_interval,
            group_start,
            ready: VecDeque::new(),
            claim_cursor: "0-0".to_owned(),
            next_claim: Instant::now(),
            stop_tx: Arc::new(stop_tx),
            stop_rx,
            stopped: false,
            errors_in_a_row: 0,
        })
    }
}

impl fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shared;
        f.debug_struct("StreamConsumer")
            .field("stream", &s.stream)
            .field("group", &s.group)
            .field("consumer", &s.consumer)
            .field("dead_letters", &s.dead_letters)
            .field("visibility_timeout", &s.visibility)
            .field("max_attempts", &s.max_attempts)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StreamConsumerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamConsumerBuilder")
            .field("redis", &"<redacted>")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .field("consumer", &self.consumer)
            .field("visibility_timeout", &self.visibility)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// `XGROUP CREATE … MKSTREAM`, at `start` (`0` or `$`); an existing group
/// is left as it is.
async fn create_group(s: &Shared, start: &str) -> Result<(), QueueError> {
    let cmd = Cmd::xgroup_create_mkstream(&s.stream, &s.group, start);
    match s.conn.query::<()>(&cmd).await {
        Err(e) if e.server_code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// `<host>-<pid>-<random>`: unique per consumer, readable in `XINFO`.
fn unique_consumer_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                .take(64)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "consumer".to_owned());
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        hasher.finish() as u32
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The wait before the next call after `errors` errors in a row.
fn backoff(base: Duration, errors: u32) -> Duration {
    let base = base.max(Duration::from_millis(100));
    let doublings = errors.clamp(1, 7) - 1;
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_are_unique_and_tidy() {
        let a = unique_consumer_name();
        let b = unique_consumer_name();
        assert_ne!(a, b);
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')),
            "{a}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(200);
        assert_eq!(backoff(base, 1), Duration::from_millis(200));
        assert_eq!(backoff(base, 2), Duration::from_millis(400));
        assert_eq!(backoff(base, 3), Duration::from_millis(800));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 1), Duration::from_millis(100));
    }
}
