//! What the receive flow itself costs, beyond HMAC and the parse: one
//! request through `VerifyLayer` around a do-nothing inner service, next to
//! the same inner service called directly and to the verification and parse
//! alone, at 1 KiB. Every request carries a new delivery (signed outside the
//! timed part), so the replay store does its real work.
//!
//! - `inner only`: the inner service, no layer (the baseline);
//! - `verify + parse (floor)`: `Verifier::verify` and `Event::from_slice`;
//! - `layer, replay store`: `VerifyLayer` with the default policy (replays
//!   refused and duplicates marked by the in-memory store, budget, span,
//!   metrics), its store and window sized for this rate (see below);
//! - `layer, no dedupe`: the same without the replay store.
//!
//! The layer's own work is `layer - inner only - floor`.
//!
//! `cargo bench -p fluxbase-webhooks --bench receive`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fluxbase_webhooks::dedupe::{Dedupe, MemoryStore};
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Event, Receiver, Signer, Timestamp, Verifier};
use fluxhook_testkit::block_on;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};

const SECRET: &str = "whsec-benchmark-secret";

/// A 1 KiB server payload dated now, new at every call.
fn delivery(n: u64) -> (Bytes, String) {
    let head = format!(
        r#"{{"event":"INSERT","table":"events","schema":"public","record":{{"n":{n},"pad":""#
    );
    let tail = format!(r#""}},"timestamp":"{}"}}"#, Timestamp::now());
    let pad = 1024usize.saturating_sub(head.len() + tail.len());
    let body = format!("{head}{}{tail}", "x".repeat(pad));
    let header = Signer::new(SECRET)
        .map(|s| s.sign_now(body.as_bytes()).to_string())
        .unwrap_or_default();
    (Bytes::from(body), header)
}

fn request(body: Bytes, header: &str) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(body));
    if let Ok(value) = header.parse() {
        req.headers_mut().insert("x-fluxbase-signature", value);
    }
    req
}

#[derive(Clone)]
struct Inner;

impl Service<Request<Full<Bytes>>> for Inner {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        black_box(req);
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

fn bench(c: &mut Criterion) {
    let Ok(verifier) = Verifier::new(SECRET) else {
        return;
    };
    let mut n = 0u64;
    let mut next = move || {
        n += 1;
        delivery(n)
    };
    let mut group = c.benchmark_group("receive/1KiB");
    group.bench_function("inner only", |b| {
        b.iter_batched(
            || request(next().0, ""),
            |req| block_on(Inner.oneshot(req)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("verify + parse (floor)", |b| {
        b.iter_batched(
            &mut next,
            |(body, header)| {
                let verified = verifier.verify(&header, &body);
                (verified, Event::from_slice(&body))
            },
            BatchSize::SmallInput,
        )
    });
    // The default store keeps a replay key per delivery while it can verify
    // (300 s): 100,000 keys last about 330 deliveries/s, and a store full of
    // them sheds load (503). This bench sends a few hundred thousand a
    // second, so its receiver is sized for that: a 2 s window (each delivery
    // is dated when signed) and 1,000,000 keys, every other setting default.
    let sized = Verifier::builder()
        .secret(SECRET)
        .tolerance(Duration::from_secs(2))
        .build();
    let Ok(sized) = sized else { return };
    let replay_store = Receiver::builder(sized)
        .dedupe(Dedupe::new(MemoryStore::new(1_000_000)))
        .build();
    for (name, receiver) in [
        ("layer, replay store", replay_store),
        (
            "layer, no dedupe",
            Receiver::builder(verifier.clone()).without_dedupe().build(),
        ),
    ] {
        let service = VerifyLayer::new(receiver).layer(Inner);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let (body, header) = next();
                    request(body, &header)
                },
                |req| {
                    let response = block_on(service.clone().oneshot(req));
                    assert!(response.is_ok_and(|r| r.status() == 200));
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
