//! Value tests against scikit-learn and scipy.
//!
//! The expected values in `fixtures/sklearn_cases.json` were produced by
//! `fixtures/make_fixtures.py` (scikit-learn 1.9, scipy 1.17). The oracles:
//!
//! - counts: `sklearn.metrics.confusion_matrix(y, s >= t, labels=[0, 1])`;
//! - rates: `precision_score`, `recall_score`, `f1_score`, `fbeta_score`
//!   (all with `zero_division=0`), `recall_score(pos_label=0)` for
//!   specificity, `accuracy_score`, `balanced_accuracy_score`,
//!   `matthews_corrcoef`;
//! - curves: `roc_curve` (with `drop_intermediate` `True` and `False`),
//!   `precision_recall_curve`, `roc_auc_score`, `average_precision_score`;
//! - best F1: `2tp / (2tp + fp + fn)` over `confusion_matrix_at_thresholds`,
//!   lowest threshold among the maxima;
//! - recall at an FPR budget: `roc_curve(drop_intermediate=False)`, the
//!   largest `tpr` with `fpr <= budget`;
//! - multi-class: `confusion_matrix(labels=...)`,
//!   `precision_recall_fscore_support(labels=..., zero_division=0)` per
//!   class and with `average="macro"` / `"weighted"`;
//! - threshold for an FPR budget: numpy's `nextafter` above the `(k+1)`-th
//!   largest benign score, `k = max{k : k / n <= budget}`;
//! - shift: `scipy.stats.ks_2samp(a, b).statistic` and
//!   `scipy.stats.wasserstein_distance(a, b)`.

use approx::assert_relative_eq;
use metrics::{
    ConfusionMatrix, DetectionReport, MetricsError, MulticlassConfusionMatrix, ReportConfig,
    average_precision, best_f1_threshold, false_positive_rate, ks_statistic,
    precision_recall_curve, recall_at_fpr, roc_auc, roc_curve, roc_curve_full, threshold_for_fpr,
    threshold_sweep, wasserstein_distance,
};
use serde::Deserialize;

const TOL: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixture {
    binary: Vec<BinaryCase>,
    multiclass: Vec<MulticlassCase>,
    shift: Vec<ShiftCase>,
}

#[derive(Deserialize)]
struct BinaryCase {
    name: String,
    labels: Vec<u8>,
    scores: Vec<f64>,
    thresholds: Vec<f64>,
    confusion: Vec<Confusion>,
    roc_auc: Option<f64>,
    average_precision: Option<f64>,
    roc: Option<Roc>,
    roc_full: Option<Roc>,
    pr: Option<Pr>,
    best_f1: Option<BestF1>,
    recall_at_fpr: Option<Vec<RecallAtFpr>>,
    threshold_for_fpr: Option<Vec<ThresholdForFpr>>,
}

#[derive(Deserialize)]
struct Confusion {
    tp: u64,
    fp: u64,
    tn: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    precision: f64,
    recall: f64,
    f1: f64,
    f_half: f64,
    f2: f64,
    specificity: f64,
    fpr: f64,
    accuracy: f64,
    balanced_accuracy: f64,
    mcc: f64,
}

#[derive(Deserialize)]
struct Roc {
    fpr: Vec<f64>,
    tpr: Vec<f64>,
    thresholds: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct Pr {
    precision: Vec<f64>,
    recall: Vec<f64>,
    thresholds: Vec<f64>,
}

#[derive(Deserialize)]
struct BestF1 {
    threshold: f64,
    f1: f64,
    tp: u64,
    fp: u64,
}

#[derive(Deserialize)]
struct RecallAtFpr {
    max_fpr: f64,
    threshold: Option<f64>,
    recall: f64,
    fp: u64,
}

#[derive(Deserialize)]
struct ThresholdForFpr {
    target_fpr: f64,
    threshold_bits: u64,
    achieved_fpr: f64,
}

#[derive(Deserialize)]
struct MulticlassCase {
    name: String,
    classes: Vec<String>,
    y_true: Vec<String>,
    y_pred: Vec<String>,
    matrix: Vec<Vec<u64>>,
    precision: Vec<f64>,
    recall: Vec<f64>,
    f1: Vec<f64>,
    support: Vec<u64>,
    macro_avg: Average,
    weighted: Average,
    accuracy: f64,
    balanced_accuracy: f64,
    mcc: f64,
}

#[derive(Deserialize)]
struct Average {
    precision: f64,
    recall: f64,
    f1: f64,
}

#[derive(Deserialize)]
struct ShiftCase {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    ks: f64,
    wasserstein: f64,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/sklearn_cases.json").replace("\"macro\":", "\"macro_avg\":");
    serde_json::from_str(&text).expect("fixture parses")
}

impl BinaryCase {
    fn bools(&self) -> Vec<bool> {
        self.labels.iter().map(|&l| l == 1).collect()
    }
    fn has_both(&self) -> bool {
        self.labels.contains(&0) && self.labels.contains(&1)
    }
}

fn threshold_of(t: Option<f64>) -> f64 {
    t.unwrap_or(f64::INFINITY)
}

#[test]
fn fixture_covers_at_least_twenty_binary_cases() {
    let f = fixture();
    assert!(f.binary.len() >= 20, "{} binary cases", f.binary.len());
    assert!(f.multiclass.len() >= 4);
    assert!(f.shift.len() >= 6);
    // Scores survive the JSON round trip exactly (they were rounded to
    // short decimals), so tied scores stay tied.
    let ties = f.binary.iter().find(|c| c.name == "signed_zeros").unwrap();
    assert_eq!(ties.scores[1].to_bits(), (-0.0_f64).to_bits());
}

#[test]
fn confusion_matrices_match_sklearn() {
    for case in fixture().binary {
        let labels = case.bools();
        for (&t, want) in case.thresholds.iter().zip(&case.confusion) {
            let cm = ConfusionMatrix::from_scores(&labels, &case.scores, t).unwrap();
            let ctx = format!("{} at {t}", case.name);
            assert_eq!(
                (cm.tp, cm.fp, cm.tn, cm.fn_),
                (want.tp, want.fp, want.tn, want.fn_),
                "{ctx}"
            );
            let predictions: Vec<bool> = case.scores.iter().map(|&s| s >= t).collect();
            assert_eq!(
                ConfusionMatrix::from_predictions(&labels, &predictions).unwrap(),
                cm
            );
            for (got, expected, what) in [
                (cm.precision(), want.precision, "precision"),
                (cm.recall(), want.recall, "recall"),
                (cm.f1(), want.f1, "f1"),
                (cm.f_beta(0.5).unwrap(), want.f_half, "f0.5"),
                (cm.f_beta(2.0).unwrap(), want.f2, "f2"),
                (cm.specificity(), want.specificity, "specificity"),
                (cm.fpr(), want.fpr, "fpr"),
                (cm.accuracy(), want.accuracy, "accuracy"),
                (
                    cm.balanced_accuracy(),
                    want.balanced_accuracy,
                    "balanced accuracy",
                ),
                (cm.mcc(), want.mcc, "mcc"),
            ] {
                assert!(
                    approx::relative_eq!(got, expected, epsilon = TOL, max_relative = TOL),
                    "{ctx}: {what} {got} != {expected}"
                );
            }
        }
    }
}

#[test]
fn threshold_sweep_matches_sklearn_counts() {
    for case in fixture().binary {
        let rows = threshold_sweep(&case.bools(), &case.scores, &case.thresholds).unwrap();
        for (row, want) in rows.iter().zip(&case.confusion) {
            assert_eq!(
                (row.tp, row.fp, row.tn, row.fn_),
                (want.tp, want.fp, want.tn, want.fn_)
            );
            assert_relative_eq!(row.f1, want.f1, epsilon = TOL, max_relative = TOL);
            assert_relative_eq!(row.fpr, want.fpr, epsilon = TOL, max_relative = TOL);
        }
    }
}

#[test]
fn roc_auc_and_average_precision_match_sklearn() {
    let mut checked = 0;
    for case in fixture().binary {
        let labels = case.bools();
        match case.roc_auc {
            Some(want) => {
                let got = roc_auc(&labels, &case.scores).unwrap();
                assert_relative_eq!(got, want, epsilon = TOL, max_relative = TOL);
                checked += 1;
            }
            None => assert!(
                matches!(
                    roc_auc(&labels, &case.scores),
                    Err(MetricsError::SingleClass { .. })
                ),
                "{}",
                case.name
            ),
        }
        match case.average_precision {
            Some(want) => {
                let got = average_precision(&labels, &case.scores).unwrap();
                assert!(
                    approx::relative_eq!(got, want, epsilon = TOL, max_relative = TOL),
                    "{}: AP {got} != {want}",
                    case.name
                );
            }
            // The fixture script skips cases without an attack label;
            // `average_precision_score` warns and returns 0.0 there.
            None => assert_eq!(
                average_precision(&labels, &case.scores),
                Ok(0.0),
                "{}",
                case.name
            ),
        }
    }
    assert!(checked >= 20, "{checked} AUC cases");
}

fn assert_roc_eq(name: &str, got: &[metrics::RocPoint], want: &Roc) {
    assert_eq!(got.len(), want.fpr.len(), "{name}: ROC length");
    for (i, p) in got.iter().enumerate() {
        assert_eq!(
            p.threshold,
            threshold_of(want.thresholds[i]),
            "{name}: threshold {i}"
        );
        assert_relative_eq!(p.fpr, want.fpr[i], epsilon = TOL);
        assert_relative_eq!(p.tpr, want.tpr[i], epsilon = TOL);
    }
}

#[test]
fn roc_curves_match_sklearn() {
    let mut checked = 0;
    for case in fixture().binary {
        let labels = case.bools();
        if let (Some(roc), Some(full)) = (&case.roc, &case.roc_full) {
            assert_roc_eq(&case.name, &roc_curve(&labels, &case.scores).unwrap(), roc);
            assert_roc_eq(
                &case.name,
                &roc_curve_full(&labels, &case.scores).unwrap(),
                full,
            );
            checked += 1;
        } else if !case.has_both() {
            assert!(roc_curve(&labels, &case.scores).is_err());
        }
    }
    assert!(checked >= 15, "{checked} ROC cases");
}

#[test]
fn precision_recall_curves_match_sklearn() {
    let mut checked = 0;
    for case in fixture().binary {
        let Some(want) = &case.pr else { continue };
        let got = precision_recall_curve(&case.bools(), &case.scores).unwrap();
        assert_eq!(got.len(), want.precision.len(), "{}", case.name);
        assert_eq!(want.thresholds.len() + 1, got.len());
        for (i, p) in got.iter().enumerate() {
            let threshold = want.thresholds.get(i).copied().unwrap_or(f64::INFINITY);
            assert_eq!(p.threshold, threshold, "{}: threshold {i}", case.name);
            assert_relative_eq!(p.precision, want.precision[i], epsilon = TOL);
            assert_relative_eq!(p.recall, want.recall[i], epsilon = TOL);
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked} PR cases");
}

#[test]
fn best_f1_threshold_matches_sklearn() {
    for case in fixture().binary {
        let labels = case.bools();
        match &case.best_f1 {
            Some(want) => {
                let got = best_f1_threshold(&labels, &case.scores).unwrap();
                assert_eq!(got.threshold, want.threshold, "{}", case.name);
                assert_eq!((got.tp, got.fp), (want.tp, want.fp), "{}", case.name);
                assert_relative_eq!(got.f1, want.f1, epsilon = TOL);
            }
            None => assert!(best_f1_threshold(&labels, &case.scores).is_err()),
        }
    }
}

#[test]
fn recall_at_fpr_matches_sklearn() {
    for case in fixture().binary {
        let Some(rows) = &case.recall_at_fpr else {
            continue;
        };
        for want in rows {
            let got = recall_at_fpr(&case.bools(), &case.scores, want.max_fpr).unwrap();
            let ctx = format!("{} at fpr <= {}", case.name, want.max_fpr);
            assert_eq!(got.threshold, threshold_of(want.threshold), "{ctx}");
            assert_eq!(got.fp, want.fp, "{ctx}");
            assert_relative_eq!(got.recall, want.recall, epsilon = TOL);
            assert!(got.fpr <= want.max_fpr);
        }
    }
}

#[test]
fn threshold_for_fpr_matches_numpy() {
    let mut checked = 0;
    for case in fixture().binary {
        let Some(rows) = &case.threshold_for_fpr else {
            continue;
        };
        let benign: Vec<f64> = case
            .scores
            .iter()
            .zip(&case.labels)
            .filter(|&(_, &l)| l == 0)
            .map(|(&s, _)| s)
            .collect();
        for want in rows {
            let got = threshold_for_fpr(&benign, want.target_fpr).unwrap();
            let ctx = format!("{} at {}", case.name, want.target_fpr);
            assert_eq!(got.to_bits(), want.threshold_bits, "{ctx}: {got}");
            let achieved = false_positive_rate(&benign, got).unwrap();
            assert_relative_eq!(achieved, want.achieved_fpr, epsilon = TOL);
            assert!(achieved <= want.target_fpr, "{ctx}");
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked} threshold cases");
}

#[test]
fn detection_report_agrees_with_sklearn() {
    for case in fixture().binary {
        let config = ReportConfig {
            threshold: case.thresholds[1],
            ..ReportConfig::default()
        };
        let report = DetectionReport::from_scores(&case.bools(), &case.scores, &config).unwrap();
        let want = &case.confusion[1];
        assert_eq!(report.confusion.tp, want.tp);
        assert_relative_eq!(report.mcc, want.mcc, epsilon = TOL, max_relative = TOL);
        assert_eq!(report.roc_auc.is_some(), case.roc_auc.is_some());
        if let (Some(got), Some(expected)) = (report.average_precision, case.average_precision) {
            assert_relative_eq!(got, expected, epsilon = TOL, max_relative = TOL);
        }
        let attack = &report.per_class.classes[1];
        assert_relative_eq!(attack.precision, want.precision, epsilon = TOL);
        assert_relative_eq!(
            report.per_class.classes[0].recall,
            want.specificity,
            epsilon = TOL
        );
    }
}

#[test]
fn multiclass_matches_sklearn() {
    for case in fixture().multiclass {
        let cm = MulticlassConfusionMatrix::from_labels(&case.classes, &case.y_true, &case.y_pred)
            .unwrap();
        assert_eq!(cm.rows(), case.matrix, "{}", case.name);
        let report = cm.report();
        for (i, c) in report.classes.iter().enumerate() {
            assert_eq!(c.class, case.classes[i]);
            assert_eq!(c.support, case.support[i]);
            assert_relative_eq!(c.precision, case.precision[i], epsilon = TOL);
            assert_relative_eq!(c.recall, case.recall[i], epsilon = TOL);
            assert_relative_eq!(c.f1, case.f1[i], epsilon = TOL);
        }
        for (got, want) in [
            (&report.macro_avg, &case.macro_avg),
            (&report.weighted_avg, &case.weighted),
        ] {
            assert_relative_eq!(got.precision, want.precision, epsilon = TOL);
            assert_relative_eq!(got.recall, want.recall, epsilon = TOL);
            assert_relative_eq!(got.f1, want.f1, epsilon = TOL);
        }
        assert_relative_eq!(report.accuracy, case.accuracy, epsilon = TOL);
        assert_relative_eq!(
            cm.balanced_accuracy(),
            case.balanced_accuracy,
            epsilon = TOL
        );
        assert_relative_eq!(cm.mcc(), case.mcc, epsilon = TOL, max_relative = TOL);
    }
}

#[test]
fn shift_statistics_match_scipy() {
    for case in fixture().shift {
        let ks = ks_statistic(&case.a, &case.b).unwrap();
        assert_relative_eq!(ks, case.ks, epsilon = TOL);
        let w = wasserstein_distance(&case.a, &case.b).unwrap();
        assert!(
            approx::relative_eq!(w, case.wasserstein, epsilon = TOL, max_relative = 1e-10),
            "{}: {w} != {}",
            case.name,
            case.wasserstein
        );
    }
}
