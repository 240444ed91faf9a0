//! The flow on its own, with a fake head and body: no framework involved.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use fluxhook_testkit::block_on;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use super::*;
use crate::{Event, Scheme, Signer};

const SECRET: &str = "whsec-test";

fn body(t: i64) -> Vec<u8> {
    let stamp = crate::Timestamp::from(std::time::UNIX_EPOCH + Duration::from_secs(t as u64));
    format!(r#"{{"event":"INSERT","table":"users","schema":"auth","record":{{"id":1}},"timestamp":"{stamp}"}}"#)
        .into_bytes()
}

#[derive(Default)]
struct Head {
    signature: Option<String>,
    length: Option<String>,
}

impl RequestHead for Head {
    fn signatures(&self) -> impl Iterator<Item = &[u8]> {
        self.signature.iter().map(|s| s.as_bytes())
    }
    fn legacy_signatures(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::empty()
    }
    fn content_lengths(&self) -> impl Iterator<Item = &[u8]> {
        self.length.iter().map(|s| s.as_bytes())
    }
    fn content_encodings(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::empty()
    }
}

/// Chunks handed out one by one; counts what was read.
struct Chunks {
    chunks: VecDeque<Result<Bytes, BodyError>>,
    read: usize,
}

impl Chunks {
    fn new(data: &[u8], size: usize) -> Self {
        Self {
            chunks: data
                .chunks(size)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect(),
            read: 0,
        }
    }
}

impl BodySource for Chunks {
    fn poll_chunk(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        let next = self.chunks.pop_front();
        if let Some(Ok(chunk)) = &next {
            self.read += chunk.len();
        }
        Poll::Ready(next)
    }
}

fn signed(body: &[u8]) -> Head {
    signed_as(SECRET, Scheme::Timestamped, now(), body)
}

/// A head signed with `secret` in `scheme` (at `t`, for the timestamped one).
fn signed_as(secret: &str, scheme: Scheme, t: i64, body: &[u8]) -> Head {
    Head {
        signature: Some(
            Signer::new(secret)
                .unwrap()
                .sign(scheme, t, body)
                .to_string(),
        ),
        length: Some(body.len().to_string()),
    }
}

/// A receiver whose window is 2 s into the past, for tests on the real
/// clock.
fn two_second_window() -> Receiver {
    let verifier = Verifier::builder()
        .secret(SECRET)
        .tolerance(Duration::from_secs(2))
        .build()
        .unwrap();
    Receiver::new(verifier)
}

fn assert_too_old(refused: &Rejection) {
    assert!(
        matches!(refused.error(), Some(Error::TimestampTooOld { .. })),
        "{refused:?}"
    );
}

/// Runs one delivery; the handler answers `succeeded`.
fn deliver(
    receiver: &Receiver,
    head: &Head,
    chunks: &mut Chunks,
    succeeded: bool,
) -> Result<u64, Rejection> {
    let prepared = receiver.prepare(head, None);
    block_on(receiver.run(
        prepared,
        Pin::new(chunks),
        Want::Event,
        true,
        |accepted| async move {
            assert!(accepted.event.is_some());
            Ok((accepted.verified.body_len(), succeeded))
        },
    ))
}

fn now() -> i64 {
    fluxhook_testkit::unix_now()
}

#[test]
fn a_replay_is_refused_and_a_failed_handler_forgets_the_event() {
    let receiver = Receiver::new(Verifier::new(SECRET).unwrap());
    let first = body(now());
    let head = signed(&first);
    assert_eq!(
        deliver(&receiver, &head, &mut Chunks::new(&first, 7), true),
        Ok(first.len() as u64)
    );
    let replay = deliver(&receiver, &head, &mut Chunks::new(&first, 7), true).unwrap_err();
    assert_eq!(replay.status(), 409);
    assert_eq!(replay.error(), Some(&Error::Replayed));

    // A retry (re-dated) of an event whose handler failed is new again.
    let failing = Receiver::new(Verifier::new(SECRET).unwrap());
    let one = body(now() - 2);
    assert!(deliver(&failing, &signed(&one), &mut Chunks::new(&one, 64), false).is_ok());
    let retry = body(now() - 1);
    let prepared = failing.prepare(&signed(&retry), None);
    let duplicate = block_on(failing.run(
        prepared,
        Pin::new(&mut Chunks::new(&retry, 64)),
        Want::Event,
        true,
        |a| async move { Ok((a.dedupe.as_ref().map(|d| d.is_duplicate()), true)) },
    ));
    assert_eq!(duplicate, Ok(Some(false)));
}

#[test]
fn a_delivery_whose_window_closes_while_its_body_arrives_is_refused() {
    // The head comes fresh; the body is finished after the window closed.
    // Accepted then, a copy of a delivery started at the end of its window
    // and held for the read timeout would outlive the original's replay
    // key and be accepted again.
    let receiver = two_second_window();
    let late = body(now());
    let head = signed(&late);
    let prepared = receiver.prepare(&head, None);
    std::thread::sleep(Duration::from_millis(3_100));
    let answer = block_on(receiver.run(
        prepared,
        Pin::new(&mut Chunks::new(&late, 64)),
        Want::Event,
        true,
        |accepted| async move { Ok((accepted.verified.body_len(), true)) },
    ));
    assert_too_old(&answer.unwrap_err());
}

#[test]
fn a_delivery_let_in_by_its_legacy_copy_refuses_its_later_dated_copy() {
    // The server dates the body, then signs `t=` a little later. A copy let
    // in under the bare hex (dated by the body) must keep its replay key
    // for as long as the `t=` copy verifies, not only for the body's window.
    let receiver = two_second_window();
    let stamped = now();
    let delivery = body(stamped);
    let legacy = signed_as(SECRET, Scheme::Hex, 0, &delivery);
    let later = signed_as(SECRET, Scheme::Timestamped, stamped + 8, &delivery);
    assert!(deliver(&receiver, &legacy, &mut Chunks::new(&delivery, 64), true).is_ok());
    // Past the body's window and the key it alone would give (its whole
    // second, 2 s, a second to spare: `stamped + 4` at the latest), well
    // inside the `t=` copy's (until `stamped + 10`).
    std::thread::sleep(Duration::from_millis(5_000));
    assert_too_old(
        &deliver(&receiver, &legacy, &mut Chunks::new(&delivery, 64), true).unwrap_err(),
    );
    let replay = deliver(&receiver, &later, &mut Chunks::new(&delivery, 64), true).unwrap_err();
    assert_eq!(replay.error(), Some(&Error::Replayed), "{replay:?}");
}

#[test]
fn a_stale_legacy_copy_is_refused_as_stale_whatever_its_secret() {
    // Its date is checked before its tag, so the answer does not tell
    // whether the receiver still has the secret it was signed with.
    let receiver = Receiver::new(Verifier::new(SECRET).unwrap());
    let old = body(now() - 3600);
    for secret in [SECRET, "whsec-rotated-away"] {
        let head = signed_as(secret, Scheme::Hex, 0, &old);
        assert_too_old(&deliver(&receiver, &head, &mut Chunks::new(&old, 64), true).unwrap_err());
    }
}

#[test]
fn a_refused_body_is_drained_but_not_kept() {
    let receiver = Receiver::builder(Verifier::new(SECRET).unwrap())
        .body_limit(10)
        .drain_limit(1000)
        .build();
    let data = body(now());
    let mut chunks = Chunks::new(&data, 16);
    let head = Head {
        length: None,
        ..signed(&data)
    };
    let refused = deliver(&receiver, &head, &mut chunks, true).unwrap_err();
    assert_eq!(refused.status(), 413);
    assert_eq!(
        chunks.read,
        data.len(),
        "read to its end, so the sender sees the 413"
    );
    assert_eq!(receiver.body_bytes_in_flight(), 0);

    // Past the drain limit, reading stops.
    let small = Receiver::builder(Verifier::new(SECRET).unwrap())
        .body_limit(10)
        .drain_limit(20)
        .build();
    let mut chunks = Chunks::new(&data, 16);
    assert!(deliver(&small, &head, &mut chunks, true).is_err());
    assert!(chunks.read < data.len(), "{}", chunks.read);
}

#[test]
fn the_budget_refuses_with_retry_after_and_is_given_back() {
    let receiver = Receiver::builder(Verifier::new(SECRET).unwrap())
        .body_budget(100)
        .build();
    let data = body(now());
    assert!(data.len() > 100);
    let mut chunks = Chunks::new(&data, 8);
    let refused = deliver(&receiver, &signed(&data), &mut chunks, true).unwrap_err();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(refused.error(), Some(&Error::OverCapacity));
    assert_eq!(receiver.body_bytes_in_flight(), 0);
    // Refused for want of room: not read, not even to be thrown away.
    assert_eq!(chunks.read, 0);
    // Held while the handler runs, given back after.
    let roomy = Receiver::builder(Verifier::new(SECRET).unwrap())
        .body_budget(1000)
        .build();
    let prepared = roomy.prepare(&signed(&data), None);
    let during = block_on(roomy.run(
        prepared,
        Pin::new(&mut Chunks::new(&data, 8)),
        Want::Bytes,
        true,
        |a| {
            let held = roomy.body_bytes_in_flight();
            async move {
                drop(a);
                Ok((held, true))
            }
        },
    ));
    assert_eq!(during, Ok(data.len() as u64));
    assert_eq!(roomy.body_bytes_in_flight(), 0);
}

#[test]
fn an_on_reject_hook_answers_and_keeps_the_error() {
    let receiver = Receiver::builder(Verifier::new(SECRET).unwrap())
        .on_reject(|err| Rejection::text(err.code().http_status(), err.code().as_str()))
        .build();
    let refused = deliver(
        &receiver,
        &Head::default(),
        &mut Chunks::new(b"{}", 8),
        true,
    )
    .unwrap_err();
    assert_eq!(
        (refused.status(), refused.body().as_ref()),
        (401, &b"missing_signature"[..])
    );
    assert_eq!(refused.error(), Some(&Error::MissingSignature));
}

#[test]
fn metrics_count_every_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    ::metrics::with_local_recorder(&recorder, || {
        let receiver = Receiver::new(Verifier::new(SECRET).unwrap());
        let data = body(now());
        let head = signed(&data);
        deliver(&receiver, &head, &mut Chunks::new(&data, 64), true).unwrap();
        deliver(&receiver, &head, &mut Chunks::new(&data, 64), true).unwrap_err();
        deliver(
            &receiver,
            &Head::default(),
            &mut Chunks::new(&data, 64),
            true,
        )
        .unwrap_err();
    });
    let mut counts = std::collections::BTreeMap::new();
    let mut histograms = 0;
    let mut gauge_seen = false;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        match value {
            DebugValue::Counter(n) => {
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                counts.insert(labels.join(","), n);
            }
            DebugValue::Histogram(samples) => histograms += samples.len(),
            DebugValue::Gauge(_) => gauge_seen |= key.name() == metrics::BODY_BYTES_IN_FLIGHT,
        }
    }
    assert_eq!(
        counts.get("outcome=verified,scheme=timestamped"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("outcome=replayed,scheme=timestamped"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("outcome=missing_signature,scheme=none"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(histograms, 3);
    assert!(gauge_seen);
}

/// A genuine payload whose fields do not fit the typed parse reaches the
/// handler as `Event::Unparsed`, with the parser's message and no position;
/// an unknown event's as `Event::Unknown`; a body that is not even an
/// object with a string `event` is refused.
#[test]
fn an_unfit_payload_reads_as_unparsed_and_a_foreign_body_is_refused() {
    let receiver = Receiver::builder(Verifier::new(SECRET).unwrap())
        .without_dedupe()
        .build();
    let stamp = crate::Timestamp::from(std::time::SystemTime::now());
    let read = |body: String| {
        let body = body.into_bytes();
        let prepared = receiver.prepare(&signed(&body), None);
        block_on(receiver.run(
            prepared,
            Pin::new(&mut Chunks::new(&body, 16)),
            Want::Event,
            true,
            |a| async move { Ok((a.event, true)) },
        ))
    };
    let unfit = read(format!(
        r#"{{"event":"INSERT","table":5,"schema":"auth","record":{{}},"timestamp":"{stamp}"}}"#
    ));
    match unfit {
        Ok(Some(Event::Unparsed { name, error, .. })) => {
            assert_eq!(name, "INSERT");
            assert!(error.contains("invalid type"), "{error}");
            assert!(!error.contains(" at line "), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = read(format!(
        r#"{{"event":"orders.shipped","data":7,"timestamp":"{stamp}"}}"#
    ));
    assert!(
        matches!(&unknown, Ok(Some(Event::Unknown { name, .. })) if name == "orders.shipped"),
        "{unknown:?}"
    );
    let foreign = read(format!(r#"{{"event":5,"timestamp":"{stamp}"}}"#)).unwrap_err();
    assert_eq!(foreign.status(), 400);
    assert_eq!(
        foreign.error().map(Error::code),
        Some(Error::invalid_payload(std::fmt::Error).code())
    );
}
