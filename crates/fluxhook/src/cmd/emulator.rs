//! `fluxhook emulator`: a local Fluxbase management API that really delivers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use fluxbase_emulator::{Emulator, Flavor, ServerMode};

use crate::output::{StdoutError, outln};

/// Which answers the emulator gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FlavorArg {
    /// What the Fluxbase server really answers.
    Server,
    /// What the Management SDK documentation describes.
    Documented,
}

impl From<FlavorArg> for Flavor {
    fn from(f: FlavorArg) -> Self {
        match f {
            FlavorArg::Server => Flavor::Server,
            FlavorArg::Documented => Flavor::Documented,
        }
    }
}

/// Which webhook URLs the emulated server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// A server in debug mode: any URL (loopback receivers work); URLs a
    /// production server refuses are reported as warnings.
    Debug,
    /// A production server: refuses localhost, private and metadata
    /// addresses and non-http(s) URLs.
    Production,
}

impl From<ModeArg> for ServerMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Debug => ServerMode::Debug,
            ModeArg::Production => ServerMode::Production,
        }
    }
}

/// Options of `fluxhook emulator`.
#[derive(Debug, Args)]
pub(crate) struct EmulatorArgs {
    /// Where to listen (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Answer as the real server does, or as the SDK documentation describes.
    #[arg(long, value_enum, default_value_t = FlavorArg::Server)]
    flavor: FlavorArg,
    /// The seeded administrator's email.
    #[arg(long, env = "FLUXBASE_ADMIN_EMAIL", default_value = fluxbase_emulator::DEFAULT_ADMIN_EMAIL)]
    admin_email: String,
    /// The seeded administrator's password (12 to 72 bytes).
    #[arg(long, env = "FLUXBASE_ADMIN_PASSWORD", hide_env_values = true, allow_hyphen_values = true,
          default_value = fluxbase_emulator::DEFAULT_ADMIN_PASSWORD)]
    admin_password: String,
    /// The seeded user's email.
    #[arg(long, env = "FLUXBASE_EMAIL", default_value = fluxbase_emulator::DEFAULT_USER_EMAIL)]
    user_email: String,
    /// The seeded user's password (12 to 72 bytes).
    #[arg(long, env = "FLUXBASE_PASSWORD", hide_env_values = true, allow_hyphen_values = true,
          default_value = fluxbase_emulator::DEFAULT_USER_PASSWORD)]
    user_password: String,
    /// The service key it accepts (default: a random `sk_…`).
    #[arg(
        long,
        env = "FLUXBASE_SERVICE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    service_key: Option<String>,
    /// How long one `retry_backoff_seconds` lasts, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    backoff_unit_ms: u64,
    /// Take any webhook URL (debug) or refuse what a production server
    /// refuses.
    #[arg(long, value_enum, default_value_t = ModeArg::Debug)]
    server_mode: ModeArg,
    /// Once serving, print one JSON line on stdout instead of the text:
    /// `{"event":"ready","url",…,"service_key",…,"user":{…},"admin":{…}}`.
    #[arg(long)]
    json: bool,
    /// Once serving, also write that JSON line to this file (created, or
    /// replaced whole), for scripts that wait for the file. It holds the
    /// seeded passwords and the service key: on Unix it is readable by its
    /// owner only (mode 0600).
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
}

pub(crate) fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut builder = Emulator::builder()
            .addr(args.addr)
            .flavor(args.flavor.into())
            .server_mode(args.server_mode.into())
            .backoff_unit(Duration::from_millis(args.backoff_unit_ms))
            .admin(&args.admin_email, &args.admin_password)
            .user(&args.user_email, &args.user_password);
        if let Some(key) = &args.service_key {
            builder = builder.service_key(key);
        }
        let emu = builder.spawn().await?;
        let ready = serde_json::to_string(&emu.ready())?;
        if let Some(path) = &args.ready_file {
            write_ready_file(path, &ready)?;
        }
        if args.json {
            outln!("{ready}")?;
        } else {
            print_banner(&emu)?;
        }
        stopped().await?;
        if !args.json {
            outln!("stopping")?;
        }
        emu.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes the ready line to a temporary file beside `path`, then renames
/// it, so a reader never sees half a line. The line holds the seeded
/// passwords and the service key: on Unix the file is readable by its owner
/// only (mode 0600).
fn write_ready_file(path: &std::path::Path, line: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_private(&tmp, format!("{line}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Creates `path` anew (mode 0600 on Unix) and writes `contents` to it.
///
/// A file left at `path` (by an earlier run that died before its rename) is
/// removed first rather than truncated: the mode applies only to a file
/// being created, and someone who opened the old one could read on.
/// Creating with `create_new` also refuses to follow a symbolic link put
/// there meanwhile.
fn write_private(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;

    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The human start-up text.
fn print_banner(emu: &fluxbase_emulator::RunningEmulator) -> Result<(), StdoutError> {
    let url = emu.url();
    outln!(
        "Fluxbase emulator ({} flavor, {} mode) listening on {url}",
        emu.flavor(),
        emu.server_mode()
    )?;
    outln!(
        "  user:        {} / {}   (POST /api/v1/auth/signin)",
        emu.user().email,
        emu.user().password
    )?;
    outln!(
        "  admin:       {} / {}   (POST /api/v1/admin/login)",
        emu.admin().email,
        emu.admin().password
    )?;
    outln!("  service key: {}", emu.service_key())?;
    outln!("Manage webhooks:")?;
    outln!(
        "  FLUXBASE_URL={url} FLUXBASE_EMAIL={} FLUXBASE_PASSWORD=… fluxhook webhooks list",
        emu.user().email
    )?;
    outln!("Fire an event (an INSERT on auth.users):")?;
    outln!(
        "  curl -X POST {url}/api/v1/emulator/events -H 'Content-Type: application/json' -d '{{\"event\":\"INSERT\"}}'"
    )?;
    outln!("Production warnings: {url}/api/v1/emulator/warnings")?;
    outln!("Press Ctrl-C to stop.")
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn stopped() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Delivery attempts and triggered events go to stderr; `RUST_LOG` refines.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("fluxbase_emulator=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
