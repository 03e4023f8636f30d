//! Instants as the store keeps them (whole seconds since the Unix epoch) and as the
//! contract writes them (RFC 3339, UTC, `Z`, no fractional seconds).
//!
//! A [`Timestamp`] is always within what RFC 3339 can print (years 0001 to 9999): the only
//! ways to make one are [`Timestamp::now`], the checked [`Timestamp::from_epoch_seconds`]
//! and arithmetic that saturates at the bounds, so printing one never fails. (A `Display`
//! that fails makes `to_string()` panic, and the functions are built with `panic = "abort"`.)

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use serde::{Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    /// 0001-01-01T00:00:00Z
    pub const MIN: Self = Self(-62_135_596_800);
    /// 9999-12-31T23:59:59Z
    pub const MAX: Self = Self(253_402_300_799);

    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self(0).saturating_add(since_epoch)
    }

    /// `None` outside [`MIN`](Self::MIN)..=[`MAX`](Self::MAX).
    pub const fn from_epoch_seconds(seconds: i64) -> Option<Self> {
        if seconds >= Self::MIN.0 && seconds <= Self::MAX.0 {
            Some(Self(seconds))
        } else {
            None
        }
    }

    pub const fn epoch_seconds(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, duration: Duration) -> Self {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(seconds).min(Self::MAX.0))
    }

    pub fn saturating_sub(self, duration: Duration) -> Self {
        let seconds = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(seconds).max(Self::MIN.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_secs(self.0).fmt(DateTimeFormat::DateTime) {
            Ok(text) => f.write_str(&text),
            // Unreachable by construction; the raw seconds are better than a panic.
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_epoch_seconds(seconds).unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_utc_whole_seconds() {
        assert_eq!(at(1_705_312_800).to_string(), "2024-01-15T10:00:00Z");
        assert_eq!(serde_json::to_string(&at(0)).unwrap(), "\"1970-01-01T00:00:00Z\"");
        assert_eq!(Timestamp::MIN.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn only_printable_instants_can_be_made() {
        assert_eq!(Timestamp::from_epoch_seconds(1_000_000_000_000), None);
        assert_eq!(Timestamp::from_epoch_seconds(i64::MIN), None);
        assert_eq!(Timestamp::from_epoch_seconds(Timestamp::MAX.0 + 1), None);
        assert_eq!(Timestamp::from_epoch_seconds(Timestamp::MIN.0 - 1), None);
    }

    #[test]
    fn arithmetic_saturates_at_the_printable_bounds() {
        assert_eq!(
            Timestamp::MAX.saturating_add(Duration::from_secs(10)),
            Timestamp::MAX
        );
        assert_eq!(Timestamp::now().saturating_add(Duration::MAX), Timestamp::MAX);
        assert_eq!(
            Timestamp::MIN.saturating_sub(Duration::from_secs(10)),
            Timestamp::MIN
        );
        assert_eq!(
            at(100).saturating_sub(Duration::from_secs(40)).epoch_seconds(),
            60
        );
    }
}
