//! One test per difference between the SDK documentation and the server
//! (CONTRACT.md §6): the emulator reproduces each, and the client or the
//! receiver copes with it.

use fluxbase_emulator::{Emulator, Flavor};
use fluxbase_webhooks::client::{
    CreateClientKey, CreateInvitation, CreateWebhook, ErrorCode, EventFilter, InvitationRole,
    UpdateClientKey, UpdateWebhook,
};
use fluxbase_webhooks::{LEGACY_SIGNATURE_HEADER, Scheme, Verifier};
use serde_json::json;

use crate::support::{
    Raw, Receiver, admin_client, client, emulator, production, raw_webhook, service_client, settle,
    user_client,
};

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

/// §6.1: the server signs `t=…,v1=…` plus the legacy bare-hex header; the
/// documentation shows bare hex in `X-Fluxbase-Signature`. One default
/// verifier accepts both, over the raw body; the legacy header alone
/// verifies when enabled.
#[tokio::test]
async fn mismatch_01_signature_formats() {
    for (flavor, scheme) in [
        (Flavor::Server, Scheme::Timestamped),
        (Flavor::Documented, Scheme::Hex),
    ] {
        let emu = emulator(flavor).await;
        let mut receiver = Receiver::start(Verifier::new("whsec").unwrap()).await;
        service_client(&emu)
            .webhooks()
            .register_endpoint(&receiver.url, [EventFilter::all_rows("users")], "whsec")
            .await
            .unwrap();
        let got = receiver.next().await;
        assert_eq!(got.verified().scheme(), scheme, "{flavor}");
        if flavor == Flavor::Server {
            let mut legacy_only = got.headers.clone();
            legacy_only.remove("x-fluxbase-signature");
            assert!(legacy_only.contains_key(LEGACY_SIGNATURE_HEADER));
            // The legacy value alone verifies (bare hex, dated by the body).
            let legacy = legacy_only[LEGACY_SIGNATURE_HEADER].as_bytes();
            let v = Verifier::new("whsec").unwrap();
            assert!(v.verify(legacy, &got.body).is_ok());
        }
        emu.shutdown().await;
    }
}

/// §6.2: the server sends `{event: INSERT, table, schema, record, timestamp}`
/// (no `old_record` on INSERT, no `data`, no ids); the documentation
/// `{event: "user.created", timestamp, data}`. Both read as the same user
/// change.
#[tokio::test]
async fn mismatch_02_payload_shapes() {
    for flavor in Flavor::ALL {
        let emu = emulator(flavor).await;
        let mut receiver = Receiver::start(Verifier::new("k").unwrap()).await;
        service_client(&emu)
            .webhooks()
            .register_endpoint(&receiver.url, [EventFilter::all_rows("users")], "k")
            .await
            .unwrap();
        receiver.next().await; // the test delivery
        emu.trigger_sample("INSERT").unwrap();
        let got = receiver.next().await;
        let body = got.json();
        match flavor {
            Flavor::Server => {
                assert_eq!(body["event"], "INSERT");
                assert_eq!(body["schema"], "auth");
                assert!(body.get("old_record").is_none() && body.get("data").is_none());
                assert!(body.get("webhook_id").is_none() && body.get("signature").is_none());
            }
            _ => {
                assert_eq!(body["event"], "user.created");
                assert_eq!(body["data"]["email"], "ada@example.com");
            }
        }
        let change = got.event().user_change().unwrap();
        assert_eq!(change.email.as_deref(), Some("ada@example.com"));
        emu.shutdown().await;
    }
}

/// §6.3: retries are linear and each is re-stamped and re-signed.
#[tokio::test]
async fn mismatch_03_retries_resigned_and_linear() {
    let emu = emulator(Flavor::Server).await;
    let mut receiver = Receiver::scripted(Verifier::new("k").unwrap(), [500, 500, 500]).await;
    raw_webhook(
        &emu,
        json!({"name": "r", "url": receiver.url, "secret": "k", "enabled": true, "max_retries": 4,
               "retry_backoff_seconds": 3, "events": [{"table": "users", "operations": ["UPDATE"]}]}),
    )
    .await;
    emu.trigger_sample("UPDATE").unwrap();
    settle(&emu).await;
    let got = receiver.drain();
    assert_eq!(got.len(), 4);
    // Each body differs (its own timestamp) and each verifies on its own.
    let bodies: std::collections::HashSet<_> = got.iter().map(|r| r.body.clone()).collect();
    assert_eq!(bodies.len(), 4);
    assert!(got.iter().all(|r| r.outcome.is_ok()));
    let waits: Vec<u32> = emu
        .attempts()
        .iter()
        .map(|a| (a.waited.as_millis() / 5) as u32)
        .collect();
    assert_eq!(waits, [0, 3, 6, 9], "n × retry_backoff_seconds units");
    emu.shutdown().await;
}

/// §6.4: `enabled` (default false on the server) not `is_active`, event
/// objects, `name` required, no secret returned, `created_by` not `user_id`.
#[tokio::test]
async fn mismatch_04_webhook_fields() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    let a = raw
        .send(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "n", "url": "http://127.0.0.1:9/"})),
        )
        .await;
    assert_eq!(a.json["enabled"], false);
    assert!(a.json.get("secret").is_none() && a.json.get("is_active").is_none());
    let a = raw
        .send(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/"})),
        )
        .await;
    assert_eq!(a.json["error"], "Name is required");

    // The client fills in a name, enables, and reads either spelling.
    let user = user_client(&emu).await;
    let created = user
        .webhooks()
        .create(
            CreateWebhook::new("http://127.0.0.1:9/")
                .secret("s")
                .event(EventFilter::table("users", ["INSERT"])),
        )
        .await
        .unwrap();
    assert!(created.enabled);
    assert_eq!(created.name.as_deref(), Some("http://127.0.0.1:9/"));
    assert!(created.secret().is_none());
    assert!(created.created_by.is_some());
    emu.shutdown().await;

    let emu = emulator(Flavor::Documented).await;
    let user = user_client(&emu).await;
    let created = user
        .webhooks()
        .create(
            CreateWebhook::new("http://127.0.0.1:9/")
                .secret("s")
                .event(EventFilter::named("user.created")),
        )
        .await
        .unwrap();
    assert!(created.enabled, "from is_active");
    assert_eq!(created.events, [EventFilter::named("user.created")]);
    assert!(
        created.secret().is_some(),
        "the documented shape returns it"
    );
    assert!(created.created_by.is_some(), "from user_id");
    emu.shutdown().await;
}

/// §6.5: bare arrays and `null` lists, not `{webhooks|api_keys, total}`.
#[tokio::test]
async fn mismatch_05_list_shapes() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    assert_eq!(raw.send("GET", "/api/v1/webhooks", None).await.text, "[]");
    assert_eq!(
        raw.send("GET", "/api/v1/client-keys", None).await.text,
        "null"
    );
    let id = raw_webhook(&emu, json!({"name": "n", "url": "http://127.0.0.1:9/"})).await;
    let a = raw
        .send("GET", &format!("/api/v1/webhooks/{id}/deliveries"), None)
        .await;
    assert_eq!(a.text, "null");
    let admin = admin_client(&emu).await;
    let a = Raw::admin(&emu)
        .await
        .send("GET", "/api/v1/admin/invitations", None)
        .await;
    assert_eq!(a.json, json!({"invitations": null}));
    // The client reads each as a list.
    let service = service_client(&emu);
    assert_eq!(service.webhooks().list().await.unwrap().len(), 1);
    assert!(service.client_keys().list().await.unwrap().is_empty());
    assert!(
        service
            .webhooks()
            .deliveries(&id, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(admin.invitations().list().await.unwrap().is_empty());
    emu.shutdown().await;

    let emu = emulator(Flavor::Documented).await;
    let raw = Raw::service(&emu);
    raw_webhook(
        &emu,
        json!({"url": "http://127.0.0.1:9/", "events": ["user.created"]}),
    )
    .await;
    let a = raw.send("GET", "/api/v1/webhooks", None).await;
    assert_eq!(a.json["total"], 1);
    assert_eq!(
        service_client(&emu).webhooks().list().await.unwrap().len(),
        1
    );
    emu.shutdown().await;
}

/// §6.6: PATCH replaces the whole webhook and answers only a message.
#[tokio::test]
async fn mismatch_06_patch_replaces_everything() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    let id = raw_webhook(
        &emu,
        json!({"name": "n", "url": "http://127.0.0.1:9/", "secret": "s", "enabled": true,
               "events": [{"table": "users", "operations": ["INSERT"]}], "max_retries": 7}),
    )
    .await;
    let path = format!("/api/v1/webhooks/{id}");
    // A server in debug mode stores the empty URL; a production one refuses
    // it (below).
    let a = raw
        .send("PATCH", &path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(a.json, json!({"message": "Webhook updated successfully"}));
    assert_eq!(raw.send("GET", &path, None).await.json["url"], "");
    let a = raw
        .send("PATCH", &path, Some(json!({"url": "http://127.0.0.1:9/"})))
        .await;
    assert_eq!(a.json, json!({"message": "Webhook updated successfully"}));
    let now = raw.send("GET", &path, None).await.json;
    assert_eq!(
        (
            &now["events"],
            &now["max_retries"],
            &now["enabled"],
            &now["headers"],
            &now["name"]
        ),
        (
            &json!(null),
            &json!(0),
            &json!(false),
            &json!(null),
            &json!("")
        )
    );

    // The client reads, merges and re-reads.
    let service = service_client(&emu);
    let err = service
        .webhooks()
        .update(&id, UpdateWebhook::new().enabled(true))
        .await
        .unwrap_err();
    assert!(
        err.is_builder() && err.message().contains("secret"),
        "{err}"
    );
    service
        .webhooks()
        .update(
            &id,
            UpdateWebhook::new()
                .name("again")
                .events([EventFilter::table("users", ["INSERT"])])
                .max_retries(5)
                .secret("s"),
        )
        .await
        .unwrap();
    let after = service
        .webhooks()
        .update(&id, UpdateWebhook::new().enabled(true).secret("s"))
        .await
        .unwrap();
    assert!(after.enabled);
    assert_eq!(after.name.as_deref(), Some("again"));
    assert_eq!(after.max_retries, Some(5));
    assert_eq!(after.events, [EventFilter::table("users", ["INSERT"])]);
    emu.shutdown().await;

    let emu = production(Flavor::Server).await;
    let id = raw_webhook(&emu, json!({"name": "n", "url": "https://93.184.216.34/"})).await;
    let a = Raw::service(&emu)
        .send(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (
            500,
            Some("invalid webhook URL: URL scheme must be http or https, got: ")
        )
    );
    emu.shutdown().await;
}

/// §6.7: the test endpoint answers `{message}` or HTTP 500 `{error}`; the
/// client turns the 500 into a failed result with the server's message.
#[tokio::test]
async fn mismatch_07_test_answers() {
    let emu = emulator(Flavor::Server).await;
    let receiver = Receiver::scripted(Verifier::new("k").unwrap(), [418]).await;
    let id = raw_webhook(
        &emu,
        json!({"name": "t", "url": receiver.url, "secret": "k"}),
    )
    .await;
    let raw = Raw::service(&emu);
    let a = raw
        .send("POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (500, Some("HTTP 418: "))
    );
    let a = raw
        .send("POST", &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(a.json, json!({"message": "Test webhook sent successfully"}));

    let receiver = Receiver::scripted(Verifier::new("k").unwrap(), [418]).await;
    let service = service_client(&emu);
    let id = raw_webhook(
        &emu,
        json!({"name": "t2", "url": receiver.url, "secret": "k"}),
    )
    .await;
    let failed = service.webhooks().test(&id).await.unwrap();
    assert!(!failed.success);
    assert_eq!(failed.status_code, Some(418));
    assert_eq!(failed.error.as_deref(), Some("HTTP 418: "));
    let ok = service.webhooks().test(&id).await.unwrap();
    assert!(ok.success);
    assert_eq!(
        ok.message.as_deref(),
        Some("Test webhook sent successfully")
    );
    emu.shutdown().await;
}

/// §6.8: create answers a flat object plus `key`; update and revoke answer
/// `{success, message}`; delete answers 204 with no body.
#[tokio::test]
async fn mismatch_08_client_key_answers() {
    let emu = emulator(Flavor::Server).await;
    let raw = Raw::service(&emu);
    let a = raw
        .send(
            "POST",
            "/api/v1/client-keys",
            Some(json!({"name": "k", "scopes": ["*"]})),
        )
        .await;
    assert_eq!(a.status, 201);
    assert!(a.json["key"].as_str().unwrap().starts_with("fbk_") && a.json["id"].is_string());
    assert!(a.json.get("api_key").is_none() && a.json.get("client_key").is_none());
    let id = a.json["id"].as_str().unwrap().to_owned();
    let a = raw
        .send(
            "PATCH",
            &format!("/api/v1/client-keys/{id}"),
            Some(json!({"name": "k2"})),
        )
        .await;
    assert_eq!(
        a.json,
        json!({"success": true, "message": "Client key updated successfully"})
    );
    let a = raw
        .send("DELETE", &format!("/api/v1/client-keys/{id}"), None)
        .await;
    assert_eq!((a.status, a.text.as_str()), (204, ""));

    let service = service_client(&emu);
    let created = service
        .client_keys()
        .create(CreateClientKey::new("k", ["read:webhooks"]))
        .await
        .unwrap();
    let id = created.client_key.id.clone().unwrap();
    let updated = service
        .client_keys()
        .update(
            &id,
            UpdateClientKey::new().description("now with a description"),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.description.as_deref(),
        Some("now with a description")
    );
    service.client_keys().revoke(&id).await.unwrap();
    service.client_keys().delete(&id).await.unwrap();
    emu.shutdown().await;
}

/// §6.9: `/client-keys` and `X-Client-Key` now, `/api-keys` and `X-API-Key`
/// before; `fbk_` keys. The server serves only the current ones; the
/// documented flavor both, so the first SDK and the current one both work.
/// The client falls back on the path and sends both headers.
#[tokio::test]
async fn mismatch_09_paths_and_key_headers() {
    for flavor in Flavor::ALL {
        let emu = emulator(flavor).await;
        let raw = Raw::service(&emu);
        let legacy = raw.send("GET", "/api/v1/api-keys", None).await.status;
        assert_eq!(legacy, if flavor == Flavor::Server { 404 } else { 200 });
        let a = raw
            .send(
                "POST",
                "/api/v1/client-keys",
                Some(json!({"name": "k", "scopes": ["read:webhooks"]})),
            )
            .await;
        assert_eq!(a.status, 201, "{flavor}: {}", a.text);
        let key = match flavor {
            Flavor::Server => a.json["key"].as_str().unwrap().to_owned(),
            // The current SDK's `{client_key, key}`.
            _ => {
                assert!(a.json["client_key"]["id"].is_string(), "{}", a.text);
                a.json["key"].as_str().unwrap().to_owned()
            }
        };
        let with = |h: &str| Raw::new(&emu).header(h, &key);
        let ok = with("X-Client-Key")
            .send("GET", "/api/v1/webhooks", None)
            .await;
        assert_eq!(ok.status, 200, "{flavor}");
        let old = with("X-API-Key")
            .send("GET", "/api/v1/webhooks", None)
            .await;
        assert_eq!(old.status, if flavor == Flavor::Server { 401 } else { 200 });
        if flavor == Flavor::Documented {
            let listed = raw.send("GET", "/api/v1/client-keys", None).await;
            assert_eq!(listed.json["total"], 1, "{}", listed.text);
            assert!(listed.json["client_keys"].is_array());
            let listed = raw.send("GET", "/api/v1/api-keys", None).await;
            assert!(listed.json["api_keys"].is_array(), "{}", listed.text);
        }

        // The typed client works against both.
        let c = client(&emu);
        c.auth().client_key(key);
        c.webhooks().list().await.unwrap();
        let admin = admin_client(&emu).await;
        assert_eq!(admin.client_keys().list().await.unwrap().len(), 1);
        emu.shutdown().await;
    }
}

/// §6.10: scopes come from the server's list; the documentation's
/// `read:users` is a 500.
#[tokio::test]
async fn mismatch_10_scopes_from_the_server_list() {
    let emu = emulator(Flavor::Server).await;
    let err = service_client(&emu)
        .client_keys()
        .create(CreateClientKey::new(
            "Production Service",
            ["read:users", "write:users"],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 500);
    assert_eq!(
        err.message(),
        "Failed to create client key: invalid scopes: invalid scopes: read:users, write:users"
    );
    emu.shutdown().await;
}

/// §6.11: many not-found and validation failures are 500s; the client
/// reports the status and the server's message.
#[tokio::test]
async fn mismatch_11_status_codes() {
    let emu = production(Flavor::Server).await;
    let hooks = service_client(&emu);
    let err = hooks
        .webhooks()
        .create(CreateWebhook::new("gopher://x"))
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 500);
    assert_eq!(
        err.message(),
        "invalid webhook URL: URL scheme must be http or https, got: gopher"
    );
    let err = hooks.webhooks().delete(UNKNOWN).await.unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (500, "webhook not found")
    );
    assert!(!err.is_not_found());
    emu.shutdown().await;
}

/// §6.12: errors always carry `error`; `code` is absent, a string or a
/// number; extra keys are kept.
#[tokio::test]
async fn mismatch_12_error_codes() {
    let emu = emulator(Flavor::Server).await;
    let c = client(&emu);
    let err = c.webhooks().get(UNKNOWN).await.unwrap_err();
    assert_eq!(err.code(), None);
    let err = c
        .auth()
        .admin_login("x@y.z", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&ErrorCode::String("INVALID_CREDENTIALS".into()))
    );
    let no_admin = Emulator::builder()
        .admin_enabled(false)
        .spawn()
        .await
        .unwrap();
    let err = client(&no_admin)
        .auth()
        .admin_login("x@y.z", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::Number(404)));
    assert_eq!(err.code().unwrap().as_i64(), Some(404));
    no_admin.shutdown().await;
    let key = admin_client(&emu)
        .await
        .client_keys()
        .create(CreateClientKey::new("r", ["read:webhooks"]))
        .await
        .unwrap();
    c.auth().client_key(key.key());
    let err = c.webhooks().delete(UNKNOWN).await.unwrap_err();
    assert_eq!(err.body().unwrap()["required_scope"], "write:webhooks");
    emu.shutdown().await;
}

/// §6.13: `accepted` flag, no `revoked_at`, blanked tokens in lists,
/// `valid:false` with 200, `full_name` without `role`, `expires_in` 86400.
#[tokio::test]
async fn mismatch_13_invitations() {
    let emu = emulator(Flavor::Server).await;
    let admin = admin_client(&emu).await;
    let created = admin
        .invitations()
        .create(CreateInvitation::new(
            "x@example.com",
            InvitationRole::DashboardUser,
        ))
        .await
        .unwrap();
    let token = created.invitation.token.clone().unwrap();
    let listed = admin.invitations().list().await.unwrap();
    assert_eq!(listed[0].token, None, "lists blank the token");
    assert_eq!(listed[0].accepted, Some(false));
    let raw = Raw::new(&emu);
    let a = raw
        .send("GET", "/api/v1/invitations/not-a-token/validate", None)
        .await;
    assert_eq!((a.status, &a.json["valid"]), (200, &json!(false)));
    let a = raw
        .send(
            "POST",
            &format!("/api/v1/invitations/{token}/accept"),
            Some(json!({"password": "a-long-enough-password", "name": "X"})),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.json["user"]["full_name"], "X");
    assert!(a.json["user"].get("role").is_none() && a.json["user"].get("name").is_none());
    assert_eq!(a.json["expires_in"], 86400);
    // The documented flavor: `name` and `role`, tokens in lists.
    let emu2 = emulator(Flavor::Documented).await;
    let admin2 = admin_client(&emu2).await;
    let token2 = admin2
        .invitations()
        .create(CreateInvitation::new(
            "y@example.com",
            InvitationRole::DashboardUser,
        ))
        .await
        .unwrap()
        .invitation
        .token
        .unwrap();
    assert_eq!(
        admin2.invitations().list().await.unwrap()[0]
            .token
            .as_deref(),
        Some(token2.as_str())
    );
    let session = client(&emu2)
        .invitations()
        .accept(&token2, "a-long-enough-password", "Y Doc")
        .await
        .unwrap();
    assert_eq!(session.user.full_name.as_deref(), Some("Y Doc"));
    assert_eq!(session.user.role.as_deref(), Some("dashboard_user"));
    emu.shutdown().await;
    emu2.shutdown().await;
}

/// §6.14: `auth.login` is `POST /api/v1/auth/signin`, which may answer
/// `requires_2fa`; `admin.login` is 404 when the admin interface is off.
#[tokio::test]
async fn mismatch_14_logins() {
    let emu = Emulator::builder()
        .two_factor_user("otp@example.com", "otp-user-password-1")
        .admin_enabled(false)
        .spawn()
        .await
        .unwrap();
    let c = client(&emu);
    let err = c
        .auth()
        .sign_in("otp@example.com", "otp-user-password-1")
        .await
        .unwrap_err();
    assert!(err.is_two_factor_required(), "{err:?}");
    assert!(err.two_factor_user_id().is_some());
    assert!(c.auth().credentials().is_none());
    let err = c
        .auth()
        .admin_login(&emu.admin().email, &emu.admin().password)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.code(), Some(&ErrorCode::Number(404)));
    assert_eq!(err.message(), "Cannot POST /api/v1/admin/login");
    // The user still signs in through /auth/signin.
    c.auth()
        .sign_in(&emu.user().email, &emu.user().password)
        .await
        .unwrap();
    emu.shutdown().await;
}

/// Not a §6 item, but what register_endpoint relies on: a documented-name
/// subscription the server refuses is reported with the server's message.
#[tokio::test]
async fn named_events_are_refused_by_the_server() {
    let emu = emulator(Flavor::Server).await;
    let err = service_client(&emu)
        .webhooks()
        .create(CreateWebhook::new("http://127.0.0.1:9/").event(EventFilter::named("user.created")))
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().unwrap().as_u16(), err.message()),
        (400, "Invalid request body")
    );
    let server_form = EventFilter::from_documented("user.created").unwrap();
    let ok = service_client(&emu)
        .webhooks()
        .create(CreateWebhook::new("http://127.0.0.1:9/").event(server_form))
        .await
        .unwrap();
    assert_eq!(
        emu.trigger_sample("user.created").unwrap().webhooks,
        [ok.id]
    );
    emu.shutdown().await;
}
