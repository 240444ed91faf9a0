//! Replay and duplicate-delivery detection: [`DedupeStore`], [`MemoryStore`],
//! and the keys they remember.
//!
//! Two different things are caught here:
//!
//! - **Exact replays.** The same signature header arriving twice. Fluxbase
//!   re-signs every attempt with a fresh `t`, so a header seen before is a
//!   captured request sent again; integrations answer it `409 replayed`.
//!   The key is a digest of the parsed header ([`replay_key`]), so spacing
//!   and hex case do not make a replay look new.
//! - **Re-deliveries of one event.** Fluxbase delivers at least once, with no
//!   event or delivery id, and every retry carries a new `timestamp` (and so
//!   different bytes and a different signature). The default key
//!   ([`event_key`]) is a digest of the body without its `timestamp`: event
//!   name, schema, table, record and old record (or `data` for the
//!   documented shape). Two deliveries with the same key are the same event.
//!
//! A [`DedupeStore`] remembers keys for a while: [`MemoryStore`] inside one
//! process, the Redis store (feature `redis`) across a fleet.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::clock::Instant;
use crate::error::Error;
use crate::event::Event;
use crate::payload::WebhookPayload;
use crate::signature::{Scheme, SignatureHeader};
use crate::verify::Verifier;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisStore, RedisStoreBuilder};

/// A boxed, sendable future, as returned by [`DedupeStore`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The store could not answer (unreachable, timed out, refused).
///
/// Integrations turn it into a `503` with code `store_unavailable` when they
/// fail closed, or let the delivery through when they fail open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the dedupe store is unavailable: {0}")]
pub struct StoreError(pub String);

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
}

impl<S: DedupeStore + ?Sized> DedupeStore for std::sync::Arc<S> {
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
}

/// The key under which an exact replay of `header` is remembered:
/// `replay:` and 64 hex digits of SHA-256 over the header's canonical form.
///
/// ```
/// use fluxbase_webhooks::{SignatureHeader, dedupe::replay_key};
///
/// let tag = "85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c";
/// let a = SignatureHeader::parse(format!("t=1234567890,v1={tag}"))?;
/// let b = SignatureHeader::parse(format!(" t = 1234567890 , v1 = {} ", tag.to_uppercase()))?;
/// assert_eq!(replay_key(&a), replay_key(&b));
/// # Ok::<(), fluxbase_webhooks::Error>(())
/// ```
pub fn replay_key(header: &SignatureHeader) -> String {
    let digest = Sha256::new()
        .chain_update(b"fluxhook replay v1\0")
        .chain_update(header.to_string().as_bytes())
        .finalize();
    format!("replay:{}", const_hex::encode(digest))
}

/// The default key of a delivery's event: `event:` and 64 hex digits of
/// SHA-256 over the body's fields except `timestamp` (and the never-trusted
/// in-body `signature`), so retries of one event share it.
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
    let p = WebhookPayload::from_slice(body).ok()?;
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
    Some(format!("event:{}", const_hex::encode(h.finalize())))
}

/// An in-process [`DedupeStore`]: bounded in size, entries expire.
///
/// Expired entries are dropped as soon as they expire, whatever their
/// lifetimes (a dedupe policy mixes replay keys of minutes with event keys of
/// hours). When full, the oldest entry is dropped to make room, so memory
/// never grows past `capacity` entries. The first time it is full, the store sizes its
/// tables for twice its capacity, so what it holds stops growing at that
/// moment and not at a later eviction: budget about 300 bytes per key of
/// capacity, keys included (about 30 MiB for the default 100,000 keys, as
/// measured by the soak in RELIABILITY.md). Use the Redis store when several receiver instances must share one
/// view.
///
/// Its answers are ready at once, but as every [`DedupeStore`]'s they are
/// futures, awaited here on a tokio runtime:
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::dedupe::{DedupeStore, MemoryStore, StoreError};
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> Result<(), StoreError> {
///     let store = MemoryStore::new(10_000);
///     let ttl = Duration::from_secs(60);
///     assert!(store.insert("event:abc", ttl).await?); // first sighting
///     assert!(!store.insert("event:abc", ttl).await?); // seen within the minute
///     Ok(())
/// }
/// ```
pub struct MemoryStore {
    capacity: usize,
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    /// Key → (expiry, insertion sequence number).
    entries: HashMap<Box<str>, (Instant, u64)>,
    /// One queue of keys per lifetime, in insertion order, with the sequence
    /// number each was inserted under (a removed and re-inserted key leaves
    /// a stale row behind). Within one lifetime, insertion order is expiry
    /// order, so every queue expires from its front.
    queues: Vec<(Duration, Queue)>,
    next_seq: u64,
}

/// Keys in insertion order, with the sequence number each was inserted under.
type Queue = VecDeque<(u64, Box<str>)>;

/// Lifetimes with a queue of their own; keys of any further lifetime share
/// the last queue (they are then purged late, never kept alive: a lookup
/// checks the expiry).
const MAX_QUEUES: usize = 8;

/// Default capacity of [`MemoryStore::default`].
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

impl MemoryStore {
    /// A store holding at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    /// Number of keys held (expired ones included until they are purged).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Inserts at the given time; the logic of [`DedupeStore::insert`].
    pub fn insert_at(&self, key: &str, ttl: Duration, now: Instant) -> bool {
        let mut inner = self.lock();
        inner.purge(now, self.capacity);
        if inner
            .entries
            .get(key)
            .is_some_and(|(expiry, _)| *expiry > now)
        {
            return false;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(365 * 86400));
        inner.entries.insert(key.into(), (expiry, seq));
        inner.queue(ttl).push_back((seq, key.into()));
        // Room for this one was made by `purge`; enforce the bound again in
        // case every entry was live.
        inner.evict_to(self.capacity);
        inner.reserve_when_full(self.capacity);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the map inconsistent in
        // a way that matters here: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MemoryInner {
    /// The queue of keys that live `ttl`.
    fn queue(&mut self, ttl: Duration) -> &mut Queue {
        let i = match self.queues.iter().position(|(t, _)| *t == ttl) {
            Some(i) => i,
            None if self.queues.len() < MAX_QUEUES => {
                self.queues.push((ttl, VecDeque::new()));
                self.queues.len() - 1
            }
            None => self.queues.len() - 1,
        };
        &mut self.queues[i].1
    }

    /// Whether `row` still stands for its key's entry.
    fn is_current(
        entries: &HashMap<Box<str>, (Instant, u64)>,
        (seq, key): &(u64, Box<str>),
    ) -> bool {
        entries.get(key).is_some_and(|(_, s)| s == seq)
    }

    /// The first time the store is full, sizes its tables for good, so that
    /// the memory it holds stops growing then rather than at some later
    /// eviction.
    ///
    /// Once full, every insert evicts: a removed key leaves a tombstone in
    /// the hash table, and when tombstones have used up its spare room the
    /// table is rebuilt, in place if at most half of its room is live and
    /// twice as large otherwise. Room for twice the capacity keeps every
    /// rebuild in place. Each queue gets room for twice its rows, as stale
    /// rows may double them before they are dropped.
    fn reserve_when_full(&mut self, capacity: usize) {
        if self.entries.len() < capacity {
            return;
        }
        let room = capacity.saturating_mul(2);
        if self.entries.capacity() < room {
            self.entries.reserve(room - self.entries.len());
            for (_, queue) in &mut self.queues {
                queue.reserve(queue.len() + 64);
            }
        }
    }

    /// Drops every expired entry and makes room for one more.
    fn purge(&mut self, now: Instant, capacity: usize) {
        let entries = &mut self.entries;
        for (_, queue) in &mut self.queues {
            while let Some((seq, key)) = queue.front() {
                match entries.get(key) {
                    Some((expiry, s)) if s == seq && *expiry > now => break,
                    Some((_, s)) if s == seq => {
                        entries.remove(key);
                    }
                    _ => {}
                }
                queue.pop_front();
            }
        }
        self.evict_to(capacity.saturating_sub(1));
    }

    /// Drops the oldest entries until at most `max` remain.
    fn evict_to(&mut self, max: usize) {
        while self.entries.len() > max {
            // The queue whose front is the oldest row.
            let oldest = self
                .queues
                .iter()
                .enumerate()
                .filter_map(|(i, (_, q))| q.front().map(|(seq, _)| (*seq, i)))
                .min();
            let Some((_, i)) = oldest else { break };
            if let Some(row) = self.queues[i].1.pop_front()
                && Self::is_current(&self.entries, &row)
            {
                self.entries.remove(&row.1);
            }
        }
        // Stale rows (removed keys) must not pile up either.
        let rows: usize = self.queues.iter().map(|(_, q)| q.len()).sum();
        if rows > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            for (_, queue) in &mut self.queues {
                queue.retain(|row| Self::is_current(entries, row));
            }
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_CAPACITY)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl DedupeStore for MemoryStore {
    fn insert<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let fresh = self.insert_at(key, ttl, Instant::now());
        Box::pin(std::future::ready(Ok(fresh)))
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.lock().entries.remove(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What to do with a re-delivery of an event already received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Duplicates {
    /// Call the handler anyway, with [`Delivery::is_duplicate`] set, so it
    /// can decide (the default: nothing is ever dropped silently).
    #[default]
    Mark,
    /// Answer `200` with `{"duplicate":true}` without calling the handler.
    Acknowledge,
    /// Do not track events at all (replays are still refused when enabled).
    Off,
}

/// A custom key for duplicate detection: receives the parsed event and the
/// raw body, returns the key (or `None` to skip detection for this one).
pub type KeyFn = dyn Fn(&Event, &[u8]) -> Option<String> + Send + Sync;

/// Replay and duplicate-delivery detection for a receiver: which store,
/// which checks, what to do when the store is down.
///
/// Configured on `tower::VerifyLayer::dedupe` or the actix-web
/// `Verify::dedupe` middleware; the handler then finds a [`Delivery`] in
/// the request extensions.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::dedupe::{Dedupe, Duplicates, MemoryStore};
///
/// let dedupe = Dedupe::new(MemoryStore::default())
///     .reject_replays(true)                 // 409 `replayed` for a header seen before
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
    untimed_replay_ttl: Duration,
    key: Option<Arc<KeyFn>>,
    fail_open: bool,
}

/// What the store said about one accepted delivery; in the request
/// extensions of every delivery that passed a receiver with a [`Dedupe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    duplicate: bool,
    event_key: Option<Arc<str>>,
    recorded: bool,
    unchecked: bool,
}

impl Delivery {
    /// Whether this event was already received (within the event TTL).
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// The key the event was recorded under, if it was tracked.
    pub fn event_key(&self) -> Option<&str> {
        self.event_key.as_deref()
    }

    /// Whether the store failed and the delivery was let through without
    /// its replay or duplicate check (a fail-open policy). Integrations log
    /// such a delivery at WARN.
    pub fn is_unchecked(&self) -> bool {
        self.unchecked
    }
}

impl Dedupe {
    /// Detection backed by `store`: exact replays refused, re-deliveries
    /// marked, events remembered 24 h, failing closed.
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
            untimed_replay_ttl: Duration::from_secs(24 * 3600),
            key: None,
            fail_open: false,
        }
    }

    /// Refuse a signature header seen before with `409 replayed` (default on).
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

    /// How long a header of an untimed scheme (bare hex, `sha256=`) is
    /// remembered as replayed (default 24 h). Timestamped headers are
    /// remembered for the verifier's window, past which they fail anyway.
    pub fn untimed_replay_ttl(mut self, ttl: Duration) -> Self {
        self.untimed_replay_ttl = ttl;
        self
    }

    /// Use `key(event, body)` instead of [`event_key`] to recognise
    /// re-deliveries (for example `(table, record.id, record.updated_at)`).
    pub fn key_fn(
        mut self,
        key: impl Fn(&Event, &[u8]) -> Option<String> + Send + Sync + 'static,
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

    /// The configured duplicate policy.
    pub fn duplicate_policy(&self) -> Duplicates {
        self.duplicates
    }

    /// The keys one verified delivery is checked under.
    pub fn keys(
        &self,
        header: &SignatureHeader,
        verifier: &Verifier,
        event: &Event,
        body: &[u8],
    ) -> DeliveryKeys {
        let replay = self.replays.then(|| {
            let ttl = if header.scheme() == Scheme::Timestamped {
                verifier
                    .past_tolerance()
                    .saturating_add(verifier.future_skew())
                    .saturating_add(Duration::from_secs(1))
            } else {
                self.untimed_replay_ttl
            };
            (replay_key(header), ttl)
        });
        let event = match self.duplicates {
            Duplicates::Off => None,
            _ => match &self.key {
                Some(f) => f(event, body),
                None => event_key(body),
            },
        };
        DeliveryKeys { replay, event }
    }

    /// Records a verified delivery: refuses a replay, then looks the event
    /// up. The future owns what it needs, so it can be stored in a service's
    /// response future.
    ///
    /// # Errors
    ///
    /// [`Error::Replayed`] for a header seen before; [`Error::StoreUnavailable`]
    /// when the store fails and the policy is to fail closed.
    pub fn check(&self, keys: DeliveryKeys) -> BoxFuture<'static, Result<Delivery, Error>> {
        let this = self.clone();
        Box::pin(async move {
            let mut unchecked = false;
            if let Some((key, ttl)) = &keys.replay {
                match this.store.insert(key, *ttl).await {
                    Ok(true) => {}
                    Ok(false) => return Err(Error::Replayed),
                    Err(_) if this.fail_open => unchecked = true,
                    Err(e) => return Err(Error::StoreUnavailable(e.0)),
                }
            }
            let Some(key) = keys.event else {
                return Ok(Delivery {
                    duplicate: false,
                    event_key: None,
                    recorded: false,
                    unchecked,
                });
            };
            let (duplicate, recorded) = match this.store.insert(&key, this.event_ttl).await {
                Ok(fresh) => (!fresh, fresh),
                Err(_) if this.fail_open => {
                    unchecked = true;
                    (false, false)
                }
                Err(e) => return Err(Error::StoreUnavailable(e.0)),
            };
            Ok(Delivery {
                duplicate,
                event_key: Some(key.into()),
                recorded,
                unchecked,
            })
        })
    }

    /// Whether this delivery should be answered without calling the handler.
    pub fn acknowledges(&self, delivery: &Delivery) -> bool {
        delivery.duplicate && self.duplicates == Duplicates::Acknowledge
    }

    /// Forgets the event of a delivery whose handler failed, so the sender's
    /// retry is treated as new. Does nothing for a delivery that did not
    /// record its key (a duplicate, or untracked).
    ///
    /// # Errors
    ///
    /// When the store cannot forget: the retry will then look like a
    /// duplicate until the key expires. Integrations log this at error level.
    pub fn forget(
        &self,
        delivery: &Delivery,
    ) -> Option<BoxFuture<'static, Result<(), StoreError>>> {
        let key = delivery.event_key.clone().filter(|_| delivery.recorded)?;
        let store = self.store.clone();
        Some(Box::pin(async move { store.remove(&key).await }))
    }
}

impl fmt::Debug for Dedupe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedupe")
            .field("replays", &self.replays)
            .field("duplicates", &self.duplicates)
            .field("event_ttl", &self.event_ttl)
            .field("untimed_replay_ttl", &self.untimed_replay_ttl)
            .field("custom_key", &self.key.is_some())
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

/// The keys of one delivery, from [`Dedupe::keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryKeys {
    /// The replay key and how long to remember it, when replays are refused.
    pub replay: Option<(String, Duration)>,
    /// The event key, when events are tracked.
    pub event: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    fn sample(body: &[u8]) -> (SignatureHeader, Event) {
        let header = crate::Signer::new("k").sign(Scheme::Timestamped, 1_700_000_000, body);
        (header, Event::from_slice(body).unwrap())
    }

    const BODY: &[u8] = br#"{"event":"INSERT","table":"t","schema":"s","record":{"id":1},"timestamp":"2026-01-02T03:04:05Z"}"#;
    const RETRY: &[u8] = br#"{"event":"INSERT","table":"t","schema":"s","record":{"id":1},"timestamp":"2026-01-02T03:04:10Z"}"#;

    #[test]
    fn replays_are_refused_and_retries_marked() {
        let d = Dedupe::new(MemoryStore::new(100));
        let v = Verifier::new("k");
        let (h1, e1) = sample(BODY);
        let first = block_on(d.check(d.keys(&h1, &v, &e1, BODY))).unwrap();
        assert!(!first.is_duplicate());
        // The same header again: a replay.
        assert_eq!(
            block_on(d.check(d.keys(&h1, &v, &e1, BODY))).unwrap_err(),
            Error::Replayed
        );
        // The server's retry: new header, same event.
        let (h2, e2) = sample(RETRY);
        let retry = block_on(d.check(d.keys(&h2, &v, &e2, RETRY))).unwrap();
        assert!(retry.is_duplicate());
        assert_eq!(retry.event_key(), first.event_key());
        assert!(!d.acknowledges(&retry));
        assert!(
            d.clone()
                .duplicates(Duplicates::Acknowledge)
                .acknowledges(&retry)
        );
        // A duplicate never forgets the original's key.
        assert!(d.forget(&retry).is_none());
    }

    #[test]
    fn a_failed_handler_lets_the_retry_through() {
        let d = Dedupe::new(MemoryStore::new(100));
        let v = Verifier::new("k");
        let (h1, e1) = sample(BODY);
        let first = block_on(d.check(d.keys(&h1, &v, &e1, BODY))).unwrap();
        block_on(d.forget(&first).unwrap()).unwrap();
        let (h2, e2) = sample(RETRY);
        assert!(
            !block_on(d.check(d.keys(&h2, &v, &e2, RETRY)))
                .unwrap()
                .is_duplicate()
        );
    }

    #[test]
    fn custom_keys_and_off() {
        let d = Dedupe::new(MemoryStore::new(100))
            .key_fn(|e, _| e.row().map(|r| format!("row:{}", r.table())));
        let v = Verifier::new("k");
        let (h, e) = sample(BODY);
        assert_eq!(d.keys(&h, &v, &e, BODY).event.as_deref(), Some("row:t"));
        let off = d.duplicates(Duplicates::Off).reject_replays(false);
        assert_eq!(
            off.keys(&h, &v, &e, BODY),
            DeliveryKeys {
                replay: None,
                event: None
            }
        );
    }

    struct Down;
    impl DedupeStore for Down {
        fn insert<'a>(
            &'a self,
            _: &'a str,
            _: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            Box::pin(std::future::ready(Err(StoreError("down".into()))))
        }
        fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(std::future::ready(Err(StoreError("down".into()))))
        }
    }

    #[test]
    fn store_failure_policy() {
        let v = Verifier::new("k");
        let (h, e) = sample(BODY);
        let closed = Dedupe::new(Down);
        let err = block_on(closed.check(closed.keys(&h, &v, &e, BODY))).unwrap_err();
        assert_eq!(err.code(), crate::Code::StoreUnavailable);
        let open = Dedupe::new(Down).fail_open(true);
        let d = block_on(open.check(open.keys(&h, &v, &e, BODY))).unwrap();
        assert!(!d.is_duplicate());
        assert!(d.is_unchecked());
        assert!(open.forget(&d).is_none());
        let up = Dedupe::new(MemoryStore::new(10)).fail_open(true);
        let d = block_on(up.check(up.keys(&h, &v, &e, BODY))).unwrap();
        assert!(!d.is_unchecked());
    }

    #[test]
    fn first_sighting_only_once() {
        let s = MemoryStore::new(10);
        let t = Duration::from_secs(10);
        assert_eq!(block_on(s.insert("a", t)), Ok(true));
        assert_eq!(block_on(s.insert("a", t)), Ok(false));
        assert_eq!(block_on(s.insert("b", t)), Ok(true));
        block_on(s.remove("a")).unwrap();
        assert_eq!(block_on(s.insert("a", t)), Ok(true));
    }

    #[test]
    fn entries_expire() {
        let s = MemoryStore::new(10);
        let t0 = Instant::now();
        assert!(s.insert_at("a", Duration::from_secs(5), t0));
        assert!(!s.insert_at("a", Duration::from_secs(5), t0 + Duration::from_secs(4)));
        assert!(s.insert_at("a", Duration::from_secs(5), t0 + Duration::from_secs(6)));
    }

    #[test]
    fn size_is_bounded() {
        let s = MemoryStore::new(100);
        let t0 = Instant::now();
        for i in 0..10_000 {
            assert!(s.insert_at(&format!("k{i}"), Duration::from_secs(3600), t0));
            assert!(s.len() <= 100);
        }
        // The newest are remembered, the oldest were dropped.
        assert!(!s.insert_at("k9999", Duration::from_secs(3600), t0));
        assert!(s.insert_at("k0", Duration::from_secs(3600), t0));
        // Remove/re-insert churn leaves no unbounded bookkeeping behind.
        for _ in 0..10_000 {
            block_on(s.remove("k0")).unwrap();
            assert!(s.insert_at("k0", Duration::from_secs(3600), t0));
        }
        let rows: usize = s.lock().queues.iter().map(|(_, q)| q.len()).sum();
        assert!(rows <= 2 * 100 + 64);
    }

    #[test]
    fn short_lived_keys_expire_behind_long_lived_ones() {
        let s = MemoryStore::new(100);
        let t0 = Instant::now();
        for i in 0..10 {
            assert!(s.insert_at(&format!("replay{i}"), Duration::from_secs(1), t0));
            assert!(s.insert_at(&format!("event{i}"), Duration::from_secs(3600), t0));
        }
        assert!(s.insert_at("next", Duration::from_secs(1), t0 + Duration::from_secs(2)));
        assert_eq!(s.len(), 11, "every expired replay key is gone");
        assert!(!s.insert_at(
            "event0",
            Duration::from_secs(3600),
            t0 + Duration::from_secs(2)
        ));
    }

    #[test]
    fn a_full_store_drops_the_oldest_whatever_its_lifetime() {
        // Replay keys live minutes and event keys hours; evicting by expiry
        // would drop every fresh replay key first.
        let s = MemoryStore::new(10);
        let t0 = Instant::now();
        let long = Duration::from_secs(3600);
        for i in 0..9 {
            assert!(s.insert_at(&format!("event{i}"), long, t0));
        }
        assert!(s.insert_at("replay", Duration::from_secs(60), t0));
        for i in 9..14 {
            assert!(s.insert_at(&format!("event{i}"), long, t0));
        }
        assert!(!s.insert_at("replay", Duration::from_secs(60), t0));
        assert!(s.insert_at("event0", long, t0), "the oldest went first");
    }

    #[test]
    fn tables_stop_growing_once_full() {
        let capacity = 1000;
        let s = MemoryStore::new(capacity);
        let t0 = Instant::now();
        let sizes = |s: &MemoryStore| {
            let inner = s.lock();
            let queues: Vec<usize> = inner.queues.iter().map(|(_, q)| q.capacity()).collect();
            (inner.entries.capacity(), queues)
        };
        for i in 0..capacity {
            assert!(s.insert_at(&format!("k{i}"), Duration::from_secs(3600), t0));
        }
        let full = sizes(&s);
        assert!(
            full.0 >= 2 * capacity && full.1.iter().all(|&rows| rows >= 2 * capacity + 64),
            "{full:?}"
        );
        // Eviction churn (tombstones in the hash table) and remove /
        // re-insert churn (stale rows in the queue) allocate nothing more.
        for i in capacity..50 * capacity {
            assert!(s.insert_at(&format!("k{i}"), Duration::from_secs(3600), t0));
            if i % 3 == 0 {
                block_on(s.remove(&format!("k{}", i - 1))).unwrap();
            }
        }
        // The map's capacity counts its free slots, which tombstones use up
        // until a rebuild in place restores them; a table that grew would
        // report about twice as much.
        let churned = sizes(&s);
        assert!(
            churned.0 <= full.0 && churned.1 == full.1,
            "{churned:?} after {full:?}"
        );
        assert!(s.len() <= capacity);
    }

    #[test]
    fn replay_key_ignores_spelling() {
        let tag = "ab".repeat(32);
        let a = SignatureHeader::parse(format!("t=5,v1={tag}")).unwrap();
        let b = SignatureHeader::parse(format!("v1={},t=5", tag.to_uppercase())).unwrap();
        let c = SignatureHeader::parse(format!("t=6,v1={tag}")).unwrap();
        assert_eq!(replay_key(&a), replay_key(&b));
        assert_ne!(replay_key(&a), replay_key(&c));
        assert!(replay_key(&a).starts_with("replay:"));
        assert_eq!(replay_key(&a).len(), "replay:".len() + 64);
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
