//! The autoencoder stage (models and their reconstruction detectors), the
//! episode-reward yardstick and end-to-end scoring of raw flows.

use std::path::Path;
use std::time::Instant;

use autoencoders::{
    Autoencoder, EarlyStopping, Model, ModelConfig, ModelKind, ModelMetadata,
    ReconstructionDetector, ThresholdMethod, Trainer, TrainerConfig, TrainingHistory,
};
use flowdata::{Bounds, FlowFrame, Schema};
use metrics::{ConfusionMatrix, ThresholdRow};
use ndarray::{Array2, ArrayView2, Axis};
use ppo::Ppo;
use rlenv::{Env, FlowDetectionEnv, FlowEnvConfig, Sampling};
use serde::Serialize;

use crate::config::{AutoencoderStageConfig, PpoStageConfig};
use crate::error::{PipelineError, Result};
use crate::policy::{LatentScaler, policy_input, policy_margins, probability};
use crate::progress::Bars;

/// The minibatch size for `rows` training rows: the requested size,
/// clamped to the rows (a batch can never hold more rows than there are,
/// and a size only a flag claims is never allocated).
pub fn batch_size_for(requested: usize, rows: usize) -> usize {
    requested.min(rows).max(1)
}

pub(crate) fn rows_where(frame: &FlowFrame, attack: bool) -> Array2<f32> {
    let rows: Vec<usize> = (0..frame.n_rows())
        .filter(|&r| frame.is_attack(r) == attack)
        .collect();
    frame.features().select(Axis(0), &rows)
}

/// The scores of an autoencoder's detector on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct AutoencoderResult {
    /// `ff`, `conv` or `deep`.
    pub kind: String,
    /// Best validation loss (mean squared error on scaled features).
    pub val_loss: f64,
    /// Epoch of the best validation loss.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Rows trained on.
    pub train_rows: usize,
    /// The minibatch size used: the configured one, clamped to the
    /// training rows.
    pub batch_size: usize,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Test ROC AUC of the reconstruction error.
    pub roc_auc: f64,
    /// Test average precision of the reconstruction error.
    pub average_precision: f64,
    /// Threshold: the configured percentile of benign validation errors.
    pub threshold: f64,
    /// Test confusion counts and rates at the threshold.
    #[serde(flatten)]
    pub at_threshold: ThresholdRow,
}

/// A trained autoencoder with its calibrated detector and history.
#[derive(Debug)]
pub struct TrainedAutoencoder {
    /// The model kind.
    pub kind: ModelKind,
    /// The detector (model and threshold).
    pub detector: ReconstructionDetector<Model>,
    /// The training history.
    pub history: TrainingHistory,
    /// Reconstruction errors of the test rows.
    pub test_errors: Vec<f64>,
    /// The test-split numbers.
    pub result: AutoencoderResult,
}

/// Train one autoencoder on the training split (benign rows only, or all
/// rows), with early stopping on the validation loss; calibrate its
/// detector on the benign validation errors; score the test split; save it
/// to `models/<kind>/`. `threads` sizes the trainer's thread pool.
#[allow(clippy::too_many_arguments)]
pub fn train_autoencoder(
    kind: ModelKind,
    config: &AutoencoderStageConfig,
    seed: u64,
    train: &FlowFrame,
    validation: &FlowFrame,
    test: &FlowFrame,
    schema: &Schema,
    bounds: &Bounds,
    models_dir: &Path,
    bars: &Bars,
    threads: usize,
) -> Result<TrainedAutoencoder> {
    let n_features = train.n_features();
    let (x_train, x_val) = if config.benign_only {
        (rows_where(train, false), rows_where(validation, false))
    } else {
        (
            train.features().to_owned(),
            validation.features().to_owned(),
        )
    };
    let batch_size = batch_size_for(config.batch_size, x_train.nrows());
    let mut model =
        Model::new(&ModelConfig::default_for(kind), n_features, seed)?.with_backend(config.backend);
    let trainer = Trainer::new(TrainerConfig {
        learning_rate: config.learning_rate,
        batch_size,
        epochs: config.epochs,
        seed,
        early_stopping: Some(EarlyStopping {
            patience: config.patience,
            ..EarlyStopping::default()
        }),
        benign_only: config.benign_only,
        threads,
        epoch_rows: config.epoch_rows,
        ..TrainerConfig::default()
    })?;
    if x_train.nrows() == 0 || x_val.nrows() == 0 {
        return Err(PipelineError::Unsupported(format!(
            "no benign rows to train the {} autoencoder on (train {}, validation {})",
            kind.as_str(),
            x_train.nrows(),
            x_val.nrows()
        )));
    }
    let epoch_rows = config
        .epoch_rows
        .map_or(x_train.nrows(), |r| r.min(x_train.nrows()));
    let batches = epoch_rows.div_ceil(batch_size) as u64;
    let bar = bars.bar(
        batches * config.epochs as u64,
        &format!("autoencoder {}", kind.as_str()),
        "batches",
    );
    let started = Instant::now();
    let history = trainer.fit(&mut model, x_train.view(), x_val.view(), &mut |p| {
        if p.completed.is_none() {
            bar.set_position((p.epoch as u64 - 1) * batches + p.batch as u64);
        }
    })?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();

    let benign_val = rows_where(validation, false);
    if benign_val.nrows() == 0 {
        return Err(PipelineError::Unsupported(
            "the validation split holds no benign row to calibrate the detector on".into(),
        ));
    }
    let detector = ReconstructionDetector::fit(
        model,
        benign_val.view(),
        ThresholdMethod::Percentile(config.threshold_percentile),
    )?;
    let test_errors = detector.score(test.features())?;
    let flags: Vec<bool> = detector
        .predict(test.features())?
        .into_iter()
        .map(|f| f == 1)
        .collect();
    let labels = test.attack_mask();
    let cm = ConfusionMatrix::from_predictions(&labels, &flags)?;
    let threshold = detector.threshold().value;
    let result = AutoencoderResult {
        kind: kind.as_str().to_string(),
        val_loss: history.best_val_loss,
        best_epoch: history.best_epoch,
        epochs_run: history.epochs.len(),
        stopped_early: history.stopped_early,
        train_rows: history.train_rows,
        batch_size,
        train_seconds,
        roc_auc: metrics::roc_auc(&labels, &test_errors)?,
        average_precision: metrics::average_precision(&labels, &test_errors)?,
        threshold,
        at_threshold: ThresholdRow::new(threshold, &cm),
    };
    let meta = ModelMetadata {
        feature_names: schema
            .feature_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        schema: Some(schema.clone()),
        bounds: Some(bounds.clone()),
        threshold: Some(detector.threshold().clone()),
    };
    detector
        .model()
        .save(&models_dir.join(kind.as_str()), &meta)?;
    Ok(TrainedAutoencoder {
        kind,
        detector,
        history,
        test_errors,
        result,
    })
}

/// Mean reward of fixed-length test episodes: the reference system's yardstick.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeRewards {
    /// Episodes run.
    pub episodes: usize,
    /// Steps per episode.
    pub episode_length: usize,
    /// Mean episode reward.
    pub mean: f64,
    /// Lowest episode reward.
    pub min: f64,
    /// Highest episode reward.
    pub max: f64,
    /// The best reward the test episodes allowed, averaged over the
    /// episodes: for each flow drawn, the larger of the rewards of its two
    /// actions (for an attack `max(tp, fn)`, for a benign flow
    /// `max(tn, fp)`), summed over the episode. With the usual table
    /// (right answers rewarded more than wrong ones) that is every flow
    /// judged right at its own class's reward, so it follows the episodes'
    /// class mix when TP and TN differ; whatever the table's signs, no
    /// policy can average more, so `mean <= possible` always holds.
    pub possible: f64,
}

/// Run the argmax policy through `episodes` test episodes of
/// `episode_length` steps, flows drawn by a seeded shuffle of the whole split.
pub fn episode_rewards(
    obs: &Array2<f32>,
    labels: Vec<u8>,
    actions: &[usize],
    config: &PpoStageConfig,
    seed: u64,
) -> Result<EpisodeRewards> {
    let episode_length = 3000;
    let mut env = FlowDetectionEnv::new(
        obs.clone(),
        labels,
        FlowEnvConfig {
            rewards: config.rewards,
            episode_length,
            sampling: Sampling::Shuffled,
            seed,
        },
    )?;
    let mut totals = Vec::with_capacity(config.eval_episodes);
    let mut best_total = 0.0f64;
    let r = config.rewards;
    env.reset(Some(seed));
    for _ in 0..config.eval_episodes {
        let mut total = 0.0f64;
        loop {
            let flow = env.current_flow();
            best_total += f64::from(r.reward(flow.label, 0).max(r.reward(flow.label, 1)));
            let step = env.step(actions[flow.row])?;
            total += f64::from(step.reward);
            if step.terminated || step.truncated {
                break;
            }
        }
        totals.push(total);
        env.reset(None);
    }
    let n = totals.len() as f64;
    Ok(EpisodeRewards {
        episodes: totals.len(),
        episode_length,
        mean: totals.iter().sum::<f64>() / n,
        min: totals.iter().copied().fold(f64::INFINITY, f64::min),
        max: totals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        possible: best_total / n,
    })
}

/// Scoring raw flows end to end: scale with the training bounds, encode,
/// standardise the codes, and take the policy's P(malicious).
#[derive(Clone, Copy, Debug)]
pub struct Scorer<'a> {
    /// The scaling fitted on the training split.
    pub bounds: &'a Bounds,
    /// The autoencoder whose latents the policy reads.
    pub model: &'a Model,
    /// The latent standardisation.
    pub scaler: &'a LatentScaler,
    /// The policy.
    pub policy: &'a Ppo,
}

impl Scorer<'_> {
    /// P(malicious) of each raw (unscaled) flow.
    pub fn score(&self, raw: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        let mut x = raw.to_owned();
        self.bounds.transform_inplace(x.view_mut())?;
        let obs = policy_input(self.model, self.scaler, x.view())?;
        Ok(policy_margins(self.policy, obs.view())?
            .into_iter()
            .map(probability)
            .collect())
    }
}
