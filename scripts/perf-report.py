#!/usr/bin/env python3
"""Reads `cargo bench -p fluxbase-webhooks` results and checks them against
the targets in PERFORMANCE.md.

    cargo bench -p fluxbase-webhooks -- --save-baseline run1
    cargo bench -p fluxbase-webhooks -- --save-baseline run2
    cargo bench -p fluxbase-webhooks -- --save-baseline run3
    python3 scripts/perf-report.py run1 run2 run3 [--markdown] [--fastest]

With no run named, it reads criterion's latest results ("new").

Each benchmark's time per iteration is estimated from criterion's raw
samples (target/criterion/**/<run>/sample.json): by default the median over
samples of (sample time / iterations); with --fastest, the fastest sample,
the one least disturbed by other processes on a shared machine.

Every target is a ratio (or a time) computed within one run. The report shows
it for each run and whether it was met in every run. Exit status 1 when a
target is missed in some run.
"""

import json
import statistics
import sys
from pathlib import Path

CRITERION = Path(__file__).resolve().parent.parent / "target" / "criterion"
SIZES = ["256B", "1KiB", "16KiB", "1MiB"]
PAYLOADS = ["row_insert", "row_update", "documented"]


def load(run, fastest):
    """{full benchmark id: (group, ns per iteration)} for one run."""
    results = {}
    for sample_file in CRITERION.glob(f"**/{run}/sample.json"):
        meta = json.loads((sample_file.parent / "benchmark.json").read_text())
        sample = json.loads(sample_file.read_text())
        per_iter = [t / n for t, n in zip(sample["times"], sample["iters"])]
        estimate = min(per_iter) if fastest else statistics.median(per_iter)
        results[meta["full_id"]] = (meta["group_id"], estimate)
    return results


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def targets(r):
    """[(target, measured text, met)] within one run."""
    t = lambda key: r[key][1]  # noqa: E731
    rows = []
    sha = t("verify/1MiB/sha256 (limit)")
    for scheme in ["timestamped", "hex", "sha256"]:
        ratio = sha / t(f"verify/1MiB/fluxhook/{scheme}")
        rows.append((f"verify 1 MiB, {scheme}: throughput vs raw SHA-256 (≥ 97 %)",
                     f"{ratio * 100:.1f} %", ratio >= 0.97))
    ratio = t("verify/1KiB/fluxhook/timestamped") / t("verify/1KiB/sha256 (limit)")
    rows.append(("verify 1 KiB, timestamped: time vs raw SHA-256 (≤ 1.3 ×)",
                 f"{ratio:.2f} ×", ratio <= 1.3))
    for size in SIZES:
        ratio = t(f"verify/{size}/svix") / t(f"verify/{size}/fluxhook/timestamped+clock")
        rows.append((f"verify {size} vs svix, both reading the clock (≥ 4 ×)",
                     f"{ratio:.1f} ×", ratio >= 4))
    event = t("verify+parse/row_insert/fluxhook verify_event")
    value = t("verify+parse/row_insert/verify + serde_json::Value")
    rows.append(("verify + parse into Event, 574 B (≤ 1.6 µs)", fmt_time(event), event <= 1600))
    rows.append(("verify + Event vs verify + serde_json::Value (≥ 2 ×)",
                 f"{value / event:.2f} ×", value / event >= 2))
    for payload in PAYLOADS:
        ratio = (t(f"parse/{payload}/serde_json::Value")
                 / t(f"parse/{payload}/fluxhook WebhookPayload (borrowing)"))
        rows.append((f"borrowing parse vs serde_json::Value, {payload} (≥ 3 ×)",
                     f"{ratio:.1f} ×", ratio >= 3))
    return rows


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    fastest = "--fastest" in sys.argv
    runs = args or ["new"]
    results = {run: load(run, fastest) for run in runs}
    for run, r in results.items():
        if not r:
            sys.exit(f"no criterion results for {run!r} under {CRITERION}")

    # Every benchmark, one column per run.
    groups = {}
    for key, (group, _) in sorted(results[runs[0]].items()):
        groups.setdefault(group, []).append(key)
    for group, keys in groups.items():
        if markdown:
            print(f"\n`{group}`\n")
            print("| benchmark | " + " | ".join(runs) + " |")
            print("| --- |" + " ---: |" * len(runs))
        else:
            print(f"\n{group}")
        for key in keys:
            name = key[len(group) + 1:]
            cells = [fmt_time(results[run][key][1]) if key in results[run] else "-"
                     for run in runs]
            if markdown:
                print(f"| {name} | " + " | ".join(cells) + " |")
            else:
                print(f"  {name:<40}" + "".join(f"{c:>12}" for c in cells))

    # Targets, one column per run.
    try:
        per_run = [targets(results[run]) for run in runs]
    except KeyError as missing:
        sys.exit(f"missing benchmark {missing}: run the verify and parse benches")
    print()
    if markdown:
        print("| target | " + " | ".join(runs) + " | verdict |")
        print("| --- |" + " ---: |" * len(runs) + " --- |")
    failed = False
    for i, (name, _, _) in enumerate(per_run[0]):
        cells = [rows[i][1] for rows in per_run]
        met = sum(rows[i][2] for rows in per_run)
        verdict = "met" if met == len(runs) else f"MISSED in {len(runs) - met} of {len(runs)}"
        failed |= met < len(runs)
        if markdown:
            print(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
        else:
            print(f"{name:<64}" + "".join(f"{c:>10}" for c in cells) + f"  {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
