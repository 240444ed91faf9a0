//! Step 1 of the flow: what the request head decides, read through
//! [`RequestHead`] so that each framework's header map (`http` 1 for tower
//! and axum, actix-web's own) stays in its integration.

use crate::error::Error;
use crate::signature::SignatureHeader;
use crate::verify::Verifier;

/// The headers the flow reads, by whatever HTTP library the request came
/// from. Each method yields every value of its header, in order.
pub(crate) trait RequestHead {
    /// `X-Fluxbase-Signature`.
    fn signatures(&self) -> impl Iterator<Item = &[u8]>;
    /// `X-Webhook-Signature`.
    fn legacy_signatures(&self) -> impl Iterator<Item = &[u8]>;
    /// `Content-Length`.
    fn content_lengths(&self) -> impl Iterator<Item = &[u8]>;
    /// `Content-Encoding`.
    fn content_encodings(&self) -> impl Iterator<Item = &[u8]>;
}

/// How long the body says it is: its `Content-Length`, or what the body
/// itself says it will at least be (`size_hint`: an `http_body::Body` knows
/// it for a `Content-Length` body).
pub(crate) fn declared_len(head: &impl RequestHead, size_hint: Option<u64>) -> Option<u64> {
    let declared = head
        .content_lengths()
        .next()
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (declared, size_hint) {
        (Some(len), Some(hint)) => Some(len.max(hint)),
        (Some(len), None) => Some(len),
        (None, Some(hint)) if hint > 0 => Some(hint),
        (None, _) => None,
    }
}

/// Reads the head in the flow's order: declared length, encoding, then the
/// signature header, which it returns parsed.
pub(crate) fn read_head(
    head: &impl RequestHead,
    declared_len: Option<u64>,
    verifier: &Verifier,
    body_limit: u64,
) -> Result<SignatureHeader, Error> {
    if let Some(len) = declared_len
        && len > body_limit
    {
        return Err(Error::PayloadTooLarge { limit: body_limit });
    }
    check_encoding(head.content_encodings())?;
    let value = verifier.select_header(head.signatures(), head.legacy_signatures())?;
    SignatureHeader::parse(value)
}

/// Only `identity` (or no `Content-Encoding` at all) is accepted: the
/// signature covers the bytes as sent, Fluxbase never compresses, and
/// inflating a body would multiply it past the limit. Every value of every
/// `Content-Encoding` header is read, as one list.
fn check_encoding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<(), Error> {
    for value in values {
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if !(coding.is_empty() || coding.eq_ignore_ascii_case(b"identity")) {
                let shown = String::from_utf8_lossy(&value[..value.len().min(32)]);
                return Err(Error::UnsupportedEncoding(shown.trim().to_owned()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    #[derive(Default)]
    struct Headers {
        signature: Vec<Vec<u8>>,
        legacy: Vec<Vec<u8>>,
        length: Vec<Vec<u8>>,
        encoding: Vec<Vec<u8>>,
    }

    impl RequestHead for Headers {
        fn signatures(&self) -> impl Iterator<Item = &[u8]> {
            self.signature.iter().map(Vec::as_slice)
        }
        fn legacy_signatures(&self) -> impl Iterator<Item = &[u8]> {
            self.legacy.iter().map(Vec::as_slice)
        }
        fn content_lengths(&self) -> impl Iterator<Item = &[u8]> {
            self.length.iter().map(Vec::as_slice)
        }
        fn content_encodings(&self) -> impl Iterator<Item = &[u8]> {
            self.encoding.iter().map(Vec::as_slice)
        }
    }

    fn signed() -> Headers {
        let header = Signer::new("k").unwrap().sign_now(b"{}").to_string();
        Headers {
            signature: vec![header.into_bytes()],
            ..Headers::default()
        }
    }

    #[test]
    fn encodings_are_one_list_across_headers() {
        let v = Verifier::new("k").unwrap();
        let read = |encodings: &[&str]| {
            let mut h = signed();
            h.encoding = encodings.iter().map(|e| e.as_bytes().to_vec()).collect();
            read_head(&h, declared_len(&h, None), &v, 10).map(|_| ())
        };
        assert!(read(&[]).is_ok());
        assert!(read(&["identity", " Identity ,"]).is_ok());
        for refused in [
            &["gzip"][..],
            &["identity", "gzip"],
            &["identity, gzip"],
            &["br"],
        ] {
            assert!(
                matches!(read(refused), Err(Error::UnsupportedEncoding(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_declared_length_is_refused_before_the_signature_is_read() {
        let v = Verifier::new("k").unwrap();
        let h = Headers {
            length: vec![b"11".to_vec()],
            ..Headers::default()
        };
        assert_eq!(
            read_head(&h, declared_len(&h, None), &v, 10).err(),
            Some(Error::PayloadTooLarge { limit: 10 })
        );
        // The body's own hint counts too.
        let none = Headers::default();
        assert_eq!(
            read_head(&none, declared_len(&none, Some(11)), &v, 10).err(),
            Some(Error::PayloadTooLarge { limit: 10 })
        );
        assert_eq!(
            read_head(&none, declared_len(&none, Some(10)), &v, 10).err(),
            Some(Error::MissingSignature)
        );
        let mut ok = signed();
        ok.length = vec![b" 7 ".to_vec()];
        assert_eq!(declared_len(&ok, None), Some(7));
        assert!(read_head(&ok, Some(7), &v, 10).is_ok());
    }
}
