//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong when building or driving an environment.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RlEnvError {
    /// The latent matrix has no rows or no columns.
    #[error("the latent matrix must be non-empty, but has shape {rows} x {cols}")]
    EmptyData {
        /// Number of rows given.
        rows: usize,
        /// Number of columns given.
        cols: usize,
    },
    /// Row indices are stored as `u32`.
    #[error(
        "at most {} flows are supported, but the latent matrix has {rows} rows",
        u32::MAX
    )]
    TooManyFlows {
        /// Number of rows given.
        rows: usize,
    },
    /// The number of labels differs from the number of latent rows.
    #[error("the latent matrix has {rows} rows but {labels} labels were given")]
    LengthMismatch {
        /// Number of latent rows.
        rows: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label other than 0 (benign) or 1 (attack).
    #[error("label at row {row} must be 0 (benign) or 1 (attack), but is {label}")]
    InvalidLabel {
        /// Row of the bad label.
        row: usize,
        /// The bad label.
        label: u8,
    },
    /// A NaN or infinite latent value.
    #[error("latent value at row {row}, column {col} must be finite, but is {value}")]
    NonFiniteLatent {
        /// Row of the bad value.
        row: usize,
        /// Column of the bad value.
        col: usize,
        /// The bad value.
        value: f32,
    },
    /// Balanced sampling needs both classes.
    #[error("balanced sampling needs both classes, but the data has no {class} rows")]
    MissingClass {
        /// Name of the missing class: `"benign (0)"` or `"attack (1)"`.
        class: &'static str,
    },
    /// An episode length (or time limit) of zero.
    #[error("{name} must be at least 1, but is {value}")]
    ZeroLength {
        /// Name of the parameter.
        name: &'static str,
        /// The bad value.
        value: usize,
    },
    /// A reward that is NaN or infinite.
    #[error("reward {name} must be finite, but is {value}")]
    NonFiniteReward {
        /// Name of the reward-table entry.
        name: &'static str,
        /// The bad value.
        value: f32,
    },
    /// A malformed space.
    #[error("invalid space: {0}")]
    InvalidSpace(String),
    /// A sampling name that is not one of [`crate::Sampling`]'s.
    #[error("unknown sampling {0:?}: expected one of {names}", names = crate::Sampling::names())]
    UnknownSampling(String),
    /// An action outside the action space.
    #[error("action {action} is outside the action space Discrete({n})")]
    InvalidAction {
        /// The bad action.
        action: usize,
        /// Number of valid actions.
        n: usize,
    },
    /// A buffer of the wrong length.
    #[error("{what} must have length {expected}, but has length {got}")]
    WrongLength {
        /// What the buffer holds.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// `step` was called before `reset` or after the episode ended.
    #[error(
        "the environment must be reset before stepping (never reset, or the last episode ended)"
    )]
    ResetNeeded,
    /// A vectorised environment needs at least one environment.
    #[error("a VecEnv needs at least one environment, but got 0")]
    NoEnvs,
    /// The environments of a `VecEnv` do not share their spaces.
    #[error("environment {index} has {which} space {got}, but environment 0 has {expected}")]
    SpaceMismatch {
        /// Index of the first environment that differs.
        index: usize,
        /// `"observation"` or `"action"`.
        which: &'static str,
        /// Space of environment 0.
        expected: String,
        /// Space of environment `index`.
        got: String,
    },
    /// A physical state that is not finite.
    #[error("state component {index} must be finite, but is {value}")]
    NonFiniteState {
        /// Index of the bad component.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// `check_env` found a problem.
    #[error("check_env failed: {0}")]
    CheckFailed(String),
}
