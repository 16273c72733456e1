//! PPO ablations on one data set: the autoencoders are trained once, then
//! each variant of the PPO settings trains a policy on their latents and is
//! measured on the validation and test splits (argmax F1 and false-positive
//! rate, ROC AUC of the logit margin, and recall at a false-alarm budget
//! chosen on validation). One Markdown row per variant and seed.
//!
//! ```text
//! cargo run --release --example policy_ablation -- --data DIR \
//!     --variant reference:preset=reference \
//!     --variant gamma0:preset=reference,gamma=0 \
//!     --variant tuned --seeds 1,2,3
//! ```
//!
//! A variant is `NAME[:key=value,...]` over the default (tuned) settings;
//! keys: `preset` (reference|tuned, applied first), `gamma`, `ent`, `lr`,
//! `anneal` (0|1), `n_steps`, `batch`, `epochs`, `vf`, `clip`, `steps`,
//! `n_envs`, `input` (latent|latent+error|latent+features), `sampling`
//! (auto|cost-balanced|balanced|shuffled|sequential), `balanced` (0|1:
//! balanced or shuffled), `ae` (ff|conv|deep), `model` (ppo|ceiling: the cost-sensitive
//! supervised classifier of the policy's shape on the same inputs instead
//! of PPO, to tell what the inputs allow from what PPO learns).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use autoencoders::ModelKind;
use baselines::{Ceiling, CeilingConfig, ClassWeights};
use clap::Parser;
use detector::input::{PolicyInput, policy_margins};
use metrics::ConfusionMatrix;
use nids::config::{PpoPreset, PpoStageConfig};
use nids::novelty::{Stage, TrainedAutoencoder, train_autoencoder};
use nids::policy::{PolicyData, train_ppo};
use nids::progress::Bars;

/// PPO ablations over autoencoders trained once.
#[derive(Parser)]
struct Args {
    /// CSV files or directories (default: the embedded generated flows).
    #[arg(long)]
    data: Vec<PathBuf>,
    /// Autoencoders to train (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "ff")]
    ae: Vec<String>,
    /// Variants, `NAME[:key=value,...]` (repeatable).
    #[arg(long)]
    variant: Vec<String>,
    /// Seeds of the policies (comma separated; default: the pipeline's).
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    /// Seed of the split and the autoencoders (default: the pipeline's).
    #[arg(long)]
    data_seed: Option<u64>,
    /// False-alarm budget of the recall column (default: the pipeline's
    /// headline budget).
    #[arg(long)]
    budget: Option<f64>,
    /// Output directory for the ingest stage's files.
    #[arg(long, default_value = "runs/ablation")]
    out: PathBuf,
}

struct Variant {
    name: String,
    config: PpoStageConfig,
    input: PolicyInput,
    ae: Option<ModelKind>,
    ceiling: bool,
}

fn parse_variant(text: &str) -> Result<Variant, String> {
    let (name, settings) = text.split_once(':').unwrap_or((text, ""));
    let mut v = Variant {
        name: name.to_string(),
        config: PpoStageConfig::default(),
        input: PolicyInput::Latent,
        ae: None,
        ceiling: false,
    };
    let pairs: Vec<(&str, &str)> = settings
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            kv.split_once('=')
                .ok_or(format!("{text}: {kv} is not key=value"))
        })
        .collect::<Result<_, _>>()?;
    // The preset first, so that other keys override it.
    for (k, val) in &pairs {
        if *k == "preset" {
            let preset: PpoPreset = val.parse().map_err(|e| format!("{text}: {e}"))?;
            v.config = PpoStageConfig::preset(preset);
        }
    }
    for (k, val) in pairs {
        let bad = |e: &dyn std::fmt::Display| format!("{text}: {k}={val}: {e}");
        let f = || val.parse::<f32>().map_err(|e| bad(&e));
        let u = || val.parse::<usize>().map_err(|e| bad(&e));
        let c = &mut v.config;
        match k {
            "preset" => {}
            "gamma" => c.ppo.gamma = f()?,
            "ent" => c.ppo.ent_coef = f()?,
            "lr" => c.ppo.learning_rate = f()?,
            "anneal" => {
                c.ppo.lr_schedule = if u()? == 1 {
                    ppo::LrSchedule::Linear
                } else {
                    ppo::LrSchedule::Constant
                }
            }
            "n_steps" => c.ppo.n_steps = u()?,
            "batch" => c.ppo.batch_size = u()?,
            "epochs" => c.ppo.n_epochs = u()?,
            "vf" => c.ppo.vf_coef = f()?,
            "clip" => c.ppo.clip_range = f()?,
            "steps" => c.timesteps = nids::Timesteps::Fixed(u()? as u64),
            "n_envs" => c.n_envs = u()?,
            "input" => v.input = val.parse().map_err(|e| bad(&e))?,
            "sampling" => c.sampling = val.parse().map_err(|e| bad(&e))?,
            "balanced" => {
                c.sampling = if u()? == 1 {
                    rlenv::Sampling::Balanced
                } else {
                    rlenv::Sampling::Shuffled
                }
            }
            "ae" => v.ae = Some(val.parse::<ModelKind>().map_err(|e| bad(&e))?),
            "model" => {
                v.ceiling = match val {
                    "ppo" => false,
                    "ceiling" => true,
                    _ => return Err(bad(&"expected ppo or ceiling")),
                }
            }
            other => return Err(format!("{text}: unknown key {other}")),
        }
    }
    Ok(v)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut variants: Vec<Variant> = args
        .variant
        .iter()
        .map(|v| parse_variant(v))
        .collect::<Result<_, _>>()?;
    if variants.is_empty() {
        variants.push(parse_variant("tuned")?);
    }
    let mut config = nids::PipelineConfig::new(&args.out);
    config.data.paths = args.data.clone();
    if let Some(seed) = args.data_seed {
        config.set_seed(seed);
    }
    let seeds = if args.seeds.is_empty() {
        vec![config.seed]
    } else {
        args.seeds.clone()
    };
    let budget = args.budget.unwrap_or(config.ppo.fpr_budget);
    let data = nids::ingest::run(&config.data, &args.out, |_, _| {}).map_err(|e| e.to_string())?;
    let bars = Bars::new(false);
    let models_dir = args.out.join("models");
    let stage = Stage {
        seed: config.seed,
        data: &data,
        models_dir: &models_dir,
        bars: &bars,
    };
    let kinds: Vec<ModelKind> = args
        .ae
        .iter()
        .map(|k| k.parse::<ModelKind>())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut trained: Vec<TrainedAutoencoder> = Vec::new();
    for &kind in &kinds {
        let t =
            train_autoencoder(kind, &config.autoencoders, &stage, 2).map_err(|e| e.to_string())?;
        eprintln!(
            "autoencoder {}: ROC AUC {:.4}",
            t.result.kind, t.result.detection.roc_auc
        );
        trained.push(t);
    }
    let val_labels = data.validation.attack_mask();
    let test_labels = data.test.attack_mask();
    println!(
        "| variant | ae | input | seed | steps | train s | val F1 | val recall@{b} | test F1 | test FPR (fp/benign) | test recall | ROC AUC | test recall@{b} | test FPR@{b} | dead units |",
        b = budget
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for v in &variants {
        for &seed in &seeds {
            let kind = v.ae.unwrap_or(kinds[0]);
            let ae = trained
                .iter()
                .find(|t| t.kind == kind)
                .ok_or(format!("{}: autoencoder {kind:?} was not trained", v.name))?;
            let model = ae.detector.model();
            let pd = PolicyData::new(model, v.input, &data.train, &data.validation, &data.test)
                .map_err(|e| e.to_string())?;
            v.config
                .ppo
                .validate_for_envs(v.config.n_envs)
                .map_err(|e| format!("{}: {e}", v.name))?;
            let started = Instant::now();
            let (val, test, steps) = if v.ceiling {
                let r = &v.config.rewards;
                let weights = ClassWeights::from_rewards(
                    f64::from(r.tp),
                    f64::from(r.tn),
                    f64::from(r.fn_),
                    f64::from(r.fp),
                )
                .map_err(|e| e.to_string())?;
                let model = Ceiling::fit(
                    pd.train.view(),
                    &data.train.attack_mask(),
                    pd.validation.view(),
                    &val_labels,
                    weights,
                    &CeilingConfig {
                        seed,
                        ..CeilingConfig::default()
                    },
                )
                .map_err(|e| e.to_string())?;
                let margins = |x: ndarray::ArrayView2<'_, f32>| model.margins(x);
                (
                    margins(pd.validation.view()).map_err(|e| e.to_string())?,
                    margins(pd.test.view()).map_err(|e| e.to_string())?,
                    0,
                )
            } else {
                let (policy, log) = train_ppo(
                    pd.train.clone(),
                    data.train.binary_labels(),
                    &v.config,
                    seed,
                    &mut |_| {},
                )
                .map_err(|e| e.to_string())?;
                (
                    policy_margins(&policy, pd.validation.view()).map_err(|e| e.to_string())?,
                    policy_margins(&policy, pd.test.view()).map_err(|e| e.to_string())?,
                    log.last().map_or(0, |r| r.timesteps),
                )
            };
            let secs = started.elapsed().as_secs_f64();
            let m = |e: metrics::MetricsError| e.to_string();
            let flags = |s: &[f64], t: f64| s.iter().map(|&x| x > t).collect::<Vec<_>>();
            let val_cm =
                ConfusionMatrix::from_predictions(&val_labels, &flags(&val, 0.0)).map_err(m)?;
            let test_cm =
                ConfusionMatrix::from_predictions(&test_labels, &flags(&test, 0.0)).map_err(m)?;
            let t = metrics::threshold_for_fpr_labelled(&val_labels, &val, budget).map_err(m)?;
            let val_at = metrics::threshold_sweep(&val_labels, &val, &[t]).map_err(m)?[0];
            let test_at = metrics::threshold_sweep(&test_labels, &test, &[t]).map_err(m)?[0];
            println!(
                "| {} | {} | {} | {} | {} | {:.1} | {:.4} | {:.4} | {:.4} | {:.4} ({}/{}) | {:.4} | {:.4} | {:.4} | {:.4} | {}/{} |",
                v.name,
                ae.result.kind,
                v.input,
                seed,
                steps,
                secs,
                val_cm.f1(),
                val_at.recall,
                test_cm.f1(),
                test_cm.fpr(),
                test_cm.fp,
                test_cm.negatives(),
                test_cm.recall(),
                metrics::roc_auc(&test_labels, &test).map_err(m)?,
                test_at.recall,
                test_at.fpr,
                pd.latent_health.constant,
                pd.latent_health.units,
            );
        }
    }
    Ok(())
}
