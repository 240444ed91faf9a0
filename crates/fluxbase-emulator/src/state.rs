//! The in-memory model: users, sessions, webhooks, deliveries, keys, invitations.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use fluxbase_webhooks::Timestamp;
use rand::RngCore as _;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::delivery::{Attempt, Job};
use crate::{EmulatorBuilder, Error, Flavor, Login};

/// Settings fixed at start.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) backoff_unit: std::time::Duration,
    pub(crate) admin: Login,
    pub(crate) user: Login,
    pub(crate) service_key: String,
    pub(crate) admin_enabled: bool,
    pub(crate) base_url: String,
}

/// Everything the handlers and the delivery engine share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    state: Mutex<State>,
    pub(crate) http: reqwest::Client,
    /// Deliveries queued or running.
    pub(crate) pending: watch::Sender<usize>,
    /// Set once, at shutdown.
    pub(crate) shutdown: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
    pub(crate) runtime: Handle,
}

impl Shared {
    pub(crate) fn new(b: EmulatorBuilder, addr: SocketAddr) -> Result<Arc<Self>, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        let service_key = b
            .service_key
            .unwrap_or_else(|| format!("sk_{}", random_token(24)));
        let mut state = State::default();
        let created = now();
        state.users.push(AppUser {
            id: Uuid::new_v4(),
            email: b.user.email.clone(),
            password: b.user.password.clone(),
            two_factor: false,
            created_at: created,
        });
        if let Some(l) = &b.two_factor_user {
            state.users.push(AppUser {
                id: Uuid::new_v4(),
                email: l.email.clone(),
                password: l.password.clone(),
                two_factor: true,
                created_at: created,
            });
        }
        state.dashboard.push(DashboardUser {
            id: Uuid::new_v4(),
            email: b.admin.email.clone(),
            password: b.admin.password.clone(),
            full_name: Some("Administrator".to_owned()),
            role: "dashboard_admin".to_owned(),
            created_at: created,
        });
        Ok(Arc::new(Self {
            config: Config {
                flavor: b.flavor,
                backoff_unit: b.backoff_unit,
                admin: b.admin,
                user: b.user,
                service_key,
                admin_enabled: b.admin_enabled,
                base_url: format!("http://{addr}"),
            },
            state: Mutex::new(state),
            http,
            pending: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(JoinSet::new()),
            runtime: Handle::current(),
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn tasks(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn flavor(&self) -> Flavor {
        self.config.flavor
    }
}

/// The whole mutable state.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) users: Vec<AppUser>,
    pub(crate) dashboard: Vec<DashboardUser>,
    pub(crate) sessions: HashMap<String, Principal>,
    /// Oldest first.
    pub(crate) webhooks: Vec<WebhookRecord>,
    /// Oldest first.
    pub(crate) deliveries: Vec<DeliveryRecord>,
    /// Oldest first.
    pub(crate) keys: Vec<KeyRecord>,
    /// Oldest first.
    pub(crate) invitations: Vec<InvitationRecord>,
    /// One delivery queue per webhook.
    pub(crate) queues: HashMap<Uuid, mpsc::UnboundedSender<Job>>,
    pub(crate) attempts: Vec<Attempt>,
}

impl State {
    /// Issues an access and a refresh token for `principal`.
    pub(crate) fn issue_tokens(&mut self, principal: Principal) -> (String, String) {
        let access = format!("fbe_at_{}", random_token(32));
        let refresh = format!("fbe_rt_{}", random_token(32));
        self.sessions.insert(access.clone(), principal);
        (access, refresh)
    }

    pub(crate) fn webhook(&self, id: Uuid) -> Option<&WebhookRecord> {
        self.webhooks.iter().find(|w| w.id == id)
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Principal {
    /// An application user's session.
    AppUser { id: Uuid },
    /// A dashboard session; `role` is the token's role.
    Dashboard { id: Uuid, role: String },
    /// The service key.
    Service,
    /// A client key.
    ClientKey {
        scopes: Vec<String>,
        user_id: Option<Uuid>,
    },
}

impl Principal {
    /// The id recorded as a webhook's `created_by`.
    pub(crate) fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::AppUser { id } | Self::Dashboard { id, .. } => Some(*id),
            Self::ClientKey { user_id, .. } => *user_id,
            Self::Service => None,
        }
    }

    /// Whether it sees every client key.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            Self::Service => true,
            Self::Dashboard { role, .. } => role == "dashboard_admin" || role == "admin",
            _ => false,
        }
    }
}

pub(crate) struct AppUser {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) password: String,
    pub(crate) two_factor: bool,
    pub(crate) created_at: OffsetDateTime,
}

pub(crate) struct DashboardUser {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) password: String,
    pub(crate) full_name: Option<String>,
    pub(crate) role: String,
    pub(crate) created_at: OffsetDateTime,
}

/// A webhook subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subscription {
    /// `{table, operations}`.
    Rows {
        table: String,
        operations: Option<Vec<String>>,
    },
    /// A documented event name.
    Named(String),
}

#[derive(Debug, Clone)]
pub(crate) struct WebhookRecord {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) enabled: bool,
    /// `None` is stored `null` (an update without events).
    pub(crate) events: Option<Vec<Subscription>>,
    pub(crate) max_retries: i64,
    pub(crate) retry_backoff_seconds: i64,
    pub(crate) timeout_seconds: i64,
    /// `None` is stored `null` (an update without headers).
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) scope: String,
    pub(crate) created_by: Option<Uuid>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

/// One delivery attempt in the log.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryRecord {
    pub(crate) id: Uuid,
    pub(crate) webhook_id: Uuid,
    pub(crate) event: String,
    pub(crate) payload: Value,
    pub(crate) status: &'static str,
    /// The endpoint's real status, when it answered.
    pub(crate) http_status: Option<u16>,
    pub(crate) response_body: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) delivered_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) key: String,
    pub(crate) key_prefix: String,
    pub(crate) user_id: Option<Uuid>,
    pub(crate) scopes: Vec<String>,
    pub(crate) rate_limit_per_minute: i64,
    pub(crate) last_used_at: Option<OffsetDateTime>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) revoked_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub(crate) struct InvitationRecord {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) token: String,
    pub(crate) role: String,
    pub(crate) invited_by: Option<Uuid>,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) accepted_at: Option<OffsetDateTime>,
    pub(crate) created_at: OffsetDateTime,
}

impl InvitationRecord {
    pub(crate) fn is_expired(&self) -> bool {
        self.expires_at <= now()
    }
}

/// The current time, UTC.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// RFC 3339 as the server writes it (fraction digits trimmed).
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    Timestamp::from(t).to_string()
}

/// `n` random bytes, URL-safe base64 without padding.
pub(crate) fn random_token(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// `n` random bytes, URL-safe base64 with padding (client keys, invitation
/// tokens).
pub(crate) fn random_padded(n: usize) -> String {
    URL_SAFE.encode(random_bytes(n))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}
