//! The `dense` engine paths against candle: the batch helpers of the
//! feedforward and deep models (engine) against their tensor methods
//! (candle), before and after the weights change; and the convolutional
//! model's hand-written training step against candle's autograd, through
//! the whole trainer.

use autoencoders::candle::{Device, Tensor};
use autoencoders::{
    Activation, Autoencoder, AutoencoderError, Conv1d, Conv1dConfig, Deep, DeepConfig,
    EarlyStopping, EmbeddingConfig, FeedForward, FeedForwardConfig, Model, ModelConfig, ModelKind,
    ModelMetadata, OptimizerKind, Parameters, Result, Trainer, TrainerConfig, TrainingHistory,
};
use ndarray::{Array2, ArrayView2, s};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-0.5..1.5))
}

fn tensor(x: ArrayView2<'_, f32>) -> Tensor {
    let v: Vec<f32> = x.iter().copied().collect();
    Tensor::from_vec(v, x.dim(), &Device::Cpu).unwrap()
}

fn array(t: &Tensor) -> Array2<f32> {
    let (r, c) = t.dims2().unwrap();
    Array2::from_shape_vec((r, c), t.flatten_all().unwrap().to_vec1().unwrap()).unwrap()
}

fn assert_close(a: &Array2<f32>, b: &Array2<f32>, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for ((idx, x), y) in a.indexed_iter().zip(b.iter()) {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what} {idx:?}: engine {x} vs candle {y}"
        );
    }
}

/// Every batch helper of `model` (engine) against its tensor methods
/// (candle), on `x` and latent codes `z`.
fn engine_matches_candle(model: &dyn Autoencoder, x: ArrayView2<'_, f32>, what: &str) {
    let t = tensor(x);
    let enc = array(&model.encode(&t).unwrap());
    assert_close(&model.encode_batch(x).unwrap(), &enc, what);
    let recon = array(&model.reconstruct(&t).unwrap());
    assert_close(&model.reconstruct_batch(x).unwrap(), &recon, what);
    let z = enc.mapv(|v| v * 0.7 - 0.1);
    let dec = array(&model.decode(&tensor(z.view())).unwrap());
    assert_close(&model.decode_batch(z.view()).unwrap(), &dec, what);
    let target = array(&model.target(&t).unwrap());
    let errors = model.reconstruction_errors(x).unwrap();
    assert_eq!(errors.len(), x.nrows());
    for (i, e) in errors.iter().enumerate() {
        let row = &recon.row(i) - &target.row(i);
        let expected = row.mapv(|v| v * v).mean().unwrap();
        assert!(
            (e - expected).abs() <= 1e-5 * (1.0 + expected),
            "{what} row {i}: {e} vs {expected}"
        );
    }
}

fn ff(activation: Activation, latent: Activation, output: Activation) -> FeedForwardConfig {
    FeedForwardConfig {
        hidden: vec![24, 12],
        latent_dim: 5,
        activation,
        latent_activation: latent,
        output_activation: output,
        dropout: 0.2,
    }
}

#[test]
fn feedforward_and_deep_batch_helpers_match_candle() {
    use Activation::{Linear, Relu, Sigmoid, Tanh};
    // 700 rows: several engine chunks and a partial one.
    let x = data(700, 11, 1);
    for cfg in [
        FeedForwardConfig::default(),
        ff(Tanh, Sigmoid, Linear),
        ff(Sigmoid, Relu, Sigmoid),
        ff(Relu, Tanh, Tanh),
    ] {
        let model = FeedForward::new(11, cfg.clone(), 3).unwrap();
        engine_matches_candle(&model, x.view(), &format!("{cfg:?}"));
    }
    let deep = Deep::new(11, DeepConfig::default(), 4).unwrap();
    engine_matches_candle(&deep, x.view(), "deep");
    // A column-major view takes the same path.
    let xt = x.t().to_owned();
    engine_matches_candle(&deep, xt.t(), "deep, column-major input");
    // With an embedded categorical column.
    let emb = Deep::new(
        11,
        DeepConfig {
            embedding: Some(EmbeddingConfig {
                column: 3,
                cardinality: 50,
                dim: 4,
            }),
            output_activation: Activation::Sigmoid,
            ..DeepConfig::default()
        },
        5,
    )
    .unwrap();
    let mut xc = x.clone();
    for (i, v) in xc.column_mut(3).iter_mut().enumerate() {
        *v = ((i * 7) % 50) as f32;
    }
    engine_matches_candle(&emb, xc.view(), "deep with embedding");
    // Empty batches.
    let empty = Array2::<f32>::zeros((0, 11));
    assert_eq!(deep.encode_batch(empty.view()).unwrap().dim(), (0, 32));
    assert!(deep.reconstruction_errors(empty.view()).unwrap().is_empty());
}

#[test]
fn engine_weights_follow_training_restoring_and_loading() {
    let x = data(300, 9, 2);
    let val = data(60, 9, 3);
    for cfg in [
        ModelConfig::default_for(ModelKind::FeedForward),
        ModelConfig::default_for(ModelKind::Deep),
    ] {
        let mut model = Model::new(&cfg, 9, 6).unwrap();
        let before = model.encode_batch(x.view()).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 6,
            batch_size: 50,
            learning_rate: 0.05,
            // Early stopping puts back earlier weights at the end.
            early_stopping: Some(EarlyStopping {
                patience: 1,
                min_delta: 0.0,
            }),
            ..TrainerConfig::default()
        })
        .unwrap();
        trainer
            .fit(&mut model, x.view(), val.view(), &mut |_| {})
            .unwrap();
        assert_ne!(model.encode_batch(x.view()).unwrap(), before);
        engine_matches_candle(&model, x.view(), "after training");

        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path(), &ModelMetadata::default()).unwrap();
        let (loaded, _) = Model::load(dir.path()).unwrap();
        engine_matches_candle(&loaded, x.view(), "after loading");
        assert_eq!(
            loaded.encode_batch(x.view()).unwrap(),
            model.encode_batch(x.view()).unwrap()
        );
    }
}

/// A convolutional model that hides its hand-written training step, so
/// that the trainer runs candle's autograd on it.
struct CandleOnly(Conv1d);

impl Autoencoder for CandleOnly {
    fn kind(&self) -> ModelKind {
        self.0.kind()
    }
    fn config(&self) -> ModelConfig {
        self.0.config()
    }
    fn n_features(&self) -> usize {
        self.0.n_features()
    }
    fn latent_dim(&self) -> usize {
        self.0.latent_dim()
    }
    fn parameters(&self) -> &Parameters {
        self.0.parameters()
    }
    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.0.encode(x)
    }
    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.0.decode(z)
    }
    fn forward_train(&self, x: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        self.0.forward_train(x, rng)
    }
}

fn conv_config() -> Conv1dConfig {
    Conv1dConfig {
        channels: vec![6, 4],
        latent_dim: 5,
        output_activation: Activation::Sigmoid,
        ..Conv1dConfig::default()
    }
}

fn train_conv(model: &mut dyn Autoencoder, trainer: &TrainerConfig) -> TrainingHistory {
    let x = data(240, 10, 7).mapv(|v| v.clamp(0.0, 1.0));
    Trainer::new(trainer.clone())
        .unwrap()
        .fit(
            model,
            x.slice(s![..200, ..]),
            x.slice(s![200.., ..]),
            &mut |_| {},
        )
        .unwrap()
}

fn close_histories(a: &TrainingHistory, b: &TrainingHistory, what: &str) {
    assert_eq!(a.epochs.len(), b.epochs.len(), "{what}");
    for (x, y) in a.epochs.iter().zip(&b.epochs) {
        for (u, v) in [
            (x.train_loss, y.train_loss),
            (x.val_loss, y.val_loss),
            (x.grad_norm, y.grad_norm),
        ] {
            assert!((u - v).abs() <= 1e-4 * v.abs(), "{what}: {u} vs {v}");
        }
    }
}

#[test]
fn conv1d_hand_written_training_matches_candle_autograd() {
    let base = TrainerConfig {
        epochs: 4,
        batch_size: 48,
        learning_rate: 3e-3,
        early_stopping: None,
        ..TrainerConfig::default()
    };
    for (what, cfg) in [
        ("adam", base.clone()),
        (
            "adamw, decay, clipping",
            TrainerConfig {
                optimizer: OptimizerKind::AdamW,
                weight_decay: 0.05,
                grad_clip_norm: Some(0.05),
                ..base.clone()
            },
        ),
        (
            "adam with L2",
            TrainerConfig {
                weight_decay: 0.01,
                ..base
            },
        ),
    ] {
        let mut fast = Conv1d::new(10, conv_config(), 9).unwrap();
        let mut slow = CandleOnly(Conv1d::new(10, conv_config(), 9).unwrap());
        let a = train_conv(&mut fast, &cfg);
        let b = train_conv(&mut slow, &cfg);
        close_histories(&a, &b, what);
        let x = data(20, 10, 8);
        let (ea, eb) = (
            fast.encode_batch(x.view()).unwrap(),
            slow.0.encode_batch(x.view()).unwrap(),
        );
        for (u, v) in ea.iter().zip(eb.iter()) {
            assert!(
                (u - v).abs() <= 1e-3 * (1.0 + v.abs()),
                "{what}: {u} vs {v}"
            );
        }
        // The hand-written step is deterministic.
        let mut again = Conv1d::new(10, conv_config(), 9).unwrap();
        let c = train_conv(&mut again, &cfg);
        assert_eq!(a.train_losses(), c.train_losses(), "{what}");
        assert_eq!(a.val_losses(), c.val_losses(), "{what}");
        assert_eq!(again.encode_batch(x.view()).unwrap(), ea, "{what}");
    }
}

#[test]
fn conv1d_non_finite_loss_stops_hand_written_training() {
    let mut model = Conv1d::new(10, conv_config(), 1).unwrap();
    let x = data(64, 10, 3).mapv(|v| v * 1e30);
    let err = Trainer::new(TrainerConfig {
        epochs: 2,
        batch_size: 32,
        learning_rate: 1.0,
        ..TrainerConfig::default()
    })
    .unwrap()
    .fit_split(&mut model, x.view(), &mut |_| {});
    assert!(
        matches!(err, Err(AutoencoderError::NonFiniteLoss { epoch: 1, .. })),
        "{err:?}"
    );
}
