//! The `fetch` export in a JavaScript engine: run by `wasm-bindgen-test-runner`
//! under Node.js (`scripts/test.sh` does). Signing and verifying read the
//! clock, which on this target is JavaScript's `Date.now()`: the standard
//! library's `SystemTime::now()` would panic here.
#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used)]

use fluxbase_webhooks::{Scheme, Signer};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Headers, Request, RequestInit, Response};

const SECRET: &str = "whsec-edge-test";
const BODY: &[u8] = br#"{"event":"UPDATE","table":"orders","schema":"public","record":{"id":1},"old_record":{"id":1},"timestamp":"2026-01-02T03:04:05Z"}"#;

fn request(signature: Option<&str>, body: &[u8]) -> Request {
    let headers = Headers::new().unwrap();
    headers.set("content-type", "application/json").unwrap();
    if let Some(signature) = signature {
        headers.set("x-fluxbase-signature", signature).unwrap();
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&js_sys::Uint8Array::from(body));
    Request::new_with_str_and_init("http://127.0.0.1/webhooks", &init).unwrap()
}

async fn answer(request: Request, secret: Option<&str>) -> (u16, String) {
    let response: Response = edge_worker::fetch(request, secret.map(str::to_owned))
        .await
        .unwrap()
        .dyn_into()
        .unwrap();
    let text = JsFuture::from(response.text().unwrap()).await.unwrap();
    (response.status(), text.as_string().unwrap())
}

#[wasm_bindgen_test]
async fn a_fresh_delivery_verifies_with_the_hosts_clock() {
    let header = Signer::new(SECRET).unwrap().sign_now(BODY).to_string();
    let (status, body) = answer(request(Some(&header), BODY), Some(SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"{"received":"UPDATE"}"#);
}

#[wasm_bindgen_test]
async fn a_replayed_request_is_refused() {
    let body = format!(
        r#"{{"event":"INSERT","table":"replayed","schema":"public","record":{{"id":2}},"timestamp":"{}"}}"#,
        fluxbase_webhooks::Timestamp::now()
    );
    let header = Signer::new(SECRET)
        .unwrap()
        .sign_now(body.as_bytes())
        .to_string();
    let (status, text) = answer(request(Some(&header), body.as_bytes()), Some(SECRET)).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = answer(request(Some(&header), body.as_bytes()), Some(SECRET)).await;
    assert_eq!(status, 409, "{text}");
    assert!(text.contains(r#""code":"replayed""#), "{text}");
}

#[wasm_bindgen_test]
async fn a_delivery_signed_an_hour_ago_is_too_old() {
    // The clock is the real time, not the epoch: an hour-old timestamp is
    // refused, and a current one (above) is not.
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let header = Signer::new(SECRET)
        .unwrap()
        .sign(Scheme::Timestamped, now - 3600, BODY)
        .to_string();
    let (status, body) = answer(request(Some(&header), BODY), Some(SECRET)).await;
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"timestamp_too_old""#), "{body}");
}

#[wasm_bindgen_test]
async fn a_wrong_signature_or_no_secret_is_refused() {
    let header = Signer::new("whsec-someone-else")
        .unwrap()
        .sign_now(BODY)
        .to_string();
    let (status, body) = answer(request(Some(&header), BODY), Some(SECRET)).await;
    assert_eq!(status, 401);
    assert!(body.contains(r#""code":"signature_mismatch""#), "{body}");
    let (status, _) = answer(request(None, BODY), Some(SECRET)).await;
    assert_eq!(status, 401);
    let (status, _) = answer(request(Some(&header), BODY), None).await;
    assert_eq!(status, 500);
}

#[wasm_bindgen_test]
async fn every_api_that_reads_the_clock_works_here() {
    use fluxbase_webhooks::dedupe::{DedupeStore, MemoryStore};
    use fluxbase_webhooks::{Timestamp, Verifier};

    let now_ms = js_sys::Date::now();
    let stamp = Timestamp::now();
    let stamp_ms = stamp.unix_timestamp() as f64 * 1000.0;
    assert!((stamp_ms - now_ms).abs() < 5_000.0, "{stamp} vs {now_ms}");

    let verifier = Verifier::new(SECRET).unwrap();
    let header = Signer::new(SECRET).unwrap().sign_now(BODY).to_string();
    assert_eq!(
        verifier.verify_event(&header, BODY).unwrap().name(),
        "UPDATE"
    );
    let mut incremental = verifier.begin(&header).unwrap();
    incremental.update(BODY);
    assert_eq!(incremental.finish(BODY).unwrap().key_index(), 0);

    // Expiry in the in-memory replay store runs on the monotonic clock.
    let store = MemoryStore::new(10);
    let ttl = std::time::Duration::from_secs(60);
    assert!(store.insert("event:edge", ttl).await.unwrap());
    assert!(!store.insert("event:edge", ttl).await.unwrap());
}
