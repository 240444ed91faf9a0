//! The Redis connection every queue type talks through: one multiplexed
//! connection that reconnects by itself, and a bound on every command.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, FromRedisValue, Pipeline, RedisResult, ScriptInvocation};

use super::QueueError;

/// Default bound on one command (and on connecting).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A [`ConnectionManager`] whose every command fails with
/// [`QueueError::Timeout`] past `timeout`, whatever the manager is doing
/// (reconnecting, waiting for a dead peer).
#[derive(Clone)]
pub(crate) struct Connection {
    manager: ConnectionManager,
    timeout: Duration,
}

/// Where a builder gets its connection from.
#[derive(Clone)]
pub(crate) enum Source {
    /// A URL, parsed when connecting.
    Url(String),
    /// A client the caller configured.
    Client(Client),
    /// A connection the caller already has (shared, never blocked on).
    Manager(ConnectionManager),
}

impl Source {
    /// The client behind the source.
    ///
    /// # Errors
    ///
    /// [`QueueError::Config`] for a URL that does not parse (the message
    /// does not repeat the URL, which may hold a password).
    pub(crate) fn client(&self) -> Result<Option<Client>, QueueError> {
        match self {
            Self::Url(url) => Client::open(url.as_str())
                .map(Some)
                // The client's messages about a URL never repeat it.
                .map_err(|e| QueueError::Config(format!("not a usable Redis URL: {e}"))),
            Self::Client(client) => Ok(Some(client.clone())),
            Self::Manager(_) => Ok(None),
        }
    }

    /// A connection for ordinary commands.
    pub(crate) async fn connect(&self, timeout: Duration) -> Result<Connection, QueueError> {
        match self {
            Self::Manager(manager) => Ok(Connection {
                manager: manager.clone(),
                timeout,
            }),
            _ => match self.client()? {
                Some(client) => Connection::open(&client, timeout, timeout).await,
                None => Err(QueueError::Config("no Redis connection".to_owned())),
            },
        }
    }
}

impl Connection {
    /// Opens a connection whose commands may take `response_timeout` (the
    /// blocking reads of a consumer wait longer than ordinary commands) and
    /// whose every call is bounded by `timeout` on top.
    pub(crate) async fn open(
        client: &Client,
        timeout: Duration,
        response_timeout: Duration,
    ) -> Result<Self, QueueError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(response_timeout))
            .set_connection_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let manager = bounded(timeout, client.get_connection_manager_with_config(config)).await?;
        Ok(Self { manager, timeout })
    }

    /// Runs one command.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, QueueError> {
        self.query_within(cmd, self.timeout).await
    }

    /// Runs one command that may take up to `timeout` (a blocking read).
    pub(crate) async fn query_within<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        timeout: Duration,
    ) -> Result<T, QueueError> {
        let mut conn = self.manager.clone();
        bounded(timeout, cmd.query_async(&mut conn)).await
    }

    /// Runs a script by its hash (`EVALSHA`), loading it first when Redis
    /// does not have it (a restarted or flushed server); the whole call is
    /// bounded by the timeout.
    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, QueueError> {
        let mut conn = self.manager.clone();
        bounded(self.timeout, script.invoke_async(&mut conn)).await
    }

    /// Runs a pipeline.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, QueueError> {
        let mut conn = self.manager.clone();
        bounded(self.timeout, pipe.query_async(&mut conn)).await
    }

    /// The bound on one command.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(QueueError::from_redis(e)),
        Err(_) => Err(QueueError::Timeout(timeout)),
    }
}

/// An `EVAL` of `script` on `keys`; the caller appends the arguments. The
/// scripts run this way are small and run on the rare paths (failures,
/// dead letters), so they are sent whole; the append, on every delivery's
/// path, runs by its hash ([`Connection::invoke`]).
pub(crate) fn eval(script: &str, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys);
    cmd
}

/// Checks a stream or group name.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), QueueError> {
    if name.is_empty() {
        Err(QueueError::Config(format!("the {what} name is empty")))
    } else {
        Ok(())
    }
}

/// The dead-letter stream of `stream`: the one chosen, or by default
/// [`dead_letter_stream`](super::dead_letter_stream)`(stream)`; checked, and
/// never the stream itself.
pub(crate) fn dead_letters_of(stream: &str, chosen: Option<String>) -> Result<String, QueueError> {
    check_name("stream", stream)?;
    let dead_letters = chosen.unwrap_or_else(|| super::dead_letter_stream(stream));
    check_name("dead-letter stream", &dead_letters)?;
    if dead_letters == stream {
        return Err(QueueError::Config(
            "the dead-letter stream must differ from the stream".to_owned(),
        ));
    }
    Ok(dead_letters)
}
