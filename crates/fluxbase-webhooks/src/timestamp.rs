//! [`Timestamp`]: the RFC 3339 `timestamp` field of a payload.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The payload's `timestamp`: an instant plus the UTC offset it was written in.
///
/// The Fluxbase server writes RFC 3339 with 0 to 9 fraction digits in its
/// own local zone (`Z`, `+01:00`, ...); all of these parse. The server sets
/// it when the delivery is attempted, not when the row changed, so retries of
/// one event carry different timestamps.
///
/// ```
/// use fluxbase_webhooks::Timestamp;
///
/// let a = Timestamp::parse("2026-01-02T03:04:05.12Z")?;
/// let b = Timestamp::parse("2026-01-02T04:04:05.120+01:00")?;
/// assert_eq!(a.unix_timestamp(), b.unix_timestamp());
/// assert_eq!(a.nanosecond(), 120_000_000);
/// assert_eq!(b.offset_seconds(), 3600);
/// # Ok::<(), fluxbase_webhooks::TimestampError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp(OffsetDateTime);

/// A `timestamp` value that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 timestamp: {0}")]
pub struct TimestampError(String);

impl Timestamp {
    /// Parses an RFC 3339 date-time (any number of fraction digits, any offset).
    ///
    /// # Errors
    ///
    /// When `s` is not RFC 3339.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Self)
            .map_err(|e| TimestampError(e.to_string()))
    }

    /// The current time, in UTC.
    pub fn now() -> Self {
        Self::from(crate::clock::now())
    }

    /// Whole seconds since the Unix epoch.
    pub fn unix_timestamp(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Nanoseconds within the second.
    pub fn nanosecond(&self) -> u32 {
        self.0.nanosecond()
    }

    /// The UTC offset the value was written in, in seconds east of UTC.
    pub fn offset_seconds(&self) -> i32 {
        self.0.offset().whole_seconds()
    }

    /// The instant as a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        self.0.into()
    }

    /// The value as a `time` crate [`OffsetDateTime`].
    pub fn to_offset_date_time(&self) -> OffsetDateTime {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(t)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Self(t.into())
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        t.to_system_time()
    }
}

/// RFC 3339, in the offset the value was written in.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            // Years outside 0..=9999 have no RFC 3339 form.
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fraction_length_and_offset() {
        let base = Timestamp::parse("2026-01-02T03:04:05Z").unwrap();
        for digits in 0..=9 {
            let frac = if digits == 0 {
                String::new()
            } else {
                format!(".{}", "1".repeat(digits))
            };
            for zone in ["Z", "+01:00", "-05:30", "+00:00"] {
                let s = format!("2026-01-02T03:04:05{frac}{zone}");
                let t = Timestamp::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
                let shift = match zone {
                    "+01:00" => -3600,
                    "-05:30" => 5 * 3600 + 1800,
                    _ => 0,
                };
                assert_eq!(t.unix_timestamp(), base.unix_timestamp() + shift, "{s}");
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["2026-01-02T04:04:05.12+01:00", "2024-01-26T10:00:00Z"] {
            let t = Timestamp::parse(s).unwrap();
            assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
            assert_eq!(
                t.offset_seconds(),
                Timestamp::parse(&t.to_string()).unwrap().offset_seconds()
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2026-01-02",
            "2026-01-02T03:04:05",
            "1700000000",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
    }
}
