//! `roc_auc` and `average_precision` on 10 million scores, where sorting
//! dominates. Also ROC AUC on scores with heavy ties (probabilities rounded
//! to `f32`), and the two distribution-shift statistics on 1 million values.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

const N: usize = 10_000_000;

/// 10% attacks; attack scores from N(1, 1), benign from N(0, 1), squashed
/// through a sigmoid like a detector's probability output.
fn scores(n: usize, seed: u64) -> (Vec<bool>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.0).expect("valid normal");
    let labels: Vec<bool> = (0..n).map(|_| rng.random_bool(0.1)).collect();
    let scores = labels
        .iter()
        .map(|&attack| {
            let z: f64 = normal.sample(&mut rng) + if attack { 1.0 } else { 0.0 };
            1.0 / (1.0 + (-z).exp())
        })
        .collect();
    (labels, scores)
}

fn bench_curves(c: &mut Criterion) {
    let (labels, scores) = scores(N, 7);
    let tied: Vec<f64> = scores.iter().map(|&s| f64::from(s as f32)).collect();
    let mut group = c.benchmark_group("10M scores");
    group.sample_size(10);
    group.bench_function("roc_auc", |b| {
        b.iter(|| metrics::roc_auc(black_box(&labels), black_box(&scores)).expect("valid input"))
    });
    group.bench_function("average_precision", |b| {
        b.iter(|| {
            metrics::average_precision(black_box(&labels), black_box(&scores)).expect("valid input")
        })
    });
    group.bench_function("roc_auc f32 ties", |b| {
        b.iter(|| metrics::roc_auc(black_box(&labels), black_box(&tied)).expect("valid input"))
    });
    group.finish();

    let a: Vec<f64> = scores[..1_000_000].to_vec();
    let b: Vec<f64> = scores[1_000_000..2_000_000]
        .iter()
        .map(|s| s * 1.1)
        .collect();
    let mut group = c.benchmark_group("1M vs 1M values");
    group.sample_size(10);
    group.bench_function("ks_statistic", |bench| {
        bench.iter(|| metrics::ks_statistic(black_box(&a), black_box(&b)).expect("valid input"))
    });
    group.bench_function("wasserstein_distance", |bench| {
        bench.iter(|| {
            metrics::wasserstein_distance(black_box(&a), black_box(&b)).expect("valid input")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_curves);
criterion_main!(benches);
