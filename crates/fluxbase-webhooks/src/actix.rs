//! actix-web 4: the extractors [`FluxbaseEvent`], [`Webhook<T>`] and
//! [`Verified<Bytes>`](Verified), and the [`Verify`] middleware for whole
//! scopes.
//!
//! They behave like the `axum` extractors and
//! `VerifyLayer`: the body is read through the
//! verifier's limit and hashed as it arrives, refusals get the same status
//! and the same `application/problem+json` bytes, and every delivery gets a
//! `fluxbase_webhook` tracing span.
//!
//! The extractors take the [`Verifier`] from `app_data`, as `Verifier` or as
//! `Data<Verifier>`, and the optional [`OnReject`] hook the same way. Behind
//! the [`Verify`] middleware they take what it verified from the request
//! extensions instead of verifying again. A route with neither answers 500:
//! that is a server bug, not the sender's.
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use fluxbase_webhooks::{Verifier, actix::FluxbaseEvent};
//!
//! async fn webhook(FluxbaseEvent(event): FluxbaseEvent) -> HttpResponse {
//!     println!("received {}", event.name());
//!     HttpResponse::NoContent().finish()
//! }
//!
//! # fn run() -> std::io::Result<()> {
//! let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET").unwrap_or_default());
//! actix_web::rt::System::new().block_on(
//!     HttpServer::new(move || {
//!         App::new()
//!             .app_data(verifier.clone())
//!             .route("/webhooks", web::post().to(webhook))
//!     })
//!     .bind(("127.0.0.1", 3000))?
//!     .run(),
//! )
//! # }
//! ```
//!
//! With the middleware, every route of a scope is verified and can read
//! [`Event`] and [`Verified`] from `web::ReqData`:
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! use fluxbase_webhooks::{Event, Verifier, actix::Verify};
//!
//! async fn webhook(event: web::ReqData<Event>) -> HttpResponse {
//!     println!("received {}", event.name());
//!     HttpResponse::NoContent().finish()
//! }
//!
//! let verifier = Verifier::new("whsec");
//! let app = App::new().service(
//!     web::scope("/webhooks")
//!         .wrap(Verify::new(verifier))
//!         .route("/fluxbase", web::post().to(webhook)),
//! );
//! # let _ = app;
//! ```

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::Data;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::error::Error;
use crate::event::Event;
use crate::extract::{FromReceived, pre_verified, receive_with, self_verified};
use crate::receive::{
    Accepted, BodyReader, Receive, record_delivery, record_forget_failed, record_refused,
    record_verified, unreadable_body,
};
use crate::verify::{LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER, Verified, Verifier};

pub use crate::extract::{FluxbaseEvent, Webhook, WebhookRejection};
pub use crate::reject::{OnReject, Rejection};

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl FromRequest for FluxbaseEvent {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone(), payload.take()))
    }
}

impl<T> FromRequest for Webhook<T>
where
    T: serde::de::DeserializeOwned + 'static,
{
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone(), payload.take()))
    }
}

impl FromRequest for Verified<Bytes> {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(extract(req.clone(), payload.take()))
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        status(self.rejection())
    }

    fn error_response(&self) -> HttpResponse {
        http_response(self.rejection().clone())
    }
}

/// A value from `app_data`, as `T` or as `Data<T>`.
fn app_data<T: Clone + 'static>(req: &HttpRequest) -> Option<T> {
    req.app_data::<T>()
        .cloned()
        .or_else(|| req.app_data::<Data<T>>().map(|d| d.get_ref().clone()))
}

async fn extract<T: FromReceived>(
    req: HttpRequest,
    mut payload: Payload,
) -> Result<T, WebhookRejection> {
    let on_reject = app_data::<OnReject>(&req).unwrap_or_default();

    // Behind the Verify middleware: the payload is the verified bytes.
    let verified = req.extensions().get::<Verified>().cloned();
    if let Some(verified) = verified {
        let event = req.extensions().get::<Event>().cloned();
        let body = collect_verified(&mut payload, &verified).await;
        return pre_verified(verified, body, event, &on_reject);
    }

    let receive = receive_with(
        app_data::<Verifier>(&req),
        on_reject,
        "add it with App::app_data, or wrap the scope in Verify",
    )?;
    let span = receive.span();
    let read = read(&receive, req.headers(), &mut payload).await;
    self_verified(read, &span, &receive.on_reject)
}

/// Verifies the payload as it streams in: the declared length and the
/// header first, then every chunk through the limit. On failure, the error
/// and how many bytes were read.
async fn read(
    receive: &Receive,
    headers: &HeaderMap,
    payload: &mut Payload,
) -> Result<(Verified, Bytes), (Error, u64)> {
    let reader = read_body(receive, headers, payload).await?;
    let body_len = reader.body_len();
    receive.finish(reader).map_err(|err| (err, body_len))
}

/// Reads the whole payload through the verification, up to the tag check.
async fn read_body(
    receive: &Receive,
    headers: &HeaderMap,
    payload: &mut Payload,
) -> Result<BodyReader, (Error, u64)> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(HeaderValue::as_bytes);
    let mut reader = receive
        .start(declared, encoding, |v| {
            v.select_header(
                headers.get_all(SIGNATURE_HEADER).map(|v| v.as_bytes()),
                headers
                    .get_all(LEGACY_SIGNATURE_HEADER)
                    .map(|v| v.as_bytes()),
            )
        })
        .map_err(|err| (err, 0))?;
    let read_all = async {
        while let Some(chunk) = payload.next().await {
            let pushed = match chunk {
                Ok(bytes) => reader.push(bytes),
                Err(PayloadError::Overflow) => Err(Error::PayloadTooLarge {
                    limit: reader.limit(),
                }),
                Err(_) => Err(unreadable_body()),
            };
            pushed?;
        }
        Ok(())
    };
    let read = match receive.read_timeout {
        Some(timeout) => actix_web::rt::time::timeout(timeout, read_all)
            .await
            .unwrap_or_else(|_| Err(receive.timed_out())),
        None => read_all.await,
    };
    read.map_err(|err| (err, reader.body_len()))?;
    Ok(reader)
}

/// Collects a payload the middleware already verified: never more than it
/// verified.
async fn collect_verified(payload: &mut Payload, verified: &Verified) -> Result<Bytes, Error> {
    let limit = usize::try_from(verified.body_len()).unwrap_or(usize::MAX);
    let mut body = BytesMut::with_capacity(limit.min(1 << 20));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| unreadable_body())?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(unreadable_body());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn status(rejection: &Rejection) -> StatusCode {
    StatusCode::from_u16(rejection.status().as_u16()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn http_response(rejection: Rejection) -> HttpResponse {
    let mut builder = HttpResponse::build(status(&rejection));
    let (_, content_type, body) = rejection.into_parts();
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
        builder.insert_header((header::CONTENT_TYPE, value));
    }
    builder.body(body)
}

/// The actix-web middleware: verifies every request of the app, scope or
/// resource it wraps, answers refusals itself, and passes on the verified
/// bytes as payload with [`Verified`] and [`Event`] in the request
/// extensions (`web::ReqData<Event>`). Like
/// `VerifyLayer`, a body that is not a Fluxbase
/// payload is refused with 400 `invalid_payload`.
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use fluxbase_webhooks::{Rejection, Verifier, actix::Verify};
///
/// let scope = web::scope("/webhooks")
///     .wrap(Verify::new(Verifier::new("whsec")).on_reject(|err| {
///         Rejection::text(http::StatusCode::UNAUTHORIZED, err.code().as_str())
///     }))
///     .route("", web::post().to(HttpResponse::Ok));
/// # let _ = scope;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Verify {
    receive: Receive,
}

crate::receive::receive_builder!(Verify);

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
            receive: Rc::new(self.receive.clone()),
        }))
    }
}

/// The service [`Verify`] wraps around the inner one.
#[derive(Debug)]
pub struct VerifyMiddleware<S> {
    service: Rc<S>,
    receive: Rc<Receive>,
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

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let receive = Rc::clone(&self.receive);
        Box::pin(async move {
            let span = receive.span();
            let mut payload = req.take_payload();
            let accepted = match read_body(&receive, req.headers(), &mut payload).await {
                Ok(reader) => {
                    let body_len = reader.body_len();
                    receive.accept(reader).map_err(|err| (err, body_len))
                }
                Err(refused) => Err(refused),
            };
            let accepted = match accepted {
                Ok(accepted) => accepted,
                Err((err, body_len)) => {
                    record_refused(&span, &err, body_len);
                    return Ok(refuse(req, receive.rejection(&err)));
                }
            };
            record_verified(&span, &accepted.verified);
            let delivery = match receive.check(&accepted) {
                None => None,
                Some(check) => match check.await {
                    Ok(delivery) => {
                        if let Some(ack) = receive.acknowledgement(&delivery) {
                            record_delivery(&span, &delivery, true);
                            return Ok(refuse(req, ack));
                        }
                        record_delivery(&span, &delivery, false);
                        Some(delivery)
                    }
                    Err(err) => {
                        record_refused(&span, &err, accepted.verified.body_len());
                        return Ok(refuse(req, receive.rejection(&err)));
                    }
                },
            };
            let Accepted {
                verified,
                body,
                event,
                ..
            } = accepted;
            req.extensions_mut().insert(verified);
            req.extensions_mut().insert(event);
            if let Some(delivery) = &delivery {
                req.extensions_mut().insert(delivery.clone());
            }
            req.set_payload(Payload::from(body));
            let result = service.call(req).instrument(span.clone()).await;
            let failed = result.as_ref().map_or(true, |r| !r.status().is_success());
            let forget = delivery.filter(|_| failed).and_then(|d| receive.forget(&d));
            if let Some(Err(err)) = match forget {
                Some(f) => Some(f.await),
                None => None,
            } {
                record_forget_failed(&span, &err);
            }
            Ok(result?.map_into_left_body())
        })
    }
}

/// Answers the request here, without the inner service.
fn refuse<B>(req: ServiceRequest, rejection: Rejection) -> ServiceResponse<EitherBody<B>> {
    req.into_response(http_response(rejection))
        .map_into_right_body()
}
