//! axum extractors: [`FluxbaseEvent`] (the typed [`Event`]),
//! [`FluxbaseJson<T>`] (your own `DeserializeOwned` type) and
//! [`VerifiedBody`] (the raw body plus what was verified, to queue now and
//! parse later), and [`serve`], a server with the timeouts a public
//! endpoint needs.
//!
//! Each extractor runs the delivery through a [`Receiver`]: the body is
//! read through its limits, verified, dated, checked for replays, and a bad
//! delivery is refused with a [`Rejection`], the same
//! `application/problem+json` answer as [`VerifyLayer`]. The receiver is
//! found, in this order:
//!
//! 1. behind [`VerifyLayer`] (on the route or the router), what the layer
//!    received is taken from the request extensions: nothing is verified
//!    twice, and the router's state can be anything;
//! 2. in the request extensions (`.layer(Extension(receiver))`);
//! 3. as the router's state (`.with_state(receiver)`).
//!
//! A route with none of these answers 500 and logs at ERROR: that is a
//! server bug, not the sender's. An application state of your own keeps
//! its fields; add the receiver with `VerifyLayer` on the webhook route (or
//! an `Extension` layer), as below, or keep it in the state and take the
//! extractor as [`FromState<T>`], which finds it through
//! [`FromRef`] (checked when the handler is
//! compiled, not at the first delivery).
//!
//! | extractor | refuses a body that is not a Fluxbase payload |
//! | --- | --- |
//! | [`FluxbaseEvent`] | yes, 400 `invalid_payload` |
//! | [`FluxbaseJson<T>`] | yes; and 422 `payload_mismatch` when it does not fit `T` |
//! | [`VerifiedBody`] | no: any verified bytes (behind [`VerifyLayer`], what the layer let through: payloads only) |
//!
//! ```no_run
//! use axum::{Router, extract::State, routing::post};
//! use fluxbase_webhooks::{Verifier, axum::FluxbaseEvent, tower::VerifyLayer};
//!
//! #[derive(Clone)]
//! struct AppState { shop: &'static str }
//!
//! async fn webhook(State(state): State<AppState>, FluxbaseEvent(event): FluxbaseEvent) -> String {
//!     format!("{} got {}", state.shop, event.name())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?;
//! let app = Router::new()
//!     .route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)))
//!     .with_state(AppState { shop: "demo" });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! fluxbase_webhooks::axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Without the layer, the receiver can be the router's state:
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use fluxbase_webhooks::{Receiver, Verifier, axum::FluxbaseJson};
//!
//! #[derive(serde::Deserialize)]
//! struct Row { event: String, table: String }
//!
//! async fn webhook(FluxbaseJson(row): FluxbaseJson<Row>) {
//!     println!("{} on {}", row.event, row.table);
//! }
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let receiver = Receiver::new(Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?);
//! let app = Router::new().route("/webhooks", post(webhook)).with_state(receiver);
//! # Ok(app) }
//! ```
//!
//! Or with the receiver in an application state of your own
//! (`#[derive(FromRef)]` from axum's `macros` feature writes the `impl`):
//!
//! ```no_run
//! use axum::{Router, extract::{FromRef, State}, routing::post};
//! use fluxbase_webhooks::{Receiver, Verifier, axum::{FluxbaseEvent, FromState}};
//!
//! #[derive(Clone)]
//! struct AppState { shop: &'static str, receiver: Receiver }
//!
//! impl FromRef<AppState> for Receiver {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.receiver.clone()
//!     }
//! }
//!
//! async fn webhook(
//!     State(state): State<AppState>,
//!     FromState(FluxbaseEvent(event)): FromState<FluxbaseEvent>,
//! ) -> String {
//!     format!("{} got {}", state.shop, event.name())
//! }
//!
//! # fn app() -> Result<Router, Box<dyn std::error::Error>> {
//! let receiver = Receiver::new(Verifier::new(std::env::var("FLUXBASE_WEBHOOK_SECRET")?)?);
//! let app = Router::new()
//!     .route("/webhooks", post(webhook))
//!     .with_state(AppState { shop: "demo", receiver });
//! # Ok(app) }
//! ```
//!
//! [`VerifyLayer`]: crate::tower::VerifyLayer

use std::any::Any;

use axum_core::body::Body;
use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;

use crate::dedupe::DedupeStatus;
use crate::event::Event;
use crate::extract::{Delivered, FromDelivered, accepted, behind_layer};
use crate::receive::Receiver;
use crate::tower::{HttpBody, HttpHead};
use crate::verify::Verified;

pub use crate::extract::{FluxbaseEvent, FluxbaseJson, VerifiedBody};
pub use crate::receive::Rejection;
pub use crate::server::{Serve, serve};

/// Each extractor, bare (any state) and as [`FromState`] (a state the
/// receiver comes from through `FromRef`).
macro_rules! from_request {
    ($($ty:ty $(, $t:ident : $bound:path)?);* $(;)?) => {$(
        impl<S $(, $t: $bound + Send)?> FromRequest<S> for $ty
        where
            S: Send + Sync + 'static,
        {
            type Rejection = Rejection;

            async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
                extract(req, state).await
            }
        }

        impl<S $(, $t: $bound + Send)?> FromRequest<S> for FromState<$ty>
        where
            S: Send + Sync + 'static,
            Receiver: FromRef<S>,
        {
            type Rejection = Rejection;

            async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
                receive(req, |_| Some(Receiver::from_ref(state))).await.map(FromState)
            }
        }
    )*};
}

from_request! {
    FluxbaseEvent;
    FluxbaseJson<T>, T: serde::de::DeserializeOwned;
    VerifiedBody;
}

/// [`FluxbaseEvent`], [`FluxbaseJson<T>`] or [`VerifiedBody`] with the
/// [`Receiver`] taken from the router's state through [`FromRef`], for an
/// application state of your own that holds one (`impl FromRef<AppState>
/// for Receiver`, or axum's `#[derive(FromRef)]`).
///
/// Behind [`VerifyLayer`](crate::tower::VerifyLayer) it takes what the
/// layer received, as the bare extractor does: nothing is verified twice.
/// A state with no receiver in it does not compile.
///
/// ```
/// use axum::{extract::FromRef, routing::post, Router};
/// use fluxbase_webhooks::{Receiver, Verifier, axum::{FluxbaseJson, FromState}};
///
/// #[derive(Clone)]
/// struct AppState { receiver: Receiver }
///
/// impl FromRef<AppState> for Receiver {
///     fn from_ref(state: &AppState) -> Self {
///         state.receiver.clone()
///     }
/// }
///
/// async fn webhook(FromState(FluxbaseJson(row)): FromState<FluxbaseJson<serde_json::Value>>) {
///     println!("{row}");
/// }
///
/// let receiver = Receiver::new(Verifier::new("whsec-example").unwrap());
/// let app: Router = Router::new()
///     .route("/webhooks", post(webhook))
///     .with_state(AppState { receiver });
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FromState<T>(pub T);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.into_http::<Body>()
    }
}

async fn extract<T, S>(req: Request, state: &S) -> Result<T, Rejection>
where
    T: FromDelivered,
    S: Send + Sync + 'static,
{
    receive(req, |extensions| {
        extensions
            .get::<Receiver>()
            .or_else(|| (state as &dyn Any).downcast_ref::<Receiver>())
            .cloned()
    })
    .await
}

/// Runs the extractor: on what a layer received, or through the flow of the
/// receiver `find` finds.
async fn receive<T: FromDelivered>(
    req: Request,
    find: impl FnOnce(&http::Extensions) -> Option<Receiver>,
) -> Result<T, Rejection> {
    let (mut parts, body) = req.into_parts();

    // Behind VerifyLayer: the body is the received bytes; take what the
    // layer found instead of receiving again.
    if let Some(verified) = parts.extensions.remove::<Verified>() {
        let delivered = Delivered {
            body: read_received(body, &verified).await?,
            event: parts.extensions.remove::<Event>(),
            dedupe: parts.extensions.remove::<DedupeStatus>(),
            verified,
        };
        return behind_layer(delivered, parts.extensions.get::<Receiver>());
    }

    let Some(receiver) = find(&parts.extensions) else {
        return Err(Rejection::not_configured(
            "wrap the route in VerifyLayer, add Extension(receiver), make the Receiver the router state, \
             or take the extractor as FromState<_> from a state that holds one",
        ));
    };
    let prepared = receiver.prepare(
        &HttpHead(&parts.headers),
        Some(http_body::Body::size_hint(&body).lower()),
    );
    let body = std::pin::pin!(HttpBody { body });
    receiver
        .run(prepared, body, T::WANT, false, accepted::<T>)
        .await
}

/// Collects a body a layer already received: never more than it verified.
async fn read_received(body: Body, verified: &Verified) -> Result<Bytes, Rejection> {
    let limit = usize::try_from(verified.body_len()).unwrap_or(usize::MAX);
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| {
            let err = crate::Error::BodyIncomplete;
            Rejection::problem(&err).with_error(err)
        })
}
