//! The Redis Streams handoff against a real `redis-server` each test starts
//! on a free loopback port (`fluxhook_testkit::RedisServer`): append, consume
//! and acknowledge, reclaiming from a dead consumer, an outage and the
//! recovery, dead letters and their replay. Visibility timeouts are short so
//! the tests stay fast; nothing asserts how fast anything is.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fluxbase_webhooks::Scheme;
use fluxbase_webhooks::dedupe::event_key;
use fluxbase_webhooks::queue::{
    DeadLetters, EntryId, Failed, QueueError, QueuedDelivery, RETRY_AFTER, StreamConsumer,
    StreamConsumerBuilder, StreamWriter, dead_letter_stream,
};
use fluxhook_testkit::RedisServer;

const STREAM: &str = "test:deliveries";

fn row_body(id: u32) -> Vec<u8> {
    format!(
        r#"{{"event":"INSERT","table":"orders","schema":"public","record":{{"id":{id}}},"timestamp":"2026-01-02T03:04:05Z"}}"#
    )
    .into_bytes()
}

fn delivery(id: u32) -> QueuedDelivery {
    let body = row_body(id);
    QueuedDelivery::builder(body.clone(), Scheme::Timestamped)
        .key_index(1)
        .key_id(Some("current"))
        .timestamp(Some(1_767_323_045))
        .received_at(UNIX_EPOCH + Duration::from_millis(1_767_323_046_789))
        .event_key(event_key(&body))
        .build()
}

async fn writer(redis: &RedisServer) -> StreamWriter {
    StreamWriter::builder(redis.url())
        .stream(STREAM)
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap()
}

/// A consumer with short timings, for tests.
fn consumer(redis: &RedisServer, name: &str) -> StreamConsumerBuilder {
    StreamConsumer::builder(redis.url(), STREAM, "workers")
        .consumer(name)
        .block(Duration::from_millis(100))
        .claim_interval(Duration::from_millis(50))
        .retry_delay(Duration::from_millis(50))
        .timeout(Duration::from_millis(500))
}

/// A raw connection, to look at what Redis holds.
async fn redis_conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn xlen(redis: &RedisServer, stream: &str) -> usize {
    redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap()
}

/// The next message within `within`, or a failed test.
async fn next_within(
    c: &mut StreamConsumer,
    within: Duration,
) -> fluxbase_webhooks::queue::Message {
    let deadline = Instant::now() + within;
    loop {
        if let Some(m) = c.try_next().await.unwrap() {
            return m;
        }
        assert!(Instant::now() < deadline, "no message within {within:?}");
    }
}

#[tokio::test]
async fn appended_deliveries_are_consumed_with_what_was_verified_and_acknowledged() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let first = writer.append(&delivery(1)).await.unwrap();
    let dup = QueuedDelivery::builder(row_body(1), Scheme::Hex)
        .event_key(event_key(&row_body(1)))
        .duplicate(true)
        .build();
    let second = writer.append(&dup).await.unwrap();
    assert!(first < second, "ids grow in append order");

    let mut c = consumer(&redis, "a").connect().await.unwrap();
    let m = next_within(&mut c, Duration::from_secs(5)).await;
    assert_eq!(m.id(), first);
    assert_eq!(m.attempt(), 1);
    assert!(!m.is_duplicate());
    assert_eq!(m.event().name(), "INSERT");
    assert_eq!(m.event().row().unwrap().qualified_table(), "public.orders");
    // Every field survives the stream, the body byte for byte.
    assert_eq!(m.delivery(), &delivery(1));
    m.ack().await.unwrap();

    let m = next_within(&mut c, Duration::from_secs(5)).await;
    assert_eq!(m.id(), second);
    assert!(m.is_duplicate(), "the duplicate flag is carried");
    assert_eq!(m.delivery().event_key(), delivery(1).event_key());
    assert_eq!(m.delivery().scheme(), Scheme::Hex);
    m.ack().await.unwrap();

    assert_eq!(c.pending().await.unwrap(), 0, "both acknowledged");
    assert!(c.try_next().await.unwrap().is_none(), "nothing else");
    assert_eq!(group_consumers(&redis).await, [("a".to_owned(), 0)]);
    c.close().await.unwrap();
    assert_eq!(
        group_consumers(&redis).await,
        [],
        "a closed consumer holding nothing leaves the group"
    );
}

#[tokio::test]
async fn a_message_dropped_unacknowledged_is_finished_by_another_consumer_after_the_visibility_timeout()
 {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let id = writer.append(&delivery(7)).await.unwrap();

    let visibility = Duration::from_millis(1500);
    let mut dies = consumer(&redis, "dies")
        .visibility_timeout(visibility)
        .connect()
        .await
        .unwrap();
    let taken = next_within(&mut dies, Duration::from_secs(5)).await;
    assert_eq!(taken.id(), id);
    let taken_at = Instant::now();
    // The consumer dies mid-message: no ack, no release.
    drop(taken);
    drop(dies);

    let mut survivor = consumer(&redis, "survivor")
        .visibility_timeout(visibility)
        .connect()
        .await
        .unwrap();
    // While the dead consumer's hold lasts, nobody gets the message.
    assert!(survivor.try_next().await.unwrap().is_none());
    assert_eq!(survivor.pending().await.unwrap(), 1);
    // The reclaim counts as another attempt.
    finish(&mut survivor, id, 2, &delivery(7)).await;
    assert!(
        taken_at.elapsed() >= visibility,
        "reclaimed only after the visibility timeout"
    );
}

#[tokio::test]
async fn a_message_left_waiting_in_a_slow_batch_is_not_run_twice() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let first = writer.append(&delivery(1)).await.unwrap();
    let second = writer.append(&delivery(2)).await.unwrap();
    let visibility = Duration::from_millis(600);
    // Reads both at once, then spends longer than the visibility timeout on
    // the first: the second, idle in Redis all that time, is reclaimed by
    // another consumer.
    let mut slow = consumer(&redis, "slow")
        .visibility_timeout(visibility)
        .batch_size(2)
        .connect()
        .await
        .unwrap();
    let m = next_within(&mut slow, Duration::from_secs(5)).await;
    assert_eq!(m.id(), first);
    tokio::time::sleep(visibility + Duration::from_millis(200)).await;
    let mut other = consumer(&redis, "other")
        .visibility_timeout(visibility)
        .connect()
        .await
        .unwrap();
    // (The first, past its visibility timeout too, is reclaimed as well:
    // a handler slower than the timeout is one the timeout is for.)
    let mut reclaimed = Vec::new();
    for _ in 0..2 {
        let taken = next_within(&mut other, Duration::from_secs(5)).await;
        reclaimed.push((taken.id(), taken.attempt()));
        taken.ack().await.unwrap();
    }
    reclaimed.sort();
    assert_eq!(reclaimed, [(first, 2), (second, 2)]);
    drop(m);
    // The slow consumer does not hand out the second from its batch too.
    assert!(slow.try_next().await.unwrap().is_none());
    assert_eq!(other.pending().await.unwrap(), 0);
}

/// Takes the next message, checks it is entry `id` at `attempt` with
/// `expected` in it, acknowledges it, and checks the group holds nothing.
async fn finish(c: &mut StreamConsumer, id: EntryId, attempt: u32, expected: &QueuedDelivery) {
    let m = next_within(c, Duration::from_secs(10)).await;
    assert_eq!((m.id(), m.attempt()), (id, attempt));
    assert_eq!(m.delivery(), expected);
    m.ack().await.unwrap();
    assert_eq!(c.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn redis_stopped_mid_run_fails_appends_quickly_as_unavailable_and_both_sides_recover() {
    let mut redis = RedisServer::start();
    let writer = writer(&redis).await;
    let mut c = consumer(&redis, "a").connect().await.unwrap();
    writer.append(&delivery(1)).await.unwrap();
    next_within(&mut c, Duration::from_secs(5))
        .await
        .ack()
        .await
        .unwrap();

    redis.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = writer.append(&delivery(2)).await.unwrap_err();
        // Bounded by the writer's 500 ms timeout (generous margin: this
        // checks that the bound holds, not a speed).
        assert!(started.elapsed() < Duration::from_secs(5), "{err:?}");
        assert!(err.is_unavailable(), "{err:?}");
        assert_eq!(
            err.retry_after(),
            Some(fluxbase_webhooks::queue::RETRY_AFTER)
        );
        assert!(matches!(err.code(), "queue_unavailable" | "queue_timeout"));
    }
    let err = c.try_next().await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");

    // Back, empty (no persistence): appends succeed again once the
    // connection is re-established, and the consumer re-creates its group.
    redis.restart();
    let third = delivery(3);
    let id = retry(|| writer.append(&third)).await;
    let m = loop {
        match c.try_next().await {
            Ok(Some(m)) => break m,
            Ok(None) => {}
            Err(e) => assert!(e.is_unavailable(), "{e:?}"),
        }
    };
    assert_eq!(m.id(), id);
    assert_eq!(m.delivery(), &delivery(3));
    m.ack().await.unwrap();
}

/// Calls `f` until it succeeds (the connection may take a few tries to come
/// back); fails the test after 10 s.
async fn retry<F, Fut, T>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, QueueError>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(e.is_unavailable(), "{e:?}");
                assert!(Instant::now() < deadline, "no recovery: {e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test]
async fn failing_n_times_dead_letters_with_the_last_error_and_the_replay_is_processed() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let id = writer.append(&delivery(42)).await.unwrap();
    let mut c = consumer(&redis, "a")
        .max_attempts(3)
        .visibility_timeout(Duration::from_secs(30))
        .connect()
        .await
        .unwrap();

    for attempt in 1..=2 {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!((m.id(), m.attempt()), (id, attempt));
        assert!(!m.is_last_attempt());
        let failed = m.fail(format!("boom {attempt}")).await.unwrap();
        assert_eq!(
            failed,
            Failed::Retrying {
                attempt,
                retry_in: Duration::from_millis(50)
            }
        );
    }
    let m = next_within(&mut c, Duration::from_secs(5)).await;
    assert_eq!(m.attempt(), 3);
    assert!(m.is_last_attempt());
    let Failed::DeadLettered {
        dead_letter_id,
        attempts,
    } = m.fail("boom 3").await.unwrap()
    else {
        panic!("the last attempt dead-letters");
    };
    assert_eq!(attempts, 3);
    assert_eq!(c.pending().await.unwrap(), 0, "acknowledged in the group");
    assert!(c.try_next().await.unwrap().is_none());

    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    assert_eq!(dead.dead_letter_stream(), dead_letter_stream(STREAM));
    let letters = dead.list(None, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.id(), dead_letter_id);
    assert_eq!(letter.error(), "boom 3", "the last error");
    assert_eq!(letter.attempts(), 3);
    assert_eq!(letter.original_id(), Some(id));
    assert_eq!(letter.group(), Some("workers"));
    assert_eq!(letter.consumer(), Some("a"));
    assert!(letter.dead_at().is_some_and(|t| t <= SystemTime::now()));
    assert_eq!(letter.delivery().unwrap(), &delivery(42));

    let replayed = dead.replay(dead_letter_id).await.unwrap().unwrap();
    assert!(replayed > id);
    assert_eq!(
        dead.count().await.unwrap(),
        0,
        "removed from the dead letters"
    );
    assert_eq!(dead.replay(dead_letter_id).await.unwrap(), None);

    // A replay starts its attempts again.
    finish(&mut c, replayed, 1, &delivery(42)).await;
}

#[tokio::test]
async fn a_message_whose_consumers_keep_dying_is_dead_lettered_after_max_deliveries() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let id = writer.append(&delivery(5)).await.unwrap();
    let visibility = Duration::from_millis(300);
    let mut c = consumer(&redis, "crashy")
        .max_attempts(2)
        .visibility_timeout(visibility)
        .connect()
        .await
        .unwrap();
    for attempt in 1..=2 {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!((m.id(), m.attempt()), (id, attempt));
        drop(m); // Crashed while handling it.
    }
    // The third delivery is not handed out: the message is set aside.
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while dead.count().await.unwrap() == 0 {
        assert!(c.try_next().await.unwrap().is_none());
        assert!(Instant::now() < deadline, "never dead-lettered");
    }
    let letter = &dead.list(None, 1).await.unwrap()[0];
    assert_eq!(letter.attempts(), 2);
    assert_eq!(letter.original_id(), Some(id));
    assert!(
        letter
            .error()
            .contains("not acknowledged after 2 deliveries"),
        "{}",
        letter.error()
    );
    assert_eq!(c.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn entries_that_are_not_deliveries_or_whose_body_does_not_parse_are_dead_lettered_not_fatal()
{
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let not_json = writer
        .append(&QueuedDelivery::builder(&b"not json"[..], Scheme::Sha256).build())
        .await
        .unwrap();
    // Some other program writes to the stream.
    let mut conn = redis_conn(&redis).await;
    let foreign: String = redis::cmd("XADD")
        .arg(STREAM)
        .arg("*")
        .arg("hello")
        .arg("world")
        .query_async(&mut conn)
        .await
        .unwrap();
    let good = writer.append(&delivery(9)).await.unwrap();

    let mut c = consumer(&redis, "a").connect().await.unwrap();
    let m = next_within(&mut c, Duration::from_secs(5)).await;
    assert_eq!(m.id(), good, "the consumer goes on past both");
    m.ack().await.unwrap();
    assert_eq!(c.pending().await.unwrap(), 0);

    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();
    let letters = dead.list(None, 10).await.unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].original_id(), Some(not_json));
    assert!(
        letters[0].error().starts_with("invalid_payload"),
        "{}",
        letters[0].error()
    );
    assert_eq!(letters[0].delivery().unwrap().body().as_ref(), b"not json");
    assert_eq!(
        letters[1].original_id(),
        Some(foreign.parse::<EntryId>().unwrap())
    );
    assert!(
        letters[1].error().starts_with("not a queued delivery"),
        "{}",
        letters[1].error()
    );
    assert!(letters[1].delivery().is_err());

    // replay_all puts both back; they are dead-lettered again, not lost.
    let report = dead.replay_all().await.unwrap();
    assert_eq!(report.replayed().len(), 2);
    assert!(report.skipped().is_empty());
    assert!(c.try_next().await.unwrap().is_none());
    assert_eq!(dead.count().await.unwrap(), 2);
    // Removing one drops it for good.
    let first = dead.list(None, 1).await.unwrap()[0].id();
    assert!(dead.remove(first).await.unwrap());
    assert!(!dead.remove(first).await.unwrap());
    assert_eq!(dead.count().await.unwrap(), 1);
}

/// A dead letter whose entry was trimmed from the stream before it died
/// keeps nothing to replay: `replay` says so, and `replay_all` leaves it in
/// place, reports it and replays the ones after it.
#[tokio::test]
async fn replay_all_goes_on_past_a_dead_letter_whose_entry_was_trimmed_and_keeps_it() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let mut c = consumer(&redis, "a")
        .max_attempts(1)
        .connect()
        .await
        .unwrap();
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .connect()
        .await
        .unwrap();

    // A: read, then trimmed away (MAXLEN) before its last attempt failed.
    writer.append(&delivery(1)).await.unwrap();
    let a = next_within(&mut c, Duration::from_secs(5)).await;
    let _: usize = redis::cmd("XTRIM")
        .arg(STREAM)
        .arg("MAXLEN")
        .arg(0)
        .query_async(&mut redis_conn(&redis).await)
        .await
        .unwrap();
    let Failed::DeadLettered {
        dead_letter_id: empty,
        ..
    } = a.fail("boom a").await.unwrap()
    else {
        panic!("one attempt only");
    };
    // B and C: whole.
    let mut whole = Vec::new();
    for n in [2, 3] {
        writer.append(&delivery(n)).await.unwrap();
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        let Failed::DeadLettered { dead_letter_id, .. } = m.fail("boom").await.unwrap() else {
            panic!("one attempt only");
        };
        whole.push(dead_letter_id);
    }
    assert_eq!(dead.count().await.unwrap(), 3);
    // The listing tells A from a dead letter that is not a delivery.
    let listed = dead.list(None, 10).await.unwrap();
    let holds_nothing: Vec<bool> = listed.iter().map(|l| l.holds_nothing()).collect();
    assert_eq!(holds_nothing, [true, false, false]);
    assert!(listed[0].delivery().is_err());

    let err = dead.replay(empty).await.unwrap_err();
    assert!(
        matches!(err, QueueError::NothingToReplay(id) if id == empty),
        "{err:?}"
    );
    assert_eq!(err.code(), "queue_nothing_to_replay");

    let report = dead.replay_all().await.unwrap();
    let replayed: Vec<EntryId> = report.replayed().iter().map(|(id, _)| *id).collect();
    assert_eq!(replayed, whole, "B and C, past A");
    assert_eq!(report.skipped().len(), 1);
    let (skipped, why) = &report.skipped()[0];
    assert_eq!(*skipped, empty);
    assert!(matches!(why, QueueError::NothingToReplay(id) if *id == empty));
    let left = dead.list(None, 10).await.unwrap();
    assert_eq!(left.len(), 1, "A stays");
    assert_eq!(left[0].id(), empty);
    assert_eq!(left[0].error(), "boom a");
    for (n, (_, new_id)) in [2, 3].into_iter().zip(report.replayed()) {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!((m.id(), m.attempt()), (*new_id, 1));
        assert_eq!(m.delivery(), &delivery(n));
        m.ack().await.unwrap();
    }

    // Again: nothing more is replayed, A is reported again.
    let again = dead.replay_all().await.unwrap();
    assert!(again.replayed().is_empty());
    assert_eq!(again.skipped().len(), 1);
    assert!(c.try_next().await.unwrap().is_none());
}

#[tokio::test]
async fn stopping_releases_what_was_read_so_another_consumer_takes_it_at_once() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(writer.append(&delivery(i)).await.unwrap());
    }
    // A visibility timeout far beyond the test: only a release frees work.
    let long = Duration::from_secs(600);
    let mut a = consumer(&redis, "a")
        .visibility_timeout(long)
        .batch_size(10)
        .connect()
        .await
        .unwrap();
    let in_hand = next_within(&mut a, Duration::from_secs(5)).await;
    assert_eq!(in_hand.id(), ids[0]);
    a.stop_handle().stop();
    assert!(
        a.next().await.unwrap().is_none(),
        "stopped: no more messages"
    );
    assert!(a.is_stopped());
    // The caller gives back the one in its hands.
    in_hand.release().await.unwrap();
    a.close().await.unwrap();

    let mut b = consumer(&redis, "b")
        .visibility_timeout(long)
        .connect()
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = next_within(&mut b, Duration::from_secs(5)).await;
        assert_eq!(m.attempt(), 1, "a release does not count an attempt");
        got.push(m.id());
        m.ack().await.unwrap();
    }
    got.sort();
    assert_eq!(got, ids);

    // Released messages stay listed under `a` until `b` took them, so `a`
    // could not leave the group when it closed; it now holds nothing.
    let consumers = group_consumers(&redis).await;
    assert_eq!(consumers, [("a".to_owned(), 0), ("b".to_owned(), 0)]);
}

/// The consumers of group `workers`, with how many messages each holds.
async fn group_consumers(redis: &RedisServer) -> Vec<(String, usize)> {
    let reply: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(STREAM)
        .arg("workers")
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
    let mut consumers: Vec<_> = reply
        .consumers
        .into_iter()
        .map(|c| (c.name, c.pending))
        .collect();
    consumers.sort();
    consumers
}

async fn bounded_writer(redis: &RedisServer, max_len: usize) -> StreamWriter {
    let writer = StreamWriter::builder(redis.url())
        .stream(STREAM)
        .max_len(max_len)
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    assert_eq!(writer.max_len(), max_len);
    writer
}

/// Creates consumer group `group` at the stream's first entry.
async fn create_group(redis: &RedisServer, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
}

/// Reads up to `count` new entries as a consumer of `group`
/// (`XREADGROUP`): they are then pending in the group.
async fn read_as(redis: &RedisServer, group: &str, count: usize) -> Vec<String> {
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("c")
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(STREAM)
        .arg(">")
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
    reply
        .keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|e| e.id)
        .collect()
}

async fn ack_as(redis: &RedisServer, group: &str, ids: &[String]) {
    let acked: usize = redis::cmd("XACK")
        .arg(STREAM)
        .arg(group)
        .arg(ids)
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
    assert_eq!(acked, ids.len());
}

/// The ids the stream holds, oldest first.
async fn stream_ids(redis: &RedisServer) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(STREAM)
        .arg("-")
        .arg("+")
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
    reply.ids.into_iter().map(|e| e.id).collect()
}

fn strings(ids: &[EntryId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

fn assert_full(err: &QueueError, max_len: usize) {
    assert!(
        matches!(err, QueueError::Full { max_len: m } if *m == max_len),
        "{err:?}"
    );
    assert_eq!(err.code(), "queue_full");
    assert!(!err.is_unavailable(), "Redis answered");
    assert_eq!(err.retry_after(), Some(RETRY_AFTER));
    assert!(
        err.to_string()
            .starts_with("the stream is full of entries not yet processed"),
        "{err}"
    );
}

/// At the bound, with a group that has read nothing, an append is refused
/// rather than trimming entries no one processed: every entry stays and
/// reaches a consumer.
#[tokio::test]
async fn a_full_stream_refuses_appends_and_keeps_what_no_group_processed() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 10).await;
    create_group(&redis, "workers").await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(writer.append(&delivery(i)).await.unwrap());
    }
    assert_full(&writer.append(&delivery(10)).await.unwrap_err(), 10);
    // Refused again: nothing was trimmed to make room.
    assert_full(&writer.append(&delivery(11)).await.unwrap_err(), 10);
    assert_eq!(stream_ids(&redis).await, strings(&ids));

    let mut c = consumer(&redis, "a").connect().await.unwrap();
    for (i, id) in (0..).zip(&ids) {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!(m.id(), *id);
        assert_eq!(m.delivery(), &delivery(i));
        m.ack().await.unwrap();
    }
    assert!(
        c.try_next().await.unwrap().is_none(),
        "the refused ones were not added"
    );
    // All acknowledged: the next append trims them at once, and fits.
    let id = writer.append(&delivery(12)).await.unwrap();
    assert_eq!(stream_ids(&redis).await, strings(&[id]));
}

/// Calls of a command since Redis started, from `INFO commandstats`.
async fn calls(redis: &RedisServer, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis_conn(redis).await)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Far below the bound an append is a plain `XADD` (with `XLEN`), not the
/// script: only the first one, before the writer has read the length, runs
/// it.
#[tokio::test]
async fn appends_far_below_the_bound_run_no_script() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 100_000).await;
    for i in 0..50 {
        writer.append(&delivery(i)).await.unwrap();
    }
    assert_eq!(xlen(&redis, STREAM).await, 50);
    assert_eq!(calls(&redis, "xadd").await, 50);
    // The first call finds the script not loaded, loads it and runs again.
    assert!((1..=2).contains(&calls(&redis, "evalsha").await));
}

/// A bound above the margin: plain appends while far below it, the script
/// near it, and the bound kept exactly by one writer.
#[tokio::test]
async fn the_bound_is_kept_when_appends_start_far_below_it() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 1_100).await;
    create_group(&redis, "workers").await;
    for i in 0..1_100 {
        writer.append(&delivery(i)).await.unwrap();
    }
    assert_full(&writer.append(&delivery(1_100)).await.unwrap_err(), 1_100);
    assert_eq!(xlen(&redis, STREAM).await, 1_100);
    // Under 1,100 - 1,024 entries the appends took no script.
    assert!(calls(&redis, "evalsha").await < 1_100 - 70);
}

/// With no consumer group at all nobody has read anything: the stream fills
/// to its bound and then refuses.
#[tokio::test]
async fn a_stream_without_groups_fills_to_its_bound_then_refuses() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 3).await;
    for i in 0..3 {
        writer.append(&delivery(i)).await.unwrap();
    }
    assert_full(&writer.append(&delivery(3)).await.unwrap_err(), 3);
    assert_eq!(xlen(&redis, STREAM).await, 3);
}

/// Once a consumer acknowledges, an append at the bound trims exactly the
/// acknowledged entries at the head: an entry read but not acknowledged
/// stays, and so does every entry after it.
#[tokio::test]
async fn acknowledged_entries_are_trimmed_at_the_bound_and_pending_ones_stay() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 10).await;
    let mut c = consumer(&redis, "a")
        .batch_size(1)
        .visibility_timeout(Duration::from_secs(600))
        .connect()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(writer.append(&delivery(i)).await.unwrap());
    }
    let mut read = Vec::new();
    for id in &ids[..5] {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!(m.id(), *id);
        read.push(m);
    }
    // 0, 1, 2 and 4 acknowledged; 3 read and still in hand (pending); 5-9
    // not read.
    let in_hand = read.remove(3);
    for m in read {
        m.ack().await.unwrap();
    }
    let mut added = Vec::new();
    for i in 10..13 {
        added.push(writer.append(&delivery(i)).await.unwrap());
    }
    let kept: Vec<EntryId> = ids[3..].iter().chain(&added).copied().collect();
    assert_eq!(stream_ids(&redis).await, strings(&kept), "0-2 trimmed");
    // Full again, and nothing before the pending entry is acknowledged.
    assert_full(&writer.append(&delivery(13)).await.unwrap_err(), 10);
    assert_eq!(stream_ids(&redis).await, strings(&kept));

    // The pending entry acknowledged: it goes, with 4 after it (read and
    // acknowledged); the unread 5-9 stay.
    assert_eq!(in_hand.id(), ids[3]);
    in_hand.ack().await.unwrap();
    let last = writer.append(&delivery(14)).await.unwrap();
    let kept: Vec<EntryId> = ids[5..]
        .iter()
        .chain(&added)
        .chain([&last])
        .copied()
        .collect();
    assert_eq!(stream_ids(&redis).await, strings(&kept), "3 and 4 trimmed");
}

/// An entry one group acknowledged but another has not read is kept: the
/// trim point is the earliest over all groups.
#[tokio::test]
async fn an_entry_acknowledged_by_one_group_but_unread_by_another_is_kept() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 5).await;
    create_group(&redis, "fast").await;
    create_group(&redis, "slow").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(writer.append(&delivery(i)).await.unwrap());
    }
    let fast = read_as(&redis, "fast", 5).await;
    assert_eq!(fast, strings(&ids));
    ack_as(&redis, "fast", &fast).await;
    assert_full(&writer.append(&delivery(5)).await.unwrap_err(), 5);
    assert_eq!(stream_ids(&redis).await, strings(&ids), "slow read none");

    let slow = read_as(&redis, "slow", 2).await;
    ack_as(&redis, "slow", &slow).await;
    let id = writer.append(&delivery(6)).await.unwrap();
    let kept: Vec<EntryId> = ids[2..].iter().chain([&id]).copied().collect();
    assert_eq!(stream_ids(&redis).await, strings(&kept));
    // The slow group gets the rest.
    assert_eq!(read_as(&redis, "slow", 10).await, strings(&kept));
}

/// The trim point is the smallest id over the groups as numbers: `9-1`
/// comes before `10-0` and `5-9` before `5-10`, though not as strings.
#[tokio::test]
async fn entry_ids_are_compared_as_numbers_when_choosing_what_to_trim() {
    for (older, newer) in [("9-1", "10-0"), ("5-9", "5-10")] {
        let redis = RedisServer::start();
        let mut conn = redis_conn(&redis).await;
        for id in [older, newer] {
            let _: String = redis::cmd("XADD")
                .arg(STREAM)
                .arg(id)
                .arg("f")
                .arg("v")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        create_group(&redis, "a").await;
        create_group(&redis, "b").await;
        // `a` holds the older entry pending; `b` acknowledged it and holds
        // the newer one pending.
        assert_eq!(read_as(&redis, "a", 1).await, [older]);
        assert_eq!(read_as(&redis, "b", 2).await, [older, newer]);
        ack_as(&redis, "b", &[older.to_owned()]).await;
        let writer = bounded_writer(&redis, 2).await;
        assert_full(&writer.append(&delivery(1)).await.unwrap_err(), 2);
        assert_eq!(stream_ids(&redis).await, [older, newer], "{older} kept");
        // `a` acknowledges the older one: it goes, the newer stays.
        ack_as(&redis, "a", &[older.to_owned()]).await;
        let id = writer.append(&delivery(2)).await.unwrap();
        assert_eq!(stream_ids(&redis).await, [newer.to_owned(), id.to_string()]);
    }
}

/// A replay onto a full stream is refused the same way, and the dead letter
/// stays where it is.
#[tokio::test]
async fn a_replay_onto_a_full_stream_is_refused_and_the_dead_letter_stays() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 2).await;
    let mut c = consumer(&redis, "a")
        .max_attempts(1)
        .connect()
        .await
        .unwrap();
    writer.append(&delivery(1)).await.unwrap();
    let m = next_within(&mut c, Duration::from_secs(5)).await;
    let Failed::DeadLettered { dead_letter_id, .. } = m.fail("boom").await.unwrap() else {
        panic!("one attempt only");
    };
    // Two entries the group has not read: the stream is full.
    writer.append(&delivery(2)).await.unwrap();
    writer.append(&delivery(3)).await.unwrap();
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .max_len(2)
        .connect()
        .await
        .unwrap();
    assert_full(&dead.replay(dead_letter_id).await.unwrap_err(), 2);
    assert_full(dead.replay_all().await.unwrap_err().error(), 2);
    assert_eq!(dead.count().await.unwrap(), 1);
    assert_eq!(xlen(&redis, STREAM).await, 2);
    // Consumed: the replay fits.
    for n in [2, 3] {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!(m.delivery(), &delivery(n));
        m.ack().await.unwrap();
    }
    let new_id = dead.replay(dead_letter_id).await.unwrap().unwrap();
    assert_eq!(dead.count().await.unwrap(), 0);
    let m = next_within(&mut c, Duration::from_secs(5)).await;
    assert_eq!((m.id(), m.delivery()), (new_id, &delivery(1)));
}

/// `replay_all` stopped by a full stream says what it did before: the
/// error, and the report of the dead letters it had replayed; the others
/// are still dead letters, and a later call goes on from there.
#[tokio::test]
async fn replay_all_stopped_by_a_full_stream_reports_what_it_replayed() {
    let redis = RedisServer::start();
    let writer = bounded_writer(&redis, 10).await;
    let mut c = consumer(&redis, "a")
        .max_attempts(1)
        .connect()
        .await
        .unwrap();
    let mut dead_ids = Vec::new();
    for n in 1..=3 {
        writer.append(&delivery(n)).await.unwrap();
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        let Failed::DeadLettered { dead_letter_id, .. } = m.fail("boom").await.unwrap() else {
            panic!("one attempt only");
        };
        dead_ids.push(dead_letter_id);
    }
    // One entry the group has not read; the dead three were acknowledged.
    writer.append(&delivery(4)).await.unwrap();
    let dead = DeadLetters::builder(redis.url(), STREAM)
        .max_len(2)
        .connect()
        .await
        .unwrap();
    // The first replay trims the acknowledged entries and fits; the second
    // finds two entries nobody processed.
    let stopped = dead.replay_all().await.unwrap_err();
    assert_eq!(stopped.code(), "queue_full");
    assert_full(stopped.error(), 2);
    let replayed = stopped.done().replayed();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed[0].0, dead_ids[0], "oldest first");
    assert!(stopped.done().skipped().is_empty());
    assert_eq!(
        std::error::Error::source(&stopped).map(ToString::to_string),
        Some(stopped.error().to_string())
    );
    assert_eq!(dead.count().await.unwrap(), 2);
    assert_eq!(
        stream_ids(&redis).await.last().map(String::as_str),
        Some(replayed[0].1.to_string().as_str())
    );
    // `?` into a QueueError keeps the error.
    let as_queue_error = QueueError::from(dead.replay_all().await.unwrap_err());
    assert_full(&as_queue_error, 2);

    // Consumed: the next call replays the other two.
    for n in [4, 1] {
        let m = next_within(&mut c, Duration::from_secs(5)).await;
        assert_eq!(m.delivery(), &delivery(n));
        m.ack().await.unwrap();
    }
    let report = dead.replay_all().await.unwrap();
    assert_eq!(
        report.replayed().iter().map(|r| r.0).collect::<Vec<_>>(),
        dead_ids[1..]
    );
    assert_eq!(dead.count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_new_group_starts_at_the_first_entry_unless_told_otherwise() {
    let redis = RedisServer::start();
    let writer = writer(&redis).await;
    let early = writer.append(&delivery(1)).await.unwrap();

    let mut from_start = StreamConsumer::builder(redis.url(), STREAM, "from-start")
        .block(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let mut only_new = StreamConsumer::builder(redis.url(), STREAM, "only-new")
        .block(Duration::from_millis(100))
        .new_entries_only(true)
        .connect()
        .await
        .unwrap();
    let late = writer.append(&delivery(2)).await.unwrap();
    assert_eq!(
        next_within(&mut from_start, Duration::from_secs(5))
            .await
            .id(),
        early
    );
    assert_eq!(
        next_within(&mut from_start, Duration::from_secs(5))
            .await
            .id(),
        late
    );
    // Each group gets every entry on its own.
    assert_eq!(
        next_within(&mut only_new, Duration::from_secs(5))
            .await
            .id(),
        late
    );
}

#[tokio::test]
async fn configuration_mistakes_are_refused_before_connecting() {
    let url = "redis://user:hunter2@127.0.0.1:1/";
    let err = StreamWriter::builder(url)
        .stream("")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "queue_config");
    let err = StreamConsumer::builder(url, STREAM, "g")
        .max_attempts(0)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "queue_config");
    let err = DeadLetters::builder(url, STREAM)
        .dead_letter_stream(STREAM)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "queue_config");
    let err = StreamWriter::builder("http://nope")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.code(), "queue_config");
    assert!(!err.to_string().contains("nope"), "{err}");
    // Nothing listens on port 1: unavailable, and the URL is not shown.
    let err = StreamWriter::builder(url).connect().await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2"));
    assert!(!format!("{:?}", StreamWriter::builder(url)).contains("hunter2"));
}

#[tokio::test]
async fn a_refusal_that_waiting_will_not_fix_is_told_apart_from_an_outage() {
    let redis = RedisServer::start();
    // The stream's key holds a string: Redis answers WRONGTYPE.
    let _: () = redis::cmd("SET")
        .arg(STREAM)
        .arg("not a stream")
        .query_async(&mut redis_conn(&redis).await)
        .await
        .unwrap();
    let err = writer(&redis).await.append(&delivery(1)).await.unwrap_err();
    assert_eq!(err.code(), "queue_refused", "{err:?}");
    assert!(!err.is_unavailable());
    assert_eq!(err.retry_after(), None);
    let source = std::error::Error::source(&err).expect("the Redis error is the source");
    assert!(source.to_string().contains("WRONGTYPE"), "{source}");
}
