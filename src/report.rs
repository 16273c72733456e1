//! The run's report: a serde structure written as `report.json`, rendered
//! as `report.md`, and a short summary table for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use detector::PolicyInput;
use metrics::ThresholdRow;
use serde::Serialize;

use crate::config::PpoPreset;
use crate::evaluate::{DecisionRow, ScoreEvaluation, fpr_interval};
use crate::generalization::GeneralizationResult;
use crate::ingest::DataSummary;
use crate::novelty::{AutoencoderResult, BaselineDetectorResult, DetectorEvaluation};
use crate::policy::{CandidateSummary, PolicyEvaluation};
use crate::supervised::ScorerReport;
use crate::verdict::{Separation, UnseenFamilyReport, VerdictReport};

/// How candidates are compared, as the report says it.
pub const SELECTION: &str = "Selection: the highest recall on validation at the headline false-alarm budget (ties: validation ROC AUC). An analyst fixes how many false alarms are bearable; argmax F1 on a sample that is mostly attacks would reward flagging benign traffic.";

/// The PPO section: the selected policy's test evaluation and the candidates.
#[derive(Clone, Debug, Serialize)]
pub struct PpoReport {
    /// The autoencoder whose latents the selected policy reads.
    pub autoencoder: String,
    /// What the selected policy reads.
    pub policy_input: PolicyInput,
    /// The PPO settings' preset.
    pub preset: PpoPreset,
    /// How the training environments drew flows (`Auto` resolved).
    pub sampling: rlenv::Sampling,
    /// How the candidate was selected.
    pub selection: String,
    /// The evaluation on the test split.
    #[serde(flatten)]
    pub evaluation: PolicyEvaluation,
    /// The best policy reading the latent alone (the reference design),
    /// on the test split.
    pub latent_input: LatentInputRow,
    /// One policy per autoencoder and input, with its validation numbers.
    pub candidates: Vec<CandidateSummary>,
}

/// The best latent-only policy's test evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct LatentInputRow {
    /// `ff/latent`, ...
    pub candidate: String,
    /// Its test rows.
    #[serde(flatten)]
    pub evaluation: ScoreEvaluation,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Package version.
    pub version: String,
    /// Seed of the run.
    pub seed: u64,
    /// Wall-clock seconds of the whole run.
    pub elapsed_seconds: f64,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
    /// Loading, cleaning and splitting.
    pub data: DataSummary,
    /// The autoencoders' reconstruction detectors on the test split.
    pub autoencoders: Vec<AutoencoderResult>,
    /// The linear baseline every autoencoder detector must beat (PCA with
    /// as many components as the latent code), scored the same way.
    pub novelty_baselines: Vec<BaselineDetectorResult>,
    /// PPO.
    pub ppo: PpoReport,
    /// The headline verdict (policy OR novelty) on the test split: its
    /// rule and thresholds, counts, rates and per-family recall, beside
    /// each part alone at the same budget.
    pub verdict: VerdictReport,
    /// Families removed from training and validation (`--unseen-family`):
    /// their test recall.
    pub unseen_families: Vec<UnseenFamilyReport>,
    /// A cost-sensitive supervised classifier of the policy's shape on the
    /// selected policy's inputs: what those inputs allow.
    pub ceiling: Option<ScorerReport>,
    /// Classifiers a user would otherwise pick, on the scaled features.
    pub baselines: Vec<ScorerReport>,
    /// Benign traffic of other captures.
    pub generalization: Vec<GeneralizationResult>,
    /// Plot files, relative to the output directory.
    pub plots: Vec<String>,
    /// Remarks (a missing font, skipped plots).
    pub notes: Vec<String>,
}

fn row(out: &mut String, name: &str, r: &ThresholdRow) {
    let [lo, hi] = fpr_interval(r.fp, r.fp + r.tn);
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} [{lo:.4}, {hi:.4}] |",
        r.tn, r.fp, r.fn_, r.tp, r.precision, r.recall, r.f1, r.fpr
    );
}

/// The policy's rows: argmax, the probability thresholds, best F1 and the
/// headline budget, each on the test split.
fn score_rows(o: &mut String, s: &ScoreEvaluation) {
    row(o, "argmax", &s.argmax);
    for r in &s.thresholds {
        row(o, &format!("P(malicious) >= {}", r.threshold), r);
    }
    row(
        o,
        &format!(
            "F1-optimal on validation (margin >= {:.4})",
            s.best_f1.score_threshold
        ),
        &s.best_f1.test,
    );
    row(
        o,
        &format!(
            "false alarms <= {}% of benign validation (margin >= {:.4})",
            s.fpr_budget.budget * 100.0,
            s.fpr_budget.point.score_threshold
        ),
        &s.fpr_budget.point.test,
    );
}

/// The operating points chosen on validation, with intervals, and the
/// deployment-prior point.
fn operating_points(o: &mut String, s: &ScoreEvaluation) {
    let _ = writeln!(
        o,
        "### Operating points (chosen on validation, measured on test)\n\n| rule | score threshold | val FPR (benign) | val recall | test FPR (fp/benign) [95% CI] | test recall | precision | F1 |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in &s.operating_points {
        let name = if p.supported {
            p.name.clone()
        } else {
            format!(
                "{} (unsupported: fewer than 1 / budget benign validation flows; holds 0 false alarms on validation)",
                p.name
            )
        };
        let _ = writeln!(
            o,
            "| {name} | {:.4} | {:.4} ({}) | {:.4} | {:.4} ({}/{}) [{:.4}, {:.4}] | {:.4} | {:.4} | {:.4} |",
            p.score_threshold,
            p.validation_fpr,
            p.validation_benign,
            p.validation_recall,
            p.test.fpr,
            p.test.fp,
            p.test_benign,
            p.test_fpr_interval[0],
            p.test_fpr_interval[1],
            p.test.recall,
            p.test.precision,
            p.test.f1
        );
    }
    let d = &s.deployment;
    let _ = writeln!(
        o,
        "\nAt a deployment share of {:.1} % benign flows, the cost-optimal threshold on reweighted validation (margin >= {:.4}) gives test recall {:.4}, precision {:.4} at that share (raw sample: {:.4}), and {:.1} false alarms per 10,000 benign flows; the argmax decision: precision {:.4} at that share, {:.1} false alarms per 10,000 benign flows.\n",
        100.0 * d.benign_prior,
        d.score_threshold,
        d.test.recall,
        d.precision_at_prior,
        d.test.precision,
        d.alerts_per_10k_benign,
        d.argmax_precision_at_prior,
        d.argmax_alerts_per_10k_benign
    );
}

/// Scorers side by side on the test split.
fn comparison(o: &mut String, scorers: &[(String, &ScoreEvaluation)]) {
    let _ = writeln!(
        o,
        "### Side by side (test split, thresholds from validation)\n\n| scorer | argmax F1 | argmax FPR (fp/benign) [95% CI] | argmax recall | recall at budget | FPR at budget | ROC AUC | AP |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, s) in scorers {
        let b = &s.fpr_budget.point.test;
        let _ = writeln!(
            o,
            "| {name} | {:.4} | {:.4} ({}/{}) [{:.4}, {:.4}] | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
            s.argmax.f1,
            s.argmax.fpr,
            s.argmax.fp,
            s.test_benign,
            s.argmax_fpr_interval[0],
            s.argmax_fpr_interval[1],
            s.argmax.recall,
            b.recall,
            b.fpr,
            s.roc_auc,
            s.average_precision
        );
    }
}

fn verdict_section(o: &mut String, v: &VerdictReport, unseen: &[UnseenFamilyReport]) {
    let r = &v.rule;
    let _ = writeln!(
        o,
        "\n## Verdict: {} (test split)\n\nA flow is malicious when the policy's P(malicious) is at least {:.4} (margin {:.4}) or the {} autoencoder's novelty score is at least {:.4}. The novelty part may flag {} % of the benign validation flows, the union {} % (measured on validation: FPR {:.4}, recall {:.4}); each part alone is shown at the whole budget.\n\n| decision | TN | FP | FN | TP | precision | recall | F1 | FPR [95% CI] |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        r.rule,
        r.policy_probability_threshold,
        r.policy_margin_threshold,
        r.novelty_detector,
        r.novelty_threshold,
        100.0 * r.novelty_budget,
        100.0 * r.budget,
        v.validation_fpr,
        v.validation_recall
    );
    let rows: [(&str, &DecisionRow); 3] = [
        ("verdict", &v.test),
        ("policy alone", &v.policy_alone),
        ("novelty alone", &v.novelty_alone),
    ];
    for (name, d) in rows {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} [{:.4}, {:.4}] |",
            d.rates.tn,
            d.rates.fp,
            d.rates.fn_,
            d.rates.tp,
            d.rates.precision,
            d.rates.recall,
            d.rates.f1,
            d.rates.fpr,
            d.fpr_interval[0],
            d.fpr_interval[1]
        );
    }
    let _ = writeln!(
        o,
        "\n| family | test rows | verdict recall | policy alone | novelty alone |\n|---|---:|---:|---:|---:|"
    );
    for (f, fr) in &v.test.per_family_recall {
        let other = |d: &DecisionRow| d.per_family_recall.get(f).map_or(0.0, |r| r.recall);
        let _ = writeln!(
            o,
            "| {f} | {} | {:.4} | {:.4} | {:.4} |",
            fr.support,
            fr.recall,
            other(&v.policy_alone),
            other(&v.novelty_alone)
        );
    }
    if !unseen.is_empty() {
        let budget = 100.0 * r.budget;
        let _ = writeln!(
            o,
            "\n### Families never shown in training or validation\n\nThe last four columns measure scores of the family against the benign test flows, whatever the threshold: ROC AUC, and the recall at the threshold that flags {budget} % of the benign test flows. They are the limit of the scores, not an operating point: a part that falls short there cannot be mended by a better-placed threshold, only by better scores. Beside the two parts stand the ceiling (a supervised classifier of the policy's shape on its inputs) and the tree ensemble on the scaled features, both trained without the family too: where they set it apart and the policy does not, what limits the policy is its model or its inputs, not the flows.\n\n| family | test flows | verdict recall | policy alone | novelty alone | verdict FPR | policy: ROC AUC / recall at {budget} % test FPR | novelty: the same | ceiling: the same | trees: the same |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let separation = |s: &Option<Separation>| {
            s.map_or("-".to_string(), |s| {
                format!("{:.4} / {:.4}", s.roc_auc, s.recall_at_test_budget)
            })
        };
        for u in unseen {
            let _ = writeln!(
                o,
                "| {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} | {} |",
                u.family,
                u.test_flows,
                u.verdict_recall,
                u.policy_recall,
                u.novelty_recall,
                u.verdict_fpr,
                separation(&u.policy_separation),
                separation(&u.novelty_separation),
                separation(&u.ceiling_separation),
                separation(&u.tree_separation)
            );
        }
    }
}

fn scoring_name(s: autoencoders::ErrorScoring) -> &'static str {
    match s {
        autoencoders::ErrorScoring::Standardised => "standardised",
        autoencoders::ErrorScoring::MeanSquared => "plain mean squared error",
    }
}

fn detector_row(o: &mut String, name: &str, loss: &str, dead: &str, d: &DetectorEvaluation) {
    let r = &d.at_threshold;
    let ranking = format!(
        "{:.4} | {:.4} | {:.4}",
        d.roc_auc, d.partial_roc_auc, d.average_precision
    );
    let at_threshold = format!(
        "{:.4e} | {:.4} | {:.4} | {:.4} | {:.4}",
        d.threshold, r.precision, r.recall, r.f1, r.fpr
    );
    let _ = writeln!(
        o,
        "| {name} | {loss} | {dead} | {ranking} | {at_threshold} |"
    );
}

const ROW_HEAD: &str = "| | TN | FP | FN | TP | precision | recall | F1 | FPR [95% CI] |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";

impl Report {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let d = &self.data;
        let _ = writeln!(o, "# Intrusion detection run\n");
        let _ = writeln!(
            o,
            "nids {}, seed {}, {:.1} s in all.\n",
            self.version, self.seed, self.elapsed_seconds
        );
        let _ = writeln!(o, "## Data\n\nSource: {}\n", d.source);
        if let Some(t) = &d.test_source {
            let _ = writeln!(o, "Separate test capture: {t}\n");
        }
        let _ = writeln!(o, "| | rows |\n|---|---:|");
        let _ = writeln!(o, "| read | {} |", d.rows_read);
        for (reason, n) in &d.dropped {
            let _ = writeln!(o, "| dropped: {reason} | {n} |");
        }
        let _ = writeln!(o, "| after cleaning | {} |", d.rows_after_cleaning);
        let _ = writeln!(o, "| train (attacks) | {} ({}) |", d.train, d.attacks[0]);
        let _ = writeln!(
            o,
            "| validation (attacks) | {} ({}) |",
            d.validation, d.attacks[1]
        );
        let _ = writeln!(o, "| test (attacks) | {} ({}) |", d.test, d.attacks[2]);
        let _ = writeln!(
            o,
            "\n{} features; {} validation/test values clamped to the training range. Duplicates are dropped before the split; scaling is fitted on the training split only.\n",
            d.features, d.clamped_values
        );
        let _ = writeln!(
            o,
            "Values outside the training range (clamped for the models; the novelty score sees how far):\n\n| source | rows | clamped values | share | most often |\n|---|---:|---:|---:|---|"
        );
        for r in &d.out_of_range {
            let top: Vec<String> = r
                .top_features
                .iter()
                .map(|f| format!("{} ({})", f.feature, f.clamped))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.4} | {} |",
                r.source,
                r.rows,
                r.clamped_values,
                r.share,
                top.join(", ")
            );
        }
        let _ = writeln!(o);
        if !d.unseen_families.is_empty() {
            let _ = writeln!(
                o,
                "Families removed from training and validation (`--unseen-family`): {}.\n",
                d.unseen_families.join(", ")
            );
        }
        if !d.columns_left_out.is_empty() {
            let _ = writeln!(
                o,
                "Input columns that are not features:\n\n| column | why |\n|---|---|"
            );
            for c in &d.columns_left_out {
                let _ = writeln!(o, "| {} | {} |", c.column, c.reason);
            }
            let _ = writeln!(o);
        }
        if let Some(n) = d.test_rows_in_training {
            let _ = writeln!(
                o,
                "Test rows with the feature values of a training or validation row: {n}.\n"
            );
        }

        let _ = writeln!(
            o,
            "## Novelty detectors: reconstruction error of benign-trained models (test split)\n"
        );
        let _ = writeln!(
            o,
            "Score: each feature's squared reconstruction error over its mean on the benign training flows, averaged over the features ({}), taken against the unclamped scaled value where a flow lies outside the training range. Threshold: a percentile of the benign validation scores. Partial ROC AUC: up to FPR {}, standardised (0.5 chance, 1 perfect).\n\n| model | best val loss (epoch / run) | dead latent units | ROC AUC | partial AUC | AP | threshold | precision | recall | F1 | FPR |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.autoencoders
                .first()
                .map_or("standardised", |a| scoring_name(a.detection.scoring)),
            crate::novelty::DETECTOR_MAX_FPR
        );
        for a in &self.autoencoders {
            detector_row(
                &mut o,
                &format!("autoencoder {}", a.kind),
                &format!("{:.5} ({} / {})", a.val_loss, a.best_epoch, a.epochs_run),
                &a.dead_latent_units.to_string(),
                &a.detection,
            );
        }
        for b in &self.novelty_baselines {
            detector_row(
                &mut o,
                &format!(
                    "baseline {} ({:.1} % of variance)",
                    b.name,
                    100.0 * b.explained_variance
                ),
                "",
                "",
                &b.detection,
            );
        }

        verdict_section(&mut o, &self.verdict, &self.unseen_families);

        let p = &self.ppo;
        let e = &p.evaluation;
        let s = &e.scores;
        let _ = writeln!(o, "\n## PPO policies\n");
        let _ = writeln!(
            o,
            "Preset `{}`; one policy per autoencoder and input. {}\n",
            p.preset.as_str(),
            p.selection
        );
        let _ = writeln!(
            o,
            "| candidate | val recall at {}% FPR | val ROC AUC | val F1 (argmax) | timesteps | steps/s | train s | dead latent units |\n|---|---:|---:|---:|---:|---:|---:|---:|",
            100.0 * s.fpr_budget.budget
        );
        for c in &p.candidates {
            let validation = format!(
                "{:.4} | {:.4} | {:.4}",
                c.val_recall_at_budget, c.val_roc_auc, c.val_f1
            );
            let training = format!(
                "{} | {:.0} | {:.1}",
                c.timesteps, c.steps_per_second, c.train_seconds
            );
            let h = &c.latent_health;
            let _ = writeln!(
                o,
                "| {}/{} | {validation} | {training} | {}/{} |",
                c.autoencoder, c.input, h.constant, h.units
            );
        }
        let _ = writeln!(
            o,
            "\nSelected: the policy on **{}** latents reading **{}**, trained on {} flows.\n",
            self.ppo.autoencoder,
            p.policy_input,
            match self.ppo.sampling {
                rlenv::Sampling::Balanced => "class-balanced",
                rlenv::Sampling::CostBalanced => "regret-balanced",
                rlenv::Sampling::Sequential => "in-order",
                rlenv::Sampling::Shuffled => "shuffled",
                rlenv::Sampling::Auto => "automatically sampled",
            }
        );
        let mut scorers: Vec<(String, &ScoreEvaluation)> = vec![(
            format!("ppo {}/{} (selected)", self.ppo.autoencoder, p.policy_input),
            s,
        )];
        if p.latent_input.candidate != format!("{}/{}", self.ppo.autoencoder, p.policy_input) {
            scorers.push((
                format!("ppo {} (reference input)", p.latent_input.candidate),
                &p.latent_input.evaluation,
            ));
        }
        if let Some(c) = &self.ceiling {
            scorers.push((format!("ceiling: {}", c.description), &c.evaluation));
        }
        for b in &self.baselines {
            scorers.push((format!("baseline: {}", b.description), &b.evaluation));
        }
        comparison(&mut o, &scorers);
        let _ = writeln!(
            o,
            "\n### Selected policy, test split (attack class = positive)\n\n{ROW_HEAD}"
        );
        o.pop();
        score_rows(&mut o, s);
        let _ = writeln!(
            o,
            "\nROC AUC {:.4}, average precision {:.4} (from the logit margin, not from hard labels). Weighted averages over both classes (argmax): precision {:.4}, recall {:.4}, F1 {:.4}.\n",
            s.roc_auc,
            s.average_precision,
            e.weighted_avg.precision,
            e.weighted_avg.recall,
            e.weighted_avg.f1
        );
        operating_points(&mut o, s);
        let r = &e.episode_reward;
        let _ = writeln!(
            o,
            "Reference yardstick: mean reward of {} test episodes of {} steps: {:.0} (min {:.0}, max {:.0}) out of a possible {:.0}; the reference system logged 4,415-4,932 of 6,000.\n",
            r.episodes, r.episode_length, r.mean, r.min, r.max, r.possible
        );
        let _ = writeln!(
            o,
            "Training: {} steps at {:.0} steps/s ({:.1} s). Scoring (encode + policy) on the test split: {:.0} flows/s.\n",
            e.timesteps, e.steps_per_second, e.train_seconds, e.scoring_flows_per_second
        );
        let _ = writeln!(
            o,
            "### Recall per attack family\n\n| family | test rows | detected (argmax) | recall (argmax) | recall at {}% FPR |\n|---|---:|---:|---:|---:|",
            100.0 * s.fpr_budget.budget
        );
        for (f, fr) in &s.per_family_recall {
            let at_budget = s
                .fpr_budget
                .point
                .per_family_recall
                .get(f)
                .map_or(0.0, |r| r.recall);
            let _ = writeln!(
                o,
                "| {f} | {} | {} | {:.4} | {:.4} |",
                fr.support, fr.detected, fr.recall, at_budget
            );
        }

        if !self.generalization.is_empty() {
            let _ = writeln!(o, "\n## Generalization: benign traffic of other captures\n");
            let _ = writeln!(
                o,
                "False-positive rate = share of the new benign flows flagged at the calibrated thresholds (verdict: its rule; detector: the verdict's novelty detector at its benign-validation percentile; policy: the validation-chosen F1-optimal P(malicious) threshold, and argmax). Out of range: the share of the source's scaled values clamped to the training range.\n\n| source | benign rows | out of range | FPR verdict | FPR detector | FPR policy | FPR policy (argmax) | mean KS | features with KS > 0.5 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            for g in &self.generalization {
                let _ = writeln!(
                    o,
                    "| {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {} |",
                    g.source,
                    g.benign_rows,
                    g.out_of_range.share,
                    g.fpr_verdict,
                    g.fpr_detector,
                    g.fpr_policy,
                    g.fpr_policy_argmax,
                    g.mean_ks,
                    g.features_ks_above_half
                );
            }
            for g in &self.generalization {
                let _ = writeln!(o, "\n### {}\n", g.source);
                if !g.missing_features.is_empty() {
                    let _ = writeln!(
                        o,
                        "Features this capture lacks (filled with the --fill-missing value): {}.\n",
                        g.missing_features.join(", ")
                    );
                }
                let _ = writeln!(
                    o,
                    "Top drifting features (scaled by the training bounds):\n\n| feature | KS | Wasserstein |\n|---|---:|---:|"
                );
                for dr in &g.drift {
                    let _ = writeln!(
                        o,
                        "| {} | {:.3} | {:.4} |",
                        dr.feature, dr.ks, dr.wasserstein
                    );
                }
                if let Some(a) = &g.fpr_after_finetune {
                    let _ = writeln!(
                        o,
                        "\nAdapted as `nids adapt` adapts a detector (the novelty model fine-tuned and recalibrated, the verdict's thresholds refitted within the same budgets, never lowered; the policy unchanged) on {} of the new benign flows, measured on the other {}:\n\n| | FPR before | FPR after |\n|---|---:|---:|\n| verdict | {:.4} | {:.4} |\n| novelty detector | {:.4} | {:.4} |",
                        a.tune_rows,
                        a.held_back_rows,
                        a.fpr_before,
                        a.fpr_after,
                        a.novelty_fpr_before,
                        a.novelty_fpr_after
                    );
                }
            }
        }

        if !self.plots.is_empty() {
            let _ = writeln!(o, "\n## Plots\n");
            for p in &self.plots {
                let _ = writeln!(o, "![{p}]({p})");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(o, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(o, "- {n}");
            }
        }
        let _ = writeln!(o, "\n## Timings (s)\n\n| stage | seconds |\n|---|---:|");
        for (k, v) in &self.timings {
            let _ = writeln!(o, "| {k} | {v:.1} |");
        }
        o
    }

    /// A short table for the terminal.
    pub fn summary_table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "detector (test split)", "precision", "recall", "F1", "FPR", "ROC AUC"
        );
        for a in &self.autoencoders {
            let r = &a.detection.at_threshold;
            let _ = writeln!(
                o,
                "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                format!("autoencoder {}", a.kind),
                r.precision,
                r.recall,
                r.f1,
                r.fpr,
                a.detection.roc_auc
            );
        }
        let e = &self.ppo.evaluation.scores;
        let mut line = |name: String, r: &ThresholdRow| {
            let _ = writeln!(
                o,
                "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                name, r.precision, r.recall, r.f1, r.fpr, e.roc_auc
            );
        };
        line(format!("ppo[{}] argmax", self.ppo.autoencoder), &e.argmax);
        for r in &e.thresholds {
            line(
                format!("ppo[{}] p >= {}", self.ppo.autoencoder, r.threshold),
                r,
            );
        }
        line(
            format!(
                "ppo[{}] p >= {:.4} (val F1)",
                self.ppo.autoencoder, e.best_f1.threshold
            ),
            &e.best_f1.test,
        );
        line(
            format!(
                "ppo[{}] fpr <= {}% (val)",
                self.ppo.autoencoder,
                100.0 * e.fpr_budget.budget
            ),
            &e.fpr_budget.point.test,
        );
        let v = &self.verdict.test;
        let _ = writeln!(
            o,
            "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9}",
            format!("verdict: {}", self.verdict.rule.rule),
            v.rates.precision,
            v.rates.recall,
            v.rates.f1,
            v.rates.fpr,
            "-"
        );
        let limit = |s: &Option<Separation>| {
            s.map_or("-".to_string(), |s| {
                format!("{:.4}", s.recall_at_test_budget)
            })
        };
        for u in &self.unseen_families {
            let _ = writeln!(
                o,
                "unseen family {}: verdict recall {:.4} (policy alone {:.4}, novelty alone {:.4}) at FPR {:.4}; at {} % test FPR the scores allow policy {}, novelty {} (ceiling {}, trees {})",
                u.family,
                u.verdict_recall,
                u.policy_recall,
                u.novelty_recall,
                u.verdict_fpr,
                100.0 * self.verdict.rule.budget,
                limit(&u.policy_separation),
                limit(&u.novelty_separation),
                limit(&u.ceiling_separation),
                limit(&u.tree_separation)
            );
        }
        let r = &self.ppo.evaluation.episode_reward;
        let _ = writeln!(
            o,
            "mean reward of {}-step test episodes: {:.0} / {:.0}",
            r.episode_length, r.mean, r.possible
        );
        for g in &self.generalization {
            let _ = writeln!(
                o,
                "shift {}: FPR verdict {:.4}, detector {:.4}, policy {:.4}, mean KS {:.3}",
                g.source, g.fpr_verdict, g.fpr_detector, g.fpr_policy, g.mean_ks
            );
        }
        o
    }
}
