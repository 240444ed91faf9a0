//! `fluxhook sign` and `fluxhook verify`.

use std::time::Duration;

use fluxbase_webhooks::Timestamp;

use crate::{
    TempFile, exits_within, fluxhook, run_with_stdin, stopped_quietly, with_closed_stderr,
    with_closed_stdout,
};

const BODY: &[u8] = br#"{"event":"INSERT","table":"users"}"#;

/// A payload dated now, as the server dates every attempt: what a
/// signature without a timestamp (hex, sha256=) needs to be fresh.
fn dated_body() -> Vec<u8> {
    format!(
        r#"{{"event":"INSERT","table":"users","schema":"auth","record":{{"id":"u1"}},"timestamp":"{}"}}"#,
        Timestamp::now()
    )
    .into_bytes()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn sign_prints_only_the_header_for_each_scheme() {
    let file = TempFile::new("body.json", BODY);
    let cases = [
        (
            "timestamped",
            "t=1234567890,v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c\n",
        ),
        (
            "hex",
            "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c\n",
        ),
        (
            "sha256",
            "sha256=0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c\n",
        ),
    ];
    for (scheme, expected) in cases {
        let out = fluxhook()
            .args([
                "sign",
                "--secret",
                "test-secret",
                "--timestamp",
                "1234567890",
            ])
            .args(["--scheme", scheme])
            .arg(&file.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), expected, "{scheme}");
    }
}

#[test]
fn sign_reads_stdin_and_defaults_to_now() {
    let mut cmd = fluxhook();
    cmd.args(["sign", "--secret", "test-secret"]);
    let out = run_with_stdin(cmd, BODY);
    assert!(out.status.success());
    let header = stdout(&out);
    let t: i64 = header
        .strip_prefix("t=")
        .and_then(|r| r.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - t).abs() < 600, "t={t} now={now}");
}

fn sign_output(secret: &str, scheme: &str, file: &TempFile) -> std::process::Output {
    fluxhook()
        .args(["sign", "--secret", secret, "--scheme", scheme])
        .arg(&file.path)
        .output()
        .unwrap()
}

fn sign(secret: &str, scheme: &str, file: &TempFile) -> String {
    let out = sign_output(secret, scheme, file);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim_end().to_owned()
}

fn verify_json(secret: &str, header: &str, file: &TempFile) -> (Option<i32>, serde_json::Value) {
    let out = fluxhook()
        .args([
            "verify",
            "--secret",
            secret,
            "--signature",
            header,
            "--json",
        ])
        .arg(&file.path)
        .output()
        .unwrap();
    let json = serde_json::from_str(&stdout(&out)).unwrap();
    (out.status.code(), json)
}

#[test]
fn sign_then_verify_round_trips_in_every_scheme() {
    let file = TempFile::new("dated.json", &dated_body());
    for scheme in ["timestamped", "hex", "sha256"] {
        let header = sign("s3cr\u{e9}t", scheme, &file);
        let (code, json) = verify_json("s3cr\u{e9}t", &header, &file);
        assert_eq!(code, Some(0), "{scheme}: {json}");
        assert_eq!(json["valid"], true);
        assert_eq!(json["scheme"], scheme);
        // Every scheme is dated: by `t=`, or by the body's `timestamp`.
        let dated = json["timestamp"].as_i64().unwrap();
        assert!(
            (Timestamp::now().unix_timestamp() - dated).abs() < 600,
            "{json}"
        );
    }
}

#[test]
fn sign_notes_an_untimestamped_signature_no_receiver_would_take() {
    let undated = TempFile::new("body.json", BODY);
    let out = sign_output("k", "hex", &undated);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim_end().len(),
        64,
        "only the header on stdout"
    );
    assert!(
        stderr(&out).starts_with("note: a receiver with the default window refuses this delivery now: missing_timestamp: "),
        "{}",
        stderr(&out)
    );
    // A dated body: nothing to note.
    let dated = TempFile::new("dated.json", &dated_body());
    let out = sign_output("k", "sha256", &dated);
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_non_utf8_body_verifies_only_when_timestamped() {
    let body: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28, b'\n'];
    let file = TempFile::new("binary.bin", &body);
    let header = sign("s3cr\u{e9}t", "timestamped", &file);
    let (code, json) = verify_json("s3cr\u{e9}t", &header, &file);
    assert_eq!(code, Some(0), "{json}");
    // Without a timestamp in the header, nothing in such a body dates it.
    for scheme in ["hex", "sha256"] {
        let header = sign("s3cr\u{e9}t", scheme, &file);
        let (code, json) = verify_json("s3cr\u{e9}t", &header, &file);
        assert_eq!(code, Some(1), "{scheme}: {json}");
        assert_eq!(json["code"], "missing_timestamp", "{scheme}: {json}");
    }
}

#[test]
fn a_stale_hex_signature_is_refused_unless_the_tolerance_covers_it() {
    let old = Timestamp::from(std::time::SystemTime::now() - Duration::from_secs(3600));
    let body = format!(r#"{{"event":"TEST","table":"test","timestamp":"{old}"}}"#);
    let file = TempFile::new("old.json", body.as_bytes());
    let header = sign("k", "hex", &file);
    let (code, json) = verify_json("k", &header, &file);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(json["code"], "timestamp_too_old");
    let out = fluxhook()
        .args([
            "verify",
            "--secret",
            "k",
            "--signature",
            &header,
            "--tolerance",
            "7200",
        ])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("valid: hex signature, key 0, t="));
}

#[test]
fn verify_a_one_mib_body() {
    let body = vec![b'a'; 1024 * 1024];
    let file = TempFile::new("big.json", &body);
    let out = fluxhook()
        .args(["sign", "--secret", "k"])
        .arg(&file.path)
        .output()
        .unwrap();
    let header = stdout(&out).trim_end().to_owned();
    let out = fluxhook()
        .args(["verify", "--secret", "k", "--signature", &header])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1048576 byte body"),
        "{}",
        stdout(&out)
    );
    // One byte changed: invalid.
    let mut tampered = body;
    tampered[512 * 1024] = b'b';
    let file = TempFile::new("big-tampered.json", &tampered);
    let out = fluxhook()
        .args(["verify", "--secret", "k", "--signature", &header])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("signature_mismatch:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_json_output_shapes() {
    let file = TempFile::new("body.json", BODY);
    let valid = "t=1234567890,v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c";
    // Rotation: the second secret matches, with a tolerance wide enough for 2009.
    let out = fluxhook()
        .args(["verify", "--secret", "new", "--secret", "test-secret"])
        .args(["--tolerance", "4000000000", "--signature", valid, "--json"])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim_end(),
        r#"{"valid":true,"scheme":"timestamped","timestamp":1234567890,"key":1}"#
    );
    // The default tolerance: far too old.
    let out = fluxhook()
        .args([
            "verify",
            "--secret",
            "test-secret",
            "--signature",
            valid,
            "--json",
        ])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["code"], "timestamp_too_old");
    assert!(json["message"].as_str().unwrap().contains("old"));
    assert!(!stdout(&out).contains("85ff39aa"), "no signature echoed");
}

#[test]
fn verify_reports_each_code_on_stderr() {
    let file = TempFile::new("body.json", BODY);
    let hex = "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forged = format!("t={now},v1={}", "0".repeat(64));
    let cases: [(&[&str], &str); 6] = [
        (&["--signature", "t=abc,v1=00"], "malformed_signature"),
        // The right tag, but a body without a date.
        (&["--signature", hex], "missing_timestamp"),
        (&["--signature", &"0".repeat(64)], "signature_mismatch"),
        (&["--signature", "   "], "missing_signature"),
        (&["--signature", &forged], "signature_mismatch"),
        (
            &["--signature", hex, "--scheme", "timestamped"],
            "malformed_signature",
        ),
    ];
    for (args, code) in cases {
        let out = fluxhook()
            .args(["verify", "--secret", "test-secret"])
            .args(args)
            .arg(&file.path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).starts_with(&format!("{code}:")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Bare hex over a dated body is valid under the default policy.
    let dated = TempFile::new("dated.json", &dated_body());
    let header = sign("test-secret", "hex", &dated);
    let out = fluxhook()
        .args(["verify", "--secret", "test-secret", "--signature", &header])
        .arg(&dated.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn secret_from_the_environment() {
    let file = TempFile::new("body.json", BODY);
    let out = fluxhook()
        .env("FLUXBASE_WEBHOOK_SECRET", "test-secret")
        .args(["sign", "--scheme", "hex"])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).trim_end(),
        "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c"
    );
    let dated = TempFile::new("dated.json", &dated_body());
    let out = fluxhook()
        .env("FLUXBASE_WEBHOOK_SECRET", "test-secret")
        .args(["sign", "--scheme", "sha256"])
        .arg(&dated.path)
        .output()
        .unwrap();
    let out = fluxhook()
        .env("FLUXBASE_WEBHOOK_SECRET", "test-secret")
        .args(["verify", "--signature", stdout(&out).trim_end()])
        .arg(&dated.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Every command that takes a secret refuses an empty one, from the flag or
/// from the environment, and says where one comes from when there is none:
/// exit 2, a message saying so, nothing done.
#[test]
fn an_empty_or_missing_secret_exits_2_for_every_command() {
    let file = TempFile::new("body.json", &dated_body());
    let body = file.path.to_str().unwrap();
    let commands: [&[&str]; 4] = [
        &["sign", body],
        &["verify", "--signature", "0", body],
        &["send", "http://127.0.0.1:9/webhooks", body],
        &["listen", "--addr", "127.0.0.1:0"],
    ];
    let empty = "error: the webhook secret is empty";
    let missing = "error: no webhook secret: pass --secret SECRET or set FLUXBASE_WEBHOOK_SECRET\n";
    for args in commands {
        for given in ["flag", "env", "none"] {
            let mut cmd = fluxhook();
            cmd.args(args);
            match given {
                "flag" => {
                    cmd.args(["--secret", ""]);
                }
                "env" => {
                    cmd.env("FLUXBASE_WEBHOOK_SECRET", "");
                }
                _ => {}
            }
            let out = exits_within(cmd, Duration::from_secs(30));
            let said = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} {given}: {said}");
            match given {
                "none" => assert_eq!(said, missing, "{args:?}"),
                _ => assert!(said.starts_with(empty), "{args:?} {given}: {said}"),
            }
            assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        }
    }
}

#[test]
fn sign_notes_a_timestamp_no_receiver_would_take() {
    let file = TempFile::new("body.json", &dated_body());
    for t in ["1234567890", "-5"] {
        let out = fluxhook()
            .args(["sign", "--secret", "k", "--timestamp", t])
            .arg(&file.path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{t}");
        assert!(stdout(&out).starts_with(&format!("t={t},v1=")), "{t}");
        assert!(
            stderr(&out).starts_with("note: a receiver with the default window refuses this delivery now: timestamp_too_old: "),
            "{t}: {}",
            stderr(&out)
        );
    }
    // Now, or just now: nothing to note.
    let out = sign_output("k", "timestamped", &file);
    assert_eq!(stderr(&out), "");
}

/// A closed stdout (`fluxhook sign … | head -0`) ends `sign` and `verify`
/// quietly with 141: no panic, no error, and never the status of a valid
/// (0) or invalid (1) signature, since the answer was not delivered.
#[test]
fn a_closed_stdout_ends_sign_and_verify_quietly() {
    let file = TempFile::new("body.json", BODY);
    let mut signing = fluxhook();
    signing
        .args(["sign", "--secret", "test-secret"])
        .arg(&file.path);
    stopped_quietly(&with_closed_stdout(signing));

    let header = sign("test-secret", "timestamped", &file);
    for secret in ["test-secret", "another-secret"] {
        let mut verify = fluxhook();
        verify
            .args([
                "verify",
                "--json",
                "--secret",
                secret,
                "--signature",
                header.trim(),
            ])
            .arg(&file.path);
        stopped_quietly(&with_closed_stdout(verify));
    }
}

/// A closed stderr changes nothing but the notes: a mismatch still exits 1,
/// a stale untimestamped signature is still printed with status 0, and a
/// usage error still exits 2; never a panic (101).
#[test]
fn a_closed_stderr_changes_no_status() {
    let file = TempFile::new("body.json", BODY);
    let header = sign("test-secret", "timestamped", &file);
    let mut mismatch = fluxhook();
    mismatch
        .args([
            "verify",
            "--secret",
            "another-secret",
            "--signature",
            header.trim(),
        ])
        .arg(&file.path);
    let out = with_closed_stderr(mismatch);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));

    // An untimestamped signature of a body dated long ago: signed, with a
    // note on stderr that nobody reads.
    let mut stale = fluxhook();
    stale
        .args(["sign", "--secret", "test-secret", "--scheme", "hex"])
        .arg(&file.path);
    let out = with_closed_stderr(stale);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).trim().len(), 64, "{}", stdout(&out));

    let mut usage = fluxhook();
    usage
        .args(["verify", "--secret", "", "--signature", "00"])
        .arg(&file.path);
    let out = with_closed_stderr(usage);
    assert_eq!(out.status.code(), Some(2));
}

/// Any other failed write to stdout is an error: said on stderr, status 2.
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_error() {
    let file = TempFile::new("body.json", BODY);
    let out = fluxhook()
        .args(["sign", "--secret", "test-secret"])
        .arg(&file.path)
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: cannot write to stdout: No space left on device (os error 28)\n"
    );
}
