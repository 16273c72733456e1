//! PPO on CartPole-v1: trains one model per seed for 200,000 steps and
//! prints the learning curve (mean return of the last 20 episodes).
//!
//! ```text
//! cargo run --release -p ppo --example ppo_cartpole [-- --seeds 1,2,3 --timesteps 200000 --save DIR]
//! ```
//!
//! `--save DIR` also writes the first seed's model to `DIR` together with
//! `probe.json` (observations and the action probabilities the model gives
//! them), which `tests/fixtures/check_policy_safetensors.py` reads.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;

use ppo::{Callback, Control, IterationRecord, LrSchedule, Ppo, PpoConfig};
use rlenv::{CartPole, EpisodeRecord, VecEnv};

/// Episodes averaged for the curve and the final figure.
const WINDOW: usize = 20;
/// CartPole-v1 counts as solved at a mean return of 475 over the window.
const SOLVED: f64 = 475.0;
/// Environments stepped together.
const N_ENVS: usize = 8;

struct Curve {
    last: VecDeque<f64>,
    first_solved: Option<u64>,
    timesteps: u64,
}

impl Curve {
    fn mean(&self) -> Option<f64> {
        (!self.last.is_empty()).then(|| self.last.iter().sum::<f64>() / self.last.len() as f64)
    }
}

impl Callback for Curve {
    fn on_episode(&mut self, episode: &EpisodeRecord) {
        if self.last.len() == WINDOW {
            self.last.pop_front();
        }
        self.last.push_back(episode.episode_return);
    }

    fn on_iteration(&mut self, record: &IterationRecord, _model: &Ppo) -> ppo::Result<Control> {
        self.timesteps = record.timesteps;
        let mean = self.mean();
        if self.first_solved.is_none() && self.last.len() == WINDOW && mean >= Some(SOLVED) {
            self.first_solved = Some(record.timesteps);
        }
        if record.iteration.is_multiple_of(4) {
            println!(
                "  {:>7} steps  last-{WINDOW} mean {:>6.1}  entropy {:.3}  approx_kl {:.4}  clip {:.3}  ev {:>6.3}  {:>6.0} steps/s",
                record.timesteps,
                mean.unwrap_or(f64::NAN),
                record.entropy,
                record.approx_kl,
                record.clip_fraction,
                record.explained_variance.unwrap_or(f32::NAN),
                record.steps_per_second,
            );
        }
        Ok(Control::Continue)
    }
}

/// The configuration used here: stable-baselines3's defaults with 8
/// environments of 256 steps (a rollout of 2,048, as the default), a
/// linearly annealed learning rate and `gae_lambda` 0.8, gamma 0.98.
fn config() -> PpoConfig {
    PpoConfig {
        n_steps: 256,
        batch_size: 64,
        n_epochs: 10,
        gamma: 0.98,
        gae_lambda: 0.8,
        learning_rate: 1e-3,
        lr_schedule: LrSchedule::Linear,
        ..PpoConfig::default()
    }
}

fn main() -> ExitCode {
    let mut seeds = vec![1u64, 2, 3];
    let mut timesteps = 200_000u64;
    let mut save: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--seeds", Some(v)) => {
                seeds = v.split(',').filter_map(|s| s.trim().parse().ok()).collect()
            }
            ("--timesteps", Some(v)) => timesteps = v.parse().unwrap_or(timesteps),
            ("--save", Some(v)) => save = Some(v.into()),
            _ => {
                eprintln!("usage: ppo_cartpole [--seeds 1,2,3] [--timesteps 200000] [--save DIR]");
                return ExitCode::FAILURE;
            }
        }
    }
    let config = config();
    // Whole rollouts only, so that training never exceeds the budget.
    let rollout = config.rollout_size(N_ENVS) as u64;
    let timesteps = timesteps - timesteps % rollout;
    println!(
        "config: {}",
        serde_json::to_string(&config).unwrap_or_default()
    );
    println!("{N_ENVS} environments, {timesteps} steps per seed");
    let mut all_solved = true;
    for (k, &seed) in seeds.iter().enumerate() {
        println!("seed {seed}:");
        let run = || -> ppo::Result<(Ppo, Curve)> {
            let mut env = VecEnv::new((0..N_ENVS).map(|_| CartPole::new()).collect())?;
            let mut model = Ppo::new(config.clone(), &env, seed)?;
            let mut curve = Curve {
                last: VecDeque::new(),
                first_solved: None,
                timesteps: 0,
            };
            model.learn(&mut env, timesteps, &mut curve)?;
            Ok((model, curve))
        };
        let (model, curve) = match run() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("seed {seed}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mean = curve.mean().unwrap_or(f64::NAN);
        let solved = mean >= SOLVED;
        all_solved &= solved;
        println!(
            "seed {seed}: {} steps, mean return of the last {WINDOW} episodes {mean:.1} ({}); first reached {SOLVED} at {}",
            curve.timesteps,
            if solved { "solved" } else { "NOT solved" },
            curve
                .first_solved
                .map_or("never".to_string(), |t| format!("{t} steps")),
        );
        if let (0, Some(dir)) = (k, &save) {
            if let Err(e) = save_with_probe(&model, dir) {
                eprintln!("saving to {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            println!("saved seed {seed}'s model to {}", dir.display());
        }
    }
    if all_solved {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Saves the model and `probe.json`: a few observations with the action
/// probabilities and values the model gives them.
fn save_with_probe(model: &Ppo, dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    model.save(dir)?;
    let obs =
        ndarray::Array2::from_shape_fn((5, 4), |(i, j)| ((i * 4 + j) as f32 * 0.37).sin() * 0.2);
    let probs = model.action_probabilities(obs.view())?;
    let values = model.predict_values(obs.view())?;
    let probe = serde_json::json!({
        "observations": obs.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "probabilities": probs.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "values": values.to_vec(),
    });
    std::fs::write(
        dir.join("probe.json"),
        serde_json::to_string_pretty(&probe)?,
    )?;
    Ok(())
}
