//! The binary detection report: every number of this crate for one
//! detector, as a serde structure and a Markdown document.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::binary::ConfusionMatrix;
use crate::curves;
use crate::multiclass::{ClassificationReport, MulticlassConfusionMatrix};
use crate::sweep::SortedBinary;
use crate::thresholds::{self, REFERENCE_THRESHOLDS, ThresholdRow};
use crate::validate::{check_rate, check_threshold};
use crate::{MetricsError, threshold_sweep};

/// What a [`DetectionReport`] contains. Build it with `Default` and change
/// fields; [`ReportConfig::validate`] checks it (the report constructors
/// call it).
///
/// ```
/// let config = metrics::ReportConfig { threshold: 0.3, ..Default::default() };
/// assert!(config.validate().is_ok());
/// let bad = metrics::ReportConfig { fpr_targets: vec![2.0], ..Default::default() };
/// assert!(bad.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportConfig {
    /// Threshold of the headline confusion matrix (`score >= threshold` is
    /// an attack). Any non-NaN value. Default `0.5`.
    pub threshold: f64,
    /// Thresholds of the sweep table; may be empty. Non-NaN. Default
    /// [`REFERENCE_THRESHOLDS`] (0.25, 0.30, 0.35).
    pub sweep_thresholds: Vec<f64>,
    /// False-positive-rate budgets at which the best recall is reported;
    /// each in `[0, 1]`; may be empty. Default `[0.001, 0.01, 0.05]`.
    pub fpr_targets: Vec<f64>,
    /// Name of the negative class in tables. Non-empty. Default `"benign"`.
    pub negative_name: String,
    /// Name of the positive class in tables. Non-empty, different from the
    /// negative name. Default `"attack"`.
    pub positive_name: String,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            sweep_thresholds: REFERENCE_THRESHOLDS.to_vec(),
            fpr_targets: vec![0.001, 0.01, 0.05],
            negative_name: "benign".to_string(),
            positive_name: "attack".to_string(),
        }
    }
}

impl ReportConfig {
    /// Checks every field against its documented range.
    ///
    /// Errors: [`MetricsError::InvalidThreshold`],
    /// [`MetricsError::InvalidRate`], [`MetricsError::EmptyInput`] for an
    /// empty class name, [`MetricsError::DuplicateClass`] for equal names.
    pub fn validate(&self) -> Result<(), MetricsError> {
        check_threshold(self.threshold)?;
        self.sweep_thresholds
            .iter()
            .try_for_each(|&t| check_threshold(t))?;
        self.fpr_targets
            .iter()
            .try_for_each(|&r| check_rate("fpr_targets", r))?;
        if self.negative_name.is_empty() || self.positive_name.is_empty() {
            return Err(MetricsError::EmptyInput { what: "class name" });
        }
        if self.negative_name == self.positive_name {
            return Err(MetricsError::DuplicateClass(self.positive_name.clone()));
        }
        Ok(())
    }
}

/// The best recall within one false-positive-rate budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FprOperatingPoint {
    /// The budget.
    pub max_fpr: f64,
    /// The operating point (see [`crate::recall_at_fpr`]).
    pub row: ThresholdRow,
}

/// Everything about one binary detector on one labelled set.
///
/// Score-based fields (`roc_auc`, `average_precision`, `best_f1`,
/// `at_fpr`) are `None` or empty for hard predictions, and when they are
/// undefined because a class is absent.
///
/// ```
/// use metrics::{DetectionReport, ReportConfig};
///
/// let labels = [false, false, true, false, true, true];
/// let scores = [0.05, 0.2, 0.32, 0.4, 0.8, 0.9];
/// let report = DetectionReport::from_scores(&labels, &scores, &ReportConfig::default())?;
/// assert_eq!(report.confusion.tp, 2);
/// assert_eq!(report.roc_auc, Some(8.0 / 9.0));
/// assert_eq!(report.sweep.len(), 3);
/// let markdown = report.to_markdown();
/// assert!(markdown.contains("| ROC AUC | 0.8889 |"));
/// let json = serde_json::to_string(&report).unwrap();
/// assert!(json.contains("\"fn\":1"));
/// # Ok::<(), metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionReport {
    /// The headline threshold; `None` for hard predictions.
    pub threshold: Option<f64>,
    /// Confusion matrix at the headline threshold.
    pub confusion: ConfusionMatrix,
    /// Precision of the attack class.
    pub precision: f64,
    /// Recall (detection rate) of the attack class.
    pub recall: f64,
    /// F1 of the attack class.
    pub f1: f64,
    /// Specificity (recall of the benign class).
    pub specificity: f64,
    /// False-positive rate.
    pub fpr: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Balanced accuracy.
    pub balanced_accuracy: f64,
    /// Matthews correlation coefficient.
    pub mcc: f64,
    /// ROC AUC (`None` for predictions or a single class).
    pub roc_auc: Option<f64>,
    /// Average precision (`None` for predictions or without attacks).
    pub average_precision: Option<f64>,
    /// The F1-maximising threshold (`None` for predictions or without attacks).
    pub best_f1: Option<ThresholdRow>,
    /// Rows at the configured sweep thresholds (empty for predictions).
    pub sweep: Vec<ThresholdRow>,
    /// Best recall within each configured false-positive-rate budget (empty
    /// for predictions or a single class).
    pub at_fpr: Vec<FprOperatingPoint>,
    /// Per-class precision, recall, F1, support and averages.
    pub per_class: ClassificationReport,
}

impl DetectionReport {
    /// The report of a scoring detector (`score >= threshold` flags).
    ///
    /// Errors: those of [`ReportConfig::validate`] and
    /// [`ConfusionMatrix::from_scores`]. A single class is not an error
    /// here: the undefined fields are left `None` or empty.
    pub fn from_scores(
        labels: &[bool],
        scores: &[f64],
        config: &ReportConfig,
    ) -> Result<Self, MetricsError> {
        config.validate()?;
        let confusion = ConfusionMatrix::from_scores(labels, scores, config.threshold)?;
        let sorted = SortedBinary::new(labels, scores)?;
        let has_attacks = sorted.n_positives() > 0;
        let has_both = has_attacks && sorted.n_negatives() > 0;
        let mut report = Self::from_confusion(confusion, Some(config.threshold), config);
        if has_both {
            report.roc_auc = Some(curves::roc_auc_sorted(&sorted));
            report.at_fpr = config
                .fpr_targets
                .iter()
                .map(|&max_fpr| FprOperatingPoint {
                    max_fpr,
                    row: thresholds::recall_at_fpr_sorted(&sorted, max_fpr),
                })
                .collect();
        }
        if has_attacks {
            report.average_precision = Some(curves::average_precision_sorted(&sorted));
            report.best_f1 = Some(thresholds::best_f1_sorted(&sorted));
        }
        if !config.sweep_thresholds.is_empty() {
            report.sweep = threshold_sweep(labels, scores, &config.sweep_thresholds)?;
        }
        Ok(report)
    }

    /// The report of hard decisions (`true` = flagged as attack).
    ///
    /// Errors: those of [`ReportConfig::validate`] and
    /// [`ConfusionMatrix::from_predictions`].
    ///
    /// ```
    /// let report = metrics::DetectionReport::from_predictions(
    ///     &[true, false, true],
    ///     &[true, false, false],
    ///     &metrics::ReportConfig::default(),
    /// )?;
    /// assert_eq!(report.recall, 0.5);
    /// assert_eq!(report.roc_auc, None);
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn from_predictions(
        labels: &[bool],
        predictions: &[bool],
        config: &ReportConfig,
    ) -> Result<Self, MetricsError> {
        config.validate()?;
        let confusion = ConfusionMatrix::from_predictions(labels, predictions)?;
        Ok(Self::from_confusion(confusion, None, config))
    }

    fn from_confusion(cm: ConfusionMatrix, threshold: Option<f64>, config: &ReportConfig) -> Self {
        Self {
            threshold,
            confusion: cm,
            precision: cm.precision(),
            recall: cm.recall(),
            f1: cm.f1(),
            specificity: cm.specificity(),
            fpr: cm.fpr(),
            accuracy: cm.accuracy(),
            balanced_accuracy: cm.balanced_accuracy(),
            mcc: cm.mcc(),
            roc_auc: None,
            average_precision: None,
            best_f1: None,
            sweep: Vec::new(),
            at_fpr: Vec::new(),
            per_class: MulticlassConfusionMatrix::from_binary(
                &cm,
                &config.negative_name,
                &config.positive_name,
            )
            .report(),
        }
    }

    /// The report as Markdown: the confusion matrix, a metric table, the
    /// operating points (sweep, best F1, FPR budgets) and the per-class table.
    pub fn to_markdown(&self) -> String {
        let name = |i: usize, default: &'static str| {
            self.per_class
                .classes
                .get(i)
                .map_or(default, |c| c.class.as_str())
        };
        let (negative, positive) = (name(0, "benign"), name(1, "attack"));
        let cm = &self.confusion;
        let mut out = String::new();
        match self.threshold {
            Some(t) => {
                let _ = writeln!(out, "**Confusion matrix** (`score >= {t}` is {positive})\n");
            }
            None => {
                let _ = writeln!(out, "**Confusion matrix** (hard predictions)\n");
            }
        }
        let _ = writeln!(
            out,
            "| true \\ predicted | {negative} | {positive} |\n|---|---:|---:|\n| {negative} | {} | {} |\n| {positive} | {} | {} |\n",
            cm.tn, cm.fp, cm.fn_, cm.tp
        );
        out.push_str("| metric | value |\n|---|---:|\n");
        let optional = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.4}"));
        for (name, value) in [
            ("precision", format!("{:.4}", self.precision)),
            ("recall", format!("{:.4}", self.recall)),
            ("F1", format!("{:.4}", self.f1)),
            ("specificity", format!("{:.4}", self.specificity)),
            ("false-positive rate", format!("{:.4}", self.fpr)),
            ("accuracy", format!("{:.4}", self.accuracy)),
            (
                "balanced accuracy",
                format!("{:.4}", self.balanced_accuracy),
            ),
            ("MCC", format!("{:.4}", self.mcc)),
            ("ROC AUC", optional(self.roc_auc)),
            ("average precision", optional(self.average_precision)),
        ] {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        let mut points: Vec<(String, &ThresholdRow)> = self
            .sweep
            .iter()
            .map(|row| (format!("threshold {}", row.threshold), row))
            .collect();
        if let Some(best) = &self.best_f1 {
            points.push(("best F1".to_string(), best));
        }
        points.extend(
            self.at_fpr
                .iter()
                .map(|p| (format!("FPR <= {}", p.max_fpr), &p.row)),
        );
        if !points.is_empty() {
            out.push_str(
                "\n**Operating points**\n\n| point | threshold | TP | FP | TN | FN | precision | recall | F1 | FPR |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            );
            for (name, r) in points {
                let _ = writeln!(
                    out,
                    "| {name} | {:.4} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
                    r.threshold, r.tp, r.fp, r.tn, r.fn_, r.precision, r.recall, r.f1, r.fpr
                );
            }
        }
        out.push_str("\n**Per class**\n\n");
        out.push_str(&self.per_class.to_markdown());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{average_precision, best_f1_threshold, recall_at_fpr, roc_auc};

    #[test]
    fn report_agrees_with_the_free_functions() {
        let labels = [true, false, true, false, false, true, false, false];
        let scores = [0.9, 0.1, 0.35, 0.3, 0.3, 0.2, 0.6, 0.05];
        let config = ReportConfig::default();
        let report = DetectionReport::from_scores(&labels, &scores, &config).unwrap();
        assert_eq!(report.roc_auc, Some(roc_auc(&labels, &scores).unwrap()));
        assert_eq!(
            report.average_precision,
            Some(average_precision(&labels, &scores).unwrap())
        );
        assert_eq!(
            report.best_f1,
            Some(best_f1_threshold(&labels, &scores).unwrap())
        );
        assert_eq!(report.at_fpr.len(), 3);
        assert_eq!(
            report.at_fpr[2].row,
            recall_at_fpr(&labels, &scores, 0.05).unwrap()
        );
        assert_eq!(
            report.sweep,
            threshold_sweep(&labels, &scores, &REFERENCE_THRESHOLDS).unwrap()
        );
        assert_eq!(report.per_class.classes[1].support, 3);
        let markdown = report.to_markdown();
        assert!(markdown.contains("| benign | 4 | 1 |"), "{markdown}");
        assert!(
            markdown.contains("| threshold 0.3 | 0.3000 | 2 | 3 | 2 | 1 |"),
            "{markdown}"
        );
        assert!(markdown.contains("| best F1 |"));
        assert!(
            markdown.contains("| FPR <= 0.05 | 0.9000 | 1 | 0 | 5 | 2 |"),
            "{markdown}"
        );
    }

    #[test]
    fn single_class_leaves_undefined_fields_empty() {
        let report =
            DetectionReport::from_scores(&[false, false], &[0.2, 0.7], &ReportConfig::default())
                .unwrap();
        assert_eq!(report.confusion, ConfusionMatrix::new(0, 1, 1, 0));
        assert_eq!(report.roc_auc, None);
        assert_eq!(report.average_precision, None);
        assert_eq!(report.best_f1, None);
        assert!(report.at_fpr.is_empty());
        assert!(report.to_markdown().contains("| ROC AUC | n/a |"));
    }

    #[test]
    fn config_is_validated() {
        let labels = [true];
        let scores = [0.5];
        for config in [
            ReportConfig {
                threshold: f64::NAN,
                ..Default::default()
            },
            ReportConfig {
                sweep_thresholds: vec![f64::NAN],
                ..Default::default()
            },
            ReportConfig {
                fpr_targets: vec![-0.5],
                ..Default::default()
            },
            ReportConfig {
                negative_name: String::new(),
                ..Default::default()
            },
            ReportConfig {
                negative_name: "attack".into(),
                ..Default::default()
            },
        ] {
            assert!(DetectionReport::from_scores(&labels, &scores, &config).is_err());
            assert!(DetectionReport::from_predictions(&labels, &[true], &config).is_err());
        }
    }
}
