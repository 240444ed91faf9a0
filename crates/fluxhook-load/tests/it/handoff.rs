//! `handoff-compare` (the handoff over HTTP next to `VerifyLayer`, then the
//! stream drained by consumer groups) with its own redis-servers; the
//! handoff soak itself runs in the `fluxhook` CLI's suite, which has the
//! `fluxhook` binary it drives.

use crate::{run, run_json};

#[test]
fn handoff_compare_measures_three_servers_and_the_drains() {
    let (code, report) = run_json(&[
        "handoff-compare",
        "--json",
        "--requests",
        "100",
        "--duration",
        "60",
        "--concurrency",
        "2",
        "--rounds",
        "1",
        "--warmup",
        "10",
        "--drain",
        "50",
        "--fluxhook",
        "/nonexistent/fluxhook",
    ]);
    assert_eq!(code, Some(0), "{report:#}");
    let rows = report["rows"].as_array().unwrap();
    let modes: Vec<&str> = rows.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["verified", "handoff", "handoff-aof"]);
    for row in rows {
        // Every request answered as it must be: 204 by the handler, 202 by
        // the handoff once the delivery is in the stream.
        assert_eq!(row["requests"], 100, "{row}");
        assert_eq!(row["wrong_answers"], 0, "{row}");
        assert_eq!(row["server_warnings"], 0, "{row}");
    }
    // Redis's CPU time is counted for the handoff rows (in 10 ms ticks:
    // it may be 0 for so few requests).
    assert!(rows[0].get("redis_cpu_us_per_request").is_none());
    assert!(rows[1]["redis_cpu_us_per_request"].as_f64().is_some());
    assert!(rows[2]["redis_cpu_us_per_request"].as_f64().is_some());

    let drains = report["drains"].as_array().unwrap();
    let consumers: Vec<(&str, &str)> = drains
        .iter()
        .map(|d| {
            (
                d["consumer"].as_str().unwrap(),
                d["redis"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        consumers,
        [
            ("1 StreamConsumer (ack each)", "no persistence"),
            ("4 StreamConsumers (ack each)", "no persistence"),
            ("4 StreamConsumers (ack each)", "AOF, appendfsync always"),
        ]
    );
    for d in drains {
        // The streams hold 110 entries each; every drain takes 50 (four
        // consumers may each finish the one in hand).
        let messages = d["messages"].as_u64().unwrap();
        assert!((50..=53).contains(&messages), "{d}");
    }
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes[0]
            .as_str()
            .unwrap()
            .contains("no fluxhook binary at /nonexistent/fluxhook"),
        "{notes:?}"
    );
}

#[test]
fn the_handoff_needs_its_redis_and_the_soak_its_fluxhook() {
    let out = run(&["serve", "--mode", "handoff", "--secret", "s"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--redis-url"), "{stderr}");

    let out = run(&["handoff-soak", "--fluxhook", "/nonexistent/fluxhook"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no fluxhook binary at /nonexistent/fluxhook"),
        "{stderr}"
    );
}
