//! The `dense` engine against the candle reference: both backends build
//! each model from the same layer specification, so from the same weights
//! they must give the same outputs, from the same initial weights, data
//! order and dropout/noise draws the same training losses, and a model
//! saved on one must score the same on the other.

use autoencoders::{
    Activation, Autoencoder, Backend, Conv1dConfig, DenseConfig, EmbeddingConfig, Model,
    ModelConfig, ModelKind, Trainer, TrainerConfig,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Small models with every layer switched on: dropout, input noise, an
/// embedding, padding and cropping, and every activation.
fn small_models() -> Vec<(ModelConfig, usize)> {
    vec![
        (
            ModelConfig::FeedForward(DenseConfig {
                hidden: vec![16, 8],
                latent_dim: 4,
                activation: Activation::Tanh,
                output_activation: Activation::Sigmoid,
                dropout: 0.2,
                ..DenseConfig::feedforward()
            }),
            9,
        ),
        (
            ModelConfig::Conv1d(Conv1dConfig {
                channels: vec![6, 4],
                latent_dim: 5,
                ..Conv1dConfig::default()
            }),
            11,
        ),
        (
            ModelConfig::Deep(DenseConfig {
                hidden: vec![20, 12, 8],
                latent_dim: 4,
                dropout: 0.15,
                input_noise_std: 0.05,
                embedding: Some(EmbeddingConfig {
                    column: 1,
                    cardinality: 7,
                    dim: 3,
                }),
                ..DenseConfig::deep()
            }),
            8,
        ),
    ]
}

/// Rows in `[0, 1)` with structure, and valid categories in an embedded
/// column.
fn data(model: &Model, rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = model.n_features();
    let mut x = Array2::from_shape_fn((rows, n), |(i, j)| {
        ((i * 7 + j * 3) % 11) as f32 / 11.0 * 0.5 + rng.random_range(0.0..0.5)
    });
    if let Some((column, cardinality)) = model.categorical_column() {
        for (i, v) in x.column_mut(column).iter_mut().enumerate() {
            *v = (i % cardinality) as f32;
        }
    }
    x
}

fn assert_close(a: &Array2<f32>, b: &Array2<f32>, tol: f32, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{what}: {x} vs {y}");
    }
}

fn assert_same_scores(a: &Model, b: &Model, x: &Array2<f32>, what: &str) {
    let ea = a.reconstruction_errors(x.view()).unwrap();
    let eb = b.reconstruction_errors(x.view()).unwrap();
    for (p, q) in ea.iter().zip(&eb) {
        assert!(
            (p - q).abs() <= 1e-5 * (1.0 + p.abs()),
            "{what}: {p} vs {q}"
        );
    }
}

#[test]
fn both_backends_give_the_same_outputs() {
    let mut models = small_models();
    models.extend(ModelKind::ALL.map(|k| (ModelConfig::default_for(k), 77)));
    for (cfg, n) in models {
        let dense = Model::new(&cfg, n, 5).unwrap();
        let candle = dense.clone().with_backend(Backend::Candle);
        assert_eq!(candle.backend(), Backend::Candle);
        // More rows than one evaluation chunk, so chunking is exercised.
        let x = data(&dense, 1100, 1);
        let what = format!("{cfg:?}");
        let z = dense.encode_batch(x.view()).unwrap();
        assert_close(&z, &candle.encode_batch(x.view()).unwrap(), 1e-5, &what);
        let y = dense.decode_batch(z.view()).unwrap();
        assert_close(&y, &candle.decode_batch(z.view()).unwrap(), 1e-5, &what);
        let r = dense.reconstruct_batch(x.view()).unwrap();
        assert_close(
            &r,
            &candle.reconstruct_batch(x.view()).unwrap(),
            1e-5,
            &what,
        );
        assert_same_scores(&dense, &candle, &x, &what);
    }
}

fn trainer(threads: usize) -> Trainer {
    Trainer::new(TrainerConfig {
        epochs: 4,
        batch_size: 48,
        learning_rate: 3e-3,
        early_stopping: None,
        grad_clip_norm: Some(1.0),
        weight_decay: 1e-3,
        threads,
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap()
}

#[test]
fn both_backends_train_to_the_same_losses() {
    for (cfg, n) in small_models() {
        let mut dense = Model::new(&cfg, n, 11).unwrap();
        let mut candle = dense.clone().with_backend(Backend::Candle);
        let x = data(&dense, 300, 2);
        let val = data(&dense, 60, 3);
        let hd = trainer(1)
            .fit(&mut dense, x.view(), val.view(), &mut |_| {})
            .unwrap();
        let hc = trainer(1)
            .fit(&mut candle, x.view(), val.view(), &mut |_| {})
            .unwrap();
        assert_eq!(hd.epochs.len(), 4);
        for (d, c) in hd.epochs.iter().zip(&hc.epochs) {
            assert!(
                (d.train_loss - c.train_loss).abs() < 1e-4,
                "{cfg:?} epoch {}: train {} vs {}",
                d.epoch,
                d.train_loss,
                c.train_loss
            );
            assert!(
                (d.val_loss - c.val_loss).abs() < 1e-4,
                "{cfg:?} epoch {}: validation {} vs {}",
                d.epoch,
                d.val_loss,
                c.val_loss
            );
        }
        // Training moved the weights: the losses fell.
        assert!(hd.epochs[3].train_loss < hd.epochs[0].train_loss, "{hd:?}");
    }
}

#[test]
fn two_threads_train_like_one() {
    for (cfg, n) in small_models() {
        let mut one = Model::new(&cfg, n, 4).unwrap();
        let mut two = one.clone();
        let x = data(&one, 300, 5);
        let val = data(&one, 40, 6);
        let h1 = trainer(1)
            .fit(&mut one, x.view(), val.view(), &mut |_| {})
            .unwrap();
        let h2 = trainer(2)
            .fit(&mut two, x.view(), val.view(), &mut |_| {})
            .unwrap();
        let again = trainer(2)
            .fit(
                &mut Model::new(&cfg, n, 4).unwrap(),
                x.view(),
                val.view(),
                &mut |_| {},
            )
            .unwrap();
        assert_eq!(h2.train_losses(), again.train_losses(), "{cfg:?}");
        for (a, b) in h1.epochs.iter().zip(&h2.epochs) {
            assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{cfg:?}");
        }
    }
}

#[test]
fn a_model_saved_on_one_backend_scores_the_same_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (cfg, n)) in small_models().into_iter().enumerate() {
        for backend in [Backend::Dense, Backend::Candle] {
            let mut model = Model::new(&cfg, n, 8).unwrap().with_backend(backend);
            let x = data(&model, 200, 9);
            trainer(1)
                .fit_split(&mut model, x.view(), &mut |_| {})
                .unwrap();
            let path = dir.path().join(format!("{i}-{backend}"));
            model.save(&path).unwrap();
            let loaded = Model::load(&path).unwrap();
            assert_eq!(loaded.backend(), Backend::Dense);
            let other = match backend {
                Backend::Dense => loaded.with_backend(Backend::Candle),
                Backend::Candle => loaded,
            };
            assert_ne!(other.backend(), model.backend());
            assert_same_scores(&model, &other, &x, &format!("{cfg:?} saved on {backend}"));
        }
    }
}
