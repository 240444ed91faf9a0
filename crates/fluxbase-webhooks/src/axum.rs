//! axum extractors: [`FluxbaseEvent`] (the typed [`Event`]), [`Webhook<T>`]
//! (your own `DeserializeOwned` type) and [`Verified<Bytes>`](Verified) (the
//! raw body plus what was verified, to queue now and parse later).
//!
//! Each reads the body through the verifier's limit (a declared length over
//! it is refused before reading; a chunked body is hashed as it arrives and
//! reading stops at the limit), verifies it, and refuses a bad delivery with
//! a [`WebhookRejection`]: the same `application/problem+json` answer as
//! [`VerifyLayer`].
//!
//! The [`Verifier`] is found, in this order:
//!
//! 1. behind [`VerifyLayer`] (on the route or the router), what the layer
//!    verified is taken from the request extensions: nothing is verified
//!    twice, and the state needs no verifier;
//! 2. in the router's state, through `FromRef` (see [`VerifierState`]);
//! 3. in the request extensions (`.layer(Extension(verifier))`).
//!
//! A route with none of these answers 500: that is a server bug, not the
//! sender's.
//!
//! | extractor | refuses a body that is not a Fluxbase payload |
//! | --- | --- |
//! | [`FluxbaseEvent`] | yes, 400 `invalid_payload` |
//! | [`Webhook<T>`] | when it does not deserialize into `T`, 400 `invalid_payload` |
//! | [`Verified<Bytes>`](Verified) | no: any verified bytes |
//! | [`VerifyLayer`] | yes, 400 `invalid_payload` |
//!
//! The rejection hook ([`OnReject`]) is taken from the request extensions
//! (`.layer(Extension(OnReject::new(..)))`); without one, refusals are
//! answered with the problem document.
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use fluxbase_webhooks::{Event, Verifier, axum::FluxbaseEvent};
//!
//! async fn webhook(FluxbaseEvent(event): FluxbaseEvent) {
//!     if let Event::Insert(row) = &event {
//!         println!("new row in {}", row.qualified_table());
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET").unwrap_or_default());
//! let app = Router::new().route("/webhooks", post(webhook)).with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! [`VerifyLayer`]: crate::tower::VerifyLayer

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::error::Error;
use crate::event::Event;
use crate::extract::{FromReceived, pre_verified, receive_with, self_verified};
use crate::receive::{Receive, poll_body, unreadable_body};
use crate::verify::{Verified, Verifier};

pub use crate::extract::{FluxbaseEvent, Webhook, WebhookRejection};
pub use crate::reject::{OnReject, Rejection};

/// Router states the extractors accept: any state a [`Verifier`] can be
/// taken from with `FromRef` (including a `Verifier` itself), and `()` for
/// routes behind [`VerifyLayer`](crate::tower::VerifyLayer) or with the
/// verifier in an `Extension`.
///
/// ```
/// use axum::extract::FromRef;
/// use fluxbase_webhooks::Verifier;
///
/// #[derive(Clone)]
/// struct AppState {
///     verifier: Verifier,
///     db_url: String,
/// }
///
/// // Or `#[derive(FromRef)]` with axum's `macros` feature.
/// impl FromRef<AppState> for Verifier {
///     fn from_ref(state: &AppState) -> Self {
///         state.verifier.clone()
///     }
/// }
/// ```
pub trait VerifierState {
    /// The verifier held by the state, if any.
    fn verifier(&self) -> Option<Verifier>;
}

impl<S> VerifierState for S
where
    Verifier: FromRef<S>,
{
    fn verifier(&self) -> Option<Verifier> {
        Some(Verifier::from_ref(self))
    }
}

impl VerifierState for () {
    fn verifier(&self) -> Option<Verifier> {
        None
    }
}

impl<S> FromRequest<S> for FluxbaseEvent
where
    S: VerifierState + Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        extract(req, state).await
    }
}

impl<S, T> FromRequest<S> for Webhook<T>
where
    S: VerifierState + Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        extract(req, state).await
    }
}

impl<S> FromRequest<S> for Verified<Bytes>
where
    S: VerifierState + Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        extract(req, state).await
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        self.into_rejection().into_response()
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        Rejection::into_response::<Body>(self)
    }
}

async fn extract<T, S>(req: Request, state: &S) -> Result<T, WebhookRejection>
where
    T: FromReceived,
    S: VerifierState,
{
    let (mut parts, body) = req.into_parts();
    let on_reject = parts
        .extensions
        .get::<OnReject>()
        .cloned()
        .unwrap_or_default();

    // Behind VerifyLayer: the body is the verified bytes; take what the
    // layer found instead of verifying again.
    if let Some(verified) = parts.extensions.remove::<Verified>() {
        let event = parts.extensions.remove::<Event>();
        let body = read_verified(body, &verified).await;
        return pre_verified(verified, body, event, &on_reject);
    }

    let verifier = state
        .verifier()
        .or_else(|| parts.extensions.get::<Verifier>().cloned());
    let receive = receive_with(
        verifier,
        on_reject,
        "put it in the router state, in an Extension, or wrap the route in VerifyLayer",
    )?;
    let span = receive.span();
    let read = read(&receive, &parts.headers, body).await;
    self_verified(read, &span, &receive.on_reject)
}

/// Verifies the body as it streams in. On failure, the error and how many
/// bytes were read.
async fn read(
    receive: &Receive,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<(Verified, Bytes), (Error, u64)> {
    let mut reader = receive.start_http(headers, &body).map_err(|err| (err, 0))?;
    let mut body = std::pin::pin!(body);
    let mut deadline = receive.deadline();
    let polled =
        std::future::poll_fn(|cx| poll_body(body.as_mut(), &mut reader, &mut deadline, cx)).await;
    if let Err(err) = polled {
        return Err((err, reader.body_len()));
    }
    let body_len = reader.body_len();
    receive.finish(reader).map_err(|err| (err, body_len))
}

/// Collects a body a layer already verified: never more than it verified.
async fn read_verified(body: Body, verified: &Verified) -> Result<Bytes, Error> {
    let limit = usize::try_from(verified.body_len()).unwrap_or(usize::MAX);
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| unreadable_body())
}
