//! Payload parsing on real-shaped bodies of both wire shapes, and verify +
//! parse on the server's 574-byte `INSERT` on `auth.users`.
//!
//! Groups `parse/<payload>` put side by side:
//!
//! - `fluxhook Event`: [`Event::from_slice`], the typed enum (strings owned,
//!   records kept as raw JSON);
//! - `fluxhook WebhookPayload (borrowing)`: [`WebhookPayload::from_slice`],
//!   strings borrowed from the body, records kept as `&RawValue`;
//! - `serde_json::Value`: the untyped tree;
//! - `owned typed struct`: a struct a user would write, every field typed and
//!   owned, the record included.
//!
//! Group `verify+parse/row_insert` does the same after verifying the
//! timestamped signature, as a receiver does.
//!
//! `cargo bench -p fluxbase-webhooks --bench parse`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluxbase_webhooks::{Event, Signer, Verifier, WebhookPayload};
use serde::Deserialize;

const SECRET: &str = "whsec-benchmark-secret";

/// `(name, body)`: what the server sends for a sign-up and for an update of
/// the same user, and the documented shape of `user.created`.
const PAYLOADS: [(&str, &[u8]); 3] = [
    ("row_insert", include_bytes!("data/row_insert.json")),
    ("row_update", include_bytes!("data/row_update.json")),
    ("documented", include_bytes!("data/documented.json")),
];

/// An owned, fully typed struct for either wire shape, as a user would write
/// it with serde.
#[derive(Deserialize)]
#[allow(dead_code)]
struct OwnedPayload {
    event: String,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    record: Option<UserRow>,
    #[serde(default)]
    old_record: Option<UserRow>,
    timestamp: String,
    #[serde(default)]
    data: Option<UserData>,
    #[serde(default)]
    signature: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct UserRow {
    id: String,
    role: String,
    email: String,
    created_at: String,
    updated_at: String,
    totp_secret: Option<String>,
    app_metadata: AppMetadata,
    backup_codes: Option<Vec<String>>,
    totp_enabled: bool,
    password_hash: String,
    user_metadata: UserMetadata,
    email_verified: bool,
    failed_login_attempts: u32,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct AppMetadata {
    provider: String,
    providers: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct UserMetadata {
    name: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct UserData {
    user_id: String,
    email: String,
    email_verified: bool,
    role: String,
    created_at: String,
    user_metadata: UserMetadata,
}

fn parse(c: &mut Criterion) {
    for (name, body) in PAYLOADS {
        assert!(!matches!(
            Event::from_slice(body),
            Ok(Event::Unknown { .. } | Event::Unparsed { .. }) | Err(_)
        ));
        assert!(serde_json::from_slice::<OwnedPayload>(body).is_ok());
        let mut group = c.benchmark_group(format!("parse/{name}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("fluxhook Event", |b| {
            b.iter(|| Event::from_slice(black_box(body)))
        });
        group.bench_function("fluxhook WebhookPayload (borrowing)", |b| {
            b.iter(|| WebhookPayload::from_slice(black_box(body)).map(|p| black_box(p).shape()))
        });
        group.bench_function("serde_json::Value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)))
        });
        group.bench_function("owned typed struct", |b| {
            b.iter(|| serde_json::from_slice::<OwnedPayload>(black_box(body)))
        });
        group.finish();
    }
}

fn verify_and_parse(c: &mut Criterion) {
    let (name, body) = PAYLOADS[0];
    let (Ok(verifier), Ok(signer)) = (Verifier::new(SECRET), Signer::new(SECRET)) else {
        panic!("the benchmark secret is not empty");
    };
    let header = signer.sign_now(body).to_string();
    assert!(matches!(
        verifier.verify_event(&header, body),
        Ok(Event::Insert(_))
    ));
    let mut group = c.benchmark_group(format!("verify+parse/{name}"));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("fluxhook verify_event", |b| {
        b.iter(|| verifier.verify_event(black_box(&header), black_box(body)))
    });
    group.bench_function("verify + WebhookPayload (borrowing)", |b| {
        b.iter(|| {
            verifier.verify(black_box(&header), black_box(body))?;
            WebhookPayload::from_slice(body).map(|p| black_box(p).shape())
        })
    });
    group.bench_function("verify + serde_json::Value", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&header), black_box(body))
                .map(|_| serde_json::from_slice::<serde_json::Value>(body))
        })
    });
    group.bench_function("verify + owned typed struct", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&header), black_box(body))
                .map(|_| serde_json::from_slice::<OwnedPayload>(body))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parse, verify_and_parse
}
criterion_main!(benches);
