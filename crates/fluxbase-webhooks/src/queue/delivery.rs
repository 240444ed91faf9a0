//! [`QueuedDelivery`]: one verified delivery as a stream entry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis::{Cmd, ScriptInvocation, ToRedisArgs, Value};

use crate::signature::Scheme;

/// The format version written in the `v` field.
const VERSION: &str = "1";

const F_VERSION: &str = "v";
const F_BODY: &str = "body";
const F_SCHEME: &str = "scheme";
const F_KEY_INDEX: &str = "key_index";
const F_KEY_ID: &str = "key_id";
const F_TIMESTAMP: &str = "t";
const F_RECEIVED: &str = "received_ms";
const F_EVENT_KEY: &str = "event_key";
const F_DUPLICATE: &str = "duplicate";

/// Something that takes command arguments: a command, or a script's
/// invocation.
pub(crate) trait Args {
    /// Adds one argument.
    fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self;
}

impl Args for Cmd {
    fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        Cmd::arg(self, arg)
    }
}

impl Args for ScriptInvocation<'_> {
    fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        ScriptInvocation::arg(self, arg)
    }
}

/// One verified delivery, as a receiver hands it over and a consumer gets it
/// back: the raw body exactly as it was verified, what verified it, when it
/// arrived, its event key and whether the receiver had seen the event
/// before.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use fluxbase_webhooks::{Scheme, dedupe::event_key, queue::QueuedDelivery};
///
/// let body = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"u1"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let delivery = QueuedDelivery::builder(&body[..], Scheme::Timestamped)
///     .key_index(0)
///     .key_id(Some("current"))
///     .timestamp(Some(1_767_323_045))
///     .received_at(UNIX_EPOCH + Duration::from_secs(1_767_323_046))
///     .event_key(event_key(body))
///     .duplicate(false)
///     .build();
/// assert_eq!(delivery.body(), &body[..]);
/// assert_eq!(delivery.key_id(), Some("current"));
/// assert!(delivery.event_key().is_some_and(|k| k.starts_with("event:")));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QueuedDelivery {
    body: Bytes,
    scheme: Scheme,
    key_index: usize,
    key_id: Option<Arc<str>>,
    timestamp: Option<i64>,
    received_at: SystemTime,
    event_key: Option<String>,
    duplicate: bool,
}

/// Builds a [`QueuedDelivery`]; every setting but the body and the scheme
/// has a default (key 0 with no id, no timestamp, received now, no event
/// key, not a duplicate).
#[must_use]
#[derive(Clone)]
pub struct QueuedDeliveryBuilder {
    delivery: QueuedDelivery,
}

impl QueuedDelivery {
    /// A builder for a delivery of `body` whose signature matched with
    /// `scheme`.
    pub fn builder(body: impl Into<Bytes>, scheme: Scheme) -> QueuedDeliveryBuilder {
        QueuedDeliveryBuilder {
            delivery: Self {
                body: body.into(),
                scheme,
                key_index: 0,
                key_id: None,
                timestamp: None,
                received_at: SystemTime::now(),
                event_key: None,
                duplicate: false,
            },
        }
    }

    /// The raw body, byte for byte as it was verified.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The scheme of the signature that matched.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The index in the verifier's keyring of the key that matched.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// The id of the key that matched, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The signed `t` (timestamped scheme only).
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// When the receiver got the delivery (to the millisecond once stored).
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// The event's key (the one [`dedupe::event_key`](crate::dedupe::event_key)
    /// computes, or the receiver's own key function): the same for every
    /// delivery of one event.
    pub fn event_key(&self) -> Option<&str> {
        self.event_key.as_deref()
    }

    /// Whether the receiver had already seen this event (same event key).
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// Appends the entry's fields (format version 1) to an `XADD`, or to the
    /// arguments of a script that adds the entry.
    pub(crate) fn write_fields(&self, cmd: &mut impl Args) {
        cmd.arg(F_VERSION).arg(VERSION);
        cmd.arg(F_BODY).arg(&self.body[..]);
        cmd.arg(F_SCHEME).arg(self.scheme.as_str());
        cmd.arg(F_KEY_INDEX).arg(self.key_index);
        if let Some(id) = &self.key_id {
            cmd.arg(F_KEY_ID).arg(&**id);
        }
        if let Some(t) = self.timestamp {
            cmd.arg(F_TIMESTAMP).arg(t);
        }
        cmd.arg(F_RECEIVED).arg(unix_millis(self.received_at));
        if let Some(key) = &self.event_key {
            cmd.arg(F_EVENT_KEY).arg(key);
        }
        cmd.arg(F_DUPLICATE)
            .arg(if self.duplicate { "1" } else { "0" });
    }

    /// Reads an entry's fields back.
    pub(crate) fn from_fields(fields: &mut HashMap<String, Value>) -> Result<Self, DecodeError> {
        let version = text(fields, F_VERSION)?.ok_or(DecodeError::MissingField(F_VERSION))?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let body = fields
            .remove(F_BODY)
            .ok_or(DecodeError::MissingField(F_BODY))
            .and_then(|v| {
                redis::from_redis_value::<Vec<u8>>(v).map_err(|_| DecodeError::InvalidField(F_BODY))
            })?;
        let scheme = text(fields, F_SCHEME)?
            .ok_or(DecodeError::MissingField(F_SCHEME))
            .and_then(|s| Scheme::from_name(&s).ok_or(DecodeError::InvalidField(F_SCHEME)))?;
        let key_index =
            number(fields, F_KEY_INDEX)?.ok_or(DecodeError::MissingField(F_KEY_INDEX))?;
        let received_ms: u64 =
            number(fields, F_RECEIVED)?.ok_or(DecodeError::MissingField(F_RECEIVED))?;
        let received_at =
            super::unix_millis(received_ms).ok_or(DecodeError::InvalidField(F_RECEIVED))?;
        let duplicate = match text(fields, F_DUPLICATE)?.as_deref() {
            Some("1") => true,
            Some("0") | None => false,
            Some(_) => return Err(DecodeError::InvalidField(F_DUPLICATE)),
        };
        Ok(Self {
            body: Bytes::from(body),
            scheme,
            key_index,
            key_id: text(fields, F_KEY_ID)?.map(Arc::from),
            timestamp: number(fields, F_TIMESTAMP)?,
            received_at,
            event_key: text(fields, F_EVENT_KEY)?,
            duplicate,
        })
    }
}

impl QueuedDeliveryBuilder {
    /// The index in the verifier's keyring of the key that matched (default 0).
    pub fn key_index(mut self, index: usize) -> Self {
        self.delivery.key_index = index;
        self
    }

    /// The id of the key that matched (default none).
    pub fn key_id(mut self, id: Option<&str>) -> Self {
        self.delivery.key_id = id.map(Arc::from);
        self
    }

    /// The signed `t`, for the timestamped scheme (default none).
    pub fn timestamp(mut self, t: Option<i64>) -> Self {
        self.delivery.timestamp = t;
        self
    }

    /// When the delivery arrived (default: when the builder was made).
    pub fn received_at(mut self, at: SystemTime) -> Self {
        self.delivery.received_at = at;
        self
    }

    /// The event's key (default none).
    pub fn event_key(mut self, key: Option<String>) -> Self {
        self.delivery.event_key = key;
        self
    }

    /// Whether the receiver had already seen the event (default `false`).
    pub fn duplicate(mut self, duplicate: bool) -> Self {
        self.delivery.duplicate = duplicate;
        self
    }

    /// The delivery.
    pub fn build(self) -> QueuedDelivery {
        self.delivery
    }
}

impl fmt::Debug for QueuedDelivery {
    /// Shows the body's length, not the body (it may hold personal data).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedDelivery")
            .field("body_len", &self.body.len())
            .field("scheme", &self.scheme)
            .field("key_index", &self.key_index)
            .field("key_id", &self.key_id)
            .field("timestamp", &self.timestamp)
            .field("received_at", &self.received_at)
            .field("event_key", &self.event_key)
            .field("duplicate", &self.duplicate)
            .finish()
    }
}

impl fmt::Debug for QueuedDeliveryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueuedDeliveryBuilder")
            .field(&self.delivery)
            .finish()
    }
}

/// A stream entry that is not a delivery this version can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The entry was written in a format version this build does not read.
    #[error("entry format version {0:?} is not supported (this build reads version 1)")]
    UnsupportedVersion(String),
    /// A required field is missing.
    #[error("the entry has no `{0}` field")]
    MissingField(&'static str),
    /// A field's value is not what the format says.
    #[error("the entry's `{0}` field is not valid")]
    InvalidField(&'static str),
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A UTF-8 field, taken out of the entry.
fn text(
    fields: &mut HashMap<String, Value>,
    name: &'static str,
) -> Result<Option<String>, DecodeError> {
    fields
        .remove(name)
        .map(|v| redis::from_redis_value::<String>(v).map_err(|_| DecodeError::InvalidField(name)))
        .transpose()
}

/// A decimal field, taken out of the entry.
fn number<T: std::str::FromStr>(
    fields: &mut HashMap<String, Value>,
    name: &'static str,
) -> Result<Option<T>, DecodeError> {
    text(fields, name)?
        .map(|s| s.parse().map_err(|_| DecodeError::InvalidField(name)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields an `XADD` of `delivery` sends, as a stream read returns them.
    pub(crate) fn fields_of(delivery: &QueuedDelivery) -> HashMap<String, Value> {
        let mut cmd = redis::cmd("XADD");
        delivery.write_fields(&mut cmd);
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => panic!("XADD has no cursor argument"),
            })
            .collect();
        args[1..]
            .chunks(2)
            .map(|kv| {
                (
                    String::from_utf8(kv[0].clone()).unwrap(),
                    Value::BulkString(kv[1].clone()),
                )
            })
            .collect()
    }

    fn sample() -> QueuedDelivery {
        QueuedDelivery::builder(&b"{\"event\":\"TEST\"}\xff"[..], Scheme::Timestamped)
            .key_index(2)
            .key_id(Some("previous"))
            .timestamp(Some(-5))
            .received_at(UNIX_EPOCH + std::time::Duration::from_millis(1_767_323_045_123))
            .event_key(Some("event:abc".to_owned()))
            .duplicate(true)
            .build()
    }

    #[test]
    fn fields_round_trip_every_setting() {
        let delivery = sample();
        let mut fields = fields_of(&delivery);
        assert_eq!(fields["body"], Value::BulkString(delivery.body().to_vec()));
        assert_eq!(QueuedDelivery::from_fields(&mut fields), Ok(delivery));

        let minimal = QueuedDelivery::builder(Bytes::new(), Scheme::Hex)
            .received_at(UNIX_EPOCH)
            .build();
        let mut fields = fields_of(&minimal);
        for absent in ["key_id", "t", "event_key"] {
            assert!(!fields.contains_key(absent), "{absent}");
        }
        assert_eq!(QueuedDelivery::from_fields(&mut fields), Ok(minimal));
    }

    #[test]
    fn unknown_fields_are_ignored_and_bad_ones_refused() {
        let mut fields = fields_of(&sample());
        fields.insert("added_later".into(), Value::BulkString(b"x".to_vec()));
        assert!(QueuedDelivery::from_fields(&mut fields).is_ok());

        let cases: [(&str, Option<&[u8]>, DecodeError); 7] = [
            ("v", Some(b"2"), DecodeError::UnsupportedVersion("2".into())),
            ("v", None, DecodeError::MissingField("v")),
            ("body", None, DecodeError::MissingField("body")),
            ("scheme", Some(b"md5"), DecodeError::InvalidField("scheme")),
            (
                "duplicate",
                Some(b"yes"),
                DecodeError::InvalidField("duplicate"),
            ),
            (
                "received_ms",
                Some(b"-1"),
                DecodeError::InvalidField("received_ms"),
            ),
            // After year 9999: no date can be written for it.
            (
                "received_ms",
                Some(b"253402300800000"),
                DecodeError::InvalidField("received_ms"),
            ),
        ];
        for (field, value, expected) in cases {
            let mut fields = fields_of(&sample());
            match value {
                Some(v) => fields.insert(field.into(), Value::BulkString(v.to_vec())),
                None => fields.remove(field),
            };
            assert_eq!(QueuedDelivery::from_fields(&mut fields), Err(expected));
        }
    }

    #[test]
    fn debug_shows_no_body() {
        let shown = format!("{:?}", sample());
        assert!(shown.contains("body_len: 17"), "{shown}");
        assert!(!shown.contains("TEST"), "{shown}");
    }
}
