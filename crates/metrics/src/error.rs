//! The error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when computing a metric.
///
/// Every function of this crate validates its input and returns one of these
/// instead of panicking. The messages name the offending value.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricsError {
    /// An input that needs at least one element is empty.
    #[error("{what} is empty, but at least one element is needed")]
    EmptyInput {
        /// Which input was empty (for example `"labels"`).
        what: &'static str,
    },

    /// Two inputs that must be paired element by element differ in length.
    #[error("{left_name} has {left} elements but {right_name} has {right}")]
    LengthMismatch {
        /// Name of the first input.
        left_name: &'static str,
        /// Length of the first input.
        left: usize,
        /// Name of the second input.
        right_name: &'static str,
        /// Length of the second input.
        right: usize,
    },

    /// A score is NaN or infinite.
    #[error("{what}[{index}] is {value}, but every score must be finite")]
    NonFiniteScore {
        /// Which input held the value (for example `"scores"`).
        what: &'static str,
        /// Position of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },

    /// A decision threshold is NaN (infinite thresholds are allowed).
    #[error("threshold must not be NaN, but is {0}")]
    InvalidThreshold(f64),

    /// A metric is undefined because one of the two classes is absent from
    /// the true labels.
    #[error("{metric} is undefined: the labels contain no {missing} sample")]
    SingleClass {
        /// The metric that was asked for.
        metric: &'static str,
        /// The class that is absent: `"attack"` (positive) or `"benign"` (negative).
        missing: &'static str,
    },

    /// A label is not in the declared class list.
    #[error("{what}[{index}] is {label}, which is not in the class list [{classes}]")]
    UnknownLabel {
        /// Which input held the label (`"y_true"` or `"y_pred"`).
        what: &'static str,
        /// Position of the label.
        index: usize,
        /// The label, as text.
        label: String,
        /// The declared class list, comma separated.
        classes: String,
    },

    /// A class appears twice in a class list.
    #[error("class {0} appears more than once in the class list")]
    DuplicateClass(String),

    /// The counts of a deserialised confusion matrix add up past `u64::MAX`.
    #[error("the counts of the confusion matrix add up past u64::MAX")]
    CountOverflow,

    /// The `beta` of an F-beta score is negative, NaN or infinite.
    #[error("beta must be finite and >= 0, but is {0}")]
    InvalidBeta(f64),

    /// A cost of an error is negative, infinite or NaN.
    #[error("{what} must be a finite non-negative cost, but is {value}")]
    InvalidCost {
        /// Which parameter held the value.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A rate (a target false-positive rate) is outside `[0, 1]` or NaN.
    #[error("{what} must be in [0, 1], but is {value}")]
    InvalidRate {
        /// Which parameter held the value.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
}
