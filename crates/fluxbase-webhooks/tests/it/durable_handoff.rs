//! The durable handoff over real HTTP: `queue::Handoff` as an axum service
//! and as an actix-web handler, in front of a real `redis-server`. A
//! delivery is acknowledged (202) only once it is in the stream; while Redis
//! is down the answer is 503 with `Retry-After`, and the delivery's event is
//! forgotten so the retry is handled as new.

use std::time::Duration;

#[cfg(feature = "tower")]
use axum::{Router, routing::post_service};
use fluxbase_webhooks::dedupe::{Dedupe, Duplicates};
use fluxbase_webhooks::queue::{DEFAULT_MAX_LEN, Handoff, StreamConsumer, StreamWriter};
use fluxbase_webhooks::{Receiver, Scheme};
use fluxhook_testkit::RedisServer;

use crate::support::servers::Server;
#[cfg(feature = "actix")]
use crate::support::servers::serve_actix;
#[cfg(feature = "tower")]
use crate::support::servers::serve_axum;
use crate::support::{Body, CURRENT, LIMIT, PATH, Reply, Req, send, sign, unix_now, verifier};

async fn handoff(redis: &RedisServer, stream: &str) -> Handoff {
    bounded_handoff(redis, stream, DEFAULT_MAX_LEN).await
}

async fn bounded_handoff(redis: &RedisServer, stream: &str, max_len: usize) -> Handoff {
    let writer = StreamWriter::builder(redis.url())
        .stream(stream)
        .max_len(max_len)
        .timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    // Duplicates acknowledged: the handoff queues re-deliveries (flagged)
    // all the same, so none is answered without being in the stream.
    let dedupe = Dedupe::default().duplicates(Duplicates::Acknowledge);
    Handoff::new(
        Receiver::builder(verifier())
            .body_limit(LIMIT)
            .dedupe(dedupe)
            .build(),
        writer,
    )
}

/// The same handoff design on both frameworks (those built), each with its
/// own stream.
async fn servers(redis: &RedisServer) -> Vec<(Server, &'static str)> {
    bounded_servers(redis, DEFAULT_MAX_LEN).await
}

/// [`servers`] whose streams hold at most `max_len` entries.
async fn bounded_servers(redis: &RedisServer, max_len: usize) -> Vec<(Server, &'static str)> {
    let mut servers = Vec::new();
    #[cfg(feature = "tower")]
    {
        let h = bounded_handoff(redis, "axum", max_len).await;
        let app = Router::new().route(PATH, post_service(h));
        servers.push((serve_axum(app, "axum handoff").await, "axum"));
    }
    #[cfg(feature = "actix")]
    {
        let h = bounded_handoff(redis, "actix", max_len).await;
        let actix = serve_actix("actix handoff", move || {
            actix_web::App::new().app_data(h.clone()).route(
                PATH,
                actix_web::web::post().to(fluxbase_webhooks::actix::handoff),
            )
        });
        servers.push((actix, "actix"));
    }
    servers
}

/// One attempt of the same event: a new date, and so new bytes.
fn attempt(record: u32, t: i64) -> Req {
    let body = format!(
        r#"{{"event":"UPDATE","table":"orders","schema":"public","record":{{"id":{record}}},"old_record":{{"id":{record}}},"timestamp":"{}"}}"#,
        fluxbase_webhooks::Timestamp::from(std::time::UNIX_EPOCH + Duration::from_secs(t as u64))
    )
    .into_bytes();
    let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
    Req::post(Body::Full(body)).signature(header)
}

fn queued(reply: &Reply) -> (String, bool) {
    assert_eq!(reply.status, 202, "{reply:?}");
    let doc = reply.json();
    (
        doc["queued"].as_str().unwrap().to_owned(),
        doc["duplicate"].as_bool().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_acknowledged_once_it_is_in_the_stream() {
    let redis = RedisServer::start();
    for (server, stream) in servers(&redis).await {
        let now = unix_now();
        let first = attempt(7, now - 1);
        let (id, duplicate) = queued(&send(server.addr, &first).await);
        assert!(!duplicate);
        // A replay is refused; a retry of the same event is queued, marked.
        let replay = send(server.addr, &first).await;
        assert_eq!(
            (replay.status, replay.problem_code().as_str()),
            (409, "replayed")
        );
        let (_, duplicate) = queued(&send(server.addr, &attempt(7, now)).await);
        assert!(duplicate, "{stream}");
        // Not a Fluxbase payload: refused, never queued.
        let junk = b"[1,2]".to_vec();
        let header = sign(CURRENT, Scheme::Timestamped, now, &junk);
        let reply = send(server.addr, &Req::post(Body::Full(junk)).signature(header)).await;
        assert_eq!(
            (reply.status, reply.problem_code().as_str()),
            (400, "invalid_payload")
        );

        let mut consumer = StreamConsumer::builder(redis.url(), stream, "test")
            .block(Duration::from_millis(100))
            .connect()
            .await
            .unwrap();
        let message = consumer.next().await.unwrap().unwrap();
        assert_eq!(message.id().to_string(), id, "{stream}");
        assert_eq!(message.event().name(), "UPDATE");
        assert_eq!(message.delivery().key_id(), Some("current"));
        assert!(!message.is_duplicate());
        message.ack().await.unwrap();
        let message = consumer.next().await.unwrap().unwrap();
        assert!(message.is_duplicate(), "{stream}");
        message.ack().await.unwrap();
        assert!(
            consumer.try_next().await.unwrap().is_none(),
            "{stream}: only two entries"
        );
    }
}

/// `Handoff::on_queued` sees each delivery once it is in the stream, with
/// the entry id the sender is answered, and never a refused one.
#[cfg(feature = "tower")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_queued_sees_each_queued_delivery_and_nothing_else() {
    use std::sync::{Arc, Mutex};

    let redis = RedisServer::start();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let observed = handoff(&redis, "observed")
        .await
        .on_queued(move |id, delivery| {
            let event = fluxbase_webhooks::Event::from_slice(delivery.body()).unwrap();
            record.lock().unwrap().push((
                id.to_string(),
                delivery.is_duplicate(),
                delivery.scheme(),
                event.name().to_owned(),
            ));
        });
    let app = Router::new().route(PATH, post_service(observed));
    let server = serve_axum(app, "observed handoff").await;
    let now = unix_now();
    let first = attempt(9, now - 1);
    let (first_id, _) = queued(&send(server.addr, &first).await);
    assert_eq!(send(server.addr, &first).await.status, 409);
    let unsigned = Req::post(Body::Full(b"{}".to_vec()));
    assert_eq!(send(server.addr, &unsigned).await.status, 401);
    let (retry_id, _) = queued(&send(server.addr, &attempt(9, now)).await);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (first_id, false, Scheme::Timestamped, "UPDATE".to_owned()),
            (retry_id, true, Scheme::Timestamped, "UPDATE".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_deliveries_get_503_and_nothing_is_lost() {
    let mut redis = RedisServer::start();
    let servers = servers(&redis).await;
    redis.stop();
    let now = unix_now();
    for (server, stream) in &servers {
        let reply = send(server.addr, &attempt(1, now - 2)).await;
        assert_eq!(
            (reply.status, reply.problem_code().as_str()),
            (503, "queue_unavailable"),
            "{stream}"
        );
        assert_eq!(reply.header("retry-after"), Some("5"));
        // The store's error stays in the logs.
        assert!(!String::from_utf8_lossy(&reply.body).contains("redis"));
    }
    redis.restart();
    for (server, stream) in &servers {
        // Fluxbase's retry: re-dated, the same event. The failed attempt's
        // event was forgotten, so it is new; the connection comes back by
        // itself.
        let mut reply = send(server.addr, &attempt(1, now)).await;
        for _ in 0..50 {
            if reply.status == 202 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            reply = send(server.addr, &attempt(1, unix_now())).await;
        }
        let (_, duplicate) = queued(&reply);
        assert!(!duplicate, "{stream}");
    }
}

/// A stream full of deliveries no consumer has processed: the handoff
/// answers 503 with `Retry-After` and says why (`queue_full` in the
/// detail), nothing is dropped to make room, and once a consumer caught up
/// Fluxbase's retry is queued (as new: the refused attempt was forgotten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_gets_503_until_a_consumer_catches_up() {
    let redis = RedisServer::start();
    for (server, stream) in bounded_servers(&redis, 2).await {
        // The group exists (its consumer connected) but has read nothing.
        let mut consumer = StreamConsumer::builder(redis.url(), stream, "test")
            .block(Duration::from_millis(100))
            .connect()
            .await
            .unwrap();
        let now = unix_now();
        let mut accepted = Vec::new();
        for record in [1, 2] {
            let (id, _) = queued(&send(server.addr, &attempt(record, now - 1)).await);
            accepted.push(id);
        }
        let reply = send(server.addr, &attempt(3, now - 1)).await;
        assert_eq!(
            (reply.status, reply.problem_code().as_str()),
            (503, "queue_unavailable"),
            "{stream}: {reply:?}"
        );
        assert_eq!(reply.header("retry-after"), Some("5"), "{stream}");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert_eq!(
            detail,
            "the delivery could not be queued; retry later: the stream is full of entries not \
             yet processed (queue_full)",
            "{stream}"
        );

        // Both accepted deliveries are still there, and the consumer gets them.
        for id in &accepted {
            let message = consumer.next().await.unwrap().unwrap();
            assert_eq!(&message.id().to_string(), id, "{stream}");
            message.ack().await.unwrap();
        }
        // Fluxbase's retry of the refused event: queued, and not a duplicate.
        let (id, duplicate) = queued(&send(server.addr, &attempt(3, unix_now())).await);
        assert!(!duplicate, "{stream}");
        let message = consumer.next().await.unwrap().unwrap();
        assert_eq!(message.id().to_string(), id, "{stream}");
        let body: serde_json::Value = serde_json::from_slice(message.delivery().body()).unwrap();
        assert_eq!(body["record"]["id"], 3, "{stream}");
        message.ack().await.unwrap();
    }
}
