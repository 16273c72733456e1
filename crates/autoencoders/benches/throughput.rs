//! Training and encoding throughput of the three models at 77 features.
//!
//! Training: one epoch of the real trainer (shuffling, minibatches of 256,
//! forward, backward, Adam) over 8,192 rows, on one thread and on two;
//! encoding: `encode_batch` on 4,096 rows. Throughput is reported in rows
//! (samples) per second. The `gemm` group measures the machine's
//! single-precision matrix-product rate on one thread (`dense::matmul`,
//! 512 x 512 x 512; throughput in floating-point operations per second),
//! the yardstick for the models' achieved GFLOP/s.

use autoencoders::{Autoencoder, Backend, Model, ModelConfig, ModelKind, Trainer, TrainerConfig};
use criterion::{Criterion, Throughput, criterion_group};
use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};

const FEATURES: usize = 77;
const TRAIN_ROWS: usize = 8192;
const ENCODE_ROWS: usize = 4096;

fn data(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, FEATURES), || rng.random_range(0.0..1.0))
}

fn gemm(c: &mut Criterion) {
    const N: usize = 512;
    let a: Vec<f32> = (0..N * N).map(|i| (i % 97) as f32 / 97.0).collect();
    let b: Vec<f32> = (0..N * N).map(|i| (i % 89) as f32 / 89.0).collect();
    let mut out = vec![0.0f32; N * N];
    let mut group = c.benchmark_group("gemm");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * (N * N * N) as u64));
    group.bench_function("sgemm_512", |bench| {
        bench.iter(|| {
            dense::matmul(
                1.0,
                dense::MatRef::row_major(&a, N, N),
                dense::MatRef::row_major(&b, N, N),
                0.0,
                &mut out,
            )
            .unwrap()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let train = data(TRAIN_ROWS, 1);
    let val = data(256, 2);
    let encode = data(ENCODE_ROWS, 3);
    for kind in [ModelKind::FeedForward, ModelKind::Conv1d, ModelKind::Deep] {
        let cfg = ModelConfig::default_for(kind);
        let mut group = c.benchmark_group(format!("{kind}"));
        group.sample_size(10);

        let mut model = Model::new(&cfg, FEATURES, 0).unwrap();
        // Two threads share each minibatch's slices.
        for threads in [1, 2] {
            let trainer = Trainer::new(TrainerConfig {
                epochs: 1,
                batch_size: 256,
                early_stopping: None,
                reduce_lr: None,
                threads,
                min_epoch_rows: 0,
                ..TrainerConfig::default()
            })
            .unwrap();
            let name = match threads {
                1 => "train_epoch_batch256".to_string(),
                t => format!("train_epoch_batch256_threads{t}"),
            };
            group.throughput(Throughput::Elements(TRAIN_ROWS as u64));
            group.bench_function(name, |b| {
                b.iter(|| {
                    trainer
                        .fit(&mut model, train.view(), val.view(), &mut |_| {})
                        .unwrap()
                })
            });
        }

        group.throughput(Throughput::Elements(ENCODE_ROWS as u64));
        group.bench_function("encode_batch4096", |b| {
            b.iter(|| model.encode_batch(encode.view()).unwrap())
        });
        // The candle reference, for comparison.
        let reference = model.clone().with_backend(Backend::Candle);
        group.bench_function("encode_batch4096_candle", |b| {
            b.iter(|| reference.encode_batch(encode.view()).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, gemm, bench);

fn main() {
    // The thread settings a program using the models should apply.
    for (key, value) in autoencoders::recommended_thread_env() {
        // SAFETY: at the top of `main`, before any other thread exists.
        unsafe { std::env::set_var(key, value) };
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
