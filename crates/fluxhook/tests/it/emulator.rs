//! `fluxhook emulator`: starts, prints its URL and credentials, serves.

use std::process::Stdio;

use fluxbase_webhooks::client::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{fluxhook, stderr};

#[tokio::test(flavor = "multi_thread")]
async fn serves_until_stopped() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxhook"))
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--user-email",
            "dev@example.com",
            "--user-password",
            "dev-password-1234",
        ])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let user = lines.next_line().await.unwrap().unwrap();
    assert!(
        user.contains("dev@example.com / dev-password-1234"),
        "{user}"
    );

    let client = Client::new(&url).unwrap();
    client
        .auth()
        .sign_in("dev@example.com", "dev-password-1234")
        .await
        .unwrap();
    assert!(client.webhooks().list().await.unwrap().is_empty());
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
