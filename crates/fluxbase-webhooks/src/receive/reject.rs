//! [`Rejection`]: the HTTP answer to a refused delivery, whatever the
//! framework.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::Serialize;

use crate::error::Error;
use crate::problem::{PROBLEM_JSON, problem_json};

/// The answer to a refused delivery: a status, headers and a body, plus
/// the [`Error`] that caused it. It is also the rejection of every
/// extractor, and turns into an axum response (`IntoResponse`) or an
/// actix-web one (`ResponseError`).
///
/// The default, [`Rejection::problem`], is the `application/problem+json`
/// document of [`problem_json`] with the status of
/// [`Code::http_status`](crate::Code::http_status). A receiver's
/// `on_reject` hook can answer with anything else; statuses are plain
/// numbers, so the same hook serves every framework.
///
/// ```
/// use fluxbase_webhooks::{Error, Rejection};
///
/// let err = Error::SignatureMismatch;
/// let empty = Rejection::empty(401);
/// let text = Rejection::text(401, "bad signature");
/// let json = Rejection::json(401, &serde_json::json!({ "error": err.code().as_str() }));
/// assert!(empty.body().is_empty());
/// assert_eq!(text.content_type(), Some("text/plain; charset=utf-8"));
/// assert_eq!(json.body().as_ref(), br#"{"error":"signature_mismatch"}"#);
/// assert_eq!(Rejection::problem(&err).status(), 401);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    headers: Vec<(Cow<'static, str>, String)>,
    body: Bytes,
    error: Option<Error>,
}

impl Rejection {
    /// The default answer: `application/problem+json` with the code's status.
    pub fn problem(err: &Error) -> Self {
        Self::empty(err.code().http_status()).with_body(PROBLEM_JSON, problem_json(err))
    }

    /// A status with an empty body and no `Content-Type`. A status outside
    /// 100–999 is sent as 500.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            error: None,
        }
    }

    /// A `text/plain; charset=utf-8` body.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::empty(status).with_body("text/plain; charset=utf-8", text.into())
    }

    /// An `application/json` body from any `Serialize` value. A value that
    /// cannot be serialized (a map with non-string keys, a failing
    /// `Serialize` impl) gives an empty body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        Self::empty(status).with_body(
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }

    /// Any body with its `Content-Type`.
    pub fn with_body(
        self,
        content_type: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut this = self.with_header("content-type", content_type.into().into_owned());
        this.body = body.into();
        this
    }

    /// Sets a header, replacing a header of that name (names are compared
    /// ignoring case). Values that are not valid header values are dropped
    /// when the response is built.
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Replaces the status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn with_error(mut self, err: Error) -> Self {
        self.error = Some(err);
        self
    }

    /// The status sent.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Type` sent, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// A header's value, by name (ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Every header, in the order set.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
    }

    /// The body sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Why the delivery was refused; `None` for an answer that is not a
    /// refusal of the sender (a route with no receiver configured).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The status to send, valid for any HTTP library.
    pub(crate) fn status_or_500(&self) -> u16 {
        if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        }
    }

    /// The answer of a route whose receiver is missing: a server bug, not
    /// the sender's, logged at ERROR.
    #[cfg(any(feature = "axum", feature = "actix"))]
    pub(crate) fn not_configured(hint: &str) -> Self {
        tracing::error!("a fluxbase_webhooks extractor found no Receiver for this route ({hint})");
        Self::text(500, "the webhook receiver is not configured")
    }

    /// The answer to a duplicate acknowledged without the handler.
    pub(crate) fn duplicate_acknowledged() -> Self {
        Self::empty(200).with_body("application/json", &br#"{"duplicate":true}"#[..])
    }
}

// Debug and Display show the code only: frameworks log them, and the
// message of an unparsable body may quote it.
impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("status", &self.status)
            .field("code", &self.error.as_ref().map(Error::code))
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(err) => write!(f, "webhook delivery refused: {}", err.code()),
            None => write!(f, "webhook receiver answered {}", self.status),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(feature = "tower")]
impl Rejection {
    /// Builds an `http` 1 response (what tower and axum send).
    pub(crate) fn into_http<B: From<Bytes>>(self) -> http::Response<B> {
        let status = http::StatusCode::from_u16(self.status_or_500())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = http::Response::new(B::from(self.body));
        *response.status_mut() = status;
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name.as_ref()),
                http::HeaderValue::try_from(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_is_the_default_answer() {
        let err = Error::PayloadTooLarge { limit: 5 };
        let r = Rejection::problem(&err);
        assert_eq!(r.status(), 413);
        assert_eq!(r.content_type(), Some(PROBLEM_JSON));
        assert_eq!(r.body().as_ref(), problem_json(&err).as_slice());
    }

    #[test]
    fn every_code_has_its_status() {
        use crate::dedupe::StoreError;
        use crate::error::{Malformed, PayloadError};
        let parse = || PayloadError::new(serde_json::from_str::<u8>("x").unwrap_err());
        // One error per code, and the status the table in DESIGN.md gives it.
        let cases = [
            (Error::MissingSignature, 401),
            (Error::MalformedSignature(Malformed::InvalidHex), 401),
            (Error::SignatureMismatch, 401),
            (
                Error::TimestampTooOld {
                    age_secs: 301,
                    tolerance_secs: 300,
                },
                401,
            ),
            (
                Error::TimestampInFuture {
                    ahead_secs: 61,
                    future_skew_secs: 60,
                },
                401,
            ),
            (Error::MissingTimestamp, 401),
            (Error::Replayed, 409),
            (Error::PayloadTooLarge { limit: 1 }, 413),
            (Error::InvalidPayload(parse()), 400),
            (Error::PayloadMismatch(parse()), 422),
            (Error::StoreUnavailable(StoreError::msg("down")), 503),
            (Error::QueueUnavailable(StoreError::msg("down")), 503),
            (Error::OverCapacity, 503),
            (Error::BodyTimeout { after_secs: 30 }, 408),
            (Error::BodyIncomplete, 400),
            (Error::UnsupportedEncoding("gzip".into()), 415),
        ];
        let codes: Vec<_> = cases.iter().map(|(err, _)| err.code()).collect();
        assert_eq!(codes, crate::Code::ALL);
        for (err, status) in cases {
            let rejection = Rejection::problem(&err);
            assert_eq!(rejection.status(), status, "{err:?}");
            assert_eq!(rejection.body().as_ref(), problem_json(&err).as_slice());
        }
    }

    #[test]
    fn headers_replace_by_name_and_json_takes_any_serialize() {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let r = Rejection::json(401, &Body { error: "no" })
            .with_header("Retry-After", "5")
            .with_header("retry-after", "7")
            .with_status(503);
        assert_eq!(r.status(), 503);
        assert_eq!(r.header("RETRY-AFTER"), Some("7"));
        assert_eq!(r.headers().count(), 2);
        assert_eq!(r.body().as_ref(), br#"{"error":"no"}"#);
        let empty = Rejection::empty(401);
        assert_eq!((empty.content_type(), empty.body().len()), (None, 0));
        assert_eq!(Rejection::empty(42).status_or_500(), 500);
    }

    #[test]
    fn display_and_debug_show_no_detail() {
        let err = Error::invalid_payload(serde_json::from_str::<u8>("\"secret-ish\"").unwrap_err());
        let r = Rejection::problem(&err).with_error(err);
        assert_eq!(r.to_string(), "webhook delivery refused: invalid_payload");
        assert!(!format!("{r:?}").contains("secret-ish"));
        assert!(std::error::Error::source(&r).is_some());
    }
}
