//! The extractor types shared by the axum and actix-web integrations, and
//! their rejection.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;
use tracing::Span;

use crate::error::Error;
use crate::event::Event;
use crate::receive::{Receive, record_refused, record_verified};
use crate::reject::{OnReject, Rejection};
use crate::verify::Verified;

/// Extracts the typed [`Event`] of a verified delivery.
///
/// The body is read through the verifier's limit and verified, then parsed;
/// a body that is not a Fluxbase payload is refused with 400
/// `invalid_payload`. Behind `VerifyLayer` or
/// the actix-web `Verify` middleware the event they
/// parsed is taken as is: nothing is verified twice.
///
/// See `axum` and `actix` for where the
/// [`Verifier`](crate::Verifier) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxbaseEvent(pub Event);

/// Extracts a verified delivery's body parsed into your own
/// `DeserializeOwned` type.
///
/// The body is read through the verifier's limit, verified, then
/// deserialized from JSON; a body that does not fit `T` is refused with 400
/// `invalid_payload`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Webhook<T>(pub T);

macro_rules! wrapper {
    ($name:ident $(<$t:ident>)?, $inner:ty) => {
        impl$(<$t>)? $name$(<$t>)? {
            /// The extracted value.
            pub fn into_inner(self) -> $inner {
                self.0
            }
        }

        impl$(<$t>)? Deref for $name$(<$t>)? {
            type Target = $inner;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl$(<$t>)? DerefMut for $name$(<$t>)? {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}

wrapper!(FluxbaseEvent, Event);
wrapper!(Webhook<T>, T);

/// Why a webhook extractor produced no value.
///
/// A refused delivery ([`WebhookRejection::error`] is `Some`) answers with
/// the [`Rejection`] built by the route's [`OnReject`] hook, by default the
/// `application/problem+json` document with the code's status: the same
/// bytes `VerifyLayer` sends. A route with no
/// verifier configured is a server bug and answers 500.
///
/// Take `Result<FluxbaseEvent, WebhookRejection>` as the extractor to answer
/// refusals yourself.
#[derive(Clone)]
pub struct WebhookRejection {
    error: Option<Error>,
    response: Rejection,
}

impl WebhookRejection {
    pub(crate) fn refused(err: Error, hook: &OnReject) -> Self {
        let response = hook.rejection(&err);
        Self {
            error: Some(err),
            response,
        }
    }

    pub(crate) fn no_verifier(framework_hint: &str) -> Self {
        tracing::error!(
            "a fluxbase_webhooks extractor found no Verifier for this route ({framework_hint})"
        );
        Self {
            error: None,
            response: Rejection::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the webhook receiver is not configured",
            ),
        }
    }

    /// Why the delivery was refused; `None` when the route has no verifier.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The answer that will be sent.
    pub fn rejection(&self) -> &Rejection {
        &self.response
    }

    /// The answer that will be sent, owned.
    pub fn into_rejection(self) -> Rejection {
        self.response
    }
}

// Debug and Display show the code only: frameworks log them, and the
// message of an unparsable body may quote it.
impl fmt::Debug for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRejection")
            .field("code", &self.error.as_ref().map(Error::code))
            .field("status", &self.response.status())
            .finish()
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(err) => write!(f, "webhook delivery refused: {}", err.code()),
            None => f.write_str("no webhook verifier is configured for this route"),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A delivery whose signature was checked, by the extractor itself or by a
/// layer or middleware in front of it.
pub(crate) struct Received {
    pub(crate) verified: Verified,
    pub(crate) body: Bytes,
    /// The event a layer already parsed.
    pub(crate) event: Option<Event>,
}

/// The step after verification each extractor takes.
pub(crate) trait FromReceived: Sized {
    fn from_received(received: Received) -> Result<Self, Error>;
}

impl FromReceived for FluxbaseEvent {
    fn from_received(received: Received) -> Result<Self, Error> {
        match received.event {
            Some(event) => Ok(Self(event)),
            None => Event::from_slice(&received.body).map(Self),
        }
    }
}

impl<T: DeserializeOwned> FromReceived for Webhook<T> {
    fn from_received(received: Received) -> Result<Self, Error> {
        serde_json::from_slice(&received.body)
            .map(Self)
            .map_err(Error::invalid_payload)
    }
}

impl FromReceived for Verified<Bytes> {
    fn from_received(received: Received) -> Result<Self, Error> {
        Ok(received.verified.with_body(received.body))
    }
}

/// Turns a received delivery into the extractor's value, recording the
/// outcome on the delivery's span (`None` when a layer verified it and
/// recorded it already).
pub(crate) fn conclude<T: FromReceived>(
    received: Received,
    span: Option<&Span>,
    hook: &OnReject,
) -> Result<T, WebhookRejection> {
    let verified = received.verified.clone();
    match T::from_received(received) {
        Ok(value) => {
            if let Some(span) = span {
                record_verified(span, &verified);
            }
            Ok(value)
        }
        Err(err) => {
            // Behind the layer or middleware, the current span is the
            // delivery's: its outcome becomes this refusal.
            let current = Span::current();
            record_refused(span.unwrap_or(&current), &err, verified.body_len());
            Err(WebhookRejection::refused(err, hook))
        }
    }
}

/// An extractor behind the layer or middleware: the body is the verified
/// bytes, and the event is the one it parsed.
pub(crate) fn pre_verified<T: FromReceived>(
    verified: Verified,
    body: Result<Bytes, Error>,
    event: Option<Event>,
    on_reject: &OnReject,
) -> Result<T, WebhookRejection> {
    let body = body.map_err(|err| WebhookRejection::refused(err, on_reject))?;
    let received = Received {
        verified,
        body,
        event,
    };
    conclude(received, None, on_reject)
}

/// What an extractor verifying by itself needs, or the 500 of a route with
/// no verifier.
pub(crate) fn receive_with(
    verifier: Option<crate::Verifier>,
    on_reject: OnReject,
    hint: &str,
) -> Result<Receive, WebhookRejection> {
    match verifier {
        // Replays and duplicates are checked by the middleware only.
        Some(verifier) => Ok(Receive {
            on_reject,
            ..Receive::new(verifier)
        }),
        None => Err(WebhookRejection::no_verifier(hint)),
    }
}

/// An extractor that verified by itself: the outcome of reading the body.
pub(crate) fn self_verified<T: FromReceived>(
    read: Result<(Verified, Bytes), (Error, u64)>,
    span: &Span,
    on_reject: &OnReject,
) -> Result<T, WebhookRejection> {
    let (verified, body) = read.map_err(|(err, body_len)| {
        record_refused(span, &err, body_len);
        WebhookRejection::refused(err, on_reject)
    })?;
    let received = Received {
        verified,
        body,
        event: None,
    };
    conclude(received, Some(span), on_reject)
}
