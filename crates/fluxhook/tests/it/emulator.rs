//! `fluxhook emulator`: starts, prints its URL and credentials, serves.

use std::process::Stdio;

use fluxbase_webhooks::client::Client;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::support::{fluxhook, stderr};

/// `--json` prints one ready line (URL, flavor, mode, service key, seeded
/// accounts) and `--ready-file` writes the same line; both are read here,
/// nothing is scraped.
#[tokio::test(flavor = "multi_thread")]
async fn serves_until_stopped() {
    let dir = crate::TempFile::new("placeholder", b"");
    let ready_file = dir.path.with_file_name("ready.json");
    let ready_arg = ready_file.to_str().unwrap();
    let (mut child, mut lines) = emulator(&[
        "--user-email",
        "dev@example.com",
        "--user-password",
        "dev-password-1234",
        "--json",
        "--ready-file",
        ready_arg,
    ]);
    let first = lines.next_line().await.unwrap().unwrap();
    let ready: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(ready["event"], "ready");
    assert_eq!(
        (&ready["flavor"], &ready["server_mode"]),
        (&serde_json::json!("server"), &serde_json::json!("debug"))
    );
    assert_eq!(ready["user"]["email"], "dev@example.com");
    assert_eq!(ready["user"]["password"], "dev-password-1234");
    assert_eq!(
        ready["admin"]["email"],
        fluxbase_emulator::DEFAULT_ADMIN_EMAIL
    );
    assert!(ready["service_key"].as_str().unwrap().starts_with("sk_"));
    let from_file = std::fs::read_to_string(&ready_file).unwrap();
    assert_eq!(from_file.trim_end(), first);
    let url = ready["url"].as_str().unwrap();

    let client = Client::new(url).unwrap();
    client
        .auth()
        .sign_in("dev@example.com", "dev-password-1234")
        .await
        .unwrap();
    assert!(client.webhooks().list().await.unwrap().is_empty());
    let service = Client::builder()
        .base_url(url)
        .service_key(ready["service_key"].as_str().unwrap())
        .build()
        .unwrap();
    assert!(service.webhooks().list().await.unwrap().is_empty());
    child.kill().await.unwrap();
}

/// Without `--json`, the text start-up output names the mode and the
/// warnings endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn text_output_in_production_mode() {
    let (mut child, mut lines) = emulator(&["--server-mode", "production"]);
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(
        first.contains("(server flavor, production mode)"),
        "{first}"
    );
    let mut saw_warnings = false;
    while let Some(line) = lines.next_line().await.unwrap() {
        saw_warnings |= line.contains("/api/v1/emulator/warnings");
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(saw_warnings);
    child.kill().await.unwrap();
}

/// The ready file holds the seeded passwords and the service key: it is
/// its owner's alone, even where an earlier run left a readable file and a
/// readable temporary file behind.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_ready_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let dir = crate::TempFile::new("placeholder", b"");
    let ready_file = dir.path.with_file_name("ready.json");
    let stale_tmp = dir.path.with_file_name("ready.json.tmp");
    for old in [&ready_file, &stale_tmp] {
        std::fs::write(old, "left by an earlier run\n").unwrap();
        std::fs::set_permissions(old, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (mut child, mut lines) =
        emulator(&["--json", "--ready-file", ready_file.to_str().unwrap()]);
    let first = lines.next_line().await.unwrap().unwrap();
    let written = std::fs::read_to_string(&ready_file).unwrap();
    assert_eq!(written.trim_end(), first);
    assert!(written.contains("\"service_key\""), "{written}");
    let mode = std::fs::metadata(&ready_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    assert!(!stale_tmp.exists(), "the temporary file was renamed");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_bad_flags() {
    let out = fluxhook(&["emulator", "--addr", "0.0.0.0:0"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("loopback"), "{}", stderr(&out));
    let out = fluxhook(
        &[
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--admin-password",
            "short",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("12 to 72 bytes"), "{}", stderr(&out));
    let out = fluxhook(&["emulator", "--flavor", "staging"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
}

/// `fluxhook emulator --addr 127.0.0.1:0` with `args`, in an empty
/// environment, and its standard output a line at a time.
fn emulator(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxhook"))
        .args(["emulator", "--addr", "127.0.0.1:0"])
        .args(args)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}
