//! The delivery engine against a real receiving server.

use std::time::Duration;

use fluxbase_emulator::{AttemptOutcome, Emulator, Flavor};
use fluxbase_webhooks::client::{CreateWebhook, EventFilter, UpdateWebhook, WebhookScope};
use fluxbase_webhooks::{Event, Scheme, Signer, UserChangeKind, Verifier};
use serde_json::json;

use crate::support::{
    Raw, Receiver, both_flavors, emulator, raw_webhook, service_client, settle, user_client,
};

both_flavors!(end_to_end_typed_event);

/// Emulator → real axum receiver → the handler sees the verified, typed event.
async fn end_to_end_typed_event(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let client = user_client(&emu).await;
    let mut receiver = Receiver::start(
        Verifier::builder()
            .key(fluxbase_webhooks::Key::new("whsec-e2e").id("e2e"))
            .build()
            .unwrap(),
    )
    .await;
    let reg = client
        .webhooks()
        .register_endpoint(&receiver.url, [EventFilter::all_rows("users")], "whsec-e2e")
        .await
        .unwrap();
    assert!(reg.test.success);
    assert!(receiver.next().await.event().is_test());

    emu.trigger_sample("INSERT").unwrap();
    let got = receiver.next().await;
    assert_eq!(got.verified().key_id(), Some("e2e"));
    let change = got.event().user_change().unwrap();
    assert_eq!(change.kind, UserChangeKind::Created);
    assert_eq!(change.email.as_deref(), Some("ada@example.com"));
    match (flavor, got.event()) {
        (Flavor::Server, Event::Insert(row)) => {
            assert_eq!(row.qualified_table(), "auth.users");
            assert_eq!(got.verified().scheme(), Scheme::Timestamped);
        }
        (Flavor::Documented, Event::UserCreated(user)) => {
            assert_eq!(user.email(), Some("ada@example.com"));
            assert_eq!(got.verified().scheme(), Scheme::Hex);
        }
        (_, other) => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

/// 500, 500, 200: three attempts, linear backoff, each re-stamped and
/// re-signed, all in the delivery log.
#[tokio::test]
async fn retries_with_linear_backoff_until_success() {
    let unit = Duration::from_millis(20);
    let emu = Emulator::builder()
        .backoff_unit(unit)
        .spawn()
        .await
        .unwrap();
    let client = service_client(&emu);
    let mut receiver = Receiver::scripted(Verifier::new("k").unwrap(), [500, 500]).await;
    let hook = client
        .webhooks()
        .create(
            CreateWebhook::new(&receiver.url)
                .secret("k")
                .event(EventFilter::table("users", ["INSERT"]))
                .max_retries(3)
                .retry_backoff_seconds(2),
        )
        .await
        .unwrap();
    emu.trigger_sample("INSERT").unwrap();
    settle(&emu).await;

    let got = receiver.drain();
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    // Every attempt is signed over its own body, and the bodies differ
    // (the timestamp is the attempt's).
    assert!(got.iter().all(|r| r.outcome.is_ok()));
    let stamps: Vec<_> = got.iter().map(|r| r.json()["timestamp"].clone()).collect();
    assert!(
        stamps[0] != stamps[1] && stamps[1] != stamps[2],
        "{stamps:?}"
    );

    // Linear: after attempt n, n × retry_backoff_seconds × unit.
    let attempts = emu.attempts();
    let waits: Vec<_> = attempts.iter().map(|a| a.waited).collect();
    assert_eq!(waits, [Duration::ZERO, unit * 2, unit * 4]);
    // The receiver saw at least those gaps (a sleep never ends early).
    assert!(got[1].at - got[0].at >= unit * 2);
    assert!(got[2].at - got[1].at >= unit * 4);
    assert!(matches!(
        attempts[2].outcome,
        AttemptOutcome::Delivered { status: 200 }
    ));

    let log = client.webhooks().deliveries(&hook.id, None).await.unwrap();
    let summary: Vec<_> = log
        .iter()
        .map(|d| (d.attempt, d.status.as_deref(), d.status_code))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(3), Some("success"), Some(200)),
            (Some(2), Some("failed"), Some(0)),
            (Some(1), Some("failed"), Some(0)),
        ]
    );
    assert!(log[1].error.as_deref().unwrap().starts_with("HTTP 500"));
    assert!(log[0].delivered_at.is_some() && log[1].delivered_at.is_none());
    emu.shutdown().await;
}

/// An endpoint that always fails gets exactly `max_retries` attempts.
#[tokio::test]
async fn gives_up_after_max_retries() {
    let emu = emulator(Flavor::Server).await;
    let client = service_client(&emu);
    let mut receiver = Receiver::scripted(Verifier::new("k").unwrap(), [503; 10]).await;
    let hook = client
        .webhooks()
        .create(
            CreateWebhook::new(&receiver.url)
                .secret("k")
                .event(EventFilter::all_rows("users"))
                .max_retries(2)
                .retry_backoff_seconds(1),
        )
        .await
        .unwrap();
    emu.trigger_sample("DELETE").unwrap();
    settle(&emu).await;
    assert_eq!(receiver.drain().len(), 2);
    let log = client.webhooks().deliveries(&hook.id, None).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| !d.succeeded()));
    assert_eq!(
        log[0].error.as_deref(),
        Some("HTTP 503: "),
        "the endpoint's status and (empty) body"
    );
    emu.shutdown().await;
}

/// The server's headers, exactly; custom headers cannot override signatures.
#[tokio::test]
async fn delivery_headers_and_body_bytes() {
    let emu = emulator(Flavor::Server).await;
    let mut receiver = Receiver::start(
        Verifier::builder()
            .secret("k")
            .legacy_header(true)
            .build()
            .unwrap(),
    )
    .await;
    raw_webhook(
        &emu,
        json!({
            "name": "h", "url": receiver.url, "secret": "k", "enabled": true,
            "events": [{"table": "users", "operations": ["*"]}],
            "headers": {"X-Env": "staging", "X-Fluxbase-Signature": "forged", "User-Agent": "custom/1"},
        }),
    )
    .await;
    emu.trigger_sample("INSERT").unwrap();
    emu.trigger_sample("UPDATE").unwrap();
    settle(&emu).await;
    let got = receiver.drain();
    assert_eq!(got.len(), 2);
    let insert = &got[0];
    assert_eq!(insert.header("content-type"), Some("application/json"));
    assert_eq!(insert.header("x-env"), Some("staging"));
    // Custom headers may replace the user agent, never the signatures.
    assert_eq!(insert.header("user-agent"), Some("custom/1"));
    let sig = insert.header("x-fluxbase-signature").unwrap();
    assert!(sig.starts_with("t=") && sig.contains(",v1="), "{sig}");
    assert_eq!(
        insert.header("x-webhook-signature").unwrap(),
        Signer::new("k")
            .unwrap()
            .hex_tag(Scheme::Hex, 0, &insert.body)
    );
    assert_eq!(
        insert
            .headers
            .get_all("x-fluxbase-signature")
            .iter()
            .count(),
        1
    );
    assert!(insert.outcome.is_ok());

    // Compact, the server's key order, no old_record on INSERT.
    let text = std::str::from_utf8(&insert.body).unwrap();
    assert!(
        text.starts_with(r#"{"event":"INSERT","table":"users","schema":"auth","record":{"#),
        "{text}"
    );
    assert!(!text.contains("old_record") && !text.contains(": "));
    let keys: Vec<_> = insert.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 5);
    let update = std::str::from_utf8(&got[1].body).unwrap();
    let (before_ts, _) = update.split_once(r#","timestamp":"#).unwrap();
    assert!(before_ts.contains(r#","old_record":{"#), "{update}");
    emu.shutdown().await;
}

/// Without a secret, no signature header at all; the default user agent.
#[tokio::test]
async fn no_secret_no_signature() {
    let emu = emulator(Flavor::Server).await;
    let mut receiver = Receiver::scripted(Verifier::new("unused").unwrap(), []).await;
    raw_webhook(
        &emu,
        json!({"name": "n", "url": receiver.url, "enabled": true,
               "events": [{"table": "users", "operations": ["INSERT"]}]}),
    )
    .await;
    emu.trigger_sample("INSERT").unwrap();
    let got = receiver.next().await;
    assert_eq!(got.header("x-fluxbase-signature"), None);
    assert_eq!(got.header("x-webhook-signature"), None);
    assert_eq!(got.header("user-agent"), Some("Fluxbase-Webhooks/1.0"));
    assert_eq!(
        got.outcome.unwrap_err(),
        fluxbase_webhooks::Code::MissingSignature
    );
    emu.shutdown().await;
}

/// Table name or `*`, operations or `*`, case-sensitive; enabled only;
/// user scope sees unowned and own rows.
#[tokio::test]
async fn matching_rules() {
    let emu = emulator(Flavor::Server).await;
    let user = user_client(&emu).await;
    let mut receiver = Receiver::start(Verifier::new("k").unwrap()).await;
    let mut ids = std::collections::HashMap::new();
    for (name, events, enabled) in [
        (
            "inserts",
            json!([{"table": "users", "operations": ["INSERT"]}]),
            true,
        ),
        ("star", json!([{"table": "*", "operations": ["*"]}]), true),
        (
            "upper",
            json!([{"table": "USERS", "operations": ["INSERT"]}]),
            true,
        ),
        (
            "lower-op",
            json!([{"table": "users", "operations": ["insert"]}]),
            true,
        ),
        (
            "qualified",
            json!([{"table": "auth.users", "operations": ["*"]}]),
            true,
        ),
        ("off", json!([{"table": "*", "operations": ["*"]}]), false),
    ] {
        let body = json!({"name": name, "url": receiver.url, "secret": "k",
                          "enabled": enabled, "events": events, "scope": "global"});
        ids.insert(raw_webhook(&emu, body).await, name);
    }
    let names = |fired: fluxbase_emulator::Triggered| {
        let mut n: Vec<_> = fired.webhooks.iter().map(|id| ids[id]).collect();
        n.sort_unstable();
        n
    };
    assert_eq!(
        names(emu.trigger_sample("INSERT").unwrap()),
        ["inserts", "star"]
    );
    assert_eq!(names(emu.trigger_sample("UPDATE").unwrap()), ["star"]);
    settle(&emu).await;
    assert_eq!(receiver.drain().len(), 3);

    // A user-scoped webhook created by the user sees only unowned rows and
    // the user's own. `public.products` installs the trigger, `products`
    // matches (the only way a public table reaches a webhook on the server).
    let scoped = user
        .webhooks()
        .create(
            CreateWebhook::new(&receiver.url)
                .secret("k")
                .event(EventFilter::table("public.products", ["*"]))
                .event(EventFilter::table("products", ["*"]))
                .scope(WebhookScope::User),
        )
        .await
        .unwrap();
    let owner = scoped.created_by.clone().unwrap();
    let product = |owner: Option<&str>| {
        let mut record = json!({"id": 1, "name": "lamp"});
        if let Some(o) = owner {
            record["owner_id"] = json!(o);
        }
        Event::from_slice(
            json!({"event": "INSERT", "table": "products", "schema": "public",
                   "record": record, "timestamp": "2026-01-02T03:04:05Z"})
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    };
    let count = |e: Event| emu.trigger(e).unwrap().webhooks.contains(&scoped.id);
    assert!(count(product(None)), "unowned rows are visible");
    assert!(count(product(Some(&owner))), "own rows are visible");
    assert!(
        !count(product(Some("00000000-0000-4000-8000-00000000beef"))),
        "others' rows are not"
    );
    // An owner that is no UUID makes the row unowned (the trigger's cast
    // fails), so it is visible.
    assert!(count(product(Some("someone-else"))));
    // Once disabled, nothing.
    user.webhooks()
        .update(&scoped.id, UpdateWebhook::new().enabled(false).secret("k"))
        .await
        .unwrap();
    assert!(!count(product(None)));
    settle(&emu).await;
    emu.shutdown().await;
}

/// The documented flavor matches documented names, and row events on
/// `users` under their documented names.
#[tokio::test]
async fn documented_names_match() {
    let emu = emulator(Flavor::Documented).await;
    let mut receiver = Receiver::start(Verifier::new("k").unwrap()).await;
    raw_webhook(
        &emu,
        json!({"url": receiver.url, "secret": "k", "events": ["user.created", "auth.login"]}),
    )
    .await;
    assert_eq!(emu.trigger_sample("auth.login").unwrap().webhooks.len(), 1);
    assert_eq!(emu.trigger_sample("INSERT").unwrap().webhooks.len(), 1);
    assert!(
        emu.trigger_sample("user.deleted")
            .unwrap()
            .webhooks
            .is_empty()
    );
    settle(&emu).await;
    let names: Vec<_> = receiver
        .drain()
        .iter()
        .map(|r| r.event().name().to_owned())
        .collect();
    assert_eq!(names, ["auth.login", "user.created"]);
    // A numeric row id becomes the documented string `user_id`.
    let a = Raw::new(&emu)
        .send(
            "POST",
            "/api/v1/emulator/events",
            Some(
                json!({"event": "INSERT", "table": "users", "schema": "auth",
                        "record": {"id": 7, "email": "n@x.y"}}),
            ),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    let got = receiver.next().await;
    let Event::UserCreated(user) = got.event() else {
        panic!("{:?}", got.event())
    };
    assert_eq!((user.user_id(), user.email()), (Some("7"), Some("n@x.y")));
    emu.shutdown().await;
}

/// `POST /api/v1/emulator/events`: row events, documented events, samples.
#[tokio::test]
async fn trigger_endpoint() {
    let emu = emulator(Flavor::Server).await;
    let mut receiver = Receiver::start(Verifier::new("k").unwrap()).await;
    let id = raw_webhook(
        &emu,
        json!({"name": "all", "url": receiver.url, "secret": "k", "enabled": true,
               "events": [{"table": "public.orders", "operations": ["*"]},
                          {"table": "users", "operations": ["*"]},
                          {"table": "*", "operations": ["*"]}]}),
    )
    .await;
    let raw = Raw::new(&emu);
    let a = raw
        .send(
            "POST",
            "/api/v1/emulator/events",
            Some(
                json!({"event": "UPDATE", "table": "orders", "record": {"id": 7, "total": 12},
                        "old_record": {"id": 7, "total": 10}}),
            ),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(a.json["webhooks"], json!([id]));
    let got = receiver.next().await;
    let Event::Update(row) = got.event() else {
        panic!("{:?}", got.event())
    };
    assert_eq!(row.qualified_table(), "public.orders");
    assert_eq!(
        row.old_record::<serde_json::Value>().unwrap().unwrap()["total"],
        10
    );

    let a = raw
        .send(
            "POST",
            "/api/v1/emulator/events",
            Some(json!({"event": "user.created", "data": {"user_id": "u1", "email": "x@y.z"}})),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    let got = receiver.next().await;
    assert_eq!(
        got.event().user_change().unwrap().email.as_deref(),
        Some("x@y.z")
    );
    // The server flavor sends it as the row event it stands for.
    assert_eq!(got.json()["event"], "INSERT");
    assert_eq!(got.json()["record"]["id"], "u1");

    let a = raw
        .send(
            "POST",
            "/api/v1/emulator/events",
            Some(json!({"event": "DELETE"})),
        )
        .await;
    assert_eq!(a.status, 202);
    assert!(matches!(receiver.next().await.event(), Event::Delete(_)));

    for bad in [
        json!({}),
        json!({"event": ""}),
        json!({"event": "INSERT", "table": 5}),
        json!({"event": "user.created", "data": {"user_id": 5}}),
    ] {
        let a = raw
            .send("POST", "/api/v1/emulator/events", Some(bad.clone()))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert!(a.json["error"].is_string());
    }
    emu.shutdown().await;
}
