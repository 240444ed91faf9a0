//! [`Error`] and its stable [`Code`]s.

use std::fmt;

/// Why a webhook delivery was refused.
///
/// Every variant maps to one stable [`Code`] (see [`Error::code`]); the code
/// is what the CLI's `--json` output, the HTTP problem body and tracing
/// fields carry. Messages say what was wrong and never contain a secret or an
/// expected signature.
///
/// ```
/// use fluxbase_webhooks::{Code, Verifier};
///
/// let err = Verifier::new("whsec").verify("", b"{}").unwrap_err();
/// assert_eq!(err.code(), Code::MissingSignature);
/// assert_eq!(err.code().as_str(), "missing_signature");
/// assert_eq!(err.code().http_status(), 401);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No signature header, or an empty one.
    #[error("no webhook signature header was sent")]
    MissingSignature,
    /// A signature header that cannot be read, or whose scheme the verifier
    /// does not accept.
    #[error("the webhook signature header is malformed: {0}")]
    MalformedSignature(Malformed),
    /// The header is well formed but no signature in it matches any key.
    #[error("no signature in the header matches the body for any configured secret")]
    SignatureMismatch,
    /// The timestamp is further in the past than the verifier tolerates.
    #[error("the signature timestamp is {age_secs}s old; at most {tolerance_secs}s is accepted")]
    TimestampTooOld {
        /// How old the timestamp was, in whole seconds.
        age_secs: u64,
        /// The configured tolerance, in whole seconds.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the verifier tolerates.
    #[error(
        "the signature timestamp is {ahead_secs}s in the future; at most {max_skew_secs}s is accepted"
    )]
    TimestampInFuture {
        /// How far ahead of the local clock the timestamp was, in whole seconds.
        ahead_secs: u64,
        /// The configured maximum skew, in whole seconds.
        max_skew_secs: u64,
    },
    /// The exact same signed delivery was already accepted.
    #[error("this signed delivery was already received")]
    Replayed,
    /// The body is larger than the configured limit.
    #[error("the body is larger than the {limit} byte limit")]
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The signature is valid but the body is not a Fluxbase webhook payload.
    #[error("the body is not a Fluxbase webhook payload: {0}")]
    InvalidPayload(String),
    /// The replay / duplicate store could not answer, and the receiver is
    /// set to fail closed (see [`Dedupe::fail_open`](crate::dedupe::Dedupe::fail_open)).
    #[error("the delivery could not be checked for replays: {0}")]
    StoreUnavailable(String),
    /// The body did not arrive in full within the receiver's read timeout.
    #[error("the body did not arrive within {after_secs}s")]
    BodyTimeout {
        /// The configured read timeout, in whole seconds.
        after_secs: u64,
    },
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
    /// A `sha256=` value is not 64 hexadecimal digits.
    InvalidHex,
    /// The header is not valid visible ASCII.
    NotAscii,
    /// The same signature header was sent more than once.
    DuplicateHeader,
    /// The header is in a scheme the verifier was told not to accept.
    SchemeNotAllowed(crate::Scheme),
    /// No configured secret is valid at the time of verification.
    NoUsableSecret,
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
            Self::NoUsableSecret => f.write_str("no configured secret is currently valid"),
        }
    }
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            Self::MissingSignature => Code::MissingSignature,
            Self::MalformedSignature(_) => Code::MalformedSignature,
            Self::SignatureMismatch => Code::SignatureMismatch,
            Self::TimestampTooOld { .. } => Code::TimestampTooOld,
            Self::TimestampInFuture { .. } => Code::TimestampInFuture,
            Self::Replayed => Code::Replayed,
            Self::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            Self::InvalidPayload(_) => Code::InvalidPayload,
            Self::StoreUnavailable(_) => Code::StoreUnavailable,
            Self::BodyTimeout { .. } => Code::BodyTimeout,
            Self::UnsupportedEncoding(_) => Code::UnsupportedEncoding,
        }
    }

    pub(crate) fn invalid_payload(e: impl fmt::Display) -> Self {
        Self::InvalidPayload(e.to_string())
    }
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
/// | `replayed` | 409 |
/// | `payload_too_large` | 413 |
/// | `invalid_payload` | 400 |
/// | `store_unavailable` | 503 |
/// | `body_timeout` | 408 |
/// | `unsupported_encoding` | 415 |
///
/// The last three come only from HTTP receivers: `store_unavailable` from
/// one with a replay / duplicate store that cannot reach it and fails closed
/// (the sender should retry later), `body_timeout` when a body stalls, and
/// `unsupported_encoding` for a compressed body.
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
    /// `replayed`
    Replayed,
    /// `payload_too_large`
    PayloadTooLarge,
    /// `invalid_payload`
    InvalidPayload,
    /// `store_unavailable`
    StoreUnavailable,
    /// `body_timeout`
    BodyTimeout,
    /// `unsupported_encoding`
    UnsupportedEncoding,
}

impl Code {
    /// Every code, in the order of the table above.
    pub const ALL: [Code; 11] = [
        Code::MissingSignature,
        Code::MalformedSignature,
        Code::SignatureMismatch,
        Code::TimestampTooOld,
        Code::TimestampInFuture,
        Code::Replayed,
        Code::PayloadTooLarge,
        Code::InvalidPayload,
        Code::StoreUnavailable,
        Code::BodyTimeout,
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
            Self::Replayed => "replayed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidPayload => "invalid_payload",
            Self::StoreUnavailable => "store_unavailable",
            Self::BodyTimeout => "body_timeout",
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
            | Self::TimestampInFuture => 401,
            Self::Replayed => 409,
            Self::PayloadTooLarge => 413,
            Self::InvalidPayload => 400,
            Self::StoreUnavailable => 503,
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
            Self::Replayed => "Webhook delivery replayed",
            Self::PayloadTooLarge => "Webhook payload too large",
            Self::InvalidPayload => "Invalid webhook payload",
            Self::StoreUnavailable => "Webhook replay store unavailable",
            Self::BodyTimeout => "Webhook body timed out",
            Self::UnsupportedEncoding => "Unsupported webhook content encoding",
        }
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
    }

    #[test]
    fn messages_carry_no_secret_material() {
        let e = Error::TimestampTooOld {
            age_secs: 600,
            tolerance_secs: 300,
        };
        assert_eq!(
            e.to_string(),
            "the signature timestamp is 600s old; at most 300s is accepted"
        );
        assert_eq!(e.code(), Code::TimestampTooOld);
    }
}
