//! What recording one delivery costs in a `RedisStore`, against a local
//! `redis-server` the bench starts on a free loopback port
//! (`fluxhook_testkit::RedisServer`, no persistence), one delivery at a time
//! (what one request handler waits for):
//!
//! - `record_delivery (one script)`: [`DedupeStore::record_delivery`], the
//!   replay key and the event key in one round trip, as receivers call it;
//! - `two inserts`: [`DedupeStore::insert_guarded`] then
//!   [`DedupeStore::insert`], two round trips (the trait's default).
//!
//! Every delivery has new keys, so both paths write both.
//!
//! `cargo bench -p fluxbase-webhooks --features redis --bench dedupe`

// A step that fails (Redis gone) ends the bench, as it fails a test.
#![allow(clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluxbase_webhooks::dedupe::{DedupeStore, RedisStore, ReplayKey};
use fluxhook_testkit::RedisServer;

const TTL: Duration = Duration::from_secs(60);

/// Keys no earlier iteration used.
fn keys() -> (String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    (format!("replay:{n:064}"), format!("event:{n:064}"))
}

fn benches(c: &mut Criterion) {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt
        .block_on(RedisStore::connect(redis.url()))
        .expect("connect the store");
    let mut group = c.benchmark_group("dedupe/redis");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("record_delivery (one script)", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<_> = (0..iters).map(|_| keys()).collect();
            rt.block_on(async {
                let started = Instant::now();
                for (replay, event) in &keys {
                    let replay = ReplayKey::new(replay, TTL, true);
                    let recorded = store
                        .record_delivery(replay, Some((event, TTL)))
                        .await
                        .expect("record");
                    assert!(recorded.replay);
                }
                started.elapsed()
            })
        });
    });
    group.bench_function("two inserts", |b| {
        b.iter_custom(|iters| {
            let keys: Vec<_> = (0..iters).map(|_| keys()).collect();
            rt.block_on(async {
                let started = Instant::now();
                for (replay, event) in &keys {
                    assert!(store.insert_guarded(replay, TTL).await.expect("replay"));
                    assert!(store.insert(event, TTL).await.expect("event"));
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(dedupe, benches);
criterion_main!(dedupe);
