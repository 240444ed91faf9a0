#!/usr/bin/env python3
"""What a receiver holds when many senders who know no secret stall.

Opens N connections to a receiver on loopback. Each sends a signature
header that parses and is current (`t=<now>,v1=<64 hex>`: no secret needed),
declares a body of SIZE bytes, sends all of it but the last byte, and stalls.
Samples the receiver process's RSS (VmRSS) while they stall, then closes
them all and samples it again after PAUSE seconds. Prints one JSON object.

    python3 scripts/stalled-bodies.py --url http://127.0.0.1:3000/webhooks --pid PID

The receiver must run on 127.0.0.1; `--pid` is its process id (to read
/proc/PID/status). Every loop is bounded: N connections, a fixed hold time.
"""

import argparse
import json
import socket
import time
import urllib.parse


def rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--size", type=int, default=1024 * 1024)
    ap.add_argument("--hold", type=float, default=5.0, help="seconds to stall before closing")
    ap.add_argument("--pause", type=float, default=3.0, help="seconds to wait after closing")
    args = ap.parse_args()

    url = urllib.parse.urlparse(args.url)
    host, port = url.hostname, url.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback receivers only")
    header = f"t={int(time.time())},v1={'ab' * 32}"
    head = (
        f"POST {url.path or '/'} HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"content-type: application/json\r\nx-fluxbase-signature: {header}\r\n"
        f"content-length: {args.size}\r\n\r\n"
    ).encode()
    chunk = b" " * 65536
    before = rss_kib(args.pid)
    socks, refused_early, peak = [], 0, before["VmRSS"]
    started = time.monotonic()
    for _ in range(args.connections):
        s = socket.create_connection((host, port), timeout=10)
        s.setblocking(False)
        left = args.size - 1
        try:
            s.sendall(head)
        except OSError:
            refused_early += 1
            s.close()
            continue
        # Send what the socket takes without blocking; the rest is written
        # below while every connection is open.
        socks.append([s, left])
        peak = max(peak, rss_kib(args.pid)["VmRSS"])
    # Write the bodies (all but the last byte) as far as the receiver reads.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(left > 0 for _, left in socks):
        for entry in socks:
            s, left = entry
            if left <= 0:
                continue
            try:
                sent = s.send(chunk[: min(len(chunk), left)])
                entry[1] = left - sent
            except BlockingIOError:
                pass
            except OSError:
                entry[1] = 0  # answered and closed (503 or 413): nothing more to send
        peak = max(peak, rss_kib(args.pid)["VmRSS"])
    hold_until = time.monotonic() + args.hold
    while time.monotonic() < hold_until:
        peak = max(peak, rss_kib(args.pid)["VmRSS"])
        time.sleep(0.1)
    during = rss_kib(args.pid)
    answered = 0
    for s, _ in socks:
        try:
            s.setblocking(True)
            s.settimeout(0.001)
            if s.recv(16).startswith(b"HTTP/1.1 503"):
                answered += 1
        except OSError:
            pass
        s.close()
    time.sleep(args.pause)
    after = rss_kib(args.pid)
    print(json.dumps({
        "connections": args.connections,
        "declared_bytes": args.size,
        "answered_503_while_stalling": answered,
        "rss_before_mib": round(before["VmRSS"] / 1024, 1),
        "rss_peak_mib": round(max(peak, during["VmHWM"]) / 1024, 1),
        "rss_during_mib": round(during["VmRSS"] / 1024, 1),
        "rss_after_mib": round(after["VmRSS"] / 1024, 1),
        "seconds": round(time.monotonic() - started, 1),
    }))


if __name__ == "__main__":
    main()
