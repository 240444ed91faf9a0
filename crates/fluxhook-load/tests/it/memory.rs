//! `memory`: bodies at the limit against a verified server.

use crate::run_json;

#[test]
fn bodies_at_the_limit_are_all_accepted_and_measured() {
    let (code, report) = run_json(&[
        "memory",
        "--json",
        "--concurrency",
        "4",
        "--limit",
        "65536",
        "--requests",
        "16",
        "--pause",
        "0",
        "--slack-mib",
        "4",
    ]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["requests"], 16);
    assert_eq!(report["wrong_answers"], 0);
    assert_eq!(report["limit_bytes"], 65536);
    // The bound is concurrency × limit + slack, in KiB.
    assert_eq!(report["bound_kib"], 4 * 64 + 4 * 1024);
    let baseline = report["baseline_rss_kib"].as_i64().unwrap();
    let peak = report["peak_rss_kib"].as_i64().unwrap();
    assert!(baseline > 0);
    assert_eq!(report["growth_kib"].as_i64().unwrap(), peak - baseline);
}
