//! A few hundred benign rows still train long enough: an epoch makes as
//! many passes over them as `min_epoch_rows` asks.

use autoencoders::{Model, ModelConfig, ModelKind, Trainer, TrainerConfig};
use ndarray::Array2;

#[test]
fn an_epoch_passes_over_few_rows_until_it_reaches_the_minimum() {
    let x = Array2::from_shape_fn((50, 6), |(i, j)| ((i * 5 + j) % 9) as f32 / 9.0);
    let run = |min_epoch_rows: usize| {
        let mut model =
            Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 6, 3).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 2,
            batch_size: 10,
            min_epoch_rows,
            early_stopping: None,
            ..TrainerConfig::default()
        })
        .unwrap();
        let mut batches = Vec::new();
        let history = trainer
            .fit(&mut model, x.view(), x.view(), &mut |p| {
                if p.completed.is_none() {
                    batches.push((p.epoch, p.batches));
                }
            })
            .unwrap();
        (batches, history.epochs[1].val_loss)
    };
    let (one_pass, loss_one) = run(0);
    assert_eq!(one_pass.len(), 10);
    assert!(one_pass.iter().all(|&(_, b)| b == 5));
    // 120 rows per epoch: three passes over the 50 rows, cut at 120.
    let (three, loss_three) = run(120);
    assert_eq!(three.len(), 24);
    assert!(three.iter().all(|&(_, b)| b == 12));
    assert!(
        loss_three < loss_one,
        "more steps fit better: {loss_three} vs {loss_one}"
    );
    // Deterministic for a seed.
    assert_eq!(run(120).1, loss_three);
    // An absurd minimum is refused before anything is allocated for it.
    let err = Trainer::new(TrainerConfig {
        min_epoch_rows: usize::MAX,
        ..TrainerConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("min_epoch_rows"), "{err}");
}
