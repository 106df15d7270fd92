//! One poller: waits that grow (with optional jitter) until a deadline or a number of
//! attempts, for everything that polls or retries: the credential report, Access Advisor
//! jobs, IAM's conflict answers, and xtask's CloudFormation waits.
//!
//! Imports nothing else from the crate. Uses tokio's clock, so tests with a paused clock
//! run instantly.

use std::time::Duration;

use tokio::time::Instant;

/// How much random delay is added to each wait, as a fraction of it: spreads the calls
/// of concurrent pollers (AWS asks callers to stagger Access Advisor jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// Plus up to half of it.
    Half,
    /// Plus up to all of it.
    Full,
}

/// What happens to the wait that would pass the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtDeadline {
    /// It is not made: the poll gives up before sleeping past the deadline.
    GiveUp,
    /// It is shortened to end at the deadline; the next wait gives up.
    Shorten,
}

/// Growing waits between polls or retries.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    /// Growth per wait, as a ratio (3/2, 2/1).
    growth: (u32, u32),
    jitter: Jitter,
    deadline: Option<(Instant, AtDeadline)>,
    attempts_left: Option<u32>,
}

/// The poll is out of time or attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("out of time or attempts")]
pub struct Exhausted;

impl Backoff {
    /// Waits from `first`, doubling up to `max`, without jitter, deadline or attempt limit.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            next: first,
            max,
            growth: (2, 1),
            jitter: Jitter::None,
            deadline: None,
            attempts_left: None,
        }
    }

    /// Each wait is the previous one times `numerator / denominator` (up to the maximum).
    pub fn growth(self, numerator: u32, denominator: u32) -> Backoff {
        Backoff {
            growth: (numerator, denominator.max(1)),
            ..self
        }
    }

    /// Random delay added to each wait.
    pub fn jitter(self, jitter: Jitter) -> Backoff {
        Backoff { jitter, ..self }
    }

    /// No wait past `timeout` from now.
    pub fn deadline(self, timeout: Duration, rule: AtDeadline) -> Backoff {
        Backoff {
            deadline: Some((Instant::now() + timeout, rule)),
            ..self
        }
    }

    /// At most `waits` waits.
    pub fn attempts(self, waits: u32) -> Backoff {
        Backoff {
            attempts_left: Some(waits),
            ..self
        }
    }

    /// The next wait, or `None` when out of time or attempts. Grows the one after.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if let Some(left) = self.attempts_left.as_mut() {
            *left = left.checked_sub(1)?;
        }
        let base = self.next;
        let extra = match self.jitter {
            Jitter::None => Duration::ZERO,
            Jitter::Half => random_up_to(base / 2),
            Jitter::Full => random_up_to(base),
        };
        let mut delay = base + extra;
        if let Some((deadline, rule)) = self.deadline {
            let now = Instant::now();
            match rule {
                AtDeadline::GiveUp if now + delay > deadline => return None,
                AtDeadline::Shorten if now >= deadline => return None,
                AtDeadline::Shorten => delay = delay.min(deadline - now),
                AtDeadline::GiveUp => {}
            }
        }
        let (numerator, denominator) = self.growth;
        self.next = (base * numerator / denominator).min(self.max);
        Some(delay)
    }

    /// Sleeps the next wait; [`Exhausted`] (without sleeping) when out of time or attempts.
    pub async fn wait(&mut self) -> Result<(), Exhausted> {
        let delay = self.next_delay().ok_or(Exhausted)?;
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// A uniformly random duration in `0..=max` (millisecond steps).
fn random_up_to(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(0..=millis))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn waits_grow_to_the_maximum() {
        let mut b = Backoff::new(ms(250), ms(1000));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(delays, [250, 500, 1000, 1000, 1000].map(|n| Some(ms(n))));
        let mut b = Backoff::new(ms(1000), ms(3000)).growth(3, 2);
        let delays: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(delays, [1000, 1500, 2250, 3000].map(|n| Some(ms(n))));
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_its_fraction() {
        for _ in 0..200 {
            let half = Backoff::new(ms(200), ms(200))
                .jitter(Jitter::Half)
                .next_delay()
                .unwrap();
            assert!((ms(200)..=ms(300)).contains(&half), "{half:?}");
            let full = Backoff::new(ms(200), ms(200))
                .jitter(Jitter::Full)
                .next_delay()
                .unwrap();
            assert!((ms(200)..=ms(400)).contains(&full), "{full:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_run_out() {
        let mut b = Backoff::new(ms(10), ms(10)).attempts(3);
        assert!(b.wait().await.is_ok() && b.wait().await.is_ok() && b.wait().await.is_ok());
        assert_eq!(b.wait().await, Err(Exhausted));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_deadline_gives_up_before_sleeping() {
        let start = Instant::now();
        let mut b = Backoff::new(ms(400), ms(400)).deadline(ms(1000), AtDeadline::GiveUp);
        assert!(b.wait().await.is_ok());
        assert!(b.wait().await.is_ok());
        assert_eq!(b.wait().await, Err(Exhausted));
        assert_eq!(Instant::now() - start, ms(800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shortened_wait_ends_at_the_deadline() {
        let start = Instant::now();
        let mut b = Backoff::new(ms(400), ms(400)).deadline(ms(1000), AtDeadline::Shorten);
        for _ in 0..3 {
            assert!(b.wait().await.is_ok());
        }
        assert_eq!(Instant::now() - start, ms(1000));
        assert_eq!(b.wait().await, Err(Exhausted));
    }
}
