//! [`WebhookPayload`]: a zero-copy view of a webhook body, in either wire shape.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::Error;

/// The two body shapes Fluxbase webhooks come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// What the Fluxbase server sends:
    /// `{event, table, schema, record, old_record?, timestamp}` with `event`
    /// one of `INSERT`, `UPDATE`, `DELETE`, `TEST`.
    Row,
    /// What the SDK documentation describes:
    /// `{event, timestamp, data, signature?}` with dotted event names such as
    /// `user.created`.
    Documented,
}

/// A webhook body read without copying: strings borrow from the body where
/// they hold no escapes, and `record`, `old_record` and `data` stay raw JSON
/// until asked for.
///
/// Both wire shapes read into this one struct; fields of the other shape are
/// `None`. For the typed form use [`Event`](crate::Event).
///
/// ```
/// use fluxbase_webhooks::{Shape, WebhookPayload};
///
/// #[derive(serde::Deserialize)]
/// struct Product { id: u64, name: String }
///
/// let body = br#"{"event":"INSERT","table":"products","schema":"public","record":{"id":7,"name":"lamp"},"timestamp":"2026-01-02T03:04:05.12Z"}"#;
/// let payload = WebhookPayload::from_slice(body)?;
/// assert_eq!(payload.shape(), Shape::Row);
/// assert_eq!(payload.table.as_deref(), Some("products"));
/// let product: Product = payload.record()?;
/// assert_eq!((product.id, product.name.as_str()), (7, "lamp"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookPayload<'a> {
    /// The event name: `INSERT`/`UPDATE`/`DELETE`/`TEST` from the server,
    /// dotted names such as `user.created` in the documented shape.
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// Bare table name (row shape).
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub table: Option<Cow<'a, str>>,
    /// Schema of the table (row shape).
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub schema: Option<Cow<'a, str>>,
    /// The row (`NEW` for INSERT/UPDATE, `OLD` for DELETE), raw.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a RawValue>,
    /// The previous row, UPDATE only, raw.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub old_record: Option<&'a RawValue>,
    /// The RFC 3339 timestamp string, as sent.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<Cow<'a, str>>,
    /// Event data (documented shape), raw.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a RawValue>,
    /// The in-body signature the documented shape mentions. It is never
    /// trusted: only the header is verified.
    #[serde(
        borrow,
        default,
        deserialize_with = "opt_cow",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature: Option<Cow<'a, str>>,
}

impl<'a> WebhookPayload<'a> {
    /// Reads a body without copying it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPayload`] when the body is not a JSON object with a
    /// string `event` and fields of the expected JSON types.
    pub fn from_slice(body: &'a [u8]) -> Result<Self, Error> {
        // JSON text is UTF-8: checked once for the whole body, including
        // values the typed parse skips.
        let text = std::str::from_utf8(body).map_err(Error::invalid_payload)?;
        Self::from_str(text)
    }

    /// [`WebhookPayload::from_slice`] for a body already known to be text.
    ///
    /// # Errors
    ///
    /// As [`WebhookPayload::from_slice`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(body: &'a str) -> Result<Self, Error> {
        serde_json::from_str(body).map_err(Error::invalid_payload)
    }

    /// Which wire shape this is.
    pub fn shape(&self) -> Shape {
        if self.data.is_some() || (self.table.is_none() && self.event.contains('.')) {
            Shape::Documented
        } else {
            Shape::Row
        }
    }

    /// Deserializes `record` into the caller's type (a `null` or absent
    /// record deserializes from `null`, so `Option<T>` works).
    ///
    /// # Errors
    ///
    /// When the record does not fit `T`.
    pub fn record<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        from_raw_or_null(self.record)
    }

    /// Deserializes `old_record` (UPDATE only); `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// When the old record does not fit `T`.
    pub fn old_record<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        self.old_record
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
    }

    /// Deserializes `data` (documented shape) into the caller's type.
    ///
    /// # Errors
    ///
    /// When the data does not fit `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        from_raw_or_null(self.data)
    }
}

/// A string that borrows from the input when it holds no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit)
    }
}

pub(crate) fn opt_cow<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|c| c.0))
}

pub(crate) fn from_raw_or_null<T: DeserializeOwned>(
    raw: Option<&RawValue>,
) -> Result<T, serde_json::Error> {
    serde_json::from_str(raw.map_or("null", RawValue::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_shape_without_copying() {
        let body = br#"{"event":"UPDATE","table":"users","schema":"auth","record":{"id":"u1","email":"a@b.c"},"old_record":{"id":"u1","email":"old@b.c"},"timestamp":"2026-01-02T04:04:05.12+01:00"}"#;
        let p = WebhookPayload::from_slice(body).unwrap();
        assert!(matches!(p.event, Cow::Borrowed("UPDATE")));
        assert!(matches!(p.table, Some(Cow::Borrowed("users"))));
        assert_eq!(p.shape(), Shape::Row);
        assert_eq!(p.record.unwrap().get(), r#"{"id":"u1","email":"a@b.c"}"#);
        let old: Option<serde_json::Value> = p.old_record().unwrap();
        assert_eq!(old.unwrap()["email"], "old@b.c");
    }

    #[test]
    fn reads_the_documented_shape() {
        let body = br#"{"event":"user.created","timestamp":"2024-01-26T10:00:00Z","data":{"user_id":"u1","email":"a@b.c"},"signature":"x"}"#;
        let p = WebhookPayload::from_slice(body).unwrap();
        assert_eq!(p.shape(), Shape::Documented);
        let data: serde_json::Value = p.data().unwrap();
        assert_eq!(data["user_id"], "u1");
        assert_eq!(p.signature.as_deref(), Some("x"));
    }

    #[test]
    fn escaped_strings_are_owned() {
        let p = WebhookPayload::from_slice(br#"{"event":"INS\u0045RT","table":"a\"b"}"#).unwrap();
        assert_eq!(p.event, "INSERT");
        assert_eq!(p.table.as_deref(), Some("a\"b"));
    }

    #[test]
    fn null_record_reads_as_none() {
        let p = WebhookPayload::from_slice(br#"{"event":"DELETE","table":"t","schema":"s","record":null,"timestamp":"2026-01-02T03:04:05Z"}"#).unwrap();
        assert!(p.record.is_none());
        let r: Option<serde_json::Value> = p.record().unwrap();
        assert!(r.is_none());
    }

    #[test]
    fn rejects_what_is_not_a_payload() {
        for body in [
            &b"[]"[..],
            b"not json",
            b"{}",
            b"{\"event\":1}",
            b"\xff\xfe",
        ] {
            let err = WebhookPayload::from_slice(body).unwrap_err();
            assert_eq!(err.code(), crate::Code::InvalidPayload, "{body:?}");
        }
    }
}
