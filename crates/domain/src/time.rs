//! Timestamps: UTC, truncated to whole microseconds (the finest precision PostgreSQL keeps), so
//! that a value read back from any backend equals the value written.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A UTC instant with microsecond precision.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Builds a timestamp from any instant, converting to UTC and truncating to microseconds.
    #[must_use]
    pub fn from_offset(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let micros = t.microsecond();
        // `replace_microsecond` only fails for values >= 1_000_000, which `microsecond()` never returns.
        Self(t.replace_microsecond(micros).unwrap_or(t))
    }

    /// Builds a timestamp from whole seconds since the Unix epoch.
    #[must_use]
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(secs).ok().map(Self)
    }

    /// Interprets a naive date-time (as stored in the database) as UTC.
    #[must_use]
    pub fn from_primitive_utc(t: PrimitiveDateTime) -> Self {
        Self::from_offset(t.assume_utc())
    }

    /// The naive UTC date-time, for storage.
    #[must_use]
    pub fn to_primitive_utc(self) -> PrimitiveDateTime {
        PrimitiveDateTime::new(self.0.date(), self.0.time())
    }

    /// Seconds since the Unix epoch (negative before 1970).
    #[must_use]
    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The underlying `OffsetDateTime` (always UTC).
    #[must_use]
    pub fn as_offset(self) -> OffsetDateTime {
        self.0
    }

    /// This instant plus `secs` seconds (saturating at the representable range).
    #[must_use]
    pub fn plus_seconds(self, secs: i64) -> Self {
        Self(self.0.saturating_add(time::Duration::seconds(secs)))
    }

    /// RFC 3339 in UTC with a `Z` suffix, e.g. `2026-03-18T12:00:00Z` or `...12:00:00.123456Z`.
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        self.0
            .format(&Rfc3339)
            .unwrap_or_else(|_| self.0.unix_timestamp().to_string())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_to_microseconds_and_formats_utc() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_773_835_200_123_456_789).expect("valid");
        let ts = Timestamp::from_offset(t);
        assert_eq!(ts.to_rfc3339(), "2026-03-18T12:00:00.123456Z");
        assert_eq!(Timestamp::from_primitive_utc(ts.to_primitive_utc()), ts);
    }

    #[test]
    fn whole_seconds_have_no_fraction() {
        let ts = Timestamp::from_unix_seconds(1_773_835_200).expect("valid");
        assert_eq!(ts.to_rfc3339(), "2026-03-18T12:00:00Z");
    }
}
