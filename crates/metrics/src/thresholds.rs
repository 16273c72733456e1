//! Choosing and sweeping decision thresholds (`score >= threshold` flags an
//! attack).

use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::binary::{ConfusionMatrix, Rates};
use crate::sweep::{SortedBinary, key, score};
use crate::validate::{check_finite, check_paired, check_rate, check_sample, check_threshold};

/// The thresholds at which the reference system reported its results.
pub const REFERENCE_THRESHOLDS: [f64; 3] = [0.25, 0.30, 0.35];

/// The confusion counts and main rates at one threshold; one row of a
/// threshold sweep. In JSON the field `fn_` is written as `fn`, and an
/// infinite threshold as `null`.
///
/// ```
/// let row = metrics::ThresholdRow::new(0.3, &metrics::ConfusionMatrix::new(3, 1, 5, 1));
/// let json = serde_json::to_string(&row).unwrap();
/// assert_eq!(
///     json,
///     r#"{"threshold":0.3,"tp":3,"fp":1,"tn":5,"fn":1,"precision":0.75,"recall":0.75,"f1":0.75,"fpr":0.16666666666666666}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRow {
    /// The decision threshold.
    pub threshold: f64,
    /// The counts and rates at it; the row reads as them (`row.recall`).
    #[serde(flatten)]
    pub rates: Rates,
}

impl ThresholdRow {
    /// The row of `cm`, obtained at `threshold`.
    pub fn new(threshold: f64, cm: &ConfusionMatrix) -> Self {
        Self {
            threshold,
            rates: cm.rates(),
        }
    }
}

impl std::ops::Deref for ThresholdRow {
    type Target = Rates;

    fn deref(&self) -> &Rates {
        &self.rates
    }
}

/// Metrics at each of `thresholds` (for example [`REFERENCE_THRESHOLDS`]),
/// one row per threshold in the given order.
///
/// Errors: [`MetricsError::EmptyInput`] for empty labels or an empty
/// threshold list, [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], [`MetricsError::InvalidThreshold`] for
/// a NaN threshold.
///
/// ```
/// use metrics::{threshold_sweep, REFERENCE_THRESHOLDS};
///
/// let labels = [true, true, false, false];
/// let scores = [0.9, 0.28, 0.31, 0.1];
/// let rows = threshold_sweep(&labels, &scores, &REFERENCE_THRESHOLDS)?;
/// assert_eq!(rows.len(), 3);
/// assert_eq!((rows[0].tp, rows[0].fp), (2, 1)); // at 0.25
/// assert_eq!((rows[1].tp, rows[1].fp), (1, 1)); // at 0.30
/// assert_eq!((rows[2].tp, rows[2].fp), (1, 0)); // at 0.35
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn threshold_sweep(
    labels: &[bool],
    scores: &[f64],
    thresholds: &[f64],
) -> Result<Vec<ThresholdRow>, MetricsError> {
    check_paired("labels", labels.len(), "scores", scores.len())?;
    check_finite("scores", scores)?;
    if thresholds.is_empty() {
        return Err(MetricsError::EmptyInput { what: "thresholds" });
    }
    thresholds.iter().try_for_each(|&t| check_threshold(t))?;
    Ok(thresholds
        .iter()
        .map(|&t| ThresholdRow::new(t, &ConfusionMatrix::count_at(labels, scores, t)))
        .collect())
}

/// The threshold among the distinct scores that maximises F1, with its row.
/// Ties are broken toward the lowest threshold, which is what
/// `thresholds[np.argmax(f1)]` over scikit-learn's `precision_recall_curve`
/// gives.
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], and [`MetricsError::SingleClass`] when
/// there is no attack label (F1 is then 0 at every threshold).
///
/// ```
/// let labels = [false, true, false, true, true];
/// let scores = [0.1, 0.4, 0.5, 0.7, 0.9];
/// let best = metrics::best_f1_threshold(&labels, &scores)?;
/// assert_eq!(best.threshold, 0.4);
/// assert_eq!((best.tp, best.fp), (3, 1));
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn best_f1_threshold(labels: &[bool], scores: &[f64]) -> Result<ThresholdRow, MetricsError> {
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_positives("the best-F1 threshold")?;
    Ok(best_f1_sorted(&sorted))
}

/// The best-F1 row of sorted scores with at least one attack.
pub(crate) fn best_f1_sorted(sorted: &SortedBinary) -> ThresholdRow {
    let (p, n) = (sorted.n_positives(), sorted.n_negatives());
    // The +inf threshold (F1 = 0) is the start; any distinct score with an
    // attack at or above it does at least as well.
    let mut best = (0.0, f64::INFINITY, 0u64, 0u64);
    for pt in sorted.sweep() {
        // 2 tp / (2 tp + fp + fn) with fn = p - tp.
        let f1 = (2 * pt.tp) as f64 / (pt.tp + pt.fp + p) as f64;
        if f1 >= best.0 {
            best = (f1, pt.threshold, pt.tp, pt.fp);
        }
    }
    let (_, threshold, tp, fp) = best;
    ThresholdRow::new(threshold, &ConfusionMatrix::new(tp, fp, n - fp, p - tp))
}

/// The highest recall reachable with a false-positive rate of at most
/// `max_fpr`, with its threshold and row. Candidates are the points of the
/// full ROC curve (every distinct score, plus `+inf` flagging nothing); among
/// the points with the highest recall the one with the lowest
/// false-positive rate (highest threshold) is returned.
///
/// Oracle: with scikit-learn's `fpr, tpr, t = roc_curve(y, s,
/// drop_intermediate=False)`, the recall is `tpr[fpr <= max_fpr].max()`.
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], [`MetricsError::InvalidRate`] unless
/// `0 <= max_fpr <= 1`, [`MetricsError::SingleClass`] unless both classes
/// are present.
///
/// ```
/// let labels = [false, true, false, true, false, true];
/// let scores = [0.95, 0.9, 0.6, 0.5, 0.2, 0.1];
/// let row = metrics::recall_at_fpr(&labels, &scores, 0.7)?;
/// assert_eq!((row.threshold, row.recall, row.fpr), (0.5, 2.0 / 3.0, 2.0 / 3.0));
/// let row = metrics::recall_at_fpr(&labels, &scores, 0.5)?;
/// assert_eq!((row.threshold, row.recall), (0.9, 1.0 / 3.0));
/// let strict = metrics::recall_at_fpr(&labels, &scores, 0.0)?;
/// assert_eq!((strict.threshold, strict.recall), (f64::INFINITY, 0.0));
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn recall_at_fpr(
    labels: &[bool],
    scores: &[f64],
    max_fpr: f64,
) -> Result<ThresholdRow, MetricsError> {
    check_rate("max_fpr", max_fpr)?;
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_both("recall at a false-positive rate")?;
    Ok(recall_at_fpr_sorted(&sorted, max_fpr))
}

/// Recall at a validated `max_fpr` for sorted scores with both classes.
pub(crate) fn recall_at_fpr_sorted(sorted: &SortedBinary, max_fpr: f64) -> ThresholdRow {
    let (p, n) = (sorted.n_positives(), sorted.n_negatives());
    let (mut threshold, mut tp, mut fp) = (f64::INFINITY, 0u64, 0u64);
    for pt in sorted.sweep() {
        if pt.fp as f64 / n as f64 > max_fpr {
            break;
        }
        if pt.tp > tp {
            (threshold, tp, fp) = (pt.threshold, pt.tp, pt.fp);
        }
    }
    ThresholdRow::new(threshold, &ConfusionMatrix::new(tp, fp, n - fp, p - tp))
}

/// The lowest threshold whose false-positive rate on `benign_scores`
/// (the share with `score >= threshold`) is at most `target_fpr`: the
/// threshold that catches the most attacks within a false-alarm budget.
///
/// With `k` the largest count with `k / n <= target_fpr`, the result is the
/// next `f64` above the `(k + 1)`-th largest benign score, so exactly the
/// scores strictly above that one are flagged (ties are never split). When
/// `k == n` (a target of 1) it is the smallest benign score: everything is
/// flagged.
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::NonFiniteScore`],
/// [`MetricsError::InvalidRate`] unless `0 <= target_fpr <= 1`.
///
/// ```
/// let benign = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
/// let t = metrics::threshold_for_fpr(&benign, 0.2)?;
/// assert!(t > 0.8 && t <= 0.9);
/// assert_eq!(metrics::false_positive_rate(&benign, t)?, 0.2);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn threshold_for_fpr(benign_scores: &[f64], target_fpr: f64) -> Result<f64, MetricsError> {
    check_rate("target_fpr", target_fpr)?;
    check_sample("benign_scores", benign_scores)?;
    let n = benign_scores.len();
    let k = false_alarm_allowance(n, target_fpr);
    if k == n {
        return Ok(benign_scores.iter().copied().fold(f64::INFINITY, f64::min) + 0.0);
    }
    let mut keys: Vec<u64> = benign_scores.iter().map(|&s| key(s)).collect();
    // The (k + 1)-th largest is at ascending position n - 1 - k.
    let (_, &mut kth, _) = keys.select_nth_unstable(n - 1 - k);
    Ok(score(kth).next_up())
}

/// The most false alarms among `n` benign flows within a false-positive
/// rate of `target_fpr`: the largest `k` with `k / n <= target_fpr` (0 for
/// no flow or a rate below `1 / n`, `n` for a rate of 1). The count
/// [`threshold_for_fpr`] allows.
///
/// ```
/// assert_eq!(metrics::false_alarm_allowance(1000, 0.01), 10);
/// assert_eq!(metrics::false_alarm_allowance(250, 0.01), 2);
/// assert_eq!(metrics::false_alarm_allowance(100, 0.29), 29);
/// assert_eq!(metrics::false_alarm_allowance(99, 0.001), 0);
/// ```
pub fn false_alarm_allowance(n: usize, target_fpr: f64) -> usize {
    let allowed = |k: usize| k as f64 / n as f64 <= target_fpr;
    let mut k = ((target_fpr * n as f64).floor() as usize).min(n);
    while k < n && allowed(k + 1) {
        k += 1;
    }
    while k > 0 && !allowed(k) {
        k -= 1;
    }
    k
}

/// [`threshold_for_fpr`] of the benign rows' scores (`labels[i]` false)
/// among labelled `scores`: the lowest threshold that flags at most
/// `target_fpr` of the benign rows.
///
/// Errors: [`MetricsError::LengthMismatch`] for labels and scores of
/// different lengths, and those of [`threshold_for_fpr`] (an empty
/// sample when no row is benign).
///
/// ```
/// let labels = [false, true, false, false, true];
/// let scores = [0.1, 0.9, 0.2, 0.3, 0.8];
/// let t = metrics::threshold_for_fpr_labelled(&labels, &scores, 0.34)?;
/// assert_eq!(t, metrics::threshold_for_fpr(&[0.1, 0.2, 0.3], 0.34)?);
/// assert!(t > 0.2 && t <= 0.3);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn threshold_for_fpr_labelled(
    labels: &[bool],
    scores: &[f64],
    target_fpr: f64,
) -> Result<f64, MetricsError> {
    check_paired("labels", labels.len(), "scores", scores.len())?;
    let benign: Vec<f64> = labels
        .iter()
        .zip(scores)
        .filter(|(attack, _)| !**attack)
        .map(|(_, &s)| s)
        .collect();
    threshold_for_fpr(&benign, target_fpr)
}

/// The share of `benign_scores` flagged at `threshold` (`score >=
/// threshold`): the false-positive rate of a detector on benign traffic,
/// for example traffic from another network.
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::NonFiniteScore`],
/// [`MetricsError::InvalidThreshold`] for a NaN threshold.
///
/// ```
/// assert_eq!(metrics::false_positive_rate(&[0.1, 0.5, 0.7, 0.9], 0.5)?, 0.75);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn false_positive_rate(benign_scores: &[f64], threshold: f64) -> Result<f64, MetricsError> {
    check_sample("benign_scores", benign_scores)?;
    check_threshold(threshold)?;
    let flagged = benign_scores.iter().filter(|&&s| s >= threshold).count();
    Ok(flagged as f64 / benign_scores.len() as f64)
}

/// The operating point of least expected cost: the threshold that minimises
/// `cost_fp * fp + cost_fn * fn` over every distinct score (ties at the
/// lowest cost go to the higher threshold, which flags less). Weigh the
/// classes for a deployment prior by scaling the costs: with benign share
/// `pi` in deployment and `n`/`p` benign/attack rows in the sample, use
/// `cost_fp * pi / n` and `cost_fn * (1 - pi) / p`.
///
/// Errors: as [`best_f1_threshold`], and [`MetricsError::InvalidCost`] for
/// a negative or non-finite cost.
///
/// ```
/// // Missing an attack costs twice a false alarm.
/// let labels = [false, false, true, true];
/// let scores = [0.1, 0.6, 0.5, 0.9];
/// let row = metrics::min_cost_threshold(&labels, &scores, 1.0, 2.0).unwrap();
/// assert_eq!((row.threshold, row.tp, row.fp), (0.5, 2, 1));
/// ```
pub fn min_cost_threshold(
    labels: &[bool],
    scores: &[f64],
    cost_fp: f64,
    cost_fn: f64,
) -> Result<ThresholdRow, MetricsError> {
    for (what, c) in [("cost_fp", cost_fp), ("cost_fn", cost_fn)] {
        if !(c.is_finite() && c >= 0.0) {
            return Err(MetricsError::InvalidCost { what, value: c });
        }
    }
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_both("the least-cost threshold")?;
    let (p, n) = (sorted.n_positives(), sorted.n_negatives());
    // Start from flagging nothing: every attack missed.
    let mut best = (cost_fn * p as f64, f64::INFINITY, 0u64, 0u64);
    for pt in sorted.sweep() {
        let cost = cost_fp * pt.fp as f64 + cost_fn * (p - pt.tp) as f64;
        if cost < best.0 {
            best = (cost, pt.threshold, pt.tp, pt.fp);
        }
    }
    let (_, threshold, tp, fp) = best;
    Ok(ThresholdRow::new(
        threshold,
        &ConfusionMatrix::new(tp, fp, n - fp, p - tp),
    ))
}

/// The highest threshold whose recall on `attack_scores` is at least
/// `target_recall`: the `ceil(target * n)`-th largest attack score (at
/// least one attack is flagged for any positive target).
///
/// Errors: [`MetricsError::InvalidRate`] for a target outside `[0, 1]`,
/// [`MetricsError::EmptyInput`] and [`MetricsError::NonFiniteScore`].
///
/// ```
/// let attacks = [0.9, 0.2, 0.5, 0.7];
/// assert_eq!(metrics::threshold_for_recall(&attacks, 0.75).unwrap(), 0.5);
/// assert_eq!(metrics::threshold_for_recall(&attacks, 1.0).unwrap(), 0.2);
/// ```
pub fn threshold_for_recall(
    attack_scores: &[f64],
    target_recall: f64,
) -> Result<f64, MetricsError> {
    check_rate("target_recall", target_recall)?;
    check_sample("attack_scores", attack_scores)?;
    let n = attack_scores.len();
    let need = ((target_recall * n as f64).ceil() as usize).clamp(1, n);
    // `need` may round up past an exact product (0.29 * 100): step back
    // while fewer rows still reach the target.
    let need = (1..=need)
        .rev()
        .take_while(|&k| k as f64 / n as f64 >= target_recall)
        .last()
        .unwrap_or(need);
    let mut keys: Vec<u64> = attack_scores.iter().map(|&s| key(s)).collect();
    let (_, &mut kth, _) = keys.select_nth_unstable(n - need);
    Ok(score(kth))
}

/// The Wilson score interval of a binomial proportion `successes / n` at
/// the normal quantile `z` (1.959964 for 95 %); `(0, 1)` when `n` is 0.
///
/// ```
/// let (lo, hi) = metrics::wilson_interval(0, 250, 1.959964);
/// assert_eq!(lo, 0.0);
/// assert!((hi - 0.01513).abs() < 1e-4);
/// ```
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // The bounds are exactly 0 and 1 at the ends, where rounding would
    // leave a speck.
    let lo = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if successes >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_statsmodels() {
        // Wilson's closed form evaluated independently in f64 (Python), as
        // statsmodels' proportion_confint(5, 100, method="wilson") does.
        let (lo, hi) = wilson_interval(5, 100, 1.959963984540054);
        assert!((lo - 0.021543679).abs() < 1e-8, "{lo}");
        assert!((hi - 0.111750469).abs() < 1e-8, "{hi}");
        assert_eq!(wilson_interval(0, 0, 1.96), (0.0, 1.0));
        let (lo, hi) = wilson_interval(10, 10, 1.96);
        assert!(lo > 0.7 && hi == 1.0);
    }

    #[test]
    fn recall_targets_are_met_exactly() {
        let attacks: Vec<f64> = (0..100).map(f64::from).collect();
        // 0.29 * 100 rounds up past 29 in floating point; 29 of 100 suffice.
        let t = threshold_for_recall(&attacks, 0.29).unwrap();
        assert_eq!(t, 71.0);
        assert_eq!(threshold_for_recall(&attacks, 0.0).unwrap(), 99.0);
        assert_eq!(threshold_for_recall(&attacks, 1.0).unwrap(), 0.0);
        assert!(threshold_for_recall(&attacks, 1.5).is_err());
        assert!(threshold_for_recall(&[], 0.5).is_err());
    }

    #[test]
    fn least_cost_threshold_follows_the_costs() {
        let labels = [false, false, false, true, true, true];
        let scores = [0.1, 0.4, 0.7, 0.3, 0.6, 0.9];
        // Misses cheap: flag only the top score.
        let r = min_cost_threshold(&labels, &scores, 10.0, 1.0).unwrap();
        assert_eq!((r.threshold, r.tp, r.fp), (0.9, 1, 0));
        // Misses dear: flag everything above the lowest benign.
        let r = min_cost_threshold(&labels, &scores, 1.0, 10.0).unwrap();
        assert_eq!((r.tp, r.fp), (3, 2));
        assert!(min_cost_threshold(&labels, &scores, -1.0, 1.0).is_err());
        assert!(min_cost_threshold(&[true], &[0.5], 1.0, 1.0).is_err());
    }

    #[test]
    fn threshold_for_fpr_extremes() {
        let benign = [0.3, 0.1, 0.2, 0.2];
        assert_eq!(threshold_for_fpr(&benign, 1.0).unwrap(), 0.1);
        let none = threshold_for_fpr(&benign, 0.0).unwrap();
        assert_eq!(none, 0.3_f64.next_up());
        assert_eq!(false_positive_rate(&benign, none).unwrap(), 0.0);
        // 0.5 allows two of four, but the two 0.2 are tied: only 0.3 is flagged.
        let t = threshold_for_fpr(&benign, 0.5).unwrap();
        assert_eq!(t, 0.2_f64.next_up());
        assert_eq!(false_positive_rate(&benign, t).unwrap(), 0.25);
        // The largest finite score gives an infinite threshold.
        assert_eq!(threshold_for_fpr(&[f64::MAX], 0.0).unwrap(), f64::INFINITY);
    }

    #[test]
    fn threshold_for_fpr_counts_rates_exactly() {
        // 0.29 * 100 is 28.999999999999996 in floating point, yet 29 / 100 <= 0.29.
        let benign: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let t = threshold_for_fpr(&benign, 0.29).unwrap();
        assert_eq!(false_positive_rate(&benign, t).unwrap(), 0.29);
        assert_eq!(t, 70.0_f64.next_up());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            threshold_for_fpr(&[0.1], 1.5),
            Err(MetricsError::InvalidRate {
                what: "target_fpr",
                ..
            })
        ));
        assert!(matches!(
            threshold_for_fpr(&[0.1], f64::NAN),
            Err(MetricsError::InvalidRate { .. })
        ));
        assert_eq!(
            threshold_for_fpr(&[], 0.1),
            Err(MetricsError::EmptyInput {
                what: "benign_scores"
            })
        );
        assert!(matches!(
            false_positive_rate(&[0.1, f64::NAN], 0.5),
            Err(MetricsError::NonFiniteScore {
                what: "benign_scores",
                index: 1,
                ..
            })
        ));
        assert!(matches!(
            false_positive_rate(&[0.1], f64::NAN),
            Err(MetricsError::InvalidThreshold(_))
        ));
        assert!(matches!(
            threshold_sweep(&[true], &[0.1], &[0.5, f64::NAN]),
            Err(MetricsError::InvalidThreshold(_))
        ));
        assert_eq!(
            threshold_sweep(&[true], &[0.1], &[]),
            Err(MetricsError::EmptyInput { what: "thresholds" })
        );
        assert!(matches!(
            best_f1_threshold(&[false, false], &[0.1, 0.2]),
            Err(MetricsError::SingleClass {
                missing: "attack",
                ..
            })
        ));
        assert!(matches!(
            recall_at_fpr(&[true, true], &[0.1, 0.2], 0.1),
            Err(MetricsError::SingleClass {
                missing: "benign",
                ..
            })
        ));
        assert!(matches!(
            recall_at_fpr(&[true, false], &[0.1, 0.2], -0.1),
            Err(MetricsError::InvalidRate {
                what: "max_fpr",
                ..
            })
        ));
    }

    #[test]
    fn best_f1_prefers_lowest_threshold_on_ties() {
        // Thresholds 0.8 (tp 1, fp 0: F1 = 2/3) and 0.2 (tp 2, fp 2: F1 = 2/3).
        let labels = [true, false, false, true];
        let scores = [0.8, 0.5, 0.5, 0.2];
        let best = best_f1_threshold(&labels, &scores).unwrap();
        assert_eq!(best.threshold, 0.2);
        assert_eq!(best.f1, 2.0 / 3.0);
    }

    #[test]
    fn rows_round_trip_their_confusion() {
        let cm = ConfusionMatrix::new(4, 3, 2, 1);
        assert_eq!(ThresholdRow::new(0.5, &cm).confusion(), cm);
    }
}
