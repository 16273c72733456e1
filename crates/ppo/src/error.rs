//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum PpoError {
    /// A configuration value outside its valid range.
    #[error("invalid value for `{name}`: {value} ({reason})")]
    InvalidConfig {
        /// The parameter's name, as in [`PpoConfig`](crate::PpoConfig).
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the value must satisfy.
        reason: String,
    },
    /// An input of the wrong size or shape.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: String,
        /// The expected shape or length.
        expected: String,
        /// The shape or length received.
        got: String,
    },
    /// A space this learner cannot handle (for example a `Box` action space).
    #[error("unsupported {role} space: {space}")]
    UnsupportedSpace {
        /// "action" or "observation".
        role: &'static str,
        /// The space, formatted.
        space: String,
    },
    /// The environment does not match the model (observation size or number
    /// of actions).
    #[error("environment does not match the model: {0}")]
    EnvMismatch(String),
    /// A non-finite value appeared during training (diverged optimisation or
    /// non-finite observations or rewards).
    #[error("non-finite {what} at iteration {iteration}")]
    NonFinite {
        /// The quantity that became NaN or infinite.
        what: &'static str,
        /// The training iteration (1-based).
        iteration: u64,
    },
    /// An error from the environment.
    #[error("environment error: {0}")]
    Env(#[from] rlenv::RlEnvError),
    /// A file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON document could not be parsed or written.
    #[error("JSON error in {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A safetensors file could not be parsed or written.
    #[error("safetensors error in {path}: {message}")]
    SafeTensors {
        /// The file.
        path: PathBuf,
        /// The underlying error, formatted.
        message: String,
    },
    /// A saved model is incomplete or inconsistent with its configuration.
    #[error("invalid saved model in {path}: {message}")]
    InvalidModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The value network's training thread stopped unexpectedly.
    #[error("training worker failed: {0}")]
    Worker(String),
    /// A callback reported an error.
    #[error("callback failed: {0}")]
    Callback(String),
}

impl From<dense::DenseError> for PpoError {
    fn from(e: dense::DenseError) -> Self {
        match e {
            dense::DenseError::InvalidSizes { sizes, reason } => PpoError::InvalidConfig {
                name: "layer sizes",
                value: format!("{sizes:?}"),
                reason,
            },
            dense::DenseError::Length {
                what,
                expected,
                got,
            } => PpoError::Shape {
                what: what.into(),
                expected: expected.to_string(),
                got: got.to_string(),
            },
            other => PpoError::Shape {
                what: "network pass".into(),
                expected: "consistent shapes".into(),
                got: other.to_string(),
            },
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = PpoError> = std::result::Result<T, E>;
