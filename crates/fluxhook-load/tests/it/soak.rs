//! `soak`: every class of request is sent, every answer checked, the log
//! attributed, and a misconfigured server is caught.

use serde_json::Value;

use crate::{run, run_json};

/// The classes whose share of the mix is fixed (retries and replays turn
/// into valid deliveries while nothing has been accepted yet).
const FIXED: [(&str, u64); 9] = [
    ("hex", 5),
    ("mismatch", 5),
    ("missing", 4),
    ("malformed", 4),
    ("stale", 5),
    ("stale_hex", 5),
    ("oversized", 4),
    ("oversized_chunked", 3),
    ("bad_payload", 5),
];

fn class<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == name)
        .unwrap_or_else(|| panic!("no class {name}"))
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

fn assert_counts_right(report: &Value, requests: u64) {
    assert_eq!(n(&report["requests"]), requests);
    assert_eq!(n(&report["wrong_answers"]), 0, "{report:#}");
    assert_eq!(n(&report["transport_errors"]), 0, "{report:#}");
    for c in report["classes"].as_array().unwrap() {
        assert_eq!(c["sent"], c["ok"], "{c}");
    }
    let per = requests / 100;
    for (name, weight) in FIXED {
        assert_eq!(n(&class(report, name)["sent"]), weight * per, "{name}");
    }
    let (valid, hex, retry, replay) = (
        n(&class(report, "valid")["ok"]),
        n(&class(report, "hex")["ok"]),
        n(&class(report, "retry")["ok"]),
        n(&class(report, "replay")["ok"]),
    );
    assert_eq!(valid + retry + replay, 60 * per);
    assert!(retry > 0 && replay > 0, "{report:#}");
    // The handler saw each valid delivery (in either scheme) once as new,
    // each retry as a duplicate; replays never reached it.
    assert_eq!(n(&report["server"]["stats"]["accepted"]), valid + hex);
    assert_eq!(n(&report["server"]["stats"]["duplicates"]), retry);
    // Every refusal logged one WARN line, tied to its request; valid traffic none.
    let log = &report["log"];
    assert_eq!(n(&log["warn_or_error_from_valid_traffic"]), 0);
    assert_eq!(n(&log["warn_or_error_unattributed"]), 0);
    assert_eq!(log["refusal_lines"], log["refused_requests"]);
    assert_eq!(n(&log["refused_requests"]), requests - valid - hex - retry);
    assert_eq!(n(&class(report, "replay")["warn_lines"]), replay);
    assert_eq!(report["passed"], true, "{report:#}");
}

#[test]
fn memory_store_mix_counts_right() {
    let (code, report) = run_json(&[
        "soak",
        "--json",
        "--store",
        "memory",
        "--requests",
        "400",
        "--duration",
        "60",
        "--concurrency",
        "4",
        "--rate",
        "0",
        "--sample-every",
        "0.2",
        "--warmup",
        "0",
    ]);
    assert_counts_right(&report, 400);
    assert_eq!(code, Some(0));
    assert!(!report["rss"]["samples"].as_array().unwrap().is_empty());
}

#[test]
fn redis_store_mix_counts_right() {
    // Starts its own redis-server on a free loopback port (scripts/test.sh
    // installs it); fails, never skips, when it cannot.
    let (code, report) = run_json(&[
        "soak",
        "--json",
        "--store",
        "redis",
        "--requests",
        "200",
        "--duration",
        "60",
        "--concurrency",
        "4",
        "--rate",
        "0",
    ]);
    assert_counts_right(&report, 200);
    assert_eq!(code, Some(0));
    assert_eq!(report["store"], "redis");
}

#[test]
fn a_server_with_another_secret_is_caught() {
    let (code, report) = run_json(&[
        "soak",
        "--json",
        "--requests",
        "100",
        "--duration",
        "60",
        "--concurrency",
        "2",
        "--rate",
        "0",
        "--server-secret",
        "not-the-senders",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(report["passed"], false);
    // Every valid delivery, in either scheme, was refused: each one a wrong
    // answer, each refusal a WARN line blamed on valid traffic.
    let (valid, hex) = (class(&report, "valid"), class(&report, "hex"));
    for c in [valid, hex] {
        assert_eq!(n(&c["ok"]), 0, "{c}");
        assert_eq!(c["wrong"], c["sent"], "{c}");
    }
    let sent = n(&valid["sent"]) + n(&hex["sent"]);
    assert!(n(&report["wrong_answers"]) >= sent);
    assert_eq!(n(&report["log"]["warn_or_error_from_valid_traffic"]), sent);
    // Forgeries are still refused for the right reason.
    assert_eq!(class(&report, "missing")["wrong"], 0);
}

/// The soak checks that retries are flagged: it refuses to run without an
/// event key.
#[test]
fn the_soak_refuses_duplicates_off() {
    let out = run(&["soak", "--duplicates", "off"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--duplicates off"), "{stderr}");
}
