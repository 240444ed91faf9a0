//! Property tests: sign/verify round trips, tamper detection, header
//! parse/format identity, incremental vs one-shot agreement.

use std::time::{Duration, SystemTime};

use fluxbase_webhooks::{Error, Scheme, SignatureHeader, Signer, Verifier};
use proptest::prelude::*;

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::Timestamped),
        Just(Scheme::Hex),
        Just(Scheme::Sha256)
    ]
}

/// Non-zero timestamps across the whole i64 range, and many near "now".
fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>().prop_filter("t=0 means missing", |t| *t != 0),
        1_600_000_000i64..2_000_000_000,
    ]
}

fn at(t: i64) -> SystemTime {
    if t >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    }
}

/// A verifier that accepts any date (and undated untimestamped bodies), so
/// the MAC alone decides.
fn lenient(secret: &[u8]) -> Verifier {
    Verifier::builder()
        .secret(secret.to_vec())
        .tolerance(Duration::MAX)
        .future_skew(Duration::MAX)
        .danger_accept_stale_untimestamped(true)
        .build()
        .unwrap()
}

fn signer(secret: impl Into<fluxbase_webhooks::Secret>) -> Signer {
    Signer::new(secret).unwrap()
}

/// A body dated `t` (when `t` is a date RFC 3339 can write), with `junk`
/// around its fields.
fn dated(t: i64, junk: &str) -> Vec<u8> {
    let date = time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    serde_json::json!({ "event": "INSERT", "junk": junk, "timestamp": date })
        .to_string()
        .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_then_verify_succeeds(
        secret in proptest::collection::vec(any::<u8>(), 1..80),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        t in timestamp(),
    ) {
        // Any bytes in the timestamped scheme, which dates its header.
        let header = signer(secret.clone()).sign(Scheme::Timestamped, t, &body).to_string();
        let v = Verifier::new(secret).unwrap();
        let ok = v.verify_at(&header, &body, at(t)).unwrap();
        prop_assert_eq!((ok.scheme(), ok.timestamp()), (Scheme::Timestamped, Some(t)));
    }

    #[test]
    fn sign_then_verify_a_dated_body_succeeds_in_every_scheme(
        secret in proptest::collection::vec(any::<u8>(), 1..80),
        junk in "\\PC{0,200}",
        t in 0i64..4_000_000_000,
        scheme in scheme(),
    ) {
        let body = dated(t, &junk);
        let header = signer(secret.clone()).sign(scheme, t, &body).to_string();
        let ok = Verifier::new(secret).unwrap().verify_at(&header, &body, at(t)).unwrap();
        prop_assert_eq!((ok.scheme(), ok.timestamp()), (scheme, Some(t)));
    }

    #[test]
    fn an_untimestamped_scheme_never_verifies_outside_the_body_date_window(
        junk in "\\PC{0,50}",
        t in 0i64..4_000_000_000,
        off in prop_oneof![301i64..1_000_000, -1_000_000i64..-61],
        scheme in prop_oneof![Just(Scheme::Hex), Just(Scheme::Sha256)],
    ) {
        let body = dated(t, &junk);
        let header = signer("k").sign(scheme, 0, &body).to_string();
        let err = Verifier::new("k").unwrap().verify_at(&header, &body, at(t + off)).unwrap_err();
        prop_assert!(
            matches!(err, Error::TimestampTooOld { .. } | Error::TimestampInFuture { .. }),
            "{:?}", err
        );
    }

    #[test]
    fn flipping_a_body_bit_fails(
        secret in proptest::collection::vec(any::<u8>(), 1..40),
        body in proptest::collection::vec(any::<u8>(), 1..512),
        t in timestamp(),
        scheme in scheme(),
        bit in any::<prop::sample::Index>(),
    ) {
        let header = signer(secret.clone()).sign(scheme, t, &body).to_string();
        let mut tampered = body.clone();
        let i = bit.index(body.len() * 8);
        tampered[i / 8] ^= 1 << (i % 8);
        prop_assert_eq!(
            lenient(&secret).verify_at(&header, &tampered, at(t)).unwrap_err(),
            Error::SignatureMismatch
        );
    }

    #[test]
    fn changing_the_timestamp_fails(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        t in timestamp(),
        delta in prop_oneof![Just(1i64), Just(-1), 2i64..1000],
    ) {
        let t2 = t.wrapping_add(delta);
        prop_assume!(t2 != 0);
        let tag = signer("k").tag(Scheme::Timestamped, t, &body);
        let forged = SignatureHeader::timestamped(t2, tag).to_string();
        prop_assert_eq!(
            lenient(b"k").verify_at(&forged, &body, at(t2)).unwrap_err(),
            Error::SignatureMismatch
        );
    }

    #[test]
    fn flipping_a_tag_bit_fails(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        t in timestamp(),
        scheme in scheme(),
        bit in 0usize..256,
    ) {
        let mut tag = signer("k").tag(scheme, t, &body);
        tag[bit / 8] ^= 1 << (bit % 8);
        let header = match scheme {
            Scheme::Timestamped => SignatureHeader::timestamped(t, tag),
            Scheme::Hex => SignatureHeader::hex(tag),
            _ => SignatureHeader::sha256(tag),
        };
        prop_assert_eq!(
            lenient(b"k").verify_at(header.to_string(), &body, at(t)).unwrap_err(),
            Error::SignatureMismatch
        );
    }

    #[test]
    fn header_parse_format_parse_is_identity(value in header_like()) {
        if let Ok(parsed) = SignatureHeader::parse(&value) {
            let formatted = parsed.to_string();
            let again = SignatureHeader::parse(&formatted).unwrap();
            prop_assert_eq!(&again, &parsed);
            prop_assert_eq!(again.to_string(), formatted);
        }
    }

    #[test]
    fn incremental_and_one_shot_agree(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        header in prop_oneof![header_like(), Just(String::new())],
        sign_it in prop_oneof![Just(None), scheme().prop_map(Some)],
        now in 1_600_000_000i64..1_600_000_600,
    ) {
        let header = match sign_it {
            Some(scheme) => signer("k").sign(scheme, 1_600_000_300, &body).to_string(),
            None => header,
        };
        let v = Verifier::new("k").unwrap();
        let one_shot = v.verify_at(&header, &body, at(now));
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        points.sort_unstable();
        let incremental = (|| {
            let mut inc = v.begin_at(&header, at(now))?;
            let mut start = 0;
            for p in points.into_iter().chain([body.len()]) {
                inc.update(&body[start..p]);
                start = p;
            }
            inc.finish(&body)
        })();
        prop_assert_eq!(one_shot, incremental);
    }
}

/// Strings that look like signature headers: mixes of the three schemes,
/// whitespace, unknown keys and junk.
fn header_like() -> impl Strategy<Value = String> {
    let hex64 = "[0-9a-fA-F]{64}";
    let piece = prop_oneof![
        "t=[+-]?[0-9]{1,12}".prop_map(String::from),
        hex64.prop_map(|h| format!("v1={h}")),
        "v1=[0-9a-z]{0,10}".prop_map(String::from),
        "[a-z0-9]{1,3}=[ -~]{0,8}".prop_map(String::from),
        " {0,2}".prop_map(String::from),
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..6).prop_map(|p| p.join(",")),
        hex64.prop_map(String::from),
        hex64.prop_map(|h| format!("sha256={h}")),
        "[ -~]{0,80}".prop_map(String::from),
    ]
}
