//! The command-line options of the pipeline, defined once for the `nids`
//! binary's `train` subcommand and the `cicids_pipeline` example, and
//! turned into a [`PipelineConfig`] in one place ([`TrainArgs::apply`]).
//!
//! Every option with a library default is an `Option`: unset, it leaves
//! the configuration's value alone. The PPO preset is applied first and the
//! single settings after it, so a flag left unset keeps the preset's value.
//! Help texts read the defaults from the code.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use autoencoders::{Backend, EarlyStopping, ErrorScoring, ModelKind, ThresholdMethod};
use clap::Args;
use detector::PolicyInput;
use rlenv::{RewardTable, Sampling};

use crate::Report;
use crate::config::{PipelineConfig, PpoPreset, PpoStageConfig, Timesteps};
use crate::error::{PipelineError, Result};

/// `text`, then the default as clap shows one.
fn with_default(text: &str, value: impl Display) -> String {
    format!("{text} [default: {value}]")
}

/// `text`, then the value of each preset.
fn with_presets<T: Display>(text: &str, value: impl Fn(&PpoStageConfig) -> T) -> String {
    let of = |p: PpoPreset| format!("{} {}", p.as_str(), value(&PpoStageConfig::preset(p)));
    format!(
        "{text} [default: {}; {}]",
        of(PpoPreset::Tuned),
        of(PpoPreset::Reference)
    )
}

/// Items joined by commas, as a list flag takes them.
fn listed<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The defaults every help text reads.
fn defaults() -> PipelineConfig {
    PipelineConfig::default()
}

/// A reward table from `tp,tn,fn,fp`.
fn parse_reward(text: &str) -> std::result::Result<RewardTable, String> {
    let v: Vec<f32> = text
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("{text:?}: {e}"))?;
    match v[..] {
        [tp, tn, fn_, fp] => Ok(RewardTable { tp, tn, fn_, fp }),
        _ => Err(format!(
            "{text:?}: expected four numbers tp,tn,fn,fp, got {}",
            v.len()
        )),
    }
}

/// How to read flows of another schema than CIC-IDS2017's: `nids train`,
/// `nids summary` and the `cicids_pipeline` example.
#[derive(Args, Debug, Clone, Default)]
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
#[derive(Args, Debug, Clone, Default)]
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
    fill_missing: Option<flowdata::FillValue>,
    /// Drop and count malformed rows (a bad number, a blank label, a
    /// ragged row) instead of stopping at the first.
    #[arg(long)]
    lenient: bool,
    #[arg(long, value_name = "N", help = with_default("Rows of the embedded default", defaults().data.synthetic.rows))]
    synthetic_rows: Option<usize>,
    #[arg(long, value_delimiter = ',', num_args = 1, value_name = "TRAIN,VALIDATION,TEST", help = {
        let s = defaults().data.split;
        with_default("Train/validation/test fractions", format!("{},{},{}", s.train, s.validation, s.test))
    })]
    split: Option<Vec<f64>>,
    #[arg(long, value_delimiter = ',', value_name = "KINDS", help = with_default("Autoencoders to train: ff, conv, deep (comma separated)", listed(&defaults().autoencoders.kinds)))]
    ae: Option<Vec<ModelKind>>,
    #[arg(long, value_name = "N", help = with_default("Maximum autoencoder epochs (early stopping on validation loss)", defaults().autoencoders.trainer.epochs))]
    ae_epochs: Option<usize>,
    #[arg(long, value_name = "N", help = with_default("Autoencoder minibatch size", defaults().autoencoders.trainer.batch_size))]
    ae_batch_size: Option<usize>,
    #[arg(long, value_name = "N", help = with_default("Rows per autoencoder epoch: with more benign training rows, each epoch trains on a fresh seeded sample of this many; 0 trains on every row each epoch", defaults().autoencoders.trainer.epoch_rows.unwrap_or(0)))]
    ae_epoch_rows: Option<usize>,
    #[arg(long, value_name = "N", help = with_default("The fewest rows an autoencoder epoch trains on (fewer benign rows are passed over several times)", defaults().autoencoders.trainer.min_epoch_rows))]
    ae_min_epoch_rows: Option<usize>,
    #[arg(long, value_name = "EPOCHS", help = with_default("Early-stopping patience of the autoencoders, in epochs", defaults().autoencoders.trainer.early_stopping.unwrap_or_default().patience))]
    ae_patience: Option<usize>,
    #[arg(long, value_name = "STD", help = with_default("Standard deviation of the Gaussian noise added to the dense autoencoders' inputs while training (denoising)", defaults().autoencoders.input_noise_std))]
    ae_noise: Option<f32>,
    #[arg(long, value_name = "SCORING", help = with_default("How a detector turns per-feature reconstruction errors into a score: standardised (each feature over its benign training mean) or mse (the plain mean squared error)", defaults().autoencoders.scoring.as_str()))]
    ae_scoring: Option<ErrorScoring>,
    #[arg(long, value_name = "BACKEND", help = with_default("What runs the autoencoders: dense (the CPU engine) or candle (the reference; a build with the `candle` feature)", defaults().autoencoders.backend))]
    ae_backend: Option<Backend>,
    /// Train the autoencoders on all training rows, not only benign ones.
    #[arg(long)]
    ae_all_rows: bool,
    #[arg(long, value_name = "PERCENTILE", help = with_default("Detector threshold: this percentile of benign validation errors", defaults().autoencoders.threshold.percentile().unwrap_or_default()))]
    threshold_percentile: Option<f64>,
    #[arg(long, value_name = "PRESET", help = with_default("PPO settings: `tuned` (this project's, chosen by ablation) or `reference` (the reference system's); applied first, the flags below override single settings", defaults().ppo.preset.as_str()))]
    ppo_preset: Option<PpoPreset>,
    #[arg(long, value_name = "STEPS", help = with_presets("PPO environment steps per candidate policy", |c| c.timesteps))]
    ppo_steps: Option<u64>,
    #[arg(long, value_name = "GAMMA", help = with_presets("PPO discount factor (each step's reward depends only on its own flow, so 0 is the bandit's choice)", |c| c.ppo.gamma))]
    ppo_gamma: Option<f32>,
    #[arg(long, value_name = "RATE", help = with_presets("PPO learning rate", |c| c.ppo.learning_rate))]
    ppo_lr: Option<f32>,
    #[arg(long, value_name = "COEF", help = with_presets("PPO entropy coefficient", |c| c.ppo.ent_coef))]
    ppo_ent_coef: Option<f32>,
    #[arg(long, value_delimiter = ',', value_name = "INPUTS", help = with_default("What the policies read (comma separated): latent, latent+error, latent+features; `latent` is always trained as the reference row", listed(&defaults().ppo.inputs)))]
    policy_input: Option<Vec<PolicyInput>>,
    #[arg(long, value_name = "N", help = with_default("Parallel environments", defaults().ppo.n_envs))]
    n_envs: Option<usize>,
    #[arg(long, value_name = "TP,TN,FN,FP", allow_hyphen_values = true, value_parser = parse_reward, help = {
        let r = defaults().ppo.rewards;
        with_default("Reward table as tp,tn,fn,fp", format!("{},{},{},{}", r.tp, r.tn, r.fn_, r.fp))
    })]
    reward: Option<RewardTable>,
    #[arg(long, value_name = "SAMPLING", help = with_presets("How the policy's training draws flows: `auto` (cost-balanced when benign flows are the minority of the training split, else shuffled), `cost-balanced` (each class as often as makes its expected regret under the reward table equal: with the default table, benign flows two times in three), `balanced` (benign and attack flows equally often), `shuffled` (at their shares in the training split) or `sequential` (in file order)", |c| c.sampling.as_str()))]
    sampling: Option<Sampling>,
    /// Shorthand for `--sampling balanced`.
    #[arg(long)]
    balanced: bool,
    #[arg(long, value_delimiter = ',', value_name = "P", help = with_default("P(malicious) thresholds of the evaluation table (comma separated)", listed(&defaults().ppo.thresholds)))]
    thresholds: Option<Vec<f64>>,
    #[arg(long, value_name = "SHARE", help = with_default("The headline false-alarm budget: the threshold that flags at most this share of the benign validation flows; candidates are selected by their validation recall at it", defaults().ppo.fpr_budget))]
    fpr_budget: Option<f64>,
    #[arg(long, value_delimiter = ',', value_name = "SHARES", help = with_default("Further false-alarm budgets reported as operating points (comma separated)", listed(&defaults().ppo.fpr_budgets)))]
    fpr_budgets: Option<Vec<f64>>,
    #[arg(long, value_name = "RECALL", help = with_default("The recall-target operating point: the highest threshold whose validation recall reaches it", defaults().ppo.recall_target))]
    recall_target: Option<f64>,
    #[arg(long, value_name = "SHARE", help = with_default("Share of benign flows in deployment, for the cost-optimal operating point and precision at that share", defaults().ppo.benign_prior))]
    benign_prior: Option<f64>,
    /// Remove this attack family (DDoS, DoS, PortScan, BruteForce,
    /// WebAttack, Bot, Infiltration, Heartbleed, Other) from the training
    /// and validation splits and report its test recall: would the
    /// detector catch a family it was never shown? Repeatable.
    #[arg(long)]
    unseen_family: Vec<String>,
    #[arg(long, value_name = "SHARE", help = with_default("The novelty detector's share of the headline false-alarm budget in the verdict (policy OR novelty)", defaults().verdict.novelty_budget))]
    novelty_budget: Option<f64>,
    /// Benign flows of another capture (repeatable): generalization check.
    #[arg(long)]
    shift_benign: Vec<PathBuf>,
    /// Adapt the detector to this share of each --shift-benign source as
    /// `nids adapt` does, and report the false-positive rates on the rest,
    /// before and after.
    #[arg(long)]
    finetune_fraction: Option<f64>,
    #[arg(long, value_name = "SEED", help = with_default("Seed of everything random", defaults().seed))]
    seed: Option<u64>,
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

/// Set `field` to the flag's value when it was given.
fn set<T>(field: &mut T, flag: Option<T>) {
    if let Some(v) = flag {
        *field = v;
    }
}

impl TrainArgs {
    /// Apply the options to `c`: the PPO preset first, then every option
    /// that was given; an option left unset keeps `c`'s value.
    pub fn apply(self, c: &mut PipelineConfig) -> Result<()> {
        if let Some(preset) = self.ppo_preset {
            c.ppo = PpoStageConfig::preset(preset);
        }
        if let Some(seed) = self.seed {
            c.set_seed(seed);
        }
        set(&mut c.out_dir, self.out);
        c.data.paths = self.data;
        c.data.label_column = self.schema.label_column;
        c.data.family_column = self.schema.family_column;
        c.data.categorical = self.schema.categorical;
        c.data.test_paths = self.test_data;
        c.data.fill_missing = self.fill_missing.or(c.data.fill_missing);
        c.data.cleaning.lenient |= self.lenient;
        c.overwrite |= self.overwrite;
        set(&mut c.data.synthetic.rows, self.synthetic_rows);
        if let Some(split) = self.split {
            let [train, validation, test] = split[..] else {
                return Err(PipelineError::config(
                    "split",
                    listed(&split),
                    "expected three fractions train,validation,test",
                ));
            };
            c.data.split = flowdata::SplitConfig {
                train,
                validation,
                test,
                ..c.data.split
            };
        }
        let ae = &mut c.autoencoders;
        set(&mut ae.kinds, self.ae);
        set(&mut ae.backend, self.ae_backend);
        set(&mut ae.trainer.epochs, self.ae_epochs);
        set(&mut ae.trainer.batch_size, self.ae_batch_size);
        if let Some(rows) = self.ae_epoch_rows {
            ae.trainer.epoch_rows = (rows > 0).then_some(rows);
        }
        set(&mut ae.trainer.min_epoch_rows, self.ae_min_epoch_rows);
        if let Some(patience) = self.ae_patience {
            ae.trainer.early_stopping = Some(EarlyStopping {
                patience,
                ..ae.trainer.early_stopping.unwrap_or_default()
            });
        }
        set(&mut ae.input_noise_std, self.ae_noise);
        set(&mut ae.scoring, self.ae_scoring);
        ae.trainer.benign_only &= !self.ae_all_rows;
        if let Some(p) = self.threshold_percentile {
            ae.threshold = ThresholdMethod::Percentile(p);
        }
        let p = &mut c.ppo;
        if let Some(steps) = self.ppo_steps {
            p.timesteps = Timesteps::Fixed(steps);
        }
        set(&mut p.ppo.gamma, self.ppo_gamma);
        set(&mut p.ppo.learning_rate, self.ppo_lr);
        set(&mut p.ppo.ent_coef, self.ppo_ent_coef);
        set(&mut p.inputs, self.policy_input);
        set(&mut p.n_envs, self.n_envs);
        set(&mut p.rewards, self.reward);
        set(&mut p.thresholds, self.thresholds);
        set(&mut p.fpr_budget, self.fpr_budget);
        set(&mut p.fpr_budgets, self.fpr_budgets);
        set(&mut p.recall_target, self.recall_target);
        set(&mut p.benign_prior, self.benign_prior);
        set(&mut p.sampling, self.sampling);
        if self.balanced {
            p.sampling = Sampling::Balanced;
        }
        c.data.unseen_families = self.unseen_family;
        c.data.save_splits |= self.save_splits;
        set(&mut c.verdict.novelty_budget, self.novelty_budget);
        c.generalization.shift_benign = self.shift_benign;
        c.generalization.finetune_fraction = self.finetune_fraction;
        c.plots &= !self.no_plots;
        c.progress &= !self.quiet;
        Ok(())
    }

    /// The pipeline settings of the options: the defaults with the
    /// options applied.
    pub fn into_config(self) -> Result<PipelineConfig> {
        let mut c = PipelineConfig::default();
        self.apply(&mut c)?;
        Ok(c)
    }
}

/// What a finished run tells the user on standard error: its data
/// warnings as warnings, its other notes as notes.
pub fn messages(report: &Report) -> Vec<String> {
    report
        .notes
        .iter()
        .map(|note| {
            if report.data.warnings.contains(note) {
                format!("warning: {note}")
            } else {
                format!("note: {note}")
            }
        })
        .collect()
}

/// Run the pipeline with parsed options: notes and warnings on stderr,
/// the summary table on stdout. `nids train` and the `cicids_pipeline`
/// example both run this.
pub fn train(args: TrainArgs) -> ExitCode {
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::run(&config) {
        Ok(report) => {
            for m in messages(&report) {
                eprintln!("{m}");
            }
            print!("{}", report.summary_table());
            println!(
                "selected autoencoder: {}; {:.1} s; report: {}; detector: {}",
                report.ppo.autoencoder,
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

    fn parse(args: &[&str]) -> std::result::Result<PipelineConfig, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("cicids_pipeline").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        cli.args.into_config().map_err(|e| e.to_string())
    }

    /// `c` without the output directory, which the default takes from the
    /// clock.
    fn settings(mut c: PipelineConfig) -> PipelineConfig {
        c.out_dir = PathBuf::new();
        c
    }

    #[test]
    fn no_flag_leaves_every_default_alone() {
        assert_eq!(
            settings(parse(&[]).unwrap()),
            settings(PipelineConfig::default())
        );
        assert!(parse(&[]).unwrap().out_dir.starts_with("runs"));
    }

    #[test]
    fn an_unset_flag_keeps_the_presets_value() {
        let reference = PpoStageConfig::preset(PpoPreset::Reference);
        let c = parse(&["--ppo-preset", "reference"]).unwrap();
        assert_eq!(c.ppo, reference);
        // One flag changes its setting only; the preset's others stay.
        let g = parse(&["--ppo-preset", "reference", "--ppo-gamma", "0"]).unwrap();
        assert_eq!(g.ppo.ppo.gamma, 0.0);
        assert_eq!(g.ppo.ppo.ent_coef, reference.ppo.ent_coef);
        assert_eq!(g.ppo.timesteps, reference.timesteps);
        assert_eq!(g.ppo.sampling, reference.sampling);
        // Flags apply after the preset, whatever their order on the line.
        let b = parse(&["--balanced", "--ppo-preset", "reference"]).unwrap();
        assert_eq!(b.ppo.sampling, Sampling::Balanced);
        let s = parse(&["--ppo-steps", "9000", "--ppo-preset", "reference"]).unwrap();
        assert_eq!(s.ppo.timesteps, Timesteps::Fixed(9000));
    }

    #[test]
    fn flags_map_onto_the_config() {
        let c = parse(&[
            "--ae-epoch-rows",
            "0",
            "--ae-epochs",
            "7",
            "--ae-patience",
            "2",
        ])
        .unwrap();
        let t = &c.autoencoders.trainer;
        assert_eq!((t.epoch_rows, t.epochs), (None, 7));
        assert_eq!(t.early_stopping.unwrap().patience, 2);
        assert_eq!(
            t.early_stopping.unwrap().min_rel_delta,
            EarlyStopping::default().min_rel_delta
        );
        let c = parse(&["--ae-epoch-rows", "5000"]).unwrap();
        assert_eq!(c.autoencoders.trainer.epoch_rows, Some(5000));
        let c = parse(&["--ae-all-rows", "--quiet", "--no-plots"]).unwrap();
        assert!(!c.autoencoders.trainer.benign_only && !c.progress && !c.plots);
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
            "--seed",
            "5",
            "--split",
            "0.6,0.2,0.2",
        ])
        .unwrap();
        assert_eq!(
            c.autoencoders.kinds,
            vec![ModelKind::FeedForward, ModelKind::Deep]
        );
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
        assert_eq!(c.ppo.timesteps, Timesteps::Fixed(9000));
        assert_eq!(c.data.family_column.as_deref(), Some("attack_cat"));
        assert_eq!(
            (c.seed, c.data.synthetic.seed, c.data.split.seed),
            (5, 5, 5)
        );
        assert_eq!(c.data.split.train, 0.6);
        assert!(c.validate().is_ok());
        for (flag, sampling) in [
            ("shuffled", Sampling::Shuffled),
            ("balanced", Sampling::Balanced),
            ("cost-balanced", Sampling::CostBalanced),
        ] {
            assert_eq!(parse(&["--sampling", flag]).unwrap().ppo.sampling, sampling);
        }
        let r = parse(&["--ppo-preset", "reference", "--policy-input", "latent"]).unwrap();
        assert_eq!(r.ppo.inputs, vec![PolicyInput::Latent]);
    }

    #[test]
    fn help_texts_read_the_defaults_from_the_code() {
        use clap::CommandFactory;
        let help = Cli::command().render_help().to_string();
        let d = PipelineConfig::default();
        for shown in [
            format!("[default: {}]", d.data.synthetic.rows),
            format!("[default: {}]", d.autoencoders.trainer.epochs),
            format!("[default: {}]", d.verdict.novelty_budget),
            format!("[default: {}]", listed(&d.ppo.inputs)),
            format!(
                "[default: tuned {}; reference {}]",
                PpoStageConfig::preset(PpoPreset::Tuned).timesteps,
                PpoStageConfig::preset(PpoPreset::Reference).timesteps
            ),
        ] {
            assert!(help.contains(&shown), "{shown} not in\n{help}");
        }
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
        assert!(
            parse(&["--sampling", "random"])
                .unwrap_err()
                .contains("random")
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
        for (args, named) in [
            (&["--recall-target", "0"][..], "recall_target"),
            (&["--benign-prior", "1"][..], "benign_prior"),
            (&["--fpr-budget", "1"][..], "fpr_budget"),
            (
                &["--finetune-fraction", "1.5", "--shift-benign", "x"][..],
                "1.5",
            ),
            (&["--ae", "ff,ff"][..], "ff appears twice"),
            (&["--categorical", "proto"][..], "needs --label-column"),
            // One rollout of the tuned preset: 1,000 envs x 1,024 steps.
            (&["--n-envs", "1000", "--ppo-steps", "8192"][..], "1024000"),
        ] {
            let err = parse(args).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(named), "{args:?}: {err}");
        }
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
        assert_eq!(c.data.fill_missing.map(f32::from), Some(-1.0));
        assert!(c.data.cleaning.lenient && c.overwrite);
        let c = parse(&[]).unwrap();
        assert_eq!(c.data.fill_missing, None);
        assert!(!c.data.cleaning.lenient && !c.overwrite);
    }
}
