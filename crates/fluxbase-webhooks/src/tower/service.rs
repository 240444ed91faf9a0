//! [`VerifyService`] and its [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::ResponseBody;
use crate::receive::{
    BodyError, BodySource, Extensions, IntoReceiver, Receiver, RequestHead, Want,
};
use crate::verify::{LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Receives each request through a [`Receiver`], then calls the inner
/// service with the same bytes as its body ([`Full`]`<Bytes>`) and
/// [`Verified`](crate::Verified), the parsed [`Event`](crate::Event) and,
/// with dedupe, the [`DedupeStatus`](crate::dedupe::DedupeStatus) in the
/// request extensions; refused requests are answered here and never reach
/// the inner service. See the [module docs](crate::tower).
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    receiver: Receiver,
}

impl<S> VerifyService<S> {
    /// Wraps `inner`, receiving with `receiver` (or the default policy
    /// around a [`Verifier`](crate::Verifier)).
    pub fn new(inner: S, receiver: impl IntoReceiver) -> Self {
        Self {
            inner,
            receiver: receiver.into_receiver(),
        }
    }

    /// The receiver in use.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
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
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready service is the one to call; leave a fresh clone behind
        // for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let receiver = self.receiver.clone();
        let (parts, body) = req.into_parts();
        let prepared = receiver.prepare(&HttpHead(&parts.headers), Some(body.size_hint().lower()));
        ResponseFuture::new(async move {
            let body = std::pin::pin!(HttpBody { body });
            let for_extractors = receiver.clone();
            let outcome = receiver
                .run(prepared, body, Want::Event, true, |accepted| async move {
                    let mut parts = parts;
                    let (body, held) =
                        accepted.leave_for_extractors(for_extractors, &mut parts.extensions);
                    let response = inner
                        .call(Request::from_parts(parts, Full::new(body)))
                        .await;
                    drop(held);
                    let succeeded = response.as_ref().is_ok_and(|r| r.status().is_success());
                    Ok((response, succeeded))
                })
                .await;
            match outcome {
                Ok(response) => response.map(|r| r.map(ResponseBody::inner)),
                Err(rejection) => Ok(rejection.into_http()),
            }
        })
    }
}

pin_project! {
    /// The response future of [`VerifyService`]: the one receive flow,
    /// then the inner service, inside the delivery's tracing span.
    pub struct ResponseFuture<T> {
        #[pin]
        inner: Pin<Box<dyn Future<Output = T> + Send>>,
    }
}

impl<T> ResponseFuture<T> {
    pub(crate) fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.project().inner.poll(cx)
    }
}

impl<T> std::fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// An `http` 1 header map as the flow reads it. The names are parsed once,
/// not at every lookup.
pub(crate) struct HttpHead<'a>(pub(crate) &'a HeaderMap);

static SIGNATURE: HeaderName = HeaderName::from_static(SIGNATURE_HEADER);
static LEGACY_SIGNATURE: HeaderName = HeaderName::from_static(LEGACY_SIGNATURE_HEADER);

impl RequestHead for HttpHead<'_> {
    fn signatures(&self) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(&SIGNATURE).into_iter().map(|v| v.as_bytes())
    }

    fn legacy_signatures(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(&LEGACY_SIGNATURE)
            .into_iter()
            .map(|v| v.as_bytes())
    }

    fn content_lengths(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(http::header::CONTENT_LENGTH)
            .into_iter()
            .map(|v| v.as_bytes())
    }

    fn content_encodings(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(http::header::CONTENT_ENCODING)
            .into_iter()
            .map(|v| v.as_bytes())
    }
}

pin_project! {
    /// An `http_body::Body` as the flow reads it: its data frames as
    /// `Bytes` (trailers carry nothing that is signed).
    pub(crate) struct HttpBody<B> {
        #[pin]
        pub(crate) body: B,
    }
}

impl<B> BodySource for HttpBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut body = self.project().body;
        loop {
            return match std::task::ready!(body.as_mut().poll_frame(cx)) {
                None => Poll::Ready(None),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let len = data.remaining();
                        Poll::Ready(Some(Ok(data.copy_to_bytes(len))))
                    }
                    Err(_trailers) => continue,
                },
                Some(Err(err)) => Poll::Ready(Some(Err(body_error(&err.into())))),
            };
        }
    }
}

/// A length limit applied by another layer is still "too large"; anything
/// else means the body broke off.
fn body_error(err: &BoxError) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return BodyError::TooLarge;
        }
        source = e.source();
    }
    BodyError::Incomplete
}

impl Extensions for http::Extensions {
    fn put<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.insert(value);
    }
}
