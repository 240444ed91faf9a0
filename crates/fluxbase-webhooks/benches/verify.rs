//! Signature verification at 256 B, 1 KiB, 16 KiB and 1 MiB, with its limit
//! and its peers in the same group, so every ratio comes from one run:
//!
//! - `sha256 (limit)`: raw SHA-256 over the same bytes, the hardware limit;
//! - `hmac pre-keyed (floor)`: a RustCrypto HMAC-SHA256 keyed once and
//!   cloned, over the body alone: the least any HMAC verifier can do;
//! - `fluxhook/<scheme>`: [`Verifier::verify_at`] on a header value, each
//!   scheme, with the time given (the verification itself; the schemes
//!   without a timestamp also read the body's `timestamp` to date it);
//! - `fluxhook/timestamped+clock`: [`Verifier::verify`], which also reads the
//!   system clock, as the peers do;
//! - `fluxhook/headers`: the header looked up in an `http::HeaderMap`, then
//!   [`Verifier::verify`] (and the clock), the way the peers take their
//!   input;
//! - `svix` and `standardwebhooks`: those crates' `Webhook::verify`, over
//!   headers signed with their own `sign`;
//! - `naive`: what a hand-written verifier often does: key the HMAC per
//!   request, copy `"<t>." + body` into one buffer, `hex::encode` the tag and
//!   compare strings with `==` (not constant-time, no time window).
//!
//! The `fluxhook/<scheme>` headers are signed at the body's own date and
//! checked at that time; the others are signed when the group starts, well
//! inside the 300 s window of the verifiers that read the clock.
//!
//! `cargo bench -p fluxbase-webhooks --bench verify`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fluxbase_webhooks::{SIGNATURE_HEADER, Scheme, Signer, Verifier};
use fluxhook_testkit::unix_now;
use hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

const SECRET: &str = "whsec-benchmark-secret";
const MSG_ID: &str = "msg_2mH1zYk1bQeUu4TqU0cJ8pQx7dF";
/// The `timestamp` of every body: 2026-01-02T03:04:05.12Z.
const BODY_DATE: &str = "2026-01-02T03:04:05.12Z";
/// [`BODY_DATE`] in whole Unix seconds.
const BODY_UNIX: i64 = 1_767_323_045;

const SIZES: [(&str, usize); 4] = [
    ("256B", 256),
    ("1KiB", 1024),
    ("16KiB", 16 * 1024),
    ("1MiB", 1024 * 1024),
];

/// A JSON object of exactly `size` bytes (the peers want UTF-8 bodies).
fn body(size: usize) -> Vec<u8> {
    let mut body =
        br#"{"event":"INSERT","table":"events","schema":"public","record":{"pad":""#.to_vec();
    let tail = format!(r#""}},"timestamp":"{BODY_DATE}"}}"#);
    let tail = tail.as_bytes();
    let pad = size.saturating_sub(body.len() + tail.len());
    body.extend((0..pad).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]));
    body.extend_from_slice(tail);
    assert_eq!(body.len(), size);
    body
}

/// The hand-written verifier this crate replaces (see the module docs).
fn naive_verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let (mut t, mut sig) = ("", "");
    for piece in header.split(',') {
        match piece.split_once('=') {
            Some(("t", v)) => t = v,
            Some(("v1", v)) => sig = v,
            _ => {}
        }
    }
    let mut message = Vec::with_capacity(t.len() + 1 + body.len());
    message.extend_from_slice(t.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(&message);
    hex::encode(mac.finalize().into_bytes()) == sig
}

/// The three headers svix and standardwebhooks read (`<prefix>-id`,
/// `<prefix>-timestamp`, `<prefix>-signature`).
fn peer_headers(names: [&'static str; 3], signature: &str, t: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in names.into_iter().zip([MSG_ID, &t.to_string(), signature]) {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

fn verify(c: &mut Criterion) {
    let (Ok(verifier), Ok(signer)) = (Verifier::new(SECRET), Signer::new(SECRET)) else {
        panic!("the benchmark secret is not empty");
    };
    let keyed = HmacSha256::new_from_slice(SECRET.as_bytes()).ok();
    let svix = svix::webhooks::Webhook::from_bytes(SECRET.as_bytes().to_vec()).ok();
    let standard = standardwebhooks::Webhook::from_bytes(SECRET.as_bytes().to_vec()).ok();

    for (label, size) in SIZES {
        let body = body(size);
        let t = unix_now();
        let dated = SystemTime::UNIX_EPOCH + Duration::from_secs(BODY_UNIX.unsigned_abs());
        let mut group = c.benchmark_group(format!("verify/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 64 * 1024 {
            group.sample_size(20);
            group.measurement_time(Duration::from_secs(3));
        }

        group.bench_function("sha256 (limit)", |b| {
            b.iter(|| Sha256::digest(black_box(&body)))
        });
        if let Some(keyed) = &keyed {
            group.bench_function("hmac pre-keyed (floor)", |b| {
                b.iter(|| keyed.clone().chain_update(black_box(&body)).finalize())
            });
        }
        for scheme in Scheme::ALL {
            let header = signer.sign(scheme, BODY_UNIX, &body).to_string();
            let verified = verifier.verify_at(&header, &body, dated);
            assert_eq!(verified.map(|v| v.timestamp()), Ok(Some(BODY_UNIX)));
            group.bench_with_input(BenchmarkId::new("fluxhook", scheme), &header, |b, h| {
                b.iter(|| verifier.verify_at(black_box(h), black_box(&body), dated))
            });
        }
        let header = signer.sign(Scheme::Timestamped, t, &body).to_string();
        assert!(verifier.verify(&header, &body).is_ok());
        group.bench_function("fluxhook/timestamped+clock", |b| {
            b.iter(|| verifier.verify(black_box(&header), black_box(&body)))
        });
        let mut map = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&header) {
            map.insert(SIGNATURE_HEADER, v);
        }
        let from_map = |map: &HeaderMap, body: &[u8]| {
            let value = map
                .get(SIGNATURE_HEADER)
                .map_or(&[][..], HeaderValue::as_bytes);
            verifier.verify(value, body)
        };
        assert!(from_map(&map, &body).is_ok());
        group.bench_function("fluxhook/headers", |b| {
            b.iter(|| from_map(black_box(&map), black_box(&body)))
        });
        if let Some(svix) = &svix {
            let signature = svix.sign(MSG_ID, t, &body).unwrap_or_default();
            let headers = peer_headers(
                ["svix-id", "svix-timestamp", "svix-signature"],
                &signature,
                t,
            );
            assert!(svix.verify(&body, &headers).is_ok());
            group.bench_function("svix", |b| {
                b.iter(|| svix.verify(black_box(&body), black_box(&headers)))
            });
        }
        if let Some(standard) = &standard {
            let signature = standard.sign(MSG_ID, t, &body).unwrap_or_default();
            let headers = peer_headers(
                ["webhook-id", "webhook-timestamp", "webhook-signature"],
                &signature,
                t,
            );
            assert!(standard.verify(&body, &headers).is_ok());
            group.bench_function("standardwebhooks", |b| {
                b.iter(|| standard.verify(black_box(&body), black_box(&headers)))
            });
        }
        assert!(naive_verify(SECRET.as_bytes(), &header, &body));
        group.bench_function("naive (hex::encode + ==)", |b| {
            b.iter(|| naive_verify(SECRET.as_bytes(), black_box(&header), black_box(&body)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = verify
}
criterion_main!(benches);
