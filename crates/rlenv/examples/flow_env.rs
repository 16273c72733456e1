//! Scores three fixed policies on a synthetic flow-detection task.
//!
//! Run with `cargo run -p rlenv --example flow_env`.

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rlenv::{EpisodeStatistics, FlatEnv, FlowDetectionEnv, FlowEnvConfig, RlEnvError, Sampling};

/// A fixed policy: observation to action.
type Policy = fn(&[f32]) -> usize;

fn main() -> Result<(), RlEnvError> {
    // 20,000 flows with 4-dimensional latents; attacks (one in five) have a
    // larger first component.
    let mut rng = StdRng::seed_from_u64(0);
    let labels: Vec<u8> = (0..20_000)
        .map(|_| u8::from(rng.random_bool(0.2)))
        .collect();
    let latents = Array2::from_shape_fn((20_000, 4), |(i, j)| {
        let shift = if j == 0 && labels[i] == 1 { 2.0 } else { 0.0 };
        shift + rng.random::<f32>()
    });
    let policies: [(&str, Policy); 3] = [
        ("always benign", |_| 0),
        ("always malicious", |_| 1),
        ("threshold on the first component", |obs| {
            usize::from(obs[0] > 1.5)
        }),
    ];
    for sampling in [Sampling::Shuffled, Sampling::Balanced] {
        let config = FlowEnvConfig {
            sampling,
            ..Default::default()
        };
        for (name, policy) in policies {
            let env = FlowDetectionEnv::new(latents.clone(), labels.clone(), config)?;
            let mut env = EpisodeStatistics::new(env);
            let mut obs = vec![0.0; env.obs_dim()];
            env.reset_into(Some(1), &mut obs);
            while env.episode_count() < 5 {
                if env.step_into(policy(&obs), &mut obs).done() {
                    env.reset_into(None, &mut obs);
                }
            }
            println!(
                "{sampling:?} sampling, {name}: mean return {:.0} over 5 episodes of {} steps (best possible 6000)",
                env.mean_return().unwrap_or(f64::NAN),
                config.episode_length
            );
        }
    }
    Ok(())
}
