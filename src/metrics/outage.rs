//! When the target was down, from the records alone.
//!
//! A failure count says *that* connections failed, not *when*: 40 connect
//! failures may be one bad second or a dead minute. An outage is a run of
//! connection-level failures ([`ErrorKind::is_connection_level`]) with no
//! answer of any kind in between, of at least [`MIN_FAILURES`] failures
//! over at least [`MIN_SPAN_US`]; it is reported from the end of its first
//! failure to the end of its last, so the interval is what the generator
//! saw, never a guess at the repair. Both minimums keep random resets out:
//! a 10-minute soak with 5 % of responses reset at 50 req/s has no outage
//! (with "2 in a row", it had 330).

use serde::{Deserialize, Serialize};

use super::RequestRecord;
use crate::protocol::ErrorKind;

/// Connection-level failures in a row that make an outage: one lone
/// refused connection under load is an error, not a down target.
pub const MIN_FAILURES: u64 = 3;
/// The shortest span of those failures that makes an outage (µs): resets
/// that happen to come back to back are not a down target.
pub const MIN_SPAN_US: u64 = 500_000;

/// A span of run time in which every request that ended failed to reach
/// the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// End of the first failure, µs since the run started.
    pub from_us: u64,
    /// End of the last failure, µs since the run started.
    pub to_us: u64,
    /// Connection-level failures in the span.
    pub failures: u64,
    /// The stage ended with the target still down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ongoing: bool,
}

impl Outage {
    /// Long and full enough to be a down target, not a few unlucky requests.
    fn counts(&self) -> bool {
        self.failures >= MIN_FAILURES && self.to_us - self.from_us >= MIN_SPAN_US
    }
}

/// Outages of one stage, built as records arrive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outages {
    /// Outages that ended (an answer came after them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ended: Vec<Outage>,
    /// The failures in a row seen last, not yet ended by an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<Outage>,
}

impl Outages {
    /// Account for one finished request.
    pub fn record(&mut self, r: &RequestRecord) {
        match r.error {
            Some(ErrorKind::Cancelled) => {}
            Some(kind) if kind.is_connection_level() => match self.current.as_mut() {
                Some(o) => {
                    o.to_us = o.to_us.max(r.end_us);
                    o.failures += 1;
                }
                None => {
                    self.current = Some(Outage {
                        from_us: r.end_us,
                        to_us: r.end_us,
                        failures: 1,
                        ongoing: false,
                    });
                }
            },
            // Any answer ends a run of failures: the target was up.
            _ => {
                if let Some(o) = self.current.take().filter(Outage::counts) {
                    self.ended.push(o);
                }
            }
        }
    }

    /// When the outage still going on started, if the target is down now.
    pub fn down_since_us(&self) -> Option<u64> {
        self.current.filter(Outage::counts).map(|o| o.from_us)
    }

    /// Every outage of the stage in time order, the last `ongoing` when the
    /// stage ended with the target down.
    pub fn list(&self) -> Vec<Outage> {
        let mut all = self.ended.clone();
        if let Some(o) = self.current.filter(Outage::counts) {
            all.push(Outage { ongoing: true, ..o });
        }
        all
    }

    /// The same outages on a clock whose zero is `by_us` earlier (a
    /// shard's, merged onto the run's).
    pub fn shift(&mut self, by_us: u64) {
        for o in self.ended.iter_mut().chain(self.current.as_mut()) {
            o.from_us += by_us;
            o.to_us += by_us;
        }
    }

    /// Add another worker's outages of the same stage: overlapping spans
    /// become one, so a target down for every worker is one outage.
    pub fn merge(&mut self, other: &Outages) {
        let mut all = self.list();
        all.extend(other.list());
        all.sort_by_key(|o| o.from_us);
        let mut merged: Vec<Outage> = Vec::with_capacity(all.len());
        for o in all {
            match merged.last_mut() {
                Some(last) if o.from_us <= last.to_us => {
                    last.to_us = last.to_us.max(o.to_us);
                    last.failures += o.failures;
                    last.ongoing |= o.ongoing;
                }
                _ => merged.push(o),
            }
        }
        // An ongoing outage stays the current one, so later records of a
        // merged stage (none today) could still end it.
        self.current = if merged.last().is_some_and(|o| o.ongoing) {
            merged.pop().map(|o| Outage {
                ongoing: false,
                ..o
            })
        } else {
            None
        };
        self.ended = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(start_ms: u64, end_ms: u64, error: Option<ErrorKind>) -> RequestRecord {
        RequestRecord {
            start_us: start_ms * 1000,
            end_us: end_ms * 1000,
            error,
            ..RequestRecord::default()
        }
    }

    const CONNECT: Option<ErrorKind> = Some(ErrorKind::Connect);
    const RESET: Option<ErrorKind> = Some(ErrorKind::Reset);

    #[test]
    fn failures_in_a_row_over_half_a_second_between_answers_are_one_outage() {
        let mut o = Outages::default();
        o.record(&rec(0, 100, None));
        o.record(&rec(100, 200, CONNECT));
        o.record(&rec(300, 300, CONNECT));
        assert_eq!(o.down_since_us(), None, "two failures are not an outage");
        o.record(&rec(600, 600, RESET));
        assert_eq!(
            o.down_since_us(),
            None,
            "three within 0.4 s are not one either"
        );
        o.record(&rec(700, 701, RESET));
        assert_eq!(o.down_since_us(), Some(200_000));
        o.record(&rec(0, 800, Some(ErrorKind::Cancelled)));
        assert_eq!(
            o.down_since_us(),
            Some(200_000),
            "a cancelled request says nothing"
        );
        // Any answer ends it, even a failing one.
        o.record(&rec(900, 950, Some(ErrorKind::Http(500))));
        assert_eq!(o.down_since_us(), None);
        // Resets that come back to back between answers are not an outage.
        for t in [1000, 1001, 1002, 1003] {
            o.record(&rec(t - 50, t, RESET));
        }
        o.record(&rec(1000, 1010, None));
        assert_eq!(
            o.list(),
            vec![Outage {
                from_us: 200_000,
                to_us: 701_000,
                failures: 4,
                ongoing: false
            }]
        );
    }

    #[test]
    fn a_stage_that_ends_down_says_so_and_merges_overlap() {
        let mut a = Outages::default();
        for t in [1000, 2000, 3000] {
            a.record(&rec(0, t, CONNECT));
        }
        let list = a.list();
        assert_eq!(list.len(), 1);
        assert!(list[0].ongoing);
        let mut b = Outages::default();
        for t in [2500, 3000, 4000] {
            b.record(&rec(0, t, CONNECT));
        }
        b.record(&rec(4500, 4600, None));
        for t in [5000, 5500, 6000] {
            b.record(&rec(0, t, CONNECT));
        }
        b.record(&rec(6000, 6100, None));
        a.merge(&b);
        let list = a.list();
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!(
            (list[0].from_us, list[0].to_us, list[0].failures),
            (1_000_000, 4_000_000, 6)
        );
        assert!(list[0].ongoing, "one worker ended down");
        assert_eq!((list[1].from_us, list[1].failures), (5_000_000, 3));
    }
}
