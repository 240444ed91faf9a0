//! [`Verifier`], [`Key`], [`Verification`] and [`Verified`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hmac::Mac;
use smallvec::SmallVec;

use crate::error::{Error, Malformed};
use crate::event::Event;
use crate::secret::Secret;
use crate::sign::{HmacSha256, KeyedMac, finish};
use crate::signature::{Scheme, Schemes, SignatureHeader};

/// The header Fluxbase puts its signatures in.
pub const SIGNATURE_HEADER: &str = "x-fluxbase-signature";
/// The legacy header (bare hex over the body), read only when enabled with
/// [`Verifier::legacy_header`].
pub const LEGACY_SIGNATURE_HEADER: &str = "x-webhook-signature";

/// Default past tolerance for the timestamped scheme: 300 s.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default future skew for the timestamped scheme: 60 s.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(60);
/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;

/// One secret in a verifier's keyring.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use fluxbase_webhooks::{Key, Verifier};
///
/// let retire_at = SystemTime::now() + Duration::from_secs(24 * 3600);
/// let verifier = Verifier::from_keys([
///     Key::new("whsec-2026-11").id("2026-11"),
///     Key::new("whsec-2026-10").id("2026-10").not_after(retire_at),
/// ]);
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct Key {
    id: Option<Arc<str>>,
    not_after: Option<SystemTime>,
    mac: KeyedMac,
}

impl Key {
    /// A key for `secret`, with no id and no expiry.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            id: None,
            not_after: None,
            mac: KeyedMac::new(&secret.into()),
        }
    }

    /// Names the key; [`Verified::key_id`] reports it when this key matched.
    #[must_use]
    pub fn id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// After `when`, the key no longer verifies anything.
    #[must_use]
    pub fn not_after(mut self, when: SystemTime) -> Self {
        self.not_after = Some(when);
        self
    }

    /// The key's id, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The expiry, if any.
    pub fn expires(&self) -> Option<SystemTime> {
        self.not_after
    }

    fn usable_at(&self, now: SystemTime) -> bool {
        self.not_after.is_none_or(|end| now <= end)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl<S: Into<Secret>> From<S> for Key {
    fn from(secret: S) -> Self {
        Key::new(secret)
    }
}

/// Verifies Fluxbase webhook signatures.
///
/// A verifier holds a keyring (any listed secret may match, so secrets can
/// be rotated), the time window for the timestamped scheme, the schemes it
/// accepts, and whether the legacy `X-Webhook-Signature` header is read.
/// It is cheap to clone and can be shared across threads; clones share the
/// keyring, so [`Verifier::replace_keys`] reaches every one of them.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::{Schemes, Signer, Verifier};
///
/// let verifier = Verifier::new("whsec-current")
///     .with_secret("whsec-previous")
///     .tolerance(Duration::from_secs(300))
///     .max_skew(Duration::from_secs(60))
///     .schemes(Schemes::ALL);
///
/// // What the Fluxbase server would send, signed with the old secret:
/// let body = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"1"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let header = Signer::new("whsec-previous").sign_now(body).to_string();
///
/// let verified = verifier.verify(&header, body)?;
/// assert_eq!(verified.key_index(), 1);
/// # Ok::<(), fluxbase_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<ArcSwap<Keyring>>,
    tolerance: Duration,
    max_skew: Duration,
    schemes: Schemes,
    legacy_header: bool,
    body_limit: u64,
}

type Keyring = Vec<Key>;

impl Verifier {
    /// A verifier with one secret and the default settings: every scheme,
    /// 300 s past tolerance, 60 s future skew, legacy header off.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self::from_keys([Key::new(secret)])
    }

    /// A verifier over a whole keyring. Key `i` is reported as
    /// [`Verified::key_index`] `i`.
    pub fn from_keys<K: Into<Key>>(keys: impl IntoIterator<Item = K>) -> Self {
        Self {
            keys: Arc::new(ArcSwap::from_pointee(
                keys.into_iter().map(Into::into).collect(),
            )),
            tolerance: DEFAULT_TOLERANCE,
            max_skew: DEFAULT_MAX_SKEW,
            schemes: Schemes::ALL,
            legacy_header: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Adds a secret to the keyring (for rotation: the old and the new secret
    /// both verify until the old one is removed).
    ///
    /// The result has its own keyring, no longer shared with clones made
    /// before this call.
    #[must_use]
    pub fn with_secret(self, secret: impl Into<Secret>) -> Self {
        self.with_key(Key::new(secret))
    }

    /// Adds a [`Key`] (with an id or an expiry) to the keyring. Like
    /// [`Verifier::with_secret`], the result has its own keyring.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Key>) -> Self {
        let mut keys = Keyring::clone(&self.keys.load());
        keys.push(key.into());
        self.keys = Arc::new(ArcSwap::from_pointee(keys));
        self
    }

    /// How old a timestamped signature may be (default 300 s).
    #[must_use]
    pub fn tolerance(mut self, past: Duration) -> Self {
        self.tolerance = past;
        self
    }

    /// How far in the future a timestamped signature may be (default 60 s),
    /// to absorb clock differences.
    #[must_use]
    pub fn max_skew(mut self, future: Duration) -> Self {
        self.max_skew = future;
        self
    }

    /// Which schemes are accepted (default [`Schemes::ALL`]; use
    /// [`Schemes::TIMESTAMPED_ONLY`] to accept only headers that bind a time).
    #[must_use]
    pub fn schemes(mut self, schemes: Schemes) -> Self {
        self.schemes = schemes;
        self
    }

    /// Also read the legacy `X-Webhook-Signature` header (bare hex over the
    /// body) when `X-Fluxbase-Signature` is absent. Off by default.
    ///
    /// # Security
    ///
    /// The legacy header carries no timestamp, so a captured delivery can be
    /// replayed at any time unless a replay store is used. It is read only
    /// when `X-Fluxbase-Signature` is absent, never as a fallback after a
    /// failed check.
    #[must_use]
    pub fn legacy_header(mut self, enabled: bool) -> Self {
        self.legacy_header = enabled;
        self
    }

    /// The largest body accepted, in bytes (default 1 MiB). A body past the
    /// limit fails with [`Error::PayloadTooLarge`] as soon as the limit is
    /// passed, before any more of it is hashed; integrations also refuse a
    /// declared `Content-Length` over it before reading anything.
    /// `u64::MAX` turns the limit off.
    #[must_use]
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The configured body limit in bytes.
    pub fn max_body(&self) -> u64 {
        self.body_limit
    }

    /// Checks a declared body length (such as `Content-Length`) against the
    /// limit, so an oversized body is refused before it is read.
    ///
    /// Integrations call it after [`Verifier::begin`], so that every entry
    /// point reports header problems first and size second, as
    /// [`Verifier::verify`] does.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`] when `len` is over the limit.
    pub fn check_len(&self, len: u64) -> Result<(), Error> {
        if len > self.body_limit {
            Err(Error::PayloadTooLarge {
                limit: self.body_limit,
            })
        } else {
            Ok(())
        }
    }

    /// Swaps the whole keyring at runtime, for this verifier and every clone
    /// sharing its keyring. Requests already being verified finish with the
    /// keys they started with.
    pub fn replace_keys<K: Into<Key>>(&self, keys: impl IntoIterator<Item = K>) {
        self.keys
            .store(Arc::new(keys.into_iter().map(Into::into).collect()));
    }

    /// The ids of the current keys, in keyring order (`None` for keys without one).
    pub fn key_ids(&self) -> Vec<Option<String>> {
        self.keys
            .load()
            .iter()
            .map(|k| k.key_id().map(str::to_owned))
            .collect()
    }

    /// The configured past tolerance.
    pub fn past_tolerance(&self) -> Duration {
        self.tolerance
    }

    /// The configured future skew.
    pub fn future_skew(&self) -> Duration {
        self.max_skew
    }

    /// The accepted schemes.
    pub fn accepted_schemes(&self) -> Schemes {
        self.schemes
    }

    /// Whether the legacy header is read.
    pub fn reads_legacy_header(&self) -> bool {
        self.legacy_header
    }

    /// Verifies `body` against a signature header value, at the current time.
    ///
    /// # Errors
    ///
    /// Any signature [`Error`]: missing, malformed, mismatch, too old, in the
    /// future.
    ///
    /// # Security
    ///
    /// Tags are compared in constant time after hex decoding; no error
    /// carries the expected value.
    pub fn verify(&self, header: impl AsRef<[u8]>, body: &[u8]) -> Result<Verified, Error> {
        self.verify_at(header, body, crate::clock::now())
    }

    /// [`Verifier::verify`] with the clock given, for tests and replays.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`].
    pub fn verify_at(
        &self,
        header: impl AsRef<[u8]>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, Error> {
        // The same checks in the same order as `begin_at`, `update` and
        // `finish`, without their state: the MAC states live on the stack
        // and the keyring is borrowed, not reference-counted.
        let header = SignatureHeader::parse(header)?;
        self.admit(&header, now)?;
        self.check_len(body.len() as u64)?;
        let keys = self.keys.load();
        let mut matched = None;
        for (index, key) in keys.iter().enumerate() {
            if key.usable_at(now) {
                let expected = key.mac.tag(header.scheme(), header.timestamp(), body);
                if bool::from(header.matches(&expected)) && matched.is_none() {
                    matched = Some((index, key.id.clone()));
                }
            }
        }
        let (index, id) = matched.ok_or(Error::SignatureMismatch)?;
        Ok(Verified::matched(&header, index, id, body.len() as u64))
    }

    /// Verifies, then parses the body into an [`Event`].
    ///
    /// # Errors
    ///
    /// A signature error, or [`Error::InvalidPayload`] when the signed body is
    /// not a Fluxbase payload.
    pub fn verify_event(&self, header: impl AsRef<[u8]>, body: &[u8]) -> Result<Event, Error> {
        self.verify(header, body)?;
        Event::from_slice(body)
    }

    /// Verifies using the signature header found in `headers` (see
    /// [`Verifier::legacy_header`]).
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify`]; a signature header sent twice is malformed.
    pub fn verify_headers(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Verified, Error> {
        self.verify_at(self.select_http_header(headers)?, body, crate::clock::now())
    }

    /// Starts an incremental verification: the header is parsed and the
    /// timestamp checked now, so a stale or malformed delivery is refused
    /// before any of its body is read. Feed the body with
    /// [`Verification::update`], then call [`Verification::finish`].
    ///
    /// ```
    /// use fluxbase_webhooks::{Signer, Verifier};
    ///
    /// let header = Signer::new("s").sign_now(b"hello world").to_string();
    /// let mut v = Verifier::new("s").begin(&header)?;
    /// v.update(b"hello ")?;
    /// v.update(b"world")?;
    /// let verified = v.finish()?;
    /// assert_eq!(verified.key_index(), 0);
    /// # Ok::<(), fluxbase_webhooks::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Missing or malformed header, scheme not accepted, timestamp out of
    /// the window.
    pub fn begin(&self, header: impl AsRef<[u8]>) -> Result<Verification, Error> {
        self.begin_at(header, crate::clock::now())
    }

    /// [`Verifier::begin`] with the clock given.
    ///
    /// # Errors
    ///
    /// As [`Verifier::begin`].
    pub fn begin_at(
        &self,
        header: impl AsRef<[u8]>,
        now: SystemTime,
    ) -> Result<Verification, Error> {
        let header = SignatureHeader::parse(header)?;
        self.begin_parsed(header, now)
    }

    /// [`Verifier::begin`] over a header map (see [`Verifier::verify_headers`]).
    ///
    /// # Errors
    ///
    /// As [`Verifier::begin`].
    pub fn begin_headers_at(
        &self,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> Result<Verification, Error> {
        let value = self.select_http_header(headers)?;
        self.begin_at(value, now)
    }

    /// [`Verifier::select_header`] over an `http` header map.
    pub(crate) fn select_http_header<'h>(
        &self,
        headers: &'h http::HeaderMap,
    ) -> Result<&'h [u8], Error> {
        // Names parsed once, not at every lookup; the legacy header is
        // looked up only when it is read.
        static NAME: http::HeaderName = http::HeaderName::from_static(SIGNATURE_HEADER);
        static LEGACY_NAME: http::HeaderName =
            http::HeaderName::from_static(LEGACY_SIGNATURE_HEADER);
        let values = |name| headers.get_all(name).into_iter().map(|v| v.as_bytes());
        if self.legacy_header {
            self.select_header(values(&NAME), values(&LEGACY_NAME))
        } else {
            self.select_header(values(&NAME), std::iter::empty())
        }
    }

    /// Picks the header value to verify from every value of
    /// `X-Fluxbase-Signature` and of `X-Webhook-Signature`, whatever the HTTP
    /// library. Framework adapters call this.
    pub(crate) fn select_header<'h>(
        &self,
        mut fluxbase: impl Iterator<Item = &'h [u8]>,
        mut legacy: impl Iterator<Item = &'h [u8]>,
    ) -> Result<&'h [u8], Error> {
        let pick = |first: Option<&'h [u8]>, rest: &mut dyn Iterator<Item = &'h [u8]>| {
            first.map(|value| match rest.next() {
                Some(_) => Err(Error::MalformedSignature(Malformed::DuplicateHeader)),
                None => Ok(value),
            })
        };
        let first = fluxbase.next();
        if let Some(found) = pick(first, &mut fluxbase) {
            return found;
        }
        if self.legacy_header {
            let first = legacy.next();
            if let Some(found) = pick(first, &mut legacy) {
                let value = found?;
                // The legacy header only ever held bare hex over the body.
                let header = SignatureHeader::parse(value)?;
                return if header.scheme() == Scheme::Hex {
                    Ok(value)
                } else {
                    Err(Malformed::InvalidHex.into())
                };
            }
        }
        Err(Error::MissingSignature)
    }

    /// Starts an incremental verification from an already parsed header.
    ///
    /// # Errors
    ///
    /// Scheme not accepted, timestamp out of the window.
    pub fn begin_parsed(
        &self,
        header: SignatureHeader,
        now: SystemTime,
    ) -> Result<Verification, Error> {
        self.admit(&header, now)?;
        let macs = self
            .keys
            .load()
            .iter()
            .enumerate()
            .filter(|(_, k)| k.usable_at(now))
            .map(|(index, k)| KeyState {
                index,
                id: k.id.clone(),
                mac: k.mac.start(header.scheme(), header.timestamp()),
            })
            .collect();
        Ok(Verification {
            header,
            macs,
            len: 0,
            limit: self.body_limit,
            over_limit: false,
        })
    }

    /// Whether the header's scheme is accepted and its timestamp, if any,
    /// inside the window.
    fn admit(&self, header: &SignatureHeader, now: SystemTime) -> Result<(), Error> {
        let scheme = header.scheme();
        if !self.schemes.contains(scheme) {
            return Err(Malformed::SchemeNotAllowed(scheme).into());
        }
        match header.timestamp() {
            Some(t) => self.check_window(t, now),
            None => Ok(()),
        }
    }

    fn check_window(&self, t: i64, now: SystemTime) -> Result<(), Error> {
        const NANOS: i128 = 1_000_000_000;
        let now_ns = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        // Positive: the timestamp is in the past.
        let age_ns = now_ns - i128::from(t) * NANOS;
        if age_ns > self.tolerance.as_nanos() as i128 {
            return Err(Error::TimestampTooOld {
                age_secs: u64::try_from(age_ns / NANOS).unwrap_or(u64::MAX),
                tolerance_secs: self.tolerance.as_secs(),
            });
        }
        if -age_ns > self.max_skew.as_nanos() as i128 {
            return Err(Error::TimestampInFuture {
                ahead_secs: u64::try_from(-age_ns / NANOS).unwrap_or(u64::MAX),
                max_skew_secs: self.max_skew.as_secs(),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.load().len())
            .field("tolerance", &self.tolerance)
            .field("max_skew", &self.max_skew)
            .field("schemes", &self.schemes)
            .field("legacy_header", &self.legacy_header)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

/// An incremental verification in progress: [`Verifier::begin`], then
/// [`update`](Verification::update) with each chunk of the body as it
/// arrives, then [`finish`](Verification::finish).
///
/// Feeding the body in any chunking gives the same answer as
/// [`Verifier::verify`] over the whole body.
pub struct Verification {
    header: SignatureHeader,
    /// One state per key usable when the verification began; two fit inline
    /// (a secret and the one it replaces).
    macs: SmallVec<[KeyState; 2]>,
    len: u64,
    limit: u64,
    over_limit: bool,
}

/// A key's MAC state during an incremental verification.
struct KeyState {
    index: usize,
    id: Option<Arc<str>>,
    mac: HmacSha256,
}

impl Verification {
    /// Feeds the next chunk of the body.
    ///
    /// # Errors
    ///
    /// [`Error::PayloadTooLarge`] once the body passes the verifier's limit;
    /// the chunk that passes it is not hashed, and every later call (and
    /// [`finish`](Verification::finish)) fails the same way.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let len = self.len.saturating_add(chunk.len() as u64);
        if self.over_limit || len > self.limit {
            self.over_limit = true;
            return Err(Error::PayloadTooLarge { limit: self.limit });
        }
        self.len = len;
        for state in &mut self.macs {
            state.mac.update(chunk);
        }
        Ok(())
    }

    /// Bytes fed so far.
    pub fn body_len(&self) -> u64 {
        self.len
    }

    /// The parsed header being checked.
    pub fn header(&self) -> &SignatureHeader {
        &self.header
    }

    /// Compares every key's tag with every signature in the header, in
    /// constant time.
    ///
    /// # Errors
    ///
    /// [`Error::SignatureMismatch`] when nothing matches;
    /// [`Error::PayloadTooLarge`] when the body passed the limit.
    pub fn finish(self) -> Result<Verified, Error> {
        if self.over_limit {
            return Err(Error::PayloadTooLarge { limit: self.limit });
        }
        let mut matched = None;
        for state in self.macs {
            let expected = finish(state.mac);
            if bool::from(self.header.matches(&expected)) && matched.is_none() {
                matched = Some((state.index, state.id));
            }
        }
        let (index, id) = matched.ok_or(Error::SignatureMismatch)?;
        Ok(Verified::matched(&self.header, index, id, self.len))
    }
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verification")
            .field("header", &self.header)
            .field("keys", &self.macs.len())
            .field("body_len", &self.len)
            .finish()
    }
}

/// What was verified, optionally with the body it was verified over.
///
/// `Verified` (that is, `Verified<()>`) is what [`Verifier::verify`]
/// returns. `Verified<Bytes>` (or any body type) carries the raw body along,
/// so it can be queued now and parsed later without parsing twice.
///
/// ```
/// use fluxbase_webhooks::{Scheme, Signer, Verifier};
///
/// let body = br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#.to_vec();
/// let header = Signer::new("s").sign_now(&body).to_string();
/// let verified = Verifier::new("s").verify(&header, &body)?.with_body(body);
/// assert_eq!(verified.scheme(), Scheme::Timestamped);
/// let event = verified.event()?;
/// assert_eq!(event.name(), "TEST");
/// # Ok::<(), fluxbase_webhooks::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Verified<B = ()> {
    scheme: Scheme,
    timestamp: Option<i64>,
    key_index: usize,
    key_id: Option<Arc<str>>,
    body_len: u64,
    body: B,
}

impl Verified {
    fn matched(
        header: &SignatureHeader,
        key_index: usize,
        key_id: Option<Arc<str>>,
        body_len: u64,
    ) -> Self {
        Self {
            scheme: header.scheme(),
            timestamp: header.timestamp(),
            key_index,
            key_id,
            body_len,
            body: (),
        }
    }
}

impl<B> Verified<B> {
    /// The scheme of the header that matched.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The signed `t=` value (timestamped scheme only).
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// Index in the keyring of the key that matched.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Id of the key that matched, if it has one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Length of the verified body in bytes.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// The body carried along.
    pub fn body(&self) -> &B {
        &self.body
    }

    /// Takes the body out.
    pub fn into_body(self) -> B {
        self.body
    }

    /// Attaches a body (what was verified stays the same).
    pub fn with_body<T>(self, body: T) -> Verified<T> {
        self.map_body(|_| body)
    }

    /// Replaces the body with `f(body)`.
    pub fn map_body<T>(self, f: impl FnOnce(B) -> T) -> Verified<T> {
        Verified {
            scheme: self.scheme,
            timestamp: self.timestamp,
            key_index: self.key_index,
            key_id: self.key_id,
            body_len: self.body_len,
            body: f(self.body),
        }
    }

    /// What was verified, without the body.
    pub fn info(&self) -> Verified {
        Verified {
            scheme: self.scheme,
            timestamp: self.timestamp,
            key_index: self.key_index,
            key_id: self.key_id.clone(),
            body_len: self.body_len,
            body: (),
        }
    }
}

impl<B: AsRef<[u8]>> Verified<B> {
    /// Parses the carried body into an [`Event`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPayload`] when the body is not a Fluxbase payload.
    pub fn event(&self) -> Result<Event, Error> {
        Event::from_slice(self.body.as_ref())
    }
}

impl<B> fmt::Debug for Verified<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp)
            .field("key_index", &self.key_index)
            .field("key_id", &self.key_id)
            .field("body_len", &self.body_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signer;

    const BODY: &[u8] = br#"{"event":"INSERT","table":"users"}"#;
    const T: i64 = 1_234_567_890;

    fn at(secs: i64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    }

    fn header(secret: &str, t: i64) -> String {
        Signer::new(secret)
            .sign(Scheme::Timestamped, t, BODY)
            .to_string()
    }

    #[test]
    fn contract_vector_verifies() {
        let v = Verifier::new("test-secret");
        let h = "t=1234567890,v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c";
        let ok = v.verify_at(h, BODY, at(T, 0)).unwrap();
        assert_eq!(
            (ok.scheme(), ok.timestamp(), ok.key_index()),
            (Scheme::Timestamped, Some(T), 0)
        );
        assert_eq!(
            v.verify_at(
                h.to_uppercase().replace("T=", "t=").replace("V1=", "v1="),
                BODY,
                at(T, 0)
            )
            .unwrap()
            .key_index(),
            0
        );
    }

    #[test]
    fn window_edges_match_the_server() {
        let v = Verifier::new("test-secret").max_skew(DEFAULT_TOLERANCE);
        let h = header("test-secret", T);
        // Exactly the tolerance old, with a fraction of a second: too old.
        assert!(matches!(
            v.verify_at(&h, BODY, at(T + 300, 1)),
            Err(Error::TimestampTooOld {
                age_secs: 300,
                tolerance_secs: 300
            })
        ));
        assert!(v.verify_at(&h, BODY, at(T + 300, 0)).is_ok());
        // t = now + tolerance is fine; one more second is the future.
        assert!(v.verify_at(&h, BODY, at(T - 300, 0)).is_ok());
        assert!(matches!(
            v.verify_at(&h, BODY, at(T - 301, 0)),
            Err(Error::TimestampInFuture {
                ahead_secs: 301,
                ..
            })
        ));
    }

    #[test]
    fn separate_future_skew() {
        let v = Verifier::new("k");
        let h = header("k", T);
        assert!(v.verify_at(&h, BODY, at(T - 60, 0)).is_ok());
        assert!(matches!(
            v.verify_at(&h, BODY, at(T - 61, 0)),
            Err(Error::TimestampInFuture { .. })
        ));
        assert!(v.verify_at(&h, BODY, at(T + 299, 0)).is_ok());
    }

    #[test]
    fn rotation_reports_the_matching_key() {
        let v = Verifier::from_keys([Key::new("new").id("b"), Key::new("old").id("a")]);
        let ok = v.verify_at(header("old", T), BODY, at(T, 0)).unwrap();
        assert_eq!((ok.key_index(), ok.key_id()), (1, Some("a")));
        // A header carrying both tags reports the first key in the ring.
        let both = SignatureHeader::timestamped_multi(
            T,
            [
                Signer::new("old").tag(Scheme::Timestamped, T, BODY),
                Signer::new("new").tag(Scheme::Timestamped, T, BODY),
            ],
        )
        .unwrap();
        assert_eq!(
            v.verify_at(both.to_string(), BODY, at(T, 0))
                .unwrap()
                .key_index(),
            0
        );
    }

    #[test]
    fn expired_key_no_longer_matches() {
        let v = Verifier::from_keys([Key::new("old").not_after(at(T - 1, 0))]);
        assert_eq!(
            v.verify_at(header("old", T), BODY, at(T, 0)).unwrap_err(),
            Error::SignatureMismatch
        );
    }

    #[test]
    fn replace_keys_reaches_clones() {
        let v = Verifier::new("a");
        let clone = v.clone();
        v.replace_keys(["b"]);
        assert!(clone.verify_at(header("b", T), BODY, at(T, 0)).is_ok());
        assert!(clone.verify_at(header("a", T), BODY, at(T, 0)).is_err());
    }

    #[test]
    fn strict_policy_refuses_untimed_schemes() {
        let v = Verifier::new("k").schemes(Schemes::TIMESTAMPED_ONLY);
        let hex = Signer::new("k").sign(Scheme::Hex, 0, BODY).to_string();
        assert_eq!(
            v.verify(&hex, BODY).unwrap_err(),
            Error::MalformedSignature(Malformed::SchemeNotAllowed(Scheme::Hex))
        );
    }

    #[test]
    fn header_selection() {
        let hex = Signer::new("k").sign(Scheme::Hex, 0, BODY).to_string();
        let mut map = http::HeaderMap::new();
        map.insert(LEGACY_SIGNATURE_HEADER, hex.parse().unwrap());
        let v = Verifier::new("k");
        assert_eq!(
            v.verify_headers(&map, BODY).unwrap_err(),
            Error::MissingSignature
        );
        let v = v.legacy_header(true);
        assert_eq!(v.verify_headers(&map, BODY).unwrap().scheme(), Scheme::Hex);
        // When X-Fluxbase-Signature is present it wins, even if wrong.
        map.insert(SIGNATURE_HEADER, "t=1,v1=00".parse().unwrap());
        assert!(matches!(
            v.verify_headers(&map, BODY),
            Err(Error::TimestampTooOld { .. })
        ));
        map.append(SIGNATURE_HEADER, hex.parse().unwrap());
        assert_eq!(
            v.verify_headers(&map, BODY).unwrap_err(),
            Error::MalformedSignature(Malformed::DuplicateHeader)
        );
    }

    #[test]
    fn chunked_equals_one_shot() {
        let v = Verifier::new("k");
        let h = header("k", T);
        let mut inc = v.begin_at(&h, at(T, 0)).unwrap();
        for chunk in BODY.chunks(3) {
            inc.update(chunk).unwrap();
        }
        assert_eq!(inc.body_len(), BODY.len() as u64);
        assert_eq!(
            inc.finish().unwrap(),
            v.verify_at(&h, BODY, at(T, 0)).unwrap()
        );
    }

    #[test]
    fn body_limit_stops_hashing() {
        let v = Verifier::new("k").body_limit(10);
        let h = header("k", T);
        assert_eq!(
            v.verify_at(&h, BODY, at(T, 0)).unwrap_err(),
            Error::PayloadTooLarge { limit: 10 }
        );
        let mut inc = v.begin_at(&h, at(T, 0)).unwrap();
        inc.update(&BODY[..10]).unwrap();
        assert!(inc.update(&BODY[10..11]).is_err());
        assert!(inc.update(b"").is_err());
        assert_eq!(inc.body_len(), 10);
        assert_eq!(
            inc.finish().unwrap_err().code(),
            crate::Code::PayloadTooLarge
        );
        assert!(v.check_len(10).is_ok() && v.check_len(11).is_err());
    }

    #[test]
    fn errors_never_show_the_expected_tag() {
        let v = Verifier::new("k");
        let expected = Signer::new("k").hex_tag(Scheme::Timestamped, T, BODY);
        let err = v
            .verify_at(format!("t={T},v1={}", "0".repeat(64)), BODY, at(T, 0))
            .unwrap_err();
        assert!(!err.to_string().contains(&expected));
        assert!(!format!("{err:?}").contains(&expected));
    }
}
