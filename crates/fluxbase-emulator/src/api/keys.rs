//! `/api/v1/client-keys` (both flavors) and the first SDK's
//! `/api/v1/api-keys` (documented flavor).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use fluxbase_webhooks::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::webhooks::query_param;
use super::{ApiError, ApiResult, AppState, Caller, parse_body, parse_id, reply};
use crate::Flavor;
use crate::state::{KeyRecord, Principal, now, random_padded, rfc3339};

/// The scopes the server accepts (`internal/auth/scopes.go`).
pub(crate) const VALID_SCOPES: [&str; 26] = [
    "read:tables",
    "write:tables",
    "read:storage",
    "write:storage",
    "read:functions",
    "execute:functions",
    "read:auth",
    "write:auth",
    "read:clientkeys",
    "write:clientkeys",
    "read:webhooks",
    "write:webhooks",
    "read:monitoring",
    "realtime:connect",
    "realtime:broadcast",
    "read:rpc",
    "execute:rpc",
    "read:jobs",
    "write:jobs",
    "read:ai",
    "write:ai",
    "read:secrets",
    "write:secrets",
    "migrations:read",
    "migrations:execute",
    "*",
];

#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    rate_limit_per_minute: Option<i64>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct UpdateInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    rate_limit_per_minute: Option<i64>,
}

/// The server's `ClientKey` (the documentation's `APIKey` has the same
/// fields).
#[derive(Serialize)]
struct KeyOut<'a> {
    id: String,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    key_prefix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    scopes: &'a [String],
    rate_limit_per_minute: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
    created_at: String,
    updated_at: String,
}

fn render(k: &KeyRecord) -> Value {
    serde_json::to_value(KeyOut {
        id: k.id.to_string(),
        name: &k.name,
        description: k.description.as_deref(),
        key_prefix: &k.key_prefix,
        user_id: k.user_id.map(|u| u.to_string()),
        scopes: &k.scopes,
        rate_limit_per_minute: k.rate_limit_per_minute,
        last_used_at: k.last_used_at.map(rfc3339),
        expires_at: k.expires_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
        created_at: rfc3339(k.created_at),
        updated_at: rfc3339(k.updated_at),
    })
    .unwrap_or(Value::Null)
}

fn invalid_scopes(scopes: &[String]) -> Option<String> {
    let bad: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !VALID_SCOPES.contains(s))
        .collect();
    (!bad.is_empty()).then(|| format!("invalid scopes: invalid scopes: {}", bad.join(", ")))
}

fn key_id(raw: &str) -> Result<Uuid, ApiError> {
    parse_id(raw, "Invalid client key ID")
}

/// The documented flavor's names: `api_key`/`API key` on the first SDK's
/// `/api-keys`, `client_key`/`Client key` on the current SDK's
/// `/client-keys`.
struct Names {
    one: &'static str,
    many: &'static str,
    title: &'static str,
}

fn names(uri: &Uri) -> Names {
    if uri.path().starts_with("/api/v1/api-keys") {
        Names {
            one: "api_key",
            many: "api_keys",
            title: "API key",
        }
    } else {
        Names {
            one: "client_key",
            many: "client_keys",
            title: "Client key",
        }
    }
}

fn not_found(flavor: Flavor, uri: &Uri, action: &str) -> ApiError {
    match flavor {
        Flavor::Server => ApiError::internal(format!(
            "Failed to {action} client key: client key not found"
        )),
        Flavor::Documented => ApiError::not_found(format!("{} not found", names(uri).title)),
    }
}

/// `POST`: a flat object plus `key` (server), `{api_key, key}` or
/// `{client_key, key}` (documented).
pub(super) async fn create(
    State(shared): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let principal = caller.with_scope("write:clientkeys")?;
    let flavor = shared.flavor();
    let input: CreateInput = parse_body(&headers, &body)?;
    let name = input.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    let scopes = input.scopes.unwrap_or_default();
    if flavor == Flavor::Server {
        // `ValidateScopes` (internal/auth/scopes.go), wrapped by
        // `GenerateClientKey` and the handler.
        if scopes.is_empty() {
            return Err(ApiError::internal(
                "Failed to create client key: invalid scopes: at least one scope must be specified",
            ));
        }
        if let Some(msg) = invalid_scopes(&scopes) {
            return Err(ApiError::internal(format!(
                "Failed to create client key: {msg}"
            )));
        }
    }
    let key = match flavor {
        Flavor::Server => format!("fbk_{}", random_padded(32)),
        Flavor::Documented => format!("fb_live_{}", super::super::state::random_token(32)),
    };
    let created = now();
    let record = KeyRecord {
        id: Uuid::new_v4(),
        name,
        description: input.description,
        key_prefix: key.chars().take(12).collect(),
        key: key.clone(),
        // The server never records the owner of a key created with a user
        // token (its handler expects a UUID where the token holds a string).
        user_id: match (flavor, &principal) {
            (Flavor::Server, Principal::ClientKey { user_id, .. }) => *user_id,
            (Flavor::Server, _) => None,
            (Flavor::Documented, p) => p.user_id(),
        },
        scopes,
        rate_limit_per_minute: match input.rate_limit_per_minute {
            None | Some(0) => 100,
            Some(n) => n,
        },
        last_used_at: None,
        expires_at: input.expires_at.map(|t| t.to_offset_date_time()),
        revoked_at: None,
        created_at: created,
        updated_at: created,
    };
    let rendered = render(&record);
    shared.lock().keys.push(record);
    match flavor {
        Flavor::Server => {
            let mut flat = rendered;
            if let Some(obj) = flat.as_object_mut() {
                obj.insert("key".to_owned(), Value::String(key));
            }
            reply(StatusCode::CREATED, &flat)
        }
        Flavor::Documented => reply(
            StatusCode::CREATED,
            &json!({names(&uri).one: rendered, "key": key}),
        ),
    }
}

/// `GET`: a bare array or `null` (server), `{api_keys, total}` or
/// `{client_keys, total}` (documented).
pub(super) async fn list(
    State(shared): State<AppState>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let principal = caller.with_scope("read:clientkeys")?;
    let wanted = match query_param(q.as_deref(), "user_id") {
        Some(raw) => {
            Some(Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("Invalid user ID"))?)
        }
        None => None,
    };
    if let Some(other) = wanted
        && !principal.is_admin()
        && principal.user_id() != Some(other)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Cannot view other users' client keys",
        ));
    }
    let owner = wanted.or_else(|| principal.user_id());
    let state = shared.lock();
    let items: Vec<Value> = state
        .keys
        .iter()
        .rev()
        .filter(|k| match owner {
            _ if principal.is_admin() && wanted.is_none() => true,
            Some(owner) => k.user_id == Some(owner),
            None => false,
        })
        .map(render)
        .collect();
    match shared.flavor() {
        Flavor::Server if items.is_empty() => Ok(axum::Json(Value::Null).into_response()),
        Flavor::Server => reply(StatusCode::OK, &items),
        Flavor::Documented => {
            let total = items.len();
            reply(
                StatusCode::OK,
                &json!({names(&uri).many: items, "total": total}),
            )
        }
    }
}

/// `GET /{id}`.
pub(super) async fn get(
    State(shared): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("read:clientkeys")?;
    let id = key_id(&id)?;
    let state = shared.lock();
    let key = state
        .keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found("Client key not found"))?;
    reply(StatusCode::OK, &render(key))
}

/// `PATCH /{id}`: partial; `{success, message}` (server) or the key.
pub(super) async fn update(
    State(shared): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.with_scope("write:clientkeys")?;
    let id = key_id(&id)?;
    let flavor = shared.flavor();
    let input: UpdateInput = parse_body(&headers, &body)?;
    if flavor == Flavor::Server
        && let Some(msg) = input.scopes.as_deref().and_then(invalid_scopes)
    {
        return Err(ApiError::internal(format!(
            "Failed to update client key: {msg}"
        )));
    }
    let mut state = shared.lock();
    let key = state
        .keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| not_found(flavor, &uri, "update"))?;
    if let Some(v) = input.name {
        key.name = v;
    }
    if let Some(v) = input.description {
        key.description = Some(v);
    }
    if let Some(v) = input.scopes {
        key.scopes = v;
    }
    if let Some(v) = input.rate_limit_per_minute {
        key.rate_limit_per_minute = v;
    }
    key.updated_at = now();
    match flavor {
        Flavor::Server => reply(
            StatusCode::OK,
            &json!({"success": true, "message": "Client key updated successfully"}),
        ),
        Flavor::Documented => reply(StatusCode::OK, &render(key)),
    }
}

/// `POST /{id}/revoke`: the key stops working and stays listed.
pub(super) async fn revoke(
    State(shared): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("write:clientkeys")?;
    let id = key_id(&id)?;
    let flavor = shared.flavor();
    let mut state = shared.lock();
    let key = state
        .keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| not_found(flavor, &uri, "revoke"))?;
    key.revoked_at = Some(now());
    match flavor {
        Flavor::Server => reply(
            StatusCode::OK,
            &json!({"success": true, "message": "Client key revoked successfully"}),
        ),
        Flavor::Documented => reply(
            StatusCode::OK,
            &json!({"message": format!("{} revoked successfully", names(&uri).title)}),
        ),
    }
}

/// `DELETE /{id}`: 204 with no body (server), `{message}` (documented).
pub(super) async fn delete(
    State(shared): State<AppState>,
    caller: Caller,
    uri: Uri,
    Path(id): Path<String>,
) -> ApiResult {
    caller.with_scope("write:clientkeys")?;
    let id = key_id(&id)?;
    let flavor = shared.flavor();
    let mut state = shared.lock();
    let before = state.keys.len();
    state.keys.retain(|k| k.id != id);
    if state.keys.len() == before {
        return Err(not_found(flavor, &uri, "delete"));
    }
    match flavor {
        Flavor::Server => Ok(StatusCode::NO_CONTENT.into_response()),
        Flavor::Documented => reply(
            StatusCode::OK,
            &json!({"message": format!("{} deleted successfully", names(&uri).title)}),
        ),
    }
}
