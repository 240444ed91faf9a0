//! `POST /api/v1/emulator/events`: fire an event (the emulator's own route).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fluxbase_webhooks::{Event, Timestamp};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, AppState, parse_body, reply};
use crate::delivery;

/// Accepts a row event (`{"event":"INSERT","table":"users","record":{…}}`,
/// `old_record` for UPDATE, `schema` defaulting to `auth` for `users` and
/// `public` otherwise), a documented event (`{"event":"user.created",
/// "data":{…}}`), or just a known name (`{"event":"UPDATE"}`) for its
/// sample. Answers 202 with the webhooks it was queued for.
pub(super) async fn trigger(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let mut input: serde_json::Map<String, Value> = parse_body(&headers, &body)?;
    let name = match input.get("event") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(ApiError::bad_request("event is required")),
    };
    let now = Timestamp::now();
    let has_content = ["table", "record", "old_record", "data"]
        .iter()
        .any(|k| input.contains_key(*k));
    if !has_content && Event::is_known_name(&name) {
        let fired = delivery::trigger_sample(&shared, &name)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        return answer(&fired);
    }
    let event = {
        if let Some(Value::String(table)) = input.get("table") {
            let schema = if table == "users" { "auth" } else { "public" };
            input
                .entry("schema")
                .or_insert_with(|| Value::String(schema.to_owned()));
            input.entry("record").or_insert(Value::Null);
        }
        input.insert("timestamp".to_owned(), Value::String(now.to_string()));
        let bytes = serde_json::to_vec(&input).map_err(|_| ApiError::invalid_body())?;
        Event::from_slice(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))?
    };
    if let Event::Unparsed { name, error, .. } = &event {
        return Err(ApiError::bad_request(format!(
            "`{name}` event does not fit its type: {error}"
        )));
    }
    let fired =
        delivery::trigger(&shared, event).map_err(|e| ApiError::bad_request(e.to_string()))?;
    answer(&fired)
}

/// 202 `{event, webhooks, warnings}`.
fn answer(fired: &crate::Triggered) -> ApiResult {
    reply(
        StatusCode::ACCEPTED,
        &json!({"event": fired.event, "webhooks": fired.webhooks, "warnings": fired.warnings}),
    )
}

/// `GET /api/v1/emulator/warnings` (the emulator's own route): every
/// production warning so far, oldest first, as
/// `[{code, message, webhook_id?, during, at}]`.
pub(super) async fn warnings(State(shared): State<AppState>) -> ApiResult {
    let state = shared.lock();
    let all: Vec<&crate::WarningRecord> = state.warnings.iter().collect();
    reply(StatusCode::OK, &all)
}
