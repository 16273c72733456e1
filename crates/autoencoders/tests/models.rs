//! Models and trainer on generated flows: learning, shapes, odd feature
//! counts, determinism, training controls and input errors.

use autoencoders::{
    Autoencoder, AutoencoderError, Conv1dConfig, DenseConfig, EarlyStopping, EmbeddingConfig,
    Model, ModelConfig, ModelKind, OptimizerKind, ReduceLrOnPlateau, Trainer, TrainerConfig,
    TrainingHistory,
};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Flows with low-dimensional structure: 4 hidden factors mixed into
/// `features` columns through fixed random weights and a sigmoid, plus a
/// little noise, so that an autoencoder can learn them.
fn flows(rows: usize, features: usize, seed: u64) -> Array2<f32> {
    let mut mix_rng = StdRng::seed_from_u64(1000 + features as u64);
    let mix: Vec<[f32; 4]> = (0..features)
        .map(|_| std::array::from_fn(|_| mix_rng.random_range(-3.0..3.0)))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Array2::zeros((rows, features));
    for mut row in x.rows_mut() {
        let u: [f32; 4] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        for (v, m) in row.iter_mut().zip(&mix) {
            let s: f32 = m.iter().zip(&u).map(|(a, b)| a * b).sum();
            *v = 1.0 / (1.0 + (-s).exp()) + rng.random_range(-0.01..0.01);
        }
    }
    x
}

fn mean_error(model: &dyn Autoencoder, x: ArrayView2<'_, f32>) -> f64 {
    let e = model.reconstruction_errors(x).unwrap();
    e.iter().map(|&v| f64::from(v)).sum::<f64>() / e.len() as f64
}

fn quick_trainer(epochs: usize) -> Trainer {
    Trainer::new(TrainerConfig {
        epochs,
        batch_size: 64,
        learning_rate: 3e-3,
        early_stopping: None,
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap()
}

fn all_configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::FeedForward(DenseConfig {
            dropout: 0.05,
            ..Default::default()
        }),
        ModelConfig::default_for(ModelKind::Conv1d),
        ModelConfig::Deep(DenseConfig {
            input_noise_std: 0.02,
            ..DenseConfig::deep()
        }),
    ]
}

#[test]
fn every_model_lowers_the_validation_loss_substantially() {
    let train = flows(1500, 20, 1);
    let val = flows(300, 20, 2);
    for cfg in all_configs() {
        let mut model = Model::new(&cfg, 20, 3).unwrap();
        let before = mean_error(&model, val.view());
        let history = quick_trainer(12)
            .fit(&mut model, train.view(), val.view(), &mut |_| {})
            .unwrap();
        let after = mean_error(&model, val.view());
        println!("{}: val loss {before:.5} -> {after:.5}", cfg.kind());
        assert!(after < 0.2 * before, "{}: {before} -> {after}", cfg.kind());
        // The history's best validation loss is the restored model's loss.
        assert!((history.best_val_loss - after).abs() < 1e-4 * (1.0 + after));
        assert!(history.val_losses().iter().all(|v| v.is_finite()));
    }
}

#[test]
fn encode_decode_and_reconstruct_shapes() {
    let x = flows(37, 77, 4);
    for cfg in all_configs() {
        let model = Model::new(&cfg, 77, 5).unwrap();
        let z = model.encode_batch(x.view()).unwrap();
        assert_eq!(z.dim(), (37, 32), "{}", cfg.kind());
        assert_eq!(model.decode_batch(z.view()).unwrap().dim(), (37, 77));
        assert_eq!(model.reconstruct_batch(x.view()).unwrap().dim(), (37, 77));
        assert_eq!(model.latent_dim(), 32);
        assert_eq!(model.output_dim(), 77);
        assert!(model.parameter_count() > 10_000);
        // Rows are independent: encoding one row alone gives the same code.
        let single = model.encode_batch(x.slice(ndarray::s![3..4, ..])).unwrap();
        for (a, b) in single.row(0).iter().zip(z.row(3)) {
            assert!((a - b).abs() < 1e-5);
        }
    }
    let small = DenseConfig {
        latent_dim: 5,
        hidden: vec![16],
        ..Default::default()
    };
    let model = Model::new(&ModelConfig::FeedForward(small), 9, 0).unwrap();
    assert_eq!(
        model.encode_batch(flows(4, 9, 1).view()).unwrap().dim(),
        (4, 5)
    );
    assert_eq!(
        model.parameter_count(),
        9 * 16 + 16 + 16 * 5 + 5 + 5 * 16 + 16 + 16 * 9 + 9
    );
}

#[test]
fn conv1d_handles_odd_feature_counts() {
    for features in [1, 3, 5, 76, 77, 78, 79, 196] {
        let model = Model::new(&ModelConfig::Conv1d(Conv1dConfig::default()), features, 1).unwrap();
        let x = flows(10, features, 2);
        assert_eq!(model.encode_batch(x.view()).unwrap().dim(), (10, 32));
        assert_eq!(
            model.reconstruct_batch(x.view()).unwrap().dim(),
            (10, features)
        );
    }
    // Three levels pad to a multiple of 8, and training works through the crop.
    let cfg = Conv1dConfig {
        channels: vec![8, 8, 4],
        kernel_size: 5,
        ..Default::default()
    };
    let mut model = Model::new(&ModelConfig::Conv1d(cfg), 77, 1).unwrap();
    // 80 positions, pooled three times to 10 of 4 channels, into the latent.
    assert!(
        model
            .parameter_shapes()
            .contains(&("encoder.dense.weight".to_string(), vec![32, 40]))
    );
    let x = flows(200, 77, 3);
    let history = quick_trainer(2)
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap();
    assert_eq!(history.epochs.len(), 2);
}

#[test]
fn deep_embeds_a_categorical_column() {
    let mut x = flows(600, 8, 6);
    let mut rng = StdRng::seed_from_u64(9);
    // Column 2 becomes a port-like category; the features depend on it.
    for mut row in x.rows_mut() {
        let port = [22.0, 80.0, 443.0, 53.0][rng.random_range(0..4)];
        row[2] = port;
        row[0] = if port == 80.0 { 0.9 } else { 0.1 };
    }
    let cfg = DenseConfig {
        embedding: Some(EmbeddingConfig {
            column: 2,
            cardinality: 1024,
            dim: 4,
        }),
        dropout: 0.0,
        ..DenseConfig::deep()
    };
    let mut model = Model::new(&ModelConfig::Deep(cfg), 8, 1).unwrap();
    assert_eq!(model.categorical_column(), Some((2, 1024)));
    assert_eq!(model.output_dim(), 7);
    assert_eq!(
        model.parameter_shapes()[0],
        ("embedding.weight".to_string(), vec![1024, 4])
    );
    let before = mean_error(&model, x.view());
    let history = quick_trainer(10)
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap();
    let after = mean_error(&model, x.view());
    assert!(after < 0.3 * before, "{before} -> {after}");
    assert_eq!(model.reconstruct_batch(x.view()).unwrap().dim(), (600, 7));
    assert!(history.best_val_loss < before);

    // Categories outside 0..cardinality or not integers are rejected.
    for bad in [1024.0, -1.0, 2.5] {
        let mut y = x.slice(ndarray::s![0..3, ..]).to_owned();
        y[[1, 2]] = bad;
        let err = model.encode_batch(y.view()).unwrap_err();
        assert!(
            matches!(
                err,
                AutoencoderError::CategoryOutOfRange {
                    row: 1,
                    column: 2,
                    ..
                }
            ),
            "{err}"
        );
    }
}

fn history_for(cfg: &ModelConfig, model_seed: u64, train_seed: u64) -> TrainingHistory {
    let x = flows(400, 12, 7);
    let mut model = Model::new(cfg, 12, model_seed).unwrap();
    let trainer = Trainer::new(TrainerConfig {
        epochs: 3,
        batch_size: 32,
        seed: train_seed,
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap();
    trainer
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap()
}

#[test]
fn same_seeds_give_the_same_loss_history() {
    for cfg in all_configs() {
        let a = history_for(&cfg, 1, 2);
        let b = history_for(&cfg, 1, 2);
        assert_eq!(a.train_losses(), b.train_losses(), "{}", cfg.kind());
        assert_eq!(a.val_losses(), b.val_losses(), "{}", cfg.kind());
        let c = history_for(&cfg, 3, 2);
        assert_ne!(
            a.train_losses(),
            c.train_losses(),
            "{}: model seed ignored",
            cfg.kind()
        );
        let d = history_for(&cfg, 1, 4);
        assert_ne!(
            a.train_losses(),
            d.train_losses(),
            "{}: trainer seed ignored",
            cfg.kind()
        );
    }
    // Same seed, same initial weights.
    let x = flows(5, 12, 1);
    let m1 = Model::new(&all_configs()[2], 12, 11).unwrap();
    let m2 = Model::new(&all_configs()[2], 12, 11).unwrap();
    assert_eq!(
        m1.encode_batch(x.view()).unwrap(),
        m2.encode_batch(x.view()).unwrap()
    );
}

#[test]
fn early_stopping_restores_the_best_weights() {
    let train = flows(300, 10, 1);
    let val = flows(100, 10, 2);
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 10, 1).unwrap();
    // No later epoch can beat the first by 1e9, so training stops after
    // `patience` more epochs and goes back to the first epoch's weights.
    let trainer = Trainer::new(TrainerConfig {
        epochs: 20,
        batch_size: 32,
        early_stopping: Some(EarlyStopping {
            patience: 2,
            min_delta: 1e9,
            ..EarlyStopping::default()
        }),
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap();
    let history = trainer
        .fit(&mut model, train.view(), val.view(), &mut |_| {})
        .unwrap();
    assert_eq!(history.epochs.len(), 3);
    assert!(history.stopped_early && history.restored_best);
    assert_eq!(history.best_epoch, 1);
    assert!(
        history.epochs[2].val_loss < history.epochs[0].val_loss,
        "training went on improving"
    );
    let now = mean_error(&model, val.view());
    assert!(
        (now - history.epochs[0].val_loss).abs() < 1e-6 * (1.0 + now),
        "{now} vs {:?}",
        history.val_losses()
    );
}

/// A relative threshold stops training once the epochs' gains are a small
/// share of the loss, where an absolute threshold of 0 goes on.
#[test]
fn early_stopping_with_a_relative_threshold_stops_on_small_gains() {
    let train = flows(300, 10, 1);
    let val = flows(100, 10, 2);
    let run = |min_rel_delta: f64| {
        let mut model =
            Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 10, 1).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 12,
            batch_size: 32,
            early_stopping: Some(EarlyStopping {
                patience: 2,
                min_delta: 0.0,
                min_rel_delta,
            }),
            reduce_lr: None,
            min_epoch_rows: 0,
            ..TrainerConfig::default()
        })
        .unwrap();
        trainer
            .fit(&mut model, train.view(), val.view(), &mut |_| {})
            .unwrap()
    };
    let plain = run(0.0);
    let losses = plain.val_losses();
    // The loss goes on falling, but the next two epochs keep more than 30 %
    // of the first one's.
    assert!(!plain.stopped_early, "{losses:?}");
    assert!(
        losses[1..3].iter().all(|&l| l > 0.3 * losses[0]),
        "{losses:?}"
    );
    // A gain of 70 % of the loss is not reached: the first epoch stays the
    // best, and training stops `patience` epochs later.
    let strict = run(0.7);
    assert!(strict.stopped_early);
    assert_eq!(strict.epochs.len(), 3);
    assert_eq!(strict.best_epoch, 1);
    // The same run until it stops.
    assert_eq!(strict.val_losses(), losses[..3]);
    let es = EarlyStopping::default();
    assert!(es.improves(0.998, 1.0) && !es.improves(0.9995, 1.0));
    assert!(!es.improves(1.0, 1.0) && es.improves(5.0, f64::INFINITY));
    for bad in [-0.1, 1.0, f64::NAN] {
        let cfg = TrainerConfig {
            early_stopping: Some(EarlyStopping {
                min_rel_delta: bad,
                ..es
            }),
            min_epoch_rows: 0,
            ..TrainerConfig::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("min_rel_delta"), "{err}");
    }
}

/// The learning rate of each epoch of a feedforward model trained for
/// `epochs` epochs with `reduce` and no early stopping.
fn plateau_learning_rates(reduce: ReduceLrOnPlateau, epochs: usize) -> Vec<f64> {
    let x = flows(200, 6, 1);
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 6, 1).unwrap();
    let trainer = Trainer::new(TrainerConfig {
        epochs,
        learning_rate: 1e-3,
        early_stopping: None,
        reduce_lr: Some(reduce),
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap();
    let history = trainer
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap();
    assert!(!history.stopped_early);
    history.epochs.iter().map(|e| e.learning_rate).collect()
}

#[test]
fn learning_rate_halves_on_plateau() {
    let reduce = ReduceLrOnPlateau {
        factor: 0.5,
        patience: 1,
        min_lr: 3e-4,
        min_delta: 1e9,
        ..ReduceLrOnPlateau::default()
    };
    assert_eq!(
        plateau_learning_rates(reduce, 5),
        vec![1e-3, 1e-3, 5e-4, 3e-4, 3e-4]
    );
    // Counted as flat unless an epoch improves by its relative threshold.
    let relative = |min_rel_delta: f64| ReduceLrOnPlateau {
        patience: 1,
        min_rel_delta,
        ..ReduceLrOnPlateau::default()
    };
    assert_eq!(plateau_learning_rates(relative(0.0), 4), vec![1e-3; 4]);
    assert_eq!(
        plateau_learning_rates(relative(0.9), 4),
        vec![1e-3, 1e-3, 5e-4, 2.5e-4]
    );
}

#[test]
fn gradient_clipping_limits_the_updates() {
    let x = flows(300, 10, 1);
    let run = |clip: Option<f64>| {
        let mut model =
            Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 10, 1).unwrap();
        let before = mean_error(&model, x.view());
        let trainer = Trainer::new(TrainerConfig {
            epochs: 2,
            grad_clip_norm: clip,
            min_epoch_rows: 0,
            ..TrainerConfig::default()
        })
        .unwrap();
        let h = trainer
            .fit_split(&mut model, x.view(), &mut |_| {})
            .unwrap();
        assert!(
            h.epochs
                .iter()
                .all(|e| e.grad_norm > 0.0 && e.grad_norm.is_finite())
        );
        (before, mean_error(&model, x.view()))
    };
    let (before, free) = run(None);
    // Gradients scaled to a norm of 1e-12 are far below Adam's epsilon:
    // the weights barely move.
    let (_, clipped) = run(Some(1e-12));
    assert!(free < 0.9 * before, "{before} -> {free}");
    assert!(
        (clipped - before).abs() < 0.01 * before,
        "{before} -> {clipped}"
    );
    // A generous clip leaves training as it was.
    let (_, loose) = run(Some(1e9));
    assert_eq!(loose, free);
}

#[test]
fn adamw_and_adam_differ_with_weight_decay_only() {
    let x = flows(200, 8, 1);
    let run = |optimizer, weight_decay| {
        let mut model =
            Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 8, 1).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 2,
            optimizer,
            weight_decay,
            min_epoch_rows: 0,
            ..TrainerConfig::default()
        })
        .unwrap();
        trainer
            .fit_split(&mut model, x.view(), &mut |_| {})
            .unwrap()
            .train_losses()
    };
    assert_eq!(
        run(OptimizerKind::Adam, 0.0),
        run(OptimizerKind::AdamW, 0.0)
    );
    assert_ne!(
        run(OptimizerKind::Adam, 0.1),
        run(OptimizerKind::AdamW, 0.1)
    );
    assert_ne!(run(OptimizerKind::Adam, 0.1), run(OptimizerKind::Adam, 0.0));
}

#[test]
fn progress_reports_every_batch_and_epoch() {
    let x = flows(250, 5, 1);
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 5, 1).unwrap();
    let trainer = Trainer::new(TrainerConfig {
        epochs: 2,
        batch_size: 100,
        early_stopping: None,
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    })
    .unwrap();
    let mut events = Vec::new();
    let history = trainer
        .fit_split(&mut model, x.view(), &mut |p| {
            events.push((p.epoch, p.batch, p.batches, p.completed.map(|r| r.epoch)))
        })
        .unwrap();
    // 225 training rows: batches of 100, 100, 25.
    assert_eq!(
        events,
        vec![
            (1, 1, 3, None),
            (1, 2, 3, None),
            (1, 3, 3, None),
            (1, 3, 3, Some(1)),
            (2, 1, 3, None),
            (2, 2, 3, None),
            (2, 3, 3, None),
            (2, 3, 3, Some(2)),
        ]
    );
    assert_eq!((history.train_rows, history.val_rows), (225, 25));
    assert!(history.samples_per_second > 0.0);
}

#[test]
fn benign_only_training_leaves_attacks_out() {
    let mut x = flows(300, 6, 1);
    let labels: Vec<u8> = (0..300).map(|i| u8::from(i % 3 == 0)).collect();
    // Attack rows hold values that would blow the loss up if trained on.
    for (mut row, &l) in x.rows_mut().into_iter().zip(&labels) {
        if l == 1 {
            row.fill(1e4);
        }
    }
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 6, 1).unwrap();
    let cfg = TrainerConfig {
        epochs: 2,
        min_epoch_rows: 0,
        ..TrainerConfig::default()
    };
    let h = Trainer::new(cfg.clone())
        .unwrap()
        .fit_labelled(&mut model, x.view(), &labels, &mut |_| {})
        .unwrap();
    assert_eq!(h.train_rows + h.val_rows, 200);
    assert!(h.best_val_loss < 1.0);
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 6, 1).unwrap();
    let all = Trainer::new(TrainerConfig {
        benign_only: false,
        ..cfg
    })
    .unwrap()
    .fit_labelled(&mut model, x.view(), &labels, &mut |_| {})
    .unwrap();
    assert_eq!(all.train_rows + all.val_rows, 300);
    assert!(all.best_val_loss > 1000.0);
    let err = Trainer::new(TrainerConfig::default())
        .unwrap()
        .fit_labelled(&mut model, x.view(), &labels[..10], &mut |_| {})
        .unwrap_err();
    assert!(matches!(
        err,
        AutoencoderError::LabelMismatch {
            rows: 300,
            labels: 10
        }
    ));
}

#[test]
fn a_diverging_loss_is_a_clear_error() {
    let x = Array2::from_elem((64, 4), 1e30f32);
    let mut model =
        Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 4, 1).unwrap();
    let err = quick_trainer(2)
        .fit_split(&mut model, x.view(), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(
            err,
            AutoencoderError::NonFiniteLoss {
                epoch: 1,
                batch: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("learning rate"), "{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let model = Model::new(&ModelConfig::Conv1d(Conv1dConfig::default()), 10, 1).unwrap();
    let err = model
        .encode_batch(Array2::zeros((3, 11)).view())
        .unwrap_err();
    assert!(matches!(
        err,
        AutoencoderError::FeatureMismatch {
            expected: 10,
            got: 11
        }
    ));
    let err = model
        .decode_batch(Array2::zeros((3, 31)).view())
        .unwrap_err();
    assert!(matches!(
        err,
        AutoencoderError::FeatureMismatch {
            expected: 32,
            got: 31
        }
    ));
    let mut x = Array2::<f32>::zeros((3, 10));
    x[[2, 7]] = f32::NAN;
    let err = model.reconstruction_errors(x.view()).unwrap_err();
    assert!(
        matches!(
            err,
            AutoencoderError::NonFiniteInput {
                row: 2,
                column: 7,
                ..
            }
        ),
        "{err}"
    );
    // Latent codes are checked too.
    let bad = Array2::<f32>::zeros((2, 31));
    assert!(matches!(
        model.decode_batch(bad.view()),
        Err(AutoencoderError::FeatureMismatch {
            expected: 32,
            got: 31
        })
    ));

    let mut m = Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 10, 1).unwrap();
    let trainer = quick_trainer(1);
    let empty = Array2::<f32>::zeros((0, 10));
    let some = Array2::<f32>::zeros((5, 10));
    assert!(matches!(
        trainer.fit(&mut m, empty.view(), some.view(), &mut |_| {}),
        Err(AutoencoderError::EmptyInput { .. })
    ));
    assert!(matches!(
        trainer.fit(&mut m, some.view(), empty.view(), &mut |_| {}),
        Err(AutoencoderError::EmptyInput { .. })
    ));
    assert!(
        trainer
            .fit(&mut m, x.view(), some.view(), &mut |_| {})
            .is_err()
    );
    assert!(
        Trainer::new(TrainerConfig {
            learning_rate: -1.0,
            min_epoch_rows: 0,
            ..Default::default()
        })
        .is_err()
    );
    assert!(Model::new(&ModelConfig::default_for(ModelKind::Deep), 0, 1).is_err());
}

#[test]
fn large_batches_are_chunked_consistently() {
    let model = Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 4, 2).unwrap();
    let rows = 2 * 512 + 17;
    let x = flows(rows, 4, 3);
    let z = model.encode_batch(x.view()).unwrap();
    assert_eq!(z.dim(), (rows, 32));
    let tail = model
        .encode_batch(x.slice(ndarray::s![rows - 17.., ..]))
        .unwrap();
    for (a, b) in tail.iter().zip(z.slice(ndarray::s![rows - 17.., ..])) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn parameter_count_is_known_before_building() {
    let mut configs = all_configs();
    configs.push(ModelConfig::Conv1d(Conv1dConfig {
        channels: vec![4, 6, 8],
        kernel_size: 5,
        ..Default::default()
    }));
    configs.push(ModelConfig::Deep(DenseConfig {
        embedding: Some(EmbeddingConfig {
            column: 3,
            cardinality: 50,
            dim: 7,
        }),
        hidden: vec![20, 10],
        ..DenseConfig::deep()
    }));
    for cfg in configs {
        for n in [5, 13, 77] {
            let model = Model::new(&cfg, n, 0).unwrap();
            let from_shapes: usize = model
                .parameter_shapes()
                .iter()
                .map(|(_, shape)| shape.iter().product::<usize>())
                .sum();
            assert_eq!(cfg.parameter_count(n), from_shapes, "{} at {n}", cfg.kind());
            assert_eq!(model.parameter_count(), from_shapes);
        }
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Model>();
    check::<Trainer>();
    check::<TrainingHistory>();
    check::<autoencoders::ReconstructionDetector<Model>>();
    check::<AutoencoderError>();
}

#[test]
fn epoch_rows_caps_the_rows_of_each_epoch() {
    let x = flows(400, 6, 3);
    let train = |epoch_rows: Option<usize>| {
        let mut model =
            Model::new(&ModelConfig::FeedForward(DenseConfig::feedforward()), 6, 1).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 3,
            batch_size: 32,
            epoch_rows,
            early_stopping: None,
            min_epoch_rows: 0,
            ..Default::default()
        })
        .unwrap();
        let mut batches = 0;
        let history = trainer
            .fit_split(&mut model, x.view(), &mut |p| {
                batches += usize::from(p.completed.is_none())
            })
            .unwrap();
        (batches, history)
    };
    // 360 training rows; 100 a epoch in batches of 32 take 4 batches.
    let (batches, capped) = train(Some(100));
    assert_eq!(batches, 3 * 4);
    assert_eq!(capped.train_rows, 360);
    let (batches, full) = train(Some(10_000));
    assert_eq!(batches, 3 * 12);
    assert_eq!(full.train_losses(), train(None).1.train_losses());
    assert_ne!(capped.train_losses(), full.train_losses());
    assert!(
        Trainer::new(TrainerConfig {
            epoch_rows: Some(0),
            min_epoch_rows: 0,
            ..Default::default()
        })
        .is_err()
    );
}

/// Decoding the latent codes gives the reconstruction bit for bit, at batch
/// sizes off every inner block, so that a scorer may encode a flow once for
/// two uses; `same_network` tells one network from a copy trained on.
#[test]
fn decoding_the_codes_is_the_reconstruction_bit_for_bit() {
    for kind in [ModelKind::FeedForward, ModelKind::Conv1d, ModelKind::Deep] {
        let model = Model::new(&ModelConfig::default_for(kind), 77, 5).unwrap();
        for rows in [1, 63, 1100] {
            let x = flows(rows, 77, 9);
            let z = model.encode_batch(x.view()).unwrap();
            let decoded = model.decode_batch(z.view()).unwrap();
            let whole = model.reconstruct_batch(x.view()).unwrap();
            assert_eq!(decoded.dim(), whole.dim());
            assert!(
                decoded
                    .iter()
                    .zip(&whole)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{kind:?}, {rows} rows"
            );
        }
        let copy = model.clone();
        assert!(model.same_network(&copy));
        let mut trained = model.clone();
        Trainer::new(TrainerConfig {
            epochs: 1,
            min_epoch_rows: 0,
            ..TrainerConfig::default()
        })
        .unwrap()
        .fit(
            &mut trained,
            flows(64, 77, 3).view(),
            flows(16, 77, 4).view(),
            &mut |_| {},
        )
        .unwrap();
        assert!(!model.same_network(&trained), "{kind:?}");
        let other = Model::new(&ModelConfig::default_for(kind), 77, 6).unwrap();
        assert!(!model.same_network(&other));
    }
}
