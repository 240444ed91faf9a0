//! `compare`: three servers (plain, verified, verified without the replay
//! store), the same load, three rows.

use crate::{run, run_json};

#[test]
fn plain_verified_and_no_dedupe_rows_from_one_run() {
    let (code, report) = run_json(&[
        "compare",
        "--json",
        "--requests",
        "150",
        "--duration",
        "60",
        "--concurrency",
        "3",
        "--rounds",
        "2",
        "--warmup",
        "20",
        "--body",
        "1024",
    ]);
    assert_eq!(code, Some(0), "{report:#}");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["mode"], "plain");
    assert_eq!(rows[1]["mode"], "verified");
    assert_eq!(rows[2]["mode"], "verified, no dedupe");
    for row in rows {
        // Two rounds of 150, every one answered 204 (a verified server
        // refusing them would count as wrong, not as fast).
        assert_eq!(row["requests"], 300, "{row}");
        assert_eq!(row["wrong_answers"], 0, "{row}");
        assert_eq!(row["server_warnings"], 0, "{row}");
        let p50 = row["p50_us"].as_u64().unwrap();
        let p99 = row["p99_us"].as_u64().unwrap();
        assert!(0 < p50 && p50 <= p99 && p99 <= row["max_us"].as_u64().unwrap());
        assert!(row["rss_before_kib"].as_u64().unwrap() > 0);
    }
    let ratio = report["ratios"]["requests_per_second"].as_f64().unwrap();
    let expected = rows[1]["requests_per_second"].as_f64().unwrap()
        / rows[0]["requests_per_second"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9);
    let ratio = report["ratios"]["without_dedupe"]["requests_per_second"]
        .as_f64()
        .unwrap();
    let expected = rows[2]["requests_per_second"].as_f64().unwrap()
        / rows[0]["requests_per_second"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9);
}

/// `--verified-args` runs the verified side as a variant (here a store
/// that keeps nothing and no event key), says so in the report, and the
/// other two sides stay as they are.
#[test]
fn the_verified_side_runs_with_extra_serve_arguments() {
    let (code, report) = run_json(&[
        "compare",
        "--json",
        "--requests",
        "60",
        "--duration",
        "60",
        "--concurrency",
        "2",
        "--rounds",
        "1",
        "--warmup",
        "10",
        "--verified-args",
        "--dedupe null --duplicates off",
    ]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["verified_args"], "--dedupe null --duplicates off");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(row["requests"], 60, "{row}");
        assert_eq!(row["wrong_answers"], 0, "{row}");
    }
    // A server that cannot start with them is an error, not a run.
    let out = run(&[
        "compare",
        "--requests",
        "10",
        "--verified-args",
        "--dedupe nowhere",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot start the verified server"),
        "{stderr}"
    );
}
