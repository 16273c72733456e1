//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when building, training, scoring, saving or
/// loading an autoencoder.
#[derive(Debug, thiserror::Error)]
pub enum AutoencoderError {
    /// A configuration value is outside its valid range.
    #[error("invalid configuration: {name} = {value}: {reason}")]
    InvalidConfig {
        /// The parameter's name, e.g. `dropout`.
        name: &'static str,
        /// The rejected value, as written by `Debug`.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// The input matrix has the wrong number of columns.
    #[error("input has {got} columns but the model expects {expected}")]
    FeatureMismatch {
        /// Columns the model was built for.
        expected: usize,
        /// Columns of the matrix given.
        got: usize,
    },
    /// An input matrix has no rows where some are required.
    #[error("{what} has no rows")]
    EmptyInput {
        /// Which input, e.g. `training data`.
        what: &'static str,
    },
    /// A NaN or infinite value in an input matrix.
    #[error("{what} holds the non-finite value {value} at row {row}, column {column}")]
    NonFiniteInput {
        /// Which input, e.g. `training data`.
        what: &'static str,
        /// Row of the bad value.
        row: usize,
        /// Column of the bad value.
        column: usize,
        /// The bad value.
        value: f32,
    },
    /// A categorical column holds a value that is not an index of the embedding.
    #[error(
        "categorical column {column} holds {value} at row {row}, which is not an integer in 0..{cardinality}"
    )]
    CategoryOutOfRange {
        /// Column of the categorical feature.
        column: usize,
        /// Row of the bad value.
        row: usize,
        /// The bad value.
        value: f32,
        /// Number of categories the embedding holds.
        cardinality: usize,
    },
    /// An out-of-range listing does not belong to the matrix it came with.
    #[error("out-of-range values listed for {listed} rows of a matrix of {rows}")]
    OutOfRangeRows {
        /// Rows of the matrix.
        rows: usize,
        /// Rows the listing was made for.
        listed: usize,
    },
    /// A detector's per-feature error divisors do not fit its model.
    #[error("bad error scale: {reason}")]
    BadErrorScale {
        /// What is wrong.
        reason: String,
    },
    /// Labels and rows disagree in length.
    #[error("{rows} rows but {labels} labels")]
    LabelMismatch {
        /// Rows in the matrix.
        rows: usize,
        /// Labels given.
        labels: usize,
    },
    /// The training loss became NaN or infinite.
    #[error(
        "training loss became {value} at epoch {epoch}, batch {batch}: lower the learning rate, enable gradient clipping or check the input scaling"
    )]
    NonFiniteLoss {
        /// Epoch (from 1) where it happened.
        epoch: usize,
        /// Minibatch (from 1) within the epoch.
        batch: usize,
        /// The loss value.
        value: f32,
    },
    /// The validation loss became NaN or infinite.
    #[error("validation loss became {value} at epoch {epoch}")]
    NonFiniteValidationLoss {
        /// Epoch (from 1) where it happened.
        epoch: usize,
        /// The loss value.
        value: f32,
    },
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be written or parsed.
    #[error("invalid JSON in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A weights file is not a readable safetensors file (truncated, corrupt).
    #[error("{path} is not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        reason: String,
    },
    /// The weights file lacks a tensor the model needs.
    #[error("{path} has no tensor named {name}")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        name: String,
    },
    /// The weights file holds a tensor the model does not have.
    #[error("{path} holds the tensor {name}, which this model does not have")]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        name: String,
    },
    /// A tensor in the weights file has the wrong shape or type.
    #[error("tensor {name} in {path} is {got}, expected {expected}")]
    TensorMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's key.
        name: String,
        /// What the model needs, e.g. `F32 [77, 128]`.
        expected: String,
        /// What the file holds.
        got: String,
    },
    /// The saved model was written in a format this build does not read.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    FormatVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The saved configuration contradicts itself (e.g. feature names that do
    /// not match the model's input width).
    #[error("inconsistent saved model in {path}: {reason}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// A reconstruction handed in does not fit the rows it reconstructs.
    #[error(
        "a reconstruction of {got:?} (rows, columns) for rows that reconstruct to {expected:?}"
    )]
    ReconstructionShape {
        /// (rows, reconstructed columns) of the input.
        expected: (usize, usize),
        /// The shape handed in.
        got: (usize, usize),
    },
    /// The worker threads could not be started.
    #[error("cannot start {threads} worker threads: {reason}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// What the thread pool reported.
        reason: String,
    },
    /// An error of the candle backend.
    #[error("candle backend: {0}")]
    Candle(String),
    /// An error from the dense engine (an internal shape disagreement).
    #[error("dense engine: {0}")]
    Dense(#[from] dense::DenseError),
}

/// The crate's result type.
pub type Result<T, E = AutoencoderError> = std::result::Result<T, E>;

/// Builds an [`AutoencoderError::InvalidConfig`].
pub(crate) fn invalid(
    name: &'static str,
    value: impl std::fmt::Debug,
    reason: &'static str,
) -> AutoencoderError {
    AutoencoderError::InvalidConfig {
        name,
        value: format!("{value:?}"),
        reason,
    }
}
