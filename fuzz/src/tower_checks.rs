//! The `tower_layer` fuzz target's property, kept apart because it needs the
//! `tower` feature.

use std::convert::Infallible;

use bytes::Bytes;
use fluxbase_webhooks::dedupe::DedupeStatus;
use fluxbase_webhooks::tower::VerifyLayer;
use fluxbase_webhooks::{
    Code, Error, Event, Malformed, Receiver, Scheme, SignatureHeader, Signer, Verified, Verifier,
};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use tower_layer::Layer;
use tower_service::Service;

const SECRET: &str = "fuzz-secret";
const LIMIT: u64 = 4096;
const NAMES: [&str; 5] = [
    "x-fluxbase-signature",
    "x-webhook-signature",
    "content-length",
    "content-encoding",
    "content-type",
];

// Every body here is already in memory and no timer runs without a
// runtime: the futures never wait.
use fluxhook_testkit::block_on;

/// What the core verifier says of a request: the signature header picked
/// as every receiver picks it (`X-Fluxbase-Signature`, once; else the
/// legacy header, once, as bare hex, when it is read), verified, then the
/// body parsed as an event.
fn core_verdict(
    verifier: &Verifier,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<Verified, Error> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect::<Vec<_>>()
    };
    let (fluxbase, legacy) = (values(NAMES[0]), values(NAMES[1]));
    let duplicate = || Error::MalformedSignature(Malformed::DuplicateHeader);
    let header = match (fluxbase.as_slice(), legacy.as_slice()) {
        ([one], _) => *one,
        ([_, _, ..], _) => return Err(duplicate()),
        ([], []) => return Err(Error::MissingSignature),
        ([], _) if !verifier.legacy_header() => return Err(Error::LegacySignatureOnly),
        ([], [one]) => match SignatureHeader::parse(one)?.scheme() {
            Scheme::Hex => *one,
            _ => return Err(Malformed::InvalidHex.into()),
        },
        ([], _) => return Err(duplicate()),
    };
    let verified = verifier.verify(header, body)?;
    Event::from_slice(body)?;
    Ok(verified)
}

/// `VerifyLayer` on arbitrary headers and bodies: never panics; answers
/// 200 only for what the core verifier accepts, with the exact bytes, the
/// event and the replay store's status passed on; otherwise a problem
/// document whose code matches the status and, when no declared length or
/// encoding interferes, the core verifier's own verdict. Mode bit 0 signs
/// the body (timestamped, now), bit 1 reads the legacy header.
pub fn tower_layer(data: &[u8]) {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let (n_headers, mut rest) = rest
        .split_first()
        .map_or((0, &[][..]), |(n, r)| (*n % 6, r));
    let mut headers = Vec::new();
    for _ in 0..n_headers {
        let [idx, len, tail @ ..] = rest else { break };
        let len = usize::from(*len).min(tail.len());
        headers.push((NAMES[usize::from(*idx) % NAMES.len()], &tail[..len]));
        rest = &tail[len..];
    }
    let body = rest;
    let mut request = Request::post("/webhooks");
    if mode & 1 == 1 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as i64);
        let header = match Signer::new(SECRET) {
            Ok(signer) => signer.sign(Scheme::Timestamped, now, body).to_string(),
            Err(e) => panic!("the fuzz secret is refused: {e}"),
        };
        request = request.header(NAMES[0], header);
    }
    for (name, value) in &headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(HeaderName::from_static(name), value);
        }
    }
    let Ok(request) = request.body(Full::new(Bytes::copy_from_slice(body))) else {
        return;
    };
    let interfering = request.headers().contains_key("content-length")
        || request.headers().contains_key("content-encoding");
    let verifier = match Verifier::builder()
        .secret(SECRET)
        .legacy_header(mode & 2 == 2)
        .build()
    {
        Ok(v) => v,
        Err(e) => panic!("the fuzz secret is refused: {e}"),
    };
    let expected = core_verdict(&verifier, request.headers(), body);
    let receiver = Receiver::builder(verifier).body_limit(LIMIT).build();

    let inner = tower::service_fn(|req: Request<Full<Bytes>>| async move {
        assert!(req.extensions().get::<Verified>().is_some());
        assert!(req.extensions().get::<Event>().is_some());
        assert!(req.extensions().get::<DedupeStatus>().is_some());
        let bytes = req.into_body().collect().await.map(|c| c.to_bytes());
        Ok::<_, Infallible>(Response::new(Full::new(bytes.unwrap_or_default())))
    });
    let mut service = VerifyLayer::new(receiver).layer(inner);
    let response = match block_on(service.call(request)) {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let answer = block_on(response.into_body().collect())
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if status == 200 {
        assert!(
            expected.is_ok(),
            "layer accepted what the core refuses: {expected:?}"
        );
        assert_eq!(
            answer.as_ref(),
            body,
            "the handler did not get the exact bytes"
        );
        return;
    }
    let doc: serde_json::Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|e| panic!("status {status} without a problem document: {e}"));
    let code = doc["code"].as_str().and_then(Code::from_str_code);
    let code = code.unwrap_or_else(|| panic!("unknown code in {doc}"));
    assert_eq!(code.http_status(), status, "{doc}");
    if body.len() as u64 > LIMIT {
        assert_eq!(code, Code::PayloadTooLarge, "{doc}");
    } else if !interfering {
        match &expected {
            Ok(_) => panic!("layer refused ({doc}) what the core accepts"),
            Err(e) => assert_eq!(e.code(), code, "{doc}"),
        }
    }
}
