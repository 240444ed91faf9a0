//! `/api/v1/webhooks`: create, list, get, update, delete, test, deliveries.

use std::collections::{BTreeMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use fluxbase_webhooks::client::WebhookSettings;

use super::{ApiError, ApiResult, AppState, Caller, parse_body, parse_id, reply};
use crate::delivery::{AttemptOutcome, send_test};
use crate::redact::SafeUrl;
use crate::state::{DeliveryRecord, Subscription, WebhookRecord, now, rfc3339};
use crate::{Flavor, delivery, policy, triggers, warnings};

/// A webhook request body, in either dialect.
#[derive(Deserialize, Default)]
struct WebhookInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    events: Option<Vec<EventInput>>,
    #[serde(default)]
    max_retries: Option<i64>,
    #[serde(default)]
    retry_backoff_seconds: Option<i64>,
    #[serde(default)]
    timeout_seconds: Option<i64>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EventInput {
    Named(String),
    Rows {
        #[serde(default)]
        table: Option<String>,
        #[serde(default)]
        operations: Option<Vec<String>>,
    },
}

impl WebhookInput {
    /// The subscriptions; the server's body type has no room for strings.
    /// `enabled` as the flavor reads it: the server knows only `enabled`;
    /// the documented API also takes `is_active`, first.
    fn enabled_sent(&self, flavor: Flavor) -> Option<bool> {
        match flavor {
            Flavor::Server => self.enabled,
            Flavor::Documented => self.is_active.or(self.enabled),
        }
    }

    fn subscriptions(&mut self, flavor: Flavor) -> Result<Option<Vec<Subscription>>, ApiError> {
        let Some(events) = self.events.take() else {
            return Ok(None);
        };
        events
            .into_iter()
            .map(|e| match e {
                EventInput::Named(_) if flavor == Flavor::Server => Err(ApiError::invalid_body()),
                EventInput::Named(name) => Ok(Subscription::Named(name)),
                EventInput::Rows { table, operations } => Ok(Subscription::Rows {
                    table: table.unwrap_or_default(),
                    operations,
                }),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// The URL check of a create or update: the server mode's in the server
/// flavor (500 `invalid webhook URL: …`), and the scheme and host in the
/// documented flavor (400).
async fn check_url(shared: &crate::state::Shared, url: &str) -> Result<(), ApiError> {
    let mode = shared.config.server_mode;
    let refused = match shared.flavor() {
        Flavor::Server => policy::check_webhook_url(mode, url).await.err(),
        Flavor::Documented => match policy::documented_url_error(url) {
            Some(why) => Some(why),
            None => policy::check_webhook_url(mode, url).await.err(),
        },
    };
    match (refused, shared.flavor()) {
        (None, _) => Ok(()),
        (Some(why), Flavor::Server) => {
            Err(ApiError::internal(format!("invalid webhook URL: {why}")))
        }
        (Some(why), Flavor::Documented) => {
            Err(ApiError::bad_request(format!("invalid webhook URL: {why}")))
        }
    }
}

/// The retry settings as the `INTEGER` columns take them: pgx refuses what
/// does not fit (500 `failed to <action> webhook: failed to encode
/// args[N]: …`; the documented flavor answers 400).
fn check_int4(flavor: Flavor, action: &str, w: &WebhookRecord) -> Result<(), ApiError> {
    let columns = [
        (6, w.max_retries),
        (7, w.retry_backoff_seconds),
        (8, w.timeout_seconds),
    ];
    match columns
        .iter()
        .find_map(|(index, value)| policy::int4_error(*index, *value))
    {
        None => Ok(()),
        Some(why) => Err(match flavor {
            Flavor::Server => ApiError::internal(format!("failed to {action} webhook: {why}")),
            Flavor::Documented => ApiError::bad_request(why),
        }),
    }
}

/// The lint of what was sent, with omitted values as they were omitted.
fn settings(
    flavor: Flavor,
    input: &WebhookInput,
    url: &str,
    events: Option<&[Subscription]>,
    update: bool,
) -> WebhookSettings {
    let mut s = if update {
        WebhookSettings::update(url)
    } else {
        WebhookSettings::create(url)
    };
    if let Some(enabled) = input.enabled_sent(flavor) {
        s = s.enabled(enabled);
    }
    s = s.signed(input.secret.as_deref().is_some_and(|k| !k.is_empty()));
    if let Some(events) = events {
        s = s.events(events.iter().map(Subscription::filter));
    }
    if let Some(n) = input.max_retries {
        s = s.max_retries(n);
    }
    if let Some(n) = input.retry_backoff_seconds {
        s = s.retry_backoff_seconds(n);
    }
    if let Some(n) = input.timeout_seconds {
        s = s.timeout_seconds(n);
    }
    s
}

/// Records the warnings of a create or update, and the trigger failures the
/// server only logs.
fn warn(
    state: &mut crate::state::State,
    id: Uuid,
    during: &'static str,
    settings: &WebhookSettings,
    trigger_failures: Vec<String>,
) {
    use fluxbase_webhooks::client::{Warning, WarningCode};
    let failures = trigger_failures.into_iter().map(|f| {
        Warning::new(
            WarningCode::NotAnAuthTable,
            format!("the server logs \"Failed to create triggers for webhook\" and goes on: {f}"),
        )
    });
    let all: Vec<Warning> = settings.warnings().into_iter().chain(failures).collect();
    warnings::record(state, Some(id), during, all);
}

/// Checks custom headers as the server does.
pub(crate) fn validate_headers(headers: &BTreeMap<String, String>) -> Result<(), String> {
    const BLOCKED: [&str; 8] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailers",
        "upgrade",
    ];
    for (name, value) in headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(format!("header {name:?} contains CR or LF"));
        }
        let lower = name.to_ascii_lowercase();
        if BLOCKED.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(format!("header {name:?} is not allowed"));
        }
        if value.len() > 8192 {
            return Err(format!("header {name:?} value exceeds 8192 bytes"));
        }
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            return Err(format!("header {name:?} is not a valid HTTP header"));
        }
    }
    Ok(())
}

/// A subscription as answered.
struct EventOut<'a>(&'a Subscription);

impl Serialize for EventOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Subscription::Named(name) => s.serialize_str(name),
            Subscription::Rows { table, operations } => {
                #[derive(Serialize)]
                struct Rows<'a> {
                    table: &'a str,
                    operations: &'a Option<Vec<String>>,
                }
                Rows { table, operations }.serialize(s)
            }
        }
    }
}

/// The server's `WebhookResponse`, keys in its order; no secret.
#[derive(Serialize)]
struct ServerWebhook<'a> {
    id: String,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    url: &'a str,
    enabled: bool,
    events: Option<Vec<EventOut<'a>>>,
    max_retries: i64,
    retry_backoff_seconds: i64,
    timeout_seconds: i64,
    headers: &'a Option<BTreeMap<String, String>>,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    created_at: String,
    updated_at: String,
}

/// The documentation's `Webhook`.
#[derive(Serialize)]
struct DocumentedWebhook<'a> {
    id: String,
    url: &'a str,
    events: Vec<EventOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    is_active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    created_at: String,
    updated_at: String,
}

fn render(w: &WebhookRecord, flavor: Flavor) -> Value {
    let events = w
        .events
        .as_ref()
        .map(|e| e.iter().map(EventOut).collect::<Vec<_>>());
    let rendered = match flavor {
        Flavor::Server => serde_json::to_value(ServerWebhook {
            id: w.id.to_string(),
            name: &w.name,
            description: w.description.as_deref(),
            url: &w.url,
            enabled: w.enabled,
            events,
            max_retries: w.max_retries,
            retry_backoff_seconds: w.retry_backoff_seconds,
            timeout_seconds: w.timeout_seconds,
            headers: &w.headers,
            scope: &w.scope,
            created_by: w.created_by.map(|u| u.to_string()),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }),
        Flavor::Documented => serde_json::to_value(DocumentedWebhook {
            id: w.id.to_string(),
            url: &w.url,
            events: events.unwrap_or_default(),
            description: w.description.as_deref(),
            is_active: w.enabled,
            user_id: w.created_by.map(|u| u.to_string()),
            secret: w.secret.as_deref().filter(|s| !s.is_empty()),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }),
    };
    rendered.unwrap_or(Value::Null)
}

fn default_if_zero(v: Option<i64>, default: i64) -> i64 {
    match v {
        None | Some(0) => default,
        Some(n) => n,
    }
}

/// `GET /api/v1/webhooks`: a bare array (server) or `{webhooks, total}`.
pub(super) async fn list(State(shared): State<AppState>, caller: Caller) -> ApiResult {
    caller.with_scope("read:webhooks")?;
    let flavor = shared.flavor();
    let state = shared.lock();
    let items: Vec<Value> = state
        .webhooks
        .iter()
        .rev()
        .map(|w| render(w, flavor))
        .collect();
    match flavor {
        Flavor::Server => reply(StatusCode::OK, &items),
        Flavor::Documented => {
            let total = items.len();
            reply(StatusCode::OK, &json!({"webhooks": items, "total": total}))
        }
    }
}

/// `POST /api/v1/webhooks` (`CreateWebhook` in
/// `internal/api/webhook_handler.go`, `WebhookService.Create`).
pub(super) async fn create(
    State(shared): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let principal = caller.with_scope("write:webhooks")?;
    let flavor = shared.flavor();
    let mut input: WebhookInput = parse_body(&headers, &body)?;
    let events = input.subscriptions(flavor)?;
    let url = input.url.clone().unwrap_or_default();
    let name = input.name.take().unwrap_or_default();
    // The server answers 500 for what its service layer refuses; the
    // documentation's server would say 400.
    let refused = |msg: String| match flavor {
        Flavor::Server => ApiError::internal(msg),
        Flavor::Documented => ApiError::bad_request(msg),
    };
    let name = match (flavor, name.is_empty()) {
        (Flavor::Server, true) => return Err(ApiError::bad_request("Name is required")),
        (Flavor::Documented, true) => url.clone(),
        (_, false) => name,
    };
    if url.is_empty() {
        return Err(ApiError::bad_request("URL is required"));
    }
    check_url(&shared, &url).await?;
    let custom = input.headers.take().unwrap_or_default();
    validate_headers(&custom).map_err(|e| refused(format!("invalid webhook headers: {e}")))?;
    let scope = match input.scope.take().unwrap_or_default().as_str() {
        "" => "user".to_owned(),
        s @ ("user" | "global") => s.to_owned(),
        _ => {
            return Err(refused(
                "failed to create webhook: ERROR: new row for relation \"webhooks\" violates \
                 check constraint \"webhooks_scope_check\" (SQLSTATE 23514)"
                    .to_owned(),
            ));
        }
    };
    // The server: Go's zero value, created disabled unless told otherwise.
    let enabled = input
        .enabled_sent(flavor)
        .unwrap_or(flavor == Flavor::Documented);
    let lint = settings(flavor, &input, &url, events.as_deref(), false);
    let created = now();
    let record = WebhookRecord {
        id: Uuid::new_v4(),
        name,
        description: input.description.take(),
        url,
        secret: input.secret.take(),
        enabled,
        // The server stores what it got: omitted events are `null`.
        events: match flavor {
            Flavor::Server => events,
            Flavor::Documented => Some(events.unwrap_or_default()),
        },
        max_retries: default_if_zero(input.max_retries, 3),
        retry_backoff_seconds: default_if_zero(input.retry_backoff_seconds, 5),
        timeout_seconds: default_if_zero(input.timeout_seconds, 30),
        headers: Some(custom),
        scope,
        created_by: principal.created_by(),
        created_at: created,
        updated_at: created,
    };
    check_int4(flavor, "create", &record)?;
    let rendered = render(&record, flavor);
    tracing::info!(webhook = %record.id, url = %SafeUrl(&record.url), enabled, "webhook created");
    let mut state = shared.lock();
    // Triggers for an enabled webhook; a failure is only logged.
    let failures = if flavor == Flavor::Server && record.enabled {
        triggers::manage(&mut state, record.events.as_deref())
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    warn(&mut state, record.id, "create", &lint, failures);
    state.webhooks.push(record);
    drop(state);
    reply(StatusCode::CREATED, &rendered)
}

fn webhook_id(raw: &str) -> Result<Uuid, ApiError> {
    parse_id(raw, "Invalid webhook ID")
}

/// `GET /api/v1/webhooks/{id}`.
pub(super) async fn get(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("read:webhooks")?;
    let id = webhook_id(&id)?;
    let state = shared.lock();
    let hook = state
        .webhook(id)
        .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
    reply(StatusCode::OK, &render(hook, shared.flavor()))
}

/// `PATCH /api/v1/webhooks/{id}`: full replacement answering a message
/// (server), or a partial update answering the webhook (documented).
pub(super) async fn update(
    State(shared): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.with_scope("write:webhooks")?;
    let id = webhook_id(&id)?;
    let flavor = shared.flavor();
    let mut input: WebhookInput = parse_body(&headers, &body)?;
    let events = input.subscriptions(flavor)?;
    match flavor {
        Flavor::Server => {
            let url = input.url.clone().unwrap_or_default();
            check_url(&shared, &url).await?;
            if let Some(h) = &input.headers {
                validate_headers(h)
                    .map_err(|e| ApiError::internal(format!("invalid webhook headers: {e}")))?;
            }
            let scope = input.scope.take().filter(|s| !s.is_empty());
            if scope
                .as_deref()
                .is_some_and(|s| s != "user" && s != "global")
            {
                return Err(ApiError::internal(
                    "failed to update webhook: ERROR: new row for relation \"webhooks\" violates \
                     check constraint \"webhooks_scope_check\" (SQLSTATE 23514)",
                ));
            }
            let lint = settings(Flavor::Server, &input, &url, events.as_deref(), true);
            let mut state = shared.lock();
            let old = state
                .webhooks
                .iter()
                .find(|w| w.id == id)
                .cloned()
                .ok_or_else(|| ApiError::internal("webhook not found"))?;
            // Every column is overwritten; no defaults are applied.
            let mut new = old.clone();
            new.name = input.name.take().unwrap_or_default();
            new.description = input.description.take();
            new.url = url;
            new.secret = input.secret.take();
            new.enabled = input.enabled_sent(Flavor::Server).unwrap_or(false);
            new.events = events;
            new.max_retries = input.max_retries.unwrap_or(0);
            new.retry_backoff_seconds = input.retry_backoff_seconds.unwrap_or(0);
            new.timeout_seconds = input.timeout_seconds.unwrap_or(0);
            new.headers = input.headers.take();
            new.scope = scope.unwrap_or_else(|| "user".to_owned());
            new.updated_at = now();
            check_int4(flavor, "update", &new)?;
            let failures = triggers::on_update(&mut state, &old, &new);
            let lint = lint.was_enabled(old.enabled);
            warn(&mut state, id, "update", &lint, failures);
            tracing::info!(webhook = %id, url = %SafeUrl(&new.url), enabled = new.enabled, "webhook updated");
            if let Some(hook) = state.webhooks.iter_mut().find(|w| w.id == id) {
                *hook = new;
            }
            delivery::webhook_changed(&shared, &mut state, id);
            drop(state);
            reply(
                StatusCode::OK,
                &json!({"message": "Webhook updated successfully"}),
            )
        }
        Flavor::Documented => {
            if let Some(url) = &input.url {
                check_url(&shared, url).await?;
            }
            if let Some(h) = &input.headers {
                validate_headers(h)
                    .map_err(|e| ApiError::bad_request(format!("invalid webhook headers: {e}")))?;
            }
            let scope = input.scope.take().filter(|s| !s.is_empty());
            if scope
                .as_deref()
                .is_some_and(|s| s != "user" && s != "global")
            {
                return Err(ApiError::bad_request("invalid scope"));
            }
            let mut state = shared.lock();
            let hook = state
                .webhooks
                .iter_mut()
                .find(|w| w.id == id)
                .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
            if let Some(v) = input.name.take().filter(|n| !n.is_empty()) {
                hook.name = v;
            }
            if let Some(v) = input.description.take() {
                hook.description = Some(v);
            }
            if let Some(v) = input.url.take() {
                hook.url = v;
            }
            if let Some(v) = input.secret.take() {
                hook.secret = Some(v);
            }
            if let Some(v) = input.enabled_sent(Flavor::Documented) {
                hook.enabled = v;
            }
            if let Some(v) = events {
                hook.events = Some(v);
            }
            if let Some(v) = input.max_retries.filter(|n| *n > 0) {
                hook.max_retries = v;
            }
            if let Some(v) = input.retry_backoff_seconds.filter(|n| *n > 0) {
                hook.retry_backoff_seconds = v;
            }
            if let Some(v) = input.timeout_seconds.filter(|n| *n > 0) {
                hook.timeout_seconds = v;
            }
            if let Some(v) = input.headers.take() {
                hook.headers = Some(v);
            }
            if let Some(v) = scope {
                hook.scope = v;
            }
            hook.updated_at = now();
            let rendered = render(hook, flavor);
            // What a real server would make of the webhook as it now is.
            let lint = WebhookSettings::update(&hook.url)
                .enabled(hook.enabled)
                .signed(hook.secret.as_deref().is_some_and(|k| !k.is_empty()))
                .events(hook.events.iter().flatten().map(Subscription::filter))
                .max_retries(hook.max_retries)
                .retry_backoff_seconds(hook.retry_backoff_seconds)
                .timeout_seconds(hook.timeout_seconds);
            warn(&mut state, id, "update", &lint, Vec::new());
            delivery::webhook_changed(&shared, &mut state, id);
            drop(state);
            reply(StatusCode::OK, &rendered)
        }
    }
}

/// `DELETE /api/v1/webhooks/{id}`.
pub(super) async fn delete(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("write:webhooks")?;
    let id = webhook_id(&id)?;
    let mut state = shared.lock();
    let Some(index) = state.webhooks.iter().position(|w| w.id == id) else {
        return Err(match shared.flavor() {
            Flavor::Server => ApiError::internal("webhook not found"),
            Flavor::Documented => ApiError::not_found("Webhook not found"),
        });
    };
    let gone = state.webhooks.remove(index);
    if gone.enabled {
        triggers::cleanup(&mut state, gone.events.as_deref());
    }
    state.deliveries.retain(|d| d.webhook_id != id);
    // Closing the queue lets its worker finish what is queued and stop:
    // each of its deliveries ends, the one waiting at once.
    state.queues.remove(&id);
    delivery::webhook_changed(&shared, &mut state, id);
    reply(
        StatusCode::OK,
        &json!({"message": "Webhook deleted successfully"}),
    )
}

/// `POST /api/v1/webhooks/{id}/test`: one synchronous delivery, even when
/// the webhook is disabled, not logged.
pub(super) async fn test(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("write:webhooks")?;
    let id = webhook_id(&id)?;
    let hook = shared
        .lock()
        .webhook(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
    let outcome = send_test(&shared, &hook).await;
    tracing::info!(webhook = %id, url = %SafeUrl(&hook.url), delivered = outcome.is_delivered(), "test delivery");
    let response_body = outcome.response_body().map(str::to_owned);
    match (shared.flavor(), outcome) {
        (Flavor::Server, AttemptOutcome::Delivered { .. }) => reply(
            StatusCode::OK,
            &json!({"message": "Test webhook sent successfully"}),
        ),
        (Flavor::Server, AttemptOutcome::Failed { error, .. }) => Err(ApiError::internal(error)),
        (Flavor::Documented, AttemptOutcome::Delivered { status }) => reply(
            StatusCode::OK,
            &json!({"success": true, "status_code": status}),
        ),
        (Flavor::Documented, AttemptOutcome::Failed { status, error }) => reply(
            StatusCode::OK,
            &json!({
                "success": false,
                "status_code": status,
                "response_body": response_body,
                "error": error,
            }),
        ),
    }
}

/// The value of `key` in a raw query string (no percent-decoding needed
/// for the numbers and booleans read here).
pub(super) fn query_param<'a>(raw: Option<&'a str>, key: &str) -> Option<&'a str> {
    raw?.split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn render_delivery(d: &DeliveryRecord, flavor: Flavor) -> Value {
    let mut v = json!({
        "id": d.id.to_string(),
        "webhook_id": d.webhook_id.to_string(),
        "event": d.event,
        "payload": d.payload,
    });
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    match flavor {
        Flavor::Server => {
            obj.insert("status".to_owned(), json!(d.status));
            // The server records 200 on success and 0 on failure, whatever
            // the endpoint answered.
            match d.status {
                "success" => {
                    obj.insert("status_code".to_owned(), json!(200));
                }
                "failed" => {
                    obj.insert("status_code".to_owned(), json!(0));
                }
                _ => {}
            }
            if let Some(e) = &d.error {
                obj.insert("error".to_owned(), json!(e));
            }
            obj.insert("attempt".to_owned(), json!(d.attempt));
        }
        Flavor::Documented => {
            obj.insert("status_code".to_owned(), json!(d.http_status));
            obj.insert("response_body".to_owned(), json!(d.response_body));
            obj.insert("error".to_owned(), json!(d.error));
        }
    }
    if let Some(at) = d.delivered_at {
        obj.insert("delivered_at".to_owned(), json!(rfc3339(at)));
    }
    obj.insert("created_at".to_owned(), json!(rfc3339(d.created_at)));
    v
}

/// `GET /api/v1/webhooks/{id}/deliveries?limit=N`: newest first; `null`
/// when empty or unknown (server), `{deliveries}` (documented).
pub(super) async fn deliveries(
    State(shared): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("read:webhooks")?;
    let id = webhook_id(&id)?;
    let flavor = shared.flavor();
    let limit = match query_param(q.as_deref(), "limit").map(str::parse::<i64>) {
        // Postgres refuses it (`ListDeliveries`), for any id.
        Some(Ok(n)) if n < 0 => {
            return Err(match flavor {
                Flavor::Server => ApiError::internal(
                    "failed to list deliveries: ERROR: LIMIT must not be negative (SQLSTATE 2201W)",
                ),
                Flavor::Documented => ApiError::bad_request("limit must not be negative"),
            });
        }
        Some(Ok(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        // Missing or not a number: the default.
        _ => 50,
    };
    let state = shared.lock();
    if flavor == Flavor::Documented && state.webhook(id).is_none() {
        return Err(ApiError::not_found("Webhook not found"));
    }
    let items = deliveries_of(&state.deliveries, id, limit, flavor);
    match flavor {
        Flavor::Server if items.is_empty() => Ok(axum::Json(Value::Null).into_response()),
        Flavor::Server => reply(StatusCode::OK, &items),
        Flavor::Documented => reply(StatusCode::OK, &json!({"deliveries": items})),
    }
}

fn deliveries_of(
    all: &VecDeque<DeliveryRecord>,
    id: Uuid,
    limit: usize,
    flavor: Flavor,
) -> Vec<Value> {
    all.iter()
        .rev()
        .filter(|d| d.webhook_id == id)
        .take(limit)
        .map(|d| render_delivery(d, flavor))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_as_the_server_checks_them() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(validate_headers(&one("X-Env", "dev")).is_ok());
        for (k, v) in [
            ("Host", "x"),
            ("content-length", "1"),
            ("Proxy-Authorization", "x"),
            ("X-A", "a\r\nb"),
            ("bad name", "x"),
        ] {
            assert!(validate_headers(&one(k, v)).is_err(), "{k}");
        }
        assert!(validate_headers(&one("X-Big", &"a".repeat(8193))).is_err());
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("limit=5&x=1"), "limit"), Some("5"));
        assert_eq!(query_param(Some("x"), "x"), Some(""));
        assert_eq!(query_param(None, "limit"), None);
    }
}
