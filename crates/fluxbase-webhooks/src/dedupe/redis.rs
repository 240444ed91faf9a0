//! [`RedisStore`]: a [`DedupeStore`] shared by every receiver using one Redis.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{BoxFuture, DedupeStore, Recorded, ReplayKey, StoreError};

/// [`DedupeStore::record_delivery`] in one round trip. KEYS: the replay key,
/// then the event key if any. ARGV: their lifetimes in milliseconds. Answers
/// `{0}` for a replay (nothing recorded), `{1}` without an event key, and
/// `{1, 1}` or `{1, 0}` as the event key was new or not.
const RECORD_DELIVERY: &str = r"
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then
  return {0}
end
if #KEYS < 2 then
  return {1}
end
if redis.call('SET', KEYS[2], 1, 'NX', 'PX', ARGV[2]) then
  return {1, 1}
end
return {1, 0}
";

/// A [`DedupeStore`] in Redis: `SET key 1 NX PX ttl` decides atomically which
/// receiver sees a key first, so a fleet behind a load balancer shares one
/// view of replays and re-deliveries.
///
/// Commands go over a small pool of multiplexed connections that reconnect
/// by themselves. When Redis cannot answer (down, unreachable, slower than
/// the response timeout), calls fail with [`StoreError`]; they never report a
/// key as new by default. What a receiver does then (refuse with 503, or let
/// the delivery through) is the integration's fail-open / fail-closed policy.
///
/// ```no_run
/// # async fn run() -> Result<(), fluxbase_webhooks::dedupe::StoreError> {
/// use std::time::Duration;
/// use fluxbase_webhooks::dedupe::RedisStore;
///
/// let store = RedisStore::builder("redis://127.0.0.1:6379/")
///     .prefix("myapp:webhooks:")
///     .pool_size(4)
///     .response_timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisStore {
    conns: Box<[ConnectionManager]>,
    next: AtomicUsize,
    prefix: Arc<str>,
    /// [`RECORD_DELIVERY`], sent by its digest (`EVALSHA`) once loaded.
    record: redis::Script,
}

/// Configures and connects a [`RedisStore`].
#[must_use]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    pool_size: usize,
    response_timeout: Duration,
    connection_timeout: Duration,
}

impl RedisStore {
    /// A builder for the Redis at `url` (`redis://[user:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: "fluxhook:".to_owned(),
            pool_size: 4,
            response_timeout: Duration::from_secs(1),
            connection_timeout: Duration::from_secs(2),
        }
    }

    /// Connects with the default settings.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    fn conn(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    fn full_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(key);
        k
    }
}

impl RedisStoreBuilder {
    /// Prefix put before every key (default `fluxhook:`), to share a Redis
    /// with other applications.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Number of pooled connections (default 4, at least 1).
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections.max(1);
        self
    }

    /// How long one command may take before it fails (default 1 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Opens the pool.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or Redis cannot be reached.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut conns = Vec::with_capacity(self.pool_size);
        for _ in 0..self.pool_size {
            conns.push(
                client
                    .get_connection_manager_with_config(config.clone())
                    .await
                    .map_err(store_error)?,
            );
        }
        Ok(RedisStore {
            conns: conns.into_boxed_slice(),
            next: AtomicUsize::new(0),
            prefix: self.prefix.into(),
            record: redis::Script::new(RECORD_DELIVERY),
        })
    }
}

/// A lifetime as `PX` takes it: whole milliseconds, at least one.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Redis errors carry no credentials (the URL, which might, is never
/// shown); they are kept as the source.
fn store_error(e: redis::RedisError) -> StoreError {
    StoreError::new(e)
}

impl DedupeStore for RedisStore {
    fn insert<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            let set: Option<String> = redis::cmd("SET")
                .arg(self.full_key(key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
            Ok(set.is_some())
        })
    }

    /// Both keys in one script: one round trip, and atomic.
    fn record_delivery<'a>(
        &'a self,
        replay: ReplayKey<'a>,
        event: Option<(&'a str, Duration)>,
    ) -> BoxFuture<'a, Result<Recorded, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            let mut call = self.record.key(self.full_key(replay.key));
            call.arg(millis(replay.ttl));
            if let Some((key, ttl)) = event {
                call.key(self.full_key(key)).arg(millis(ttl));
            }
            let answer: Vec<i64> = call.invoke_async(&mut conn).await.map_err(store_error)?;
            match answer.as_slice() {
                [0] => Ok(Recorded::new(false, None)),
                [1] if event.is_none() => Ok(Recorded::new(true, None)),
                [1, new] if event.is_some() => Ok(Recorded::new(true, Some(Ok(*new == 1)))),
                _ => Err(StoreError::msg(format!(
                    "unexpected answer from Redis to recording a delivery: {answer:?}"
                ))),
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn();
            let _: i64 = redis::cmd("DEL")
                .arg(self.full_key(key))
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("pool_size", &self.conns.len())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool_size)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .finish()
    }
}
