//! What the same inputs allow: supervised scorers beside the policy. The
//! ceiling is a cost-sensitive classifier of the policy's own shape on
//! exactly the selected policy's inputs; the baseline is a tree ensemble on
//! the scaled flow features, what a user would otherwise pick. Both weigh
//! each error by its regret under the reward table, so their cost-optimal
//! decision is the policy's (P(attack) > 1/3 under +2/-4/-1).

use std::time::Instant;

use baselines::{Ceiling, CeilingConfig, ClassWeights, TreeBaseline, TreeConfig};
use flowdata::FlowFrame;
use serde::Serialize;

use crate::error::Result;
use crate::evaluate::{EvalSplits, ScoreEvaluation, ScoreScale, evaluate_scores};
use crate::policy::PolicyCandidate;

/// A supervised scorer beside the policy: the ceiling or a baseline.
#[derive(Clone, Debug, Serialize)]
pub struct ScorerReport {
    /// What it is and what it reads.
    pub description: String,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Its test rows.
    #[serde(flatten)]
    pub evaluation: ScoreEvaluation,
    /// Its score of each test flow (what the unseen-family separations
    /// are measured on; not written to the report).
    #[serde(skip)]
    pub test_scores: Vec<f64>,
}

fn class_weights(splits: &EvalSplits<'_>) -> Result<ClassWeights> {
    let r = &splits.config.rewards;
    Ok(ClassWeights::from_rewards(
        f64::from(r.tp),
        f64::from(r.tn),
        f64::from(r.fn_),
        f64::from(r.fp),
    )?)
}

/// Train the ceiling on `candidate`'s training inputs (early stopping on
/// its validation inputs) and evaluate it like the policy.
pub fn ceiling(
    candidate: &PolicyCandidate,
    train: &FlowFrame,
    splits: EvalSplits<'_>,
    seed: u64,
) -> Result<ScorerReport> {
    let started = Instant::now();
    let model = Ceiling::fit(
        candidate.train_obs.view(),
        &train.attack_mask(),
        candidate.val_obs.view(),
        splits.val_labels,
        class_weights(&splits)?,
        &CeilingConfig {
            seed,
            ..CeilingConfig::default()
        },
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    let val = model.margins(candidate.val_obs.view())?;
    let test_scores = model.margins(candidate.test_obs.view())?;
    Ok(ScorerReport {
        description: format!(
            "cost-sensitive MLP {:?} tanh on the inputs of {} ({} epochs, best {})",
            CeilingConfig::default().hidden,
            candidate.name(),
            model.history().len(),
            model.best_epoch()
        ),
        train_seconds,
        evaluation: evaluate_scores(splits, ScoreScale::Margin, &val, &test_scores)?,
        test_scores,
    })
}

/// Train the gradient-boosted tree ensemble on the scaled features of
/// `train` (early stopping on `validation`) and evaluate it on `test`.
pub fn tree_baseline(
    train: &FlowFrame,
    validation: &FlowFrame,
    test: &FlowFrame,
    splits: EvalSplits<'_>,
    seed: u64,
) -> Result<ScorerReport> {
    let started = Instant::now();
    let model = TreeBaseline::fit(
        train.features(),
        &train.attack_mask(),
        validation.features(),
        splits.val_labels,
        class_weights(&splits)?,
        &TreeConfig {
            seed,
            ..TreeConfig::default()
        },
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    let val = model.scores(validation.features())?;
    let test_scores = model.scores(test.features())?;
    Ok(ScorerReport {
        description: format!(
            "gradient-boosted trees (forust, {} trees) on the scaled features",
            model.n_trees()
        ),
        train_seconds,
        evaluation: evaluate_scores(splits, ScoreScale::Margin, &val, &test_scores)?,
        test_scores,
    })
}
