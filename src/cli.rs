//! The command-line options of the pipeline, defined once for the `nids`
//! binary's `train` subcommand and the `cicids_pipeline` example.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rlenv::RewardTable;

use crate::PipelineConfig;
use crate::config::{AutoencoderStageConfig, PpoPreset, PpoStageConfig, Timesteps};
use crate::policy::PolicyInput;

/// How to read flows of another schema than CIC-IDS2017's: `nids train`,
/// `nids summary` and the `cicids_pipeline` example.
#[derive(Args, Debug, Clone)]
pub struct SchemaArgs {
    /// Label column of another schema (the schema is inferred from the files).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Attack-family column of another schema (e.g. UNSW-NB15's attack_cat).
    #[arg(long)]
    pub family_column: Option<String>,
    /// Text columns to one-hot encode with --label-column (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
}

/// The pipeline's options: `nids train` and the `cicids_pipeline` example.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// CSV files or directories of CSV files (repeatable). Without it, the
    /// embedded default: generated CIC-IDS2017-format flows.
    #[arg(long)]
    data: Vec<PathBuf>,
    #[command(flatten)]
    schema: SchemaArgs,
    /// A separate capture used as the test set (repeatable).
    #[arg(long)]
    test_data: Vec<PathBuf>,
    /// Fill the model's features a --test-data or --shift-benign source
    /// lacks with this value (without it, such a source is an error naming
    /// the missing features).
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    fill_missing: Option<f32>,
    /// Drop and count malformed rows (a bad number, a blank label, a
    /// ragged row) instead of stopping at the first.
    #[arg(long)]
    lenient: bool,
    /// Rows of the embedded default.
    #[arg(long, default_value_t = 40_000)]
    synthetic_rows: usize,
    /// Train/validation/test fractions.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        default_value = "0.7,0.1,0.2"
    )]
    split: Vec<f64>,
    /// Autoencoders to train: ff, conv, deep (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "ff,conv,deep")]
    ae: Vec<String>,
    /// Maximum autoencoder epochs (early stopping on validation loss).
    #[arg(long, default_value_t = AutoencoderStageConfig::default().epochs)]
    ae_epochs: usize,
    /// Autoencoder minibatch size.
    #[arg(long, default_value_t = AutoencoderStageConfig::default().batch_size)]
    ae_batch_size: usize,
    /// Rows per autoencoder epoch: with more benign training rows, each
    /// epoch trains on a fresh seeded sample of this many; 0 trains on
    /// every row each epoch.
    #[arg(long, default_value_t = AutoencoderStageConfig::default().epoch_rows.unwrap_or(0))]
    ae_epoch_rows: usize,
    /// The fewest rows an autoencoder epoch trains on (fewer benign rows
    /// are passed over several times).
    #[arg(long)]
    ae_min_epoch_rows: Option<usize>,
    /// Early-stopping patience of the autoencoders, in epochs.
    #[arg(long)]
    ae_patience: Option<usize>,
    /// Standard deviation of the Gaussian noise added to the dense
    /// autoencoders' inputs while training (denoising; default 0.1).
    #[arg(long)]
    ae_noise: Option<f32>,
    /// How a detector turns per-feature reconstruction errors into a
    /// score: standardised (each feature over its benign training mean)
    /// or mse (the plain mean squared error).
    #[arg(long)]
    ae_scoring: Option<String>,
    /// What runs the autoencoders: dense (the CPU engine) or candle (the
    /// reference).
    #[arg(long, default_value = "dense")]
    ae_backend: String,
    /// Train the autoencoders on all training rows, not only benign ones.
    #[arg(long)]
    ae_all_rows: bool,
    /// Detector threshold: this percentile of benign validation errors.
    #[arg(long, default_value_t = 99.0)]
    threshold_percentile: f64,
    /// PPO settings: `tuned` (this project's, chosen by ablation) or
    /// `reference` (the reference system's: 120,000 steps, gamma 0.995,
    /// entropy 0.02). The flags below override single settings.
    #[arg(long, default_value = "tuned")]
    ppo_preset: String,
    /// PPO environment steps per candidate policy (preset: tuned one pass
    /// over the training flows within 500,000 to 1,000,000, reference
    /// 120,000).
    #[arg(long)]
    ppo_steps: Option<u64>,
    /// PPO discount factor (preset: tuned 0, reference 0.995). Each step's
    /// reward depends only on its own flow, so 0 is the bandit's choice.
    #[arg(long)]
    ppo_gamma: Option<f32>,
    /// PPO learning rate (preset: 5e-4).
    #[arg(long)]
    ppo_lr: Option<f32>,
    /// PPO entropy coefficient (preset: tuned 0, reference 0.02).
    #[arg(long)]
    ppo_ent_coef: Option<f32>,
    /// What the policies read (comma separated): latent, latent+error,
    /// latent+features. `latent` is always trained as the reference row.
    #[arg(long, value_delimiter = ',', default_value = "latent,latent+features")]
    policy_input: Vec<String>,
    /// Parallel environments.
    #[arg(long, default_value_t = 4)]
    n_envs: usize,
    /// Reward table as tp,tn,fn,fp.
    #[arg(long, default_value = "2,2,-4,-1", allow_hyphen_values = true)]
    reward: String,
    /// How the policy's training draws flows: `auto` (the tuned preset's:
    /// cost-balanced when benign flows are the minority of the training
    /// split, else shuffled), `cost-balanced` (each class as often as
    /// makes its expected regret under the reward table equal: with the
    /// default table, benign flows two times in three), `balanced` (benign
    /// and attack flows equally often), `shuffled` (at their shares in the
    /// training split; the reference preset's) or `sequential` (in file
    /// order).
    #[arg(long)]
    sampling: Option<String>,
    /// Shorthand for `--sampling balanced`.
    #[arg(long)]
    balanced: bool,
    /// P(malicious) thresholds of the evaluation table (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.30,0.35")]
    thresholds: Vec<f64>,
    /// The headline false-alarm budget: the threshold that flags at most
    /// this share of the benign validation flows; candidates are selected
    /// by their validation recall at it.
    #[arg(long, default_value_t = 0.01)]
    fpr_budget: f64,
    /// Further false-alarm budgets reported as operating points (comma
    /// separated).
    #[arg(long, value_delimiter = ',', default_value = "0.001,0.01")]
    fpr_budgets: Vec<f64>,
    /// The recall-target operating point: the highest threshold whose
    /// validation recall reaches it.
    #[arg(long, default_value_t = 0.99)]
    recall_target: f64,
    /// Share of benign flows in deployment, for the cost-optimal operating
    /// point and precision at that share.
    #[arg(long, default_value_t = 0.99)]
    benign_prior: f64,
    /// Remove this attack family (DDoS, DoS, PortScan, BruteForce,
    /// WebAttack, Bot, Infiltration, Heartbleed, Other) from the training
    /// and validation splits and report its test recall: would the
    /// detector catch a family it was never shown? Repeatable.
    #[arg(long)]
    unseen_family: Vec<String>,
    /// The novelty detector's share of the headline false-alarm budget in
    /// the verdict (policy OR novelty).
    #[arg(long)]
    novelty_budget: Option<f64>,
    /// Benign flows of another capture (repeatable): generalization check.
    #[arg(long)]
    shift_benign: Vec<PathBuf>,
    /// Fine-tune on this share of each --shift-benign source and report the
    /// false-positive rate on the rest, before and after.
    #[arg(long)]
    finetune_fraction: Option<f64>,
    /// Seed of everything random.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory (default: runs/<unix time>). The run is written
    /// into a temporary sibling and renamed into place when it is done.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace a non-empty --out (a previous run); without it, a non-empty
    /// --out is refused.
    #[arg(long)]
    overwrite: bool,
    /// Write the test split's raw flows to <out>/splits/test.csv, to check
    /// the saved detector on exactly the flows the report measured.
    #[arg(long)]
    save_splits: bool,
    /// Do not draw plots.
    #[arg(long)]
    no_plots: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

fn parse_reward(text: &str) -> Result<RewardTable, String> {
    let v: Vec<f32> = text
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--reward {text:?}: {e}"))?;
    match v[..] {
        [tp, tn, fn_, fp] => Ok(RewardTable { tp, tn, fn_, fp }),
        _ => Err(format!(
            "--reward {text:?}: expected four numbers tp,tn,fn,fp, got {}",
            v.len()
        )),
    }
}

/// The pipeline settings of parsed options.
pub fn build(args: TrainArgs) -> Result<PipelineConfig, String> {
    let out = args.out.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/{t}"))
    });
    let mut c = PipelineConfig::new(out);
    c.seed = args.seed;
    c.data.paths = args.data;
    c.data.label_column = args.schema.label_column;
    c.data.family_column = args.schema.family_column;
    c.data.categorical = args.schema.categorical;
    c.data.test_paths = args.test_data;
    c.data.fill_missing = args.fill_missing;
    c.data.cleaning.lenient = args.lenient;
    c.overwrite = args.overwrite;
    c.data.synthetic.rows = args.synthetic_rows;
    c.data.synthetic.seed = args.seed;
    match args.split[..] {
        [train, validation, test] => {
            c.data.split = flowdata::SplitConfig {
                train,
                validation,
                test,
                seed: args.seed,
            }
        }
        _ => {
            return Err(format!(
                "--split: expected three fractions, got {:?}",
                args.split
            ));
        }
    }
    c.autoencoders.kinds = args
        .ae
        .iter()
        .map(|k| k.parse::<autoencoders::ModelKind>())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    c.autoencoders.backend = args
        .ae_backend
        .parse::<autoencoders::Backend>()
        .map_err(|e| e.to_string())?;
    c.autoencoders.epochs = args.ae_epochs;
    c.autoencoders.batch_size = args.ae_batch_size;
    c.autoencoders.epoch_rows = (args.ae_epoch_rows > 0).then_some(args.ae_epoch_rows);
    if let Some(r) = args.ae_min_epoch_rows {
        c.autoencoders.min_epoch_rows = r;
    }
    if let Some(p) = args.ae_patience {
        c.autoencoders.patience = p;
    }
    if let Some(n) = args.ae_noise {
        c.autoencoders.input_noise_std = n;
    }
    if let Some(s) = &args.ae_scoring {
        c.autoencoders.scoring = s.parse().map_err(|e| format!("--ae-scoring: {e}"))?;
    }
    c.autoencoders.benign_only = !args.ae_all_rows;
    c.autoencoders.threshold_percentile = args.threshold_percentile;
    let preset: PpoPreset = args.ppo_preset.parse().map_err(|e| format!("{e}"))?;
    c.ppo = PpoStageConfig::preset(preset);
    if let Some(steps) = args.ppo_steps {
        c.ppo.timesteps = Timesteps::Fixed(steps);
    }
    if let Some(gamma) = args.ppo_gamma {
        c.ppo.ppo.gamma = gamma;
    }
    if let Some(lr) = args.ppo_lr {
        c.ppo.ppo.learning_rate = lr;
    }
    if let Some(ent) = args.ppo_ent_coef {
        c.ppo.ppo.ent_coef = ent;
    }
    c.ppo.inputs = args
        .policy_input
        .iter()
        .map(|i| i.parse::<PolicyInput>())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    c.ppo.n_envs = args.n_envs;
    c.ppo.rewards = parse_reward(&args.reward)?;
    c.ppo.thresholds = args.thresholds;
    c.ppo.fpr_budget = args.fpr_budget;
    c.ppo.fpr_budgets = args.fpr_budgets;
    c.ppo.recall_target = args.recall_target;
    c.ppo.benign_prior = args.benign_prior;
    if let Some(name) = args.sampling.as_deref() {
        c.ppo.sampling = name
            .parse()
            .map_err(|e: rlenv::RlEnvError| format!("--sampling: {e}"))?;
    }
    if args.balanced {
        c.ppo.sampling = rlenv::Sampling::Balanced;
    }
    c.data.unseen_families = args.unseen_family;
    c.data.save_splits = args.save_splits;
    if let Some(b) = args.novelty_budget {
        c.verdict.novelty_budget = b;
    }
    c.generalization.shift_benign = args.shift_benign;
    c.generalization.finetune_fraction = args.finetune_fraction;
    c.plots = !args.no_plots;
    c.progress = !args.quiet;
    Ok(c)
}

/// Run the pipeline with parsed options: notes and warnings on stderr,
/// the summary table on stdout.
pub fn train(args: TrainArgs) -> ExitCode {
    let config = match build(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::run(&config) {
        Ok(report) => {
            for note in &report.notes {
                if report.data.warnings.contains(note) {
                    eprintln!("warning: {note}");
                } else {
                    eprintln!("note: {note}");
                }
            }
            print!("{}", report.summary_table());
            println!(
                "selected autoencoder: {}; {:.1} s; report: {}; detector: {}",
                report.selected_autoencoder,
                report.elapsed_seconds,
                config.out_dir.join("report.md").display(),
                config.out_dir.join("detector").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn parse(args: &[&str]) -> Result<PipelineConfig, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("cicids_pipeline").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        build(cli.args)
    }

    #[test]
    fn defaults_and_flags_map_onto_the_config() {
        let c = parse(&["--out", "x"]).unwrap();
        assert_eq!(c.autoencoders.kinds.len(), 3);
        assert_eq!(c.autoencoders.backend, autoencoders::Backend::Dense);
        assert_eq!(c.autoencoders, AutoencoderStageConfig::default());
        let c = parse(&["--ae-epoch-rows", "0", "--ae-epochs", "7"]).unwrap();
        assert_eq!(
            (c.autoencoders.epoch_rows, c.autoencoders.epochs),
            (None, 7)
        );
        let c = parse(&["--ae-epoch-rows", "5000"]).unwrap();
        assert_eq!(c.autoencoders.epoch_rows, Some(5000));
        let c = parse(&["--out", "x", "--ae-backend", "candle"]).unwrap();
        assert_eq!(c.autoencoders.backend, autoencoders::Backend::Candle);
        assert!(parse(&["--out", "x", "--ae-backend", "cuda"]).is_err());
        assert_eq!(c.ppo.rewards, RewardTable::default());
        assert_eq!(c.ppo.thresholds, vec![0.25, 0.30, 0.35]);
        let c = parse(&[
            "--ae",
            "ff,deep",
            "--reward",
            "1,1,-5,-2",
            "--thresholds",
            "0.4",
            "--fpr-budget",
            "0.05",
            "--ppo-steps",
            "9000",
            "--label-column",
            "label",
            "--family-column",
            "attack_cat",
        ])
        .unwrap();
        assert_eq!(c.autoencoders.kinds.len(), 2);
        assert_eq!(
            c.ppo.rewards,
            RewardTable {
                tp: 1.0,
                tn: 1.0,
                fn_: -5.0,
                fp: -2.0
            }
        );
        assert_eq!(c.ppo.thresholds, vec![0.4]);
        assert_eq!(c.ppo.fpr_budget, 0.05);
        assert_eq!(c.ppo.sampling, rlenv::Sampling::Auto);
        assert_eq!(
            parse(&["--sampling", "shuffled"]).unwrap().ppo.sampling,
            rlenv::Sampling::Shuffled
        );
        assert_eq!(
            parse(&["--sampling", "balanced"]).unwrap().ppo.sampling,
            rlenv::Sampling::Balanced
        );
        assert_eq!(
            parse(&["--sampling", "cost-balanced"])
                .unwrap()
                .ppo
                .sampling,
            rlenv::Sampling::CostBalanced
        );
        assert_eq!(
            parse(&["--ppo-preset", "reference", "--balanced"])
                .unwrap()
                .ppo
                .sampling,
            rlenv::Sampling::Balanced
        );
        assert!(
            parse(&["--sampling", "random"])
                .unwrap_err()
                .contains("random")
        );
        assert_eq!(c.ppo.timesteps, Timesteps::Fixed(9000));
        assert_eq!(
            parse(&[]).unwrap().ppo.timesteps,
            Timesteps::OnePass {
                min: 500_000,
                max: 1_000_000
            }
        );
        assert_eq!(c.ppo.preset, PpoPreset::Tuned);
        assert_eq!(
            c.ppo.inputs,
            vec![PolicyInput::Latent, PolicyInput::LatentFeatures]
        );
        let r = parse(&["--ppo-preset", "reference", "--policy-input", "latent"]).unwrap();
        assert_eq!(r.ppo.timesteps, Timesteps::Fixed(120_000));
        assert_eq!(r.ppo.sampling, rlenv::Sampling::Shuffled);
        assert_eq!(r.ppo.ppo, crate::config::reference_ppo_config());
        assert_eq!(r.ppo.inputs, vec![PolicyInput::Latent]);
        let g = parse(&["--ppo-preset", "reference", "--ppo-gamma", "0"]).unwrap();
        assert_eq!(g.ppo.ppo.gamma, 0.0);
        assert_eq!(g.ppo.ppo.ent_coef, 0.02);
        assert_eq!(c.data.family_column.as_deref(), Some("attack_cat"));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_arguments_are_clear_errors() {
        assert!(parse(&["--ae", "lstm"]).unwrap_err().contains("lstm"));
        assert!(
            parse(&["--ppo-preset", "fast"])
                .unwrap_err()
                .contains("fast")
        );
        assert!(
            parse(&["--policy-input", "pixels"])
                .unwrap_err()
                .contains("pixels")
        );
        let c = parse(&["--recall-target", "0"]).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("recall_target")
        );
        let c = parse(&["--benign-prior", "1"]).unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("benign_prior")
        );
        assert!(
            parse(&["--reward", "1,2"])
                .unwrap_err()
                .contains("four numbers")
        );
        assert!(
            parse(&["--reward", "a,b,c,d"])
                .unwrap_err()
                .contains("a,b,c,d")
        );
        assert!(
            parse(&["--split", "0.5,0.5"])
                .unwrap_err()
                .contains("three fractions")
        );
        assert!(parse(&["--ppo-steps", "many"]).is_err());
        let c = parse(&["--finetune-fraction", "1.5", "--shift-benign", "x"]).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("1.5"));
        let c = parse(&["--fpr-budget", "1"]).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("fpr_budget"));
    }

    #[test]
    fn reliability_flags_map_onto_the_config() {
        let c = parse(&[
            "--fill-missing",
            "-1",
            "--lenient",
            "--overwrite",
            "--test-data",
            "t.csv",
        ])
        .unwrap();
        assert_eq!(c.data.fill_missing, Some(-1.0));
        assert!(c.data.cleaning.lenient && c.overwrite);
        let c = parse(&[]).unwrap();
        assert_eq!(c.data.fill_missing, None);
        assert!(!c.data.cleaning.lenient && !c.overwrite);
        // Settings that used to be accepted silently.
        let err = parse(&["--ae", "ff,ff"]).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("ff appears twice"), "{err}");
        let err = parse(&["--categorical", "proto"])
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("needs --label-column"), "{err}");
        let err = parse(&["--n-envs", "1000", "--ppo-steps", "8192"])
            .unwrap()
            .validate()
            .unwrap_err();
        // One rollout of the tuned preset: 1,000 envs x 1,024 steps.
        assert!(err.to_string().contains("1024000"), "{err}");
    }
}
