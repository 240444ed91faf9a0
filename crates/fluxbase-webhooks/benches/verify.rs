//! Signature verification throughput: each scheme at 1 KiB and 1 MiB, next to
//! raw SHA-256 over the same bytes (the hardware limit).
//!
//! `cargo bench -p fluxbase-webhooks --bench verify`

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fluxbase_webhooks::{Scheme, Signer, Verifier};
use sha2::{Digest, Sha256};

const SECRET: &str = "whsec-benchmark-secret";
const T: i64 = 1_700_000_000;

fn verify(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(T as u64);
    let verifier = Verifier::new(SECRET).body_limit(u64::MAX);
    let signer = Signer::new(SECRET);
    for (label, size) in [("1KiB", 1024usize), ("1MiB", 1024 * 1024)] {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut group = c.benchmark_group(format!("verify/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 64 * 1024 {
            group.sample_size(30);
        }
        group.bench_function("sha256 (limit)", |b| {
            b.iter(|| Sha256::digest(black_box(&body)))
        });
        for scheme in Scheme::ALL {
            let header = signer.sign(scheme, T, &body).to_string();
            group.bench_with_input(BenchmarkId::new("fluxhook", scheme), &header, |b, h| {
                b.iter(|| verifier.verify_at(black_box(h), black_box(&body), now))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
