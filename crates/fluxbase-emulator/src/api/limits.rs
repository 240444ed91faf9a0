//! Request body limits per route, as the server sets them.
//!
//! The server enables per-endpoint limits by default
//! (`server.body_limits.*` in `setDefaults`, internal/config/config.go) and
//! checks them in a global middleware that runs before any route's
//! authentication (`BodyLimitMiddleware`, internal/middleware/body_limit.go,
//! installed in `setupMiddlewares`, internal/api/server.go): a POST, PUT,
//! PATCH or DELETE whose `Content-Length` is over its route's limit is 413
//! with a JSON body naming the limit. Fiber's own `BodyLimit` is 2 GB.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::json;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The server's default limits (`setDefaults`).
const DEFAULT_LIMIT: u64 = MIB;
const REST_LIMIT: u64 = MIB;
const AUTH_LIMIT: u64 = 64 * KIB;
const STORAGE_LIMIT: u64 = 500 * MIB;
const BULK_LIMIT: u64 = 10 * MIB;
const ADMIN_LIMIT: u64 = 5 * MIB;

/// The largest limit of a route the emulator serves: what it ever reads
/// into memory (the router's backstop too).
pub(super) const MAX_SERVED_LIMIT: u64 = ADMIN_LIMIT;

/// The route patterns with their limit and name, first match wins
/// (`BodyLimitsFromConfig`). `*` is one path segment; `**`, always last,
/// is one or more.
const PATTERNS: &[(&str, u64, &str)] = &[
    (
        "/api/v1/storage/*/multipart",
        STORAGE_LIMIT,
        "multipart upload",
    ),
    (
        "/api/v1/storage/*/stream/**",
        STORAGE_LIMIT,
        "stream upload",
    ),
    (
        "/api/v1/storage/*/chunked/**",
        STORAGE_LIMIT,
        "chunked upload",
    ),
    ("/api/v1/storage/**", STORAGE_LIMIT, "storage"),
    (
        "/api/v1/admin/functions/sync",
        STORAGE_LIMIT,
        "functions sync",
    ),
    ("/api/v1/admin/jobs/sync", STORAGE_LIMIT, "jobs sync"),
    (
        "/api/v1/admin/ai/chatbots/sync",
        STORAGE_LIMIT,
        "chatbots sync",
    ),
    ("/api/v1/admin/rpc/sync", STORAGE_LIMIT, "RPC sync"),
    (
        "/api/v1/admin/migrations/sync",
        STORAGE_LIMIT,
        "migrations sync",
    ),
    ("/api/v1/admin/**", ADMIN_LIMIT, "admin"),
    ("/api/v1/ai/**", ADMIN_LIMIT, "AI/vectors"),
    ("/api/v1/auth/**", AUTH_LIMIT, "auth"),
    ("/api/v1/webhooks/**", REST_LIMIT, "webhooks"),
    (
        "/api/v1/functions/webhooks/**",
        REST_LIMIT,
        "function webhooks",
    ),
    ("/api/v1/rest/*/bulk", BULK_LIMIT, "bulk operations"),
    ("/api/v1/rpc/**", BULK_LIMIT, "RPC"),
    ("/api/v1/rest/**", REST_LIMIT, "REST"),
    ("/graphql", BULK_LIMIT, "GraphQL"),
    ("/mcp/**", BULK_LIMIT, "MCP"),
    ("/api/v1/realtime/**", AUTH_LIMIT, "realtime"),
    ("/api/**", REST_LIMIT, "API"),
];

/// Whether `path` matches `pattern`, both split on `/` once their outer
/// slashes are trimmed (`PatternBodyLimiter.matchPattern`).
fn matches(pattern: &str, path: &str) -> bool {
    let mut want: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let have: Vec<&str> = path.trim_matches('/').split('/').collect();
    let open_ended = want.last() == Some(&"**");
    if open_ended {
        want.pop();
        if have.len() <= want.len() {
            return false;
        }
    } else if have.len() != want.len() {
        return false;
    }
    want.iter().zip(&have).all(|(w, h)| *w == "*" || w == h)
}

/// The limit of `path` and the endpoint type the 413 names
/// (`PatternBodyLimiter.GetLimit`).
pub(super) fn limit_of(path: &str) -> (u64, &'static str) {
    PATTERNS
        .iter()
        .find(|(pattern, _, _)| matches(pattern, path))
        .map_or((DEFAULT_LIMIT, "default"), |(_, limit, name)| {
            (*limit, *name)
        })
}

/// Bytes as the server words them (`formatBytes`): `64.0 KB`, `1.0 MB`.
fn human(bytes: u64) -> String {
    if bytes < KIB {
        return format!("{bytes} B");
    }
    let mut unit = KIB;
    let mut prefix = 0;
    while bytes / unit >= KIB && prefix < 5 {
        unit *= KIB;
        prefix += 1;
    }
    let prefixes = ['K', 'M', 'G', 'T', 'P', 'E'];
    // Display only: the precision of an f64 is plenty.
    #[allow(clippy::cast_precision_loss)]
    let value = bytes as f64 / unit as f64;
    format!("{value:.1} {}B", prefixes[prefix])
}

/// The server's 413 (`sendLimitExceeded`).
fn too_large(limit: u64, endpoint: &str) -> Response {
    let body = json!({
        "error": "Payload Too Large",
        "code": "PAYLOAD_TOO_LARGE",
        "message": format!(
            "Request body exceeds maximum size of {} for {endpoint} endpoints",
            human(limit)
        ),
        "hint": "Reduce size of your request body or use chunked upload for large files",
        "details": {"max_bytes": limit, "endpoint_type": endpoint},
    });
    (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response()
}

/// The body limit middleware. A declared `Content-Length` over the limit
/// is refused unread, as on the server. A body without one (chunked) is
/// read up to the limit and refused the same way past it: the server
/// checks only `Content-Length` and would read it up to Fiber's 2 GB, the
/// emulator keeps memory bounded. Routes with a limit above
/// [`MAX_SERVED_LIMIT`] are none the emulator serves; their bodies are
/// never read.
pub(super) async fn body_limit(req: Request, next: Next) -> Response {
    if [Method::GET, Method::HEAD, Method::OPTIONS].contains(req.method()) {
        return next.run(req).await;
    }
    let (limit, endpoint) = limit_of(req.uri().path());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limit => return too_large(limit, endpoint),
        Some(_) => return next.run(req).await,
        None if limit > MAX_SERVED_LIMIT => return next.run(req).await,
        None => {}
    }
    let (parts, body) = req.into_parts();
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => {
            let req = Request::from_parts(parts, Body::from(collected.to_bytes()));
            next.run(req).await
        }
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(limit, endpoint),
        // The body broke off: nothing to answer that the client reads.
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_route_as_the_server_sets_them() {
        // `**` needs a segment: the collection itself is an API route.
        assert_eq!(limit_of("/api/v1/webhooks"), (MIB, "API"));
        assert_eq!(limit_of("/api/v1/webhooks/x"), (MIB, "webhooks"));
        assert_eq!(limit_of("/api/v1/webhooks/x/test/"), (MIB, "webhooks"));
        assert_eq!(limit_of("/api/v1/auth/signin"), (64 * KIB, "auth"));
        assert_eq!(limit_of("/api/v1/admin/login"), (5 * MIB, "admin"));
        assert_eq!(limit_of("/api/v1/admin/invitations/t"), (5 * MIB, "admin"));
        assert_eq!(limit_of("/api/v1/client-keys"), (MIB, "API"));
        assert_eq!(limit_of("/api/v1/invitations/t/accept"), (MIB, "API"));
        assert_eq!(
            limit_of("/api/v1/storage/b/multipart").1,
            "multipart upload"
        );
        assert_eq!(limit_of("/api/v1/storage/b/x/multipart").1, "storage");
        assert_eq!(limit_of("/api/v1/rest/t/bulk").1, "bulk operations");
        assert_eq!(limit_of("/api"), (MIB, "default"));
        assert_eq!(limit_of("/elsewhere"), (MIB, "default"));
    }

    #[test]
    fn sizes_as_the_server_words_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(64 * KIB), "64.0 KB");
        assert_eq!(human(MIB), "1.0 MB");
        assert_eq!(human(5 * MIB), "5.0 MB");
        assert_eq!(human(1536), "1.5 KB");
        assert_eq!(human(2 * 1024 * MIB), "2.0 GB");
    }
}
