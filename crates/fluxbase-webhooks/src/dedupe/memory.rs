//! [`MemoryStore`]: the in-process [`DedupeStore`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use super::{BoxFuture, DedupeStore, Recorded, ReplayKey, StoreError};
use crate::clock::Instant;

/// An in-process [`DedupeStore`]: bounded in size, entries expire.
///
/// Expired entries are dropped as soon as they expire, whatever their
/// lifetimes (a dedupe policy mixes replay keys of minutes with event keys of
/// hours). When full, the oldest entry is dropped to make room, so memory
/// never grows past `capacity` entries (a store of 16,384 keys or more is
/// split into 16 shards, each with its own lock and a sixteenth of the
/// capacity, each dropping its own oldest); but a key recorded by
/// [`DedupeStore::insert_guarded`] (a replay key) is never dropped before it
/// expires. When only those are left, a guarded insert fails (the receiver
/// answers `503 store_unavailable` and Fluxbase retries) and a plain one is
/// not remembered. So a store of capacity `C` refuses replays for a window of
/// `W` seconds up to `C / W` accepted deliveries per second, sustained (333 /s
/// for the default capacity and the 300 s window; 277 /s for deliveries
/// signed without a timestamp, whose keys live the window both ways, 361 s
/// by default); past that rate it sheds
/// load instead of letting replays in. Size it for the traffic, or share a
/// Redis store. The first time it is full, the store
/// sizes its tables for twice its capacity, so what it holds stops growing at
/// that moment and not at a later eviction. Keys are kept as 64-bit digests
/// under a key chosen at random per store (so nobody can pick keys that
/// collide), each in a 16-byte slot of its shard's table and a 24-byte row
/// of a queue: budget about 130 bytes per key of capacity once it is full
/// (11 MiB measured for the default 100,000 keys, 63 MiB for 500,000, by
/// the crate's `store_memory` example). Use
/// the Redis store when several receiver instances must share one view.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::dedupe::{DedupeStore, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), fluxbase_webhooks::dedupe::StoreError> {
/// let store = MemoryStore::new(10_000);
/// let ttl = Duration::from_secs(60);
/// assert!(store.insert("event:abc", ttl).await?);   // first sighting
/// assert!(!store.insert("event:abc", ttl).await?);  // seen before
/// # Ok(()) }
/// ```
///
/// Its calls never wait: each future is ready when it is returned, so the
/// store also works without an async runtime.
pub struct MemoryStore {
    capacity: usize,
    /// The most keys each shard holds.
    shard_capacity: usize,
    digests: RandomState,
    /// The instant expiries are counted from.
    epoch: Instant,
    /// Independent parts, each with its own lock, so that the threads of a
    /// runtime rarely wait for one another; a key's digest picks its shard.
    shards: Box<[Mutex<MemoryInner>]>,
}

/// A key as the store holds it: a 64-bit digest, keyed per store.
type Digest = u64;

/// An instant as the store holds it: nanoseconds since its epoch (292
/// years fit).
type Ticks = u64;

/// In a map entry, the bit above the expiry that marks a guarded key.
const GUARDED: u64 = 1 << 63;

/// The latest expiry a key can have.
const NEVER: Ticks = GUARDED - 1;

/// A map entry: its key's expiry, with [`GUARDED`] set for a guarded key.
/// Eight bytes, so that a slot of the table is sixteen: the table of a
/// large store is what every insert misses the cache on.
#[derive(Clone, Copy)]
struct Entry(u64);

impl Entry {
    fn new(expiry: Ticks, guarded: bool) -> Self {
        Self(expiry | if guarded { GUARDED } else { 0 })
    }

    fn expiry(self) -> Ticks {
        self.0 & NEVER
    }

    fn guarded(self) -> bool {
        self.0 & GUARDED != 0
    }
}

/// Digests are already uniform: the map uses them as their own hash.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called (the key type is `u64`); fold
        // anything else in rather than lose it.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct MemoryInner {
    /// Key digest → its expiry.
    entries: Entries,
    /// One queue of keys per lifetime, in insertion order, with the sequence
    /// number each was inserted under (a removed and re-inserted key leaves
    /// a stale row behind). Within one lifetime, insertion order is expiry
    /// order, so every queue expires from its front.
    queues: Vec<(Ticks, Queue)>,
    /// Guarded keys, never evicted, in insertion order. Their lifetimes
    /// differ (a replay key lives as long as its delivery can still
    /// verify), so one may expire behind the front: it is purged late, by at
    /// most the longest lifetime, and a lookup checks its expiry.
    guarded: Queue,
    next_seq: u64,
    /// The instant of the latest insert.
    last: Ticks,
}

type Entries = HashMap<Digest, Entry, BuildHasherDefault<Identity>>;

/// Keys in insertion order: the sequence number each was inserted under
/// and its expiry, so that the front is checked without a lookup.
type Queue = VecDeque<Row>;

/// One key in a queue. A row stands for its key's entry while the entry
/// has the row's expiry (see [`MemoryInner::tick`]).
#[derive(Clone, Copy)]
struct Row {
    seq: u64,
    key: Digest,
    expiry: Ticks,
}

/// Lifetimes with a queue of their own; keys of any further lifetime share
/// the last queue (they are then purged late, never kept alive: a lookup
/// checks the expiry).
const MAX_QUEUES: usize = 8;

/// Shards of a store of at least [`SHARDED_FROM`] keys.
const SHARDS: usize = 16;
/// The smallest capacity split into shards.
const SHARDED_FROM: usize = 16 * 1024;

/// Default capacity of [`MemoryStore::default`].
pub const DEFAULT_MEMORY_CAPACITY: usize = 100_000;

impl MemoryStore {
    /// A store holding at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // A small store is one shard, so that its bound is exact; a larger
        // one is split, each part dropping its own oldest entries.
        let shards = if capacity >= SHARDED_FROM { SHARDS } else { 1 };
        Self {
            capacity,
            shard_capacity: capacity.div_ceil(shards),
            digests: RandomState::new(),
            epoch: Instant::now(),
            shards: (0..shards).map(|_| Mutex::default()).collect(),
        }
    }

    fn digest(&self, key: &str) -> Digest {
        self.digests.hash_one(key)
    }

    /// An instant in the store's ticks (an instant before its epoch is its
    /// epoch).
    fn ticks(&self, at: Instant) -> Ticks {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(since).map_or(NEVER, |t| t.min(NEVER))
    }

    /// Number of keys held (expired ones included until they are purged).
    pub fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).entries.len())
            .sum()
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
    pub(crate) fn insert_at(&self, key: &str, ttl: Duration, now: Instant) -> bool {
        // Not remembered when the store is full of guarded keys: new as far
        // as the store knows.
        self.record(key, ttl, now, false).unwrap_or(true)
    }

    /// Inserts a guarded key at the given time; the logic of
    /// [`DedupeStore::insert_guarded`]. `None` when the store is full of
    /// unexpired guarded keys.
    pub(crate) fn insert_guarded_at(&self, key: &str, ttl: Duration, now: Instant) -> Option<bool> {
        self.record(key, ttl, now, true)
    }

    /// [`MemoryStore::insert_guarded_at`], with the store's error when full.
    fn guarded_at(&self, key: &str, ttl: Duration, now: Instant) -> Result<bool, StoreError> {
        self.insert_guarded_at(key, ttl, now).ok_or_else(|| {
            StoreError::msg(format!(
                "the in-memory store is full of unexpired replay keys ({} keys): \
                 raise its capacity or share a Redis store",
                self.capacity
            ))
        })
    }

    fn record(&self, key: &str, ttl: Duration, now: Instant, guarded: bool) -> Option<bool> {
        let key = self.digest(key);
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(NEVER);
        let mut inner = self.lock(key);
        let now = inner.tick(self.ticks(now));
        inner.purge(now);
        match inner.entries.get(&key).map(|entry| entry.expiry() > now) {
            Some(true) => return Some(false),
            // An expired entry of this key is replaced in place.
            Some(false) => {}
            None if !inner.make_room(self.shard_capacity) => return None,
            None => {}
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let expiry = now.saturating_add(ttl).min(NEVER);
        inner.entries.insert(key, Entry::new(expiry, guarded));
        let row = Row { seq, key, expiry };
        match guarded {
            true => inner.guarded.push_back(row),
            false => inner.queue(ttl).push_back(row),
        }
        inner.drop_stale_rows();
        inner.reserve_when_full(self.shard_capacity);
        Some(true)
    }

    /// The shard of a key's digest. Its middle bits: the hash table picks
    /// buckets by the low bits and tags them with the top ones.
    fn lock(&self, key: Digest) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.lock_shard((key >> 32) as usize % self.shards.len())
    }

    fn lock_shard(&self, shard: usize) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding the lock cannot leave the map inconsistent in
        // a way that matters here: keep serving.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every queue of a shard: one per lifetime, and the guarded keys'.
fn every_queue<'a>(
    queues: &'a mut [(Ticks, Queue)],
    guarded: &'a mut Queue,
) -> impl Iterator<Item = &'a mut Queue> {
    queues.iter_mut().map(|(_, q)| q).chain([guarded])
}

impl MemoryInner {
    /// The instant of an insert: `now`, or a nanosecond after the one
    /// before when the clock has not moved since. Every insert into a shard
    /// gets its own instant, so a key removed and inserted again under the
    /// same lifetime gets another expiry, and its earlier row stops standing
    /// for it.
    fn tick(&mut self, now: Ticks) -> Ticks {
        self.last = now.max(self.last.saturating_add(1)).min(NEVER);
        self.last
    }

    /// The queue of keys that live `ttl`.
    fn queue(&mut self, ttl: Ticks) -> &mut Queue {
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
    fn is_current(entries: &Entries, row: &Row) -> bool {
        entries
            .get(&row.key)
            .is_some_and(|entry| entry.expiry() == row.expiry)
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
            for queue in every_queue(&mut self.queues, &mut self.guarded) {
                queue.reserve(queue.len() + 64);
            }
        }
    }

    /// Drops every expired entry at a queue's front. A front is checked
    /// from the row alone: the map is looked up only for a row that has
    /// expired.
    fn purge(&mut self, now: Ticks) {
        let entries = &mut self.entries;
        for queue in every_queue(&mut self.queues, &mut self.guarded) {
            while let Some(row) = queue.front().copied() {
                if row.expiry > now {
                    break;
                }
                if Self::is_current(entries, &row) {
                    entries.remove(&row.key);
                }
                queue.pop_front();
            }
        }
    }

    /// Makes room for one more entry: drops the oldest unguarded entries
    /// while the store is full. `false` when only guarded ones are left.
    fn make_room(&mut self, capacity: usize) -> bool {
        while self.entries.len() >= capacity {
            // The unguarded queue whose front is the oldest row.
            let oldest = self
                .queues
                .iter()
                .enumerate()
                .filter_map(|(i, (_, q))| q.front().map(|row| (row.seq, i)))
                .min();
            let Some((_, i)) = oldest else {
                return false;
            };
            // A guarded entry is never evicted, even by a row of the same
            // key and expiry left in an unguarded queue.
            if let Some(row) = self.queues[i].1.pop_front()
                && self
                    .entries
                    .get(&row.key)
                    .is_some_and(|e| e.expiry() == row.expiry && !e.guarded())
            {
                self.entries.remove(&row.key);
            }
        }
        true
    }

    /// Stale rows (of removed keys) must not pile up either.
    fn drop_stale_rows(&mut self) {
        let rows: usize = every_queue(&mut self.queues, &mut self.guarded)
            .map(|q| q.len())
            .sum();
        if rows > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            for queue in every_queue(&mut self.queues, &mut self.guarded) {
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

    fn insert_guarded<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let fresh = self.guarded_at(key, ttl, Instant::now());
        Box::pin(std::future::ready(fresh))
    }

    /// Both keys at one instant, in one ready future.
    fn record_delivery<'a>(
        &'a self,
        replay: ReplayKey<'a>,
        event: Option<(&'a str, Duration)>,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        let now = Instant::now();
        let fresh = match replay.guarded {
            true => self.guarded_at(replay.key, replay.ttl, now),
            false => Ok(self.insert_at(replay.key, replay.ttl, now)),
        };
        let recorded = fresh.map(|fresh| {
            let event = event
                .filter(|_| fresh)
                .map(|(key, ttl)| Ok(self.insert_at(key, ttl, now)));
            Recorded::new(fresh, event)
        });
        Box::pin(std::future::ready(recorded))
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = self.digest(key);
        self.lock(key).entries.remove(&key);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxhook_testkit::block_on;

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
        let rows: usize = s.lock_shard(0).queues.iter().map(|(_, q)| q.len()).sum();
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
    fn guarded_keys_are_never_dropped_before_they_expire() {
        let s = MemoryStore::new(10);
        let t0 = Instant::now();
        let (replay, event) = (Duration::from_secs(300), Duration::from_secs(86_400));
        for i in 0..5 {
            assert_eq!(
                s.insert_guarded_at(&format!("replay{i}"), replay, t0),
                Some(true)
            );
        }
        // Event keys make room among themselves, oldest first.
        for i in 0..20 {
            assert!(s.insert_at(&format!("event{i}"), event, t0));
        }
        assert_eq!(s.len(), 10);
        assert!(!s.insert_at("event19", event, t0));
        assert!(
            s.insert_at("event0", event, t0),
            "the oldest event key went"
        );
        // New guarded keys push event keys out, never replay keys.
        for i in 5..10 {
            assert_eq!(
                s.insert_guarded_at(&format!("replay{i}"), replay, t0),
                Some(true)
            );
        }
        for i in 0..10 {
            assert_eq!(
                s.insert_guarded_at(&format!("replay{i}"), replay, t0),
                Some(false)
            );
        }
        // Full of live guarded keys: a guarded insert fails, and a plain one
        // is not remembered.
        assert_eq!(s.insert_guarded_at("replay10", replay, t0), None);
        assert!(s.insert_at("event-late", event, t0));
        assert!(s.insert_at("event-late", event, t0), "not remembered");
        assert_eq!(s.len(), 10);
        // Once they expire there is room again.
        let later = t0 + replay + Duration::from_secs(1);
        assert_eq!(s.insert_guarded_at("replay10", replay, later), Some(true));
        assert_eq!(s.insert_guarded_at("replay0", replay, later), Some(true));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn a_full_store_fails_a_guarded_insert_as_a_store_error() {
        let s = MemoryStore::new(1);
        let ttl = Duration::from_secs(60);
        assert_eq!(block_on(s.insert_guarded("a", ttl)), Ok(true));
        let err = block_on(s.insert_guarded("b", ttl)).unwrap_err();
        assert!(
            err.to_string().contains("full of unexpired replay keys"),
            "{err}"
        );
        // The default of the trait is a plain insert.
        struct Plain(MemoryStore);
        impl DedupeStore for Plain {
            fn insert<'a>(
                &'a self,
                key: &'a str,
                ttl: Duration,
            ) -> BoxFuture<'a, Result<bool, StoreError>> {
                self.0.insert(key, ttl)
            }
            fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
                self.0.remove(key)
            }
        }
        let plain = Plain(MemoryStore::new(1));
        assert_eq!(block_on(plain.insert_guarded("a", ttl)), Ok(true));
        assert_eq!(block_on(plain.insert_guarded("b", ttl)), Ok(true));
        assert_eq!(
            block_on(plain.insert_guarded("a", ttl)),
            Ok(true),
            "a was dropped"
        );
    }

    #[test]
    fn a_large_store_is_sharded_and_still_bounded() {
        let capacity = SHARDED_FROM + 100;
        let s = MemoryStore::new(capacity);
        assert_eq!(s.shards.len(), SHARDS);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        for i in 0..4 * capacity {
            assert!(s.insert_at(&format!("k{i}"), ttl, t0));
        }
        assert!(s.len() <= capacity.div_ceil(SHARDS) * SHARDS);
        assert!(s.len() > capacity * 9 / 10, "{}", s.len());
        // The newest are remembered.
        assert!(!s.insert_at(&format!("k{}", 4 * capacity - 1), ttl, t0));
        // Guarded keys fill it, then are refused; none is forgotten.
        let mut kept = 0;
        while s.insert_guarded_at(&format!("g{kept}"), ttl, t0).is_some() {
            kept += 1;
        }
        assert!(
            kept <= capacity.div_ceil(SHARDS) * SHARDS && kept > capacity / 2,
            "{kept}"
        );
        assert!((0..kept).all(|i| s.insert_guarded_at(&format!("g{i}"), ttl, t0) == Some(false)));
    }

    #[test]
    fn a_slot_of_the_table_is_sixteen_bytes() {
        // Every insert looks a key up in a table of hundreds of thousands
        // of slots in a busy receiver: its size is what misses the cache.
        assert_eq!(std::mem::size_of::<(Digest, Entry)>(), 16);
    }

    #[test]
    fn a_key_inserted_again_in_the_same_instant_leaves_one_current_row() {
        let s = MemoryStore::new(10);
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        for _ in 0..1000 {
            assert!(s.insert_at("k", ttl, t0));
            block_on(s.remove("k")).unwrap();
        }
        assert!(s.insert_at("k", ttl, t0));
        let inner = s.lock_shard(0);
        let current = inner
            .queues
            .iter()
            .flat_map(|(_, q)| q.iter())
            .filter(|row| MemoryInner::is_current(&inner.entries, row))
            .count();
        assert_eq!(current, 1);
    }

    #[test]
    fn tables_stop_growing_once_full() {
        let capacity = 1000;
        let s = MemoryStore::new(capacity);
        let t0 = Instant::now();
        let sizes = |s: &MemoryStore| {
            let inner = s.lock_shard(0);
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
}
