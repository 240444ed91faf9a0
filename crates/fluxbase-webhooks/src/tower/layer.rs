//! [`VerifyLayer`].

use tower_layer::Layer;

use super::VerifyService;
use crate::receive::Receive;

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

crate::receive::receive_builder!(VerifyLayer);

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            receive: std::sync::Arc::new(self.receive.clone()),
        }
    }
}
