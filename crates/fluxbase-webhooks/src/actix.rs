//! actix-web 4: the extractors [`FluxbaseEvent`], [`FluxbaseJson<T>`] and
//! [`VerifiedBody`], and the [`Verify`] middleware for whole scopes.
//!
//! They run every delivery through a [`Receiver`], exactly as the axum
//! extractors and `VerifyLayer` do: the same limits, budget, timeouts,
//! replay checks, tracing span and metrics, and refusals with the same
//! status and `application/problem+json` bytes. [`Rejection`] is their
//! error type and answers as an actix-web `ResponseError`; its statuses are
//! plain numbers, so no `http` crate version is involved.
//!
//! The extractors take the [`Receiver`] from `app_data`, as `Receiver` or
//! as `Data<Receiver>`. Behind the [`Verify`] middleware they take what it
//! received from the request extensions instead of receiving again. A route
//! with neither answers 500: that is a server bug, not the sender's.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use fluxbase_webhooks::{Receiver, Verifier, actix::FluxbaseEvent};
//!
//! async fn webhook(FluxbaseEvent(event): FluxbaseEvent) -> HttpResponse {
//!     println!("received {}", event.name());
//!     HttpResponse::NoContent().finish()
//! }
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = Receiver::new(Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?);
//! actix_web::rt::System::new().block_on(
//!     HttpServer::new(move || {
//!         App::new()
//!             .app_data(receiver.clone())
//!             .route("/webhooks", web::post().to(webhook))
//!     })
//!     // A slow or silent client is dropped: 5 s for the request head, 5 s
//!     // of idle keep-alive; the receiver times the body out after 30 s.
//!     .client_request_timeout(std::time::Duration::from_secs(5))
//!     .keep_alive(std::time::Duration::from_secs(5))
//!     // actix-web buffers up to about 160 KiB of each connection's unread
//!     // body outside the receiver's budget: bound the connections.
//!     .max_connections(128)
//!     .bind(("127.0.0.1", 3000))?
//!     .run(),
//! )?;
//! # Ok(()) }
//! ```
//!
//! With the middleware, every route of a scope is received and can read
//! [`Event`] and [`Verified`] from `web::ReqData`:
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use fluxbase_webhooks::{Event, Verifier, actix::Verify};
//!
//! async fn webhook(event: web::ReqData<Event>) -> HttpResponse {
//!     println!("received {}", event.name());
//!     HttpResponse::NoContent().finish()
//! }
//!
//! let verifier = Verifier::new("whsec-example")?;
//! let app = App::new().service(
//!     web::scope("/webhooks")
//!         .wrap(Verify::new(verifier))
//!         .route("/fluxbase", web::post().to(webhook)),
//! );
//! # let _ = app;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::dedupe::DedupeStatus;
use crate::error::Error;
use crate::event::Event;
use crate::extract::{Delivered, FromDelivered, accepted, behind_layer};
use crate::receive::{BodyError, BodySource, Chunks, Extensions, IntoReceiver, RequestHead, Want};
use crate::verify::{LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER, Verified};

pub use crate::extract::{FluxbaseEvent, FluxbaseJson, VerifiedBody};
#[cfg(feature = "queue")]
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub use crate::queue::handoff::actix_handler::handoff;
pub use crate::receive::{Receiver, Rejection};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

macro_rules! from_request {
    ($($ty:ty $(, $t:ident : $bound:path)?);* $(;)?) => {$(
        impl$(<$t: $bound + 'static>)? FromRequest for $ty {
            type Error = Rejection;
            type Future = LocalBoxFuture<Result<Self, Self::Error>>;

            fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
                Box::pin(extract(req.clone(), payload.take()))
            }
        }
    )*};
}

from_request! {
    FluxbaseEvent;
    FluxbaseJson<T>, T: serde::de::DeserializeOwned;
    VerifiedBody;
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status_or_500()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        response(self.clone())
    }
}

/// A value from `app_data`, as `T` or as `Data<T>`.
fn app_data<T: Clone + 'static>(req: &HttpRequest) -> Option<T> {
    req.app_data::<T>()
        .cloned()
        .or_else(|| req.app_data::<Data<T>>().map(|d| d.get_ref().clone()))
}

async fn extract<T: FromDelivered>(req: HttpRequest, payload: Payload) -> Result<T, Rejection> {
    // Behind the Verify middleware: the payload is the received bytes.
    let verified = req.extensions().get::<Verified>().cloned();
    if let Some(verified) = verified {
        let body = collect_received(payload, &verified).await?;
        let mut extensions = req.extensions_mut();
        let delivered = Delivered {
            body,
            event: extensions.remove::<Event>(),
            dedupe: extensions.remove::<DedupeStatus>(),
            verified,
        };
        return behind_layer(delivered, extensions.get::<Receiver>());
    }

    let Some(receiver) = app_data::<Receiver>(&req) else {
        return Err(Rejection::not_configured(
            "add it with App::app_data, or wrap the scope in Verify",
        ));
    };
    let prepared = receiver.prepare(&ActixHead(req.headers()), None);
    let body = std::pin::pin!(ActixBody(payload));
    receiver
        .run(prepared, body, T::WANT, false, accepted::<T>)
        .await
}

/// Collects a payload the middleware already received: never more than it
/// verified, and the middleware's bytes themselves (no copy) when they come
/// as one chunk, as it passes them on.
async fn collect_received(mut payload: Payload, verified: &Verified) -> Result<Bytes, Rejection> {
    let limit = usize::try_from(verified.body_len()).unwrap_or(usize::MAX);
    let mut body = Chunks::known(limit);
    let incomplete =
        || Rejection::problem(&Error::BodyIncomplete).with_error(Error::BodyIncomplete);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| incomplete())?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(incomplete());
        }
        body.push(chunk);
    }
    Ok(body.finish())
}

pub(crate) fn response(rejection: Rejection) -> HttpResponse {
    let status = StatusCode::from_u16(rejection.status_or_500())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in rejection.headers() {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            builder.insert_header((name, value));
        }
    }
    builder.body(rejection.body().clone())
}

/// An actix-web header map as the flow reads it.
pub(crate) struct ActixHead<'a>(pub(crate) &'a HeaderMap);

impl RequestHead for ActixHead<'_> {
    fn signatures(&self) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(SIGNATURE_HEADER).map(HeaderValue::as_bytes)
    }

    fn legacy_signatures(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(LEGACY_SIGNATURE_HEADER)
            .map(HeaderValue::as_bytes)
    }

    fn content_lengths(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(actix_web::http::header::CONTENT_LENGTH)
            .map(HeaderValue::as_bytes)
    }

    fn content_encodings(&self) -> impl Iterator<Item = &[u8]> {
        self.0
            .get_all(actix_web::http::header::CONTENT_ENCODING)
            .map(HeaderValue::as_bytes)
    }
}

/// An actix-web payload as the flow reads it.
pub(crate) struct ActixBody(pub(crate) Payload);

impl BodySource for ActixBody {
    fn poll_chunk(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        Pin::new(&mut self.0).poll_next(cx).map(|chunk| {
            chunk.map(|chunk| {
                chunk.map_err(|err| match err {
                    PayloadError::Overflow => BodyError::TooLarge,
                    _ => BodyError::Incomplete,
                })
            })
        })
    }
}

/// The actix-web middleware: runs every request of the app, scope or
/// resource it wraps through a [`Receiver`], answers refusals itself, and
/// passes on the received bytes as payload with [`Verified`], [`Event`] and
/// [`DedupeStatus`] in the request extensions (`web::ReqData<Event>`). When
/// the inner service answers with an error status, the event is forgotten
/// so the sender's retry is handled as new.
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use fluxbase_webhooks::{Receiver, Rejection, Verifier, actix::Verify};
///
/// let receiver = Receiver::builder(Verifier::new("whsec-example")?)
///     .on_reject(|err| Rejection::text(err.code().http_status(), err.code().as_str()))
///     .build();
/// let scope = web::scope("/webhooks")
///     .wrap(Verify::new(receiver))
///     .route("", web::post().to(HttpResponse::Ok));
/// # let _ = scope;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Verify {
    receiver: Receiver,
}

impl Verify {
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

impl<S, B> Transform<S, ServiceRequest> for Verify
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = VerifyMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VerifyMiddleware {
            service: Rc::new(service),
            receiver: self.receiver.clone(),
        }))
    }
}

/// The service [`Verify`] wraps around the inner one.
#[derive(Debug)]
pub struct VerifyMiddleware<S> {
    service: Rc<S>,
    receiver: Receiver,
}

impl<S, B> Service<ServiceRequest> for VerifyMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let receiver = self.receiver.clone();
        Box::pin(async move {
            let (request, payload) = req.into_parts();
            let prepared = receiver.prepare(&ActixHead(request.headers()), None);
            let body = std::pin::pin!(ActixBody(payload));
            // The request goes to the inner service or into the refusal,
            // never both: actix-web routes only a request that is not
            // shared (`HttpRequest` must not be cloned here).
            let slot = std::cell::Cell::new(Some(request));
            let for_extractors = receiver.clone();
            let outcome = receiver
                .run(prepared, body, Want::Event, true, |accepted| async {
                    let Some(inner_request) = slot.take() else {
                        let taken = actix_web::error::ErrorInternalServerError("request taken");
                        return Ok((Err(taken), false));
                    };
                    let (body, held) = accepted
                        .leave_for_extractors(for_extractors, &mut *inner_request.extensions_mut());
                    let req = ServiceRequest::from_parts(inner_request, Payload::from(body));
                    let response = service.call(req).await;
                    drop(held);
                    let succeeded = response.as_ref().is_ok_and(|r| r.status().is_success());
                    Ok((response, succeeded))
                })
                .await;
            match (outcome, slot.take()) {
                (Ok(response), _) => Ok(response?.map_into_left_body()),
                (Err(rejection), Some(request)) => {
                    Ok(ServiceResponse::new(request, response(rejection)).map_into_right_body())
                }
                // Only a handed-over request has no slot left; it is never
                // refused after that, but the answer would still be right.
                (Err(rejection), None) => Err(rejection.into()),
            }
        })
    }
}

impl Extensions for actix_web::dev::Extensions {
    fn put<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signer, Verifier};
    use fluxhook_testkit::block_on;

    fn verified(body: &[u8]) -> Verified {
        let header = Signer::new("k").unwrap().sign_now(body).to_string();
        Verifier::new("k").unwrap().verify(&header, body).unwrap()
    }

    /// The extractors behind [`Verify`] take the bytes the middleware
    /// received and passed on as they are: no second copy of the body.
    #[test]
    fn a_received_body_reaches_the_extractor_without_a_copy() {
        let body = Bytes::from(br#"{"event":"TEST","timestamp":"x"}"#.to_vec());
        let kept = block_on(collect_received(
            Payload::from(body.clone()),
            &verified(&body),
        ))
        .unwrap();
        assert_eq!(kept.as_ptr(), body.as_ptr());
    }

    /// Never more than what was verified: a payload longer than that is an
    /// incomplete body, not a bigger one.
    #[test]
    fn a_received_body_is_never_longer_than_what_was_verified() {
        let body = Bytes::from_static(b"{\"event\":\"TEST\"}");
        let mut longer = body.to_vec();
        longer.push(b' ');
        let err = block_on(collect_received(Payload::from(longer), &verified(&body))).unwrap_err();
        assert_eq!(err.error(), Some(&Error::BodyIncomplete));
    }
}
