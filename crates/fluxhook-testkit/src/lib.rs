//! Helpers shared by the tests, benches and load harness of the fluxhook
//! workspace. Internal: not published, not an API (see the README).
//!
//! - [`RedisServer`] is the one `redis-server` launcher of the workspace: the
//!   library's Redis tests and benches, the CLI's queue tests and the load
//!   harness's soak all start their Redis with it;
//! - [`block_on`], [`unix_now`] and [`Captured`] (a log writer to read back)
//!   serve the library's unit and integration tests.
//!
//! It depends on no crate of the workspace, so the library's own unit tests
//! can use it without building the library twice.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs a future that needs no reactor or timer (one whose every await is
/// ready, such as the in-memory stores') to completion on this thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// The current time in whole Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Everything a log writer was given, shared between the writer handed to a
/// subscriber (`.with_writer(move || captured.clone())`) and the test that
/// reads it back.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Forgets what was written so far.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How long a started `redis-server` may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many free ports [`RedisServer::try_start`] tries before giving up
/// (another process may take a port between our probe and Redis's bind).
const PORT_ATTEMPTS: usize = 5;

/// How a [`RedisServer`] keeps its data, and so what a
/// [`RedisServer::restart`] finds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Persistence {
    /// None (`--save "" --appendonly no`): a restarted server is empty.
    #[default]
    Off,
    /// The append-only file in `dir` (`--appendonly yes`), written to disk
    /// as `fsync` says; a restart on the same `dir` loads it back. No RDB
    /// snapshots.
    AppendOnly {
        /// The server's working directory (`--dir`), kept across restarts.
        dir: PathBuf,
        /// When the file is flushed to disk (`--appendfsync`).
        fsync: Fsync,
    },
}

/// `appendfsync`: when Redis flushes its append-only file to disk.
///
/// With `always`, each write command is in the file and flushed before
/// Redis answers it: neither a killed `redis-server` nor a crashed machine
/// loses an answered write. With `everysec` the file is flushed once a
/// second (and, while a flush is slow, Redis may answer before it has
/// written at all): a crash can lose the last second or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fsync {
    /// `always`: flushed before every answer.
    Always,
    /// `everysec`: flushed once a second.
    EverySecond,
}

impl Fsync {
    /// The `appendfsync` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::EverySecond => "everysec",
        }
    }
}

impl Persistence {
    /// The `redis-server` arguments that set it.
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["--save".into(), String::new()];
        match self {
            Self::Off => args.extend(["--appendonly".into(), "no".into()]),
            Self::AppendOnly { dir, fsync } => args.extend([
                "--appendonly".into(),
                "yes".into(),
                "--appendfsync".into(),
                fsync.as_str().into(),
                "--dir".into(),
                dir.display().to_string(),
            ]),
        }
        args
    }
}

/// A `redis-server` child process on a loopback port, killed on drop;
/// without persistence unless started with [`RedisServer::start_with`].
///
/// ```no_run
/// use fluxhook_testkit::RedisServer;
///
/// let mut redis = RedisServer::start();
/// let url = redis.url(); // redis://127.0.0.1:PORT/
/// redis.stop(); // an outage: connections are refused
/// redis.restart(); // back on the same port, empty
/// # let _ = url;
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    addr: SocketAddr,
    persistence: Persistence,
}

impl RedisServer {
    /// Starts a server on a free loopback port.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed or does not come up: a test that
    /// needs Redis must fail without it, never pass.
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("{e} (./scripts/test.sh installs it)"))
    }

    /// Starts a server on a free loopback port.
    ///
    /// # Errors
    ///
    /// When `redis-server` is not installed (the error's kind is then
    /// [`io::ErrorKind::NotFound`]) or does not accept connections on any of a
    /// few free ports.
    pub fn try_start() -> io::Result<Self> {
        Self::try_start_with(Persistence::Off)
    }

    /// Starts a server on a free loopback port that keeps its data as
    /// `persistence` says (an append-only file survives
    /// [`RedisServer::restart`]).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(persistence: Persistence) -> Self {
        Self::try_start_with(persistence)
            .unwrap_or_else(|e| panic!("{e} (./scripts/test.sh installs it)"))
    }

    /// Starts a server on a free loopback port that keeps its data as
    /// `persistence` says.
    ///
    /// # Errors
    ///
    /// As [`RedisServer::try_start`], and when the directory of an
    /// append-only file cannot be created.
    pub fn try_start_with(persistence: Persistence) -> io::Result<Self> {
        if let Persistence::AppendOnly { dir, .. } = &persistence {
            std::fs::create_dir_all(dir)?;
        }
        for _ in 0..PORT_ATTEMPTS {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if let Some(child) = spawn_on(addr, &persistence)? {
                return Ok(Self {
                    child: Some(child),
                    addr,
                    persistence,
                });
            }
            // Lost the port to another process: try another one.
        }
        Err(io::Error::other(
            "redis-server did not start on a free loopback port",
        ))
    }

    /// The URL clients connect with: `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// The address it listens on (the same across [`RedisServer::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How it keeps its data.
    pub fn persistence(&self) -> &Persistence {
        &self.persistence
    }

    /// Stops the server now (SIGKILL, as a crash would): connections are
    /// refused until [`RedisServer::restart`], and without persistence every
    /// key is lost.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, and starts a new one on the same port:
    /// empty, or with what its append-only file holds.
    ///
    /// # Panics
    ///
    /// When the server cannot start again (see [`RedisServer::try_restart`]).
    pub fn restart(&mut self) {
        self.try_restart()
            .unwrap_or_else(|e| panic!("cannot restart redis-server on {}: {e}", self.addr));
    }

    /// Stops the server if it runs, and starts a new one on the same port
    /// (and data directory), retrying for a few seconds while the port is
    /// still taken. Returns once the server answers commands (an
    /// append-only file is loaded by then).
    ///
    /// # Errors
    ///
    /// When `redis-server` cannot be run, or the port stays taken.
    pub fn try_restart(&mut self) -> io::Result<()> {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = spawn_on(self.addr, &self.persistence)? {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} stayed taken", self.addr),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `redis-server` on `addr` and waits until it accepts connections.
/// `Ok(None)` when it exited (the port was taken) or never came up.
fn spawn_on(addr: SocketAddr, persistence: &Persistence) -> io::Result<Option<Child>> {
    let mut child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
        .args(persistence.args())
        .args(["--protected-mode", "yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start redis-server ({e})")))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(None);
        }
        // Ready once it answers: a server loading its append-only file
        // accepts connections but answers `-LOADING` until it is done.
        if ping(addr) {
            return Ok(Some(child));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(None)
}

/// Whether a Redis on `addr` answers `PING` with `+PONG`.
fn ping(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reply = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn block_on_returns_the_value() {
        assert_eq!(block_on(async { 41 + 1 }), 42);
    }

    #[test]
    fn captured_keeps_every_write() {
        let captured = Captured::default();
        let mut writer = captured.clone();
        writer.write_all(b"one ").unwrap();
        writer.write_all(b"two").unwrap();
        assert_eq!(captured.text(), "one two");
        captured.clear();
        assert_eq!(captured.text(), "");
    }

    #[test]
    fn unix_now_is_after_2026() {
        assert!(unix_now() > 1_767_225_600);
    }

    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let mut redis = RedisServer::start();
        let addr = redis.addr();
        assert!(addr.ip().is_loopback());
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", addr.port()));
        assert!(ping(addr), "a started server answers");
        redis.stop();
        assert_eq!(redis.pid(), None);
        assert!(!ping(addr), "a stopped server refuses connections");
        redis.restart();
        assert_eq!(redis.addr(), addr);
        assert!(ping(addr), "the restarted server answers on the same port");
    }

    /// Sends one command (RESP array of bulk strings) and reads one reply line.
    fn command(addr: SocketAddr, args: &[&str]) -> String {
        use std::io::{BufRead, BufReader, Write};
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(out.as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).unwrap();
        line
    }

    #[test]
    fn what_an_append_only_server_answered_survives_a_kill() {
        let dir = std::env::temp_dir().join(format!("testkit-aof-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let persistence = Persistence::AppendOnly {
            dir: dir.clone(),
            fsync: Fsync::Always,
        };
        let mut redis = RedisServer::start_with(persistence.clone());
        assert_eq!(redis.persistence(), &persistence);
        assert_eq!(command(redis.addr(), &["SET", "k", "v"]), "+OK\r\n");
        redis.restart(); // SIGKILL, then the same directory
        assert_eq!(command(redis.addr(), &["EXISTS", "k"]), ":1\r\n");

        let mut plain = RedisServer::start();
        assert_eq!(plain.persistence(), &Persistence::Off);
        assert_eq!(command(plain.addr(), &["SET", "k", "v"]), "+OK\r\n");
        plain.restart();
        assert_eq!(
            command(plain.addr(), &["EXISTS", "k"]),
            ":0\r\n",
            "empty again"
        );
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
