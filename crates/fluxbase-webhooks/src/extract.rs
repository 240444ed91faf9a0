//! The extractor types shared by the axum and actix-web integrations.

use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use tracing::Span;

use crate::dedupe::DedupeStatus;
use crate::error::{Error, PayloadError};
use crate::event::Event;
use crate::receive::{Accepted, Receiver, Rejection, Reservation, Want};
use crate::verify::Verified;

/// Extracts the typed [`Event`] of a delivery that passed the receiver.
///
/// The body is read through the receiver's limits and verified, then
/// parsed; a body that is not a Fluxbase payload is refused with 400
/// `invalid_payload`. Behind `VerifyLayer` or the actix-web `Verify`
/// middleware, the event they parsed is taken as is: nothing is verified
/// twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxbaseEvent(pub Event);

/// Extracts a delivery's body deserialized into your own type.
///
/// The body is read through the receiver's limits, verified and checked to
/// be a Fluxbase payload (400 `invalid_payload` otherwise), then
/// deserialized from JSON into `T`. A payload that does not fit `T` is
/// refused with 422 `payload_mismatch`: the delivery is genuine, this
/// endpoint cannot take it, and Fluxbase retries it, which succeeds once
/// the endpoint is fixed. The answer names nothing of `T`; the
/// deserializer's message is logged at DEBUG.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FluxbaseJson<T>(pub T);

/// Extracts the raw verified body, with what was verified and what the
/// replay store said: to queue now and parse later, without parsing twice.
///
/// Any verified bytes are accepted, Fluxbase payload or not (a delivery
/// signed without a timestamp must still carry a fresh body date).
///
/// Taken by the extractor's own flow (no layer in front), the body keeps
/// its share of the receiver's budget of bytes buffered at once for as long
/// as it (or a clone of it) is held: bodies queued in memory to be
/// processed later count, and once they fill the budget new deliveries are
/// answered 503 until some are dropped. The share is the body's length; a
/// body that arrived in one piece may be a slice of the connection's read
/// buffer (up to 64 KiB under the library's server) and keep all of it, so
/// copy it (`Bytes::copy_from_slice`) before keeping many small ones.
/// Behind `VerifyLayer` or the actix-web `Verify` middleware, the budget is
/// held until the inner service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBody {
    verified: Verified,
    body: Bytes,
    dedupe: Option<DedupeStatus>,
}

impl VerifiedBody {
    /// What was verified.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The body, exactly as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// What the replay store said, when the receiver has one.
    pub fn dedupe(&self) -> Option<&DedupeStatus> {
        self.dedupe.as_ref()
    }

    /// Parses the body into an [`Event`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPayload`] when the body is not a Fluxbase payload.
    pub fn event(&self) -> Result<Event, Error> {
        Event::from_slice(&self.body)
    }
}

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
wrapper!(FluxbaseJson<T>, T);

/// A delivery as an extractor receives it: from the flow, or from a layer
/// or middleware in front of it.
pub(crate) struct Delivered {
    pub(crate) verified: Verified,
    pub(crate) body: Bytes,
    pub(crate) event: Option<Event>,
    pub(crate) dedupe: Option<DedupeStatus>,
}

/// The step after the flow each extractor takes.
pub(crate) trait FromDelivered: Sized {
    /// What the flow must check of the body.
    const WANT: Want;

    fn from_delivered(delivered: Delivered) -> Result<Self, Error>;
}

impl FromDelivered for FluxbaseEvent {
    const WANT: Want = Want::Event;

    fn from_delivered(delivered: Delivered) -> Result<Self, Error> {
        match delivered.event {
            Some(event) => Ok(Self(event)),
            None => Event::from_slice(&delivered.body).map(Self),
        }
    }
}

impl<T: DeserializeOwned> FromDelivered for FluxbaseJson<T> {
    const WANT: Want = Want::Payload;

    fn from_delivered(delivered: Delivered) -> Result<Self, Error> {
        serde_json::from_slice(&delivered.body)
            .map(Self)
            .map_err(|e| Error::PayloadMismatch(PayloadError::new(e)))
    }
}

impl FromDelivered for VerifiedBody {
    const WANT: Want = Want::Bytes;

    fn from_delivered(delivered: Delivered) -> Result<Self, Error> {
        Ok(Self {
            verified: delivered.verified,
            body: delivered.body,
            dedupe: delivered.dedupe,
        })
    }
}

/// What an extractor's own flow hands over. The body carries its share of
/// the budget: given back once the value is built from it, or, when the
/// value keeps the body ([`VerifiedBody`]), once the last of it is dropped.
pub(crate) async fn accepted<T: FromDelivered>(accepted: Accepted) -> Result<(T, bool), Error> {
    let Accepted {
        verified,
        body,
        event,
        dedupe,
        held,
    } = accepted;
    let body = Bytes::from_owner(Held { body, _held: held });
    let value = T::from_delivered(Delivered {
        verified,
        body,
        event,
        dedupe,
    });
    value.map(|value| (value, true))
}

/// A body and the budget it holds, as the owner of the bytes handed on.
struct Held {
    body: Bytes,
    _held: Reservation,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

/// An extractor behind the layer or middleware: the delivery was received
/// already; only the extractor's own step may still refuse it, recorded on
/// the delivery's span (the current one: the handler runs inside it).
pub(crate) fn behind_layer<T: FromDelivered>(
    delivered: Delivered,
    receiver: Option<&Receiver>,
) -> Result<T, Rejection> {
    let body_len = delivered.verified.body_len();
    T::from_delivered(delivered).map_err(|err| {
        crate::receive::record_refusal(&Span::current(), &err, body_len);
        match receiver {
            Some(receiver) => receiver.rejection(err),
            None => Rejection::problem(&err).with_error(err),
        }
    })
}
