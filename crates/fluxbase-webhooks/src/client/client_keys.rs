//! [`ClientKeys`]: client keys, called API keys before the server renamed them.

use std::fmt;

use http::{Method, StatusCode};
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::{Answer, Client, ClientError, de, erased};
use crate::secret::Secret;
use crate::timestamp::Timestamp;

const UNKNOWN: u8 = 0;
const CLIENT_KEYS: u8 = 1;
const API_KEYS: u8 = 2;

/// Client keys; from [`Client::client_keys`] (or [`Client::api_keys`]).
///
/// Calls go to `/api/v1/client-keys`; when the server has no such route
/// (servers before the rename), they go to the legacy `/api/v1/api-keys`,
/// and the client remembers which one answered.
///
/// ```no_run
/// use fluxbase_webhooks::client::CreateClientKey;
///
/// # async fn run(client: fluxbase_webhooks::client::Client) -> Result<(), fluxbase_webhooks::client::ClientError> {
/// let created = client
///     .client_keys()
///     .create(CreateClientKey::new("ingest", ["read:webhooks", "write:webhooks"]))
///     .await?;
/// // Shown once: store it now.
/// let key = created.key().to_owned();
/// # let _ = key;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClientKeys<'a> {
    client: &'a Client,
}

impl<'a> ClientKeys<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    fn url(&self, which: u8, rest: &[&str]) -> Url {
        let root = if which == API_KEYS {
            "api-keys"
        } else {
            "client-keys"
        };
        let mut segments = Vec::with_capacity(rest.len() + 1);
        segments.push(root);
        segments.extend_from_slice(rest);
        self.client.endpoint(&segments)
    }

    /// Sends to the path the server answers, finding it on first use.
    async fn send(
        &self,
        method: Method,
        rest: &[&str],
        query: &[(&str, &str)],
        body: Option<&(dyn erased::Body + '_)>,
    ) -> Result<Answer, ClientError> {
        let with_query = |mut url: Url| {
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query);
            }
            url
        };
        let known = self.client.keys_path();
        if known != UNKNOWN {
            let url = with_query(self.url(known, rest));
            return self.client.send(method, url, body).await;
        }
        let first = self
            .client
            .send_raw(
                method.clone(),
                with_query(self.url(CLIENT_KEYS, rest)),
                body,
            )
            .await?;
        if first.status != StatusCode::NOT_FOUND {
            self.client.remember_keys_path(CLIENT_KEYS);
            return first.ok();
        }
        let legacy = self
            .client
            .send_raw(method, with_query(self.url(API_KEYS, rest)), body)
            .await?;
        if legacy.status == StatusCode::NOT_FOUND {
            // Neither route helped: report the current one's answer.
            return first.ok();
        }
        self.client.remember_keys_path(API_KEYS);
        legacy.ok()
    }

    /// Creates a key. The full key is in the answer only this once.
    ///
    /// # Errors
    ///
    /// 400 `Name is required`; the server answers **500** for scopes outside
    /// its list (`read:users` from the documentation is one).
    pub async fn create(&self, key: CreateClientKey) -> Result<CreatedClientKey, ClientError> {
        let answer = self.send(Method::POST, &[], &[], Some(&key)).await?;
        answer.json("client key create")
    }

    /// Lists keys (a bare array or `null` from the server;
    /// `{client_keys|api_keys, total}` in the documentation).
    ///
    /// # Errors
    ///
    /// An error status, or an answer that is not a list.
    pub async fn list(&self) -> Result<Vec<ClientKey>, ClientError> {
        self.list_query(&[]).await
    }

    /// Lists another user's keys (admins; `?user_id=`).
    ///
    /// # Errors
    ///
    /// 400 `Invalid user ID`, 403 `Cannot view other users' client keys`.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<ClientKey>, ClientError> {
        self.list_query(&[("user_id", user_id)]).await
    }

    async fn list_query(&self, query: &[(&str, &str)]) -> Result<Vec<ClientKey>, ClientError> {
        let answer = self.send(Method::GET, &[], query, None).await?;
        answer.list(&["client_keys", "api_keys", "keys"], "client key list")
    }

    /// One key.
    ///
    /// # Errors
    ///
    /// 404 `Client key not found`, 400 `Invalid client key ID`.
    pub async fn get(&self, id: &str) -> Result<ClientKey, ClientError> {
        self.send(Method::GET, &[id], &[], None)
            .await?
            .json("client key get")
    }

    /// Changes a key (only the fields set) and returns it as it is
    /// afterwards; when the server answers with a message, the key is read
    /// again.
    ///
    /// # Errors
    ///
    /// Unknown id: 500 from the server, 404 elsewhere.
    pub async fn update(
        &self,
        id: &str,
        changes: UpdateClientKey,
    ) -> Result<ClientKey, ClientError> {
        let answer = self.send(Method::PATCH, &[id], &[], Some(&changes)).await?;
        match answer.object_or_message("id", "client key update")? {
            Some(key) => Ok(key),
            None => self.get(id).await,
        }
    }

    /// Revokes a key: it stops working but stays listed.
    ///
    /// # Errors
    ///
    /// Unknown id: 500 from the server, 404 elsewhere.
    pub async fn revoke(&self, id: &str) -> Result<(), ClientError> {
        self.send(Method::POST, &[id, "revoke"], &[], None).await?;
        Ok(())
    }

    /// Deletes a key (the server answers 204 with no body).
    ///
    /// # Errors
    ///
    /// Unknown id: 500 from the server, 404 elsewhere.
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        self.send(Method::DELETE, &[id], &[], None).await?;
        Ok(())
    }
}

/// A client key (without its secret value).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ClientKey {
    /// The key's id.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub id: Option<String>,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The first characters of the key (`fbk_` + 8 on the server).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// The owner, when set.
    #[serde(default, deserialize_with = "de::opt_id")]
    pub user_id: Option<String>,
    /// What it may do (`null` reads as empty).
    #[serde(default, deserialize_with = "de::null_default")]
    pub scopes: Vec<String>,
    /// Namespaces it may reach, when restricted.
    #[serde(default)]
    pub allowed_namespaces: Option<Vec<String>>,
    /// Requests per minute.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Last use.
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

impl ClientKey {
    /// Whether the key is revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A newly created key with its full value, shown only once: the server's
/// flat object plus `key`, or the documentation's `{api_key, key}` /
/// `{client_key, key}`. `Debug` redacts the key; `Serialize` writes
/// `{client_key, key}` with the key, to hand it over once.
#[derive(Clone, Deserialize)]
#[serde(try_from = "WireCreated")]
#[non_exhaustive]
pub struct CreatedClientKey {
    /// The key's metadata.
    pub client_key: ClientKey,
    key: Secret,
}

impl CreatedClientKey {
    /// The full key (`fbk_…`): authenticate with it through
    /// [`Auth::client_key`](super::Auth::client_key).
    ///
    /// # Security
    ///
    /// Store it in a secret store; do not log it.
    pub fn key(&self) -> &str {
        std::str::from_utf8(self.key.expose()).unwrap_or_default()
    }
}

impl Serialize for CreatedClientKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CreatedClientKey", 2)?;
        st.serialize_field("client_key", &self.client_key)?;
        st.serialize_field("key", self.key())?;
        st.end()
    }
}

impl fmt::Debug for CreatedClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedClientKey")
            .field("client_key", &self.client_key)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct WireCreated {
    #[serde(default)]
    key: String,
    #[serde(default, alias = "api_key")]
    client_key: Option<ClientKey>,
    #[serde(flatten)]
    flat: serde_json::Map<String, serde_json::Value>,
}

impl TryFrom<WireCreated> for CreatedClientKey {
    type Error = serde_json::Error;

    fn try_from(w: WireCreated) -> Result<Self, Self::Error> {
        let client_key = match w.client_key {
            Some(key) => key,
            None => serde_json::from_value(serde_json::Value::Object(w.flat))?,
        };
        Ok(Self {
            client_key,
            key: Secret::from(w.key),
        })
    }
}

/// A new client key, for [`ClientKeys::create`].
#[must_use]
#[derive(Debug, Clone, Serialize)]
pub struct CreateClientKey {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
}

impl CreateClientKey {
    /// A key named `name` with `scopes` (the server accepts only its own
    /// list: `read:webhooks`, `write:webhooks`, `read:tables`, ..., `*`).
    pub fn new<I, S>(name: impl Into<String>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: name.into(),
            description: None,
            scopes: scopes.into_iter().map(Into::into).collect(),
            rate_limit_per_minute: None,
            expires_at: None,
        }
    }

    /// A description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Requests per minute (server default 100).
    pub fn rate_limit_per_minute(mut self, limit: u32) -> Self {
        self.rate_limit_per_minute = Some(limit);
        self
    }

    /// When it stops working (cannot be changed later).
    pub fn expires_at(mut self, when: Timestamp) -> Self {
        self.expires_at = Some(when);
        self
    }
}

/// Changes to a client key, for [`ClientKeys::update`]; unset fields stay.
#[must_use]
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateClientKey {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_minute: Option<u32>,
}

impl UpdateClientKey {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A new description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Replace the scopes (an empty list clears them).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// A new rate limit.
    pub fn rate_limit_per_minute(mut self, limit: u32) -> Self {
        self.rate_limit_per_minute = Some(limit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_in_every_shape() {
        let flat: CreatedClientKey = serde_json::from_str(
            r#"{"id":"k1","name":"ingest","key_prefix":"fbk_abcdefgh","scopes":["read:webhooks"],"rate_limit_per_minute":100,
                "created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","key":"fbk_abcdefghSECRET="}"#,
        )
        .unwrap();
        assert_eq!(flat.client_key.id.as_deref(), Some("k1"));
        assert_eq!(flat.key(), "fbk_abcdefghSECRET=");
        assert!(!format!("{flat:?}").contains("SECRET"));

        for wrapper in ["api_key", "client_key"] {
            let body = format!(
                r#"{{"{wrapper}":{{"id":"k2","name":"n","key_prefix":"fb_live_abc","scopes":["read:users"]}},"key":"fb_live_abc123"}}"#
            );
            let doc: CreatedClientKey = serde_json::from_str(&body).unwrap();
            assert_eq!(doc.client_key.id.as_deref(), Some("k2"), "{wrapper}");
            assert_eq!(doc.key(), "fb_live_abc123");
        }
    }

    #[test]
    fn key_lists_and_nulls() {
        for body in [
            r#"[{"id":"k","name":"n","scopes":null}]"#,
            r#"{"api_keys":[{"id":"k","name":"n","scopes":[]}],"total":1}"#,
            r#"{"client_keys":[{"id":"k","name":"n"}],"total":1}"#,
        ] {
            let keys: Vec<ClientKey> = de::list(
                serde_json::from_str(body).unwrap(),
                &["client_keys", "api_keys"],
            )
            .unwrap();
            assert_eq!(keys.len(), 1, "{body}");
            assert!(keys[0].scopes.is_empty());
        }
    }

    #[test]
    fn update_sends_only_what_changes() {
        let json =
            serde_json::to_value(UpdateClientKey::new().scopes(Vec::<String>::new())).unwrap();
        assert_eq!(json, serde_json::json!({"scopes": []}));
    }
}
