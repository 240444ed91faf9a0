//! The delivery engine: matching, per-webhook queues, signed POSTs, retries
//! with linear backoff, the delivery log.

use std::sync::Arc;
use std::time::Duration;

use fluxbase_webhooks::{Event, Scheme, Signer, TestEvent, Timestamp};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::state::{DeliveryRecord, Shared, State, Subscription, WebhookRecord, now};
use crate::{Flavor, TriggerError, Triggered, wire};

/// The `User-Agent` of every delivery.
pub(crate) const DELIVERY_USER_AGENT: &str = "Fluxbase-Webhooks/1.0";

/// The most bytes of an endpoint's answer kept in an error message.
const MAX_RESPONSE: usize = 64 * 1024;

/// The most deliveries queued at once; more events are refused.
pub(crate) const MAX_PENDING: usize = 10_000;

/// The most delivery records (and attempt records) kept; older ones go, as
/// the server deletes processed events after a week.
pub(crate) const MAX_LOG: usize = 10_000;

/// One delivery attempt, as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// The webhook's id.
    pub webhook_id: String,
    /// The event name.
    pub event: String,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The backoff waited before this attempt (zero for the first).
    pub waited: Duration,
    /// What happened.
    pub outcome: AttemptOutcome,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Anything else.
    Failed {
        /// The endpoint's status, if it answered.
        status: Option<u16>,
        /// `HTTP <code>: <body>` or `failed to send request: …`.
        error: String,
    },
}

impl AttemptOutcome {
    /// Whether the endpoint answered 2xx.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// What a failing endpoint answered, when it answered.
    pub fn response_body(&self) -> Option<&str> {
        match self {
            Self::Failed {
                status: Some(status),
                error,
            } => error
                .strip_prefix("HTTP ")
                .and_then(|e| e.strip_prefix(status.to_string().as_str()))
                .and_then(|e| e.strip_prefix(": ")),
            _ => None,
        }
    }
}

/// An event ready to deliver: its parts, re-stamped and re-signed at every
/// attempt.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    /// The server's row event.
    Row {
        op: String,
        table: String,
        schema: String,
        record: Option<Value>,
        old_record: Option<Value>,
    },
    /// A documented `{event, timestamp, data}` event.
    Documented { name: String, data: Value },
    /// An event this version does not know, sent as given.
    Raw { name: String, value: Value },
}

/// What an event is matched on.
struct Route<'a> {
    /// `(table, operation)` for subscriptions of the server's form.
    row: Option<(&'a str, &'a str)>,
    /// Names for documented subscriptions.
    names: Vec<&'a str>,
    /// Owner ids found in the row, for user-scoped webhooks.
    owners: Vec<String>,
}

fn raw_value(raw: Option<&fluxbase_webhooks::RawValue>) -> Option<Value> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

fn documented_alias(table: &str, op: &str) -> Option<&'static str> {
    if table != "users" {
        return None;
    }
    match op {
        "INSERT" => Some("user.created"),
        "UPDATE" => Some("user.updated"),
        "DELETE" => Some("user.deleted"),
        _ => None,
    }
}

fn row_alias(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "user.created" => Some(("users", "INSERT")),
        "user.updated" => Some(("users", "UPDATE")),
        "user.deleted" => Some(("users", "DELETE")),
        _ => None,
    }
}

impl Payload {
    pub(crate) fn from_event(event: Event) -> Result<Self, TriggerError> {
        if let Some(row) = event.row() {
            return Ok(Self::Row {
                op: event.name().to_owned(),
                table: row.table().to_owned(),
                schema: row.schema().to_owned(),
                record: raw_value(row.record_raw()),
                old_record: raw_value(row.old_record_raw()),
            });
        }
        if let Some(user) = event.user_event() {
            let data = serde_json::from_str(user.data_raw().get()).unwrap_or(Value::Null);
            return Ok(Self::Documented {
                name: event.name().to_owned(),
                data,
            });
        }
        match event {
            Event::WebhookTest(t) => Ok(Self::Documented {
                name: "webhook.test".to_owned(),
                data: json!({"test": true, "webhook_id": t.webhook_id()}),
            }),
            Event::Unknown { name, data } => Ok(Self::Raw {
                value: serde_json::from_str(data.get()).unwrap_or(Value::Null),
                name,
            }),
            Event::Unparsed { name, error, .. } => Err(TriggerError(format!(
                "`{name}` event does not fit its type: {error}"
            ))),
            other => Err(TriggerError(format!(
                "`{}` events cannot be sent",
                other.name()
            ))),
        }
    }

    /// The documented flavor describes user events, not row events on
    /// `auth.users`: deliver those as `user.created` & co.
    fn for_flavor(self, flavor: Flavor) -> Self {
        match (flavor, &self) {
            (
                Flavor::Documented,
                Self::Row {
                    op, table, record, ..
                },
            ) => {
                let field = |k: &str| record.as_ref().and_then(|r| r.get(k));
                // The documented `user_id` is a string; a row whose id is
                // neither a string nor a number is delivered as the row.
                let user_id = match field("id") {
                    Some(Value::String(id)) => Some(id.clone()),
                    Some(Value::Number(id)) => Some(id.to_string()),
                    _ => None,
                };
                match (documented_alias(table, op), user_id) {
                    (Some(name), Some(user_id)) => Self::Documented {
                        name: name.to_owned(),
                        data: json!({
                            "user_id": user_id,
                            "email": field("email").cloned().unwrap_or(Value::Null),
                        }),
                    },
                    _ => self,
                }
            }
            _ => self,
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Row { op, .. } => op,
            Self::Documented { name, .. } | Self::Raw { name, .. } => name,
        }
    }

    fn route(&self) -> Route<'_> {
        match self {
            Self::Row {
                op, table, record, ..
            } => {
                let mut owners = Vec::new();
                if let Some(Value::Object(r)) = record {
                    let mut keys = vec!["user_id", "owner_id", "created_by"];
                    if table == "users" {
                        keys.push("id");
                    }
                    for k in keys {
                        match r.get(k) {
                            Some(Value::String(s)) => owners.push(s.clone()),
                            Some(Value::Number(n)) => owners.push(n.to_string()),
                            _ => {}
                        }
                    }
                }
                Route {
                    row: Some((table, op)),
                    names: documented_alias(table, op).into_iter().collect(),
                    owners,
                }
            }
            Self::Documented { name, data } => Route {
                row: row_alias(name),
                names: vec![name],
                owners: data
                    .get("user_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
            },
            Self::Raw { name, .. } => Route {
                row: None,
                names: vec![name],
                owners: Vec::new(),
            },
        }
    }

    /// The body of one attempt, stamped `at`.
    pub(crate) fn body(&self, at: OffsetDateTime) -> Vec<u8> {
        let timestamp = Timestamp::from(at).to_string();
        match self {
            Self::Row {
                op,
                table,
                schema,
                record,
                old_record,
            } => wire::row_body(
                op,
                table,
                schema,
                record.as_ref(),
                // The server sends old_record for UPDATE only.
                old_record.as_ref().filter(|_| op == "UPDATE"),
                &timestamp,
            ),
            Self::Documented { name, data } => {
                let mut out = Vec::with_capacity(128);
                out.extend_from_slice(b"{\"event\":");
                wire::write_str(&mut out, name);
                out.extend_from_slice(b",\"timestamp\":");
                wire::write_str(&mut out, &timestamp);
                out.extend_from_slice(b",\"data\":");
                wire::write_value(&mut out, data, false);
                out.push(b'}');
                out
            }
            Self::Raw { value, .. } => {
                let mut value = value.clone();
                if let Some(obj) = value.as_object_mut()
                    && obj.contains_key("timestamp")
                {
                    obj.insert("timestamp".to_owned(), Value::String(timestamp));
                }
                let mut out = Vec::new();
                wire::write_value(&mut out, &value, false);
                out
            }
        }
    }
}

fn subscribed(w: &WebhookRecord, route: &Route<'_>) -> bool {
    w.events.iter().flatten().any(|s| match s {
        Subscription::Rows { table, operations } => route.row.is_some_and(|(t, op)| {
            (table == t || table == "*") && operations.iter().flatten().any(|o| o == op || o == "*")
        }),
        Subscription::Named(name) => route.names.contains(&name.as_str()),
    })
}

fn visible(w: &WebhookRecord, route: &Route<'_>) -> bool {
    let Some(creator) = w.created_by else {
        return true;
    };
    if w.scope == "global" || route.owners.is_empty() {
        return true;
    }
    let creator = creator.to_string();
    route.owners.contains(&creator)
}

/// A queued delivery.
pub(crate) struct Job {
    webhook_id: Uuid,
    payload: Arc<Payload>,
}

/// Queues `event` for every enabled webhook it matches.
pub(crate) fn trigger(shared: &Arc<Shared>, event: Event) -> Result<Triggered, TriggerError> {
    let payload = Arc::new(Payload::from_event(event)?.for_flavor(shared.flavor()));
    let route = payload.route();
    let mut state = shared.lock();
    if *shared.pending.borrow() >= MAX_PENDING {
        return Err(TriggerError(format!(
            "{MAX_PENDING} deliveries are already queued; wait for them"
        )));
    }
    let ids: Vec<Uuid> = state
        .webhooks
        .iter()
        .filter(|w| w.enabled && subscribed(w, &route) && visible(w, &route))
        .map(|w| w.id)
        .collect();
    for id in &ids {
        enqueue(shared, &mut state, *id, Arc::clone(&payload));
    }
    tracing::info!(
        event = payload.name(),
        webhooks = ids.len(),
        "event triggered"
    );
    Ok(Triggered {
        event: payload.name().to_owned(),
        webhooks: ids.iter().map(Uuid::to_string).collect(),
    })
}

fn enqueue(shared: &Arc<Shared>, state: &mut State, webhook_id: Uuid, payload: Arc<Payload>) {
    shared.pending.send_modify(|n| *n += 1);
    let job = Job {
        webhook_id,
        payload,
    };
    let job = match state.queues.get(&webhook_id) {
        Some(tx) => match tx.send(job) {
            Ok(()) => return,
            Err(mpsc::error::SendError(job)) => job,
        },
        None => job,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    // The receiver is alive: it was just created.
    let _ = tx.send(job);
    state.queues.insert(webhook_id, tx);
    let worker = run_queue(Arc::clone(shared), rx);
    shared.tasks().spawn_on(worker, &shared.runtime);
}

/// Delivers one webhook's jobs in order until its queue closes or the
/// emulator stops.
async fn run_queue(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let job = tokio::select! {
            job = rx.recv() => job,
            _ = stop.wait_for(|s| *s) => None,
        };
        let Some(job) = job else { break };
        deliver(&shared, &job, &mut stop).await;
        shared.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Attempts a job until it succeeds or `max_retries` attempts failed.
async fn deliver(shared: &Shared, job: &Job, stop: &mut watch::Receiver<bool>) {
    let mut waited = Duration::ZERO;
    let mut attempt: u32 = 1;
    loop {
        // Read the webhook again: it may have been changed or deleted.
        let Some(hook) = shared.lock().webhook(job.webhook_id).cloned() else {
            return;
        };
        let started = now();
        let body = job.payload.body(started);
        let record_id = Uuid::new_v4();
        {
            let mut state = shared.lock();
            trim(&mut state.deliveries);
            state.deliveries.push(DeliveryRecord {
                id: record_id,
                webhook_id: hook.id,
                event: job.payload.name().to_owned(),
                payload: serde_json::from_slice(&body).unwrap_or(Value::Null),
                status: "pending",
                http_status: None,
                response_body: None,
                error: None,
                attempt,
                delivered_at: None,
                created_at: started,
            });
        }
        let outcome = tokio::select! {
            outcome = send(shared, &hook, body) => outcome,
            _ = stop.wait_for(|s| *s) => return,
        };
        record(shared, record_id, &hook, job, attempt, waited, &outcome);
        let max_attempts = u32::try_from(hook.max_retries.max(1)).unwrap_or(u32::MAX);
        if outcome.is_delivered() || attempt >= max_attempts {
            return;
        }
        // Linear: after attempt n, wait n × retry_backoff_seconds.
        let unit_count = u32::try_from(hook.retry_backoff_seconds.max(0)).unwrap_or(u32::MAX);
        waited = shared
            .config
            .backoff_unit
            .checked_mul(unit_count)
            .and_then(|d| d.checked_mul(attempt))
            .unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
        tokio::select! {
            () = tokio::time::sleep(waited) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        attempt += 1;
    }
}

fn record(
    shared: &Shared,
    record_id: Uuid,
    hook: &WebhookRecord,
    job: &Job,
    attempt: u32,
    waited: Duration,
    outcome: &AttemptOutcome,
) {
    let mut state = shared.lock();
    if let Some(rec) = state.deliveries.iter_mut().find(|d| d.id == record_id) {
        match outcome {
            AttemptOutcome::Delivered { status } => {
                rec.status = "success";
                rec.http_status = Some(*status);
                rec.delivered_at = Some(now());
            }
            AttemptOutcome::Failed { status, error } => {
                rec.status = "failed";
                rec.http_status = *status;
                rec.response_body = outcome.response_body().map(str::to_owned);
                rec.error = Some(error.clone());
            }
        }
    }
    trim(&mut state.attempts);
    state.attempts.push(Attempt {
        webhook_id: hook.id.to_string(),
        event: job.payload.name().to_owned(),
        attempt,
        waited,
        outcome: outcome.clone(),
    });
    match outcome {
        AttemptOutcome::Delivered { status } => tracing::info!(
            webhook = %hook.id, event = job.payload.name(), attempt, status, "delivered"
        ),
        AttemptOutcome::Failed { error, .. } => tracing::warn!(
            webhook = %hook.id, event = job.payload.name(), attempt, %error, "delivery failed"
        ),
    }
}

/// Makes room for one more record.
fn trim<T>(log: &mut Vec<T>) {
    if log.len() >= MAX_LOG {
        log.drain(..log.len() + 1 - MAX_LOG);
    }
}

/// The test endpoint's delivery: once, synchronously, no log entry.
pub(crate) async fn send_test(shared: &Shared, hook: &WebhookRecord) -> AttemptOutcome {
    let at = now();
    let payload = match shared.flavor() {
        Flavor::Server => Payload::Row {
            op: "TEST".to_owned(),
            table: "test".to_owned(),
            schema: "public".to_owned(),
            record: Some(json!({"test": true})),
            old_record: None,
        },
        Flavor::Documented => {
            let id = hook.id.to_string();
            let event = Event::WebhookTest(TestEvent::new(Timestamp::from(at), Some(&id)));
            match Payload::from_event(event) {
                Ok(p) => p,
                Err(e) => {
                    return AttemptOutcome::Failed {
                        status: None,
                        error: e.to_string(),
                    };
                }
            }
        }
    };
    let body = payload.body(at);
    send(shared, hook, body).await
}

/// One signed POST.
async fn send(shared: &Shared, hook: &WebhookRecord, body: Vec<u8>) -> AttemptOutcome {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(DELIVERY_USER_AGENT));
    // Custom headers come after, so they may override those two...
    for (name, value) in hook.headers.iter().flatten() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    // ...but never the signatures.
    // An empty secret signs nothing, as on the server (and `Signer` refuses it).
    if let Some(Ok(signer)) = hook.secret.as_deref().map(Signer::new) {
        let hex = signer.hex_tag(Scheme::Hex, 0, &body);
        let fluxbase = match shared.flavor() {
            Flavor::Server => signer.sign_now(&body).to_string(),
            // The documentation's form: bare hex of the body.
            Flavor::Documented => hex.clone(),
        };
        for (name, value) in [
            (fluxbase_webhooks::LEGACY_SIGNATURE_HEADER, hex),
            (fluxbase_webhooks::SIGNATURE_HEADER, fluxbase),
        ] {
            if let Ok(mut value) = HeaderValue::from_str(&value) {
                value.set_sensitive(true);
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    let mut req = shared.http.post(&hook.url).headers(headers).body(body);
    if let Ok(secs) = u64::try_from(hook.timeout_seconds)
        && secs > 0
    {
        req = req.timeout(Duration::from_secs(secs));
    }
    let mut resp = match req.send().await {
        Ok(resp) => resp,
        Err(err) => {
            return AttemptOutcome::Failed {
                status: None,
                error: format!("failed to send request: {}", error_chain(&err)),
            };
        }
    };
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return AttemptOutcome::Delivered { status };
    }
    let mut text = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_RESPONSE.saturating_sub(text.len());
        text.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    AttemptOutcome::Failed {
        status: Some(status),
        error: format!("HTTP {status}: {}", String::from_utf8_lossy(&text)),
    }
}

fn error_chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::AttemptOutcome;

    #[test]
    fn the_response_body_of_a_failed_attempt() {
        let failed = |status, error: &str| AttemptOutcome::Failed {
            status,
            error: error.to_owned(),
        };
        assert_eq!(
            failed(Some(404), "HTTP 404: no such route").response_body(),
            Some("no such route")
        );
        assert_eq!(failed(Some(500), "HTTP 500: ").response_body(), Some(""));
        assert_eq!(
            failed(None, "failed to send request: refused").response_body(),
            None
        );
        assert_eq!(
            AttemptOutcome::Delivered { status: 200 }.response_body(),
            None
        );
    }
}
