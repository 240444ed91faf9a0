//! `fluxhook send` to `fluxhook listen`, both as real processes on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_fluxhook");
/// A guard against hanging, not a speed assertion.
const GUARD: Duration = Duration::from_secs(30);

/// A running `fluxhook listen`, ended (by its pid) on drop.
struct Listen {
    child: Child,
    url: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
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
    fn start(extra: &[&str]) -> Self {
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

    fn next_stdout(&self) -> String {
        self.stdout.recv_timeout(GUARD).expect("no event printed")
    }

    fn next_stderr(&self) -> String {
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
    assert!(line["timestamp"].is_null());

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
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = send(
        &format!("http://127.0.0.1:{port}/webhooks"),
        &["--secret", "s"],
    );
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
