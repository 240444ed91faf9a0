//! The one flow a delivery runs through, whatever the framework: see the
//! [module docs](super).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tracing::{Instrument, Span};

use super::body::{self, BodyReader, BodySource, Deadline, Reservation};
use super::head::{RequestHead, declared_len, read_head};
use super::metrics::{self, Outcome};
use super::{Receiver, Rejection, span};
use crate::clock::Instant;
use crate::dedupe::{DedupeStatus, Fingerprint};
use crate::error::Error;
use crate::event::Event;
use crate::payload::WebhookPayload;
use crate::signature::Scheme;
use crate::verify::{Verified, body_date};

/// How long a refused body is read and thrown away at most, so that the
/// sender gets to read the answer.
const DRAIN_TIME: Duration = Duration::from_secs(5);
/// Draining stops once the sender has sent nothing for this long: a sender
/// still writing is sending all the time (its writes were waiting only for
/// the receiver to read).
const DRAIN_IDLE: Duration = Duration::from_millis(500);

/// What the consumer of a delivery needs from its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// The typed [`Event`]: a body that is not a Fluxbase payload is
    /// refused (the tower layer, the actix-web middleware, `FluxbaseEvent`).
    Event,
    /// A Fluxbase payload, left for the consumer to deserialize
    /// (`FluxbaseJson<T>`).
    Payload,
    /// Any verified bytes (`VerifiedBody`).
    Bytes,
}

/// A delivery that passed every check, handed to the consumer.
pub(crate) struct Accepted {
    pub(crate) verified: Verified,
    pub(crate) body: Bytes,
    /// With [`Want::Event`].
    pub(crate) event: Option<Event>,
    pub(crate) dedupe: Option<DedupeStatus>,
    /// The body's share of the budget, held until this is dropped.
    pub(crate) held: Reservation,
}

impl Accepted {
    /// Leaves `receiver` (extractors behind render their refusals with
    /// it), the verification, the event and the dedupe status in a
    /// request's extensions for the extractors behind a layer or
    /// middleware; returns the body and the budget's hold on it.
    pub(crate) fn leave_for_extractors(
        self,
        receiver: Receiver,
        extensions: &mut impl Extensions,
    ) -> (Bytes, Reservation) {
        extensions.put(receiver);
        extensions.put(self.verified);
        if let Some(event) = self.event {
            extensions.put(event);
        }
        if let Some(dedupe) = self.dedupe {
            extensions.put(dedupe);
        }
        (self.body, self.held)
    }
}

/// A request's extensions, in whichever framework.
pub(crate) trait Extensions {
    fn put<T: Clone + Send + Sync + 'static>(&mut self, value: T);
}

/// A delivery whose head has been read: what the body is checked against,
/// or the refusal the head already decided.
pub(crate) struct Prepared {
    span: Span,
    started: Instant,
    deadline: Deadline,
    declared_len: Option<u64>,
    state: Result<(BodyReader, Scheme), (Error, Option<Scheme>)>,
}

/// Why a delivery was refused, and what is known of it by then.
struct Refusal {
    error: Error,
    scheme: Option<Scheme>,
    body_len: u64,
    /// Whether the body was read to its end (nothing left to drain).
    finished: bool,
}

impl Refusal {
    fn new(error: Error, scheme: Option<Scheme>, body_len: u64, finished: bool) -> Self {
        Self {
            error,
            scheme,
            body_len,
            finished,
        }
    }
}

impl Receiver {
    /// Step 1 and 2: reads the head and checks the declared body length
    /// against the budget.
    /// Synchronous, so the head can be borrowed from a request whose parts
    /// move on.
    pub(crate) fn prepare(&self, head: &impl RequestHead, size_hint: Option<u64>) -> Prepared {
        let policy = &*self.0;
        let started = Instant::now();
        let span = span::delivery_span(policy.span_level);
        let deadline = Deadline::after(policy.read_timeout);
        let declared_len = declared_len(head, size_hint);
        let state = read_head(head, declared_len, &policy.verifier, policy.body_limit)
            .map_err(|err| (err, None))
            .and_then(|signature| {
                let scheme = signature.scheme();
                let verification = policy
                    .verifier
                    .begin_parsed(signature, crate::clock::now())
                    .map_err(|err| (err, Some(scheme)))?;
                // A declared length the budget has no room for now is
                // refused at once; nothing is reserved for it until its
                // bytes arrive, so a sender that declares bodies it never
                // sends holds none of the budget.
                if let Some(len) = declared_len
                    && !policy.budget.has_room(len)
                {
                    return Err((Error::OverCapacity, Some(scheme)));
                }
                let held = policy.budget.reservation();
                let reader = BodyReader::new(verification, held, declared_len, policy.body_limit);
                Ok((reader, scheme))
            });
        Prepared {
            span,
            started,
            deadline,
            declared_len,
            state,
        }
    }

    /// Steps 3 to 6: reads and verifies the body, checks replays and
    /// duplicates, then hands the delivery to `handle`, inside the
    /// delivery's span.
    ///
    /// `handle` answers `Ok((value, succeeded))`; when `succeeded` is false
    /// the event is forgotten so the sender's retry is handled as new. An
    /// `Err` refuses the delivery after all (a body that does not fit the
    /// consumer's type), and forgets its event too. With `acknowledge`, a
    /// re-delivery under [`Duplicates::Acknowledge`] is answered without
    /// calling `handle`.
    ///
    /// [`Duplicates::Acknowledge`]: crate::dedupe::Duplicates::Acknowledge
    pub(crate) async fn run<B, F, Fut, R>(
        &self,
        prepared: Prepared,
        mut body: Pin<&mut B>,
        want: Want,
        acknowledge: bool,
        handle: F,
    ) -> Result<R, Rejection>
    where
        B: BodySource,
        F: FnOnce(Accepted) -> Fut,
        Fut: Future<Output = Result<(R, bool), Error>>,
    {
        let Prepared {
            span,
            started,
            mut deadline,
            declared_len,
            state,
        } = prepared;
        let decided = match state {
            Ok((reader, scheme)) => {
                self.decide(reader, scheme, body.as_mut(), want, &mut deadline)
                    .await
            }
            Err((err, scheme)) => Err(Refusal::new(err, scheme, 0, false)),
        };
        let took = started.elapsed();
        let accepted = match decided {
            Ok(accepted) => accepted,
            Err(refusal) => {
                span::refused(&span, &refusal.error, refusal.body_len);
                metrics::delivery(Outcome::Refused(refusal.error.code()), refusal.scheme, took);
                // A body announced longer than the drain limit is not read
                // at all, nor one refused because the budget is spent (its
                // sender retries anyway, and reading it would take memory
                // when there is none to spare): the connection is closed
                // after the answer.
                let left = declared_len.map(|len| len.saturating_sub(refusal.body_len));
                let drain = !refusal.finished
                    && refusal.error != Error::OverCapacity
                    && left.is_none_or(|left| left <= self.0.drain_limit);
                if drain {
                    body::drain(body, self.0.drain_limit, DRAIN_TIME, DRAIN_IDLE).await;
                }
                return Err(self.rejection(refusal.error));
            }
        };
        let scheme = Some(accepted.verified.scheme());
        let status = accepted.dedupe.clone();
        span::verified(&span, &accepted.verified, status.as_ref());
        let dedupe = self.0.dedupe.as_ref();
        if acknowledge
            && let (Some(dedupe), Some(status)) = (dedupe, &status)
            && dedupe.acknowledges(status)
        {
            span::acknowledged(&span);
            metrics::delivery(Outcome::Acknowledged, scheme, took);
            return Err(Rejection::duplicate_acknowledged());
        }
        let body_len = accepted.verified.body_len();
        let handled = handle(accepted).instrument(span.clone()).await;
        let (result, succeeded) = match handled {
            Ok((value, succeeded)) => {
                metrics::delivery(Outcome::Verified, scheme, took);
                (Ok(value), succeeded)
            }
            Err(err) => {
                span::refused(&span, &err, body_len);
                metrics::delivery(Outcome::Refused(err.code()), scheme, took);
                (Err(self.rejection(err)), false)
            }
        };
        if !succeeded
            && let (Some(dedupe), Some(status)) = (dedupe, &status)
            && let Err(err) = dedupe.forget(status).await
        {
            span::forget_failed(&span, &err);
        }
        result
    }

    /// Reads the body, verifies it, parses it once, checks it for replays.
    async fn decide<B: BodySource>(
        &self,
        mut reader: BodyReader,
        scheme: Scheme,
        body: Pin<&mut B>,
        want: Want,
        deadline: &mut Deadline,
    ) -> Result<Accepted, Refusal> {
        let policy = &*self.0;
        let refuse = |err, len, finished| Refusal::new(err, Some(scheme), len, finished);
        if let Err(err) = body::read(body, &mut reader, deadline).await {
            let finished = err == Error::BodyIncomplete;
            return Err(refuse(err, reader.body_len(), finished));
        }
        let body_len = reader.body_len();
        let (verification, bytes, held) = reader.finish();
        verification
            .check_date_first(&bytes, crate::clock::now())
            .map_err(|err| refuse(err, body_len, true))?;
        let matched = verification
            .finish_tags()
            .map_err(|err| refuse(err, body_len, true))?;
        // The one parse: the date, the dedupe keys and the event.
        let text = std::str::from_utf8(&bytes);
        let payload = text
            .as_ref()
            .map_err(|e| Error::invalid_payload(*e))
            .and_then(|text| WebhookPayload::from_str(text));
        let date = match &payload {
            Ok(p) => p.timestamp.clone(),
            Err(_) if scheme != Scheme::Timestamped => body_date(&bytes),
            Err(_) => None,
        };
        // Fresh now, with the body in, not only when the head came: the
        // replay key below lives from now until the delivery's window
        // closes, so no copy of it can be checked against the store later.
        let now = crate::clock::now();
        let verified = matched
            .at(now)
            .fresh(date.as_deref())
            .map_err(|err| refuse(err, body_len, true))?;
        let event = match (&payload, want) {
            (Ok(p), Want::Event) => Some(Event::from_parsed(p, text.unwrap_or_default())),
            (Ok(_), _) | (Err(_), Want::Bytes) => None,
            // A JSON object with a string `event` whose other fields do not
            // fit is still a Fluxbase payload: it reads as `Event::Unparsed`
            // (from the typed parse's error, without parsing it again).
            (Err(err), Want::Event | Want::Payload) => {
                let unfit = match (&text, serde_error(err)) {
                    (Ok(text), Some(typed_err)) => Event::from_unfit(text, typed_err),
                    _ => Event::from_slice(&bytes),
                };
                match unfit {
                    Ok(event) => (want == Want::Event).then_some(event),
                    Err(err) => return Err(refuse(err, body_len, true)),
                }
            }
        };
        // The keys (a digest of the payload's fields) only when asked for.
        let keys = policy.dedupe.as_ref().map(|dedupe| {
            let fingerprint = match &payload {
                Ok(p) => Fingerprint::of_payload(p),
                Err(_) => Fingerprint::of_bytes(&bytes),
            };
            let horizon =
                policy
                    .verifier
                    .window()
                    .replay_horizon(scheme, verified.timestamp(), now);
            dedupe.keys(&fingerprint, payload.as_ref().ok(), horizon)
        });
        drop(payload);
        let dedupe = match (&policy.dedupe, keys) {
            (Some(dedupe), Some(keys)) => Some(
                dedupe
                    .check(keys)
                    .await
                    .map_err(|err| refuse(err, body_len, true))?,
            ),
            _ => None,
        };
        Ok(Accepted {
            verified,
            body: bytes,
            event,
            dedupe,
            held,
        })
    }
}

/// The JSON parser's error behind a payload error, when it is one.
fn serde_error(err: &Error) -> Option<&serde_json::Error> {
    match err {
        Error::InvalidPayload(why) => why.get_ref().downcast_ref::<serde_json::Error>(),
        _ => None,
    }
}
