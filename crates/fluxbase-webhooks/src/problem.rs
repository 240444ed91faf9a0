//! The `application/problem+json` (RFC 9457) body every integration answers a
//! refused delivery with.

use serde_json::Value;

use crate::error::{Code, Error};

/// The media type of [`problem_json`] bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The prefix of the `type` member: `urn:fluxhook:problem:<code>`.
const TYPE_PREFIX: &str = "urn:fluxhook:problem:";

/// The RFC 9457 problem document for `err`, as bytes.
///
/// Members, in this order: `type` (`urn:fluxhook:problem:<code>`), `title`
/// ([`Code::title`]), `status` ([`Code::http_status`]), `detail` (the
/// error's [`detail`](Error::detail)) and `code` ([`Code::as_str`]). Every framework
/// integration sends exactly these bytes, with the status
/// [`Code::http_status`], so a client sees the same answer from axum, tower
/// and actix-web.
///
/// ```
/// use fluxbase_webhooks::{Verifier, problem_json};
///
/// let err = Verifier::new("whsec-example")?.verify("", b"{}").unwrap_err();
/// let body: serde_json::Value = serde_json::from_slice(&problem_json(&err))?;
/// assert_eq!(body["status"], 401);
/// assert_eq!(body["code"], "missing_signature");
/// assert_eq!(body["type"], "urn:fluxhook:problem:missing_signature");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Security
///
/// The detail is the error's message, which never holds a secret or an
/// expected signature.
pub fn problem_json(err: &Error) -> Vec<u8> {
    let code = err.code();
    problem_document(code, &err.detail()).into_bytes()
}

/// Writes the document by hand so the members keep the RFC's order and the
/// function cannot fail.
fn problem_document(code: Code, detail: &str) -> String {
    let string = |s: &str| Value::from(s).to_string();
    format!(
        r#"{{"type":{},"title":{},"status":{},"detail":{},"code":{}}}"#,
        string(&format!("{TYPE_PREFIX}{}", code.as_str())),
        string(code.title()),
        code.http_status(),
        string(detail),
        string(code.as_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Malformed;

    #[test]
    fn every_code_gives_a_complete_document() {
        let errors = [
            Error::MissingSignature,
            Error::MalformedSignature(Malformed::InvalidTimestamp),
            Error::SignatureMismatch,
            Error::TimestampTooOld {
                age_secs: 301,
                tolerance_secs: 300,
            },
            Error::TimestampInFuture {
                ahead_secs: 61,
                future_skew_secs: 60,
            },
            Error::Replayed,
            Error::PayloadTooLarge { limit: 10 },
            Error::invalid_payload(serde_json::from_str::<u8>("").unwrap_err()),
        ];
        for err in errors {
            let bytes = problem_json(&err);
            let doc: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).unwrap();
            let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
            assert_eq!(keys.len(), 5, "{keys:?}");
            let code = err.code();
            assert_eq!(doc["code"], code.as_str());
            assert_eq!(doc["status"], code.http_status());
            assert_eq!(doc["title"], code.title());
            assert_eq!(doc["detail"], err.detail());
            assert_eq!(doc["type"], format!("urn:fluxhook:problem:{code}"));
            // RFC order: the document starts with `type` and ends with `code`.
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.starts_with(r#"{"type":"#) && text.contains(r#","code":""#));
        }
    }

    #[test]
    fn details_are_escaped() {
        // An invalid body's parser message goes into the detail as is.
        let err = Error::invalid_payload(
            serde_json::from_str::<String>("\"a \\\"q\\\"\u{7}").unwrap_err(),
        );
        let bytes = problem_json(&err);
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["detail"], err.detail());
        assert!(
            bytes.iter().all(|&b| b >= 0x20),
            "control bytes are escaped"
        );
    }
}
