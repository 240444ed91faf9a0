//! The framework-neutral steps of receiving one delivery over HTTP, shared by
//! the tower, axum and actix-web integrations:
//!
//! 1. [`Receive::start`]: refuse a declared length over the limit, pick and
//!    parse the signature header, check its timestamp; nothing of the body
//!    has been read yet.
//! 2. [`BodyReader::push`] for each chunk as it arrives: hashed at once, and
//!    reading stops the moment the limit is passed.
//! 3. [`Receive::finish`]: compare the tags.
//!
//! Plus the tracing span every delivery gets.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tracing::field::{Empty, Value};
use tracing::{Level, Span};

use crate::dedupe::{BoxFuture, Dedupe, Delivery};
use crate::error::{Code, Error};
use crate::event::Event;
use crate::reject::{OnReject, Rejection};
use crate::signature::SignatureHeader;
use crate::verify::{Verification, Verified, Verifier};

/// What an integration needs to receive deliveries: the verifier, the
/// rejection hook, and the replay / duplicate detection when configured.
#[derive(Clone, Debug)]
pub(crate) struct Receive {
    pub(crate) verifier: Verifier,
    pub(crate) on_reject: OnReject,
    pub(crate) dedupe: Option<Dedupe>,
    /// How long the whole body may take to arrive once the headers are in.
    pub(crate) read_timeout: Option<Duration>,
    /// The level of the per-delivery span.
    pub(crate) span_level: Level,
}

/// Default time the body of one delivery may take to arrive: 30 s.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A delivery whose signature matched and whose body parsed.
pub(crate) struct Accepted {
    pub(crate) verified: Verified,
    pub(crate) body: Bytes,
    pub(crate) event: Event,
    /// Kept only when replays are checked.
    header: Option<SignatureHeader>,
}

impl Receive {
    pub(crate) fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            on_reject: OnReject::default(),
            dedupe: None,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            span_level: DEFAULT_SPAN_LEVEL,
        }
    }

    /// A new span for one delivery, at this receiver's level.
    pub(crate) fn span(&self) -> Span {
        delivery_span(self.span_level)
    }

    /// The error of a body that did not arrive in time.
    #[cfg(feature = "actix")]
    pub(crate) fn timed_out(&self) -> Error {
        Error::BodyTimeout {
            after_secs: self.read_timeout.unwrap_or_default().as_secs(),
        }
    }

    /// Steps 3 and 4 for the middleware: the signature check, then the
    /// event parse (a body that is not a Fluxbase payload is refused).
    pub(crate) fn accept(&self, reader: BodyReader) -> Result<Accepted, Error> {
        let header = self
            .dedupe
            .as_ref()
            .map(|_| reader.verification.header().clone());
        let (verified, body) = self.finish(reader)?;
        let event = Event::from_slice(&body)?;
        Ok(Accepted {
            verified,
            body,
            event,
            header,
        })
    }

    /// Step 5, when detection is configured: the replay and duplicate check
    /// of an accepted delivery.
    pub(crate) fn check(
        &self,
        accepted: &Accepted,
    ) -> Option<BoxFuture<'static, Result<Delivery, Error>>> {
        let dedupe = self.dedupe.as_ref()?;
        let header = accepted.header.as_ref()?;
        let keys = dedupe.keys(header, &self.verifier, &accepted.event, &accepted.body);
        Some(dedupe.check(keys))
    }

    /// The answer to a duplicate that is acknowledged without the handler.
    pub(crate) fn acknowledgement(&self, delivery: &Delivery) -> Option<Rejection> {
        let dedupe = self.dedupe.as_ref()?;
        dedupe.acknowledges(delivery).then(|| {
            Rejection::json(
                http::StatusCode::OK,
                &serde_json::json!({ "duplicate": true }),
            )
        })
    }

    /// When the handler failed, forgets the event so the sender's retry is
    /// handled as new.
    pub(crate) fn forget(
        &self,
        delivery: &Delivery,
    ) -> Option<BoxFuture<'static, Result<(), crate::StoreError>>> {
        self.dedupe.as_ref()?.forget(delivery)
    }

    /// Step 1: everything that can be decided before reading the body. The
    /// declared length and the content encoding are checked before `header`
    /// picks the signature header out of the request.
    pub(crate) fn start<'h>(
        &self,
        declared_len: Option<u64>,
        content_encoding: Option<&[u8]>,
        header: impl FnOnce(&Verifier) -> Result<&'h [u8], Error>,
    ) -> Result<BodyReader, Error> {
        let verifier = &self.verifier;
        if let Some(len) = declared_len {
            verifier.check_len(len)?;
        }
        check_encoding(content_encoding)?;
        let verification = verifier.begin(header(verifier)?)?;
        Ok(BodyReader::new(
            verification,
            declared_len.unwrap_or(0).min(verifier.max_body()),
            verifier.max_body(),
        ))
    }

    /// Step 3: the signature check (and, later, the replay check).
    pub(crate) fn finish(&self, reader: BodyReader) -> Result<(Verified, Bytes), Error> {
        reader.finish()
    }

    pub(crate) fn rejection(&self, err: &Error) -> Rejection {
        self.on_reject.rejection(err)
    }
}

/// Only `identity` (or no `Content-Encoding` at all) is accepted: the
/// signature covers the bytes as sent, Fluxbase never compresses, and
/// inflating a body would multiply it past the limit.
fn check_encoding(value: Option<&[u8]>) -> Result<(), Error> {
    match value.map(<[u8]>::trim_ascii) {
        None => Ok(()),
        Some(v) if v.is_empty() || v.eq_ignore_ascii_case(b"identity") => Ok(()),
        Some(v) => Err(Error::UnsupportedEncoding(
            String::from_utf8_lossy(&v[..v.len().min(32)]).into_owned(),
        )),
    }
}

/// The builder methods shared by `VerifyLayer` and the actix-web `Verify`
/// middleware, for a struct with a `receive: Receive` field. New settings
/// (such as a replay store) are added here once for both.
macro_rules! receive_builder {
    ($ty:ident) => {
        impl $ty {
            /// Verifies with `verifier` and answers refused deliveries with
            /// `application/problem+json`.
            pub fn new(verifier: $crate::Verifier) -> Self {
                Self {
                    receive: $crate::receive::Receive::new(verifier),
                }
            }

            /// Sets the body limit in bytes (default: the verifier's, 1 MiB
            /// unless set with [`Verifier::body_limit`](crate::Verifier::body_limit)).
            pub fn body_limit(mut self, bytes: u64) -> Self {
                self.receive.verifier = self.receive.verifier.body_limit(bytes);
                self
            }

            /// Answers refused deliveries with what `f` builds instead of
            /// the default problem document.
            pub fn on_reject(
                self,
                f: impl Fn(&$crate::Error) -> $crate::Rejection + Send + Sync + 'static,
            ) -> Self {
                self.on_reject_with($crate::OnReject::new(f))
            }

            /// Like `on_reject`, with a ready [`OnReject`](crate::OnReject).
            pub fn on_reject_with(mut self, hook: $crate::OnReject) -> Self {
                self.receive.on_reject = hook;
                self
            }

            /// Detects replays and re-deliveries with `dedupe` (see
            /// [`Dedupe`](crate::dedupe::Dedupe)): a signature header seen
            /// before is refused with `409 replayed`, a re-delivered event
            /// reaches the handler with
            /// [`Delivery::is_duplicate`](crate::dedupe::Delivery::is_duplicate)
            /// set (or is acknowledged without it), and the event of a
            /// delivery whose handler fails is forgotten so the retry is
            /// handled as new.
            pub fn dedupe(mut self, dedupe: $crate::dedupe::Dedupe) -> Self {
                self.receive.dedupe = Some(dedupe);
                self
            }

            /// How long the body may take to arrive once the request
            /// headers are in (default 30 s); a stalled body is answered
            /// `408 body_timeout` and its connection's request freed.
            /// `None` waits forever. The timer needs a tokio runtime (axum,
            /// actix-web and hyper servers have one); without one no
            /// timeout applies.
            pub fn read_timeout(mut self, timeout: impl Into<Option<std::time::Duration>>) -> Self {
                self.receive.read_timeout = timeout.into();
                self
            }

            /// The level of the `fluxbase_webhook` span opened for each
            /// delivery (default DEBUG). Its fields: `outcome` (a code, or
            /// `verified`), `scheme`, `key_index`, `key_id`, `body_len` and,
            /// with dedupe, `duplicate`; the handler runs inside it. A
            /// refusal is also logged at WARN, whatever this level.
            pub fn span_level(mut self, level: tracing::Level) -> Self {
                self.receive.span_level = level;
                self
            }

            /// The verifier in use.
            pub fn verifier(&self) -> &$crate::Verifier {
                &self.receive.verifier
            }
        }
    };
}
pub(crate) use receive_builder;

/// Hashes a body chunk by chunk while keeping the bytes, never past the
/// verifier's limit.
///
/// A body that arrives as one chunk is kept as that chunk (no copy); later
/// chunks are gathered into one buffer, reserved up front from the declared
/// length (capped at the limit).
pub(crate) struct BodyReader {
    verification: Verification,
    first: Option<Bytes>,
    rest: BytesMut,
    reserve: u64,
    limit: u64,
}

impl BodyReader {
    fn new(verification: Verification, reserve: u64, limit: u64) -> Self {
        Self {
            verification,
            first: None,
            rest: BytesMut::new(),
            reserve,
            limit,
        }
    }

    /// Step 2: one chunk of the body.
    ///
    /// Fails with [`Error::PayloadTooLarge`] as soon as the body passes the
    /// limit; the chunk that passes it is neither hashed nor kept.
    pub(crate) fn push(&mut self, mut data: impl Buf) -> Result<(), Error> {
        let len = data.remaining();
        if len == 0 {
            return Ok(());
        }
        if data.chunk().len() == len {
            self.verification.update(data.chunk())?;
            self.keep(data.copy_to_bytes(len));
            return Ok(());
        }
        while data.has_remaining() {
            let piece = data.chunk();
            self.verification.update(piece)?;
            self.spill();
            self.rest.extend_from_slice(piece);
            let n = piece.len();
            data.advance(n);
        }
        Ok(())
    }

    fn keep(&mut self, chunk: Bytes) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(chunk);
        } else {
            self.spill();
            self.rest.extend_from_slice(&chunk);
        }
    }

    /// Moves the first chunk into the buffer, reserving for the whole body.
    fn spill(&mut self) {
        if self.rest.is_empty() {
            let have = self.first.as_ref().map_or(0, Bytes::len);
            let want = usize::try_from(self.reserve).unwrap_or(usize::MAX);
            self.rest.reserve(want.max(have.saturating_mul(2)));
        }
        if let Some(first) = self.first.take() {
            self.rest.extend_from_slice(&first);
        }
    }

    /// Bytes read so far.
    pub(crate) fn body_len(&self) -> u64 {
        self.verification.body_len()
    }

    /// The configured limit.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    fn finish(self) -> Result<(Verified, Bytes), Error> {
        let body = match self.first {
            Some(first) => first,
            None => self.rest.freeze(),
        };
        let verified = self.verification.finish()?;
        Ok((verified, body))
    }
}

/// The answer when the request body itself fails (the client went away, or
/// sent a broken chunked encoding): a client's mistake, never a 500.
pub(crate) fn unreadable_body() -> Error {
    Error::InvalidPayload("the request body could not be read".to_owned())
}

/// A new span for one delivery. Its fields are filled in as the delivery is
/// decided; it never carries a secret, a signature or body content.
///
/// The span's level is set per receiver (default DEBUG, as tower-http's
/// request spans): a span per request is worth its cost when someone looks
/// at it, and a refusal is logged at WARN whatever the span level.
fn delivery_span(level: Level) -> Span {
    macro_rules! span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "fluxbase_webhook",
                outcome = Empty,
                scheme = Empty,
                key_index = Empty,
                key_id = Empty,
                body_len = Empty,
                duplicate = Empty,
            )
        };
    }
    match level {
        Level::ERROR => span!(Level::ERROR),
        Level::WARN => span!(Level::WARN),
        Level::INFO => span!(Level::INFO),
        Level::DEBUG => span!(Level::DEBUG),
        _ => span!(Level::TRACE),
    }
}

/// The default level of delivery spans.
const DEFAULT_SPAN_LEVEL: Level = Level::DEBUG;

/// The outcome recorded for an accepted delivery.
pub(crate) const OUTCOME_VERIFIED: &str = "verified";

/// Records an accepted delivery on its span, all fields in one call (a
/// formatting subscriber re-renders the span's fields on every `record`).
///
/// Log events of a delivery are emitted inside its span (`in_scope`), not
/// with an explicit `parent:`: a span below the subscriber's level is
/// disabled, and an event whose explicit parent is disabled becomes a root
/// event, cut off from the caller's spans too.
pub(crate) fn record_verified(span: &Span, verified: &Verified) {
    let key_index = verified.key_index() as u64;
    let key_id = verified.key_id();
    let body_len = verified.body_len();
    record_fields(
        span,
        &[
            ("outcome", Some(&OUTCOME_VERIFIED as &dyn Value)),
            ("scheme", Some(&verified.scheme().as_str() as &dyn Value)),
            ("key_index", Some(&key_index as &dyn Value)),
            ("key_id", key_id.as_ref().map(|id| id as &dyn Value)),
            ("body_len", Some(&body_len as &dyn Value)),
        ],
    );
    span.in_scope(|| tracing::debug!("webhook delivery verified"));
}

/// Records several fields of a delivery span with one `record_all`.
fn record_fields(span: &Span, values: &[(&str, Option<&dyn Value>); 5]) {
    let Some(meta) = span.metadata() else {
        return; // A disabled span records nothing.
    };
    let fields = meta.fields();
    let found = values.map(|(name, value)| (fields.field(name), value));
    let [a, b, c, d, e] = &found;
    let (Some(fa), Some(fb), Some(fc), Some(fd), Some(fe)) = (&a.0, &b.0, &c.0, &d.0, &e.0) else {
        return;
    };
    span.record_all(&fields.value_set(&[(fa, a.1), (fb, b.1), (fc, c.1), (fd, d.1), (fe, e.1)]));
}

/// Records the dedupe outcome of an accepted delivery on its span.
pub(crate) fn record_delivery(span: &Span, delivery: &Delivery, acknowledged: bool) {
    span.record("duplicate", delivery.is_duplicate());
    if delivery.is_unchecked() {
        span.in_scope(|| {
            tracing::warn!("replay store unavailable: delivery let through unchecked (fail-open)");
        });
    }
    if acknowledged {
        span.record("outcome", OUTCOME_ACKNOWLEDGED);
        span.in_scope(|| tracing::debug!("duplicate delivery acknowledged without the handler"));
    }
}

/// The outcome recorded for a duplicate answered without the handler.
pub(crate) const OUTCOME_ACKNOWLEDGED: &str = "duplicate_acknowledged";

/// Logs a failure to forget a failed delivery's event.
pub(crate) fn record_forget_failed(span: &Span, err: &crate::StoreError) {
    span.in_scope(|| {
        tracing::error!(
            reason = %err,
            "could not forget a failed delivery; its retry will look like a duplicate until the key expires"
        );
    });
}

/// Records a refused delivery on its span.
pub(crate) fn record_refused(span: &Span, err: &Error, body_len: u64) {
    let code = err.code();
    let status = code.http_status();
    if let Some(fields) = span.metadata().map(|m| m.fields())
        && let (Some(outcome), Some(len)) = (fields.field("outcome"), fields.field("body_len"))
    {
        span.record_all(&fields.value_set(&[
            (&outcome, Some(&code.as_str() as &dyn Value)),
            (&len, Some(&body_len as &dyn Value)),
        ]));
    }
    // The message of an unparsable body may quote it; every other message
    // is safe to log.
    span.in_scope(|| {
        if code == Code::InvalidPayload {
            tracing::warn!(code = code.as_str(), status, body_len, "webhook delivery refused");
        } else {
            tracing::warn!(code = code.as_str(), status, body_len, reason = %err, "webhook delivery refused");
        }
    });
}

#[cfg(feature = "tower")]
pub(crate) use self::http_body::{Deadline, poll_body};

#[cfg(feature = "tower")]
mod http_body {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body::Body;

    use super::{BodyReader, Receive, unreadable_body};
    use crate::error::Error;

    impl Receive {
        /// Step 1 for an `http` request.
        pub(crate) fn start_http<B: Body>(
            &self,
            headers: &http::HeaderMap,
            body: &B,
        ) -> Result<BodyReader, Error> {
            let encoding = headers
                .get(http::header::CONTENT_ENCODING)
                .map(http::HeaderValue::as_bytes);
            self.start(declared_len(headers, body), encoding, |v| {
                v.select_http_header(headers)
            })
        }

        /// The deadline for reading one body.
        pub(crate) fn deadline(&self) -> Deadline {
            Deadline::after(self.read_timeout)
        }
    }

    /// When a body must have arrived. Inert without a tokio runtime (the
    /// timer needs one) or without a read timeout. The timer is armed only
    /// the first time the body is not ready, so a body that arrives with
    /// its headers (most webhooks) never touches the timer wheel.
    pub(crate) struct Deadline {
        timeout: Option<std::time::Duration>,
        started: std::time::Instant,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl Deadline {
        fn after(timeout: Option<std::time::Duration>) -> Self {
            Self {
                timeout,
                started: std::time::Instant::now(),
                sleep: None,
            }
        }

        /// The timeout error once the deadline has passed (registering for a
        /// wake-up if not).
        fn passed(&mut self, cx: &mut Context<'_>) -> Option<Error> {
            let timeout = self.timeout?;
            if self.sleep.is_none() {
                tokio::runtime::Handle::try_current().ok()?;
                // A timeout too large to add to a clock reading never fires.
                let at = tokio::time::Instant::from_std(self.started.checked_add(timeout)?);
                self.sleep = Some(Box::pin(tokio::time::sleep_until(at)));
            }
            let sleep = self.sleep.as_mut()?;
            sleep
                .as_mut()
                .poll(cx)
                .is_ready()
                .then_some(Error::BodyTimeout {
                    after_secs: timeout.as_secs(),
                })
        }
    }

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// The length a request announces: its `Content-Length`, or what the
    /// body itself says it will at least be.
    fn declared_len<B: Body>(headers: &http::HeaderMap, body: &B) -> Option<u64> {
        let header = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let lower = body.size_hint().lower();
        match header {
            Some(len) => Some(len.max(lower)),
            None if lower > 0 => Some(lower),
            None => None,
        }
    }

    /// Step 2 over an `http_body::Body`: reads frames until the end of the
    /// body, feeding each to `reader`, and stops at the first error.
    pub(crate) fn poll_body<B>(
        mut body: Pin<&mut B>,
        reader: &mut BodyReader,
        deadline: &mut Deadline,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        loop {
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    return match deadline.passed(cx) {
                        Some(timed_out) => Poll::Ready(Err(timed_out)),
                        None => Poll::Pending,
                    };
                }
            };
            match frame {
                None => return Poll::Ready(Ok(())),
                Some(Ok(frame)) => {
                    // Trailers carry nothing that is signed.
                    if let Ok(data) = frame.into_data() {
                        reader.push(data)?;
                    }
                }
                Some(Err(err)) => return Poll::Ready(Err(body_error(&err.into(), reader))),
            }
        }
    }

    /// A length limit applied by another layer is still "too large";
    /// anything else is an unreadable body.
    fn body_error(err: &BoxError, reader: &BodyReader) -> Error {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
        while let Some(e) = source {
            if e.is::<http_body_util::LengthLimitError>() {
                return Error::PayloadTooLarge {
                    limit: reader.limit(),
                };
            }
            source = e.source();
        }
        unreadable_body()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scheme, Signer};

    fn reader(limit: u64, body: &[u8]) -> BodyReader {
        let receive = Receive::new(Verifier::new("k").body_limit(limit));
        let header = Signer::new("k").sign_now(body).to_string();
        receive
            .start(None, None, |_| Ok(header.as_bytes()))
            .unwrap()
    }

    #[test]
    fn one_chunk_is_kept_without_copy() {
        let body = Bytes::from_static(b"{\"event\":\"TEST\"}");
        let mut r = reader(1024, &body);
        r.push(body.clone()).unwrap();
        let (verified, kept) = r.finish().unwrap();
        assert_eq!(kept.as_ptr(), body.as_ptr());
        assert_eq!(verified.body_len(), body.len() as u64);
    }

    #[test]
    fn many_chunks_and_split_bufs_give_the_same_bytes() {
        let body: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut r = reader(4096, &body);
        for chunk in body.chunks(700) {
            let (a, b) = chunk.split_at(chunk.len() / 2);
            r.push(Buf::chain(a, b)).unwrap();
        }
        r.push(Bytes::new()).unwrap();
        let (verified, kept) = r.finish().unwrap();
        assert_eq!(kept.as_ref(), body.as_slice());
        assert_eq!(verified.scheme(), Scheme::Timestamped);
    }

    #[test]
    fn stops_at_the_limit() {
        let body = vec![b'x'; 100];
        let mut r = reader(64, &body);
        r.push(&body[..60]).unwrap();
        assert_eq!(
            r.push(&body[60..70]).unwrap_err(),
            Error::PayloadTooLarge { limit: 64 }
        );
        assert_eq!(r.body_len(), 60);
    }

    #[test]
    fn declared_length_is_refused_before_the_header_is_read() {
        let receive = Receive::new(Verifier::new("k").body_limit(10));
        let missing = |_: &Verifier| Err(Error::MissingSignature);
        let err = receive.start(Some(11), None, missing).err().unwrap();
        assert_eq!(err, Error::PayloadTooLarge { limit: 10 });
        let err = receive.start(Some(10), None, missing).err().unwrap();
        assert_eq!(err, Error::MissingSignature);
    }

    /// Everything a fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_refusal_keeps_the_callers_span_when_the_delivery_span_is_off() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(Level::INFO)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", id = 7);
            let _entered = request.enter();
            // DEBUG by default: disabled under an INFO subscriber.
            let span = Receive::new(Verifier::new("k")).span();
            assert!(span.is_disabled());
            record_refused(&span, &Error::MissingSignature, 12);
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            log.contains("request{id=7}") && log.contains("code=\"missing_signature\""),
            "{log}"
        );
    }
}
