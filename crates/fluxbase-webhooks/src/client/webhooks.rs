//! [`Webhooks`]: create, list, get, update, delete, test, deliveries.

use std::collections::BTreeMap;
use std::fmt;

use http::{Method, StatusCode};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use super::{Client, ClientError, Warning, WebhookSettings, de, serialize_secret};
use crate::event::DOCUMENTED_EVENTS;
use crate::secret::Secret;
use crate::timestamp::Timestamp;

/// What a webhook is subscribed to.
///
/// The server subscribes to row changes: `{"table": "users", "operations":
/// ["INSERT"]}` (bare table name or `"*"`; `INSERT`/`UPDATE`/`DELETE` or
/// `"*"`; case-sensitive). The SDK documentation subscribes to named events
/// (`"user.created"`), which the server refuses (400) and never emits: it
/// sends INSERT/UPDATE/DELETE on `auth.users` instead — see
/// [`EventFilter::from_documented`].
///
/// ```
/// use fluxbase_webhooks::client::EventFilter;
///
/// let f: EventFilter = "users:INSERT,UPDATE".parse()?;
/// assert_eq!(f, EventFilter::table("users", ["INSERT", "UPDATE"]));
/// assert_eq!(
///     EventFilter::from_documented("user.created"),
///     Some(EventFilter::table("users", ["INSERT"])),
/// );
/// assert_eq!(serde_json::to_string(&f)?, r#"{"table":"users","operations":["INSERT","UPDATE"]}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventFilter {
    /// Row changes of a table (the server's form).
    Table {
        /// Bare table name (`users`), or `*` for every table with a trigger.
        table: String,
        /// `INSERT`, `UPDATE`, `DELETE`, or `*`.
        operations: Vec<String>,
    },
    /// A documented event name (`user.created`; the documentation's form).
    Named(String),
}

impl EventFilter {
    /// Row changes of `table` for `operations`.
    pub fn table<I, S>(table: impl Into<String>, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Table {
            table: table.into(),
            operations: operations.into_iter().map(Into::into).collect(),
        }
    }

    /// Every operation on `table` (`operations: ["*"]`).
    pub fn all_rows(table: impl Into<String>) -> Self {
        Self::table(table, ["*"])
    }

    /// A documented event name, sent as a bare string.
    pub fn named(name: impl Into<String>) -> Self {
        Self::Named(name.into())
    }

    /// The server's equivalent of a documented user event:
    /// `user.created`/`updated`/`deleted` are INSERT/UPDATE/DELETE on
    /// `users`. `None` for the events the server has no equivalent of
    /// (`auth.login`, `password.reset`, ...).
    pub fn from_documented(name: &str) -> Option<Self> {
        let op = match name {
            "user.created" => "INSERT",
            "user.updated" => "UPDATE",
            "user.deleted" => "DELETE",
            _ => return None,
        };
        Some(Self::table("users", [op]))
    }
}

/// `TABLE`, `TABLE:OP[,OP...]`, or a documented event name (`user.created`).
impl std::str::FromStr for EventFilter {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, ClientError> {
        let s = s.trim();
        if DOCUMENTED_EVENTS.contains(&s) {
            return Ok(Self::Named(s.to_owned()));
        }
        let (table, ops) = match s.split_once(':') {
            Some((table, ops)) => (table.trim(), ops),
            None => (s, "*"),
        };
        let operations: Vec<String> = ops
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if table.is_empty() || operations.is_empty() {
            return Err(ClientError::input(format!(
                "`{s}` is not an event filter: use TABLE, TABLE:OP[,OP] or a documented event name"
            )));
        }
        Ok(Self::Table {
            table: table.to_owned(),
            operations,
        })
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Table { table, operations } => write!(f, "{table}:{}", operations.join(",")),
            Self::Named(name) => f.write_str(name),
        }
    }
}

impl Serialize for EventFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Named(name) => s.serialize_str(name),
            Self::Table { table, operations } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("table", table)?;
                m.serialize_entry("operations", operations)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for EventFilter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Named(String),
            Table {
                table: String,
                #[serde(default, deserialize_with = "de::null_default")]
                operations: Vec<String>,
            },
        }
        Ok(match Wire::deserialize(d)? {
            Wire::Named(name) => Self::Named(name),
            Wire::Table { table, operations } => Self::Table { table, operations },
        })
    }
}

/// Who a webhook sees rows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookScope {
    /// Rows that are unowned or owned by the webhook's creator (the
    /// server's default).
    User,
    /// Every row.
    Global,
}

impl WebhookScope {
    /// `user` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Global => "global",
        }
    }
}

/// A webhook, read from either shape: the server's (`name`, `enabled`,
/// `{table, operations}` events, `created_by`, no secret) or the
/// documentation's (`is_active`, string events, `user_id`, `secret`).
///
/// `Serialize` writes the server's field names and never a secret.
#[derive(Clone, Deserialize, Serialize)]
#[serde(from = "WireWebhook")]
#[non_exhaustive]
pub struct Webhook {
    /// The webhook's id.
    pub id: String,
    /// Its name (the server requires one; the documentation has none).
    pub name: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Where deliveries go.
    pub url: String,
    /// Whether deliveries are sent (`enabled`, or the documentation's
    /// `is_active`).
    pub enabled: bool,
    /// What it is subscribed to (`null` reads as empty).
    pub events: Vec<EventFilter>,
    /// Total delivery attempts per event, first included.
    pub max_retries: Option<u32>,
    /// Linear backoff unit between attempts, in seconds.
    pub retry_backoff_seconds: Option<u32>,
    /// Per-attempt timeout in seconds (0: none).
    pub timeout_seconds: Option<u32>,
    /// Extra headers sent with every delivery (`null` reads as empty).
    pub headers: BTreeMap<String, String>,
    /// `user` or `global`.
    pub scope: Option<String>,
    /// Who created it (`created_by`, or the documentation's `user_id`).
    pub created_by: Option<String>,
    /// When it was created.
    pub created_at: Option<Timestamp>,
    /// When it last changed.
    pub updated_at: Option<Timestamp>,
    /// What the server would silently do differently from what the
    /// settings sent suggest (see [`WebhookSettings::warnings`]): filled in
    /// by [`Webhooks::create`], [`Webhooks::update`] and
    /// [`Webhooks::register_endpoint`] from what they sent; empty on a
    /// webhook read with `get` or `list` (the server returns no secret, so
    /// it cannot be linted whole).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    #[serde(skip)]
    secret: Option<Secret>,
    #[serde(skip)]
    documented: bool,
}

impl Webhook {
    /// The signing secret, only when the server returned it (servers before
    /// February 2026 and the documented shape did; current servers never do).
    pub fn secret(&self) -> Option<&Secret> {
        self.secret.as_ref()
    }

    /// Whether it came in the documentation's shape (`is_active`).
    fn is_documented_shape(&self) -> bool {
        self.documented
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field("events", &self.events)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff_seconds", &self.retry_backoff_seconds)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("scope", &self.scope)
            .field("created_by", &self.created_by)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct WireWebhook {
    #[serde(default, deserialize_with = "de::opt_id")]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    url: String,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default, deserialize_with = "de::null_default")]
    events: Vec<EventFilter>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    retry_backoff_seconds: Option<u32>,
    #[serde(default)]
    timeout_seconds: Option<u32>,
    #[serde(default, deserialize_with = "de::string_map")]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default, deserialize_with = "de::opt_id")]
    created_by: Option<String>,
    #[serde(default, deserialize_with = "de::opt_id")]
    user_id: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    created_at: Option<Timestamp>,
    #[serde(default)]
    updated_at: Option<Timestamp>,
}

impl From<WireWebhook> for Webhook {
    fn from(w: WireWebhook) -> Self {
        Self {
            id: w.id.unwrap_or_default(),
            name: w.name,
            description: w.description,
            url: w.url,
            documented: w.enabled.is_none() && w.is_active.is_some(),
            enabled: w.enabled.or(w.is_active).unwrap_or(false),
            events: w.events,
            max_retries: w.max_retries,
            retry_backoff_seconds: w.retry_backoff_seconds,
            timeout_seconds: w.timeout_seconds,
            headers: w.headers,
            scope: w.scope,
            created_by: w.created_by.or(w.user_id),
            created_at: w.created_at,
            updated_at: w.updated_at,
            warnings: Vec::new(),
            secret: w.secret.filter(|s| !s.is_empty()).map(Secret::from),
        }
    }
}

/// A new webhook, for [`Webhooks::create`].
///
/// Unlike the server, which creates webhooks disabled unless told otherwise,
/// this creates them enabled (as the documentation describes); say
/// `.enabled(false)` to keep one off. Without a name, the URL is the name
/// (the server requires one).
///
/// ```
/// use fluxbase_webhooks::client::{CreateWebhook, EventFilter};
///
/// let new = CreateWebhook::new("https://myapp.example.com/webhook")
///     .name("signups")
///     .event(EventFilter::table("users", ["INSERT"]))
///     .secret("whsec-current")
///     .max_retries(5);
/// # let _ = new;
/// ```
#[must_use]
#[derive(Clone)]
pub struct CreateWebhook {
    body: WebhookBody,
}

impl fmt::Debug for CreateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CreateWebhook").field(&self.body).finish()
    }
}

impl CreateWebhook {
    /// A webhook delivering to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            body: WebhookBody {
                url: url.into(),
                enabled: true,
                ..WebhookBody::default()
            },
        }
    }

    /// Its name (default: the URL).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.body.name = Some(name.into());
        self
    }

    /// Its description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.body.description = Some(description.into());
        self
    }

    /// The signing secret (its UTF-8 bytes are the HMAC key). Without one,
    /// deliveries are not signed.
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.body.secret = Some(secret.into());
        self
    }

    /// Whether it delivers (default here: `true`).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.body.enabled = enabled;
        self
    }

    /// Adds a subscription.
    pub fn event(mut self, filter: EventFilter) -> Self {
        self.body.events.push(filter);
        self
    }

    /// Adds subscriptions.
    pub fn events(mut self, filters: impl IntoIterator<Item = EventFilter>) -> Self {
        self.body.events.extend(filters);
        self
    }

    /// Total attempts per event (server default 3).
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.body.max_retries = Some(attempts);
        self
    }

    /// Backoff unit in seconds: attempt `n` fails, the next waits `n ×`
    /// this (server default 5).
    pub fn retry_backoff_seconds(mut self, seconds: u32) -> Self {
        self.body.retry_backoff_seconds = Some(seconds);
        self
    }

    /// Per-attempt timeout in seconds (server default 30).
    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.body.timeout_seconds = Some(seconds);
        self
    }

    /// Adds a header sent with every delivery.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.body.headers.insert(name.into(), value.into());
        self
    }

    /// Adds headers sent with every delivery.
    pub fn headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.body
            .headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Who it sees rows for (server default: user).
    pub fn scope(mut self, scope: WebhookScope) -> Self {
        self.body.scope = Some(scope);
        self
    }

    /// What the server would silently do differently from what these
    /// settings suggest (see [`WebhookSettings::warnings`]), before sending.
    pub fn warnings(&self) -> Vec<Warning> {
        self.body
            .settings(WebhookSettings::create(&self.body.url))
            .warnings()
    }
}

/// The body sent for create and update: both field spellings, so either
/// kind of server reads it.
#[derive(Clone, Default)]
struct WebhookBody {
    name: Option<String>,
    description: Option<String>,
    url: String,
    secret: Option<Secret>,
    enabled: bool,
    events: Vec<EventFilter>,
    max_retries: Option<u32>,
    retry_backoff_seconds: Option<u32>,
    timeout_seconds: Option<u32>,
    headers: BTreeMap<String, String>,
    scope: Option<WebhookScope>,
}

impl fmt::Debug for WebhookBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookBody")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field("events", &self.events)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl WebhookBody {
    /// These settings, as sent, for the lint.
    fn settings(&self, base: WebhookSettings) -> WebhookSettings {
        let mut s = base
            .enabled(self.enabled)
            .signed(self.secret.as_ref().is_some_and(|s| !s.expose().is_empty()))
            .events(self.events.iter().cloned());
        if let Some(n) = self.max_retries {
            s = s.max_retries(i64::from(n));
        }
        if let Some(n) = self.retry_backoff_seconds {
            s = s.retry_backoff_seconds(i64::from(n));
        }
        if let Some(n) = self.timeout_seconds {
            s = s.timeout_seconds(i64::from(n));
        }
        s
    }
}

impl Serialize for WebhookBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct SecretField<'a>(&'a Secret);
        impl Serialize for SecretField<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_secret(self.0, s)
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.name.as_deref().unwrap_or(&self.url))?;
        if let Some(d) = &self.description {
            m.serialize_entry("description", d)?;
        }
        m.serialize_entry("url", &self.url)?;
        if let Some(secret) = &self.secret {
            m.serialize_entry("secret", &SecretField(secret))?;
        }
        m.serialize_entry("enabled", &self.enabled)?;
        m.serialize_entry("is_active", &self.enabled)?;
        m.serialize_entry("events", &self.events)?;
        if let Some(n) = self.max_retries {
            m.serialize_entry("max_retries", &n)?;
        }
        if let Some(n) = self.retry_backoff_seconds {
            m.serialize_entry("retry_backoff_seconds", &n)?;
        }
        if let Some(n) = self.timeout_seconds {
            m.serialize_entry("timeout_seconds", &n)?;
        }
        m.serialize_entry("headers", &self.headers)?;
        if let Some(scope) = self.scope {
            m.serialize_entry("scope", scope.as_str())?;
        }
        m.end()
    }
}

/// Changes to a webhook, for [`Webhooks::update`]. Fields left unset keep
/// their current value.
///
/// The server replaces the whole webhook on update and never returns its
/// secret, so on such a server say what the secret should be:
/// [`UpdateWebhook::secret`] (the same or a new one) or
/// [`UpdateWebhook::remove_secret`]. Otherwise `update` refuses, rather than
/// silently turning signing off.
#[must_use]
#[derive(Clone, Default)]
pub struct UpdateWebhook {
    name: Option<String>,
    description: Option<String>,
    url: Option<String>,
    secret: Option<Option<Secret>>,
    enabled: Option<bool>,
    events: Option<Vec<EventFilter>>,
    max_retries: Option<u32>,
    retry_backoff_seconds: Option<u32>,
    timeout_seconds: Option<u32>,
    headers: Option<BTreeMap<String, String>>,
    scope: Option<WebhookScope>,
}

impl fmt::Debug for UpdateWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field("events", &self.events)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl UpdateWebhook {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A new description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A new URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The signing secret after the update (repeat the current one to keep it).
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secret = Some(Some(secret.into()));
        self
    }

    /// Stop signing deliveries.
    pub fn remove_secret(mut self) -> Self {
        self.secret = Some(None);
        self
    }

    /// Enable or disable deliveries.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Replace the subscriptions.
    pub fn events(mut self, filters: impl IntoIterator<Item = EventFilter>) -> Self {
        self.events = Some(filters.into_iter().collect());
        self
    }

    /// Total attempts per event.
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.max_retries = Some(attempts);
        self
    }

    /// Backoff unit in seconds.
    pub fn retry_backoff_seconds(mut self, seconds: u32) -> Self {
        self.retry_backoff_seconds = Some(seconds);
        self
    }

    /// Per-attempt timeout in seconds.
    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    /// Replace the extra headers.
    pub fn headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.headers = Some(
            headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// A new scope.
    pub fn scope(mut self, scope: WebhookScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// What the server would silently do differently after these changes
    /// to `current` (see [`WebhookSettings::warnings`]), before sending.
    ///
    /// # Errors
    ///
    /// As [`Webhooks::update`]: the secret after the update is unknown.
    pub fn warnings(&self, current: &Webhook) -> Result<Vec<Warning>, ClientError> {
        let body = self.clone().merge(current)?;
        Ok(body
            .settings(WebhookSettings::update(&body.url).was_enabled(current.enabled))
            .warnings())
    }

    /// The whole webhook after applying these changes to `current`.
    fn merge(self, current: &Webhook) -> Result<WebhookBody, ClientError> {
        let secret = match self.secret {
            Some(change) => change,
            None if current.secret.is_some() => current.secret.clone(),
            None if current.is_documented_shape() => None,
            None => {
                return Err(ClientError::input(
                    "the server replaces the whole webhook on update and never returns its \
                     secret, so say what the secret becomes: set it again, or remove it",
                ));
            }
        };
        let scope = self.scope.or(match current.scope.as_deref() {
            Some("global") => Some(WebhookScope::Global),
            Some("user") => Some(WebhookScope::User),
            _ => None,
        });
        Ok(WebhookBody {
            name: self.name.or_else(|| current.name.clone()),
            description: self.description.or_else(|| current.description.clone()),
            url: self.url.unwrap_or_else(|| current.url.clone()),
            secret,
            enabled: self.enabled.unwrap_or(current.enabled),
            events: self.events.unwrap_or_else(|| current.events.clone()),
            max_retries: self.max_retries.or(current.max_retries),
            retry_backoff_seconds: self.retry_backoff_seconds.or(current.retry_backoff_seconds),
            timeout_seconds: self.timeout_seconds.or(current.timeout_seconds),
            headers: self.headers.unwrap_or_else(|| current.headers.clone()),
            scope,
        })
    }
}

/// The outcome of [`Webhooks::test`].
///
/// The server answers `{message}` on success and HTTP 500 `{error}` when the
/// endpoint failed (`HTTP 404: <body>`, `failed to send request: …`); the
/// documentation describes `{success, status_code, response_body, error}`.
/// Both read into this; a failed test is `success: false`, not an `Err`.
///
/// Against the real server (`TestWebhook` in
/// `internal/api/webhook_handler.go`), `status_code` is `None` on success:
/// the answer says only that the endpoint answered 2xx, not which code. On
/// failure it is the code read from `HTTP <code>: …`, and `None` when the
/// endpoint never answered. A test delivery is sent once, synchronously,
/// and is not written to the delivery log ([`Webhooks::deliveries`]): the
/// server records deliveries of queued events only (`deliverEvent` in
/// `internal/webhook/trigger.go`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TestResult {
    /// Whether the endpoint answered 2xx.
    pub success: bool,
    /// The endpoint's status, when the answer tells it (never on a real
    /// server's success; see above).
    pub status_code: Option<u16>,
    /// The endpoint's answer, when known.
    pub response_body: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The server's message on success.
    pub message: Option<String>,
}

impl TestResult {
    fn failed(error: String) -> Self {
        // "HTTP 404: <body>" carries the endpoint's status and answer.
        let (status_code, response_body) = error
            .strip_prefix("HTTP ")
            .and_then(|rest| rest.split_once(": ").or(Some((rest, ""))))
            .and_then(|(code, body)| Some((code.parse::<u16>().ok()?, body.to_owned())))
            .map_or((None, None), |(c, b)| (Some(c), Some(b)));
        Self {
            success: false,
            status_code,
            response_body,
            error: Some(error),
            message: None,
        }
    }
}

#[derive(Deserialize)]
struct WireTest {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    status_code: Option<u16>,
    #[serde(default)]
    response_body: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// One delivery attempt from the log.
///
/// On the server, `status_code` is always 200 on success and 0 on failure
/// (the endpoint's real status is only in `error`), and `payload` is stored
/// JSON: key order and spacing differ from the bytes that were signed, so
/// never verify a signature against it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// The delivery's id.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub id: Option<String>,
    /// The webhook it belongs to.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub webhook_id: Option<String>,
    /// The event (`INSERT`, `UPDATE`, `DELETE`, or a documented name).
    #[serde(default)]
    pub event: String,
    /// The payload that was sent, as stored.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    /// `pending`, `success` or `failed` (absent in the documented shape).
    #[serde(default)]
    pub status: Option<String>,
    /// The recorded status code.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The recorded answer.
    #[serde(default)]
    pub response_body: Option<String>,
    /// Why the attempt failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Which attempt this was, from 1 (absent in the documented shape).
    #[serde(default)]
    pub attempt: Option<u32>,
    /// When it was delivered (success only).
    #[serde(default)]
    pub delivered_at: Option<Timestamp>,
    /// When the attempt was recorded.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

impl Delivery {
    /// Whether the attempt succeeded, from whichever fields the server sent.
    pub fn succeeded(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => status == "success",
            None => {
                self.error.is_none()
                    && (self.delivered_at.is_some()
                        || self.status_code.is_some_and(|c| (200..300).contains(&c)))
            }
        }
    }
}

/// The result of [`Webhooks::register_endpoint`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Registration {
    /// The webhook as it is now.
    pub webhook: Webhook,
    /// Whether it was created (`false`: an existing one was updated).
    pub created: bool,
    /// The test delivery's outcome.
    pub test: TestResult,
}

/// Webhooks; from [`Client::webhooks`].
#[derive(Debug, Clone, Copy)]
pub struct Webhooks<'a> {
    client: &'a Client,
}

impl<'a> Webhooks<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Creates a webhook (`POST /api/v1/webhooks`).
    ///
    /// # Errors
    ///
    /// 400 `Name is required` / `URL is required` / `Invalid request body`
    /// (e.g. named events on the server); the server answers 500 for an
    /// invalid URL or headers.
    ///
    /// The returned webhook's [`Webhook::warnings`] are
    /// [`CreateWebhook::warnings`].
    pub async fn create(&self, webhook: CreateWebhook) -> Result<Webhook, ClientError> {
        let warnings = webhook.warnings();
        let url = self.client.endpoint(&["webhooks"]);
        let answer = self
            .client
            .send(Method::POST, url, Some(&webhook.body))
            .await?;
        let mut created: Webhook = answer.json("webhook create")?;
        created.warnings = warnings;
        Ok(created)
    }

    /// Lists every webhook (`GET /api/v1/webhooks`): a bare array from the
    /// server, `{webhooks, total}` in the documentation.
    ///
    /// # Errors
    ///
    /// An error status, or an answer that is not a list.
    pub async fn list(&self) -> Result<Vec<Webhook>, ClientError> {
        let answer = self
            .client
            .send(Method::GET, self.client.endpoint(&["webhooks"]), None)
            .await?;
        answer.list(&["webhooks"], "webhook list")
    }

    /// One webhook (`GET /api/v1/webhooks/{id}`).
    ///
    /// # Errors
    ///
    /// 404 `Webhook not found`, 400 `Invalid webhook ID`.
    pub async fn get(&self, id: &str) -> Result<Webhook, ClientError> {
        let url = self.client.endpoint(&["webhooks", id]);
        self.client
            .send(Method::GET, url, None)
            .await?
            .json("webhook get")
    }

    /// Changes a webhook and returns it as it is afterwards.
    ///
    /// The server overwrites every field on update (an omitted URL is an
    /// error, omitted retries become 0, an omitted secret turns signing off)
    /// and answers only with a message. So this reads the webhook first,
    /// applies `changes` to it, sends the whole result, and reads the webhook
    /// again when the answer is not the object. It is a read-modify-write: a
    /// concurrent change between the read and the write is overwritten.
    ///
    /// # Errors
    ///
    /// As [`Webhooks::get`]; an input error when the server cannot tell the
    /// current secret and `changes` does not say what it should be (see
    /// [`UpdateWebhook`]); the server answers 500 for an invalid URL.
    ///
    /// The returned webhook's [`Webhook::warnings`] are
    /// [`UpdateWebhook::warnings`] of `changes`.
    pub async fn update(&self, id: &str, changes: UpdateWebhook) -> Result<Webhook, ClientError> {
        let current = self.get(id).await?;
        self.update_from(&current, changes).await
    }

    /// [`Webhooks::update`] from a webhook already read (the list and the
    /// single read answer the same object), e.g. to show
    /// [`UpdateWebhook::warnings`] first without reading it twice.
    ///
    /// # Errors
    ///
    /// As [`Webhooks::update`].
    pub async fn update_from(
        &self,
        current: &Webhook,
        changes: UpdateWebhook,
    ) -> Result<Webhook, ClientError> {
        let body = changes.merge(current)?;
        let warnings = body
            .settings(WebhookSettings::update(&body.url).was_enabled(current.enabled))
            .warnings();
        let url = self.client.endpoint(&["webhooks", &current.id]);
        let answer = self.client.send(Method::PATCH, url, Some(&body)).await?;
        let mut updated = match answer.object_or_message("url", "webhook update")? {
            Some(webhook) => webhook,
            None => self.get(&current.id).await?,
        };
        updated.warnings = warnings;
        Ok(updated)
    }

    /// Deletes a webhook (`DELETE /api/v1/webhooks/{id}`).
    ///
    /// # Errors
    ///
    /// Unknown id: 500 `webhook not found` from the server, 404 elsewhere.
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        let url = self.client.endpoint(&["webhooks", id]);
        self.client.send(Method::DELETE, url, None).await?;
        Ok(())
    }

    /// Sends a test delivery now (`POST /api/v1/webhooks/{id}/test`). An
    /// endpoint that fails is a [`TestResult`] with `success: false` and the
    /// server's message, not an `Err`.
    ///
    /// # Errors
    ///
    /// 404 `Webhook not found`, transport errors, and error statuses other
    /// than the server's 500 for a failed test.
    pub async fn test(&self, id: &str) -> Result<TestResult, ClientError> {
        let url = self.client.endpoint(&["webhooks", id, "test"]);
        let answer = match self.client.send(Method::POST, url, None).await {
            Ok(answer) => answer,
            Err(err) if err.status() == Some(StatusCode::INTERNAL_SERVER_ERROR) => {
                return Ok(TestResult::failed(err.message().to_owned()));
            }
            Err(err) => return Err(err),
        };
        let wire: WireTest = answer.json("webhook test")?;
        let success = wire.success.unwrap_or(wire.error.is_none());
        Ok(TestResult {
            success,
            status_code: wire.status_code,
            response_body: wire.response_body,
            error: wire.error,
            message: wire.message,
        })
    }

    /// The delivery log, newest first
    /// (`GET /api/v1/webhooks/{id}/deliveries?limit=N`; server default 50).
    /// A bare array, `null` or `{deliveries}` all read as a list.
    ///
    /// # Errors
    ///
    /// An error status, or an answer that is not a list.
    pub async fn deliveries(
        &self,
        id: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Delivery>, ClientError> {
        let mut url = self.client.endpoint(&["webhooks", id, "deliveries"]);
        if let Some(limit) = limit {
            url.query_pairs_mut()
                .append_pair("limit", &limit.to_string());
        }
        let answer = self.client.send(Method::GET, url, None).await?;
        answer.list(&["deliveries"], "delivery list")
    }

    /// The same as [`Webhooks::deliveries`], under the documentation's name.
    ///
    /// # Errors
    ///
    /// As [`Webhooks::deliveries`].
    pub async fn list_deliveries(
        &self,
        id: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Delivery>, ClientError> {
        self.deliveries(id, limit).await
    }

    /// Makes `url` receive `events` signed with `secret`, then tests it.
    ///
    /// Finds the webhook whose URL is `url`: updates it (URL, events, secret,
    /// enabled) when there is one, keeping its other settings; creates it
    /// otherwise, named after the URL, enabled, with global scope (a
    /// receiving endpoint usually wants every row, and a user-scoped webhook
    /// sees only rows its creator owns). Running it again converges on the
    /// same single webhook.
    ///
    /// # Errors
    ///
    /// Any error of list, create, update or test. A test the endpoint fails
    /// is not an error: see [`Registration::test`].
    pub async fn register_endpoint(
        &self,
        url: &str,
        events: impl IntoIterator<Item = EventFilter>,
        secret: impl Into<Secret>,
    ) -> Result<Registration, ClientError> {
        let events: Vec<EventFilter> = events.into_iter().collect();
        let secret = secret.into();
        let existing = self
            .list()
            .await?
            .into_iter()
            .find(|w| same_url(&w.url, url));
        let (webhook, created) = match existing {
            Some(current) => {
                let changes = UpdateWebhook::new()
                    .url(url)
                    .events(events)
                    .secret(secret)
                    .enabled(true);
                (self.update_from(&current, changes).await?, false)
            }
            None => {
                let new = CreateWebhook::new(url)
                    .events(events)
                    .secret(secret)
                    .scope(WebhookScope::Global);
                (self.create(new).await?, true)
            }
        };
        let test = self.test(&webhook.id).await?;
        Ok(Registration {
            webhook,
            created,
            test,
        })
    }
}

fn same_url(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = r#"{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"signups","url":"http://127.0.0.1:3000/hook","enabled":true,
        "events":[{"table":"users","operations":["INSERT","UPDATE"]}],"max_retries":3,"retry_backoff_seconds":5,"timeout_seconds":30,
        "headers":{"X-Env":"dev"},"scope":"user","created_by":"u1","created_at":"2026-01-02T03:04:05.123456Z","updated_at":"2026-01-02T03:04:05Z"}"#;
    const DOCUMENTED: &str = r#"{"id":"wh-1","url":"https://myapp.com/webhook","events":["user.created","user.updated"],
        "description":"User events","is_active":false,"user_id":"u2","secret":"my-secret","created_at":"2024-01-26T10:00:00Z","updated_at":"2024-01-26T10:00:00Z"}"#;

    #[test]
    fn webhook_in_both_shapes() {
        let w: Webhook = serde_json::from_str(SERVER).unwrap();
        assert!(w.enabled && !w.is_documented_shape());
        assert_eq!(
            w.events,
            [EventFilter::table("users", ["INSERT", "UPDATE"])]
        );
        assert_eq!(w.created_by.as_deref(), Some("u1"));
        assert_eq!(w.headers["X-Env"], "dev");
        assert!(w.secret().is_none());

        let w: Webhook = serde_json::from_str(DOCUMENTED).unwrap();
        assert!(!w.enabled && w.is_documented_shape());
        assert_eq!(
            w.events,
            [
                EventFilter::named("user.created"),
                EventFilter::named("user.updated")
            ]
        );
        assert_eq!(w.created_by.as_deref(), Some("u2"));
        assert!(w.secret().is_some());
        assert!(!format!("{w:?}").contains("my-secret"));
    }

    #[test]
    fn null_events_and_headers_after_a_server_update() {
        let w: Webhook = serde_json::from_str(
            r#"{"id":"a","name":"n","url":"http://x","enabled":false,"events":null,"max_retries":0,
                "retry_backoff_seconds":0,"timeout_seconds":0,"headers":null,"scope":"user","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}"#,
        )
        .unwrap();
        assert!(w.events.is_empty() && w.headers.is_empty());
        assert_eq!(w.max_retries, Some(0));
        let w: Webhook = serde_json::from_str(
            r#"{"id":"a","url":"http://x","events":[{"table":"*","operations":null}]}"#,
        )
        .unwrap();
        assert_eq!(
            w.events,
            [EventFilter::Table {
                table: "*".into(),
                operations: vec![]
            }]
        );
    }

    #[test]
    fn event_filter_syntax() {
        for (text, filter) in [
            ("users", EventFilter::all_rows("users")),
            ("users:INSERT", EventFilter::table("users", ["INSERT"])),
            (" *:* ", EventFilter::table("*", ["*"])),
            (
                "users: INSERT , DELETE",
                EventFilter::table("users", ["INSERT", "DELETE"]),
            ),
            ("user.created", EventFilter::named("user.created")),
        ] {
            assert_eq!(text.parse::<EventFilter>().unwrap(), filter, "{text}");
        }
        for bad in ["", ":INSERT", "users:", "users:,"] {
            assert!(bad.parse::<EventFilter>().is_err(), "{bad}");
        }
        assert_eq!(
            EventFilter::table("users", ["INSERT", "UPDATE"]).to_string(),
            "users:INSERT,UPDATE"
        );
        assert_eq!(EventFilter::from_documented("auth.login"), None);
    }

    #[test]
    fn request_body_speaks_both_dialects() {
        let body = CreateWebhook::new("http://x/hook")
            .event(EventFilter::table("users", ["INSERT"]))
            .secret("s3cr3t")
            .body;
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["name"], "http://x/hook");
        assert_eq!(json["enabled"], true);
        assert_eq!(json["is_active"], true);
        assert_eq!(json["secret"], "s3cr3t");
        assert_eq!(json["events"][0]["operations"][0], "INSERT");
        assert!(!format!("{body:?}").contains("s3cr3t"));
    }

    #[test]
    fn update_merges_onto_the_current_webhook() {
        let current: Webhook = serde_json::from_str(SERVER).unwrap();
        let err = UpdateWebhook::new()
            .enabled(false)
            .merge(&current)
            .unwrap_err();
        assert!(err.is_builder() && err.message().contains("secret"));

        let body = UpdateWebhook::new()
            .enabled(false)
            .secret("k")
            .merge(&current)
            .unwrap();
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["url"], "http://127.0.0.1:3000/hook");
        assert_eq!(json["name"], "signups");
        assert_eq!(json["enabled"], false);
        assert_eq!(json["max_retries"], 3);
        assert_eq!(json["retry_backoff_seconds"], 5);
        assert_eq!(json["timeout_seconds"], 30);
        assert_eq!(json["headers"]["X-Env"], "dev");
        assert_eq!(json["scope"], "user");
        assert_eq!(json["events"][0]["table"], "users");

        let removed = UpdateWebhook::new()
            .remove_secret()
            .merge(&current)
            .unwrap();
        assert!(
            serde_json::to_value(&removed)
                .unwrap()
                .get("secret")
                .is_none()
        );

        // The documented shape updates partially and may return the secret.
        let documented: Webhook = serde_json::from_str(DOCUMENTED).unwrap();
        let body = UpdateWebhook::new()
            .enabled(true)
            .merge(&documented)
            .unwrap();
        assert_eq!(serde_json::to_value(&body).unwrap()["secret"], "my-secret");
    }

    #[test]
    fn test_results_of_every_shape() {
        let r = TestResult::failed("HTTP 404: no such route".into());
        assert!(!r.success);
        assert_eq!(r.status_code, Some(404));
        assert_eq!(r.response_body.as_deref(), Some("no such route"));
        let r = TestResult::failed("HTTP 500".into());
        assert_eq!(
            (r.status_code, r.response_body.as_deref()),
            (Some(500), Some(""))
        );
        let r = TestResult::failed("failed to send request: connection refused".into());
        assert_eq!(r.status_code, None);
        assert_eq!(
            r.error.as_deref(),
            Some("failed to send request: connection refused")
        );
    }

    #[test]
    fn deliveries_of_both_shapes() {
        let server: Vec<Delivery> = de::list(
            serde_json::from_str(
                r#"[{"id":"d2","webhook_id":"w","event":"INSERT","payload":{"event":"INSERT"},"status":"failed","status_code":0,"error":"HTTP 500: boom","attempt":2,"created_at":"2026-01-02T03:04:05Z"},
                    {"id":"d1","webhook_id":"w","event":"INSERT","payload":{},"status":"success","status_code":200,"attempt":1,"delivered_at":"2026-01-02T03:04:05Z","created_at":"2026-01-02T03:04:05Z"}]"#,
            )
            .unwrap(),
            &["deliveries"],
        )
        .unwrap();
        assert!(!server[0].succeeded() && server[1].succeeded());
        assert_eq!(server[0].attempt, Some(2));
        let none: Vec<Delivery> = de::list(serde_json::Value::Null, &["deliveries"]).unwrap();
        assert!(none.is_empty());
        let documented: Vec<Delivery> = de::list(
            serde_json::from_str(
                r#"{"deliveries":[{"id":"d1","webhook_id":"w","event":"user.created","status_code":201,"created_at":"2024-01-26T10:00:00Z","delivered_at":"2024-01-26T10:00:01Z"}]}"#,
            )
            .unwrap(),
            &["deliveries"],
        )
        .unwrap();
        assert!(documented[0].succeeded());
        assert_eq!(documented[0].status, None);
    }
}
