#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod config;
mod conv;
mod conv_train;
mod deep;
mod detector;
mod error;
mod feedforward;
mod inference;
mod layers;
mod model;
mod ops;
mod optim;
mod params;
mod persist;
mod threads;
mod trainer;

pub use candle_core as candle;
pub use config::{
    Activation, Conv1dConfig, DeepConfig, EmbeddingConfig, FeedForwardConfig, ModelConfig,
    ModelKind,
};
pub use conv::Conv1d;
pub use deep::Deep;
pub use detector::{ReconstructionDetector, Threshold, ThresholdMethod};
pub use error::{AutoencoderError, Result};
pub use feedforward::FeedForward;
pub use model::{Autoencoder, INFERENCE_CHUNK, Model};
pub use optim::OptimizerKind;
pub use params::Parameters;
pub use persist::{CONFIG_FILE, FORMAT_VERSION, ModelMetadata, WEIGHTS_FILE};
pub use threads::recommended_thread_env;
pub use trainer::{
    EarlyStopping, EpochRecord, Progress, ReduceLrOnPlateau, Trainer, TrainerConfig,
    TrainingHistory, split_rows,
};
