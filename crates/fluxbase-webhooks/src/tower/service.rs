//! [`VerifyService`].

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::{ResponseBody, ResponseFuture, VerifyLayer};
use crate::receive::{Receive, record_refused};
use crate::verify::Verifier;

/// Verifies each request, then calls the inner service with the same bytes
/// as its body ([`Full<Bytes>`](Full)) and [`Verified`](crate::Verified) plus the
/// parsed [`Event`](crate::Event) in the request extensions; refused
/// requests are answered here and never reach the inner service. See the
/// [module docs](crate::tower).
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    pub(crate) inner: S,
    pub(crate) receive: Arc<Receive>,
}

impl<S> VerifyService<S> {
    /// Wraps `inner`, verifying with `verifier`.
    pub fn new(inner: S, verifier: Verifier) -> Self {
        tower_layer::Layer::layer(&VerifyLayer::new(verifier), inner)
    }

    /// A [`VerifyLayer`] for this service.
    pub fn layer(verifier: Verifier) -> VerifyLayer {
        VerifyLayer::new(verifier)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let span = self.receive.span();
        let (parts, body) = req.into_parts();
        let started = self.receive.start_http(&parts.headers, &body);
        match started {
            Ok(reader) => {
                // The ready service is the one to call; leave a fresh clone
                // behind for the next request.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::read(span, body, reader, parts, inner, self.receive.clone())
            }
            Err(err) => {
                record_refused(&span, &err, 0);
                ResponseFuture::refused(span, self.receive.rejection(&err))
            }
        }
    }
}
