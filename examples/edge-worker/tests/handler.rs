//! The handler's logic, natively: the same `Receiver` the wasm `fetch` export
//! runs.
#![cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use edge_worker::Receiver;
use fluxbase_webhooks::dedupe::MemoryStore;
use fluxbase_webhooks::{Scheme, Signer, Timestamp};

const SECRET: &str = "whsec-edge-test";
const BODY: &[u8] = br#"{"event":"INSERT","table":"orders","schema":"public","record":{"id":1},"timestamp":"2026-01-02T03:04:05Z"}"#;

/// A receiver with a replay store of its own, so that tests delivering
/// the same body do not see each other's deliveries as replays.
fn receiver() -> Receiver {
    Receiver::with_store(Some(SECRET.to_owned()), Arc::new(MemoryStore::new(100))).unwrap()
}

fn problem_code(body: &[u8]) -> String {
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
    doc["code"].as_str().unwrap().to_owned()
}

#[test]
fn a_fresh_delivery_is_accepted_and_named() {
    let header = Signer::new(SECRET).unwrap().sign_now(BODY).to_string();
    let reply = receiver().handle(Some(&header), BODY);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body, br#"{"received":"INSERT"}"#);
}

#[test]
fn refusals_carry_their_status_and_code() {
    let wrong = Signer::new("whsec-someone-else")
        .unwrap()
        .sign_now(BODY)
        .to_string();
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let stale = Signer::new(SECRET)
        .unwrap()
        .sign(Scheme::Timestamped, unix_now - 3600, BODY)
        .to_string();
    let cases = [
        (None, 401, "missing_signature"),
        (Some(wrong.as_str()), 401, "signature_mismatch"),
        (Some(stale.as_str()), 401, "timestamp_too_old"),
        (Some("t=soon,v1=00"), 401, "malformed_signature"),
    ];
    for (header, status, code) in cases {
        let reply = receiver().handle(header, BODY);
        assert_eq!(reply.status, status, "{header:?}: {reply:?}");
        assert_eq!(reply.content_type, "application/problem+json");
        assert_eq!(problem_code(&reply.body), code, "{header:?}");
    }
}

#[test]
fn a_signed_body_that_is_not_a_payload_is_400() {
    let body = b"not json";
    let header = Signer::new(SECRET).unwrap().sign_now(body).to_string();
    let reply = receiver().handle(Some(&header), body);
    assert_eq!(reply.status, 400);
    assert_eq!(problem_code(&reply.body), "invalid_payload");
}

#[test]
fn an_oversized_declared_length_is_refused_before_reading() {
    let receiver = receiver();
    assert!(receiver.admit(Some("1024")).is_ok());
    assert!(receiver.admit(None).is_ok());
    let reply = receiver.admit(Some("1048577")).unwrap_err();
    assert_eq!(reply.status, 413);
    assert_eq!(problem_code(&reply.body), "payload_too_large");
    // A body over the limit that declared no length is refused once read.
    let big = vec![b' '; 1024 * 1024 + 1];
    let header = Signer::new(SECRET).unwrap().sign_now(&big).to_string();
    assert_eq!(receiver.handle(Some(&header), &big).status, 413);
}

#[test]
fn no_secret_no_receiver() {
    for secret in [None, Some(String::new())] {
        let reply = Receiver::from_secret(secret).unwrap_err();
        assert_eq!(reply.status, 500);
        assert!(
            String::from_utf8(reply.body)
                .unwrap()
                .contains("FLUXBASE_WEBHOOK_SECRET")
        );
    }
}

#[test]
fn a_replay_is_refused_under_any_of_its_signatures() {
    let receiver = receiver();
    let body = format!(
        r#"{{"event":"DELETE","table":"orders","schema":"public","record":{{"id":7}},"timestamp":"{}"}}"#,
        Timestamp::now()
    );
    let body = body.as_bytes();
    let signer = Signer::new(SECRET).unwrap();
    let timestamped = signer.sign_now(body).to_string();
    let hex = signer.sign(Scheme::Hex, 0, body).to_string();
    assert_eq!(receiver.handle(Some(&timestamped), body).status, 200);
    for header in [&timestamped, &hex] {
        let reply = receiver.handle(Some(header), body);
        assert_eq!(reply.status, 409, "{header}: {reply:?}");
        assert_eq!(problem_code(&reply.body), "replayed");
    }
    assert!(receiver.replay_ttl() > std::time::Duration::from_secs(300));
}

#[test]
fn receivers_of_one_isolate_share_its_replay_store() {
    // `fetch` builds a receiver per request: the store is the isolate's.
    let body = format!(
        r#"{{"event":"INSERT","table":"isolate","schema":"public","record":{{"id":1}},"timestamp":"{}"}}"#,
        Timestamp::now()
    );
    let header = Signer::new(SECRET)
        .unwrap()
        .sign_now(body.as_bytes())
        .to_string();
    let fresh = || Receiver::from_secret(Some(SECRET.to_owned())).unwrap();
    assert_eq!(fresh().handle(Some(&header), body.as_bytes()).status, 200);
    assert_eq!(fresh().handle(Some(&header), body.as_bytes()).status, 409);
}
