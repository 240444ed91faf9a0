//! The Fluxbase management API client (feature `client`).
//!
//! Covers every call of the Management SDK documentation — sign-in, admin
//! login, client (API) keys, webhooks and invitations — and reads both the
//! shapes that documentation describes and what the Fluxbase server really
//! answers: bare arrays or `{webhooks, total}` envelopes, `null` lists,
//! `enabled` or `is_active`, events as strings or `{table, operations}`
//! objects, updates answering with a message or the object, 204s with no
//! body.
//!
//! ```no_run
//! use fluxbase_webhooks::client::{Client, EventFilter};
//!
//! # async fn run() -> Result<(), fluxbase_webhooks::client::ClientError> {
//! let client = Client::builder()
//!     .base_url("http://localhost:8080")
//!     .timeout(std::time::Duration::from_secs(10))
//!     .build()?;
//! client.auth().sign_in("user@example.com", "correct horse battery").await?;
//!
//! let registration = client
//!     .webhooks()
//!     .register_endpoint(
//!         "https://myapp.example.com/webhook",
//!         [EventFilter::table("users", ["INSERT", "UPDATE"])],
//!         "whsec-current",
//!     )
//!     .await?;
//! println!("webhook {} test: {}", registration.webhook.id, registration.test.success);
//! for delivery in client.webhooks().deliveries(&registration.webhook.id, Some(20)).await? {
//!     println!("{} attempt {:?}: {:?}", delivery.event, delivery.attempt, delivery.status);
//! }
//! # Ok(()) }
//! ```
//!
//! # Security
//!
//! Tokens and keys are kept as [`Secret`]s, sent in headers marked
//! sensitive, and shown as `<redacted>` by every `Debug` implementation.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode};
use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::secret::Secret;

mod auth;
mod client_keys;
mod de;
mod error;
mod invitations;
mod lint;
mod webhooks;

pub use auth::{Auth, Session, User};
pub use client_keys::{ClientKey, ClientKeys, CreateClientKey, CreatedClientKey, UpdateClientKey};
pub use error::{ClientError, ErrorCode};
pub use invitations::{
    CreateInvitation, CreatedInvitation, Invitation, InvitationRole, InvitationValidation,
    Invitations, ListInvitations,
};
pub use lint::{
    AUTH_TABLES, UrlCheck, Warning, WarningCode, WebhookSettings, check_url, go_quote,
    private_ip_refusal,
};
pub use webhooks::{
    CreateWebhook, Delivery, EventFilter, Registration, TestResult, UpdateWebhook, Webhook,
    WebhookScope, Webhooks,
};

/// The `User-Agent` sent unless [`ClientBuilder::user_agent`] says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("fluxbase-webhooks/", env!("CARGO_PKG_VERSION"));

/// The most bytes of an answer the client reads (16 MiB).
const MAX_ANSWER: usize = 16 << 20;

/// How the client authenticates (see [`Auth`]).
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// `Authorization: Bearer <token>`: an access token from sign-in, admin
    /// login or invitation acceptance, or a service-role JWT.
    Bearer(Secret),
    /// A client key (`fbk_…`), sent as `X-Client-Key` and, for servers older
    /// than the rename, `X-API-Key`.
    ClientKey(Secret),
    /// A service key (`sk_…`), sent as `X-Service-Key`.
    ServiceKey(Secret),
}

impl Credentials {
    /// A short name of the kind: `bearer`, `client key`, `service key`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bearer(_) => "bearer",
            Self::ClientKey(_) => "client key",
            Self::ServiceKey(_) => "service key",
        }
    }

    fn apply(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, ClientError> {
        Ok(match self {
            Self::Bearer(token) => {
                let mut value = Vec::with_capacity(7 + token.len());
                value.extend_from_slice(b"Bearer ");
                value.extend_from_slice(token.expose());
                let value = sensitive(&value, "bearer token")?;
                req.header(http::header::AUTHORIZATION, value)
            }
            Self::ClientKey(key) => {
                let value = sensitive(key.expose(), "client key")?;
                req.header("x-client-key", value.clone())
                    .header("x-api-key", value)
            }
            Self::ServiceKey(key) => {
                req.header("x-service-key", sensitive(key.expose(), "service key")?)
            }
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({} <redacted>)", self.kind())
    }
}

fn sensitive(bytes: &[u8], what: &str) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_bytes(bytes)
        .map_err(|_| ClientError::input(format!("the {what} is not a valid HTTP header value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A Fluxbase management API client.
///
/// Cheap to clone (the connection pool and credentials are shared). Build
/// one with [`Client::builder`]; reach the API through [`Client::auth`],
/// [`Client::webhooks`], [`Client::client_keys`] and
/// [`Client::invitations`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    credentials: RwLock<Option<Credentials>>,
    /// Which client-keys path the server answers: 0 unknown,
    /// 1 `/client-keys`, 2 the legacy `/api-keys`.
    keys_path: AtomicU8,
}

impl Client {
    /// A builder; [`ClientBuilder::base_url`] is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for `base_url` with the default settings.
    ///
    /// # Errors
    ///
    /// When `base_url` is not an `http`/`https` URL.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::builder().base_url(base_url).build()
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Sign-in, admin login and the credentials in use.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self)
    }

    /// Webhooks: create, list, get, update, delete, test, deliveries, and
    /// [`Webhooks::register_endpoint`].
    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks::new(self)
    }

    /// Client keys (called API keys before the server renamed them).
    pub fn client_keys(&self) -> ClientKeys<'_> {
        ClientKeys::new(self)
    }

    /// The same as [`Client::client_keys`], under the documentation's name.
    pub fn api_keys(&self) -> ClientKeys<'_> {
        self.client_keys()
    }

    /// Dashboard invitations (admin only, but `validate` and `accept`).
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations::new(self)
    }

    pub(crate) fn set_credentials(&self, credentials: Option<Credentials>) {
        *self
            .inner
            .credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner) = credentials;
    }

    pub(crate) fn credentials(&self) -> Option<Credentials> {
        self.inner
            .credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `base` + `/api/v1/` + each segment, percent-encoded.
    pub(crate) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    pub(crate) fn keys_path(&self) -> u8 {
        self.inner.keys_path.load(Ordering::Relaxed)
    }

    pub(crate) fn remember_keys_path(&self, which: u8) {
        self.inner.keys_path.store(which, Ordering::Relaxed);
    }

    /// Sends a request and reads the whole answer, whatever its status.
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        url: Url,
        body: Option<&(dyn erased::Body + '_)>,
    ) -> Result<Answer, ClientError> {
        let mut req = self.inner.http.request(method, url);
        if let Some(credentials) = self.credentials() {
            req = credentials.apply(req)?;
        }
        if let Some(body) = body {
            let bytes = body.to_json()?;
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let mut resp = req.send().await.map_err(ClientError::transport)?;
        let status = resp.status();
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(ClientError::transport)? {
            if buf.len() + chunk.len() > MAX_ANSWER {
                return Err(ClientError::input(format!(
                    "the server's answer is larger than {MAX_ANSWER} bytes"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body: buf })
    }

    /// Sends a request; an error status becomes [`ClientError`].
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&(dyn erased::Body + '_)>,
    ) -> Result<Answer, ClientError> {
        let answer = self.send_raw(method, url, body).await?;
        answer.ok()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("credentials", &self.credentials())
            .finish_non_exhaustive()
    }
}

/// A whole answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn ok(self) -> Result<Self, ClientError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(ClientError::api(self.status, &self.body))
        }
    }

    /// Reads a list answered in any of its shapes (see [`de::list`]).
    pub(crate) fn list<T: DeserializeOwned>(
        &self,
        keys: &[&str],
        what: &str,
    ) -> Result<Vec<T>, ClientError> {
        let value = self.json(what)?;
        de::list(value, keys)
            .map_err(|e| ClientError::decode(self.status, what, serde::de::Error::custom(e)))
    }

    /// The answer as `T` when it is the object (it has `key`); `None` when it
    /// is only a message (`{message}`, `{success, message}`).
    pub(crate) fn object_or_message<T: DeserializeOwned>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, ClientError> {
        let value: serde_json::Value = self.json(what)?;
        if value.get(key).is_none() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| ClientError::decode(self.status, what, e))
    }

    /// Reads the body as `T`; an empty body reads as JSON `null`.
    pub(crate) fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, ClientError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| ClientError::decode(self.status, what, e))
    }
}

/// Request bodies behind `dyn`, so `send` is not generic.
pub(crate) mod erased {
    use super::ClientError;

    pub(crate) trait Body {
        fn to_json(&self) -> Result<Vec<u8>, ClientError>;
    }

    impl<T: serde::Serialize> Body for T {
        fn to_json(&self) -> Result<Vec<u8>, ClientError> {
            serde_json::to_vec(self)
                .map_err(|e| ClientError::input(format!("cannot encode the request: {e}")))
        }
    }
}

/// Serializes a [`Secret`] as a JSON string (it must be UTF-8).
pub(crate) fn serialize_secret<S: serde::Serializer>(
    secret: &Secret,
    s: S,
) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(secret.expose()) {
        Ok(text) => s.serialize_str(text),
        Err(_) => Err(serde::ser::Error::custom("a secret must be UTF-8 text")),
    }
}

/// Builds a [`Client`]. Setters never fail; [`ClientBuilder::build`]
/// reports the first problem.
#[must_use]
#[derive(Default)]
pub struct ClientBuilder {
    base_url: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<String>,
    credentials: Option<Credentials>,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The server, e.g. `http://localhost:8080` (a path prefix is kept:
    /// `https://example.com/fluxbase` calls `https://example.com/fluxbase/api/v1/…`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The whole-request timeout (default: 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The connect timeout (default: 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` header (default: [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Authenticate with `Authorization: Bearer <token>`.
    pub fn bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::Bearer(token.into()));
        self
    }

    /// Authenticate with a client key (`X-Client-Key`, and `X-API-Key` for
    /// older servers).
    pub fn client_key(mut self, key: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::ClientKey(key.into()));
        self
    }

    /// Authenticate with a service key (`X-Service-Key`).
    pub fn service_key(mut self, key: impl Into<Secret>) -> Self {
        self.credentials = Some(Credentials::ServiceKey(key.into()));
        self
    }

    /// Use this `reqwest` client (its own timeouts, proxies and TLS
    /// settings) instead of building one; `timeout`, `connect_timeout` and
    /// `user_agent` are then ignored.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// No base URL, a base URL that is not `http`/`https`, a user agent that
    /// is not a header value, or TLS initialisation failing.
    pub fn build(self) -> Result<Client, ClientError> {
        let raw = self
            .base_url
            .ok_or_else(|| ClientError::builder("a base URL is required"))?;
        let base = Url::parse(raw.trim())
            .map_err(|e| ClientError::builder(format!("invalid base URL `{raw}`: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::builder(format!(
                "the base URL must be http or https, got `{raw}`"
            )));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(ClientError::builder(
                "the base URL must not hold credentials; use the auth methods",
            ));
        }
        let http = match self.http {
            Some(http) => http,
            None => {
                let user_agent = self
                    .user_agent
                    .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned());
                let user_agent = HeaderValue::from_str(&user_agent).map_err(|_| {
                    ClientError::builder(format!("invalid user agent `{user_agent}`"))
                })?;
                reqwest::Client::builder()
                    .user_agent(user_agent)
                    .timeout(self.timeout.unwrap_or(Duration::from_secs(30)))
                    .connect_timeout(self.connect_timeout.unwrap_or(Duration::from_secs(10)))
                    .build()
                    .map_err(|e| {
                        ClientError::builder(format!("cannot build the HTTP client: {e}"))
                    })?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                credentials: RwLock::new(self.credentials),
                keys_path: AtomicU8::new(0),
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_reports_the_first_problem() {
        let err = Client::builder().build().unwrap_err();
        assert!(err.is_builder());
        assert!(err.message().contains("base URL"));
        for bad in ["not a url", "ftp://x", "mailto:a@b", "http://u:p@host"] {
            let err = Client::new(bad).unwrap_err();
            assert!(err.is_builder(), "{bad}");
            assert!(!err.message().contains(":p@"), "{bad}: {}", err.message());
        }
        let err = Client::builder()
            .base_url("http://x")
            .user_agent("bad\nagent")
            .build()
            .unwrap_err();
        assert!(err.message().contains("user agent"));
    }

    #[test]
    fn endpoints_keep_a_path_prefix_and_encode_segments() {
        let c = Client::new("https://example.com/fluxbase/").unwrap();
        assert_eq!(
            c.endpoint(&["webhooks", "a/b c"]).as_str(),
            "https://example.com/fluxbase/api/v1/webhooks/a%2Fb%20c"
        );
        let c = Client::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            c.endpoint(&["auth", "signin"]).as_str(),
            "http://127.0.0.1:8080/api/v1/auth/signin"
        );
    }

    #[test]
    fn debug_redacts_credentials() {
        let c = Client::builder()
            .base_url("http://x")
            .client_key("fbk_supersecretvalue")
            .build()
            .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("client key <redacted>"), "{shown}");
        c.set_credentials(Some(Credentials::Bearer("eyJtoken".into())));
        assert!(!format!("{c:?}").contains("eyJ"));
    }

    #[test]
    fn credential_headers_are_sensitive() {
        let http = reqwest::Client::new();
        for creds in [
            Credentials::Bearer("t".into()),
            Credentials::ClientKey("fbk_x".into()),
            Credentials::ServiceKey("sk_x".into()),
        ] {
            let req = creds.apply(http.get("http://x/")).unwrap().build().unwrap();
            let names: Vec<_> = req
                .headers()
                .keys()
                .map(|k| k.as_str().to_owned())
                .collect();
            assert!(!names.is_empty());
            assert!(req.headers().values().all(HeaderValue::is_sensitive));
            if matches!(creds, Credentials::ClientKey(_)) {
                assert_eq!(names, ["x-client-key", "x-api-key"]);
            }
        }
        assert!(
            Credentials::Bearer("a\r\nb".into())
                .apply(http.get("http://x/"))
                .unwrap_err()
                .is_builder()
        );
    }
}
