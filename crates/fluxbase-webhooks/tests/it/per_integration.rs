//! Behaviour specific to each integration: what the inner handler receives,
//! no double verification, extractor types, the rejection hook, tracing.
//! A test comparing integrations runs against those built.

// Some helpers serve only some integrations.
#![cfg_attr(
    not(all(feature = "axum", feature = "actix")),
    allow(dead_code, unused_imports)
)]

use std::convert::Infallible;

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
#[cfg(feature = "axum")]
use fluxbase_webhooks::axum::{FluxbaseEvent, FluxbaseJson, FromState, VerifiedBody};
// The same type behind both frameworks' paths.
#[cfg(all(feature = "actix", not(feature = "axum")))]
use fluxbase_webhooks::actix::VerifiedBody;
#[cfg(feature = "tower")]
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{
    DEFAULT_BODY_LIMIT, Error, Event, Key, Receiver, Rejection, Scheme, Verified, Verifier,
};
use fluxhook_testkit::Captured;
use http::{Request, Response};
#[cfg(feature = "tower")]
use http_body_util::Full;

use crate::support::servers::Server;
#[cfg(feature = "actix")]
use crate::support::servers::{actix_route, serve_actix};
#[cfg(feature = "tower")]
use crate::support::servers::{axum_route, serve_axum, serve_hyper};
use crate::support::{
    Body, CURRENT, PREVIOUS, Req, insert_body, receiver, send, sign, unix_now, verifier,
};

/// A receiver whose key matches nothing the tests send.
fn other_receiver() -> Receiver {
    Receiver::new(Verifier::new("not-the-secret").unwrap())
}

/// An axum handler answering the event's name.
#[cfg(feature = "axum")]
async fn typed(FluxbaseEvent(event): FluxbaseEvent) -> String {
    event.name().to_owned()
}

/// An actix-web handler answering the event's name.
#[cfg(feature = "actix")]
async fn actix_typed(
    fluxbase_webhooks::actix::FluxbaseEvent(event): fluxbase_webhooks::actix::FluxbaseEvent,
) -> String {
    event.name().to_owned()
}

/// A body with odd spacing, escapes, non-ASCII text and a trailing newline:
/// any re-serialization would change it. `n` makes each one a new delivery.
fn awkward_body(n: u32) -> Vec<u8> {
    format!("{{ \"event\" : \"UPDATE\",\n  \"table\":\"users\", \"schema\":\"auth\",\t\"record\":{{\"name\":\"Zo\u{eb} \u{1F980}\",\"n\":{n}.50}},\n \"old_record\":{{\"name\":\"Zoe\"}}, \"timestamp\":\"2026-01-02T04:04:05.12+01:00\" }}\n")
        .into_bytes()
}

fn signed(secret: &str, body: Vec<u8>) -> Req {
    let header = sign(secret, Scheme::Timestamped, unix_now(), &body);
    Req::post(Body::Full(body)).signature(header)
}

fn signed_chunked(secret: &str, body: Vec<u8>, size: usize) -> Req {
    let header = sign(secret, Scheme::Timestamped, unix_now(), &body);
    Req::post(Body::Chunked { data: body, size }).signature(header)
}

#[cfg(feature = "tower")]
#[tokio::test]
async fn layer_hands_the_inner_service_exactly_the_bytes_sent() {
    // A plain tower service that echoes the body it was given.
    let service = tower::ServiceBuilder::new()
        .layer(VerifyLayer::new(receiver()))
        .service_fn(|req: Request<Full<Bytes>>| async move {
            let verified = req.extensions().get::<Verified>().cloned().unwrap();
            let event = req.extensions().get::<Event>().cloned().unwrap();
            let body = http_body_util::BodyExt::collect(req.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert_eq!(verified.body_len(), body.len() as u64);
            assert_eq!(event.name(), "UPDATE");
            Ok::<_, Infallible>(Response::new(Full::new(body)))
        });
    // An axum route behind the layer, reading the raw bytes.
    #[cfg(feature = "axum")]
    fn echo_route() -> Router {
        async fn echo(raw: VerifiedBody) -> Bytes {
            raw.into_body()
        }
        Router::new()
            .route("/webhooks", post(echo))
            .route_layer(VerifyLayer::new(receiver()))
    }
    let servers = [
        serve_hyper(service, "tower").await,
        #[cfg(feature = "axum")]
        serve_axum(echo_route(), "axum+layer").await,
    ];

    for addr in servers.iter().map(|s| s.addr) {
        for (n, make) in [
            (1, (|b| signed(CURRENT, b)) as fn(Vec<u8>) -> Req),
            (2, |b| signed_chunked(CURRENT, b, 5)),
            (3, |b| signed_chunked(PREVIOUS, b, 64)),
        ] {
            let body = awkward_body(n);
            let reply = send(addr, &make(body.clone())).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.body, body);
        }
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_route_behind_the_layer_does_not_verify_twice() {
    // The state holds a receiver whose key matches nothing: any extractor
    // that received again would refuse every delivery.
    async fn own(FluxbaseJson(body): FluxbaseJson<serde_json::Value>) -> String {
        body["event"].as_str().unwrap().to_owned()
    }
    async fn raw(raw: VerifiedBody) -> String {
        format!("{} {:?}", raw.body().len(), raw.verified().key_id())
    }
    // Through `FromRef` (the state is a `Receiver`, its own `FromRef`).
    async fn from_state(FromState(FluxbaseEvent(event)): FromState<FluxbaseEvent>) -> String {
        event.name().to_owned()
    }
    let routes = || {
        Router::new()
            .route("/typed", post(typed))
            .route("/own", post(own))
            .route("/raw", post(raw))
            .route("/state", post(from_state))
    };
    let layered = serve_axum(
        routes()
            .route_layer(VerifyLayer::new(receiver()))
            .with_state(other_receiver()),
        "layered",
    )
    .await;
    let unlayered = serve_axum(routes().with_state(other_receiver()), "state only").await;

    for path in ["/typed", "/own", "/raw", "/state"] {
        let body = insert_body();
        let answer = match path {
            "/raw" => format!("{} Some(\"previous\")", body.len()),
            _ => "INSERT".to_owned(),
        };
        let req = signed(PREVIOUS, body).path(path);
        let reply = send(layered.addr, &req).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(String::from_utf8(reply.body).unwrap(), answer);
        // The same route received by the state's receiver refuses it.
        let reply = send(unlayered.addr, &req).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(reply.problem_code(), "signature_mismatch");
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn layer_wraps_a_whole_router_unchanged() {
    async fn ext(Extension(event): Extension<Event>, Extension(v): Extension<Verified>) -> String {
        format!("{} {}", event.name(), v.scheme())
    }
    let app = Router::new()
        .route("/a", post(typed))
        .route("/b", post(ext))
        .layer(VerifyLayer::new(receiver()));
    let server = serve_axum(app, "router").await;
    let body = insert_body();
    let reply = send(server.addr, &signed(CURRENT, body.clone()).path("/a")).await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"INSERT"[..]));
    let other = insert_body();
    let hex = sign(CURRENT, Scheme::Hex, 0, &other);
    let reply = send(
        server.addr,
        &Req::post(Body::Full(other)).signature(hex).path("/b"),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (200, &b"INSERT hex"[..])
    );
    let reply = send(server.addr, &Req::post(Body::Full(body)).path("/b")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.problem_code(), "missing_signature");
}

#[cfg(any(feature = "axum", feature = "actix"))]
#[tokio::test]
async fn verified_body_carries_what_was_verified_and_accepts_any_bytes() {
    fn describe(raw: &VerifiedBody) -> String {
        let v = raw.verified();
        assert_eq!(raw.body().len() as u64, v.body_len());
        format!(
            "{} {} {} {} {} {:?}",
            v.scheme(),
            v.timestamp().is_some(),
            v.key_index(),
            v.key_id().unwrap_or("-"),
            v.body_len(),
            raw.dedupe().map(|d| d.is_duplicate()),
        )
    }
    #[cfg(feature = "axum")]
    async fn raw(raw: VerifiedBody) -> String {
        describe(&raw)
    }
    #[cfg(feature = "actix")]
    async fn actix_raw(raw: fluxbase_webhooks::actix::VerifiedBody) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().body(describe(&raw))
    }
    let servers: Vec<Server> = vec![
        #[cfg(feature = "axum")]
        axum_route(raw).await,
        #[cfg(feature = "actix")]
        actix_route(actix_raw),
    ];
    // Not UTF-8, not JSON: in the timestamped scheme, the raw extractor
    // promises only a valid, fresh, first-time signature.
    let body = b"\x00\xff binary \x80".to_vec();
    for addr in servers.iter().map(|s| s.addr) {
        let reply = send(addr, &signed(PREVIOUS, body.clone())).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, b"timestamped true 1 previous 11 Some(false)");
        // Untimestamped, the bytes must carry a fresh date of their own.
        let hex = sign(CURRENT, Scheme::Sha256, 0, &body);
        let reply = send(addr, &Req::post(Body::Full(body.clone())).signature(hex)).await;
        assert_eq!(reply.status, 401, "{reply:?}");
        assert_eq!(reply.problem_code(), "missing_timestamp");
        let dated = insert_body();
        let hex = sign(CURRENT, Scheme::Sha256, 0, &dated);
        let reply = send(addr, &Req::post(Body::Full(dated.clone())).signature(hex)).await;
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            format!("sha256 true 0 current {} Some(false)", dated.len())
        );
    }
}

#[derive(serde::Deserialize)]
struct UserRow {
    event: String,
    record: Record,
}

#[derive(serde::Deserialize)]
struct Record {
    email: String,
}

#[cfg(any(feature = "axum", feature = "actix"))]
#[tokio::test]
async fn json_extractor_reads_the_users_own_type() {
    #[cfg(feature = "axum")]
    async fn handler(FluxbaseJson(row): FluxbaseJson<UserRow>) -> String {
        format!("{} {}", row.event, row.record.email)
    }
    #[cfg(feature = "actix")]
    async fn actix_handler(
        fluxbase_webhooks::actix::FluxbaseJson(row): fluxbase_webhooks::actix::FluxbaseJson<
            UserRow,
        >,
    ) -> String {
        format!("{} {}", row.event, row.record.email)
    }
    let servers: Vec<Server> = vec![
        #[cfg(feature = "axum")]
        axum_route(handler).await,
        #[cfg(feature = "actix")]
        actix_route(actix_handler),
    ];
    for addr in servers.iter().map(|s| s.addr) {
        let reply = send(addr, &signed(CURRENT, insert_body())).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, b"INSERT ada@example.com");
        // A genuine Fluxbase payload that does not fit the type: its own
        // code, and nothing of the receiver's fields in the answer.
        let test = br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#;
        let reply = send(addr, &signed(CURRENT, test.to_vec())).await;
        assert_eq!(reply.status, 422);
        assert_eq!(reply.problem_code(), "payload_mismatch");
        let text = String::from_utf8(reply.body).unwrap();
        assert!(!text.contains("email") && !text.contains("line"), "{text}");
        // Not a Fluxbase payload at all: 400.
        let reply = send(addr, &signed(CURRENT, b"[1]".to_vec())).await;
        assert_eq!(
            (reply.status, reply.problem_code().as_str()),
            (400, "invalid_payload")
        );
    }
}

#[tokio::test]
async fn rejection_hook_replaces_the_answer_everywhere() {
    // One hook, plain statuses: the same code serves every framework.
    let hooked = || {
        Receiver::builder(verifier())
            .on_reject(|err: &Error| match err.code().http_status() {
                401 => Rejection::empty(401),
                400 => Rejection::text(400, format!("bad: {}", err.code())),
                status => {
                    Rejection::json(status, &serde_json::json!({ "error": err.code().as_str() }))
                }
            })
            .build()
    };
    let mut servers = Vec::new();
    #[cfg(feature = "tower")]
    {
        // Every case is refused before the handler would run.
        let handler = |Extension(event): Extension<Event>| async move { event.name().to_owned() };
        let layered = Router::new()
            .route("/webhooks", post(handler))
            .route_layer(VerifyLayer::new(hooked()));
        servers.push(serve_axum(layered, "layer").await);
    }
    #[cfg(feature = "axum")]
    {
        let extractor = Router::new()
            .route("/webhooks", post(typed))
            .with_state(hooked());
        servers.push(serve_axum(extractor, "axum extractor").await);
    }
    #[cfg(feature = "actix")]
    {
        let r = hooked();
        servers.push(serve_actix("actix extractor", move || {
            actix_web::App::new()
                .app_data(r.clone())
                .route("/webhooks", actix_web::web::post().to(actix_typed))
        }));
        let r = hooked();
        servers.push(serve_actix("actix middleware", move || {
            actix_web::App::new().service(
                actix_web::web::scope("/webhooks")
                    .wrap(fluxbase_webhooks::actix::Verify::new(r.clone()))
                    .route("", actix_web::web::post().to(actix_typed)),
            )
        }));
    }
    let cases = [
        (Req::post(Body::Full(insert_body())), 401, None, ""),
        (
            signed(CURRENT, b"nope".to_vec()),
            400,
            Some("text/plain; charset=utf-8"),
            "bad: invalid_payload",
        ),
        (
            Req::post(Body::DeclaredOnly(1 << 30)),
            413,
            Some("application/json"),
            r#"{"error":"payload_too_large"}"#,
        ),
    ];
    for server in &servers {
        for (req, status, content_type, body) in &cases {
            let reply = send(server.addr, req).await;
            assert_eq!(reply.status, *status, "{}: {reply:?}", server.name);
            assert_eq!(
                reply.header("content-type"),
                *content_type,
                "{}",
                server.name
            );
            assert_eq!(reply.body, body.as_bytes(), "{}", server.name);
        }
    }
}

#[cfg(any(feature = "axum", feature = "actix"))]
#[tokio::test]
async fn a_route_with_no_receiver_is_a_server_error() {
    let servers: Vec<Server> = vec![
        #[cfg(feature = "axum")]
        serve_axum(Router::new().route("/webhooks", post(typed)), "axum").await,
        #[cfg(feature = "actix")]
        serve_actix("actix", || {
            actix_web::App::new().route("/webhooks", actix_web::web::post().to(actix_typed))
        }),
        // A verifier alone is not enough: its replay store would be new at
        // every request.
        #[cfg(feature = "axum")]
        serve_axum(
            Router::new()
                .route("/webhooks", post(typed))
                .with_state(verifier()),
            "axum verifier state",
        )
        .await,
    ];
    for server in &servers {
        let reply = send(server.addr, &signed(CURRENT, insert_body())).await;
        assert_eq!(reply.status, 500, "{}", server.name);
    }
    // Found in an Extension when the state has none.
    #[cfg(feature = "axum")]
    {
        let extension = serve_axum(
            Router::new()
                .route("/webhooks", post(typed))
                .layer(Extension(receiver())),
            "axum extension",
        )
        .await;
        let reply = send(extension.addr, &signed(CURRENT, insert_body())).await;
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"INSERT"[..]));
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn default_limit_is_one_mebibyte_and_legacy_header_is_opt_in() {
    assert_eq!(DEFAULT_BODY_LIMIT, 1024 * 1024);
    let layer = VerifyLayer::new(Verifier::new(CURRENT).unwrap());
    assert_eq!(layer.receiver().body_limit(), DEFAULT_BODY_LIMIT);
    let legacy = Verifier::builder()
        .secret(CURRENT)
        .legacy_header(true)
        .build()
        .unwrap();
    let server = serve_axum(
        Router::new()
            .route("/webhooks", post(typed))
            .route_layer(VerifyLayer::new(legacy)),
        "defaults",
    )
    .await;
    let sig = sign(CURRENT, Scheme::Timestamped, unix_now(), b"{}");
    let over = Req::post(Body::DeclaredOnly(DEFAULT_BODY_LIMIT + 1)).signature(&sig);
    let reply = send(server.addr, &over).await;
    assert_eq!(
        (reply.status, reply.problem_code().as_str()),
        (413, "payload_too_large")
    );
    let body = insert_body();
    let legacy = Req::post(Body::Full(body.clone()))
        .header("x-webhook-signature", sign(CURRENT, Scheme::Hex, 0, &body));
    let reply = send(server.addr, &legacy).await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"INSERT"[..]));
}

/// The process-wide subscriber, installed once: spans are enabled per
/// callsite for the whole process, so a thread-local subscriber would race
/// with the other tests.
fn captured_log() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn tracing_records_each_delivery_without_secrets_or_content() {
    let captured = captured_log();
    // A key id and body sizes no other test uses, to find this test's lines.
    let verifier = || {
        Verifier::builder()
            .key(Key::new(CURRENT))
            .key(Key::new(PREVIOUS).id("tracing-test-key"))
            .build()
            .unwrap()
    };
    async fn typed(FluxbaseEvent(event): FluxbaseEvent) -> String {
        tracing::info!("tracing test handler ran");
        event.name().to_owned()
    }
    let layered = serve_axum(
        Router::new()
            .route("/webhooks", post(typed))
            .route_layer(VerifyLayer::new(verifier())),
        "layer",
    )
    .await;
    let extractor = serve_axum(
        Router::new()
            .route("/webhooks", post(typed))
            .with_state(Receiver::new(verifier())),
        "extractor",
    )
    .await;

    let marker = "secret-body-content-4242";
    let body = format!(
        r#"{{"event":"INSERT","table":"users","schema":"auth","record":{{"note":"{marker}","pad":"{}"}},"timestamp":"2026-01-02T03:04:05Z"}}"#,
        "p".repeat(1000)
    )
    .into_bytes();
    let good = sign(PREVIOUS, Scheme::Timestamped, unix_now(), &body);
    let bad = sign("whsec-wrong", Scheme::Timestamped, unix_now(), &body);
    let invalid = format!(
        "{{\"event\": 7, \"x\": \"{marker}\", \"pad\": \"{}\"}}",
        "q".repeat(1000)
    )
    .into_bytes();
    let invalid_sig = sign(CURRENT, Scheme::Timestamped, unix_now(), &invalid);
    for addr in [layered.addr, extractor.addr] {
        let reply = send(addr, &Req::post(Body::Full(body.clone())).signature(&good)).await;
        assert_eq!(reply.status, 200);
        let reply = send(addr, &Req::post(Body::Full(body.clone())).signature(&bad)).await;
        assert_eq!(reply.status, 401);
        let reply = send(
            addr,
            &Req::post(Body::Full(invalid.clone())).signature(&invalid_sig),
        )
        .await;
        assert_eq!(reply.status, 400);
    }

    let log = captured.text();
    let accepted = format!(
        "fluxbase_webhook{{outcome=\"verified\" scheme=\"timestamped\" key_index=1 key_id=\"tracing-test-key\" body_len={} duplicate=false}}",
        body.len()
    );
    let count = |needle: &str, end: &str| {
        log.lines()
            .filter(|l| l.contains(needle) && l.ends_with(end))
            .count()
    };
    assert_eq!(count(&accepted, "webhook delivery verified"), 2, "{log}");
    let mismatch = format!("outcome=\"signature_mismatch\" body_len={}", body.len());
    assert_eq!(count(&mismatch, "for any configured secret"), 2, "{log}");
    let invalid_line = format!("outcome=\"invalid_payload\" body_len={}", invalid.len());
    let invalid_end = format!("status=400 body_len={}", invalid.len());
    // Whatever the level, nothing of the body content is logged.
    assert_eq!(count(&invalid_line, &invalid_end), 2, "{log}");
    // Behind the layer, the handler runs inside the delivery span.
    assert_eq!(count(&accepted, "tracing test handler ran"), 1, "{log}");
    for forbidden in [CURRENT, PREVIOUS, "whsec-wrong", marker] {
        assert!(!log.contains(forbidden), "{forbidden} logged:\n{log}");
    }
    for header in [&good, &bad, &invalid_sig] {
        let tag = header.rsplit('=').next().unwrap();
        assert!(!log.contains(tag), "signature logged:\n{log}");
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn a_verified_body_kept_by_the_handler_keeps_its_share_of_the_budget() {
    // "Queue now, parse later" in memory: the kept bodies count against the
    // receiver's budget until they are dropped.
    type Kept = std::sync::Arc<std::sync::Mutex<Vec<Bytes>>>;
    async fn keep(Extension(kept): Extension<Kept>, raw: VerifiedBody) -> &'static str {
        kept.lock().unwrap().push(raw.into_body());
        "kept"
    }
    let receiver = receiver();
    let kept = Kept::default();
    let app = Router::new()
        .route("/keep", post(keep))
        .layer(Extension(kept.clone()))
        .with_state(receiver.clone());
    let server = serve_axum(app, "keeps bodies").await;
    let body = insert_body();
    let len = body.len() as u64;
    let reply = send(server.addr, &signed(CURRENT, body).path("/keep")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(receiver.body_bytes_in_flight() >= len, "held while kept");
    kept.lock().unwrap().clear();
    assert_eq!(
        receiver.body_bytes_in_flight(),
        0,
        "given back once dropped"
    );
}
