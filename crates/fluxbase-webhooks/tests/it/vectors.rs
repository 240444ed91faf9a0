//! Replays `tests/data/vectors.json` (written by `tests/data/gen_vectors.py`
//! with Python's own HMAC) through the verifier, the incremental verifier,
//! the header-map entry point and the signer.

use std::time::{Duration, SystemTime};

use fluxbase_webhooks::dedupe::{Dedupe, MemoryStore};
use fluxbase_webhooks::{Event, Key, Scheme, Schemes, SignatureHeader, Signer, Verified, Verifier};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    secrets: Vec<SecretSpec>,
    body: Option<String>,
    body_hex: Option<String>,
    body_repeat: Option<Repeat>,
    header: Option<String>,
    headers: Option<std::collections::BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    legacy: bool,
    now: (u64, u32),
    tolerance: Option<u64>,
    max_skew: Option<u64>,
    schemes: Option<String>,
    body_limit: Option<u64>,
    #[serde(default)]
    parse: bool,
    #[serde(default)]
    canonical: bool,
    replay_of: Option<String>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretSpec {
    Plain(String),
    Full {
        secret: Option<String>,
        secret_hex: Option<String>,
        id: Option<String>,
        not_after: Option<u64>,
    },
}

#[derive(Deserialize)]
struct Repeat {
    text: String,
    count: usize,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Expect {
    valid: bool,
    scheme: Option<String>,
    timestamp: Option<i64>,
    key: Option<usize>,
    code: Option<String>,
}

fn load() -> Vec<Case> {
    let text = include_str!("../data/vectors.json");
    serde_json::from_str::<File>(text).unwrap().cases
}

impl Case {
    fn body(&self) -> Vec<u8> {
        if let Some(b) = &self.body {
            b.clone().into_bytes()
        } else if let Some(h) = &self.body_hex {
            const_hex::decode(h).unwrap()
        } else if let Some(r) = &self.body_repeat {
            r.text.repeat(r.count).into_bytes()
        } else {
            panic!("{}: no body", self.name)
        }
    }

    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(self.now.0, self.now.1)
    }

    fn verifier(&self) -> Verifier {
        let keys = self.secrets.iter().map(|s| match s {
            SecretSpec::Plain(s) => Key::new(s.as_str()),
            SecretSpec::Full {
                secret,
                secret_hex,
                id,
                not_after,
            } => {
                let bytes = match (secret, secret_hex) {
                    (Some(s), _) => s.clone().into_bytes(),
                    (None, Some(h)) => const_hex::decode(h).unwrap(),
                    (None, None) => panic!("{}: secret without bytes", self.name),
                };
                let mut key = Key::new(bytes);
                if let Some(id) = id {
                    key = key.id(id.as_str());
                }
                if let Some(t) = not_after {
                    key = key.not_after(SystemTime::UNIX_EPOCH + Duration::from_secs(*t));
                }
                key
            }
        });
        Verifier::from_keys(keys)
            .tolerance(Duration::from_secs(self.tolerance.unwrap_or(300)))
            .max_skew(Duration::from_secs(self.max_skew.unwrap_or(60)))
            .schemes(match self.schemes.as_deref().unwrap_or("all") {
                "all" => Schemes::ALL,
                "timestamped" => Schemes::TIMESTAMPED_ONLY,
                "hex" => Schemes::HEX,
                "sha256" => Schemes::SHA256,
                other => panic!("{}: unknown schemes {other}", self.name),
            })
            .legacy_header(self.legacy)
            .body_limit(self.body_limit.unwrap_or(1024 * 1024))
    }

    fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        if let Some(h) = &self.header {
            // Values http cannot carry (control bytes) go through `verify_at`.
            if let Ok(v) = http::HeaderValue::from_bytes(h.as_bytes()) {
                map.append(fluxbase_webhooks::SIGNATURE_HEADER, v);
            }
        }
        for (name, values) in self.headers.iter().flatten() {
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            for v in values {
                map.append(name.clone(), v.parse().unwrap());
            }
        }
        map
    }
}

fn outcome(result: Result<fluxbase_webhooks::Verified, fluxbase_webhooks::Error>) -> Expect {
    match result {
        Ok(v) => Expect {
            valid: true,
            scheme: Some(v.scheme().as_str().to_owned()),
            timestamp: v.timestamp(),
            key: Some(v.key_index()),
            code: None,
        },
        Err(e) => Expect {
            valid: false,
            scheme: None,
            timestamp: None,
            key: None,
            code: Some(e.code().as_str().to_owned()),
        },
    }
}

/// Polls a future that never waits (the in-memory store) to completion.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A case with `replay_of`: both headers go through verification, parsing
/// and one `Dedupe` over an in-memory store, in that order.
fn run_replay(case: &Case, first: &str) -> Expect {
    let body = case.body();
    let verifier = case.verifier();
    let dedupe = Dedupe::new(MemoryStore::default());
    let deliver = |header: &str| -> Result<Verified, fluxbase_webhooks::Error> {
        let verified = verifier.verify_at(header, &body, case.now())?;
        let event = Event::from_slice(&body)?;
        let parsed = SignatureHeader::parse(header)?;
        block_on(dedupe.check(dedupe.keys(&parsed, &verifier, &event, &body)))?;
        Ok(verified)
    };
    let earlier = deliver(first);
    assert!(
        earlier.is_ok(),
        "{}: replay_of must be accepted: {earlier:?}",
        case.name
    );
    outcome(deliver(case.header.as_deref().unwrap()))
}

/// Runs one case through every entry point and returns what each said.
fn run(case: &Case) -> Vec<(&'static str, Expect)> {
    if let Some(first) = &case.replay_of {
        return vec![("dedupe", run_replay(case, first))];
    }
    let body = case.body();
    let verifier = case.verifier();
    let now = case.now();
    let mut results = Vec::new();

    let one_shot = |v: &Verifier| -> Result<_, _> {
        match &case.header {
            Some(h) => v.verify_at(h, &body, now),
            None => {
                let mut inc = v.begin_headers_at(&case.header_map(), now)?;
                v.check_len(body.len() as u64)?;
                inc.update(&body)?;
                inc.finish()
            }
        }
    };
    let first = one_shot(&verifier);
    let parsed = first.clone().and_then(|v| {
        if case.parse {
            Event::from_slice(&body).map(|_| v)
        } else {
            Ok(v)
        }
    });
    results.push(("verify_at", outcome(parsed)));

    // Incremental, in uneven chunks.
    let incremental = (|| {
        let mut inc = match &case.header {
            Some(h) => verifier.begin_at(h, now)?,
            None => verifier.begin_headers_at(&case.header_map(), now)?,
        };
        for chunk in body.chunks(7919) {
            inc.update(chunk)?;
        }
        inc.finish()
    })();
    if !case.parse {
        results.push(("incremental", outcome(incremental)));
    }

    // Through a header map, when the value can be carried by HTTP.
    if case.header.is_some() && !case.parse {
        let map = case.header_map();
        if !map.is_empty() || case.header.as_deref() == Some("") {
            let via_map = (|| {
                let mut inc = verifier.begin_headers_at(&map, now)?;
                verifier.check_len(body.len() as u64)?;
                inc.update(&body)?;
                inc.finish()
            })();
            results.push(("headers", outcome(via_map)));
        }
    }
    results
}

#[test]
fn vectors_file_is_big_enough_and_names_are_unique() {
    let cases = load();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.as_str()), "duplicate {}", c.name);
    }
    // Every code but `store_unavailable` (a store outage, tested over HTTP)
    // appears at least once.
    for code in [
        "missing_signature",
        "malformed_signature",
        "signature_mismatch",
        "timestamp_too_old",
        "timestamp_in_future",
        "payload_too_large",
        "invalid_payload",
        "replayed",
    ] {
        assert!(
            cases.iter().any(|c| c.expect.code.as_deref() == Some(code)),
            "no case for {code}"
        );
    }
}

#[test]
fn every_vector_gives_the_expected_outcome_on_every_entry_point() {
    let mut failures = Vec::new();
    for case in load() {
        for (entry, got) in run(&case) {
            if got != case.expect {
                failures.push(format!(
                    "{} via {entry}: expected {:?}, got {got:?}",
                    case.name, case.expect
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn signer_reproduces_canonical_headers() {
    let mut checked = 0;
    for case in load().into_iter().filter(|c| c.canonical) {
        let header = SignatureHeader::parse(case.header.as_deref().unwrap()).unwrap();
        let secret = match &case.secrets[0] {
            SecretSpec::Plain(s) => s.clone(),
            SecretSpec::Full { .. } => panic!("{}: canonical cases use plain secrets", case.name),
        };
        let t = header.timestamp().unwrap_or(0);
        let signed = Signer::new(secret).sign(header.scheme(), t, &case.body());
        assert_eq!(
            signed.to_string(),
            case.header.clone().unwrap(),
            "{}",
            case.name
        );
        assert_eq!(
            signed.scheme() == Scheme::Timestamped,
            header.timestamp().is_some()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} canonical cases");
}
