//! Bounded retries with exponential backoff and full jitter (the AWS architecture-blog scheme:
//! sleep a random time in `[0, min(cap, base · 2^attempt)]`), so a fleet of phones that lost the
//! network together does not come back in lockstep. A server's `Retry-After` is a floor.

use std::time::Duration;

/// How a run retries one request that failed transiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request in one run, the first included. After that the run stops with a
    /// transient error and the app schedules the next run (WorkManager / BGTaskScheduler).
    pub max_attempts: u32,
    /// Backoff ceiling after the first failure.
    pub base_delay: Duration,
    /// No single wait is longer than this (a larger `Retry-After` is capped too).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the wait after failed attempt number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// How long to wait after failed attempt `attempt`: uniformly random up to the ceiling, and
    /// at least what the server asked for with `Retry-After` (both capped at `max_delay`).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.ceiling(attempt);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(rand::random_range(0..=ceiling_ms));
        let floor = retry_after.unwrap_or_default().min(self.max_delay);
        jittered.max(floor)
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is not used by our server
/// and is ignored: the backoff applies).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn ceiling_doubles_from_base_and_stops_at_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let ceilings: Vec<u128> = (1..=6).map(|a| policy.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn delay_stays_within_the_ceiling_and_is_not_constant() {
        let policy = RetryPolicy::default();
        let delays: Vec<Duration> = (0..200).map(|_| policy.delay(3, None)).collect();
        assert!(delays.iter().all(|d| *d <= policy.ceiling(3)));
        let first = delays[0];
        assert!(
            delays.iter().any(|d| *d != first),
            "jitter must vary the delay"
        );
    }

    #[test]
    fn retry_after_is_a_floor_capped_by_max_delay() {
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        };
        assert!(policy.delay(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn retry_after_seconds_parse_and_dates_are_ignored() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
