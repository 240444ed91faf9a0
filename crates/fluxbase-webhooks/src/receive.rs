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

use bytes::{Buf, Bytes, BytesMut};
use tracing::Span;
use tracing::field::Empty;

use crate::error::{Code, Error};
use crate::reject::{OnReject, Rejection};
use crate::verify::{Verification, Verified, Verifier};

/// What an integration needs to receive deliveries: the verifier and the
/// rejection hook.
///
/// A replay / duplicate-delivery store, when one is configured, belongs here
/// too and is consulted in [`Receive::finish`], after the signature matched.
#[derive(Clone, Debug)]
pub(crate) struct Receive {
    pub(crate) verifier: Verifier,
    pub(crate) on_reject: OnReject,
}

impl Receive {
    pub(crate) fn new(verifier: Verifier) -> Self {
        Self {
            verifier,
            on_reject: OnReject::default(),
        }
    }

    /// Step 1: everything that can be decided before reading the body.
    pub(crate) fn start<'h>(
        &self,
        declared_len: Option<u64>,
        fluxbase: impl Iterator<Item = &'h [u8]>,
        legacy: impl Iterator<Item = &'h [u8]>,
    ) -> Result<BodyReader, Error> {
        start(&self.verifier, declared_len, fluxbase, legacy)
    }

    /// Step 3: the signature check (and, later, the replay check).
    pub(crate) fn finish(&self, reader: BodyReader) -> Result<(Verified, Bytes), Error> {
        reader.finish()
    }

    pub(crate) fn rejection(&self, err: &Error) -> Rejection {
        self.on_reject.rejection(err)
    }
}

/// Step 1 with a bare verifier (the extractors use it).
pub(crate) fn start<'h>(
    verifier: &Verifier,
    declared_len: Option<u64>,
    fluxbase: impl Iterator<Item = &'h [u8]>,
    legacy: impl Iterator<Item = &'h [u8]>,
) -> Result<BodyReader, Error> {
    if let Some(len) = declared_len {
        verifier.check_len(len)?;
    }
    let header = verifier.select_header(fluxbase, legacy)?;
    let verification = verifier.begin(header)?;
    Ok(BodyReader::new(
        verification,
        declared_len.unwrap_or(0).min(verifier.max_body()),
        verifier.max_body(),
    ))
}

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
pub(crate) fn delivery_span() -> Span {
    tracing::info_span!(
        "fluxbase_webhook",
        outcome = Empty,
        scheme = Empty,
        key_index = Empty,
        key_id = Empty,
        body_len = Empty,
    )
}

/// The outcome recorded for an accepted delivery.
pub(crate) const OUTCOME_VERIFIED: &str = "verified";

/// Records an accepted delivery on its span.
pub(crate) fn record_verified(span: &Span, verified: &Verified) {
    span.record("outcome", OUTCOME_VERIFIED);
    span.record("scheme", verified.scheme().as_str());
    span.record("key_index", verified.key_index() as u64);
    if let Some(id) = verified.key_id() {
        span.record("key_id", id);
    }
    span.record("body_len", verified.body_len());
    tracing::debug!(parent: span, "webhook delivery verified");
}

/// Records a refused delivery on its span.
pub(crate) fn record_refused(span: &Span, err: &Error, body_len: u64) {
    let code = err.code();
    span.record("outcome", code.as_str());
    span.record("body_len", body_len);
    let status = code.http_status();
    // The message of an unparsable body may quote it; every other message
    // is safe to log.
    if code == Code::InvalidPayload {
        tracing::warn!(parent: span, code = code.as_str(), status, "webhook delivery refused");
    } else {
        tracing::warn!(parent: span, code = code.as_str(), status, reason = %err, "webhook delivery refused");
    }
}

#[cfg(feature = "tower")]
pub(crate) use self::http_body::{declared_len, poll_body};

#[cfg(feature = "tower")]
mod http_body {
    use std::pin::Pin;
    use std::task::{Context, Poll, ready};

    use http_body::Body;

    use super::{BodyReader, unreadable_body};
    use crate::error::Error;

    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// The length a request announces: its `Content-Length`, or what the
    /// body itself says it will at least be.
    pub(crate) fn declared_len<B: Body>(headers: &http::HeaderMap, body: &B) -> Option<u64> {
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
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        loop {
            match ready!(body.as_mut().poll_frame(cx)) {
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
        let verifier = Verifier::new("k").body_limit(limit);
        let header = Signer::new("k").sign_now(body).to_string();
        start(
            &verifier,
            None,
            [header.as_bytes()].into_iter(),
            std::iter::empty(),
        )
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
        let verifier = Verifier::new("k").body_limit(10);
        let err = start(&verifier, Some(11), std::iter::empty(), std::iter::empty())
            .err()
            .unwrap();
        assert_eq!(err, Error::PayloadTooLarge { limit: 10 });
        let err = start(&verifier, Some(10), std::iter::empty(), std::iter::empty())
            .err()
            .unwrap();
        assert_eq!(err, Error::MissingSignature);
    }
}
