//! One function per fuzz target: takes raw fuzzer bytes, panics if a
//! property fails. Shared with the stable corpus replay test.

use std::time::{Duration, SystemTime};

use fluxbase_webhooks::{
    Error, Event, Scheme, SignatureHeader, Signer, Verified, Verifier, WebhookPayload, dedupe,
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

/// The input of [`verify_chunks`]: a header, cut points, a body limit and a
/// body, read from raw bytes.
#[derive(Debug)]
pub struct VerifyInput<'a> {
    /// The header value to check (or, when `sign` is set, ignored).
    pub header: &'a [u8],
    /// Sign the body ourselves in this scheme instead of using `header`.
    pub sign: Option<Scheme>,
    /// Where to cut the body into chunks.
    pub cuts: Vec<usize>,
    /// The verifier's body limit.
    pub limit: u64,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> VerifyInput<'a> {
    /// Layout: `[mode][header_len][n_cuts][header][cuts: 2 bytes each][limit: 2 bytes][body]`;
    /// missing bytes read as zero.
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
        let header = take(&mut rest, header_len);
        let cuts = (0..n_cuts)
            .map(|_| {
                let b = take(&mut rest, 2);
                usize::from(u16::from_le_bytes([
                    *b.first().unwrap_or(&0),
                    *b.get(1).unwrap_or(&0),
                ]))
            })
            .collect();
        let l = take(&mut rest, 2);
        let limit = match u16::from_le_bytes([*l.first().unwrap_or(&0), *l.get(1).unwrap_or(&0)]) {
            0 => u64::MAX,
            n => u64::from(n),
        };
        Self {
            header,
            sign,
            cuts,
            limit,
            body: rest,
        }
    }
}

/// One-shot and incremental verification over any chunking always agree,
/// and a body we signed always verifies (within the limit). Returns what
/// both said, so the corpus replay can tell which inputs reached the MAC.
pub fn verify_chunks(data: &[u8]) -> Result<Verified, Error> {
    let input = VerifyInput::read(data);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
    let verifier = Verifier::new(SECRET).body_limit(input.limit);
    let header = match input.sign {
        Some(scheme) => Signer::new(SECRET)
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
            inc.update(&input.body[start..p])?;
            start = p;
        }
        inc.finish()
    })();
    assert_eq!(one_shot, incremental, "one-shot and incremental disagree");
    if let (Some(_), Err(e)) = (input.sign, &one_shot) {
        assert!(
            input.body.len() as u64 > input.limit,
            "our own signature failed: {e}"
        );
    }
    one_shot
}
