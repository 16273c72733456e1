//! Input checks shared by every public function.

use crate::MetricsError;

/// Checks that `left` is non-empty and that `right` has the same length.
pub(crate) fn check_paired(
    left_name: &'static str,
    left: usize,
    right_name: &'static str,
    right: usize,
) -> Result<(), MetricsError> {
    if left == 0 {
        return Err(MetricsError::EmptyInput { what: left_name });
    }
    if left != right {
        return Err(MetricsError::LengthMismatch {
            left_name,
            left,
            right_name,
            right,
        });
    }
    Ok(())
}

/// Checks that every score is finite.
pub(crate) fn check_finite(what: &'static str, scores: &[f64]) -> Result<(), MetricsError> {
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(MetricsError::NonFiniteScore {
            what,
            index,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// Checks that `scores` is non-empty and finite.
pub(crate) fn check_sample(what: &'static str, scores: &[f64]) -> Result<(), MetricsError> {
    if scores.is_empty() {
        return Err(MetricsError::EmptyInput { what });
    }
    check_finite(what, scores)
}

/// Checks that a decision threshold is not NaN.
pub(crate) fn check_threshold(threshold: f64) -> Result<(), MetricsError> {
    if threshold.is_nan() {
        return Err(MetricsError::InvalidThreshold(threshold));
    }
    Ok(())
}

/// Checks that a rate lies in `[0, 1]`.
pub(crate) fn check_rate(what: &'static str, value: f64) -> Result<(), MetricsError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(MetricsError::InvalidRate { what, value });
    }
    Ok(())
}

/// `numerator / denominator`, or 0 when the denominator is 0
/// (scikit-learn's `zero_division=0`).
pub(crate) fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}
