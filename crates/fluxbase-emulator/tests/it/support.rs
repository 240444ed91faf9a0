//! Shared test setup: emulators, clients, a real receiving server, raw HTTP.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use fluxbase_emulator::{Emulator, Flavor, RunningEmulator, ServerMode};
use fluxbase_webhooks::client::Client;
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{Code, Event, Verified, Verifier};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Generates `mod $name { server(), documented() }` running `$name(flavor)`.
macro_rules! both_flavors {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn server() {
                super::$name(fluxbase_emulator::Flavor::Server).await
            }
            #[tokio::test]
            async fn documented() {
                super::$name(fluxbase_emulator::Flavor::Documented).await
            }
        }
    )*};
}
pub(crate) use both_flavors;

/// How long a test waits for something that should happen at once.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// An emulator of `flavor` with a fast backoff unit.
pub(crate) async fn emulator(flavor: Flavor) -> RunningEmulator {
    Emulator::builder()
        .flavor(flavor)
        .backoff_unit(Duration::from_millis(5))
        .spawn()
        .await
        .unwrap()
}

/// An emulator of `flavor` acting as a production server (URL checks on).
pub(crate) async fn production(flavor: Flavor) -> RunningEmulator {
    Emulator::builder()
        .flavor(flavor)
        .server_mode(ServerMode::Production)
        .backoff_unit(Duration::from_millis(5))
        .spawn()
        .await
        .unwrap()
}

/// A client for `emu` with no credentials.
pub(crate) fn client(emu: &RunningEmulator) -> Client {
    Client::builder()
        .base_url(emu.url())
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// A client signed in as the seeded user.
pub(crate) async fn user_client(emu: &RunningEmulator) -> Client {
    let c = client(emu);
    c.auth()
        .sign_in(&emu.user().email, &emu.user().password)
        .await
        .unwrap();
    c
}

/// A client logged in as the seeded administrator.
pub(crate) async fn admin_client(emu: &RunningEmulator) -> Client {
    let c = client(emu);
    c.auth()
        .admin_login(&emu.admin().email, &emu.admin().password)
        .await
        .unwrap();
    c
}

/// A client using the service key.
pub(crate) fn service_client(emu: &RunningEmulator) -> Client {
    let c = client(emu);
    c.auth().service_key(emu.service_key());
    c
}

/// Waits for the emulator's queue to drain.
pub(crate) async fn settle(emu: &RunningEmulator) {
    tokio::time::timeout(PATIENCE, emu.wait_idle())
        .await
        .expect("deliveries did not finish");
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The verification and typed event, or why it was refused.
    /// What the receiver made of it: verified and typed, or refused with
    /// this code (as answered in the problem document).
    pub(crate) outcome: Result<(Verified, Event), Code>,
    /// What the receiver answered.
    pub(crate) answered: u16,
    pub(crate) at: Instant,
}

impl Received {
    /// The typed event of a delivery that verified.
    pub(crate) fn event(&self) -> &Event {
        match &self.outcome {
            Ok((_, event)) => event,
            Err(e) => panic!("delivery was refused: {e}"),
        }
    }

    pub(crate) fn verified(&self) -> &Verified {
        match &self.outcome {
            Ok((v, _)) => v,
            Err(e) => panic!("delivery was refused: {e}"),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the receiving app shares with its handler.
#[derive(Clone)]
pub(crate) struct Sink {
    verifier: Arc<Verifier>,
    script: Arc<Mutex<VecDeque<u16>>>,
    tx: mpsc::UnboundedSender<Received>,
}

/// The receiving app under test.
///
/// The receiver is the axum integration: `VerifyLayer` verifies each
/// delivery and the handler reads the `Verified` and `Event` the layer put
/// in the request. An outer middleware records what the layer refused,
/// with the request headers and the code of the problem document.
fn app(sink: Sink) -> Router {
    let layer = VerifyLayer::new(Verifier::clone(&sink.verifier));
    Router::new()
        .route("/hook", post(handler))
        .route_layer(layer)
        .layer(middleware::from_fn_with_state(
            sink.clone(),
            record_refusals,
        ))
        .with_state(sink)
}

async fn record_refusals(State(sink): State<Sink>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let response = next.run(req).await;
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json");
    if !problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let code = Code::from_str_code(doc["code"].as_str().unwrap()).unwrap();
    let _ = sink.tx.send(Received {
        headers,
        body: Bytes::new(),
        outcome: Err(code),
        answered: parts.status.as_u16(),
        at: Instant::now(),
    });
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

async fn handler(
    State(sink): State<Sink>,
    Extension(verified): Extension<Verified>,
    Extension(event): Extension<Event>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let answered = sink.script.lock().unwrap().pop_front().unwrap_or(200);
    let _ = sink.tx.send(Received {
        headers,
        body,
        outcome: Ok((verified, event)),
        answered,
        at: Instant::now(),
    });
    StatusCode::from_u16(answered).unwrap()
}

/// A real HTTP server on `127.0.0.1:0` receiving webhooks at `/hook`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    rx: mpsc::UnboundedReceiver<Received>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    /// Starts a receiver answering 200 to every verified delivery.
    pub(crate) async fn start(verifier: Verifier) -> Self {
        Self::scripted(verifier, []).await
    }

    /// Starts a receiver answering `statuses` in turn to verified
    /// deliveries, then 200.
    pub(crate) async fn scripted(
        verifier: Verifier,
        statuses: impl IntoIterator<Item = u16>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = Sink {
            verifier: Arc::new(verifier),
            script: Arc::new(Mutex::new(statuses.into_iter().collect())),
            tx,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app(sink))
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}/hook"),
            rx,
            _stop: stop,
        }
    }

    /// The next request, waiting at most [`PATIENCE`].
    pub(crate) async fn next(&mut self) -> Received {
        next_of(&mut self.rx).await
    }

    /// Everything received so far, without waiting.
    pub(crate) fn drain(&mut self) -> Vec<Received> {
        drain_of(&mut self.rx)
    }
}

/// What a test server received next, waiting at most [`PATIENCE`].
async fn next_of<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("nothing arrived")
        .expect("receiver stopped")
}

/// Everything a test server received so far, without waiting.
fn drain_of<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut all = Vec::new();
    while let Ok(r) = rx.try_recv() {
        all.push(r);
    }
    all
}

/// A URL on which nothing listens.
pub(crate) async fn closed_port_url() -> String {
    // On 127.0.0.2, where no test server binds: a port released on
    // 127.0.0.1 may be handed to another test's server meanwhile.
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook")
}

/// Raw HTTP to the emulator, for what the typed client hides.
pub(crate) struct Raw {
    http: reqwest::Client,
    base: String,
    auth: Vec<(String, String)>,
}

/// A raw answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
    pub(crate) json: Value,
}

impl Raw {
    /// Anonymous.
    pub(crate) fn new(emu: &RunningEmulator) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emu.url(),
            auth: Vec::new(),
        }
    }

    /// With the service key.
    pub(crate) fn service(emu: &RunningEmulator) -> Self {
        Self::new(emu).header("X-Service-Key", emu.service_key())
    }

    /// With the seeded user's access token (signed in over raw HTTP).
    pub(crate) async fn user(emu: &RunningEmulator) -> Self {
        let login = json!({"email": emu.user().email, "password": emu.user().password});
        Self::bearer(emu, "/api/v1/auth/signin", login).await
    }

    /// With the seeded administrator's access token.
    pub(crate) async fn admin(emu: &RunningEmulator) -> Self {
        let login = json!({"email": emu.admin().email, "password": emu.admin().password});
        Self::bearer(emu, "/api/v1/admin/login", login).await
    }

    async fn bearer(emu: &RunningEmulator, path: &str, login: Value) -> Self {
        let a = Self::new(emu).send("POST", path, Some(login)).await;
        let token = a.json["access_token"].as_str().unwrap().to_owned();
        Self::new(emu).header("Authorization", &format!("Bearer {token}"))
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.auth.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in &self.auth {
            req = req.header(k, v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::answer(req).await
    }

    /// Sends `body` as is, with `content_type` if given.
    pub(crate) async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body);
        for (k, v) in &self.auth {
            req = req.header(k, v);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Self::answer(req).await
    }

    async fn answer(req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

/// Creates a webhook for `url` over raw HTTP with the service key, in the
/// body shape of `flavor`, and returns its id.
pub(crate) async fn raw_webhook(emu: &RunningEmulator, body: Value) -> String {
    let a = Raw::service(emu)
        .send("POST", "/api/v1/webhooks", Some(body))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.json["id"].as_str().unwrap().to_owned()
}

/// One request exactly as it came over the wire.
#[derive(Debug, Clone)]
pub(crate) struct WireRequest {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Names as sent (case kept), in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    /// Which connection, counted from 0, it came on.
    pub(crate) connection: usize,
}

impl WireRequest {
    /// The header names as sent, sorted.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut names: Vec<_> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// A header's value, its name matched without case.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a [`WireReceiver`] answers a request: the raw bytes of a response,
/// or `None` to never answer.
type Answerer = dyn Fn(&WireRequest) -> Option<Vec<u8>> + Send + Sync;

/// A raw HTTP/1.1 server on `127.0.0.1:0` that records every request as
/// sent (what a framework would normalize: header case, order,
/// duplicates) and answers with what `answer` returns. Keep-alive.
pub(crate) struct WireReceiver {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    rx: mpsc::UnboundedReceiver<WireRequest>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WireReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WireReceiver {
    pub(crate) async fn start(
        answer: impl Fn(&WireRequest) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        let answer: Arc<Answerer> = Arc::new(answer);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            for connection in 0.. {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(serve_wire(
                    socket,
                    connection,
                    Arc::clone(&answer),
                    tx.clone(),
                ));
            }
        });
        Self {
            base: format!("http://{addr}"),
            rx,
            task,
        }
    }

    /// `127.0.0.1:PORT`, its `Host`.
    pub(crate) fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The next request, waiting at most [`PATIENCE`].
    pub(crate) async fn next(&mut self) -> WireRequest {
        next_of(&mut self.rx).await
    }

    /// Everything received so far, without waiting.
    pub(crate) fn drain(&mut self) -> Vec<WireRequest> {
        drain_of(&mut self.rx)
    }
}

async fn serve_wire(
    socket: tokio::net::TcpStream,
    connection: usize,
    answer: Arc<Answerer>,
    tx: mpsc::UnboundedSender<WireRequest>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut socket = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut request_line = line.split_whitespace();
        let method = request_line.next().unwrap_or_default().to_owned();
        let path = request_line.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let mut body = vec![0; length];
        socket.read_exact(&mut body).await.unwrap();
        let request = WireRequest {
            method,
            path,
            headers,
            body,
            connection,
        };
        let response = answer(&request);
        let _ = tx.send(request);
        match response {
            Some(bytes) => {
                if socket.get_mut().write_all(&bytes).await.is_err() {
                    return;
                }
            }
            // Hold the connection open, answering nothing.
            None => std::future::pending::<()>().await,
        }
    }
}

/// A raw HTTP/1.1 response with `headers` and `body` (and its length).
pub(crate) fn raw_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}
