//! Instants as the store keeps them (whole seconds since the Unix epoch) and as the
//! contract writes them (RFC 3339, UTC, `Z`, no fractional seconds).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use serde::{Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
    }

    pub const fn from_epoch_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    pub const fn epoch_seconds(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)),
        )
    }

    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = DateTime::from_secs(self.0)
            .fmt(DateTimeFormat::DateTime)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
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

    #[test]
    fn timestamps_are_rfc3339_utc_whole_seconds() {
        assert_eq!(
            Timestamp::from_epoch_seconds(1_705_312_800).to_string(),
            "2024-01-15T10:00:00Z"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp::from_epoch_seconds(0)).unwrap(),
            "\"1970-01-01T00:00:00Z\""
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let max = Timestamp::from_epoch_seconds(i64::MAX);
        assert_eq!(max.saturating_add(Duration::from_secs(10)), max);
        let t = Timestamp::from_epoch_seconds(100);
        assert_eq!(t.saturating_sub(Duration::from_secs(40)).epoch_seconds(), 60);
    }
}
