#!/usr/bin/env python3
"""Writes the seed corpus of the signature_header, payload and verify_chunks
fuzz targets from the conformance vectors
(crates/fluxbase-webhooks/tests/data/vectors.json). Seeds are named seed-*;
files the fuzzer adds later are not committed. The tower_layer seeds
(corpus/tower_layer/seed-*) are written by hand, one per answer the layer
gives; this script leaves them alone.

verify_chunks input: [mode][header_len][n_cuts][header][cuts: u16 LE each]
[after: u16 LE][body]. Mode 0 checks the vector's own header; modes 1-3 sign
the body (timestamped, hex, sha256) at t = 1234567890. `after` is how many
seconds later the check runs: 0 for most seeds, past the 300 s tolerance
for the "late" ones."""

import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "crates", "fluxbase-webhooks", "tests", "data", "vectors.json")


def body_of(case):
    if "body" in case:
        return case["body"].encode()
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    r = case["body_repeat"]
    # Keep seeds small: the fuzzer grows them if it wants.
    return (r["text"] * r["count"]).encode()[:4096]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    with open(os.path.join(d, f"seed-{name}-{digest}"), "wb") as f:
        f.write(data)


def main():
    cases = json.load(open(VECTORS, encoding="utf-8"))["cases"]
    bodies = {}
    for c in cases:
        headers = [c["header"]] if "header" in c else [v for vs in c.get("headers", {}).values() for v in vs]
        body = body_of(c)
        bodies[hashlib.sha256(body).hexdigest()] = (c["name"], body)
        for i, h in enumerate(headers):
            hb = h.encode()
            write("signature_header", f"{c['name']}-{i}", hb)
            if len(hb) < 256:
                cuts = [len(body) // 3, len(body) // 2]
                data = bytes([0, len(hb), len(cuts)]) + hb
                data += b"".join(struct.pack("<H", x % 65536) for x in cuts)
                data += struct.pack("<H", 0) + body[:2048]  # after: 0 s
                write("verify_chunks", c["name"], data)
    for name, body in bodies.values():
        write("payload", name, body)
        for mode in (1, 2, 3):
            write("verify_chunks", f"{name}-signed{mode}",
                  bytes([mode, 0, 1]) + struct.pack("<H", 7) + struct.pack("<H", 0) + body[:2048])
        # Signed, then checked 301 s later: just past the tolerance.
        write("verify_chunks", f"{name}-signed1-late",
              bytes([1, 0, 1]) + struct.pack("<H", 7) + struct.pack("<H", 301) + body[:2048])
    samples = [
        b'{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}',
        b'{"event":"webhook.test","timestamp":"2024-01-26T10:00:00Z","data":{"test":true,"webhook_id":"w"}}',
        b'{"event":"user.created","timestamp":"2024-01-26T10:00:00Z","data":{"user_id":"u","email":"e@x.y"},"signature":"s"}',
        b'{"event":"DELETE","table":"users","schema":"auth","record":{"id":"u"},"timestamp":"2026-01-02T04:04:05.123456789+01:00"}',
        b'{"event":"TRUNCATE","table":"t"}',
        b'{"event":"INSERT","table":5}',
    ]
    for i, s in enumerate(samples):
        write("payload", f"sample{i}", s)


if __name__ == "__main__":
    main()
