//! Upstream nondeterminism, made explicit.
//!
//! Where upstream iterates a Go map (random order) or pops from a set, the model asks a
//! [`Chooser`] which of the candidates comes first. [`FirstChoice`] always takes the first
//! candidate (the sim backend's deterministic pick); [`explore`] runs a computation under every
//! possible sequence of choices and collects the distinct outcomes.

/// Picks one of `n` candidates (`n >= 1`), as Go's random map order would.
pub trait Chooser {
    /// Returns an index in `0..n`.
    fn choose(&mut self, n: usize) -> usize;
}

/// Always picks the first candidate.
#[derive(Debug, Default, Clone, Copy)]
pub struct FirstChoice;

impl Chooser for FirstChoice {
    fn choose(&mut self, _n: usize) -> usize {
        0
    }
}

/// Replays a prefix of choices, then takes the first candidate, recording every branch point.
struct ScriptedChooser<'a> {
    script: &'a mut Vec<(usize, usize)>,
    position: usize,
    /// Every `choose` call of the exploration so far (branch points or not).
    calls: &'a mut usize,
}

/// The most `choose` calls one [`explore`] makes over all its runs: each call stands for a
/// step of the explored computation, so this bounds the time whatever the input (a zone
/// giving hundreds of endpoints made every run long). The catalog's and the upstream
/// vectors' explorations stay far below it.
pub const MAX_EXPLORED_CHOICES: usize = 200_000;

impl Chooser for ScriptedChooser<'_> {
    fn choose(&mut self, n: usize) -> usize {
        *self.calls += 1;
        if n <= 1 {
            return 0;
        }
        let pick = if let Some(&(pick, _)) = self.script.get(self.position) {
            pick
        } else {
            self.script.push((0, n));
            0
        };
        self.position += 1;
        pick.min(n - 1)
    }
}

/// Every distinct outcome of `run` over all choice sequences, in discovery order, stopping
/// after `limit` runs or [`MAX_EXPLORED_CHOICES`] choices in all. Returns the outcomes and
/// whether the exploration was complete.
pub fn explore<T: PartialEq>(
    mut run: impl FnMut(&mut dyn Chooser) -> T,
    limit: usize,
) -> (Vec<T>, bool) {
    let mut outcomes: Vec<T> = Vec::new();
    let mut script: Vec<(usize, usize)> = Vec::new();
    let mut calls = 0;
    for _ in 0..limit {
        if calls > MAX_EXPLORED_CHOICES {
            break;
        }
        let outcome = {
            let mut chooser = ScriptedChooser {
                script: &mut script,
                position: 0,
                calls: &mut calls,
            };
            run(&mut chooser)
        };
        if !outcomes.contains(&outcome) {
            outcomes.push(outcome);
        }
        // Advance to the next choice sequence (depth-first, last branch first).
        while let Some(&(pick, n)) = script.last() {
            if pick + 1 < n {
                if let Some(last) = script.last_mut() {
                    last.0 += 1;
                }
                break;
            }
            script.pop();
        }
        if script.is_empty() {
            return (outcomes, true);
        }
    }
    (outcomes, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explores_every_sequence() {
        let (outcomes, complete) = explore(
            |c| {
                let a = c.choose(3);
                let b = c.choose(2);
                (a, b)
            },
            100,
        );
        assert!(complete);
        assert_eq!(outcomes.len(), 6);
        assert!(outcomes.contains(&(2, 1)));
    }

    #[test]
    fn deduplicates_and_respects_the_limit() {
        let (outcomes, complete) = explore(|c| c.choose(4) % 2, 100);
        assert!(complete);
        assert_eq!(outcomes, vec![0, 1]);
        let (_, complete) = explore(|c| (c.choose(4), c.choose(4)), 3);
        assert!(!complete);
    }

    #[test]
    fn long_runs_stop_at_the_choice_budget() {
        // 2^64 sequences of 64 binary choices each: only the budget ends it.
        let mut runs = 0;
        let (outcomes, complete) = explore(
            |c| {
                runs += 1;
                (0..64).map(|_| c.choose(2)).sum::<usize>()
            },
            usize::MAX,
        );
        assert!(!complete);
        assert!(!outcomes.is_empty());
        assert_eq!(runs, MAX_EXPLORED_CHOICES / 64 + 1);
    }
}
