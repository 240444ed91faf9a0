//! [`Event`]: the typed form of a webhook body.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::Error;
use crate::payload::{WebhookPayload, from_raw_or_null};
use crate::timestamp::Timestamp;

/// A Fluxbase webhook event.
///
/// The server sends row events (`INSERT`, `UPDATE`, `DELETE`, and `TEST` from
/// the test endpoint); the SDK documentation describes dotted events
/// (`user.created`, `auth.login`, ...). Both read into this enum. A name this
/// version does not know becomes [`Event::Unknown`], and a known name whose
/// fields do not fit becomes [`Event::Unparsed`], so a valid delivery is
/// never refused because Fluxbase changed.
///
/// ```
/// use fluxbase_webhooks::{Event, UserChangeKind};
///
/// let body = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"u1","email":"ada@example.com"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let event = Event::from_slice(body)?;
/// match &event {
///     Event::Insert(row) => assert_eq!(row.qualified_table(), "auth.users"),
///     other => panic!("unexpected {other:?}"),
/// }
/// // A row event on auth.users also reads as the documented user event.
/// let user = event.user_change().unwrap();
/// assert_eq!(user.kind, UserChangeKind::Created);
/// assert_eq!(user.email.as_deref(), Some("ada@example.com"));
/// # Ok::<(), fluxbase_webhooks::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A row was inserted (`INSERT`).
    Insert(RowEvent),
    /// A row was updated (`UPDATE`, with `old_record`).
    Update(RowEvent),
    /// A row was deleted (`DELETE`; `record` is the old row).
    Delete(RowEvent),
    /// The server's test delivery (`TEST`, table `test`).
    Test(RowEvent),
    /// `user.created` (documented shape).
    UserCreated(UserEvent),
    /// `user.updated` (documented shape).
    UserUpdated(UserEvent),
    /// `user.deleted` (documented shape).
    UserDeleted(UserEvent),
    /// `auth.login` (documented shape).
    AuthLogin(UserEvent),
    /// `auth.logout` (documented shape).
    AuthLogout(UserEvent),
    /// `password.reset` (documented shape).
    PasswordReset(UserEvent),
    /// `email.verified` (documented shape).
    EmailVerified(UserEvent),
    /// `webhook.test` (documented shape).
    WebhookTest(TestEvent),
    /// An event name this version does not know.
    Unknown {
        /// The `event` value.
        name: String,
        /// The whole payload object, as sent.
        data: Box<RawValue>,
    },
    /// A known event name whose fields do not fit its type.
    Unparsed {
        /// The `event` value.
        name: String,
        /// The whole payload object, as sent.
        raw: Box<RawValue>,
        /// What did not fit.
        error: String,
    },
}

/// The names of the documented (dotted) events, in [`Event`] order.
pub const DOCUMENTED_EVENTS: [&str; 8] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "auth.login",
    "auth.logout",
    "password.reset",
    "email.verified",
    "webhook.test",
];

/// The names of the server's row events.
pub const ROW_EVENTS: [&str; 4] = ["INSERT", "UPDATE", "DELETE", "TEST"];

impl Event {
    /// Parses a body (either wire shape).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPayload`] only when the body is not a JSON object with
    /// a string `event`; anything past that gives [`Event::Unknown`] or
    /// [`Event::Unparsed`] rather than an error.
    pub fn from_slice(body: &[u8]) -> Result<Self, Error> {
        // JSON text is UTF-8 (RFC 8259): check it once for the whole body,
        // including values the typed parse skips.
        let text = std::str::from_utf8(body).map_err(Error::invalid_payload)?;
        match serde_json::from_str::<WebhookPayload<'_>>(text) {
            Ok(payload) => Ok(Self::from_payload(&payload, || raw_body(text))),
            Err(typed_err) => Self::from_unfit(text, &typed_err),
        }
    }

    /// The event of a body whose typed parse failed with `typed_err`:
    /// [`Event::Unparsed`] or [`Event::Unknown`] when it is at least a JSON
    /// object with a string `event`, an error otherwise.
    pub(crate) fn from_unfit(text: &str, typed_err: &serde_json::Error) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct Name {
            event: String,
        }
        let Name { event } = serde_json::from_str(text).map_err(Error::invalid_payload)?;
        let raw = raw_body(text)?;
        Ok(Self::unfit(event, raw, without_position(typed_err)))
    }

    /// The event of a payload already read from `text` (the body it
    /// borrows from): the one parse a receiver makes serves the event, the
    /// dedupe keys and the body's date.
    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    pub(crate) fn from_parsed(payload: &WebhookPayload<'_>, text: &str) -> Self {
        Self::from_payload(payload, || raw_body(text))
    }

    /// Converts an already read [`WebhookPayload`].
    ///
    /// # Errors
    ///
    /// Never for a payload read by [`WebhookPayload::from_slice`]; the
    /// `Result` is kept for payloads built by hand whose raw parts do not
    /// serialize.
    pub fn from_webhook_payload(payload: &WebhookPayload<'_>) -> Result<Self, Error> {
        Ok(Self::from_payload(payload, || {
            serde_json::value::to_raw_value(payload).map_err(Error::invalid_payload)
        }))
    }

    fn from_payload(
        p: &WebhookPayload<'_>,
        whole: impl FnOnce() -> Result<Box<RawValue>, Error>,
    ) -> Self {
        let name = p.event.as_ref();
        let typed = match name {
            "INSERT" => RowEvent::from_payload(p).map(Event::Insert),
            "UPDATE" => RowEvent::from_payload(p).map(Event::Update),
            "DELETE" => RowEvent::from_payload(p).map(Event::Delete),
            "TEST" => RowEvent::from_payload(p).map(Event::Test),
            "user.created" => UserEvent::from_payload(p).map(Event::UserCreated),
            "user.updated" => UserEvent::from_payload(p).map(Event::UserUpdated),
            "user.deleted" => UserEvent::from_payload(p).map(Event::UserDeleted),
            "auth.login" => UserEvent::from_payload(p).map(Event::AuthLogin),
            "auth.logout" => UserEvent::from_payload(p).map(Event::AuthLogout),
            "password.reset" => UserEvent::from_payload(p).map(Event::PasswordReset),
            "email.verified" => UserEvent::from_payload(p).map(Event::EmailVerified),
            "webhook.test" => TestEvent::from_payload(p).map(Event::WebhookTest),
            _ => {
                return match whole() {
                    Ok(data) => Event::Unknown {
                        name: name.to_owned(),
                        data,
                    },
                    Err(e) => Event::unfit_without_raw(name, e),
                };
            }
        };
        typed.unwrap_or_else(|reason| match whole() {
            Ok(raw) => Event::unfit(name.to_owned(), raw, reason),
            Err(e) => Event::unfit_without_raw(name, e),
        })
    }

    fn unfit(name: String, raw: Box<RawValue>, error: String) -> Self {
        if Self::is_known_name(&name) {
            Event::Unparsed { name, raw, error }
        } else {
            Event::Unknown { name, data: raw }
        }
    }

    fn unfit_without_raw(name: &str, e: Error) -> Self {
        Event::Unparsed {
            name: name.to_owned(),
            raw: empty_object(),
            error: e.to_string(),
        }
    }

    /// Whether `name` is one of the event names this version types.
    pub fn is_known_name(name: &str) -> bool {
        ROW_EVENTS.contains(&name) || DOCUMENTED_EVENTS.contains(&name)
    }

    /// The `event` value as sent (`INSERT`, `user.created`, ...).
    pub fn name(&self) -> &str {
        match self {
            Event::Insert(_) => "INSERT",
            Event::Update(_) => "UPDATE",
            Event::Delete(_) => "DELETE",
            Event::Test(_) => "TEST",
            Event::UserCreated(_) => "user.created",
            Event::UserUpdated(_) => "user.updated",
            Event::UserDeleted(_) => "user.deleted",
            Event::AuthLogin(_) => "auth.login",
            Event::AuthLogout(_) => "auth.logout",
            Event::PasswordReset(_) => "password.reset",
            Event::EmailVerified(_) => "email.verified",
            Event::WebhookTest(_) => "webhook.test",
            Event::Unknown { name, .. } | Event::Unparsed { name, .. } => name,
        }
    }

    /// The row event, for `INSERT`/`UPDATE`/`DELETE`/`TEST`.
    pub fn row(&self) -> Option<&RowEvent> {
        match self {
            Event::Insert(r) | Event::Update(r) | Event::Delete(r) | Event::Test(r) => Some(r),
            _ => None,
        }
    }

    /// The documented user/auth event, for the dotted names but `webhook.test`.
    pub fn user_event(&self) -> Option<&UserEvent> {
        match self {
            Event::UserCreated(u)
            | Event::UserUpdated(u)
            | Event::UserDeleted(u)
            | Event::AuthLogin(u)
            | Event::AuthLogout(u)
            | Event::PasswordReset(u)
            | Event::EmailVerified(u) => Some(u),
            _ => None,
        }
    }

    /// The payload timestamp, when the event was typed.
    pub fn timestamp(&self) -> Option<Timestamp> {
        match self {
            Event::WebhookTest(t) => Some(t.timestamp),
            Event::Unknown { .. } | Event::Unparsed { .. } => None,
            other => other
                .row()
                .map(|r| r.timestamp)
                .or_else(|| other.user_event().map(|u| u.timestamp)),
        }
    }

    /// Whether this is a test delivery (`TEST` or `webhook.test`).
    pub fn is_test(&self) -> bool {
        matches!(self, Event::Test(_) | Event::WebhookTest(_))
    }

    /// The change to a user account this event describes, whichever shape it
    /// came in: `user.created`/`updated`/`deleted`, or the server's
    /// `INSERT`/`UPDATE`/`DELETE` on `auth.users` (which is what the server
    /// actually sends for them).
    pub fn user_change(&self) -> Option<UserChange> {
        let (kind, source) = match self {
            Event::UserCreated(u) => (UserChangeKind::Created, UserSource::Documented(u)),
            Event::UserUpdated(u) => (UserChangeKind::Updated, UserSource::Documented(u)),
            Event::UserDeleted(u) => (UserChangeKind::Deleted, UserSource::Documented(u)),
            Event::Insert(r) if r.is_auth_users() => (UserChangeKind::Created, UserSource::Row(r)),
            Event::Update(r) if r.is_auth_users() => (UserChangeKind::Updated, UserSource::Row(r)),
            Event::Delete(r) if r.is_auth_users() => (UserChangeKind::Deleted, UserSource::Row(r)),
            _ => return None,
        };
        let (user_id, email) = match source {
            UserSource::Documented(u) => (u.user_id.clone(), u.email.clone()),
            UserSource::Row(r) => {
                #[derive(Deserialize)]
                struct UserRow {
                    id: Option<serde_json::Value>,
                    email: Option<String>,
                }
                match r.record::<Option<UserRow>>() {
                    Ok(Some(row)) => (row.id.map(json_scalar_string), row.email),
                    _ => (None, None),
                }
            }
        };
        Some(UserChange {
            kind,
            user_id,
            email,
        })
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Event::Unknown { name: a, data: x }, Event::Unknown { name: b, data: y }) => {
                a == b && x.get() == y.get()
            }
            (
                Event::Unparsed {
                    name: a,
                    raw: x,
                    error: e,
                },
                Event::Unparsed {
                    name: b,
                    raw: y,
                    error: f,
                },
            ) => a == b && x.get() == y.get() && e == f,
            (Event::WebhookTest(a), Event::WebhookTest(b)) => a == b,
            _ => {
                std::mem::discriminant(self) == std::mem::discriminant(other)
                    && self.row() == other.row()
                    && self.user_event() == other.user_event()
            }
        }
    }
}

impl Eq for Event {}

enum UserSource<'a> {
    Documented(&'a UserEvent),
    Row(&'a RowEvent),
}

fn json_scalar_string(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A serde error's message without its "at line L column C" suffix, so the
/// same field problem reads the same wherever it sits in the body.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) if e.line() > 0 => message.to_owned(),
        _ => text,
    }
}

fn raw_body(text: &str) -> Result<Box<RawValue>, Error> {
    RawValue::from_string(text.trim().to_owned()).map_err(Error::invalid_payload)
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!("valid JSON"))
}

/// Wire shape: row events in the server's key order, documented events as
/// `{event, timestamp, data, signature?}`, unknown and unparsed events as
/// their original payload.
impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Unknown { data: raw, .. } | Event::Unparsed { raw, .. } => raw.serialize(s),
            Event::WebhookTest(t) => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("event", "webhook.test")?;
                m.serialize_entry("timestamp", &t.timestamp)?;
                m.serialize_entry("data", &t.data)?;
                m.end()
            }
            other => {
                if let Some(r) = other.row() {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry("event", other.name())?;
                    m.serialize_entry("table", &r.table)?;
                    m.serialize_entry("schema", &r.schema)?;
                    m.serialize_entry("record", &r.record)?;
                    if let Some(old) = &r.old_record {
                        m.serialize_entry("old_record", old)?;
                    }
                    m.serialize_entry("timestamp", &r.timestamp)?;
                    m.end()
                } else if let Some(u) = other.user_event() {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_entry("event", other.name())?;
                    m.serialize_entry("timestamp", &u.timestamp)?;
                    m.serialize_entry("data", &u.data)?;
                    if let Some(sig) = &u.signature {
                        m.serialize_entry("signature", sig)?;
                    }
                    m.end()
                } else {
                    Err(serde::ser::Error::custom("event has no wire form"))
                }
            }
        }
    }
}

/// A server row event: a row of `schema.table` changed.
#[derive(Clone)]
pub struct RowEvent {
    table: String,
    schema: String,
    record: Option<Box<RawValue>>,
    old_record: Option<Box<RawValue>>,
    timestamp: Timestamp,
}

impl RowEvent {
    /// A row event, for building payloads (the emulator, tests).
    pub fn new(
        table: impl Into<String>,
        schema: impl Into<String>,
        record: Option<Box<RawValue>>,
        old_record: Option<Box<RawValue>>,
        timestamp: Timestamp,
    ) -> Self {
        Self {
            table: table.into(),
            schema: schema.into(),
            record,
            old_record,
            timestamp,
        }
    }

    fn from_payload(p: &WebhookPayload<'_>) -> Result<Self, String> {
        let table = p.table.as_deref().ok_or("missing field `table`")?;
        let schema = p.schema.as_deref().ok_or("missing field `schema`")?;
        let timestamp = parse_timestamp(p)?;
        Ok(Self {
            table: table.to_owned(),
            schema: schema.to_owned(),
            record: p.record.map(RawValue::to_owned),
            old_record: p.old_record.map(RawValue::to_owned),
            timestamp,
        })
    }

    /// Bare table name (`users`).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Schema name (`auth`, `public`, ...).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// `schema.table`.
    pub fn qualified_table(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// Whether the row is in `auth.users`.
    pub fn is_auth_users(&self) -> bool {
        self.schema == "auth" && self.table == "users"
    }

    /// When the delivery was attempted (not when the row changed).
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The row (`NEW`, or `OLD` for a delete) in the caller's type. A `null`
    /// record deserializes from `null`, so `Option<T>` reads it as `None`.
    ///
    /// # Errors
    ///
    /// When the record does not fit `T`.
    pub fn record<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        from_raw_or_null(self.record.as_deref())
    }

    /// The previous row (UPDATE only); `Ok(None)` when absent.
    ///
    /// # Errors
    ///
    /// When the old record does not fit `T`.
    pub fn old_record<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        self.old_record
            .as_deref()
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
    }

    /// The record as raw JSON.
    pub fn record_raw(&self) -> Option<&RawValue> {
        self.record.as_deref()
    }

    /// The old record as raw JSON.
    pub fn old_record_raw(&self) -> Option<&RawValue> {
        self.old_record.as_deref()
    }
}

impl PartialEq for RowEvent {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
            && self.schema == other.schema
            && raw_eq(&self.record, &other.record)
            && raw_eq(&self.old_record, &other.old_record)
            && self.timestamp == other.timestamp
    }
}

impl Eq for RowEvent {}

impl fmt::Debug for RowEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowEvent")
            .field("table", &self.table)
            .field("schema", &self.schema)
            .field("record", &self.record.as_deref().map(RawValue::get))
            .field("old_record", &self.old_record.as_deref().map(RawValue::get))
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// A documented user or auth event (`user.created`, `auth.login`, ...).
#[derive(Clone)]
pub struct UserEvent {
    timestamp: Timestamp,
    user_id: Option<String>,
    email: Option<String>,
    data: Box<RawValue>,
    signature: Option<String>,
}

impl UserEvent {
    /// A documented user/auth event with `data` (a JSON object, usually with
    /// `user_id` and `email`), for building payloads.
    ///
    /// # Errors
    ///
    /// When `data` is not an object or its `user_id`/`email` are not strings.
    pub fn new(timestamp: Timestamp, data: &RawValue) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            user_id: Option<String>,
            #[serde(default)]
            email: Option<String>,
        }
        let fields: Data = serde_json::from_str(data.get())?;
        Ok(Self {
            timestamp,
            user_id: fields.user_id,
            email: fields.email,
            data: data.to_owned(),
            signature: None,
        })
    }

    fn from_payload(p: &WebhookPayload<'_>) -> Result<Self, String> {
        let timestamp = parse_timestamp(p)?;
        let raw = p.data.ok_or("missing field `data`")?;
        let mut event = Self::new(timestamp, raw).map_err(|e| format!("data: {e}"))?;
        event.signature = p.signature.as_deref().map(str::to_owned);
        Ok(event)
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// `data.user_id`, if sent.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `data.email`, if sent.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The whole `data` object in the caller's type.
    ///
    /// # Errors
    ///
    /// When the data does not fit `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// `data` as raw JSON.
    pub fn data_raw(&self) -> &RawValue {
        &self.data
    }
}

impl PartialEq for UserEvent {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp == other.timestamp
            && self.user_id == other.user_id
            && self.email == other.email
            && self.data.get() == other.data.get()
            && self.signature == other.signature
    }
}

impl Eq for UserEvent {}

impl fmt::Debug for UserEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEvent")
            .field("timestamp", &self.timestamp)
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("data", &self.data.get())
            .finish_non_exhaustive()
    }
}

/// The documented test event (`webhook.test`).
#[derive(Clone)]
pub struct TestEvent {
    timestamp: Timestamp,
    webhook_id: Option<String>,
    data: Box<RawValue>,
}

impl TestEvent {
    /// The documented test event, `data` being `{"test":true,"webhook_id":..}`.
    pub fn new(timestamp: Timestamp, webhook_id: Option<&str>) -> Self {
        let data = serde_json::json!({"test": true, "webhook_id": webhook_id});
        Self {
            timestamp,
            webhook_id: webhook_id.map(str::to_owned),
            data: to_raw(&data),
        }
    }

    fn from_payload(p: &WebhookPayload<'_>) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            webhook_id: Option<String>,
        }
        let timestamp = parse_timestamp(p)?;
        let raw = p.data.ok_or("missing field `data`")?;
        let data: Data = serde_json::from_str(raw.get()).map_err(|e| format!("data: {e}"))?;
        Ok(Self {
            timestamp,
            webhook_id: data.webhook_id,
            data: raw.to_owned(),
        })
    }

    /// When the test was sent.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// `data.webhook_id`, if sent.
    pub fn webhook_id(&self) -> Option<&str> {
        self.webhook_id.as_deref()
    }
}

impl PartialEq for TestEvent {
    fn eq(&self, other: &Self) -> bool {
        self.timestamp == other.timestamp && self.data.get() == other.data.get()
    }
}

impl Eq for TestEvent {}

impl fmt::Debug for TestEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestEvent")
            .field("timestamp", &self.timestamp)
            .field("webhook_id", &self.webhook_id)
            .finish()
    }
}

/// Which change happened to a user account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserChangeKind {
    /// `user.created`, or INSERT on `auth.users`.
    Created,
    /// `user.updated`, or UPDATE on `auth.users`.
    Updated,
    /// `user.deleted`, or DELETE on `auth.users`.
    Deleted,
}

impl UserChangeKind {
    /// The documented event name (`user.created`, ...).
    pub fn documented_name(self) -> &'static str {
        match self {
            Self::Created => "user.created",
            Self::Updated => "user.updated",
            Self::Deleted => "user.deleted",
        }
    }
}

/// A change to a user account, read from either wire shape
/// (see [`Event::user_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserChange {
    /// What happened.
    pub kind: UserChangeKind,
    /// The user's id (`data.user_id`, or `record.id`).
    pub user_id: Option<String>,
    /// The user's email (`data.email`, or `record.email`).
    pub email: Option<String>,
}

fn parse_timestamp(p: &WebhookPayload<'_>) -> Result<Timestamp, String> {
    let s = p.timestamp.as_deref().ok_or("missing field `timestamp`")?;
    Timestamp::parse(s).map_err(|e| e.to_string())
}

fn to_raw(value: &serde_json::Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| empty_object())
}

impl Event {
    /// A realistic example of the named event, stamped `timestamp`: a row
    /// event on `auth.users` for `INSERT`/`UPDATE`/`DELETE`, the server's test
    /// payload for `TEST`, and a documented payload for the dotted names.
    /// `None` for a name this version does not know.
    ///
    /// Used by `fluxhook send`, the emulator and tests; not part of the
    /// stable API.
    ///
    /// ```
    /// use fluxbase_webhooks::{Event, Timestamp};
    ///
    /// let e = Event::sample("UPDATE", Timestamp::now()).unwrap();
    /// assert!(e.row().unwrap().old_record::<serde_json::Value>()?.is_some());
    /// let body = serde_json::to_vec(&e)?;
    /// assert_eq!(Event::from_slice(&body)?, e);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(hidden)]
    pub fn sample(name: &str, timestamp: Timestamp) -> Option<Event> {
        use serde_json::json;
        let user = json!({
            "id": "7d3c2b1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d",
            "email": "ada@example.com",
            "email_verified": true,
            "role": "authenticated",
            "created_at": "2026-01-02T03:04:05.123456Z",
        });
        let mut renamed = user.clone();
        renamed["email"] = json!("ada.lovelace@example.com");
        let user_data = json!({"user_id": user["id"], "email": user["email"]});
        let row = |record: &serde_json::Value, old: Option<&serde_json::Value>| {
            RowEvent::new(
                "users",
                "auth",
                Some(to_raw(record)),
                old.map(to_raw),
                timestamp,
            )
        };
        let documented = || UserEvent::new(timestamp, &to_raw(&user_data)).ok();
        Some(match name {
            "INSERT" => Event::Insert(row(&user, None)),
            "UPDATE" => Event::Update(row(&renamed, Some(&user))),
            "DELETE" => Event::Delete(row(&user, None)),
            "TEST" => Event::Test(RowEvent::new(
                "test",
                "public",
                Some(to_raw(&json!({"test": true}))),
                None,
                timestamp,
            )),
            "user.created" => Event::UserCreated(documented()?),
            "user.updated" => Event::UserUpdated(documented()?),
            "user.deleted" => Event::UserDeleted(documented()?),
            "auth.login" => Event::AuthLogin(documented()?),
            "auth.logout" => Event::AuthLogout(documented()?),
            "password.reset" => Event::PasswordReset(documented()?),
            "email.verified" => Event::EmailVerified(documented()?),
            "webhook.test" => Event::WebhookTest(TestEvent::new(timestamp, None)),
            _ => return None,
        })
    }
}

fn raw_eq(a: &Option<Box<RawValue>>, b: &Option<Box<RawValue>>) -> bool {
    a.as_deref().map(RawValue::get) == b.as_deref().map(RawValue::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSERT: &[u8] = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"7d3c","email":"ada@example.com","password_hash":"x"},"timestamp":"2026-01-02T03:04:05.12Z"}"#;
    const UPDATE: &[u8] = br#"{"event":"UPDATE","table":"products","schema":"public","record":{"id":1,"price":12},"old_record":{"id":1,"price":10},"timestamp":"2026-01-02T04:04:05.123456789+01:00"}"#;
    const SERVER_TEST: &[u8] = br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#;
    const DOC_TEST: &[u8] = br#"{"event":"webhook.test","timestamp":"2024-01-26T10:00:00Z","data":{"test":true,"webhook_id":"wh-1"}}"#;

    #[test]
    fn row_events() {
        let e = Event::from_slice(UPDATE).unwrap();
        let Event::Update(row) = &e else {
            panic!("{e:?}")
        };
        #[derive(Deserialize, PartialEq, Debug)]
        struct Product {
            id: u32,
            price: u32,
        }
        assert_eq!(
            row.record::<Product>().unwrap(),
            Product { id: 1, price: 12 }
        );
        assert_eq!(
            row.old_record::<Product>().unwrap(),
            Some(Product { id: 1, price: 10 })
        );
        assert_eq!(row.timestamp().offset_seconds(), 3600);
        assert_eq!(e.user_change(), None);
        let Event::Insert(row) = Event::from_slice(INSERT).unwrap() else {
            panic!()
        };
        assert_eq!(row.old_record::<serde_json::Value>().unwrap(), None);
    }

    #[test]
    fn auth_users_rows_read_as_user_events() {
        let e = Event::from_slice(INSERT).unwrap();
        let change = e.user_change().unwrap();
        assert_eq!(change.kind, UserChangeKind::Created);
        assert_eq!(change.user_id.as_deref(), Some("7d3c"));
        assert_eq!(change.kind.documented_name(), "user.created");
    }

    #[test]
    fn documented_events() {
        let body = br#"{"event":"user.deleted","timestamp":"2024-01-26T10:00:00Z","data":{"user_id":"u9","email":"x@y.z","reason":"gdpr"}}"#;
        let e = Event::from_slice(body).unwrap();
        let Event::UserDeleted(u) = &e else {
            panic!("{e:?}")
        };
        assert_eq!((u.user_id(), u.email()), (Some("u9"), Some("x@y.z")));
        let data: serde_json::Value = u.data().unwrap();
        assert_eq!(data["reason"], "gdpr");
        assert_eq!(e.user_change().unwrap().kind, UserChangeKind::Deleted);
        for name in &DOCUMENTED_EVENTS[..7] {
            let body =
                format!(r#"{{"event":"{name}","timestamp":"2024-01-26T10:00:00Z","data":{{}}}}"#);
            let e = Event::from_slice(body.as_bytes()).unwrap();
            assert_eq!(e.name(), *name);
            assert!(e.user_event().is_some(), "{name}");
        }
    }

    #[test]
    fn test_events_of_both_shapes() {
        let e = Event::from_slice(SERVER_TEST).unwrap();
        assert!(matches!(e, Event::Test(_)) && e.is_test());
        let e = Event::from_slice(DOC_TEST).unwrap();
        let Event::WebhookTest(t) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(t.webhook_id(), Some("wh-1"));
    }

    #[test]
    fn unknown_names_are_kept_whole() {
        let body = br#"{"event":"TRUNCATE","table":"t","extra":[1,2]}"#;
        let Event::Unknown { name, data } = Event::from_slice(body).unwrap() else {
            panic!()
        };
        assert_eq!(name, "TRUNCATE");
        assert_eq!(data.get(), std::str::from_utf8(body).unwrap());
        // Unknown even when a field has an unexpected type.
        let body = br#"{"event":"billing.paid","table":5}"#;
        assert!(matches!(
            Event::from_slice(body).unwrap(),
            Event::Unknown { .. }
        ));
    }

    #[test]
    fn known_names_that_do_not_fit_are_unparsed() {
        for body in [
            &br#"{"event":"INSERT","table":"t","schema":"s","timestamp":"yesterday"}"#[..],
            br#"{"event":"INSERT","schema":"s","timestamp":"2026-01-02T03:04:05Z"}"#,
            br#"{"event":"INSERT","table":5,"schema":"s","timestamp":"2026-01-02T03:04:05Z"}"#,
            br#"{"event":"user.created","timestamp":"2024-01-26T10:00:00Z","data":{"user_id":5}}"#,
            br#"{"event":"user.created","timestamp":"2024-01-26T10:00:00Z"}"#,
        ] {
            match Event::from_slice(body).unwrap() {
                Event::Unparsed { name, raw, error } => {
                    assert!(Event::is_known_name(&name));
                    assert_eq!(raw.get(), std::str::from_utf8(body).unwrap());
                    assert!(!error.is_empty());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn not_a_payload_is_an_error() {
        for body in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"event\":null}",
            b"\xff",
            b"{\"event\":\"INSERT\"",
            // Not UTF-8 inside a value the typed parse would skip.
            b"{\"event\":\"user.created\",\"other\":\"\xff\"}",
        ] {
            assert_eq!(
                Event::from_slice(body).unwrap_err().code(),
                crate::Code::InvalidPayload,
                "{body:?}"
            );
        }
    }

    #[test]
    fn samples_exist_for_every_known_name_and_round_trip() {
        let now = Timestamp::parse("2026-01-02T03:04:05.5Z").unwrap();
        for name in ROW_EVENTS.iter().chain(&DOCUMENTED_EVENTS) {
            let e = Event::sample(name, now).unwrap();
            assert_eq!(e.name(), *name);
            assert_eq!(e.timestamp(), Some(now));
            let body = serde_json::to_vec(&e).unwrap();
            assert_eq!(Event::from_slice(&body).unwrap(), e, "{name}");
        }
        assert!(Event::sample("nope", now).is_none());
        let e = Event::sample("INSERT", now).unwrap();
        assert_eq!(
            e.user_change().unwrap().email.as_deref(),
            Some("ada@example.com")
        );
    }

    #[test]
    fn deep_records_fail_to_deserialize_cleanly() {
        let depth = 100_000;
        let body = format!(
            r#"{{"event":"INSERT","table":"t","schema":"s","record":{}{},"timestamp":"2026-01-02T03:04:05Z"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // Kept raw: accepted without recursion.
        let e = Event::from_slice(body.as_bytes()).unwrap();
        let row = e.row().unwrap();
        // Read on demand: the parser's depth limit, not a stack overflow.
        let err = row.record::<serde_json::Value>().unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let again = serde_json::to_vec(&e).unwrap();
        assert_eq!(again.len(), body.len());
    }

    #[test]
    fn serializes_back_to_the_same_event() {
        for body in [
            INSERT,
            UPDATE,
            SERVER_TEST,
            DOC_TEST,
            br#"{"event":"x.y","a":1}"#,
        ] {
            let e = Event::from_slice(body).unwrap();
            let again = serde_json::to_vec(&e).unwrap();
            assert_eq!(Event::from_slice(&again).unwrap(), e);
        }
        // Row events keep the server's key order.
        let e = Event::from_slice(SERVER_TEST).unwrap();
        assert_eq!(serde_json::to_vec(&e).unwrap(), SERVER_TEST);
    }
}
