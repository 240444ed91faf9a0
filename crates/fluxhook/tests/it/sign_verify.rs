//! `fluxhook sign` and `fluxhook verify`.

use crate::{TempFile, fluxhook, run_with_stdin};

const BODY: &[u8] = br#"{"event":"INSERT","table":"users"}"#;

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

#[test]
fn sign_then_verify_round_trips_on_a_non_utf8_body() {
    let body: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28, b'\n'];
    let file = TempFile::new("binary.bin", &body);
    for scheme in ["timestamped", "hex", "sha256"] {
        let out = fluxhook()
            .args(["sign", "--secret", "s3cr\u{e9}t", "--scheme", scheme])
            .arg(&file.path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let header = stdout(&out).trim_end().to_owned();
        let out = fluxhook()
            .args([
                "verify",
                "--secret",
                "s3cr\u{e9}t",
                "--signature",
                &header,
                "--json",
            ])
            .arg(&file.path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(json["valid"], true);
        assert_eq!(json["scheme"], scheme);
    }
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
    let cases: [(&[&str], &str); 4] = [
        (&["--signature", "t=abc,v1=00"], "malformed_signature"),
        (&["--signature", "   "], "missing_signature"),
        (&["--signature", &"0".repeat(64)], "signature_mismatch"),
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
    // The bare hex is valid under the default policy.
    let out = fluxhook()
        .args(["verify", "--secret", "test-secret", "--signature", hex])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
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
    let out = fluxhook()
        .env("FLUXBASE_WEBHOOK_SECRET", "test-secret")
        .args(["verify", "--signature", stdout(&out).trim_end()])
        .arg(&file.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn usage_errors_exit_2_and_never_echo_the_secret() {
    for args in [
        &["verify", "--signature", "x"][..],
        &["verify", "--secret", "hunter2-secret"][..],
        &[
            "verify",
            "--secret",
            "hunter2-secret",
            "--signature",
            "x",
            "--scheme",
            "md5",
        ][..],
        &["sign", "--secret", "hunter2-secret", "--timestamp", "soon"][..],
        &[
            "sign",
            "--secret",
            "hunter2-secret",
            "/nonexistent/body.json",
        ][..],
        &["sign", "--secret", "hunter2-secret", "--timestamp", "0"][..],
    ] {
        let mut cmd = fluxhook();
        cmd.args(args);
        let out = run_with_stdin(cmd, b"{}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("hunter2"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
