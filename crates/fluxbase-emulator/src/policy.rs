//! What the server refuses, per server mode: webhook URLs
//! (`validateWebhookURL`, skipped in debug mode) and integers its
//! `INTEGER` columns cannot hold.

use std::time::Duration;

use fluxbase_webhooks::client::{UrlCheck, check_url, private_ip_refusal};

use crate::ServerMode;

/// How long the server's URL check waits for DNS (`validateWebhookURL`).
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's URL check, `Err` with its reason. A server in debug mode
/// (`webhookService.AllowPrivateIPs = cfg.Debug`, `internal/api/server.go`)
/// checks nothing, not even the scheme; a production one refuses what
/// [`check_url`] refuses and host names that do not resolve or resolve to a
/// private address.
pub(crate) async fn check_webhook_url(mode: ServerMode, url: &str) -> Result<(), String> {
    if mode == ServerMode::Debug {
        return Ok(());
    }
    let host = match check_url(url) {
        UrlCheck::Refused(why) => return Err(why),
        UrlCheck::Resolve(host) => host,
        _ => return Ok(()),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        // An IP literal was judged by check_url already.
        return Ok(());
    }
    let lookup = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)));
    let addrs: Vec<_> = match lookup.await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) => {
            return Err(format!(
                "failed to resolve hostname: lookup {host}: no such host"
            ));
        }
        Err(_) => {
            return Err(format!(
                "failed to resolve hostname: lookup {host}: i/o timeout"
            ));
        }
    };
    if addrs.is_empty() {
        return Err(format!(
            "failed to resolve hostname: lookup {host}: no such host"
        ));
    }
    match addrs.iter().find_map(|a| private_ip_refusal(a.ip())) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// The scheme and host check the documented flavor keeps in every mode.
pub(crate) fn documented_url_error(url: &str) -> Option<String> {
    match check_url(url) {
        UrlCheck::Refused(why)
            if why.starts_with("URL scheme")
                || why.starts_with("URL must have")
                || why.starts_with("invalid URL") =>
        {
            Some(why)
        }
        _ => None,
    }
}

/// pgx's refusal of `value` for query argument `index` (0-based) of an
/// `INTEGER` column, or `None` when it fits.
pub(crate) fn int4_error(index: usize, value: i64) -> Option<String> {
    let why = if value > i64::from(i32::MAX) {
        format!("{value} is greater than maximum value for int4")
    } else if value < i64::from(i32::MIN) {
        format!("{value} is less than minimum value for int4")
    } else {
        return None;
    };
    Some(format!(
        "failed to encode args[{index}]: unable to encode {value} into binary format for int4 (OID 23): {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn debug_checks_nothing_production_everything() {
        for url in ["", "ftp://x", "http://localhost/", "http://10.0.0.1/"] {
            assert!(
                check_webhook_url(ServerMode::Debug, url).await.is_ok(),
                "{url}"
            );
            assert!(
                check_webhook_url(ServerMode::Production, url)
                    .await
                    .is_err(),
                "{url}"
            );
        }
        assert!(
            check_webhook_url(ServerMode::Production, "https://93.184.216.34/")
                .await
                .is_ok()
        );
        // `.invalid` never resolves (RFC 6761).
        let err = check_webhook_url(ServerMode::Production, "http://no-such-host.invalid/")
            .await
            .unwrap_err();
        assert!(
            err.starts_with("failed to resolve hostname: lookup no-such-host.invalid: "),
            "{err}"
        );
    }

    #[test]
    fn int4_as_pgx_says() {
        assert_eq!(int4_error(6, 2_147_483_647), None);
        assert_eq!(
            int4_error(6, 2_147_483_648).unwrap(),
            "failed to encode args[6]: unable to encode 2147483648 into binary format for int4 (OID 23): 2147483648 is greater than maximum value for int4"
        );
        assert!(
            int4_error(7, -2_147_483_649)
                .unwrap()
                .ends_with("is less than minimum value for int4")
        );
    }
}
