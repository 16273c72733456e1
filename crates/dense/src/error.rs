//! The crate's error type.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DenseError {
    /// Layer sizes that do not describe a network.
    #[error("invalid layer sizes {sizes:?}: {reason}")]
    InvalidSizes {
        /// The sizes given, input first.
        sizes: Vec<usize>,
        /// What the sizes must satisfy.
        reason: String,
    },
    /// A slice or count of the wrong length.
    #[error("{what} has length {got}, expected {expected}")]
    Length {
        /// What was being checked.
        what: &'static str,
        /// The length needed.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A backward pass whose workspace holds no forward pass of the same
    /// network over the same number of rows.
    #[error("backward pass over {batch} rows without a matching forward pass")]
    NoForwardPass {
        /// Rows of the backward pass.
        batch: usize,
    },
    /// A categorical value that is not an integer index of an embedding.
    #[error("category {value} of row {row} is not an integer in 0..{cardinality}")]
    Category {
        /// Row of the value.
        row: usize,
        /// The value.
        value: f32,
        /// Number of categories.
        cardinality: usize,
    },
    /// A matrix view that reaches past the end of its slice.
    #[error(
        "a {rows} x {cols} view with strides ({row_stride}, {col_stride}) does not fit in {len} values"
    )]
    ViewOutOfBounds {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Its row stride.
        row_stride: usize,
        /// Its column stride.
        col_stride: usize,
        /// Length of the slice.
        len: usize,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = DenseError> = std::result::Result<T, E>;
