#![doc = include_str!("../README.md")]
//!
//! ## What it serves
//!
//! | routes | |
//! | --- | --- |
//! | `POST /api/v1/auth/signin`, `POST /api/v1/admin/login` | logins for the seeded user and administrator |
//! | `/api/v1/webhooks[/{id}[/test\|/deliveries]]` | webhooks, test deliveries, the delivery log |
//! | `/api/v1/client-keys` (both flavors; `X-Client-Key`), `/api/v1/api-keys` (flavor `documented`; also `X-API-Key`) | client keys |
//! | `/api/v1/admin/invitations[/{token}]`, `/api/v1/invitations/{token}/{validate,accept}` | invitations |
//! | `POST /api/v1/emulator/events` | fire an event (emulator only) |
//! | `GET /api/v1/emulator/warnings` | where production would silently differ (emulator only) |
//!
//! ## Firing events
//!
//! [`RunningEmulator::trigger`] takes any [`Event`];
//! [`RunningEmulator::trigger_sample`] a name (`INSERT`, `UPDATE`, `DELETE`
//! on `auth.users`, `user.created`, ...). Over HTTP,
//! `POST /api/v1/emulator/events` takes a row event
//! (`{"event":"UPDATE","table":"orders","record":{…},"old_record":{…}}`;
//! `schema` defaults to `auth` for `users`, `public` otherwise), a documented
//! event (`{"event":"user.created","data":{"user_id":"…","email":"…"}}`), or
//! just a known name (`{"event":"INSERT"}`) for its sample, and answers 202
//! with the ids of the webhooks it was queued for and the warnings it gave.
//!
//! ## The real server, bug for bug (server flavor)
//!
//! These are reproduced on purpose, because code that works against the
//! emulator must work against the server, and each of them makes
//! production silently differ from what the settings or the documentation
//! suggest. The emulator also reports each as a warning.
//!
//! - **Subscriptions and triggers** (`parseTableReference`,
//!   `ManageTriggersForWebhook`, `CleanupTriggersForWebhook`, `Update` in
//!   `internal/webhook/webhook.go`; `queue_webhook_event`,
//!   `increment_webhook_table_count` in migration
//!   `005_functions_global.up.sql`): a bare name installs its trigger in
//!   `auth` (a table that is not there fails, is only logged, and on create
//!   stops the installs after it); `schema.table` installs a trigger but
//!   never matches; `*` installs none and fires only where another enabled
//!   subscription put a trigger; triggers are counted per table and go with
//!   their last holder (disable, delete, change of tables).
//! - **Scoping** (`queue_webhook_event`): the owner is the first non-null
//!   of `user_id`, `owner_id`, `created_by` (and `id` on `auth.users`); one
//!   that is not a UUID makes the row unowned, visible to every webhook. A
//!   webhook created with a client key has no creator (`CreateWebhook` in
//!   `internal/api/webhook_handler.go` reads only a string user id).
//! - **URL policy per mode** (`validateWebhookURL`, `sendWebhookSync`;
//!   `AllowPrivateIPs = cfg.Debug` in `internal/api/server.go`): debug
//!   checks nothing (not the scheme, not an empty URL on update); production
//!   checks at create, update and every send.
//! - **Retry settings** (`CreateWebhook` defaults, `Update` full replacement,
//!   `handleDeliveryFailure` in `internal/webhook/trigger.go`): 0 on create
//!   becomes 3/5/30, an update stores what it gets (omitted is 0), values
//!   outside `INTEGER` are refused with pgx's message, `max_retries` ≤ 1
//!   means one attempt, retries are linear.
//! - **`enabled` defaults to `false`** (Go's zero value), **`events` omitted
//!   is `null`**, an update resets `scope` to `user`.
//! - **Test deliveries** (`TestWebhook`): synchronous, not rate-limited, not
//!   in the delivery log, `{message}` on success (no status code) and 500
//!   `{error}` otherwise; the delivery log records `status_code` 200 or 0.
//! - **Answers**: client keys not found and webhooks not found on
//!   update/delete are 500; `deliveries?limit=-1` is Postgres's 500;
//!   unknown, revoked and expired client keys are all `Invalid client key`;
//!   `rest_errors.go` bodies carry `code` and `request_id`; a route with
//!   another method is 405 after the group's authentication; invitation
//!   acceptance validates email, name and password in `CreateUser`'s order
//!   and words.
//! - **No named events**: the server emits only INSERT/UPDATE/DELETE row
//!   events; a fired `user.created` goes out as INSERT on `auth.users`,
//!   `auth.login` & co. go nowhere (CONTRACT.md §2.4).
//! - **Body limits** (`BodyLimitMiddleware` in
//!   `internal/middleware/body_limit.go`, defaults in `setDefaults` of
//!   `internal/config/config.go`): a request whose `Content-Length` is over
//!   its route's limit is 413 `PAYLOAD_TOO_LARGE`, before authentication:
//!   64 KiB under `/api/v1/auth/`, 5 MiB under `/api/v1/admin/`, 1 MiB
//!   elsewhere (webhooks, client keys, invitations; `POST
//!   /api/v1/webhooks` is named an `API` endpoint, the routes under it
//!   `webhooks`).
//! - **Disabled webhooks** (`queue_webhook_event`; `processWebhookEvents`,
//!   `checkForRetries` in `internal/webhook/trigger.go`): an event is
//!   queued only for webhooks enabled when it fires, so one fired while a
//!   webhook is disabled never reaches it, even once it is enabled again.
//!   An event queued before the webhook was disabled waits (first attempt
//!   or retry): it is not sent, not counted as an attempt, kept however
//!   long, and goes out once the webhook is enabled again; deleting the
//!   webhook drops it.
//!
//! ## Differences from a real server
//!
//! - State lives in memory and is gone when the emulator stops; there is no
//!   database, so in `auth` only the server's own tables exist
//!   ([`fluxbase_webhooks::client::AUTH_TABLES`]) and a table of any other
//!   schema is taken to exist. The delivery log keeps the newest 10,000
//!   attempts (the server's keeps every one), and at most 10,000
//!   deliveries wait at once, a disabled webhook's included; more events
//!   are refused.
//! - Retries are sent when due, at least one backoff unit apart (the
//!   server's 30 s backlog ticker decides when a due retry goes); the
//!   backoff unit is configurable ([`EmulatorBuilder::backoff_unit`]). The
//!   server's per-URL limit of 60 attempts a minute holds
//!   ([`EmulatorBuilder::rate_limit_per_minute`]), so no setting makes
//!   retries storm; a limited attempt waits ten units, uncounted.
//! - Each webhook's events are delivered one at a time, in order, retries
//!   included (the server may reorder a retried event after newer ones).
//!   A webhook disabled while its events go out stops before the next
//!   attempt (the server finishes the batch of up to ten it had read).
//! - A disabled webhook's queued events, first attempts and due retries
//!   alike, wait unsent and uncounted, as on the server, and go out as soon
//!   as it is enabled again (the server sends them at its next backlog
//!   tick, or with the webhook's next event).
//! - Deliveries speak HTTP/1.1 only, also over TLS (Go's client
//!   negotiates HTTP/2 with an endpoint that offers it), and ignore the
//!   proxy settings of the environment.
//! - No idempotency keys, no CAPTCHA, no cookies, no global rate limit; no
//!   service-role JWTs (an `eyJ…` service key is refused as an invalid one).
//! - JSON nested deeper than 128 levels is refused as an invalid body
//!   (serde_json's limit); the server's decoder takes up to 10,000. Its own
//!   depth check (64, `JSON_TOO_DEEP`, `JSONDepthLimiter::CheckDepth` in
//!   internal/middleware/body_limit.go) writes a 400 but returns the nil
//!   error of `c.JSON`, so `BodyLimitMiddleware` goes on to the handler,
//!   whose answer replaces it: it refuses nothing.
//! - A body sent without `Content-Length` (chunked) is held to its route's
//!   limit too, and refused with the same 413 once the limit is read; the
//!   server checks only `Content-Length` and reads such a body up to
//!   Fiber's `BodyLimit` (2 GB).
//! - A dashboard user's id is recorded as a webhook's `created_by`; the
//!   server's foreign key to `auth.users` would refuse it.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use fluxbase_webhooks::Event;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod api;
mod delivery;
mod policy;
mod redact;
mod state;
mod transport;
mod triggers;
mod warnings;
mod wire;

pub use delivery::{Attempt, AttemptOutcome};
pub use fluxbase_webhooks::client::{Warning, WarningCode};
pub use warnings::WarningRecord;

use state::Shared;

/// Which answers the emulator gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Flavor {
    /// What the Fluxbase server really answers (bare arrays, `null` lists,
    /// `enabled`, `{table, operations}` events, 500s for many bad inputs,
    /// `t=…,v1=…` signatures, row payloads).
    #[default]
    Server,
    /// What the Management SDK documentation describes (`{webhooks, total}`,
    /// `is_active`, string events, `{success, …}` test results, the first
    /// SDK's `/api-keys` with `X-API-Key` and the current SDK's
    /// `/client-keys` with `X-Client-Key`, `user.created` payloads signed
    /// with bare hex).
    Documented,
}

impl Flavor {
    /// Both flavors.
    pub const ALL: [Flavor; 2] = [Flavor::Server, Flavor::Documented];

    /// `server` or `documented`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Documented => "documented",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Flavor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "server" => Ok(Self::Server),
            "documented" => Ok(Self::Documented),
            other => Err(Error::Config(format!(
                "unknown flavor `{other}`: use server or documented"
            ))),
        }
    }
}

/// How the emulated server runs: which webhook URLs it takes
/// (`webhookService.AllowPrivateIPs = cfg.Debug` in `internal/api/server.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ServerMode {
    /// A server started with `debug`: no URL check at all (any scheme, an
    /// empty URL on update, loopback and private addresses), so the
    /// emulator can deliver to receivers on this machine. URLs a production
    /// server would refuse are reported as warnings.
    #[default]
    Debug,
    /// A production server: `http`/`https` only, no `localhost`, no
    /// metadata host names, no host resolving to a loopback, private or
    /// link-local address; checked at create, update and every send
    /// (`validateWebhookURL`).
    Production,
}

impl ServerMode {
    /// `debug` or `production`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for ServerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ServerMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "debug" => Ok(Self::Debug),
            "production" => Ok(Self::Production),
            other => Err(Error::Config(format!(
                "unknown server mode `{other}`: use debug or production"
            ))),
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not a loopback address.
    #[error("the emulator binds loopback addresses only, not {0}")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound (why is the
    /// [`source`](std::error::Error::source)).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is invalid (e.g. a seeded password shorter than 12 bytes).
    #[error("{0}")]
    Config(String),
    /// The HTTP client for deliveries could not be built.
    #[error("cannot build the delivery client: {0}")]
    Client(String),
}

/// An email and password seeded into the emulator.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Login {
    /// The email.
    pub email: String,
    /// The password.
    pub password: String,
}

impl Login {
    fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The seeded administrator's email unless set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";
/// The seeded administrator's password unless set.
pub const DEFAULT_ADMIN_PASSWORD: &str = "fluxhook-admin-password";
/// The seeded user's email unless set.
pub const DEFAULT_USER_EMAIL: &str = "user@example.com";
/// The seeded user's password unless set.
pub const DEFAULT_USER_PASSWORD: &str = "fluxhook-User-password-1";

/// Configures and starts an emulator; from [`Emulator::builder`].
#[must_use]
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    pub(crate) addr: SocketAddr,
    pub(crate) flavor: Flavor,
    pub(crate) backoff_unit: Duration,
    pub(crate) admin: Login,
    pub(crate) user: Login,
    pub(crate) two_factor_user: Option<Login>,
    pub(crate) service_key: Option<String>,
    pub(crate) service_key_scopes: Vec<String>,
    pub(crate) admin_enabled: bool,
    pub(crate) server_mode: ServerMode,
    pub(crate) jwt_expiry: Duration,
    pub(crate) rate_limit_per_minute: usize,
}

/// The server's deliveries per URL per minute (`DefaultRateLimitPerEndpoint`
/// in `internal/webhook/trigger.go`).
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: usize = 60;

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            flavor: Flavor::Server,
            backoff_unit: Duration::from_secs(1),
            admin: Login::new(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD),
            user: Login::new(DEFAULT_USER_EMAIL, DEFAULT_USER_PASSWORD),
            two_factor_user: None,
            service_key: None,
            service_key_scopes: vec!["*".to_owned()],
            admin_enabled: true,
            server_mode: ServerMode::Debug,
            jwt_expiry: Duration::from_secs(900),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
        }
    }
}

impl EmulatorBuilder {
    /// Where to listen (default `127.0.0.1:0`, a free port). Loopback only.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Which answers to give (default [`Flavor::Server`]).
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// What one `retry_backoff_seconds` lasts (default one second). After
    /// failed attempt `n` the next waits `n × retry_backoff_seconds × unit`;
    /// tests set a few milliseconds.
    pub fn backoff_unit(mut self, unit: Duration) -> Self {
        self.backoff_unit = unit;
        self
    }

    /// The dashboard administrator (`POST /api/v1/admin/login`).
    pub fn admin(mut self, email: impl Into<String>, password: impl Into<String>) -> Self {
        self.admin = Login::new(email, password);
        self
    }

    /// The application user (`POST /api/v1/auth/signin`).
    pub fn user(mut self, email: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Login::new(email, password);
        self
    }

    /// A second application user whose sign-in answers `requires_2fa`.
    pub fn two_factor_user(
        mut self,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.two_factor_user = Some(Login::new(email, password));
        self
    }

    /// The service key (`X-Service-Key`) it accepts; default: a random
    /// `sk_…` key, see [`RunningEmulator::service_key`].
    pub fn service_key(mut self, key: impl Into<String>) -> Self {
        self.service_key = Some(key.into());
        self
    }

    /// The service key's scopes (default `["*"]`, the server's default for
    /// a new service key). `RequireScope` checks them on every webhook and
    /// client-key route.
    pub fn service_key_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.service_key_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `POST /api/v1/admin/login` exists (default `true`; a server
    /// without the admin interface answers 404).
    pub fn admin_enabled(mut self, enabled: bool) -> Self {
        self.admin_enabled = enabled;
        self
    }

    /// Debug (default) or production: which webhook URLs are taken.
    pub fn server_mode(mut self, mode: ServerMode) -> Self {
        self.server_mode = mode;
        self
    }

    /// How long an application user's access token lives, answered as
    /// `expires_in` by sign-in (default 15 minutes, the server's
    /// `auth.jwt_expiry`; whole seconds, at least one). Dashboard tokens
    /// live 24 hours, as on the server.
    pub fn jwt_expiry(mut self, expiry: Duration) -> Self {
        self.jwt_expiry = expiry;
        self
    }

    /// The most delivery attempts sent to one URL in any 60 seconds
    /// (default 60, the server's fixed limit); more wait, without counting
    /// as attempts. At least one: no setting lets retries storm.
    pub fn rate_limit_per_minute(mut self, limit: usize) -> Self {
        self.rate_limit_per_minute = limit;
        self
    }

    /// Binds and starts serving.
    ///
    /// # Errors
    ///
    /// A non-loopback address, a port already in use, a seeded password
    /// shorter than 12 or longer than 72 bytes, an empty email, a JWT
    /// expiry under a second, a rate limit of zero.
    pub async fn spawn(self) -> Result<RunningEmulator, Error> {
        if !self.addr.ip().is_loopback() {
            return Err(Error::NotLoopback(self.addr));
        }
        if self.jwt_expiry.as_secs() == 0 {
            return Err(Error::Config(
                "the JWT expiry must be at least one second".to_owned(),
            ));
        }
        if self.rate_limit_per_minute == 0 {
            return Err(Error::Config(
                "the rate limit must allow at least one delivery per minute".to_owned(),
            ));
        }
        for (what, login) in std::iter::once(("admin", &self.admin))
            .chain(std::iter::once(("user", &self.user)))
            .chain(self.two_factor_user.iter().map(|l| ("two-factor user", l)))
        {
            if login.email.trim().is_empty() {
                return Err(Error::Config(format!("the {what} email is empty")));
            }
            if !(12..=72).contains(&login.password.len()) {
                return Err(Error::Config(format!(
                    "the {what} password must be 12 to 72 bytes long"
                )));
            }
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr,
            source,
        })?;
        let shared = Shared::new(self, addr)?;
        let (server_shutdown_tx, mut server_shutdown_rx) = watch::channel(false);
        let app = api::router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let signal = async move {
                let _ = server_shutdown_rx.wait_for(|stop| *stop).await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!(error = %err, "emulator server stopped");
            }
        });
        tracing::info!(
            %addr,
            flavor = %shared.config.flavor,
            mode = %shared.config.server_mode,
            "Fluxbase emulator listening"
        );
        Ok(RunningEmulator {
            shared,
            addr,
            server: Some(server),
            server_shutdown: server_shutdown_tx,
        })
    }
}

/// A local Fluxbase management API with a real delivery engine.
///
/// ```no_run
/// use fluxbase_emulator::{Emulator, Flavor};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let emulator = Emulator::builder().flavor(Flavor::Server).spawn().await?;
/// println!("management API at {}", emulator.url());
/// let fired = emulator.trigger_sample("INSERT")?;
/// emulator.wait_idle().await;
/// println!("delivered to {} webhooks", fired.webhooks.len());
/// emulator.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults (loopback, free port, server flavor,
    /// one-second backoff unit, the default seeded logins).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// A running emulator. Dropping it stops the server and the delivery
/// engine; [`RunningEmulator::shutdown`] also waits for them.
pub struct RunningEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    server_shutdown: watch::Sender<bool>,
}

/// What [`RunningEmulator::trigger`] queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Triggered {
    /// The event name (as delivered: the server flavor sends `user.created`
    /// as `INSERT`).
    pub event: String,
    /// Ids of the webhooks the event was queued for.
    pub webhooks: Vec<String>,
    /// Where a production server would not deliver it although a
    /// subscription names it (also in [`RunningEmulator::warnings`]).
    pub warnings: Vec<Warning>,
}

/// What `fluxhook emulator --json` prints once it serves: where it is and
/// how to sign in. It holds the seeded passwords and the service key, as
/// the text start-up output does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Ready {
    /// Always `"ready"`.
    pub event: &'static str,
    /// The base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// `server` or `documented`.
    pub flavor: &'static str,
    /// `debug` or `production`.
    pub server_mode: &'static str,
    /// The service key (`X-Service-Key`).
    pub service_key: String,
    /// The seeded application user (`POST /api/v1/auth/signin`).
    pub user: Account,
    /// The seeded dashboard administrator (`POST /api/v1/admin/login`).
    pub admin: Account,
}

/// A seeded account in [`Ready`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Account {
    /// The email.
    pub email: String,
    /// The password.
    pub password: String,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The flavor it answers in.
    pub fn flavor(&self) -> Flavor {
        self.shared.config.flavor
    }

    /// The seeded administrator.
    pub fn admin(&self) -> &Login {
        &self.shared.config.admin
    }

    /// The seeded application user.
    pub fn user(&self) -> &Login {
        &self.shared.config.user
    }

    /// The service key it accepts.
    pub fn service_key(&self) -> &str {
        &self.shared.config.service_key
    }

    /// Debug or production.
    pub fn server_mode(&self) -> ServerMode {
        self.shared.config.server_mode
    }

    /// Where it is and how to sign in, as `fluxhook emulator --json`
    /// prints it.
    pub fn ready(&self) -> Ready {
        let account = |l: &Login| Account {
            email: l.email.clone(),
            password: l.password.clone(),
        };
        Ready {
            event: "ready",
            url: self.url(),
            flavor: self.flavor().as_str(),
            server_mode: self.server_mode().as_str(),
            service_key: self.service_key().to_owned(),
            user: account(self.user()),
            admin: account(self.admin()),
        }
    }

    /// Every production warning so far, oldest first (at most the last
    /// thousand): what `GET /api/v1/emulator/warnings` answers.
    pub fn warnings(&self) -> Vec<WarningRecord> {
        self.shared.lock().warnings.iter().cloned().collect()
    }

    /// Fires `event`: queues one delivery to every enabled webhook it matches
    /// (see the crate docs for the matching rules) and returns at once.
    ///
    /// # Errors
    ///
    /// An [`Event::Unparsed`] event, which has no wire form to send.
    pub fn trigger(&self, event: Event) -> Result<Triggered, TriggerError> {
        delivery::trigger(&self.shared, event)
    }

    /// Fires [`Event::sample`] of `name` (`INSERT`, `UPDATE`, `DELETE` on
    /// `auth.users`, `user.created`, ...), stamped now. In the server flavor
    /// the record's timestamps end in `+00:00`, as Postgres writes them.
    ///
    /// # Errors
    ///
    /// An unknown name.
    pub fn trigger_sample(&self, name: &str) -> Result<Triggered, TriggerError> {
        delivery::trigger_sample(&self.shared, name)
    }

    /// Waits until every queued delivery, retries included, is done or
    /// waits for its disabled webhook to be enabled again (it then counts
    /// again, from the update that enables the webhook).
    pub async fn wait_idle(&self) {
        let mut rx = self.shared.pending.subscribe();
        let mut stop = self.shared.shutdown.subscribe();
        tokio::select! {
            _ = rx.wait_for(|n| *n == 0) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }

    /// Every delivery attempt so far, oldest first, with the backoff waited
    /// before it (the emulator's own record, for tests).
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.lock().attempts.iter().cloned().collect()
    }

    /// Makes an invitation expire now (to exercise 410 and
    /// `Invitation has expired`). Returns whether the token exists.
    pub fn expire_invitation(&self, token: &str) -> bool {
        let mut state = self.shared.lock();
        match state.invitations.iter_mut().find(|i| i.token == token) {
            Some(inv) => {
                inv.expires_at = state::now() - time::Duration::seconds(1);
                true
            }
            None => false,
        }
    }

    /// Stops serving and delivering, and waits until both have stopped.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let mut tasks = std::mem::take(&mut *self.shared.tasks());
        // The workers stop at the signal; a worker that failed is done too.
        while tasks.join_next().await.is_some() {}
    }

    fn stop(&self) {
        self.server_shutdown.send_replace(true);
        self.shared.shutdown.send_replace(true);
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("flavor", &self.shared.config.flavor)
            .finish_non_exhaustive()
    }
}

/// An event [`RunningEmulator::trigger`] cannot send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TriggerError(pub(crate) String);
