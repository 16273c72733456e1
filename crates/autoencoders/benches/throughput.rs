//! Training and encoding throughput of the three models at 77 features.
//!
//! Training: one epoch of the real trainer (shuffling, minibatches of 256,
//! forward, backward, Adam) over 8,192 rows, on one thread and, for the
//! convolutional model, also on two; encoding: `encode_batch` on 4,096
//! rows. Throughput is reported in rows (samples) per second.

use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind, Trainer, TrainerConfig};
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

fn bench(c: &mut Criterion) {
    let train = data(TRAIN_ROWS, 1);
    let val = data(256, 2);
    let encode = data(ENCODE_ROWS, 3);
    for kind in [ModelKind::FeedForward, ModelKind::Conv1d, ModelKind::Deep] {
        let cfg = ModelConfig::default_for(kind);
        let mut group = c.benchmark_group(format!("{kind}"));
        group.sample_size(10);

        let mut model = Model::new(&cfg, FEATURES, 0).unwrap();
        // The convolutional model's hand-written step also runs on two
        // threads, sharing each minibatch's slices.
        let threads: &[usize] = if kind == ModelKind::Conv1d {
            &[1, 2]
        } else {
            &[1]
        };
        for &threads in threads {
            let trainer = Trainer::new(TrainerConfig {
                epochs: 1,
                batch_size: 256,
                early_stopping: None,
                reduce_lr: None,
                threads,
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
        group.finish();
    }
}

criterion_group!(benches, bench);

fn main() {
    // The thread settings a program using the models should apply.
    for (key, value) in autoencoders::recommended_thread_env() {
        // SAFETY: at the top of `main`, before any other thread exists.
        unsafe { std::env::set_var(key, value) };
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
