//! Every webhook call of the client against the emulator, both flavors.

use fluxbase_emulator::Flavor;
use fluxbase_webhooks::client::{CreateWebhook, EventFilter, UpdateWebhook};
use fluxbase_webhooks::{Event, Verifier};

use crate::support::{Receiver, both_flavors, closed_port_url, emulator, settle, user_client};

both_flavors!(
    lifecycle,
    test_endpoint_success_and_failures,
    deliveries_are_listed_newest_first,
    register_endpoint_converges,
);

async fn lifecycle(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let client = user_client(&emu).await;
    let hooks = client.webhooks();
    assert!(hooks.list().await.unwrap().is_empty());

    let created = hooks
        .create(
            CreateWebhook::new("http://127.0.0.1:9/hook")
                .name("signups")
                .description("new users")
                .event(EventFilter::table("users", ["INSERT", "UPDATE"]))
                .secret("whsec-1")
                .header("X-Env", "test")
                .max_retries(4),
        )
        .await
        .unwrap();
    assert!(created.enabled, "the client creates webhooks enabled");
    assert_eq!(created.url, "http://127.0.0.1:9/hook");
    assert_eq!(
        created.events,
        [EventFilter::table("users", ["INSERT", "UPDATE"])]
    );
    assert_eq!(created.description.as_deref(), Some("new users"));
    let other = hooks
        .create(CreateWebhook::new("http://127.0.0.1:9/other").event(EventFilter::all_rows("*")))
        .await
        .unwrap();

    let got = hooks.get(&created.id).await.unwrap();
    assert_eq!(got.id, created.id);
    let listed = hooks.list().await.unwrap();
    let ids: Vec<_> = listed.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(
        ids,
        [other.id.as_str(), created.id.as_str()],
        "newest first"
    );

    let updated = hooks
        .update(
            &created.id,
            UpdateWebhook::new()
                .enabled(false)
                .secret("whsec-2")
                .url("http://127.0.0.1:9/moved"),
        )
        .await
        .unwrap();
    assert!(!updated.enabled);
    assert_eq!(updated.url, "http://127.0.0.1:9/moved");
    // Everything not changed is kept, on a server that replaces the whole object too.
    assert_eq!(updated.events, created.events);
    assert_eq!(updated.description.as_deref(), Some("new users"));
    if flavor == Flavor::Server {
        assert_eq!(updated.name.as_deref(), Some("signups"));
        assert_eq!(updated.max_retries, Some(4));
        assert_eq!(updated.retry_backoff_seconds, Some(5));
        assert_eq!(updated.timeout_seconds, Some(30));
        assert_eq!(
            updated.headers.get("X-Env").map(String::as_str),
            Some("test")
        );
    }

    hooks.delete(&created.id).await.unwrap();
    let err = hooks.get(&created.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.message(), "Webhook not found");
    let err = hooks.delete(&created.id).await.unwrap_err();
    match flavor {
        Flavor::Server => assert_eq!(
            (err.status().unwrap().as_u16(), err.message()),
            (500, "webhook not found")
        ),
        _ => assert!(err.is_not_found()),
    }
    assert_eq!(hooks.list().await.unwrap().len(), 1);
    emu.shutdown().await;
}

async fn test_endpoint_success_and_failures(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let client = user_client(&emu).await;
    let hooks = client.webhooks();
    let mut receiver = Receiver::scripted(Verifier::new("s3cret").unwrap(), [200, 404]).await;
    let hook = hooks
        .create(
            CreateWebhook::new(&receiver.url)
                .secret("s3cret")
                .enabled(false),
        )
        .await
        .unwrap();

    // Works even though the webhook is disabled.
    let ok = hooks.test(&hook.id).await.unwrap();
    assert!(ok.success, "{ok:?}");
    let got = receiver.next().await;
    match (flavor, got.event()) {
        (Flavor::Server, Event::Test(_)) => {}
        (Flavor::Documented, Event::WebhookTest(t)) => {
            assert_eq!(t.webhook_id(), Some(hook.id.as_str()));
        }
        (flavor, other) => panic!("{flavor:?} sent {other:?} as its test delivery"),
    }

    // The endpoint answers 404: a failed result, not an error.
    let failed = hooks.test(&hook.id).await.unwrap();
    assert!(!failed.success);
    assert_eq!(failed.status_code, Some(404));
    assert!(
        failed.error.as_deref().unwrap().starts_with("HTTP 404"),
        "{failed:?}"
    );

    // Nothing listens there.
    let dead = hooks
        .create(CreateWebhook::new(closed_port_url().await))
        .await
        .unwrap();
    let failed = hooks.test(&dead.id).await.unwrap();
    assert!(!failed.success);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("failed to send request"),
        "{failed:?}"
    );
    assert_eq!(failed.status_code, None);

    // Tests are not logged; an unknown webhook is an error.
    assert!(hooks.deliveries(&hook.id, None).await.unwrap().is_empty());
    let err = hooks
        .test("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    emu.shutdown().await;
}

async fn deliveries_are_listed_newest_first(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let client = user_client(&emu).await;
    let mut receiver = Receiver::start(Verifier::new("k").unwrap()).await;
    let hook = client
        .webhooks()
        .create(
            CreateWebhook::new(&receiver.url)
                .secret("k")
                .event(EventFilter::all_rows("users"))
                .scope(fluxbase_webhooks::client::WebhookScope::Global),
        )
        .await
        .unwrap();
    for name in ["INSERT", "UPDATE", "DELETE"] {
        emu.trigger_sample(name).unwrap();
    }
    settle(&emu).await;
    assert_eq!(receiver.drain().len(), 3);

    let all = client.webhooks().deliveries(&hook.id, None).await.unwrap();
    let expected: &[&str] = match flavor {
        Flavor::Server => &["DELETE", "UPDATE", "INSERT"],
        _ => &["user.deleted", "user.updated", "user.created"],
    };
    let events: Vec<_> = all.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, expected);
    assert!(all.iter().all(|d| d.succeeded()));
    assert!(
        all.iter()
            .all(|d| d.webhook_id.as_deref() == Some(hook.id.as_str()))
    );
    let one = client
        .webhooks()
        .list_deliveries(&hook.id, Some(1))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].event, expected[0]);
    emu.shutdown().await;
}

async fn register_endpoint_converges(flavor: Flavor) {
    let emu = emulator(flavor).await;
    let client = user_client(&emu).await;
    let mut receiver = Receiver::start(Verifier::new("first").unwrap()).await;
    let events = [EventFilter::table("users", ["INSERT"])];

    let first = client
        .webhooks()
        .register_endpoint(&receiver.url, events.clone(), "first")
        .await
        .unwrap();
    assert!(first.created);
    assert!(first.test.success, "{:?}", first.test);
    assert!(first.webhook.enabled);
    assert!(receiver.next().await.event().is_test());

    // Again, with a rotated secret and more events: the same webhook.
    let mut receiver2 = Receiver::start(Verifier::new("second").unwrap()).await;
    client
        .webhooks()
        .update(
            &first.webhook.id,
            UpdateWebhook::new().url(&receiver2.url).secret("first"),
        )
        .await
        .unwrap();
    let again = client
        .webhooks()
        .register_endpoint(
            &receiver2.url,
            [EventFilter::table("users", ["INSERT", "DELETE"])],
            "second",
        )
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.webhook.id, first.webhook.id);
    assert_eq!(
        again.webhook.events,
        [EventFilter::table("users", ["INSERT", "DELETE"])]
    );
    assert!(again.test.success, "{:?}", again.test);
    // The test was signed with the new secret.
    assert!(receiver2.next().await.outcome.is_ok());
    assert_eq!(client.webhooks().list().await.unwrap().len(), 1);
    emu.shutdown().await;
}
