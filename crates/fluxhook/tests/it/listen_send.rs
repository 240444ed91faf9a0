//! `fluxhook send` to `fluxhook listen`, both as real processes on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use fluxbase_webhooks::{Scheme, Signer, Timestamp};

use crate::http::{Connection, post, split_url};
use crate::{TempFile, exits_within};

const BIN: &str = env!("CARGO_BIN_EXE_fluxhook");
/// A guard against hanging, not a speed assertion.
const GUARD: Duration = Duration::from_secs(30);

/// A running `fluxhook listen`, ended (by its pid) on drop.
pub(crate) struct Listen {
    child: Child,
    pub(crate) url: String,
    pub(crate) stdout: mpsc::Receiver<String>,
    pub(crate) stderr: mpsc::Receiver<String>,
}

fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Listen {
    /// Starts `fluxhook listen` on a free port with path `/hooks/fluxbase`,
    /// the secret `whsec-e2e` and `extra` arguments; waits for its address.
    pub(crate) fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "listen",
                "--addr",
                "127.0.0.1:0",
                "--path",
                "/hooks/fluxbase",
            ])
            .args(extra)
            .env("FLUXBASE_WEBHOOK_SECRET", "whsec-e2e")
            .env_remove("FLUXHOOK_QUEUE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        let first = stderr
            .recv_timeout(GUARD)
            .expect("listen printed no address");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/hooks/fluxbase"));
        Self {
            child,
            url,
            stdout,
            stderr,
        }
    }

    pub(crate) fn next_stdout(&self) -> String {
        self.stdout.recv_timeout(GUARD).expect("no event printed")
    }

    pub(crate) fn next_stderr(&self) -> String {
        self.stderr.recv_timeout(GUARD).expect("no refusal printed")
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("send")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn send_to_listen_end_to_end() {
    let listen = Listen::start(&["--json"]);

    // A sample event, signed like the server signs.
    let out = send(&listen.url, &["--secret", "whsec-e2e", "--event", "UPDATE"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "HTTP 200 OK\n{\"received\":\"UPDATE\"}\n");
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["event"]["event"], "UPDATE");
    assert_eq!(line["event"]["table"], "users");
    assert!(line["event"]["old_record"].is_object(), "{line}");
    assert_eq!(line["scheme"], "timestamped");
    assert_eq!(line["key"], 0);
    assert!(line["timestamp"].is_i64() && line["body_len"].as_u64().unwrap() > 0);

    // --data becomes the record; another scheme.
    let out = send(
        &listen.url,
        &[
            "--secret",
            "whsec-e2e",
            "--scheme",
            "sha256",
            "--event",
            "INSERT",
            "--data",
            r#"{"id":42,"sku":"FLX-1"}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(
        line["event"]["record"],
        serde_json::json!({"id": 42, "sku": "FLX-1"})
    );
    assert_eq!(line["scheme"], "sha256");
    // Dated by the sample body's own `timestamp`: now.
    let dated = line["timestamp"].as_i64().unwrap();
    assert!((fluxbase_webhooks::Timestamp::now().unix_timestamp() - dated).abs() < 600);

    // A file body goes out byte for byte.
    let dir = std::env::temp_dir().join(format!("fluxhook-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("delete.json");
    let body = br#"{"event":"DELETE","table":"orders","schema":"public","record":{"id":9},"timestamp":"2026-01-02T03:04:05Z"}"#;
    std::fs::write(&file, body).unwrap();
    let out = send(
        &listen.url,
        &["--secret", "whsec-e2e", file.to_str().unwrap()],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["body_len"], body.len());
    assert_eq!(line["event"]["table"], "orders");

    // The wrong secret: the listener answers 401 with the problem document,
    // send exits 1, and nothing is printed as an event.
    let out = send(&listen.url, &["--secret", "whsec-other"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(text.starts_with("HTTP 401 Unauthorized\n"), "{text}");
    let problem: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(problem["code"], "signature_mismatch");
    assert_eq!(problem["status"], 401);
    assert_eq!(
        listen.next_stderr(),
        "refused 401 signature_mismatch: no signature in the header matches the body for any configured secret"
    );

    // A valid signature over a body that is not a payload: 400.
    let dir = std::env::temp_dir().join(format!("fluxhook-e2e-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    std::fs::write(&file, b"\xff not json").unwrap();
    let out = send(
        &listen.url,
        &["--secret", "whsec-e2e", file.to_str().unwrap()],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("HTTP 400 Bad Request\n"));
    assert!(
        listen
            .next_stderr()
            .starts_with("refused 400 invalid_payload")
    );
    assert!(
        listen.stdout.try_recv().is_err(),
        "a refused delivery was printed"
    );
}

#[test]
fn listen_prints_a_readable_block_per_event() {
    let listen = Listen::start(&["--secret", "whsec-e2e"]);
    let out = send(
        &listen.url,
        &["--secret", "whsec-e2e", "--event", "user.created"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let header = listen.next_stdout();
    assert!(header.starts_with("=== user.created at "), "{header}");
    assert!(
        header.contains(": timestamped signature, key 0, "),
        "{header}"
    );
    let mut block = Vec::new();
    loop {
        let line = listen.next_stdout();
        if line.is_empty() {
            break;
        }
        block.push(line);
    }
    let event: serde_json::Value = serde_json::from_str(&block.join("\n")).unwrap();
    assert_eq!(event["event"], "user.created");
    assert_eq!(event["data"]["email"], "ada@example.com");
}

#[test]
fn send_errors_are_usage_errors() {
    let addr = crate::closed_addr();
    let out = send(&format!("http://{addr}/webhooks"), &["--secret", "s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot POST"));

    let out = send(
        "http://127.0.0.1:1/x",
        &["--secret", "s", "--event", "nope"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event \"nope\""));

    let out = send("not a url", &["--secret", "s"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A row event dated `at`, the way the server dates every attempt.
fn dated_body(id: u32, at: Timestamp) -> Vec<u8> {
    format!(
        r#"{{"event":"INSERT","table":"orders","schema":"public","record":{{"id":{id}}},"timestamp":"{at}"}}"#
    )
    .into_bytes()
}

fn signed(scheme: Scheme, body: &[u8]) -> String {
    let now = Timestamp::now().unix_timestamp();
    Signer::new("whsec-e2e")
        .unwrap()
        .sign(scheme, now, body)
        .to_string()
}

/// Delivers a new event `id` to `listen` (`--json`), signed now; checks it
/// was accepted and printed, and returns the body and the header sent.
fn deliver(listen: &Listen, id: u32) -> (Vec<u8>, String) {
    let body = dated_body(id, Timestamp::now());
    let header = signed(Scheme::Timestamped, &body);
    let answer = post(&listen.url, &[("x-fluxbase-signature", &header)], &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["event"]["record"]["id"], id);
    (body, header)
}

#[test]
fn replays_are_refused_by_default() {
    let listen = Listen::start(&["--json"]);
    let (body, header) = deliver(&listen, 1);
    let signature = [("x-fluxbase-signature", header.as_str())];

    // The same request again, byte for byte.
    let again = post(&listen.url, &signature, &body);
    assert_eq!((again.status, again.code().as_str()), (409, "replayed"));
    assert_eq!(
        listen.next_stderr(),
        "refused 409 replayed: this signed delivery was already received"
    );
    // The same delivery under the bare hex tag every Fluxbase delivery
    // also carries (in X-Webhook-Signature), copied into X-Fluxbase-Signature.
    let hex = signed(Scheme::Hex, &body);
    let copied = post(
        &listen.url,
        &[("x-fluxbase-signature", hex.as_str())],
        &body,
    );
    assert_eq!((copied.status, copied.code().as_str()), (409, "replayed"));
    assert!(listen.next_stderr().starts_with("refused 409 replayed"));
    assert!(listen.stdout.try_recv().is_err(), "a replay was printed");
}

#[test]
fn a_full_replay_store_answers_503_and_still_refuses_replays() {
    // Room for the replay keys of two deliveries: a third, inside the
    // window, waits for keys to expire.
    let listen = Listen::start(&["--json", "--dedupe-capacity", "2"]);
    let (body, header) = deliver(&listen, 1);
    deliver(&listen, 2);
    let third = dated_body(3, Timestamp::now());
    let third_header = signed(Scheme::Timestamped, &third);
    let answer = post(
        &listen.url,
        &[("x-fluxbase-signature", &third_header)],
        &third,
    );
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (503, "store_unavailable")
    );
    assert_eq!(
        listen.next_stderr(),
        "refused 503 store_unavailable: the delivery could not be checked for replays: \
         the in-memory store is full of unexpired replay keys (2 keys): \
         raise its capacity or share a Redis store"
    );
    let again = post(&listen.url, &[("x-fluxbase-signature", &header)], &body);
    assert_eq!((again.status, again.code().as_str()), (409, "replayed"));
    assert!(
        listen.stdout.try_recv().is_err(),
        "only the first two were printed"
    );
}

#[test]
fn replays_are_accepted_with_dedupe_off() {
    let listen = Listen::start(&["--json", "--dedupe", "off"]);
    let body = dated_body(2, Timestamp::now());
    let header = signed(Scheme::Timestamped, &body);
    for _ in 0..2 {
        let answer = post(&listen.url, &[("x-fluxbase-signature", &header)], &body);
        assert_eq!(answer.status, 200);
        let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
        assert_eq!(line["event"]["record"]["id"], 2);
    }
}

#[test]
fn an_oversized_body_gets_a_413_the_sender_reads() {
    let listen = Listen::start(&["--body-limit", "65536"]);
    let big = vec![b'x'; 3 * 1024 * 1024];
    let file = TempFile::new("big.json", &big);

    // `fluxhook send` writes the whole body, then reads the answer.
    let out = send(
        &listen.url,
        &["--secret", "whsec-e2e", file.path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(text.starts_with("HTTP 413 Payload Too Large\n"), "{text}");
    assert!(text.contains(r#""code":"payload_too_large""#), "{text}");
    assert_eq!(
        listen.next_stderr(),
        "refused 413 payload_too_large: the body is larger than the 65536 byte limit"
    );

    // A plain socket: every byte written without a broken pipe, then the
    // answer read.
    let (addr, path) = split_url(&listen.url);
    let header = signed(Scheme::Timestamped, &big);
    let answer = Connection::open(addr)
        .post(&path, &[("x-fluxbase-signature", &header)], &big)
        .unwrap_or_else(|e| panic!("the sender could not deliver its body: {e}"));
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (413, "payload_too_large")
    );
}

#[test]
fn untimestamped_signatures_are_dated_by_the_body() {
    let listen = Listen::start(&["--json"]);
    let send_file = |scheme: &str, file: &TempFile| {
        let path = file.path.to_str().unwrap();
        send(
            &listen.url,
            &["--secret", "whsec-e2e", "--scheme", scheme, path],
        )
    };

    // Signed in hex over a body dated now: accepted, dated by the body.
    let now = Timestamp::now();
    let fresh = TempFile::new("fresh.json", &dated_body(3, now));
    let out = send_file("hex", &fresh);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["scheme"], "hex");
    assert_eq!(line["timestamp"], now.unix_timestamp());

    // The same, dated ten minutes ago: stale.
    let ten_minutes_ago = Timestamp::from(SystemTime::now() - Duration::from_secs(600));
    let stale = TempFile::new("stale.json", &dated_body(3, ten_minutes_ago));
    let out = send_file("hex", &stale);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).starts_with("HTTP 401 Unauthorized\n"));
    assert!(stdout(&out).contains(r#""code":"timestamp_too_old""#));
    let refused = listen.next_stderr();
    assert!(
        refused.starts_with("refused 401 timestamp_too_old: the delivery is 60"),
        "{refused}"
    );

    // Signed with sha256=, over a body with no date at all.
    let undated = TempFile::new("undated.json", br#"{"event":"INSERT","table":"orders"}"#);
    let out = send_file("sha256", &undated);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains(r#""code":"missing_timestamp""#));
    let refused = listen.next_stderr();
    assert!(
        refused.starts_with("refused 401 missing_timestamp: "),
        "{refused}"
    );
    assert!(
        listen.stdout.try_recv().is_err(),
        "a refused delivery was printed"
    );
}

#[test]
fn a_legacy_only_delivery_says_how_to_accept_it() {
    let body = dated_body(4, Timestamp::now());
    let legacy = signed(Scheme::Hex, &body);
    let only_legacy = [("x-webhook-signature", legacy.as_str())];

    let listen = Listen::start(&["--json"]);
    let answer = post(&listen.url, &only_legacy, &body);
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (401, "missing_signature")
    );
    let refused = listen.next_stderr();
    assert!(
        refused.starts_with(
            "refused 401 missing_signature: only the legacy X-Webhook-Signature header was sent"
        ),
        "{refused}"
    );
    assert!(refused.contains("--legacy-header"), "{refused}");
    drop(listen);

    let listen = Listen::start(&["--json", "--legacy-header"]);
    assert_eq!(post(&listen.url, &only_legacy, &body).status, 200);
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["scheme"], "hex");
}

#[test]
fn idle_connections_are_closed_by_the_header_timeout() {
    let listen = Listen::start(&["--json", "--header-timeout", "1"]);
    let (addr, path) = split_url(&listen.url);
    // Shorter than the default timeout (10 s), so only the flag's can pass.
    let within = Duration::from_secs(8);

    // A connection that never sends a request.
    assert!(Connection::open(addr).closed_by_server(within));

    // A kept-alive connection, idle after one delivery.
    let mut conn = Connection::open(addr);
    let body = dated_body(5, Timestamp::now());
    let header = signed(Scheme::Timestamped, &body);
    let answer = conn
        .post(&path, &[("x-fluxbase-signature", &header)], &body)
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_ne!(answer.header("connection"), Some("close"));
    assert!(conn.closed_by_server(within));
}

#[test]
fn a_peer_that_never_reads_is_closed_by_the_write_timeout() {
    let listen = Listen::start(&["--json", "--write-timeout", "1", "--max-connections", "1"]);
    let (addr, path) = split_url(&listen.url);
    // The one connection slot: requests (405s, pipelined) whose answers
    // are never read, written until the sockets' buffers are full.
    let deaf = std::net::TcpStream::connect(addr).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let writer = {
        let mut deaf = deaf.try_clone().unwrap();
        let ask = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").repeat(1000);
        std::thread::spawn(move || {
            for _ in 0..400 {
                if std::io::Write::write_all(&mut deaf, ask.as_bytes()).is_err() {
                    return;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    // An honest delivery behind it is served once the flag's 1 s has
    // closed the deaf one: well before the default 10 s would.
    let started = std::time::Instant::now();
    let body = dated_body(9, Timestamp::now());
    let header = signed(Scheme::Timestamped, &body);
    let answer = post(&listen.url, &[("x-fluxbase-signature", &header)], &body);
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    drop(deaf);
    let _ = writer.join();
}

#[test]
fn replays_are_refused_across_listeners_sharing_redis() {
    let redis = fluxhook_testkit::RedisServer::start();
    let url = format!("{}0", redis.url());
    let first = Listen::start(&["--json", "--dedupe", &url]);
    let second = Listen::start(&["--json", "--dedupe", &url]);
    let (body, header) = deliver(&first, 6);

    // The same delivery to the other instance: it is a replay there too.
    let again = post(&second.url, &[("x-fluxbase-signature", &header)], &body);
    assert_eq!((again.status, again.code().as_str()), (409, "replayed"));
    assert!(second.next_stderr().starts_with("refused 409 replayed"));
    // A new delivery is new to both.
    deliver(&second, 7);
}

#[test]
fn an_unreachable_redis_is_a_usage_error() {
    let addr = crate::closed_addr();
    let url = format!("redis://:hunter2@{addr}/0");
    let mut cmd = Command::new(BIN);
    cmd.args(["listen", "--addr", "127.0.0.1:0", "--dedupe", &url])
        .env("FLUXBASE_WEBHOOK_SECRET", "whsec-e2e");
    let out = exits_within(cmd, GUARD);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot connect to Redis at redis://:***@{addr}/0"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_body_budget_and_the_read_timeout_are_the_flags() {
    let listen = Listen::start(&["--body-budget", "4096", "--read-timeout", "0.5"]);
    let (addr, path) = split_url(&listen.url);

    // A body that would pass the budget of bytes held at once: 503, retry later.
    let body = vec![b' '; 8192];
    let header = signed(Scheme::Timestamped, &body);
    let answer = post(&listen.url, &[("x-fluxbase-signature", &header)], &body);
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (503, "over_capacity")
    );
    assert!(answer.header("retry-after").is_some(), "{answer:?}");
    assert!(
        listen
            .next_stderr()
            .starts_with("refused 503 over_capacity")
    );

    // A body that stops arriving: 408 once the read timeout has passed.
    let body = dated_body(8, Timestamp::now());
    let header = signed(Scheme::Timestamped, &body);
    let answer = Connection::open(addr)
        .post_partial(
            &path,
            &[("x-fluxbase-signature", &header)],
            body.len(),
            &body[..10],
        )
        .unwrap();
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (408, "body_timeout")
    );
    assert!(listen.next_stderr().starts_with("refused 408 body_timeout"));
}
