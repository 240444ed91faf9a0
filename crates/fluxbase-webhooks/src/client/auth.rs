//! [`Auth`]: sign-in, admin login and the credentials a [`Client`] sends.

use std::fmt;

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Client, ClientError, Credentials, de};
use crate::secret::Secret;
use crate::timestamp::Timestamp;

/// Sign-in, admin login and credentials; from [`Client::auth`].
///
/// Logging in stores the access token in the client: every later call sends
/// it as `Authorization: Bearer …`.
///
/// ```no_run
/// # async fn run(client: fluxbase_webhooks::client::Client) -> Result<(), fluxbase_webhooks::client::ClientError> {
/// let session = client.auth().sign_in("user@example.com", "correct horse battery").await?;
/// println!("signed in as {}", session.user.email);
/// // Or, with a key from the environment:
/// client.auth().client_key(std::env::var("FLUXBASE_CLIENT_KEY").unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    client: &'a Client,
}

#[derive(Serialize)]
struct Login<'a> {
    email: &'a str,
    password: &'a str,
}

impl<'a> Auth<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Signs an application user in (`POST /api/v1/auth/signin`; the SDK
    /// documentation's `auth.login`) and keeps the access token.
    ///
    /// # Errors
    ///
    /// 401 `Invalid email or password`, 403 with `code` `ACCOUNT_LOCKED` /
    /// `EMAIL_NOT_VERIFIED`, ...; when the account uses two-factor
    /// authentication the server answers `requires_2fa` instead of a session,
    /// reported as an error with [`ClientError::is_two_factor_required`].
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Session, ClientError> {
        self.login_at(&["auth", "signin"], email, password).await
    }

    /// The same as [`Auth::sign_in`], under the documentation's name.
    ///
    /// # Errors
    ///
    /// As [`Auth::sign_in`].
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, ClientError> {
        self.sign_in(email, password).await
    }

    /// Logs a dashboard administrator in (`POST /api/v1/admin/login`) and
    /// keeps the access token; invitations need it.
    ///
    /// # Errors
    ///
    /// 401 `INVALID_CREDENTIALS`, 403 `ADMIN_REQUIRED` / `ACCOUNT_LOCKED`;
    /// 404 when the server's admin interface is disabled.
    pub async fn admin_login(&self, email: &str, password: &str) -> Result<Session, ClientError> {
        self.login_at(&["admin", "login"], email, password).await
    }

    async fn login_at(
        &self,
        path: &[&str],
        email: &str,
        password: &str,
    ) -> Result<Session, ClientError> {
        let url = self.client.endpoint(path);
        let answer = self
            .client
            .send(Method::POST, url, Some(&Login { email, password }))
            .await?;
        let value: serde_json::Value = answer.json("the login")?;
        if value
            .get("requires_2fa")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            return Err(ClientError::two_factor(value));
        }
        let session: Session = serde_json::from_value(value)
            .map_err(|e| ClientError::decode(answer.status, "the login", e))?;
        self.client
            .set_credentials(Some(Credentials::Bearer(session.access_token.clone())));
        Ok(session)
    }

    /// From now on, send `Authorization: Bearer <token>`.
    pub fn bearer_token(&self, token: impl Into<Secret>) {
        self.client
            .set_credentials(Some(Credentials::Bearer(token.into())));
    }

    /// From now on, send this client key (`X-Client-Key`, and `X-API-Key`
    /// for servers older than the rename; sending both is harmless).
    pub fn client_key(&self, key: impl Into<Secret>) {
        self.client
            .set_credentials(Some(Credentials::ClientKey(key.into())));
    }

    /// From now on, send this service key (`X-Service-Key`).
    pub fn service_key(&self, key: impl Into<Secret>) {
        self.client
            .set_credentials(Some(Credentials::ServiceKey(key.into())));
    }

    /// Sets (or, with `None`, forgets) the credentials.
    pub fn set_credentials(&self, credentials: Option<Credentials>) {
        self.client.set_credentials(credentials);
    }

    /// Forgets the credentials; later calls are anonymous.
    pub fn sign_out(&self) {
        self.client.set_credentials(None);
    }

    /// The credentials in use, if any.
    pub fn credentials(&self) -> Option<Credentials> {
        self.client.credentials()
    }
}

/// A signed-in session: `{user, access_token, refresh_token, expires_in}`.
///
/// `Debug` redacts the tokens and `Serialize` leaves them out.
#[derive(Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Session {
    /// Who signed in.
    pub user: User,
    #[serde(deserialize_with = "secret_string", skip_serializing)]
    access_token: Secret,
    #[serde(default, deserialize_with = "opt_secret_string", skip_serializing)]
    refresh_token: Option<Secret>,
    /// Seconds until the access token expires (900 for users by default,
    /// 86400 for dashboard sessions).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl Session {
    /// The access token (send it as `Authorization: Bearer …`).
    ///
    /// # Security
    ///
    /// Do not log it.
    pub fn access_token(&self) -> &str {
        std::str::from_utf8(self.access_token.expose()).unwrap_or_default()
    }

    /// The refresh token, when the server sent one.
    ///
    /// # Security
    ///
    /// Do not log it.
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token
            .as_ref()
            .and_then(|t| std::str::from_utf8(t.expose()).ok())
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::from(String::deserialize(d)?))
}

fn opt_secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::from))
}

/// A user as the login, admin-login and invitation-accept answers describe
/// it: an application user (`role`, `user_metadata`, ...) or a dashboard
/// user (`full_name`, `totp_enabled`, ...; the documentation's `name`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct User {
    /// The user's id.
    #[serde(deserialize_with = "de::opt_id", default)]
    pub id: Option<String>,
    /// The user's email.
    #[serde(default)]
    pub email: String,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// The role, when sent (`authenticated`, `admin`, `dashboard_admin`, ...).
    #[serde(default)]
    pub role: Option<String>,
    /// The display name (`full_name` from the server, `name` in the
    /// documentation).
    #[serde(default, alias = "name")]
    pub full_name: Option<String>,
    /// When the account was created.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// When the account last changed.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_dashboard_sessions() {
        let app: Session = serde_json::from_str(
            r#"{"user":{"id":"u1","email":"a@b.c","email_verified":true,"role":"authenticated","user_metadata":{},"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05.5Z"},
                "access_token":"at","refresh_token":"rt","expires_in":900,"trust_token":"x"}"#,
        )
        .unwrap();
        assert_eq!(app.user.role.as_deref(), Some("authenticated"));
        assert_eq!(
            (app.access_token(), app.refresh_token()),
            ("at", Some("rt"))
        );
        assert_eq!(app.expires_in, Some(900));
        assert!(app.user.extra.contains_key("user_metadata"));
        assert!(!format!("{app:?}").contains("\"at\""));

        let dashboard: Session = serde_json::from_str(
            r#"{"user":{"id":"d1","email":"x@y.z","email_verified":false,"full_name":"Ada","totp_enabled":false,"is_active":true,"is_locked":false,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"},
                "access_token":"at","refresh_token":"rt","expires_in":86400}"#,
        )
        .unwrap();
        assert_eq!(dashboard.user.full_name.as_deref(), Some("Ada"));
        assert_eq!(dashboard.user.role, None);

        let documented: Session = serde_json::from_str(
            r#"{"user":{"id":"d1","email":"x@y.z","name":"John Doe","role":"dashboard_user"},"access_token":"at","refresh_token":"rt","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(documented.user.full_name.as_deref(), Some("John Doe"));
        assert_eq!(documented.user.role.as_deref(), Some("dashboard_user"));
    }
}
