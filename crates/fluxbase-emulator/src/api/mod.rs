//! The HTTP API: routes, error bodies, request bodies and authentication.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Flavor;
use crate::state::{Principal, Shared};

mod auth;
mod events;
mod invitations;
mod keys;
mod limits;
mod webhooks;

/// The route prefixes behind `RequireAuthOrServiceKey` (a fiber group
/// middleware: it runs before the router finds no route, so an unknown
/// path or method there is 401 without credentials).
fn behind_auth(flavor: Flavor, path: &str) -> bool {
    let roots: &[&str] = match flavor {
        Flavor::Server => &["/api/v1/webhooks", "/api/v1/client-keys"],
        Flavor::Documented => &[
            "/api/v1/webhooks",
            "/api/v1/client-keys",
            "/api/v1/api-keys",
        ],
    };
    roots.iter().any(|root| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

pub(crate) type AppState = Arc<Shared>;

/// The routes, for `shared`'s flavor. The server serves client keys at
/// `/api/v1/client-keys`; the documented flavor also at the first SDK's
/// `/api/v1/api-keys`.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let keys_roots: &[&str] = match shared.flavor() {
        Flavor::Server => &["/api/v1/client-keys"],
        Flavor::Documented => &["/api/v1/client-keys", "/api/v1/api-keys"],
    };
    let mut router = Router::new()
        .route("/api/v1/auth/signin", post(auth::sign_in))
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/api/v1/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/api/v1/admin/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route(
            "/api/v1/admin/invitations/{token}",
            delete(invitations::revoke),
        )
        .route(
            "/api/v1/invitations/{token}/validate",
            get(invitations::validate),
        )
        .route(
            "/api/v1/invitations/{token}/accept",
            post(invitations::accept),
        )
        .route("/api/v1/emulator/events", post(events::trigger))
        .route("/api/v1/emulator/warnings", get(events::warnings));
    for root in keys_roots {
        router = router
            .route(root, get(keys::list).post(keys::create))
            .route(
                &format!("{root}/{{id}}"),
                get(keys::get).patch(keys::update).delete(keys::delete),
            )
            .route(&format!("{root}/{{id}}/revoke"), post(keys::revoke));
    }
    if shared.config.admin_enabled {
        router = router.route("/api/v1/admin/login", post(auth::admin_login));
    }
    // Bodies are bounded per route by `limits::body_limit`; the largest
    // limit of a served route is the extractors' backstop.
    let backstop = usize::try_from(limits::MAX_SERVED_LIMIT).unwrap_or(usize::MAX);
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(backstop))
        .layer(middleware::from_fn(limits::body_limit))
        .layer(middleware::from_fn(request_id))
        .with_state(shared)
}

/// The global error handler's answer for a route that does not exist:
/// `{"error": "Cannot GET /x", "code": 404}` (a numeric code).
async fn unknown_route(
    State(shared): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if behind_auth(shared.flavor(), path)
        && let Err(e) = authenticate(&shared, &headers, uri.query())
    {
        return e.into_response();
    }
    ApiError::new(StatusCode::NOT_FOUND, format!("Cannot {method} {path}"))
        .with("code", json!(404))
        .into_response()
}

/// A route that exists for other methods: fiber's 405 through the global
/// error handler, `{"error": "Method Not Allowed", "code": 405}`.
async fn method_not_allowed(
    State(shared): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if behind_auth(shared.flavor(), uri.path())
        && let Err(e) = authenticate(&shared, &headers, uri.query())
    {
        return e.into_response();
    }
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        .with("code", json!(405))
        .into_response()
}

/// fiber's `requestid` middleware: every answer carries `X-Request-ID` (the
/// caller's when it sent a usable one, a new UUID otherwise), and the
/// `rest_errors.go` bodies carry it as `request_id`.
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let mut response = next.run(req).await;
    if let Some(RestError(mut body)) = response.extensions_mut().remove::<RestError>() {
        body.insert("request_id".to_owned(), Value::String(id.clone()));
        let status = response.status();
        response = (status, axum::Json(Value::Object(body))).into_response();
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// A `rest_errors.go` body, which gets the request id.
#[derive(Clone)]
struct RestError(Map<String, Value>);

/// An error answer: `{"error": …}` plus optional keys.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Map<String, Value>,
    /// A `rest_errors.go` answer (`SendErrorWithCode`): it carries the
    /// request id.
    rest: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::String(message.into()));
        Self {
            status,
            body,
            rest: false,
        }
    }

    /// A `rest_errors.go` answer: `{error, code, request_id}`.
    pub(crate) fn rest(status: StatusCode, message: impl Into<String>, code: &str) -> Self {
        let mut e = Self::new(status, message).code(code);
        e.rest = true;
        e
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub(crate) fn invalid_body() -> Self {
        Self::bad_request("Invalid request body")
    }

    /// Adds a key to the body.
    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.to_owned(), value);
        self
    }

    /// Adds a string `code`.
    pub(crate) fn code(self, code: &str) -> Self {
        self.with("code", Value::String(code.to_owned()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let marker = self.rest.then(|| RestError(self.body.clone()));
        let mut response = (self.status, axum::Json(Value::Object(self.body))).into_response();
        if let Some(marker) = marker {
            response.extensions_mut().insert(marker);
        }
        response
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON answer.
pub(crate) fn reply<T: Serialize>(status: StatusCode, body: &T) -> ApiResult {
    Ok((status, axum::Json(body)).into_response())
}

/// Reads a JSON body the way the server's framework does: it needs
/// `Content-Type: application/json`, ignores unknown keys, and matches
/// top-level keys case-insensitively. Anything else is 400
/// `Invalid request body`.
pub(crate) fn parse_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError::invalid_body());
    }
    let mut value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_body())?;
    if let Value::Object(map) = &mut value {
        fold_keys(map);
    }
    serde_json::from_value(value).map_err(|_| ApiError::invalid_body())
}

/// Renames `Name` to `name` & co. when `name` is not there already.
fn fold_keys(map: &mut Map<String, Value>) {
    let mixed: Vec<String> = map
        .keys()
        .filter(|k| k.chars().any(char::is_uppercase))
        .cloned()
        .collect();
    for key in mixed {
        let lower = key.to_lowercase();
        if !map.contains_key(&lower)
            && let Some(v) = map.remove(&key)
        {
            map.insert(lower, v);
        }
    }
}

/// Parses a path id, or answers 400 with `message`.
pub(crate) fn parse_id(raw: &str, message: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request(message))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Authentication for webhooks and client keys, in the server's order:
/// service key, Bearer token, client key (`RequireAuthOrServiceKey` in
/// `internal/middleware/clientkey_auth.go`).
fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Principal, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let authorization = header(headers, "authorization");
    let service = header(headers, "x-service-key")
        .or_else(|| authorization.and_then(|a| a.strip_prefix("ServiceKey ").map(str::trim)));
    if let Some(key) = service {
        // A JWT there is a service-role token; the emulator issues none.
        if key.starts_with("eyJ") {
            return Err(unauthorized("Invalid service role token"));
        }
        // `validateServiceKey`: `sk_`, at least 16 characters, then the hash.
        return if key.len() >= 16 && key.starts_with("sk_") && key == shared.config.service_key {
            Ok(Principal::Service {
                scopes: shared.config.service_key_scopes.clone(),
            })
        } else {
            Err(unauthorized("Invalid service key"))
        };
    }
    if let Some(token) = authorization.and_then(|a| a.strip_prefix("Bearer ")) {
        return shared
            .lock()
            .session(token.trim())
            .ok_or_else(|| unauthorized("Invalid or expired Bearer token"));
    }
    // `X-Client-Key` since the rename; the documented flavor, the older
    // server the first SDK spoke to, also reads `X-API-Key` and `?apikey=`.
    let key = header(headers, "x-client-key")
        .map(str::to_owned)
        .or_else(|| {
            (shared.flavor() == Flavor::Documented)
                .then(|| {
                    header(headers, "x-api-key").map(str::to_owned).or_else(|| {
                        query.and_then(|q| {
                            q.split('&')
                                .filter_map(|kv| kv.split_once('='))
                                .find(|(k, _)| *k == "apikey")
                                .map(|(_, v)| v.to_owned())
                        })
                    })
                })
                .flatten()
        });
    if let Some(key) = key {
        let mut state = shared.lock();
        let now = crate::state::now();
        // Unknown, revoked and expired keys all answer the same here.
        return match state.keys.iter_mut().find(|k| k.key == key) {
            Some(k) if k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now) => {
                k.last_used_at = Some(now);
                Ok(Principal::ClientKey {
                    scopes: k.scopes.clone(),
                    user_id: k.user_id,
                })
            }
            _ => Err(unauthorized("Invalid client key")),
        };
    }
    Err(unauthorized(
        "Authentication required. Provide Bearer token, X-Client-Key, or X-Service-Key",
    ))
}

/// The authenticated caller of a webhook or client-key route (service key,
/// Bearer token or client key).
pub(crate) struct Caller(Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, ApiError> {
        authenticate(shared, &parts.headers, parts.uri.query()).map(Caller)
    }
}

impl Caller {
    /// The caller, when it may use `scope`.
    pub(crate) fn with_scope(self, scope: &str) -> Result<Principal, ApiError> {
        require_scope(&self.0, scope)?;
        Ok(self.0)
    }
}

/// A dashboard administrator's session (invitation routes).
pub(crate) struct Admin(pub(crate) Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &AppState) -> Result<Self, ApiError> {
        authenticate_admin(shared, &parts.headers).map(Admin)
    }
}

/// `RequireScope`: client keys and service keys need the scope (or `*`);
/// tokens pass.
fn require_scope(principal: &Principal, scope: &str) -> Result<(), ApiError> {
    match principal {
        Principal::ClientKey { scopes, .. } | Principal::Service { scopes }
            if !scopes.iter().any(|s| s == scope || s == "*") =>
        {
            Err(
                ApiError::new(StatusCode::FORBIDDEN, "Insufficient permissions")
                    .with("required_scope", Value::String(scope.to_owned())),
            )
        }
        _ => Ok(()),
    }
}

/// Authentication for admin routes (`UnifiedAuthMiddleware` then
/// `RequireRole("admin", "dashboard_admin")`, `internal/api/auth_middleware.go`):
/// a token (Bearer prefix optional) whose role is `admin` or
/// `dashboard_admin`; keys are not accepted.
fn authenticate_admin(shared: &Shared, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let Some(raw) = header(headers, "authorization") else {
        return Err(ApiError::rest(
            StatusCode::UNAUTHORIZED,
            "Missing authentication",
            "MISSING_AUTHENTICATION",
        ));
    };
    let token = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
    let principal = shared.lock().session(token).ok_or_else(|| {
        ApiError::rest(
            StatusCode::UNAUTHORIZED,
            "Invalid or expired token",
            "INVALID_TOKEN",
        )
    })?;
    match &principal {
        Principal::Dashboard { role, .. } if role == "dashboard_admin" || role == "admin" => {
            Ok(principal)
        }
        _ => Err(ApiError::rest(
            StatusCode::FORBIDDEN,
            "Insufficient permissions",
            "INSUFFICIENT_PERMISSIONS",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_insensitively() {
        let mut map: Map<String, Value> =
            serde_json::from_str(r#"{"Name":"a","URL":"u","url":"keep","Events":[]}"#).unwrap();
        fold_keys(&mut map);
        assert_eq!(map["name"], "a");
        assert_eq!(map["url"], "keep");
        assert!(map.contains_key("events"));
    }

    #[test]
    fn bodies_need_the_json_content_type() {
        #[derive(serde::Deserialize)]
        struct B {
            #[allow(dead_code)]
            name: Option<String>,
        }
        let mut headers = HeaderMap::new();
        assert!(parse_body::<B>(&headers, b"{}").is_err());
        headers.insert(
            http::header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(parse_body::<B>(&headers, b"{}").is_ok());
        assert!(parse_body::<B>(&headers, b"").is_err());
        assert!(parse_body::<B>(&headers, b"{\"name\":5}").is_err());
    }
}
