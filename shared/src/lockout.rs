//! The sign-in limit: after [`MAX_FAILURES`] wrong passwords for one account within
//! [`FAILURE_WINDOW`] of the first, further attempts are refused until the window ends, and
//! the password is not even checked. The count is kept on the account's email claim with
//! conditional writes (`Store::record_failed_login`), and a right password clears it in the
//! same transaction that opens the session.

use std::time::Duration;

use crate::clock::Timestamp;

/// Wrong passwords an account takes within [`FAILURE_WINDOW`] before it is locked.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in; a locked account opens again when it ends.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// An account's failed sign-ins in its current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// When the window began; `None` when there is none.
    pub since: Option<Timestamp>,
}

impl Failures {
    /// Seconds until a locked account opens again; `None` if it is not locked at `now`.
    pub fn locked_for(&self, now: Timestamp) -> Option<u64> {
        let since = self.since?;
        let reopens = since.saturating_add(FAILURE_WINDOW);
        (self.count >= MAX_FAILURES && reopens > now).then(|| {
            u64::try_from(reopens.epoch_seconds() - now.epoch_seconds())
                .unwrap_or(1)
                .max(1)
        })
    }
}

/// The start of the window that counts at `now`.
pub fn window_start(now: Timestamp) -> Timestamp {
    now.saturating_sub(FAILURE_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(count: u32, since: Option<i64>) -> Failures {
        Failures {
            count,
            since: since.and_then(Timestamp::from_epoch_seconds),
        }
    }

    #[test]
    fn an_account_locks_at_the_limit_until_its_window_ends() {
        let now = Timestamp::from_epoch_seconds(1_800_000_000).unwrap();
        let started = now.epoch_seconds() - 60;
        assert_eq!(failures(MAX_FAILURES - 1, Some(started)).locked_for(now), None);
        assert_eq!(
            failures(MAX_FAILURES, Some(started)).locked_for(now),
            Some(14 * 60)
        );
        let long_ago = now.epoch_seconds() - FAILURE_WINDOW.as_secs() as i64;
        assert_eq!(failures(MAX_FAILURES + 3, Some(long_ago)).locked_for(now), None);
        assert_eq!(failures(0, None).locked_for(now), None);
    }
}
