//! The crate's error type.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BaselineError {
    /// A configuration value outside its valid range.
    #[error("invalid value for `{name}`: {value} ({reason})")]
    InvalidConfig {
        /// The parameter's name, as in the config struct.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the value must satisfy.
        reason: String,
    },
    /// Inputs whose sizes disagree.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: &'static str,
        /// The size needed.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// A NaN or infinite input value.
    #[error("{what}: row {row}, column {column} holds the non-finite value {value}")]
    NonFinite {
        /// Which input holds it.
        what: &'static str,
        /// Its row.
        row: usize,
        /// Its column.
        column: usize,
        /// The value itself.
        value: f32,
    },
    /// Data a model cannot be fitted on: no rows, or a single class.
    #[error("cannot fit on the {what}: {reason}")]
    UnusableData {
        /// Which input.
        what: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Training produced a non-finite loss.
    #[error("training diverged at epoch {epoch}: the {which} loss is {value}")]
    Diverged {
        /// The epoch (1-based).
        epoch: usize,
        /// `training` or `validation`.
        which: &'static str,
        /// The loss.
        value: f64,
    },
    /// An error of the dense engine.
    #[error(transparent)]
    Dense(#[from] dense::DenseError),
    /// An error of the tree-ensemble library.
    #[error("tree ensemble: {0}")]
    Tree(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = BaselineError> = std::result::Result<T, E>;

/// An [`BaselineError::InvalidConfig`] for field `name`.
pub(crate) fn invalid(
    name: &'static str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> BaselineError {
    BaselineError::InvalidConfig {
        name,
        value: value.to_string(),
        reason: reason.into(),
    }
}
