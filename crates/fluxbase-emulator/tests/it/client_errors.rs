//! Transport and decoding failures of the client, against real sockets.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use fluxbase_webhooks::client::Client;
use tokio::net::TcpListener;

use crate::support::closed_port_url;

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let url = closed_port_url().await;
    let client = Client::new(url.trim_end_matches("/hook")).unwrap();
    let err = client.webhooks().list().await.unwrap_err();
    assert!(err.is_connect() && err.is_transport(), "{err:?}");
    assert_eq!(err.status(), None);
    assert!(
        err.message().starts_with("cannot connect"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_silent_server_is_a_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let client = Client::builder()
        .base_url(format!("http://{addr}"))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.webhooks().list().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    holder.abort();
}

#[tokio::test]
async fn answers_that_are_not_the_expected_shape() {
    let app = Router::new()
        .route("/api/v1/webhooks", get(|| async { "not json" }))
        .route(
            "/api/v1/webhooks/{id}",
            get(|| async { axum::Json(serde_json::json!({"id": "x", "events": "nope"})) }),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(|| async { axum::Json(serde_json::json!({"something": []})) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(&format!("http://{addr}")).unwrap();
    let err = client.webhooks().list().await.unwrap_err();
    assert!(
        err.is_decode() && err.status().is_some_and(|s| s.is_success()),
        "{err:?}"
    );
    let err = client.webhooks().get("x").await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    let err = client.webhooks().deliveries("x", None).await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(err.message().contains("deliveries"), "{}", err.message());
    server.abort();
}
