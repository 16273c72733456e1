//! The whole pipeline: ingest, autoencoders, baseline detectors, PPO,
//! evaluation, generalization, report and plots.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use autoencoders::{ModelKind, ReconstructionDetector};
use detector::input::policy_margins;
use detector::manifest::{FORMAT_VERSION, MANIFEST_FILE, describe_inputs};
use detector::{
    Detector, DetectorParts, Manifest, OperatingPoint, PolicyInput, Provenance, VerdictRule,
};
use metrics::ConfusionMatrix;
use rayon::prelude::*;

use crate::config::PipelineConfig;
use crate::error::{PipelineError, Result};
use crate::evaluate::{EvalSplits, ScoreEvaluation};
use crate::generalization::{Trained, check_source};
use crate::novelty::{Stage, TrainedAutoencoder, pca_detector, train_autoencoder};
use crate::output::{RunDir, RunPoint, write_atomic, write_json};
use crate::plots::{self, LegendPosition, Series};
use crate::policy::{CandidateSummary, PolicyCandidate, evaluate_policy, select, train_policy};
use crate::progress::Bars;
use crate::report::{LatentInputRow, PpoReport, Report, SELECTION};
use crate::supervised::{ceiling, tree_baseline};
use crate::verdict::{
    SupervisedScores, VerdictInputs, VerdictReport, coarse_budget_note, evaluate_verdict,
};

/// Run the pipeline, writing everything into `config.out_dir`; returns the
/// report (also written as `report.json` and `report.md`).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let config = nids::PipelineConfig::quick(dir.path());
/// let report = nids::run(&config)?;
/// assert!(dir.path().join("report.json").is_file());
/// assert_eq!(report.ppo.autoencoder, "ff");
/// println!("{}", report.summary_table());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(config: &PipelineConfig) -> Result<Report> {
    run_with_checkpoints(config, &mut |_| Ok(()))
}

/// [`run`], calling `checkpoint` at each [`RunPoint`] it reaches: a
/// caller follows the run there, or stops it (an error from `checkpoint`
/// ends the run as any failure does, the output directory untouched).
pub fn run_with_checkpoints(
    config: &PipelineConfig,
    checkpoint: &mut dyn FnMut(RunPoint) -> Result<()>,
) -> Result<Report> {
    config.validate()?;
    let started = Instant::now();
    // Everything is written into a temporary sibling of `out_dir`, renamed
    // into place once the report is written.
    let run_dir = RunDir::begin(&config.out_dir, config.overwrite)?;
    let out = &run_dir.path().to_path_buf();
    let models_dir = out.join("models");
    std::fs::create_dir_all(&models_dir).map_err(|e| PipelineError::io(&models_dir, e))?;
    let bars = Bars::new(config.progress);
    let mut timings = BTreeMap::new();
    let mut lap = Instant::now();
    let mut tick = |name: &str, timings: &mut BTreeMap<String, f64>| {
        timings.insert(name.to_string(), lap.elapsed().as_secs_f64());
        lap = Instant::now();
    };

    let bar = bars.bar(0, "loading", "bytes");
    let data = crate::ingest::run(&config.data, out, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    tick("ingest", &mut timings);
    checkpoint(RunPoint::Ingested)?;
    let stage = Stage {
        seed: config.seed,
        data: &data,
        models_dir: &models_dir,
        bars: &bars,
    };

    // The models train side by side; each has its own seed and data, so the
    // results do not depend on the order. The dense models train fastest on
    // one thread each; the convolutional one, the slowest, gets the cores
    // left over.
    let kinds = &config.autoencoders.kinds;
    let spare = rayon::current_num_threads().saturating_sub(kinds.len().saturating_sub(1));
    let trained: Vec<TrainedAutoencoder> = kinds
        .par_iter()
        .map(|&kind| {
            let threads = if kind == ModelKind::Conv1d {
                spare.max(1)
            } else {
                1
            };
            train_autoencoder(kind, &config.autoencoders, &stage, threads)
        })
        .collect::<Result<_>>()?;
    // The linear baseline: PCA with as many components as the latent code.
    let latent_dim = trained.first().map_or(32, |t| {
        autoencoders::Autoencoder::latent_dim(t.detector.model())
    });
    let (_, _, pca_latent) = pca_detector(latent_dim, &data, &config.autoencoders)?;
    tick("autoencoders", &mut timings);
    checkpoint(RunPoint::AutoencodersTrained)?;

    // One policy per autoencoder and input; the latent input (the
    // reference design) always, so that its row stands beside the selected.
    let mut inputs = config.ppo.inputs.clone();
    if !inputs.contains(&PolicyInput::Latent) {
        inputs.insert(0, PolicyInput::Latent);
    }
    let mut candidates: Vec<PolicyCandidate> = Vec::new();
    for ae in &trained {
        for &input in &inputs {
            candidates.push(train_policy(ae, input, &config.ppo, &stage)?);
        }
    }
    tick("ppo", &mut timings);
    checkpoint(RunPoint::PoliciesTrained)?;
    let val_labels = data.validation.attack_mask();
    let test_labels = data.test.attack_mask();
    let test_families = data.test.families();
    let summaries: Vec<CandidateSummary> = candidates
        .iter()
        .map(|c| c.summary(&val_labels, config.ppo.fpr_budget))
        .collect::<Result<_>>()?;
    let best = select(&summaries)
        .ok_or_else(|| PipelineError::Unsupported("no policy was trained".into()))?;
    let selected = &candidates[best];
    let ae_of = |c: &PolicyCandidate| {
        trained
            .iter()
            .find(|t| t.kind == c.kind)
            .ok_or_else(|| PipelineError::Unsupported(format!("no autoencoder for {}", c.name())))
    };
    let selected_ae = ae_of(selected)?;
    let splits = EvalSplits {
        val_labels: &val_labels,
        test_labels: &test_labels,
        test_families: &test_families,
        config: &config.ppo,
    };
    let bar = bars.bar(1, "evaluating", "stages");
    // The verdict's novelty part: the autoencoder detector with the best
    // validation ROC AUC; the rule is fitted on validation alone.
    let novelty = &trained[select_novelty(&trained, &val_labels)?];
    let rule = VerdictRule::fit(
        novelty.kind.as_str(),
        &val_labels,
        &selected.val_margin,
        &novelty.scores.validation,
        config.verdict.novelty_budget,
        config.ppo.fpr_budget,
    )?;
    // The detector is saved, loaded back and scores the test split, through
    // the one scoring path `nids score` takes; its manifest is completed
    // with the operating points and the numbers measured.
    let detector_dir = out.join("detector");
    let describe = |operating_points, headline| {
        manifest(
            config,
            selected,
            &novelty.detector,
            &data.summary,
            operating_points,
            headline,
        )
    };
    DetectorParts {
        schema: &data.schema,
        bounds: &data.bounds,
        encoder: selected_ae.detector.model(),
        novelty: novelty.detector.model(),
        policy: &selected.policy,
        scaler: &selected.scaler,
        manifest: &describe(vec![rule.operating_point()], BTreeMap::new())?,
    }
    .write(&detector_dir)?;
    let mut detector = Detector::load(&detector_dir)?;
    let scoring = Instant::now();
    let test_scores = detector.score_scaled(data.test.features(), data.test_range.clone())?;
    let scoring_seconds = scoring.elapsed().as_secs_f64();
    let test_margin = test_scores.margin.clone();
    let evaluation = evaluate_policy(
        selected,
        splits,
        &data.test,
        test_margin.clone(),
        scoring_seconds,
        config.seed,
    )?;
    let latent_best = select(
        &summaries
            .iter()
            .map(|s| CandidateSummary {
                val_recall_at_budget: if s.input == PolicyInput::Latent {
                    s.val_recall_at_budget
                } else {
                    f64::NEG_INFINITY
                },
                ..s.clone()
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or(best);
    let latent = &candidates[latent_best];
    let latent_input = LatentInputRow {
        candidate: latent.name(),
        // The selected policy may itself read the latent alone.
        evaluation: if latent_best == best {
            evaluation.scores.clone()
        } else {
            let scoring = Instant::now();
            let margins = policy_margins(&latent.policy, latent.test_obs.view())?;
            let seconds = scoring.elapsed().as_secs_f64();
            evaluate_policy(latent, splits, &data.test, margins, seconds, config.seed)?.scores
        },
    };
    let verdict_inputs = VerdictInputs {
        val_labels: &val_labels,
        test_labels: &test_labels,
        test_families: &test_families,
        val_margin: &selected.val_margin,
        test_margin: &test_margin,
        val_novelty: &novelty.scores.validation,
        test_novelty: &test_scores.novelty,
        test_flags: &test_scores.malicious,
    };
    let verdict = evaluate_verdict(rule, verdict_inputs)?;
    detector.replace_manifest(
        describe(
            operating_points(&verdict.rule, &evaluation.scores),
            headline(&verdict, &evaluation.scores),
        )?,
        &detector_dir,
    )?;
    write_json(&detector_dir.join(MANIFEST_FILE), detector.manifest())?;
    bar.finish_and_clear();
    tick("evaluation", &mut timings);

    // What the same inputs allow, and what a user would otherwise pick:
    // classifiers weighted by the regret of each error, which exist only
    // when both errors cost something against the right answer.
    let mut supervised_notes = Vec::new();
    let (ceiling, baselines) = match crate::evaluate::regrets(&config.ppo.rewards) {
        (miss, alarm) if miss > 0.0 && alarm > 0.0 => {
            let bar = bars.bar(2, "ceiling and baseline", "models");
            // The MLP trains on one thread, the trees on the others.
            let (ceiling, tree) = rayon::join(
                || {
                    let ceiling = ceiling(selected, &data.train, splits, config.seed);
                    bar.inc(1);
                    ceiling
                },
                || {
                    let tree = tree_baseline(
                        &data.train,
                        &data.validation,
                        &data.test,
                        splits,
                        config.seed,
                    );
                    bar.inc(1);
                    tree
                },
            );
            let (ceiling, tree) = (ceiling?, tree?);
            bar.finish_and_clear();
            tick("baselines", &mut timings);
            (Some(ceiling), vec![tree])
        }
        (miss, alarm) => {
            supervised_notes.push(format!(
                "no ceiling or baseline: the reward table's regrets (missed attack {miss}, false alarm {alarm}) are not both positive, so no cost-sensitive classifier matches it"
            ));
            (None, Vec::new())
        }
    };
    let unseen: Vec<flowdata::Family> = data
        .summary
        .unseen_families
        .iter()
        .filter_map(|n| flowdata::Family::from_name(n))
        .collect();
    let unseen_families = verdict.unseen(
        &unseen,
        &verdict_inputs,
        SupervisedScores {
            ceiling: ceiling.as_ref().map(|c| c.test_scores.as_slice()),
            tree: baselines.first().map(|t| t.test_scores.as_slice()),
        },
    )?;

    let mut generalization = Vec::new();
    let mut source_warnings = Vec::new();
    if !config.generalization.shift_benign.is_empty() {
        let ctx = Trained {
            detector: &detector,
            detector_dir: &detector_dir,
            train: &data.train,
            fill_missing: config.data.fill_missing,
            seed: config.seed,
        };
        let bar = bars.bar(
            config.generalization.shift_benign.len() as u64,
            "generalization",
            "sources",
        );
        for path in &config.generalization.shift_benign {
            let checked = check_source(
                std::slice::from_ref(path),
                &ctx,
                config.generalization.finetune_fraction,
            )?;
            source_warnings.extend(checked.out_of_range.warning());
            generalization.push(checked);
            bar.inc(1);
        }
        bar.finish_and_clear();
        tick("generalization", &mut timings);
    }

    let mut data_summary = data.summary;
    data_summary.warnings.extend(source_warnings);
    let mut notes = run_notes(config, &run_dir, &data_summary, &trained);
    notes.extend(supervised_notes);
    notes.extend(coarse_budget_note(
        val_labels.iter().filter(|&&l| !l).count(),
        config.ppo.fpr_budget,
    ));
    let mut plot_files = Vec::new();
    if config.plots {
        if plots::font().is_none() {
            notes.push(
                "no TrueType font was found (set NIDS_FONT to one): plots are drawn without text"
                    .to_string(),
            );
        }
        plot_files = draw_plots(
            out,
            &trained,
            &candidates,
            best,
            &data.test,
            &test_margin,
            &evaluation.scores,
        )?;
        tick("plots", &mut timings);
    }

    let report = Report {
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed: config.seed,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        timings,
        data: data_summary,
        autoencoders: trained.iter().map(|t| t.result.clone()).collect(),
        novelty_baselines: vec![pca_latent],
        verdict,
        unseen_families,
        ppo: PpoReport {
            autoencoder: selected.kind.as_str().to_string(),
            policy_input: selected.input,
            preset: config.ppo.preset,
            sampling: config.ppo.sampling.resolve(&data.train.binary_labels()),
            selection: SELECTION.to_string(),
            evaluation,
            latent_input,
            candidates: summaries,
        },
        ceiling,
        baselines,
        generalization,
        plots: plot_files,
        notes,
    };
    write_json(&out.join("report.json"), &report)?;
    write_atomic(&out.join("report.md"), report.to_markdown().as_bytes())?;
    checkpoint(RunPoint::ReportWritten)?;
    run_dir.commit()?;
    Ok(report)
}

/// The detector's operating points: the verdict first (the default), then
/// the policy's, each chosen on validation.
fn operating_points(rule: &VerdictRule, policy: &ScoreEvaluation) -> Vec<OperatingPoint> {
    let policy_point = |name: &str, description: String, t: f64| OperatingPoint {
        name: name.to_string(),
        description,
        policy_margin: t.is_finite().then_some(t),
        novelty: None,
    };
    let mut points = vec![
        rule.operating_point(),
        policy_point(
            "argmax",
            "the policy's own decision: P(malicious) > 0.5".into(),
            0f64.next_up(),
        ),
        policy_point(
            "best-f1",
            "the policy's F1-optimal threshold on validation".into(),
            policy.best_f1.score_threshold,
        ),
    ];
    for p in &policy.operating_points {
        points.push(policy_point(
            &p.name,
            format!("the policy's threshold for {} on validation", p.name),
            p.score_threshold,
        ));
    }
    points
}

/// The report's headline numbers on the test split, as the manifest
/// records them.
fn headline(verdict: &VerdictReport, policy: &ScoreEvaluation) -> BTreeMap<String, f64> {
    [
        ("verdict_precision", verdict.test.rates.precision),
        ("verdict_recall", verdict.test.rates.recall),
        ("verdict_f1", verdict.test.rates.f1),
        ("verdict_fpr", verdict.test.rates.fpr),
        ("policy_argmax_f1", policy.argmax.f1),
        ("policy_argmax_fpr", policy.argmax.fpr),
        ("policy_roc_auc", policy.roc_auc),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The detector's manifest: its operating points, the verdict's budgets,
/// and where it came from.
fn manifest(
    config: &PipelineConfig,
    selected: &PolicyCandidate,
    novelty: &ReconstructionDetector<autoencoders::Model>,
    data: &crate::ingest::DataSummary,
    operating_points: Vec<OperatingPoint>,
    headline: BTreeMap<String, f64>,
) -> Result<Manifest> {
    let mut inputs = Vec::new();
    for path in config.data.paths.iter().chain(&config.data.test_paths) {
        inputs.extend(describe_inputs(path)?);
    }
    Ok(Manifest {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        encoder: selected.kind.as_str().to_string(),
        novelty: autoencoders::Autoencoder::kind(novelty.model())
            .as_str()
            .to_string(),
        novelty_threshold: novelty.threshold().clone(),
        novelty_error_scale: novelty.error_scale().clone(),
        novelty_budget: config.verdict.novelty_budget,
        budget: config.ppo.fpr_budget,
        adaptations: Vec::new(),
        policy_input: selected.input,
        operating_points,
        default_operating_point: "verdict".into(),
        provenance: Provenance {
            seed: config.seed,
            inputs,
            source: data.source.clone(),
            rows: [data.train, data.validation, data.test],
            headline,
        },
    })
}

/// The autoencoder whose detector joins the verdict's novelty part: the
/// best validation ROC AUC (the whole curve: validation holds too few
/// benign flows to rank detectors at a fraction of a percent of them).
fn select_novelty(trained: &[TrainedAutoencoder], val_labels: &[bool]) -> Result<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, t) in trained.iter().enumerate() {
        let auc = metrics::roc_auc(val_labels, &t.scores.validation)?;
        if best.is_none_or(|(_, a)| auc > a) {
            best = Some((i, auc));
        }
    }
    best.map(|(i, _)| i)
        .ok_or_else(|| PipelineError::Unsupported("no autoencoder was trained".into()))
}

/// Notes about the run's settings and inputs: stale temporary directories
/// found, data warnings, PPO steps rounded up to whole rollouts, minibatch
/// sizes clamped to the training rows.
fn run_notes(
    config: &PipelineConfig,
    run_dir: &RunDir,
    data: &crate::ingest::DataSummary,
    trained: &[TrainedAutoencoder],
) -> Vec<String> {
    let mut notes = run_dir.stale.clone();
    notes.extend(data.warnings.iter().cloned());
    let p = &config.ppo;
    let asked = p.timesteps.for_rows(data.train);
    let run = p.ppo.timesteps_run(p.n_envs, asked);
    if run != asked {
        notes.push(format!(
            "PPO ran {run} environment steps per policy for the {asked} requested: steps are rounded up to whole rollouts of n_envs {} x n_steps {} = {}",
            p.n_envs,
            p.ppo.n_steps,
            p.ppo.rollout_size(p.n_envs)
        ));
    }
    for t in trained {
        if t.result.batch_size < config.autoencoders.trainer.batch_size {
            notes.push(format!(
                "autoencoder {}: minibatch size {} clamped to its {} training rows",
                t.result.kind, config.autoencoders.trainer.batch_size, t.result.batch_size
            ));
        }
    }
    notes
}

fn draw_plots(
    out: &Path,
    trained: &[TrainedAutoencoder],
    candidates: &[PolicyCandidate],
    best: usize,
    test: &flowdata::FlowFrame,
    test_margin: &[f64],
    evaluation: &ScoreEvaluation,
) -> Result<Vec<String>> {
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
    let mut files = Vec::new();
    let mut add = |name: String| {
        let rel = format!("plots/{name}");
        files.push(rel);
        dir.join(name)
    };
    let labels = test.attack_mask();

    for t in trained {
        let k = t.kind.as_str();
        let epochs = |f: &dyn Fn(&autoencoders::EpochRecord) -> f64| {
            t.history
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, f(e)))
                .collect::<Vec<_>>()
        };
        plots::line_chart(
            &add(format!("ae_loss_{k}.png")),
            &format!("autoencoder {k}: loss per epoch"),
            ("epoch", "mean squared error"),
            &[
                Series {
                    name: "training".into(),
                    points: epochs(&|e| e.train_loss),
                },
                Series {
                    name: "validation".into(),
                    points: epochs(&|e| e.val_loss),
                },
            ],
            None,
            LegendPosition::UpperRight,
        )?;
        let (mut benign, mut attack) = (Vec::new(), Vec::new());
        for (&e, &l) in t.scores.test.iter().zip(&labels) {
            if l { attack.push(e) } else { benign.push(e) }
        }
        plots::error_histogram(
            &add(format!("ae_errors_{k}.png")),
            &format!("autoencoder {k}: test reconstruction errors"),
            &benign,
            &attack,
            t.detector.threshold().value,
        )?;
        let cm = t.result.detection.at_threshold.confusion();
        plots::confusion_matrix(
            &add(format!("confusion_detector_{k}.png")),
            &format!("detector {k} (test)"),
            &cm,
        )?;
    }

    let sel = candidates[best].name();
    // One ROC and one precision-recall series per scorer.
    let mut roc = Vec::new();
    let mut pr = Vec::new();
    let mut curves = |name: String, scores: &[f64], auc: f64, ap: f64| -> Result<()> {
        let roc_points = metrics::roc_curve(&labels, scores)?;
        let pr_points = metrics::precision_recall_curve(&labels, scores)?;
        roc.push(Series {
            name: format!("{name} (AUC {auc:.3})"),
            points: roc_points.iter().map(|p| (p.fpr, p.tpr)).collect(),
        });
        pr.push(Series {
            name: format!("{name} (AP {ap:.3})"),
            points: pr_points.iter().map(|p| (p.recall, p.precision)).collect(),
        });
        Ok(())
    };
    for t in trained {
        let d = &t.result.detection;
        curves(
            format!("detector {}", t.kind.as_str()),
            &t.scores.test,
            d.roc_auc,
            d.average_precision,
        )?;
    }
    curves(
        format!("ppo[{sel}]"),
        test_margin,
        evaluation.roc_auc,
        evaluation.average_precision,
    )?;
    let unit = Some((0.0, 1.0, 0.0, 1.02));
    plots::line_chart(
        &add("roc.png".into()),
        "ROC curves (test split)",
        ("false-positive rate", "true-positive rate"),
        &roc,
        unit,
        LegendPosition::LowerRight,
    )?;
    plots::line_chart(
        &add("pr.png".into()),
        "precision-recall curves (test split)",
        ("recall", "precision"),
        &pr,
        unit,
        LegendPosition::LowerLeft,
    )?;
    plots::confusion_matrix(
        &add("confusion_policy_argmax.png".into()),
        &format!("ppo[{sel}] argmax (test)"),
        &evaluation.argmax.confusion(),
    )?;
    plots::confusion_matrix(
        &add("confusion_policy_best_f1.png".into()),
        &format!(
            "ppo[{sel}] P(malicious) >= {:.3} (test)",
            evaluation.best_f1.threshold
        ),
        &ConfusionMatrix::new(
            evaluation.best_f1.test.tp,
            evaluation.best_f1.test.fp,
            evaluation.best_f1.test.tn,
            evaluation.best_f1.test.fn_,
        ),
    )?;
    let curves: Vec<Series> = candidates
        .iter()
        .map(|c| Series {
            name: c.name(),
            points: c
                .log
                .iter()
                .filter_map(|r| r.mean_episode_return.map(|m| (r.timesteps as f64, m)))
                .collect(),
        })
        .collect();
    plots::line_chart(
        &add("ppo_learning_curve.png".into()),
        "PPO learning curve (training episodes)",
        ("environment steps", "mean return of the latest episodes"),
        &curves,
        None,
        LegendPosition::LowerRight,
    )?;
    Ok(files)
}
