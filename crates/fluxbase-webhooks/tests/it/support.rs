//! Test servers for every integration, and a raw HTTP/1.1 client that can
//! send exactly the bytes a case needs (declared lengths with no body,
//! unfinished chunked bodies, any header bytes).

// With only some integrations built, some helpers have no caller.
#![cfg_attr(
    not(all(feature = "axum", feature = "actix")),
    allow(dead_code, unused_imports)
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use fluxbase_webhooks::{Key, Receiver, Scheme, Signer, Timestamp, Verifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const CURRENT: &str = "whsec-current";
pub(crate) const PREVIOUS: &str = "whsec-previous";
/// The body limit of every test server.
pub(crate) const LIMIT: u64 = 16 * 1024;
/// The path every test server receives on.
pub(crate) const PATH: &str = "/webhooks";

/// How long a test waits for an answer before calling it a failure (a
/// guard against hanging, never a speed assertion).
pub(crate) const GUARD: Duration = Duration::from_secs(20);

pub(crate) use fluxhook_testkit::unix_now;

/// The keyring every test server verifies with.
pub(crate) fn verifier() -> Verifier {
    Verifier::builder()
        .key(Key::new(CURRENT).id("current"))
        .key(Key::new(PREVIOUS).id("previous"))
        .build()
        .unwrap()
}

/// What every test server receives with: the keyring, the test limit, and
/// otherwise the defaults (replays refused).
pub(crate) fn receiver() -> Receiver {
    Receiver::builder(verifier()).body_limit(LIMIT).build()
}

/// A body as the server sends it, dated now (so untimestamped signatures
/// over it are fresh). Every call gives a new delivery: the same bytes
/// twice would be a replay.
pub(crate) fn insert_body() -> Vec<u8> {
    insert_body_at(unix_now())
}

/// A body as the server sends it, dated `t`; a new delivery at every call.
pub(crate) fn insert_body_at(t: i64) -> Vec<u8> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let date =
        Timestamp::from(std::time::UNIX_EPOCH + Duration::from_millis(t as u64 * 1000 + 120));
    format!(r#"{{"event":"INSERT","table":"users","schema":"auth","record":{{"id":"7d3c2b1a-0000-4000-8000-000000000001","email":"ada@example.com","name":"Ada \u00e9 \u2603","seq":{seq}}},"timestamp":"{date}"}}"#).into_bytes()
}

pub(crate) fn sign(secret: &str, scheme: Scheme, t: i64, body: &[u8]) -> String {
    Signer::new(secret)
        .unwrap()
        .sign(scheme, t, body)
        .to_string()
}

/// How the body of a request is sent.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    /// With `Content-Length`, all of it.
    Full(Vec<u8>),
    /// A `Content-Length` of this many bytes, and not one byte of body.
    DeclaredOnly(u64),
    /// `Transfer-Encoding: chunked`: `count` chunks of `size` bytes, and
    /// then nothing: the last chunk never comes.
    ChunkedUnfinished { size: usize, count: usize },
    /// `Transfer-Encoding: chunked`, all of it, in chunks of `size` bytes.
    Chunked { data: Vec<u8>, size: usize },
    /// A `Content-Length` of the whole, then only the first `sent` bytes:
    /// the rest never comes, the connection stays open.
    Stalled { data: Vec<u8>, sent: usize },
    /// A `Content-Length` of the whole, the first `sent` bytes, then the
    /// sender stops writing (its half of the connection is shut down).
    CutOff { data: Vec<u8>, sent: usize },
}

/// A request to send.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Body,
}

impl Req {
    pub(crate) fn post(body: Body) -> Self {
        Self {
            path: PATH.to_owned(),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            body,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    pub(crate) fn signature(self, value: impl AsRef<[u8]>) -> Self {
        self.header("x-fluxbase-signature", value)
    }

    pub(crate) fn path(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `code` of a problem document (and checks its shape).
    pub(crate) fn problem_code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let doc = self.json();
        for member in ["type", "title", "detail", "code"] {
            assert!(doc[member].is_string(), "{member} missing in {doc}");
        }
        assert_eq!(doc["status"], self.status, "{doc}");
        doc["code"].as_str().unwrap().to_owned()
    }
}

/// Sends `req` and reads the answer, over a fresh connection. A body that
/// never ends (`ChunkedUnfinished`, `Stalled`, `DeclaredOnly`) gets an answer
/// only if the server stops reading it: otherwise this panics after `GUARD`.
pub(crate) async fn send(addr: SocketAddr, req: &Req) -> Reply {
    tokio::time::timeout(GUARD, exchange(addr, req))
        .await
        .unwrap_or_else(|_| panic!("no answer from {addr} to {req:?} (server still reading?)"))
}

async fn exchange(addr: SocketAddr, req: &Req) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n",
        req.path
    )
    .into_bytes();
    for (name, value) in &req.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    match &req.body {
        Body::Full(data) => {
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", data.len()).as_bytes());
            head.extend_from_slice(data);
            stream.write_all(&head).await.unwrap();
        }
        Body::DeclaredOnly(len) => {
            head.extend_from_slice(format!("content-length: {len}\r\n\r\n").as_bytes());
            stream.write_all(&head).await.unwrap();
        }
        Body::ChunkedUnfinished { size, count } => {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            stream.write_all(&head).await.unwrap();
            let chunk = chunk(&vec![b' '; *size]);
            for _ in 0..*count {
                // The server may answer and close before every chunk is
                // written; that is the point.
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        }
        Body::Stalled { data, sent } => {
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", data.len()).as_bytes());
            head.extend_from_slice(&data[..*sent]);
            stream.write_all(&head).await.unwrap();
        }
        Body::CutOff { data, sent } => {
            head.extend_from_slice(format!("content-length: {}\r\n\r\n", data.len()).as_bytes());
            head.extend_from_slice(&data[..*sent]);
            stream.write_all(&head).await.unwrap();
            stream.shutdown().await.unwrap();
        }
        Body::Chunked { data, size } => {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            stream.write_all(&head).await.unwrap();
            for piece in data.chunks(*size) {
                stream.write_all(&chunk(piece)).await.unwrap();
                stream.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            stream.write_all(b"0\r\n\r\n").await.unwrap();
        }
    }
    read_reply(&mut stream).await
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let mut tmp = [0u8; 4096];
        let n = stream.read(&mut tmp).await.expect("reading the answer");
        assert!(
            n > 0,
            "connection closed before an answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = get("content-length") {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            let mut tmp = [0u8; 4096];
            let n = stream.read(&mut tmp).await.unwrap();
            assert!(n > 0, "connection closed inside the answer body");
            rest.extend_from_slice(&tmp[..n]);
        }
        rest.truncate(len);
        rest
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(body) = dechunk(&rest) {
                break body;
            }
            let mut tmp = [0u8; 4096];
            let n = stream.read(&mut tmp).await.unwrap();
            assert!(n > 0, "connection closed inside a chunked answer");
            rest.extend_from_slice(&tmp[..n]);
        }
    } else {
        let _ = stream.read_to_end(&mut rest).await;
        rest
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The decoded body once the last chunk is in `data`.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The answer every test server gives an accepted delivery.
pub(crate) fn accepted_body(event: &fluxbase_webhooks::Event) -> Bytes {
    Bytes::from(serde_json::json!({ "received": event.name() }).to_string())
}

pub(crate) mod servers {
    //! One server per integration, all answering the same way.

    use std::convert::Infallible;
    use std::net::SocketAddr;

    use axum::Router;
    use axum::extract::State;
    use axum::routing::post;
    use bytes::Bytes;
    #[cfg(feature = "tower")]
    use fluxbase_webhooks::tower::VerifyLayer;
    use fluxbase_webhooks::{Event, Receiver};
    use http::{Request, Response};
    #[cfg(feature = "tower")]
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    use super::{PATH, accepted_body, receiver};

    /// A running test server.
    pub(crate) struct Server {
        pub(crate) name: &'static str,
        pub(crate) addr: SocketAddr,
        stop: Option<actix_web::dev::ServerHandle>,
    }

    impl Server {
        /// A server this module did not start (no actix handle to stop).
        pub(crate) fn unmanaged(name: &'static str, addr: SocketAddr) -> Self {
            Self {
                name,
                addr,
                stop: None,
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(handle) = self.stop.take() {
                // The stop command is sent now; its completion is not awaited.
                drop(handle.stop(false));
            }
        }
    }

    /// Every integration, each on its own port, each with its own receiver.
    pub(crate) async fn all() -> Vec<Server> {
        all_with(receiver).await
    }

    /// Every integration built with the features on, each with a receiver
    /// from `make`.
    pub(crate) async fn all_with(mut make: impl FnMut() -> Receiver) -> Vec<Server> {
        let mut servers = Vec::new();
        #[cfg(feature = "tower")]
        servers.push(tower(make()).await);
        #[cfg(feature = "axum")]
        servers.extend([
            axum_extractor(make()).await,
            axum_layered(make()).await,
            axum_json(make()).await,
            axum_from_state(make()).await,
        ]);
        #[cfg(feature = "actix")]
        servers.extend([
            actix_extractor(make()),
            actix_middleware(make()),
            actix_json(make()),
        ]);
        servers
    }

    async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// `VerifyLayer` around a plain tower `service_fn`, served by hyper.
    #[cfg(feature = "tower")]
    pub(crate) async fn tower(receiver: Receiver) -> Server {
        let service = tower::ServiceBuilder::new()
            .layer(VerifyLayer::new(receiver))
            .service_fn(|req: Request<Full<Bytes>>| async move {
                let body = match req.extensions().get::<Event>() {
                    Some(event) => accepted_body(event),
                    None => Bytes::from_static(b"no event in the extensions"),
                };
                let mut response = Response::new(Full::new(body));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(response)
            });
        serve_hyper(service, "tower").await
    }

    /// Serves any hyper-compatible tower service on a fresh port.
    #[cfg(feature = "tower")]
    pub(crate) async fn serve_hyper<S, B>(service: S, name: &'static str) -> Server
    where
        S: tower::Service<
                Request<hyper::body::Incoming>,
                Response = Response<B>,
                Error = Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (listener, addr) = listener().await;
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            name,
            addr,
            stop: None,
        }
    }

    #[cfg(feature = "axum")]
    async fn webhook(
        fluxbase_webhooks::axum::FluxbaseEvent(event): fluxbase_webhooks::axum::FluxbaseEvent,
    ) -> impl axum::response::IntoResponse {
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            accepted_body(&event),
        )
    }

    #[cfg(feature = "axum")]
    /// The axum extractor, the receiver as the router's state.
    pub(crate) async fn axum_extractor(receiver: Receiver) -> Server {
        let app = Router::new()
            .route(PATH, post(webhook))
            .with_state(receiver);
        serve_axum(app, "axum").await
    }

    /// An application state of its own, which holds no receiver.
    #[derive(Clone)]
    pub(crate) struct AppState {
        pub(crate) shop: &'static str,
    }

    /// An application state of its own that holds the receiver, found
    /// through `FromRef`.
    #[derive(Clone)]
    pub(crate) struct ShopState {
        shop: &'static str,
        receiver: Receiver,
    }

    #[cfg(feature = "axum")]
    impl axum::extract::FromRef<ShopState> for Receiver {
        fn from_ref(state: &ShopState) -> Self {
            state.receiver.clone()
        }
    }

    #[cfg(feature = "axum")]
    async fn webhook_from_state(
        State(state): State<ShopState>,
        fluxbase_webhooks::axum::FromState(fluxbase_webhooks::axum::FluxbaseEvent(event)): fluxbase_webhooks::axum::FromState<fluxbase_webhooks::axum::FluxbaseEvent>,
    ) -> impl axum::response::IntoResponse {
        assert_eq!(state.shop, "demo");
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            accepted_body(&event),
        )
    }

    #[cfg(feature = "axum")]
    /// The axum extractor as `FromState`, the receiver inside an
    /// application state of its own.
    pub(crate) async fn axum_from_state(receiver: Receiver) -> Server {
        let app = Router::new()
            .route(PATH, post(webhook_from_state))
            .with_state(ShopState {
                shop: "demo",
                receiver,
            });
        serve_axum(app, "axum from state").await
    }

    #[cfg(feature = "axum")]
    async fn webhook_with_state(
        State(state): State<AppState>,
        fluxbase_webhooks::axum::FluxbaseEvent(event): fluxbase_webhooks::axum::FluxbaseEvent,
    ) -> impl axum::response::IntoResponse {
        assert_eq!(state.shop, "demo");
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            accepted_body(&event),
        )
    }

    #[cfg(feature = "axum")]
    /// The axum extractor behind `VerifyLayer` on the route, with an
    /// application state of its own.
    pub(crate) async fn axum_layered(receiver: Receiver) -> Server {
        let app = Router::new()
            .route(
                PATH,
                post(webhook_with_state).layer(VerifyLayer::new(receiver)),
            )
            .with_state(AppState { shop: "demo" });
        serve_axum(app, "axum+layer").await
    }

    /// What `FluxbaseJson<T>` reads: the fields every answer needs.
    #[derive(serde::Deserialize)]
    struct Named {
        event: String,
    }

    #[cfg(feature = "axum")]
    async fn webhook_json(
        fluxbase_webhooks::axum::FluxbaseJson(named): fluxbase_webhooks::axum::FluxbaseJson<Named>,
    ) -> impl axum::response::IntoResponse {
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "received": named.event }).to_string(),
        )
    }

    #[cfg(feature = "axum")]
    /// The axum `FluxbaseJson<T>` extractor, the receiver in an `Extension`.
    pub(crate) async fn axum_json(receiver: Receiver) -> Server {
        let app = Router::new()
            .route(PATH, post(webhook_json))
            .layer(axum::Extension(receiver));
        serve_axum(app, "axum json").await
    }

    /// Serves on a fresh port with the library's server (header and idle
    /// timeouts).
    #[cfg(feature = "axum")]
    pub(crate) async fn serve_axum(app: Router, name: &'static str) -> Server {
        let (listener, addr) = listener().await;
        tokio::spawn(async move {
            let _ = fluxbase_webhooks::axum::serve(listener, app).await;
        });
        Server {
            name,
            addr,
            stop: None,
        }
    }

    /// Serves on a fresh port with hyper (the library's server needs the
    /// `axum` feature).
    #[cfg(all(feature = "tower", not(feature = "axum")))]
    pub(crate) async fn serve_axum(app: Router, name: &'static str) -> Server {
        serve_hyper(app, name).await
    }

    #[cfg(feature = "actix")]
    async fn actix_webhook(
        fluxbase_webhooks::actix::FluxbaseEvent(event): fluxbase_webhooks::actix::FluxbaseEvent,
    ) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok()
            .content_type("application/json")
            .body(accepted_body(&event))
    }

    /// The actix-web extractor, the receiver in `app_data` as `Data`.
    #[cfg(feature = "actix")]
    pub(crate) fn actix_extractor(receiver: Receiver) -> Server {
        serve_actix("actix", move || {
            actix_web::App::new()
                .app_data(actix_web::web::Data::new(receiver.clone()))
                .route(PATH, actix_web::web::post().to(actix_webhook))
        })
    }

    #[cfg(feature = "actix")]
    async fn actix_webhook_json(
        fluxbase_webhooks::actix::FluxbaseJson(named): fluxbase_webhooks::actix::FluxbaseJson<
            Named,
        >,
    ) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok()
            .content_type("application/json")
            .body(serde_json::json!({ "received": named.event }).to_string())
    }

    /// The actix-web `FluxbaseJson<T>` extractor, the receiver in `app_data`
    /// as is.
    #[cfg(feature = "actix")]
    pub(crate) fn actix_json(receiver: Receiver) -> Server {
        serve_actix("actix json", move || {
            actix_web::App::new()
                .app_data(receiver.clone())
                .route(PATH, actix_web::web::post().to(actix_webhook_json))
        })
    }

    /// The actix-web `Verify` middleware on a scope, extractor behind it.
    #[cfg(feature = "actix")]
    pub(crate) fn actix_middleware(receiver: Receiver) -> Server {
        serve_actix("actix+middleware", move || {
            actix_web::App::new().service(
                actix_web::web::scope(PATH)
                    .wrap(fluxbase_webhooks::actix::Verify::new(receiver.clone()))
                    .route("", actix_web::web::post().to(actix_webhook)),
            )
        })
    }

    /// Runs an actix-web app on its own thread and actix system.
    pub(crate) fn serve_actix<F, T>(name: &'static str, app: F) -> Server
    where
        F: Fn() -> actix_web::App<T> + Send + Clone + 'static,
        T: actix_web::dev::ServiceFactory<
                actix_web::dev::ServiceRequest,
                Config = (),
                Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(app)
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().unwrap();
        Server {
            name,
            addr,
            stop: Some(handle),
        }
    }

    /// An axum route on `PATH` with the test receiver as state.
    #[cfg(feature = "tower")]
    pub(crate) async fn axum_route<H, T>(handler: H) -> Server
    where
        H: axum::handler::Handler<T, Receiver>,
        T: 'static,
    {
        let app = Router::new()
            .route(PATH, post(handler))
            .with_state(receiver());
        serve_axum(app, "axum").await
    }

    /// An actix-web route on `PATH` with the test receiver in `app_data`.
    pub(crate) fn actix_route<F, Args>(handler: F) -> Server
    where
        F: actix_web::Handler<Args> + Send + Clone,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        let r = receiver();
        serve_actix("actix", move || {
            actix_web::App::new()
                .app_data(actix_web::web::Data::new(r.clone()))
                .route(PATH, actix_web::web::post().to(handler.clone()))
        })
    }
}
