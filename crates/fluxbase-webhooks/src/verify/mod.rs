//! [`Verifier`], [`VerifierBuilder`], [`Key`], [`Verification`] and
//! [`Verified`].
//!
//! Every delivery is checked for authenticity (an HMAC-SHA256 tag made with
//! a configured secret) and for freshness, whatever its scheme:
//!
//! - the timestamped scheme signs its own time (`t=`), checked before any of
//!   the body is read;
//! - the schemes without a timestamp (bare hex, `sha256=`, the legacy
//!   header) are dated by the signed body's own `timestamp` field, which the
//!   Fluxbase server sets to the time of each attempt. A date at the end of
//!   the body, where the server writes it, is checked before the tag (a
//!   stale capture is refused as stale whatever its tag); any date is
//!   checked once the tag has matched. A body without a usable `timestamp`
//!   is refused ([`Error::MissingTimestamp`]).
//!
//! Both dates are held to the same window: at most
//! [`tolerance`](VerifierBuilder::tolerance) old and at most
//! [`future_skew`](VerifierBuilder::future_skew) ahead. A captured delivery
//! therefore stops verifying once it leaves the window; a receiver's replay
//! cache refuses it inside the window.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::error::{ConfigError, Error, Malformed};
use crate::event::Event;
use crate::secret::Secret;
use crate::sign::KeyedMac;
use crate::signature::{Scheme, Schemes, SignatureHeader};

mod incremental;
mod verified;

use self::incremental::Matched;
pub use self::incremental::Verification;
#[cfg(feature = "receive")]
pub(crate) use self::incremental::body_date;
pub use self::verified::Verified;

/// The header Fluxbase puts its signatures in.
pub const SIGNATURE_HEADER: &str = "x-fluxbase-signature";
/// The legacy header (bare hex over the body), read only when enabled with
/// [`VerifierBuilder::legacy_header`].
pub const LEGACY_SIGNATURE_HEADER: &str = "x-webhook-signature";

/// Default past tolerance: 300 s.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default future skew: 60 s.
pub const DEFAULT_FUTURE_SKEW: Duration = Duration::from_secs(60);

/// One secret in a verifier's keyring.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use fluxbase_webhooks::{Key, Verifier};
///
/// let retire_at = SystemTime::now() + Duration::from_secs(24 * 3600);
/// let verifier = Verifier::builder()
///     .key(Key::new("whsec-2026-11").id("2026-11"))
///     .key(Key::new("whsec-2026-10").id("2026-10").not_after(retire_at))
///     .build()?;
/// assert_eq!(verifier.key_ids(), [Some("2026-11".to_owned()), Some("2026-10".to_owned())]);
/// # Ok::<(), fluxbase_webhooks::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Key {
    id: Option<Arc<str>>,
    not_after: Option<SystemTime>,
    mac: KeyedMac,
    empty: bool,
}

impl Key {
    /// A key for `secret`, with no id and no expiry. An empty secret is
    /// refused when the verifier is built.
    pub fn new(secret: impl Into<Secret>) -> Self {
        let secret = secret.into();
        Self {
            id: None,
            not_after: None,
            mac: KeyedMac::new(&secret),
            empty: secret.is_empty(),
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

type Keyring = Vec<Key>;

fn checked_keyring(keys: Keyring) -> Result<Keyring, ConfigError> {
    if keys.is_empty() {
        Err(ConfigError::NoSecret)
    } else if keys.iter().any(|k| k.empty) {
        Err(ConfigError::EmptySecret)
    } else {
        Ok(keys)
    }
}

/// The time rules of a verifier.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    tolerance: Duration,
    future_skew: Duration,
    stale_untimestamped: bool,
}

impl Window {
    /// Whether a delivery dated `at` (nanoseconds since the epoch) may be
    /// accepted at `now`.
    fn check(&self, at_ns: i128, now: SystemTime) -> Result<(), Error> {
        const NANOS: i128 = 1_000_000_000;
        let now_ns = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        // Positive: the date is in the past.
        let age_ns = now_ns - at_ns;
        if age_ns > self.tolerance.as_nanos() as i128 {
            return Err(Error::TimestampTooOld {
                age_secs: u64::try_from(age_ns / NANOS).unwrap_or(u64::MAX),
                tolerance_secs: self.tolerance.as_secs(),
            });
        }
        if -age_ns > self.future_skew.as_nanos() as i128 {
            return Err(Error::TimestampInFuture {
                ahead_secs: u64::try_from(-age_ns / NANOS).unwrap_or(u64::MAX),
                future_skew_secs: self.future_skew.as_secs(),
            });
        }
        Ok(())
    }

    /// The header's `t`, for the timestamped scheme.
    pub(crate) fn check_header(
        &self,
        header: &SignatureHeader,
        now: SystemTime,
    ) -> Result<(), Error> {
        match header.timestamp() {
            Some(t) => self.check(i128::from(t) * 1_000_000_000, now),
            None => Ok(()),
        }
    }

    /// For a scheme without a timestamp, the date at the end of the body
    /// (where the Fluxbase server writes it) checked before any tag is
    /// compared, as the timestamped scheme's `t` is: a stale capture of a
    /// real delivery is refused as stale whatever its tag, so the answer
    /// says nothing of whether its secret is still in use. Only that read
    /// from the end, no parse: a body laid out otherwise is dated once its
    /// tag matched, and nothing unauthenticated is parsed. The date is not
    /// authenticated yet, so it can only refuse; it is checked again once
    /// a tag has matched.
    pub(crate) fn check_date_first(
        &self,
        header: &SignatureHeader,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Error> {
        if header.timestamp().is_some() {
            return Ok(());
        }
        match incremental::trailing_date(body) {
            Some(date) => self.check_body_date(Some(date), now).map(drop),
            None => Ok(()),
        }
    }

    /// The body's `timestamp` (RFC 3339), for the schemes whose header has
    /// none. Returns the date in whole seconds.
    pub(crate) fn check_body_date(
        &self,
        timestamp: Option<&str>,
        now: SystemTime,
    ) -> Result<Option<i64>, Error> {
        let date = timestamp.and_then(|t| crate::Timestamp::parse(t).ok());
        if self.stale_untimestamped {
            return Ok(date.map(|d| d.unix_timestamp()));
        }
        let date = date.ok_or(Error::MissingTimestamp)?;
        let at_ns =
            i128::from(date.unix_timestamp()) * 1_000_000_000 + i128::from(date.nanosecond());
        self.check(at_ns, now)?;
        Ok(Some(date.unix_timestamp()))
    }

    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    /// How long from `now` a replay store must remember a delivery dated
    /// `dated` (whole Unix seconds) that verified under `scheme`: as long as
    /// any copy of it can still verify, with a second to spare. Under the
    /// timestamped scheme that is its own `t`'s window (the body's
    /// `timestamp`, which the legacy copies are dated by, is set before
    /// `t`). Under an untimestamped one, or undated, it is the longest any
    /// delivery can verify: the body is dated before its `t=` copy was
    /// signed, by an unknown margin, and that copy must not outlive the key.
    /// `None` when stale deliveries of an untimestamped scheme are
    /// accepted.
    pub(crate) fn replay_horizon(
        &self,
        scheme: Scheme,
        dated: Option<i64>,
        now: SystemTime,
    ) -> Option<Duration> {
        const SPARE: Duration = Duration::from_secs(1);
        if scheme != Scheme::Timestamped && self.stale_untimestamped {
            return None;
        }
        let longest = self
            .tolerance
            .saturating_add(self.future_skew)
            .saturating_add(SPARE);
        if scheme != Scheme::Timestamped {
            return Some(longest);
        }
        // The date is floored to the second: it verifies until at most a
        // second past `dated + tolerance`.
        let until = dated
            .and_then(|t| u64::try_from(t.checked_add(1)?).ok())
            .and_then(|t| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(t)))
            .and_then(|t| t.checked_add(self.tolerance));
        Some(match until {
            Some(until) => until
                .duration_since(now)
                .unwrap_or_default()
                .saturating_add(SPARE)
                .min(longest),
            None => longest,
        })
    }
}

/// Verifies Fluxbase webhook signatures.
///
/// A verifier holds a keyring (any listed secret may match, so secrets can
/// be rotated), the time window every delivery must fall in, the schemes it
/// accepts, and whether the legacy `X-Webhook-Signature` header is read.
/// Build one with [`Verifier::new`] or [`Verifier::builder`]; it is cheap to
/// clone and can be shared across threads. Clones share the keyring, so
/// [`Verifier::replace_keys`] reaches every one of them.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::{Signer, Verifier};
///
/// let verifier = Verifier::builder()
///     .secret("whsec-current")
///     .secret("whsec-previous")
///     .tolerance(Duration::from_secs(300))
///     .future_skew(Duration::from_secs(60))
///     .build()?;
///
/// // What the Fluxbase server would send, signed with the old secret:
/// let body = br#"{"event":"INSERT","table":"users","schema":"auth","record":{"id":"1"},"timestamp":"2026-01-02T03:04:05Z"}"#;
/// let header = Signer::new("whsec-previous")?.sign_now(body).to_string();
///
/// let verified = verifier.verify(&header, body)?;
/// assert_eq!(verified.key_index(), 1);
/// assert_eq!(verifier.tolerance(), Duration::from_secs(300));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<ArcSwap<Keyring>>,
    window: Window,
    schemes: Schemes,
    legacy_header: bool,
}

impl Verifier {
    /// A verifier with one secret and the default settings: every scheme,
    /// each checked for freshness, 300 s tolerance, 60 s future skew, the
    /// legacy header not read.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptySecret`] when `secret` is empty.
    pub fn new(secret: impl Into<Secret>) -> Result<Self, ConfigError> {
        Self::builder().secret(secret).build()
    }

    /// A builder, for several secrets or other settings.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// How old a delivery may be.
    pub fn tolerance(&self) -> Duration {
        self.window.tolerance
    }

    /// How far in the future a delivery may be dated.
    pub fn future_skew(&self) -> Duration {
        self.window.future_skew
    }

    /// The accepted schemes.
    pub fn schemes(&self) -> Schemes {
        self.schemes
    }

    /// Whether the legacy `X-Webhook-Signature` header is read.
    pub fn legacy_header(&self) -> bool {
        self.legacy_header
    }

    /// Whether untimestamped signatures are accepted without a fresh body
    /// date (see [`VerifierBuilder::danger_accept_stale_untimestamped`]).
    pub fn danger_accept_stale_untimestamped(&self) -> bool {
        self.window.stale_untimestamped
    }

    /// The ids of the current keys, in keyring order (`None` for keys
    /// without one).
    pub fn key_ids(&self) -> Vec<Option<String>> {
        self.keys
            .load()
            .iter()
            .map(|k| k.id.as_deref().map(str::to_owned))
            .collect()
    }

    /// Swaps the whole keyring at runtime, for this verifier and every clone
    /// sharing its keyring. Requests already being verified finish with the
    /// keys they started with.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for an empty keyring or an empty secret; the keyring
    /// in use is then left as it was.
    pub fn replace_keys<K: Into<Key>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), ConfigError> {
        let keys = checked_keyring(keys.into_iter().map(Into::into).collect())?;
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// Verifies `body` against a signature header value, at the current time.
    ///
    /// # Errors
    ///
    /// Any signature [`Error`]: missing, malformed, mismatch, too old, in the
    /// future, or [`Error::MissingTimestamp`] for an untimestamped scheme
    /// over a body without a usable `timestamp`.
    ///
    /// # Security
    ///
    /// Tags are compared in constant time after hex decoding; no error
    /// carries the expected value.
    pub fn verify(&self, header: impl AsRef<[u8]>, body: &[u8]) -> Result<Verified, Error> {
        self.verify_at(header, body, crate::clock::now())
    }

    /// [`Verifier::verify`] with the clock given, for tests and replays of
    /// recorded traffic.
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
        // `finish`, without their state: each key's MAC state lives on the
        // stack and the keyring is borrowed.
        let header = SignatureHeader::parse(header)?;
        self.admit(&header, now)?;
        self.window.check_date_first(&header, body, now)?;
        let keys = self.keys.load();
        let (scheme, t) = (header.scheme(), header.timestamp());
        let tags = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.usable_at(now))
            .map(|(index, key)| (index, key.id.clone(), key.mac.tag(scheme, t, body)));
        Matched::first(header, tags, body.len() as u64, self.window, now)?.fresh_by(body)
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

    /// Starts an incremental verification: the header is parsed and, for
    /// the timestamped scheme, its time checked now, so a stale or malformed
    /// delivery is refused before any of its body is read. Feed the body
    /// with [`Verification::update`], then call [`Verification::finish`].
    ///
    /// ```
    /// use fluxbase_webhooks::{Signer, Verifier};
    ///
    /// let body = br#"{"event":"TEST","table":"test","schema":"public","record":{"test":true},"timestamp":"2026-01-02T03:04:05Z"}"#;
    /// let header = Signer::new("s")?.sign_now(body).to_string();
    /// let mut v = Verifier::new("s")?.begin(&header)?;
    /// for chunk in body.chunks(16) {
    ///     v.update(chunk);
    /// }
    /// let verified = v.finish(body)?;
    /// assert_eq!(verified.key_index(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
        self.begin_parsed(SignatureHeader::parse(header)?, now)
    }

    /// Starts an incremental verification from an already parsed header.
    pub(crate) fn begin_parsed(
        &self,
        header: SignatureHeader,
        now: SystemTime,
    ) -> Result<Verification, Error> {
        self.admit(&header, now)?;
        let keys = self.keys.load();
        let usable = keys.iter().enumerate().filter(|(_, k)| k.usable_at(now));
        Ok(Verification::new(
            header,
            usable.map(|(index, k)| (index, k.id.clone(), &k.mac)),
            self.window,
            now,
        ))
    }

    /// Whether the header's scheme is accepted and its time, if it has one,
    /// inside the window.
    fn admit(&self, header: &SignatureHeader, now: SystemTime) -> Result<(), Error> {
        let scheme = header.scheme();
        if !self.schemes.contains(scheme) {
            return Err(Malformed::SchemeNotAllowed(scheme).into());
        }
        self.window.check_header(header, now)
    }

    /// Picks the header value to verify from every value of
    /// `X-Fluxbase-Signature` and of `X-Webhook-Signature`, whatever the HTTP
    /// library (the integrations call it; so can your own): the
    /// `X-Fluxbase-Signature` value when there is one (sent twice is
    /// malformed), else the legacy value when the legacy header is read, and
    /// then only as bare hex. A failed check never falls back to the other
    /// header.
    ///
    /// ```
    /// use fluxbase_webhooks::{Error, Verifier};
    ///
    /// let verifier = Verifier::new("whsec-example")?;
    /// let legacy: &[u8] = b"0defc2da2b7c744284a38aec7fa2a03bd1de708c643e9e5a89b494e7b37fd57c";
    /// let picked = verifier.select_header([b"t=1,v1=00".as_slice()], [legacy]);
    /// assert_eq!(picked?, b"t=1,v1=00");
    /// // Only the legacy header, which this verifier does not read:
    /// assert_eq!(verifier.select_header([], [legacy]), Err(Error::LegacySignatureOnly));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MissingSignature`], [`Error::LegacySignatureOnly`] when only
    /// the legacy header came and it is not read, or a malformed header.
    pub fn select_header<'h>(
        &self,
        fluxbase: impl IntoIterator<Item = &'h [u8]>,
        legacy: impl IntoIterator<Item = &'h [u8]>,
    ) -> Result<&'h [u8], Error> {
        let mut fluxbase = fluxbase.into_iter();
        let mut legacy = legacy.into_iter();
        let only = |first: &'h [u8], rest: &mut dyn Iterator<Item = &'h [u8]>| match rest.next() {
            Some(_) => Err(Error::MalformedSignature(Malformed::DuplicateHeader)),
            None => Ok(first),
        };
        if let Some(first) = fluxbase.next() {
            return only(first, &mut fluxbase);
        }
        let Some(first) = legacy.next() else {
            return Err(Error::MissingSignature);
        };
        if !self.legacy_header {
            return Err(Error::LegacySignatureOnly);
        }
        let value = only(first, &mut legacy)?;
        // The legacy header only ever held bare hex over the body.
        if SignatureHeader::parse(value)?.scheme() == Scheme::Hex {
            Ok(value)
        } else {
            Err(Malformed::InvalidHex.into())
        }
    }

    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    pub(crate) fn window(&self) -> Window {
        self.window
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.load().len())
            .field("tolerance", &self.window.tolerance)
            .field("future_skew", &self.window.future_skew)
            .field("schemes", &self.schemes)
            .field("legacy_header", &self.legacy_header)
            .field(
                "danger_accept_stale_untimestamped",
                &self.window.stale_untimestamped,
            )
            .finish()
    }
}

/// Builds a [`Verifier`]. Setters never fail; [`VerifierBuilder::build`]
/// reports what is wrong.
///
/// ```
/// use std::time::Duration;
/// use fluxbase_webhooks::{ConfigError, Schemes, Verifier};
///
/// let strict = Verifier::builder()
///     .secret("whsec-current")
///     .schemes(Schemes::TIMESTAMPED)
///     .tolerance(Duration::from_secs(120))
///     .build()?;
/// assert_eq!(strict.schemes(), Schemes::TIMESTAMPED);
///
/// assert_eq!(Verifier::builder().secret("").build().unwrap_err(), ConfigError::EmptySecret);
/// assert_eq!(Verifier::builder().build().unwrap_err(), ConfigError::NoSecret);
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct VerifierBuilder {
    keys: Keyring,
    window: Window,
    schemes: Schemes,
    legacy_header: bool,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            window: Window {
                tolerance: DEFAULT_TOLERANCE,
                future_skew: DEFAULT_FUTURE_SKEW,
                stale_untimestamped: false,
            },
            schemes: Schemes::ALL,
            legacy_header: false,
        }
    }
}

impl VerifierBuilder {
    /// Adds a secret to the keyring. Several secrets make a rotation: a
    /// delivery signed with any of them verifies, and [`Verified::key_index`]
    /// tells which.
    pub fn secret(self, secret: impl Into<Secret>) -> Self {
        self.key(Key::new(secret))
    }

    /// Adds a [`Key`] (a secret with an id or an expiry).
    pub fn key(mut self, key: impl Into<Key>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Adds every key of `keys`.
    pub fn keys<K: Into<Key>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// How old a delivery may be (default 300 s): its `t=`, or the body's
    /// `timestamp` for the schemes without one.
    pub fn tolerance(mut self, past: Duration) -> Self {
        self.window.tolerance = past;
        self
    }

    /// How far in the future a delivery may be dated (default 60 s), to
    /// absorb clock differences.
    pub fn future_skew(mut self, future: Duration) -> Self {
        self.window.future_skew = future;
        self
    }

    /// Which schemes are accepted (default [`Schemes::ALL`], each checked
    /// for freshness; [`Schemes::TIMESTAMPED`] accepts only what the
    /// current server sends in `X-Fluxbase-Signature`).
    pub fn schemes(mut self, schemes: Schemes) -> Self {
        self.schemes = schemes;
        self
    }

    /// Also read the legacy `X-Webhook-Signature` header (bare hex over the
    /// body) when `X-Fluxbase-Signature` is absent, as servers before
    /// 2026-01 send only it. Off by default. Its deliveries are dated by
    /// their body like any untimestamped scheme.
    ///
    /// # Security
    ///
    /// It is read only when `X-Fluxbase-Signature` is absent, never as a
    /// fallback after a failed check.
    pub fn legacy_header(mut self, enabled: bool) -> Self {
        self.legacy_header = enabled;
        self
    }

    /// **Unsafe.** Accepts signatures without a timestamp (bare hex,
    /// `sha256=`, the legacy header) over bodies whose `timestamp` is stale,
    /// in the future or missing. Off by default.
    ///
    /// # Security
    ///
    /// Every Fluxbase delivery carries the bare HMAC of its body in the
    /// legacy header, so with this on, anyone who has seen one delivery can
    /// replay it, in any of these schemes, for as long as the receiver's
    /// replay store forgets it (24 h by default) and forever after. Use it
    /// only to re-verify recorded traffic, never on a public endpoint.
    pub fn danger_accept_stale_untimestamped(mut self, accept: bool) -> Self {
        self.window.stale_untimestamped = accept;
        self
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoSecret`] without any secret,
    /// [`ConfigError::EmptySecret`] when one is empty.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        Ok(Verifier {
            keys: Arc::new(ArcSwap::from_pointee(checked_keyring(self.keys)?)),
            window: self.window,
            schemes: self.schemes,
            legacy_header: self.legacy_header,
        })
    }
}

#[cfg(test)]
mod tests;
