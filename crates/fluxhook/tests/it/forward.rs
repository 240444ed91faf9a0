//! `fluxhook listen --forward` hands deliveries to a Redis Stream and
//! `fluxhook consume --exec` takes them out: real processes, real HTTP, a
//! real `redis-server` each test starts on a free loopback port.

use std::process::Command;
use std::time::{Duration, Instant};

use fluxbase_webhooks::{Scheme, Signer, Timestamp};
use fluxhook_load::handoff_soak::{self, Settings};
use fluxhook_testkit::RedisServer;

use crate::http::{Answer, post};
use crate::listen_send::Listen;
use crate::{TempFile, exits_within};

const BIN: &str = env!("CARGO_BIN_EXE_fluxhook");
const SECRET: &str = "whsec-e2e";
const STREAM: &str = "orders:deliveries";

fn stream_url(redis: &RedisServer) -> String {
    format!("redis://{}/{STREAM}", redis.addr())
}

/// Attempt of event `record`: dated `at` in the body, signed now in both
/// headers, as the Fluxbase server signs every attempt.
fn attempt(record: u32, at: Timestamp) -> (Vec<u8>, [(&'static str, String); 2]) {
    let body = format!(
        r#"{{"event":"UPDATE","table":"orders","schema":"public","record":{{"id":{record},"status":"paid"}},"old_record":{{"id":{record},"status":"new"}},"timestamp":"{at}"}}"#
    )
    .into_bytes();
    let signer = Signer::new(SECRET).unwrap();
    let t = Timestamp::now().unix_timestamp();
    let headers = [
        (
            "x-fluxbase-signature",
            signer.sign(Scheme::Timestamped, t, &body).to_string(),
        ),
        (
            "x-webhook-signature",
            signer.sign(Scheme::Hex, t, &body).to_string(),
        ),
    ];
    (body, headers)
}

fn deliver(listen: &Listen, record: u32) -> (Vec<u8>, Answer) {
    let (body, headers) = attempt(record, Timestamp::now());
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = post(&listen.url, &headers, &body);
    (body, answer)
}

/// Runs `fluxhook consume URL --group workers --exec SCRIPT --drain` to
/// its end: every entry handled.
fn consume_all(url: &str, script: &str) {
    let mut consume = Command::new(BIN);
    consume
        .args([
            "consume", url, "--group", "workers", "--exec", script, "--drain",
        ])
        .env_remove("FLUXHOOK_QUEUE_URL");
    let out = exits_within(consume, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The entry id and duplicate flag of a 202.
fn queued(answer: &Answer) -> (String, bool) {
    assert_eq!(answer.status, 202, "{answer:?}");
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    (
        doc["queued"].as_str().unwrap().to_owned(),
        doc["duplicate"].as_bool().unwrap(),
    )
}

#[test]
fn listen_forward_queues_each_delivery_and_consume_exec_gets_it() {
    let redis = RedisServer::start();
    let url = stream_url(&redis);
    let listen = Listen::start(&["--json", "--forward", &url]);
    assert_eq!(
        listen.next_stderr(),
        format!(
            "forwarding to stream {STREAM} on redis://{}/0",
            redis.addr()
        )
    );

    let (first_body, answer) = deliver(&listen, 7);
    let (first, duplicate) = queued(&answer);
    assert!(!duplicate);
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["id"], first);
    assert_eq!(line["event"], "UPDATE");
    assert_eq!(line["table"], "public.orders");
    assert_eq!(line["duplicate"], false);
    assert_eq!(line["scheme"], "timestamped");
    assert_eq!(line["body_len"], first_body.len());

    // Fluxbase's retry of the same event: re-dated, re-signed, queued again
    // with the duplicate flag.
    let (retry_body, answer) = deliver(&listen, 7);
    let (retry, duplicate) = queued(&answer);
    assert!(duplicate);
    assert_ne!(retry_body, first_body);
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(
        (&line["id"], &line["duplicate"]),
        (&retry.clone().into(), &true.into())
    );

    // The receive policy still applies: a replay is refused, not queued.
    let (body, headers) = attempt(8, Timestamp::now());
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    queued(&post(&listen.url, &headers, &body));
    listen.next_stdout();
    let replay = post(&listen.url, &headers, &body);
    assert_eq!((replay.status, replay.code().as_str()), (409, "replayed"));
    assert!(listen.next_stderr().starts_with("refused 409 replayed"));
    assert!(
        listen.stdout.try_recv().is_err(),
        "a refusal was printed as queued"
    );

    // A consumer runs the command for each entry, the body on its stdin.
    let marker = TempFile::new("marker", b"");
    let dir = marker.path.parent().unwrap();
    let script = format!(
        r#"cd '{}' && cat > "$FLUXHOOK_ENTRY_ID.body" && echo "$FLUXHOOK_EVENT $FLUXHOOK_DUPLICATE" > "$FLUXHOOK_ENTRY_ID.env""#,
        dir.display()
    );
    consume_all(&url, &script);
    let read = |name: String| std::fs::read(dir.join(name)).unwrap();
    assert_eq!(
        read(format!("{first}.body")),
        first_body,
        "the body as sent"
    );
    assert_eq!(read(format!("{first}.env")), b"UPDATE 0\n");
    assert_eq!(read(format!("{retry}.body")), retry_body);
    assert_eq!(
        read(format!("{retry}.env")),
        b"UPDATE 1\n",
        "flagged duplicate"
    );
}

#[test]
fn the_other_listen_options_apply_to_forwarded_deliveries() {
    let redis = RedisServer::start();
    let url = stream_url(&redis);
    let listen = Listen::start(&[
        "--json",
        "--forward",
        &url,
        "--legacy-header",
        "--body-limit",
        "400",
        "--dedupe",
        "off",
    ]);
    listen.next_stderr();

    // Only the legacy header (servers before 2026-01): read, as bare hex.
    let (body, headers) = attempt(3, Timestamp::now());
    let legacy = [("x-webhook-signature", headers[1].1.as_str())];
    let (_, duplicate) = queued(&post(&listen.url, &legacy, &body));
    assert!(!duplicate);
    let line: serde_json::Value = serde_json::from_str(&listen.next_stdout()).unwrap();
    assert_eq!(line["scheme"], "hex");

    // Dedupe off: the same delivery again is queued again, unflagged.
    let (_, duplicate) = queued(&post(&listen.url, &legacy, &body));
    assert!(!duplicate);
    listen.next_stdout();

    // Over the body limit: refused, not queued.
    let big = format!(
        r#"{{"event":"INSERT","table":"t","schema":"s","record":{{"pad":"{}"}},"timestamp":"{}"}}"#,
        "x".repeat(400),
        Timestamp::now()
    );
    let signer = Signer::new(SECRET).unwrap();
    let header = signer.sign_now(big.as_bytes()).to_string();
    let answer = post(
        &listen.url,
        &[("x-fluxbase-signature", &header)],
        big.as_bytes(),
    );
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (413, "payload_too_large")
    );
    assert!(
        listen
            .next_stderr()
            .starts_with("refused 413 payload_too_large")
    );
    assert!(listen.stdout.try_recv().is_err());
}

#[test]
fn while_redis_is_down_deliveries_get_503_and_listen_recovers_when_it_is_back() {
    let mut redis = RedisServer::start();
    let url = stream_url(&redis);
    let listen = Listen::start(&["--json", "--forward", &url]);
    listen.next_stderr();
    redis.stop();

    let (_, answer) = deliver(&listen, 1);
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (503, "queue_unavailable")
    );
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(
        listen
            .next_stderr()
            .starts_with("refused 503 queue_unavailable")
    );

    // Fluxbase retries; the listener kept running and reconnects by itself.
    // The failed attempt's event was forgotten: the retry is new.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (body, answer) = loop {
        let (body, answer) = deliver(&listen, 1);
        if answer.status == 202 || Instant::now() > deadline {
            break (body, answer);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (id, duplicate) = queued(&answer);
    assert!(!duplicate);

    let marker = TempFile::new("marker", b"");
    let got = marker.path.with_file_name("got");
    consume_all(&url, &format!("cat > '{}'", got.display()));
    assert_eq!(std::fs::read(&got).unwrap(), body, "entry {id} handled");
}

#[test]
fn an_unreachable_redis_at_the_start_exits_2_without_showing_the_password() {
    let addr = crate::closed_addr();
    let url = format!("redis://app:hunter2@{addr}/{STREAM}");
    for (args, env) in [
        (vec!["--forward", url.as_str()], None),
        (vec![], Some(url.as_str())),
    ] {
        let mut cmd = Command::new(BIN);
        cmd.args(["listen", "--addr", "127.0.0.1:0"])
            .args(&args)
            .env("FLUXBASE_WEBHOOK_SECRET", SECRET)
            .env_remove("FLUXHOOK_QUEUE_URL");
        if let Some(url) = env {
            cmd.env("FLUXHOOK_QUEUE_URL", url);
        }
        let out = exits_within(cmd, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!(
                "error: cannot forward to stream {STREAM} on redis://app:***@{addr}/0: redis is unavailable"
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    // A malformed URL from the environment is not repeated either.
    let mut cmd = Command::new(BIN);
    cmd.args(["listen", "--addr", "127.0.0.1:0"])
        .env("FLUXBASE_WEBHOOK_SECRET", SECRET)
        .env("FLUXHOOK_QUEUE_URL", "redis://:hunter2@127.0.0.1");
    let out = exits_within(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("names no stream") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// The load harness's handoff soak, small: deliveries signed and retried as
/// Fluxbase does, consumers killed (SIGKILL) while they work, Redis killed
/// and restarted on its append-only file; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_killed_consumers_and_a_redis_restart() {
    let report = handoff_soak::run(Settings::new(BIN, SECRET)).await.unwrap();
    let shown = handoff_soak::text(&report);
    assert!(report.passed, "{shown}");
    assert_eq!(report.sending.events, 60, "{shown}");
    assert_eq!(report.processing.lost, 0, "{shown}");
    assert_eq!(report.processing.processed, report.sending.acknowledged);
    assert!(report.consumer_kills >= 1, "{shown}");
    assert_eq!(report.redis_restarts, 1);
    // Redis was down for a while: some attempts were refused, then retried.
    assert!(
        report.sending.answers.get(&503).is_some_and(|n| *n > 0),
        "{shown}"
    );
    assert_eq!(
        report.listen_refusals.get("queue_unavailable"),
        report.sending.answers.get(&503)
    );
    let d = &report.duplicates;
    assert!(d.redeliveries > 0 && d.flagged == d.redeliveries, "{shown}");
}
