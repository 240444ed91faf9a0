//! Replay and duplicate-delivery detection over real HTTP, on `VerifyLayer`
//! (axum), the actix-web `Verify` middleware and the extractors of both:
//! exact replays refused, re-deliveries marked or acknowledged, failed
//! handlers forgotten, store outages answered by policy, and (with Redis)
//! two receiver instances sharing one view.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[cfg(feature = "tower")]
use axum::{Router, routing::post};
use fluxbase_webhooks::dedupe::{
    BoxFuture, Dedupe, DedupeStatus, DedupeStore, Duplicates, MemoryStore, StoreError,
};
#[cfg(feature = "tower")]
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Receiver, Scheme};

use crate::support::servers::Server;
#[cfg(feature = "actix")]
use crate::support::servers::serve_actix;
#[cfg(feature = "tower")]
use crate::support::servers::serve_axum;
use crate::support::{Body, CURRENT, PATH, Req, send, sign, unix_now, verifier};

/// What the handler saw, and what it should answer next.
#[derive(Clone, Default)]
struct Script {
    /// `is_duplicate()` of each call, in order.
    calls: Arc<Mutex<Vec<bool>>>,
    /// Statuses to answer, first to last; 200 when empty.
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Script {
    fn answering(statuses: &[u16]) -> Self {
        let s = Self::default();
        s.answers.lock().unwrap().extend(statuses);
        s
    }

    fn call(&self, delivery: Option<&DedupeStatus>) -> u16 {
        let duplicate = delivery
            .expect("a DedupeStatus with the delivery")
            .is_duplicate();
        self.calls.lock().unwrap().push(duplicate);
        self.answers.lock().unwrap().pop_front().unwrap_or(200)
    }

    fn calls(&self) -> Vec<bool> {
        self.calls.lock().unwrap().clone()
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `VerifyLayer` on an axum route.
    #[cfg(feature = "tower")]
    Axum,
    /// The actix-web `Verify` middleware.
    #[cfg(feature = "actix")]
    Actix,
    /// The axum `VerifiedBody` extractor, the receiver as the state.
    #[cfg(feature = "axum")]
    AxumExtractor,
    /// The actix-web `VerifiedBody` extractor, the receiver in `app_data`.
    #[cfg(feature = "actix")]
    ActixExtractor,
}

/// Receivers that see the handler's answer, of those built.
const KINDS: &[Kind] = &[
    #[cfg(feature = "tower")]
    Kind::Axum,
    #[cfg(feature = "actix")]
    Kind::Actix,
];
/// Every receiver built, extractors included.
const ALL_KINDS: &[Kind] = &[
    #[cfg(feature = "tower")]
    Kind::Axum,
    #[cfg(feature = "actix")]
    Kind::Actix,
    #[cfg(feature = "axum")]
    Kind::AxumExtractor,
    #[cfg(feature = "actix")]
    Kind::ActixExtractor,
];

async fn start(kind: Kind, dedupe: Dedupe, script: Script) -> Server {
    let receiver = Receiver::builder(verifier()).dedupe(dedupe).build();
    match kind {
        #[cfg(feature = "tower")]
        Kind::Axum => {
            let handler = move |delivery: Option<axum::Extension<DedupeStatus>>| {
                let script = script.clone();
                async move {
                    let status = script.call(delivery.as_ref().map(|d| &d.0));
                    http::StatusCode::from_u16(status).unwrap()
                }
            };
            let app = Router::new()
                .route(PATH, post(handler))
                .route_layer(VerifyLayer::new(receiver));
            serve_axum(app, "axum+layer+dedupe").await
        }
        #[cfg(feature = "axum")]
        Kind::AxumExtractor => {
            let handler = move |body: fluxbase_webhooks::axum::VerifiedBody| {
                let script = script.clone();
                async move {
                    let status = script.call(body.dedupe());
                    http::StatusCode::from_u16(status).unwrap()
                }
            };
            let app = Router::new()
                .route(PATH, post(handler))
                .with_state(receiver);
            serve_axum(app, "axum extractor+dedupe").await
        }
        #[cfg(feature = "actix")]
        Kind::ActixExtractor => serve_actix("actix extractor+dedupe", move || {
            let script = script.clone();
            actix_web::App::new().app_data(receiver.clone()).route(
                PATH,
                actix_web::web::post().to(move |body: fluxbase_webhooks::actix::VerifiedBody| {
                    let script = script.clone();
                    async move {
                        let status = script.call(body.dedupe());
                        actix_web::HttpResponse::new(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                    }
                }),
            )
        }),
        #[cfg(feature = "actix")]
        Kind::Actix => serve_actix("actix+middleware+dedupe", move || {
            let script = script.clone();
            actix_web::App::new().service(
                actix_web::web::scope(PATH)
                    .wrap(fluxbase_webhooks::actix::Verify::new(receiver.clone()))
                    .route(
                        "",
                        actix_web::web::post().to(
                            move |delivery: Option<actix_web::web::ReqData<DedupeStatus>>| {
                                let script = script.clone();
                                async move {
                                    let status = script.call(delivery.as_deref());
                                    actix_web::HttpResponse::new(
                                        actix_web::http::StatusCode::from_u16(status).unwrap(),
                                    )
                                }
                            },
                        ),
                    ),
            )
        }),
    }
}

/// One delivery attempt of the event `id`, as the server makes it: the body
/// carries the attempt's time, and the header is signed at `t`.
fn attempt(id: u32, attempt: u32, t: i64) -> Req {
    let body = format!(
        r#"{{"event":"UPDATE","table":"orders","schema":"public","record":{{"id":{id},"state":"paid"}},"old_record":{{"id":{id},"state":"open"}},"timestamp":"2026-01-02T03:04:0{attempt}Z"}}"#
    )
    .into_bytes();
    let header = sign(CURRENT, Scheme::Timestamped, t, &body);
    Req::post(Body::Full(body)).signature(header)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_replays_are_refused_with_409() {
    for &kind in ALL_KINDS {
        let script = Script::default();
        let server = start(kind, Dedupe::new(MemoryStore::default()), script.clone()).await;
        let req = attempt(1, 0, unix_now());
        assert_eq!(send(server.addr, &req).await.status, 200, "{kind:?}");
        let replay = send(server.addr, &req).await;
        assert_eq!(replay.status, 409, "{kind:?}");
        assert_eq!(replay.problem_code(), "replayed", "{kind:?}");
        assert_eq!(
            script.calls(),
            [false],
            "{kind:?}: the replay never reached the handler"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_replayed_under_its_other_signature_is_refused() {
    // Every delivery carries the bare HMAC of its body (the legacy header)
    // next to the timestamped one: sent again under it, it is the same
    // delivery, whatever the scheme.
    for &kind in ALL_KINDS {
        let script = Script::default();
        let server = start(kind, Dedupe::default(), script.clone()).await;
        let body = crate::support::insert_body();
        let timestamped = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
        let legacy = sign(CURRENT, Scheme::Hex, 0, &body);
        let first = Req::post(Body::Full(body.clone())).signature(timestamped);
        assert_eq!(send(server.addr, &first).await.status, 200, "{kind:?}");
        for replay in [legacy.clone(), format!("sha256={legacy}")] {
            let reply = send(
                server.addr,
                &Req::post(Body::Full(body.clone())).signature(replay),
            )
            .await;
            assert_eq!(
                (reply.status, reply.problem_code().as_str()),
                (409, "replayed"),
                "{kind:?}"
            );
        }
        assert_eq!(script.calls(), [false], "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_are_marked_by_default() {
    for &kind in ALL_KINDS {
        let script = Script::default();
        let server = start(kind, Dedupe::new(MemoryStore::default()), script.clone()).await;
        let now = unix_now();
        assert_eq!(send(server.addr, &attempt(7, 0, now - 2)).await.status, 200);
        // The server's retry: re-signed, re-timestamped, same event.
        assert_eq!(send(server.addr, &attempt(7, 1, now)).await.status, 200);
        // Another event is new.
        assert_eq!(send(server.addr, &attempt(8, 0, now)).await.status, 200);
        assert_eq!(script.calls(), [false, true, false], "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_can_be_acknowledged_without_the_handler() {
    for &kind in KINDS {
        let script = Script::default();
        let dedupe = Dedupe::new(MemoryStore::default()).duplicates(Duplicates::Acknowledge);
        let server = start(kind, dedupe, script.clone()).await;
        let now = unix_now();
        assert_eq!(send(server.addr, &attempt(7, 0, now - 2)).await.status, 200);
        let ack = send(server.addr, &attempt(7, 1, now)).await;
        assert_eq!(ack.status, 200, "{kind:?}");
        assert_eq!(ack.json(), serde_json::json!({"duplicate": true}));
        assert_eq!(script.calls(), [false], "{kind:?}: the handler ran once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handler_gets_the_retry_as_new() {
    for &kind in KINDS {
        // 500 twice, then 200: as Fluxbase retries, every attempt reaches
        // the handler as a first delivery until one succeeds.
        let script = Script::answering(&[500, 500]);
        let dedupe = Dedupe::new(MemoryStore::default()).duplicates(Duplicates::Acknowledge);
        let server = start(kind, dedupe, script.clone()).await;
        let now = unix_now();
        assert_eq!(send(server.addr, &attempt(3, 0, now - 3)).await.status, 500);
        assert_eq!(send(server.addr, &attempt(3, 1, now - 2)).await.status, 500);
        assert_eq!(send(server.addr, &attempt(3, 2, now - 1)).await.status, 200);
        // Once handled, a further retry is a duplicate.
        let ack = send(server.addr, &attempt(3, 3, now)).await;
        assert_eq!(ack.json(), serde_json::json!({"duplicate": true}));
        assert_eq!(script.calls(), [false, false, false], "{kind:?}");
    }
}

/// A store that is always down.
struct Down;

impl DedupeStore for Down {
    fn insert<'a>(
        &'a self,
        _: &'a str,
        _: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::msg("connection refused")) })
    }
    fn remove<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::msg("connection refused")) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_fails_closed_or_open_by_policy() {
    for &kind in ALL_KINDS {
        let script = Script::default();
        let closed = start(kind, Dedupe::new(Down), script.clone()).await;
        let reply = send(closed.addr, &attempt(1, 0, unix_now())).await;
        assert_eq!(reply.status, 503, "{kind:?}");
        assert_eq!(reply.problem_code(), "store_unavailable");
        assert_eq!(reply.header("retry-after"), Some("5"), "{kind:?}");
        // The store's own error never reaches the sender.
        assert!(!String::from_utf8_lossy(&reply.body).contains("refused"));
        assert!(script.calls().is_empty());

        let open = start(kind, Dedupe::new(Down).fail_open(true), script.clone()).await;
        assert_eq!(
            send(open.addr, &attempt(1, 0, unix_now())).await.status,
            200
        );
        assert_eq!(script.calls(), [false], "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_store_sheds_load_instead_of_forgetting_a_delivery() {
    // Two keys of room: the replay keys of two deliveries fill it (their
    // event keys are the ones dropped). A third delivery inside the window
    // is refused for now, and the first one replayed is still caught.
    for &kind in ALL_KINDS {
        let script = Script::default();
        let server = start(kind, Dedupe::new(MemoryStore::new(2)), script.clone()).await;
        let now = unix_now();
        let first = attempt(1, 0, now);
        assert_eq!(send(server.addr, &first).await.status, 200, "{kind:?}");
        assert_eq!(send(server.addr, &attempt(2, 0, now)).await.status, 200);
        let third = send(server.addr, &attempt(3, 0, now)).await;
        assert_eq!(
            (third.status, third.problem_code().as_str()),
            (503, "store_unavailable"),
            "{kind:?}"
        );
        assert!(third.header("retry-after").is_some(), "{kind:?}");
        let replay = send(server.addr, &first).await;
        assert_eq!(replay.problem_code(), "replayed", "{kind:?}");
        assert_eq!(script.calls(), [false, false], "{kind:?}");
    }
}

#[cfg(feature = "redis")]
mod fleet {
    use super::*;
    use fluxbase_webhooks::dedupe::RedisStore;
    use fluxhook_testkit::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_receivers_sharing_redis_see_one_delivery() {
        let redis = RedisServer::start();
        let script = Script::default();
        let store = |redis_url: String| async move {
            Dedupe::new(RedisStore::connect(redis_url).await.unwrap())
                .duplicates(Duplicates::Acknowledge)
        };
        // Two instances behind a "load balancer", one of each framework
        // built (or two of the one), each with its own connection pool to
        // the one Redis.
        let (first, last) = (KINDS[0], KINDS[KINDS.len() - 1]);
        let a = start(first, store(redis.url()).await, script.clone()).await;
        let b = start(last, store(redis.url()).await, script.clone()).await;
        let now = unix_now();
        for id in 0..20u32 {
            // Each event is delivered to both instances, re-signed each time
            // (as two racing server workers or a retry would).
            let (first, second) = if id % 2 == 0 { (&a, &b) } else { (&b, &a) };
            let r1 = send(first.addr, &attempt(id, 0, now - 1)).await;
            let r2 = send(second.addr, &attempt(id, 1, now)).await;
            assert_eq!((r1.status, r2.status), (200, 200));
            assert_eq!(
                r2.json(),
                serde_json::json!({"duplicate": true}),
                "event {id}"
            );
        }
        assert_eq!(
            script.calls(),
            vec![false; 20],
            "each event reached one handler once, as new"
        );
        // The same header sent to the other instance is a replay there too.
        let req = attempt(99, 0, now);
        assert_eq!(send(a.addr, &req).await.status, 200);
        assert_eq!(send(b.addr, &req).await.problem_code(), "replayed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_going_down_is_answered_503_not_let_through() {
        let mut redis = RedisServer::start();
        let store = RedisStore::builder(redis.url())
            .response_timeout(std::time::Duration::from_millis(300))
            .connection_timeout(std::time::Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let script = Script::default();
        let server = start(KINDS[0], Dedupe::new(store), script.clone()).await;
        assert_eq!(
            send(server.addr, &attempt(1, 0, unix_now())).await.status,
            200
        );
        redis.stop();
        let reply = send(server.addr, &attempt(2, 0, unix_now())).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.problem_code(), "store_unavailable");
        assert_eq!(script.calls(), [false]);
    }
}
