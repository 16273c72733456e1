//! The policy stage: what the PPO policy reads ([`PolicyInput`]), the
//! standardisation of its inputs, training one policy per (autoencoder,
//! input) candidate, and the policy's scores.
//!
//! Scores are the f64 logit margin `log P(1) - log P(0)` of the policy's
//! two actions, never the f32 probability: a confident policy saturates
//! P(malicious) to exactly 1.0 for many flows, and no threshold can then
//! tell them apart. Thresholds, curves and the false-alarm budget all work
//! on the margin; P(malicious) is [`probability`] of it.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use autoencoders::{Autoencoder, Model, ModelKind};
use flowdata::FlowFrame;
use ndarray::{Array2, ArrayView2};
use ppo::{Control, IterationRecord, Ppo};
use rlenv::{FlowDataset, FlowDetectionEnv, FlowEnvConfig, VecEnv};
use serde::{Deserialize, Serialize};

use crate::config::PpoStageConfig;
use crate::error::{PipelineError, Result};
use crate::evaluate::{EvalSplits, ScoreEvaluation, ScoreScale, evaluate_scores, recall_at_budget};
use crate::progress::Bars;
use crate::stages::{EpisodeRewards, TrainedAutoencoder, episode_rewards};

/// What the policy observes for each flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyInput {
    /// The autoencoder's latent code (the reference system's design).
    #[default]
    Latent,
    /// The latent code and the log of the flow's reconstruction error.
    LatentError,
    /// The latent code and the scaled flow features themselves.
    LatentFeatures,
}

impl PolicyInput {
    /// Every input, in report order.
    pub const ALL: [PolicyInput; 3] = [
        PolicyInput::Latent,
        PolicyInput::LatentError,
        PolicyInput::LatentFeatures,
    ];

    /// The name in flags, reports and files: `latent`, `latent+error`,
    /// `latent+features`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyInput::Latent => "latent",
            PolicyInput::LatentError => "latent+error",
            PolicyInput::LatentFeatures => "latent+features",
        }
    }

    /// The directory of a policy on `kind`'s latents with this input:
    /// `ppo_<kind>` for the latent alone (the layout of earlier releases),
    /// `ppo_<kind>_error` and `ppo_<kind>_features` for the others.
    pub fn model_dir(self, kind: ModelKind) -> String {
        match self {
            PolicyInput::Latent => format!("ppo_{}", kind.as_str()),
            PolicyInput::LatentError => format!("ppo_{}_error", kind.as_str()),
            PolicyInput::LatentFeatures => format!("ppo_{}_features", kind.as_str()),
        }
    }
}

impl fmt::Display for PolicyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyInput {
    type Err = PipelineError;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        PolicyInput::ALL
            .into_iter()
            .find(|i| i.as_str() == t)
            .ok_or_else(|| {
                PipelineError::config(
                    "policy_input",
                    s,
                    "expected latent, latent+error or latent+features",
                )
            })
    }
}

impl Serialize for PolicyInput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PolicyInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The unstandardised policy input of scaled flows.
pub fn raw_policy_input(
    model: &Model,
    input: PolicyInput,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    raw_policy_input_of_latent(model, input, model.encode_batch(x)?, x)
}

/// [`raw_policy_input`] of scaled flows `x` whose latent codes `z` are
/// already at hand.
pub fn raw_policy_input_of_latent(
    model: &Model,
    input: PolicyInput,
    z: Array2<f32>,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    assemble(model, input, z, x, |_| {})
}

/// The policy input row by row, each row passed to `finish` once complete:
/// row-major, so that each flow's input is one contiguous row.
fn assemble(
    model: &Model,
    input: PolicyInput,
    mut z: Array2<f32>,
    x: ArrayView2<'_, f32>,
    finish: impl Fn(&mut [f32]),
) -> Result<Array2<f32>> {
    let extra: ndarray::CowArray<'_, f32, ndarray::Ix2> = match input {
        PolicyInput::Latent => {
            if !z.is_standard_layout() {
                z = z.as_standard_layout().into_owned();
            }
            let latent = z.ncols().max(1);
            if let Some(all) = z.as_slice_mut() {
                all.chunks_exact_mut(latent).for_each(&finish);
            }
            return Ok(z);
        }
        PolicyInput::LatentError => {
            // The error spans orders of magnitude; its log is what separates.
            let errors = model.reconstruction_errors(x)?;
            Array2::from_shape_fn((errors.len(), 1), |(r, _)| (errors[r] + 1e-12).ln()).into()
        }
        PolicyInput::LatentFeatures => x.into(),
    };
    let (rows, latent) = z.dim();
    let width = latent + extra.ncols();
    let mut data = Vec::with_capacity(rows * width);
    for (zr, er) in z.rows().into_iter().zip(extra.rows()) {
        let start = data.len();
        data.extend(zr.iter());
        data.extend(er.iter());
        finish(&mut data[start..]);
    }
    Array2::from_shape_vec((rows, width), data).map_err(|e| {
        PipelineError::Unsupported(format!("policy input of {rows} rows x {width}: {e}"))
    })
}

/// Per-column standardisation of the policy's latent inputs (and the log
/// error of `latent+error`), fitted on the training rows, so that every
/// autoencoder hands the policy values of one scale; the scaled features of
/// `latent+features` pass through in `[0, 1]` (mean 0, std 1 here). Saved
/// as `latent_scaler.json` beside the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentScaler {
    /// What the columns are (files of earlier releases: the latent alone).
    #[serde(default)]
    pub input: PolicyInput,
    /// Mean per column.
    pub mean: Vec<f32>,
    /// Standard deviation per column (1 where constant).
    pub std: Vec<f32>,
}

impl LatentScaler {
    /// Fit on training inputs whose first `latent` columns are the latent
    /// code. The scaled features of `latent+features` pass through as they
    /// are: they already lie in `[0, 1]`, and standardising them would
    /// blow a feature that barely varies in training up to dozens of
    /// standard deviations on new traffic, which is what stops a policy
    /// from generalising to attack families it has not seen.
    pub fn fit(input: PolicyInput, latent: usize, z: ArrayView2<'_, f32>) -> Self {
        let n = z.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(z.ncols());
        let mut std = Vec::with_capacity(z.ncols());
        for (c, col) in z.columns().into_iter().enumerate() {
            if input == PolicyInput::LatentFeatures && c >= latent {
                mean.push(0.0);
                std.push(1.0);
                continue;
            }
            let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-6 { s as f32 } else { 1.0 });
        }
        LatentScaler { input, mean, std }
    }

    /// Standardise in place (row by row, in row-major order).
    pub fn transform(&self, z: &mut Array2<f32>) {
        let standardise = self.row_transform();
        if !z.is_standard_layout() {
            *z = z.as_standard_layout().into_owned();
        }
        let width = z.ncols();
        if let Some(all) = z.as_slice_mut()
            && width > 0
        {
            all.chunks_exact_mut(width).for_each(standardise);
        }
    }

    /// Standardise a row in place, touching only the columns this scaler
    /// changes: what training inputs and scored flows both go through.
    fn row_transform(&self) -> impl Fn(&mut [f32]) + '_ {
        let active = self.active_width();
        move |row: &mut [f32]| {
            let width = active.min(row.len());
            self.transform_row(&mut row[..width]);
        }
    }

    /// The columns up to the last one this scaler changes: the columns
    /// after it (the features of `latent+features`) pass through.
    pub fn active_width(&self) -> usize {
        self.mean
            .iter()
            .zip(&self.std)
            .rposition(|(&m, &s)| m != 0.0 || s != 1.0)
            .map_or(0, |i| i + 1)
    }

    /// Standardise one row in place.
    pub fn transform_row(&self, row: &mut [f32]) {
        for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }
}

/// The policy's input of scaled flows: encode, add what `scaler.input`
/// asks for, standardise.
pub fn policy_input(
    model: &Model,
    scaler: &LatentScaler,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    policy_input_of_latent(model, scaler, model.encode_batch(x)?, x)
}

/// [`policy_input`] of scaled flows `x` whose latent codes `z` are already
/// at hand.
pub fn policy_input_of_latent(
    model: &Model,
    scaler: &LatentScaler,
    z: Array2<f32>,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    assemble(model, scaler.input, z, x, scaler.row_transform())
}

/// The policy's logit margin `log P(1) - log P(0)` for each row, in f64:
/// positive exactly where the argmax action is 1 (malicious).
pub fn policy_margins(policy: &Ppo, obs: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
    let logits = policy.policy_outputs(obs)?;
    if logits.ncols() != 2 {
        return Err(PipelineError::Unsupported(format!(
            "the policy has {} outputs; a detection policy has two actions",
            logits.ncols()
        )));
    }
    Ok(logits
        .rows()
        .into_iter()
        .map(|r| f64::from(r[1]) - f64::from(r[0]))
        .collect())
}

/// P(malicious) of a logit margin: `1 / (1 + exp(-margin))`.
pub fn probability(margin: f64) -> f64 {
    1.0 / (1.0 + (-margin).exp())
}

/// The margin of a probability: `ln(p / (1 - p))` (infinite at 0 and 1).
pub fn margin_of(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Health of the policy's latent inputs on the training rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatentHealth {
    /// Latent units.
    pub units: usize,
    /// Units whose training values never vary (dead ReLUs or constants).
    pub constant: usize,
    /// Units that are zero on more than 99 % of the training rows.
    pub mostly_zero: usize,
}

impl LatentHealth {
    /// Measure unstandardised latent codes.
    pub fn of(z: ArrayView2<'_, f32>) -> Self {
        let n = z.nrows().max(1);
        let mut health = LatentHealth {
            units: z.ncols(),
            ..LatentHealth::default()
        };
        for col in z.columns() {
            let (lo, hi) = col
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            if hi - lo <= 1e-6 * hi.abs().max(1.0) {
                health.constant += 1;
            }
            let zeros = col.iter().filter(|&&v| v == 0.0).count();
            if zeros * 100 > n * 99 {
                health.mostly_zero += 1;
            }
        }
        health
    }
}

/// A PPO policy trained on one autoencoder's latents with one input kind.
#[derive(Debug)]
pub struct PolicyCandidate {
    /// The autoencoder it reads.
    pub kind: ModelKind,
    /// What it reads.
    pub input: PolicyInput,
    /// The policy.
    pub policy: Ppo,
    /// The input standardisation.
    pub scaler: LatentScaler,
    /// Health of the latent codes it reads.
    pub latent_health: LatentHealth,
    /// The training log.
    pub log: Vec<IterationRecord>,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Policy inputs of the training rows.
    pub train_obs: Array2<f32>,
    /// Policy inputs of the validation rows.
    pub val_obs: Array2<f32>,
    /// Policy inputs of the test rows.
    pub test_obs: Array2<f32>,
    /// Logit margins on the validation rows.
    pub val_margin: Vec<f64>,
}

impl PolicyCandidate {
    /// `ff/latent`, `conv/latent+features`, ...: the candidate's name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.input)
    }
}

/// The policy inputs of the three splits for one autoencoder and input
/// kind, standardised with a scaler fitted on the training rows.
pub struct PolicyData {
    /// The fitted standardisation.
    pub scaler: LatentScaler,
    /// Health of the training latents.
    pub latent_health: LatentHealth,
    /// Training inputs.
    pub train: Array2<f32>,
    /// Validation inputs.
    pub validation: Array2<f32>,
    /// Test inputs.
    pub test: Array2<f32>,
}

impl PolicyData {
    /// Build the inputs of `train`, `validation` and `test` (all scaled).
    pub fn new(
        model: &Model,
        input: PolicyInput,
        train: &FlowFrame,
        validation: &FlowFrame,
        test: &FlowFrame,
    ) -> Result<Self> {
        let mut train_obs = raw_policy_input(model, input, train.features())?;
        let latent_health =
            LatentHealth::of(train_obs.slice(ndarray::s![.., ..model.latent_dim()]));
        let scaler = LatentScaler::fit(input, model.latent_dim(), train_obs.view());
        scaler.transform(&mut train_obs);
        Ok(PolicyData {
            validation: policy_input(model, &scaler, validation.features())?,
            test: policy_input(model, &scaler, test.features())?,
            train: train_obs,
            scaler,
            latent_health,
        })
    }
}

/// Train PPO on [`FlowDetectionEnv`]s over training inputs `obs` with
/// binary `labels`; `on_iteration` sees each iteration's record.
pub fn train_ppo(
    obs: Array2<f32>,
    labels: Vec<u8>,
    config: &PpoStageConfig,
    seed: u64,
    on_iteration: &mut dyn FnMut(&IterationRecord),
) -> Result<(Ppo, Vec<IterationRecord>)> {
    let steps = config.timesteps.for_rows(labels.len());
    let data = Arc::new(FlowDataset::new(obs, labels)?);
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
    let log = policy.learn(&mut venv, steps, &mut |r: &IterationRecord| {
        on_iteration(r);
        Control::Continue
    })?;
    Ok((policy, log))
}

/// Train one candidate: PPO on `input` built from `ae`'s model, scored on
/// the validation split, saved to `models/<input.model_dir(kind)>/`.
#[allow(clippy::too_many_arguments)]
pub fn train_policy(
    ae: &TrainedAutoencoder,
    input: PolicyInput,
    config: &PpoStageConfig,
    seed: u64,
    train: &FlowFrame,
    validation: &FlowFrame,
    test: &FlowFrame,
    models_dir: &Path,
    bars: &Bars,
) -> Result<PolicyCandidate> {
    let model = ae.detector.model();
    let data = PolicyData::new(model, input, train, validation, test)?;
    let bar = bars.bar(
        config.timesteps.for_rows(train.n_rows()),
        &format!("ppo on {}/{}", ae.kind.as_str(), input),
        "steps",
    );
    let started = Instant::now();
    let (policy, log) = train_ppo(
        data.train.clone(),
        train.binary_labels(),
        config,
        seed,
        &mut |r| bar.set_position(r.timesteps),
    )?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();
    let dir = models_dir.join(input.model_dir(ae.kind));
    policy.save(&dir)?;
    crate::report::write_json(&dir.join("latent_scaler.json"), &data.scaler)?;
    let val_margin = policy_margins(&policy, data.validation.view())?;
    Ok(PolicyCandidate {
        kind: ae.kind,
        input,
        policy,
        scaler: data.scaler,
        latent_health: data.latent_health,
        log,
        train_seconds,
        train_obs: data.train,
        val_obs: data.validation,
        test_obs: data.test,
        val_margin,
    })
}

/// One row of the candidate table: a policy per (autoencoder, input).
#[derive(Clone, Debug, Serialize)]
pub struct CandidateSummary {
    /// The autoencoder.
    pub autoencoder: String,
    /// What the policy reads.
    pub input: PolicyInput,
    /// Argmax attack-class F1 on the validation split.
    pub val_f1: f64,
    /// Validation recall at the headline false-alarm budget (the
    /// selection criterion).
    pub val_recall_at_budget: f64,
    /// ROC AUC of the margin on the validation split.
    pub val_roc_auc: f64,
    /// Environment steps trained.
    pub timesteps: u64,
    /// Training steps per second (updates included).
    pub steps_per_second: f64,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Mean return of the last training episodes.
    pub final_mean_episode_return: Option<f64>,
    /// Health of the latent codes.
    pub latent_health: LatentHealth,
}

impl PolicyCandidate {
    /// The row of the candidate table; `budget` is the headline false-alarm
    /// budget.
    pub fn summary(&self, val_labels: &[bool], budget: f64) -> Result<CandidateSummary> {
        let last = self.log.last();
        let flags: Vec<bool> = self.val_margin.iter().map(|&m| m > 0.0).collect();
        Ok(CandidateSummary {
            autoencoder: self.kind.as_str().to_string(),
            input: self.input,
            val_f1: metrics::ConfusionMatrix::from_predictions(val_labels, &flags)?.f1(),
            val_recall_at_budget: recall_at_budget(val_labels, &self.val_margin, budget)?,
            val_roc_auc: metrics::roc_auc(val_labels, &self.val_margin)?,
            timesteps: last.map_or(0, |r| r.timesteps),
            steps_per_second: last.map_or(0.0, |r| r.steps_per_second),
            train_seconds: self.train_seconds,
            final_mean_episode_return: last.and_then(|r| r.mean_episode_return),
            latent_health: self.latent_health,
        })
    }
}

/// The index of the candidate to deploy: the highest validation recall at
/// the false-alarm budget (deployment is budget-bound: an analyst fixes how
/// many false alarms per day are bearable, then wants the most attacks
/// caught), ties broken by validation ROC AUC, then by order.
pub fn select(summaries: &[CandidateSummary]) -> Option<usize> {
    summaries
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| {
            a.val_recall_at_budget
                .total_cmp(&b.val_recall_at_budget)
                .then(a.val_roc_auc.total_cmp(&b.val_roc_auc))
                .then(j.cmp(i))
        })
        .map(|(i, _)| i)
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
    /// The test rows, thresholds chosen on validation.
    #[serde(flatten)]
    pub scores: ScoreEvaluation,
    /// Weighted averages over both classes (argmax), beside the
    /// attack-class numbers only.
    pub weighted_avg: metrics::AverageMetrics,
    /// Mean reward of 3,000-step test episodes (argmax actions).
    pub episode_reward: EpisodeRewards,
    /// Scoring throughput on the test split, flows per second: for the
    /// selected policy the detector's whole path (encode, policy, novelty
    /// score and explanation, verdict); for another candidate its policy
    /// on inputs already encoded.
    pub scoring_flows_per_second: f64,
}

/// Evaluate a candidate on the test split from its test `margins`, which
/// took `scoring_seconds` to compute.
pub fn evaluate_policy(
    candidate: &PolicyCandidate,
    splits: EvalSplits<'_>,
    test: &FlowFrame,
    margins: Vec<f64>,
    scoring_seconds: f64,
    seed: u64,
) -> Result<PolicyEvaluation> {
    let scores = evaluate_scores(splits, ScoreScale::Margin, &candidate.val_margin, &margins)?;
    let actions: Vec<usize> = margins.iter().map(|&m| usize::from(m > 0.0)).collect();
    let last = candidate.log.last();
    let eval = PolicyEvaluation {
        timesteps: last.map_or(0, |r| r.timesteps),
        steps_per_second: last.map_or(0.0, |r| r.steps_per_second),
        train_seconds: candidate.train_seconds,
        weighted_avg: scores
            .argmax
            .confusion()
            .classification_report()
            .weighted_avg,
        episode_reward: episode_rewards(
            &candidate.test_obs,
            test.binary_labels(),
            &actions,
            splits.config,
            seed,
        )?,
        scores,
        scoring_flows_per_second: test.n_rows() as f64 / scoring_seconds.max(1e-9),
    };
    Ok(eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_names_that_round_trip() {
        for i in PolicyInput::ALL {
            assert_eq!(i.as_str().parse::<PolicyInput>().unwrap(), i);
            let json = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<PolicyInput>(&json).unwrap(), i);
        }
        assert_eq!(
            " Latent+Features ".parse::<PolicyInput>().unwrap(),
            PolicyInput::LatentFeatures
        );
        let err = "pixels".parse::<PolicyInput>().unwrap_err().to_string();
        assert!(
            err.contains("pixels") && err.contains("latent+error"),
            "{err}"
        );
        assert_eq!(
            PolicyInput::LatentError.model_dir(ModelKind::Conv1d),
            "ppo_conv_error"
        );
        assert_eq!(PolicyInput::Latent.model_dir(ModelKind::Deep), "ppo_deep");
    }

    #[test]
    fn a_scaler_file_of_an_earlier_release_reads_as_latent_input() {
        let old = r#"{"mean":[0.5,1.0],"std":[1.0,2.0]}"#;
        let s: LatentScaler = serde_json::from_str(old).unwrap();
        assert_eq!(s.input, PolicyInput::Latent);
        assert_eq!(s.std, vec![1.0, 2.0]);
    }

    #[test]
    fn the_scaler_standardises_the_latent_and_passes_scaled_features_through() {
        // Two latent columns, then two scaled features: one that barely
        // varies in training and one that does.
        let z = Array2::from_shape_fn((100, 4), |(r, c)| match c {
            0 => r as f32,
            1 => 3.0,
            2 => {
                if r == 0 {
                    0.01
                } else {
                    0.0
                }
            }
            _ => r as f32 / 99.0,
        });
        let s = LatentScaler::fit(PolicyInput::LatentFeatures, 2, z.view());
        assert!((s.mean[0] - 49.5).abs() < 1e-4 && s.std[0] > 28.0);
        assert_eq!((s.mean[1], s.std[1]), (3.0, 1.0), "a constant keeps std 1");
        assert_eq!(
            (&s.mean[2..], &s.std[2..]),
            (&[0.0, 0.0][..], &[1.0, 1.0][..])
        );
        // A feature at the top of its training range stays at 1 instead of
        // lying ten standard deviations out.
        let mut row = [49.5, 3.0, 1.0, 1.0];
        s.transform_row(&mut row);
        assert_eq!(row, [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(s.active_width(), 2, "the features pass through");
        // Every other input kind standardises each column.
        let e = LatentScaler::fit(PolicyInput::LatentError, 2, z.view());
        assert!(e.std[2] < 0.01 && (e.mean[3] - 0.5).abs() < 1e-4);
    }

    #[test]
    fn margins_and_probabilities_agree() {
        for m in [-40.0, -3.0, 0.0, 0.7, 35.0] {
            let p = probability(m);
            assert!((0.0..=1.0).contains(&p));
            if m.abs() < 30.0 {
                assert!((margin_of(p) - m).abs() < 1e-9, "{m}");
            }
        }
        assert_eq!(probability(0.0), 0.5);
        // f32 saturates long before f64 does: the margin keeps the order.
        assert_eq!(1.0f32 / (1.0 + (-20.0f32).exp()), 1.0);
        assert!(probability(20.0) < probability(21.0));
    }

    #[test]
    fn latent_health_counts_dead_and_sparse_units() {
        let mut z = Array2::<f32>::zeros((200, 3));
        for r in 0..200 {
            z[[r, 0]] = r as f32;
            z[[r, 1]] = 2.5;
            z[[r, 2]] = if r == 0 { 1.0 } else { 0.0 };
        }
        let h = LatentHealth::of(z.view());
        assert_eq!(h.units, 3);
        assert_eq!(h.constant, 1);
        assert_eq!(h.mostly_zero, 1);
    }
}
