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
use crate::dedupe::{BoxFuture, Delivery, StoreError};
use crate::receive::{
    Accepted, BodyReader, Deadline, Receive, poll_body, record_delivery, record_forget_failed,
    record_refused, record_verified,
};
use crate::reject::Rejection;

pin_project! {
    /// The response future of [`VerifyService`](super::VerifyService): reads
    /// and verifies the body, then calls the inner service, all inside the
    /// delivery's tracing span.
    pub struct ResponseFuture<S, B, ResBody>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        #[pin]
        state: State<B, S, S::Future, Result<Response<ResponseBody<ResBody>>, S::Error>>,
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<B, S, F, E> {
        Refused { rejection: Rejection },
        Read { #[pin] body: B, pending: Option<Pending<S>>, deadline: Deadline },
        Check { check: BoxFuture<'static, Result<Delivery, crate::Error>>, ready: Option<Ready<S>> },
        Call { #[pin] future: F, forget: Option<(Arc<Receive>, Delivery)> },
        Forget { forget: BoxFuture<'static, Result<(), StoreError>>, result: Option<E> },
    }
}

/// The inner service and its request, waiting for the dedupe check.
struct Ready<S> {
    inner: S,
    request: Request<Full<Bytes>>,
    receive: Arc<Receive>,
    body_len: u64,
}

struct Pending<S> {
    reader: BodyReader,
    parts: Parts,
    inner: S,
    receive: Arc<Receive>,
}

impl<S, B, ResBody> ResponseFuture<S, B, ResBody>
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
        let deadline = receive.deadline();
        let pending = Some(Pending {
            reader,
            parts,
            inner,
            receive,
        });
        Self {
            state: State::Read {
                body,
                pending,
                deadline,
            },
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

impl<S, B, ResBody> Future for ResponseFuture<S, B, ResBody>
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
                StateProj::Read {
                    body,
                    pending,
                    deadline,
                } => {
                    let Some(p) = pending.as_mut() else {
                        unreachable!("the pending request is taken only when leaving this state")
                    };
                    let read = ready!(poll_body(body, &mut p.reader, deadline, cx));
                    let Some(p) = pending.take() else {
                        unreachable!("checked above")
                    };
                    let next = match deliver(p, read, this.span) {
                        Ok(Delivered::Call(mut inner, request)) => State::Call {
                            future: inner.call(request),
                            forget: None,
                        },
                        Ok(Delivered::Check(check, ready)) => State::Check {
                            check,
                            ready: Some(ready),
                        },
                        Err(rejection) => State::Refused { rejection },
                    };
                    this.state.set(next);
                }
                StateProj::Check { check, ready } => {
                    let checked = ready!(check.as_mut().poll(cx));
                    let Some(Ready {
                        mut inner,
                        mut request,
                        receive,
                        body_len,
                    }) = ready.take()
                    else {
                        unreachable!("the request is taken only when leaving this state")
                    };
                    let next = match checked {
                        Ok(delivery) => match receive.acknowledgement(&delivery) {
                            Some(ack) => {
                                record_delivery(this.span, &delivery, true);
                                State::Refused { rejection: ack }
                            }
                            None => {
                                record_delivery(this.span, &delivery, false);
                                request.extensions_mut().insert(delivery.clone());
                                State::Call {
                                    future: inner.call(request),
                                    forget: Some((receive, delivery)),
                                }
                            }
                        },
                        Err(err) => {
                            record_refused(this.span, &err, body_len);
                            State::Refused {
                                rejection: receive.rejection(&err),
                            }
                        }
                    };
                    this.state.set(next);
                }
                StateProj::Call { future, forget } => {
                    let result =
                        ready!(future.poll(cx)).map(|response| response.map(ResponseBody::inner));
                    let failed = result.as_ref().map_or(true, |r| !r.status().is_success());
                    let forgetting = forget
                        .take()
                        .filter(|_| failed)
                        .and_then(|(receive, delivery)| receive.forget(&delivery));
                    match forgetting {
                        None => return Poll::Ready(result),
                        Some(forget) => this.state.set(State::Forget {
                            forget,
                            result: Some(result),
                        }),
                    }
                }
                StateProj::Forget { forget, result } => {
                    if let Err(err) = ready!(forget.as_mut().poll(cx)) {
                        record_forget_failed(this.span, &err);
                    }
                    let Some(result) = result.take() else {
                        unreachable!("the result is taken only when leaving this state")
                    };
                    return Poll::Ready(result);
                }
            }
        }
    }
}

/// What happens after the body was read and verified.
enum Delivered<S> {
    /// Call the inner service now.
    Call(S, Request<Full<Bytes>>),
    /// Check for replays and duplicates first.
    Check(BoxFuture<'static, Result<Delivery, crate::Error>>, Ready<S>),
}

/// Finishes the verification and parses the event: the inner service and
/// its request (possibly after a dedupe check), or the answer to send instead.
fn deliver<S>(
    p: Pending<S>,
    read: Result<(), crate::Error>,
    span: &Span,
) -> Result<Delivered<S>, Rejection> {
    let Pending {
        reader,
        mut parts,
        inner,
        receive,
    } = p;
    let body_len = reader.body_len();
    match read.and_then(|()| receive.accept(reader)) {
        Ok(accepted) => {
            record_verified(span, &accepted.verified);
            let check = receive.check(&accepted);
            let Accepted {
                verified,
                body,
                event,
                ..
            } = accepted;
            parts.extensions.insert(verified);
            parts.extensions.insert(event);
            let request = Request::from_parts(parts, Full::new(body));
            Ok(match check {
                None => Delivered::Call(inner, request),
                Some(check) => Delivered::Check(
                    check,
                    Ready {
                        inner,
                        request,
                        receive,
                        body_len,
                    },
                ),
            })
        }
        Err(err) => {
            record_refused(span, &err, body_len);
            Err(receive.rejection(&err))
        }
    }
}
