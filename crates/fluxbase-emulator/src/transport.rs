//! The HTTP client deliveries go out through, sending what the server's
//! does.
//!
//! `sendWebhookSync` (`internal/webhook/webhook.go`) posts with a Go
//! `http.Client` over the default transport, which on its own adds
//! `Host`, `Content-Length` and `Accept-Encoding: gzip` (and nothing else:
//! no `Accept`), transparently gunzips a gzip answer, turns a URL's user
//! info into Basic authorization, and follows redirects (`net/http`
//! `Client.do`, `redirectBehavior`, `makeHeadersCopier`,
//! `defaultCheckRedirect`). Here hyper-util's client does the HTTP/1.1,
//! tower-http's [`Decompression`] the gzip, and its [`FollowRedirect`] the
//! redirects, under a [`GoRedirects`] policy that decides as Go's client
//! does. hyper writes header names in title case, as Go writes its
//! canonical ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, HeaderMap, HeaderValue, LOCATION, RANGE, REFERER,
};
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::percent_decode_str;
use tokio::time::Instant;
use tower::ServiceExt as _;
use tower_http::decompression::{Decompression, DecompressionBody};
use tower_http::follow_redirect::FollowRedirect;
use tower_http::follow_redirect::policy::{Action, Attempt, Policy};

use crate::redact::mask_password;

/// Go's `http.DefaultTransport`: a dial gives up after 30 s, TCP keep-alive
/// every 30 s, idle connections are closed after 90 s.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
const KEEP_ALIVE: Duration = Duration::from_secs(30);
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Go's `defaultCheckRedirect` refuses to make an eleventh request.
const MAX_REQUESTS: usize = 10;

/// The headers Go's client leaves out of a redirect to a host that is not
/// the first request's host or one of its subdomains.
const SENSITIVE: [&str; 6] = [
    "authorization",
    "www-authenticate",
    "cookie",
    "cookie2",
    "proxy-authorization",
    "proxy-authenticate",
];

type Connector = HttpsConnector<HttpConnector>;

/// Sends deliveries; cheap to clone, connections are pooled and reused.
#[derive(Clone)]
pub(crate) struct Transport {
    client: Client<Connector, Full<Bytes>>,
}

impl Transport {
    /// http and https over rustls with the platform's certificate
    /// verifier, on the crypto provider installed as the process default or
    /// else aws-lc-rs (the choices reqwest makes, so one TLS stack is built).
    /// HTTP/1.1 only; no proxy.
    pub(crate) fn new() -> std::io::Result<Self> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(KEEP_ALIVE));
        http.set_connect_timeout(Some(DIAL_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(provider)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .http1_title_case_headers(true)
            .build(connector);
        Ok(Self { client })
    }

    /// POSTs `body` with `headers` to `url` as Go's client would, the
    /// whole exchange (redirects and the answer's body included) bounded by
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// A [`SendError`] when no final answer came.
    pub(crate) async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Answer, SendError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let uri = url::Url::parse(url)
            .map_err(|e| e.to_string())
            .and_then(|u| Uri::try_from(u.as_str()).map_err(|e| e.to_string()))
            .map_err(SendError::Request)?;
        let mut req = Request::post(uri.clone())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Request(e.to_string()))?;
        *req.headers_mut() = headers;
        // The transport asks for gzip (and then decodes it) only when the
        // request does not choose an encoding or a range itself.
        let gzip = [ACCEPT_ENCODING, RANGE]
            .iter()
            .all(|h| req.headers().get(h).is_none_or(HeaderValue::is_empty));
        let hop = Hop {
            client: self.client.clone(),
            first: uri,
            deadline,
        };
        let stopped = Arc::new(AtomicBool::new(false));
        let policy = GoRedirects::new(Arc::clone(&stopped));
        let service = FollowRedirect::with_policy(Decompression::new(hop).gzip(gzip), policy);
        let response = service.oneshot(req).await?;
        if stopped.load(Ordering::Relaxed) {
            let location = response
                .headers()
                .get(LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(SendError::Redirects { location });
        }
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status: parts.status,
            body,
            deadline,
        })
    }
}

/// The final answer: its status, its (decoded) body still to read.
pub(crate) struct Answer {
    status: StatusCode,
    body: DecompressionBody<Incoming>,
    deadline: Option<Instant>,
}

impl Answer {
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// At most `limit` bytes of the body. What arrived before the client
    /// timeout or a broken stream is kept, as Go's `io.ReadAll` keeps it
    /// (its error is ignored).
    pub(crate) async fn text(self, limit: usize) -> Vec<u8> {
        let mut body = std::pin::pin!(self.body);
        let mut text = Vec::new();
        while text.len() < limit {
            let frame = match self.deadline {
                Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                    Ok(frame) => frame,
                    Err(_) => break,
                },
                None => body.frame().await,
            };
            let Some(Ok(frame)) = frame else { break };
            if let Ok(data) = frame.into_data() {
                let room = limit - text.len();
                text.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        text
    }
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The URL makes no request.
    Request(String),
    /// One request failed. `to` is its URL when it was not the first one's
    /// (it followed a redirect).
    Hop { to: Option<Uri>, cause: HopFailure },
    /// The tenth answer was a redirect too, to `location` (as given).
    Redirects { location: String },
}

/// How a request failed.
#[derive(Debug)]
pub(crate) enum HopFailure {
    /// The client timeout passed before the answer's headers came.
    Timeout,
    /// Connecting, writing or reading failed.
    Transport(hyper_util::client::legacy::Error),
}

impl SendError {
    /// Go's `url.Error` text for a POST to `url` that failed so: the
    /// operation, the quoted URL (password masked), the cause in Go's words
    /// where they are known.
    pub(crate) fn go_message(&self, url: &str) -> String {
        let quoted = |u: &str| fluxbase_webhooks::client::go_quote(&mask_password(u, "***"));
        match self {
            Self::Request(why) => format!("Post {}: {why}", quoted(url)),
            Self::Redirects { location } => {
                format!("Post {}: stopped after 10 redirects", quoted(location))
            }
            Self::Hop { to, cause } => {
                let hop = to.as_ref().map(Uri::to_string);
                let hop = hop.as_deref().unwrap_or(url);
                let cause = match cause {
                    HopFailure::Timeout => {
                        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                            .to_owned()
                    }
                    HopFailure::Transport(err) => transport_cause(err, hop),
                };
                format!("Post {}: {cause}", quoted(hop))
            }
        }
    }
}

/// Why a request failed, in the words of Go's dialer where they are known
/// (`dial tcp 127.0.0.1:1: connect: connection refused`), else hyper's
/// error chain; never with the URL.
fn transport_cause(err: &hyper_util::client::legacy::Error, url: &str) -> String {
    let addr = || {
        url::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_default()
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return format!("dial tcp {}: connect: connection refused", addr());
                }
                std::io::ErrorKind::TimedOut => {
                    return format!("dial tcp {}: i/o timeout", addr());
                }
                _ => {}
            }
        }
        source = s.source();
    }
    error_chain(err)
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One request of an exchange, as Go's transport sends it: the URL's user
/// info becomes Basic authorization, and the exchange's deadline bounds it.
#[derive(Clone)]
struct Hop {
    client: Client<Connector, Full<Bytes>>,
    first: Uri,
    deadline: Option<Instant>,
}

impl tower::Service<Request<Full<Bytes>>> for Hop {
    type Response = Response<Incoming>;
    type Error = SendError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, SendError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), SendError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Full<Bytes>>) -> Self::Future {
        let to = (*req.uri() != self.first).then(|| req.uri().clone());
        userinfo_to_basic_auth(&mut req);
        let sent = self.client.request(req);
        let deadline = self.deadline;
        Box::pin(async move {
            let fail = |cause| SendError::Hop { to, cause };
            match deadline {
                Some(at) => match tokio::time::timeout_at(at, sent).await {
                    Ok(answer) => answer.map_err(|e| fail(HopFailure::Transport(e))),
                    Err(_) => Err(fail(HopFailure::Timeout)),
                },
                None => sent.await.map_err(|e| fail(HopFailure::Transport(e))),
            }
        })
    }
}

/// `http://ann:pw@host/` is sent to `http://host/` with
/// `Authorization: Basic base64("ann:pw")` (decoded), unless the request
/// has its own `Authorization`.
fn userinfo_to_basic_auth<B>(req: &mut Request<B>) {
    let Some(authority) = req.uri().authority().map(|a| a.as_str().to_owned()) else {
        return;
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return;
    };
    if !req.headers().contains_key(AUTHORIZATION) {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let credentials = format!(
            "{}:{}",
            percent_decode_str(user).decode_utf8_lossy(),
            percent_decode_str(password).decode_utf8_lossy()
        );
        if let Ok(mut value) =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
        {
            value.set_sensitive(true);
            req.headers_mut().insert(AUTHORIZATION, value);
        }
    }
    let Ok(host) = Authority::try_from(host) else {
        return;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.authority = Some(host);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

/// Go's redirect rules for [`FollowRedirect`] (which already turns a POST
/// into a GET without body after 301, 302 and 303, keeps both after 307 and
/// 308, and stops at a 3xx without a usable `Location`):
///
/// - the tenth redirect is not followed (`defaultCheckRedirect`); `stopped`
///   tells;
/// - every follow-up carries the first request's headers (`Content-Type`
///   too), less `Authorization`, `Cookie` & co. once the exchange has left
///   the first host and its subdomains;
/// - and a `Referer`, the previous URL without user info, unless the first
///   request set one or the redirect goes from https to http.
#[derive(Clone)]
struct GoRedirects {
    requests: usize,
    first: Option<(Uri, HeaderMap)>,
    previous: Option<Uri>,
    strip_sensitive: bool,
    stopped: Arc<AtomicBool>,
}

impl GoRedirects {
    fn new(stopped: Arc<AtomicBool>) -> Self {
        Self {
            requests: 0,
            first: None,
            previous: None,
            strip_sensitive: false,
            stopped,
        }
    }
}

impl<E> Policy<Full<Bytes>, E> for GoRedirects {
    fn redirect(&mut self, attempt: &Attempt<'_>) -> Result<Action, E> {
        if self.requests >= MAX_REQUESTS {
            self.stopped.store(true, Ordering::Relaxed);
            return Ok(Action::Stop);
        }
        self.previous = Some(attempt.previous().clone());
        Ok(Action::Follow)
    }

    fn on_request(&mut self, req: &mut Request<Full<Bytes>>) {
        self.requests += 1;
        let Some((first_uri, first_headers)) = &self.first else {
            self.first = Some((req.uri().clone(), req.headers().clone()));
            return;
        };
        if !self.strip_sensitive
            && first_uri.authority() != req.uri().authority()
            && !is_domain_or_subdomain(req.uri().host(), first_uri.host())
        {
            self.strip_sensitive = true;
        }
        let mut headers = first_headers.clone();
        if self.strip_sensitive {
            for name in SENSITIVE {
                headers.remove(name);
            }
        }
        let downgrade = self.previous.as_ref().and_then(Uri::scheme) == Some(&Scheme::HTTPS)
            && req.uri().scheme() == Some(&Scheme::HTTP);
        if !headers.contains_key(REFERER)
            && !downgrade
            && let Some(referer) = self.previous.as_ref().and_then(referer)
        {
            headers.insert(REFERER, referer);
        }
        *req.headers_mut() = headers;
    }

    fn clone_body(&self, body: &Full<Bytes>) -> Option<Full<Bytes>> {
        Some(body.clone())
    }
}

/// `uri` as a `Referer`: without user info.
fn referer(uri: &Uri) -> Option<HeaderValue> {
    let text = uri.to_string();
    let text = match uri.authority().map(Authority::as_str) {
        Some(authority) => match authority.rsplit_once('@') {
            Some((userinfo, _)) => text.replacen(&format!("{userinfo}@"), "", 1),
            None => text,
        },
        None => text,
    };
    HeaderValue::from_str(&text).ok()
}

/// Whether host `sub` is `parent` or one of its subdomains (compared
/// without case); an IP address only matches itself.
fn is_domain_or_subdomain(sub: Option<&str>, parent: Option<&str>) -> bool {
    let (Some(sub), Some(parent)) = (sub, parent) else {
        return false;
    };
    let (sub, parent) = (sub.to_ascii_lowercase(), parent.to_ascii_lowercase());
    if sub == parent {
        return true;
    }
    if sub.contains([':', '%']) {
        return false;
    }
    sub.strip_suffix(&parent)
        .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_keep_credentials() {
        let same = |a, b| is_domain_or_subdomain(Some(a), Some(b));
        assert!(same("example.com", "example.com"));
        assert!(same("API.example.com", "example.com"));
        assert!(!same("badexample.com", "example.com"));
        assert!(!same("example.com", "api.example.com"));
        assert!(!same("[::1]", "1"));
        assert!(!is_domain_or_subdomain(None, Some("example.com")));
    }

    #[test]
    fn user_info_becomes_basic_authorization() {
        let mut req = Request::post("http://ann:p%40ss@127.0.0.1:9/hook")
            .body(())
            .unwrap();
        userinfo_to_basic_auth(&mut req);
        assert_eq!(req.uri(), "http://127.0.0.1:9/hook");
        // base64("ann:p@ss"), as Go sends it.
        assert_eq!(req.headers()[AUTHORIZATION], "Basic YW5uOnBAc3M=");

        let mut req = Request::post("http://ann@127.0.0.1/")
            .header(AUTHORIZATION, "Bearer own")
            .body(())
            .unwrap();
        userinfo_to_basic_auth(&mut req);
        assert_eq!(req.uri(), "http://127.0.0.1/");
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer own");
    }

    #[test]
    fn referer_has_no_user_info() {
        let uri: Uri = "http://ann:pw@host:8080/a?b=c".parse().unwrap();
        assert_eq!(referer(&uri).unwrap(), "http://host:8080/a?b=c");
    }
}
