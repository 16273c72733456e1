//! Evaluating any scorer of flows (the PPO policy, the cost-sensitive
//! ceiling, the baselines) the same way: thresholds are chosen on the
//! validation split only and applied to the test split; every false-positive
//! rate comes with its benign count and a Wilson 95 % interval.
//!
//! Scores are "higher is more malicious". A [`ScoreScale`] says how they
//! relate to P(malicious), so that the probability thresholds of the
//! reference system (0.25, 0.30, 0.35) mean the same for every scorer.

use std::collections::BTreeMap;

use detector::input::{margin_of, probability};
use flowdata::Family;
use metrics::{ConfusionMatrix, Rates, ThresholdRow};
use ndarray::Array2;
use rlenv::{Env, FlowDetectionEnv, FlowEnvConfig, RewardTable, Sampling};
use serde::Serialize;

use crate::config::PpoStageConfig;
use crate::error::{PipelineError, Result};

/// The normal quantile of a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// How a score relates to P(malicious).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreScale {
    /// The logit margin `log P(1) - log P(0)`; its own decision is margin > 0.
    Margin,
    /// P(malicious) itself; its own decision is P > 0.5.
    Probability,
}

impl ScoreScale {
    /// The score equal to probability `p`.
    pub fn score_of(self, p: f64) -> f64 {
        match self {
            ScoreScale::Margin => margin_of(p),
            ScoreScale::Probability => p,
        }
    }

    /// The probability of a score.
    pub fn probability_of(self, score: f64) -> f64 {
        match self {
            ScoreScale::Margin => probability(score),
            ScoreScale::Probability => score,
        }
    }
}

/// The labels an evaluation is measured against, and its settings.
#[derive(Clone, Copy, Debug)]
pub struct EvalSplits<'a> {
    /// Validation labels (attack = true): every threshold is chosen here.
    pub val_labels: &'a [bool],
    /// Test labels.
    pub test_labels: &'a [bool],
    /// Test families, for per-family recall.
    pub test_families: &'a [Family],
    /// Thresholds, budgets, recall target, prior and rewards.
    pub config: &'a PpoStageConfig,
}

/// Recall of one attack family on the test split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FamilyRecall {
    /// Test rows of the family.
    pub support: usize,
    /// Rows flagged.
    pub detected: usize,
    /// `detected / support`.
    pub recall: f64,
}

/// Per-family recall of `flags` (one per row of `families`).
pub fn family_recall(families: &[Family], flags: &[bool]) -> BTreeMap<String, FamilyRecall> {
    let mut per_family: BTreeMap<String, FamilyRecall> = BTreeMap::new();
    for (family, &flag) in families.iter().zip(flags) {
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
        e.detected += usize::from(flag);
    }
    for e in per_family.values_mut() {
        e.recall = e.detected as f64 / e.support as f64;
    }
    per_family
}

/// The threshold that maximises F1 on the validation split, and what it
/// gives on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct BestF1 {
    /// The threshold as P(malicious), chosen on validation.
    pub threshold: f64,
    /// The same threshold on the score's own scale.
    pub score_threshold: f64,
    /// Its validation F1.
    pub validation_f1: f64,
    /// Test counts and rates at it (`threshold` as P(malicious)).
    pub test: ThresholdRow,
}

/// One operating point measured: a rule chosen on the validation split (a
/// false-alarm budget or a recall target) and what it gives on the test
/// split. The rule itself, as a saved detector applies it, is
/// [`detector::OperatingPoint`].
#[derive(Clone, Debug, Serialize)]
pub struct MeasuredPoint {
    /// `fpr<=1%`, `recall>=99%`, ...
    pub name: String,
    /// The threshold as P(malicious).
    pub threshold: f64,
    /// The same threshold on the score's own scale.
    pub score_threshold: f64,
    /// Whether the validation data can support the rule: a false-alarm
    /// budget below 1 / (benign validation flows) cannot be measured, and
    /// its row then only keeps false alarms at zero on validation.
    pub supported: bool,
    /// Benign validation flows.
    pub validation_benign: u64,
    /// The false-positive rate on the benign validation flows.
    pub validation_fpr: f64,
    /// The recall on the validation attacks.
    pub validation_recall: f64,
    /// Test counts and rates (`threshold` as P(malicious)).
    pub test: ThresholdRow,
    /// Benign test flows.
    pub test_benign: u64,
    /// Wilson 95 % interval of the test false-positive rate.
    pub test_fpr_interval: [f64; 2],
    /// Recall of each attack family on the test split at this point.
    pub per_family_recall: BTreeMap<String, FamilyRecall>,
}

/// The operating point within the headline false-alarm budget.
#[derive(Clone, Debug, Serialize)]
pub struct FprBudget {
    /// The budget: the largest share of benign validation flows flagged.
    pub budget: f64,
    /// The operating point.
    #[serde(flatten)]
    pub point: MeasuredPoint,
}

/// The cost-optimal operating point at a deployment prior.
#[derive(Clone, Debug, Serialize)]
pub struct DeploymentPoint {
    /// Share of benign flows in deployment.
    pub benign_prior: f64,
    /// The threshold as P(malicious), chosen on validation reweighted to
    /// the prior with the reward table's regrets as costs.
    pub threshold: f64,
    /// The same threshold on the score's own scale.
    pub score_threshold: f64,
    /// Test counts and rates on the raw sample.
    pub test: ThresholdRow,
    /// Precision at the prior: `(1 - prior) TPR / ((1 - prior) TPR + prior FPR)`.
    pub precision_at_prior: f64,
    /// False alarms per 10,000 benign flows (test FPR x 10,000).
    pub alerts_per_10k_benign: f64,
    /// Precision at the prior of the argmax decision, for comparison.
    pub argmax_precision_at_prior: f64,
    /// False alarms per 10,000 benign flows of the argmax decision.
    pub argmax_alerts_per_10k_benign: f64,
}

/// A scorer measured on the test split with validation-chosen thresholds.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreEvaluation {
    /// How the scores relate to P(malicious).
    pub scale: ScoreScale,
    /// The scorer's own decision (margin > 0, P > 0.5); `threshold` is 0.5.
    pub argmax: ThresholdRow,
    /// Benign test flows.
    pub test_benign: u64,
    /// Wilson 95 % interval of the argmax false-positive rate.
    pub argmax_fpr_interval: [f64; 2],
    /// Rows at the configured P(malicious) thresholds.
    pub thresholds: Vec<ThresholdRow>,
    /// The F1-optimal threshold from validation, applied to test.
    pub best_f1: BestF1,
    /// The operating point within the headline false-alarm budget.
    pub fpr_budget: FprBudget,
    /// Every configured false-alarm budget and the recall target.
    pub operating_points: Vec<MeasuredPoint>,
    /// The cost-optimal point at the deployment prior.
    pub deployment: DeploymentPoint,
    /// ROC AUC of the scores on the test split.
    pub roc_auc: f64,
    /// Average precision of the scores on the test split.
    pub average_precision: f64,
    /// Recall of each attack family at the argmax decision.
    pub per_family_recall: BTreeMap<String, FamilyRecall>,
}

fn split_benign(labels: &[bool], scores: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut benign = Vec::new();
    let mut attack = Vec::new();
    for (&l, &s) in labels.iter().zip(scores) {
        if l { attack.push(s) } else { benign.push(s) }
    }
    (benign, attack)
}

/// The Wilson 95 % interval of a false-positive rate: `fp` false alarms
/// among `benign` flows.
pub fn fpr_interval(fp: u64, benign: u64) -> [f64; 2] {
    let (lo, hi) = metrics::wilson_interval(fp, benign, Z_95);
    [lo, hi]
}

/// A decision's counts and rates on the test split, with per-family recall.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionRow {
    /// Confusion counts, precision, recall, F1 and false-positive rate.
    #[serde(flatten)]
    pub rates: Rates,
    /// Wilson 95 % interval of the false-positive rate.
    pub fpr_interval: [f64; 2],
    /// Recall of each attack family.
    pub per_family_recall: BTreeMap<String, FamilyRecall>,
}

impl DecisionRow {
    /// The row of `flags` against `labels`, families from `families`.
    pub fn new(labels: &[bool], families: &[Family], flags: &[bool]) -> Result<Self> {
        let cm = ConfusionMatrix::from_predictions(labels, flags)?;
        Ok(Self {
            rates: cm.rates(),
            fpr_interval: fpr_interval(cm.fp, cm.fp + cm.tn),
            per_family_recall: family_recall(families, flags),
        })
    }
}

/// The regrets of the reward table: what a missed attack and a false alarm
/// cost against the right answer (`tp - fn`, `tn - fp`; 6 and 3 by
/// default), never negative.
pub fn regrets(rewards: &RewardTable) -> (f64, f64) {
    (
        f64::from(rewards.tp - rewards.fn_).max(0.0),
        f64::from(rewards.tn - rewards.fp).max(0.0),
    )
}

/// Validation recall at the headline false-alarm budget: how candidates are
/// compared.
pub fn recall_at_budget(val_labels: &[bool], val_scores: &[f64], budget: f64) -> Result<f64> {
    let t = metrics::threshold_for_fpr_labelled(val_labels, val_scores, budget)?;
    Ok(metrics::threshold_sweep(val_labels, val_scores, &[t])?[0].recall)
}

struct Scored<'a> {
    splits: EvalSplits<'a>,
    scale: ScoreScale,
    val: &'a [f64],
    test: &'a [f64],
}

impl Scored<'_> {
    fn point(&self, name: String, score_threshold: f64, supported: bool) -> Result<MeasuredPoint> {
        let s = &self.splits;
        let val = metrics::threshold_sweep(s.val_labels, self.val, &[score_threshold])?[0];
        let mut test = metrics::threshold_sweep(s.test_labels, self.test, &[score_threshold])?[0];
        let threshold = self.scale.probability_of(score_threshold);
        test.threshold = threshold;
        let flags: Vec<bool> = self.test.iter().map(|&v| v >= score_threshold).collect();
        let test_benign = test.fp + test.tn;
        Ok(MeasuredPoint {
            name,
            threshold,
            score_threshold,
            supported,
            validation_benign: val.fp + val.tn,
            validation_fpr: val.fpr,
            validation_recall: val.recall,
            test_benign,
            test_fpr_interval: fpr_interval(test.fp, test_benign),
            test,
            per_family_recall: family_recall(s.test_families, &flags),
        })
    }

    fn budget_point(&self, budget: f64) -> Result<MeasuredPoint> {
        let labels = self.splits.val_labels;
        let t = metrics::threshold_for_fpr_labelled(labels, self.val, budget)?;
        // One false alarm is the smallest rate validation can measure.
        let n_benign = labels.iter().filter(|&&l| !l).count();
        let supported = budget * n_benign as f64 >= 1.0;
        self.point(format!("fpr<={}%", budget * 100.0), t, supported)
    }
}

/// Evaluate a scorer: `val` and `test` hold its scores of the validation
/// and test rows, on `scale`.
pub fn evaluate_scores(
    splits: EvalSplits<'_>,
    scale: ScoreScale,
    val: &[f64],
    test: &[f64],
) -> Result<ScoreEvaluation> {
    if val.len() != splits.val_labels.len() || test.len() != splits.test_labels.len() {
        return Err(PipelineError::Unsupported(format!(
            "scores of {} validation and {} test rows for {} and {} labels",
            val.len(),
            test.len(),
            splits.val_labels.len(),
            splits.test_labels.len()
        )));
    }
    let cfg = splits.config;
    let s = Scored {
        splits,
        scale,
        val,
        test,
    };
    let labels = splits.test_labels;
    let decision = scale.score_of(0.5);
    let flags: Vec<bool> = test.iter().map(|&v| v > decision).collect();
    let cm = ConfusionMatrix::from_predictions(labels, &flags)?;
    let test_benign = cm.negatives();

    let as_probability = |mut r: ThresholdRow| {
        r.threshold = scale.probability_of(r.threshold);
        r
    };
    let score_thresholds: Vec<f64> = cfg.thresholds.iter().map(|&p| scale.score_of(p)).collect();
    let mut thresholds = metrics::threshold_sweep(labels, test, &score_thresholds)?;
    for (r, &p) in thresholds.iter_mut().zip(&cfg.thresholds) {
        r.threshold = p;
    }

    let best_val = metrics::best_f1_threshold(splits.val_labels, val)?;
    let best_test = metrics::threshold_sweep(labels, test, &[best_val.threshold])?[0];

    let mut operating_points = Vec::new();
    for &b in &cfg.fpr_budgets {
        operating_points.push(s.budget_point(b)?);
    }
    let (_, val_attacks) = split_benign(splits.val_labels, val);
    let t = metrics::threshold_for_recall(&val_attacks, cfg.recall_target)?;
    operating_points.push(s.point(format!("recall>={}%", cfg.recall_target * 100.0), t, true)?);

    // Reweight validation to the deployment prior: each benign row stands
    // for prior / n of the traffic, each attack for (1 - prior) / p.
    let (regret_miss, regret_alarm) = regrets(&cfg.rewards);
    let n_benign = splits.val_labels.iter().filter(|&&l| !l).count().max(1) as f64;
    let n_attack = (splits.val_labels.len() as f64 - n_benign).max(1.0);
    let prior = cfg.benign_prior;
    let cost = metrics::min_cost_threshold(
        splits.val_labels,
        val,
        regret_alarm * prior / n_benign,
        regret_miss * (1.0 - prior) / n_attack,
    )?;
    let deploy = s.point("deployment".into(), cost.threshold, true)?;
    let at_prior = |r: &ThresholdRow| {
        let tp = (1.0 - prior) * r.recall;
        let fp = prior * r.fpr;
        if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 }
    };
    let argmax = ThresholdRow::new(0.5, &cm);
    let deployment = DeploymentPoint {
        benign_prior: prior,
        threshold: deploy.threshold,
        score_threshold: deploy.score_threshold,
        precision_at_prior: at_prior(&deploy.test),
        alerts_per_10k_benign: deploy.test.fpr * 1e4,
        test: deploy.test,
        argmax_precision_at_prior: at_prior(&argmax),
        argmax_alerts_per_10k_benign: argmax.fpr * 1e4,
    };

    Ok(ScoreEvaluation {
        scale,
        argmax,
        test_benign,
        argmax_fpr_interval: fpr_interval(cm.fp, test_benign),
        thresholds,
        best_f1: BestF1 {
            threshold: scale.probability_of(best_val.threshold),
            score_threshold: best_val.threshold,
            validation_f1: best_val.f1,
            test: as_probability(best_test),
        },
        fpr_budget: FprBudget {
            budget: cfg.fpr_budget,
            point: s.budget_point(cfg.fpr_budget)?,
        },
        operating_points,
        deployment,
        roc_auc: metrics::roc_auc(labels, test)?,
        average_precision: metrics::average_precision(labels, test)?,
        per_family_recall: family_recall(splits.test_families, &flags),
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

/// Run the argmax policy through the configured test episodes
/// (`eval_episodes` of `episode_length` steps), flows drawn by a seeded
/// shuffle of the whole split.
pub fn episode_rewards(
    obs: &Array2<f32>,
    labels: Vec<u8>,
    actions: &[usize],
    config: &PpoStageConfig,
    seed: u64,
) -> Result<EpisodeRewards> {
    let episode_length = config.episode_length;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn splits<'a>(
        val: &'a [bool],
        test: &'a [bool],
        fam: &'a [Family],
        cfg: &'a PpoStageConfig,
    ) -> EvalSplits<'a> {
        EvalSplits {
            val_labels: val,
            test_labels: test,
            test_families: fam,
            config: cfg,
        }
    }

    /// Evaluate `scores` as both the validation and the test split.
    fn on_both(
        labels: &[bool],
        fam: &[Family],
        cfg: &PpoStageConfig,
        scale: ScoreScale,
        scores: &[f64],
    ) -> ScoreEvaluation {
        evaluate_scores(splits(labels, labels, fam, cfg), scale, scores, scores).unwrap()
    }

    /// 400 benign and 400 attacks; benign margins spread below 0 with a
    /// tail of saturated ones, attacks saturated high.
    fn saturated(n: usize) -> (Vec<bool>, Vec<f64>, Vec<Family>) {
        let mut labels = Vec::new();
        let mut scores = Vec::new();
        let mut fam = Vec::new();
        for i in 0..n {
            labels.push(false);
            fam.push(Family::Benign);
            // 5 % of benign flows look like attacks with high confidence.
            scores.push(if i % 20 == 0 {
                30.0 + i as f64 / 100.0
            } else {
                -5.0 + i as f64 / n as f64
            });
            labels.push(true);
            fam.push(if i % 2 == 0 {
                Family::DoS
            } else {
                Family::DDoS
            });
            scores.push(25.0 + 20.0 * i as f64 / n as f64);
        }
        (labels, scores, fam)
    }

    #[test]
    fn the_budget_row_finds_a_threshold_when_probabilities_saturate() {
        let cfg = PpoStageConfig::default();
        let (labels, scores, fam) = saturated(400);
        // In f32 every score above about 17 is P = 1.0 exactly: no
        // probability threshold could separate the benign tail from attacks.
        let p32: Vec<f32> = scores
            .iter()
            .map(|&m| 1.0 / (1.0 + (-(m as f32)).exp()))
            .collect();
        assert!(p32.iter().filter(|&&p| p == 1.0).count() > 400);
        let e = on_both(&labels, &fam, &cfg, ScoreScale::Margin, &scores);
        let b = &e.fpr_budget.point;
        assert!(b.supported);
        assert!(b.validation_fpr <= 0.01, "{}", b.validation_fpr);
        assert!(b.test.recall > 0.5, "recall {}", b.test.recall);
        assert!(b.score_threshold.is_finite());
        assert_eq!(b.test_benign, 400);
        assert!(b.test_fpr_interval[0] <= b.test.fpr && b.test.fpr <= b.test_fpr_interval[1]);
        // The argmax flags the saturated benign tail: 5 %.
        assert!((e.argmax.fpr - 0.05).abs() < 1e-12);
        assert_eq!(e.per_family_recall["DoS"].support, 200);
        assert_eq!(e.fpr_budget.point.per_family_recall["DDoS"].support, 200);
    }

    #[test]
    fn tied_scores_never_exceed_the_budget() {
        let cfg = PpoStageConfig::default();
        // Every benign score tied with the attacks' lowest.
        let labels: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        let scores: Vec<f64> = (0..200)
            .map(|i| if i % 2 == 0 { 1.0 + i as f64 } else { 1.0 })
            .collect();
        let fam: Vec<Family> = labels
            .iter()
            .map(|&a| if a { Family::Bot } else { Family::Benign })
            .collect();
        let e = on_both(&labels, &fam, &cfg, ScoreScale::Margin, &scores);
        assert_eq!(e.fpr_budget.point.test.fp, 0);
        assert_eq!(e.fpr_budget.point.test.tp, 99);
    }

    #[test]
    fn a_budget_below_one_benign_flow_is_unsupported() {
        let cfg = PpoStageConfig::default();
        let (labels, scores, fam) = saturated(100);
        let e = on_both(&labels, &fam, &cfg, ScoreScale::Margin, &scores);
        let names: Vec<&str> = e.operating_points.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["fpr<=0.1%", "fpr<=1%", "recall>=99%"]);
        // 100 benign validation flows: 0.1 % is a tenth of a flow.
        assert!(!e.operating_points[0].supported);
        assert!(e.operating_points[1].supported);
        assert!(e.operating_points[2].validation_recall >= 0.99);
    }

    #[test]
    fn the_deployment_prior_moves_the_threshold_up() {
        let mut cfg = PpoStageConfig::default();
        let labels: Vec<bool> = (0..1000).map(|i| i % 2 == 0).collect();
        // Overlapping classes: attacks score i/1000 + 0.3, benign i/1000.
        let scores: Vec<f64> = (0..1000)
            .map(|i| i as f64 / 1000.0 + if i % 2 == 0 { 0.3 } else { 0.0 })
            .collect();
        let fam: Vec<Family> = labels
            .iter()
            .map(|&a| if a { Family::Bot } else { Family::Benign })
            .collect();
        let mut at = |prior: f64| {
            cfg.benign_prior = prior;
            on_both(&labels, &fam, &cfg, ScoreScale::Probability, &scores).deployment
        };
        let balanced = at(0.5);
        let skewed = at(0.99);
        assert!(skewed.threshold > balanced.threshold);
        assert!(skewed.alerts_per_10k_benign < balanced.alerts_per_10k_benign);
        assert!(skewed.precision_at_prior >= skewed.argmax_precision_at_prior);
    }

    #[test]
    fn regrets_follow_the_reward_table() {
        assert_eq!(regrets(&RewardTable::default()), (6.0, 3.0));
        let odd = RewardTable {
            tp: -2.0,
            tn: -2.0,
            fn_: 4.0,
            fp: 1.0,
        };
        assert_eq!(regrets(&odd), (0.0, 0.0));
    }

    #[test]
    fn probability_thresholds_mean_the_same_on_both_scales() {
        let cfg = PpoStageConfig::default();
        let labels = [false, true, false, true, true, false];
        let p = [0.1, 0.9, 0.28, 0.32, 0.26, 0.6];
        let m: Vec<f64> = p.iter().map(|&x| margin_of(x)).collect();
        let fam = [Family::Benign; 6];
        let a = on_both(&labels, &fam, &cfg, ScoreScale::Probability, &p);
        let b = on_both(&labels, &fam, &cfg, ScoreScale::Margin, &m);
        for (x, y) in a.thresholds.iter().zip(&b.thresholds) {
            assert_eq!((x.tp, x.fp, x.threshold), (y.tp, y.fp, y.threshold));
        }
        assert_eq!(a.argmax, b.argmax);
        assert!((a.roc_auc - b.roc_auc).abs() < 1e-12);
    }
}
