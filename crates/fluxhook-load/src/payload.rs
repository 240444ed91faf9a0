//! Deliveries shaped like the Fluxbase server's: an `INSERT` row event with
//! the server's key order (`event`, `table`, `schema`, `record`,
//! `timestamp`), padded to an exact size, signed `t=..,v1=..` over
//! `"<t>." + body` (or, like the legacy header, bare hex over the body).
//!
//! Every body is dated by its `timestamp` field, as the server dates each
//! attempt: receivers judge a signature without a timestamp fresh by that
//! date, so a body made `at` now is fresh for the tolerance window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fluxbase_webhooks::{Scheme, Signer};
use time::OffsetDateTime;
use time::macros::format_description;

/// A body timestamp: RFC 3339 in UTC with nine fraction digits, so every
/// timestamp has the same length and a re-delivery of a record has the same
/// size as its first delivery.
pub(crate) fn body_timestamp(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    at.format(&format)
        .unwrap_or_else(|_| "2026-01-01T00:00:00.000000000Z".to_owned())
}

/// Seconds since the epoch, for the signature's `t`.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A record id never used before in this process, so that no two
/// deliveries the harness makes are the same event (a receiver marks the
/// second a duplicate).
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An `INSERT` of row `id` into `public.orders`, exactly `size` bytes long
/// (or as short as it can be when `size` is smaller). The record depends
/// only on `id` and `size`, so two calls with different `at` are the same
/// event delivered twice.
pub(crate) fn row_body(id: u64, size: usize, at: OffsetDateTime) -> Bytes {
    let head = format!(
        r#"{{"event":"INSERT","table":"orders","schema":"public","record":{{"id":{id},"status":"paid","note":""#
    );
    let tail = format!(r#""}},"timestamp":"{}"}}"#, body_timestamp(at));
    padded(&head, size, &tail)
}

/// Like [`row_body`], with the padding in a top-level field that no parser
/// keeps instead of in the record (to tell what a parsed record costs).
pub(crate) fn row_body_padded_outside(id: u64, size: usize, at: OffsetDateTime) -> Bytes {
    let head = format!(
        r#"{{"event":"INSERT","table":"orders","schema":"public","record":{{"id":{id},"status":"paid","note":""}},"padding":""#
    );
    let tail = format!(r#"","timestamp":"{}"}}"#, body_timestamp(at));
    padded(&head, size, &tail)
}

fn padded(head: &str, size: usize, tail: &str) -> Bytes {
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = Vec::with_capacity(head.len() + pad + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.resize(body.len() + pad, b'x');
    body.extend_from_slice(tail.as_bytes());
    Bytes::from(body)
}

/// Signs deliveries the way the server does.
#[derive(Clone)]
pub(crate) struct Sign {
    signer: Signer,
}

impl Sign {
    /// A signer for `secret`.
    ///
    /// # Errors
    ///
    /// For an empty secret.
    pub(crate) fn new(secret: &str) -> anyhow::Result<Self> {
        Ok(Self {
            signer: Signer::new(secret)?,
        })
    }

    /// The `X-Fluxbase-Signature` value for `body` signed at `t`, as the
    /// server sends it.
    pub(crate) fn header(&self, t: i64, body: &[u8]) -> String {
        self.signed(Scheme::Timestamped, t, body)
    }

    /// `body` signed in `scheme` (at `t` for the timestamped one). A scheme
    /// without a timestamp is dated by the body's own `timestamp`.
    pub(crate) fn signed(&self, scheme: Scheme, t: i64, body: &[u8]) -> String {
        self.signer.sign(scheme, t, body).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxbase_webhooks::{Event, Verifier, dedupe::event_key};

    #[test]
    fn bodies_have_the_exact_size_and_parse() {
        let at = OffsetDateTime::now_utc();
        for size in [1024, 4096, 1 << 20] {
            let body = row_body(42, size, at);
            assert_eq!(body.len(), size);
            let event = Event::from_slice(&body).unwrap();
            assert_eq!(event.name(), "INSERT");
        }
        // Too small to pad: as short as it gets, still a payload.
        let body = row_body(7, 10, at);
        assert!(body.len() > 10);
        assert!(Event::from_slice(&body).is_ok());
    }

    #[test]
    fn padding_outside_the_record_keeps_the_record_small() {
        let body = row_body_padded_outside(3, 4096, OffsetDateTime::now_utc());
        assert_eq!(body.len(), 4096);
        let event = Event::from_slice(&body).unwrap();
        let record = event.row().unwrap().record_raw().unwrap().get();
        assert!(record.len() < 64, "{record}");
    }

    #[test]
    fn a_redelivery_is_the_same_event_with_other_bytes() {
        let first = row_body(9, 1024, OffsetDateTime::UNIX_EPOCH);
        let retry = row_body(9, 1024, OffsetDateTime::now_utc());
        let other = row_body(10, 1024, OffsetDateTime::UNIX_EPOCH);
        assert_ne!(first, retry);
        assert_eq!(first.len(), retry.len());
        assert_eq!(event_key(&first), event_key(&retry));
        assert_ne!(event_key(&first), event_key(&other));
    }

    #[test]
    fn signatures_verify_in_every_scheme_while_the_body_is_fresh() {
        let sign = Sign::new("k").unwrap();
        let verifier = Verifier::new("k").unwrap();
        let fresh = row_body(1, 1024, OffsetDateTime::now_utc());
        let stale = row_body(
            1,
            1024,
            OffsetDateTime::now_utc() - time::Duration::minutes(10),
        );
        for scheme in [Scheme::Timestamped, Scheme::Hex, Scheme::Sha256] {
            let header = sign.signed(scheme, unix_now(), &fresh);
            assert_eq!(verifier.verify(&header, &fresh).unwrap().scheme(), scheme);
            assert!(
                Verifier::new("other")
                    .unwrap()
                    .verify(&header, &fresh)
                    .is_err()
            );
        }
        // Dated by the body: ten minutes old is out of the window.
        let header = sign.signed(Scheme::Hex, unix_now(), &stale);
        let err = verifier.verify(&header, &stale).unwrap_err();
        assert_eq!(err.code(), fluxbase_webhooks::Code::TimestampTooOld);
        assert!(Sign::new("").is_err());
    }

    #[test]
    fn ids_are_never_reused() {
        let a = next_id();
        let b = next_id();
        assert!(b > a);
    }
}
