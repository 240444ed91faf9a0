//! The delivery engine: matching, per-webhook queues, signed POSTs, retries
//! with linear backoff, the delivery log.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluxbase_webhooks::client::{EventFilter, UrlCheck, Warning, WarningCode, check_url};
use fluxbase_webhooks::{Event, Scheme, Signer, TestEvent, Timestamp};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::redact::{SafeText, SafeUrl, mask_password};
use crate::state::{DeliveryRecord, Shared, State, Subscription, WebhookRecord, now};
use crate::{Flavor, ServerMode, TriggerError, Triggered, policy, triggers, warnings, wire};

/// How long a rate-limited attempt waits, in backoff units (the server
/// reschedules it 10 s later without counting it: `scheduleRetryWithoutIncrement`).
const RATE_LIMITED_WAIT_UNITS: u32 = 10;

/// The window of the per-URL rate limit (`endpointRateLimiter`).
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The `User-Agent` of every delivery.
pub(crate) const DELIVERY_USER_AGENT: &str = "Fluxbase-Webhooks/1.0";

/// The most bytes of an endpoint's answer kept in an error message.
const MAX_RESPONSE: usize = 64 * 1024;

/// The most deliveries queued at once; more events are refused.
pub(crate) const MAX_PENDING: usize = 10_000;

/// The most delivery records (and attempt records) kept; the oldest go
/// first. The server keeps `auth.webhook_deliveries` unbounded (it deletes
/// only processed queue events, after 7 days: `cleanupOldEvents` in
/// internal/webhook/trigger.go); the emulator's memory is bounded.
pub(crate) const MAX_LOG: usize = 10_000;

/// The deliveries not done yet (queued, running or waiting to retry), per
/// webhook, and the webhooks whose deliveries are parked because the
/// webhook is disabled.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    outstanding: HashMap<Uuid, usize>,
    parked: HashSet<Uuid>,
    total: usize,
    /// `total` less the parked webhooks' deliveries: what can still go out.
    active: usize,
}

impl Backlog {
    /// Every delivery not done yet, parked ones included.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The deliveries not done yet that are not parked.
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    fn count(&self, id: Uuid) -> usize {
        self.outstanding.get(&id).copied().unwrap_or(0)
    }

    /// One more delivery for webhook `id`.
    fn add(&mut self, id: Uuid) {
        *self.outstanding.entry(id).or_default() += 1;
        self.total += 1;
        if !self.parked.contains(&id) {
            self.active += 1;
        }
    }

    /// One delivery for webhook `id` is done.
    fn done(&mut self, id: Uuid) {
        let Some(n) = self.outstanding.get_mut(&id) else {
            return;
        };
        *n = n.saturating_sub(1);
        let left = *n;
        self.total = self.total.saturating_sub(1);
        let parked = if left == 0 {
            self.outstanding.remove(&id);
            self.parked.remove(&id)
        } else {
            self.parked.contains(&id)
        };
        if !parked {
            self.active = self.active.saturating_sub(1);
        }
    }

    /// Webhook `id` is disabled: its deliveries wait, uncounted by
    /// `active`. A webhook with none is not parked.
    fn park(&mut self, id: Uuid) {
        if self.count(id) > 0 && self.parked.insert(id) {
            self.active = self.active.saturating_sub(self.count(id));
        }
    }

    /// Webhook `id` is enabled again (or gone): its deliveries count again.
    fn unpark(&mut self, id: Uuid) {
        if self.parked.remove(&id) {
            self.active += self.count(id);
        }
    }
}

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
    /// What was waited before this attempt: the retry backoff, plus any
    /// wait for the per-URL rate limit (zero for an unlimited first one),
    /// not the time its webhook was disabled.
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

/// What an event is matched on in the documented flavor.
struct Route<'a> {
    /// `(table, operation)` for subscriptions of the server's form.
    row: Option<(&'a str, &'a str)>,
    /// Names for documented subscriptions.
    names: Vec<&'a str>,
    /// The row's owner, for user-scoped webhooks.
    owner: Option<Uuid>,
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
                op,
                table,
                schema,
                record,
                ..
            } => Route {
                row: Some((table, op)),
                names: documented_alias(table, op).into_iter().collect(),
                owner: triggers::owner(record.as_ref(), schema, table),
            },
            Self::Documented { name, data } => Route {
                row: row_alias(name),
                names: vec![name],
                owner: data
                    .get("user_id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok()),
            },
            Self::Raw { name, .. } => Route {
                row: None,
                names: vec![name],
                owner: None,
            },
        }
    }

    /// Rewrites RFC 3339 UTC strings of the records (`…Z`) as Postgres's
    /// `to_jsonb` writes a `timestamptz` (`…+00:00`).
    fn postgres_timestamps(&mut self) {
        fn fix(v: &mut Value) {
            match v {
                Value::String(s) => {
                    if let Some(head) = s.strip_suffix('Z')
                        && OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                            .is_ok()
                    {
                        *s = format!("{head}+00:00");
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(fix),
                Value::Object(map) => map.values_mut().for_each(fix),
                _ => {}
            }
        }
        if let Self::Row {
            record, old_record, ..
        } = self
        {
            record.iter_mut().chain(old_record.iter_mut()).for_each(fix);
        }
    }

    /// The server flavor's form: the row events the server's trigger
    /// sends. A documented user event becomes the row event on
    /// `auth.users` it stands for (its `user_id` the row's `id`);
    /// everything else is an event the server never sends, refused with
    /// the reason.
    fn for_server(self) -> Result<Self, Warning> {
        let never = |name: &str, why: &str| {
            Warning::new(
                WarningCode::NeverSent,
                format!("the server never sends `{name}`: {why}"),
            )
        };
        match self {
            Self::Row { ref op, .. } if ["INSERT", "UPDATE", "DELETE"].contains(&op.as_str()) => {
                Ok(self)
            }
            Self::Row { op, .. } => Err(never(
                &op,
                "its triggers fire INSERT, UPDATE and DELETE only (TEST comes from the test endpoint)",
            )),
            Self::Documented { name, data } => match row_alias(&name) {
                Some((table, op)) => {
                    let mut record = match data {
                        Value::Object(map) => map,
                        _ => serde_json::Map::new(),
                    };
                    if let Some(id) = record.remove("user_id") {
                        record.insert("id".to_owned(), id);
                    }
                    Ok(Self::Row {
                        op: op.to_owned(),
                        table: table.to_owned(),
                        schema: "auth".to_owned(),
                        record: Some(Value::Object(record)),
                        old_record: None,
                    })
                }
                None => Err(never(
                    &name,
                    "it has no named events; login, logout, password and email changes fire \
                     nothing (CONTRACT.md §2.4)",
                )),
            },
            Self::Raw { name, .. } => Err(never(&name, "it sends row events only")),
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
        Subscription::Rows { .. } => route
            .row
            .is_some_and(|(table, op)| s.filter().matches_row(table, op)),
        Subscription::Named(name) => route.names.contains(&name.as_str()),
    })
}

/// Why a webhook whose subscription names this row event gets nothing from
/// the server: a schema-qualified name never matches, and a bare name or
/// `*` matches only a table that has a trigger.
fn missed(
    filters: &[EventFilter],
    schema: &str,
    table: &str,
    op: &str,
    has_trigger: bool,
) -> Option<String> {
    let qualified = format!("{schema}.{table}");
    filters.iter().find_map(|f| {
        let EventFilter::Table {
            table: wanted,
            operations,
        } = f
        else {
            return None;
        };
        if !operations.iter().any(|o| o == op || o == "*") {
            return None;
        }
        if *wanted == qualified {
            Some(format!(
                "its subscription `{wanted}` gets no {op} on {qualified}: the server compares \
                 subscriptions with the bare table name `{table}`"
            ))
        } else if (wanted == table || wanted == "*") && !has_trigger {
            Some(format!(
                "its subscription `{wanted}` gets no {op} on {qualified}: no trigger is installed \
                 on {qualified} (`{table}` installs one on auth.{table}, `*` none; a subscription \
                 to `{qualified}` would install it)"
            ))
        } else {
            None
        }
    })
}

/// A queued delivery.
pub(crate) struct Job {
    webhook_id: Uuid,
    payload: Arc<Payload>,
}

/// Queues `event` for every enabled webhook it reaches.
pub(crate) fn trigger(shared: &Arc<Shared>, event: Event) -> Result<Triggered, TriggerError> {
    dispatch(shared, Payload::from_event(event)?)
}

/// Fires [`Event::sample`] of `name`, stamped now. In the server flavor
/// its record's timestamps read as Postgres writes them in `to_jsonb`
/// (`+00:00`, not `Z`).
pub(crate) fn trigger_sample(shared: &Arc<Shared>, name: &str) -> Result<Triggered, TriggerError> {
    let event = Event::sample(name, Timestamp::now())
        .ok_or_else(|| TriggerError(format!("no sample event named `{name}`")))?;
    let mut payload = Payload::from_event(event)?;
    if shared.flavor() == Flavor::Server {
        payload.postgres_timestamps();
    }
    dispatch(shared, payload)
}

fn dispatch(shared: &Arc<Shared>, payload: Payload) -> Result<Triggered, TriggerError> {
    let mut state = shared.lock();
    if state.backlog.total() >= MAX_PENDING {
        return Err(TriggerError(format!(
            "{MAX_PENDING} deliveries are already queued; wait for them"
        )));
    }
    let (payload, ids, missed) = match shared.flavor() {
        Flavor::Server => {
            let name = payload.name().to_owned();
            match payload.for_server() {
                Ok(payload) => {
                    let (ids, missed) = server_targets(&state, &payload);
                    (Arc::new(payload), ids, missed)
                }
                Err(never) => {
                    warnings::record(&mut state, None, "trigger", [never.clone()]);
                    return Ok(Triggered {
                        event: name,
                        webhooks: Vec::new(),
                        warnings: vec![never],
                    });
                }
            }
        }
        Flavor::Documented => {
            let payload = payload.for_flavor(Flavor::Documented);
            let route = payload.route();
            let ids: Vec<Uuid> = state
                .webhooks
                .iter()
                .filter(|w| w.enabled && subscribed(w, &route) && triggers::may_see(w, route.owner))
                .map(|w| w.id)
                .collect();
            (Arc::new(payload), ids, Vec::new())
        }
    };
    for id in &ids {
        enqueue(shared, &mut state, *id, Arc::clone(&payload));
    }
    let mut given = Vec::new();
    for (id, warning) in missed {
        warnings::record(&mut state, Some(id), "trigger", [warning.clone()]);
        given.push(warning);
    }
    tracing::info!(
        event = %SafeText(payload.name()),
        webhooks = ids.len(),
        "event triggered"
    );
    Ok(Triggered {
        event: payload.name().to_owned(),
        webhooks: ids.iter().map(Uuid::to_string).collect(),
        warnings: given,
    })
}

/// The server flavor's matching (`queue_webhook_event`): a trigger on the
/// table, then each enabled webhook that may see the row and has a
/// subscription matching the bare table name and the operation. Also
/// returns the webhooks whose subscriptions name the event but miss it.
fn server_targets(state: &State, payload: &Payload) -> (Vec<Uuid>, Vec<(Uuid, Warning)>) {
    let Payload::Row {
        op,
        table,
        schema,
        record,
        ..
    } = payload
    else {
        return (Vec::new(), Vec::new());
    };
    let has_trigger = triggers::has_trigger(state, schema, table);
    let owner = triggers::owner(record.as_ref(), schema, table);
    let mut ids = Vec::new();
    let mut missed_by = Vec::new();
    for w in state
        .webhooks
        .iter()
        .filter(|w| w.enabled && triggers::may_see(w, owner))
    {
        let filters: Vec<EventFilter> = w
            .events
            .iter()
            .flatten()
            .map(Subscription::filter)
            .collect();
        if has_trigger && filters.iter().any(|f| f.matches_row(table, op)) {
            ids.push(w.id);
        } else if let Some(why) = missed(&filters, schema, table, op, has_trigger) {
            missed_by.push((w.id, Warning::new(WarningCode::NotDelivered, why)));
        }
    }
    (ids, missed_by)
}

fn enqueue(shared: &Arc<Shared>, state: &mut State, webhook_id: Uuid, payload: Arc<Payload>) {
    state.backlog.add(webhook_id);
    publish(shared, state);
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

/// Tells [`crate::RunningEmulator::wait_idle`] how many deliveries can
/// still go out.
fn publish(shared: &Shared, state: &State) {
    shared.pending.send_replace(state.backlog.active());
}

/// Called with the lock held once webhook `id` was updated or deleted:
/// when it is enabled (or gone) its parked deliveries count again, and
/// every delivery waiting on a webhook looks at it again (a re-enabled
/// webhook's go out, a deleted one's end).
pub(crate) fn webhook_changed(shared: &Shared, state: &mut State, id: Uuid) {
    if state.webhook(id).is_none_or(|w| w.enabled) {
        state.backlog.unpark(id);
        publish(shared, state);
    }
    shared.changes.send_replace(());
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
        let mut state = shared.lock();
        state.backlog.done(job.webhook_id);
        publish(&shared, &state);
    }
}

/// Attempts a job until it succeeds or `max_retries` attempts failed.
async fn deliver(shared: &Shared, job: &Job, stop: &mut watch::Receiver<bool>) {
    let mut waited = Duration::ZERO;
    let mut attempt: u32 = 1;
    let mut due = Instant::now();
    loop {
        // The webhook as it is when the attempt may go: it may have been
        // changed, disabled (then the attempt waits) or deleted meanwhile.
        let Some(hook) = when_due(shared, job.webhook_id, due, stop).await else {
            return;
        };
        // The server's per-URL limit: over it, the attempt waits and does
        // not count. Whatever the webhook's settings, no URL gets more
        // than the limit per minute.
        if !rate_allows(shared, &hook.url) {
            let pause = shared.config.backoff_unit * RATE_LIMITED_WAIT_UNITS;
            waited += pause;
            due = later(pause);
            continue;
        }
        let started = now();
        let body = job.payload.body(started);
        let record_id = Uuid::new_v4();
        push_bounded(
            &mut shared.lock().deliveries,
            DeliveryRecord {
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
            },
            MAX_LOG,
        );
        let outcome = tokio::select! {
            outcome = send_checked(shared, &hook, body) => outcome,
            _ = stop.wait_for(|s| *s) => return,
        };
        record(shared, record_id, &hook, job, attempt, waited, &outcome);
        // `attempts >= MaxRetries` ends it (handleDeliveryFailure): 0 or
        // less means one attempt.
        let max_attempts = u32::try_from(hook.max_retries.max(1)).unwrap_or(u32::MAX);
        if outcome.is_delivered() || attempt >= max_attempts {
            return;
        }
        waited = retry_wait(
            shared.config.backoff_unit,
            hook.retry_backoff_seconds,
            attempt,
        );
        due = later(waited);
        attempt += 1;
    }
}

/// `wait` from now, or as far as the clock goes.
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

/// Waits until an attempt due at `due` may go, and returns its webhook as
/// it then is; `None` when the webhook was deleted (its events go with it,
/// `ON DELETE CASCADE` on `auth.webhook_events`) or the emulator is
/// stopping.
///
/// While the webhook is disabled the attempt waits, however long, sent
/// nowhere and not counted: the server's worker skips a disabled webhook
/// and leaves its events unprocessed (`processWebhookEvents` in
/// internal/webhook/trigger.go), first attempts and due retries alike, and
/// its backlog check or the webhook's next event picks them up once it is
/// enabled again (`checkForRetries`; `queue_webhook_event` queues with
/// `next_retry_at` = now, migration 005). The emulator sends them as soon
/// as they are due, as it sends retries. Meanwhile they are parked: not
/// counted by `wait_idle`.
async fn when_due(
    shared: &Shared,
    webhook_id: Uuid,
    due: Instant,
    stop: &mut watch::Receiver<bool>,
) -> Option<WebhookRecord> {
    loop {
        // Subscribed before the webhook is read: a change after the read
        // wakes the wait.
        let mut changed = shared.changes.subscribe();
        let enabled = {
            let mut state = shared.lock();
            let hook = state.webhook(webhook_id).cloned()?;
            if hook.enabled {
                state.backlog.unpark(webhook_id);
            } else {
                state.backlog.park(webhook_id);
            }
            publish(shared, &state);
            if hook.enabled && Instant::now() >= due {
                return Some(hook);
            }
            hook.enabled
        };
        tokio::select! {
            () = tokio::time::sleep_until(due.into()), if enabled => {}
            res = changed.changed() => res.ok()?,
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
}

/// The wait before the attempt after failed attempt `n`: linear,
/// `n × retry_backoff_seconds` units (`handleDeliveryFailure`). A zero or
/// negative backoff makes the retry due at once on the server, which then
/// waits for its 30 s backlog tick; the emulator waits one unit.
pub(crate) fn retry_wait(unit: Duration, backoff_seconds: i64, attempt: u32) -> Duration {
    let units = u32::try_from(backoff_seconds.max(1)).unwrap_or(u32::MAX);
    unit.checked_mul(units)
        .and_then(|d| d.checked_mul(attempt))
        .unwrap_or(Duration::from_secs(u64::from(u32::MAX)))
}

/// Takes a place in `url`'s window of the last minute, if there is one
/// (`endpointRateLimiter.allow`).
fn rate_allows(shared: &Shared, url: &str) -> bool {
    let now = Instant::now();
    let limit = shared.config.rate_limit_per_minute;
    let mut state = shared.lock();
    let fresh = |t: &Instant| now.duration_since(*t) < RATE_WINDOW;
    if state.sent.len() > 1024 {
        state.sent.retain(|_, times| times.iter().any(fresh));
    }
    let times = state.sent.entry(url.to_owned()).or_default();
    while times.front().is_some_and(|t| !fresh(t)) {
        times.pop_front();
    }
    if times.len() >= limit {
        return false;
    }
    times.push_back(now);
    true
}

/// A production server checks the URL again at every send
/// (`sendWebhookSync`), against DNS rebinding.
async fn send_checked(shared: &Shared, hook: &WebhookRecord, body: Vec<u8>) -> AttemptOutcome {
    if shared.config.server_mode == ServerMode::Production
        && let Err(why) = policy::check_webhook_url(ServerMode::Production, &hook.url).await
    {
        return AttemptOutcome::Failed {
            status: None,
            error: format!("webhook URL validation failed (possible DNS rebinding attack): {why}"),
        };
    }
    send(shared, hook, body).await
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
    // The record was pushed before the send: look from the newest end.
    if let Some(rec) = state
        .deliveries
        .iter_mut()
        .rev()
        .find(|d| d.id == record_id)
    {
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
    push_bounded(
        &mut state.attempts,
        Attempt {
            webhook_id: hook.id.to_string(),
            event: job.payload.name().to_owned(),
            attempt,
            waited,
            outcome: outcome.clone(),
        },
        MAX_LOG,
    );
    let url = SafeUrl(&hook.url);
    let event = SafeText(job.payload.name());
    match outcome {
        AttemptOutcome::Delivered { status } => tracing::info!(
            webhook = %hook.id, %url, %event, attempt, status, "delivered"
        ),
        AttemptOutcome::Failed { error, .. } => tracing::warn!(
            webhook = %hook.id, %url, %event, attempt, error = %SafeText(error), "delivery failed"
        ),
    }
}

/// Appends `item` to a log kept to the last `cap` items, dropping the
/// oldest: O(1) however full the log is.
fn push_bounded<T>(log: &mut VecDeque<T>, item: T, cap: usize) {
    while log.len() >= cap.max(1) {
        log.pop_front();
    }
    log.push_back(item);
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
    send_checked(shared, hook, body).await
}

/// One signed POST.
async fn send(shared: &Shared, hook: &WebhookRecord, body: Vec<u8>) -> AttemptOutcome {
    if let Some(error) = unsendable(&hook.url) {
        return AttemptOutcome::Failed {
            status: None,
            error,
        };
    }
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
    // 0 (or less) is no client timeout.
    let timeout = u64::try_from(hook.timeout_seconds)
        .ok()
        .filter(|secs| *secs > 0)
        .map(Duration::from_secs);
    match shared.http.post(&hook.url, headers, body, timeout).await {
        Ok(answer) if answer.status().is_success() => AttemptOutcome::Delivered {
            status: answer.status().as_u16(),
        },
        Ok(answer) => {
            let status = answer.status().as_u16();
            let text = answer.text(MAX_RESPONSE).await;
            AttemptOutcome::Failed {
                status: Some(status),
                error: format!("HTTP {status}: {}", String::from_utf8_lossy(&text)),
            }
        }
        Err(err) => AttemptOutcome::Failed {
            status: None,
            error: format!("failed to send request: {}", err.go_message(&hook.url)),
        },
    }
}

/// Go's error for a URL its HTTP client cannot even try: one that does not
/// parse (`failed to create request: parse …`), or whose scheme it has no
/// transport for (a server in debug mode stores any URL).
fn unsendable(url: &str) -> Option<String> {
    let UrlCheck::Refused(why) = check_url(url) else {
        return None;
    };
    if let Some(parse) = why.strip_prefix("invalid URL: ") {
        return Some(format!("failed to create request: {parse}"));
    }
    let quoted = fluxbase_webhooks::client::go_quote(&mask_password(url, "***"));
    if let Some(scheme) = why.strip_prefix("URL scheme must be http or https, got: ") {
        return Some(format!(
            "failed to send request: Post {quoted}: unsupported protocol scheme {}",
            fluxbase_webhooks::client::go_quote(scheme)
        ));
    }
    if why == "URL must have a hostname" {
        return Some(format!(
            "failed to send request: Post {quoted}: http: no Host in request URL"
        ));
    }
    // Refused only by a production server's address rules: sendable.
    None
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use uuid::Uuid;

    use super::{AttemptOutcome, Backlog, MAX_LOG, push_bounded};

    #[test]
    fn logs_keep_the_newest_up_to_their_bound() {
        let mut log = VecDeque::new();
        for i in 0..MAX_LOG + 5 {
            push_bounded(&mut log, i, MAX_LOG);
            assert!(log.len() <= MAX_LOG);
        }
        assert_eq!(log.len(), MAX_LOG);
        // The oldest went first; the order is kept.
        assert_eq!(log.front(), Some(&5));
        assert_eq!(log.back(), Some(&(MAX_LOG + 4)));
        assert!(log.iter().zip(log.iter().skip(1)).all(|(a, b)| a + 1 == *b));
        let mut tiny = VecDeque::new();
        for i in 0..3 {
            push_bounded(&mut tiny, i, 2);
        }
        assert_eq!(tiny, [1, 2]);
        // A bound of 0 still keeps the newest.
        push_bounded(&mut tiny, 9, 0);
        assert_eq!(tiny, [9]);
    }

    #[test]
    fn parked_deliveries_leave_the_active_count() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut backlog = Backlog::default();
        backlog.add(a);
        backlog.add(a);
        backlog.add(b);
        backlog.park(a);
        backlog.park(a);
        assert_eq!((backlog.total(), backlog.active()), (3, 1));
        backlog.done(b);
        assert_eq!((backlog.total(), backlog.active()), (2, 0));
        backlog.unpark(a);
        backlog.unpark(a);
        assert_eq!((backlog.total(), backlog.active()), (2, 2));
        backlog.done(a);
        backlog.done(a);
        backlog.done(a);
        assert_eq!((backlog.total(), backlog.active()), (0, 0));
        // Nothing left of `a`: parking it does nothing, and its next
        // delivery counts.
        backlog.park(a);
        backlog.add(a);
        assert_eq!((backlog.total(), backlog.active()), (1, 1));
    }

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
