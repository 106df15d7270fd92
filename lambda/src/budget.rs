//! A run's time budget: `--time-budget`, or the Lambda invocation's deadline less a
//! safety margin. Both phases stop starting new users when too little of it is left,
//! finish what they started, and report what they left for the next run.
//!
//! Imports nothing else from the crate.

use std::time::{Duration, Instant};

/// How much of the budget a phase keeps for finishing what it started: a tenth of the
/// budget, at most this much.
const MAX_RESERVE: Duration = Duration::from_secs(60);

/// The time a run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `None`: no budget.
    deadline: Option<Instant>,
    /// What is kept back for finishing work in flight.
    reserve: Duration,
}

impl Budget {
    /// No limit.
    pub const NONE: Budget = Budget {
        deadline: None,
        reserve: Duration::ZERO,
    };

    /// `total` from now.
    pub fn of(total: Duration) -> Budget {
        Budget::until(Instant::now() + total, total)
    }

    /// Until `deadline`, `total` after the run started.
    pub fn until(deadline: Instant, total: Duration) -> Budget {
        Budget {
            deadline: Some(deadline),
            reserve: (total / 10).min(MAX_RESERVE),
        }
    }

    /// Whether there is a budget.
    pub fn is_limited(&self) -> bool {
        self.deadline.is_some()
    }

    /// Whether new work may start: more than the reserve is left (always, without a
    /// budget).
    pub fn may_start(&self) -> bool {
        self.deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) > self.reserve)
    }

    /// Whether new work may start that commits the run to `later` more work: more than
    /// the reserve plus `later` is left (always, without a budget).
    pub fn may_start_with(&self, later: Duration) -> bool {
        self.deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) > self.reserve.saturating_add(later))
    }

    /// Whether the budget is used up: nothing at all may start any more (work already
    /// decided is finished within the reserve; see [`Budget::may_start`]).
    pub fn is_spent(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Time left (`None`: no budget).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_tenth_at_most_a_minute() {
        assert!(Budget::NONE.may_start());
        assert!(!Budget::NONE.is_limited());
        let short = Budget::of(Duration::from_secs(10));
        assert_eq!(short.reserve, Duration::from_secs(1));
        assert!(short.may_start());
        let long = Budget::of(Duration::from_secs(900));
        assert_eq!(long.reserve, MAX_RESERVE);
        assert!(short.may_start_with(Duration::from_secs(5)));
        assert!(!short.may_start_with(Duration::from_secs(9)));
        assert!(Budget::NONE.may_start_with(Duration::MAX));
        let spent = Budget::until(Instant::now(), Duration::from_secs(10));
        assert!(!spent.may_start());
        assert!(spent.is_spent() && !short.is_spent() && !Budget::NONE.is_spent());
        assert_eq!(spent.remaining(), Some(Duration::ZERO));
    }
}
