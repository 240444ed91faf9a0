//! An axum receiver for Fluxbase webhooks: the `FluxbaseEvent` extractor
//! runs each delivery through a `Receiver` (the router's state): the body
//! is read through the limit, verified, dated, checked for replays and
//! parsed. The server is `fluxbase_webhooks::axum::serve`, which closes
//! connections that send no request head within 10 s (kept-alive idle ones
//! too) and holds at most 512 at once.
//!
//! ```sh
//! export FLUXBASE_WEBHOOK_SECRET=whsec-example   # your webhook's secret
//! cargo run -p axum-receiver
//! fluxhook send http://127.0.0.1:3000/webhooks --event INSERT
//! ```
//!
//! `fluxhook send` reads the same variable. Without it (or with an empty
//! one) the receiver does not start: exit code 2.

use std::process::ExitCode;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use fluxbase_webhooks::axum::FluxbaseEvent;
use fluxbase_webhooks::{Event, Receiver, Verifier};

async fn webhook(FluxbaseEvent(event): FluxbaseEvent) -> StatusCode {
    match &event {
        Event::Insert(row) | Event::Update(row) | Event::Delete(row) => {
            let record = row.record_raw().map_or("null", |r| r.get());
            println!("{} on {}: {record}", event.name(), row.qualified_table());
        }
        Event::Test(_) | Event::WebhookTest(_) => println!("test delivery: the endpoint works"),
        other => println!("{}: {other:?}", other.name()),
    }
    if let Some(user) = event.user_change() {
        println!("  = {} for {:?}", user.kind.documented_name(), user.email);
    }
    StatusCode::NO_CONTENT
}

/// The receive policy: the verifier for `FLUXBASE_WEBHOOK_SECRET` (no
/// fallback: an unset or empty secret is an error) and the library's safe
/// defaults (1 MiB bodies, replays refused, every scheme dated).
fn receiver() -> Result<Receiver, Box<dyn std::error::Error>> {
    let secret = std::env::var("FLUXBASE_WEBHOOK_SECRET")
        .map_err(|_| "FLUXBASE_WEBHOOK_SECRET is not set: set it to the webhook's secret")?;
    let verifier = Verifier::new(secret)?;
    Ok(Receiver::new(verifier))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Refusals are logged at WARN; RUST_LOG=fluxbase_webhooks=debug also
    // shows each verified delivery.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only, not for a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let receiver = match receiver() {
        Ok(receiver) => receiver,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // The receiver is the router's state; the extractor finds it there.
    let app = Router::new()
        .route("/webhooks", post(webhook))
        .with_state(receiver);
    match serve(app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
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
