#!/usr/bin/env python3
"""Reads the last `cargo bench -p fluxbase-webhooks` results and checks them
against the targets in PERFORMANCE.md.

    cargo bench -p fluxbase-webhooks --bench verify --bench parse
    python3 scripts/perf-report.py [--markdown]

For every benchmark it prints two estimates of the time per iteration, both
from criterion's raw samples (target/criterion/**/new/sample.json):

- median: the median over samples of (sample time / iterations);
- fastest: the fastest sample, which is the least disturbed by other
  processes on a shared machine.

Each target is a ratio (or a time) computed from one run, under both
estimates. Exit status 1 when a target is missed under the median.
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"
SIZES = ["256B", "1KiB", "16KiB", "1MiB"]


def load():
    results = {}
    for bench in CRITERION.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        sample = json.loads((bench.parent / "sample.json").read_text())
        per_iter = [t / n for t, n in zip(sample["times"], sample["iters"])]
        results[meta["full_id"]] = {
            "group": meta["group_id"],
            "median": statistics.median(per_iter),
            "fastest": min(per_iter),
        }
    return results


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def targets(r, est):
    """(target, measured, ok) rows under estimate `est`."""
    t = lambda key: r[key][est]  # noqa: E731
    rows = []
    for scheme in ["timestamped", "hex", "sha256"]:
        ratio = t("verify/1MiB/sha256 (limit)") / t(f"verify/1MiB/fluxhook/{scheme}")
        rows.append(
            (f"verify 1 MiB, {scheme}: throughput vs raw SHA-256 ≥ 97 %",
             f"{ratio * 100:.1f} %", ratio >= 0.97))
    ratio = t("verify/1KiB/fluxhook/timestamped") / t("verify/1KiB/sha256 (limit)")
    rows.append(("verify 1 KiB, timestamped: time vs raw SHA-256 ≤ 1.3 ×",
                 f"{ratio:.2f} ×", ratio <= 1.3))
    for size in SIZES:
        for ours in ["fluxhook/timestamped+clock", "fluxhook/timestamped"]:
            ratio = t(f"verify/{size}/svix") / t(f"verify/{size}/{ours}")
            rows.append((f"verify {size} ({ours}) vs svix: ≥ 4 × faster",
                         f"{ratio:.1f} ×", ratio >= 4))
    event = t("verify+parse/row_insert/fluxhook verify_event")
    value = t("verify+parse/row_insert/verify + serde_json::Value")
    rows.append(("verify + parse into Event, 574 B: ≤ 1.6 µs", fmt_time(event), event <= 1600))
    rows.append(("verify + Event vs verify + serde_json::Value: ≥ 2 × faster",
                 f"{value / event:.2f} ×", value / event >= 2))
    for payload in ["row_insert", "row_update", "documented"]:
        ratio = (t(f"parse/{payload}/serde_json::Value")
                 / t(f"parse/{payload}/fluxhook WebhookPayload (borrowing)"))
        rows.append((f"borrowing parse ({payload}) vs serde_json::Value: ≥ 3 × faster",
                     f"{ratio:.1f} ×", ratio >= 3))
    return rows


def main():
    markdown = "--markdown" in sys.argv
    r = load()
    if not r:
        sys.exit("no criterion results under target/criterion: run the benches first")
    groups = {}
    for key, v in sorted(r.items()):
        groups.setdefault(v["group"], []).append((key[len(v["group"]) + 1:], v))
    for group, benches in groups.items():
        if markdown:
            print(f"\n`{group}`\n\n| benchmark | median | fastest |\n| --- | ---: | ---: |")
        else:
            print(f"\n{group}")
        for name, v in benches:
            if markdown:
                print(f"| {name} | {fmt_time(v['median'])} | {fmt_time(v['fastest'])} |")
            else:
                print(f"  {name:<40} {fmt_time(v['median']):>10} {fmt_time(v['fastest']):>10}")
    failed = False
    try:
        rows = {est: targets(r, est) for est in ["median", "fastest"]}
    except KeyError as missing:
        sys.exit(f"missing benchmark {missing}: run both benches")
    if markdown:
        print("\n| target | median | fastest sample |\n| --- | ---: | ---: |")
    else:
        print()
    for (name, med, ok), (_, fast, fast_ok) in zip(rows["median"], rows["fastest"]):
        failed |= not ok
        mark = lambda good: "met" if good else "MISSED"  # noqa: E731
        if markdown:
            print(f"| {name} | {med} ({mark(ok)}) | {fast} ({mark(fast_ok)}) |")
        else:
            print(f"{name:<70} {med:>10} {mark(ok):<7} {fast:>10} {mark(fast_ok)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
