//! [`QueueError`]: why a queue operation failed, and whether waiting helps.

use std::time::Duration;

use redis::{ErrorKind, RedisError, ServerErrorKind};

use super::{EntryId, RETRY_AFTER};

/// Why a queue operation failed.
///
/// Each variant has a stable [`code`](QueueError::code). The Redis error, when
/// there is one, is the [`source`](std::error::Error::source); messages never
/// contain the Redis URL (which may hold a password).
///
/// A receiver answers every failed [`append`](super::StreamWriter::append)
/// with `503` and `Retry-After` ([`QueueError::retry_after`]): Fluxbase then
/// delivers again, and the delivery is never acknowledged without having
/// been appended. [`QueueError::is_unavailable`] tells a transient outage
/// (Redis down, slow, loading, failing over) from a refusal that waiting
/// will not fix (a key of the wrong type, a missing ACL permission), which
/// deserves an operator's attention. [`QueueError::Full`] is neither: Redis
/// is fine but the consumers are behind, and waiting for them helps.
///
/// ```
/// use fluxbase_webhooks::queue::QueueError;
///
/// fn answer(err: &QueueError) -> (u16, Option<u64>) {
///     // Unavailable or not, the delivery was not queued: refuse it.
///     (503, err.retry_after().map(|d| d.as_secs()))
/// }
/// # let _ = answer;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// Redis could not be reached, dropped the connection, or cannot take
    /// commands for now (loading its data, out of memory, busy running a
    /// script, a replica during a failover). Code `queue_unavailable`.
    #[error("redis is unavailable")]
    Unavailable(#[source] RedisError),
    /// Redis did not answer within the configured timeout. Code
    /// `queue_timeout`.
    #[error("redis did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Redis refused the command for a reason waiting will not fix: a key of
    /// the wrong type, a missing permission, a failed authentication. Code
    /// `queue_refused`.
    #[error("redis refused the command")]
    Refused(#[source] RedisError),
    /// The configuration cannot work: an invalid URL, an empty stream or
    /// group name, a zero limit. Code `queue_config`.
    #[error("invalid queue configuration: {0}")]
    Config(String),
    /// The dead letter holds nothing to replay: its entry had been trimmed
    /// or deleted from the stream before it was dead-lettered (by hand with
    /// `XTRIM` or `XDEL`, or by another program's `XADD … MAXLEN`: the
    /// writers' bound never removes an entry a group has not acknowledged),
    /// so only the error and the attempt count were kept. It stays in the dead-letter
    /// stream until removed. Code `queue_nothing_to_replay`.
    #[error(
        "dead letter {0} holds nothing to replay: its entry had been trimmed from the stream \
         before it was dead-lettered"
    )]
    NothingToReplay(EntryId),
    /// The stream holds its `max_len` entries and not every consumer group
    /// has acknowledged them: the stream is full of entries not yet
    /// processed, so nothing was added (the bound never drops those). The
    /// consumers are behind or down; the same call succeeds once they
    /// acknowledged enough, so the receiver answers 503 with `Retry-After`
    /// ([`QueueError::retry_after`]). Code `queue_full`.
    #[error(
        "the stream is full of entries not yet processed: it holds {max_len} entries (its \
         max_len) that not every consumer group has acknowledged"
    )]
    Full {
        /// The stream's bound ([`max_len`](super::StreamWriterBuilder::max_len)).
        max_len: usize,
    },
}

impl QueueError {
    /// The stable code: `queue_unavailable`, `queue_timeout`,
    /// `queue_refused`, `queue_config`, `queue_nothing_to_replay` or
    /// `queue_full`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "queue_unavailable",
            Self::Timeout(_) => "queue_timeout",
            Self::Refused(_) => "queue_refused",
            Self::Config(_) => "queue_config",
            Self::NothingToReplay(_) => "queue_nothing_to_replay",
            Self::Full { .. } => "queue_full",
        }
    }

    /// `true` for a transient outage of Redis ([`QueueError::Unavailable`]
    /// and [`QueueError::Timeout`]): the same call may succeed later. A
    /// [full](QueueError::Full) stream is not an outage (Redis answers; the
    /// consumers are behind), though waiting helps there too
    /// ([`QueueError::retry_after`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }

    /// How long to ask the sender to wait before it retries
    /// ([`RETRY_AFTER`]): for a transient outage, and for a
    /// [full](QueueError::Full) stream; `None` otherwise.
    pub fn retry_after(&self) -> Option<Duration> {
        (self.is_unavailable() || matches!(self, Self::Full { .. })).then_some(RETRY_AFTER)
    }

    /// What a receiver may tell the sender of this error, beyond "not
    /// queued, retry later": only that the stream is full, in fixed words
    /// with the code (nothing that names a host, a key or a limit).
    pub(crate) fn sender_detail(&self) -> Option<&'static str> {
        match self {
            Self::Full { .. } => {
                Some("the stream is full of entries not yet processed (queue_full)")
            }
            _ => None,
        }
    }

    /// Classifies an error from Redis.
    pub(crate) fn from_redis(e: RedisError) -> Self {
        if is_transient(&e) {
            Self::Unavailable(e)
        } else {
            Self::Refused(e)
        }
    }

    /// The server's error code (`NOGROUP`, `WRONGTYPE`, …), if Redis sent one.
    pub(crate) fn server_code(&self) -> Option<&str> {
        match self {
            Self::Unavailable(e) | Self::Refused(e) => e.code(),
            Self::Timeout(_) | Self::Config(_) | Self::NothingToReplay(_) | Self::Full { .. } => {
                None
            }
        }
    }
}

/// Whether waiting may help: connection trouble, or a server that cannot take
/// commands for now.
fn is_transient(e: &RedisError) -> bool {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return true;
    }
    match e.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        ) => true,
        // Out of memory, a long script, too few replicas: codes Redis sends
        // that the client does not name.
        _ => matches!(e.code(), Some("OOM" | "BUSY" | "NOREPLICAS")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> RedisError {
        redis::make_extension_error(code.to_owned(), Some("detail".to_owned()))
    }

    #[test]
    fn outages_are_unavailable_and_refusals_are_not() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let down = QueueError::from_redis(io);
        assert!(down.is_unavailable(), "{down:?}");
        assert_eq!(down.code(), "queue_unavailable");
        assert_eq!(down.retry_after(), Some(RETRY_AFTER));
        assert!(std::error::Error::source(&down).is_some());

        assert!(QueueError::from_redis(server("OOM")).is_unavailable());

        let wrong = QueueError::from_redis(server("WRONGTYPE"));
        assert!(!wrong.is_unavailable());
        assert_eq!(wrong.code(), "queue_refused");
        assert_eq!(wrong.retry_after(), None);
        assert_eq!(wrong.server_code(), Some("WRONGTYPE"));

        let slow = QueueError::Timeout(Duration::from_millis(250));
        assert!(slow.is_unavailable());
        assert_eq!(slow.code(), "queue_timeout");
        assert_eq!(slow.to_string(), "redis did not answer within 250 ms");
        assert!(!QueueError::Config("x".into()).is_unavailable());
        let empty = QueueError::NothingToReplay(EntryId::new(5, 1));
        assert!(!empty.is_unavailable());
        assert_eq!(empty.code(), "queue_nothing_to_replay");
        assert!(
            empty
                .to_string()
                .starts_with("dead letter 5-1 holds nothing to replay")
        );
        let full = QueueError::Full { max_len: 10 };
        assert!(!full.is_unavailable(), "Redis answered");
        assert_eq!(full.retry_after(), Some(RETRY_AFTER), "waiting helps");
        assert_eq!(full.code(), "queue_full");
        assert!(
            full.to_string().starts_with(
                "the stream is full of entries not yet processed: it holds 10 entries"
            ),
            "{full}"
        );
    }
}
