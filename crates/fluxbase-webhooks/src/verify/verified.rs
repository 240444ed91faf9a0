//! [`Verified`]: what a successful verification found.

use std::fmt;
use std::sync::Arc;

use crate::signature::Scheme;

/// What was verified: the scheme, the date the delivery was judged fresh
/// by, and which key matched. Returned by [`Verifier::verify`] and carried
/// by every receiver's accepted delivery.
///
/// ```
/// use fluxbase_webhooks::{Scheme, Signer, Verifier};
///
/// let body = br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let header = Signer::new("s")?.sign(Scheme::Timestamped, 1_767_323_045, body).to_string();
/// let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_323_050);
/// let verified = Verifier::new("s")?.verify_at(&header, body, now)?;
/// assert_eq!(verified.scheme(), Scheme::Timestamped);
/// assert_eq!(verified.timestamp(), Some(1_767_323_045));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`Verifier::verify`]: crate::Verifier::verify
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    scheme: Scheme,
    timestamp: Option<i64>,
    key_index: usize,
    key_id: Option<Arc<str>>,
    body_len: u64,
}

impl Verified {
    pub(crate) fn matched(
        scheme: Scheme,
        timestamp: Option<i64>,
        key_index: usize,
        key_id: Option<Arc<str>>,
        body_len: u64,
    ) -> Self {
        Self {
            scheme,
            timestamp,
            key_index,
            key_id,
            body_len,
        }
    }

    /// The scheme of the header that matched.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The Unix time (whole seconds) the delivery is dated by: the header's
    /// `t=` for the timestamped scheme, the body's `timestamp` for the
    /// others. `None` only when stale untimestamped signatures are accepted
    /// and the body has no date.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// Index in the keyring of the key that matched.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Id of the key that matched, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Length of the verified body in bytes.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp)
            .field("key_index", &self.key_index)
            .field("key_id", &self.key_id)
            .field("body_len", &self.body_len)
            .finish()
    }
}
