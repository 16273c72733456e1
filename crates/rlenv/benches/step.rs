//! Steps per second of FlowDetectionEnv, a VecEnv of 16 of them, and CartPole.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rlenv::{CartPole, FlatEnv, FlowDataset, FlowDetectionEnv, FlowEnvConfig, Sampling, VecEnv};

/// Steps per measured iteration.
const STEPS: usize = 10_000;

/// 100,000 flows with 32-dimensional latents, one attack in five.
fn dataset() -> Arc<FlowDataset> {
    let mut rng = StdRng::seed_from_u64(0);
    let latents = Array2::from_shape_fn((100_000, 32), |_| rng.random::<f32>());
    let labels = (0..100_000)
        .map(|_| u8::from(rng.random_bool(0.2)))
        .collect();
    Arc::new(FlowDataset::new(latents, labels).unwrap())
}

fn flow_env(data: &Arc<FlowDataset>, sampling: Sampling, seed: u64) -> FlowDetectionEnv {
    let config = FlowEnvConfig {
        sampling,
        seed,
        ..Default::default()
    };
    FlowDetectionEnv::from_dataset(data.clone(), config).unwrap()
}

fn single<E: FlatEnv>(c: &mut Criterion, name: &str, mut env: E) {
    let mut obs = vec![0.0; env.obs_dim()];
    env.reset_into(Some(0), &mut obs);
    let mut group = c.benchmark_group("single_env");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut total = 0.0;
            for t in 0..STEPS {
                let out = env.step_into(t & 1, &mut obs);
                total += out.reward;
                if out.terminated || out.truncated {
                    env.reset_into(None, &mut obs);
                }
            }
            black_box((total, &obs));
        })
    });
    group.finish();
}

fn bench_single(c: &mut Criterion) {
    let data = dataset();
    for (name, sampling) in [
        ("flow_shuffled", Sampling::Shuffled),
        ("flow_sequential", Sampling::Sequential),
        ("flow_balanced", Sampling::Balanced),
    ] {
        single(c, name, flow_env(&data, sampling, 0));
    }
    single(c, "cartpole", CartPole::new());
}

fn bench_vec(c: &mut Criterion) {
    const N: usize = 16;
    const ITERS: usize = STEPS / N;
    // One shared data set, sixteen samplers.
    let data = dataset();
    let envs = (0..N as u64)
        .map(|i| flow_env(&data, Sampling::Shuffled, i))
        .collect();
    let mut venv = VecEnv::new(envs).unwrap();
    venv.reset(Some(0));
    let actions: Vec<usize> = (0..N).map(|i| i & 1).collect();
    let mut group = c.benchmark_group("vec_env_16");
    // Counted in single-environment steps.
    group.throughput(Throughput::Elements((ITERS * N) as u64));
    group.bench_function("flow_shuffled", |b| {
        b.iter(|| {
            let mut total = 0.0;
            for _ in 0..ITERS {
                let step = venv.step(&actions).unwrap();
                total += step.rewards[0];
            }
            black_box(total);
        })
    });
    group.finish();
}

criterion_group!(benches, bench_single, bench_vec);
criterion_main!(benches);
