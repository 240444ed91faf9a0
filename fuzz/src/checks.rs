//! One function per fuzz target: takes raw fuzzer bytes, panics if a
//! property fails. Shared with the stable corpus replay test.

use std::time::{Duration, SystemTime};

use fluxbase_webhooks::{
    Code, Error, Event, Scheme, SignatureHeader, Signer, Verified, Verifier, WebhookPayload, dedupe,
};

/// Header parser: never panics, and parse → format → parse is identity.
pub fn signature_header(data: &[u8]) {
    if let Ok(parsed) = SignatureHeader::parse(data) {
        let formatted = parsed.to_string();
        let again = match SignatureHeader::parse(&formatted) {
            Ok(h) => h,
            Err(e) => panic!("formatted header {formatted:?} does not parse: {e}"),
        };
        assert_eq!(again, parsed, "parse(format(h)) != h for {formatted:?}");
        assert_eq!(again.to_string(), formatted);
        // Never echo a tag through Debug.
        let debug = format!("{parsed:?}");
        for tag in parsed.signatures() {
            let hex = tag.iter().map(|b| format!("{b:02x}")).collect::<String>();
            assert!(!debug.contains(&hex));
        }
    }
}

/// Payload and event parsing: never panics, and a parsed event
/// re-serialized parses to the same event.
pub fn payload(data: &[u8]) {
    let _ = WebhookPayload::from_slice(data);
    let _ = dedupe::event_key(data);
    if let Ok(event) = Event::from_slice(data) {
        let _ = event.user_change();
        let _ = event.timestamp();
        let bytes = match serde_json::to_vec(&event) {
            Ok(b) => b,
            Err(e) => panic!("{event:?} does not serialize: {e}"),
        };
        let again = match Event::from_slice(&bytes) {
            Ok(e) => e,
            Err(e) => panic!(
                "re-serialized {:?} does not parse: {e}",
                String::from_utf8_lossy(&bytes)
            ),
        };
        assert_eq!(
            again,
            event,
            "round trip through {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// The secret and the clock of most conformance vectors, so the seeds made
/// from them (`fuzz/seed_corpus.py`) reach the signature check.
const SECRET: &str = "test-secret";
const NOW: u64 = 1_234_567_890;
/// The verifier's default window: 300 s into the past, 60 s ahead.
const TOLERANCE: i64 = 300;
const FUTURE_SKEW: i64 = 60;

/// The input of [`verify_chunks`]: a header, cut points, a clock offset and
/// a body, read from raw bytes.
#[derive(Debug)]
pub struct VerifyInput<'a> {
    /// The header value to check (or, when `sign` is set, ignored).
    pub header: &'a [u8],
    /// Sign the body ourselves in this scheme instead of using `header`.
    pub sign: Option<Scheme>,
    /// Where to cut the body into chunks.
    pub cuts: Vec<usize>,
    /// Seconds after [`NOW`] (the signing time) the check runs at.
    pub after: u64,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> VerifyInput<'a> {
    /// Layout: `[mode][header_len][n_cuts][header][cuts: 2 bytes each][after: 2 bytes][body]`;
    /// missing bytes read as zero. (The two `after` bytes were the body
    /// limit in older seeds, all zero: checked at `NOW`.)
    pub fn read(data: &'a [u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let (mode, header_len, n_cuts) = (byte(0), usize::from(byte(1)), usize::from(byte(2) % 16));
        let mut rest = data.get(3..).unwrap_or_default();
        let sign = match mode % 4 {
            1 => Some(Scheme::Timestamped),
            2 => Some(Scheme::Hex),
            3 => Some(Scheme::Sha256),
            _ => None,
        };
        let take = |rest: &mut &'a [u8], n: usize| -> &'a [u8] {
            let n = n.min(rest.len());
            let (head, tail) = rest.split_at(n);
            *rest = tail;
            head
        };
        let two =
            |b: &[u8]| u16::from_le_bytes([*b.first().unwrap_or(&0), *b.get(1).unwrap_or(&0)]);
        let header = take(&mut rest, header_len);
        let cuts = (0..n_cuts)
            .map(|_| usize::from(two(take(&mut rest, 2))))
            .collect();
        let after = u64::from(two(take(&mut rest, 2)));
        Self {
            header,
            sign,
            cuts,
            after,
            body: rest,
        }
    }
}

fn fuzz_verifier(stale_untimestamped: bool) -> Verifier {
    match Verifier::builder()
        .secret(SECRET)
        .danger_accept_stale_untimestamped(stale_untimestamped)
        .build()
    {
        Ok(v) => v,
        Err(e) => panic!("the fuzz secret is refused: {e}"),
    }
}

fn signer() -> Signer {
    match Signer::new(SECRET) {
        Ok(s) => s,
        Err(e) => panic!("the fuzz secret is refused: {e}"),
    }
}

/// Verification, for any header, body, chunking and clock:
///
/// - one-shot and incremental verification agree;
/// - whatever the scheme, an accepted delivery is dated, and dated inside
///   the window (an untimestamped signature by its body's `timestamp`);
/// - a body we signed: timestamped, it verifies exactly while the clock is
///   within the tolerance of its `t`; untimestamped, its tag matches, so a
///   refusal can only be about the body's date, and the explicit
///   stale-accepting opt-in accepts it;
/// - a timestamped tag never verifies as a bare hex tag over `"<t>." + body`
///   (the bytes it is the HMAC of).
///
/// Returns what both said, so the corpus replay can tell which inputs
/// reached the MAC.
pub fn verify_chunks(data: &[u8]) -> Result<Verified, Error> {
    let input = VerifyInput::read(data);
    let now_secs = NOW + input.after;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs);
    let verifier = fuzz_verifier(false);
    let header = match input.sign {
        Some(scheme) => signer()
            .sign(scheme, NOW as i64, input.body)
            .to_string()
            .into_bytes(),
        None => input.header.to_vec(),
    };
    let one_shot = verifier.verify_at(&header, input.body, now);
    let mut points: Vec<usize> = input
        .cuts
        .iter()
        .map(|c| c % (input.body.len() + 1))
        .collect();
    points.sort_unstable();
    let incremental = (|| {
        let mut inc = verifier.begin_at(&header, now)?;
        let mut start = 0;
        for p in points.into_iter().chain([input.body.len()]) {
            inc.update(&input.body[start..p]);
            start = p;
        }
        inc.finish(input.body)
    })();
    assert_eq!(one_shot, incremental, "one-shot and incremental disagree");

    if let Ok(verified) = &one_shot {
        let Some(date) = verified.timestamp() else {
            panic!("accepted without a date: {verified:?}");
        };
        // Whole seconds, rounded down: one second of slack each way.
        let age = now_secs as i64 - date;
        assert!(
            (-FUTURE_SKEW - 1..=TOLERANCE + 1).contains(&age),
            "accepted a delivery {age}s old: {verified:?}"
        );
    }

    match input.sign {
        Some(Scheme::Timestamped) => {
            let fresh = input.after as i64 <= TOLERANCE;
            match &one_shot {
                Ok(_) => assert!(fresh, "accepted {}s after t", input.after),
                Err(e) => {
                    assert!(!fresh, "our own timestamped signature failed: {e}");
                    assert_eq!(e.code(), Code::TimestampTooOld, "{e}");
                }
            }
            // The same tag is the HMAC of "<t>." + body: as bare hex over
            // those bytes it must still be refused (they carry no date).
            let tag = signer().tag(Scheme::Timestamped, NOW as i64, input.body);
            let mut dotted = format!("{NOW}.").into_bytes();
            dotted.extend_from_slice(input.body);
            let bare = SignatureHeader::hex(tag).to_string();
            if let Ok(v) = verifier.verify_at(&bare, &dotted, now) {
                panic!("a timestamped tag verified as bare hex: {v:?}");
            }
        }
        Some(scheme) => {
            if let Err(e) = &one_shot {
                assert!(
                    matches!(
                        e.code(),
                        Code::MissingTimestamp | Code::TimestampTooOld | Code::TimestampInFuture
                    ),
                    "our own {scheme} signature failed: {e}"
                );
            }
            let lenient = fuzz_verifier(true).verify_at(&header, input.body, now);
            assert!(
                lenient.is_ok(),
                "the stale-accepting verifier refused: {lenient:?}"
            );
        }
        None => {}
    }
    one_shot
}
