//! Sorting scores once and sweeping the decision threshold over them.
//!
//! Scores are mapped to `u64` keys whose unsigned order is the numeric order
//! of the scores (the IEEE-754 bit pattern with the sign handled), then
//! sorted in place with `sort_unstable`: integer comparisons are about 1.5x
//! faster than `f64::total_cmp`, and on 10 million keys this was as fast as
//! a one-pass MSD radix split and about 1.6x faster than an 11-bit LSD radix
//! sort, whose six scatter passes are memory bound. Attack and benign scores
//! are sorted apart, so no label travels with a key; the sweep merges the
//! two sorted runs from the top.

use crate::MetricsError;
use crate::validate::check_paired;

const SIGN: u64 = 1 << 63;

/// Maps a finite score to a key with the same order; `-0.0` and `0.0` share
/// a key, because they are the same score.
#[inline]
pub(crate) fn key(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits & SIGN != 0 { !bits } else { bits | SIGN }
}

/// The score of a key made by [`key`].
#[inline]
pub(crate) fn score(key: u64) -> f64 {
    f64::from_bits(if key & SIGN != 0 { key & !SIGN } else { !key })
}

/// Validates finite scores and returns their keys in ascending order.
pub(crate) fn sorted_sample(what: &'static str, scores: &[f64]) -> Result<Vec<u64>, MetricsError> {
    crate::validate::check_sample(what, scores)?;
    let mut keys: Vec<u64> = scores.iter().map(|&s| key(s)).collect();
    keys.sort_unstable();
    Ok(keys)
}

/// Attack and benign scores, each sorted ascending as keys.
#[derive(Debug)]
pub(crate) struct SortedBinary {
    positives: Vec<u64>,
    negatives: Vec<u64>,
}

impl SortedBinary {
    /// Validates `labels`/`scores` (non-empty, equal lengths, finite scores)
    /// and sorts them.
    pub(crate) fn new(labels: &[bool], scores: &[f64]) -> Result<Self, MetricsError> {
        check_paired("labels", labels.len(), "scores", scores.len())?;
        let n_pos = labels.iter().filter(|&&l| l).count();
        let mut positives = Vec::with_capacity(n_pos);
        let mut negatives = Vec::with_capacity(labels.len() - n_pos);
        for (index, (&label, &value)) in labels.iter().zip(scores).enumerate() {
            if !value.is_finite() {
                return Err(MetricsError::NonFiniteScore {
                    what: "scores",
                    index,
                    value,
                });
            }
            if label {
                positives.push(key(value));
            } else {
                negatives.push(key(value));
            }
        }
        positives.sort_unstable();
        negatives.sort_unstable();
        Ok(Self {
            positives,
            negatives,
        })
    }

    /// Number of attack samples.
    pub(crate) fn n_positives(&self) -> u64 {
        self.positives.len() as u64
    }

    /// Number of benign samples.
    pub(crate) fn n_negatives(&self) -> u64 {
        self.negatives.len() as u64
    }

    /// Fails with [`MetricsError::SingleClass`] unless attack samples exist.
    pub(crate) fn require_positives(&self, metric: &'static str) -> Result<(), MetricsError> {
        if self.positives.is_empty() {
            return Err(MetricsError::SingleClass {
                metric,
                missing: "attack",
            });
        }
        Ok(())
    }

    /// Fails with [`MetricsError::SingleClass`] unless both classes exist.
    pub(crate) fn require_both(&self, metric: &'static str) -> Result<(), MetricsError> {
        self.require_positives(metric)?;
        if self.negatives.is_empty() {
            return Err(MetricsError::SingleClass {
                metric,
                missing: "benign",
            });
        }
        Ok(())
    }

    /// The thresholds at every distinct score, from the highest down.
    pub(crate) fn sweep(&self) -> Sweep<'_> {
        Sweep {
            positives: &self.positives,
            negatives: &self.negatives,
            tp: 0,
            fp: 0,
        }
    }
}

/// One distinct score used as a threshold: the counts of attack (`tp`) and
/// benign (`fp`) samples whose score is at least `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SweepPoint {
    pub(crate) threshold: f64,
    pub(crate) tp: u64,
    pub(crate) fp: u64,
}

/// Iterator over [`SweepPoint`]s in decreasing threshold order; tied scores
/// form one point.
#[derive(Debug)]
pub(crate) struct Sweep<'a> {
    positives: &'a [u64],
    negatives: &'a [u64],
    tp: u64,
    fp: u64,
}

/// Removes the trailing run of `k` from an ascending slice, returning its length.
#[inline]
fn pop_run(sorted: &mut &[u64], k: u64) -> u64 {
    let mut end = sorted.len();
    while end > 0 && sorted[end - 1] == k {
        end -= 1;
    }
    let run = sorted.len() - end;
    *sorted = &sorted[..end];
    run as u64
}

impl Iterator for Sweep<'_> {
    type Item = SweepPoint;

    fn next(&mut self) -> Option<SweepPoint> {
        let k = match (self.positives.last(), self.negatives.last()) {
            (None, None) => return None,
            (Some(&p), None) => p,
            (None, Some(&n)) => n,
            (Some(&p), Some(&n)) => p.max(n),
        };
        self.tp += pop_run(&mut self.positives, k);
        self.fp += pop_run(&mut self.negatives, k);
        Some(SweepPoint {
            threshold: score(k),
            tp: self.tp,
            fp: self.fp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_preserve_order_and_round_trip() {
        let values = [
            -f64::MAX,
            -1e300,
            -2.5,
            -f64::MIN_POSITIVE,
            -0.0,
            0.0,
            5e-324,
            0.3,
            1.0,
            f64::MAX,
        ];
        for pair in values.windows(2) {
            assert!(key(pair[0]) <= key(pair[1]), "{pair:?}");
        }
        assert_eq!(key(-0.0), key(0.0));
        for &v in &values {
            assert_eq!(score(key(v)), v + 0.0);
        }
    }

    #[test]
    fn sweep_groups_ties() {
        let sorted = SortedBinary::new(&[true, false, true, false], &[0.8, 0.8, 0.3, 0.1]).unwrap();
        let points: Vec<SweepPoint> = sorted.sweep().collect();
        assert_eq!(
            points,
            vec![
                SweepPoint {
                    threshold: 0.8,
                    tp: 1,
                    fp: 1
                },
                SweepPoint {
                    threshold: 0.3,
                    tp: 2,
                    fp: 1
                },
                SweepPoint {
                    threshold: 0.1,
                    tp: 2,
                    fp: 2
                },
            ]
        );
    }
}
