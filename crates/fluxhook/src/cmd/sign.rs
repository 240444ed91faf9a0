//! `fluxhook sign`

use std::process::ExitCode;

use fluxbase_webhooks::{Code, Scheme, Verifier};

use crate::cli::{SchemeArg, SignArgs};
use crate::cmd::secret;
use crate::input::read_body;
use crate::output::{errln, outln};

pub(crate) fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let secret = secret::given(args.secret.as_deref())?;
    let signer = secret::signer(secret)?;
    let body = read_body(args.file.as_deref())?;
    let timestamp = match args.timestamp {
        Some(0) => {
            anyhow::bail!("--timestamp 0 cannot be verified (the server treats t=0 as missing)")
        }
        Some(t) => t,
        None => unix_now(),
    };
    let scheme = scheme(args.scheme);
    let header = signer.sign(scheme, timestamp, &body);
    outln!("{header}")?;
    if let Some(why) = not_fresh(secret, &header.to_string(), &body) {
        errln!("note: a receiver with the default window refuses this delivery now: {why}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Why a signature would not be fresh now, as the library judges it: its
/// `t=`, or without one the body's `timestamp` field.
fn not_fresh(secret: &str, header: &str, body: &[u8]) -> Option<String> {
    let verifier = Verifier::new(secret).ok()?;
    match verifier.verify(header, body) {
        Err(err)
            if matches!(
                err.code(),
                Code::MissingTimestamp | Code::TimestampTooOld | Code::TimestampInFuture
            ) =>
        {
            Some(format!("{}: {err}", err.code()))
        }
        _ => None,
    }
}

pub(crate) fn scheme(arg: SchemeArg) -> Scheme {
    match arg {
        SchemeArg::Timestamped => Scheme::Timestamped,
        SchemeArg::Hex => Scheme::Hex,
        SchemeArg::Sha256 => Scheme::Sha256,
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
