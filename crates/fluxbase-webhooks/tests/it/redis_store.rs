//! The Redis dedupe store against a real `redis-server` that each test starts
//! on a free loopback port with `fluxhook_testkit::RedisServer`
//! (`./scripts/test.sh` installs it when missing).

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use fluxbase_webhooks::dedupe::{DedupeStore, Recorded, RedisStore, ReplayKey};
use fluxhook_testkit::RedisServer;

#[tokio::test]
async fn first_sighting_once_then_expires() {
    let server = RedisServer::start();
    let store = RedisStore::connect(server.url()).await.unwrap();
    let ttl = Duration::from_millis(300);
    assert_eq!(store.insert("event:a", ttl).await, Ok(true));
    assert_eq!(store.insert("event:a", ttl).await, Ok(false));
    assert_eq!(store.insert("event:b", ttl).await, Ok(true));
    store.remove("event:a").await.unwrap();
    assert_eq!(store.insert("event:a", ttl).await, Ok(true));
    // After the TTL the key is gone (Redis expires it, not us).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.insert("event:b", ttl).await, Ok(true));
}

#[tokio::test]
async fn prefixes_keep_applications_apart() {
    let server = RedisServer::start();
    let a = RedisStore::builder(server.url())
        .prefix("app-a:")
        .connect()
        .await
        .unwrap();
    let b = RedisStore::builder(server.url())
        .prefix("app-b:")
        .connect()
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    assert_eq!(a.insert("k", ttl).await, Ok(true));
    assert_eq!(b.insert("k", ttl).await, Ok(true));
    assert_eq!(a.insert("k", ttl).await, Ok(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_see_each_key_exactly_once() {
    let server = RedisServer::start();
    let one = Arc::new(RedisStore::connect(server.url()).await.unwrap());
    let two = Arc::new(
        RedisStore::builder(server.url())
            .pool_size(2)
            .connect()
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for store in [one, two] {
        for worker in 0..4 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                for i in 0..200 {
                    // Every worker of both instances tries every key.
                    let key = format!("event:{}", (i + worker * 50) % 200);
                    if store.insert(&key, Duration::from_secs(60)).await.unwrap() {
                        won.push(key);
                    }
                }
                won
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a key was seen as new twice");
    assert_eq!(all.len(), 200, "every key was seen as new once");
}

#[tokio::test]
async fn a_delivery_is_recorded_in_one_script_and_a_replay_records_nothing() {
    let server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .prefix("t:")
        .connect()
        .await
        .unwrap();
    let (replay_ttl, event_ttl) = (Duration::from_secs(30), Duration::from_secs(3600));
    let first = ReplayKey::new("replay:1", replay_ttl, true);
    let event = Some(("event:e", event_ttl));
    assert_eq!(
        store.record_delivery(first, event).await,
        Ok(Recorded::new(true, Some(Ok(true))))
    );
    // Both keys are in Redis, each with its own lifetime.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let probe = conn.clone();
    let pttl = |key: &'static str| {
        let mut conn = probe.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            ms
        }
    };
    assert!((29_000..=30_000).contains(&pttl("t:replay:1").await));
    assert!((3_599_000..=3_600_000).contains(&pttl("t:event:e").await));
    // The same delivery again: a replay, and the event key is not touched.
    let _: () = redis::cmd("DEL")
        .arg("t:event:e")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        store.record_delivery(first, event).await,
        Ok(Recorded::new(false, None))
    );
    assert_eq!(pttl("t:event:e").await, -2, "a replay recorded its event");
    // A retry of the event (another delivery of it): new, a duplicate.
    assert_eq!(store.insert("event:e", event_ttl).await, Ok(true));
    let retry = ReplayKey::new("replay:2", replay_ttl, true);
    assert_eq!(
        store.record_delivery(retry, event).await,
        Ok(Recorded::new(true, Some(Ok(false))))
    );
    // Without an event key (a body that is not a Fluxbase payload).
    let other = ReplayKey::new("replay:3", replay_ttl, false);
    assert_eq!(
        store.record_delivery(other, None).await,
        Ok(Recorded::new(true, None))
    );
    // Each delivery was one call of the script, sent by its digest.
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse::<u32>().ok());
    // The first call finds the script not loaded yet, loads it and runs again.
    assert!(matches!(calls, Some(4 | 5)), "{info}");
}

#[tokio::test]
async fn unreachable_redis_is_an_error_never_a_pass() {
    // Nothing listens on this port.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisStore::builder(format!("redis://127.0.0.1:{port}/"))
        .connection_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );

    // Redis going away after the start: calls fail, they do not say "new".
    let mut server = RedisServer::start();
    let store = RedisStore::builder(server.url())
        .response_timeout(Duration::from_millis(300))
        .connection_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    assert_eq!(store.insert("k", Duration::from_secs(5)).await, Ok(true));
    server.stop();
    for _ in 0..3 {
        assert!(store.insert("k2", Duration::from_secs(5)).await.is_err());
        assert!(store.remove("k").await.is_err());
        let replay = ReplayKey::new("k3", Duration::from_secs(5), true);
        let event = Some(("k4", Duration::from_secs(5)));
        assert!(store.record_delivery(replay, event).await.is_err());
    }
}

#[test]
fn debug_never_shows_the_url() {
    let b = RedisStore::builder("redis://user:hunter2@127.0.0.1:1/");
    assert!(!format!("{b:?}").contains("hunter2"));
}
