//! `fluxhook sign`

use std::process::ExitCode;

use fluxbase_webhooks::Scheme;

use crate::cli::{SchemeArg, SignArgs};
use crate::cmd::secret;
use crate::input::read_body;

pub(crate) fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let signer = secret::signer(&args.secret)?;
    let body = read_body(args.file.as_deref())?;
    let timestamp = match args.timestamp {
        Some(0) => {
            anyhow::bail!("--timestamp 0 cannot be verified (the server treats t=0 as missing)")
        }
        Some(t) => t,
        None => unix_now(),
    };
    let header = signer.sign(scheme(args.scheme), timestamp, &body);
    println!("{header}");
    Ok(ExitCode::SUCCESS)
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
