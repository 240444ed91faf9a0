//! The in-memory model: users, sessions, webhooks, deliveries, keys, invitations.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use fluxbase_webhooks::Timestamp;
use fluxbase_webhooks::client::EventFilter;
use rand::RngCore as _;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::delivery::{Attempt, Backlog, Job};
use crate::transport::Transport;
use crate::warnings::WarningRecord;
use crate::{EmulatorBuilder, Error, Flavor, Login, ServerMode};

/// Settings fixed at start.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) server_mode: ServerMode,
    pub(crate) backoff_unit: Duration,
    pub(crate) admin: Login,
    pub(crate) user: Login,
    pub(crate) service_key: String,
    pub(crate) service_key_scopes: Vec<String>,
    pub(crate) admin_enabled: bool,
    pub(crate) base_url: String,
    /// An application user's access token lifetime (`auth.jwt_expiry`).
    pub(crate) jwt_expiry: Duration,
    /// Deliveries per URL in any 60 s window.
    pub(crate) rate_limit_per_minute: usize,
}

/// A dashboard session lasts 24 hours (`internal/api/server.go`).
pub(crate) const DASHBOARD_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Everything the handlers and the delivery engine share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    state: Mutex<State>,
    pub(crate) http: Transport,
    /// Deliveries queued, running or waiting to retry, less those parked
    /// by their disabled webhook ([`Backlog::active`]).
    pub(crate) pending: watch::Sender<usize>,
    /// Signalled whenever a webhook is updated or deleted, for deliveries
    /// waiting on their webhook.
    pub(crate) changes: watch::Sender<()>,
    /// Set once, at shutdown.
    pub(crate) shutdown: watch::Sender<bool>,
    tasks: Mutex<JoinSet<()>>,
    pub(crate) runtime: Handle,
}

impl Shared {
    pub(crate) fn new(b: EmulatorBuilder, addr: SocketAddr) -> Result<Arc<Self>, Error> {
        let http = Transport::new().map_err(|e| Error::Client(e.to_string()))?;
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
            email_verified: false,
            created_at: created,
        });
        Ok(Arc::new(Self {
            config: Config {
                flavor: b.flavor,
                server_mode: b.server_mode,
                backoff_unit: b.backoff_unit,
                admin: b.admin,
                user: b.user,
                service_key,
                service_key_scopes: b.service_key_scopes,
                admin_enabled: b.admin_enabled,
                base_url: format!("http://{addr}"),
                jwt_expiry: b.jwt_expiry,
                rate_limit_per_minute: b.rate_limit_per_minute,
            },
            state: Mutex::new(state),
            http,
            pending: watch::Sender::new(0),
            changes: watch::Sender::new(()),
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
    pub(crate) sessions: HashMap<String, Session>,
    /// Oldest first.
    pub(crate) webhooks: Vec<WebhookRecord>,
    /// Oldest first, bounded (`delivery::MAX_LOG`).
    pub(crate) deliveries: VecDeque<DeliveryRecord>,
    /// Oldest first.
    pub(crate) keys: Vec<KeyRecord>,
    /// Oldest first.
    pub(crate) invitations: Vec<InvitationRecord>,
    /// One delivery queue per webhook.
    pub(crate) queues: HashMap<Uuid, mpsc::UnboundedSender<Job>>,
    /// The deliveries not done yet, and which are parked.
    pub(crate) backlog: Backlog,
    /// Oldest first, bounded (`delivery::MAX_LOG`).
    pub(crate) attempts: VecDeque<Attempt>,
    /// `auth.webhook_monitored_tables`: how many enabled subscriptions hold
    /// a trigger on each `(schema, table)`; a table has a trigger while it
    /// is listed.
    pub(crate) monitored: BTreeMap<(String, String), u32>,
    /// Oldest first, bounded.
    pub(crate) warnings: VecDeque<WarningRecord>,
    /// When deliveries to each URL were sent in the last minute.
    pub(crate) sent: HashMap<String, VecDeque<Instant>>,
}

/// An access token's holder and end.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) principal: Principal,
    pub(crate) expires: Instant,
}

impl State {
    /// Issues an access and a refresh token for `principal`, the access
    /// token valid for `ttl`.
    pub(crate) fn issue_tokens(&mut self, principal: Principal, ttl: Duration) -> (String, String) {
        let now = Instant::now();
        // Expired sessions go as new ones come, so the map stays bounded.
        self.sessions.retain(|_, s| s.expires > now);
        let access = format!("fbe_at_{}", random_token(32));
        let refresh = format!("fbe_rt_{}", random_token(32));
        let expires = now.checked_add(ttl).unwrap_or(now);
        self.sessions
            .insert(access.clone(), Session { principal, expires });
        (access, refresh)
    }

    /// The holder of a live access token.
    pub(crate) fn session(&self, token: &str) -> Option<Principal> {
        self.sessions
            .get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.principal.clone())
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
    /// The service key, with its scopes.
    Service { scopes: Vec<String> },
    /// A client key.
    ClientKey {
        scopes: Vec<String>,
        user_id: Option<Uuid>,
    },
}

impl Principal {
    /// The caller's user id, whatever the kind of credential.
    pub(crate) fn user_id(&self) -> Option<Uuid> {
        match self {
            Self::AppUser { id } | Self::Dashboard { id, .. } => Some(*id),
            Self::ClientKey { user_id, .. } => *user_id,
            Self::Service { .. } => None,
        }
    }

    /// The id recorded as a webhook's `created_by`. The server reads it
    /// only when the context's `user_id` is a string (`CreateWebhook` in
    /// `internal/api/webhook_handler.go`): a token's user; a client key's
    /// user is stored as a UUID value, so its webhooks get no creator.
    pub(crate) fn created_by(&self) -> Option<Uuid> {
        match self {
            Self::AppUser { id } | Self::Dashboard { id, .. } => Some(*id),
            Self::ClientKey { .. } | Self::Service { .. } => None,
        }
    }

    /// Whether it sees every client key.
    pub(crate) fn is_admin(&self) -> bool {
        match self {
            Self::Service { .. } => true,
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
    pub(crate) email_verified: bool,
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

impl Subscription {
    /// The client's form, whose lint and matching rules the emulator shares.
    pub(crate) fn filter(&self) -> EventFilter {
        match self {
            Self::Rows { table, operations } => EventFilter::Table {
                table: table.clone(),
                operations: operations.clone().unwrap_or_default(),
            },
            Self::Named(name) => EventFilter::Named(name.clone()),
        }
    }
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
