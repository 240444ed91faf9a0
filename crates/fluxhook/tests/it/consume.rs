//! `fluxhook consume` and `fluxhook dead-letters` against a real
//! `redis-server` each test starts on a free loopback port, with deliveries
//! appended by the library's `StreamWriter` (what a receiver does).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use fluxbase_webhooks::Scheme;
use fluxbase_webhooks::dedupe::event_key;
use fluxbase_webhooks::queue::{
    DeadLetters, EntryId, Failed, QueuedDelivery, StreamConsumer, StreamWriter,
};
use fluxhook_testkit::RedisServer;

use crate::{TempFile, stopped_quietly, with_closed_stdout};

const STREAM: &str = "orders:deliveries";

fn body(id: u32) -> Vec<u8> {
    format!(
        r#"{{"event":"INSERT","table":"orders","schema":"public","record":{{"id":{id},"note":"caf\u00e9"}},"timestamp":"2026-01-02T03:04:05Z"}}"#
    )
    .into_bytes()
}

async fn append(redis: &RedisServer, id: u32, duplicate: bool) -> EntryId {
    let writer = StreamWriter::builder(redis.url())
        .stream(STREAM)
        .connect()
        .await
        .unwrap();
    let body = body(id);
    writer
        .append(
            &QueuedDelivery::builder(body.clone(), Scheme::Timestamped)
                .timestamp(Some(1_767_323_045))
                .event_key(event_key(&body))
                .duplicate(duplicate)
                .build(),
        )
        .await
        .unwrap()
}

fn stream_url(redis: &RedisServer) -> String {
    format!("redis://{}/{STREAM}", redis.addr())
}

/// `fluxhook consume URL --group workers --exec SCRIPT` and `more`.
fn exec_args<'a>(url: &'a str, script: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["consume", url, "--group", "workers", "--exec", script];
    args.extend_from_slice(more);
    args
}

/// `fluxhook args…` as a child process, with no queue URL inherited.
fn fluxhook(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxhook"));
    cmd.args(args)
        .env_remove("FLUXHOOK_QUEUE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `fluxhook args…` to its end (at most 60 s).
async fn run(args: &[&str]) -> Output {
    let child = fluxhook(args).spawn().unwrap();
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("fluxhook {args:?} did not finish"))
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory for a command's files.
fn scratch() -> (TempFile, PathBuf) {
    let marker = TempFile::new("marker", b"");
    let dir = marker.path.parent().unwrap().to_path_buf();
    (marker, dir)
}

/// How many entries group `group` holds unacknowledged.
async fn pending(redis: &RedisServer, group: &str) -> usize {
    StreamConsumer::builder(redis.url(), STREAM, group)
        .consumer("test-probe")
        .connect()
        .await
        .unwrap()
        .pending()
        .await
        .unwrap()
}

async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_prints_each_event_as_a_json_line_and_acknowledges_it() {
    let redis = RedisServer::start();
    let first = append(&redis, 1, false).await;
    let second = append(&redis, 1, true).await;
    let url = stream_url(&redis);
    let lines = drain(&url, "printer").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["id"], first.to_string());
    assert_eq!(lines[0]["attempt"], 1);
    assert_eq!(lines[0]["duplicate"], false);
    assert_eq!(lines[1]["id"], second.to_string());
    assert_eq!(lines[1]["duplicate"], true, "the duplicate flag is shown");
    assert_eq!(lines[0]["event_key"], lines[1]["event_key"]);
    assert_eq!(lines[0]["event_key"], event_key(&body(1)).unwrap());
    assert_eq!(lines[0]["scheme"], "timestamped");
    assert_eq!(lines[0]["timestamp"], 1_767_323_045);
    assert_eq!(lines[0]["event"]["record"]["note"], "café");
    assert_eq!(pending(&redis, "printer").await, 0, "both acknowledged");

    // Readable blocks without --json.
    append(&redis, 2, false).await;
    let out = run(&["consume", &url, "--group", "printer", "--drain"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("=== INSERT public.orders (entry "),
        "{shown}"
    );
    assert!(shown.contains(r#""record": {"id":2,"#), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_fails_then_succeeds_gets_the_body_on_stdin_and_acknowledges_on_the_retry() {
    let redis = RedisServer::start();
    let id = append(&redis, 7, false).await;
    let (_guard, dir) = scratch();
    let script = format!(
        r#"cd '{dir}' && echo "$FLUXHOOK_ATTEMPT $FLUXHOOK_EVENT $FLUXHOOK_DUPLICATE $FLUXHOOK_ENTRY_ID $FLUXHOOK_EVENT_KEY $FLUXHOOK_BODY_LEN" >> calls
if [ "$FLUXHOOK_ATTEMPT" = 1 ]; then echo "warming up" >&2; echo "not yet" >&2; exit 3; fi
cat > body"#,
        dir = dir.display()
    );
    let url = stream_url(&redis);
    let out = run(&exec_args(
        &url,
        &script,
        &["--max-attempts", "3", "--retry-delay", "0.1", "--drain"],
    ))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warming up"),
        "the command's stderr is passed on: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "entry {id}: attempt 1 of 3 failed (exit status: 3: not yet)"
        )),
        "{stderr}"
    );
    let key = event_key(&body(7)).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("calls")).unwrap(),
        format!(
            "1 INSERT 0 {id} {key} {len}\n2 INSERT 0 {id} {key} {len}\n",
            len = body(7).len()
        )
    );
    assert_eq!(
        std::fs::read(dir.join("body")).unwrap(),
        body(7),
        "the raw body on stdin"
    );
    assert_eq!(pending(&redis, "workers").await, 0);
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    assert_eq!(dead.count().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_always_fails_is_dead_lettered_then_replayed_and_processed() {
    let redis = RedisServer::start();
    let id = append(&redis, 9, false).await;
    let url = stream_url(&redis);
    let out = run(&exec_args(
        &url,
        "cat > /dev/null; echo 'no database' >&2; exit 7",
        &["--max-attempts", "2", "--retry-delay", "0.1", "--drain"],
    ))
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("dead-lettered as"), "{stderr}");
    assert_eq!(
        pending(&redis, "workers").await,
        0,
        "settled: moved, not pending"
    );

    let out = run(&["dead-letters", "list", &url, "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let letters: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter["original_id"], id.to_string());
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["error"], "exit status: 7: no database");
    assert_eq!(letter["group"], "workers");
    assert_eq!(letter["event"]["record"]["id"], 9);
    let dead_id = letter["id"].as_str().unwrap().to_owned();

    let out = run(&["dead-letters", "list", &url]).await;
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!(
            "=== {dead_id} (entry {id}): dead after 2 attempts"
        )),
        "{shown}"
    );
    assert!(
        shown.contains("error: exit status: 7: no database"),
        "{shown}"
    );

    // Unknown ids are an error; a real one goes back on the stream.
    let out = run(&["dead-letters", "replay", &url, "1-1"]).await;
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["dead-letters", "replay", &url, &dead_id]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("{dead_id} replayed as ")));

    let (_guard, dir) = scratch();
    let script = format!("cat > '{}'", dir.join("body").display());
    let out = run(&exec_args(&url, &script, &["--drain"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(dir.join("body")).unwrap(), body(9));
    let out = run(&["dead-letters", "list", &url, "--json"]).await;
    assert_eq!(text(&out.stdout), "", "nothing dead any more");
}

/// The events `consume URL --group GROUP --json --drain` prints (it must
/// succeed), one JSON value each.
async fn drain(url: &str, group: &str) -> Vec<serde_json::Value> {
    let out = run(&["consume", url, "--group", group, "--json", "--drain"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Dead-letters `delivery(id)` through one consumer with a single attempt;
/// with `trimmed`, the stream loses the entry (MAXLEN) while it is in hand,
/// so the dead letter keeps nothing to replay.
async fn dead_letter(redis: &RedisServer, id: u32, trimmed: bool) -> EntryId {
    append(redis, id, false).await;
    let mut consumer = StreamConsumer::builder(redis.url(), STREAM, "workers")
        .consumer("test-dead-letterer")
        .max_attempts(1)
        .connect()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        if let Some(m) = consumer.try_next().await.unwrap() {
            break m;
        }
        assert!(Instant::now() < deadline, "entry {id} never read");
    };
    if trimmed {
        let mut conn = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let _: usize = redis::cmd("XTRIM")
            .arg(STREAM)
            .arg("MAXLEN")
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    match message.fail("exit status: 1").await.unwrap() {
        Failed::DeadLettered { dead_letter_id, .. } => dead_letter_id,
        other => panic!("one attempt only: {other:?}"),
    }
}

/// `replay --all` replays every dead letter it can, reports each one that
/// holds nothing to replay (its entry was trimmed before it died) and
/// leaves it in place, and exits 3; run again, it replays nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_all_goes_past_a_dead_letter_with_nothing_to_replay_and_reports_it() {
    let redis = RedisServer::start();
    let empty = dead_letter(&redis, 1, true).await;
    let good = dead_letter(&redis, 2, false).await;
    let url = stream_url(&redis);
    let dead_count = || async {
        let dead = run(&["dead-letters", "list", &url, "--json"]).await;
        assert!(dead.status.success(), "{}", text(&dead.stderr));
        text(&dead.stdout).lines().count()
    };
    assert_eq!(dead_count().await, 2);
    // Listed as what it is: a delivery whose entry was gone, not a foreign
    // entry.
    let listed = run(&["dead-letters", "list", &url]).await;
    let listed = text(&listed.stdout);
    assert!(
        listed.contains("(nothing to replay: its entry had been removed"),
        "{listed}"
    );
    assert!(!listed.contains("not a delivery"), "{listed}");
    let listed = run(&["dead-letters", "list", &url, "--json"]).await;
    let first: serde_json::Value =
        serde_json::from_str(text(&listed.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], empty.to_string());
    assert_eq!(first["nothing_to_replay"], true);
    assert_eq!(first["not_a_delivery"], serde_json::Value::Null);

    let out = run(&["dead-letters", "replay", &url, "--all"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{empty}: not replayed, left in place: dead letter {empty} holds nothing to replay"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("replayed 1 onto orders:deliveries; 1 left in"),
        "{stderr}"
    );
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    let left = dead.list(None, 10).await.unwrap();
    assert_eq!(left.iter().map(|l| l.id()).collect::<Vec<_>>(), [empty]);
    assert_eq!(left[0].error(), "exit status: 1", "kept as it was");

    // B is back on the stream, once: its group reads exactly it.
    let events = drain(&url, "workers").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"]["record"]["id"], 2);
    assert_ne!(events[0]["id"], good.to_string());

    // Again, with --json: nothing replayed twice, A reported again.
    let out = run(&["dead-letters", "replay", &url, "--all", "--json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replayed"], 0);
    assert_eq!(report["skipped"][0]["id"], empty.to_string());
    assert_eq!(report["skipped"][0]["code"], "queue_nothing_to_replay");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 1);
    assert!(
        drain(&url, "workers").await.is_empty(),
        "B was not replayed again"
    );
    assert_eq!(dead_count().await, 1);

    // By id: reported the same way; removing it is the way out.
    let out = run(&["dead-letters", "replay", &url, &empty.to_string(), "--json"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["code"], "queue_nothing_to_replay");
    let out = run(&["dead-letters", "remove", &url, &empty.to_string()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["dead-letters", "replay", &url, "--all"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_command_leaves_the_event_to_another_after_the_visibility_timeout() {
    let redis = RedisServer::start();
    let id = append(&redis, 3, false).await;
    let (_guard, dir) = scratch();
    let url = stream_url(&redis);
    let started = dir.join("started");
    let hang = format!("echo $$ > '{}'; exec sleep 60", started.display());
    let mut first = fluxhook(&[
        "consume",
        &url,
        "--group",
        "workers",
        "--consumer",
        "first",
        "--visibility-timeout",
        "2",
        "--exec-timeout",
        "1.5",
        "--exec",
        &hang,
    ])
    .spawn()
    .unwrap();
    wait_for_file(&started).await;
    // The consumer dies (SIGKILL), and so does its command.
    first.kill().await.unwrap();
    let pid = std::fs::read_to_string(&started).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", pid.trim()])
        .status();

    let finish = format!(
        "cd '{}' && echo $FLUXHOOK_ATTEMPT > attempt && cat > body",
        dir.display()
    );
    let out = run(&[
        "consume",
        &url,
        "--group",
        "workers",
        "--consumer",
        "second",
        "--visibility-timeout",
        "2",
        "--exec-timeout",
        "1",
        "--exec",
        &finish,
        "--drain",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("attempt")).unwrap(), "2\n");
    assert_eq!(std::fs::read(dir.join("body")).unwrap(), body(3));
    assert_eq!(
        pending(&redis, "workers").await,
        0,
        "entry {id} acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_the_running_command_finish_and_acknowledges_it() {
    let redis = RedisServer::start();
    append(&redis, 4, false).await;
    let (_guard, dir) = scratch();
    let started = dir.join("started");
    let script = format!(
        "cd '{}' && touch started && sleep 1 && cat > body",
        dir.display()
    );
    let url = stream_url(&redis);
    let child = fluxhook(&exec_args(&url, &script, &[])).spawn().unwrap();
    let pid = child.id().unwrap();
    wait_for_file(&started).await;
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stopped after Ctrl-C")
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopping: finishing the event in hand"));
    assert_eq!(
        std::fs::read(dir.join("body")).unwrap(),
        body(4),
        "the command finished"
    );
    assert_eq!(
        pending(&redis, "workers").await,
        0,
        "and its event was acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_and_bad_urls_exit_with_their_codes() {
    let addr = crate::closed_addr();
    let url = format!("redis://user:hunter2@{addr}/s");
    let out = run(&["consume", &url, "--group", "g"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("redis is unavailable"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let out = run(&["dead-letters", "list", &url]).await;
    assert_eq!(out.status.code(), Some(1));

    let out = run(&["consume", "redis://127.0.0.1", "--group", "g"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("names no stream"));
    let out = run(&[
        "consume",
        "redis://127.0.0.1/s",
        "--group",
        "g",
        "--exec",
        "true",
        "--visibility-timeout",
        "5",
        "--exec-timeout",
        "5",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--exec-timeout must be below --visibility-timeout"));
}

/// Whether process `pid` still runs (a zombie does not).
#[cfg(target_os = "linux")]
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_timeout_is_killed_with_what_it_started_and_the_attempt_fails() {
    let redis = RedisServer::start();
    append(&redis, 5, false).await;
    let (_guard, dir) = scratch();
    let pid_file = dir.join("pid");
    // A pipeline-like command: the shell waits on a child of its own.
    let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let url = stream_url(&redis);
    // Not waiting for output: a surviving child would hold the pipes open.
    let status = fluxhook(&exec_args(
        &url,
        &script,
        &["--exec-timeout", "0.5", "--max-attempts", "1", "--drain"],
    ))
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .status();
    let status = tokio::time::timeout(Duration::from_secs(60), status)
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid.trim()) {
        assert!(
            Instant::now() < deadline,
            "the command's child {pid} survived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    let letters = dead.list(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].error(), "timed out after 0.5s");
    assert_eq!(letters[0].attempts(), 1);
}

/// `replay --all` stopped by a full stream says how many it replayed before
/// the error and exits 1; the rest stay dead letters (`--json`: the count
/// and `"stopped": "queue_full"` on stdout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_all_stopped_by_a_full_stream_says_what_it_replayed() {
    let redis = RedisServer::start();
    for id in 1..=3 {
        dead_letter(&redis, id, false).await;
    }
    // One entry the group has not read: with --max-len 2, one replay fits.
    append(&redis, 4, false).await;
    let url = stream_url(&redis);
    let out = run(&["dead-letters", "replay", &url, "--all", "--max-len", "2"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("replayed 1 onto orders:deliveries; stopped before the last"),
        "{stderr}"
    );
    assert!(stderr.contains("the stream is full"), "{stderr}");

    let out = run(&[
        "dead-letters",
        "replay",
        &url,
        "--all",
        "--max-len",
        "2",
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["replayed"], 0);
    assert_eq!(report["stopped"], "queue_full");
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    assert_eq!(dead.count().await.unwrap(), 2, "the other two stay");
}

/// A closed stdout ends `dead-letters list` quietly (141, nothing on
/// stderr but its own notes), in text and JSON; nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_list_into_a_closed_pipe_stops_quietly() {
    let redis = RedisServer::start();
    for id in 1..=3 {
        dead_letter(&redis, id, false).await;
    }
    let url = stream_url(&redis);
    for json in [false, true] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fluxhook"));
        cmd.args(["dead-letters", "list", &url])
            .env_remove("FLUXHOOK_QUEUE_URL");
        if json {
            cmd.arg("--json");
        }
        let out = tokio::task::spawn_blocking(move || with_closed_stdout(cmd))
            .await
            .unwrap();
        stopped_quietly(&out);
    }
    let out = run(&["dead-letters", "list", &url, "--json"]).await;
    assert_eq!(text(&out.stdout).lines().count(), 3, "all still there");
}

/// `consume` whose reader went away after one event (`consume … | head -1`)
/// stops at the next event, quietly (141), and hands that event back to
/// the group unacknowledged: the next consumer gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_stops_quietly_when_its_reader_goes_away_and_hands_the_event_back() {
    use tokio::io::AsyncBufReadExt;

    let redis = RedisServer::start();
    append(&redis, 1, false).await;
    let url = stream_url(&redis);
    let mut child = fluxhook(&["consume", &url, "--group", "printer", "--json"])
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the first event is printed")
        .unwrap()
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["event"]["record"]["id"], 1);
    drop(lines); // The reader goes away, as `head -1` does.
    let second = append(&redis, 2, false).await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("consume stops once it cannot print")
        .unwrap();
    stopped_quietly(&out);

    let events = drain(&url, "printer").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["id"],
        second.to_string(),
        "handed back, not acknowledged"
    );
    assert_eq!(events[0]["event"]["record"]["id"], 2);
}
