//! How a closed-loop user waits after its target failed to answer.
//!
//! A real client that cannot connect does not retry in a hot loop: without
//! a pause, two users against a dead target made 62,852 connection attempts
//! in 3.5 s, flooding `requests.jsonl` and the generator's CPU while telling
//! nothing more than the first few. Each user therefore backs off
//! exponentially after consecutive connection-level failures, with jitter so
//! users that failed together do not retry together. Open loop never waits:
//! its arrivals are the experiment.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::units::parse_duration;

/// Exponential backoff with "equal jitter": after the n-th failure in a row
/// the pause is drawn uniformly from `[d/2, d]`, where
/// `d = min(cap, base · 2^(n-1))`, so it never collapses to zero and users
/// spread out. Written `BASE..CAP` (e.g. `100ms..5s`) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// The ceiling of the first pause.
    #[serde(with = "crate::units::serde_duration")]
    pub base: Duration,
    /// No pause is longer than this.
    #[serde(with = "crate::units::serde_duration")]
    pub cap: Duration,
}

/// The default: a first pause of 50–100 ms, doubling to at most 5 s.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    cap: Duration::from_secs(5),
};

impl Backoff {
    /// The pause after `streak` consecutive failures (`streak ≥ 1`).
    pub fn pause<R: Rng>(&self, streak: u32, rng: &mut R) -> Duration {
        let doublings = streak.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .checked_mul(1 << doublings)
            .map_or(self.cap, |d| d.min(self.cap));
        let half = ceiling / 2;
        half + ceiling.saturating_sub(half).mul_f64(rng.random::<f64>())
    }
}

/// What a closed-loop user does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The pause after connection-level failures (`None`: retry at once).
    pub backoff: Option<Backoff>,
    /// After a 429 or 503 with `Retry-After`, wait as long as it says.
    pub honor_retry_after: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff: Some(DEFAULT_BACKOFF),
            honor_retry_after: false,
        }
    }
}

/// The longest `Retry-After` a user honours, so a server asking for an
/// hour cannot stall a run without a duration for that long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a request ended, as far as its user's next pause is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The target answered (successfully or not).
    Answered,
    /// The target could not be reached or dropped the connection.
    Unreachable,
    /// A 429 or 503, with the wait its `Retry-After` asked for, if any.
    Throttled(Option<Duration>),
}

impl RetryPolicy {
    /// No pause ever: what runs recorded before backoff existed did.
    pub fn off() -> Self {
        Self {
            backoff: None,
            honor_retry_after: false,
        }
    }

    /// The pause before a user's next request after `outcome`, given
    /// `streak`, its count of connection-level failures in a row (updated).
    pub fn pause<R: Rng>(
        &self,
        outcome: Outcome,
        streak: &mut u32,
        rng: &mut R,
    ) -> Option<Duration> {
        match outcome {
            Outcome::Unreachable => {
                *streak = streak.saturating_add(1);
                self.backoff.map(|b| b.pause(*streak, rng))
            }
            Outcome::Throttled(asked) => {
                *streak = 0;
                asked
                    .filter(|_| self.honor_retry_after)
                    .map(|d| d.min(MAX_RETRY_AFTER))
            }
            Outcome::Answered => {
                *streak = 0;
                None
            }
        }
    }
}

/// Why `--retry-backoff` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackoffError {
    /// A bound is not a duration.
    #[error("'{0}' is not a duration (e.g. 100ms)")]
    Duration(String),
    /// A zero first pause is no backoff: say `off`.
    #[error("the first pause must be greater than 0 (use 'off' for none)")]
    ZeroBase,
    /// The cap is below the first pause.
    #[error("the cap {cap} is below the first pause {base}")]
    CapBelowBase {
        /// The first pause as written.
        base: String,
        /// The cap as written.
        cap: String,
    },
}

/// `--retry-backoff`: a backoff, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RetryBackoff(pub Option<Backoff>);

impl Default for RetryBackoff {
    fn default() -> Self {
        Self(Some(DEFAULT_BACKOFF))
    }
}

impl FromStr for RetryBackoff {
    type Err = BackoffError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
            return Ok(Self(None));
        }
        let duration =
            |t: &str| parse_duration(t.trim()).map_err(|_| BackoffError::Duration(t.trim().into()));
        let (base, cap) = match s.split_once("..") {
            Some((b, c)) => (duration(b)?, duration(c)?),
            None => {
                let base = duration(s)?;
                (base, DEFAULT_BACKOFF.cap.max(base))
            }
        };
        if base.is_zero() {
            return Err(BackoffError::ZeroBase);
        }
        if cap < base {
            let (base, cap) = s.split_once("..").unwrap_or((s, s));
            return Err(BackoffError::CapBelowBase {
                base: base.trim().into(),
                cap: cap.trim().into(),
            });
        }
        Ok(Self(Some(Backoff { base, cap })))
    }
}

impl fmt::Display for RetryBackoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("off"),
            Some(b) => write!(
                f,
                "{}..{}",
                humantime::format_duration(b.base),
                humantime::format_duration(b.cap)
            ),
        }
    }
}

impl TryFrom<String> for RetryBackoff {
    type Error = BackoffError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RetryBackoff> for String {
    fn from(b: RetryBackoff) -> String {
        b.to_string()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn pauses_double_within_their_jitter_band_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(700),
        };
        let mut rng = SmallRng::seed_from_u64(1);
        // Ceilings 100, 200, 400, 700 (capped), 700, …
        for (streak, ceiling_ms) in [(1, 100), (2, 200), (3, 400), (4, 700), (40, 700)] {
            let ceiling = Duration::from_millis(ceiling_ms);
            for _ in 0..200 {
                let p = b.pause(streak, &mut rng);
                assert!(p >= ceiling / 2 && p <= ceiling, "streak {streak}: {p:?}");
            }
        }
        // The jitter spreads users: 200 draws are not all the same.
        let draws: std::collections::BTreeSet<_> = (0..200).map(|_| b.pause(3, &mut rng)).collect();
        assert!(draws.len() > 100, "{}", draws.len());
    }

    #[test]
    fn an_answer_ends_the_streak_and_retry_after_is_only_honoured_when_asked() {
        let mut rng = SmallRng::seed_from_u64(2);
        let policy = RetryPolicy::default();
        let mut streak = 0;
        for _ in 0..3 {
            assert!(policy
                .pause(Outcome::Unreachable, &mut streak, &mut rng)
                .is_some());
        }
        assert_eq!(streak, 3);
        assert_eq!(policy.pause(Outcome::Answered, &mut streak, &mut rng), None);
        assert_eq!(streak, 0);
        let asked = Outcome::Throttled(Some(Duration::from_secs(2)));
        assert_eq!(
            policy.pause(asked, &mut streak, &mut rng),
            None,
            "not asked to honour"
        );
        let honour = RetryPolicy {
            honor_retry_after: true,
            ..policy
        };
        assert_eq!(
            honour.pause(asked, &mut streak, &mut rng),
            Some(Duration::from_secs(2))
        );
        let greedy = Outcome::Throttled(Some(Duration::from_secs(3600)));
        assert_eq!(
            honour.pause(greedy, &mut streak, &mut rng),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            honour.pause(Outcome::Throttled(None), &mut streak, &mut rng),
            None
        );
        let off = RetryPolicy::off();
        assert_eq!(off.pause(Outcome::Unreachable, &mut streak, &mut rng), None);
    }

    #[test]
    fn parses_off_a_base_and_a_range() {
        assert_eq!("off".parse::<RetryBackoff>(), Ok(RetryBackoff(None)));
        let b = "250ms"
            .parse::<RetryBackoff>()
            .expect("base")
            .0
            .expect("on");
        assert_eq!(
            (b.base, b.cap),
            (Duration::from_millis(250), Duration::from_secs(5))
        );
        let b = "1s..30s"
            .parse::<RetryBackoff>()
            .expect("range")
            .0
            .expect("on");
        assert_eq!(
            (b.base, b.cap),
            (Duration::from_secs(1), Duration::from_secs(30))
        );
        assert_eq!(
            "10s"
                .parse::<RetryBackoff>()
                .expect("big")
                .0
                .expect("on")
                .cap,
            Duration::from_secs(10)
        );
        assert_eq!("0s".parse::<RetryBackoff>(), Err(BackoffError::ZeroBase));
        assert!(matches!(
            "2s..1s".parse::<RetryBackoff>(),
            Err(BackoffError::CapBelowBase { .. })
        ));
        assert!(matches!(
            "soon".parse::<RetryBackoff>(),
            Err(BackoffError::Duration(_))
        ));
        // What result.json writes reads back the same.
        let b: RetryBackoff = "1s..30s".parse().expect("range");
        assert_eq!(b.to_string().parse::<RetryBackoff>(), Ok(b));
        assert_eq!(RetryBackoff::default().to_string(), "100ms..5s");
    }
}
