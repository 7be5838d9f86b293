//! Waiting for convergence: poll an observation until it has been stable for a window, or a
//! deadline passes. The same code serves every backend; the sim backend runs it on a
//! [`VirtualClock`] (sleeping advances virtual time), so it never sleeps for real.

use std::time::{Duration, Instant};

/// How to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Give up after this long.
    pub deadline: Duration,
    /// The observation must stay equal for this long.
    pub stable_window: Duration,
    /// Time between polls.
    pub interval: Duration,
    /// Use virtual time (no real sleeping).
    pub virtual_time: bool,
}

impl Default for WaitPolicy {
    /// What a live cluster needs: 120 s deadline, 5 s stable window, polls every second.
    fn default() -> Self {
        WaitPolicy {
            deadline: Duration::from_secs(120),
            stable_window: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            virtual_time: false,
        }
    }
}

/// A source of time.
pub trait Clock {
    /// Time since the clock started.
    fn now(&self) -> Duration;
    /// Waits `d`.
    fn sleep(&mut self, d: Duration);
}

/// Real time.
#[derive(Debug)]
pub struct SystemClock(Instant);

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        SystemClock(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Virtual time: sleeping advances it instantly.
#[derive(Debug, Default)]
pub struct VirtualClock(Duration);

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        self.0
    }
    fn sleep(&mut self, d: Duration) {
        self.0 += d;
    }
}

/// How waiting ended.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitOutcome<T> {
    /// The observation settled and stayed equal for the stable window.
    Converged {
        /// The settled observation.
        value: T,
        /// How many polls it took.
        polls: usize,
        /// Time waited.
        elapsed: Duration,
    },
    /// The deadline passed first.
    TimedOut {
        /// The last observation, if any poll succeeded.
        last: Option<T>,
        /// How many polls were made.
        polls: usize,
        /// Time waited.
        elapsed: Duration,
    },
}

/// Polls until the observation has stayed equal for `policy.stable_window`, or
/// `policy.deadline` passes. A poll error ends the wait.
pub fn wait_for_convergence<T: PartialEq, E>(
    mut poll: impl FnMut() -> Result<T, E>,
    policy: &WaitPolicy,
    clock: &mut dyn Clock,
) -> Result<WaitOutcome<T>, E> {
    let start = clock.now();
    let mut last: Option<T> = None;
    let mut stable_since = start;
    let mut polls = 0;
    loop {
        let value = poll()?;
        polls += 1;
        let now = clock.now();
        if last.as_ref() != Some(&value) {
            stable_since = now;
        }
        last = Some(value);
        if now - stable_since >= policy.stable_window {
            if let Some(value) = last {
                return Ok(WaitOutcome::Converged {
                    value,
                    polls,
                    elapsed: now - start,
                });
            }
        }
        if now - start >= policy.deadline {
            return Ok(WaitOutcome::TimedOut {
                last,
                polls,
                elapsed: now - start,
            });
        }
        clock.sleep(policy.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(window: u64) -> WaitPolicy {
        WaitPolicy {
            deadline: Duration::from_secs(30),
            stable_window: Duration::from_secs(window),
            interval: Duration::from_secs(1),
            virtual_time: true,
        }
    }

    #[test]
    fn converges_after_the_stable_window() {
        // Values change for 4 polls, then stay.
        let mut n = 0;
        let out = wait_for_convergence(
            || -> Result<u32, ()> {
                n += 1;
                Ok(n.min(5))
            },
            &policy(3),
            &mut VirtualClock::default(),
        );
        assert_eq!(
            out,
            Ok(WaitOutcome::Converged {
                value: 5,
                polls: 8,
                elapsed: Duration::from_secs(7)
            })
        );
    }

    #[test]
    fn zero_window_converges_on_the_first_settled_poll() {
        let out = wait_for_convergence(
            || -> Result<u32, ()> { Ok(1) },
            &policy(0),
            &mut VirtualClock::default(),
        );
        assert!(matches!(out, Ok(WaitOutcome::Converged { polls: 1, .. })));
    }

    #[test]
    fn times_out_with_the_last_observation() {
        let mut n = 0;
        let out = wait_for_convergence(
            || -> Result<u32, ()> {
                n += 1;
                Ok(n)
            },
            &policy(3),
            &mut VirtualClock::default(),
        );
        assert!(matches!(
            out,
            Ok(WaitOutcome::TimedOut {
                last: Some(31),
                polls: 31,
                ..
            })
        ));
    }

    #[test]
    fn poll_errors_end_the_wait() {
        let out = wait_for_convergence(
            || -> Result<u32, &str> { Err("gone") },
            &policy(0),
            &mut VirtualClock::default(),
        );
        assert_eq!(out, Err("gone"));
    }
}
