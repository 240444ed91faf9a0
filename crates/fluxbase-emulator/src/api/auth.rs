//! `POST /api/v1/auth/signin` and `POST /api/v1/admin/login`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, AppState, parse_body, reply};
use crate::state::{DASHBOARD_TOKEN_TTL, DashboardUser, Principal, rfc3339};

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// App-user sign-in; a two-factor user gets `requires_2fa` instead.
pub(super) async fn sign_in(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let login: Login = parse_body(&headers, &body)?;
    let (Some(email), Some(password)) = (
        login.email.filter(|e| !e.is_empty()),
        login.password.filter(|p| !p.is_empty()),
    ) else {
        return Err(ApiError::bad_request("Email and password are required"));
    };
    let mut state = shared.lock();
    let Some(user) = state
        .users
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(&email) && u.password == password)
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid email or password",
        ));
    };
    let id = user.id;
    if user.two_factor {
        return reply(
            StatusCode::OK,
            &json!({
                "requires_2fa": true,
                "user_id": id.to_string(),
                "message": "Two-factor authentication required",
            }),
        );
    }
    let user_json = json!({
        "id": id.to_string(),
        "email": user.email,
        "email_verified": true,
        "role": "authenticated",
        "user_metadata": {},
        "app_metadata": {},
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.created_at),
    });
    // The token lives `auth.jwt_expiry`, which sign-in answers as
    // `expires_in` (`SignIn`, internal/api/auth_handler.go).
    let ttl = shared.config.jwt_expiry;
    let (access, refresh) = state.issue_tokens(Principal::AppUser { id }, ttl);
    reply(
        StatusCode::OK,
        &json!({
            "user": user_json,
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": ttl.as_secs(),
        }),
    )
}

/// Dashboard login; only `dashboard_admin` accounts may log in
/// (`AdminLogin`, internal/api/admin_auth_handler.go: `rest_errors.go`
/// bodies with codes and the request id).
pub(super) async fn admin_login(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let login: Login = parse_body(&headers, &body).map_err(|_| {
        ApiError::rest(
            StatusCode::BAD_REQUEST,
            "Invalid request body",
            "INVALID_REQUEST_BODY",
        )
    })?;
    let email = login.email.unwrap_or_default();
    let password = login.password.unwrap_or_default();
    let mut state = shared.lock();
    let Some(user) = state
        .dashboard
        .iter()
        .find(|u| u.email.eq_ignore_ascii_case(&email) && u.password == password)
    else {
        return Err(ApiError::rest(
            StatusCode::UNAUTHORIZED,
            "Invalid email or password",
            "INVALID_CREDENTIALS",
        ));
    };
    if user.role != "dashboard_admin" {
        return Err(ApiError::rest(
            StatusCode::FORBIDDEN,
            "Access denied. Admin role required.",
            "ADMIN_REQUIRED",
        ));
    }
    let user_json = dashboard_user(user, shared.flavor() == crate::Flavor::Documented);
    let principal = Principal::Dashboard {
        id: user.id,
        role: "dashboard_admin".to_owned(),
    };
    let (access, refresh) = state.issue_tokens(principal, DASHBOARD_TOKEN_TTL);
    reply(
        StatusCode::OK,
        &json!({
            "user": user_json,
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": DASHBOARD_TOKEN_TTL.as_secs(),
        }),
    )
}

/// A `DashboardUser`: the server's fields (`full_name`, no `role`), or the
/// documentation's `AdminUser` (`name`, `role`).
pub(super) fn dashboard_user(user: &DashboardUser, documented: bool) -> serde_json::Value {
    if documented {
        return json!({
            "id": user.id.to_string(),
            "email": user.email,
            "name": user.full_name,
            "role": user.role,
            "created_at": rfc3339(user.created_at),
            "updated_at": rfc3339(user.created_at),
        });
    }
    let mut v = json!({
        "id": user.id.to_string(),
        "email": user.email,
        "email_verified": user.email_verified,
        "totp_enabled": false,
        "is_active": true,
        "is_locked": false,
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.created_at),
    });
    if let (Some(name), Some(obj)) = (&user.full_name, v.as_object_mut()) {
        obj.insert("full_name".to_owned(), json!(name));
    }
    v
}
