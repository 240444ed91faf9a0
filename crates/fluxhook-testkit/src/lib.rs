//! Helpers shared by the tests of the fluxhook workspace and by the load
//! harness (`fluxhook-load`, which starts its own `redis-server` too).
//! Internal: not published.
//!
//! It depends on no crate of the workspace, so the library's own unit tests
//! can use it without building the library twice.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
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

/// A `redis-server` child process on a free loopback port, without
/// persistence, killed (by its pid) on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    /// Starts one and waits (at most 10 s per try) until it accepts
    /// connections; a port lost to another process is retried on another.
    ///
    /// # Errors
    ///
    /// When `redis-server` cannot be started (`./scripts/test.sh` installs
    /// it), or does not come up on any of five free ports. A test must fail
    /// then, never pass without it.
    pub fn start() -> io::Result<Self> {
        for _ in 0..5 {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot start redis-server ({e}): install it (apt-get install redis-server)"),
                    )
                })?;
            let mut server = Self {
                child,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // Lost the port to someone else: try another.
                }
                if TcpStream::connect(server.addr).is_ok() {
                    return Ok(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            server.stop();
        }
        Err(io::Error::other(
            "redis-server did not start on a free loopback port",
        ))
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
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
}
