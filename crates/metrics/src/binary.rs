//! The binary confusion matrix (attack = positive class) and its metrics.

use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::multiclass::{ClassificationReport, MulticlassConfusionMatrix};
use crate::validate::{check_finite, check_paired, check_threshold, ratio};

/// Counts of a binary detector's decisions, with attack (`true`, label 1) as
/// the positive class.
///
/// The layout is scikit-learn's `confusion_matrix(y_true, y_pred,
/// labels=[0, 1]).ravel() == [tn, fp, fn, tp]`. Every rate follows
/// scikit-learn with `zero_division=0`: a ratio whose denominator is zero is
/// `0.0`, never NaN.
///
/// In JSON the field `fn_` is written as `fn`.
///
/// ```
/// use metrics::ConfusionMatrix;
///
/// let labels = [true, true, false, false, false];
/// let scores = [0.9, 0.2, 0.4, 0.1, 0.3];
/// let cm = ConfusionMatrix::from_scores(&labels, &scores, 0.3)?;
/// assert_eq!((cm.tp, cm.fp, cm.tn, cm.fn_), (1, 2, 1, 1));
/// assert_eq!(cm.precision(), 1.0 / 3.0);
/// assert_eq!(cm.recall(), 0.5);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Attacks flagged as attacks.
    pub tp: u64,
    /// Benign samples flagged as attacks.
    pub fp: u64,
    /// Benign samples left unflagged.
    pub tn: u64,
    /// Attacks left unflagged (`fn` is a Rust keyword).
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// A decision's confusion counts with the main rates of the attack class:
/// what every decision (one threshold, or a rule of several) is judged by.
/// In JSON the field `fn_` is written as `fn`.
///
/// ```
/// let r = metrics::ConfusionMatrix::new(3, 1, 5, 1).rates();
/// assert_eq!((r.precision, r.recall, r.fpr), (0.75, 0.75, 1.0 / 6.0));
/// assert_eq!(r.confusion(), metrics::ConfusionMatrix::new(3, 1, 5, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Attacks flagged.
    pub tp: u64,
    /// Benign samples flagged.
    pub fp: u64,
    /// Benign samples not flagged.
    pub tn: u64,
    /// Attacks not flagged.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Precision (0 when nothing is flagged).
    pub precision: f64,
    /// Recall (0 when there is no attack).
    pub recall: f64,
    /// F1 (0 when `tp + fp + fn == 0`).
    pub f1: f64,
    /// False-positive rate (0 when there is no benign sample).
    pub fpr: f64,
}

impl Rates {
    /// The confusion matrix of these counts.
    pub fn confusion(&self) -> ConfusionMatrix {
        ConfusionMatrix::new(self.tp, self.fp, self.tn, self.fn_)
    }
}

/// Counts of two samples together: what a detector scoring flows batch by
/// batch keeps.
///
/// ```
/// let mut total = metrics::ConfusionMatrix::default();
/// total += metrics::ConfusionMatrix::new(3, 1, 5, 1);
/// total += metrics::ConfusionMatrix::new(1, 0, 2, 0);
/// assert_eq!(total, metrics::ConfusionMatrix::new(4, 1, 7, 1));
/// ```
impl std::ops::AddAssign for ConfusionMatrix {
    fn add_assign(&mut self, other: ConfusionMatrix) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.tn += other.tn;
        self.fn_ += other.fn_;
    }
}

impl ConfusionMatrix {
    /// A matrix from its four counts.
    ///
    /// ```
    /// let cm = metrics::ConfusionMatrix::new(402, 92, 2359, 147);
    /// assert_eq!(cm.total(), 3000);
    /// ```
    pub const fn new(tp: u64, fp: u64, tn: u64, fn_: u64) -> Self {
        Self { tp, fp, tn, fn_ }
    }

    /// The counts with precision, recall, F1 and false-positive rate.
    pub fn rates(&self) -> Rates {
        Rates {
            tp: self.tp,
            fp: self.fp,
            tn: self.tn,
            fn_: self.fn_,
            precision: self.precision(),
            recall: self.recall(),
            f1: self.f1(),
            fpr: self.fpr(),
        }
    }

    /// Counts hard decisions: `labels[i]` is the truth, `predictions[i]`
    /// the decision (`true` = attack).
    ///
    /// Errors: [`MetricsError::EmptyInput`] when `labels` is empty,
    /// [`MetricsError::LengthMismatch`] when the lengths differ.
    ///
    /// ```
    /// let cm = metrics::ConfusionMatrix::from_predictions(
    ///     &[true, false, true, false],
    ///     &[true, true, false, false],
    /// )?;
    /// assert_eq!(cm, metrics::ConfusionMatrix::new(1, 1, 1, 1));
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn from_predictions(labels: &[bool], predictions: &[bool]) -> Result<Self, MetricsError> {
        check_paired("labels", labels.len(), "predictions", predictions.len())?;
        let mut cm = Self::default();
        for (&label, &predicted) in labels.iter().zip(predictions) {
            cm.add(label, predicted);
        }
        Ok(cm)
    }

    /// Counts the decisions `score >= threshold` (as scikit-learn's
    /// `predict_proba(X)[:, 1] >= t`).
    ///
    /// Errors: [`MetricsError::EmptyInput`], [`MetricsError::LengthMismatch`],
    /// [`MetricsError::NonFiniteScore`] for a NaN or infinite score,
    /// [`MetricsError::InvalidThreshold`] for a NaN threshold. Infinite
    /// thresholds are allowed: `+inf` flags nothing, `-inf` everything.
    ///
    /// ```
    /// let cm = metrics::ConfusionMatrix::from_scores(&[true, false], &[0.3, 0.29], 0.3)?;
    /// assert_eq!((cm.tp, cm.tn), (1, 1));
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn from_scores(
        labels: &[bool],
        scores: &[f64],
        threshold: f64,
    ) -> Result<Self, MetricsError> {
        check_paired("labels", labels.len(), "scores", scores.len())?;
        check_finite("scores", scores)?;
        check_threshold(threshold)?;
        Ok(Self::count_at(labels, scores, threshold))
    }

    /// Counts `score >= threshold` on inputs already validated.
    pub(crate) fn count_at(labels: &[bool], scores: &[f64], threshold: f64) -> Self {
        let mut cm = Self::default();
        for (&label, &score) in labels.iter().zip(scores) {
            cm.add(label, score >= threshold);
        }
        cm
    }

    #[inline]
    fn add(&mut self, label: bool, predicted: bool) {
        match (label, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }

    /// Number of samples.
    pub const fn total(&self) -> u64 {
        self.positives().saturating_add(self.negatives())
    }

    /// Number of attack samples, `tp + fn` (the attack class's support).
    pub const fn positives(&self) -> u64 {
        self.tp.saturating_add(self.fn_)
    }

    /// Number of benign samples, `tn + fp` (the benign class's support).
    pub const fn negatives(&self) -> u64 {
        self.tn.saturating_add(self.fp)
    }

    /// Number of samples flagged as attacks, `tp + fp`.
    pub const fn predicted_positives(&self) -> u64 {
        self.tp.saturating_add(self.fp)
    }

    /// Support of the positive class: the number of attack samples, as in
    /// scikit-learn's `precision_recall_fscore_support(...)[3][1]`.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 5, 2).support(), 5);
    /// ```
    pub const fn support(&self) -> u64 {
        self.positives()
    }

    /// Precision `tp / (tp + fp)`; 0 when nothing is flagged
    /// (`precision_score(..., zero_division=0)`).
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 5, 2).precision(), 0.75);
    /// assert_eq!(metrics::ConfusionMatrix::new(0, 0, 5, 2).precision(), 0.0);
    /// ```
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.predicted_positives())
    }

    /// Recall (true-positive rate, detection rate) `tp / (tp + fn)`; 0 when
    /// there is no attack (`recall_score(..., zero_division=0)`).
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 5, 1).recall(), 0.75);
    /// ```
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.positives())
    }

    /// F1 `2 tp / (2 tp + fp + fn)`, the harmonic mean of precision and
    /// recall; 0 when `tp + fp + fn == 0` (`f1_score(..., zero_division=0)`).
    ///
    /// ```
    /// let cm = metrics::ConfusionMatrix::new(3, 1, 5, 3);
    /// assert_eq!(cm.f1(), 6.0 / 10.0);
    /// ```
    pub fn f1(&self) -> f64 {
        // Exact in f64 for counts below 2^52, so equal to the integer ratio.
        let numerator = 2.0 * self.tp as f64;
        let denominator = numerator + self.fp as f64 + self.fn_ as f64;
        if denominator == 0.0 {
            0.0
        } else {
            numerator / denominator
        }
    }

    /// F-beta `(1 + b²) tp / ((1 + b²) tp + b² fn + fp)`; 0 when the
    /// denominator is 0 (`fbeta_score(..., beta=b, zero_division=0)`).
    /// `beta = 1` is F1, `beta = 0` is precision.
    ///
    /// Errors: [`MetricsError::InvalidBeta`] unless `beta` is finite and >= 0.
    ///
    /// ```
    /// let cm = metrics::ConfusionMatrix::new(3, 1, 5, 3);
    /// assert!((cm.f_beta(2.0)? - 15.0 / 28.0).abs() < 1e-15);
    /// assert!((cm.f_beta(1.0)? - cm.f1()).abs() < 1e-15);
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn f_beta(&self, beta: f64) -> Result<f64, MetricsError> {
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(MetricsError::InvalidBeta(beta));
        }
        let b2 = beta * beta;
        let numerator = (1.0 + b2) * self.tp as f64;
        let denominator = numerator + b2 * self.fn_ as f64 + self.fp as f64;
        Ok(if denominator == 0.0 {
            0.0
        } else {
            numerator / denominator
        })
    }

    /// Accuracy `(tp + tn) / total`; 0 for an empty matrix.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 5, 1).accuracy(), 0.8);
    /// ```
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp.saturating_add(self.tn), self.total())
    }

    /// Balanced accuracy: the mean of the recalls of the classes present in
    /// the true labels, as `balanced_accuracy_score`. With both classes it is
    /// `(recall + specificity) / 2`; with one class it is that class's
    /// recall; 0 for an empty matrix.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 3, 1).balanced_accuracy(), 0.75);
    /// assert_eq!(metrics::ConfusionMatrix::new(0, 1, 3, 0).balanced_accuracy(), 0.75);
    /// ```
    pub fn balanced_accuracy(&self) -> f64 {
        match (self.positives() > 0, self.negatives() > 0) {
            (true, true) => (self.recall() + self.specificity()) / 2.0,
            (true, false) => self.recall(),
            (false, true) => self.specificity(),
            (false, false) => 0.0,
        }
    }

    /// Specificity (true-negative rate) `tn / (tn + fp)`, the recall of the
    /// benign class (`recall_score(..., pos_label=0, zero_division=0)`);
    /// 0 when there is no benign sample.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 3, 1).specificity(), 0.75);
    /// ```
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.negatives())
    }

    /// False-positive rate `fp / (fp + tn)`, the share of benign samples
    /// flagged; 0 when there is no benign sample.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 3, 1).fpr(), 0.25);
    /// ```
    pub fn fpr(&self) -> f64 {
        ratio(self.fp, self.negatives())
    }

    /// False-negative rate (miss rate) `fn / (fn + tp)`; 0 when there is no
    /// attack.
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(3, 1, 3, 1).fnr(), 0.25);
    /// ```
    pub fn fnr(&self) -> f64 {
        ratio(self.fn_, self.positives())
    }

    /// Matthews correlation coefficient, computed as `matthews_corrcoef`
    /// does; 0 when a row or a column of the matrix is empty (the
    /// denominator is 0).
    ///
    /// ```
    /// assert_eq!(metrics::ConfusionMatrix::new(5, 0, 5, 0).mcc(), 1.0);
    /// assert_eq!(metrics::ConfusionMatrix::new(0, 5, 0, 5).mcc(), -1.0);
    /// assert_eq!(metrics::ConfusionMatrix::new(5, 5, 0, 0).mcc(), 0.0);
    /// ```
    pub fn mcc(&self) -> f64 {
        let [tp, fp, tn, fn_] = [self.tp, self.fp, self.tn, self.fn_].map(|c| c as f64);
        crate::multiclass::mcc_from_sums(
            tp + tn,
            tp + fp + tn + fn_,
            &[tn + fp, tp + fn_],
            &[tn + fn_, tp + fp],
        )
    }

    /// Per-class precision, recall, F1 and support for `benign` and `attack`
    /// with macro and weighted averages, as `classification_report`.
    ///
    /// ```
    /// let report = metrics::ConfusionMatrix::new(3, 1, 5, 1).classification_report();
    /// assert_eq!(report.classes[1].class, "attack");
    /// assert_eq!(report.classes[1].precision, 0.75);
    /// ```
    pub fn classification_report(&self) -> ClassificationReport {
        MulticlassConfusionMatrix::from_binary(self, "benign", "attack").report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_on_bad_input() {
        assert_eq!(
            ConfusionMatrix::from_predictions(&[], &[]),
            Err(MetricsError::EmptyInput { what: "labels" })
        );
        assert!(matches!(
            ConfusionMatrix::from_predictions(&[true], &[true, false]),
            Err(MetricsError::LengthMismatch {
                left: 1,
                right: 2,
                ..
            })
        ));
        assert!(matches!(
            ConfusionMatrix::from_scores(&[true, false], &[0.1, f64::NAN], 0.5),
            Err(MetricsError::NonFiniteScore { index: 1, .. })
        ));
        assert!(matches!(
            ConfusionMatrix::from_scores(&[true], &[f64::NEG_INFINITY], 0.5),
            Err(MetricsError::NonFiniteScore { index: 0, .. })
        ));
        assert!(matches!(
            ConfusionMatrix::from_scores(&[true], &[0.1], f64::NAN),
            Err(MetricsError::InvalidThreshold(_))
        ));
        let cm = ConfusionMatrix::new(1, 1, 1, 1);
        assert!(matches!(cm.f_beta(-1.0), Err(MetricsError::InvalidBeta(_))));
        assert!(matches!(
            cm.f_beta(f64::INFINITY),
            Err(MetricsError::InvalidBeta(_))
        ));
        let message = MetricsError::NonFiniteScore {
            what: "scores",
            index: 3,
            value: f64::NAN,
        }
        .to_string();
        assert_eq!(message, "scores[3] is NaN, but every score must be finite");
    }

    #[test]
    fn infinite_thresholds_flag_nothing_or_everything() {
        let labels = [true, false];
        let scores = [1.0, -1.0];
        let none = ConfusionMatrix::from_scores(&labels, &scores, f64::INFINITY).unwrap();
        assert_eq!(none, ConfusionMatrix::new(0, 0, 1, 1));
        let all = ConfusionMatrix::from_scores(&labels, &scores, f64::NEG_INFINITY).unwrap();
        assert_eq!(all, ConfusionMatrix::new(1, 1, 0, 0));
    }

    #[test]
    fn zero_division_gives_zero() {
        let empty = ConfusionMatrix::default();
        for value in [
            empty.precision(),
            empty.recall(),
            empty.f1(),
            empty.f_beta(2.0).unwrap(),
            empty.accuracy(),
            empty.balanced_accuracy(),
            empty.specificity(),
            empty.fpr(),
            empty.fnr(),
            empty.mcc(),
        ] {
            assert_eq!(value, 0.0);
        }
        let all_negative_predictions = ConfusionMatrix::new(0, 0, 7, 3);
        assert_eq!(all_negative_predictions.precision(), 0.0);
        assert_eq!(all_negative_predictions.f1(), 0.0);
        assert_eq!(all_negative_predictions.mcc(), 0.0);
        assert_eq!(all_negative_predictions.accuracy(), 0.7);
    }

    #[test]
    fn reference_row_matches_published_table() {
        // Deep p>0.30 of the reference system: TN 2359, FP 92, FN 147, TP 402.
        let cm = ConfusionMatrix::new(402, 92, 2359, 147);
        assert_eq!(format!("{:.2}", cm.precision()), "0.81");
        assert_eq!(format!("{:.2}", cm.recall()), "0.73");
        assert_eq!(format!("{:.2}", cm.f1()), "0.77");
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let cm = ConfusionMatrix::new(u64::MAX, u64::MAX, u64::MAX, u64::MAX);
        assert_eq!(cm.total(), u64::MAX);
        for rate in [
            cm.precision(),
            cm.recall(),
            cm.f1(),
            cm.accuracy(),
            cm.fpr(),
        ] {
            assert!((0.0..=1.0).contains(&rate), "{rate}");
        }
        assert!(cm.mcc().abs() < 1e-9);
    }

    #[test]
    fn json_names_the_false_negatives_fn() {
        let json = serde_json::to_string(&ConfusionMatrix::new(1, 2, 3, 4)).unwrap();
        assert_eq!(json, r#"{"tp":1,"fp":2,"tn":3,"fn":4}"#);
        let back: ConfusionMatrix = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ConfusionMatrix::new(1, 2, 3, 4));
    }
}
