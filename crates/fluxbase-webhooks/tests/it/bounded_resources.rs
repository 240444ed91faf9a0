//! What bounds a receiver under load from senders who know no secret: the
//! budget of body bytes buffered at once, the server's header and idle
//! timeouts and connection bound, and the drain that lets a sender still
//! writing an oversized body read its 413.

// The server's limits are the library's server, with the `axum` feature.
#![cfg_attr(not(feature = "axum"), allow(dead_code, unused_imports))]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
#[cfg(feature = "axum")]
use fluxbase_webhooks::axum::{FluxbaseEvent, serve};
use fluxbase_webhooks::{Receiver, Scheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::servers::{self, Server};
use crate::support::{
    Body, CURRENT, GUARD, LIMIT, Req, insert_body, send, sign, unix_now, verifier,
};

/// A header that parses and is current, over a body nobody will finish: what
/// an attacker without the secret can send.
fn forged_header() -> String {
    format!("t={},v1={}", unix_now(), "ab".repeat(32))
}

/// Opens a connection that declares a `len`-byte body, sends `sent` bytes
/// of it and stalls.
async fn stall(addr: std::net::SocketAddr, len: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhooks HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-fluxbase-signature: {}\r\ncontent-length: {len}\r\n\r\n",
        forged_header()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent]).await.unwrap();
    stream
}

/// Every integration, each with its own receiver of `budget` bytes and a
/// 2 s read timeout, paired with its server.
async fn budgeted(budget: u64) -> Vec<(Server, Receiver)> {
    let make = || {
        Receiver::builder(verifier())
            .body_limit(LIMIT)
            .body_budget(budget)
            .read_timeout(Duration::from_secs(2))
            .build()
    };
    let mut made = Vec::new();
    let servers = servers::all_with(|| {
        let receiver = make();
        made.push(receiver.clone());
        receiver
    })
    .await;
    servers.into_iter().zip(made).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_hold_no_more_than_the_budget() {
    const LEN: usize = 15 * 1024;
    const BUDGET: u64 = 4 * LEN as u64;
    // Room for four stalled bodies and nothing more: the fifth and later
    // are refused 503 before any of their body is buffered.
    for (server, receiver) in &budgeted(BUDGET).await {
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(stall(server.addr, LEN, LEN - 1).await);
        }
        // Wait until the four are being read.
        let deadline = Instant::now() + GUARD;
        while receiver.body_bytes_in_flight() < 4 * (LEN as u64 - 1) {
            assert!(
                Instant::now() < deadline,
                "{}: the stalled bodies were never read",
                server.name
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(receiver.body_bytes_in_flight() <= BUDGET);
        // The next one, and an honest delivery, get 503 with Retry-After.
        for req in [
            Req::post(Body::Stalled {
                data: vec![b' '; LEN],
                sent: 10,
            })
            .signature(forged_header()),
            {
                let body = insert_body();
                let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
                Req::post(Body::Full(body)).signature(header)
            },
        ] {
            let reply = send(server.addr, &req).await;
            assert_eq!(
                (reply.status, reply.problem_code().as_str()),
                (503, "over_capacity"),
                "{}",
                server.name
            );
            assert_eq!(reply.header("retry-after"), Some("5"));
        }
        assert!(receiver.body_bytes_in_flight() <= BUDGET, "{}", server.name);
        // The stalled bodies time out (408) and give their bytes back.
        for mut stream in held {
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(GUARD, stream.read_to_end(&mut answer)).await;
            assert!(
                answer.starts_with(b"HTTP/1.1 408"),
                "{}: {}",
                server.name,
                String::from_utf8_lossy(&answer)
            );
        }
        assert_eq!(receiver.body_bytes_in_flight(), 0, "{}", server.name);
        let body = insert_body();
        let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
        let reply = send(server.addr, &Req::post(Body::Full(body)).signature(header)).await;
        assert_eq!(reply.status, 200, "{}: {reply:?}", server.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_declared_but_not_sent_hold_none_of_the_budget() {
    const LEN: usize = 15 * 1024;
    // Room for four bodies: eight forged heads each declaring one and
    // sending nothing of it take none of that room, so an honest delivery
    // still gets in while they wait for their read timeout.
    for (server, receiver) in &budgeted(4 * LEN as u64).await {
        let mut promised = Vec::new();
        for _ in 0..8 {
            promised.push(stall(server.addr, LEN, 0).await);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(receiver.body_bytes_in_flight(), 0, "{}", server.name);
        let body = insert_body();
        let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
        let reply = send(server.addr, &Req::post(Body::Full(body)).signature(header)).await;
        assert_eq!(reply.status, 200, "{}: {reply:?}", server.name);
        // The promises still end at the read timeout.
        for mut stream in promised {
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(GUARD, stream.read_to_end(&mut answer)).await;
            assert!(
                answer.starts_with(b"HTTP/1.1 408"),
                "{}: {}",
                server.name,
                String::from_utf8_lossy(&answer)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_still_writing_an_oversized_body_reads_the_413() {
    // Three megabytes against a 16 KiB limit, declared and chunked: the
    // client writes all of it before it reads, so it sees the answer only
    // if the server read (and threw away) the rest first.
    let big = vec![b'x'; 3 * 1024 * 1024];
    let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &big);
    for server in servers::all().await {
        for req in [
            Req::post(Body::Full(big.clone())).signature(&header),
            Req::post(Body::Chunked {
                data: big.clone(),
                size: 64 * 1024,
            })
            .signature(&header),
        ] {
            let reply = send(server.addr, &req).await;
            assert_eq!(
                (reply.status, reply.problem_code().as_str()),
                (413, "payload_too_large"),
                "{}",
                server.name
            );
        }
    }
}

#[cfg(feature = "axum")]
async fn typed(FluxbaseEvent(event): FluxbaseEvent) -> String {
    event.name().to_owned()
}

/// An answer far larger than a socket's buffers hold.
#[cfg(feature = "axum")]
async fn large() -> Vec<u8> {
    vec![b'x'; 8 << 20]
}

/// The library's server with short header and write timeouts and `max`
/// connections.
#[cfg(feature = "axum")]
async fn short_fused(max: usize) -> Server {
    let app = Router::new()
        .route("/webhooks", post(typed))
        .route("/large", axum::routing::get(large))
        .with_state(crate::support::receiver());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = serve(listener, app)
            .header_read_timeout(Duration::from_millis(400))
            .write_timeout(Duration::from_millis(400))
            .max_connections(max)
            .await;
    });
    Server::unmanaged("serve", addr)
}

/// Reads until the peer closes, which must come from the server's 400 ms
/// header timeout: well before hyper's own 30 s default would.
async fn closed_after(stream: &mut TcpStream) {
    let started = Instant::now();
    let mut sink = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut sink))
        .await
        .expect("the server never closed the connection")
        .ok();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_trickling_and_idle_connections_are_closed() {
    let server = short_fused(64).await;
    // Sends nothing at all.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_after(&mut silent).await;
    // Trickles a header line now and then, never finishing the head.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    trickle
        .write_all(b"POST /webhooks HTTP/1.1\r\n")
        .await
        .unwrap();
    let trickled = async {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if trickle
                .write_all(format!("x-pad-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        panic!("a trickled head was still being read after 4 s");
    };
    tokio::time::timeout(GUARD, trickled).await.unwrap();
    // Kept alive after an honest delivery, then idle.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let body = insert_body();
    let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
    let mut request = format!(
        "POST /webhooks HTTP/1.1\r\nhost: x\r\nx-fluxbase-signature: {header}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    idle.write_all(&request).await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    closed_after(&mut idle).await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_bound_wait_for_a_free_slot() {
    let server = short_fused(1).await;
    // The one slot is taken by a silent connection until its header
    // timeout; the honest delivery behind it is served after that, not
    // refused, and never in parallel with it.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let body = insert_body();
    let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
    let started = Instant::now();
    let reply = send(server.addr, &Req::post(Body::Full(body)).signature(header)).await;
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "served while the slot was taken"
    );
    closed_after(&mut silent).await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_its_answers_gives_its_slot_up() {
    let server = short_fused(1).await;
    // The one slot is taken by a peer that asks, pipelined, for answers
    // far larger than the sockets' buffers and reads none of them: the
    // server's writes wait, and only the write timeout ends them.
    let mut deaf = TcpStream::connect(server.addr).await.unwrap();
    let asks = "GET /large HTTP/1.1\r\nhost: x\r\n\r\n".repeat(4);
    deaf.write_all(asks.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The honest delivery behind it is served once the slot is free.
    let body = insert_body();
    let header = sign(CURRENT, Scheme::Timestamped, unix_now(), &body);
    let reply = send(server.addr, &Req::post(Body::Full(body)).signature(header)).await;
    assert_eq!(reply.status, 200);
    // And the deaf peer finds its connection closed before the answers
    // it asked for were all written.
    let mut got = Vec::new();
    let read = tokio::time::timeout(GUARD, deaf.read_to_end(&mut got)).await;
    assert!(
        read.expect("the server never closed the connection")
            .is_err()
            || got.len() < 4 * (8 << 20)
    );
    drop(deaf);
}
