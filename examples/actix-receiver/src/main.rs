//! An actix-web receiver for Fluxbase webhooks: the `FluxbaseEvent`
//! extractor with the verifier in `app_data`, and a scope verified as a
//! whole by the `Verify` middleware, whose handler keeps the raw bytes to
//! process later.
//!
//! ```sh
//! FLUXBASE_WEBHOOK_SECRET=whsec-example cargo run -p actix-receiver
//! fluxhook send http://127.0.0.1:3000/webhooks --secret whsec-example --event DELETE
//! fluxhook send http://127.0.0.1:3000/queued/fluxbase --secret whsec-example --event TEST
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use fluxbase_webhooks::actix::{FluxbaseEvent, Verify};
use fluxbase_webhooks::{Verified, Verifier};

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
async fn queued(delivery: Verified<Bytes>) -> HttpResponse {
    println!(
        "queued {} verified bytes ({} signature, key {})",
        delivery.body().len(),
        delivery.scheme(),
        delivery.key_index()
    );
    HttpResponse::Accepted().finish()
}

fn main() -> std::io::Result<()> {
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
    println!("POST Fluxbase webhooks to http://127.0.0.1:3000/webhooks");
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(verifier.clone()))
                .route("/webhooks", web::post().to(webhook))
                .service(
                    web::scope("/queued")
                        .wrap(Verify::new(verifier.clone()))
                        .route("/fluxbase", web::post().to(queued)),
                )
        })
        .bind(("127.0.0.1", 3000))?
        .run(),
    )
}
