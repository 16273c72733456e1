//! Property tests: the invariants every metric must satisfy on any input.

use metrics::{
    ConfusionMatrix, MulticlassConfusionMatrix, average_precision, best_f1_threshold,
    false_positive_rate, ks_statistic, precision_recall_curve, recall_at_fpr, roc_auc, roc_curve,
    roc_curve_full, threshold_for_fpr, threshold_sweep, wasserstein_distance,
};
use proptest::prelude::*;

/// Labels with both classes and integer-valued scores (many ties), so that
/// exact transforms of the scores are possible.
fn labelled_scores(max_len: usize) -> impl Strategy<Value = (Vec<bool>, Vec<f64>)> {
    prop::collection::vec((any::<bool>(), -40i32..40), 2..max_len).prop_map(|pairs| {
        let mut labels: Vec<bool> = pairs.iter().map(|p| p.0).collect();
        labels[0] = true;
        labels[1] = false;
        (labels, pairs.iter().map(|p| f64::from(p.1)).collect())
    })
}

/// Arbitrary finite scores (no ties guaranteed, any magnitude).
fn wide_scores(max_len: usize) -> impl Strategy<Value = (Vec<bool>, Vec<f64>)> {
    prop::collection::vec((any::<bool>(), -1e6f64..1e6), 2..max_len).prop_map(|pairs| {
        let mut labels: Vec<bool> = pairs.iter().map(|p| p.0).collect();
        labels[0] = true;
        labels[1] = false;
        (labels, pairs.iter().map(|p| p.1).collect())
    })
}

fn in_unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

/// Mann-Whitney AUC from mid-ranks: an independent formula for ROC AUC.
fn rank_auc(labels: &[bool], scores: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = labels.iter().filter(|&&l| l).count() as f64;
    let n = labels.len() as f64 - p;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

proptest! {
    #[test]
    fn every_rate_is_in_unit_interval(tp in 0u64..50, fp in 0u64..50, tn in 0u64..50, fn_ in 0u64..50, beta in 0.0f64..5.0) {
        let cm = ConfusionMatrix::new(tp, fp, tn, fn_);
        for rate in [
            cm.precision(), cm.recall(), cm.f1(), cm.f_beta(beta).unwrap(), cm.accuracy(),
            cm.balanced_accuracy(), cm.specificity(), cm.fpr(), cm.fnr(),
        ] {
            prop_assert!(in_unit(rate), "{rate} for {cm:?}");
        }
        prop_assert!((-1.0..=1.0).contains(&cm.mcc()));
        prop_assert!((cm.fpr() + cm.specificity() - 1.0).abs() < 1e-12 || cm.negatives() == 0);
    }

    #[test]
    fn f1_is_the_harmonic_mean_of_precision_and_recall(tp in 0u64..100, fp in 0u64..100, tn in 0u64..100, fn_ in 0u64..100) {
        let cm = ConfusionMatrix::new(tp, fp, tn, fn_);
        let (p, r) = (cm.precision(), cm.recall());
        let harmonic = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
        prop_assert!((cm.f1() - harmonic).abs() < 1e-12, "{} vs {harmonic}", cm.f1());
        prop_assert!((cm.f_beta(1.0).unwrap() - cm.f1()).abs() < 1e-12);
        prop_assert!((cm.f_beta(0.0).unwrap() - p).abs() < 1e-12);
    }

    #[test]
    fn curves_and_areas_stay_in_unit_interval((labels, scores) in wide_scores(200)) {
        let auc = roc_auc(&labels, &scores).unwrap();
        let ap = average_precision(&labels, &scores).unwrap();
        prop_assert!(in_unit(auc) && in_unit(ap));
        let roc = roc_curve(&labels, &scores).unwrap();
        prop_assert_eq!((roc[0].fpr, roc[0].tpr), (0.0, 0.0));
        let last = roc[roc.len() - 1];
        prop_assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
        for pair in roc.windows(2) {
            prop_assert!(pair[0].threshold > pair[1].threshold);
            prop_assert!(pair[0].fpr <= pair[1].fpr && pair[0].tpr <= pair[1].tpr);
        }
        for p in precision_recall_curve(&labels, &scores).unwrap() {
            prop_assert!(in_unit(p.precision) && in_unit(p.recall));
        }
    }

    #[test]
    fn auc_is_the_mann_whitney_statistic((labels, scores) in labelled_scores(300)) {
        let auc = roc_auc(&labels, &scores).unwrap();
        prop_assert!((auc - rank_auc(&labels, &scores)).abs() < 1e-12);
        // The trapezoid over the full curve is the same area.
        let roc = roc_curve_full(&labels, &scores).unwrap();
        let trapezoid: f64 = roc.windows(2).map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0).sum();
        prop_assert!((auc - trapezoid).abs() < 1e-12);
    }

    #[test]
    fn auc_and_ap_unchanged_by_strictly_increasing_transforms((labels, scores) in labelled_scores(200)) {
        let auc = roc_auc(&labels, &scores).unwrap();
        let ap = average_precision(&labels, &scores).unwrap();
        // Both transforms are exact and strictly increasing on integers in [-40, 40].
        let cubic: Vec<f64> = scores.iter().map(|x| x * x * x + x).collect();
        let exp: Vec<f64> = scores.iter().map(|x| (x / 7.0).exp()).collect();
        for transformed in [cubic, exp] {
            prop_assert_eq!(roc_auc(&labels, &transformed).unwrap(), auc);
            prop_assert_eq!(average_precision(&labels, &transformed).unwrap(), ap);
        }
    }

    #[test]
    fn reversed_scores_give_one_minus_auc((labels, scores) in wide_scores(200)) {
        let auc = roc_auc(&labels, &scores).unwrap();
        let reversed: Vec<f64> = scores.iter().map(|x| -x).collect();
        prop_assert!((roc_auc(&labels, &reversed).unwrap() - (1.0 - auc)).abs() < 1e-12);
    }

    #[test]
    fn average_precision_is_the_step_sum_of_the_pr_curve((labels, scores) in labelled_scores(200)) {
        let pr = precision_recall_curve(&labels, &scores).unwrap();
        let step: f64 = pr.windows(2).map(|w| (w[0].recall - w[1].recall) * w[0].precision).sum();
        prop_assert!((average_precision(&labels, &scores).unwrap() - step).abs() < 1e-12);
    }

    #[test]
    fn threshold_tools_agree_with_the_sweep((labels, scores) in labelled_scores(150), max_fpr in 0.0f64..=1.0) {
        let best = best_f1_threshold(&labels, &scores).unwrap();
        let rows = threshold_sweep(&labels, &scores, &scores).unwrap();
        for row in &rows {
            prop_assert!(row.f1 <= best.f1);
        }
        prop_assert_eq!(threshold_sweep(&labels, &scores, &[best.threshold]).unwrap()[0], best);
        let at = recall_at_fpr(&labels, &scores, max_fpr).unwrap();
        prop_assert!(at.fpr <= max_fpr);
        for row in rows.iter().filter(|r| r.fpr <= max_fpr) {
            prop_assert!(row.recall <= at.recall);
        }
    }

    #[test]
    fn threshold_for_fpr_is_the_lowest_within_budget(benign in prop::collection::vec(-30i32..30, 1..200), target in 0.0f64..=1.0) {
        let benign: Vec<f64> = benign.into_iter().map(f64::from).collect();
        let t = threshold_for_fpr(&benign, target).unwrap();
        prop_assert!(false_positive_rate(&benign, t).unwrap() <= target);
        let min = benign.iter().copied().fold(f64::INFINITY, f64::min);
        if t > min {
            prop_assert!(false_positive_rate(&benign, t.next_down()).unwrap() > target);
        }
    }

    #[test]
    fn shift_statistics_are_symmetric_metrics(
        a in prop::collection::vec(-50i32..50, 1..100),
        b in prop::collection::vec(-50i32..50, 1..100),
        shift in -20i32..20,
    ) {
        let a: Vec<f64> = a.into_iter().map(f64::from).collect();
        let b: Vec<f64> = b.into_iter().map(f64::from).collect();
        let ks = ks_statistic(&a, &b).unwrap();
        prop_assert!(in_unit(ks));
        prop_assert_eq!(ks, ks_statistic(&b, &a).unwrap());
        prop_assert_eq!(ks_statistic(&a, &a).unwrap(), 0.0);
        let w = wasserstein_distance(&a, &b).unwrap();
        prop_assert!(w >= 0.0);
        prop_assert!((w - wasserstein_distance(&b, &a).unwrap()).abs() < 1e-9);
        // Moving one sample by a constant moves it that far from itself.
        let moved: Vec<f64> = a.iter().map(|x| x + f64::from(shift)).collect();
        prop_assert!((wasserstein_distance(&a, &moved).unwrap() - f64::from(shift.abs())).abs() < 1e-9);
    }

    #[test]
    fn multiclass_per_class_rates_are_bounded(pairs in prop::collection::vec((0usize..4, 0usize..4), 1..200)) {
        let (y_true, y_pred): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let names = ["a", "b", "c", "d"].map(String::from).to_vec();
        let cm = MulticlassConfusionMatrix::from_indices(names, &y_true, &y_pred).unwrap();
        prop_assert_eq!(cm.total(), y_true.len() as u64);
        let report = cm.report();
        for c in &report.classes {
            prop_assert!(in_unit(c.precision) && in_unit(c.recall) && in_unit(c.f1));
        }
        prop_assert!(in_unit(report.macro_avg.f1) && in_unit(report.weighted_avg.recall));
        // Weighted recall over all classes equals accuracy.
        prop_assert!((report.weighted_avg.recall - report.accuracy).abs() < 1e-12);
        prop_assert!(in_unit(cm.balanced_accuracy()) && (-1.0..=1.0).contains(&cm.mcc()));
    }
}

#[test]
fn auc_on_a_large_input_matches_mann_whitney() {
    // A simple deterministic generator with heavy ties and both signs.
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let labels: Vec<bool> = (0..20_000).map(|_| next() % 5 == 0).collect();
    let scores: Vec<f64> = labels
        .iter()
        .map(|&l| (next() % 2000) as f64 / 100.0 - 10.0 + if l { 5.0 } else { 0.0 })
        .collect();
    let auc = roc_auc(&labels, &scores).unwrap();
    assert!((auc - rank_auc(&labels, &scores)).abs() < 1e-12);
    assert!(auc > 0.6);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ConfusionMatrix>();
    check::<MulticlassConfusionMatrix>();
    check::<metrics::ClassificationReport>();
    check::<metrics::DetectionReport>();
    check::<metrics::ReportConfig>();
    check::<metrics::ThresholdRow>();
    check::<metrics::RocPoint>();
    check::<metrics::PrPoint>();
    check::<metrics::MetricsError>();
}
