//! The `X-Fluxbase-Signature` header: [`SignatureHeader`], [`Scheme`], [`Schemes`].
//!
//! Three value formats have been seen in `X-Fluxbase-Signature`:
//!
//! | scheme | value | signed message |
//! | --- | --- | --- |
//! | [`Scheme::Timestamped`] | `t=<unix>,v1=<hex>[,v1=<hex>...]` | `"<t>." + body` |
//! | [`Scheme::Hex`] | `<64 hex digits>` | body |
//! | [`Scheme::Sha256`] | `sha256=<64 hex digits>` | body |
//!
//! The timestamped form is read with the Fluxbase server's own parser rules:
//! pieces are split on `,` and trimmed, each is split at its first `=`, keys
//! are case-sensitive, unknown keys and pieces without `=` are ignored, the
//! last `t` wins, a `t` that is not a base-10 integer is an error, and a
//! missing or zero `t` is an error. Hex digits of either case are accepted.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use smallvec::SmallVec;
use subtle::{Choice, ConstantTimeEq};

use crate::error::{Error, Malformed};

/// Length in bytes of an HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;

/// A decoded 32-byte HMAC-SHA256 tag.
pub type Tag = [u8; TAG_LEN];

/// The most `v1=` values one timestamped header may carry.
///
/// The Fluxbase server sends exactly one; a header with more than this is
/// refused as malformed rather than compared value by value.
pub const MAX_SIGNATURES: usize = 64;

/// A signature scheme found in `X-Fluxbase-Signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `t=<unix>,v1=<hex>`: HMAC-SHA256 over `"<t>." + body`. What the
    /// Fluxbase server sends.
    Timestamped,
    /// Bare hex: HMAC-SHA256 over the body (the SDK documentation's format,
    /// and the legacy `X-Webhook-Signature` header).
    Hex,
    /// `sha256=<hex>`: HMAC-SHA256 over the body.
    Sha256,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 3] = [Scheme::Timestamped, Scheme::Hex, Scheme::Sha256];

    /// The scheme's name: `timestamped`, `hex` or `sha256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timestamped => "timestamped",
            Self::Hex => "hex",
            Self::Sha256 => "sha256",
        }
    }

    /// Looks a scheme up by its name (as printed by [`Scheme::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Timestamped => 1,
            Self::Hex => 2,
            Self::Sha256 => 4,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Scheme`]s a verifier accepts.
///
/// ```
/// use fluxbase_webhooks::{Scheme, Schemes};
///
/// assert!(Schemes::ALL.contains(Scheme::Hex));
/// assert!(!Schemes::TIMESTAMPED.contains(Scheme::Hex));
/// let some = Schemes::TIMESTAMPED | Schemes::SHA256;
/// assert!(some.contains(Scheme::Sha256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schemes(u8);

impl Schemes {
    /// Every scheme: timestamped, bare hex and `sha256=`.
    pub const ALL: Schemes = Schemes(7);
    /// `t=..,v1=..` alone: what the current server sends in
    /// `X-Fluxbase-Signature`, and the only scheme whose time is checked
    /// before the body is read.
    pub const TIMESTAMPED: Schemes = Schemes(1);
    /// Bare hex alone.
    pub const HEX: Schemes = Schemes(2);
    /// `sha256=` alone.
    pub const SHA256: Schemes = Schemes(4);

    /// Whether `scheme` is in the set.
    pub const fn contains(self, scheme: Scheme) -> bool {
        self.0 & scheme.bit() != 0
    }
}

impl From<Scheme> for Schemes {
    fn from(s: Scheme) -> Self {
        Schemes(s.bit())
    }
}

impl BitOr for Schemes {
    type Output = Schemes;
    fn bitor(self, rhs: Self) -> Self {
        Schemes(self.0 | rhs.0)
    }
}

impl BitOrAssign for Schemes {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// A parsed signature header value.
///
/// [`SignatureHeader::parse`] reads any of the three schemes; `Display`
/// writes the canonical form back (lowercase hex, no spaces), and parsing
/// that gives the same value again.
///
/// ```
/// use fluxbase_webhooks::{Scheme, SignatureHeader};
///
/// let h = SignatureHeader::parse(
///     " t=1234567890 , v1=85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c",
/// )?;
/// assert_eq!(h.scheme(), Scheme::Timestamped);
/// assert_eq!(h.timestamp(), Some(1234567890));
/// assert_eq!(h.signatures().count(), 1);
/// assert!(h.to_string().starts_with("t=1234567890,v1=85ff39aa"));
/// # Ok::<(), fluxbase_webhooks::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    scheme: Scheme,
    timestamp: Option<i64>,
    /// `None` for a `v1=` value that is not 64 hex digits: it can never match.
    tags: SmallVec<[Option<Tag>; 1]>,
}

impl SignatureHeader {
    /// Parses a header value in any scheme.
    ///
    /// # Errors
    ///
    /// [`Error::MissingSignature`] for an empty (or all-space) value, and
    /// [`Error::MalformedSignature`] for a value that no scheme reads.
    pub fn parse(value: impl AsRef<[u8]>) -> Result<Self, Error> {
        Self::parse_bytes(value.as_ref())
    }

    fn parse_bytes(value: &[u8]) -> Result<Self, Error> {
        match Self::parse_canonical(value) {
            Some(canonical) => Ok(canonical),
            None => Self::parse_general(value),
        }
    }

    /// Any scheme, by the rules in the module docs.
    fn parse_general(value: &[u8]) -> Result<Self, Error> {
        if !is_visible_ascii(value) {
            return Err(Malformed::NotAscii.into());
        }
        let value = value.trim_ascii();
        if value.is_empty() {
            return Err(Error::MissingSignature);
        }
        if let Some(rest) = strip_prefix_ignore_case(value, b"sha256=") {
            let tag = decode_tag(rest.trim_ascii()).ok_or(Malformed::InvalidHex)?;
            return Ok(Self::sha256(tag));
        }
        if !value.contains(&b'=') {
            // Neither `sha256=` nor `t=..,v1=..`: it can only be bare hex.
            return decode_tag(value)
                .map(Self::hex)
                .ok_or_else(|| Malformed::InvalidHex.into());
        }
        Self::parse_timestamped(value)
    }

    /// The exact form the Fluxbase server sends, `t=<digits>,v1=<64 hex
    /// digits>` (no sign, no leading zero, no space, one value), read without
    /// splitting. `None` for anything else, which the general rules then
    /// read; on this form both give the same result. Every byte of this form
    /// is visible ASCII, so it needs no separate check.
    fn parse_canonical(value: &[u8]) -> Option<Self> {
        // The value ends with exactly 64 hex digits, which fixes where `t` ends.
        let (head, hex_digits) = value.split_at_checked(value.len().checked_sub(TAG_LEN * 2)?)?;
        let digits = head.strip_prefix(b"t=")?.strip_suffix(b",v1=")?;
        // 1 to 18 digits, the first not 0: a positive number that fits an i64.
        if !(1..=18).contains(&digits.len()) || digits[0] == b'0' {
            return None;
        }
        let mut timestamp = 0i64;
        for &d in digits {
            let digit = d.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            timestamp = timestamp * 10 + i64::from(digit);
        }
        let tag = decode_tag(hex_digits)?;
        Some(Self {
            scheme: Scheme::Timestamped,
            timestamp: Some(timestamp),
            tags: SmallVec::from_buf([Some(tag)]),
        })
    }

    /// The server's `ParseWebhookSignature` rules (see the module docs).
    fn parse_timestamped(value: &[u8]) -> Result<Self, Error> {
        let mut timestamp = None;
        let mut tags = SmallVec::new();
        for piece in value.split(|&b| b == b',') {
            let piece = piece.trim_ascii();
            let Some(eq) = piece.iter().position(|&b| b == b'=') else {
                continue;
            };
            let key = piece[..eq].trim_ascii();
            let val = piece[eq + 1..].trim_ascii();
            match key {
                b"t" => timestamp = Some(parse_i64(val).ok_or(Malformed::InvalidTimestamp)?),
                b"v1" => {
                    if tags.len() == MAX_SIGNATURES {
                        return Err(Malformed::TooManySignatures {
                            max: MAX_SIGNATURES,
                        }
                        .into());
                    }
                    tags.push(decode_tag(val));
                }
                _ => {}
            }
        }
        let timestamp = match timestamp {
            Some(t) if t != 0 => t,
            _ => return Err(Malformed::MissingTimestamp.into()),
        };
        if tags.is_empty() {
            return Err(Malformed::MissingSignatureValue.into());
        }
        Ok(Self {
            scheme: Scheme::Timestamped,
            timestamp: Some(timestamp),
            tags,
        })
    }

    /// A timestamped header with one tag.
    pub fn timestamped(timestamp: i64, tag: Tag) -> Self {
        Self {
            scheme: Scheme::Timestamped,
            timestamp: Some(timestamp),
            tags: smallvec::smallvec![Some(tag)],
        }
    }

    /// A timestamped header carrying several tags (one per signing secret,
    /// for rotation). Returns `None` when `tags` is empty, longer than
    /// [`MAX_SIGNATURES`], or `timestamp` is zero.
    pub fn timestamped_multi(timestamp: i64, tags: impl IntoIterator<Item = Tag>) -> Option<Self> {
        let tags: SmallVec<[Option<Tag>; 1]> = tags.into_iter().map(Some).collect();
        (timestamp != 0 && !tags.is_empty() && tags.len() <= MAX_SIGNATURES).then_some(Self {
            scheme: Scheme::Timestamped,
            timestamp: Some(timestamp),
            tags,
        })
    }

    /// A bare-hex header.
    pub fn hex(tag: Tag) -> Self {
        Self {
            scheme: Scheme::Hex,
            timestamp: None,
            tags: smallvec::smallvec![Some(tag)],
        }
    }

    /// A `sha256=` header.
    pub fn sha256(tag: Tag) -> Self {
        Self {
            scheme: Scheme::Sha256,
            timestamp: None,
            tags: smallvec::smallvec![Some(tag)],
        }
    }

    /// The scheme the header is in.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The `t=` value, for the timestamped scheme.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The decoded tags that could match (values that are not 64 hex digits
    /// are left out: they can never match).
    pub fn signatures(&self) -> impl Iterator<Item = &Tag> {
        self.tags.iter().flatten()
    }

    /// Number of `v1=` values, including those that cannot match.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Always `false`: a parsed header carries at least one value.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether `expected` equals any value of the header, in constant time:
    /// every value is compared in full, whatever matched before.
    pub(crate) fn matches(&self, expected: &Tag) -> Choice {
        self.tags
            .iter()
            .flatten()
            .fold(Choice::from(0), |hit, candidate| {
                hit | tag_eq(expected, candidate)
            })
    }
}

/// Constant-time equality of two tags: `subtle` compares them as four
/// 64-bit words, every word whatever the others hold.
fn tag_eq(a: &Tag, b: &Tag) -> Choice {
    let words = |t: &Tag| -> [u64; TAG_LEN / 8] {
        let (chunks, _) = t.as_chunks::<8>();
        std::array::from_fn(|i| u64::from_ne_bytes(chunks[i]))
    };
    words(a)[..].ct_eq(&words(b)[..])
}

impl fmt::Display for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::Timestamped => {
                write!(f, "t={}", self.timestamp.unwrap_or_default())?;
                for tag in &self.tags {
                    f.write_str(",v1=")?;
                    write_hex(f, tag)?;
                }
                Ok(())
            }
            Scheme::Hex => write_hex(f, self.tags.first().unwrap_or(&None)),
            Scheme::Sha256 => {
                f.write_str("sha256=")?;
                write_hex(f, self.tags.first().unwrap_or(&None))
            }
        }
    }
}

/// Lowercase hex of a tag, or nothing for a value that could not be decoded.
fn write_hex(f: &mut fmt::Formatter<'_>, tag: &Option<Tag>) -> fmt::Result {
    let Some(tag) = tag else { return Ok(()) };
    let mut buf = [0u8; TAG_LEN * 2];
    // Cannot fail: the buffer is exactly twice the tag length.
    if const_hex::encode_to_slice(tag, &mut buf).is_err() {
        return Err(fmt::Error);
    }
    f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

/// Shows the scheme, the timestamp and how many values there are, never the
/// values themselves.
impl fmt::Debug for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureHeader")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp)
            .field("values", &self.tags.len())
            .finish()
    }
}

impl std::str::FromStr for SignatureHeader {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// Whether every byte is a tab or visible ASCII (space included). Written
/// without an early exit so that it compiles to a vector loop.
fn is_visible_ascii(value: &[u8]) -> bool {
    value.iter().fold(true, |ok, &b| {
        ok & ((0x20..0x7f).contains(&b) | (b == b'\t'))
    })
}

/// Decodes exactly 64 hex digits (either case) into a tag.
pub(crate) fn decode_tag(hex_digits: &[u8]) -> Option<Tag> {
    let mut tag = [0u8; TAG_LEN];
    (hex_digits.len() == TAG_LEN * 2 && const_hex::decode_to_slice(hex_digits, &mut tag).is_ok())
        .then_some(tag)
}

/// Base-10 `i64` with an optional sign, as Go's `strconv.ParseInt(s, 10, 64)`
/// and Rust's `i64::from_str`: at least one digit, nothing else, no overflow.
fn parse_i64(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn strip_prefix_ignore_case<'a>(value: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &value[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "85ff39aa9bbd1fc2fb4936558a79e5e20a0978f41b435709c08f0c7b8c9ffa2c";

    fn malformed(v: &str) -> Malformed {
        match SignatureHeader::parse(v) {
            Err(Error::MalformedSignature(m)) => m,
            other => panic!("{v:?}: expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn detects_each_scheme() {
        assert_eq!(SignatureHeader::parse(HEX).unwrap().scheme(), Scheme::Hex);
        assert_eq!(
            SignatureHeader::parse(HEX.to_uppercase()).unwrap().scheme(),
            Scheme::Hex
        );
        let s = SignatureHeader::parse(format!("sha256={HEX}")).unwrap();
        assert_eq!(s.scheme(), Scheme::Sha256);
        assert_eq!(s.to_string(), format!("sha256={HEX}"));
        let t = SignatureHeader::parse(format!("t=5,v1={HEX}")).unwrap();
        assert_eq!((t.scheme(), t.timestamp()), (Scheme::Timestamped, Some(5)));
    }

    #[test]
    fn go_parser_rules() {
        // Whitespace around pieces and around '='.
        let h = SignatureHeader::parse(format!(" t = 1234567890 , v1 = {HEX} ")).unwrap();
        assert_eq!(h.timestamp(), Some(1234567890));
        // Extra commas, unknown keys, v2 ignored, last t wins, v1 before t.
        let h = SignatureHeader::parse(format!(
            "v1={HEX},,unknown=value,v2=x,t=1,t=9876543210,v1=abc,"
        ))
        .unwrap();
        assert_eq!(h.timestamp(), Some(9876543210));
        assert_eq!(h.len(), 2);
        assert_eq!(h.signatures().count(), 1);
        // A leading '+' is allowed, as in Go.
        assert_eq!(
            SignatureHeader::parse(format!("t=+7,v1={HEX}"))
                .unwrap()
                .timestamp(),
            Some(7)
        );
    }

    #[test]
    fn go_parser_errors() {
        assert!(matches!(
            SignatureHeader::parse(""),
            Err(Error::MissingSignature)
        ));
        assert!(matches!(
            SignatureHeader::parse("   "),
            Err(Error::MissingSignature)
        ));
        assert_eq!(malformed("v1=abc123"), Malformed::MissingTimestamp);
        assert_eq!(malformed("t=0,v1=abc"), Malformed::MissingTimestamp);
        assert_eq!(malformed("T=1,V1=abc"), Malformed::MissingTimestamp);
        assert_eq!(malformed("t=1234567890"), Malformed::MissingSignatureValue);
        assert_eq!(malformed("t=1,v0=abc"), Malformed::MissingSignatureValue);
        assert_eq!(
            malformed("t=notanumber,v1=abc"),
            Malformed::InvalidTimestamp
        );
        assert_eq!(malformed("t=1.5,v1=abc"), Malformed::InvalidTimestamp);
        assert_eq!(malformed("t=1;v1=abc"), Malformed::InvalidTimestamp);
        // An invalid t aborts even when a later t is valid.
        assert_eq!(malformed("t=x,t=5,v1=abc"), Malformed::InvalidTimestamp);
        assert_eq!(
            malformed("t=99999999999999999999,v1=a"),
            Malformed::InvalidTimestamp
        );
        assert_eq!(malformed("sha256=abc"), Malformed::InvalidHex);
        assert_eq!(malformed("t=1,v1=\u{e9}"), Malformed::NotAscii);
        assert_eq!(malformed("abc"), Malformed::InvalidHex);
        assert_eq!(malformed(&HEX[1..]), Malformed::InvalidHex);
    }

    #[test]
    fn caps_the_number_of_values() {
        let many = std::iter::once("t=1".to_string())
            .chain((0..=MAX_SIGNATURES).map(|_| format!("v1={HEX}")))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            malformed(&many),
            Malformed::TooManySignatures {
                max: MAX_SIGNATURES
            }
        );
    }

    #[test]
    fn format_is_canonical_and_reparses() {
        let h = SignatureHeader::parse(format!("t=12,v1={},v1=zz", HEX.to_uppercase())).unwrap();
        assert_eq!(h.to_string(), format!("t=12,v1={HEX},v1="));
        assert_eq!(SignatureHeader::parse(h.to_string()).unwrap(), h);
    }

    #[test]
    fn hex_decoding_agrees_with_the_hex_crate() {
        let reference = |digits: &[u8]| {
            let mut tag = [0u8; TAG_LEN];
            hex::decode_to_slice(digits, &mut tag).ok().map(|()| tag)
        };
        for position in 0..64 {
            for b in 0..=u8::MAX {
                let mut digits = HEX.as_bytes().to_vec();
                digits[position] = b;
                assert_eq!(decode_tag(&digits), reference(&digits), "{b:#04x}");
            }
        }
        let upper = HEX.to_uppercase();
        assert_eq!(decode_tag(upper.as_bytes()), reference(HEX.as_bytes()));
        for len in [0, 2, 62, 63, 65, 66] {
            assert_eq!(decode_tag(&b"a".repeat(len)), None, "{len}");
        }
    }

    #[test]
    fn visible_ascii() {
        assert!(is_visible_ascii(b"t=1,\tv1= ~"));
        for bad in [
            &b"\x7f"[..],
            b"\x1f",
            b"\n",
            b"\r",
            b"\x00",
            b"\x80",
            b"\xff",
        ] {
            assert!(!is_visible_ascii(&[b"t=1,v1=".as_slice(), bad].concat()));
        }
    }

    #[test]
    fn the_canonical_form_reads_as_the_general_rules_read_it() {
        let canonical = [
            format!("t=1234567890,v1={HEX}"),
            format!("t=1,v1={HEX}"),
            format!("t=999999999999999999,v1={HEX}"),
            format!("t=1234567890,v1={}", HEX.to_uppercase()),
        ];
        // Near misses the canonical reader must leave to the general rules.
        let others = [
            format!("t=1234567890,v1={}", "z".repeat(64)),
            format!("t=1234567890,v1={}\u{e9}", &HEX[2..]),
            format!("t=1234567890,v1={}\x7f", &HEX[1..]),
            format!(" t=1,v1={HEX}"),
            format!("t=1,v1={HEX} "),
            format!("t=0,v1={HEX}"),
            format!("t=01,v1={HEX}"),
            format!("t=+1,v1={HEX}"),
            format!("t=-1,v1={HEX}"),
            format!("t=,v1={HEX}"),
            format!("t=1 ,v1={HEX}"),
            format!("t=1,v1={HEX},v1={HEX}"),
            format!("t=1,v1={HEX}0"),
            format!("t=1,v1={}", &HEX[1..]),
            format!("t=1,v2={HEX}"),
            format!("t=1,t=2,v1={HEX}"),
            format!("t=99999999999999999999,v1={HEX}"),
            format!("t=9223372036854775807,v1={HEX}"),
            format!("t=9223372036854775808,v1={HEX}"),
        ];
        for value in &canonical {
            let fast = SignatureHeader::parse_canonical(value.as_bytes());
            let general = SignatureHeader::parse_general(value.as_bytes()).ok();
            assert!(fast.is_some(), "{value}");
            assert_eq!(fast, general, "{value}");
        }
        for value in &others {
            assert_eq!(SignatureHeader::parse_canonical(value.as_bytes()), None);
            assert_eq!(
                SignatureHeader::parse(value),
                SignatureHeader::parse_general(value.as_bytes()),
                "{value}"
            );
        }
    }

    #[test]
    fn tags_compare_whole() {
        let tag = decode_tag(HEX.as_bytes()).unwrap();
        assert!(bool::from(tag_eq(&tag, &tag)));
        for i in 0..TAG_LEN {
            for bit in 0..8 {
                let mut other = tag;
                other[i] ^= 1 << bit;
                assert!(!bool::from(tag_eq(&tag, &other)), "byte {i} bit {bit}");
            }
        }
        let h = SignatureHeader::parse(format!("t=1,v1=zz,v1={HEX},v1=00")).unwrap();
        assert!(bool::from(h.matches(&tag)));
        assert!(!bool::from(h.matches(&[0; TAG_LEN])));
    }

    #[test]
    fn debug_hides_values() {
        let h = SignatureHeader::parse(HEX).unwrap();
        assert!(!format!("{h:?}").contains("85ff"));
    }

    #[test]
    fn scheme_sets() {
        assert!(Schemes::ALL.contains(Scheme::Sha256));
        assert!(!Schemes::TIMESTAMPED.contains(Scheme::Sha256));
        let mut s = Schemes::HEX;
        s |= Scheme::Sha256.into();
        assert!(s.contains(Scheme::Sha256) && !s.contains(Scheme::Timestamped));
        assert_eq!(Scheme::from_name("sha256"), Some(Scheme::Sha256));
    }
}
