//! What receivers report through the [`metrics`](https://docs.rs/metrics)
//! facade: install any recorder (a Prometheus exporter, say) and the
//! numbers appear. With no recorder installed every call is a no-op; no call
//! allocates.
//!
//! ```no_run
//! // With metrics-exporter-prometheus: serves /metrics on port 9000.
//! # fn install() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(any())] {
//! metrics_exporter_prometheus::PrometheusBuilder::new()
//!     .with_http_listener(([127, 0, 0, 1], 9000))
//!     .install()?;
//! # }
//! fluxbase_webhooks::metrics::describe();
//! # Ok(()) }
//! ```
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `fluxbase_webhooks_deliveries_total` | counter | `outcome` (`verified`, `duplicate_acknowledged` or an error code), `scheme` (`timestamped`, `hex`, `sha256`, or `none` when no header was read) |
//! | `fluxbase_webhooks_verify_duration_seconds` | histogram | — |
//! | `fluxbase_webhooks_body_bytes_in_flight` | gauge | — |

use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Unit};

use crate::error::Code;
use crate::signature::Scheme;

/// Deliveries by outcome and scheme.
pub const DELIVERIES: &str = "fluxbase_webhooks_deliveries_total";
/// From the request head to the decision: the body read and hashed, the
/// tags compared, the body parsed and dated, replays checked.
pub const VERIFY_DURATION: &str = "fluxbase_webhooks_verify_duration_seconds";
/// Body bytes buffered right now, across the deliveries of every receiver.
pub const BODY_BYTES_IN_FLIGHT: &str = "fluxbase_webhooks_body_bytes_in_flight";

const METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// How a delivery ended, for the `outcome` label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Verified,
    Acknowledged,
    Refused(Code),
}

impl Outcome {
    fn index(self) -> usize {
        match self {
            Self::Verified => 0,
            Self::Acknowledged => 1,
            Self::Refused(code) => 2 + Code::ALL.iter().position(|c| *c == code).unwrap_or(0),
        }
    }
}

const fn label(key: &'static str, value: &'static str) -> Label {
    Label::from_static_parts(key, value)
}

macro_rules! row {
    ($outcome:literal) => {
        [
            [label("outcome", $outcome), label("scheme", "timestamped")],
            [label("outcome", $outcome), label("scheme", "hex")],
            [label("outcome", $outcome), label("scheme", "sha256")],
            [label("outcome", $outcome), label("scheme", "none")],
        ]
    };
}

/// Every label pair, built once: outcome rows (in [`Outcome::index`]
/// order), scheme columns.
static LABELS: [[[Label; 2]; 4]; 18] = [
    row!("verified"),
    row!("duplicate_acknowledged"),
    row!("missing_signature"),
    row!("malformed_signature"),
    row!("signature_mismatch"),
    row!("timestamp_too_old"),
    row!("timestamp_in_future"),
    row!("missing_timestamp"),
    row!("replayed"),
    row!("payload_too_large"),
    row!("invalid_payload"),
    row!("payload_mismatch"),
    row!("store_unavailable"),
    row!("queue_unavailable"),
    row!("over_capacity"),
    row!("body_timeout"),
    row!("body_incomplete"),
    row!("unsupported_encoding"),
];

fn scheme_index(scheme: Option<Scheme>) -> usize {
    match scheme {
        Some(Scheme::Timestamped) => 0,
        Some(Scheme::Hex) => 1,
        Some(Scheme::Sha256) => 2,
        None => 3,
    }
}

/// Counts one delivery and records how long deciding it took.
pub(crate) fn delivery(outcome: Outcome, scheme: Option<Scheme>, took: Duration) {
    let labels = &LABELS[outcome.index()][scheme_index(scheme)];
    let counter = Key::from_static_parts(DELIVERIES, labels);
    let histogram = Key::from_static_name(VERIFY_DURATION);
    metrics::with_recorder(|recorder| {
        recorder.register_counter(&counter, &METADATA).increment(1);
        recorder
            .register_histogram(&histogram, &METADATA)
            .record(took.as_secs_f64());
    });
}

/// The body bytes buffered right now.
pub(crate) fn bytes_in_flight(bytes: u64) {
    let key = Key::from_static_name(BODY_BYTES_IN_FLIGHT);
    metrics::with_recorder(|recorder| {
        recorder.register_gauge(&key, &METADATA).set(bytes as f64);
    });
}

/// Describes the receivers' metrics (their units and help texts) to the
/// recorder installed now. Call it once after installing a recorder, such
/// as a Prometheus exporter; receivers report without it.
pub fn describe() {
    metrics::describe_counter!(
        DELIVERIES,
        Unit::Count,
        "Webhook deliveries received, by outcome (verified, duplicate_acknowledged or the refusal code) and signature scheme"
    );
    metrics::describe_histogram!(
        VERIFY_DURATION,
        Unit::Seconds,
        "Time from a delivery's request head to its acceptance or refusal"
    );
    metrics::describe_gauge!(
        BODY_BYTES_IN_FLIGHT,
        Unit::Bytes,
        "Webhook body bytes buffered right now"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_row() {
        assert_eq!(LABELS[0][0][0].value(), "verified");
        assert_eq!(LABELS[1][3][0].value(), "duplicate_acknowledged");
        for code in Code::ALL {
            let row = &LABELS[Outcome::Refused(code).index()];
            for (column, scheme) in ["timestamped", "hex", "sha256", "none"].iter().enumerate() {
                assert_eq!(row[column][0].value(), code.as_str());
                assert_eq!(row[column][1].value(), *scheme);
            }
        }
        assert_eq!(LABELS.len(), 2 + Code::ALL.len());
    }
}
