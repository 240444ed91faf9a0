//! [`VerifyLayer`].

use tower_layer::Layer;

use super::VerifyService;
use crate::receive::{IntoReceiver, Receiver};

/// Applies [`VerifyService`] to a service: every request is received
/// through a [`Receiver`] before the inner service sees it. See the
/// [module docs](crate::tower).
///
/// ```
/// use fluxbase_webhooks::{Receiver, Rejection, Verifier, tower::VerifyLayer};
///
/// let verifier = Verifier::new("whsec-example")?;
/// // The default receive policy:
/// let layer = VerifyLayer::new(verifier.clone());
/// // Or one of your own:
/// let receiver = Receiver::builder(verifier)
///     .body_limit(256 * 1024)
///     .on_reject(|err| Rejection::empty(err.code().http_status()))
///     .build();
/// let layer = VerifyLayer::new(receiver);
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct VerifyLayer {
    receiver: Receiver,
}

impl VerifyLayer {
    /// Receives with `receiver`, or with the default policy around a
    /// [`Verifier`](crate::Verifier).
    pub fn new(receiver: impl IntoReceiver) -> Self {
        Self {
            receiver: receiver.into_receiver(),
        }
    }

    /// The receiver in use.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService::new(inner, self.receiver.clone())
    }
}
