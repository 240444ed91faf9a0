//! `fluxhook verify`

use std::process::ExitCode;
use std::time::Duration;

use fluxbase_webhooks::Schemes;
use serde::Serialize;

use crate::cli::{SchemePolicyArg, VerifyArgs};
use crate::cmd::secret;
use crate::input::read_body;
use crate::output::{errln, outln};

/// Exit status for a signature that does not verify.
const EXIT_INVALID: u8 = 1;

pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = secret::keyring(&args.secrets)
        .tolerance(Duration::from_secs(args.tolerance))
        .future_skew(Duration::from_secs(args.future_skew))
        .schemes(match args.scheme {
            SchemePolicyArg::Any => Schemes::ALL,
            SchemePolicyArg::Timestamped => Schemes::TIMESTAMPED,
            SchemePolicyArg::Hex => Schemes::HEX,
            SchemePolicyArg::Sha256 => Schemes::SHA256,
        });
    let verifier = secret::build(verifier)?;
    // The file was chosen by the user: no body limit here.
    let body = read_body(args.file.as_deref())?;
    match verifier.verify(&args.signature, &body) {
        Ok(verified) => {
            if args.json {
                print_json(&Outcome::Valid {
                    valid: true,
                    scheme: verified.scheme().as_str(),
                    timestamp: verified.timestamp(),
                    key: verified.key_index(),
                })?;
            } else {
                let when = verified
                    .timestamp()
                    .map_or_else(String::new, |t| format!(", t={t}"));
                outln!(
                    "valid: {} signature, key {}{when}, {} byte body",
                    verified.scheme(),
                    verified.key_index(),
                    verified.body_len()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if args.json {
                print_json(&Outcome::Invalid {
                    valid: false,
                    code: err.code().as_str(),
                    message: err.to_string(),
                })?;
            } else {
                errln!("{}: {err}", err.code());
            }
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// The `--json` output, keys in this order.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Valid {
        valid: bool,
        scheme: &'static str,
        timestamp: Option<i64>,
        key: usize,
    },
    Invalid {
        valid: bool,
        code: &'static str,
        message: String,
    },
}

fn print_json(outcome: &Outcome) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(outcome)?)?;
    Ok(())
}
