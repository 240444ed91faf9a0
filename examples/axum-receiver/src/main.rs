//! An axum receiver for Fluxbase webhooks: the `FluxbaseEvent` extractor
//! reads the body through the limit, verifies it and parses it.
//!
//! ```sh
//! FLUXBASE_WEBHOOK_SECRET=whsec-example cargo run -p axum-receiver
//! fluxhook send http://127.0.0.1:3000/webhooks --secret whsec-example --event INSERT
//! ```

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use fluxbase_webhooks::Event;
use fluxbase_webhooks::Verifier;
use fluxbase_webhooks::axum::FluxbaseEvent;

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Refusals are logged at WARN; RUST_LOG=fluxbase_webhooks=debug also
    // shows each verified delivery.
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
    // The verifier is the router's state; the extractor finds it there.
    let app = Router::new()
        .route("/webhooks", post(webhook))
        .with_state(Verifier::new(secret));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "POST Fluxbase webhooks to http://{}/webhooks",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
