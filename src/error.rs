//! The pipeline's error type: the detector's (flows, models, files,
//! arguments), the environment's and the baselines', data a stage cannot
//! work with, the output directory, and plots.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can stop the pipeline. Messages name the bad value or
/// the file. Reading flows, models and files, and bad arguments, fail as
/// they do for the detector: as a [`detector::DetectorError`].
#[derive(Debug, Error)]
pub enum PipelineError {
    /// Reading flows, a model or a file, an argument out of range, or
    /// saving, loading, scoring with or adapting the detector failed.
    #[error(transparent)]
    Detector(#[from] detector::DetectorError),
    /// The reinforcement-learning environment refused its data.
    #[error("environment: {0}")]
    Env(#[from] rlenv::RlEnvError),
    /// The data cannot support a stage (for example no attack in the
    /// validation split).
    #[error("{0}")]
    Unsupported(String),
    /// A supervised ceiling or baseline could not be trained or run.
    #[error("baseline: {0}")]
    Baseline(#[from] baselines::BaselineError),
    /// The output directory cannot take the run: it is a file, or a
    /// non-empty directory and overwriting was not asked for.
    #[error("output directory {path} {what}")]
    OutputNotEmpty {
        /// The output directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        what: String,
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

/// The errors of the crates below, as the detector's error wraps them.
macro_rules! through_detector {
    ($($error:ty),*) => {
        $(impl From<$error> for PipelineError {
            fn from(e: $error) -> Self {
                PipelineError::Detector(e.into())
            }
        })*
    };
}

through_detector!(
    flowdata::FlowDataError,
    autoencoders::AutoencoderError,
    ppo::PpoError,
    metrics::MetricsError
);

impl PipelineError {
    pub(crate) fn config(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        PipelineError::Detector(detector::DetectorError::Argument {
            name,
            value: value.to_string(),
            reason: reason.into(),
        })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Detector(detector::DetectorError::Io {
            path: path.into(),
            source,
        })
    }

    pub(crate) fn json(path: impl Into<PathBuf>, source: serde_json::Error) -> Self {
        PipelineError::Detector(detector::DetectorError::Json {
            path: path.into(),
            source,
        })
    }
}

/// The pipeline's result type.
pub type Result<T> = std::result::Result<T, PipelineError>;
