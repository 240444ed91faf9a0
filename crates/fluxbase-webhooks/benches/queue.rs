//! Throughput of the Redis Streams handoff against a local `redis-server`
//! the bench starts on a free loopback port (`fluxhook_testkit::RedisServer`,
//! no persistence). Every message is the server's 574-byte `INSERT` on
//! `auth.users` (`data/row_insert.json`). Criterion's throughput is in
//! messages per second.
//!
//! - `queue/append`: [`StreamWriter::append`] (a pipelined `XADD` and `XLEN` far below the bound), with one
//!   append in flight at a time (what one request handler waits for), and
//!   with 32 in flight over the writer's one multiplexed connection (32
//!   concurrent requests on one receiver).
//! - `queue/consume`: [`StreamConsumer::try_next`] (reads of 16, the event
//!   parsed) and [`Message::ack`] on a stream filled beforehand (not timed),
//!   acknowledging each message before taking the next, and with up to 32
//!   acknowledgements in flight.
//!
//! `cargo bench -p fluxbase-webhooks --features queue --bench queue`

// A step that fails (Redis gone) ends the bench, as it fails a test.
#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fluxbase_webhooks::Scheme;
use fluxbase_webhooks::dedupe::event_key;
use fluxbase_webhooks::queue::{QueuedDelivery, StreamConsumer, StreamWriter};
use fluxhook_testkit::RedisServer;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const BODY: &[u8] = include_bytes!("data/row_insert.json");

/// Appends or acknowledgements in flight in the concurrent variants.
const IN_FLIGHT: u64 = 32;

fn delivery() -> QueuedDelivery {
    QueuedDelivery::builder(BODY, Scheme::Timestamped)
        .key_index(0)
        .timestamp(Some(1_767_323_045))
        .event_key(event_key(BODY))
        .build()
}

/// A stream name no earlier sample used.
fn fresh_stream() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("bench:{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn writer(redis: &RedisServer, stream: &str) -> StreamWriter {
    StreamWriter::builder(redis.url())
        .stream(stream)
        // Never trimmed during a sample: every message is there to consume.
        .max_len(10_000_000)
        .connect()
        .await
        .expect("connect the writer")
}

/// Deletes a sample's stream, so Redis stays small across samples.
async fn drop_stream(redis: &RedisServer, stream: &str) {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: i64 = redis::cmd("DEL")
        .arg(stream)
        .query_async(&mut conn)
        .await
        .expect("DEL");
}

/// Fills `stream` with `n` messages, 32 appends in flight (not timed).
async fn fill(redis: &RedisServer, stream: &str, n: u64) {
    concurrent_appends(&writer(redis, stream).await, n).await;
}

async fn concurrent_appends(writer: &StreamWriter, n: u64) {
    let mut tasks = JoinSet::new();
    for lane in 0..IN_FLIGHT.min(n.max(1)) {
        let writer = writer.clone();
        let count = n / IN_FLIGHT + u64::from(lane < n % IN_FLIGHT);
        tasks.spawn(async move {
            let delivery = delivery();
            for _ in 0..count {
                writer.append(&delivery).await.expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("append task");
    }
}

fn append(c: &mut Criterion, rt: &Runtime, redis: &RedisServer) {
    let mut group = c.benchmark_group("queue/append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("one in flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let stream = fresh_stream();
                let writer = writer(redis, &stream).await;
                let delivery = delivery();
                let started = Instant::now();
                for _ in 0..iters {
                    writer.append(&delivery).await.expect("append");
                }
                let took = started.elapsed();
                drop_stream(redis, &stream).await;
                took
            })
        });
    });
    group.bench_function("32 in flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let stream = fresh_stream();
                let writer = writer(redis, &stream).await;
                let started = Instant::now();
                concurrent_appends(&writer, iters).await;
                let took = started.elapsed();
                drop_stream(redis, &stream).await;
                took
            })
        });
    });
    group.finish();
}

async fn consumer(redis: &RedisServer, stream: &str) -> StreamConsumer {
    StreamConsumer::builder(redis.url(), stream, "bench")
        .consumer("bench")
        .batch_size(16)
        .connect()
        .await
        .expect("connect the consumer")
}

fn consume(c: &mut Criterion, rt: &Runtime, redis: &RedisServer) {
    let mut group = c.benchmark_group("queue/consume");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("ack each", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let stream = fresh_stream();
                fill(redis, &stream, iters).await;
                let mut consumer = consumer(redis, &stream).await;
                let started = Instant::now();
                for _ in 0..iters {
                    let message = consumer.try_next().await.expect("read").expect("a message");
                    message.ack().await.expect("ack");
                }
                let took = started.elapsed();
                assert_eq!(consumer.pending().await.expect("pending"), 0);
                drop_stream(redis, &stream).await;
                took
            })
        });
    });
    group.bench_function("32 acks in flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let stream = fresh_stream();
                fill(redis, &stream, iters).await;
                let mut consumer = consumer(redis, &stream).await;
                let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT as usize));
                let mut acks = JoinSet::new();
                let started = Instant::now();
                for _ in 0..iters {
                    let message = consumer.try_next().await.expect("read").expect("a message");
                    let permit = Arc::clone(&in_flight)
                        .acquire_owned()
                        .await
                        .expect("semaphore");
                    acks.spawn(async move {
                        message.ack().await.expect("ack");
                        drop(permit);
                    });
                }
                while let Some(done) = acks.join_next().await {
                    done.expect("ack task");
                }
                let took = started.elapsed();
                assert_eq!(consumer.pending().await.expect("pending"), 0);
                drop_stream(redis, &stream).await;
                took
            })
        });
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    append(c, &rt, &redis);
    consume(c, &rt, &redis);
}

criterion_group!(queue, benches);
criterion_main!(queue);
