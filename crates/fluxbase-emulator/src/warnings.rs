//! Production warnings: where a real server would silently not deliver, or
//! deliver other than the user expects. Each is logged at WARN and kept for
//! `GET /api/v1/emulator/warnings` and [`crate::RunningEmulator::warnings`].

use fluxbase_webhooks::Timestamp;
use fluxbase_webhooks::client::{Warning, WarningCode};
use serde::Serialize;
use uuid::Uuid;

use crate::redact::{SafeText, mask_passwords};
use crate::state::{State, now};

/// The most warnings kept; older ones go.
const MAX_WARNINGS: usize = 1000;

/// One warning, with where and when it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WarningRecord {
    /// Why.
    pub code: WarningCode,
    /// What a production server does, in a sentence.
    pub message: String,
    /// The webhook it is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// What gave it: `create`, `update`, `trigger`.
    pub during: &'static str,
    /// When.
    pub at: Timestamp,
}

/// Logs `warnings` at WARN and keeps them.
pub(crate) fn record(
    state: &mut State,
    webhook: Option<Uuid>,
    during: &'static str,
    warnings: impl IntoIterator<Item = Warning>,
) {
    for w in warnings {
        tracing::warn!(
            webhook = webhook.map(|id| id.to_string()).unwrap_or_default(),
            code = w.code.as_str(),
            during,
            "production would differ: {}",
            SafeText(&w.message)
        );
        if state.warnings.len() >= MAX_WARNINGS {
            state.warnings.pop_front();
        }
        // Served to anyone who asks: no URL's password in it.
        state.warnings.push_back(WarningRecord {
            code: w.code,
            message: mask_passwords(&w.message, "xxxxx"),
            webhook_id: webhook.map(|id| id.to_string()),
            during,
            at: Timestamp::from(now()),
        });
    }
}
