//! An existing multi-route axum application whose webhook path alone is
//! wrapped in `VerifyLayer`. The other routes and the application state are
//! unchanged; the handler reads what the layer verified (and what its
//! replay store said) from the request extensions. The server is
//! `fluxbase_webhooks::axum::serve`, with header and idle timeouts.
//!
//! ```sh
//! export FLUXBASE_WEBHOOK_SECRET=whsec-example   # your webhook's secret
//! cargo run -p tower-wrap
//! curl http://127.0.0.1:3000/health
//! fluxhook send http://127.0.0.1:3000/webhooks --event UPDATE
//! curl http://127.0.0.1:3000/changes
//! ```
//!
//! `fluxhook send` reads the same variable. Without it (or with an empty
//! one) the application does not start: exit code 2.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Router};
use fluxbase_webhooks::dedupe::DedupeStatus;
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Event, Verified, Verifier};

/// The application's own state, which knows nothing of webhooks.
#[derive(Clone, Default)]
struct AppState {
    changes: Arc<Mutex<Vec<String>>>,
}

async fn health() -> &'static str {
    "ok"
}

async fn changes(State(state): State<AppState>) -> String {
    let changes = state
        .changes
        .lock()
        .map(|c| c.join("\n"))
        .unwrap_or_default();
    format!("{changes}\n")
}

async fn webhook(
    State(state): State<AppState>,
    Extension(event): Extension<Event>,
    Extension(verified): Extension<Verified>,
    dedupe: Option<Extension<DedupeStatus>>,
) {
    let line = match event.row() {
        Some(row) => format!("{} {}", event.name(), row.qualified_table()),
        None => event.name().to_owned(),
    };
    // Fluxbase delivers at least once: a retry of an event already
    // handled is marked (exact replays never get here: 409).
    let again = match dedupe {
        Some(Extension(status)) if status.is_duplicate() => ", again",
        _ => "",
    };
    println!(
        "{line} ({} signature, key {}, {} bytes{again})",
        verified.scheme(),
        verified.key_index(),
        verified.body_len()
    );
    if let Ok(mut changes) = state.changes.lock() {
        changes.push(line);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only, not for a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let app = match app() {
        Ok(app) => app,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match serve(app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The application, with the verifier for `FLUXBASE_WEBHOOK_SECRET` (no
/// fallback: an unset or empty secret is an error) on the webhook route.
fn app() -> Result<Router, Box<dyn std::error::Error>> {
    let secret = std::env::var("FLUXBASE_WEBHOOK_SECRET")
        .map_err(|_| "FLUXBASE_WEBHOOK_SECRET is not set: set it to the webhook's secret")?;
    let verifier = Verifier::new(secret)?;
    Ok(Router::new()
        .route("/health", get(health))
        .route("/changes", get(changes))
        // Only this route is verified, with the default receive policy
        // (1 MiB bodies, replays refused, every scheme dated).
        .route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)))
        .with_state(AppState::default()))
}

async fn serve(app: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "POST Fluxbase webhooks to http://{}/webhooks",
        listener.local_addr()?
    );
    fluxbase_webhooks::axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
