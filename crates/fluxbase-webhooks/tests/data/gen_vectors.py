#!/usr/bin/env python3
"""Writes vectors.json: the fluxbase-webhooks conformance cases.

Signatures are computed here with Python's own `hmac`/`hashlib`, independently
of the Rust code, so the Rust test that replays this file cross-checks the two
implementations. Run from anywhere: `python3 gen_vectors.py`.

Each case:
  name        unique id
  about       what it shows (and where the rule comes from)
  secrets     keyring: strings, or objects {"secret"|"secret_hex", "id"?, "not_after"?}
  body        UTF-8 body | body_hex: hex bytes | body_repeat: {"text", "count"}
  header      X-Fluxbase-Signature value, or headers: {name: [values]} for header selection
  legacy      read X-Webhook-Signature too (default false)
  now         [seconds, nanoseconds] of the verifier's clock
  tolerance   past tolerance in seconds (default 300)
  future_skew future skew in seconds (default 60)
  schemes     "all" | "timestamped" | "hex" | "sha256" (default "all")
  stale_untimestamped
              accept untimestamped signatures whatever the body's date (the
              verifier's danger opt-in; default false), to check a MAC alone
  parse       also parse the body into an Event (default false)
  canonical   our Signer must produce exactly `header` (default false)
  expect      {"valid": true, "scheme", "timestamp", "key"} or {"valid": false, "code"};
              code "config:empty_secret" when no verifier can be built

Untimestamped signatures (bare hex, sha256=, the legacy header) are dated by
the body's own `timestamp` field: `timestamp` in `expect` is then that date.
Replays are not vectors: they depend on a store and on the current time, and
are tested over HTTP.
"""

import hashlib
import hmac
import json
import os

T = 1234567890
NOW = [T, 250_000_000]
BODY = '{"event":"INSERT","table":"users"}'
# BODY dated T (2009-02-13T23:31:30Z), for the schemes dated by their body.
DATED = '{"event":"INSERT","table":"users","timestamp":"2009-02-13T23:31:30Z"}'
SECRET = "test-secret"
MIB = 1024 * 1024


def mac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def b(s) -> bytes:
    return s if isinstance(s, bytes) else s.encode()


def ts(secret, t, body) -> str:
    return mac(b(secret), str(t).encode() + b"." + b(body))


def plain(secret, body) -> str:
    return mac(b(secret), b(body))


cases = []


def case(name, about, expect, **kw):
    c = {"name": name, "about": about}
    c.update(kw)
    c.setdefault("secrets", [SECRET])
    if not any(k in c for k in ("body", "body_hex", "body_repeat")):
        c["body"] = BODY
    c.setdefault("now", NOW)
    c["expect"] = expect
    cases.append(c)


def ok(scheme, timestamp=None, key=0):
    return {"valid": True, "scheme": scheme, "timestamp": timestamp, "key": key}


def bad(code):
    return {"valid": False, "code": code}


GOOD = ts(SECRET, T, BODY)
AMOUNT_100 = '{"amount":100}'
NO_EVENT = '{"table":"users"}'
CONTROL_SECRET = "se\u0001cr\u0007et"
HEX = plain(SECRET, BODY)
HEX_DATED = plain(SECRET, DATED)

# --- CONTRACT.md 1.6: the published vectors -------------------------------
assert HEX == "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c"
assert GOOD == "85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c"
case("contract_legacy_hex", "1.6 legacy A: bare hex over the body (the MAC alone)", ok("hex"),
     header=HEX, canonical=True, stale_untimestamped=True)
case("contract_legacy_hex_undated", "1.6 legacy A as sent: its body has no date, so it is refused",
     bad("missing_timestamp"), header=HEX)
case("contract_timestamped", "1.6 B: t=1234567890 over '1234567890.' + body",
     ok("timestamped", T), header=f"t={T},v1={GOOD}", canonical=True)
sec = "sécret"
v = ts(sec, 1700000000, '{"a":1}')
assert v == "2e1d18f0f421fb15fa0b330e39e008a57428ed7b25d2d5d709c5be0ca1d88c87"
case("contract_non_ascii_secret", "1.6: secret 'sécret' is its UTF-8 bytes",
     ok("timestamped", 1700000000), secrets=[sec], body='{"a":1}',
     header=f"t=1700000000,v1={v}", now=[1700000000, 0], canonical=True)
case("contract_sha256_prefix", "sha256=<hex> over the body (the MAC alone)", ok("sha256"),
     header=f"sha256={HEX}", canonical=True, stale_untimestamped=True)

# --- CONTRACT.md 1.7: the server's own test scenarios ----------------------
case("parse_valid_but_short_tag", "W Parse valid: t=..,v1=abc123def456 parses, cannot match",
     bad("signature_mismatch"), header=f"t={T},v1=abc123def456")
case("parse_multi_v1", "W multi v1: any one matching v1 is enough",
     ok("timestamped", T), header=f"t={T},v1=sig1,v1={GOOD}")
case("parse_whitespace", "W whitespace around pieces",
     ok("timestamped", T), header=f"  t={T} , v1={GOOD}  ")
case("parse_empty", "W empty header", bad("missing_signature"), header="")
case("parse_blank", "a header of spaces is as good as none", bad("missing_signature"), header="   ")
case("parse_no_t", "W no t", bad("malformed_signature"), header="v1=abc123")
case("parse_no_v1", "W no v1", bad("malformed_signature"), header=f"t={T}")
case("parse_bad_t", "W t=notanumber", bad("malformed_signature"), header="t=notanumber,v1=abc123")
case("parse_extra_commas", "W extra commas are skipped",
     ok("timestamped", T), header=f"t={T},,v1={GOOD},")
case("parse_unknown_key", "W unknown keys are ignored",
     ok("timestamped", T), header=f"t={T},unknown=value,v1={GOOD}")
case("parse_v2_ignored", "W v2 is ignored even when it holds the right tag",
     bad("signature_mismatch"), header=f"t={T},v1=sig1,v2={GOOD},v1=sig3")
case("parse_spaces_around_eq", "W spaces around '=' parse (as the Go code does)",
     ok("timestamped", T), header=f"t = {T}, v1 = {GOOD}")
T2 = 9876543210
case("parse_duplicate_t", "W duplicate t: the last one wins",
     ok("timestamped", T2), header=f"t={T},t={T2},v1={ts(SECRET, T2, BODY)}", now=[T2, 0])
case("verify_valid", "W fresh t, correct tag", ok("timestamped", T), header=f"t={T},v1={GOOD}")
case("verify_old", "W t = now - 10 min", bad("timestamp_too_old"),
     header=f"t={T - 600},v1={ts(SECRET, T - 600, BODY)}")
case("verify_future", "W t = now + 10 min", bad("timestamp_in_future"),
     header=f"t={T + 600},v1={ts(SECRET, T + 600, BODY)}")
case("verify_wrong_sig", "W v1=wrongsignature", bad("signature_mismatch"),
     header=f"t={T},v1=wrongsignature")
case("verify_wrong_secret", "W verified with another secret", bad("signature_mismatch"),
     header=f"t={T},v1={GOOD}", secrets=["wrong-secret"])
case("verify_multi_second_matches", "W v1=wrongsig,v1=<correct>",
     ok("timestamped", T), header=f"t={T},v1=wrongsig,v1={GOOD}")
case("zero_tolerance", "W tolerance 0 rejects t = now (now has a fraction)",
     bad("timestamp_too_old"), header=f"t={T},v1={GOOD}", tolerance=0)
case("large_tolerance", "W t = now - 24 h with 48 h tolerance",
     ok("timestamped", T - 86400), header=f"t={T - 86400},v1={ts(SECRET, T - 86400, BODY)}",
     tolerance=172800)
case("empty_payload", "W an empty body signs and verifies", ok("timestamped", T),
     body="", header=f"t={T},v1={ts(SECRET, T, '')}", canonical=True)
case("clock_skew_inside", "W t = now + 30 s with 1 min skew",
     ok("timestamped", T + 30), header=f"t={T + 30},v1={ts(SECRET, T + 30, BODY)}", future_skew=60)
case("modified_payload", "W sign {amount:100}, verify {amount:999}", bad("signature_mismatch"),
     body='{"amount":999}', header=f"t={T},v1={ts(SECRET, T, AMOUNT_100)}")
for label, body in [("cjk", '{"name":"山田太郎"}'), ("emoji", '{"mood":"🎉🚀"}'),
                    ("control", '{"x":"a\u0001b\u001fc"}')]:
    case(f"edge_body_{label}", f"W edge case: {label} body", ok("timestamped", T),
         body=body, header=f"t={T},v1={ts(SECRET, T, body)}", canonical=True)
case("edge_empty_secret", "W the server signs with an empty secret; fluxhook builds no verifier from one",
     bad("config:empty_secret"), secrets=[""], header=plain("", BODY))
case("edge_control_secret", "W a secret with control characters",
     ok("timestamped", T), secrets=["se\u0001cr\u0007et"],
     header=f"t={T},v1={ts(CONTROL_SECRET, T, BODY)}")
case("edge_t_zero", "W t=0 signs, but the parser treats it as missing",
     bad("malformed_signature"), header=f"t=0,v1={ts(SECRET, 0, BODY)}")
case("edge_t_negative", "W t=-1000 parses, then is far too old",
     bad("timestamp_too_old"), header=f"t=-1000,v1={ts(SECRET, -1000, BODY)}")
case("edge_t_far_future", "W t=9999999999 is in the future",
     bad("timestamp_in_future"), header=f"t=9999999999,v1={ts(SECRET, 9999999999, BODY)}")
case("format_includes_dot", "W the signed message is '<t>.' + body (the MAC alone)",
     ok("hex"), body=f"{T}.{BODY}", header=GOOD, stale_untimestamped=True)
case("timestamped_tag_as_bare_hex", "a timestamped tag sent as bare hex over '<t>.' + body: "
     "that body is never a dated JSON object, so it is refused",
     bad("missing_timestamp"), body=f"{T}.{DATED}", header=ts(SECRET, T, DATED))

# --- CONTRACT.md 1.7 second table: checked against the Go functions --------
case("uppercase_hex_v1", "Go mismatches uppercase hex; we decode, so it verifies",
     ok("timestamped", T), header=f"t={T},v1={GOOD.upper()}")
case("uppercase_bare_hex", "uppercase bare hex verifies", ok("hex", T), body=DATED,
     header=HEX_DATED.upper())
case("uppercase_sha256_prefix", "SHA256= prefix in capitals verifies", ok("sha256", T),
     body=DATED, header=f"SHA256={HEX_DATED}")
case("v1_before_t", "order does not matter", ok("timestamped", T), header=f"v1={GOOD},t={T}")
case("capital_keys", "T=/V1= are not t/v1", bad("malformed_signature"), header=f"T={T},V1={GOOD}")
case("t_plus_sign", "t=+N parses", ok("timestamped", T), header=f"t=+{T},v1={GOOD}")
case("semicolon_separator", "';' is not a separator", bad("malformed_signature"),
     header=f"t={T};v1={GOOD}")
case("only_v0", "only v0: missing signature value", bad("malformed_signature"),
     header=f"t={T},v0={GOOD}")
case("t_decimal", "t=N.5 is not an integer", bad("malformed_signature"), header=f"t={T}.5,v1={GOOD}")
case("t_milliseconds", "a millisecond t is far in the future", bad("timestamp_in_future"),
     header=f"t={T * 1000},v1={ts(SECRET, T * 1000, BODY)}")
case("age_equals_tolerance", "exactly tolerance old plus a fraction: too old",
     bad("timestamp_too_old"), header=f"t={T - 300},v1={ts(SECRET, T - 300, BODY)}")
case("age_equals_tolerance_whole", "exactly tolerance old, no fraction: accepted",
     ok("timestamped", T - 300), header=f"t={T - 300},v1={ts(SECRET, T - 300, BODY)}",
     now=[T, 0])
case("future_equals_skew", "t = now + skew (as Go with skew = tolerance): accepted",
     ok("timestamped", T + 300), header=f"t={T + 300},v1={ts(SECRET, T + 300, BODY)}",
     now=[T, 0], future_skew=300)
case("future_past_skew", "t = now + skew + 1: in the future",
     bad("timestamp_in_future"), header=f"t={T + 301},v1={ts(SECRET, T + 301, BODY)}",
     now=[T, 0], future_skew=300)
case("default_skew_is_60s", "the default future skew is 60 s, not the tolerance",
     bad("timestamp_in_future"), header=f"t={T + 61},v1={ts(SECRET, T + 61, BODY)}", now=[T, 0])
case("t_overflow", "t past i64 is invalid", bad("malformed_signature"),
     header=f"t=9223372036854775808,v1={GOOD}")
case("t_i64_max", "t = i64::MAX parses and is in the future", bad("timestamp_in_future"),
     header=f"t=9223372036854775807,v1={ts(SECRET, 9223372036854775807, BODY)}")

# --- bodies -----------------------------------------------------------------
nonutf8 = bytes([0xff, 0xfe, 0x00, 0x80, 0x7b, 0x22, 0xc3, 0x28])
for scheme, header in [("timestamped", f"t={T},v1={ts(SECRET, T, nonutf8)}"),
                       ("hex", plain(SECRET, nonutf8)),
                       ("sha256", f"sha256={plain(SECRET, nonutf8)}")]:
    case(f"non_utf8_body_{scheme}", "any bytes: no UTF-8 requirement (the MAC alone)",
         ok(scheme, T if scheme == "timestamped" else None),
         body_hex=nonutf8.hex(), header=header, canonical=True, stale_untimestamped=True)
case("non_utf8_body_hex_undated", "any bytes verify, but undated bytes are refused untimestamped",
     bad("missing_timestamp"), body_hex=nonutf8.hex(), header=plain(SECRET, nonutf8))
big = ("0123456789abcdef" * (MIB // 16))
assert len(big) == MIB
case("one_mib_body_timestamped", "a 1 MiB body at the default limit",
     ok("timestamped", T), body_repeat={"text": "0123456789abcdef", "count": MIB // 16},
     header=f"t={T},v1={ts(SECRET, T, big)}", canonical=True)
case("one_mib_body_hex", "a 1 MiB body, bare hex (the MAC alone)", ok("hex"),
     body_repeat={"text": "0123456789abcdef", "count": MIB // 16}, header=plain(SECRET, big),
     stale_untimestamped=True)
case("tampered_last_byte", "the body's last byte changed", bad("signature_mismatch"),
     body=BODY[:-1] + "]", header=f"t={T},v1={GOOD}")
case("tampered_timestamp_digit", "the t digits changed (still inside the window)",
     bad("signature_mismatch"), header=f"t={T - 1},v1={GOOD}")
case("tampered_tag_bit", "one bit of the tag flipped", bad("signature_mismatch"),
     header=f"t={T},v1={GOOD[:-1]}{'d' if GOOD[-1] == 'c' else 'c'}")

# --- secrets and rotation ----------------------------------------------------
for label, s in [("japanese", "秘密の鍵"), ("emoji", "🔑secret"), ("latin1", "ñandú")]:
    case(f"secret_{label}", "non-ASCII secrets are their UTF-8 bytes", ok("timestamped", T),
         secrets=[s], header=f"t={T},v1={ts(s, T, BODY)}", canonical=True)
raw_key = bytes(range(32))
case("secret_raw_bytes", "a secret given as raw (non-UTF-8) bytes", ok("hex", T),
     secrets=[{"secret_hex": raw_key.hex()}], body=DATED, header=plain(raw_key, DATED))
case("rotation_second_key", "the old key still verifies and is reported as key 1",
     ok("timestamped", T, key=1), secrets=["new-secret", SECRET], header=f"t={T},v1={GOOD}")
case("rotation_both_tags", "a header carrying tags for both keys reports the first key",
     ok("timestamped", T, key=0), secrets=["new-secret", SECRET],
     header=f"t={T},v1={GOOD},v1={ts('new-secret', T, BODY)}")
case("rotation_expired_key", "a key past its not_after no longer verifies",
     bad("signature_mismatch"),
     secrets=["new-secret", {"secret": SECRET, "not_after": T - 1}], header=f"t={T},v1={GOOD}")
case("rotation_key_not_yet_expired", "a key before its not_after verifies",
     ok("timestamped", T, key=1),
     secrets=["new-secret", {"secret": SECRET, "not_after": T + 3600}], header=f"t={T},v1={GOOD}")
case("rotation_none_match", "no key of three matches", bad("signature_mismatch"),
     secrets=["a", "b", "c"], header=f"t={T},v1={GOOD}")

# --- scheme policy ------------------------------------------------------------
case("strict_refuses_hex", "strict mode refuses bare hex", bad("malformed_signature"),
     schemes="timestamped", header=HEX)
case("strict_refuses_sha256", "strict mode refuses sha256=", bad("malformed_signature"),
     schemes="timestamped", header=f"sha256={HEX}")
case("strict_accepts_timestamped", "strict mode accepts t=..,v1=..", ok("timestamped", T),
     schemes="timestamped", header=f"t={T},v1={GOOD}")
case("hex_only_refuses_timestamped", "a hex-only policy refuses timestamped",
     bad("malformed_signature"), schemes="hex", header=f"t={T},v1={GOOD}")

# --- malformed values ----------------------------------------------------------
case("sha256_bad_hex", "sha256= with non-hex digits", bad("malformed_signature"),
     header="sha256=" + "z" * 64)
case("sha256_short", "sha256= with 62 digits", bad("malformed_signature"), header=f"sha256={HEX[:-2]}")
case("bare_hex_short", "63 hex digits", bad("malformed_signature"), header=HEX[:-1])
case("bare_hex_long", "66 hex digits", bad("malformed_signature"), header=HEX + "00")
case("v1_empty", "v1= with no value is collected and cannot match", bad("signature_mismatch"),
     header=f"t={T},v1=")
case("v1_truncated", "a truncated tag cannot match", bad("signature_mismatch"),
     header=f"t={T},v1={GOOD[:-2]}")
case("max_signatures", "64 v1 values, the last one right", ok("timestamped", T),
     header=f"t={T}," + ",".join(["v1=" + "0" * 64] * 63 + [f"v1={GOOD}"]))
case("too_many_signatures", "65 v1 values are refused", bad("malformed_signature"),
     header=f"t={T}," + ",".join([f"v1={GOOD}"] * 65))
case("header_control_byte", "a control byte in the header", bad("malformed_signature"),
     header=f"t={T},v1={GOOD}\u0001")
case("header_non_ascii", "a non-ASCII character in the header", bad("malformed_signature"),
     header=f"t={T},v1={GOOD}é")

# --- header selection ------------------------------------------------------------
case("legacy_header_ignored_by_default", "X-Webhook-Signature alone, legacy off",
     bad("missing_signature"), body=DATED, headers={"x-webhook-signature": [HEX_DATED]})
case("legacy_header_opt_in", "X-Webhook-Signature alone, legacy on, dated by the body",
     ok("hex", T), body=DATED, headers={"x-webhook-signature": [HEX_DATED]}, legacy=True)
case("legacy_header_stale_body", "X-Webhook-Signature alone over a body 10 minutes old",
     bad("timestamp_too_old"), body=DATED, headers={"x-webhook-signature": [HEX_DATED]},
     legacy=True, now=[T + 600, 0])
case("both_headers_server_style", "both headers, as the server sends them",
     ok("timestamped", T), headers={"x-webhook-signature": [HEX],
                                    "x-fluxbase-signature": [f"t={T},v1={GOOD}"]}, legacy=True)
case("no_fallback_to_legacy", "a bad X-Fluxbase-Signature never falls back to the legacy header",
     bad("signature_mismatch"), headers={"x-webhook-signature": [HEX],
                                         "x-fluxbase-signature": [f"t={T},v1={'0' * 64}"]},
     legacy=True)
case("legacy_header_must_be_hex", "the legacy header holds only bare hex",
     bad("malformed_signature"), headers={"x-webhook-signature": [f"t={T},v1={GOOD}"]}, legacy=True)
case("duplicate_signature_headers", "two X-Fluxbase-Signature headers are malformed",
     bad("malformed_signature"),
     headers={"x-fluxbase-signature": [f"t={T},v1={GOOD}", f"t={T},v1={'0' * 64}"]})
case("no_headers", "no signature header at all", bad("missing_signature"), headers={})

# --- untimestamped schemes are dated by their body ------------------------------
for scheme, header in [("hex", HEX_DATED), ("sha256", f"sha256={HEX_DATED}")]:
    case(f"{scheme}_dated_fresh", f"{scheme}: the body's timestamp is inside the window",
         ok(scheme, T), body=DATED, header=header)
    case(f"{scheme}_dated_too_old", f"{scheme}: the body is 10 minutes old",
         bad("timestamp_too_old"), body=DATED, header=header, now=[T + 600, 0])
    case(f"{scheme}_dated_in_future", f"{scheme}: the body is dated 2 minutes ahead",
         bad("timestamp_in_future"), body=DATED, header=header, now=[T - 120, 0])
    case(f"{scheme}_undated", f"{scheme}: a body with no timestamp cannot be shown fresh",
         bad("missing_timestamp"), body=BODY, header=plain(SECRET, BODY) if scheme == "hex"
         else f"sha256={HEX}")
    case(f"{scheme}_stale_by_opt_in", f"{scheme}: a stale body under the danger opt-in",
         ok(scheme, T), body=DATED, header=header, now=[T + 86400, 0], stale_untimestamped=True)
OFFSET = '{"event":"INSERT","timestamp":"2009-02-14T00:31:30.5+01:00"}'
case("hex_dated_with_offset", "a body date in +01:00 with a fraction: 300.5 s old is too old",
     bad("timestamp_too_old"), body=OFFSET, header=plain(SECRET, OFFSET), now=[T + 300, 500_000_001])
case("hex_dated_with_offset_inside", "the same body exactly 300 s old is accepted",
     ok("hex", T), body=OFFSET, header=plain(SECRET, OFFSET), now=[T + 300, 500_000_000])
NOT_A_DATE = '{"event":"INSERT","timestamp":"yesterday"}'
case("hex_body_date_unreadable", "a timestamp that is not RFC 3339 is no date",
     bad("missing_timestamp"), body=NOT_A_DATE, header=plain(SECRET, NOT_A_DATE))
NUMBER_DATE = '{"event":"INSERT","timestamp":1234567890}'
case("hex_body_date_number", "a numeric timestamp is no date either",
     bad("missing_timestamp"), body=NUMBER_DATE, header=plain(SECRET, NUMBER_DATE))
case("hex_wrong_tag_undated", "no date at the end of the body: the tag is checked first (nothing unauthenticated is parsed), a wrong tag is a mismatch",
     bad("signature_mismatch"), body=BODY, header="0" * 64)
case("hex_wrong_tag_stale", "a stale date at the end of the body is refused before the tag (a rotated secret is not revealed)",
     bad("timestamp_too_old"), body=DATED, header="0" * 64, now=[T + 3600, 0])
case("hex_wrong_tag_fresh", "a fresh body with a wrong tag is a mismatch",
     bad("signature_mismatch"), body=DATED, header="0" * 64)
OLD_DATE = '{"event":"INSERT","timestamp":"2001-01-01T00:00:00Z"}'
case("timestamped_ignores_body_date", "the timestamped scheme is dated by t, not by the body",
     ok("timestamped", T), body=OLD_DATE, header=f"t={T},v1={ts(SECRET, T, OLD_DATE)}")

# --- signed bodies that are not payloads ------------------------------------------
case("invalid_json_signed", "valid signature, body not JSON", bad("invalid_payload"),
     body="not json", header=f"t={T},v1={ts(SECRET, T, 'not json')}", parse=True)
case("json_without_event_signed", "valid signature, JSON without `event`",
     bad("invalid_payload"), body='{"table":"users"}',
     header=f"t={T},v1={ts(SECRET, T, NO_EVENT)}", parse=True)
server_payload = ('{"event":"UPDATE","table":"users","schema":"auth","record":{"id":"u1"},'
                  '"old_record":{"id":"u1"},"timestamp":"2026-01-02T04:04:05.12+01:00"}')
case("server_payload_parses", "a real server payload verifies and parses", ok("timestamped", T),
     body=server_payload, header=f"t={T},v1={ts(SECRET, T, server_payload)}", parse=True)

names = [c["name"] for c in cases]
assert len(names) == len(set(names)), "duplicate case names"

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump({"about": __doc__.strip().splitlines()[0], "cases": cases}, f,
              ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(cases)} cases -> {out}")
