#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "candle")]
mod candle_backend;
mod config;
mod detector;
mod engine;
mod error;
mod model;
mod pca;
mod persist;
mod spec;
mod threads;
mod trainer;

pub use config::{Activation, Conv1dConfig, DenseConfig, EmbeddingConfig, ModelConfig, ModelKind};
pub use detector::{
    ErrorScale, ErrorScoring, ReconstructionDetector, Reconstructor, Threshold, ThresholdMethod,
};
pub use error::{AutoencoderError, Result};
pub use model::{Autoencoder, Backend, Model};
pub use pca::Pca;
pub use persist::{CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE};
pub use threads::recommended_thread_env;
pub use trainer::{
    EarlyStopping, EpochRecord, OptimizerKind, Progress, ReduceLrOnPlateau, Trainer, TrainerConfig,
    TrainingHistory, split_rows,
};
