//! An actix-web receiver for Fluxbase webhooks: the `FluxbaseEvent`
//! extractor with the `Receiver` in `app_data`, and a scope received as a
//! whole by the `Verify` middleware, whose handler keeps the raw bytes to
//! process later. Both share one receiver: one replay store, one body
//! budget. The server drops clients that are slow to send a request head
//! or sit idle between requests.
//!
//! ```sh
//! export FLUXBASE_WEBHOOK_SECRET=whsec-example   # your webhook's secret
//! cargo run -p actix-receiver
//! fluxhook send http://127.0.0.1:3000/webhooks --event DELETE
//! fluxhook send http://127.0.0.1:3000/queued/fluxbase --event TEST
//! ```
//!
//! `fluxhook send` reads the same variable. Without it (or with an empty
//! one) the receiver does not start: exit code 2.

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use fluxbase_webhooks::actix::{FluxbaseEvent, VerifiedBody, Verify};
use fluxbase_webhooks::{Receiver, Verifier};

async fn webhook(FluxbaseEvent(event): FluxbaseEvent) -> HttpResponse {
    match event.row() {
        Some(row) => println!(
            "{} on {}: {}",
            event.name(),
            row.qualified_table(),
            row.record_raw().map_or("null", |r| r.get())
        ),
        None => println!("{}: {event:?}", event.name()),
    }
    HttpResponse::NoContent().finish()
}

/// Queue now, parse later: the raw verified bytes and what was verified.
async fn queued(delivery: VerifiedBody) -> HttpResponse {
    let verified = delivery.verified();
    println!(
        "queued {} verified bytes ({} signature, key {})",
        delivery.body().len(),
        verified.scheme(),
        verified.key_index()
    );
    HttpResponse::Accepted().finish()
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

fn main() -> ExitCode {
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
    match serve(receiver) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(receiver: Receiver) -> std::io::Result<()> {
    println!("POST Fluxbase webhooks to http://127.0.0.1:3000/webhooks");
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            App::new()
                .app_data(receiver.clone())
                .route("/webhooks", web::post().to(webhook))
                .service(
                    web::scope("/queued")
                        .wrap(Verify::new(receiver.clone()))
                        .route("/fluxbase", web::post().to(queued)),
                )
        })
        // 5 s for a request head, 5 s of idle keep-alive, 1 s to finish
        // closing, at most 128 connections per worker (actix-web buffers up
        // to about 160 KiB of each connection's unread body; the receiver's
        // budget bounds the bodies it reads); the receiver times a stalled
        // body out after 30 s.
        .client_request_timeout(Duration::from_secs(5))
        .keep_alive(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .max_connections(128)
        .bind(("127.0.0.1", 3000))?
        .run(),
    )
}
