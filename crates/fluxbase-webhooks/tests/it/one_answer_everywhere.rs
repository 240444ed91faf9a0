//! One table of cases, run against every integration over real HTTP: each
//! must give the same status and `code`, and the same answer bytes.

use fluxbase_webhooks::Scheme;

use crate::support::servers::{self, Server};
use crate::support::{
    Body, CURRENT, LIMIT, PREVIOUS, Reply, Req, insert_body, insert_body_at, send, sign, unix_now,
};

/// What a case expects: a status and, for refusals, the problem `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Accepted(&'static str),
    Refused(u16, &'static str),
}

struct Case {
    name: &'static str,
    req: Req,
    expect: Expect,
}

fn signed(secret: &str, scheme: Scheme, t: i64, body: Vec<u8>) -> Req {
    let header = sign(secret, scheme, t, &body);
    Req::post(Body::Full(body)).signature(header)
}

/// Every accepted case carries a body of its own: the same delivery twice
/// would be a replay. Refused cases may share one (a refusal records
/// nothing).
fn table() -> Vec<Case> {
    let now = unix_now();
    let body = insert_body();
    let ts = |secret: &str, t: i64, b: &[u8]| sign(secret, Scheme::Timestamped, t, b);
    let undated =
        br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":1}}"#.to_vec();
    let mut dotted = format!("{now}.").into_bytes();
    dotted.extend_from_slice(&body);
    let mut cases = vec![
        Case {
            name: "valid timestamped",
            req: signed(CURRENT, Scheme::Timestamped, now, insert_body()),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "valid hex (dated by the body)",
            req: signed(CURRENT, Scheme::Hex, now, insert_body()),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "valid sha256 (dated by the body)",
            req: signed(CURRENT, Scheme::Sha256, now, insert_body()),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "legacy-style hex over a body dated 4 minutes ago",
            req: signed(CURRENT, Scheme::Hex, now, insert_body_at(now - 240)),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "rotated key",
            req: signed(PREVIOUS, Scheme::Timestamped, now, insert_body()),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "uppercase hex",
            req: {
                let body = insert_body();
                let h = ts(CURRENT, now, &body);
                let (t, v1) = h.split_once(",v1=").unwrap();
                Req::post(Body::Full(body)).signature(format!("{t},v1={}", v1.to_ascii_uppercase()))
            },
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "stale hex body (a captured delivery, an hour later)",
            req: signed(CURRENT, Scheme::Hex, now, insert_body_at(now - 3600)),
            expect: Expect::Refused(401, "timestamp_too_old"),
        },
        Case {
            name: "sha256 body dated an hour ahead",
            req: signed(CURRENT, Scheme::Sha256, now, insert_body_at(now + 3600)),
            expect: Expect::Refused(401, "timestamp_in_future"),
        },
        Case {
            name: "undated body under bare hex",
            req: signed(CURRENT, Scheme::Hex, now, undated.clone()),
            expect: Expect::Refused(401, "missing_timestamp"),
        },
        Case {
            name: "undated body under sha256",
            req: signed(CURRENT, Scheme::Sha256, now, undated),
            expect: Expect::Refused(401, "missing_timestamp"),
        },
        Case {
            name: "timestamped tag as bare hex over '<t>.' + body",
            req: Req::post(Body::Full(dotted)).signature(
                ts(CURRENT, now, &body).split_once(",v1=").unwrap().1,
            ),
            expect: Expect::Refused(401, "missing_timestamp"),
        },
        Case {
            name: "Content-Encoding sent twice, identity then gzip",
            req: signed(CURRENT, Scheme::Timestamped, now, body.clone())
                .header("content-encoding", "identity")
                .header("content-encoding", "gzip"),
            expect: Expect::Refused(415, "unsupported_encoding"),
        },
        Case {
            name: "body cut off before its length",
            req: Req::post(Body::CutOff {
                data: body.clone(),
                sent: body.len() / 2,
            })
            .signature(ts("whsec-wrong", now, &body)),
            expect: Expect::Refused(400, "body_incomplete"),
        },
        Case {
            name: "server test event",
            req: signed(
                CURRENT,
                Scheme::Timestamped,
                now,
                br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#.to_vec(),
            ),
            expect: Expect::Accepted("TEST"),
        },
        Case {
            name: "body exactly at the limit",
            req: signed(CURRENT, Scheme::Timestamped, now, padded_to(LIMIT as usize)),
            expect: Expect::Accepted("INSERT"),
        },
        Case {
            name: "missing header",
            req: Req::post(Body::Full(body.clone())),
            expect: Expect::Refused(401, "missing_signature"),
        },
        Case {
            name: "empty header",
            req: Req::post(Body::Full(body.clone())).signature(""),
            expect: Expect::Refused(401, "missing_signature"),
        },
        Case {
            name: "legacy header only (not enabled)",
            req: Req::post(Body::Full(body.clone()))
                .header("x-webhook-signature", sign(CURRENT, Scheme::Hex, now, &body)),
            expect: Expect::Refused(401, "missing_signature"),
        },
        Case {
            name: "malformed header",
            req: Req::post(Body::Full(body.clone())).signature("t=notanumber,v1=abc123"),
            expect: Expect::Refused(401, "malformed_signature"),
        },
        Case {
            name: "malformed header bytes",
            req: Req::post(Body::Full(body.clone())).signature(b"t=1,v1=\xff\xfe"),
            expect: Expect::Refused(401, "malformed_signature"),
        },
        Case {
            name: "header sent twice",
            req: signed(CURRENT, Scheme::Timestamped, now, body.clone())
                .signature(ts(CURRENT, now, &body)),
            expect: Expect::Refused(401, "malformed_signature"),
        },
        Case {
            name: "wrong secret",
            req: signed("whsec-wrong", Scheme::Timestamped, now, body.clone()),
            expect: Expect::Refused(401, "signature_mismatch"),
        },
        Case {
            name: "tampered body",
            req: Req::post(Body::Full(
                String::from_utf8(body.clone())
                    .unwrap()
                    .replace("ada@", "eve@")
                    .into_bytes(),
            ))
            .signature(ts(CURRENT, now, &body)),
            expect: Expect::Refused(401, "signature_mismatch"),
        },
        Case {
            name: "stale timestamp",
            req: signed(CURRENT, Scheme::Timestamped, now - 3600, body.clone()),
            expect: Expect::Refused(401, "timestamp_too_old"),
        },
        Case {
            name: "future timestamp",
            req: signed(CURRENT, Scheme::Timestamped, now + 3600, body.clone()),
            expect: Expect::Refused(401, "timestamp_in_future"),
        },
        Case {
            name: "invalid JSON with a valid signature",
            req: signed(CURRENT, Scheme::Timestamped, now, b"{\"event\": \"INSERT\",".to_vec()),
            expect: Expect::Refused(400, "invalid_payload"),
        },
        Case {
            name: "JSON that is not a payload",
            req: signed(CURRENT, Scheme::Timestamped, now, b"[1,2,3]".to_vec()),
            expect: Expect::Refused(400, "invalid_payload"),
        },
        Case {
            name: "empty body",
            req: signed(CURRENT, Scheme::Timestamped, now, Vec::new()),
            expect: Expect::Refused(400, "invalid_payload"),
        },
        Case {
            name: "non-UTF-8 body",
            req: signed(CURRENT, Scheme::Timestamped, now, b"\xff\xfe\x00{\"event\":\"INSERT\"}\x80".to_vec()),
            expect: Expect::Refused(400, "invalid_payload"),
        },
        Case {
            name: "body one byte over the limit",
            req: signed(CURRENT, Scheme::Timestamped, now, padded_to(LIMIT as usize + 1)),
            expect: Expect::Refused(413, "payload_too_large"),
        },
        Case {
            name: "declared length over the limit",
            req: Req::post(Body::DeclaredOnly(LIMIT + 1)).signature(ts(CURRENT, now, &body)),
            expect: Expect::Refused(413, "payload_too_large"),
        },
        Case {
            name: "chunked body over the limit",
            req: Req::post(Body::ChunkedUnfinished {
                size: 1024,
                count: LIMIT as usize / 1024 + 4,
            })
            .signature(ts(CURRENT, now, &body)),
            expect: Expect::Refused(413, "payload_too_large"),
        },
    ];
    // Every chunking of a valid body gives the same verdict.
    let chunked = insert_body();
    cases.push(Case {
        name: "valid body in small chunks",
        req: Req::post(Body::Chunked {
            data: chunked.clone(),
            size: 7,
        })
        .signature(ts(CURRENT, now, &chunked)),
        expect: Expect::Accepted("INSERT"),
    });
    cases
}

/// A valid INSERT payload of exactly `len` bytes.
fn padded_to(len: usize) -> Vec<u8> {
    let head = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"1"},"timestamp":"2026-01-02T03:04:05Z","pad":""#;
    let tail = br#""}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail);
    assert_eq!(body.len(), len);
    body
}

/// An answer with its digit runs blanked when it reports a delivery's age.
fn without_ages(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if !(text.contains("timestamp_too_old") || text.contains("timestamp_in_future")) {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    for b in body {
        if !(b.is_ascii_digit() && out.last() == Some(&b'#')) {
            out.push(if b.is_ascii_digit() { b'#' } else { *b });
        }
    }
    out
}

/// The verdict a reply gives, checked for shape.
fn verdict(reply: &Reply) -> Expect {
    if reply.status == 200 {
        let name = reply.json()["received"].as_str().unwrap().to_owned();
        Expect::Accepted(Box::leak(name.into_boxed_str()))
    } else {
        let code = reply.problem_code();
        Expect::Refused(reply.status, Box::leak(code.into_boxed_str()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_integration_answers_every_case_the_same() {
    let servers: Vec<Server> = servers::all().await;
    let mut failures = Vec::new();
    for case in table() {
        let mut answers: Vec<(&str, Reply)> = Vec::new();
        for server in &servers {
            // A chunked body with no end is answered only if the server
            // stops reading at the limit (`send` gives up otherwise).
            let reply = send(server.addr, &case.req).await;
            let got = verdict(&reply);
            if got != case.expect {
                failures.push(format!(
                    "{}: {} gave {got:?}, expected {:?} ({})",
                    case.name,
                    server.name,
                    case.expect,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
            answers.push((server.name, reply));
        }
        // Byte for byte the same answer everywhere (content type and body),
        // but for the age of a stale delivery, which is read off the clock
        // when each server answers.
        let (first_name, first) = &answers[0];
        for (name, reply) in &answers[1..] {
            if without_ages(&reply.body) != without_ages(&first.body)
                || reply.header("content-type") != first.header("content-type")
            {
                failures.push(format!(
                    "{}: {name} answered {:?} {:?}, {first_name} answered {:?} {:?}",
                    case.name,
                    reply.header("content-type"),
                    String::from_utf8_lossy(&reply.body),
                    first.header("content-type"),
                    String::from_utf8_lossy(&first.body),
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_is_refused_everywhere_by_default() {
    // The servers are built with the defaults: no option touched for replays.
    let body = insert_body();
    let req = signed(CURRENT, Scheme::Timestamped, unix_now(), body.clone());
    let hex = signed(CURRENT, Scheme::Hex, 0, body);
    for server in servers::all().await {
        assert_eq!(send(server.addr, &req).await.status, 200, "{}", server.name);
        for replay in [&req, &hex] {
            let reply = send(server.addr, replay).await;
            assert_eq!(
                (reply.status, reply.problem_code().as_str()),
                (409, "replayed"),
                "{}",
                server.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_only_delivery_is_refused_with_a_message_that_says_so() {
    let body = insert_body();
    let req = Req::post(Body::Full(body.clone()))
        .header("x-webhook-signature", sign(CURRENT, Scheme::Hex, 0, &body));
    for server in servers::all().await {
        let reply = send(server.addr, &req).await;
        assert_eq!(reply.status, 401, "{}", server.name);
        assert_eq!(reply.problem_code(), "missing_signature");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("X-Webhook-Signature") && detail.contains("legacy_header(true)"),
            "{}: {detail}",
            server.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_length_over_the_limit_is_refused_before_any_body_byte() {
    // Not one byte of the body is sent: an answer proves the server did not
    // wait for it.
    for server in servers::all().await {
        let req = Req::post(Body::DeclaredOnly(u64::MAX / 2)).signature(sign(
            CURRENT,
            Scheme::Timestamped,
            unix_now(),
            b"{}",
        ));
        let reply = send(server.addr, &req).await;
        assert_eq!(reply.status, 413, "{}", server.name);
        assert_eq!(reply.problem_code(), "payload_too_large");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_over_the_limit_is_answered_before_it_ends() {
    // 1 KiB chunks, a few past the limit, and never the last chunk: the
    // request body has no end, so a 413 proves the server stopped reading
    // at the limit instead of buffering the upload.
    for server in servers::all().await {
        let req = Req::post(Body::ChunkedUnfinished {
            size: 1024,
            count: LIMIT as usize / 1024 + 2,
        })
        .signature(sign(CURRENT, Scheme::Timestamped, unix_now(), b"{}"));
        let reply = send(server.addr, &req).await;
        assert_eq!(reply.status, 413, "{}", server.name);
        assert_eq!(reply.problem_code(), "payload_too_large");
    }
}
