//! [`ClientError`]: what went wrong talking to the management API.

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error from the management client.
///
/// Opaque on purpose: ask it what happened with the query methods.
/// When the server answered with an error status, [`ClientError::status`] is that
/// status, [`ClientError::message`] the server's `error` text and [`ClientError::code`]
/// its `code` (a string or a number, when sent). Transport failures answer
/// [`ClientError::is_timeout`] / [`ClientError::is_connect`].
///
/// Messages never contain a token, key or secret.
///
/// ```
/// # async fn run(client: fluxbase_webhooks::client::Client) {
/// match client.webhooks().get("00000000-0000-0000-0000-000000000000").await {
///     Ok(webhook) => println!("{}", webhook.url),
///     Err(err) if err.is_not_found() => println!("no such webhook"),
///     Err(err) => eprintln!("{} ({:?})", err.message(), err.status()),
/// }
/// # }
/// ```
pub struct ClientError {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    status: Option<StatusCode>,
    message: String,
    code: Option<ErrorCode>,
    body: Option<serde_json::Value>,
    source: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The client could not be built (bad base URL, bad header value, ...).
    Builder,
    /// The request was refused before it was sent (invalid input).
    Input,
    /// The request could not be sent or the answer not read.
    Transport,
    /// The server answered with an error status.
    Api,
    /// The server answered 2xx with a body this client cannot read.
    Decode,
    /// Sign-in needs a second factor.
    TwoFactor,
}

impl ClientError {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                status: None,
                message: message.into(),
                code: None,
                body: None,
                source: None,
            }),
        }
    }

    pub(crate) fn builder(message: impl Into<String>) -> Self {
        Self::new(Kind::Builder, message)
    }

    pub(crate) fn input(message: impl Into<String>) -> Self {
        Self::new(Kind::Input, message)
    }

    pub(crate) fn transport(err: reqwest::Error) -> Self {
        // reqwest's Display may carry the URL, which never holds credentials
        // here (keys travel in headers); strip it anyway.
        let err = err.without_url();
        let mut e = Self::new(Kind::Transport, transport_message(&err));
        e.inner.status = err.status();
        e.inner.source = Some(Box::new(err));
        e
    }

    pub(crate) fn decode(status: StatusCode, what: &str, err: serde_json::Error) -> Self {
        let mut e = Self::new(
            Kind::Decode,
            format!("cannot read the server's answer to {what}: {err}"),
        );
        e.inner.status = Some(status);
        e.inner.source = Some(Box::new(err));
        e
    }

    /// An error status with the server's JSON (or text) body.
    pub(crate) fn api(status: StatusCode, body: &[u8]) -> Self {
        let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let parsed = value
            .as_ref()
            .and_then(|v| ServerError::deserialize(v).ok());
        let message = parsed
            .as_ref()
            .and_then(|p| p.error.clone().or_else(|| p.message.clone()))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() || value.is_some() {
                    status
                        .canonical_reason()
                        .unwrap_or("error status")
                        .to_owned()
                } else {
                    truncate(text, 512)
                }
            });
        let mut e = Self::new(Kind::Api, message);
        e.inner.status = Some(status);
        e.inner.code = parsed.and_then(|p| p.code);
        e.inner.body = value.filter(serde_json::Value::is_object);
        e
    }

    pub(crate) fn two_factor(body: serde_json::Value) -> Self {
        let message = body
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("two-factor authentication is required")
            .to_owned();
        let mut e = Self::new(Kind::TwoFactor, message);
        e.inner.status = Some(StatusCode::OK);
        e.inner.body = Some(body);
        e
    }

    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The server's `error` message for an error status; otherwise a
    /// description of what failed.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The server's `code`, when its error body had one (a string such as
    /// `INVALID_CREDENTIALS`, or a number).
    pub fn code(&self) -> Option<&ErrorCode> {
        self.inner.code.as_ref()
    }

    /// The whole JSON error body, for the keys this type does not model
    /// (`required_scope`, `retry_after`, `request_id`, ...).
    pub fn body(&self) -> Option<&serde_json::Value> {
        self.inner.body.as_ref()
    }

    /// Whether the server answered with an error status.
    pub fn is_status(&self) -> bool {
        self.inner.kind == Kind::Api
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        self.transport_source()
            .is_some_and(reqwest::Error::is_timeout)
    }

    /// Whether the server could not be reached.
    pub fn is_connect(&self) -> bool {
        self.transport_source()
            .is_some_and(reqwest::Error::is_connect)
    }

    /// Whether the request failed in transport (connect, timeout, I/O).
    pub fn is_transport(&self) -> bool {
        self.inner.kind == Kind::Transport
    }

    /// Whether a 2xx answer could not be read as the expected type.
    pub fn is_decode(&self) -> bool {
        self.inner.kind == Kind::Decode
    }

    /// Whether the client or request was refused before anything was sent
    /// (bad base URL, invalid input).
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder | Kind::Input)
    }

    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.is_status() && self.inner.status == Some(StatusCode::NOT_FOUND)
    }

    /// Whether the server refused the credentials (401) or their rights (403).
    pub fn is_unauthorized(&self) -> bool {
        self.is_status()
            && matches!(
                self.inner.status,
                Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            )
    }

    /// Whether sign-in answered `requires_2fa` instead of a session; see
    /// [`ClientError::two_factor_user_id`].
    pub fn is_two_factor_required(&self) -> bool {
        self.inner.kind == Kind::TwoFactor
    }

    /// The `user_id` of a `requires_2fa` answer.
    pub fn two_factor_user_id(&self) -> Option<&str> {
        if self.inner.kind != Kind::TwoFactor {
            return None;
        }
        self.body()?.get("user_id")?.as_str()
    }

    fn transport_source(&self) -> Option<&reqwest::Error> {
        self.inner.source.as_ref()?.downcast_ref::<reqwest::Error>()
    }
}

fn transport_message(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "cannot connect to the server"
    } else if err.is_redirect() {
        "too many redirects"
    } else if err.is_body() || err.is_decode() {
        "cannot read the answer"
    } else {
        "the request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {cause}")
    }
}

/// At most `max` bytes of `s`, and `…` when some were cut.
fn truncate(s: &str, max: usize) -> String {
    let cut = crate::truncate_at_char_boundary(s, max);
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut.to_owned()
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inner.kind, self.inner.status) {
            (Kind::Api, Some(status)) => {
                write!(f, "{status}: {}", self.inner.message)?;
                if let Some(code) = &self.inner.code {
                    write!(f, " [{code}]")?;
                }
                Ok(())
            }
            _ => f.write_str(&self.inner.message),
        }
    }
}

impl fmt::Debug for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientError");
        d.field("kind", &self.inner.kind);
        if let Some(status) = self.inner.status {
            d.field("status", &status);
        }
        d.field("message", &self.inner.message);
        if let Some(code) = &self.inner.code {
            d.field("code", code);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The `code` of a Fluxbase error body: a string (`"INVALID_CREDENTIALS"`)
/// from most handlers, a number (`404`) from the global error handler.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A string code.
    String(String),
    /// A numeric code.
    Number(i64),
}

impl ErrorCode {
    /// The code when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            Self::Number(_) => None,
        }
    }

    /// The code when it is a number.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::String(_) => None,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Number(n) => write!(f, "{n}"),
        }
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<i64> for ErrorCode {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

/// The error body shapes Fluxbase uses: `{error}`, `{error, code}`,
/// `{error, message}`, `{code, error, message, retry_after}`.
#[derive(Deserialize)]
struct ServerError {
    #[serde(default, deserialize_with = "lenient_string")]
    error: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient_code")]
    code: Option<ErrorCode>,
}

/// A string, or anything else read as absent.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

fn lenient_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ErrorCode>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(ErrorCode::String(s)),
        serde_json::Value::Number(n) => n.as_i64().map(ErrorCode::Number),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_body_shape() {
        let e = ClientError::api(StatusCode::NOT_FOUND, br#"{"error":"Webhook not found"}"#);
        assert_eq!(e.message(), "Webhook not found");
        assert_eq!(e.code(), None);
        assert!(e.is_not_found() && e.is_status());

        let e = ClientError::api(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"Invalid credentials","code":"INVALID_CREDENTIALS","request_id":"r1"}"#,
        );
        assert_eq!(e.code().unwrap(), "INVALID_CREDENTIALS");
        assert_eq!(e.body().unwrap()["request_id"], "r1");
        assert!(e.is_unauthorized());
        assert_eq!(
            e.to_string(),
            "401 Unauthorized: Invalid credentials [INVALID_CREDENTIALS]"
        );

        let e = ClientError::api(
            StatusCode::NOT_FOUND,
            br#"{"error":"Cannot GET /x","code":404}"#,
        );
        assert_eq!(e.code().unwrap(), &404);
        assert_eq!(e.code().unwrap().to_string(), "404");

        let e = ClientError::api(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"code":"RATE_LIMIT_EXCEEDED","error":"Too many","message":"slow down","retry_after":30}"#,
        );
        assert_eq!(e.message(), "Too many");
        assert_eq!(e.body().unwrap()["retry_after"], 30);

        let e = ClientError::api(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"x","message":"token_revoked"}"#,
        );
        assert_eq!(e.message(), "x");
        let e = ClientError::api(StatusCode::BAD_GATEWAY, b"upstream down\n");
        assert_eq!(e.message(), "upstream down");
        let e = ClientError::api(StatusCode::BAD_GATEWAY, b"");
        assert_eq!(e.message(), "Bad Gateway");
        let e = ClientError::api(StatusCode::BAD_REQUEST, br#"{"error":5,"code":[1]}"#);
        assert_eq!(e.message(), "Bad Request");
        assert_eq!(e.code(), None);
    }

    #[test]
    fn two_factor() {
        let e = ClientError::two_factor(serde_json::json!({
            "requires_2fa": true, "user_id": "u1", "message": "2FA required"
        }));
        assert!(e.is_two_factor_required());
        assert_eq!(e.two_factor_user_id(), Some("u1"));
        assert_eq!(e.message(), "2FA required");
        assert!(!e.is_status());
    }

    #[test]
    fn long_text_bodies_are_cut() {
        let body = "é".repeat(1000);
        let e = ClientError::api(StatusCode::BAD_GATEWAY, body.as_bytes());
        assert!(e.message().len() < 600);
    }
}
