//! [`VerifyLayer`].

use tower_layer::Layer;

use super::VerifyService;
use crate::error::Error;
use crate::receive::Receive;
use crate::reject::{OnReject, Rejection};
use crate::verify::Verifier;

/// Applies [`VerifyService`] to a service: every request is verified before
/// the inner service sees it. See the [module docs](crate::tower).
///
/// ```
/// use fluxbase_webhooks::{Rejection, Verifier, tower::VerifyLayer};
/// use http::StatusCode;
///
/// let layer = VerifyLayer::new(Verifier::new("whsec"))
///     .body_limit(256 * 1024)
///     .on_reject(|_err| Rejection::empty(StatusCode::UNAUTHORIZED));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct VerifyLayer {
    pub(crate) receive: Receive,
}

impl VerifyLayer {
    /// A layer verifying with `verifier`, answering refusals with
    /// `application/problem+json`.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            receive: Receive::new(verifier),
        }
    }

    /// Sets the body limit (default: the verifier's, 1 MiB unless set with
    /// [`Verifier::body_limit`]).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.receive.verifier = self.receive.verifier.body_limit(bytes);
        self
    }

    /// Answers refused deliveries with what `f` builds instead of the
    /// default problem document.
    pub fn on_reject(self, f: impl Fn(&Error) -> Rejection + Send + Sync + 'static) -> Self {
        self.on_reject_with(OnReject::new(f))
    }

    /// [`VerifyLayer::on_reject`] with a ready [`OnReject`].
    pub fn on_reject_with(mut self, hook: OnReject) -> Self {
        self.receive.on_reject = hook;
        self
    }

    /// The verifier in use.
    pub fn verifier(&self) -> &Verifier {
        &self.receive.verifier
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            receive: std::sync::Arc::new(self.receive.clone()),
        }
    }
}
