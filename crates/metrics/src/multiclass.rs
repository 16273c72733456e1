//! The multi-class confusion matrix and the per-class report.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use crate::MetricsError;
use crate::binary::ConfusionMatrix;
use crate::validate::{check_paired, ratio};

/// Matthews correlation from the trace, the total and the true / predicted
/// class sums, as `matthews_corrcoef`; 0 when the denominator is 0.
pub(crate) fn mcc_from_sums(correct: f64, total: f64, true_sums: &[f64], pred_sums: &[f64]) -> f64 {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_ytyp = correct * total - dot(true_sums, pred_sums);
    let cov_ypyp = total * total - dot(pred_sums, pred_sums);
    let cov_ytyt = total * total - dot(true_sums, true_sums);
    let denominator = cov_ypyp * cov_ytyt;
    if denominator == 0.0 {
        0.0
    } else {
        cov_ytyp / denominator.sqrt()
    }
}

/// A confusion matrix over a declared list of classes: `count(i, j)` is the
/// number of samples of true class `i` predicted as class `j`, as
/// scikit-learn's `confusion_matrix(y_true, y_pred, labels=classes)`.
///
/// ```
/// use metrics::MulticlassConfusionMatrix;
///
/// let classes = ["benign", "dos", "portscan"];
/// let y_true = ["benign", "dos", "dos", "portscan", "benign"];
/// let y_pred = ["benign", "dos", "benign", "portscan", "portscan"];
/// let cm = MulticlassConfusionMatrix::from_labels(&classes, &y_true, &y_pred)?;
/// assert_eq!(cm.count(1, 0), Some(1)); // one dos predicted as benign
/// assert_eq!(cm.accuracy(), 0.6);
/// let report = cm.report();
/// assert_eq!(report.classes[1].recall, 0.5);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMulticlass")]
pub struct MulticlassConfusionMatrix {
    classes: Vec<String>,
    /// Row-major `classes.len() x classes.len()` counts (true x predicted).
    counts: Vec<u64>,
}

/// The serialised form, checked before it becomes a matrix.
#[derive(Deserialize)]
struct RawMulticlass {
    classes: Vec<String>,
    counts: Vec<u64>,
}

impl TryFrom<RawMulticlass> for MulticlassConfusionMatrix {
    type Error = MetricsError;

    fn try_from(raw: RawMulticlass) -> Result<Self, MetricsError> {
        if raw.classes.is_empty() {
            return Err(MetricsError::EmptyInput { what: "class list" });
        }
        check_unique(&raw.classes)?;
        let k = raw.classes.len();
        if raw.counts.len() != k * k {
            return Err(MetricsError::LengthMismatch {
                left_name: "counts",
                left: raw.counts.len(),
                right_name: "classes squared",
                right: k * k,
            });
        }
        if raw
            .counts
            .iter()
            .try_fold(0u64, |a, &c| a.checked_add(c))
            .is_none()
        {
            return Err(MetricsError::CountOverflow);
        }
        Ok(Self {
            classes: raw.classes,
            counts: raw.counts,
        })
    }
}

fn check_unique(names: &[String]) -> Result<(), MetricsError> {
    let mut seen = HashMap::with_capacity(names.len());
    for name in names {
        if seen.insert(name.as_str(), ()).is_some() {
            return Err(MetricsError::DuplicateClass(name.clone()));
        }
    }
    Ok(())
}

impl MulticlassConfusionMatrix {
    /// Counts pairs of labels of any hashable, printable type against a
    /// declared class list; the matrix rows and columns follow `classes`.
    ///
    /// Errors: [`MetricsError::EmptyInput`] for an empty class list or empty
    /// labels, [`MetricsError::DuplicateClass`],
    /// [`MetricsError::LengthMismatch`], [`MetricsError::UnknownLabel`] for a
    /// label outside `classes`.
    ///
    /// ```
    /// let err = metrics::MulticlassConfusionMatrix::from_labels(&[0, 1], &[0, 2], &[0, 1]);
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "y_true[1] is 2, which is not in the class list [0, 1]"
    /// );
    /// ```
    pub fn from_labels<T: Eq + Hash + Display>(
        classes: &[T],
        y_true: &[T],
        y_pred: &[T],
    ) -> Result<Self, MetricsError> {
        if classes.is_empty() {
            return Err(MetricsError::EmptyInput { what: "class list" });
        }
        let mut index = HashMap::with_capacity(classes.len());
        for (i, class) in classes.iter().enumerate() {
            if index.insert(class, i).is_some() {
                return Err(MetricsError::DuplicateClass(class.to_string()));
            }
        }
        let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
        check_paired("y_true", y_true.len(), "y_pred", y_pred.len())?;
        let lookup = |what: &'static str, i: usize, label: &T| {
            index
                .get(label)
                .copied()
                .ok_or_else(|| MetricsError::UnknownLabel {
                    what,
                    index: i,
                    label: label.to_string(),
                    classes: names.join(", "),
                })
        };
        let k = classes.len();
        let mut counts = vec![0u64; k * k];
        for (i, (t, p)) in y_true.iter().zip(y_pred).enumerate() {
            let row = lookup("y_true", i, t)?;
            let col = lookup("y_pred", i, p)?;
            counts[row * k + col] += 1;
        }
        Ok(Self {
            classes: names,
            counts,
        })
    }

    /// Counts class indices (`0..class_names.len()`) against named classes.
    ///
    /// Errors as [`MulticlassConfusionMatrix::from_labels`]; an index
    /// `>= class_names.len()` is [`MetricsError::UnknownLabel`].
    ///
    /// ```
    /// let names = vec!["benign".to_string(), "attack".to_string()];
    /// let cm = metrics::MulticlassConfusionMatrix::from_indices(names, &[0, 1, 1], &[0, 1, 0])?;
    /// assert_eq!(cm.count(1, 0), Some(1));
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn from_indices(
        class_names: Vec<String>,
        y_true: &[usize],
        y_pred: &[usize],
    ) -> Result<Self, MetricsError> {
        let indices: Vec<usize> = (0..class_names.len()).collect();
        let counts = Self::from_labels(&indices, y_true, y_pred)?.counts;
        check_unique(&class_names)?;
        Ok(Self {
            classes: class_names,
            counts,
        })
    }

    /// The 2 x 2 matrix of a binary one, with the negative class first.
    ///
    /// ```
    /// let binary = metrics::ConfusionMatrix::new(3, 1, 5, 2);
    /// let cm = metrics::MulticlassConfusionMatrix::from_binary(&binary, "benign", "attack");
    /// assert_eq!(cm.count(1, 1), Some(3));
    /// assert_eq!(cm.count(0, 1), Some(1));
    /// ```
    pub fn from_binary(cm: &ConfusionMatrix, negative: &str, positive: &str) -> Self {
        Self {
            classes: vec![negative.to_string(), positive.to_string()],
            counts: vec![cm.tn, cm.fp, cm.fn_, cm.tp],
        }
    }

    /// The class names, in matrix order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Samples of true class `true_class` predicted as `pred_class`; `None`
    /// when an index is out of range.
    pub fn count(&self, true_class: usize, pred_class: usize) -> Option<u64> {
        let k = self.n_classes();
        (true_class < k && pred_class < k).then(|| self.counts[true_class * k + pred_class])
    }

    /// The matrix as rows (true class) of columns (predicted class).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.n_classes())
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn true_sums(&self) -> Vec<u64> {
        self.counts
            .chunks(self.n_classes())
            .map(|row| row.iter().sum())
            .collect()
    }

    fn pred_sums(&self) -> Vec<u64> {
        let k = self.n_classes();
        (0..k)
            .map(|j| (0..k).map(|i| self.counts[i * k + j]).sum())
            .collect()
    }

    fn correct(&self) -> u64 {
        let k = self.n_classes();
        (0..k).map(|i| self.counts[i * k + i]).sum()
    }

    /// The one-vs-rest binary matrix of class `class` (that class positive);
    /// `None` when the index is out of range.
    ///
    /// ```
    /// let cm = metrics::MulticlassConfusionMatrix::from_labels(
    ///     &["a", "b", "c"], &["a", "b", "c", "c"], &["a", "c", "c", "b"])?;
    /// let c = cm.one_vs_rest(2).unwrap();
    /// assert_eq!((c.tp, c.fp, c.tn, c.fn_), (1, 1, 1, 1));
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn one_vs_rest(&self, class: usize) -> Option<ConfusionMatrix> {
        let k = self.n_classes();
        if class >= k {
            return None;
        }
        let tp = self.counts[class * k + class];
        let support: u64 = self.counts[class * k..(class + 1) * k].iter().sum();
        let predicted: u64 = (0..k).map(|i| self.counts[i * k + class]).sum();
        let fp = predicted - tp;
        let fn_ = support - tp;
        Some(ConfusionMatrix::new(
            tp,
            fp,
            self.total() - tp - fp - fn_,
            fn_,
        ))
    }

    /// Accuracy: the share of samples on the diagonal (`accuracy_score`);
    /// 0 for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct(), self.total())
    }

    /// Balanced accuracy: the mean recall over the classes present in the
    /// true labels (`balanced_accuracy_score`); 0 for an empty matrix.
    ///
    /// ```
    /// let cm = metrics::MulticlassConfusionMatrix::from_labels(
    ///     &[0, 1, 2], &[0, 0, 1, 1], &[0, 1, 1, 2])?;
    /// assert_eq!(cm.balanced_accuracy(), 0.5); // class 2 has no true sample
    /// # Ok::<(), metrics::MetricsError>(())
    /// ```
    pub fn balanced_accuracy(&self) -> f64 {
        let k = self.n_classes();
        let recalls: Vec<f64> = self
            .true_sums()
            .iter()
            .enumerate()
            .filter(|&(_, &support)| support > 0)
            .map(|(i, &support)| self.counts[i * k + i] as f64 / support as f64)
            .collect();
        if recalls.is_empty() {
            0.0
        } else {
            recalls.iter().sum::<f64>() / recalls.len() as f64
        }
    }

    /// Multi-class Matthews correlation coefficient (`matthews_corrcoef`);
    /// 0 when the denominator is 0.
    pub fn mcc(&self) -> f64 {
        let as_f64 = |v: Vec<u64>| v.into_iter().map(|x| x as f64).collect::<Vec<f64>>();
        mcc_from_sums(
            self.correct() as f64,
            self.total() as f64,
            &as_f64(self.true_sums()),
            &as_f64(self.pred_sums()),
        )
    }

    /// Per-class precision, recall, F1 and support with macro and weighted
    /// averages, as `classification_report(..., labels=classes,
    /// zero_division=0)`: a class never predicted has precision 0, a class
    /// never present has recall 0, and both count in the macro average.
    pub fn report(&self) -> ClassificationReport {
        let classes: Vec<ClassMetrics> = (0..self.n_classes())
            .filter_map(|i| {
                let cm = self.one_vs_rest(i)?;
                Some(ClassMetrics {
                    class: self.classes[i].clone(),
                    precision: cm.precision(),
                    recall: cm.recall(),
                    f1: cm.f1(),
                    support: cm.positives(),
                })
            })
            .collect();
        let total: u64 = classes.iter().map(|c| c.support).sum();
        let k = classes.len() as f64;
        let mean = |f: fn(&ClassMetrics) -> f64| classes.iter().map(f).sum::<f64>() / k;
        let weighted = |f: fn(&ClassMetrics) -> f64| {
            if total == 0 {
                0.0
            } else {
                classes.iter().map(|c| f(c) * c.support as f64).sum::<f64>() / total as f64
            }
        };
        let macro_avg = AverageMetrics {
            precision: mean(|c| c.precision),
            recall: mean(|c| c.recall),
            f1: mean(|c| c.f1),
            support: total,
        };
        let weighted_avg = AverageMetrics {
            precision: weighted(|c| c.precision),
            recall: weighted(|c| c.recall),
            f1: weighted(|c| c.f1),
            support: total,
        };
        ClassificationReport {
            classes,
            accuracy: self.accuracy(),
            macro_avg,
            weighted_avg,
        }
    }
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class name.
    pub class: String,
    /// Precision of this class (0 when never predicted).
    pub precision: f64,
    /// Recall of this class (0 when absent from the true labels).
    pub recall: f64,
    /// F1 of this class (0 when it is neither present nor predicted).
    pub f1: f64,
    /// Number of true samples of this class.
    pub support: u64,
}

/// An average of per-class metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AverageMetrics {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1 (the average of per-class F1, not the F1 of the averages).
    pub f1: f64,
    /// Total support.
    pub support: u64,
}

/// A per-class report in the shape of scikit-learn's
/// `classification_report(..., output_dict=True)`.
///
/// ```
/// let report = metrics::ConfusionMatrix::new(3, 1, 5, 1).classification_report();
/// let table = report.to_markdown();
/// assert!(table.contains("| attack | 0.7500 | 0.7500 | 0.7500 | 4 |"));
/// assert!(table.contains("| weighted avg |"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// One entry per class, in class-list order.
    pub classes: Vec<ClassMetrics>,
    /// Overall accuracy.
    pub accuracy: f64,
    /// Unweighted mean over classes.
    pub macro_avg: AverageMetrics,
    /// Mean over classes weighted by support.
    pub weighted_avg: AverageMetrics,
}

impl ClassificationReport {
    /// The report as a Markdown table (values with four decimals).
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| class | precision | recall | f1 | support |\n|---|---:|---:|---:|---:|\n",
        );
        for c in &self.classes {
            row(&mut out, &c.class, c.precision, c.recall, c.f1, c.support);
        }
        let _ = writeln!(
            out,
            "| accuracy | | | {:.4} | {} |",
            self.accuracy, self.macro_avg.support
        );
        for (name, avg) in [
            ("macro avg", &self.macro_avg),
            ("weighted avg", &self.weighted_avg),
        ] {
            row(
                &mut out,
                name,
                avg.precision,
                avg.recall,
                avg.f1,
                avg.support,
            );
        }
        out
    }
}

fn row(out: &mut String, name: &str, precision: f64, recall: f64, f1: f64, support: u64) {
    let _ = writeln!(
        out,
        "| {name} | {precision:.4} | {recall:.4} | {f1:.4} | {support} |"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_class_lists_and_labels() {
        let empty: [&str; 0] = [];
        assert_eq!(
            MulticlassConfusionMatrix::from_labels(&empty, &["a"], &["a"]),
            Err(MetricsError::EmptyInput { what: "class list" })
        );
        assert_eq!(
            MulticlassConfusionMatrix::from_labels(&["a", "a"], &["a"], &["a"]),
            Err(MetricsError::DuplicateClass("a".into()))
        );
        assert!(matches!(
            MulticlassConfusionMatrix::from_labels(&["a"], &["a"], &["a", "a"]),
            Err(MetricsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            MulticlassConfusionMatrix::from_labels(&["a", "b"], &["a"], &["c"]),
            Err(MetricsError::UnknownLabel {
                what: "y_pred",
                index: 0,
                ..
            })
        ));
        assert!(matches!(
            MulticlassConfusionMatrix::from_indices(vec!["x".into()], &[0, 1], &[0, 0]),
            Err(MetricsError::UnknownLabel {
                what: "y_true",
                index: 1,
                ..
            })
        ));
        assert_eq!(
            MulticlassConfusionMatrix::from_indices(vec!["x".into(), "x".into()], &[0], &[0]),
            Err(MetricsError::DuplicateClass("x".into()))
        );
    }

    #[test]
    fn json_round_trip_is_validated() {
        let cm =
            MulticlassConfusionMatrix::from_labels(&["a", "b"], &["a", "b"], &["b", "b"]).unwrap();
        let json = serde_json::to_string(&cm).unwrap();
        assert_eq!(json, r#"{"classes":["a","b"],"counts":[0,1,0,1]}"#);
        let back: MulticlassConfusionMatrix = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cm);
        for bad in [
            r#"{"classes":[],"counts":[]}"#,
            r#"{"classes":["a","a"],"counts":[0,1,0,1]}"#,
            r#"{"classes":["a","b"],"counts":[0,1,0]}"#,
            r#"{"classes":["a","b"],"counts":[18446744073709551615,1,0,0]}"#,
        ] {
            assert!(
                serde_json::from_str::<MulticlassConfusionMatrix>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn binary_round_trip_agrees_with_binary_metrics() {
        let binary = ConfusionMatrix::new(13, 4, 70, 9);
        let cm = MulticlassConfusionMatrix::from_binary(&binary, "benign", "attack");
        assert_eq!(cm.one_vs_rest(1), Some(binary));
        assert_eq!(cm.accuracy(), binary.accuracy());
        assert!((cm.mcc() - binary.mcc()).abs() < 1e-15);
        assert!((cm.balanced_accuracy() - binary.balanced_accuracy()).abs() < 1e-15);
        assert_eq!(cm.rows(), vec![vec![70, 4], vec![9, 13]]);
        assert_eq!(cm.count(2, 0), None);
        assert_eq!(cm.one_vs_rest(2), None);
    }

    #[test]
    fn report_counts_absent_classes_in_macro_average() {
        let cm = MulticlassConfusionMatrix::from_labels(
            &["a", "b", "c"],
            &["a", "a", "b"],
            &["a", "b", "b"],
        )
        .unwrap();
        let report = cm.report();
        let c = &report.classes[2];
        assert_eq!((c.precision, c.recall, c.f1, c.support), (0.0, 0.0, 0.0, 0));
        // a: p=1, r=0.5; b: p=0.5, r=1; c: 0, 0.
        assert!((report.macro_avg.precision - 0.5).abs() < 1e-15);
        assert!((report.macro_avg.recall - 0.5).abs() < 1e-15);
        assert!((report.weighted_avg.recall - (2.0 * 0.5 + 1.0) / 3.0).abs() < 1e-15);
        let table = report.to_markdown();
        assert_eq!(table.lines().count(), 2 + 3 + 3);
        assert!(table.contains("| c | 0.0000 | 0.0000 | 0.0000 | 0 |"));
        assert!(table.contains("| accuracy | | | 0.6667 | 3 |"));
    }
}
