//! [`Invitations`]: invite people to the dashboard.

use std::fmt;
use std::time::Duration;

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Client, ClientError, Session, de};
use crate::timestamp::Timestamp;

/// Dashboard invitations; from [`Client::invitations`].
///
/// Creating, listing and revoking need a dashboard administrator's session
/// ([`Auth::admin_login`](super::Auth::admin_login)); client and service keys
/// are not accepted there. `validate` and `accept` are public.
///
/// List answers blank the tokens, so keep the token from
/// [`Invitations::create`] to revoke later.
///
/// ```no_run
/// use fluxbase_webhooks::client::{CreateInvitation, InvitationRole};
///
/// # async fn run(client: fluxbase_webhooks::client::Client) -> Result<(), fluxbase_webhooks::client::ClientError> {
/// client.auth().admin_login("admin@example.com", "admin-password-1").await?;
/// let created = client
///     .invitations()
///     .create(CreateInvitation::new("new@example.com", InvitationRole::DashboardUser))
///     .await?;
/// println!("send them {}", created.invite_link);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Invitations<'a> {
    client: &'a Client,
}

impl<'a> Invitations<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Creates an invitation (`POST /api/v1/admin/invitations`).
    ///
    /// # Errors
    ///
    /// 400 `invalid role …`; 401/403 without an administrator's session.
    pub async fn create(
        &self,
        invitation: CreateInvitation,
    ) -> Result<CreatedInvitation, ClientError> {
        let url = self.client.endpoint(&["admin", "invitations"]);
        self.client
            .send(Method::POST, url, Some(&invitation))
            .await?
            .json("invitation create")
    }

    /// Pending invitations (`GET /api/v1/admin/invitations`). A `null` list
    /// reads as empty. The server blanks each `token` here.
    ///
    /// # Errors
    ///
    /// 401/403 without an administrator's session.
    pub async fn list(&self) -> Result<Vec<Invitation>, ClientError> {
        self.list_with(ListInvitations::new()).await
    }

    /// Invitations, including accepted and/or expired ones.
    ///
    /// # Errors
    ///
    /// As [`Invitations::list`].
    pub async fn list_with(&self, filter: ListInvitations) -> Result<Vec<Invitation>, ClientError> {
        let mut url = self.client.endpoint(&["admin", "invitations"]);
        if filter.include_accepted {
            url.query_pairs_mut()
                .append_pair("include_accepted", "true");
        }
        if filter.include_expired {
            url.query_pairs_mut().append_pair("include_expired", "true");
        }
        let answer = self.client.send(Method::GET, url, None).await?;
        answer.list(&["invitations"], "invitation list")
    }

    /// Checks a token (public; always HTTP 200 on the server, `valid: false`
    /// with an `error` for a bad token).
    ///
    /// # Errors
    ///
    /// Transport errors and unexpected statuses only.
    pub async fn validate(&self, token: &str) -> Result<InvitationValidation, ClientError> {
        let url = self.client.endpoint(&["invitations", token, "validate"]);
        self.client
            .send(Method::GET, url, None)
            .await?
            .json("invitation validate")
    }

    /// Accepts an invitation, creating the dashboard account (public). The
    /// session is returned, not stored in the client.
    ///
    /// # Errors
    ///
    /// 400 password shorter than 12 bytes; 404 unknown token; 409 already
    /// accepted; 410 expired; the server answers 500 for a name that is
    /// empty or over 100 characters, or a password over 72 bytes.
    pub async fn accept(
        &self,
        token: &str,
        password: &str,
        name: &str,
    ) -> Result<Session, ClientError> {
        #[derive(Serialize)]
        struct Accept<'a> {
            password: &'a str,
            name: &'a str,
        }
        let url = self.client.endpoint(&["invitations", token, "accept"]);
        self.client
            .send(Method::POST, url, Some(&Accept { password, name }))
            .await?
            .json("invitation accept")
    }

    /// Revokes (deletes) an invitation by its token.
    ///
    /// # Errors
    ///
    /// 404 `Invitation not found`; 401/403 without an administrator's session.
    pub async fn revoke(&self, token: &str) -> Result<(), ClientError> {
        let url = self.client.endpoint(&["admin", "invitations", token]);
        self.client.send(Method::DELETE, url, None).await?;
        Ok(())
    }
}

/// The role an invitation grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvitationRole {
    /// `dashboard_user`.
    DashboardUser,
    /// `dashboard_admin`.
    DashboardAdmin,
}

impl InvitationRole {
    /// `dashboard_user` or `dashboard_admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DashboardUser => "dashboard_user",
            Self::DashboardAdmin => "dashboard_admin",
        }
    }
}

impl std::str::FromStr for InvitationRole {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, ClientError> {
        match s {
            "dashboard_user" | "user" => Ok(Self::DashboardUser),
            "dashboard_admin" | "admin" => Ok(Self::DashboardAdmin),
            other => Err(ClientError::input(format!(
                "`{other}` is not a role: use dashboard_user or dashboard_admin"
            ))),
        }
    }
}

/// A new invitation, for [`Invitations::create`].
#[must_use]
#[derive(Debug, Clone, Serialize)]
pub struct CreateInvitation {
    email: String,
    role: InvitationRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry_duration: Option<u64>,
}

impl CreateInvitation {
    /// Invite `email` as `role`.
    pub fn new(email: impl Into<String>, role: InvitationRole) -> Self {
        Self {
            email: email.into(),
            role,
            expiry_duration: None,
        }
    }

    /// How long the invitation stays valid (whole seconds; default 7 days).
    pub fn expires_in(mut self, duration: Duration) -> Self {
        self.expiry_duration = Some(duration.as_secs());
        self
    }
}

/// Which invitations [`Invitations::list_with`] returns besides pending ones.
#[must_use]
#[derive(Debug, Clone, Copy, Default)]
pub struct ListInvitations {
    include_accepted: bool,
    include_expired: bool,
}

impl ListInvitations {
    /// Pending only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Include accepted invitations.
    pub fn include_accepted(mut self, yes: bool) -> Self {
        self.include_accepted = yes;
        self
    }

    /// Include expired invitations.
    pub fn include_expired(mut self, yes: bool) -> Self {
        self.include_expired = yes;
        self
    }
}

/// An invitation.
#[derive(Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Invitation {
    /// Its id.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub id: Option<String>,
    /// Who is invited.
    #[serde(default)]
    pub email: String,
    /// The token; `None` where the server blanks it (lists, validation).
    #[serde(default, deserialize_with = "de::non_empty")]
    pub token: Option<String>,
    /// `dashboard_user` or `dashboard_admin`.
    #[serde(default)]
    pub role: String,
    /// Who invited them.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub invited_by: Option<String>,
    /// When it expires.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Whether it was accepted (the server's `accepted`; otherwise whether
    /// `accepted_at` is set).
    #[serde(default)]
    pub accepted: Option<bool>,
    /// When it was accepted.
    #[serde(default)]
    pub accepted_at: Option<Timestamp>,
    /// When it was revoked (documentation only; the server deletes revoked
    /// invitations).
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

impl Invitation {
    /// Whether it has been accepted, from whichever field was sent.
    pub fn is_accepted(&self) -> bool {
        self.accepted.unwrap_or(self.accepted_at.is_some())
    }
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("accepted", &self.is_accepted())
            .finish_non_exhaustive()
    }
}

/// A created invitation (`{invitation, invite_link, email_sent, email_status}`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct CreatedInvitation {
    /// The invitation, with its real token.
    pub invitation: Invitation,
    /// `<base URL>/invite/<token>`.
    #[serde(default)]
    pub invite_link: String,
    /// Whether an email went out.
    #[serde(default)]
    pub email_sent: bool,
    /// Why or why not.
    #[serde(default)]
    pub email_status: Option<String>,
}

/// The answer of [`Invitations::validate`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct InvitationValidation {
    /// Whether the token can be accepted.
    pub valid: bool,
    /// The invitation, when valid.
    #[serde(default)]
    pub invitation: Option<Invitation>,
    /// Why not: `Invitation has expired`, `Invitation has already been
    /// accepted`, `Invitation not found`, `Invalid token`.
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_lists_of_both_shapes() {
        for (body, tokens) in [
            (r#"{"invitations":null}"#, vec![]),
            (
                r#"{"invitations":[{"id":"i","email":"a@b.c","token":"","role":"dashboard_user","expires_at":"2026-01-09T03:04:05Z","accepted":false,"created_at":"2026-01-02T03:04:05Z"}]}"#,
                vec![None],
            ),
            (
                r#"{"invitations":[{"id":"i","email":"a@b.c","token":"tok","role":"dashboard_user","accepted_at":"2026-01-03T03:04:05Z"}]}"#,
                vec![Some("tok".to_owned())],
            ),
        ] {
            let list: Vec<Invitation> =
                de::list(serde_json::from_str(body).unwrap(), &["invitations"]).unwrap();
            let got: Vec<_> = list.iter().map(|i| i.token.clone()).collect();
            assert_eq!(got, tokens, "{body}");
        }
        let accepted: Invitation = serde_json::from_str(
            r#"{"email":"a","role":"r","token":"tok-hidden-value","accepted_at":"2026-01-03T03:04:05Z"}"#,
        )
        .unwrap();
        assert!(accepted.is_accepted());
        assert!(!format!("{accepted:?}").contains("hidden-value"));
    }

    #[test]
    fn validation_answers() {
        let v: InvitationValidation =
            serde_json::from_str(r#"{"valid":false,"error":"Invitation has expired"}"#).unwrap();
        assert!(!v.valid && v.invitation.is_none());
        let v: InvitationValidation = serde_json::from_str(
            r#"{"valid":true,"invitation":{"id":"i","email":"a@b.c","token":"","role":"dashboard_admin","accepted":false}}"#,
        )
        .unwrap();
        assert_eq!(v.invitation.unwrap().role, "dashboard_admin");
    }

    #[test]
    fn role_names() {
        assert_eq!(
            serde_json::to_string(&CreateInvitation::new(
                "a@b.c",
                InvitationRole::DashboardAdmin
            ))
            .unwrap(),
            r#"{"email":"a@b.c","role":"dashboard_admin"}"#
        );
        assert!("owner".parse::<InvitationRole>().is_err());
    }
}
