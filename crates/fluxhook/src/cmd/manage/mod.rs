//! `fluxhook webhooks|keys|invitations`: the management API from the shell.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use fluxbase_webhooks::client::{self, Client};
use serde::Serialize;

use crate::output::{StdoutError, errln, outln};

pub(crate) mod invitations;
pub(crate) mod keys;
pub(crate) mod webhooks;

/// Exit status when the server refused or could not be reached.
pub(crate) const EXIT_FAILED: u8 = 1;

/// Where the server is and how to authenticate (flags or environment).
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The Fluxbase server.
    #[arg(
        long,
        env = "FLUXBASE_URL",
        default_value = "http://localhost:8080",
        global = true
    )]
    url: String,
    /// Sign in as this user (`POST /api/v1/auth/signin`).
    #[arg(long, env = "FLUXBASE_EMAIL", global = true)]
    email: Option<String>,
    /// The user's password.
    #[arg(
        long,
        env = "FLUXBASE_PASSWORD",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    password: Option<String>,
    /// Log in as this dashboard administrator (`POST /api/v1/admin/login`).
    #[arg(long, env = "FLUXBASE_ADMIN_EMAIL", global = true)]
    admin_email: Option<String>,
    /// The administrator's password.
    #[arg(
        long,
        env = "FLUXBASE_ADMIN_PASSWORD",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    admin_password: Option<String>,
    /// An access token (`Authorization: Bearer`).
    #[arg(
        long,
        env = "FLUXBASE_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    token: Option<String>,
    /// A client key (`X-Client-Key`).
    #[arg(
        long,
        env = "FLUXBASE_CLIENT_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    client_key: Option<String>,
    /// A service key (`X-Service-Key`).
    #[arg(
        long,
        env = "FLUXBASE_SERVICE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        global = true
    )]
    service_key: Option<String>,
    /// Seconds before a request gives up.
    #[arg(long, default_value_t = 30, global = true)]
    timeout: u64,
    /// Print JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// Which credentials to prefer when several are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Webhooks and client keys: token, service key, client key, user, admin.
    Manage,
    /// Invitations (administrators only): token, admin, user.
    Admin,
}

/// Why a command failed.
pub(crate) enum Failure {
    /// Bad flags or input: exit 2.
    Usage(anyhow::Error),
    /// The server said no, or could not be reached: exit 1.
    Api(client::ClientError),
}

impl From<client::ClientError> for Failure {
    fn from(e: client::ClientError) -> Self {
        if e.is_builder() {
            Self::Usage(anyhow::anyhow!("{}", e.message()))
        } else {
            Self::Api(e)
        }
    }
}

impl From<StdoutError> for Failure {
    fn from(e: StdoutError) -> Self {
        Self::Usage(e.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Usage(e)
    }
}

pub(crate) type Outcome = Result<ExitCode, Failure>;

impl Connection {
    /// A client for the server, authenticated as the flags say.
    pub(crate) async fn connect(&self, purpose: Purpose) -> Result<Client, Failure> {
        let client = Client::builder()
            .base_url(&self.url)
            .timeout(Duration::from_secs(self.timeout.max(1)))
            .user_agent(concat!("fluxhook/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let user = pair(&self.email, &self.password, "--email", "--password")?;
        let admin = pair(
            &self.admin_email,
            &self.admin_password,
            "--admin-email",
            "--admin-password",
        )?;
        let auth = client.auth();
        if let Some(token) = &self.token {
            auth.bearer_token(token.as_str());
            return Ok(client);
        }
        if purpose == Purpose::Admin
            && let Some((email, password)) = admin
        {
            auth.admin_login(email, password).await?;
            return Ok(client);
        }
        if let Some(key) = &self.service_key {
            auth.service_key(key.as_str());
        } else if let Some(key) = &self.client_key {
            auth.client_key(key.as_str());
        } else if let Some((email, password)) = user {
            auth.sign_in(email, password).await?;
        } else if let Some((email, password)) = admin {
            auth.admin_login(email, password).await?;
        }
        Ok(client)
    }
}

fn pair<'a>(
    who: &'a Option<String>,
    secret: &'a Option<String>,
    who_flag: &str,
    secret_flag: &str,
) -> Result<Option<(&'a str, &'a str)>, Failure> {
    match (who, secret) {
        (Some(w), Some(s)) => Ok(Some((w, s))),
        (Some(_), None) => Err(Failure::Usage(anyhow::anyhow!(
            "{who_flag} needs {secret_flag} (or its environment variable)"
        ))),
        _ => Ok(None),
    }
}

/// Runs an async command on a fresh runtime and turns failures into the
/// exit status: 1 for the server's refusals (message on stderr, or JSON on
/// stdout with `--json`), 2 for usage errors.
pub(crate) fn run<F>(json: bool, command: F) -> anyhow::Result<ExitCode>
where
    F: Future<Output = Outcome>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(command) {
        Ok(code) => Ok(code),
        Err(Failure::Usage(e)) => Err(e),
        Err(Failure::Api(e)) => {
            if json {
                print_json(&serde_json::json!({
                    "error": e.message(),
                    "status": e.status().map(|s| s.as_u16()),
                    "code": e.code(),
                }))?;
            } else {
                errln!("error: {e}");
            }
            Ok(ExitCode::from(EXIT_FAILED))
        }
    }
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string(value)?)?;
    Ok(())
}

/// JSON with `--json`, otherwise the text `human` prints.
pub(crate) fn show<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> Result<(), StdoutError>,
) -> Outcome {
    if json {
        print_json(value)?;
    } else {
        human(value)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `Some(t)` as RFC 3339, `-` otherwise.
pub(crate) fn when(t: Option<fluxbase_webhooks::Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}
