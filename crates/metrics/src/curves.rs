//! ROC and precision-recall curves and the areas under them.
//!
//! Every function sorts the scores once and sweeps the threshold
//! `score >= t` down through the distinct scores: tied scores form one
//! point, exactly as scikit-learn's `_binary_clf_curve`.

use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::sweep::{SortedBinary, SweepPoint};

/// One point of a ROC curve: flagging `score >= threshold` gives this
/// false-positive and true-positive rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Decision threshold (`+inf` for the first point, which flags nothing;
    /// JSON writes it as `null`).
    pub threshold: f64,
    /// False-positive rate at this threshold.
    pub fpr: f64,
    /// True-positive rate (recall) at this threshold.
    pub tpr: f64,
}

/// One point of a precision-recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Decision threshold (`+inf` for the last point, precision 1 and recall
    /// 0 by convention; JSON writes it as `null`).
    pub threshold: f64,
    /// Precision at this threshold (0 when nothing is flagged).
    pub precision: f64,
    /// Recall at this threshold.
    pub recall: f64,
}

/// The ROC curve as scikit-learn's `roc_curve(y_true, y_score)` with its
/// default `drop_intermediate=True`: points collinear with both neighbours
/// are dropped (this changes neither the plot nor the area), and a first
/// point `(0, 0)` at threshold `+inf` is prepended. Thresholds decrease
/// along the curve.
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], and [`MetricsError::SingleClass`] when
/// a class is absent (scikit-learn returns NaN rates with a warning there).
///
/// ```
/// // scikit-learn's own example: y = [1, 1, 2, 2] with pos_label=2.
/// let labels = [false, false, true, true];
/// let scores = [0.1, 0.4, 0.35, 0.8];
/// let roc = metrics::roc_curve(&labels, &scores)?;
/// let fpr: Vec<f64> = roc.iter().map(|p| p.fpr).collect();
/// let tpr: Vec<f64> = roc.iter().map(|p| p.tpr).collect();
/// assert_eq!(fpr, [0.0, 0.0, 0.5, 0.5, 1.0]);
/// assert_eq!(tpr, [0.0, 0.5, 0.5, 1.0, 1.0]);
/// assert_eq!(roc[0].threshold, f64::INFINITY);
/// assert_eq!(roc[1].threshold, 0.8);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> Result<Vec<RocPoint>, MetricsError> {
    roc_points(labels, scores, true)
}

/// The ROC curve with a point at every distinct score, as
/// `roc_curve(y_true, y_score, drop_intermediate=False)`.
///
/// Errors as [`roc_curve`].
///
/// ```
/// let roc = metrics::roc_curve_full(&[false, true, true], &[0.1, 0.5, 0.9])?;
/// assert_eq!(roc.len(), 4);
/// assert_eq!((roc[2].fpr, roc[2].tpr), (0.0, 1.0));
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn roc_curve_full(labels: &[bool], scores: &[f64]) -> Result<Vec<RocPoint>, MetricsError> {
    roc_points(labels, scores, false)
}

fn roc_points(
    labels: &[bool],
    scores: &[f64],
    drop_intermediate: bool,
) -> Result<Vec<RocPoint>, MetricsError> {
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_both("the ROC curve")?;
    let mut points: Vec<SweepPoint> = sorted.sweep().collect();
    if drop_intermediate && points.len() > 2 {
        points = drop_collinear(&points);
    }
    let (p, n) = (sorted.n_positives() as f64, sorted.n_negatives() as f64);
    let mut curve = Vec::with_capacity(points.len() + 1);
    curve.push(RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    });
    curve.extend(points.iter().map(|pt| RocPoint {
        threshold: pt.threshold,
        fpr: pt.fp as f64 / n,
        tpr: pt.tp as f64 / p,
    }));
    Ok(curve)
}

/// Keeps the end points and every point where the second difference of the
/// false-positive or the true-positive counts is non-zero.
fn drop_collinear(points: &[SweepPoint]) -> Vec<SweepPoint> {
    let corner = |w: &[SweepPoint]| {
        let second = |a: u64, b: u64, c: u64| a as i128 - 2 * b as i128 + c as i128;
        second(w[0].fp, w[1].fp, w[2].fp) != 0 || second(w[0].tp, w[1].tp, w[2].tp) != 0
    };
    let mut kept = Vec::with_capacity(points.len());
    kept.push(points[0]);
    kept.extend(points.windows(3).filter(|w| corner(w)).map(|w| w[1]));
    kept.push(points[points.len() - 1]);
    kept
}

/// The precision-recall curve as scikit-learn's
/// `precision_recall_curve(y_true, y_score)`: one point per distinct score
/// in increasing threshold order (recall decreasing), then the point
/// precision 1, recall 0, given the threshold `+inf` here (scikit-learn
/// returns one threshold fewer than points).
///
/// Errors: [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], and [`MetricsError::SingleClass`] when
/// there is no attack label (scikit-learn sets recall to 1 with a warning).
///
/// ```
/// let labels = [false, true, false, true];
/// let scores = [0.1, 0.2, 0.2, 0.9];
/// let pr = metrics::precision_recall_curve(&labels, &scores)?;
/// let precision: Vec<f64> = pr.iter().map(|p| p.precision).collect();
/// let recall: Vec<f64> = pr.iter().map(|p| p.recall).collect();
/// assert_eq!(precision, [0.5, 2.0 / 3.0, 1.0, 1.0]);
/// assert_eq!(recall, [1.0, 1.0, 0.5, 0.0]);
/// assert_eq!(pr[0].threshold, 0.1);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn precision_recall_curve(
    labels: &[bool],
    scores: &[f64],
) -> Result<Vec<PrPoint>, MetricsError> {
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_positives("the precision-recall curve")?;
    let p = sorted.n_positives() as f64;
    let mut curve: Vec<PrPoint> = sorted
        .sweep()
        .map(|pt| PrPoint {
            threshold: pt.threshold,
            // tp + fp >= 1 at every sweep point.
            precision: pt.tp as f64 / (pt.tp + pt.fp) as f64,
            recall: pt.tp as f64 / p,
        })
        .collect();
    curve.reverse();
    curve.push(PrPoint {
        threshold: f64::INFINITY,
        precision: 1.0,
        recall: 0.0,
    });
    Ok(curve)
}

/// Area under the ROC curve, as `roc_auc_score(y_true, y_score)`: the
/// trapezoidal area over the curve, so tied scores count half. Computed
/// exactly in integers (`2 * area * P * N`) and divided once.
///
/// `labels[i]` is `true` for an attack. Errors:
/// [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
/// [`MetricsError::NonFiniteScore`], and [`MetricsError::SingleClass`] when
/// only one class is present. The AUC is undefined there; scikit-learn
/// (1.6 and later) warns and returns NaN. Keeping an error is a deliberate
/// difference: a NaN would pass silently into reports and comparisons.
///
/// ```
/// let auc = metrics::roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8])?;
/// assert_eq!(auc, 0.75);
/// // Ties count half: one attack tied with one benign sample.
/// assert_eq!(metrics::roc_auc(&[false, true], &[0.5, 0.5])?, 0.5);
/// assert!(metrics::roc_auc(&[true, true], &[0.1, 0.2]).is_err());
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    let sorted = SortedBinary::new(labels, scores)?;
    sorted.require_both("ROC AUC")?;
    Ok(roc_auc_sorted(&sorted))
}

/// The standardised partial ROC AUC up to a false-positive rate of
/// `max_fpr`, as `roc_auc_score(y_true, y_score, max_fpr=max_fpr)`: the
/// area under the curve from FPR 0 to `max_fpr` (the last segment
/// interpolated linearly), rescaled by McClish's correction so that a
/// random scorer gives 0.5 and a perfect one 1. It measures a detector
/// where it is used: at few false alarms. `max_fpr` must lie in `(0, 1]`;
/// 1 gives [`roc_auc`].
///
/// ```
/// let labels = [false, false, true, true, false, true, false, false, true, false];
/// let scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.7, 0.05, 0.3, 0.6];
/// // scikit-learn 1.x: 0.7058823529411764 and 0.7368421052631579.
/// assert!((metrics::partial_roc_auc(&labels, &scores, 0.3)? - 0.7058823529411764).abs() < 1e-12);
/// assert!((metrics::partial_roc_auc(&labels, &scores, 0.1)? - 0.7368421052631579).abs() < 1e-12);
/// assert_eq!(metrics::partial_roc_auc(&labels, &scores, 1.0)?, metrics::roc_auc(&labels, &scores)?);
/// assert!(metrics::partial_roc_auc(&labels, &scores, 0.0).is_err());
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn partial_roc_auc(labels: &[bool], scores: &[f64], max_fpr: f64) -> Result<f64, MetricsError> {
    if !(max_fpr > 0.0 && max_fpr <= 1.0) {
        return Err(MetricsError::InvalidRate {
            what: "max_fpr (in (0, 1])",
            value: max_fpr,
        });
    }
    if max_fpr == 1.0 {
        return roc_auc(labels, scores);
    }
    let curve = roc_points(labels, scores, false)?;
    let mut area = 0.0;
    for w in curve.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.fpr >= max_fpr {
            break;
        }
        let (x1, y1) = if b.fpr > max_fpr {
            let t = (max_fpr - a.fpr) / (b.fpr - a.fpr);
            (max_fpr, a.tpr + t * (b.tpr - a.tpr))
        } else {
            (b.fpr, b.tpr)
        };
        area += (x1 - a.fpr) * (a.tpr + y1) / 2.0;
    }
    let min_area = 0.5 * max_fpr * max_fpr;
    Ok(0.5 * (1.0 + (area - min_area) / (max_fpr - min_area)))
}

/// ROC AUC of sorted scores with both classes present.
pub(crate) fn roc_auc_sorted(sorted: &SortedBinary) -> f64 {
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut twice_area: u128 = 0;
    for pt in sorted.sweep() {
        twice_area += u128::from(pt.fp - fp) * u128::from(pt.tp + tp);
        tp = pt.tp;
        fp = pt.fp;
    }
    let scale = 2 * u128::from(sorted.n_positives()) * u128::from(sorted.n_negatives());
    twice_area as f64 / scale as f64
}

/// Average precision, as `average_precision_score(y_true, y_score)`: the
/// step-wise sum `Σ (R_i - R_{i-1}) P_i` over the distinct thresholds, not a
/// trapezoid.
///
/// `labels[i]` is `true` for an attack. Errors:
/// [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`] and
/// [`MetricsError::NonFiniteScore`].
///
/// With no attack label the result is 0, as in scikit-learn (which also
/// warns "No positive class found in y_true"): no threshold recalls an
/// attack, so no precision is ever weighted. With only attack labels the
/// result is 1. [`roc_auc`] differs on purpose: on a single class
/// scikit-learn (1.6 and later) warns and returns NaN, and this crate
/// keeps [`MetricsError::SingleClass`], so that an undefined AUC cannot
/// flow into a report as a number.
///
/// ```
/// let ap = metrics::average_precision(&[false, true, false, true], &[0.1, 0.2, 0.2, 0.9])?;
/// // Recall 0.5 at precision 1, then recall 1 at precision 2/3.
/// assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-15);
/// // No attack at all: 0, as average_precision_score returns.
/// assert_eq!(metrics::average_precision(&[false, false], &[0.3, 0.7])?, 0.0);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64, MetricsError> {
    let sorted = SortedBinary::new(labels, scores)?;
    if sorted.n_positives() == 0 {
        return Ok(0.0);
    }
    Ok(average_precision_sorted(&sorted))
}

/// Average precision of sorted scores with at least one attack.
pub(crate) fn average_precision_sorted(sorted: &SortedBinary) -> f64 {
    let mut tp = 0u64;
    let mut sum = 0.0;
    for pt in sorted.sweep() {
        if pt.tp > tp {
            sum += (pt.tp - tp) as f64 * (pt.tp as f64 / (pt.tp + pt.fp) as f64);
            tp = pt.tp;
        }
    }
    sum / sorted.n_positives() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_class_is_an_error() {
        let only_benign = [false, false];
        let only_attack = [true, true];
        let scores = [0.1, 0.2];
        for labels in [&only_benign, &only_attack] {
            assert!(matches!(
                roc_auc(labels, &scores),
                Err(MetricsError::SingleClass { .. })
            ));
            assert!(matches!(
                roc_curve(labels, &scores),
                Err(MetricsError::SingleClass { .. })
            ));
        }
        // scikit-learn: average_precision_score([0, 0], [0.1, 0.2]) == 0.0
        // (with a warning); roc_auc_score returns NaN there, kept an error.
        assert_eq!(average_precision(&only_benign, &scores), Ok(0.0));
        assert!(precision_recall_curve(&only_benign, &scores).is_err());
        assert_eq!(average_precision(&only_attack, &scores), Ok(1.0));
        assert_eq!(
            precision_recall_curve(&only_attack, &scores).unwrap().len(),
            3
        );
    }

    #[test]
    fn average_precision_without_attacks_is_zero_like_scikit_learn() {
        // average_precision_score([0, 0, 0], [0.9, 0.1, 0.5]) == 0.0
        assert_eq!(
            average_precision(&[false, false, false], &[0.9, 0.1, 0.5]),
            Ok(0.0)
        );
        // roc_auc_score warns and returns NaN there: kept an error here.
        assert_eq!(
            roc_auc(&[false, false, false], &[0.9, 0.1, 0.5]),
            Err(MetricsError::SingleClass {
                metric: "ROC AUC",
                missing: "attack"
            })
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            roc_auc(&[], &[]),
            Err(MetricsError::EmptyInput { what: "labels" })
        );
        assert!(matches!(
            average_precision(&[true, false], &[0.1]),
            Err(MetricsError::LengthMismatch {
                left: 2,
                right: 1,
                ..
            })
        ));
        assert!(matches!(
            roc_auc(&[true, false], &[0.1, f64::INFINITY]),
            Err(MetricsError::NonFiniteScore { index: 1, .. })
        ));
        assert!(matches!(
            precision_recall_curve(&[true, false], &[f64::NAN, 0.0]),
            Err(MetricsError::NonFiniteScore { index: 0, .. })
        ));
    }

    #[test]
    fn signed_zeros_are_one_score() {
        let labels = [true, false];
        assert_eq!(roc_auc(&labels, &[0.0, -0.0]).unwrap(), 0.5);
        assert_eq!(roc_curve_full(&labels, &[-0.0, 0.0]).unwrap().len(), 2);
    }

    #[test]
    fn drop_intermediate_keeps_corners_only() {
        // Three benign samples in a row form a straight segment.
        let labels = [true, false, false, false, true];
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5];
        let full = roc_curve_full(&labels, &scores).unwrap();
        let dropped = roc_curve(&labels, &scores).unwrap();
        assert_eq!(full.len(), 6);
        let thresholds: Vec<f64> = dropped.iter().map(|p| p.threshold).collect();
        assert_eq!(thresholds, [f64::INFINITY, 0.9, 0.6, 0.5]);
    }
}
