//! [`Error`] and its stable [`Code`]s, [`Malformed`], [`PayloadError`] and
//! [`ConfigError`].

use std::fmt;
use std::sync::Arc;

use crate::dedupe::StoreError;

/// Why a webhook delivery was refused.
///
/// Every variant maps to one stable [`Code`] (see [`Error::code`]); the code
/// is what the CLI's `--json` output, the HTTP problem body and tracing
/// fields carry. Messages say what was wrong and never contain a secret or an
/// expected signature. Errors that wrap another error keep it as their
/// [`source`](std::error::Error::source).
///
/// ```
/// use fluxbase_webhooks::{Code, Verifier};
///
/// let verifier = Verifier::new("whsec-test")?;
/// let err = verifier.verify("", b"{}").unwrap_err();
/// assert_eq!(err.code(), Code::MissingSignature);
/// assert_eq!(err.code().as_str(), "missing_signature");
/// assert_eq!(err.code().http_status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No signature header, or an empty one.
    #[error("no webhook signature header was sent")]
    MissingSignature,
    /// Only the legacy `X-Webhook-Signature` header was sent (as servers
    /// before 2026-01 do), and the verifier does not read it.
    #[error(
        "only the legacy X-Webhook-Signature header was sent; it is read only when enabled \
         (the verifier's legacy_header(true), or `fluxhook listen --legacy-header`)"
    )]
    LegacySignatureOnly,
    /// A signature header that cannot be read, or whose scheme the verifier
    /// does not accept.
    #[error("the webhook signature header is malformed: {0}")]
    MalformedSignature(Malformed),
    /// The header is well formed but no signature in it matches any key.
    #[error("no signature in the header matches the body for any configured secret")]
    SignatureMismatch,
    /// The delivery is dated further in the past than the verifier tolerates.
    #[error("the delivery is {age_secs}s old; at most {tolerance_secs}s is accepted")]
    TimestampTooOld {
        /// How old the delivery was, in whole seconds.
        age_secs: u64,
        /// The configured tolerance, in whole seconds.
        tolerance_secs: u64,
    },
    /// The delivery is dated further in the future than the verifier
    /// tolerates.
    #[error(
        "the delivery is dated {ahead_secs}s in the future; at most {future_skew_secs}s is accepted"
    )]
    TimestampInFuture {
        /// How far ahead of the local clock the date was, in whole seconds.
        ahead_secs: u64,
        /// The configured future skew, in whole seconds.
        future_skew_secs: u64,
    },
    /// The signature has no timestamp (bare hex, `sha256=`, the legacy
    /// header) and the body has no usable `timestamp` field, so nothing
    /// shows the delivery is fresh.
    #[error(
        "the signature carries no timestamp and the body has no usable `timestamp` field, \
         so the delivery cannot be shown to be fresh"
    )]
    MissingTimestamp,
    /// The same signed delivery was already accepted.
    #[error("this signed delivery was already received")]
    Replayed,
    /// The body is larger than the configured limit.
    #[error("the body is larger than the {limit} byte limit")]
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The signature is valid but the body is not a Fluxbase webhook payload.
    #[error("the body is not a Fluxbase webhook payload")]
    InvalidPayload(#[source] PayloadError),
    /// The body is a Fluxbase payload, but it does not fit the type the
    /// receiving endpoint expects (the `FluxbaseJson<T>` extractors). The
    /// message names no field or type of the receiver; the source holds the
    /// deserializer's error.
    #[error("the payload does not fit what this endpoint expects")]
    PayloadMismatch(#[source] PayloadError),
    /// The replay / duplicate store could not answer, and the receiver is
    /// set to fail closed (see [`Dedupe::fail_open`](crate::dedupe::Dedupe::fail_open)).
    #[error("the delivery could not be checked for replays")]
    StoreUnavailable(#[source] StoreError),
    /// The delivery was verified but could not be handed to the queue (the
    /// `queue` feature's handoff): the sender should retry later.
    #[error("the delivery could not be queued; retry later")]
    QueueUnavailable(#[source] StoreError),
    /// Taking this delivery's body would pass the receiver's budget of body
    /// bytes buffered at once: the sender should retry later.
    #[error("the receiver is holding as many body bytes as it may; retry later")]
    OverCapacity,
    /// The body did not arrive in full within the receiver's read timeout.
    #[error("the body did not arrive within {after_secs}s")]
    BodyTimeout {
        /// The configured read timeout, in whole seconds.
        after_secs: u64,
    },
    /// The body ended before its announced length, or its framing was
    /// broken (the sender went away mid-body).
    #[error("the body ended before it was complete")]
    BodyIncomplete,
    /// The body was sent with a `Content-Encoding` (such as gzip) the
    /// receiver does not decode: Fluxbase signs and sends plain bodies.
    #[error("the body is sent with Content-Encoding {0:?}; only identity is accepted")]
    UnsupportedEncoding(String),
}

/// What exactly is wrong with a malformed signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The timestamped form has no `t=`, or `t=0`.
    MissingTimestamp,
    /// A `t=` value is not a base-10 64-bit integer.
    InvalidTimestamp,
    /// The timestamped form has no `v1=` value.
    MissingSignatureValue,
    /// More `v1=` values than the verifier examines.
    TooManySignatures {
        /// The most `v1=` values accepted in one header.
        max: usize,
    },
    /// A `sha256=` value (or a legacy header) is not 64 hexadecimal digits.
    InvalidHex,
    /// The header is not valid visible ASCII.
    NotAscii,
    /// The same signature header was sent more than once.
    DuplicateHeader,
    /// The header is in a scheme the verifier was told not to accept.
    SchemeNotAllowed(crate::Scheme),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingTimestamp => f.write_str("missing timestamp (t=) in signature"),
            Self::InvalidTimestamp => f.write_str("invalid timestamp (t=) in signature"),
            Self::MissingSignatureValue => f.write_str("missing signature value (v1=)"),
            Self::TooManySignatures { max } => {
                write!(f, "more than {max} signature values (v1=)")
            }
            Self::InvalidHex => f.write_str("signature is not 64 hexadecimal digits"),
            Self::NotAscii => f.write_str("header contains bytes that are not visible ASCII"),
            Self::DuplicateHeader => f.write_str("the signature header was sent more than once"),
            Self::SchemeNotAllowed(s) => write!(f, "the {s} scheme is not accepted here"),
        }
    }
}

/// Why a body did not read as the expected JSON: the parser's error, shown
/// as is (this type is a transparent wrapper that keeps it cloneable).
///
/// Two `PayloadError`s are equal when their messages are.
#[derive(Clone)]
pub struct PayloadError(Arc<dyn std::error::Error + Send + Sync>);

impl PayloadError {
    pub(crate) fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(err))
    }

    /// The underlying parser error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PayloadError")
            .field(&self.0.to_string())
            .finish()
    }
}

impl PartialEq for PayloadError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for PayloadError {}

impl std::error::Error for PayloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            Self::MissingSignature | Self::LegacySignatureOnly => Code::MissingSignature,
            Self::MalformedSignature(_) => Code::MalformedSignature,
            Self::SignatureMismatch => Code::SignatureMismatch,
            Self::TimestampTooOld { .. } => Code::TimestampTooOld,
            Self::TimestampInFuture { .. } => Code::TimestampInFuture,
            Self::MissingTimestamp => Code::MissingTimestamp,
            Self::Replayed => Code::Replayed,
            Self::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            Self::InvalidPayload(_) => Code::InvalidPayload,
            Self::PayloadMismatch(_) => Code::PayloadMismatch,
            Self::StoreUnavailable(_) => Code::StoreUnavailable,
            Self::QueueUnavailable(_) => Code::QueueUnavailable,
            Self::OverCapacity => Code::OverCapacity,
            Self::BodyTimeout { .. } => Code::BodyTimeout,
            Self::BodyIncomplete => Code::BodyIncomplete,
            Self::UnsupportedEncoding(_) => Code::UnsupportedEncoding,
        }
    }

    pub(crate) fn invalid_payload(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::InvalidPayload(PayloadError::new(e))
    }

    /// The `detail` of the problem document sent back to the sender: the
    /// message, for a body that is not a Fluxbase payload what the parser
    /// found wrong with it (the sender's own bytes), and for a queue whose
    /// stream is full that it is, with the code `queue_full` (fixed words).
    /// Nothing else of a source is shown to the sender: a store's error may
    /// name internal hosts, a deserializer's the receiver's own types.
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidPayload(why) => format!("{self}: {why}"),
            Self::QueueUnavailable(why) => match queue_detail(why) {
                Some(cause) => format!("{self}: {cause}"),
                None => self.to_string(),
            },
            _ => self.to_string(),
        }
    }
}

/// What the sender may be told of why the queue did not take a delivery.
#[cfg(feature = "queue")]
fn queue_detail(why: &StoreError) -> Option<&'static str> {
    std::error::Error::source(why)?
        .downcast_ref::<crate::queue::QueueError>()?
        .sender_detail()
}

#[cfg(not(feature = "queue"))]
fn queue_detail(_: &StoreError) -> Option<&'static str> {
    None
}

impl From<Malformed> for Error {
    fn from(m: Malformed) -> Self {
        Self::MalformedSignature(m)
    }
}

/// The stable, machine-readable code of an [`Error`].
///
/// | code | HTTP |
/// | --- | --- |
/// | `missing_signature` | 401 |
/// | `malformed_signature` | 401 |
/// | `signature_mismatch` | 401 |
/// | `timestamp_too_old` | 401 |
/// | `timestamp_in_future` | 401 |
/// | `missing_timestamp` | 401 |
/// | `replayed` | 409 |
/// | `payload_too_large` | 413 |
/// | `invalid_payload` | 400 |
/// | `payload_mismatch` | 422 |
/// | `store_unavailable` | 503 |
/// | `queue_unavailable` | 503 |
/// | `over_capacity` | 503 |
/// | `body_timeout` | 408 |
/// | `body_incomplete` | 400 |
/// | `unsupported_encoding` | 415 |
///
/// The codes from `payload_mismatch` on come only from HTTP receivers:
/// `payload_mismatch` when a genuine Fluxbase payload does not fit the
/// endpoint's own type (422: the request is fine, this endpoint cannot
/// process it, and Fluxbase retries it, which succeeds once the endpoint is
/// fixed), the 503s when the sender should retry later (a replay store or a
/// queue that is down or whose stream is full, or the receiver's body budget is spent; every one
/// carries `Retry-After`), `body_timeout` when a body stalls, `body_incomplete` when
/// it is cut off, and `unsupported_encoding` for a compressed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// `missing_signature`
    MissingSignature,
    /// `malformed_signature`
    MalformedSignature,
    /// `signature_mismatch`
    SignatureMismatch,
    /// `timestamp_too_old`
    TimestampTooOld,
    /// `timestamp_in_future`
    TimestampInFuture,
    /// `missing_timestamp`
    MissingTimestamp,
    /// `replayed`
    Replayed,
    /// `payload_too_large`
    PayloadTooLarge,
    /// `invalid_payload`
    InvalidPayload,
    /// `payload_mismatch`
    PayloadMismatch,
    /// `store_unavailable`
    StoreUnavailable,
    /// `queue_unavailable`
    QueueUnavailable,
    /// `over_capacity`
    OverCapacity,
    /// `body_timeout`
    BodyTimeout,
    /// `body_incomplete`
    BodyIncomplete,
    /// `unsupported_encoding`
    UnsupportedEncoding,
}

impl Code {
    /// Every code, in the order of the table above.
    pub const ALL: [Code; 16] = [
        Code::MissingSignature,
        Code::MalformedSignature,
        Code::SignatureMismatch,
        Code::TimestampTooOld,
        Code::TimestampInFuture,
        Code::MissingTimestamp,
        Code::Replayed,
        Code::PayloadTooLarge,
        Code::InvalidPayload,
        Code::PayloadMismatch,
        Code::StoreUnavailable,
        Code::QueueUnavailable,
        Code::OverCapacity,
        Code::BodyTimeout,
        Code::BodyIncomplete,
        Code::UnsupportedEncoding,
    ];

    /// The snake_case code string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "malformed_signature",
            Self::SignatureMismatch => "signature_mismatch",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::MissingTimestamp => "missing_timestamp",
            Self::Replayed => "replayed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidPayload => "invalid_payload",
            Self::PayloadMismatch => "payload_mismatch",
            Self::StoreUnavailable => "store_unavailable",
            Self::QueueUnavailable => "queue_unavailable",
            Self::OverCapacity => "over_capacity",
            Self::BodyTimeout => "body_timeout",
            Self::BodyIncomplete => "body_incomplete",
            Self::UnsupportedEncoding => "unsupported_encoding",
        }
    }

    /// The HTTP status a receiver answers with.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::MissingSignature
            | Self::MalformedSignature
            | Self::SignatureMismatch
            | Self::TimestampTooOld
            | Self::TimestampInFuture
            | Self::MissingTimestamp => 401,
            Self::Replayed => 409,
            Self::PayloadTooLarge => 413,
            Self::InvalidPayload | Self::BodyIncomplete => 400,
            Self::PayloadMismatch => 422,
            Self::StoreUnavailable | Self::QueueUnavailable | Self::OverCapacity => 503,
            Self::BodyTimeout => 408,
            Self::UnsupportedEncoding => 415,
        }
    }

    /// A short human title for the code, as used in problem+json bodies.
    pub const fn title(self) -> &'static str {
        match self {
            Self::MissingSignature => "Missing webhook signature",
            Self::MalformedSignature => "Malformed webhook signature",
            Self::SignatureMismatch => "Webhook signature mismatch",
            Self::TimestampTooOld => "Webhook timestamp too old",
            Self::TimestampInFuture => "Webhook timestamp in the future",
            Self::MissingTimestamp => "Webhook delivery not dated",
            Self::Replayed => "Webhook delivery replayed",
            Self::PayloadTooLarge => "Webhook payload too large",
            Self::InvalidPayload => "Invalid webhook payload",
            Self::PayloadMismatch => "Unexpected webhook payload",
            Self::StoreUnavailable => "Webhook replay store unavailable",
            Self::QueueUnavailable => "Webhook queue unavailable",
            Self::OverCapacity => "Webhook receiver over capacity",
            Self::BodyTimeout => "Webhook body timed out",
            Self::BodyIncomplete => "Webhook body incomplete",
            Self::UnsupportedEncoding => "Unsupported webhook content encoding",
        }
    }

    /// Whether the sender should retry later: the answer is a 503 and
    /// carries `Retry-After`.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::StoreUnavailable | Self::QueueUnavailable | Self::OverCapacity
        )
    }

    /// Looks a code up by its string.
    pub fn from_str_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a [`Verifier`](crate::Verifier) or [`Signer`](crate::Signer) could not
/// be built.
///
/// An empty secret would let anyone sign deliveries (HMAC with an empty key
/// is public knowledge), so neither is ever built from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret is empty (an unset environment variable read as `""`, say).
    #[error("a webhook secret is empty; set a real secret (FLUXBASE_WEBHOOK_SECRET)")]
    EmptySecret,
    /// The keyring has no secret at all.
    #[error("no webhook secret was given")]
    NoSecret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()));
            assert_eq!(Code::from_str_code(c.as_str()), Some(c));
        }
        assert_eq!(Code::from_str_code("nope"), None);
    }

    #[test]
    fn statuses_match_the_design_table() {
        assert_eq!(Code::Replayed.http_status(), 409);
        assert_eq!(Code::PayloadTooLarge.http_status(), 413);
        assert_eq!(Code::InvalidPayload.http_status(), 400);
        assert_eq!(Code::SignatureMismatch.http_status(), 401);
        assert_eq!(Code::MissingTimestamp.http_status(), 401);
        assert_eq!(Code::PayloadMismatch.http_status(), 422);
        assert_eq!(Code::BodyIncomplete.http_status(), 400);
        for code in Code::ALL {
            assert_eq!(code.is_retryable(), code.http_status() == 503, "{code}");
        }
    }

    #[test]
    fn messages_carry_no_secret_material() {
        let e = Error::TimestampTooOld {
            age_secs: 600,
            tolerance_secs: 300,
        };
        assert_eq!(
            e.to_string(),
            "the delivery is 600s old; at most 300s is accepted"
        );
        assert_eq!(e.code(), Code::TimestampTooOld);
    }

    #[test]
    fn wrapped_errors_keep_their_source() {
        use std::error::Error as _;
        let parse = serde_json::from_str::<u8>("x").unwrap_err();
        let shown = parse.to_string();
        let e = Error::invalid_payload(parse);
        assert_eq!(e.source().map(ToString::to_string), Some(shown.clone()));
        assert_eq!(e.detail(), format!("{e}: {shown}"));
        let mismatch = Error::PayloadMismatch(PayloadError::new(
            serde_json::from_str::<u8>("x").unwrap_err(),
        ));
        assert!(!mismatch.detail().contains("expected"));
        assert_eq!(mismatch.source().map(ToString::to_string), Some(shown));
        let store = Error::StoreUnavailable(StoreError::new(std::io::Error::other("down")));
        assert!(!store.detail().contains("down"));
        assert_eq!(
            store
                .source()
                .and_then(|s| s.source())
                .map(ToString::to_string),
            Some("down".to_owned())
        );
    }
}
