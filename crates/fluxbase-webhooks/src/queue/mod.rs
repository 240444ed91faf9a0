//! A durable handoff of verified deliveries to a Redis Stream, and consumers
//! that survive crashes.
//!
//! Fluxbase asks receivers to answer quickly and to process events in the
//! background, and it delivers each event at least once. This module is that
//! pattern on Redis Streams:
//!
//! - [`StreamWriter::append`] adds one verified delivery ([`QueuedDelivery`]:
//!   the raw body, what was verified, the event key and the duplicate flag)
//!   to a bounded stream (`XADD`). A receiver acknowledges the HTTP
//!   request only after it returned `Ok`; on an error it answers `503` with
//!   `Retry-After` ([`QueueError::retry_after`]) so that Fluxbase sends the
//!   delivery again. Nothing verified but not appended is acknowledged.
//! - [`StreamConsumer`] reads the stream as one consumer of a consumer group
//!   (`XREADGROUP`) and yields [`Message`]s: the typed [`Event`](crate::Event),
//!   the [`QueuedDelivery`], the entry id, the attempt number and the
//!   duplicate flag. Each message is acknowledged explicitly
//!   ([`Message::ack`]) or failed ([`Message::fail`]).
//! - [`DeadLetters`] lists the messages that failed too often and replays
//!   them onto the stream.
//!
//! ```no_run
//! # async fn run() -> Result<(), fluxbase_webhooks::queue::QueueError> {
//! use fluxbase_webhooks::queue::StreamConsumer;
//!
//! let mut consumer = StreamConsumer::builder("redis://127.0.0.1:6379/", "fluxhook:deliveries", "billing")
//!     .connect()
//!     .await?;
//! while let Some(message) = consumer.next().await? {
//!     if message.is_duplicate() {
//!         // The receiver saw this event before: act on it once.
//!     }
//!     match handle(message.event()).await {
//!         Ok(()) => message.ack().await?,
//!         Err(e) => {
//!             message.fail(e).await?;
//!         }
//!     }
//! }
//! # Ok(()) }
//! # async fn handle(_: &fluxbase_webhooks::Event) -> Result<(), String> { Ok(()) }
//! ```
//!
//! # Delivery guarantees
//!
//! **At least once.** An entry leaves a consumer group only when it is
//! acknowledged (`XACK`), so a consumer that crashes, hangs or is killed
//! loses nothing; it also means a message may be handled more than once (a
//! consumer that finished the work but died before its `ack`; one slower
//! than the visibility timeout). Handlers must be idempotent: the
//! [event key](QueuedDelivery::event_key) (the same key as
//! [`dedupe::event_key`](crate::dedupe::event_key)) identifies an event across
//! Fluxbase's retries and these redeliveries, and the duplicate flag says the
//! receiver had already seen it.
//!
//! **Visibility timeout and reclaiming.** A message read by a consumer stays
//! in the group's pending entries list under that consumer's name until it
//! is acknowledged. Once it has been idle longer than the visibility timeout,
//! any consumer of the group takes it over with `XAUTOCLAIM` and handles it
//! again, with the attempt number increased (Redis's delivery count).
//!
//! **Failures and dead letters.** [`Message::fail`] hands the message back
//! for another attempt after the retry delay. When the attempt that failed
//! was the last one allowed, the message moves to the dead-letter stream
//! instead, with the error, its original entry id and the number of
//! attempts. A message whose consumers kept dying while handling it is
//! dead-lettered the same way once it has been delivered the maximum number
//! of times. So is an entry whose body no longer parses as a Fluxbase
//! payload, or that is not a delivery at all: it is set aside, never a
//! panic, and the consumer goes on.
//!
//! The move is one Lua script run by Redis (`XADD` to the dead-letter stream,
//! then `XACK`), executed only while the failing consumer still holds the
//! message: it cannot be lost half-way, and a message another consumer has
//! reclaimed in the meantime is left to that consumer. If the connection
//! breaks before the answer arrives, the caller gets an error without
//! knowing whether the move happened; the message is then either dead
//! (moved) or still pending and reclaimed later, and a reclaimed copy may be
//! handled once more (at least once, again).
//!
//! **Releasing.** Dropping a [`Message`] without acknowledging it leaves it
//! pending: it is reclaimed after the visibility timeout, with one more
//! attempt counted. [`Message::release`] hands it back explicitly instead:
//! another consumer may take it at once, and the attempt is not counted.
//! On shutdown ([`StopHandle::stop`]), the consumer stops reading and
//! releases the messages it had read but not yet yielded; the messages in
//! the caller's hands are finished (`ack`/`fail`) or released by the caller.
//!
//! **Bounded stream: full means refused, never forgotten.** The stream
//! holds at most [`max_len`](StreamWriterBuilder::max_len) entries (default
//! [`DEFAULT_MAX_LEN`]), and the bound only ever drops entries every
//! consumer group of the stream has read and acknowledged. Far below the
//! bound (by a tenth of it, at least 1,024 entries, as the writer read the
//! length in the last 100 ms) an append is a plain `XADD` pipelined with
//! `XLEN`; nearer, it is one Lua script run by Redis, `XLEN` and then `XADD`
//! when there is room. At the bound that script first trims (`XTRIM … MINID`) the head of the stream up to
//! the first entry some group still needs: for each group (`XINFO GROUPS`)
//! its oldest pending entry (`XPENDING`), or with nothing pending the first
//! entry after its `last-delivered-id`, the earliest over all groups. That
//! frees every acknowledged entry at once, so a stream whose consumers keep
//! up does this once per `max_len` appends or so. When the stream is still
//! at the bound, the append is refused with [`QueueError::Full`] (code
//! `queue_full`): the consumers are behind or down, the receiver answers
//! `503` with `Retry-After`, and Fluxbase retries later. An entry read but
//! not acknowledged is never trimmed, nor is anything after it; with no
//! group at all nothing is trimmed (nobody has read anything), so such a
//! stream fills to `max_len` and then refuses. A
//! [replay](DeadLetters::replay) is bounded the same way. Size `max_len`
//! above the largest backlog you expect (consumers down for a while at the
//! busiest rate): past it, Fluxbase's own retries (by default 3 attempts
//! over 15 s) are all that wait, and a delivery refused on each shows as
//! failed in Fluxbase's delivery log. Only someone trimming or deleting by
//! hand (`XTRIM`, `XDEL`) removes an entry a group still holds; a consumer
//! that then reclaims it logs it and moves on. The dead-letter stream is
//! never trimmed: its entries stay until they are replayed or removed.
//! Needs Redis 6.2 or later (`XAUTOCLAIM`, `XTRIM … MINID`).
//!
//! # Several receivers and consumers on one Redis
//!
//! Every receiver appends to the same stream; every consumer of one group
//! shares its work (each entry goes to one consumer of the group at a time);
//! each further group (another application) gets every entry again. Give
//! every consumer of a group its own name (the default is unique per
//! process): two live consumers with one name would share one pending list.
//!
//! # Stream entry format
//!
//! A delivery is one stream entry with these fields (format version 1): `v`
//! (`1`), `body` (the raw body bytes, as verified; never re-serialized),
//! `scheme` (`timestamped`, `hex` or `sha256`), `key_index`, `key_id`
//! (when the key has an id), `t` (the signed timestamp, when there is one),
//! `received_ms` (Unix milliseconds), `event_key` (when the body has one)
//! and `duplicate` (`0` or `1`). Readers ignore fields they do not know;
//! `v` changes only when the meaning of a field does. A dead-letter entry
//! has the same fields plus `dead_error`, `dead_from` (the original entry
//! id), `dead_attempts`, `dead_at_ms`, `dead_group` and `dead_consumer`.
//!
//! Streams and groups live in one Redis (not a cluster): the dead-letter
//! moves and replays touch two keys in one script.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

mod bound;
mod connection;
mod consumer;
mod dead_letter;
mod delivery;
mod error;
#[cfg(feature = "receive")]
pub(crate) mod handoff;
mod writer;

pub use self::consumer::{Failed, Message, StopHandle, StreamConsumer, StreamConsumerBuilder};
pub use self::dead_letter::{
    DeadLetter, DeadLetters, DeadLettersBuilder, ReplayReport, ReplayStopped,
};
pub use self::delivery::{DecodeError, QueuedDelivery, QueuedDeliveryBuilder};
pub use self::error::QueueError;
#[cfg(feature = "receive")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix"))))]
pub use self::handoff::Handoff;
pub use self::writer::{StreamWriter, StreamWriterBuilder};

/// The stream a [`StreamWriter`] appends to unless told otherwise.
pub const DEFAULT_STREAM: &str = "fluxhook:deliveries";

/// The most entries a [`StreamWriter`] lets its stream hold unless told
/// otherwise; at the bound it trims only what every consumer group has
/// acknowledged, and refuses when that is not enough
/// ([`QueueError::Full`]).
pub const DEFAULT_MAX_LEN: usize = 100_000;

/// How long a receiver should ask the sender to wait (`Retry-After`) when
/// Redis is unavailable or the stream is full; see
/// [`QueueError::retry_after`].
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The dead-letter stream used for `stream` unless another is configured:
/// `<stream>:dead-letters`.
///
/// ```
/// use fluxbase_webhooks::queue::dead_letter_stream;
///
/// assert_eq!(dead_letter_stream("fluxhook:deliveries"), "fluxhook:deliveries:dead-letters");
/// ```
pub fn dead_letter_stream(stream: &str) -> String {
    format!("{stream}:dead-letters")
}

/// The id of a stream entry: `<milliseconds>-<sequence>`, as Redis assigns
/// it. Ids of one stream are ordered as the entries were added.
///
/// ```
/// use fluxbase_webhooks::queue::EntryId;
///
/// let id: EntryId = "1700000000000-3".parse()?;
/// assert_eq!((id.millis(), id.sequence()), (1_700_000_000_000, 3));
/// assert_eq!(id.to_string(), "1700000000000-3");
/// assert!(id < "1700000000001-0".parse()?);
/// # Ok::<(), fluxbase_webhooks::queue::ParseEntryIdError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    millis: u64,
    sequence: u64,
}

impl EntryId {
    /// The id `<millis>-<sequence>`.
    pub const fn new(millis: u64, sequence: u64) -> Self {
        Self { millis, sequence }
    }

    /// The Unix time in milliseconds at which Redis added the entry.
    pub const fn millis(&self) -> u64 {
        self.millis
    }

    /// The entry's sequence number within its millisecond.
    pub const fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.sequence)
    }
}

/// A string that is not a stream entry id (`<digits>-<digits>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a stream entry id (expected <milliseconds>-<sequence>)")]
pub struct ParseEntryIdError(());

impl FromStr for EntryId {
    type Err = ParseEntryIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (millis, sequence) = s.split_once('-').ok_or(ParseEntryIdError(()))?;
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseEntryIdError(()));
            }
            part.parse::<u64>().map_err(|_| ParseEntryIdError(()))
        };
        Ok(Self::new(number(millis)?, number(sequence)?))
    }
}

impl EntryId {
    /// An id Redis returned: anything else is a refusal, not an outage.
    pub(crate) fn from_reply(id: &str) -> Result<Self, QueueError> {
        id.parse().map_err(|_| {
            QueueError::Refused(redis::make_extension_error(
                "UNEXPECTED".to_owned(),
                Some(format!("Redis answered {id:?}, not an entry id")),
            ))
        })
    }
}

/// A time stored in a stream as Unix milliseconds, when it is one a date
/// can be written for (up to the end of year 9999, as RFC 3339 allows):
/// the fields are anyone's who can write to the stream.
pub(crate) fn unix_millis(ms: u64) -> Option<std::time::SystemTime> {
    /// 9999-12-31T23:59:59.999Z.
    const LATEST: u64 = 253_402_300_799_999;
    (ms <= LATEST).then(|| std::time::UNIX_EPOCH + Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_parse_print_and_order() {
        let id: EntryId = "1526919030474-55".parse().unwrap();
        assert_eq!(id, EntryId::new(1_526_919_030_474, 55));
        assert_eq!(id.to_string(), "1526919030474-55");
        assert!(EntryId::new(5, 10) < EntryId::new(6, 0));
        assert!(EntryId::new(5, 9) < EntryId::new(5, 10));
        for bad in [
            "",
            "-",
            "1",
            "1-",
            "-1",
            "1-2-3",
            "a-1",
            "1-+2",
            " 1-2",
            "99999999999999999999-0",
        ] {
            assert!(bad.parse::<EntryId>().is_err(), "{bad:?}");
        }
    }
}
