//! Child processes the harness starts and measures: the `serve` server under
//! test (and, for the Redis soak, a `redis-server` through the workspace's
//! launcher, `fluxhook_testkit::RedisServer`). Both bind loopback only and
//! are killed (by their own pid) when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;

use crate::serve::LISTENING;

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Mem {
    /// `VmRSS`: resident now, in KiB.
    pub(crate) rss_kib: u64,
    /// `VmHWM`: the most ever resident (since start or the last reset), in KiB.
    pub(crate) peak_kib: u64,
}

impl Mem {
    /// Reads the memory of process `pid`.
    pub(crate) fn of(pid: u32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {path} (the harness needs Linux /proc)"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .ok_or_else(|| anyhow!("no {name} in {path}"))
        };
        Ok(Self {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

/// CPU time process `pid` has used (user + system), from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    // utime and stime: fields 14 and 15 of the line.
    stat_ticks(&format!("/proc/{pid}/stat"), 14)
}

/// CPU time (user + system) of this process's children that ended and
/// were waited for, from `/proc/self/stat`.
pub(crate) fn children_cpu_time() -> anyhow::Result<Duration> {
    // cutime and cstime: fields 16 and 17 of the line.
    stat_ticks("/proc/self/stat", 16)
}

/// Field `field` of a `stat` file plus the one after it, as a duration:
/// they count clock ticks of USER_HZ, which Linux fixes at 100 for this
/// interface.
fn stat_ticks(path: &str, field: usize) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // Fields after the command name (which may hold spaces) start at the
    // third, the state.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |n: usize| -> anyhow::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("unexpected {path}"))
    };
    Ok(Duration::from_millis(
        (tick(field)? + tick(field + 1)?) * 10,
    ))
}

/// A directory for one run's files: removed at the end, kept when the run
/// failed (to look at the logs).
pub(crate) struct Scratch {
    dir: PathBuf,
    keep: AtomicBool,
}

impl Scratch {
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fluxhook-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self {
            dir,
            keep: AtomicBool::new(false),
        })
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(crate) fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
        eprintln!("the run's logs are kept in {}", self.dir.display());
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep.load(Ordering::Relaxed) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Fails unless `url` names a loopback host: the harness talks to nothing else.
pub(crate) fn ensure_loopback_url(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // Hosts of non-special schemes such as redis:// come as text.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    };
    if !loopback {
        bail!("{url} is not on loopback: the harness only talks to 127.0.0.1");
    }
    Ok(())
}

/// What the server logged at WARN or above, by the class of the request that
/// caused each line (its `load{class=..}` span; `"none"` when no request
/// span encloses the line).
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct LogTally {
    /// Lines read in all.
    pub(crate) lines: u64,
    /// WARN and ERROR lines by request class.
    pub(crate) warn_or_error: BTreeMap<String, u64>,
    /// ERROR lines by request class.
    pub(crate) error: BTreeMap<String, u64>,
    /// Lines that are not JSON log records (a panic message, ...).
    pub(crate) unparsed: u64,
    /// A few of the WARN/ERROR/unparsed lines, per class, to show in a report.
    pub(crate) examples: BTreeMap<String, Vec<String>>,
}

impl LogTally {
    const EXAMPLES: usize = 3;

    fn read(&mut self, line: &str) {
        self.lines += 1;
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            self.unparsed += 1;
            self.example("unparsed", line);
            return;
        };
        let level = record.get("level").and_then(|l| l.as_str()).unwrap_or("");
        if level != "WARN" && level != "ERROR" {
            return;
        }
        let class = record
            .get("spans")
            .and_then(|s| s.as_array())
            .and_then(|spans| {
                spans.iter().find_map(|s| {
                    (s.get("name")?.as_str()? == "load")
                        .then(|| s.get("class")?.as_str())
                        .flatten()
                })
            })
            .unwrap_or("none")
            .to_owned();
        if level == "ERROR" {
            *self.error.entry(class.clone()).or_default() += 1;
        }
        self.example(&class, line);
        *self.warn_or_error.entry(class).or_default() += 1;
    }

    fn example(&mut self, class: &str, line: &str) {
        let list = self.examples.entry(class.to_owned()).or_default();
        if list.len() < Self::EXAMPLES {
            list.push(line.chars().take(400).collect());
        }
    }

    /// WARN or ERROR lines caused by requests of `class`.
    pub(crate) fn warnings(&self, class: &str) -> u64 {
        self.warn_or_error.get(class).copied().unwrap_or(0)
    }

    /// All WARN or ERROR lines.
    pub(crate) fn total_warnings(&self) -> u64 {
        self.warn_or_error.values().sum()
    }
}

/// How to start a `serve` child.
#[derive(Debug, Clone)]
pub(crate) struct ServeCommand {
    /// Arguments after `serve`.
    pub(crate) args: Vec<String>,
    /// `taskset -c` CPU list for the child.
    pub(crate) cpus: Option<String>,
    /// Its log filter.
    pub(crate) log: String,
    /// The secret, passed in the environment (never in argv).
    pub(crate) secret: String,
}

/// A running `serve` child on a loopback port.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    logs: Option<JoinHandle<LogTally>>,
}

impl Server {
    /// Starts `fluxhook-load serve ARGS` (this very binary) with JSON logs on
    /// stderr, and waits for its address.
    pub(crate) fn spawn(cmd: &ServeCommand) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the harness binary")?;
        let mut command = match &cmd.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        command
            .arg("serve")
            .args(&cmd.args)
            .args(["--log-format", "json", "--log", &cmd.log])
            .env("FLUXBASE_WEBHOOK_SECRET", &cmd.secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} serve", exe.display()))?;
        // taskset execs the program, so the pid is the server's either way.
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => bail!("the server's output is not piped"),
        };
        let logs = std::thread::spawn(move || {
            let mut tally = LogTally::default();
            for line in BufReader::new(stderr).lines() {
                match line {
                    Ok(line) => tally.read(&line),
                    Err(_) => break,
                }
            }
            tally
        });
        let mut server = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            logs: Some(logs),
        };
        server.addr = read_address(stdout)
            .and_then(|addr| match server.child.try_wait() {
                Ok(Some(status)) => Err(anyhow!("the server exited: {status}")),
                _ => Ok(addr),
            })
            .map_err(|e| {
                let logs = server.stop_now();
                let first = logs.examples.values().flatten().next().cloned();
                match first {
                    Some(line) => e.context(format!("server said: {line}")),
                    None => e,
                }
            })?;
        Ok(server)
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time it has used.
    pub(crate) fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid())
    }

    /// Its memory now.
    pub(crate) fn mem(&self) -> anyhow::Result<Mem> {
        Mem::of(self.pid())
    }

    /// Resets its peak RSS (`VmHWM`) to the current RSS.
    pub(crate) fn reset_peak(&self) -> anyhow::Result<()> {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::write(&path, "5").with_context(|| format!("cannot reset the peak RSS via {path}"))
    }

    /// Stops the server and returns what it logged.
    pub(crate) fn stop(mut self) -> LogTally {
        self.stop_now()
    }

    fn stop_now(&mut self) -> LogTally {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.logs.is_some() {
            self.stop_now();
        }
    }
}

/// Reads the `listening on http://ADDR` line, then keeps draining stdout.
fn read_address(stdout: impl Read + Send + 'static) -> anyhow::Result<SocketAddr> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        for _ in lines {}
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        Ok(Some(Err(e))) => return Err(e).context("cannot read the server's address"),
        Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
            bail!("the server exited before listening")
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            bail!("the server did not listen within {START_TIMEOUT:?}")
        }
    };
    let addr: SocketAddr = line
        .strip_prefix(LISTENING)
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| anyhow!("unexpected first line from the server: {line:?}"))?;
    if !addr.ip().is_loopback() {
        bail!("the server listens on {addr}, not on loopback");
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_attributed_to_their_request_class() {
        let mut t = LogTally::default();
        t.read(r#"{"level":"WARN","fields":{"code":"replayed"},"spans":[{"class":"replay","name":"load"},{"name":"fluxbase_webhook"}]}"#);
        t.read(r#"{"level":"ERROR","fields":{},"spans":[{"class":"valid","name":"load"}]}"#);
        t.read(r#"{"level":"INFO","fields":{},"spans":[{"class":"valid","name":"load"}]}"#);
        t.read(r#"{"level":"WARN","fields":{}}"#);
        t.read("thread 'main' panicked");
        assert_eq!(t.lines, 5);
        assert_eq!(t.warnings("replay"), 1);
        assert_eq!(t.warnings("valid"), 1);
        assert_eq!(t.error.get("valid"), Some(&1));
        assert_eq!(t.warnings("none"), 1);
        assert_eq!(t.unparsed, 1);
        assert_eq!(t.total_warnings(), 3);
    }

    #[test]
    fn only_loopback_urls_pass() {
        assert!(ensure_loopback_url("redis://127.0.0.1:6379/").is_ok());
        assert!(ensure_loopback_url("redis://localhost/").is_ok());
        assert!(ensure_loopback_url("redis://[::1]:6379/").is_ok());
        assert!(ensure_loopback_url("redis://10.0.0.1:6379/").is_err());
        assert!(ensure_loopback_url("redis://cache.example.com/").is_err());
        assert!(ensure_loopback_url("not a url").is_err());
    }

    #[test]
    fn reads_own_cpu_time() {
        // Spinning must show up as CPU time (fields 14 and 15 of
        // /proc/<pid>/stat, not the children's 16 and 17, which stay 0).
        let before = cpu_time(std::process::id()).unwrap();
        let mut x = 0u64;
        let spin = std::time::Instant::now();
        while cpu_time(std::process::id()).unwrap() < before + Duration::from_millis(30) {
            assert!(
                spin.elapsed() < Duration::from_secs(10),
                "10 s of spinning and no CPU time counted"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn reads_own_memory() {
        let mem = Mem::of(std::process::id()).unwrap();
        assert!(mem.rss_kib > 0);
        assert!(mem.peak_kib >= mem.rss_kib);
    }
}
