//! Integration tests of the `fluxhook` binary: the real executable, real
//! servers on loopback.

// A failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod consume;
mod demo;
mod emulator;
mod forward;
mod http;
mod listen_send;
mod manage;
mod sign_verify;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The built `fluxhook` binary, with no secret inherited from the environment.
pub(crate) fn fluxhook() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fluxhook"));
    cmd.env_remove("FLUXBASE_WEBHOOK_SECRET");
    cmd
}

/// A loopback address nothing listens on: a port just released on
/// 127.0.0.2, where no test server binds (they all take 127.0.0.1:0, which
/// may hand out the same port number while this one is in use).
pub(crate) fn closed_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs `cmd` with `stdin` as its input.
pub(crate) fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().unwrap();
    // A command that fails early may exit before reading its input.
    let _ = writer.join().unwrap();
    out
}

/// Runs `cmd` to its end; kills it (by its pid) and fails the test if it
/// is still running after `guard`.
pub(crate) fn exits_within(mut cmd: Command, guard: std::time::Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The exit status of a command whose stdout was closed by its reader
/// (128 + SIGPIPE, as a shell shows a program SIGPIPE ended).
pub(crate) const EXIT_CLOSED: i32 = 141;

/// The writing end of a pipe whose reading end is already closed (as
/// `cmd | head -0` leaves it): every write to it fails.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Runs `cmd` to its end with its stdout a [`closed_pipe`], so its first
/// write to stdout fails; its stderr is captured.
pub(crate) fn with_closed_stdout(mut cmd: Command) -> Output {
    cmd.stdout(closed_pipe()).stderr(Stdio::piped());
    // Our copy of the writing end goes to the child (and is closed here).
    cmd.stdin(Stdio::null())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap()
}

/// Runs `cmd` to its end with its stderr a [`closed_pipe`]
/// (`cmd 2>&1 | head -0` after stdout was read), so every note it writes
/// there fails; its stdout is captured.
pub(crate) fn with_closed_stderr(mut cmd: Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(closed_pipe());
    cmd.stdin(Stdio::null())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap()
}

/// Asserts that a command stopped quietly on its closed stdout: status
/// [`EXIT_CLOSED`], and neither a panic nor an error on stderr.
pub(crate) fn stopped_quietly(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_CLOSED), "{stderr}");
    for noise in ["panicked", "error", "Broken pipe", "os error"] {
        assert!(!stderr.contains(noise), "{noise:?} on stderr: {stderr}");
    }
}

/// A file in a fresh temporary directory, removed with the guard.
pub(crate) struct TempFile {
    pub(crate) path: PathBuf,
}

impl TempFile {
    pub(crate) fn new(name: &str, contents: &[u8]) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("fluxhook-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        Self { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
