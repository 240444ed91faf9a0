//! `fluxhook emulator`: a local Fluxbase management API that really delivers.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use fluxbase_emulator::{Emulator, Flavor};

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
            .backoff_unit(Duration::from_millis(args.backoff_unit_ms))
            .admin(&args.admin_email, &args.admin_password)
            .user(&args.user_email, &args.user_password);
        if let Some(key) = &args.service_key {
            builder = builder.service_key(key);
        }
        let emu = builder.spawn().await?;
        let url = emu.url();
        println!(
            "Fluxbase emulator ({} flavor) listening on {url}",
            emu.flavor()
        );
        println!(
            "  user:        {} / {}   (POST /api/v1/auth/signin)",
            emu.user().email,
            emu.user().password
        );
        println!(
            "  admin:       {} / {}   (POST /api/v1/admin/login)",
            emu.admin().email,
            emu.admin().password
        );
        println!("  service key: {}", emu.service_key());
        println!("Manage webhooks:");
        println!(
            "  FLUXBASE_URL={url} FLUXBASE_EMAIL={} FLUXBASE_PASSWORD=… fluxhook webhooks list",
            emu.user().email
        );
        println!("Fire an event (an INSERT on auth.users):");
        println!(
            "  curl -X POST {url}/api/v1/emulator/events -H 'Content-Type: application/json' -d '{{\"event\":\"INSERT\"}}'"
        );
        println!("Press Ctrl-C to stop.");
        stopped().await?;
        println!("stopping");
        emu.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
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
