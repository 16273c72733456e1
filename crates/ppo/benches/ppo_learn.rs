//! Full PPO iterations (rollout + 10 epochs of updates) on CartPole and on a
//! flow-detection environment with 32-d latents, with the default
//! configuration, and single-observation / batched inference.
//!
//! `cargo bench -p ppo --bench ppo_learn [-- --quick]`; throughput is
//! reported in environment steps (learn) or observations (predict) per
//! second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use ppo::{Control, IterationRecord, Ppo, PpoConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rlenv::{CartPole, FlatEnv, FlowDetectionEnv, FlowEnvConfig, VecEnv};

fn no_callback(_: &IterationRecord) -> Control {
    Control::Continue
}

/// 32-d latents, 20% attacks shifted by 0.5 in every dimension (the peer
/// script's data, generated here with our own generator).
fn latents(rows: usize, seed: u64) -> (Array2<f32>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let labels: Vec<u8> = (0..rows)
        .map(|_| u8::from(rng.random::<f32>() < 0.2))
        .collect();
    let x = Array2::from_shape_fn((rows, 32), |(i, _)| {
        let z: f32 = rng.sample(rand_distr::StandardNormal);
        z + if labels[i] == 1 { 0.5 } else { 0.0 }
    });
    (x, labels)
}

fn bench_learn<E: FlatEnv>(c: &mut Criterion, name: &str, envs: Vec<E>, config: PpoConfig) {
    let mut env = VecEnv::new(envs).expect("valid environments");
    let mut model = Ppo::new(config.clone(), &env, 0).expect("valid configuration");
    let steps = config.rollout_size(env.num_envs()) as u64;
    let mut group = c.benchmark_group("learn");
    group.sample_size(10);
    group.throughput(Throughput::Elements(steps));
    group.bench_function(name, |b| {
        b.iter(|| {
            model
                .learn(&mut env, steps, &mut no_callback)
                .expect("training runs")
        })
    });
    group.finish();
}

fn learn(c: &mut Criterion) {
    let default = PpoConfig::default();
    bench_learn(
        c,
        "cartpole_1env_default",
        vec![CartPole::new()],
        default.clone(),
    );
    bench_learn(
        c,
        "cartpole_8env_default",
        (0..8).map(|_| CartPole::new()).collect(),
        default.clone(),
    );
    let serial = PpoConfig {
        parallel: false,
        ..default.clone()
    };
    bench_learn(
        c,
        "cartpole_1env_default_one_thread",
        vec![CartPole::new()],
        serial,
    );
    let (x, y) = latents(80_000, 0);
    let flow = |seed| {
        let config = FlowEnvConfig {
            episode_length: 1000,
            seed,
            ..FlowEnvConfig::default()
        };
        FlowDetectionEnv::new(x.clone(), y.clone(), config).expect("valid flow environment")
    };
    bench_learn(c, "flow32_1env_default", vec![flow(0)], default.clone());
    bench_learn(
        c,
        "flow32_8env_default",
        (0..8).map(flow).collect(),
        default,
    );
}

fn predict(c: &mut Criterion) {
    let env = VecEnv::new(vec![CartPole::new()]).expect("valid environment");
    let model = Ppo::new(PpoConfig::default(), &env, 0).expect("valid configuration");
    let one = Array2::from_shape_vec((1, 4), vec![0.01f32, -0.02, 0.03, 0.04]).expect("shape");
    let many = Array2::from_shape_fn((4096, 4), |(i, j)| ((i * 4 + j) as f32 * 0.01).sin());
    let mut group = c.benchmark_group("predict");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single_obs_deterministic", |b| {
        b.iter(|| {
            model
                .predict(black_box(one.view()), true)
                .expect("predicts")
        })
    });
    group.bench_function("single_obs_probabilities", |b| {
        b.iter(|| {
            model
                .action_probabilities(black_box(one.view()))
                .expect("predicts")
        })
    });
    group.throughput(Throughput::Elements(4096));
    group.bench_function("batch_4096_deterministic", |b| {
        b.iter(|| {
            model
                .predict(black_box(many.view()), true)
                .expect("predicts")
        })
    });
    group.finish();
}

criterion_group!(benches, learn, predict);
criterion_main!(benches);
