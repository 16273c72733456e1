#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod binary;
mod curves;
mod error;
mod multiclass;
mod report;
mod shift;
mod sweep;
mod thresholds;
mod validate;

pub use binary::{ConfusionMatrix, Rates};
pub use curves::{
    PrPoint, RocPoint, average_precision, partial_roc_auc, precision_recall_curve, roc_auc,
    roc_curve, roc_curve_full,
};
pub use error::MetricsError;
pub use multiclass::{
    AverageMetrics, ClassMetrics, ClassificationReport, MulticlassConfusionMatrix,
};
pub use report::{DetectionReport, FprOperatingPoint, ReportConfig};
pub use shift::{ks_statistic, wasserstein_distance};
pub use thresholds::{
    REFERENCE_THRESHOLDS, ThresholdRow, best_f1_threshold, false_alarm_allowance,
    false_positive_rate, min_cost_threshold, recall_at_fpr, threshold_for_fpr,
    threshold_for_fpr_labelled, threshold_for_recall, threshold_sweep, wilson_interval,
};
