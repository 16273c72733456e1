//! The crate's error type: one enum whose messages name the file, the part
//! of a detector or the value that is wrong.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong loading, checking, scoring, adapting or
/// saving a detector, or writing its verdicts.
#[derive(Debug, Error)]
pub enum DetectorError {
    /// Reading, aligning or scaling flows failed (the message names the
    /// file, line and column).
    #[error("data: {0}")]
    Data(#[from] flowdata::FlowDataError),
    /// A part of a detector is damaged or disagrees with another part.
    #[error("{path}: {what}")]
    Invalid {
        /// The file or directory of the part.
        path: PathBuf,
        /// What is wrong, with the values that disagree.
        what: String,
    },
    /// An autoencoder could not be loaded, run or fine-tuned.
    #[error("autoencoder: {0}")]
    Autoencoder(#[from] autoencoders::AutoencoderError),
    /// An argument is out of its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    Argument {
        /// The argument or setting.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// Why it is refused, and what is valid.
        reason: String,
    },
    /// The policy could not be loaded or run.
    #[error("policy: {0}")]
    Ppo(#[from] ppo::PpoError),
    /// Inputs of one call that do not fit together (rows of scores and of
    /// labels, of flows and of their out-of-range record).
    #[error("{0}")]
    Mismatch(String),
    /// A threshold or rate could not be computed.
    #[error("metrics: {0}")]
    Metrics(#[from] metrics::MetricsError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file of the detector could not be parsed or written.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// Writing verdicts failed.
    #[error("writing the scores: {0}")]
    Output(String),
}

impl DetectorError {
    pub(crate) fn argument(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        DetectorError::Argument {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        DetectorError::Invalid {
            path: path.into(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DetectorError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = DetectorError> = std::result::Result<T, E>;
