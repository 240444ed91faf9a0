//! Where a Fluxbase server would silently do something other than what a
//! webhook's settings suggest: [`WebhookSettings::warnings`].
//!
//! Every rule is read from the server's code (`internal/webhook/webhook.go`,
//! `internal/webhook/trigger.go`, `internal/api/webhook_handler.go`,
//! migration `005_functions_global.up.sql`) and CONTRACT.md §2.4 and §3. The
//! `fluxbase-emulator` crate answers with the same warnings, so what a test
//! against the emulator reports is what the client reports before sending.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::EventFilter;

/// The tables of the `auth` schema on a stock server (migrations
/// `006_tables_auth` and later; `api_keys` was renamed `client_keys` by
/// `047_rename_api_keys_to_client_keys`). A bare subscription such as
/// `users` installs its trigger in this schema (`parseTableReference`).
pub const AUTH_TABLES: [&str; 35] = [
    "captcha_challenges",
    "captcha_trust_tokens",
    "client_key_usage",
    "client_keys",
    "email_verification_tokens",
    "emergency_revocation",
    "impersonation_sessions",
    "magic_links",
    "mcp_oauth_clients",
    "mcp_oauth_codes",
    "mcp_oauth_tokens",
    "mfa_factors",
    "nonces",
    "oauth_links",
    "oauth_logout_states",
    "oauth_states",
    "oauth_tokens",
    "otp_codes",
    "password_reset_tokens",
    "rls_audit_log",
    "saml_assertion_ids",
    "saml_providers",
    "saml_sessions",
    "service_key_revocations",
    "service_keys",
    "sessions",
    "token_blacklist",
    "two_factor_recovery_attempts",
    "two_factor_setups",
    "user_trust_signals",
    "users",
    "webhook_deliveries",
    "webhook_events",
    "webhook_monitored_tables",
    "webhooks",
];

/// The operations the server's trigger fires (`auth.queue_webhook_event`).
const OPERATIONS: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

/// The largest value the server's `INTEGER` columns hold.
const INT4_MAX: i64 = i32::MAX as i64;
/// The smallest.
const INT4_MIN: i64 = i32::MIN as i64;

impl EventFilter {
    /// Where the server installs this subscription's trigger, as
    /// `(schema, table)` (`parseTableReference` in
    /// `internal/webhook/webhook.go`): `users` → `auth.users` (a bare name is
    /// looked up in `auth`), `public.products` → `public.products`. `None`
    /// for `*` (no trigger of its own) and for named events.
    pub fn trigger_table(&self) -> Option<(&str, &str)> {
        match self {
            Self::Table { table, .. } if table == "*" => None,
            Self::Table { table, .. } => Some(match table.find('.') {
                Some(dot) if dot > 0 => (&table[..dot], &table[dot + 1..]),
                _ => ("auth", table.as_str()),
            }),
            Self::Named(_) => None,
        }
    }

    /// Whether the server's trigger queues a row event of `table` (the bare
    /// name, `TG_TABLE_NAME`) and `operation` for this subscription: the
    /// `should_trigger` test of `auth.queue_webhook_event` (migration
    /// `005_functions_global.up.sql`), `table` equal to the bare name or
    /// `*`, `operations` holding the operation or `*`, case-sensitively.
    /// Named events never match.
    pub fn matches_row(&self, table: &str, operation: &str) -> bool {
        match self {
            Self::Table {
                table: wanted,
                operations,
            } => {
                (wanted == table || wanted == "*")
                    && operations.iter().any(|o| o == operation || o == "*")
            }
            Self::Named(_) => false,
        }
    }
}

/// Why a warning was given; a stable snake_case code (see
/// [`WarningCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningCode {
    /// `schema.table`: the trigger is installed, but the server matches the
    /// bare table name, so the subscription never matches.
    QualifiedTable,
    /// A bare name that is no table of the `auth` schema: its trigger
    /// cannot be created there.
    NotAnAuthTable,
    /// `*`: no trigger of its own; it fires only on tables another
    /// subscription installed a trigger on.
    WildcardTable,
    /// A documented event name (`user.created`): the server refuses it and
    /// emits none.
    NamedEvent,
    /// An operation that never matches (`insert`, `TRUNCATE`, none listed).
    OperationNeverMatches,
    /// No subscriptions: nothing is ever delivered.
    NoSubscriptions,
    /// A URL a production server refuses.
    UrlRefused,
    /// A retry or timeout setting the server replaces, stores as something
    /// that behaves differently, or refuses.
    RetrySettings,
    /// The webhook is disabled.
    Disabled,
    /// No secret: deliveries are not signed.
    Unsigned,
    /// An event the server never sends (reported by the emulator when one
    /// is fired).
    NeverSent,
    /// A row event no webhook gets on the server although a subscription
    /// names its table (reported by the emulator when one is fired).
    NotDelivered,
}

impl WarningCode {
    /// `qualified_table`, `not_an_auth_table`, `wildcard_table`,
    /// `named_event`, `operation_never_matches`, `no_subscriptions`,
    /// `url_refused`, `retry_settings`, `disabled`, `unsigned`,
    /// `never_sent`, `not_delivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QualifiedTable => "qualified_table",
            Self::NotAnAuthTable => "not_an_auth_table",
            Self::WildcardTable => "wildcard_table",
            Self::NamedEvent => "named_event",
            Self::OperationNeverMatches => "operation_never_matches",
            Self::NoSubscriptions => "no_subscriptions",
            Self::UrlRefused => "url_refused",
            Self::RetrySettings => "retry_settings",
            Self::Disabled => "disabled",
            Self::Unsigned => "unsigned",
            Self::NeverSent => "never_sent",
            Self::NotDelivered => "not_delivered",
        }
    }
}

impl fmt::Display for WarningCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WarningCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Something the Fluxbase server would silently do differently from what a
/// webhook's settings suggest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// Why.
    pub code: WarningCode,
    /// What the server does, in a sentence.
    pub message: String,
}

impl Warning {
    /// A warning.
    pub fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// How a production server judges a webhook URL before any DNS lookup
/// (`validateWebhookURL` in `internal/webhook/webhook.go`, skipped when the
/// server runs in debug mode).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlCheck {
    /// Refused, with the server's reason (it answers 500
    /// `invalid webhook URL: <reason>`).
    Refused(String),
    /// A host name the server resolves; it refuses the URL when the lookup
    /// fails or any address is private.
    Resolve(String),
}

/// Checks `url` as a production server does, up to its DNS lookup: Go's URL
/// parsing (control characters, scheme, host, port), `http`/`https` only,
/// no `localhost`, no cloud metadata or cluster host names, no IP literal
/// in a private, loopback or link-local range.
pub fn check_url(url: &str) -> UrlCheck {
    let refused = UrlCheck::Refused;
    let parse_error = |why: &str| refused(format!("invalid URL: parse {}: {why}", go_quote(url)));
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return parse_error("net/url: invalid control character in URL");
    }
    let (scheme, rest) = match split_scheme(url) {
        Ok(parts) => parts,
        Err(why) => return parse_error(why),
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return refused(format!("URL scheme must be http or https, got: {scheme}"));
    }
    let hostname = match hostname(rest) {
        Ok(h) => h,
        Err(why) => return parse_error(&why),
    };
    if hostname.is_empty() {
        return refused("URL must have a hostname".to_owned());
    }
    let lower = hostname.to_ascii_lowercase();
    if lower == "localhost" || lower == "ip6-localhost" {
        return refused("localhost URLs are not allowed".to_owned());
    }
    const INTERNAL: [&str; 5] = [
        "metadata.google.internal",
        "metadata",
        "instance-data",
        "kubernetes.default",
        "kubernetes.default.svc",
    ];
    if INTERNAL
        .iter()
        .any(|b| lower == *b || lower.ends_with(&format!(".{b}")))
    {
        return refused(format!("internal hostname '{hostname}' is not allowed"));
    }
    match hostname.parse::<IpAddr>() {
        Ok(ip) => match private_ip_refusal(ip) {
            Some(why) => refused(why),
            None => UrlCheck::Resolve(hostname.to_owned()),
        },
        Err(_) => UrlCheck::Resolve(hostname.to_owned()),
    }
}

/// The server's refusal of an address it resolved (`isPrivateIP`), if any.
pub fn private_ip_refusal(ip: IpAddr) -> Option<String> {
    let ip = ip.to_canonical();
    let private = match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    };
    private.then(|| format!("URL resolves to private IP address {ip} which is not allowed"))
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_link_local()
        // Link-local multicast, 224.0.0.0/24.
        || (o[0] == 224 && o[1] == 0 && o[2] == 0)
        || ip.is_private()
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_loopback()
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xfe00) == 0xfc00
        // Link-local multicast, ff02::/16.
        || s[0] == 0xff02
}

/// Go's `getScheme`: a scheme is a letter then letters, digits, `+`, `-`,
/// `.` up to the first `:`; without one the whole URL is a path.
fn split_scheme(url: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in url.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme"),
            ':' => return Ok((&url[..i], &url[i + 1..])),
            _ => return Ok(("", url)),
        }
    }
    Ok(("", url))
}

/// Go's `URL.Hostname()` of what follows the scheme: the authority without
/// user info and port, brackets removed.
fn hostname(rest: &str) -> Result<&str, String> {
    let Some(after) = rest.strip_prefix("//") else {
        return Ok("");
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(inner) = host.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err("missing ']' in host".to_owned());
        };
        let port = &inner[close + 1..];
        if !port.is_empty() && !valid_port(port) {
            return Err(format!("invalid port {} after host", go_quote(port)));
        }
        return Ok(&inner[..close]);
    }
    match host.rfind(':') {
        Some(colon) if !valid_port(&host[colon..]) => Err(format!(
            "invalid port {} after host",
            go_quote(&host[colon..])
        )),
        Some(colon) => Ok(&host[..colon]),
        None => Ok(host),
    }
}

/// `:` followed by digits only (Go's `validOptionalPort`).
fn valid_port(port: &str) -> bool {
    port.strip_prefix(':')
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `s` quoted as Go's `%q` does (`"…"` with `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\x..` and `\u....` escapes).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A webhook's settings as they are sent, for [`WebhookSettings::warnings`].
///
/// ```
/// use fluxbase_webhooks::client::{EventFilter, WarningCode, WebhookSettings};
///
/// let warnings = WebhookSettings::create("https://hooks.example.com/in")
///     .enabled(true)
///     .signed(true)
///     .events([EventFilter::all_rows("public.products")])
///     .warnings();
/// assert_eq!(warnings[0].code, WarningCode::QualifiedTable);
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    url: String,
    update: bool,
    was_enabled: Option<bool>,
    enabled: Option<bool>,
    signed: bool,
    events: Option<Vec<EventFilter>>,
    max_retries: Option<i64>,
    retry_backoff_seconds: Option<i64>,
    timeout_seconds: Option<i64>,
}

impl WebhookSettings {
    fn new(url: impl Into<String>, update: bool) -> Self {
        Self {
            url: url.into(),
            update,
            was_enabled: None,
            enabled: None,
            signed: false,
            events: None,
            max_retries: None,
            retry_backoff_seconds: None,
            timeout_seconds: None,
        }
    }

    /// The body of a create (`POST /api/v1/webhooks`): omitted retry
    /// settings get the server's defaults, an omitted `enabled` is `false`.
    pub fn create(url: impl Into<String>) -> Self {
        Self::new(url, false)
    }

    /// The body of an update (`PATCH /api/v1/webhooks/{id}`): the server
    /// replaces every column, so what is omitted becomes zero, empty or
    /// `false`.
    pub fn update(url: impl Into<String>) -> Self {
        Self::new(url, true)
    }

    /// Update only: whether the webhook was enabled before (the server
    /// installs triggers differently when an update enables it).
    pub fn was_enabled(mut self, enabled: bool) -> Self {
        self.was_enabled = Some(enabled);
        self
    }

    /// The `enabled` sent (not sent: `false` on the server).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Whether a non-empty secret is sent.
    pub fn signed(mut self, signed: bool) -> Self {
        self.signed = signed;
        self
    }

    /// The subscriptions sent, in order (not sent: `null`).
    pub fn events(mut self, events: impl IntoIterator<Item = EventFilter>) -> Self {
        self.events = Some(events.into_iter().collect());
        self
    }

    /// The `max_retries` sent.
    pub fn max_retries(mut self, n: i64) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// The `retry_backoff_seconds` sent.
    pub fn retry_backoff_seconds(mut self, n: i64) -> Self {
        self.retry_backoff_seconds = Some(n);
        self
    }

    /// The `timeout_seconds` sent.
    pub fn timeout_seconds(mut self, n: i64) -> Self {
        self.timeout_seconds = Some(n);
        self
    }

    /// Every way the server would silently not deliver, or deliver other
    /// than these settings suggest; empty when there is none.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        if let UrlCheck::Refused(why) = check_url(&self.url) {
            out.push(Warning::new(
                WarningCode::UrlRefused,
                format!(
                    "a production server refuses this URL (500 `invalid webhook URL: {why}`); \
                     only a server in debug mode accepts it"
                ),
            ));
        }
        match self.enabled {
            Some(true) => {}
            Some(false) => out.push(Warning::new(
                WarningCode::Disabled,
                "disabled: the server queues no event for it and installs no trigger",
            )),
            None => out.push(Warning::new(
                WarningCode::Disabled,
                if self.update {
                    "`enabled` omitted: the update replaces every column, so the webhook is \
                     disabled and the server queues no event for it"
                } else {
                    "`enabled` omitted: the server creates webhooks disabled (Go's false), so it \
                     queues no event for it and installs no trigger"
                },
            )),
        }
        if !self.signed {
            out.push(Warning::new(
                WarningCode::Unsigned,
                "no secret: deliveries carry no X-Fluxbase-Signature or X-Webhook-Signature, \
                 so a verifying receiver refuses them",
            ));
        }
        self.retry_warnings(&mut out);
        self.subscription_warnings(&mut out);
        out
    }

    fn retry_warnings(&self, out: &mut Vec<Warning>) {
        let settings = [
            ("max_retries", self.max_retries, 3),
            ("retry_backoff_seconds", self.retry_backoff_seconds, 5),
            ("timeout_seconds", self.timeout_seconds, 30),
        ];
        for (name, value, default) in settings {
            let Some(value) = value.or((self.update).then_some(0)) else {
                continue;
            };
            let message = if !(INT4_MIN..=INT4_MAX).contains(&value) {
                format!(
                    "{name} {value} does not fit the server's INTEGER column: it refuses the \
                     webhook (500 `failed to encode args`)"
                )
            } else if value == 0 && !self.update {
                format!("{name} 0 is replaced by the server's default, {default}")
            } else if value <= 0 {
                let what = if self.update && self.retry_value_omitted(name) {
                    format!("{name} omitted: the update stores 0")
                } else {
                    format!("{name} {value}")
                };
                let effect = match name {
                    "max_retries" => "one attempt, never a retry",
                    "retry_backoff_seconds" => {
                        "retries are due at once and wait only for the server's 30 s backlog tick"
                    }
                    _ => {
                        "no timeout at all: an endpoint that never answers holds a delivery worker"
                    }
                };
                format!("{what}: {effect}")
            } else {
                continue;
            };
            out.push(Warning::new(WarningCode::RetrySettings, message));
        }
    }

    fn retry_value_omitted(&self, name: &str) -> bool {
        match name {
            "max_retries" => self.max_retries.is_none(),
            "retry_backoff_seconds" => self.retry_backoff_seconds.is_none(),
            _ => self.timeout_seconds.is_none(),
        }
    }

    fn subscription_warnings(&self, out: &mut Vec<Warning>) {
        let events = self.events.as_deref().unwrap_or_default();
        if events.is_empty() {
            out.push(Warning::new(
                WarningCode::NoSubscriptions,
                "no subscriptions: the server never queues an event for it",
            ));
            return;
        }
        // Create, and an update that enables the webhook, install triggers
        // in order and stop at the first failure (ManageTriggersForWebhook);
        // an update of an enabled webhook installs each new table on its own.
        let stops_at_failure = !self.update || self.was_enabled != Some(true);
        let mut installed: Vec<(&str, &str)> = Vec::new();
        let mut failed_at: Option<&str> = None;
        for filter in events {
            let Some((schema, table)) = filter.trigger_table() else {
                continue;
            };
            if stops_at_failure && failed_at.is_some() {
                continue;
            }
            if schema == "auth" && !AUTH_TABLES.contains(&table) {
                failed_at.get_or_insert(table);
            } else {
                installed.push((schema, table));
            }
        }
        for filter in events {
            match filter {
                EventFilter::Named(name) => out.push(Warning::new(
                    WarningCode::NamedEvent,
                    match EventFilter::from_documented(name) {
                        Some(equivalent) => format!(
                            "`{name}` is a documented name: the server refuses it (400 Invalid \
                             request body) and emits no such event; subscribe to `{equivalent}`"
                        ),
                        None => format!(
                            "`{name}` is a documented name: the server refuses it (400 Invalid \
                             request body) and has no equivalent event"
                        ),
                    },
                )),
                EventFilter::Table { table, operations } => {
                    self.table_warning(out, events, table, &installed, failed_at);
                    operation_warnings(out, table, operations);
                }
            }
        }
    }

    fn table_warning(
        &self,
        out: &mut Vec<Warning>,
        events: &[EventFilter],
        table: &str,
        installed: &[(&str, &str)],
        failed_at: Option<&str>,
    ) {
        let bare_listed = |bare: &str| {
            events
                .iter()
                .any(|e| matches!(e, EventFilter::Table { table, .. } if table == bare))
        };
        if table == "*" {
            out.push(Warning::new(
                WarningCode::WildcardTable,
                "`*` installs no trigger: it fires only on tables that another enabled \
                 subscription installed a trigger on",
            ));
            return;
        }
        match table.find('.') {
            Some(dot) if dot > 0 => {
                let (schema, bare) = (&table[..dot], &table[dot + 1..]);
                if !bare_listed(bare) {
                    out.push(Warning::new(
                        WarningCode::QualifiedTable,
                        format!(
                            "`{table}` installs a trigger on {schema}.{bare} but never matches: \
                             the server compares the subscription with the bare table name \
                             `{bare}`; list `{table}` (to install the trigger) and then `{bare}` \
                             (to match)"
                        ),
                    ));
                } else if !installed.contains(&(schema, bare)) {
                    out.push(Warning::new(
                        WarningCode::QualifiedTable,
                        format!(
                            "`{table}` comes after `{}`, whose trigger cannot be created, and the \
                             server stops installing triggers at that failure: list `{table}` \
                             first",
                            failed_at.unwrap_or(bare)
                        ),
                    ));
                }
            }
            _ => {
                if AUTH_TABLES.contains(&table) {
                    return;
                }
                let installer = installed
                    .iter()
                    .any(|(schema, bare)| *schema != "auth" && *bare == table);
                if !installer {
                    out.push(Warning::new(
                        WarningCode::NotAnAuthTable,
                        format!(
                            "`{table}` is looked up as auth.{table}, which is no table: the \
                             server cannot create its trigger (it only logs that) and rows of \
                             another schema's `{table}` reach this webhook only if a \
                             subscription such as `public.{table}`, listed before it, installs \
                             their trigger"
                        ),
                    ));
                }
            }
        }
    }
}

fn operation_warnings(out: &mut Vec<Warning>, table: &str, operations: &[String]) {
    if operations.is_empty() {
        out.push(Warning::new(
            WarningCode::OperationNeverMatches,
            format!("`{table}` lists no operation: it never matches"),
        ));
    }
    for op in operations {
        if op == "*" || OPERATIONS.contains(&op.as_str()) {
            continue;
        }
        let upper = op.to_ascii_uppercase();
        let message = if OPERATIONS.contains(&upper.as_str()) || upper == "*" {
            format!("`{op}` on `{table}` never matches: operations are case-sensitive (`{upper}`)")
        } else {
            format!(
                "`{op}` on `{table}` never matches: the server fires INSERT, UPDATE and DELETE only"
            )
        };
        out.push(Warning::new(WarningCode::OperationNeverMatches, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(w: &[Warning]) -> Vec<WarningCode> {
        w.iter().map(|w| w.code).collect()
    }

    fn fine(url: &str) -> WebhookSettings {
        WebhookSettings::create(url).enabled(true).signed(true)
    }

    #[test]
    fn trigger_tables_as_parse_table_reference() {
        let t = |s: &str| {
            EventFilter::all_rows(s)
                .trigger_table()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        };
        assert_eq!(t("users"), Some(("auth".into(), "users".into())));
        assert_eq!(
            t("public.products"),
            Some(("public".into(), "products".into()))
        );
        assert_eq!(t("a.b.c"), Some(("a".into(), "b.c".into())));
        assert_eq!(t(".x"), Some(("auth".into(), ".x".into())));
        assert_eq!(t("*"), None);
        assert_eq!(EventFilter::named("user.created").trigger_table(), None);
        let f = EventFilter::table("users", ["INSERT"]);
        assert!(f.matches_row("users", "INSERT"));
        assert!(!f.matches_row("users", "insert") && !f.matches_row("Users", "INSERT"));
        assert!(EventFilter::table("*", ["*"]).matches_row("orders", "DELETE"));
        assert!(!EventFilter::all_rows("public.products").matches_row("products", "INSERT"));
    }

    #[test]
    fn a_clean_webhook_has_no_warning() {
        let w = fine("https://93.184.216.34/hook")
            .events([EventFilter::table("users", ["INSERT", "*"])])
            .max_retries(5)
            .warnings();
        assert!(w.is_empty(), "{w:?}");
        // The working recipe for a public table: installer first, then the bare name.
        let w = fine("https://example.com/")
            .events([
                EventFilter::all_rows("public.products"),
                EventFilter::all_rows("products"),
            ])
            .warnings();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn subscriptions_the_server_never_delivers() {
        let w = fine("https://example.com/")
            .events([EventFilter::all_rows("public.products")])
            .warnings();
        assert_eq!(codes(&w), [WarningCode::QualifiedTable]);
        assert!(
            w[0].message.contains("bare table name `products`"),
            "{}",
            w[0].message
        );
        let w = fine("https://example.com/")
            .events([EventFilter::all_rows("products")])
            .warnings();
        assert_eq!(codes(&w), [WarningCode::NotAnAuthTable]);
        // Wrong order on create: the failing bare name stops the installs.
        let w = fine("https://example.com/")
            .events([
                EventFilter::all_rows("products"),
                EventFilter::all_rows("public.products"),
            ])
            .warnings();
        assert_eq!(
            codes(&w),
            [WarningCode::NotAnAuthTable, WarningCode::QualifiedTable]
        );
        // An update of an enabled webhook installs each table on its own.
        let w = WebhookSettings::update("https://example.com/")
            .was_enabled(true)
            .enabled(true)
            .signed(true)
            .max_retries(3)
            .retry_backoff_seconds(5)
            .timeout_seconds(30)
            .events([
                EventFilter::all_rows("products"),
                EventFilter::all_rows("public.products"),
            ])
            .warnings();
        assert!(w.is_empty(), "{w:?}");
        let w = fine("https://example.com/")
            .events([
                EventFilter::all_rows("*"),
                EventFilter::named("user.created"),
                EventFilter::table("users", ["insert", "TRUNCATE"]),
                EventFilter::table("users", Vec::<String>::new()),
            ])
            .warnings();
        assert_eq!(
            codes(&w),
            [
                WarningCode::WildcardTable,
                WarningCode::NamedEvent,
                WarningCode::OperationNeverMatches,
                WarningCode::OperationNeverMatches,
                WarningCode::OperationNeverMatches,
            ]
        );
        assert!(w[1].message.contains("users:INSERT"), "{}", w[1].message);
        assert!(w[2].message.contains("case-sensitive (`INSERT`)"));
        assert_eq!(
            codes(&fine("https://example.com/").warnings()),
            [WarningCode::NoSubscriptions]
        );
    }

    #[test]
    fn settings_the_server_mangles() {
        let users = [EventFilter::all_rows("users")];
        let w = WebhookSettings::create("http://localhost:3000/")
            .events(users.clone())
            .max_retries(0)
            .retry_backoff_seconds(-1)
            .timeout_seconds(1 << 31)
            .warnings();
        assert_eq!(
            codes(&w),
            [
                WarningCode::UrlRefused,
                WarningCode::Disabled,
                WarningCode::Unsigned,
                WarningCode::RetrySettings,
                WarningCode::RetrySettings,
                WarningCode::RetrySettings,
            ]
        );
        assert!(w[0].message.contains("localhost URLs are not allowed"));
        assert!(w[1].message.contains("creates webhooks disabled"));
        assert!(w[3].message.contains("replaced by the server's default, 3"));
        assert!(w[4].message.contains("backlog tick"));
        assert!(w[5].message.contains("INTEGER"));
        let w = WebhookSettings::update("https://example.com/")
            .enabled(true)
            .signed(true)
            .events(users)
            .warnings();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].message
                .starts_with("max_retries omitted: the update stores 0")
        );
    }

    #[test]
    fn urls_as_a_production_server_checks_them() {
        let refused = |u: &str| match check_url(u) {
            UrlCheck::Refused(why) => why,
            other => panic!("{u}: {other:?}"),
        };
        assert_eq!(
            refused("ftp://x"),
            "URL scheme must be http or https, got: ftp"
        );
        assert_eq!(refused(""), "URL scheme must be http or https, got: ");
        assert_eq!(
            refused("not a url"),
            "URL scheme must be http or https, got: "
        );
        assert_eq!(refused("http://"), "URL must have a hostname");
        assert_eq!(
            refused("http://LocalHost:80/x"),
            "localhost URLs are not allowed"
        );
        assert_eq!(
            refused("http://169.254.169.254/latest"),
            "URL resolves to private IP address 169.254.169.254 which is not allowed"
        );
        assert_eq!(
            refused("https://[::ffff:10.0.0.1]/"),
            "URL resolves to private IP address 10.0.0.1 which is not allowed"
        );
        assert_eq!(
            refused("http://a.metadata.google.internal/"),
            "internal hostname 'a.metadata.google.internal' is not allowed"
        );
        assert_eq!(
            refused("http://x/\r\nInjected: yes"),
            "invalid URL: parse \"http://x/\\r\\nInjected: yes\": net/url: invalid control character in URL"
        );
        assert_eq!(
            refused("http://x:abc/"),
            "invalid URL: parse \"http://x:abc/\": invalid port \":abc\" after host"
        );
        assert_eq!(
            refused("http://[::1"),
            "invalid URL: parse \"http://[::1\": missing ']' in host"
        );
        assert_eq!(
            refused(":x"),
            "invalid URL: parse \":x\": missing protocol scheme"
        );
        assert_eq!(
            check_url("HTTPS://u:p@Example.com:8443/x"),
            UrlCheck::Resolve("Example.com".into())
        );
        assert_eq!(
            check_url("http://93.184.216.34/"),
            UrlCheck::Resolve("93.184.216.34".into())
        );
        assert_eq!(
            check_url("http://0.0.0.0/"),
            UrlCheck::Resolve("0.0.0.0".into())
        );
    }
}
