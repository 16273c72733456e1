//! The training and evaluation stages between ingest and the report:
//! autoencoders and their reconstruction detectors, PPO on the latents, the
//! evaluation of the selected policy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use autoencoders::{
    Autoencoder, EarlyStopping, Model, ModelConfig, ModelKind, ModelMetadata,
    ReconstructionDetector, ThresholdMethod, Trainer, TrainerConfig, TrainingHistory,
};
use flowdata::{Bounds, FlowFrame, Schema};
use metrics::{ConfusionMatrix, ThresholdRow};
use ndarray::{Array2, ArrayView2, Axis};
use ppo::{Control, IterationRecord, Ppo};
use rlenv::{Env, FlowDataset, FlowDetectionEnv, FlowEnvConfig, Sampling, VecEnv};
use serde::{Deserialize, Serialize};

use crate::config::{AutoencoderStageConfig, PpoStageConfig};
use crate::error::{PipelineError, Result};
use crate::progress::Bars;

/// The name of a model kind in reports and file names.
pub fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::FeedForward => "ff",
        ModelKind::Conv1d => "conv",
        ModelKind::Deep => "deep",
    }
}

/// Parse `ff`, `conv` or `deep` (also `feedforward`, `conv1d`).
pub fn parse_kind(name: &str) -> Result<ModelKind> {
    match name.trim().to_ascii_lowercase().as_str() {
        "ff" | "feedforward" => Ok(ModelKind::FeedForward),
        "conv" | "conv1d" => Ok(ModelKind::Conv1d),
        "deep" => Ok(ModelKind::Deep),
        other => Err(PipelineError::config(
            "autoencoder",
            other,
            "expected ff, conv or deep",
        )),
    }
}

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
    let mut model = Model::new(&ModelConfig::default_for(kind), n_features, seed)?;
    let trainer = Trainer::new(TrainerConfig {
        learning_rate: config.learning_rate,
        batch_size,
        epochs: config.epochs,
        seed,
        early_stopping: Some(EarlyStopping {
            patience: config.patience,
            min_delta: 0.0,
        }),
        benign_only: config.benign_only,
        threads,
        ..TrainerConfig::default()
    })?;
    if x_train.nrows() == 0 || x_val.nrows() == 0 {
        return Err(PipelineError::Unsupported(format!(
            "no benign rows to train the {} autoencoder on (train {}, validation {})",
            kind_name(kind),
            x_train.nrows(),
            x_val.nrows()
        )));
    }
    let batches = x_train.nrows().div_ceil(batch_size) as u64;
    let bar = bars.bar(
        batches * config.epochs as u64,
        &format!("autoencoder {}", kind_name(kind)),
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
        kind: kind_name(kind).to_string(),
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
        .save(&models_dir.join(kind_name(kind)), &meta)?;
    Ok(TrainedAutoencoder {
        kind,
        detector,
        history,
        test_errors,
        result,
    })
}

/// Per-dimension standardisation of latent codes, fitted on the training
/// latents, so that every autoencoder hands the policy inputs of one scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentScaler {
    /// Mean per latent dimension.
    pub mean: Vec<f32>,
    /// Standard deviation per latent dimension (1 where constant).
    pub std: Vec<f32>,
}

impl LatentScaler {
    /// Fit on training latents.
    pub fn fit(z: ArrayView2<'_, f32>) -> Self {
        let n = z.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(z.ncols());
        let mut std = Vec::with_capacity(z.ncols());
        for col in z.columns() {
            let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-6 { s as f32 } else { 1.0 });
        }
        LatentScaler { mean, std }
    }

    /// Standardise in place.
    pub fn transform(&self, z: &mut Array2<f32>) {
        for mut row in z.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

/// Encode a scaled matrix and standardise the codes: the policy's input.
pub fn policy_input(
    model: &Model,
    scaler: &LatentScaler,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    let mut z = model.encode_batch(x)?;
    scaler.transform(&mut z);
    Ok(z)
}

/// P(malicious) of each row: the policy's probability of action 1.
pub fn malicious_probability(policy: &Ppo, obs: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
    let probs = policy.action_probabilities(obs)?;
    Ok(probs.column(1).iter().map(|&p| f64::from(p)).collect())
}

/// A PPO policy trained on one autoencoder's latents.
#[derive(Debug)]
pub struct PolicyCandidate {
    /// The autoencoder it reads.
    pub kind: ModelKind,
    /// The policy.
    pub policy: Ppo,
    /// The latent standardisation.
    pub scaler: LatentScaler,
    /// The training log.
    pub log: Vec<IterationRecord>,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Policy inputs of the validation rows.
    pub val_obs: Array2<f32>,
    /// Policy inputs of the test rows.
    pub test_obs: Array2<f32>,
    /// P(malicious) on the validation rows.
    pub val_probability: Vec<f64>,
    /// Attack-class F1 of the argmax policy on the validation rows.
    pub val_f1: f64,
}

/// Train PPO on `FlowDetectionEnv`s over the training latents of one
/// autoencoder, then score the validation split; save the policy to
/// `models/ppo_<kind>/`.
#[allow(clippy::too_many_arguments)]
pub fn train_policy(
    ae: &TrainedAutoencoder,
    config: &PpoStageConfig,
    seed: u64,
    train: &FlowFrame,
    validation: &FlowFrame,
    test: &FlowFrame,
    models_dir: &Path,
    bars: &Bars,
) -> Result<PolicyCandidate> {
    let model = ae.detector.model();
    let raw_train = model.encode_batch(train.features())?;
    let scaler = LatentScaler::fit(raw_train.view());
    let mut train_obs = raw_train;
    scaler.transform(&mut train_obs);
    let val_obs = policy_input(model, &scaler, validation.features())?;
    let test_obs = policy_input(model, &scaler, test.features())?;

    let data = Arc::new(FlowDataset::new(train_obs, train.binary_labels())?);
    let envs = (0..config.n_envs)
        .map(|i| {
            FlowDetectionEnv::from_dataset(
                data.clone(),
                FlowEnvConfig {
                    rewards: config.rewards,
                    episode_length: config.episode_length,
                    sampling: config.sampling,
                    seed: seed.wrapping_add(i as u64),
                },
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut venv = VecEnv::new(envs)?;
    // Episode statistics over the latest episode of each environment, so
    // that the learning curve follows training instead of averaging over it.
    let ppo_config = ppo::PpoConfig {
        stats_window_size: config.n_envs,
        ..config.ppo.clone()
    };
    let mut policy = Ppo::new(ppo_config, &venv, seed)?;
    let bar = bars.bar(
        config.timesteps,
        &format!("ppo on {} latents", kind_name(ae.kind)),
        "steps",
    );
    let started = Instant::now();
    let log = policy.learn(&mut venv, config.timesteps, &mut |r: &IterationRecord| {
        bar.set_position(r.timesteps);
        Control::Continue
    })?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();
    let dir = models_dir.join(format!("ppo_{}", kind_name(ae.kind)));
    policy.save(&dir)?;
    crate::report::write_json(&dir.join("latent_scaler.json"), &scaler)?;

    let val_probability = malicious_probability(&policy, val_obs.view())?;
    let val_actions = policy.predict(val_obs.view(), true)?;
    let flags: Vec<bool> = val_actions.iter().map(|&a| a == 1).collect();
    let val_f1 = ConfusionMatrix::from_predictions(&validation.attack_mask(), &flags)?.f1();
    Ok(PolicyCandidate {
        kind: ae.kind,
        policy,
        scaler,
        log,
        train_seconds,
        val_obs,
        test_obs,
        val_probability,
        val_f1,
    })
}

/// One row of the candidate table: a policy per autoencoder.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateSummary {
    /// The autoencoder.
    pub autoencoder: String,
    /// Argmax attack-class F1 on the validation split.
    pub val_f1: f64,
    /// Environment steps trained.
    pub timesteps: u64,
    /// Training steps per second (updates included).
    pub steps_per_second: f64,
    /// Mean return of the last training episodes.
    pub final_mean_episode_return: Option<f64>,
}

impl PolicyCandidate {
    /// The row of the candidate table.
    pub fn summary(&self) -> CandidateSummary {
        let last = self.log.last();
        CandidateSummary {
            autoencoder: kind_name(self.kind).to_string(),
            val_f1: self.val_f1,
            timesteps: last.map_or(0, |r| r.timesteps),
            steps_per_second: last.map_or(0.0, |r| r.steps_per_second),
            final_mean_episode_return: last.and_then(|r| r.mean_episode_return),
        }
    }
}

/// The threshold that maximises F1 on the validation split, and what it
/// gives on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct BestF1 {
    /// The threshold, chosen on validation.
    pub threshold: f64,
    /// Its validation F1.
    pub validation_f1: f64,
    /// Test counts and rates at it.
    pub test: ThresholdRow,
}

/// The operating point within a false-alarm budget: the lowest
/// P(malicious) threshold that flags at most the budgeted share of the
/// benign validation flows, and what it gives on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct FprBudget {
    /// The budget: the largest share of benign validation flows flagged.
    pub budget: f64,
    /// The threshold, chosen on validation.
    pub threshold: f64,
    /// The false-positive rate it has on the benign validation flows.
    pub validation_fpr: f64,
    /// Test counts and rates at it.
    pub test: ThresholdRow,
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

/// Recall of one attack family on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct FamilyRecall {
    /// Test rows of the family.
    pub support: usize,
    /// Rows flagged by the argmax policy.
    pub detected: usize,
    /// `detected / support`.
    pub recall: f64,
}

/// The selected policy on the untouched test split.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyEvaluation {
    /// Environment steps trained.
    pub timesteps: u64,
    /// Training steps per second (rollouts and updates).
    pub steps_per_second: f64,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// The argmax policy (action 1 when P(malicious) > 0.5); `threshold` is 0.5.
    pub argmax: ThresholdRow,
    /// Rows at the configured P(malicious) thresholds.
    pub thresholds: Vec<ThresholdRow>,
    /// The F1-optimal threshold from validation, applied to test.
    pub best_f1: BestF1,
    /// The operating point within the false-alarm budget (chosen on the
    /// benign validation flows), applied to test.
    pub fpr_budget: FprBudget,
    /// ROC AUC of P(malicious).
    pub roc_auc: f64,
    /// Average precision of P(malicious).
    pub average_precision: f64,
    /// Weighted averages over both classes (argmax), beside the
    /// attack-class numbers only.
    pub weighted_avg: metrics::AverageMetrics,
    /// Mean reward of 3,000-step test episodes (argmax actions).
    pub episode_reward: EpisodeRewards,
    /// Scoring throughput on the test split (encode + policy), flows per second.
    pub scoring_flows_per_second: f64,
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

/// Evaluate the selected policy on the test split: argmax, the configured
/// thresholds, the validation-chosen F1-optimal threshold, curves' areas,
/// per-family recall and the episode-reward yardstick.
pub fn evaluate_policy(
    candidate: &PolicyCandidate,
    validation: &FlowFrame,
    test: &FlowFrame,
    config: &PpoStageConfig,
    seed: u64,
    encoder: &Model,
) -> Result<(PolicyEvaluation, Vec<f64>, BTreeMap<String, FamilyRecall>)> {
    let labels = test.attack_mask();
    let started = Instant::now();
    let obs = policy_input(encoder, &candidate.scaler, test.features())?;
    let probability = malicious_probability(&candidate.policy, obs.view())?;
    let scoring_seconds = started.elapsed().as_secs_f64();
    let actions = candidate.policy.predict(candidate.test_obs.view(), true)?;
    let flags: Vec<bool> = actions.iter().map(|&a| a == 1).collect();
    let cm = ConfusionMatrix::from_predictions(&labels, &flags)?;
    let val_labels = validation.attack_mask();
    let best_val = metrics::best_f1_threshold(&val_labels, &candidate.val_probability)?;
    let best_test = metrics::threshold_sweep(&labels, &probability, &[best_val.threshold])?;
    let benign_val: Vec<f64> = val_labels
        .iter()
        .zip(&candidate.val_probability)
        .filter(|(attack, _)| !**attack)
        .map(|(_, &p)| p)
        .collect();
    let budget_threshold = metrics::threshold_for_fpr(&benign_val, config.fpr_budget)?;
    let budget_test = metrics::threshold_sweep(&labels, &probability, &[budget_threshold])?;
    let mut per_family: BTreeMap<String, FamilyRecall> = BTreeMap::new();
    for (row, family) in test.families().into_iter().enumerate() {
        if !family.is_attack() {
            continue;
        }
        let e = per_family
            .entry(family.name().to_string())
            .or_insert(FamilyRecall {
                support: 0,
                detected: 0,
                recall: 0.0,
            });
        e.support += 1;
        e.detected += usize::from(flags[row]);
    }
    for e in per_family.values_mut() {
        e.recall = e.detected as f64 / e.support as f64;
    }
    let last = candidate.log.last();
    let eval = PolicyEvaluation {
        timesteps: last.map_or(0, |r| r.timesteps),
        steps_per_second: last.map_or(0.0, |r| r.steps_per_second),
        train_seconds: candidate.train_seconds,
        argmax: ThresholdRow::new(0.5, &cm),
        thresholds: metrics::threshold_sweep(&labels, &probability, &config.thresholds)?,
        best_f1: BestF1 {
            threshold: best_val.threshold,
            validation_f1: best_val.f1,
            test: best_test[0],
        },
        fpr_budget: FprBudget {
            budget: config.fpr_budget,
            threshold: budget_threshold,
            validation_fpr: metrics::false_positive_rate(&benign_val, budget_threshold)?,
            test: budget_test[0],
        },
        roc_auc: metrics::roc_auc(&labels, &probability)?,
        average_precision: metrics::average_precision(&labels, &probability)?,
        weighted_avg: cm.classification_report().weighted_avg,
        episode_reward: episode_rewards(
            &candidate.test_obs,
            test.binary_labels(),
            &actions,
            config,
            seed,
        )?,
        scoring_flows_per_second: test.n_rows() as f64 / scoring_seconds.max(1e-9),
    };
    Ok((eval, probability, per_family))
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
        malicious_probability(self.policy, obs.view())
    }
}
