//! The run's report: a serde structure written as `report.json`, rendered
//! as `report.md`, and a short summary table for the terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use metrics::ThresholdRow;
use serde::Serialize;

use crate::error::{PipelineError, Result};
use crate::generalization::GeneralizationResult;
use crate::ingest::DataSummary;
use crate::stages::{AutoencoderResult, CandidateSummary, FamilyRecall, PolicyEvaluation};

/// Write a value as pretty JSON, atomically (see [`crate::output::write_atomic`]).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| PipelineError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    crate::output::write_atomic(path, text.as_bytes())
}

/// The PPO section: the selected policy's test evaluation and the candidates.
#[derive(Clone, Debug, Serialize)]
pub struct PpoReport {
    /// The autoencoder whose latents the selected policy reads.
    pub autoencoder: String,
    /// How the training environments drew flows.
    pub sampling: rlenv::Sampling,
    /// The evaluation on the test split.
    #[serde(flatten)]
    pub evaluation: PolicyEvaluation,
    /// One policy per autoencoder, with its validation F1.
    pub candidates: Vec<CandidateSummary>,
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
    /// The autoencoder whose policy had the best validation F1.
    pub selected_autoencoder: String,
    /// PPO.
    pub ppo: PpoReport,
    /// Recall of each attack family on the test split (argmax policy).
    pub per_family_recall: BTreeMap<String, FamilyRecall>,
    /// Benign traffic of other captures.
    pub generalization: Vec<GeneralizationResult>,
    /// Plot files, relative to the output directory.
    pub plots: Vec<String>,
    /// Remarks (a missing font, skipped plots).
    pub notes: Vec<String>,
}

fn row(out: &mut String, name: &str, r: &ThresholdRow) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
        r.tn, r.fp, r.fn_, r.tp, r.precision, r.recall, r.f1, r.fpr
    );
}

const ROW_HEAD: &str = "| | TN | FP | FN | TP | precision | recall | F1 | FPR |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";

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
            "## Autoencoders: reconstruction-error detectors (test split)\n"
        );
        let _ = writeln!(
            o,
            "Threshold: a percentile of the benign validation errors.\n\n| model | best val loss (epoch / run) | ROC AUC | AP | threshold | precision | recall | F1 | FPR |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for a in &self.autoencoders {
            let r = &a.at_threshold;
            let _ = writeln!(
                o,
                "| {} | {:.5} ({} / {}) | {:.4} | {:.4} | {:.4e} | {:.4} | {:.4} | {:.4} | {:.4} |",
                a.kind,
                a.val_loss,
                a.best_epoch,
                a.epochs_run,
                a.roc_auc,
                a.average_precision,
                a.threshold,
                r.precision,
                r.recall,
                r.f1,
                r.fpr
            );
        }

        let p = &self.ppo;
        let e = &p.evaluation;
        let _ = writeln!(o, "\n## PPO policies\n");
        let _ = writeln!(
            o,
            "| latents of | validation F1 (argmax) | timesteps | steps/s | final mean episode return |\n|---|---:|---:|---:|---:|"
        );
        for c in &p.candidates {
            let _ = writeln!(
                o,
                "| {} | {:.4} | {} | {:.0} | {} |",
                c.autoencoder,
                c.val_f1,
                c.timesteps,
                c.steps_per_second,
                c.final_mean_episode_return
                    .map_or("-".to_string(), |r| format!("{r:.1}"))
            );
        }
        let _ = writeln!(
            o,
            "\nSelected: the policy on **{}** latents (best validation F1), trained on {} flows.\n",
            self.selected_autoencoder,
            match self.ppo.sampling {
                rlenv::Sampling::Balanced => "class-balanced",
                rlenv::Sampling::Sequential => "in-order",
                rlenv::Sampling::Shuffled => "shuffled",
            }
        );
        let _ = writeln!(o, "### Test split (attack class = positive)\n\n{ROW_HEAD}");
        o.pop();
        row(&mut o, "argmax", &e.argmax);
        for r in &e.thresholds {
            row(&mut o, &format!("P(malicious) >= {}", r.threshold), r);
        }
        row(
            &mut o,
            &format!("F1-optimal on validation (>= {:.4})", e.best_f1.threshold),
            &e.best_f1.test,
        );
        row(
            &mut o,
            &format!(
                "false alarms <= {}% of benign validation (>= {:.4})",
                e.fpr_budget.budget * 100.0,
                e.fpr_budget.threshold
            ),
            &e.fpr_budget.test,
        );
        let _ = writeln!(
            o,
            "\nROC AUC {:.4}, average precision {:.4} (from P(malicious), not from hard labels). Weighted averages over both classes (argmax): precision {:.4}, recall {:.4}, F1 {:.4}.\n",
            e.roc_auc,
            e.average_precision,
            e.weighted_avg.precision,
            e.weighted_avg.recall,
            e.weighted_avg.f1
        );
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
            "### Recall per attack family (argmax)\n\n| family | test rows | detected | recall |\n|---|---:|---:|---:|"
        );
        for (f, fr) in &self.per_family_recall {
            let _ = writeln!(
                o,
                "| {f} | {} | {} | {:.4} |",
                fr.support, fr.detected, fr.recall
            );
        }

        if !self.generalization.is_empty() {
            let _ = writeln!(o, "\n## Generalization: benign traffic of other captures\n");
            let _ = writeln!(
                o,
                "False-positive rate = share of the new benign flows flagged at the calibrated thresholds (detector: its benign-validation percentile; policy: the validation-chosen F1-optimal P(malicious) threshold, and argmax).\n\n| source | benign rows | FPR detector | FPR policy | FPR policy (argmax) | mean KS | features with KS > 0.5 |\n|---|---:|---:|---:|---:|---:|---:|"
            );
            for g in &self.generalization {
                let _ = writeln!(
                    o,
                    "| {} | {} | {:.4} | {:.4} | {:.4} | {:.3} | {} |",
                    g.source,
                    g.benign_rows,
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
                if let Some(f) = &g.fpr_after_finetune {
                    let _ = writeln!(
                        o,
                        "\nFine-tuning on {:.0} % of the new benign flows ({} rows), measured on the other {} rows:\n\n| | FPR before | FPR after |\n|---|---:|---:|\n| detector | {:.4} | {:.4} |\n| policy | {:.4} | {:.4} |",
                        100.0 * f.fraction,
                        f.finetune_rows,
                        f.eval_rows,
                        f.detector_before,
                        f.detector_after,
                        f.policy_before,
                        f.policy_after
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
            let r = &a.at_threshold;
            let _ = writeln!(
                o,
                "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                format!("autoencoder {}", a.kind),
                r.precision,
                r.recall,
                r.f1,
                r.fpr,
                a.roc_auc
            );
        }
        let e = &self.ppo.evaluation;
        let mut line = |name: String, r: &ThresholdRow| {
            let _ = writeln!(
                o,
                "{:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
                name, r.precision, r.recall, r.f1, r.fpr, e.roc_auc
            );
        };
        line(
            format!("ppo[{}] argmax", self.selected_autoencoder),
            &e.argmax,
        );
        for r in &e.thresholds {
            line(
                format!("ppo[{}] p >= {}", self.selected_autoencoder, r.threshold),
                r,
            );
        }
        line(
            format!(
                "ppo[{}] p >= {:.4} (val F1)",
                self.selected_autoencoder, e.best_f1.threshold
            ),
            &e.best_f1.test,
        );
        let _ = writeln!(
            o,
            "mean reward of {}-step test episodes: {:.0} / {:.0}",
            e.episode_reward.episode_length, e.episode_reward.mean, e.episode_reward.possible
        );
        for g in &self.generalization {
            let _ = writeln!(
                o,
                "shift {}: FPR detector {:.4}, policy {:.4}, mean KS {:.3}",
                g.source, g.fpr_detector, g.fpr_policy, g.mean_ks
            );
        }
        o
    }
}
