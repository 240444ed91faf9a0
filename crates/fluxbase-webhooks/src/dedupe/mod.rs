//! Replay and duplicate-delivery detection: [`Dedupe`] (the policy),
//! [`DedupeStore`] (where keys are remembered), [`MemoryStore`], and with the
//! `redis` feature `RedisStore`.
//!
//! Two different things are caught here:
//!
//! - **Replays.** The same delivery arriving twice: a captured request sent
//!   again, under its own signature or under another of the delivery's
//!   signatures (every Fluxbase delivery carries two, the timestamped one
//!   and the legacy bare hex). Fluxbase itself never sends the same bytes
//!   twice: every attempt is re-dated. A replay is answered `409 replayed`.
//!   Every accepted delivery is inside the verifier's time window, so a
//!   replay key is remembered only as long as the window lasts.
//! - **Re-deliveries of one event.** Fluxbase delivers at least once, with
//!   no event or delivery id, and every retry carries a new `timestamp` (so
//!   different bytes and a different signature). The default key
//!   ([`event_key`]) is a digest of the body without its `timestamp`: event
//!   name, schema, table, record and old record (or `data` for the
//!   documented shape). Two deliveries with the same key are the same event.
//!   A re-delivery is marked ([`DedupeStatus::is_duplicate`]), or answered
//!   without the handler ([`Duplicates::Acknowledge`]).
//!
//! Both keys come from the one parse of the body the receiver makes anyway.
//! Every receiver checks replays with a bounded [`MemoryStore`] unless told
//! otherwise; the Redis store (feature `redis`) shares one view across a
//! fleet.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::payload::WebhookPayload;

mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use self::memory::{DEFAULT_MEMORY_CAPACITY, MemoryStore};
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};

/// A boxed, sendable future, as returned by [`DedupeStore`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The store could not answer (unreachable, timed out, refused).
///
/// Receivers turn it into a `503 store_unavailable` when they fail closed,
/// or let the delivery through when they fail open. The cause is kept as the
/// [`source`](std::error::Error::source); it is logged, never sent to the
/// sender.
#[derive(Clone)]
pub struct StoreError {
    message: Arc<str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A store error caused by `source` (a connection or protocol error).
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message: "the dedupe store did not answer".into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A store error with its own message, caused by `source`.
    #[cfg_attr(not(all(feature = "queue", feature = "receive")), allow(dead_code))]
    pub(crate) fn with_source(
        message: &str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A store error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into().into(),
            source: None,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
            && self.source.as_ref().map(ToString::to_string)
                == other.source.as_ref().map(ToString::to_string)
    }
}

impl Eq for StoreError {}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Remembers keys for a while, atomically, possibly shared across processes.
///
/// Implementations must make [`DedupeStore::insert`] atomic: when two
/// receivers insert the same key at once, exactly one sees `true`.
pub trait DedupeStore: Send + Sync + 'static {
    /// Records `key` for `ttl` unless it is already there. `Ok(true)` when it
    /// was new (the first sighting), `Ok(false)` when it was already present.
    fn insert<'a>(&'a self, key: &'a str, ttl: Duration)
    -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Forgets `key`, so a later delivery with it is treated as new (used when
    /// the handler failed and the sender will retry).
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Records a key that must be remembered until its `ttl` ends, as
    /// [`DedupeStore::insert`] does: a replay key, whose early loss would
    /// let a replay in. A store that drops keys to stay bounded must not
    /// drop one of these before it expires; when it has no other room, it
    /// fails instead ([`MemoryStore`] does), so the receiver answers 503 and
    /// the sender retries.
    ///
    /// The default calls [`DedupeStore::insert`], which is right for a
    /// store that never drops a live key (Redis under `noeviction`).
    fn insert_guarded<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.insert(key, ttl)
    }

    /// Records one accepted delivery: its replay key, then, only when that
    /// key is new, its event key (a replay must not record anything). What
    /// a receiver calls for every delivery; a store that can do both in one
    /// step overrides it (`RedisStore` does, in one round trip).
    ///
    /// The default inserts the replay key with
    /// [`DedupeStore::insert_guarded`] (or [`DedupeStore::insert`] when it is
    /// not guarded), then the event key with [`DedupeStore::insert`].
    ///
    /// # Errors
    ///
    /// When the replay key could not be recorded: the event key was then not
    /// tried. A failure to record the event key is in [`Recorded::event`].
    fn record_delivery<'a>(
        &'a self,
        replay: ReplayKey<'a>,
        event: Option<(&'a str, Duration)>,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        Box::pin(async move {
            let fresh = match replay.guarded {
                true => self.insert_guarded(replay.key, replay.ttl).await?,
                false => self.insert(replay.key, replay.ttl).await?,
            };
            let event = match (fresh, event) {
                (true, Some((key, ttl))) => Some(self.insert(key, ttl).await),
                _ => None,
            };
            Ok(Recorded::new(fresh, event))
        })
    }
}

/// A delivery's replay key, as [`DedupeStore::record_delivery`] gets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayKey<'a> {
    /// The key.
    pub key: &'a str,
    /// How long to remember it: as long as its delivery can still verify.
    pub ttl: Duration,
    /// Whether it must not be dropped before `ttl` ends (see
    /// [`DedupeStore::insert_guarded`]).
    pub guarded: bool,
}

impl<'a> ReplayKey<'a> {
    /// A replay key.
    pub fn new(key: &'a str, ttl: Duration, guarded: bool) -> Self {
        Self { key, ttl, guarded }
    }
}

/// What [`DedupeStore::record_delivery`] recorded.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub struct Recorded {
    /// Whether the replay key was new (`false`: a replay).
    pub replay: bool,
    /// The event key's insert (`Ok(true)` when it was new), or `None` when
    /// it was not tried: no event key, or a replay.
    pub event: Option<Result<bool, StoreError>>,
}

impl Recorded {
    /// What a store recorded.
    pub fn new(replay: bool, event: Option<Result<bool, StoreError>>) -> Self {
        Self { replay, event }
    }
}

impl<S: DedupeStore + ?Sized> DedupeStore for Arc<S> {
    fn insert<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).insert(key, ttl)
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).remove(key)
    }

    fn insert_guarded<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).insert_guarded(key, ttl)
    }

    fn record_delivery<'a>(
        &'a self,
        replay: ReplayKey<'a>,
        event: Option<(&'a str, Duration)>,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        (**self).record_delivery(replay, event)
    }
}

/// The digests one delivery is known by, from the one parse of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "receive"), allow(dead_code))]
pub(crate) struct Fingerprint {
    /// The event: every field but `timestamp` (`None` for a body that is
    /// not a Fluxbase payload).
    event: Option<[u8; 32]>,
    /// The delivery: the event and its `timestamp`, or the raw bytes of a
    /// body that is not a Fluxbase payload. The same whatever the scheme it
    /// was signed in.
    delivery: [u8; 32],
}

#[cfg_attr(not(feature = "receive"), allow(dead_code))]
impl Fingerprint {
    /// Digests of a Fluxbase payload: one pass over its fields.
    pub(crate) fn of_payload(p: &WebhookPayload<'_>) -> Self {
        let mut h = Sha256::new();
        h.update(b"fluxhook event v1\0");
        let fields: [(&[u8], Option<&str>); 6] = [
            (b"event", Some(p.event.as_ref())),
            (b"schema", p.schema.as_deref()),
            (b"table", p.table.as_deref()),
            (b"record", p.record.map(|r| r.get())),
            (b"old_record", p.old_record.map(|r| r.get())),
            (b"data", p.data.map(|r| r.get())),
        ];
        for (name, value) in fields {
            // Length-prefixed, so no two different payloads hash the same stream.
            h.update(name);
            match value {
                Some(v) => {
                    h.update([1]);
                    h.update((v.len() as u64).to_be_bytes());
                    h.update(v.as_bytes());
                }
                None => h.update([0]),
            }
        }
        let event: [u8; 32] = h.finalize().into();
        let timestamp = p.timestamp.as_deref().unwrap_or_default();
        let delivery = Sha256::new()
            .chain_update(b"fluxhook delivery v1\0")
            .chain_update(event)
            .chain_update((timestamp.len() as u64).to_be_bytes())
            .chain_update(timestamp.as_bytes())
            .finalize()
            .into();
        Self {
            event: Some(event),
            delivery,
        }
    }

    /// Digests of a body that is not a Fluxbase payload: the delivery is
    /// its bytes, and there is no event.
    pub(crate) fn of_bytes(body: &[u8]) -> Self {
        Self {
            event: None,
            delivery: Sha256::new()
                .chain_update(b"fluxhook body v1\0")
                .chain_update(body)
                .finalize()
                .into(),
        }
    }

    fn event_key(&self) -> Option<String> {
        self.event.map(|d| key("event:", &d))
    }

    fn replay_key(&self) -> String {
        key("replay:", &self.delivery)
    }
}

fn key(prefix: &str, digest: &[u8; 32]) -> String {
    let mut hex = [0u8; 64];
    let mut key = String::with_capacity(prefix.len() + hex.len());
    key.push_str(prefix);
    // Cannot fail: the buffer is exactly twice the digest's length, and hex
    // digits are ASCII.
    if const_hex::encode_to_slice(digest, &mut hex).is_ok()
        && let Ok(hex) = std::str::from_utf8(&hex)
    {
        key.push_str(hex);
    }
    key
}

/// The default key of a delivery's event: `event:` and 64 hex digits of
/// SHA-256 over the body's fields except `timestamp` (and the never-trusted
/// in-body `signature`), so retries of one event share it. Receivers compute
/// the same key from the parse they make anyway; this is for code that keeps
/// its own records.
///
/// `None` when the body is not a Fluxbase payload (there is nothing to
/// deduplicate on).
///
/// ```
/// use fluxbase_webhooks::dedupe::event_key;
///
/// let first = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"u1"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let retry = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"u1"},"timestamp":"2026-01-02T03:04:10.5Z"}"#;
/// let other = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"u2"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// assert_eq!(event_key(first), event_key(retry));
/// assert_ne!(event_key(first), event_key(other));
/// ```
pub fn event_key(body: &[u8]) -> Option<String> {
    let payload = WebhookPayload::from_slice(body).ok()?;
    Fingerprint::of_payload(&payload).event_key()
}

/// The key a delivery is known by, whichever of its signatures it came
/// under: `replay:` and 64 hex digits of SHA-256 over the payload's fields
/// and its `timestamp` (over the raw bytes for a body that is not a
/// Fluxbase payload). Receivers refuse a second delivery with a key they
/// hold; this is for hosts that keep their own store (an edge worker, a
/// key-value store of the platform's). Remember it at least as long as a
/// delivery can verify: the verifier's
/// [`tolerance`](crate::Verifier::tolerance) and
/// [`future_skew`](crate::Verifier::future_skew), and a second.
///
/// ```
/// use fluxbase_webhooks::dedupe::replay_key;
///
/// let first = br#"{"event":"INSERT","table":"users","record":{"id":"u1"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let spaced = br#"{"event": "INSERT", "table": "users", "record": {"id":"u1"}, "timestamp": "2026-01-02T03:04:05Z"}"#;
/// let retry = br#"{"event":"INSERT","table":"users","record":{"id":"u1"},"timestamp":"2026-01-02T03:04:10.5Z"}"#;
/// assert_eq!(replay_key(first), replay_key(spaced));
/// assert_ne!(replay_key(first), replay_key(retry));
/// ```
pub fn replay_key(body: &[u8]) -> String {
    match WebhookPayload::from_slice(body) {
        Ok(payload) => Fingerprint::of_payload(&payload),
        Err(_) => Fingerprint::of_bytes(body),
    }
    .replay_key()
}

/// What to do with a re-delivery of an event already received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Duplicates {
    /// Hand it over anyway, with [`DedupeStatus::is_duplicate`] set, so the
    /// handler can decide (the default: nothing is ever dropped silently).
    #[default]
    Mark,
    /// Answer `200` with `{"duplicate":true}` without calling the handler.
    /// Only receivers that see the handler's answer (the tower layer, the
    /// actix-web middleware) do this; extractors mark instead, since they
    /// cannot forget an event whose handler failed.
    Acknowledge,
    /// Do not track events at all (replays are still refused when enabled).
    Off,
}

/// A custom key for duplicate detection: receives the parsed payload,
/// returns the key (or `None` to skip detection for this one).
pub type KeyFn = dyn Fn(&WebhookPayload<'_>) -> Option<String> + Send + Sync;

/// Replay and duplicate-delivery detection for a receiver: which store,
/// which checks, what to do when the store is down.
///
/// Every receiver has one unless told otherwise: [`Dedupe::default`], a
/// bounded [`MemoryStore`] refusing replays and marking re-deliveries. Set
/// another with the receiver builder's `dedupe`; the handler finds a
/// [`DedupeStatus`] with the delivery.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::dedupe::{Dedupe, Duplicates, MemoryStore};
///
/// let dedupe = Dedupe::new(MemoryStore::new(50_000))
///     .duplicates(Duplicates::Acknowledge)  // 200 without the handler for a re-delivery
///     .event_ttl(Duration::from_secs(6 * 3600))
///     .fail_open(false);                    // 503 `store_unavailable` when the store is down
/// # let _ = dedupe;
/// ```
#[derive(Clone)]
#[must_use]
pub struct Dedupe {
    store: Arc<dyn DedupeStore>,
    replays: bool,
    duplicates: Duplicates,
    event_ttl: Duration,
    stale_replay_ttl: Duration,
    key: Option<Arc<KeyFn>>,
    fail_open: bool,
}

/// What the store said about one accepted delivery; handed over with every
/// delivery that passed a receiver with a [`Dedupe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupeStatus {
    duplicate: bool,
    event_key: Option<Arc<str>>,
    recorded: bool,
    unchecked: bool,
}

impl DedupeStatus {
    /// Whether this event was already received (within the event TTL).
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// The key the event was recorded under, if it was tracked.
    pub fn event_key(&self) -> Option<&str> {
        self.event_key.as_deref()
    }

    /// Whether the store failed and the delivery was let through without
    /// its replay or duplicate check (a fail-open policy). Receivers log
    /// such a delivery at WARN.
    pub fn is_unchecked(&self) -> bool {
        self.unchecked
    }
}

/// The keys of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "receive"), allow(dead_code))]
pub(crate) struct DeliveryKeys {
    /// The replay key, how long to remember it, and whether it must be
    /// kept that long ([`DedupeStore::insert_guarded`]), when replays are
    /// refused.
    replay: Option<(String, Duration, bool)>,
    /// The event key, when events are tracked.
    event: Option<String>,
}

impl Default for Dedupe {
    /// A bounded [`MemoryStore`] of [`DEFAULT_MEMORY_CAPACITY`] keys:
    /// replays refused, re-deliveries marked, failing closed.
    fn default() -> Self {
        Self::new(MemoryStore::default())
    }
}

impl Dedupe {
    /// Detection backed by `store`: replays refused, re-deliveries marked,
    /// events remembered 24 h, failing closed.
    pub fn new(store: impl DedupeStore) -> Self {
        Self::shared(Arc::new(store))
    }

    /// Like [`Dedupe::new`] for a store already shared elsewhere.
    pub fn shared(store: Arc<dyn DedupeStore>) -> Self {
        Self {
            store,
            replays: true,
            duplicates: Duplicates::Mark,
            event_ttl: Duration::from_secs(24 * 3600),
            stale_replay_ttl: Duration::from_secs(24 * 3600),
            key: None,
            fail_open: false,
        }
    }

    /// Refuse a delivery seen before with `409 replayed` (default on).
    pub fn reject_replays(mut self, on: bool) -> Self {
        self.replays = on;
        self
    }

    /// What to do with a re-delivered event (default [`Duplicates::Mark`]).
    pub fn duplicates(mut self, policy: Duplicates) -> Self {
        self.duplicates = policy;
        self
    }

    /// How long an event key is remembered (default 24 h). Fluxbase retries
    /// for `max_retries` attempts spaced `retry_backoff_seconds × n`, plus up
    /// to 30 s of scheduling delay; keep this well above that.
    pub fn event_ttl(mut self, ttl: Duration) -> Self {
        self.event_ttl = ttl;
        self
    }

    /// How long an untimestamped delivery is remembered as replayed when the
    /// verifier accepts stale ones
    /// ([`danger_accept_stale_untimestamped`](crate::VerifierBuilder::danger_accept_stale_untimestamped);
    /// default 24 h). Otherwise every delivery is remembered for the
    /// verifier's window, past which it no longer verifies.
    pub fn stale_replay_ttl(mut self, ttl: Duration) -> Self {
        self.stale_replay_ttl = ttl;
        self
    }

    /// Use `key(payload)` instead of [`event_key`] to recognise
    /// re-deliveries (for example `(table, record.id, record.updated_at)`).
    pub fn key_fn(
        mut self,
        key: impl Fn(&WebhookPayload<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// When the store cannot answer: `false` (the default) refuses the
    /// delivery with `503 store_unavailable` so the sender retries later;
    /// `true` lets it through unchecked.
    pub fn fail_open(mut self, open: bool) -> Self {
        self.fail_open = open;
        self
    }

    /// The store in use.
    pub fn store(&self) -> &Arc<dyn DedupeStore> {
        &self.store
    }

    /// The keys one accepted delivery is checked under. `horizon` is how
    /// long it can still verify (`None`: forever, under the danger opt-in).
    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    pub(crate) fn keys(
        &self,
        fingerprint: &Fingerprint,
        payload: Option<&WebhookPayload<'_>>,
        horizon: Option<Duration>,
    ) -> DeliveryKeys {
        // Under the danger opt-in a delivery verifies forever: its key is
        // remembered for `stale_replay_ttl` as best it can be, not guarded
        // (a store full of day-long keys would refuse every delivery).
        let replay = self.replays.then(|| match horizon {
            Some(ttl) => (fingerprint.replay_key(), ttl, true),
            None => (fingerprint.replay_key(), self.stale_replay_ttl, false),
        });
        let event = match (self.duplicates, &self.key) {
            (Duplicates::Off, _) => None,
            (_, Some(f)) => payload.and_then(|p| f(p)),
            (_, None) => fingerprint.event_key(),
        };
        DeliveryKeys { replay, event }
    }

    /// Records an accepted delivery: refuses a replay, then looks the event
    /// up.
    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    ///
    /// # Errors
    ///
    /// [`Error::Replayed`] for a delivery seen before;
    /// [`Error::StoreUnavailable`] when the store fails and the policy is to
    /// fail closed.
    pub(crate) async fn check(&self, keys: DeliveryKeys) -> Result<DedupeStatus, Error> {
        let mut unchecked = false;
        let event = keys.event.as_deref().map(|key| (key, self.event_ttl));
        // Both keys in one call when there is a replay key; the event key
        // alone otherwise, or again on its own when the replay key could not
        // be recorded and the policy is to go on.
        let inserted = match &keys.replay {
            Some((key, ttl, guarded)) => {
                let replay = ReplayKey::new(key, *ttl, *guarded);
                match self.store.record_delivery(replay, event).await {
                    Ok(Recorded { replay: false, .. }) => return Err(Error::Replayed),
                    Ok(Recorded { event, .. }) => event,
                    Err(_) if self.fail_open => {
                        unchecked = true;
                        None
                    }
                    Err(e) => return Err(Error::StoreUnavailable(e)),
                }
            }
            None => None,
        };
        let Some(key) = keys.event else {
            return Ok(DedupeStatus {
                duplicate: false,
                event_key: None,
                recorded: false,
                unchecked,
            });
        };
        let inserted = match inserted {
            Some(inserted) => inserted,
            None => self.store.insert(&key, self.event_ttl).await,
        };
        let (duplicate, recorded) = match inserted {
            Ok(fresh) => (!fresh, fresh),
            Err(_) if self.fail_open => {
                unchecked = true;
                (false, false)
            }
            Err(e) => return Err(Error::StoreUnavailable(e)),
        };
        Ok(DedupeStatus {
            duplicate,
            event_key: Some(key.into()),
            recorded,
            unchecked,
        })
    }

    /// Whether this delivery is answered without calling the handler.
    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    pub(crate) fn acknowledges(&self, status: &DedupeStatus) -> bool {
        status.duplicate && self.duplicates == Duplicates::Acknowledge
    }

    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    /// Forgets the event of a delivery whose handler failed, so the sender's
    /// retry is treated as new. Does nothing for a delivery that did not
    /// record its key (a duplicate, or untracked).
    ///
    /// # Errors
    ///
    /// When the store cannot forget: the retry will then look like a
    /// duplicate until the key expires. Receivers log this at ERROR.
    pub(crate) async fn forget(&self, status: &DedupeStatus) -> Result<(), StoreError> {
        match status.event_key.as_deref().filter(|_| status.recorded) {
            Some(key) => self.store.remove(key).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Dedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedupe")
            .field("replays", &self.replays)
            .field("duplicates", &self.duplicates)
            .field("event_ttl", &self.event_ttl)
            .field("stale_replay_ttl", &self.stale_replay_ttl)
            .field("custom_key", &self.key.is_some())
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxhook_testkit::block_on;

    const BODY: &[u8] = br#"{"event":"INSERT","table":"t","schema":"s","record":{"id":1},"timestamp":"2026-01-02T03:04:05Z"}"#;
    const RETRY: &[u8] = br#"{"event":"INSERT","table":"t","schema":"s","record":{"id":1},"timestamp":"2026-01-02T03:04:10Z"}"#;
    const WINDOW: Option<Duration> = Some(Duration::from_secs(361));

    fn keys(d: &Dedupe, body: &[u8]) -> DeliveryKeys {
        let payload = WebhookPayload::from_slice(body).unwrap();
        d.keys(&Fingerprint::of_payload(&payload), Some(&payload), WINDOW)
    }

    #[test]
    fn replay_keys_are_guarded_unless_deliveries_verify_forever() {
        // Room for one key: a guarded replay key fills it for its window.
        let d = Dedupe::new(MemoryStore::new(1)).duplicates(Duplicates::Off);
        let payload = WebhookPayload::from_slice(BODY).unwrap();
        let fingerprint = Fingerprint::of_payload(&payload);
        let guarded = d.keys(&fingerprint, Some(&payload), WINDOW);
        assert!(matches!(guarded.replay, Some((_, ttl, true)) if Some(ttl) == WINDOW));
        assert!(block_on(d.check(guarded)).is_ok());
        let other = WebhookPayload::from_slice(RETRY).unwrap();
        let full = d.keys(&Fingerprint::of_payload(&other), Some(&other), WINDOW);
        assert!(matches!(
            block_on(d.check(full)),
            Err(Error::StoreUnavailable(_))
        ));
        // Under the stale-accepting opt-in (no horizon) the key lives
        // `stale_replay_ttl` and may be dropped for room: never a 503.
        let open = Dedupe::new(MemoryStore::new(1)).duplicates(Duplicates::Off);
        for body in [BODY, RETRY] {
            let p = WebhookPayload::from_slice(body).unwrap();
            let keys = open.keys(&Fingerprint::of_payload(&p), Some(&p), None);
            assert!(matches!(keys.replay, Some((_, ttl, false)) if ttl == open.stale_replay_ttl));
            assert!(block_on(open.check(keys)).is_ok());
        }
    }

    #[test]
    fn replays_are_refused_and_retries_marked() {
        let d = Dedupe::new(MemoryStore::new(100));
        let first = block_on(d.check(keys(&d, BODY))).unwrap();
        assert!(!first.is_duplicate());
        // The same delivery again: a replay, remembered for the window.
        assert_eq!(keys(&d, BODY).replay.unwrap().1, Duration::from_secs(361));
        assert_eq!(
            block_on(d.check(keys(&d, BODY))).unwrap_err(),
            Error::Replayed
        );
        // The server's retry: re-dated, same event.
        let retry = block_on(d.check(keys(&d, RETRY))).unwrap();
        assert!(retry.is_duplicate());
        assert_eq!(retry.event_key(), first.event_key());
        assert!(!d.acknowledges(&retry));
        assert!(
            d.clone()
                .duplicates(Duplicates::Acknowledge)
                .acknowledges(&retry)
        );
        // A duplicate never forgets the original's key.
        block_on(d.forget(&retry)).unwrap();
        let third = br#"{"event":"INSERT","table":"t","schema":"s","record":{"id":1},"timestamp":"2026-01-02T03:04:20Z"}"#;
        assert!(block_on(d.check(keys(&d, third))).unwrap().is_duplicate());
    }

    #[test]
    fn a_failed_handler_lets_the_retry_through() {
        let d = Dedupe::new(MemoryStore::new(100));
        let first = block_on(d.check(keys(&d, BODY))).unwrap();
        block_on(d.forget(&first)).unwrap();
        assert!(!block_on(d.check(keys(&d, RETRY))).unwrap().is_duplicate());
    }

    #[test]
    fn the_delivery_key_ignores_the_scheme_and_spelling_but_not_the_date() {
        let spaced = br#"{ "event": "INSERT", "table": "t", "schema": "s", "record": {"id":1}, "timestamp": "2026-01-02T03:04:05Z" }"#;
        let payload = |b| WebhookPayload::from_slice(b).unwrap();
        let a = Fingerprint::of_payload(&payload(BODY));
        assert_eq!(a, Fingerprint::of_payload(&payload(spaced)));
        let retry = Fingerprint::of_payload(&payload(RETRY));
        assert_ne!(a.replay_key(), retry.replay_key());
        assert_eq!(a.event_key(), retry.event_key());
        assert_eq!(a.event_key(), event_key(BODY));
        assert_eq!(a.replay_key(), replay_key(BODY));
        assert_eq!(
            Fingerprint::of_bytes(b"plain bytes").replay_key(),
            replay_key(b"plain bytes")
        );
        assert!(a.replay_key().starts_with("replay:"));
        assert_eq!(a.replay_key().len(), "replay:".len() + 64);
        // Not a payload: the bytes are the delivery, and there is no event.
        let raw = Fingerprint::of_bytes(b"plain bytes");
        assert_eq!(raw.event_key(), None);
        assert_ne!(
            raw.replay_key(),
            Fingerprint::of_bytes(b"plain bytez").replay_key()
        );
    }

    #[test]
    fn custom_keys_and_off() {
        let d = Dedupe::new(MemoryStore::new(100))
            .key_fn(|p| p.table.as_ref().map(|t| format!("row:{t}")));
        assert_eq!(keys(&d, BODY).event.as_deref(), Some("row:t"));
        let off = d.duplicates(Duplicates::Off).reject_replays(false);
        assert_eq!(
            keys(&off, BODY),
            DeliveryKeys {
                replay: None,
                event: None
            }
        );
        // Under the stale opt-in, untimestamped deliveries have no horizon.
        let d = Dedupe::new(MemoryStore::new(100)).stale_replay_ttl(Duration::from_secs(9));
        let payload = WebhookPayload::from_slice(BODY).unwrap();
        let fp = Fingerprint::of_payload(&payload);
        assert_eq!(
            d.keys(&fp, None, None).replay.unwrap().1,
            Duration::from_secs(9)
        );
    }

    struct Down;
    impl DedupeStore for Down {
        fn insert<'a>(
            &'a self,
            _: &'a str,
            _: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(std::future::ready(Err(StoreError::new(
                std::io::Error::other("down"),
            ))))
        }
        fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(std::future::ready(Err(StoreError::msg("down"))))
        }
    }

    #[test]
    fn store_failure_policy() {
        use std::error::Error as _;
        let closed = Dedupe::new(Down);
        let err = block_on(closed.check(keys(&closed, BODY))).unwrap_err();
        assert_eq!(err.code(), crate::Code::StoreUnavailable);
        let cause = err.source().and_then(|store| store.source());
        assert_eq!(cause.map(ToString::to_string).as_deref(), Some("down"));
        let open = Dedupe::new(Down).fail_open(true);
        let d = block_on(open.check(keys(&open, BODY))).unwrap();
        assert!(!d.is_duplicate());
        assert!(d.is_unchecked());
        // Nothing was recorded, so nothing is forgotten (the store is not asked).
        assert!(block_on(open.forget(&d)).is_ok());
        let up = Dedupe::new(MemoryStore::new(10)).fail_open(true);
        let d = block_on(up.check(keys(&up, BODY))).unwrap();
        assert!(!d.is_unchecked());
    }

    /// A store with the trait's own `record_delivery`, whose guarded
    /// inserts fail when `guard_down`.
    struct Plain {
        inner: MemoryStore,
        guard_down: bool,
    }

    impl DedupeStore for Plain {
        fn insert<'a>(
            &'a self,
            key: &'a str,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.insert(key, ttl)
        }

        fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.remove(key)
        }

        fn insert_guarded<'a>(
            &'a self,
            key: &'a str,
            ttl: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            match self.guard_down {
                true => Box::pin(std::future::ready(Err(StoreError::msg("down")))),
                false => self.inner.insert_guarded(key, ttl),
            }
        }
    }

    #[test]
    fn a_replay_records_no_event_whatever_the_store() {
        let plain = |guard_down| {
            Arc::new(Plain {
                inner: MemoryStore::new(10),
                guard_down,
            })
        };
        let memory: Arc<dyn DedupeStore> = Arc::new(MemoryStore::new(10));
        for store in [memory, plain(false)] {
            let d = Dedupe::shared(store.clone());
            let first = block_on(d.check(keys(&d, BODY))).unwrap();
            assert!(!first.is_duplicate());
            let event = first.event_key().unwrap().to_owned();
            block_on(store.remove(&event)).unwrap();
            assert!(matches!(
                block_on(d.check(keys(&d, BODY))),
                Err(Error::Replayed)
            ));
            let ttl = Duration::from_secs(60);
            assert_eq!(block_on(store.insert(&event, ttl)), Ok(true));
            // The retry (another delivery of the event) is marked.
            assert!(block_on(d.check(keys(&d, RETRY))).unwrap().is_duplicate());
        }
        // The replay key cannot be recorded: closed, nothing is recorded;
        // open, the event key still is, so the retry is marked.
        let store = plain(true);
        let closed = Dedupe::shared(store.clone());
        assert!(matches!(
            block_on(closed.check(keys(&closed, BODY))),
            Err(Error::StoreUnavailable(_))
        ));
        assert_eq!(store.inner.len(), 0);
        let open = Dedupe::shared(store).fail_open(true);
        let first = block_on(open.check(keys(&open, BODY))).unwrap();
        assert!(first.is_unchecked() && !first.is_duplicate());
        assert!(
            block_on(open.check(keys(&open, RETRY)))
                .unwrap()
                .is_duplicate()
        );
    }

    #[test]
    fn event_key_ignores_only_the_timestamp() {
        let base = br#"{"event":"UPDATE","table":"t","schema":"s","record":{"a":1},"old_record":{"a":0},"timestamp":"2026-01-02T03:04:05Z"}"#;
        let retry = br#"{"event":"UPDATE","table":"t","schema":"s","record":{"a":1},"old_record":{"a":0},"timestamp":"2026-01-02T04:04:15.25+01:00"}"#;
        assert_eq!(event_key(base), event_key(retry));
        for changed in [
            &br#"{"event":"INSERT","table":"t","schema":"s","record":{"a":1},"old_record":{"a":0},"timestamp":"x"}"#[..],
            br#"{"event":"UPDATE","table":"u","schema":"s","record":{"a":1},"old_record":{"a":0},"timestamp":"x"}"#,
            br#"{"event":"UPDATE","table":"t","schema":"p","record":{"a":1},"old_record":{"a":0},"timestamp":"x"}"#,
            br#"{"event":"UPDATE","table":"t","schema":"s","record":{"a":2},"old_record":{"a":0},"timestamp":"x"}"#,
            br#"{"event":"UPDATE","table":"t","schema":"s","record":{"a":1},"timestamp":"x"}"#,
        ] {
            assert_ne!(event_key(base), event_key(changed));
        }
        // Moving bytes between fields changes the key (length prefixes).
        assert_ne!(
            event_key(br#"{"event":"E","table":"ab","schema":"c"}"#),
            event_key(br#"{"event":"E","table":"a","schema":"bc"}"#)
        );
        assert_eq!(event_key(b"not json"), None);
    }
}
