//! Behaviour specific to each integration: what the inner handler receives,
//! no double verification, extractor types, the rejection hook, tracing.
//! A test comparing integrations runs against those built.

// Some helpers serve only some integrations.
#![cfg_attr(
    not(all(feature = "axum", feature = "actix")),
    allow(dead_code, unused_imports)
)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
#[cfg(feature = "axum")]
use fluxbase_webhooks::axum::{FluxbaseEvent, Webhook};
#[cfg(feature = "tower")]
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{
    DEFAULT_BODY_LIMIT, Event, OnReject, Rejection, Scheme, Verified, Verifier,
};
use http::{Request, Response, StatusCode};
#[cfg(feature = "tower")]
use http_body_util::Full;

use crate::support::servers::Server;
#[cfg(feature = "actix")]
use crate::support::servers::{actix_route, serve_actix};
#[cfg(feature = "axum")]
use crate::support::servers::{axum_route, other_verifier};
#[cfg(feature = "tower")]
use crate::support::servers::{serve_axum, serve_hyper};
use crate::support::{Body, CURRENT, PREVIOUS, Req, insert_body, send, sign, unix_now, verifier};

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
/// any re-serialization would change it.
fn awkward_body() -> Vec<u8> {
    "{ \"event\" : \"UPDATE\",\n  \"table\":\"users\", \"schema\":\"auth\",\t\"record\":{\"name\":\"Zo\u{eb} \u{1F980}\",\"n\":1.50},\n \"old_record\":{\"name\":\"Zoe\"}, \"timestamp\":\"2026-01-02T04:04:05.12+01:00\" }\n"
        .as_bytes()
        .to_vec()
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
        .layer(VerifyLayer::new(verifier()))
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
        async fn echo(raw: Verified<Bytes>) -> Bytes {
            raw.into_body()
        }
        Router::new()
            .route("/webhooks", post(echo))
            .route_layer(VerifyLayer::new(verifier()))
    }
    let servers = [
        serve_hyper(service, "tower").await,
        #[cfg(feature = "axum")]
        serve_axum(echo_route(), "axum+layer").await,
    ];

    let body = awkward_body();
    for addr in servers.iter().map(|s| s.addr) {
        for req in [
            signed(CURRENT, body.clone()),
            signed_chunked(CURRENT, body.clone(), 5),
            signed_chunked(PREVIOUS, body.clone(), 64),
        ] {
            let reply = send(addr, &req).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            assert_eq!(reply.body, body);
        }
    }
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn axum_route_behind_the_layer_does_not_verify_twice() {
    // The state holds a verifier whose key matches nothing: any extractor
    // that verified again would refuse every delivery.
    async fn own(Webhook(body): Webhook<serde_json::Value>) -> String {
        body["event"].as_str().unwrap().to_owned()
    }
    async fn raw(raw: Verified<Bytes>) -> String {
        format!("{} {:?}", raw.body().len(), raw.key_id())
    }
    let routes = || {
        Router::new()
            .route("/typed", post(typed))
            .route("/own", post(own))
            .route("/raw", post(raw))
    };
    let layered = serve_axum(
        routes()
            .route_layer(VerifyLayer::new(verifier()))
            .with_state(other_verifier()),
        "layered",
    )
    .await;
    let unlayered = serve_axum(routes().with_state(other_verifier()), "state only").await;

    let body = insert_body();
    let expected = [
        ("/typed", "INSERT".to_owned()),
        ("/own", "INSERT".to_owned()),
        ("/raw", format!("{} Some(\"previous\")", body.len())),
    ];
    for (path, answer) in expected {
        let req = signed(PREVIOUS, body.clone()).path(path);
        let reply = send(layered.addr, &req).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(String::from_utf8(reply.body).unwrap(), answer);
        // The same route verified by the state's verifier refuses it.
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
        .layer(VerifyLayer::new(verifier()));
    let server = serve_axum(app, "router").await;
    let body = insert_body();
    let reply = send(server.addr, &signed(CURRENT, body.clone()).path("/a")).await;
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"INSERT"[..]));
    let hex = sign(CURRENT, Scheme::Hex, 0, &body);
    let reply = send(
        server.addr,
        &Req::post(Body::Full(body.clone()))
            .signature(hex)
            .path("/b"),
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
async fn verified_bytes_carries_what_was_verified_and_accepts_any_bytes() {
    #[cfg(feature = "axum")]
    async fn raw(raw: Verified<Bytes>) -> String {
        let (scheme, t, key, id, len) = (
            raw.scheme(),
            raw.timestamp().is_some(),
            raw.key_index(),
            raw.key_id().unwrap_or("-").to_owned(),
            raw.body_len(),
        );
        assert_eq!(raw.body().len() as u64, len);
        format!("{scheme} {t} {key} {id} {len}")
    }
    #[cfg(feature = "actix")]
    async fn actix_raw(raw: Verified<Bytes>) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().body(format!(
            "{} {} {} {} {}",
            raw.scheme(),
            raw.timestamp().is_some(),
            raw.key_index(),
            raw.key_id().unwrap_or("-"),
            raw.body().len()
        ))
    }
    let servers: Vec<Server> = vec![
        #[cfg(feature = "axum")]
        axum_route(raw).await,
        #[cfg(feature = "actix")]
        actix_route(actix_raw),
    ];
    // Not UTF-8, not JSON: the raw extractor promises only a valid signature.
    let body = b"\x00\xff binary \x80".to_vec();
    for addr in servers.iter().map(|s| s.addr) {
        let reply = send(addr, &signed(PREVIOUS, body.clone())).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, b"timestamped true 1 previous 11");
        let hex = sign(CURRENT, Scheme::Sha256, 0, &body);
        let reply = send(addr, &Req::post(Body::Full(body.clone())).signature(hex)).await;
        assert_eq!(reply.body, b"sha256 false 0 current 11");
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
async fn webhook_extractor_reads_the_users_own_type() {
    #[cfg(feature = "axum")]
    async fn handler(Webhook(row): Webhook<UserRow>) -> String {
        format!("{} {}", row.event, row.record.email)
    }
    #[cfg(feature = "actix")]
    async fn actix_handler(
        fluxbase_webhooks::actix::Webhook(row): fluxbase_webhooks::actix::Webhook<UserRow>,
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
        // A valid Fluxbase payload that does not fit the type.
        let reply = send(
            addr,
            &signed(
                CURRENT,
                br#"{"event":"TEST","record":{"test":true}}"#.to_vec(),
            ),
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.problem_code(), "invalid_payload");
    }
}

#[tokio::test]
async fn rejection_hook_replaces_the_answer_everywhere() {
    let hook = || {
        OnReject::new(|err| match err.code().http_status() {
            401 => Rejection::empty(StatusCode::UNAUTHORIZED),
            400 => Rejection::text(StatusCode::BAD_REQUEST, format!("bad: {}", err.code())),
            _ => Rejection::json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &serde_json::json!({ "error": err.code().as_str() }),
            ),
        })
    };
    let mut servers = Vec::new();
    #[cfg(feature = "tower")]
    {
        // Every case is refused before the handler would run.
        let handler = |Extension(event): Extension<Event>| async move { event.name().to_owned() };
        let layered = Router::new()
            .route("/webhooks", post(handler))
            .route_layer(VerifyLayer::new(verifier()).on_reject_with(hook()));
        servers.push(serve_axum(layered, "layer").await);
    }
    #[cfg(feature = "axum")]
    {
        let extractor = Router::new()
            .route("/webhooks", post(typed))
            .layer(Extension(hook()))
            .with_state(verifier());
        servers.push(serve_axum(extractor, "axum extractor").await);
    }
    #[cfg(feature = "actix")]
    {
        let (v, h) = (verifier(), hook());
        servers.push(serve_actix("actix extractor", move || {
            actix_web::App::new()
                .app_data(v.clone())
                .app_data(h.clone())
                .route("/webhooks", actix_web::web::post().to(actix_typed))
        }));
        let (v, h) = (verifier(), hook());
        servers.push(serve_actix("actix middleware", move || {
            actix_web::App::new().service(
                actix_web::web::scope("/webhooks")
                    .wrap(
                        fluxbase_webhooks::actix::Verify::new(v.clone()).on_reject_with(h.clone()),
                    )
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
async fn a_route_with_no_verifier_is_a_server_error() {
    let servers: Vec<Server> = vec![
        #[cfg(feature = "axum")]
        serve_axum(Router::new().route("/webhooks", post(typed)), "axum").await,
        #[cfg(feature = "actix")]
        serve_actix("actix", || {
            actix_web::App::new().route("/webhooks", actix_web::web::post().to(actix_typed))
        }),
    ];
    for server in &servers {
        let reply = send(server.addr, &signed(CURRENT, insert_body())).await;
        assert_eq!(reply.status, 500, "{}", server.name);
    }
    // Also found in an Extension when the state has none.
    #[cfg(feature = "axum")]
    {
        let extension = serve_axum(
            Router::new()
                .route("/webhooks", post(typed))
                .layer(Extension(verifier())),
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
    let layer = VerifyLayer::new(Verifier::new(CURRENT));
    assert_eq!(layer.verifier().max_body(), DEFAULT_BODY_LIMIT);
    let server = serve_axum(
        Router::new()
            .route("/webhooks", post(typed))
            .route_layer(VerifyLayer::new(Verifier::new(CURRENT).legacy_header(true))),
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

/// Collects everything the fmt subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide subscriber, installed once: spans are enabled per
/// callsite for the whole process, so a thread-local subscriber would race
/// with the other tests.
fn captured_log() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(captured.clone())
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
        Verifier::from_keys([
            fluxbase_webhooks::Key::new(CURRENT),
            fluxbase_webhooks::Key::new(PREVIOUS).id("tracing-test-key"),
        ])
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
            .with_state(verifier()),
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

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let accepted = format!(
        "fluxbase_webhook{{outcome=\"verified\" scheme=\"timestamped\" key_index=1 key_id=\"tracing-test-key\" body_len={}}}",
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
