//! Invitations: admin create/list/revoke, public validate/accept.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::dashboard_user;
use super::webhooks::query_param;
use super::{Admin, ApiError, ApiResult, AppState, parse_body, reply};
use crate::Flavor;
use crate::state::{
    DASHBOARD_TOKEN_TTL, DashboardUser, InvitationRecord, Principal, now, random_padded, rfc3339,
};

const DEFAULT_EXPIRY_SECS: i64 = 7 * 24 * 3600;

#[derive(Deserialize)]
struct CreateInput {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    expiry_duration: Option<i64>,
}

#[derive(Deserialize)]
struct AcceptInput {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// An invitation; `with_token` false blanks it as list and validate do on
/// the server.
fn render(inv: &InvitationRecord, flavor: Flavor, with_token: bool) -> Value {
    let token = if with_token || flavor == Flavor::Documented {
        inv.token.as_str()
    } else {
        ""
    };
    let mut v = json!({
        "id": inv.id.to_string(),
        "email": inv.email,
        "token": token,
        "role": inv.role,
        "expires_at": rfc3339(inv.expires_at),
        "created_at": rfc3339(inv.created_at),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(by) = inv.invited_by {
            obj.insert("invited_by".to_owned(), json!(by.to_string()));
        }
        if flavor == Flavor::Server {
            obj.insert("accepted".to_owned(), json!(inv.accepted_at.is_some()));
        }
        if let Some(at) = inv.accepted_at {
            obj.insert("accepted_at".to_owned(), json!(rfc3339(at)));
        }
    }
    v
}

/// `POST /api/v1/admin/invitations`.
pub(super) async fn create(
    State(shared): State<AppState>,
    Admin(principal): Admin,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let input: CreateInput = parse_body(&headers, &body)?;
    let role = input.role.unwrap_or_default();
    if role != "dashboard_admin" && role != "dashboard_user" {
        return Err(ApiError::bad_request(
            "invalid role. Must be 'dashboard_admin' or 'dashboard_user'",
        ));
    }
    let secs = match input.expiry_duration {
        Some(n) if n > 0 => n.min(i64::from(i32::MAX)),
        _ => DEFAULT_EXPIRY_SECS,
    };
    let created = now();
    let token = random_padded(32);
    let record = InvitationRecord {
        id: Uuid::new_v4(),
        email: input.email.unwrap_or_default(),
        token: token.clone(),
        role,
        invited_by: principal.user_id(),
        expires_at: created + time::Duration::seconds(secs),
        accepted_at: None,
        created_at: created,
    };
    let flavor = shared.flavor();
    let rendered = render(&record, flavor, true);
    shared.lock().invitations.push(record);
    reply(
        StatusCode::CREATED,
        &json!({
            "invitation": rendered,
            "invite_link": format!("{}/invite/{token}", shared.config.base_url),
            "email_sent": false,
            "email_status": "Email service not configured. Share the invite link manually.",
        }),
    )
}

/// `GET /api/v1/admin/invitations`: pending ones, `{"invitations": null}`
/// when none (server).
pub(super) async fn list(
    State(shared): State<AppState>,
    _: Admin,
    RawQuery(q): RawQuery,
) -> ApiResult {
    // Only the exact string `true` turns a filter on.
    let include_accepted = query_param(q.as_deref(), "include_accepted") == Some("true");
    let include_expired = query_param(q.as_deref(), "include_expired") == Some("true");
    let flavor = shared.flavor();
    let state = shared.lock();
    let items: Vec<Value> = state
        .invitations
        .iter()
        .rev()
        .filter(|i| include_accepted || i.accepted_at.is_none())
        .filter(|i| include_expired || !i.is_expired())
        .map(|i| render(i, flavor, false))
        .collect();
    let list = if items.is_empty() && flavor == Flavor::Server {
        Value::Null
    } else {
        Value::Array(items)
    };
    reply(StatusCode::OK, &json!({"invitations": list}))
}

/// `DELETE /api/v1/admin/invitations/{token}`: a hard delete.
pub(super) async fn revoke(
    State(shared): State<AppState>,
    _: Admin,
    Path(token): Path<String>,
) -> ApiResult {
    let mut state = shared.lock();
    let before = state.invitations.len();
    state.invitations.retain(|i| i.token != token);
    if state.invitations.len() == before {
        return Err(ApiError::not_found("Invitation not found"));
    }
    reply(
        StatusCode::OK,
        &json!({"message": "Invitation revoked successfully"}),
    )
}

/// Why `inv` cannot be accepted: (status, message).
fn unusable(inv: Option<&InvitationRecord>) -> Option<(StatusCode, &'static str)> {
    match inv {
        None => Some((StatusCode::NOT_FOUND, "Invitation not found")),
        Some(i) if i.accepted_at.is_some() => {
            Some((StatusCode::CONFLICT, "Invitation has already been accepted"))
        }
        Some(i) if i.is_expired() => Some((StatusCode::GONE, "Invitation has expired")),
        Some(_) => None,
    }
}

/// `GET /api/v1/invitations/{token}/validate`: always 200.
pub(super) async fn validate(
    State(shared): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult {
    let flavor = shared.flavor();
    let state = shared.lock();
    let inv = state.invitations.iter().find(|i| i.token == token);
    if token.trim().is_empty() {
        return reply(
            StatusCode::OK,
            &json!({"valid": false, "error": "Invalid token"}),
        );
    }
    match (unusable(inv), inv) {
        (Some((_, error)), _) => reply(StatusCode::OK, &json!({"valid": false, "error": error})),
        (None, Some(inv)) => reply(
            StatusCode::OK,
            &json!({"valid": true, "invitation": render(inv, flavor, false)}),
        ),
        (None, None) => reply(
            StatusCode::OK,
            &json!({"valid": false, "error": "Invitation not found"}),
        ),
    }
}

/// `POST /api/v1/invitations/{token}/accept`: creates the dashboard user.
pub(super) async fn accept(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult {
    let input: AcceptInput = parse_body(&headers, &body)?;
    let password = input.password.unwrap_or_default();
    // Counted in bytes, as Go's len() does.
    if password.len() < 12 {
        return Err(ApiError::bad_request(
            "password must be at least 12 characters long",
        ));
    }
    let flavor = shared.flavor();
    let mut state = shared.lock();
    let index = state.invitations.iter().position(|i| i.token == token);
    if let Some((status, message)) = unusable(index.map(|i| &state.invitations[i])) {
        return Err(ApiError::new(status, message));
    }
    let Some(index) = index else {
        return Err(ApiError::not_found("Invitation not found"));
    };
    let name = input.name.unwrap_or_default();
    let (email, role) = {
        let inv = &state.invitations[index];
        (inv.email.clone(), inv.role.clone())
    };
    // `DashboardAuthService.CreateUser` (internal/auth/dashboard.go): the
    // email, then the name, then the password's upper bound; its errors
    // come back as 500 `Failed to create user: …`.
    let create_failed = |why: String| ApiError::internal(format!("Failed to create user: {why}"));
    if let Err(why) = validate_email(&email) {
        return Err(create_failed(format!("invalid email: {why}")));
    }
    let name_len = name.trim().chars().count();
    if name_len == 0 {
        return Err(create_failed("invalid name: name is required".to_owned()));
    }
    if name_len > 100 {
        return Err(create_failed(
            "invalid name: name is too long (max 100 characters)".to_owned(),
        ));
    }
    if password.len() > 72 {
        return Err(create_failed(
            "password must be at most 72 characters".to_owned(),
        ));
    }
    if state.dashboard.iter().any(|u| u.email == email) {
        return Err(create_failed(
            "failed to create user: ERROR: duplicate key value violates unique constraint \
             \"users_email_key\" (SQLSTATE 23505)"
                .to_owned(),
        ));
    }
    let created = now();
    state.invitations[index].accepted_at = Some(created);
    // The name is stored as sent (only its check trims), and the user is
    // marked verified with the invited role before logging in.
    let user = DashboardUser {
        id: Uuid::new_v4(),
        email,
        password,
        full_name: Some(name),
        role,
        email_verified: true,
        created_at: created,
    };
    let user_json = dashboard_user(&user, flavor == Flavor::Documented);
    // The issued token always carries dashboard_admin, whatever the role.
    let principal = Principal::Dashboard {
        id: user.id,
        role: "dashboard_admin".to_owned(),
    };
    state.dashboard.push(user);
    let (access, refresh) = state.issue_tokens(principal, DASHBOARD_TOKEN_TTL);
    reply(
        StatusCode::CREATED,
        &json!({
            "user": user_json,
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": DASHBOARD_TOKEN_TTL.as_secs(),
        }),
    )
}

/// `ValidateEmail` (internal/auth/validation.go): 3 to 254 characters
/// after trimming, `local@domain.tld` with no whitespace, an address Go's
/// `mail.ParseAddress` reads (approximated: RFC 5322 atoms separated by
/// single dots on both sides), and none of `<>"'\`.
fn validate_email(email: &str) -> Result<(), &'static str> {
    let email = email.trim();
    let len = email.chars().count();
    if len < 3 {
        return Err("email address is too short");
    }
    if len > 254 {
        return Err("email address is too long (max 254 characters)");
    }
    const INVALID: &str = "invalid email address";
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(INVALID);
    };
    let atoms = |part: &str| {
        !part.is_empty()
            && part.split('.').all(|atom| {
                !atom.is_empty()
                    && atom
                        .chars()
                        .all(|c| c.is_alphanumeric() || "!#$%&*+-/=?^_`{|}~".contains(c))
            })
    };
    if local.contains('@') || !atoms(local) || !atoms(domain) || !domain.contains('.') {
        return Err(INVALID);
    }
    Ok(())
}
