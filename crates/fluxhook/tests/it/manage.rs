//! `fluxhook webhooks|keys|invitations` against an emulator.

use fluxbase_emulator::{Emulator, RunningEmulator};
use serde_json::Value;

use crate::support::{fluxhook, json, stderr, stdout};

async fn emulator() -> RunningEmulator {
    Emulator::builder().spawn().await.unwrap()
}

/// Runs a management command as the seeded user.
async fn as_user(emu: &RunningEmulator, args: &[&str]) -> std::process::Output {
    let url = emu.url();
    fluxhook(
        args,
        &[
            ("FLUXBASE_URL", url.as_str()),
            ("FLUXBASE_EMAIL", emu.user().email.as_str()),
            ("FLUXBASE_PASSWORD", emu.user().password.as_str()),
        ],
    )
    .await
}

/// Runs a management command as the seeded administrator.
async fn as_admin(emu: &RunningEmulator, args: &[&str]) -> std::process::Output {
    let url = emu.url();
    fluxhook(
        args,
        &[
            ("FLUXBASE_URL", url.as_str()),
            ("FLUXBASE_ADMIN_EMAIL", emu.admin().email.as_str()),
            ("FLUXBASE_ADMIN_PASSWORD", emu.admin().password.as_str()),
        ],
    )
    .await
}

/// create and update print what the server would silently do differently
/// (the client's lint: the emulator reports the same), and carry it under
/// `--json`.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_warnings_from_the_shell() {
    let emu = emulator().await;
    let out = as_user(
        &emu,
        &[
            "webhooks",
            "create",
            "https://hooks.example.com/in",
            "--event",
            "public.products",
            "--secret",
            "s3cr3t",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&out);
    assert_eq!(
        created["warnings"][0]["code"], "qualified_table",
        "{created}"
    );
    assert!(
        created["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("bare table name `products`")
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let listed: Vec<_> = emu
        .warnings()
        .into_iter()
        .filter(|w| w.webhook_id.as_deref() == Some(id.as_str()))
        .map(|w| w.code.as_str())
        .collect();
    assert_eq!(listed, ["qualified_table"], "the emulator agrees");

    // Text: the webhook on stdout, the warnings on stderr.
    let out = as_user(
        &emu,
        &[
            "webhooks",
            "update",
            &id,
            "--event",
            "products",
            "--secret",
            "s3cr3t",
            "--endpoint",
            "http://localhost:3000/in",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: not_an_auth_table: `products` is looked up as auth.products"),
        "{err}"
    );
    assert!(err.contains("warning: url_refused:"), "{err}");
    assert!(!stdout(&out).contains("warning:"));

    // A clean webhook: no warnings at all.
    let out = as_user(
        &emu,
        &[
            "webhooks",
            "create",
            "https://hooks.example.com/users",
            "--event",
            "users:INSERT",
            "--secret",
            "k",
            "--json",
        ],
    )
    .await;
    assert!(json(&out).get("warnings").is_none(), "{}", stdout(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_from_the_shell() {
    let emu = emulator().await;
    let out = as_user(
        &emu,
        &[
            "webhooks",
            "create",
            "http://127.0.0.1:9/hook",
            "--event",
            "users:INSERT,UPDATE",
            "--secret",
            "s3cr3t",
            "--header",
            "X-Env=dev",
            "--scope",
            "global",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&out);
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["events"][0]["operations"],
        serde_json::json!(["INSERT", "UPDATE"])
    );
    assert!(created.get("secret").is_none());
    let id = created["id"].as_str().unwrap().to_owned();

    let out = as_user(&emu, &["webhooks", "list"]).await;
    let text = stdout(&out);
    assert!(
        text.contains(&id) && text.contains("users:INSERT,UPDATE"),
        "{text}"
    );

    // The server replaces the whole webhook: without the secret, refuse (2).
    let out = as_user(&emu, &["webhooks", "update", &id, "--disable"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--no-secret"), "{}", stderr(&out));
    let out = as_user(
        &emu,
        &[
            "webhooks",
            "update",
            &id,
            "--disable",
            "--secret",
            "s3cr3t",
            "--json",
        ],
    )
    .await;
    let updated = json(&out);
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["headers"]["X-Env"], "dev");

    // Nothing listens on port 9: the test fails, exit 1.
    let out = as_user(&emu, &["webhooks", "test", &id, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["success"], false);

    let out = as_user(
        &emu,
        &["webhooks", "deliveries", &id, "--limit", "5", "--json"],
    )
    .await;
    assert_eq!(json(&out), serde_json::json!([]));

    // The server's refusal: exit 1, its message and status.
    let out = as_user(&emu, &["webhooks", "get", "not-an-id", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        json(&out),
        serde_json::json!({"error": "Invalid webhook ID", "status": 400, "code": null})
    );
    // A production server refuses the URL (the default debug mode takes it).
    let prod = Emulator::builder()
        .server_mode(fluxbase_emulator::ServerMode::Production)
        .spawn()
        .await
        .unwrap();
    let out = as_user(&prod, &["webhooks", "create", "ftp://x"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("500 Internal Server Error: invalid webhook URL"));
    prod.shutdown().await;
    let out = as_user(
        &emu,
        &["webhooks", "create", "http://x", "--event", "users:"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));

    let out = as_user(&emu, &["webhooks", "delete", &id]).await;
    assert!(out.status.success());
    let out = as_user(&emu, &["webhooks", "list", "--json"]).await;
    assert_eq!(json(&out), serde_json::json!([]));

    // No credentials at all: the server's 401.
    let url = emu.url();
    let out = fluxhook(&["webhooks", "list", "--url", &url], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_from_the_shell() {
    let emu = emulator().await;
    let out = as_admin(
        &emu,
        &[
            "keys",
            "create",
            "ci",
            "--scope",
            "read:webhooks",
            "--rate-limit",
            "60",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&out);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("fbk_"));
    let id = created["client_key"]["id"].as_str().unwrap().to_owned();

    // The new key authenticates.
    let url = emu.url();
    let out = fluxhook(
        &["webhooks", "list", "--json"],
        &[
            ("FLUXBASE_URL", url.as_str()),
            ("FLUXBASE_CLIENT_KEY", key.as_str()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = as_admin(&emu, &["keys", "update", &id, "--name", "ci2", "--json"]).await;
    assert_eq!(json(&out)["name"], "ci2");
    assert!(
        as_admin(&emu, &["keys", "revoke", &id])
            .await
            .status
            .success()
    );
    let out = as_admin(&emu, &["keys", "list", "--json"]).await;
    let listed: Value = json(&out);
    assert!(listed[0]["revoked_at"].is_string());
    assert!(
        as_admin(&emu, &["keys", "delete", &id])
            .await
            .status
            .success()
    );
    let out = as_admin(&emu, &["keys", "create", "bad", "--scope", "read:users"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid scopes"), "{}", stderr(&out));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_from_the_shell() {
    let emu = emulator().await;
    let out = as_admin(
        &emu,
        &["invitations", "create", "new@example.com", "--json"],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = json(&out)["invitation"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = as_admin(&emu, &["invitations", "list"]).await;
    assert!(
        stdout(&out).contains("new@example.com  dashboard_user"),
        "{}",
        stdout(&out)
    );
    let out = as_admin(&emu, &["invitations", "validate", &token]).await;
    assert!(stdout(&out).starts_with("valid"), "{}", stdout(&out));

    let url = emu.url();
    let accept = |password: &'static str| {
        let url = url.clone();
        let token = token.clone();
        async move {
            fluxhook(
                &["invitations", "accept", &token, "--name", "New Person"],
                &[
                    ("FLUXBASE_URL", url.as_str()),
                    ("FLUXBASE_NEW_PASSWORD", password),
                ],
            )
            .await
        }
    };
    let out = accept("short").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("at least 12 characters"));
    let out = accept("long-enough-password").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("account created for new@example.com"));

    // Tokens are URL-safe base64: they may start with '-'.
    let out = as_admin(&emu, &["invitations", "validate", "-not-a-token"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "invalid: Invitation not found\n");

    let out = as_admin(&emu, &["invitations", "revoke", "unknown"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Invitation not found"));
    emu.shutdown().await;
}
