//! The `tower_layer` fuzz target's property, kept apart because it needs the
//! `tower` feature.

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Code, Event, Scheme, Signer, Verified, Verifier};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use tower_layer::Layer;
use tower_service::Service;

const SECRET: &str = "fuzz-secret";
const LIMIT: u64 = 4096;
const NAMES: [&str; 5] = [
    "x-fluxbase-signature",
    "x-webhook-signature",
    "content-length",
    "content-encoding",
    "content-type",
];

/// Polls a future that never waits (every body here is already in memory
/// and no timer runs without a runtime) to completion.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// `VerifyLayer` on arbitrary headers and bodies: never panics; answers
/// 200 only for what the core verifier accepts, with the exact bytes and
/// the event passed on; otherwise a problem document whose code matches
/// the status and, when no declared length or encoding interferes, the
/// core verifier's own verdict.
pub fn tower_layer(data: &[u8]) {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let (n_headers, mut rest) = rest
        .split_first()
        .map_or((0, &[][..]), |(n, r)| (*n % 6, r));
    let mut headers = Vec::new();
    for _ in 0..n_headers {
        let [idx, len, tail @ ..] = rest else { break };
        let len = usize::from(*len).min(tail.len());
        headers.push((NAMES[usize::from(*idx) % NAMES.len()], &tail[..len]));
        rest = &tail[len..];
    }
    let body = rest;
    let mut request = Request::post("/webhooks");
    if mode & 1 == 1 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as i64);
        let header = Signer::new(SECRET)
            .sign(Scheme::Timestamped, now, body)
            .to_string();
        request = request.header(NAMES[0], header);
    }
    for (name, value) in &headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(HeaderName::from_static(name), value);
        }
    }
    let Ok(request) = request.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    let interfering = request.headers().contains_key("content-length")
        || request.headers().contains_key("content-encoding");
    let verifier = Verifier::new(SECRET).body_limit(LIMIT);
    let expected = verifier
        .verify_headers(request.headers(), body)
        .and_then(|v| Event::from_slice(body).map(|_| v));

    let inner = tower::service_fn(|req: Request<Full<Bytes>>| async move {
        assert!(req.extensions().get::<Verified>().is_some());
        assert!(req.extensions().get::<Event>().is_some());
        let bytes = req.into_body().collect().await.map(|c| c.to_bytes());
        Ok::<_, Infallible>(Response::new(Full::new(bytes.unwrap_or_default())))
    });
    let mut service = VerifyLayer::new(verifier).layer(inner);
    let response = match block_on(service.call(request)) {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let answer = block_on(response.into_body().collect())
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if status == 200 {
        assert!(
            expected.is_ok(),
            "layer accepted what the core refuses: {expected:?}"
        );
        assert_eq!(
            answer.as_ref(),
            body,
            "the handler did not get the exact bytes"
        );
        return;
    }
    let doc: serde_json::Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|e| panic!("status {status} without a problem document: {e}"));
    let code = doc["code"].as_str().and_then(Code::from_str_code);
    let code = code.unwrap_or_else(|| panic!("unknown code in {doc}"));
    assert_eq!(code.http_status(), status, "{doc}");
    if body.len() as u64 > LIMIT {
        assert_eq!(code, Code::PayloadTooLarge, "{doc}");
    } else if !interfering {
        match &expected {
            Ok(_) => panic!("layer refused ({doc}) what the core accepts"),
            Err(e) => assert_eq!(e.code(), code, "{doc}"),
        }
    }
}
