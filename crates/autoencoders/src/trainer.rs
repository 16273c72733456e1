//! Minibatch training with validation, early stopping, learning-rate
//! reduction on plateau, gradient clipping and a progress callback.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::engine::TrainState;
use crate::error::{AutoencoderError, Result, invalid};
use crate::model::{Autoencoder, Model};
use crate::spec::Masks;

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam; weight decay, if any, is added to the gradient (L2), as in
    /// PyTorch's `Adam(weight_decay=...)`.
    Adam,
    /// AdamW: weight decay is applied to the weights directly (decoupled).
    AdamW,
}

/// Stop when the validation loss has not improved for `patience` epochs.
///
/// An epoch improves on the best loss so far when its loss is lower by more
/// than `min_delta + min_rel_delta * best`: the relative part lets training
/// stop once the gains are a negligible share of the loss, where an
/// absolute threshold of 0 would count any decrease, however small.
///
/// ```
/// use autoencoders::EarlyStopping;
/// let es = EarlyStopping::default();
/// assert!(es.improves(0.99, 1.0));
/// assert!(!es.improves(0.9995, 1.0)); // 0.05 % better: not enough
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (at least 1). Default 4.
    pub patience: usize,
    /// Smallest absolute decrease of the validation loss that counts as an
    /// improvement (non-negative). Default 0.
    pub min_delta: f64,
    /// Smallest decrease of the validation loss, as a share of the best
    /// loss so far, that counts as an improvement, in `[0, 1)`. Default
    /// 1e-3.
    pub min_rel_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: 4,
            min_delta: 0.0,
            min_rel_delta: 1e-3,
        }
    }
}

impl EarlyStopping {
    /// Whether a validation loss of `loss` improves on `best`.
    pub fn improves(&self, loss: f64, best: f64) -> bool {
        improves(loss, best, self.min_delta, self.min_rel_delta)
    }
}

/// Whether `loss` is below `best` by more than `min_delta + min_rel_delta *
/// |best|` (always, while `best` is infinite: no epoch has run).
fn improves(loss: f64, best: f64, min_delta: f64, min_rel_delta: f64) -> bool {
    !best.is_finite() || loss < best - min_delta - min_rel_delta * best.abs()
}

/// Checks an absolute and a relative improvement threshold, named by
/// `names`.
fn check_deltas(names: [&'static str; 2], min_delta: f64, min_rel_delta: f64) -> Result<()> {
    if !(min_delta.is_finite() && min_delta >= 0.0) {
        return Err(invalid(names[0], min_delta, "must be non-negative"));
    }
    if !(0.0..1.0).contains(&min_rel_delta) {
        return Err(invalid(names[1], min_rel_delta, "must lie in [0, 1)"));
    }
    Ok(())
}

/// Multiply the learning rate by `factor` when the validation loss has not
/// improved for `patience` epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReduceLrOnPlateau {
    /// Multiplier, in `(0, 1)`. Default 0.5.
    pub factor: f64,
    /// Epochs without improvement before a reduction (at least 1). Default 3.
    pub patience: usize,
    /// The learning rate never goes below this (non-negative). Default 1e-6.
    pub min_lr: f64,
    /// Smallest absolute decrease of the validation loss that counts as an
    /// improvement (non-negative). Default 0.
    pub min_delta: f64,
    /// Smallest decrease as a share of the best loss, in `[0, 1)`, as in
    /// [`EarlyStopping`]. Default 1e-4 (PyTorch's `ReduceLROnPlateau`
    /// threshold).
    pub min_rel_delta: f64,
}

impl Default for ReduceLrOnPlateau {
    fn default() -> Self {
        Self {
            factor: 0.5,
            patience: 3,
            min_lr: 1e-6,
            min_delta: 0.0,
            min_rel_delta: 1e-4,
        }
    }
}

/// Training hyper-parameters. The defaults are the ones the workspace's
/// pipeline trains flow autoencoders with: the reference system's
/// callbacks (the best weights restored after early stopping, here after
/// 4 flat epochs where it waited 5; learning-rate halving after 3 flat
/// epochs) with a higher learning rate and a smaller batch, which converge
/// in fewer epochs, and epochs of at least 16,384 and at most 262,144 rows.
///
/// ```
/// use autoencoders::TrainerConfig;
/// let cfg = TrainerConfig { epochs: 20, grad_clip_norm: Some(5.0), ..TrainerConfig::default() };
/// cfg.validate().unwrap();
/// assert!(TrainerConfig { batch_size: 0, ..cfg }.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainerConfig {
    /// Adam or AdamW. Default Adam.
    pub optimizer: OptimizerKind,
    /// Initial learning rate (positive, finite). Default 1e-3.
    pub learning_rate: f64,
    /// Weight decay on weight matrices and embeddings, not on biases
    /// (non-negative). Default 0.
    pub weight_decay: f64,
    /// Rows per minibatch (at least 1). Default 256.
    pub batch_size: usize,
    /// Maximum number of epochs (at least 1). Default 30.
    pub epochs: usize,
    /// Seed of the generator behind shuffling, the validation split, dropout
    /// masks and input noise. Default 42.
    pub seed: u64,
    /// Share of the rows held out for validation by
    /// [`Trainer::fit_split`] and [`Trainer::fit_labelled`], in `(0, 1)`.
    /// Default 0.1.
    pub validation_fraction: f64,
    /// Early stopping; `None` trains for every epoch. Default patience 4,
    /// an epoch counting as an improvement only past 0.1 % of the best
    /// loss.
    pub early_stopping: Option<EarlyStopping>,
    /// Learning-rate reduction on plateau; `None` keeps the rate. Default
    /// factor 0.5 after 3 epochs, floor 1e-6.
    pub reduce_lr: Option<ReduceLrOnPlateau>,
    /// Rescale the gradients when their global L2 norm exceeds this
    /// (positive); `None` never clips. Default none.
    pub grad_clip_norm: Option<f64>,
    /// Put back the weights of the epoch with the lowest validation loss at
    /// the end (also when a NaN loss aborts training). Default true.
    pub restore_best_weights: bool,
    /// [`Trainer::fit_labelled`] trains on the benign rows (label 0) only.
    /// Default true, as an anomaly detector should be trained.
    pub benign_only: bool,
    /// Threads of the pool that training runs on (at least 1). On the
    /// `dense` backend each minibatch runs in slices (32 rows for the
    /// convolutional model, 128 for the dense ones) shared among the
    /// threads, deterministically for a given count. Default 1.
    pub threads: usize,
    /// Rows per epoch: when the training set holds more, each epoch trains
    /// on this many rows drawn afresh (the first rows of that epoch's
    /// shuffle), so that millions of benign rows cost a fixed time per
    /// epoch while every row still takes part over the epochs. `None`
    /// trains on every row each epoch. Default 262,144.
    pub epoch_rows: Option<usize>,
    /// The fewest rows an epoch trains on: with fewer training rows, each
    /// epoch makes several passes over them (each pass shuffled afresh), so
    /// that a few thousand benign rows still get enough optimiser steps
    /// per epoch for early stopping to judge (a capture of a few thousand
    /// benign flows trains long enough); 0 makes one pass. Default 16,384
    /// (64 minibatches of 256).
    pub min_epoch_rows: usize,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            batch_size: 256,
            epochs: 30,
            seed: 42,
            validation_fraction: 0.1,
            early_stopping: Some(EarlyStopping::default()),
            reduce_lr: Some(ReduceLrOnPlateau::default()),
            grad_clip_norm: None,
            restore_best_weights: true,
            benign_only: true,
            threads: 1,
            epoch_rows: Some(262_144),
            min_epoch_rows: 16_384,
        }
    }
}

/// The largest [`TrainerConfig::min_epoch_rows`] accepted (2^28).
const MAX_MIN_EPOCH_ROWS: usize = 1 << 28;

impl TrainerConfig {
    /// Rows one epoch trains on for `n` training rows: at most
    /// [`TrainerConfig::epoch_rows`], at least
    /// [`TrainerConfig::min_epoch_rows`].
    ///
    /// ```
    /// use autoencoders::TrainerConfig;
    /// let cfg = TrainerConfig { epoch_rows: Some(1000), min_epoch_rows: 300, ..TrainerConfig::default() };
    /// assert_eq!(cfg.rows_per_epoch(5000), 1000);
    /// assert_eq!(cfg.rows_per_epoch(500), 500);
    /// assert_eq!(cfg.rows_per_epoch(100), 300);
    /// ```
    pub fn rows_per_epoch(&self, n: usize) -> usize {
        self.epoch_rows
            .map_or(n, |r| r.min(n))
            .max(self.min_epoch_rows)
    }

    /// Checks every value; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning_rate",
                self.learning_rate,
                "must be positive and finite",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid(
                "weight_decay",
                self.weight_decay,
                "must be non-negative and finite",
            ));
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", self.batch_size, "must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", self.epochs, "must be at least 1"));
        }
        if self.min_epoch_rows > MAX_MIN_EPOCH_ROWS {
            return Err(invalid(
                "min_epoch_rows",
                self.min_epoch_rows,
                "must be at most 268,435,456",
            ));
        }
        if self.epoch_rows == Some(0) {
            return Err(invalid("epoch_rows", self.epoch_rows, "must be at least 1"));
        }
        if self.threads == 0 || self.threads > 1024 {
            return Err(invalid("threads", self.threads, "must lie in 1..=1024"));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction < 1.0) {
            return Err(invalid(
                "validation_fraction",
                self.validation_fraction,
                "must lie in (0, 1)",
            ));
        }
        if let Some(es) = &self.early_stopping {
            if es.patience == 0 {
                return Err(invalid(
                    "early_stopping.patience",
                    es.patience,
                    "must be at least 1",
                ));
            }
            check_deltas(
                ["early_stopping.min_delta", "early_stopping.min_rel_delta"],
                es.min_delta,
                es.min_rel_delta,
            )?;
        }
        if let Some(r) = &self.reduce_lr {
            if !(r.factor > 0.0 && r.factor < 1.0) {
                return Err(invalid("reduce_lr.factor", r.factor, "must lie in (0, 1)"));
            }
            if r.patience == 0 {
                return Err(invalid(
                    "reduce_lr.patience",
                    r.patience,
                    "must be at least 1",
                ));
            }
            if !(r.min_lr.is_finite() && r.min_lr >= 0.0) {
                return Err(invalid(
                    "reduce_lr.min_lr",
                    r.min_lr,
                    "must be non-negative",
                ));
            }
            check_deltas(
                ["reduce_lr.min_delta", "reduce_lr.min_rel_delta"],
                r.min_delta,
                r.min_rel_delta,
            )?;
        }
        if let Some(c) = self.grad_clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            return Err(invalid("grad_clip_norm", c, "must be positive and finite"));
        }
        Ok(())
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's minibatches (training mode:
    /// dropout and noise on), weighted by minibatch size.
    pub train_loss: f64,
    /// Validation loss (evaluation mode) at the end of the epoch.
    pub val_loss: f64,
    /// Learning rate used during the epoch.
    pub learning_rate: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The record of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingHistory {
    /// One record per epoch run.
    pub epochs: Vec<EpochRecord>,
    /// The best epoch (from 1): the last whose validation loss improved on
    /// the best before it by early stopping's thresholds (without early
    /// stopping, the epoch of the lowest validation loss).
    pub best_epoch: usize,
    /// The best epoch's validation loss.
    pub best_val_loss: f64,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// Whether the best epoch's weights were put back at the end.
    pub restored_best: bool,
    /// Rows of the training set (each epoch trains on all of them, or on
    /// [`TrainerConfig::epoch_rows`] of them).
    pub train_rows: usize,
    /// Rows in the validation set.
    pub val_rows: usize,
    /// Training rows processed per second, over the whole run.
    pub samples_per_second: f64,
}

impl TrainingHistory {
    /// Training loss per epoch.
    pub fn train_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_loss).collect()
    }

    /// Validation loss per epoch.
    pub fn val_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.val_loss).collect()
    }
}

/// Where training is, passed to the progress callback after every minibatch
/// (`completed` is `None`) and after every epoch's validation (`completed`
/// holds the epoch's record).
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Current epoch, from 1.
    pub epoch: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Minibatches done in this epoch.
    pub batch: usize,
    /// Minibatches per epoch.
    pub batches: usize,
    /// Loss of the last minibatch.
    pub batch_loss: f32,
    /// Current learning rate.
    pub learning_rate: f64,
    /// The finished epoch's record, at the end of an epoch.
    pub completed: Option<&'a EpochRecord>,
}

/// Trains any [`Autoencoder`] on `ndarray` matrices.
///
/// ```
/// use autoencoders::{Model, ModelConfig, ModelKind, Trainer, TrainerConfig};
/// use ndarray::Array2;
///
/// let x = Array2::from_shape_fn((400, 8), |(i, j)| ((i + j) % 5) as f32 / 5.0);
/// let mut model = Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 8, 1)?;
/// let trainer = Trainer::new(TrainerConfig { epochs: 3, batch_size: 64, min_epoch_rows: 0, ..Default::default() })?;
/// let mut batches = 0;
/// let history = trainer.fit_split(&mut model, x.view(), &mut |p| batches += usize::from(p.completed.is_none()))?;
/// assert_eq!(history.epochs.len(), 3);
/// assert_eq!(batches, 3 * 6); // 360 training rows in minibatches of 64
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainerConfig,
}

impl Trainer {
    /// A trainer with a checked configuration.
    pub fn new(config: TrainerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The configuration.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Holds out a seeded random `validation_fraction` of the rows and
    /// trains on the rest.
    pub fn fit_split(
        &self,
        model: &mut Model,
        data: ArrayView2<'_, f32>,
        progress: &mut (dyn FnMut(&Progress<'_>) + Send),
    ) -> Result<TrainingHistory> {
        let (train, val) = split_rows(data, self.config.validation_fraction, self.config.seed)?;
        self.fit(model, train.view(), val.view(), progress)
    }

    /// Trains on labelled rows (0 benign, anything else attack): with
    /// `benign_only` (the default) the attack rows are left out, then a
    /// validation share is held out as in [`Trainer::fit_split`].
    pub fn fit_labelled(
        &self,
        model: &mut Model,
        data: ArrayView2<'_, f32>,
        labels: &[u8],
        progress: &mut (dyn FnMut(&Progress<'_>) + Send),
    ) -> Result<TrainingHistory> {
        if labels.len() != data.nrows() {
            return Err(AutoencoderError::LabelMismatch {
                rows: data.nrows(),
                labels: labels.len(),
            });
        }
        if self.config.benign_only {
            let rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
            let benign = data.select(Axis(0), &rows);
            self.fit_split(model, benign.view(), progress)
        } else {
            self.fit_split(model, data, progress)
        }
    }

    /// Trains on `train`, monitoring the loss on `validation`.
    ///
    /// Both matrices are checked first (width, finite values). A NaN or
    /// infinite loss stops training with
    /// [`AutoencoderError::NonFiniteLoss`], after putting back the best
    /// weights seen so far when `restore_best_weights` is set. Training runs
    /// on a pool of `threads` worker threads (the caller waits), so the
    /// progress callback must be `Send`.
    pub fn fit(
        &self,
        model: &mut Model,
        train: ArrayView2<'_, f32>,
        validation: ArrayView2<'_, f32>,
        progress: &mut (dyn FnMut(&Progress<'_>) + Send),
    ) -> Result<TrainingHistory> {
        let threads = self.config.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| AutoencoderError::ThreadPool {
                threads,
                reason: e.to_string(),
            })?;
        pool.install(|| self.fit_here(model, train, validation, progress))
    }

    fn fit_here(
        &self,
        model: &mut Model,
        train: ArrayView2<'_, f32>,
        validation: ArrayView2<'_, f32>,
        progress: &mut (dyn FnMut(&Progress<'_>) + Send),
    ) -> Result<TrainingHistory> {
        let cfg = &self.config;
        if train.nrows() == 0 {
            return Err(AutoencoderError::EmptyInput {
                what: "training data",
            });
        }
        if validation.nrows() == 0 {
            return Err(AutoencoderError::EmptyInput {
                what: "validation data",
            });
        }
        model.check_input(train, "training data")?;
        model.check_input(validation, "validation data")?;
        let train = train.as_standard_layout();
        let train_slice = train.as_slice().unwrap_or(&[]);
        let width = train.ncols();
        let n = train.nrows();

        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut adam = dense::Adam::new(model.parameter_count(), cfg.learning_rate as f32, 1e-8);
        let mut lr = cfg.learning_rate;
        let epoch_rows = cfg.rows_per_epoch(n);
        let batches = epoch_rows.div_ceil(cfg.batch_size);
        let passes = epoch_rows.div_ceil(n);
        let mut order: Vec<usize> = (0..n * passes).map(|i| i % n).collect();
        let mut history = TrainingHistory {
            epochs: Vec::new(),
            best_epoch: 0,
            best_val_loss: f64::INFINITY,
            stopped_early: false,
            restored_best: false,
            train_rows: n,
            val_rows: validation.nrows(),
            samples_per_second: 0.0,
        };
        let mut best_weights: Option<Vec<f32>> = None;
        let mut since_best = 0usize;
        let mut plateau_best = f64::INFINITY;
        let mut since_plateau_best = 0usize;
        let started = Instant::now();
        let mut batch_data = Vec::with_capacity(cfg.batch_size * width);
        let mut grads = vec![0f32; model.parameter_count()];
        let mut state = TrainState::default();
        let mut masks = Masks::default();
        let out_width = model.output_dim();

        for epoch in 1..=cfg.epochs {
            let epoch_start = Instant::now();
            for pass in order.chunks_mut(n) {
                pass.shuffle(&mut rng);
            }
            let mut loss_sum = 0f64;
            let mut norm_sum = 0f64;
            for (b, rows) in order[..epoch_rows].chunks(cfg.batch_size).enumerate() {
                batch_data.clear();
                for &r in rows {
                    batch_data.extend_from_slice(&train_slice[r * width..(r + 1) * width]);
                }
                model
                    .spec()
                    .draw_masks_into(rows.len(), &mut rng, &mut masks);
                let sum = model.loss_and_grads(
                    &batch_data,
                    rows.len(),
                    &masks,
                    &mut state,
                    &mut grads,
                )?;
                let value = (sum / (rows.len() * out_width).max(1) as f64) as f32;
                if !value.is_finite() {
                    if let Some(w) = best_weights.as_ref().filter(|_| cfg.restore_best_weights) {
                        model.params_mut().copy_from_slice(w);
                    }
                    return Err(AutoencoderError::NonFiniteLoss {
                        epoch,
                        batch: b + 1,
                        value,
                    });
                }
                norm_sum += f64::from(self.step(model, &mut adam, lr, &mut grads));
                loss_sum += sum / out_width.max(1) as f64;
                progress(&Progress {
                    epoch,
                    epochs: cfg.epochs,
                    batch: b + 1,
                    batches,
                    batch_loss: value,
                    learning_rate: lr,
                    completed: None,
                });
            }
            let val_loss = validation_loss(model, validation)?;
            if !val_loss.is_finite() {
                if let Some(w) = best_weights.as_ref().filter(|_| cfg.restore_best_weights) {
                    model.params_mut().copy_from_slice(w);
                }
                return Err(AutoencoderError::NonFiniteValidationLoss {
                    epoch,
                    value: val_loss as f32,
                });
            }
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / epoch_rows as f64,
                val_loss,
                learning_rate: lr,
                grad_norm: norm_sum / batches as f64,
                seconds: epoch_start.elapsed().as_secs_f64(),
            };
            progress(&Progress {
                epoch,
                epochs: cfg.epochs,
                batch: batches,
                batches,
                batch_loss: record.train_loss as f32,
                learning_rate: lr,
                completed: Some(&record),
            });
            history.epochs.push(record);

            let improved = cfg
                .early_stopping
                .map_or(val_loss < history.best_val_loss, |e| {
                    e.improves(val_loss, history.best_val_loss)
                });
            if improved || history.best_epoch == 0 {
                history.best_val_loss = val_loss;
                history.best_epoch = epoch;
                since_best = 0;
                if cfg.restore_best_weights {
                    best_weights = Some(model.params().to_vec());
                }
            } else {
                since_best += 1;
            }
            if let Some(r) = cfg.reduce_lr {
                if improves(val_loss, plateau_best, r.min_delta, r.min_rel_delta) {
                    plateau_best = val_loss;
                    since_plateau_best = 0;
                } else {
                    since_plateau_best += 1;
                    if since_plateau_best >= r.patience {
                        lr = (lr * r.factor).max(r.min_lr);
                        since_plateau_best = 0;
                    }
                }
            }
            if let Some(es) = cfg.early_stopping
                && since_best >= es.patience
            {
                history.stopped_early = epoch < cfg.epochs;
                break;
            }
        }
        if let Some(w) = best_weights.filter(|_| cfg.restore_best_weights) {
            if history.best_epoch != history.epochs.len() {
                model.params_mut().copy_from_slice(&w);
            }
            history.restored_best = true;
        }
        let seconds = started.elapsed().as_secs_f64();
        history.samples_per_second = (epoch_rows * history.epochs.len()) as f64 / seconds.max(1e-9);
        Ok(history)
    }

    /// One optimiser step on the model's weights with `grads` (which it
    /// changes): global-norm clipping, weight decay on weights and tables
    /// (L2 added to the gradient for Adam, decoupled for AdamW), then
    /// `dense`'s Adam at learning rate `lr`. Returns the gradient norm
    /// before clipping.
    fn step(&self, model: &mut Model, adam: &mut dense::Adam, lr: f64, grads: &mut [f32]) -> f32 {
        let cfg = &self.config;
        let norm = dense::global_norm(&[&*grads]);
        if let Some(max) = cfg.grad_clip_norm {
            let coef = dense::clip_coefficient(norm, max as f32);
            if coef < 1.0 {
                dense::scale(grads, coef);
            }
        }
        if cfg.weight_decay > 0.0 {
            let decay = cfg.weight_decay;
            let params = model.spec().params.clone();
            let values = model.params_mut();
            for p in params.iter().filter(|p| p.decays()) {
                let (w, g) = (&mut values[p.range()], &mut grads[p.range()]);
                match cfg.optimizer {
                    OptimizerKind::Adam => {
                        for (g, &w) in g.iter_mut().zip(w.iter()) {
                            *g += decay as f32 * w;
                        }
                    }
                    OptimizerKind::AdamW => dense::scale(w, (1.0 - lr * decay) as f32),
                }
            }
        }
        adam.lr = lr as f32;
        adam.step(model.params_mut(), grads, 1.0);
        norm
    }
}

/// Mean squared reconstruction error over every reconstructed element of
/// `x`, in evaluation mode.
pub(crate) fn validation_loss(model: &Model, x: ArrayView2<'_, f32>) -> Result<f64> {
    let errors = model.reconstruction_errors(x)?;
    Ok(errors.iter().map(|&e| f64::from(e)).sum::<f64>() / x.nrows().max(1) as f64)
}

/// Splits rows into a training and a validation matrix with a seeded
/// shuffle; the validation part holds `round(fraction * rows)` rows (at
/// least 1), and both keep their rows in the original order.
///
/// ```
/// use ndarray::Array2;
/// let x = Array2::from_shape_fn((10, 2), |(i, _)| i as f32);
/// let (train, val) = autoencoders::split_rows(x.view(), 0.2, 7)?;
/// assert_eq!((train.nrows(), val.nrows()), (8, 2));
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
pub fn split_rows(
    x: ArrayView2<'_, f32>,
    fraction: f64,
    seed: u64,
) -> Result<(Array2<f32>, Array2<f32>)> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(invalid(
            "validation_fraction",
            fraction,
            "must lie in (0, 1)",
        ));
    }
    let n = x.nrows();
    if n < 2 {
        return Err(AutoencoderError::EmptyInput {
            what: "data to split (needs at least 2 rows)",
        });
    }
    let n_val = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut idx: Vec<usize> = (0..n).collect();
    // A generator of its own, so the split does not depend on training.
    idx.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15));
    let (val_idx, train_idx) = idx.split_at_mut(n_val);
    val_idx.sort_unstable();
    train_idx.sort_unstable();
    Ok((x.select(Axis(0), train_idx), x.select(Axis(0), val_idx)))
}
