//! The webhook secret, as every command that takes one reads it.

use anyhow::anyhow;
use fluxbase_webhooks::{ConfigError, Signer, Verifier, VerifierBuilder};

/// The usage error for a secret the library refuses: an empty one would let
/// anyone sign (HMAC with an empty key is public knowledge), so no command
/// runs with it and none falls back to a default.
pub(crate) fn refused(err: ConfigError) -> anyhow::Error {
    match err {
        ConfigError::EmptySecret => anyhow!(
            "the webhook secret is empty: pass --secret SECRET or set FLUXBASE_WEBHOOK_SECRET \
             to the endpoint's secret (an empty key lets anyone sign)"
        ),
        ConfigError::NoSecret => {
            anyhow!("no webhook secret: pass --secret SECRET or set FLUXBASE_WEBHOOK_SECRET")
        }
        other => anyhow!(other),
    }
}

/// The secret `--secret` or `FLUXBASE_WEBHOOK_SECRET` gave.
///
/// # Errors
///
/// A usage error that says where a secret comes from, when neither did.
pub(crate) fn given(secret: Option<&str>) -> anyhow::Result<&str> {
    secret.ok_or_else(|| refused(ConfigError::NoSecret))
}

/// A signer for `secret`.
///
/// # Errors
///
/// A usage error for an empty secret.
pub(crate) fn signer(secret: &str) -> anyhow::Result<Signer> {
    Signer::new(secret).map_err(refused)
}

/// A verifier builder with every secret of `secrets` in its keyring (any
/// may match; the first is key 0).
pub(crate) fn keyring(secrets: &[String]) -> VerifierBuilder {
    Verifier::builder().keys(secrets.iter().map(String::as_str))
}

/// Builds the verifier.
///
/// # Errors
///
/// A usage error for no secret or an empty one.
pub(crate) fn build(builder: VerifierBuilder) -> anyhow::Result<Verifier> {
    builder.build().map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_secret_is_a_usage_error_that_names_where_it_came_from() {
        let err = signer("").unwrap_err().to_string();
        assert!(
            err.contains("--secret") && err.contains("FLUXBASE_WEBHOOK_SECRET"),
            "{err}"
        );
        let err = build(keyring(&["k".into(), String::new()])).unwrap_err();
        assert!(
            err.to_string().starts_with("the webhook secret is empty"),
            "{err}"
        );
        assert!(
            build(keyring(&[]))
                .unwrap_err()
                .to_string()
                .starts_with("no webhook secret")
        );
        assert!(build(keyring(&["k".into()])).is_ok());
    }
}
