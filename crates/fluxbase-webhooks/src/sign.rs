//! [`Signer`]: produce signature headers the way Fluxbase does.

use std::fmt;
use std::time::SystemTime;

use hmac::{KeyInit, Mac};

use crate::error::ConfigError;
use crate::secret::Secret;
use crate::signature::{Scheme, SignatureHeader, Tag};

pub(crate) type HmacSha256 = hmac::Hmac<sha2::Sha256>;

// The keyed states are as good as the secret for forging signatures: their
// SHA-256 states must be wiped when dropped (sha2's `zeroize` feature).
const _: () = {
    fn wiped_on_drop<T: hmac::digest::zeroize::ZeroizeOnDrop>() {}
    let _ = wiped_on_drop::<sha2::block_api::Sha256VarCore>;
};

/// A MAC state keyed once, cloned for every message.
///
/// Cloning copies the inner and outer hash states, so a request never hashes
/// the key again.
#[derive(Clone)]
pub(crate) struct KeyedMac(HmacSha256);

impl KeyedMac {
    pub(crate) fn new(secret: &Secret) -> Self {
        // HMAC accepts keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(secret.expose()) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// A fresh state for one message in `scheme`, with the `"<t>."` prefix
    /// already fed for the timestamped scheme. The body is fed next, in
    /// place: the signed message is never built in memory.
    pub(crate) fn start(&self, scheme: Scheme, timestamp: Option<i64>) -> HmacSha256 {
        let mut mac = self.0.clone();
        feed_prefix(&mut mac, scheme, timestamp);
        mac
    }

    /// The tag of `body` in `scheme`, the whole computation in one frame so
    /// the state is never moved.
    pub(crate) fn tag(&self, scheme: Scheme, timestamp: Option<i64>, body: &[u8]) -> Tag {
        let mut mac = self.0.clone();
        feed_prefix(&mut mac, scheme, timestamp);
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// Feeds `"<t>."` for the timestamped scheme, nothing for the others.
#[inline]
fn feed_prefix(mac: &mut HmacSha256, scheme: Scheme, timestamp: Option<i64>) {
    if scheme == Scheme::Timestamped {
        let mut digits = itoa::Buffer::new();
        mac.update(digits.format(timestamp.unwrap_or_default()).as_bytes());
        mac.update(b".");
    }
}

pub(crate) fn finish(mac: HmacSha256) -> Tag {
    mac.finalize().into_bytes().into()
}

/// Signs bodies the way the Fluxbase server does, in any [`Scheme`].
///
/// Used by tests, the emulator and the CLI; receivers use
/// [`Verifier`](crate::Verifier).
///
/// ```
/// use fluxbase_webhooks::{Scheme, Signer};
///
/// let signer = Signer::new("test-secret")?;
/// let body = br#"{"event":"INSERT","table":"users"}"#;
/// assert_eq!(
///     signer.sign(Scheme::Timestamped, 1234567890, body).to_string(),
///     "t=1234567890,v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c",
/// );
/// assert_eq!(
///     signer.sign(Scheme::Hex, 0, body).to_string(),
///     "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c",
/// );
/// # Ok::<(), fluxbase_webhooks::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    mac: KeyedMac,
}

impl Signer {
    /// A signer for `secret` (its raw bytes are the HMAC key).
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`] for an empty secret: anyone can sign
    /// with the empty key, so nothing it signs proves anything.
    pub fn new(secret: impl Into<Secret>) -> Result<Self, ConfigError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        Ok(Self {
            mac: KeyedMac::new(&secret),
        })
    }

    /// The header value for `body` in `scheme`. `timestamp` (Unix seconds) is
    /// used by the timestamped scheme only.
    pub fn sign(&self, scheme: Scheme, timestamp: i64, body: &[u8]) -> SignatureHeader {
        let tag = self.tag(scheme, timestamp, body);
        match scheme {
            Scheme::Timestamped => SignatureHeader::timestamped(timestamp, tag),
            Scheme::Hex => SignatureHeader::hex(tag),
            Scheme::Sha256 => SignatureHeader::sha256(tag),
        }
    }

    /// The timestamped header for `body`, stamped with the current time: what
    /// the Fluxbase server puts in `X-Fluxbase-Signature`.
    pub fn sign_now(&self, body: &[u8]) -> SignatureHeader {
        self.sign(Scheme::Timestamped, unix_now(), body)
    }

    /// The raw 32-byte tag for `body` in `scheme`.
    pub fn tag(&self, scheme: Scheme, timestamp: i64, body: &[u8]) -> Tag {
        self.mac.tag(scheme, Some(timestamp), body)
    }

    /// The 64 lowercase hex digits of [`Signer::tag`]; for the hex scheme this
    /// is exactly the legacy `X-Webhook-Signature` value.
    pub fn hex_tag(&self, scheme: Scheme, timestamp: i64, body: &[u8]) -> String {
        const_hex::encode(self.tag(scheme, timestamp, body))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer { secret: <redacted> }")
    }
}

/// The current time in whole Unix seconds (negative before 1970).
pub(crate) fn unix_now() -> i64 {
    unix_seconds(crate::clock::now())
}

pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs())
            .map(|s| -s)
            .unwrap_or(i64::MIN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_vectors() {
        let s = Signer::new("sécret").unwrap();
        assert_eq!(
            s.hex_tag(Scheme::Timestamped, 1700000000, br#"{"a":1}"#),
            "2e1d18f0f421fb15fa0b330e39e008a57428ed7b25d2d5d709c5be0ca1d88c87"
        );
        let s = Signer::new("test-secret").unwrap();
        let body = br#"{"event":"INSERT","table":"users"}"#;
        assert_eq!(
            s.hex_tag(Scheme::Sha256, 0, body),
            "0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c"
        );
    }

    #[test]
    fn timestamped_equals_mac_over_dotted_message() {
        let s = Signer::new("k").unwrap();
        let direct = s.tag(Scheme::Hex, 0, b"1234567890.body");
        assert_eq!(s.tag(Scheme::Timestamped, 1234567890, b"body"), direct);
    }

    #[test]
    fn empty_secret_is_refused() {
        assert_eq!(Signer::new("").unwrap_err(), ConfigError::EmptySecret);
        assert_eq!(
            Signer::new(Vec::new()).unwrap_err(),
            ConfigError::EmptySecret
        );
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Signer::new("x").unwrap()),
            "Signer { secret: <redacted> }"
        );
    }
}
