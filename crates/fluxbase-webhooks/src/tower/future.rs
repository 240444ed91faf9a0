//! [`ResponseFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Span;

use super::ResponseBody;
use crate::event::Event;
use crate::receive::{BodyReader, Receive, poll_body, record_refused, record_verified};
use crate::reject::Rejection;

pin_project! {
    /// The response future of [`VerifyService`](super::VerifyService): reads
    /// and verifies the body, then calls the inner service, all inside the
    /// delivery's tracing span.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        #[pin]
        state: State<B, S, S::Future>,
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<B, S, F> {
        Refused { rejection: Rejection },
        Read { #[pin] body: B, pending: Option<Pending<S>> },
        Call { #[pin] future: F },
    }
}

struct Pending<S> {
    reader: BodyReader,
    parts: Parts,
    inner: S,
    receive: Arc<Receive>,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
{
    pub(crate) fn read(
        span: Span,
        body: B,
        reader: BodyReader,
        parts: Parts,
        inner: S,
        receive: Arc<Receive>,
    ) -> Self {
        let pending = Some(Pending {
            reader,
            parts,
            inner,
            receive,
        });
        Self {
            state: State::Read { body, pending },
            span,
        }
    }

    pub(crate) fn refused(span: Span, rejection: Rejection) -> Self {
        Self {
            state: State::Refused { rejection },
            span,
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            match this.state.as_mut().project() {
                StateProj::Refused { rejection } => {
                    return Poll::Ready(Ok(rejection.clone().into_response()));
                }
                StateProj::Read { body, pending } => {
                    let Some(p) = pending.as_mut() else {
                        unreachable!("the pending request is taken only when leaving this state")
                    };
                    let read = ready!(poll_body(body, &mut p.reader, cx));
                    let Some(p) = pending.take() else {
                        unreachable!("checked above")
                    };
                    let next = match deliver(p, read, this.span) {
                        Ok((mut inner, req)) => State::Call {
                            future: inner.call(req),
                        },
                        Err(rejection) => State::Refused { rejection },
                    };
                    this.state.set(next);
                }
                StateProj::Call { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
            }
        }
    }
}

/// Finishes the verification and parses the event: the inner service and
/// its request, or the answer to send instead.
fn deliver<S>(
    p: Pending<S>,
    read: Result<(), crate::Error>,
    span: &Span,
) -> Result<(S, Request<Full<Bytes>>), Rejection> {
    let Pending {
        reader,
        mut parts,
        inner,
        receive,
    } = p;
    let body_len = reader.body_len();
    let delivered = read
        .and_then(|()| receive.finish(reader))
        .and_then(|(verified, body)| Ok((Event::from_slice(&body)?, verified, body)));
    match delivered {
        Ok((event, verified, body)) => {
            record_verified(span, &verified);
            parts.extensions.insert(verified);
            parts.extensions.insert(event);
            Ok((inner, Request::from_parts(parts, Full::new(body))))
        }
        Err(err) => {
            record_refused(span, &err, body_len);
            Err(receive.rejection(&err))
        }
    }
}
