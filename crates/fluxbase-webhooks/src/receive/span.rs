//! The `fluxbase_webhook` tracing span of one delivery, and its log lines.
//!
//! Log events of a delivery are emitted inside its span (`in_scope`), not
//! with an explicit `parent:`: a span below the subscriber's level is
//! disabled, and an event whose explicit parent is disabled becomes a root
//! event, cut off from the caller's spans too.

use tracing::field::{Empty, Value};
use tracing::{Level, Span};

use crate::dedupe::DedupeStatus;
use crate::error::{Code, Error};
use crate::verify::Verified;

/// The outcome recorded for an accepted delivery.
pub(crate) const OUTCOME_VERIFIED: &str = "verified";
/// The outcome recorded for a duplicate answered without the handler.
pub(crate) const OUTCOME_ACKNOWLEDGED: &str = "duplicate_acknowledged";

/// A new span for one delivery. Its fields are filled in as the delivery is
/// decided; it never carries a secret, a signature or body content.
///
/// The level is set per receiver (default DEBUG, as tower-http's request
/// spans): a span per request is worth its cost when someone looks at it,
/// and a refusal is logged at WARN whatever the span level.
pub(crate) fn delivery_span(level: Level) -> Span {
    macro_rules! span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "fluxbase_webhook",
                outcome = Empty,
                scheme = Empty,
                key_index = Empty,
                key_id = Empty,
                body_len = Empty,
                duplicate = Empty,
            )
        };
    }
    match level {
        Level::ERROR => span!(Level::ERROR),
        Level::WARN => span!(Level::WARN),
        Level::INFO => span!(Level::INFO),
        Level::DEBUG => span!(Level::DEBUG),
        _ => span!(Level::TRACE),
    }
}

/// Records an accepted delivery, every field in one call (a formatting
/// subscriber re-renders the span's fields on every `record`).
pub(crate) fn verified(span: &Span, verified: &Verified, dedupe: Option<&DedupeStatus>) {
    if let Some(meta) = span.metadata() {
        let fields = meta.fields();
        let key_index = verified.key_index() as u64;
        let key_id = verified.key_id();
        let body_len = verified.body_len();
        let duplicate = dedupe.map(DedupeStatus::is_duplicate);
        // A binding of its own: Rust 1.88 (the MSRV) does not extend the
        // temporary's life through the array.
        let scheme = verified.scheme().as_str();
        let values: [(&str, Option<&dyn Value>); 6] = [
            ("outcome", Some(&OUTCOME_VERIFIED)),
            ("scheme", Some(&scheme)),
            ("key_index", Some(&key_index)),
            ("key_id", key_id.as_ref().map(|id| id as &dyn Value)),
            ("body_len", Some(&body_len)),
            ("duplicate", duplicate.as_ref().map(|d| d as &dyn Value)),
        ];
        let found = values.map(|(name, value)| (fields.field(name), value));
        if let [
            (Some(a), va),
            (Some(b), vb),
            (Some(c), vc),
            (Some(d), vd),
            (Some(e), ve),
            (Some(g), vg),
        ] = &found
        {
            span.record_all(&fields.value_set(&[
                (a, *va),
                (b, *vb),
                (c, *vc),
                (d, *vd),
                (e, *ve),
                (g, *vg),
            ]));
        }
    }
    if dedupe.is_some_and(DedupeStatus::is_unchecked) {
        span.in_scope(|| {
            tracing::warn!("replay store unavailable: delivery let through unchecked (fail-open)");
        });
    }
    span.in_scope(|| tracing::debug!("webhook delivery verified"));
}

/// Records a duplicate answered without the handler.
pub(crate) fn acknowledged(span: &Span) {
    span.record("outcome", OUTCOME_ACKNOWLEDGED);
    span.in_scope(|| tracing::debug!("duplicate delivery acknowledged without the handler"));
}

/// Logs a failure to forget a failed delivery's event.
pub(crate) fn forget_failed(span: &Span, err: &crate::dedupe::StoreError) {
    span.in_scope(|| {
        tracing::error!(
            reason = %err,
            cause = err_source(err),
            "could not forget a failed delivery; its retry will look like a duplicate until the key expires"
        );
    });
}

fn err_source(err: &dyn std::error::Error) -> String {
    err.source().map(ToString::to_string).unwrap_or_default()
}

/// Records a refused delivery on its span and logs it: at WARN, but a body
/// cut off by its sender at DEBUG (nobody is attacking; someone went away).
pub(crate) fn refused(span: &Span, err: &Error, body_len: u64) {
    let code = err.code();
    let status = code.http_status();
    if let Some(fields) = span.metadata().map(|m| m.fields())
        && let (Some(outcome), Some(len)) = (fields.field("outcome"), fields.field("body_len"))
    {
        span.record_all(&fields.value_set(&[
            (&outcome, Some(&code.as_str() as &dyn Value)),
            (&len, Some(&body_len as &dyn Value)),
        ]));
    }
    span.in_scope(|| match code {
        Code::BodyIncomplete => {
            tracing::debug!(code = code.as_str(), status, body_len, "webhook body cut off by its sender");
        }
        // The parser's message may quote the body; the deserializer's names
        // the receiver's own fields: both only at DEBUG.
        Code::InvalidPayload | Code::PayloadMismatch => {
            tracing::warn!(code = code.as_str(), status, body_len, "webhook delivery refused");
            tracing::debug!(code = code.as_str(), reason = %err, cause = err_source(err), "why the payload was refused");
        }
        Code::StoreUnavailable => {
            tracing::warn!(code = code.as_str(), status, body_len, reason = %err, cause = err_source(err), "webhook delivery refused");
        }
        _ => {
            tracing::warn!(code = code.as_str(), status, body_len, reason = %err, "webhook delivery refused");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_callers_span_when_the_delivery_span_is_off() {
        let captured = fluxhook_testkit::Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(Level::INFO)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", id = 7);
            let _entered = request.enter();
            // DEBUG by default: disabled under an INFO subscriber.
            let span = delivery_span(Level::DEBUG);
            assert!(span.is_disabled());
            refused(&span, &Error::MissingSignature, 12);
            // A body cut off by its sender is not worth a WARN.
            refused(&span, &Error::BodyIncomplete, 3);
        });
        let log = captured.text();
        assert!(
            log.contains("request{id=7}") && log.contains("code=\"missing_signature\""),
            "{log}"
        );
        assert!(!log.contains("body_incomplete"), "{log}");
    }
}
