//! The novelty stage: the autoencoders and their reconstruction
//! detectors, and the PCA baseline detector. Scoring raw flows end to end
//! is [`detector::Detector`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use autoencoders::{
    Autoencoder, ErrorScoring, Model, ModelConfig, ModelKind, Pca, ReconstructionDetector,
    Reconstructor, Trainer, TrainerConfig, TrainingHistory,
};
use flowdata::FlowFrame;
use metrics::{ConfusionMatrix, ThresholdRow};
use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

use crate::config::AutoencoderStageConfig;
use crate::error::{PipelineError, Result};
use crate::evaluate::{FamilyRecall, family_recall};
use crate::ingest::{Ingested, row_indices, rows_where};
use crate::progress::Bars;

/// The minibatch size for `rows` training rows: the requested size,
/// clamped to the rows (a batch can never hold more rows than there are,
/// and a size only a flag claims is never allocated).
pub fn batch_size_for(requested: usize, rows: usize) -> usize {
    requested.min(rows).max(1)
}

/// At most this many benign training rows set a detector's error scale: a
/// per-feature mean needs no more.
const SCALE_ROWS: usize = 65_536;

/// The benign training rows that set a detector's error scale: all of
/// them, or [`SCALE_ROWS`] evenly spaced over the split.
fn scale_rows(train: &FlowFrame) -> Array2<f32> {
    let benign = row_indices(train, false);
    let step = benign.len().div_ceil(SCALE_ROWS).max(1);
    let picked: Vec<usize> = benign.into_iter().step_by(step).collect();
    train.features().select(Axis(0), &picked)
}

/// The share of benign validation flows the novelty detectors' report
/// rows are judged at (their partial ROC AUC's `max_fpr`).
pub const DETECTOR_MAX_FPR: f64 = 0.01;

/// A novelty detector on the test split: ranking quality overall and at
/// few false alarms, and the counts at its calibrated threshold.
#[derive(Clone, Debug, Serialize)]
pub struct DetectorEvaluation {
    /// How per-feature errors become the score.
    pub scoring: ErrorScoring,
    /// Test ROC AUC of the score.
    pub roc_auc: f64,
    /// Test partial ROC AUC up to FPR 0.01, standardised (scikit-learn's
    /// `max_fpr`): 0.5 is chance, 1 perfect.
    pub partial_roc_auc: f64,
    /// Test average precision of the score.
    pub average_precision: f64,
    /// Threshold: the configured percentile of benign validation scores.
    pub threshold: f64,
    /// Test confusion counts and rates at the threshold (its recall is the
    /// recall at the percentile's false-alarm rate on validation).
    #[serde(flatten)]
    pub at_threshold: ThresholdRow,
    /// Recall of each attack family at the threshold.
    pub per_family_recall: BTreeMap<String, FamilyRecall>,
}

/// The scores of an autoencoder's detector on the test split.
#[derive(Clone, Debug, Serialize)]
pub struct AutoencoderResult {
    /// `ff`, `conv` or `deep`.
    pub kind: String,
    /// Best validation loss (mean squared error on scaled features).
    pub val_loss: f64,
    /// Epoch of the best validation loss.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Rows trained on.
    pub train_rows: usize,
    /// The minibatch size used: the configured one, clamped to the
    /// training rows.
    pub batch_size: usize,
    /// Training wall-clock seconds.
    pub train_seconds: f64,
    /// Latent units that are constant (spread below 1e-6) over the benign
    /// validation rows: capacity the model does not use.
    pub dead_latent_units: usize,
    /// The detector's numbers.
    #[serde(flatten)]
    pub detection: DetectorEvaluation,
}

/// A novelty baseline detector (no training loop): PCA.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineDetectorResult {
    /// `pca32`: the method and its size.
    pub name: String,
    /// Share of the benign training variance the components keep.
    pub explained_variance: f64,
    /// The detector's numbers.
    #[serde(flatten)]
    pub detection: DetectorEvaluation,
}

/// Novelty scores of the validation and test rows.
#[derive(Clone, Debug)]
pub struct NoveltyScores {
    /// Every validation row's score.
    pub validation: Vec<f64>,
    /// Every test row's score.
    pub test: Vec<f64>,
}

/// A trained autoencoder with its calibrated detector and history.
#[derive(Debug)]
pub struct TrainedAutoencoder {
    /// The model kind.
    pub kind: ModelKind,
    /// The detector (model, error scale and threshold).
    pub detector: ReconstructionDetector<Model>,
    /// The training history.
    pub history: TrainingHistory,
    /// Novelty scores of the validation and test rows.
    pub scores: NoveltyScores,
    /// The test-split numbers.
    pub result: AutoencoderResult,
}

/// Calibrate a reconstruction detector (its error scale on the benign
/// training rows, its threshold on the benign validation rows with their
/// out-of-range distances), score every validation and test row, and
/// measure it on the test split.
pub fn calibrate_detector<M: Reconstructor>(
    model: M,
    data: &Ingested,
    config: &AutoencoderStageConfig,
) -> Result<(ReconstructionDetector<M>, NoveltyScores, DetectorEvaluation)> {
    let benign = row_indices(&data.validation, false);
    if benign.is_empty() {
        return Err(PipelineError::Unsupported(
            "the validation split holds no benign row to calibrate the detector on".into(),
        ));
    }
    // Without benign training rows, the validation rows set the scale too.
    let scale = scale_rows(&data.train);
    let detector = ReconstructionDetector::fit_scaled(
        model,
        (scale.nrows() > 0).then(|| scale.view()),
        data.validation.features().select(Axis(0), &benign).view(),
        Some(&data.validation_range.select(&benign)),
        config.threshold,
        config.scoring,
    )?;
    let scores = NoveltyScores {
        validation: detector
            .score_with(data.validation.features(), Some(&data.validation_range))?,
        test: detector.score_with(data.test.features(), Some(&data.test_range))?,
    };
    let labels = data.test.attack_mask();
    let threshold = detector.threshold().value;
    let flags: Vec<bool> = scores.test.iter().map(|&s| s > threshold).collect();
    let cm = ConfusionMatrix::from_predictions(&labels, &flags)?;
    let evaluation = DetectorEvaluation {
        scoring: config.scoring,
        roc_auc: metrics::roc_auc(&labels, &scores.test)?,
        partial_roc_auc: metrics::partial_roc_auc(&labels, &scores.test, DETECTOR_MAX_FPR)?,
        average_precision: metrics::average_precision(&labels, &scores.test)?,
        threshold,
        at_threshold: ThresholdRow::new(threshold, &cm),
        per_family_recall: family_recall(&data.test.families(), &flags),
    };
    Ok((detector, scores, evaluation))
}

/// The PCA baseline detector: `components` principal components (as many
/// as the autoencoders' latent code) fitted on the benign training rows,
/// scored like the autoencoders.
pub fn pca_detector(
    components: usize,
    data: &Ingested,
    config: &AutoencoderStageConfig,
) -> Result<(
    ReconstructionDetector<Pca>,
    NoveltyScores,
    BaselineDetectorResult,
)> {
    let benign = rows_where(&data.train, false);
    let pca = Pca::fit(benign.view(), components.min(benign.ncols()))?;
    let explained_variance = pca.explained_variance_ratio().iter().sum();
    let name = format!("pca{}", pca.n_components());
    let (detector, scores, detection) = calibrate_detector(pca, data, config)?;
    Ok((
        detector,
        scores,
        BaselineDetectorResult {
            name,
            explained_variance,
            detection,
        },
    ))
}

/// Latent units whose values over `x` spread less than 1e-6.
fn dead_units(model: &Model, x: ArrayView2<'_, f32>) -> Result<usize> {
    let z = model.encode_batch(x)?;
    Ok(z.axis_iter(Axis(1))
        .filter(|c| {
            let (lo, hi) = c
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            hi - lo < 1e-6
        })
        .count())
}

/// What the training stages of a run share: its seed, the scaled splits,
/// where the models are saved, and the progress bars.
#[derive(Clone, Copy, Debug)]
pub struct Stage<'a> {
    /// Seed of model initialisation and training.
    pub seed: u64,
    /// The scaled splits and what scaled them.
    pub data: &'a Ingested,
    /// The run's `models/` directory.
    pub models_dir: &'a Path,
    /// Progress bars.
    pub bars: &'a Bars,
}

/// Train one autoencoder on the training split (benign rows only, or all
/// rows), with early stopping on the validation loss; calibrate its
/// detector on the benign validation rows; score the validation and test
/// splits; save it to `models/<kind>/`. `threads` sizes the trainer's
/// thread pool.
pub fn train_autoencoder(
    kind: ModelKind,
    config: &AutoencoderStageConfig,
    stage: &Stage<'_>,
    threads: usize,
) -> Result<TrainedAutoencoder> {
    let (data, seed) = (stage.data, stage.seed);
    let (train, validation) = (&data.train, &data.validation);
    let n_features = train.n_features();
    let benign_only = config.trainer.benign_only;
    let (x_train, x_val) = if benign_only {
        (rows_where(train, false), rows_where(validation, false))
    } else {
        (
            train.features().to_owned(),
            validation.features().to_owned(),
        )
    };
    let batch_size = batch_size_for(config.trainer.batch_size, x_train.nrows());
    let mut model_config = ModelConfig::default_for(kind);
    if let ModelConfig::FeedForward(c) | ModelConfig::Deep(c) = &mut model_config {
        c.input_noise_std = config.input_noise_std;
    }
    let mut model = Model::new(&model_config, n_features, seed)?.with_backend(config.backend);
    let trainer = Trainer::new(TrainerConfig {
        batch_size,
        seed,
        threads,
        ..config.trainer.clone()
    })?;
    if x_train.nrows() == 0 || x_val.nrows() == 0 {
        return Err(PipelineError::Unsupported(format!(
            "no benign rows to train the {} autoencoder on (train {}, validation {})",
            kind.as_str(),
            x_train.nrows(),
            x_val.nrows()
        )));
    }
    let batches = trainer
        .config()
        .rows_per_epoch(x_train.nrows())
        .div_ceil(batch_size) as u64;
    let bar = stage.bars.bar(
        batches * config.trainer.epochs as u64,
        &format!("autoencoder {}", kind.as_str()),
        "batches",
    );
    let started = Instant::now();
    let history = trainer.fit(&mut model, x_train.view(), x_val.view(), &mut |p| {
        if p.completed.is_none() {
            bar.set_position((p.epoch as u64 - 1) * batches + p.batch as u64);
        }
    })?;
    bar.finish_and_clear();
    let train_seconds = started.elapsed().as_secs_f64();

    // The benign validation rows: `x_val` already, unless training read all rows.
    let benign_val = if benign_only {
        x_val
    } else {
        rows_where(validation, false)
    };
    let dead_latent_units = dead_units(&model, benign_val.view())?;
    let (detector, scores, detection) = calibrate_detector(model, data, config)?;
    let result = AutoencoderResult {
        kind: kind.as_str().to_string(),
        val_loss: history.best_val_loss,
        best_epoch: history.best_epoch,
        epochs_run: history.epochs.len(),
        stopped_early: history.stopped_early,
        train_rows: history.train_rows,
        batch_size,
        train_seconds,
        dead_latent_units,
        detection,
    };
    detector
        .model()
        .save(&stage.models_dir.join(kind.as_str()))?;
    Ok(TrainedAutoencoder {
        kind,
        detector,
        history,
        scores,
        result,
    })
}
