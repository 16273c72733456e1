//! Checks on the inputs every model takes.

use ndarray::ArrayView2;

use crate::error::{BaselineError, Result};

/// Checks that `x` has `n_features` columns (when given) and only finite
/// values.
pub(crate) fn check_features(
    what: &'static str,
    x: ArrayView2<'_, f32>,
    n_features: Option<usize>,
) -> Result<()> {
    if let Some(expected) = n_features
        && x.ncols() != expected
    {
        return Err(BaselineError::Shape {
            what,
            expected,
            got: x.ncols(),
        });
    }
    for (row, r) in x.rows().into_iter().enumerate() {
        if let Some((column, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(BaselineError::NonFinite {
                what,
                row,
                column,
                value,
            });
        }
    }
    Ok(())
}

/// Which labelled set is being checked (the names errors give it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The rows a model is fitted on: both classes are needed.
    Training,
    /// The rows that choose when to stop.
    Validation,
}

impl Role {
    fn features(self) -> &'static str {
        match self {
            Role::Training => "training features",
            Role::Validation => "validation features",
        }
    }

    fn labels(self) -> &'static str {
        match self {
            Role::Training => "training labels (one per row)",
            Role::Validation => "validation labels (one per row)",
        }
    }
}

/// Checks a labelled set: one label per row, at least one row and column,
/// only finite values, `n_features` columns (when given) and, for a
/// training set, rows of both classes.
fn check_labelled(
    role: Role,
    x: ArrayView2<'_, f32>,
    labels: &[bool],
    n_features: Option<usize>,
) -> Result<()> {
    let what = role.features();
    if labels.len() != x.nrows() {
        return Err(BaselineError::Shape {
            what: role.labels(),
            expected: x.nrows(),
            got: labels.len(),
        });
    }
    if x.ncols() == 0 || x.nrows() == 0 {
        return Err(BaselineError::UnusableData {
            what,
            reason: format!("{} rows x {} columns", x.nrows(), x.ncols()),
        });
    }
    if role == Role::Training {
        let attacks = labels.iter().filter(|&&a| a).count();
        if attacks == 0 || attacks == labels.len() {
            return Err(BaselineError::UnusableData {
                what,
                reason: format!(
                    "all {} rows are {}; both classes are needed",
                    labels.len(),
                    if attacks == 0 { "benign" } else { "attacks" }
                ),
            });
        }
    }
    check_features(what, x, n_features)
}

/// Checks the inputs of a fit: a training set of both classes and a
/// validation set with the same columns.
pub(crate) fn check_fit_inputs(
    x_train: ArrayView2<'_, f32>,
    y_train: &[bool],
    x_val: ArrayView2<'_, f32>,
    y_val: &[bool],
) -> Result<()> {
    check_labelled(Role::Training, x_train, y_train, None)?;
    check_labelled(Role::Validation, x_val, y_val, Some(x_train.ncols()))
}
