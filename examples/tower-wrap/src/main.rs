//! An existing multi-route axum application whose webhook path alone is
//! wrapped in `VerifyLayer`. The other routes and the application state are
//! unchanged; the handler reads what the layer verified from the request
//! extensions.
//!
//! ```sh
//! FLUXBASE_WEBHOOK_SECRET=whsec-example cargo run -p tower-wrap
//! curl http://127.0.0.1:3000/health
//! fluxhook send http://127.0.0.1:3000/webhooks --secret whsec-example --event UPDATE
//! curl http://127.0.0.1:3000/changes
//! ```

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Router};
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
) {
    let line = match event.row() {
        Some(row) => format!("{} {}", event.name(), row.qualified_table()),
        None => event.name().to_owned(),
    };
    println!(
        "{line} ({} signature, key {}, {} bytes)",
        verified.scheme(),
        verified.key_index(),
        verified.body_len()
    );
    if let Ok(mut changes) = state.changes.lock() {
        changes.push(line);
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let secret = std::env::var("FLUXBASE_WEBHOOK_SECRET").unwrap_or_else(|_| {
        eprintln!("FLUXBASE_WEBHOOK_SECRET is not set; using whsec-example");
        "whsec-example".to_owned()
    });
    let verifier = Verifier::new(secret);

    let app = Router::new()
        .route("/health", get(health))
        .route("/changes", get(changes))
        // Only this route is verified.
        .route("/webhooks", post(webhook).layer(VerifyLayer::new(verifier)))
        .with_state(AppState::default());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "POST Fluxbase webhooks to http://{}/webhooks",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
