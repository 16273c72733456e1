//! The policy stage: one PPO policy per (autoencoder, input) candidate,
//! trained on the flow-detection environment, measured on validation and
//! selected by its recall within the false-alarm budget. What a policy
//! reads and how its inputs are standardised is the detector's
//! ([`detector::input`]): the saved detector scores flows exactly as the
//! candidates were trained.

use std::sync::Arc;
use std::time::Instant;

use autoencoders::{Autoencoder, Model, ModelKind};
use detector::input::{LatentScaler, PolicyInput, policy_input, policy_margins, raw_policy_input};
use flowdata::FlowFrame;
use ndarray::{Array2, ArrayView2};
use ppo::{Control, IterationRecord, Ppo};
use rlenv::{FlowDataset, FlowDetectionEnv, FlowEnvConfig, VecEnv};
use serde::Serialize;

use crate::config::PpoStageConfig;
use crate::error::Result;
use crate::evaluate::{
    EpisodeRewards, EvalSplits, ScoreEvaluation, ScoreScale, episode_rewards, evaluate_scores,
    recall_at_budget,
};
use crate::novelty::{Stage, TrainedAutoencoder};

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

/// The directory of a candidate's policy under `models/`: `ppo_<kind>`
/// for the latent alone, `ppo_<kind>_error` and `ppo_<kind>_features` for
/// the others.
pub fn policy_dir(kind: ModelKind, input: PolicyInput) -> String {
    match input {
        PolicyInput::Latent => format!("ppo_{}", kind.as_str()),
        PolicyInput::LatentError => format!("ppo_{}_error", kind.as_str()),
        PolicyInput::LatentFeatures => format!("ppo_{}_features", kind.as_str()),
    }
}

/// Train one candidate: PPO on `input` built from `ae`'s model, scored on
/// the validation split, saved to `models/<policy_dir(kind, input)>/`.
pub fn train_policy(
    ae: &TrainedAutoencoder,
    input: PolicyInput,
    config: &PpoStageConfig,
    stage: &Stage<'_>,
) -> Result<PolicyCandidate> {
    let model = ae.detector.model();
    let (train, validation, test) = (&stage.data.train, &stage.data.validation, &stage.data.test);
    let seed = stage.seed;
    let data = PolicyData::new(model, input, train, validation, test)?;
    let bar = stage.bars.bar(
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
    let dir = stage.models_dir.join(policy_dir(ae.kind, input));
    policy.save(&dir)?;
    crate::output::write_json(&dir.join(detector::manifest::SCALER_FILE), &data.scaler)?;
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
    fn each_candidate_has_its_own_directory() {
        assert_eq!(
            policy_dir(ModelKind::Conv1d, PolicyInput::LatentError),
            "ppo_conv_error"
        );
        assert_eq!(policy_dir(ModelKind::Deep, PolicyInput::Latent), "ppo_deep");
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
