//! The generalization check: benign traffic from another capture, scored by
//! the detector and the policy at their calibrated thresholds, the feature
//! drift against the training benign rows, and optional fine-tuning on a
//! slice of the new traffic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use autoencoders::{
    Autoencoder, Model, ReconstructionDetector, ThresholdMethod, Trainer, TrainerConfig,
};
use flowdata::{FlowFrame, OutOfRange};
use ndarray::{Array2, Axis, concatenate};
use ppo::{Control, IterationRecord, Ppo};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rlenv::{FlowDataset, FlowDetectionEnv, FlowEnvConfig, Sampling, VecEnv};
use serde::Serialize;

use crate::config::{AutoencoderStageConfig, PpoStageConfig};
use crate::detector::{Detector, OperatingPoint};
use crate::error::{PipelineError, Result};
use crate::ingest::RangeSummary;
use crate::policy::{PolicyCandidate, policy_input, policy_margins};
use crate::stages::rows_where;

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

/// False-positive rates before and after fine-tuning on a slice of the new
/// benign flows, measured on the rest.
#[derive(Clone, Debug, Serialize)]
pub struct FinetuneResult {
    /// Share of the new benign flows used for fine-tuning.
    pub fraction: f64,
    /// Rows fine-tuned on.
    pub finetune_rows: usize,
    /// Rows the rates are measured on.
    pub eval_rows: usize,
    /// Detector false-positive rate before fine-tuning.
    pub detector_before: f64,
    /// Detector false-positive rate after fine-tuning the autoencoder and
    /// recalibrating its threshold (benign validation + fine-tuning rows).
    pub detector_after: f64,
    /// Verdict false-positive rate before fine-tuning.
    pub verdict_before: f64,
    /// Verdict false-positive rate after: the fine-tuned policy at the
    /// verdict's policy threshold OR the fine-tuned novelty detector at a
    /// threshold recalibrated to the novelty budget on the benign
    /// validation and fine-tuning rows.
    pub verdict_after: f64,
    /// Policy false-positive rate (validation-chosen threshold) before.
    pub policy_before: f64,
    /// Policy false-positive rate after further PPO training with the
    /// fine-tuning rows added to the training flows as benign.
    pub policy_after: f64,
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
    /// Fine-tuning, when asked for.
    pub fpr_after_finetune: Option<FinetuneResult>,
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
    /// The autoencoder whose latents the selected policy reads.
    pub encoder: &'a Model,
    /// The selected policy.
    pub candidate: &'a PolicyCandidate,
    /// Scaled training rows.
    pub train: &'a FlowFrame,
    /// Scaled validation rows.
    pub validation: &'a FlowFrame,
    /// The value that fills features a source lacks (`--fill-missing`);
    /// without it such a source is an error naming them.
    pub fill_missing: Option<f32>,
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

/// Run the check for one source of benign flows.
#[allow(clippy::too_many_arguments)]
pub fn check_source(
    paths: &[PathBuf],
    trained: &Trained<'_>,
    finetune_fraction: Option<f64>,
    ae_config: &AutoencoderStageConfig,
    ppo_config: &PpoStageConfig,
    models_dir: &Path,
    seed: u64,
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
    let mut benign = frame.benign();
    if benign.n_rows() == 0 {
        return Err(PipelineError::Unsupported(format!(
            "{source} holds no benign flow after cleaning ({rows} rows)"
        )));
    }
    let range = trained.detector.bounds().transform_frame(&mut benign)?;
    let out_of_range = RangeSummary::new(source.clone(), &range, schema);
    let x = benign.features().to_owned();
    let train_benign = rows_where(trained.train, false);
    let names = schema.feature_names();
    let all_drift = drift_table(&names, &train_benign, &x)?;
    let mean_ks = all_drift.iter().map(|r| r.ks).sum::<f64>() / all_drift.len().max(1) as f64;
    let features_ks_above_half = all_drift.iter().filter(|r| r.ks > 0.5).count();

    let fpr = rates(trained.detector, &x, &range)?;

    let fpr_after_finetune = match finetune_fraction {
        None => None,
        Some(fraction) => Some(finetune(
            &x, &range, fraction, trained, ae_config, ppo_config, models_dir, seed,
        )?),
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

#[allow(clippy::too_many_arguments)]
fn finetune(
    x: &Array2<f32>,
    range: &OutOfRange,
    fraction: f64,
    trained: &Trained<'_>,
    ae_config: &AutoencoderStageConfig,
    ppo_config: &PpoStageConfig,
    models_dir: &Path,
    seed: u64,
) -> Result<FinetuneResult> {
    let n = x.nrows();
    let n_tune = ((n as f64) * fraction).round() as usize;
    if n_tune < 2 || n_tune >= n {
        return Err(PipelineError::config(
            "finetune_fraction",
            fraction,
            format!("leaves no rows to fine-tune on or to measure ({n} benign rows)"),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let tune = x.select(Axis(0), &order[..n_tune]);
    let rest = x.select(Axis(0), &order[n_tune..]);
    let tune_range = range.select(&order[..n_tune]);
    let rest_range = range.select(&order[n_tune..]);
    let cand = trained.candidate;
    let kind = cand.kind;

    // The detector: more training on the new rows mixed with as many
    // original benign training rows, then a threshold recalibrated on the
    // benign validation rows and the new rows together.
    let before = rates(trained.detector, &rest, &rest_range)?;
    let novelty_kind = trained.detector.novelty().model().kind();
    let (mut model, _) = Model::load(models_dir.join(novelty_kind.as_str()))?;
    let train_benign = rows_where(trained.train, false);
    let replay: Vec<usize> = (0..train_benign.nrows().min(n_tune.max(1000))).collect();
    let mix = concatenate(
        Axis(0),
        &[tune.view(), train_benign.select(Axis(0), &replay).view()],
    )
    .map_err(|e| PipelineError::Unsupported(format!("fine-tuning rows: {e}")))?;
    let trainer = Trainer::new(TrainerConfig {
        learning_rate: ae_config.learning_rate * 0.5,
        batch_size: crate::stages::batch_size_for(ae_config.batch_size, mix.nrows()),
        epochs: ae_config.epochs.min(10),
        seed,
        ..TrainerConfig::default()
    })?;
    trainer.fit_split(&mut model, mix.view(), &mut |_| {})?;
    let benign_val = rows_where(trained.validation, false);
    let calibration = concatenate(Axis(0), &[benign_val.view(), tune.view()])
        .map_err(|e| PipelineError::Unsupported(format!("calibration rows: {e}")))?;
    let tuned = ReconstructionDetector::fit_with(
        model,
        calibration.view(),
        None,
        ThresholdMethod::Percentile(ae_config.threshold_percentile),
        ae_config.scoring,
    )?;
    let novelty_after = tuned.score_with(rest.view(), Some(&rest_range))?;
    let t = tuned.threshold().value;
    let detector_after = share(novelty_after.iter().map(|&v| v > t), rest.nrows());
    // The verdict's novelty threshold, recalibrated to its budget on the
    // same rows.
    let calibration_scores: Vec<f64> = tuned
        .score(benign_val.view())?
        .into_iter()
        .chain(tuned.score_with(tune.view(), Some(&tune_range))?)
        .collect();
    let manifest = trained.detector.manifest();
    let tuned_verdict = OperatingPoint {
        novelty: Some(metrics::threshold_for_fpr(
            &calibration_scores,
            manifest.novelty_budget,
        )?),
        ..manifest.operating_point("verdict")?.clone()
    };

    // The policy: the same encoder, more PPO steps on the training flows
    // plus the new rows labelled benign.
    let encoder = trained.encoder;
    let mut policy = Ppo::load(models_dir.join(cand.input.model_dir(kind)))?;
    let train_obs = policy_input(encoder, &cand.scaler, trained.train.features())?;
    let tune_obs = policy_input(encoder, &cand.scaler, tune.view())?;
    let obs = concatenate(Axis(0), &[train_obs.view(), tune_obs.view()])
        .map_err(|e| PipelineError::Unsupported(format!("fine-tuning latents: {e}")))?;
    let mut labels = trained.train.binary_labels();
    labels.extend(std::iter::repeat_n(0u8, n_tune));
    let steps = (ppo_config.timesteps.for_rows(labels.len()) / 4).max(1);
    let data = Arc::new(FlowDataset::new(obs, labels)?);
    let envs = (0..ppo_config.n_envs)
        .map(|i| {
            FlowDetectionEnv::from_dataset(
                data.clone(),
                FlowEnvConfig {
                    rewards: ppo_config.rewards,
                    episode_length: ppo_config.episode_length,
                    sampling: Sampling::Shuffled,
                    seed: seed.wrapping_add(1000 + i as u64),
                },
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut venv = VecEnv::new(envs)?;
    policy.learn(&mut venv, steps, &mut |_: &IterationRecord| {
        Control::Continue
    })?;
    let rest_obs = policy_input(encoder, &cand.scaler, rest.view())?;
    let margins_after = policy_margins(&policy, rest_obs.view())?;
    let best_f1 = manifest.operating_point("best-f1")?;
    Ok(FinetuneResult {
        verdict_before: before.verdict,
        verdict_after: point_fpr(&tuned_verdict, &margins_after, &novelty_after),
        fraction,
        finetune_rows: n_tune,
        eval_rows: rest.nrows(),
        detector_before: before.detector,
        detector_after,
        policy_before: before.policy,
        policy_after: point_fpr(best_f1, &margins_after, &novelty_after),
    })
}
