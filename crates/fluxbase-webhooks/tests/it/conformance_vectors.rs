//! Replays `tests/data/vectors.json` (written by `tests/data/gen_vectors.py`
//! with Python's own HMAC) through the verifier, the incremental verifier,
//! header selection and the signer.

use std::time::{Duration, SystemTime};

use fluxbase_webhooks::{
    ConfigError, Event, Key, LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER, Scheme, Schemes,
    SignatureHeader, Signer, Verifier,
};
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
    future_skew: Option<u64>,
    schemes: Option<String>,
    #[serde(default)]
    stale_untimestamped: bool,
    #[serde(default)]
    parse: bool,
    #[serde(default)]
    canonical: bool,
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

    fn verifier(&self) -> Result<Verifier, ConfigError> {
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
        Verifier::builder()
            .keys(keys)
            .tolerance(Duration::from_secs(self.tolerance.unwrap_or(300)))
            .future_skew(Duration::from_secs(self.future_skew.unwrap_or(60)))
            .schemes(match self.schemes.as_deref().unwrap_or("all") {
                "all" => Schemes::ALL,
                "timestamped" => Schemes::TIMESTAMPED,
                "hex" => Schemes::HEX,
                "sha256" => Schemes::SHA256,
                other => panic!("{}: unknown schemes {other}", self.name),
            })
            .legacy_header(self.legacy)
            .danger_accept_stale_untimestamped(self.stale_untimestamped)
            .build()
    }

    /// The values of a header by name, for header selection.
    fn values(&self, name: &str) -> Vec<&[u8]> {
        let named = self
            .headers
            .iter()
            .flatten()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        named
            .flat_map(|(_, values)| values.iter().map(|v| v.as_bytes()))
            .collect()
    }
}

fn refused(code: &str) -> Expect {
    Expect {
        valid: false,
        scheme: None,
        timestamp: None,
        key: None,
        code: Some(code.to_owned()),
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
        Err(e) => refused(e.code().as_str()),
    }
}

/// Runs one case through every entry point and returns what each said.
fn run(case: &Case) -> Vec<(&'static str, Expect)> {
    let verifier = match case.verifier() {
        Ok(verifier) => verifier,
        Err(ConfigError::EmptySecret) => return vec![("build", refused("config:empty_secret"))],
        Err(other) => panic!("{}: {other}", case.name),
    };
    let body = case.body();
    let now = case.now();
    let mut results = Vec::new();

    // The header: given, or picked from the case's headers.
    let header = match &case.header {
        Some(h) => Ok(h.as_bytes()),
        None => verifier.select_header(
            case.values(SIGNATURE_HEADER),
            case.values(LEGACY_SIGNATURE_HEADER),
        ),
    };
    let one_shot = header
        .clone()
        .and_then(|h| verifier.verify_at(h, &body, now));
    let parsed = one_shot.clone().and_then(|v| {
        if case.parse {
            Event::from_slice(&body).map(|_| v)
        } else {
            Ok(v)
        }
    });
    results.push(("verify_at", outcome(parsed)));

    // Incremental, in uneven chunks.
    if !case.parse {
        let incremental = header.and_then(|h| {
            let mut inc = verifier.begin_at(h, now)?;
            for chunk in body.chunks(7919) {
                inc.update(chunk);
            }
            inc.finish(&body)
        });
        results.push(("incremental", outcome(incremental)));
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
    // Every code a verifier gives appears at least once (the others come
    // from receivers and are tested over HTTP).
    for code in [
        "missing_signature",
        "malformed_signature",
        "signature_mismatch",
        "timestamp_too_old",
        "timestamp_in_future",
        "missing_timestamp",
        "invalid_payload",
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
        let signed = Signer::new(secret)
            .unwrap()
            .sign(header.scheme(), t, &case.body());
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
