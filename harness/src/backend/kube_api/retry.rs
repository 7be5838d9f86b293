//! Retrying mutating API calls with exponential backoff.

use std::time::Duration;

/// When and how often a failed API call is tried again.
///
/// The delay before retry `n` (1-based) is `initial_delay × factor^(n-1)`, capped at
/// `max_delay`; the call is made at most `max_attempts` times in all. The default is 100 ms,
/// ×2, capped at 2 s, 6 attempts (100, 200, 400, 800, 1600 ms: about 3.1 s of waiting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Multiplier applied to the delay after each retry.
    pub factor: u32,
    /// Upper bound of any single delay.
    pub max_delay: Duration,
    /// Total number of attempts, the first included (at least 1 is always made).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay: Duration::from_millis(100),
            factor: 2,
            max_delay: Duration::from_secs(2),
            max_attempts: 6,
        }
    }
}

impl RetryPolicy {
    /// The same number of attempts as the default, with no delay between them (for tests).
    pub fn immediate() -> Self {
        RetryPolicy {
            initial_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            ..RetryPolicy::default()
        }
    }

    /// The delay before retry number `retry` (1 = the second attempt).
    pub fn delay_before(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1);
        let factor = self.factor.max(1).checked_pow(exponent).unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The whole schedule: the delays before each retry, in order.
    pub fn schedule(&self) -> Vec<Duration> {
        (1..self.max_attempts.max(1))
            .map(|r| self.delay_before(r))
            .collect()
    }
}

/// Whether an error returned by kube is worth retrying: API statuses 409, 429, 500, 503 and
/// 504, and transport errors (the request may not have reached the server, or its answer was
/// lost).
pub fn is_retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 409 | 429 | 500 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_doubles_and_caps() {
        let ms: Vec<u128> = RetryPolicy::default()
            .schedule()
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600]);
        let long = RetryPolicy {
            max_attempts: 9,
            ..RetryPolicy::default()
        };
        assert_eq!(long.delay_before(8), Duration::from_secs(2));
        assert_eq!(long.delay_before(100), Duration::from_secs(2));
    }

    #[test]
    fn immediate_has_no_delay() {
        assert!(RetryPolicy::immediate()
            .schedule()
            .iter()
            .all(|d| d.is_zero()));
        assert_eq!(RetryPolicy::immediate().schedule().len(), 5);
    }

    #[test]
    fn classifies_statuses() {
        let api = |code| {
            kube::Error::Api(
                kube::core::Status::failure("m", "r")
                    .with_code(code)
                    .boxed(),
            )
        };
        for code in [409, 429, 500, 503, 504] {
            assert!(is_retryable(&api(code)), "{code}");
        }
        for code in [400, 403, 404, 422, 502] {
            assert!(!is_retryable(&api(code)), "{code}");
        }
    }
}
