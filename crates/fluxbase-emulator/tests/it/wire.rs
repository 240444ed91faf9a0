//! What a delivery puts on the wire and how its answer is read, against a
//! raw HTTP server that sees the request exactly as sent. The referee is
//! the server's Go client (`sendWebhookSync` in
//! `internal/webhook/webhook.go`, over `net/http`'s default transport).

use std::io::Write as _;

use fluxbase_emulator::{Flavor, RunningEmulator};
use fluxbase_webhooks::client::TestResult;
use serde_json::{Value, json};

use crate::support::{
    WireReceiver, WireRequest, closed_port_url, emulator, raw_response, raw_webhook,
    service_client, settle,
};

/// What the server sends with every delivery: Go adds `Host`,
/// `Content-Length` and `Accept-Encoding: gzip` to the request's own
/// headers, and no `Accept`.
const SERVER_HEADERS: [&str; 7] = [
    "Accept-Encoding",
    "Content-Length",
    "Content-Type",
    "Host",
    "User-Agent",
    "X-Fluxbase-Signature",
    "X-Webhook-Signature",
];

fn ok() -> Option<Vec<u8>> {
    Some(raw_response("200 OK", &[], b""))
}

/// An emulator (server flavor) and a raw receiver answering with `answer`.
async fn start(
    answer: impl Fn(&WireRequest) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (RunningEmulator, WireReceiver) {
    (
        emulator(Flavor::Server).await,
        WireReceiver::start(answer).await,
    )
}

fn webhook(url: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": "wire", "url": url, "secret": "k", "enabled": true, "max_retries": 1,
        "events": [{"table": "users", "operations": ["*"]}],
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

fn assert_server_request(req: &WireRequest, host: &str) {
    assert_eq!(req.header("user-agent"), Some("Fluxbase-Webhooks/1.0"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept-encoding"), Some("gzip"));
    assert_eq!(req.header("accept"), None);
    assert_eq!(req.header("host"), Some(host));
    assert_eq!(
        req.header("content-length"),
        Some(req.body.len().to_string().as_str())
    );
}

/// A plain delivery carries exactly the server's headers, their names as Go
/// writes them; the next one reuses the connection.
#[tokio::test]
async fn plain_delivery_headers_are_the_servers() {
    let (emu, mut wire) = start(|_| ok()).await;
    let host = wire.host().to_owned();
    raw_webhook(&emu, webhook(&format!("{}/hook", wire.base), json!({}))).await;
    emu.trigger_sample("INSERT").unwrap();
    emu.trigger_sample("UPDATE").unwrap();
    settle(&emu).await;

    let got = wire.drain();
    assert_eq!(got.len(), 2);
    for req in &got {
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/hook"));
        assert_eq!(req.names(), SERVER_HEADERS);
        assert_server_request(req, &host);
    }
    assert_eq!(
        got[0].connection, got[1].connection,
        "one kept-alive connection"
    );
    emu.shutdown().await;
}

/// Custom headers are sent as Go canonicalizes them, may replace the user
/// agent and may add an `Accept`; nothing else changes.
#[tokio::test]
async fn custom_headers_are_added_to_the_servers() {
    let (emu, mut wire) = start(|_| ok()).await;
    let host = wire.host().to_owned();
    let headers = json!({"x-env": "staging", "user-agent": "custom/1",
                         "Authorization": "Bearer t", "accept": "text/plain"});
    raw_webhook(
        &emu,
        webhook(&format!("{}/hook", wire.base), json!({"headers": headers})),
    )
    .await;
    emu.trigger_sample("INSERT").unwrap();
    let req = wire.next().await;
    assert_eq!(
        req.names(),
        [
            "Accept",
            "Accept-Encoding",
            "Authorization",
            "Content-Length",
            "Content-Type",
            "Host",
            "User-Agent",
            "X-Env",
            "X-Fluxbase-Signature",
            "X-Webhook-Signature",
        ]
    );
    assert_eq!(req.header("user-agent"), Some("custom/1"));
    assert_eq!(req.header("accept"), Some("text/plain"));
    assert_eq!(req.header("authorization"), Some("Bearer t"));
    assert_eq!(req.header("x-env"), Some("staging"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept-encoding"), Some("gzip"));
    assert_eq!(req.header("host"), Some(host.as_str()));
    emu.shutdown().await;
}

/// A URL's user info goes as Basic authorization (decoded, as Go sends it),
/// not in `Host`.
#[tokio::test]
async fn user_info_is_sent_as_basic_authorization() {
    let (emu, mut wire) = start(|_| ok()).await;
    let host = wire.host().to_owned();
    raw_webhook(
        &emu,
        webhook(&format!("http://ann:p%40ss@{host}/hook"), json!({})),
    )
    .await;
    emu.trigger_sample("INSERT").unwrap();
    let req = wire.next().await;
    let mut expected = SERVER_HEADERS.to_vec();
    expected.insert(0, "Authorization");
    expected.sort_unstable();
    assert_eq!(req.names(), expected);
    // base64("ann:p@ss")
    assert_eq!(req.header("authorization"), Some("Basic YW5uOnBAc3M="));
    assert_server_request(&req, &host);
    emu.shutdown().await;
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

/// A gzip-encoded error answer is recorded decoded, as Go's transport
/// decodes what it asked for; when the webhook's own headers choose the
/// encoding, Go decodes nothing and neither does the emulator.
#[tokio::test]
async fn gzip_error_bodies_are_recorded_decoded() {
    let (emu, mut wire) = start(|_| {
        Some(raw_response(
            "500 Internal Server Error",
            &[("Content-Encoding", "gzip")],
            &gzip(b"the endpoint said no"),
        ))
    })
    .await;
    let url = format!("{}/hook", wire.base);
    let plain = raw_webhook(&emu, webhook(&url, json!({}))).await;
    let chosen = raw_webhook(
        &emu,
        webhook(&url, json!({"headers": {"Accept-Encoding": "gzip"}})),
    )
    .await;
    emu.trigger_sample("INSERT").unwrap();
    settle(&emu).await;
    let sent = wire.drain();
    assert_eq!(sent.len(), 2);
    for req in &sent {
        let encodings: Vec<_> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(encodings, ["gzip"]);
    }

    let client = service_client(&emu);
    let error = |id: String| {
        let client = client.clone();
        async move {
            let log = client.webhooks().deliveries(&id, None).await.unwrap();
            assert_eq!(log.len(), 1);
            log[0].error.clone().unwrap()
        }
    };
    assert_eq!(error(plain).await, "HTTP 500: the endpoint said no");
    let raw = error(chosen).await;
    assert!(raw.starts_with("HTTP 500: \u{1f}\u{fffd}"), "{raw:?}");
    emu.shutdown().await;
}

/// Answers by path: `/see` 303 and `/temp` 307 to `/final`, `/chain/N` a
/// chain of N 302s ending in 200, `/noloc` a 302 without `Location`.
fn redirector(req: &WireRequest) -> Option<Vec<u8>> {
    let to = |status: &str, location: &str| {
        Some(raw_response(status, &[("Location", location)], b"moved"))
    };
    match req.path.as_str() {
        "/see" => to("303 See Other", "/final"),
        "/temp" => to("307 Temporary Redirect", "/final"),
        "/noloc" => Some(raw_response("302 Found", &[], b"nope")),
        "/chain/0" | "/final" => ok(),
        path => match path
            .strip_prefix("/chain/")
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(n) => to("302 Found", &format!("/chain/{}", n - 1)),
            None => Some(raw_response("404 Not Found", &[], b"")),
        },
    }
}

/// Runs the test endpoint of a webhook for `path`; returns its result and
/// the requests it made.
async fn test_delivery(path: &str) -> (TestResult, Vec<WireRequest>, String) {
    let (emu, mut wire) = start(redirector).await;
    let id = raw_webhook(&emu, webhook(&format!("{}{path}", wire.base), json!({}))).await;
    let result = service_client(&emu).webhooks().test(&id).await.unwrap();
    let sent = wire.drain();
    emu.shutdown().await;
    (result, sent, wire.base.clone())
}

/// 303: the follow-up is a GET without body, keeping the first request's
/// headers (`Content-Type` too) plus a `Referer`, as Go's client sends it.
#[tokio::test]
async fn see_other_is_followed_with_a_get_without_body() {
    let (result, sent, base) = test_delivery("/see").await;
    assert!(result.success, "{result:?}");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/see")
    );
    let get = &sent[1];
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/final"));
    assert!(get.body.is_empty());
    assert_eq!(
        get.names(),
        [
            "Accept-Encoding",
            "Content-Type",
            "Host",
            "Referer",
            "User-Agent",
            "X-Fluxbase-Signature",
            "X-Webhook-Signature",
        ]
    );
    assert_eq!(get.header("referer"), Some(format!("{base}/see").as_str()));
    assert_eq!(get.header("content-type"), Some("application/json"));
    assert_eq!(
        get.header("x-fluxbase-signature"),
        sent[0].header("x-fluxbase-signature")
    );
}

/// 307: the follow-up is the same POST with the same body.
#[tokio::test]
async fn temporary_redirect_keeps_the_post_and_its_body() {
    let (result, sent, base) = test_delivery("/temp").await;
    assert!(result.success, "{result:?}");
    assert_eq!(sent.len(), 2);
    let again = &sent[1];
    assert_eq!(
        (again.method.as_str(), again.path.as_str()),
        ("POST", "/final")
    );
    assert_eq!(again.body, sent[0].body);
    assert!(!again.body.is_empty());
    let mut expected = SERVER_HEADERS.to_vec();
    expected.push("Referer");
    expected.sort_unstable();
    assert_eq!(again.names(), expected);
    assert_eq!(
        again.header("referer"),
        Some(format!("{base}/temp").as_str())
    );
    assert_server_request(again, base.trim_start_matches("http://"));
}

/// Go's client makes at most 10 requests: 9 redirects are followed, the
/// 10th fails with its words and the `Location` as given.
#[tokio::test]
async fn ten_redirects_are_too_many() {
    let (result, sent, _) = test_delivery("/chain/9").await;
    assert!(result.success, "{result:?}");
    assert_eq!(sent.len(), 10);

    let (result, sent, _) = test_delivery("/chain/10").await;
    assert!(!result.success);
    assert_eq!(
        result.error.as_deref(),
        Some(r#"failed to send request: Post "/chain/0": stopped after 10 redirects"#)
    );
    assert_eq!(sent.len(), 10);
    assert_eq!(sent[9].path, "/chain/1");

    let (result, sent, _) = test_delivery("/chain/11").await;
    assert_eq!(
        result.error.as_deref(),
        Some(r#"failed to send request: Post "/chain/1": stopped after 10 redirects"#)
    );
    assert_eq!(sent.len(), 10);
}

/// A 3xx without `Location` is the final answer: it fails as any non-2xx.
#[tokio::test]
async fn a_redirect_without_location_fails() {
    let (result, sent, _) = test_delivery("/noloc").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(result.error.as_deref(), Some("HTTP 302: nope"));
}

/// The webhook's `timeout_seconds` bounds the wait for the answer's
/// headers (Go's words), then its body (what came is recorded).
#[tokio::test]
async fn timeouts_are_recorded_in_gos_words() {
    let (emu, mut wire) = start(|req| match req.path.as_str() {
        "/silent" => None,
        // Headers, part of the body, then nothing.
        _ => Some(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\npartial".to_vec(),
        ),
    })
    .await;
    let silent = format!("{}/silent", wire.base);
    let stalls = format!("{}/stalls", wire.base);
    let client = service_client(&emu);
    for (url, expected) in [
        (
            &silent,
            format!(
                "failed to send request: Post \"{silent}\": context deadline exceeded \
                 (Client.Timeout exceeded while awaiting headers)"
            ),
        ),
        (&stalls, "HTTP 500: partial".to_owned()),
    ] {
        let id = raw_webhook(&emu, webhook(url, json!({"timeout_seconds": 1}))).await;
        let result = client.webhooks().test(&id).await.unwrap();
        assert_eq!(result.error.as_deref(), Some(expected.as_str()));
        client.webhooks().delete(&id).await.unwrap();
    }
    assert_eq!(wire.drain().len(), 2);
    emu.shutdown().await;
}

/// Nothing listening: Go's dialer's words.
#[tokio::test]
async fn a_refused_connection_is_recorded_in_gos_words() {
    let emu = emulator(Flavor::Server).await;
    let url = closed_port_url().await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/hook")
        .to_owned();
    let id = raw_webhook(&emu, webhook(&url, json!({}))).await;
    let result = service_client(&emu).webhooks().test(&id).await.unwrap();
    assert_eq!(
        result.error.as_deref(),
        Some(
            format!(
                "failed to send request: Post \"{url}\": dial tcp {addr}: connect: connection refused"
            )
            .as_str()
        )
    );
    emu.shutdown().await;
}
