//! [`Rejection`] (the HTTP answer to a refused delivery) and [`OnReject`]
//! (the hook that builds it), shared by every framework integration.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use crate::error::Error;
use crate::problem::{PROBLEM_JSON, problem_json};

/// The HTTP answer to a refused delivery: a status, an optional
/// `Content-Type` and a body.
///
/// The default, [`Rejection::problem`], is the `application/problem+json`
/// document of [`problem_json`] with the status of
/// [`Code::http_status`](crate::Code::http_status). An [`OnReject`] hook can
/// answer with anything else:
///
/// ```
/// use fluxbase_webhooks::{Error, Rejection};
/// use http::StatusCode;
///
/// let err = Error::SignatureMismatch;
/// let empty = Rejection::empty(StatusCode::UNAUTHORIZED);
/// let text = Rejection::text(StatusCode::UNAUTHORIZED, "bad signature");
/// let json = Rejection::json(
///     StatusCode::UNAUTHORIZED,
///     &serde_json::json!({ "error": err.code().as_str() }),
/// );
/// assert!(empty.body().is_empty());
/// assert_eq!(text.content_type().unwrap(), "text/plain; charset=utf-8");
/// assert_eq!(json.body().as_ref(), br#"{"error":"signature_mismatch"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl Rejection {
    /// The default answer: `application/problem+json` with the code's status.
    pub fn problem(err: &Error) -> Self {
        Self {
            status: status_of(err),
            content_type: Some(HeaderValue::from_static(PROBLEM_JSON)),
            body: Bytes::from(problem_json(err)),
        }
    }

    /// A status with an empty body and no `Content-Type`.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            content_type: None,
            body: Bytes::new(),
        }
    }

    /// A `text/plain; charset=utf-8` body.
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        Self::empty(status).with_body(
            HeaderValue::from_static("text/plain; charset=utf-8"),
            text.into(),
        )
    }

    /// An `application/json` body.
    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        Self::empty(status).with_body(
            HeaderValue::from_static("application/json"),
            value.to_string(),
        )
    }

    /// Any body with its `Content-Type`.
    #[must_use]
    pub fn with_body(mut self, content_type: HeaderValue, body: impl Into<Bytes>) -> Self {
        self.content_type = Some(content_type);
        self.body = body.into();
        self
    }

    /// Replaces the status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status sent.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Content-Type` sent, if any.
    pub fn content_type(&self) -> Option<&HeaderValue> {
        self.content_type.as_ref()
    }

    /// The body sent.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The parts: status, content type and body.
    pub fn into_parts(self) -> (StatusCode, Option<HeaderValue>, Bytes) {
        (self.status, self.content_type, self.body)
    }

    /// Builds an `http::Response` (the form tower and axum send).
    pub fn into_response<B: From<Bytes>>(self) -> http::Response<B> {
        let (status, content_type, body) = self.into_parts();
        let mut response = http::Response::new(B::from(body));
        *response.status_mut() = status;
        if let Some(value) = content_type {
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, value);
        }
        response
    }
}

fn status_of(err: &Error) -> StatusCode {
    // Every code's status is a valid HTTP status; 400 is the safe fallback.
    StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// Builds the [`Rejection`] for a refused delivery. Every integration calls
/// it: `VerifyLayer`, the actix-web middleware and the extractors.
///
/// The default answers [`Rejection::problem`]. Replace it to send an empty
/// body, plain text or your own JSON:
///
/// ```
/// use fluxbase_webhooks::{OnReject, Rejection, Error};
/// use http::StatusCode;
///
/// // Say nothing to unauthenticated senders; keep the status.
/// let quiet = OnReject::new(|err: &Error| {
///     let status = StatusCode::from_u16(err.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST);
///     Rejection::empty(status)
/// });
/// assert!(quiet.rejection(&Error::SignatureMismatch).body().is_empty());
/// assert_eq!(OnReject::default().rejection(&Error::Replayed).status(), 409);
/// ```
///
/// With axum extractors the hook is taken from the request extensions
/// (`.layer(Extension(on_reject))`); with actix-web extractors from
/// `app_data` (`OnReject` or `Data<OnReject>`); `VerifyLayer` and the
/// actix-web middleware take it in their builders.
#[derive(Clone, Default)]
pub struct OnReject(Option<Arc<RejectFn>>);

type RejectFn = dyn Fn(&Error) -> Rejection + Send + Sync;

impl OnReject {
    /// A hook from a function.
    pub fn new(f: impl Fn(&Error) -> Rejection + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The answer for `err`.
    pub fn rejection(&self, err: &Error) -> Rejection {
        match &self.0 {
            Some(f) => f(err),
            None => Rejection::problem(err),
        }
    }
}

impl fmt::Debug for OnReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnReject").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_is_the_default_answer() {
        let err = Error::PayloadTooLarge { limit: 5 };
        let r = OnReject::default().rejection(&err);
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.content_type().unwrap(), PROBLEM_JSON);
        assert_eq!(r.body().as_ref(), problem_json(&err).as_slice());
        let response: http::Response<Bytes> = r.into_response();
        assert_eq!(response.status(), 413);
        assert_eq!(response.headers()[http::header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn every_code_has_its_status() {
        use crate::error::Malformed;
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
                    max_skew_secs: 60,
                },
                401,
            ),
            (Error::Replayed, 409),
            (Error::PayloadTooLarge { limit: 1 }, 413),
            (Error::InvalidPayload(String::new()), 400),
            (Error::StoreUnavailable(String::new()), 503),
            (Error::BodyTimeout { after_secs: 30 }, 408),
            (Error::UnsupportedEncoding("gzip".into()), 415),
        ];
        let codes: Vec<_> = cases.iter().map(|(err, _)| err.code()).collect();
        assert_eq!(codes, crate::Code::ALL);
        for (err, status) in cases {
            let rejection = Rejection::problem(&err);
            assert_eq!(rejection.status().as_u16(), status, "{err:?}");
            assert_eq!(rejection.body().as_ref(), problem_json(&err).as_slice());
        }
    }

    #[test]
    fn empty_has_no_content_type() {
        let r = Rejection::empty(StatusCode::UNAUTHORIZED).with_status(StatusCode::FORBIDDEN);
        assert_eq!(
            (r.status(), r.content_type(), r.body().len()),
            (StatusCode::FORBIDDEN, None, 0)
        );
    }
}
