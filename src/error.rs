//! The pipeline's error type: one variant per workspace crate, plus bad
//! arguments, file and plot failures.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can stop the pipeline. Messages name the bad value or
/// the file.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// Reading, cleaning, splitting or scaling flows failed.
    #[error("data: {0}")]
    Data(#[from] flowdata::FlowDataError),
    /// Building, training, scoring or saving an autoencoder failed.
    #[error("autoencoder: {0}")]
    Autoencoder(#[from] autoencoders::AutoencoderError),
    /// The reinforcement-learning environment refused its data.
    #[error("environment: {0}")]
    Env(#[from] rlenv::RlEnvError),
    /// PPO training, inference or persistence failed.
    #[error("ppo: {0}")]
    Ppo(#[from] ppo::PpoError),
    /// A supervised ceiling or baseline could not be trained or run.
    #[error("baseline: {0}")]
    Baseline(#[from] baselines::BaselineError),
    /// A metric could not be computed.
    #[error("metrics: {0}")]
    Metrics(#[from] metrics::MetricsError),
    /// A setting is out of its valid range.
    #[error("invalid setting {name} = {value}: {reason}")]
    Config {
        /// The setting.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The data cannot support a stage (for example no attack in the
    /// validation split).
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// JSON encoding failed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The output directory cannot take the run: it is a file, or a
    /// non-empty directory and overwriting was not asked for.
    #[error("output directory {path} {what}")]
    OutputNotEmpty {
        /// The output directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        what: String,
    },
    /// A test hook stopped the run (see [`crate::output::StopHook`]).
    #[error(
        "run stopped at {point} by the test hook; {staging} is left behind as a killed run would leave it"
    )]
    Stopped {
        /// The point of the run.
        point: String,
        /// The temporary directory left behind.
        staging: PathBuf,
    },
    /// Drawing a plot failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl PipelineError {
    pub(crate) fn config(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        PipelineError::Config {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The pipeline's result type.
pub type Result<T> = std::result::Result<T, PipelineError>;
