use super::incremental::body_date;
use super::*;
use crate::Signer;

/// A server body dated `2009-02-13T23:31:30Z`, the time `T` stands for.
const BODY: &[u8] = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":1},"timestamp":"2009-02-13T23:31:30Z"}"#;
const T: i64 = 1_234_567_890;

fn at(secs: i64, nanos: u32) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
}

fn signer(secret: &str) -> Signer {
    Signer::new(secret).unwrap()
}

fn verifier(secret: &str) -> Verifier {
    Verifier::new(secret).unwrap()
}

fn header(secret: &str, t: i64) -> String {
    signer(secret)
        .sign(Scheme::Timestamped, t, BODY)
        .to_string()
}

fn untimed(secret: &str, scheme: Scheme, body: &[u8]) -> String {
    signer(secret).sign(scheme, 0, body).to_string()
}

#[test]
fn contract_vector_verifies() {
    let v = verifier("test-secret");
    let body = br#"{"event":"INSERT","table":"users"}"#;
    let h = "t=1234567890,v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c";
    let ok = v.verify_at(h, body, at(T, 0)).unwrap();
    assert_eq!(
        (ok.scheme(), ok.timestamp(), ok.key_index()),
        (Scheme::Timestamped, Some(T), 0)
    );
    let upper = h.to_uppercase().replace("T=", "t=").replace("V1=", "v1=");
    assert_eq!(v.verify_at(upper, body, at(T, 0)).unwrap().key_index(), 0);
}

#[test]
fn empty_secrets_never_build() {
    assert_eq!(Verifier::new("").unwrap_err(), ConfigError::EmptySecret);
    assert_eq!(
        Verifier::new(Vec::new()).unwrap_err(),
        ConfigError::EmptySecret
    );
    assert_eq!(
        Verifier::builder()
            .secret("a")
            .secret("")
            .build()
            .unwrap_err(),
        ConfigError::EmptySecret
    );
    assert_eq!(
        Verifier::builder().build().unwrap_err(),
        ConfigError::NoSecret
    );
    let v = verifier("a");
    assert_eq!(v.replace_keys([""]).unwrap_err(), ConfigError::EmptySecret);
    assert_eq!(
        v.replace_keys(Vec::<Key>::new()).unwrap_err(),
        ConfigError::NoSecret
    );
    // The keyring in use is untouched.
    assert!(v.verify_at(header("a", T), BODY, at(T, 0)).is_ok());
}

#[test]
fn window_edges_match_the_server() {
    let v = Verifier::builder()
        .secret("test-secret")
        .future_skew(DEFAULT_TOLERANCE)
        .build()
        .unwrap();
    let h = header("test-secret", T);
    // Exactly the tolerance old, with a fraction of a second: too old.
    assert_eq!(
        v.verify_at(&h, BODY, at(T + 300, 1)).unwrap_err(),
        Error::TimestampTooOld {
            age_secs: 300,
            tolerance_secs: 300
        }
    );
    assert!(v.verify_at(&h, BODY, at(T + 300, 0)).is_ok());
    // t = now + tolerance is fine; one more second is the future.
    assert!(v.verify_at(&h, BODY, at(T - 300, 0)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(T - 301, 0)),
        Err(Error::TimestampInFuture {
            ahead_secs: 301,
            ..
        })
    ));
}

#[test]
fn separate_future_skew() {
    let v = verifier("k");
    let h = header("k", T);
    assert!(v.verify_at(&h, BODY, at(T - 60, 0)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(T - 61, 0)),
        Err(Error::TimestampInFuture {
            future_skew_secs: 60,
            ..
        })
    ));
    assert!(v.verify_at(&h, BODY, at(T + 299, 0)).is_ok());
}

#[test]
fn untimestamped_schemes_are_dated_by_the_body() {
    let v = verifier("k");
    for scheme in [Scheme::Hex, Scheme::Sha256] {
        let h = untimed("k", scheme, BODY);
        let ok = v.verify_at(&h, BODY, at(T + 10, 0)).unwrap();
        assert_eq!((ok.scheme(), ok.timestamp()), (scheme, Some(T)));
        // The same window as the timestamped scheme, both ways.
        assert_eq!(
            v.verify_at(&h, BODY, at(T + 301, 0)).unwrap_err(),
            Error::TimestampTooOld {
                age_secs: 301,
                tolerance_secs: 300
            }
        );
        assert!(matches!(
            v.verify_at(&h, BODY, at(T - 61, 0)),
            Err(Error::TimestampInFuture { ahead_secs: 61, .. })
        ));
    }
}

#[test]
fn a_body_date_counts_its_fraction_and_offset() {
    let v = verifier("k");
    // 23:31:30.5 written in +01:00 is 00:31:30.5 the next day, local.
    let body = br#"{"event":"INSERT","timestamp":"2009-02-14T00:31:30.5+01:00"}"#;
    let h = untimed("k", Scheme::Hex, body);
    assert!(v.verify_at(&h, body, at(T + 300, 500_000_000)).is_ok());
    assert!(matches!(
        v.verify_at(&h, body, at(T + 300, 500_000_001)),
        Err(Error::TimestampTooOld { .. })
    ));
}

/// What a full parse finds as the top-level `timestamp` string.
fn parsed_timestamp(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .as_object()?
        .get("timestamp")?
        .as_str()
        .map(str::to_owned)
}

#[test]
fn the_date_read_from_the_end_is_the_top_level_one() {
    let bodies: [&[u8]; 14] = [
        br#"{"record":{"timestamp":"2001-01-01T00:00:00Z"},"timestamp":"2009-02-13T23:31:30Z"}"#,
        br#" { "event" : "INSERT" , "timestamp" : "2009-02-13T23:31:30Z" } 
"#,
        br#"{"timestamp":"2009-02-13T23:31:30Z"}"#,
        // Nested members that end like a dated body, in a string or not.
        br#"{"a":"x\",\"timestamp\":\"2001-01-01T00:00:00Z\"}"}"#,
        br#"{"a":{"timestamp":"2001-01-01T00:00:00Z"}}"#,
        br#"[{"timestamp":"2001-01-01T00:00:00Z"}]"#,
        br#"{"a":"\\","timestamp":"2009-02-13T23:31:30Z"}"#,
        br#"{"a":"\"","timestamp":"2009-02-13T23:31:30Z"}"#,
        br#"{"timestamp":"2009-02-13T23:31:30\u005a"}"#,
        br#"{"xtimestamp":"2001-01-01T00:00:00Z"}"#,
        br#"{"timestamp":"2001-01-01T00:00:00Z","event":"INSERT"}"#,
        br#"{"timestamp":1234567890}"#,
        // Not JSON, though the end reads like a dated body.
        br#"{"a" "timestamp":"2009-02-13T23:31:30Z"}"#,
        br#"{"a":"b":"timestamp":"2009-02-13T23:31:30Z"}"#,
    ];
    // The server's layout is read from the end, without a parse.
    assert_eq!(
        incremental::trailing_date(BODY),
        Some("2009-02-13T23:31:30Z")
    );
    for body in bodies {
        assert_eq!(
            body_date(body).map(|d| d.into_owned()),
            parsed_timestamp(body),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

proptest::proptest! {
    /// Whatever a row holds and however the body is laid out, the date
    /// found is the one a full parse finds.
    #[test]
    fn the_body_date_is_the_parsed_one(
        row in proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "\"", "\\", ",", ":", "{", "}", " ", "timestamp", "\"timestamp\":\"", "é",
            ]),
            0..24,
        ),
        date in "[0-9TZ:.+-]{0,30}",
        last in proptest::bool::ANY,
        space in proptest::sample::select(vec!["", " ", "\n", "\t "]),
    ) {
        let record = serde_json::json!({ "name": row.concat() });
        let members = [
            format!(r#""record"{space}:{space}{record}"#),
            format!(r#""timestamp"{space}:{space}"{date}""#),
        ];
        let (first, second) = if last { (0, 1) } else { (1, 0) };
        let body = format!("{space}{{{}{space},{space}{}}}{space}", members[first], members[second]);
        let found = body_date(body.as_bytes()).map(|d| d.into_owned());
        proptest::prop_assert_eq!(found, parsed_timestamp(body.as_bytes()));
    }
}

#[test]
fn an_undated_body_is_refused_under_an_untimestamped_scheme() {
    let v = verifier("k");
    let undated: [&[u8]; 5] = [
        br#"{"event":"INSERT","table":"users"}"#,
        br#"{"event":"INSERT","timestamp":"yesterday"}"#,
        br#"{"event":"INSERT","timestamp":1234567890}"#,
        b"not json",
        b"\xff\xfe",
    ];
    for body in undated {
        let h = untimed("k", Scheme::Sha256, body);
        assert_eq!(
            v.verify_at(&h, body, at(T, 0)).unwrap_err(),
            Error::MissingTimestamp,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Nothing unauthenticated is parsed: a body with no date at its end has
    // its tag checked first, and a wrong one is a mismatch; a dated, fresh
    // one with a wrong tag too.
    let wrong = untimed("other", Scheme::Sha256, b"not json");
    assert_eq!(
        v.verify_at(&wrong, b"not json", at(T, 0)).unwrap_err(),
        Error::SignatureMismatch
    );
    let forged = untimed("other", Scheme::Hex, BODY);
    assert_eq!(
        v.verify_at(&forged, BODY, at(T, 0)).unwrap_err(),
        Error::SignatureMismatch
    );
}

#[test]
fn a_stale_capture_says_nothing_of_whether_its_secret_is_still_in_use() {
    // An old delivery, replayed under its bare hex to a receiver that still
    // has its secret and to one that rotated it: the same answer, as for
    // an old `t=` (refused before any tag is compared), in one call and in
    // the incremental form.
    let old = at(T + 3600, 0);
    for scheme in [Scheme::Hex, Scheme::Sha256] {
        let captured = untimed("k", scheme, BODY);
        for receiver in [verifier("k"), verifier("rotated")] {
            let one_call = receiver.verify_at(&captured, BODY, old).unwrap_err();
            let mut incremental = receiver.begin_at(&captured, old).unwrap();
            incremental.update(BODY);
            let chunked = incremental.finish(BODY).unwrap_err();
            for err in [one_call, chunked] {
                assert!(matches!(err, Error::TimestampTooOld { .. }), "{err:?}");
            }
        }
        let timestamped = header("k", T);
        for receiver in [verifier("k"), verifier("rotated")] {
            let err = receiver.verify_at(&timestamped, BODY, old).unwrap_err();
            assert!(matches!(err, Error::TimestampTooOld { .. }), "{err:?}");
        }
    }
}

#[test]
fn a_timestamped_tag_cannot_pass_as_bare_hex() {
    // The timestamped tag is the bare-hex tag of "<t>." + body; that
    // message starts with digits and a dot, so it is never a JSON object
    // and never carries a date: it is refused, at any time.
    let tag = signer("k").hex_tag(Scheme::Timestamped, T, BODY);
    let mut dotted = format!("{T}.").into_bytes();
    dotted.extend_from_slice(BODY);
    let v = verifier("k");
    assert_eq!(
        v.verify_at(&tag, &dotted, at(T, 0)).unwrap_err(),
        Error::MissingTimestamp
    );
    // Over the plain body it is simply the wrong tag.
    assert_eq!(
        v.verify_at(&tag, BODY, at(T, 0)).unwrap_err(),
        Error::SignatureMismatch
    );
}

#[test]
fn stale_untimestamped_only_by_explicit_opt_in() {
    let h = untimed("k", Scheme::Hex, BODY);
    let year_later = at(T + 365 * 86400, 0);
    assert!(matches!(
        verifier("k").verify_at(&h, BODY, year_later),
        Err(Error::TimestampTooOld { .. })
    ));
    let danger = Verifier::builder()
        .secret("k")
        .danger_accept_stale_untimestamped(true)
        .build()
        .unwrap();
    assert!(danger.danger_accept_stale_untimestamped());
    assert_eq!(
        danger.verify_at(&h, BODY, year_later).unwrap().timestamp(),
        Some(T)
    );
    let undated = b"not json";
    assert_eq!(
        danger
            .verify_at(untimed("k", Scheme::Hex, undated), undated, year_later)
            .unwrap()
            .timestamp(),
        None
    );
    // The timestamped scheme keeps its window under the opt-in.
    assert!(danger.verify_at(header("k", T), BODY, year_later).is_err());
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder()
        .key(Key::new("new").id("b"))
        .key(Key::new("old").id("a"))
        .build()
        .unwrap();
    let ok = v.verify_at(header("old", T), BODY, at(T, 0)).unwrap();
    assert_eq!((ok.key_index(), ok.key_id()), (1, Some("a")));
    // A header carrying both tags reports the first key in the ring.
    let both = SignatureHeader::timestamped_multi(
        T,
        [
            signer("old").tag(Scheme::Timestamped, T, BODY),
            signer("new").tag(Scheme::Timestamped, T, BODY),
        ],
    )
    .unwrap();
    assert_eq!(
        v.verify_at(both.to_string(), BODY, at(T, 0))
            .unwrap()
            .key_index(),
        0
    );
}

#[test]
fn expired_key_no_longer_matches() {
    let v = Verifier::builder()
        .key(Key::new("old").not_after(at(T - 1, 0)))
        .build()
        .unwrap();
    assert_eq!(
        v.verify_at(header("old", T), BODY, at(T, 0)).unwrap_err(),
        Error::SignatureMismatch
    );
}

#[test]
fn replace_keys_reaches_clones() {
    let v = verifier("a");
    let clone = v.clone();
    v.replace_keys(["b"]).unwrap();
    assert!(clone.verify_at(header("b", T), BODY, at(T, 0)).is_ok());
    assert!(clone.verify_at(header("a", T), BODY, at(T, 0)).is_err());
}

#[test]
fn strict_policy_refuses_untimed_schemes() {
    let v = Verifier::builder()
        .secret("k")
        .schemes(Schemes::TIMESTAMPED)
        .build()
        .unwrap();
    assert_eq!(
        v.verify_at(untimed("k", Scheme::Hex, BODY), BODY, at(T, 0))
            .unwrap_err(),
        Error::MalformedSignature(Malformed::SchemeNotAllowed(Scheme::Hex))
    );
}

#[test]
fn header_selection() {
    let hex = untimed("k", Scheme::Hex, BODY);
    let none: [&[u8]; 0] = [];
    let v = verifier("k");
    let pick = |v: &Verifier, flux: &[&[u8]], legacy: &[&[u8]]| {
        v.select_header(flux.iter().copied(), legacy.iter().copied())
            .map(<[u8]>::to_vec)
    };
    assert_eq!(pick(&v, &none, &none).unwrap_err(), Error::MissingSignature);
    // Only the legacy header, not read: said so.
    assert_eq!(
        pick(&v, &none, &[hex.as_bytes()]).unwrap_err(),
        Error::LegacySignatureOnly
    );
    let legacy = Verifier::builder()
        .secret("k")
        .legacy_header(true)
        .build()
        .unwrap();
    assert_eq!(
        pick(&legacy, &none, &[hex.as_bytes()]).unwrap(),
        hex.as_bytes()
    );
    // The legacy header never holds anything but bare hex.
    let ts = header("k", T);
    assert_eq!(
        pick(&legacy, &none, &[ts.as_bytes()]).unwrap_err(),
        Error::MalformedSignature(Malformed::InvalidHex)
    );
    // When X-Fluxbase-Signature is present it wins.
    assert_eq!(
        pick(&legacy, &[b"t=1,v1=00"], &[hex.as_bytes()]).unwrap(),
        b"t=1,v1=00"
    );
    assert_eq!(
        pick(&legacy, &[b"t=1,v1=00", hex.as_bytes()], &none).unwrap_err(),
        Error::MalformedSignature(Malformed::DuplicateHeader)
    );
}

#[test]
fn chunked_equals_one_shot() {
    let v = verifier("k");
    for h in [header("k", T), untimed("k", Scheme::Hex, BODY)] {
        let mut inc = v.begin_at(&h, at(T, 0)).unwrap();
        for chunk in BODY.chunks(3) {
            inc.update(chunk);
        }
        assert_eq!(inc.body_len(), BODY.len() as u64);
        assert_eq!(
            inc.finish(BODY).unwrap(),
            v.verify_at(&h, BODY, at(T, 0)).unwrap()
        );
    }
}

#[test]
fn errors_never_show_the_expected_tag() {
    let v = verifier("k");
    let expected = signer("k").hex_tag(Scheme::Timestamped, T, BODY);
    let err = v
        .verify_at(format!("t={T},v1={}", "0".repeat(64)), BODY, at(T, 0))
        .unwrap_err();
    assert!(!err.to_string().contains(&expected));
    assert!(!format!("{err:?}").contains(&expected));
}

#[test]
fn getters_read_what_the_builder_set() {
    let v = Verifier::builder()
        .secret("k")
        .tolerance(Duration::from_secs(7))
        .future_skew(Duration::from_secs(3))
        .schemes(Schemes::SHA256)
        .legacy_header(true)
        .build()
        .unwrap();
    assert_eq!(
        (
            v.tolerance(),
            v.future_skew(),
            v.schemes(),
            v.legacy_header(),
            v.danger_accept_stale_untimestamped()
        ),
        (
            Duration::from_secs(7),
            Duration::from_secs(3),
            Schemes::SHA256,
            true,
            false
        )
    );
}

#[test]
fn a_replay_key_lives_as_long_as_its_delivery_can_verify() {
    // Defaults: 300 s into the past, 60 s into the future.
    let window = verifier("k").window();
    let now = at(T, 0);
    let horizon = |dated| window.replay_horizon(Scheme::Timestamped, dated, now);
    let secs = |s| Some(Duration::from_secs(s));
    // Dated now: until a second past `t + 300`, and a second to spare.
    assert_eq!(horizon(Some(T)), secs(302));
    assert_eq!(horizon(Some(T - 299)), secs(3));
    assert_eq!(horizon(Some(T - 400)), secs(1), "never less than the spare");
    // Dated ahead, or undated: at most the longest any delivery verifies.
    assert_eq!(horizon(Some(T + 60)), secs(361));
    assert_eq!(horizon(Some(i64::MAX)), secs(361));
    assert_eq!(horizon(None), secs(361));
    // An untimestamped copy is dated by the body, stamped before the `t=`
    // copy was signed: its key lives as long as that copy could.
    assert_eq!(window.replay_horizon(Scheme::Hex, Some(T), now), secs(361));
    assert_eq!(
        window.replay_horizon(Scheme::Sha256, Some(T - 299), now),
        secs(361)
    );
    // Stale untimestamped signatures verify forever: the policy decides.
    let open = Verifier::builder()
        .secret("k")
        .danger_accept_stale_untimestamped(true)
        .build()
        .unwrap()
        .window();
    assert_eq!(open.replay_horizon(Scheme::Hex, Some(T), now), None);
    assert_eq!(
        open.replay_horizon(Scheme::Timestamped, Some(T), now),
        secs(302)
    );
}
