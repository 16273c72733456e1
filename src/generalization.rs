//! The generalization check: benign traffic from another capture, scored by
//! the saved detector at its operating points, the feature drift against
//! the training benign rows, and optionally the detector adapted to a
//! share of the new traffic by the one procedure `nids adapt` ships
//! ([`detector::Detector::adapt`]), measured on the rest.

use std::path::{Path, PathBuf};

use autoencoders::TrainerConfig;
use detector::{AdaptConfig, Adaptation, Detector, OperatingPoint};
use flowdata::{FlowFrame, OutOfRange};
use ndarray::Array2;
use serde::Serialize;

use crate::error::{PipelineError, Result};
use crate::ingest::{RangeSummary, rows_where};

/// Drift of one feature between the training benign rows and the new
/// capture's benign rows (both scaled by the training bounds).
#[derive(Clone, Debug, Serialize)]
pub struct DriftRow {
    /// Feature name.
    pub feature: String,
    /// Two-sample Kolmogorov-Smirnov statistic.
    pub ks: f64,
    /// Wasserstein-1 distance, in scaled units.
    pub wasserstein: f64,
}

/// The generalization numbers of one benign source.
#[derive(Clone, Debug, Serialize)]
pub struct GeneralizationResult {
    /// The files.
    pub source: String,
    /// Rows read after cleaning.
    pub rows: usize,
    /// Benign rows among them (the ones scored).
    pub benign_rows: usize,
    /// Features of the model the source lacked (filled with the
    /// `fill_missing` value).
    pub missing_features: Vec<String>,
    /// Values outside the training range.
    pub out_of_range: RangeSummary,
    /// Share of the benign rows the verdict's novelty detector flags at its
    /// calibrated threshold.
    pub fpr_detector: f64,
    /// Share of the benign rows the headline verdict (policy OR novelty)
    /// flags.
    pub fpr_verdict: f64,
    /// Share flagged by the policy at the validation-chosen F1-optimal threshold.
    pub fpr_policy: f64,
    /// Share flagged by the argmax policy.
    pub fpr_policy_argmax: f64,
    /// The detector adapted to a share of the benign rows and measured on
    /// the rest, when asked for.
    pub fpr_after_finetune: Option<Adaptation>,
    /// Mean KS statistic over all features.
    pub mean_ks: f64,
    /// Features with a KS statistic above 0.5.
    pub features_ks_above_half: usize,
    /// The ten features with the largest KS statistic.
    pub drift: Vec<DriftRow>,
}

/// What the check needs from the trained pipeline.
pub struct Trained<'a> {
    /// The detector the run saves: the new flows are scored through it.
    pub detector: &'a Detector,
    /// Where it was saved: an adaptation starts from the saved files.
    pub detector_dir: &'a Path,
    /// Scaled training rows.
    pub train: &'a FlowFrame,
    /// The value that fills features a source lacks (`--fill-missing`);
    /// without it such a source is an error naming them.
    pub fill_missing: Option<flowdata::FillValue>,
    /// Seed of the adaptation.
    pub seed: u64,
}

fn share(flags: impl Iterator<Item = bool>, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        flags.filter(|&f| f).count() as f64 / n as f64
    }
}

/// The share of flows `point` flags.
fn point_fpr(point: &OperatingPoint, margins: &[f64], novelty: &[f64]) -> f64 {
    share(
        margins.iter().zip(novelty).map(|(&m, &s)| point.flag(m, s)),
        margins.len(),
    )
}

/// The false-positive rates of benign flows scored by the detector: its
/// novelty detector at its own calibrated threshold, the verdict, the
/// policy at its F1-optimal threshold and at its argmax.
struct Rates {
    detector: f64,
    verdict: f64,
    policy: f64,
    policy_argmax: f64,
}

fn rates(detector: &Detector, x: &Array2<f32>, range: &OutOfRange) -> Result<Rates> {
    let s = detector.score_scaled(x.view(), range.clone())?;
    let t = detector.novelty().threshold().value;
    let m = detector.manifest();
    Ok(Rates {
        detector: share(s.novelty.iter().map(|&v| v > t), x.nrows()),
        verdict: share(s.malicious.iter().copied(), x.nrows()),
        policy: point_fpr(m.operating_point("best-f1")?, &s.margin, &s.novelty),
        policy_argmax: point_fpr(m.operating_point("argmax")?, &s.margin, &s.novelty),
    })
}

/// Per-feature KS and Wasserstein distances, sorted by KS (largest first).
pub fn drift_table(names: &[&str], a: &Array2<f32>, b: &Array2<f32>) -> Result<Vec<DriftRow>> {
    let mut rows = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        let x: Vec<f64> = a.column(j).iter().map(|&v| f64::from(v)).collect();
        let y: Vec<f64> = b.column(j).iter().map(|&v| f64::from(v)).collect();
        rows.push(DriftRow {
            feature: (*name).to_string(),
            ks: metrics::ks_statistic(&x, &y)?,
            wasserstein: metrics::wasserstein_distance(&x, &y)?,
        });
    }
    rows.sort_by(|p, q| q.ks.total_cmp(&p.ks).then(p.feature.cmp(&q.feature)));
    Ok(rows)
}

/// Run the check for one source of benign flows; with a
/// `finetune_fraction`, adapt the saved detector to that share of them.
pub fn check_source(
    paths: &[PathBuf],
    trained: &Trained<'_>,
    finetune_fraction: Option<f64>,
) -> Result<GeneralizationResult> {
    let source = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let schema = trained.detector.schema();
    let (frame, report) =
        crate::ingest::read_aligned(paths, schema, trained.fill_missing, |_, _| {})?;
    let missing_features = crate::ingest::missing_features(&report);
    let rows = frame.n_rows();
    let benign = frame.benign();
    if benign.n_rows() == 0 {
        return Err(PipelineError::Unsupported(format!(
            "{source} holds no benign flow after cleaning ({rows} rows)"
        )));
    }
    let mut scaled = benign.clone();
    let range = trained.detector.bounds().transform_frame(&mut scaled)?;
    let out_of_range = RangeSummary::new(source.clone(), &range, schema);
    let x = scaled.features().to_owned();
    let train_benign = rows_where(trained.train, false);
    let names = schema.feature_names();
    let all_drift = drift_table(&names, &train_benign, &x)?;
    let mean_ks = all_drift.iter().map(|r| r.ks).sum::<f64>() / all_drift.len().max(1) as f64;
    let features_ks_above_half = all_drift.iter().filter(|r| r.ks > 0.5).count();

    let fpr = rates(trained.detector, &x, &range)?;

    let fpr_after_finetune = match finetune_fraction {
        None => None,
        Some(fraction) => {
            let defaults = AdaptConfig::default();
            let config = AdaptConfig {
                fraction,
                trainer: TrainerConfig {
                    seed: trained.seed,
                    ..defaults.trainer
                },
            };
            let (_, adaptation) = Detector::load(trained.detector_dir)?.adapt(
                benign.features(),
                vec![source.clone()],
                &config,
            )?;
            Some(adaptation)
        }
    };
    Ok(GeneralizationResult {
        source,
        rows,
        benign_rows: x.nrows(),
        missing_features,
        out_of_range,
        fpr_detector: fpr.detector,
        fpr_verdict: fpr.verdict,
        fpr_policy: fpr.policy,
        fpr_policy_argmax: fpr.policy_argmax,
        fpr_after_finetune,
        mean_ks,
        features_ks_above_half,
        drift: all_drift.into_iter().take(10).collect(),
    })
}
