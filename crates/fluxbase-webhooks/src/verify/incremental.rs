//! [`Verification`]: verifying a body chunk by chunk as it arrives.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use hmac::Mac;
use smallvec::SmallVec;

use super::{Verified, Window};
use crate::error::Error;
use crate::sign::{HmacSha256, KeyedMac, finish};
use crate::signature::{SignatureHeader, Tag};

/// An incremental verification in progress: [`Verifier::begin`], then
/// [`update`](Verification::update) with each chunk of the body as it
/// arrives, then [`finish`](Verification::finish).
///
/// Feeding the body in any chunking gives the same answer as
/// [`Verifier::verify`] over the whole body. Nothing limits how much is
/// fed: a receiver reading from the network enforces its own body limit.
///
/// [`Verifier::begin`]: crate::Verifier::begin
/// [`Verifier::verify`]: crate::Verifier::verify
pub struct Verification {
    header: SignatureHeader,
    /// One state per key usable when the verification began; two fit inline
    /// (a secret and the one it replaces).
    macs: SmallVec<[KeyState; 2]>,
    len: u64,
    window: Window,
    now: SystemTime,
}

/// A key's MAC state during an incremental verification.
struct KeyState {
    index: usize,
    id: Option<Arc<str>>,
    mac: HmacSha256,
}

/// A verification whose tag matched, waiting for the freshness check of a
/// scheme without a timestamp.
pub(crate) struct Matched {
    header: SignatureHeader,
    index: usize,
    id: Option<Arc<str>>,
    len: u64,
    window: Window,
    now: SystemTime,
}

impl Verification {
    pub(super) fn new<'k>(
        header: SignatureHeader,
        keys: impl Iterator<Item = (usize, Option<Arc<str>>, &'k KeyedMac)>,
        window: Window,
        now: SystemTime,
    ) -> Self {
        let macs = keys
            .map(|(index, id, mac)| KeyState {
                index,
                id,
                mac: mac.start(header.scheme(), header.timestamp()),
            })
            .collect();
        Self {
            header,
            macs,
            len: 0,
            window,
            now,
        }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        self.len = self.len.saturating_add(chunk.len() as u64);
        for state in &mut self.macs {
            state.mac.update(chunk);
        }
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
    /// constant time, then, for a scheme without a timestamp, checks the
    /// date in `body`'s `timestamp` field.
    ///
    /// `body` is the body that was fed. It is read only for that date: a
    /// date at its end (where the server writes it) is checked before the
    /// tags too, so that a stale delivery is refused as stale whatever its
    /// tag, as under the timestamped scheme; it is parsed only once the tag
    /// matched. For the timestamped scheme it is not read at all.
    ///
    /// # Errors
    ///
    /// [`Error::SignatureMismatch`] when nothing matches; for a scheme
    /// without a timestamp, [`Error::MissingTimestamp`] or a date outside the
    /// window.
    pub fn finish(self, body: &[u8]) -> Result<Verified, Error> {
        self.check_date_first(body, self.now)?;
        self.finish_tags()?.fresh_by(body)
    }

    /// [`Window::check_date_first`] for this verification's header.
    pub(crate) fn check_date_first(&self, body: &[u8], now: SystemTime) -> Result<(), Error> {
        self.window.check_date_first(&self.header, body, now)
    }

    /// The tag comparison alone; the caller checks freshness with
    /// [`Matched::fresh`] (receivers do, from the one parse of the body).
    pub(crate) fn finish_tags(self) -> Result<Matched, Error> {
        let tags = self
            .macs
            .into_iter()
            .map(|state| (state.index, state.id, finish(state.mac)));
        Matched::first(self.header, tags, self.len, self.window, self.now)
    }
}

impl Matched {
    /// The first key whose tag is in the header. Every tag is compared, in
    /// constant time, whichever matches.
    pub(super) fn first(
        header: SignatureHeader,
        tags: impl Iterator<Item = (usize, Option<Arc<str>>, Tag)>,
        len: u64,
        window: Window,
        now: SystemTime,
    ) -> Result<Self, Error> {
        let mut matched = None;
        for (index, id, expected) in tags {
            if bool::from(header.matches(&expected)) && matched.is_none() {
                matched = Some((index, id));
            }
        }
        let (index, id) = matched.ok_or(Error::SignatureMismatch)?;
        Ok(Self {
            header,
            index,
            id,
            len,
            window,
            now,
        })
    }

    /// Judges freshness at `now` instead of when the verification began: a
    /// receiver checks it again once the body is in, so that a delivery
    /// still being sent when its window closes is not accepted after it.
    #[cfg_attr(not(feature = "receive"), allow(dead_code))]
    pub(crate) fn at(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// [`Matched::fresh`] with the date of `body`, for a scheme without a
    /// timestamp (the body is authenticated by now).
    pub(super) fn fresh_by(self, body: &[u8]) -> Result<Verified, Error> {
        let date = match self.header.timestamp() {
            Some(_) => None,
            None => body_date(body),
        };
        self.fresh(date.as_deref())
    }

    /// Finishes with the delivery's date checked against the window: the
    /// header's `t`, or for a scheme without one the body's `timestamp`
    /// field.
    ///
    /// # Errors
    ///
    /// A date outside the window; for a scheme without a timestamp,
    /// [`Error::MissingTimestamp`] when the body has none.
    pub(crate) fn fresh(self, body_timestamp: Option<&str>) -> Result<Verified, Error> {
        let date = match self.header.timestamp() {
            Some(t) => {
                self.window.check_header(&self.header, self.now)?;
                Some(t)
            }
            None => self.window.check_body_date(body_timestamp, self.now)?,
        };
        Ok(Verified::matched(
            self.header.scheme(),
            date,
            self.index,
            self.id,
            self.len,
        ))
    }
}

/// The top-level `timestamp` string of a JSON object body, if it has one.
///
/// The server writes `timestamp` last, so it is read from the end of the
/// body first ([`trailing_date`]), whatever the body's length; a body laid
/// out otherwise (the documented shape has it second) is parsed.
pub(crate) fn body_date(body: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    if let Some(date) = trailing_date(body) {
        return Some(std::borrow::Cow::Borrowed(date));
    }
    parsed_date(body)
}

/// The value of a `"timestamp": "…"` member that closes the body's
/// top-level object, read backwards: `{…,"timestamp":"<date>"}` and
/// whitespace. A JSON text that ends in `}` and starts with `{` is an
/// object closed by that `}`, so the member right before it is one of its
/// own, never one nested in a value; its strings are read only while that is
/// certain (no backslash in the date, none before either opening quote),
/// and anything else is left to the parser.
pub(super) fn trailing_date(body: &[u8]) -> Option<&str> {
    fn trim_end(s: &[u8]) -> &[u8] {
        let end = s
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        &s[..end.map_or(0, |i| i + 1)]
    }
    let start = body
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))?;
    if body[start] != b'{' {
        return None;
    }
    let rest = trim_end(body).strip_suffix(b"}")?;
    let rest = trim_end(rest).strip_suffix(b"\"")?;
    let open = rest.iter().rposition(|&b| b == b'"')?;
    let (rest, date) = (&rest[..open], &rest[open + 1..]);
    if date.contains(&b'\\') || rest.ends_with(b"\\") {
        return None;
    }
    let rest = trim_end(trim_end(rest).strip_suffix(b":")?);
    let rest = trim_end(rest.strip_suffix(b"\"timestamp\"")?);
    if !(rest.ends_with(b",") || rest.len() == start + 1) {
        return None;
    }
    std::str::from_utf8(date).ok()
}

/// [`body_date`] by a parse of the whole body.
fn parsed_date(body: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    use serde_json::value::RawValue;
    // The payload's nested fields are named so they are kept raw: skipping
    // them as unknown fields would allocate.
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Dated<'a> {
        #[serde(borrow, default, deserialize_with = "crate::payload::opt_cow")]
        timestamp: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        record: Option<&'a RawValue>,
        #[serde(borrow, default)]
        old_record: Option<&'a RawValue>,
        #[serde(borrow, default)]
        data: Option<&'a RawValue>,
    }
    serde_json::from_slice::<Dated<'_>>(body).ok()?.timestamp
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
