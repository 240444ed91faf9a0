//! What allocates on the receive path: verifying a timestamped signature
//! allocates nothing, accepted or refused, nor does the borrowing payload
//! form; parsing into `Event` allocates only its owned parts.
//!
//! `allocation_counter` counts the allocations of the current thread only,
//! so tests running in parallel do not disturb each other.

use std::time::{Duration, SystemTime};

use allocation_counter::measure;
use fluxbase_webhooks::{Event, Key, Scheme, SignatureHeader, Signer, Verifier, WebhookPayload};

/// The `timestamp` of the bodies below: 2026-01-02T03:04:05Z.
const T: i64 = 1_767_323_045;
const INSERT: &[u8] = include_bytes!("../../benches/data/row_insert.json");

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T as u64)
}

/// Allocations made by `f`, after one call outside the count (lazy
/// initialisation, such as the keyring's thread-local slot, happens once per
/// thread and is not per request).
fn allocations<R>(mut f: impl FnMut() -> R) -> u64 {
    drop(f());
    measure(|| drop(f())).count_total
}

#[test]
fn verifying_allocates_nothing_in_any_scheme() {
    let verifier = Verifier::new("whsec-current").unwrap();
    let signer = Signer::new("whsec-current").unwrap();
    for (scheme, body) in [
        (Scheme::Timestamped, INSERT),
        (Scheme::Hex, FLAT),
        (Scheme::Sha256, FLAT),
    ] {
        let header = signer.sign(scheme, T, body).to_string();
        assert!(verifier.verify_at(&header, body, now()).is_ok());
        assert_eq!(
            allocations(|| verifier.verify_at(&header, body, now())),
            0,
            "{scheme}"
        );
    }
    // Dating an untimestamped body reads its `timestamp`: serde_json keeps a
    // stack to skip values nested deeper than one level, one allocation.
    let header = signer.sign(Scheme::Hex, T, INSERT).to_string();
    assert!(allocations(|| verifier.verify_at(&header, INSERT, now())) <= 1);
}

#[test]
fn verifying_with_a_keyring_allocates_nothing() {
    let verifier = Verifier::builder()
        .key(Key::new("whsec-new").id("2026-11"))
        .key(Key::new("whsec-old").id("2026-10"))
        .build()
        .unwrap();
    let header = Signer::new("whsec-old")
        .unwrap()
        .sign(Scheme::Timestamped, T, INSERT)
        .to_string();
    assert_eq!(
        verifier.verify_at(&header, INSERT, now()).unwrap().key_id(),
        Some("2026-10")
    );
    assert_eq!(
        allocations(|| verifier.verify_at(&header, INSERT, now())),
        0
    );
    // The incremental form keeps up to two keys' states inline.
    assert_eq!(
        allocations(|| {
            let mut v = verifier.begin_at(&header, now()).unwrap();
            for chunk in INSERT.chunks(100) {
                v.update(chunk);
            }
            v.finish(INSERT).unwrap()
        }),
        0
    );
}

#[test]
fn refusing_allocates_nothing() {
    let verifier = Verifier::new("whsec-current").unwrap();
    let signer = Signer::new("whsec-current").unwrap();
    let wrong_tag = Signer::new("whsec-other")
        .unwrap()
        .sign(Scheme::Timestamped, T, INSERT)
        .to_string();
    let old = signer
        .sign(Scheme::Timestamped, T - 3600, INSERT)
        .to_string();
    let stale_hex = signer.sign(Scheme::Hex, 0, FLAT).to_string();
    let undated = br#"{"event":"INSERT"}"#;
    let undated_hex = signer.sign(Scheme::Sha256, 0, undated).to_string();
    let short = &INSERT[..INSERT.len() - 1];
    let later = now() + Duration::from_secs(3600);
    for (header, body, at) in [
        (&wrong_tag, short, now()),
        (&old, short, now()),
        (&"t=1".to_owned(), short, now()),
        (&stale_hex, FLAT, later),
        (&undated_hex, &undated[..], now()),
    ] {
        assert!(verifier.verify_at(header, body, at).is_err());
        assert_eq!(
            allocations(|| verifier.verify_at(header, body, at)),
            0,
            "{header}"
        );
    }
}

#[test]
fn only_a_header_with_several_values_allocates() {
    let value = Signer::new("whsec-current")
        .unwrap()
        .sign_now(INSERT)
        .to_string();
    assert_eq!(
        allocations(|| SignatureHeader::parse(&value).unwrap().len()),
        0
    );
    // Only a header with several values needs room for them, once.
    let two = format!("{value},v1={}", "0".repeat(64));
    assert_eq!(
        allocations(|| SignatureHeader::parse(&two).unwrap().len()),
        1
    );
}

/// A server payload whose record holds no nested object or array.
const FLAT: &[u8] = include_bytes!("../data/insert.json");

#[test]
fn the_borrowing_form_allocates_nothing() {
    let payload = WebhookPayload::from_slice(FLAT).unwrap();
    assert_eq!(payload.table.as_deref(), Some("users"));
    assert_eq!(
        allocations(|| WebhookPayload::from_slice(FLAT).unwrap().shape()),
        0
    );
    // serde_json keeps a stack to skip values nested deeper than one level
    // (the record's `app_metadata.providers` here): one allocation at most.
    assert!(allocations(|| WebhookPayload::from_slice(INSERT).unwrap().shape()) <= 1);
}

#[test]
fn the_typed_event_allocates_only_its_owned_parts() {
    assert!(matches!(Event::from_slice(FLAT), Ok(Event::Insert(_))));
    // Table, schema and the record.
    assert_eq!(allocations(|| Event::from_slice(FLAT)), 3);
    assert!(allocations(|| Event::from_slice(INSERT)) <= 4);
}
