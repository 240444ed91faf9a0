//! [`Secret`]: a webhook signing secret that never shows itself.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A webhook signing secret.
///
/// Fluxbase uses the secret string's raw UTF-8 bytes as the HMAC key: there is
/// no hex or base64 decoding and no prefix convention, so `"whsec-abc"` is the
/// nine bytes `w h s e c - a b c`. Any bytes are accepted.
///
/// # Security
///
/// - `Debug` prints `Secret(<redacted>)`; there is no `Display`.
/// - The bytes are wiped (`zeroize`) when the secret is dropped.
/// - Equality is not offered: compare signatures, never secrets.
///
/// ```
/// use fluxbase_webhooks::Secret;
///
/// let secret = Secret::from("whsec-current");
/// assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
/// assert_eq!(secret.len(), 13);
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps raw key bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// The key bytes, for computing a MAC.
    ///
    /// # Security
    ///
    /// Do not log or display what this returns.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length of the key in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key is empty. Fluxbase sends no signature at all for a
    /// webhook whose secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<&String> for Secret {
    fn from(s: &String) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<&[u8]> for Secret {
    fn from(b: &[u8]) -> Self {
        Self::new(b)
    }
}

impl From<Vec<u8>> for Secret {
    fn from(b: Vec<u8>) -> Self {
        Self::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("super-secret-value");
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("super"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn keeps_exact_bytes() {
        let s = Secret::from("sécret");
        assert_eq!(s.expose(), "sécret".as_bytes());
        assert_eq!(Secret::new(vec![0xff, 0x00]).expose(), &[0xff, 0x00]);
        assert!(Secret::from("").is_empty());
    }

    #[test]
    fn zeroize_wipes() {
        let mut s = Secret::from("abc");
        s.zeroize();
        assert!(s.expose().iter().all(|&b| b == 0));
    }
}
