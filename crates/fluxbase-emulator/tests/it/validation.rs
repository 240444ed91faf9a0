//! Bad input gets the server's status and `{"error": …}` body; nothing
//! panics.

use fluxbase_emulator::{Emulator, Flavor};
use serde_json::{Value, json};

use crate::support::{Raw, emulator, production, raw_webhook, user_client};

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

fn hook(extra: Value) -> Value {
    let mut body = json!({"name": "n", "url": "http://127.0.0.1:9/x",
                          "events": [{"table": "users", "operations": ["INSERT"]}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn webhook_input_as_the_server_answers() {
    let emu = production(Flavor::Server).await;
    let raw = Raw::service(&emu);
    let url_error = "invalid webhook URL: URL scheme must be http or https, got: ";
    for (body, status, error) in [
        (
            hook(json!({"name": ""})),
            400,
            "Name is required".to_owned(),
        ),
        (
            hook(json!({"name": null})),
            400,
            "Name is required".to_owned(),
        ),
        (hook(json!({"url": ""})), 400, "URL is required".to_owned()),
        (
            hook(json!({"url": "ftp://x"})),
            500,
            format!("{url_error}ftp"),
        ),
        (hook(json!({"url": "not a url"})), 500, url_error.to_owned()),
        (
            hook(json!({"events": ["user.created"]})),
            400,
            "Invalid request body".to_owned(),
        ),
        (
            hook(json!({"max_retries": "three"})),
            400,
            "Invalid request body".to_owned(),
        ),
        (
            hook(json!({"url": "https://93.184.216.34/", "headers": {"Host": "evil"}})),
            500,
            "invalid webhook headers: header \"Host\" is not allowed".to_owned(),
        ),
    ] {
        let a = raw
            .send("POST", "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (status, Some(error.as_str())),
            "{body}"
        );
    }
    let a = raw
        .send(
            "POST",
            "/api/v1/webhooks",
            Some(hook(
                json!({"url": "https://93.184.216.34/", "scope": "team"}),
            )),
        )
        .await;
    assert_eq!(a.status, 500);
    assert!(
        a.json["error"]
            .as_str()
            .unwrap()
            .starts_with("failed to create webhook")
    );

    // Keys are matched case-insensitively, as Go does.
    let a = raw
        .send(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"Name": "n", "URL": "https://93.184.216.34/x"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        a.json["enabled"], false,
        "the server creates webhooks disabled"
    );

    // Not JSON, no content type, empty, binary.
    for (ct, body) in [
        (Some("application/json"), b"{".to_vec()),
        (None, br#"{"name":"n","url":"http://x"}"#.to_vec()),
        (
            Some("text/plain"),
            br#"{"name":"n","url":"http://x"}"#.to_vec(),
        ),
        (Some("application/json"), Vec::new()),
        (Some("application/json"), vec![0xff, 0xfe, 0x00]),
        (Some("application/json"), b"[1,2,3]".to_vec()),
    ] {
        let a = raw.send_bytes("POST", "/api/v1/webhooks", ct, body).await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (400, Some("Invalid request body"))
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    let id = raw_webhook(&emu, hook(json!({}))).await;
    for (method, path, body, status, error) in [
        (
            "GET",
            format!("/api/v1/webhooks/{UNKNOWN}"),
            None,
            404,
            "Webhook not found",
        ),
        (
            "GET",
            "/api/v1/webhooks/nope".to_owned(),
            None,
            400,
            "Invalid webhook ID",
        ),
        (
            "PATCH",
            format!("/api/v1/webhooks/{UNKNOWN}"),
            Some(hook(json!({}))),
            500,
            "webhook not found",
        ),
        (
            "DELETE",
            format!("/api/v1/webhooks/{UNKNOWN}"),
            None,
            500,
            "webhook not found",
        ),
        (
            "POST",
            format!("/api/v1/webhooks/{UNKNOWN}/test"),
            None,
            404,
            "Webhook not found",
        ),
        (
            "GET",
            format!("/api/v1/client-keys/{UNKNOWN}"),
            None,
            404,
            "Client key not found",
        ),
        (
            "GET",
            "/api/v1/client-keys/x".to_owned(),
            None,
            400,
            "Invalid client key ID",
        ),
        (
            "DELETE",
            format!("/api/v1/client-keys/{UNKNOWN}"),
            None,
            500,
            "Failed to delete client key: client key not found",
        ),
        (
            "POST",
            format!("/api/v1/client-keys/{UNKNOWN}/revoke"),
            None,
            500,
            "Failed to revoke client key: client key not found",
        ),
        (
            "GET",
            format!("/api/v1/webhooks/{id}/deliveries?limit=-1"),
            None,
            500,
            "failed to list deliveries: ERROR: LIMIT must not be negative (SQLSTATE 2201W)",
        ),
    ] {
        let a = raw.send(method, &path, body).await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (status, Some(error)),
            "{method} {path}"
        );
    }
    // An unknown webhook's deliveries: 200 null. A non-numeric limit: the default.
    for path in [
        format!("/api/v1/webhooks/{UNKNOWN}/deliveries"),
        format!("/api/v1/webhooks/{id}/deliveries?limit=many"),
    ] {
        let a = raw.send("GET", &path, None).await;
        assert_eq!((a.status, a.text.as_str()), (200, "null"), "{path}");
    }
    // Unregistered routes: the global handler's numeric code.
    let a = raw.send("GET", "/api/v1/nothing", None).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.json,
        json!({"error": "Cannot GET /api/v1/nothing", "code": 404})
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn client_key_input() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    for (body, status, error) in [
        (
            json!({"scopes": ["read:webhooks"]}),
            400,
            "Name is required",
        ),
        (
            json!({"name": "k", "scopes": ["read:users", "write:users"]}),
            500,
            "Failed to create client key: invalid scopes: invalid scopes: read:users, write:users",
        ),
        (
            json!({"name": "k", "scopes": ["read:webhooks", "admin"]}),
            500,
            "Failed to create client key: invalid scopes: invalid scopes: admin",
        ),
        (
            json!({"name": "k", "scopes": []}),
            500,
            "Failed to create client key: invalid scopes: at least one scope must be specified",
        ),
        (
            json!({"name": "k", "scopes": ["*"], "expires_at": "tomorrow"}),
            400,
            "Invalid request body",
        ),
    ] {
        let a = raw
            .send("POST", "/api/v1/client-keys", Some(body.clone()))
            .await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }
    let a = raw
        .send("GET", "/api/v1/client-keys?user_id=not-a-uuid", None)
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (400, Some("Invalid user ID"))
    );
    // A user may not list another user's keys.
    let user = Raw::user(&emu).await;
    let a = user
        .send(
            "GET",
            &format!("/api/v1/client-keys?user_id={UNKNOWN}"),
            None,
        )
        .await;
    assert_eq!(a.status, 403);
    emu.shutdown().await;
}

#[tokio::test]
async fn invitation_input() {
    let emu = emulator(Flavor::Server).await;
    let admin = Raw::admin(&emu).await;
    let a = admin
        .send(
            "POST",
            "/api/v1/admin/invitations",
            Some(json!({"email": "a@b.c", "role": "owner"})),
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (
            400,
            Some("invalid role. Must be 'dashboard_admin' or 'dashboard_user'")
        )
    );
    let a = admin
        .send(
            "POST",
            "/api/v1/admin/invitations",
            Some(json!({"email": "a@b.c", "role": "dashboard_user", "expiry_duration": -5})),
        )
        .await;
    assert_eq!(a.status, 201);
    let token = a.json["invitation"]["token"].as_str().unwrap().to_owned();
    let accept = format!("/api/v1/invitations/{token}/accept");
    let public = Raw::new(&emu);
    // 11 bytes refused; 12 bytes of multi-byte characters counted as bytes.
    for (password, name, status, error) in [
        (
            "elevenbytes",
            "Ann",
            400,
            "password must be at least 12 characters long",
        ),
        (
            "ééééé",
            "Ann",
            400,
            "password must be at least 12 characters long",
        ),
        (
            "a-long-enough-password",
            "   ",
            500,
            "Failed to create user: invalid name: name is required",
        ),
        (
            &"p".repeat(73),
            "Ann",
            500,
            "Failed to create user: password must be at most 72 characters",
        ),
    ] {
        let a = public
            .send(
                "POST",
                &accept,
                Some(json!({"password": password, "name": name})),
            )
            .await;
        assert_eq!(
            (a.status, a.json["error"].as_str()),
            (status, Some(error)),
            "{password}"
        );
    }
    let a = public
        .send(
            "POST",
            &accept,
            Some(json!({"password": "éééééé", "name": "A"})),
        )
        .await;
    assert_eq!(a.status, 201, "12 bytes and a one-letter name: {}", a.text);
    let a = public
        .send("GET", "/api/v1/invitations/nope/validate", None)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json,
        json!({"valid": false, "error": "Invitation not found"})
    );
    let a = public
        .send(
            "POST",
            "/api/v1/invitations/nope/accept",
            Some(json!({"password": "a-long-enough-password", "name": "x"})),
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (404, Some("Invitation not found"))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn documented_flavor_uses_plain_statuses() {
    let emu = emulator(Flavor::Documented).await;
    let raw = Raw::service(&emu);
    let a = raw
        .send(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "ftp://x", "events": ["user.created"]})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.json["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid webhook URL")
    );
    let a = raw
        .send("DELETE", &format!("/api/v1/webhooks/{UNKNOWN}"), None)
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (404, Some("Webhook not found"))
    );
    let a = raw
        .send(
            "GET",
            &format!("/api/v1/webhooks/{UNKNOWN}/deliveries"),
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    // The documentation's example scopes are accepted here.
    let a = raw
        .send(
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "k", "scopes": ["read:users"]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    emu.shutdown().await;
}

#[tokio::test]
async fn seeded_credentials_and_addresses_are_checked() {
    let err = Emulator::builder()
        .admin("a@b.c", "short")
        .spawn()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("12 to 72 bytes"), "{err}");
    let err = Emulator::builder()
        .addr("0.0.0.0:0".parse().unwrap())
        .spawn()
        .await
        .unwrap_err();
    assert!(matches!(err, fluxbase_emulator::Error::NotLoopback(_)));
    assert!("staging".parse::<Flavor>().is_err());
}

/// Whatever arrives, the emulator answers and keeps answering.
#[tokio::test]
async fn garbage_never_breaks_it() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    // Invitations are the dashboard's: a service key is refused before the
    // body is read there.
    let admin = Raw::admin(&emu).await;
    let deep = "[".repeat(10_000);
    let paths = [
        "/api/v1/webhooks",
        "/api/v1/client-keys",
        "/api/v1/auth/signin",
        "/api/v1/admin/login",
        "/api/v1/admin/invitations",
        "/api/v1/emulator/events",
        "/api/v1/invitations/x/accept",
    ];
    let bodies: [&[u8]; 5] = [
        b"null",
        b"\"str\"",
        b"{\"events\":{}}",
        deep.as_bytes(),
        b"{\"email\":[]}",
    ];
    for path in paths {
        let who = if path.starts_with("/api/v1/admin/") {
            &admin
        } else {
            &raw
        };
        for body in bodies {
            let a = who
                .send_bytes("POST", path, Some("application/json"), body.to_vec())
                .await;
            assert!(
                (400..500).contains(&a.status),
                "{path} {}: {} {}",
                String::from_utf8_lossy(&body[..body.len().min(20)]),
                a.status,
                a.text
            );
            assert!(a.json["error"].is_string(), "{path}: {}", a.text);
        }
    }
    let a = raw
        .send_bytes(
            "PATCH",
            &format!("/api/v1/webhooks/{UNKNOWN}"),
            Some("application/json"),
            b"{\"url\":\"http://x\",\"events\":[1]}".to_vec(),
        )
        .await;
    assert_eq!(a.status, 400);
    // Still serving.
    let client = user_client(&emu).await;
    assert!(client.webhooks().list().await.unwrap().is_empty());
    emu.shutdown().await;
}
