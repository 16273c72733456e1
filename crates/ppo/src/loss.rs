//! PPO's losses and their gradients, as plain functions over slices.
//!
//! Each function returns the loss (a mean over the minibatch) and writes its
//! derivative with respect to its prediction, so the learner only chains
//! them into the networks' backward passes.

use crate::error::{PpoError, Result};

/// Statistics of the clipped surrogate over one minibatch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicyLossStats {
    /// `-mean(min(A r, A clip(r, 1 - c, 1 + c)))`.
    pub loss: f32,
    /// Fraction of samples with `|r - 1| > c`.
    pub clip_fraction: f32,
    /// `mean((r - 1) - log r)`, the low-variance estimator of KL(old, new).
    pub approx_kl: f32,
}

fn check_lengths(what: &str, expected: usize, lens: &[usize]) -> Result<()> {
    match lens.iter().find(|&&l| l != expected) {
        Some(&got) => Err(PpoError::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }),
        None => Ok(()),
    }
}

/// PPO's clipped surrogate objective (as a loss to minimise) with
/// `r = exp(log_probs - old_log_probs)`, and its derivative with respect to
/// each log-probability written into `d_log_probs`:
/// `-A r / n` where the unclipped term is the minimum, 0 where the clipped
/// one is.
///
/// ```
/// use ppo::loss::clipped_surrogate;
///
/// let (new, old, adv) = ([0.5f32.ln()], [0.25f32.ln()], [1.0f32]); // r = 2
/// let mut d = [0.0f32];
/// let s = clipped_surrogate(&new, &old, &adv, 0.2, &mut d)?;
/// assert!((s.loss + 1.2).abs() < 1e-6); // clipped at 1 + 0.2
/// assert_eq!(d[0], 0.0);
/// assert_eq!(s.clip_fraction, 1.0);
/// # Ok::<(), ppo::PpoError>(())
/// ```
///
/// # Errors
/// [`PpoError::Shape`] when the slices differ in length.
pub fn clipped_surrogate(
    log_probs: &[f32],
    old_log_probs: &[f32],
    advantages: &[f32],
    clip_range: f32,
    d_log_probs: &mut [f32],
) -> Result<PolicyLossStats> {
    let n = log_probs.len();
    check_lengths(
        "clipped surrogate inputs",
        n,
        &[old_log_probs.len(), advantages.len(), d_log_probs.len()],
    )?;
    if n == 0 {
        return Ok(PolicyLossStats {
            loss: 0.0,
            clip_fraction: 0.0,
            approx_kl: 0.0,
        });
    }
    let inv_n = 1.0 / n as f32;
    let (mut loss, mut clipped, mut kl) = (0.0f64, 0usize, 0.0f64);
    for i in 0..n {
        let log_ratio = log_probs[i] - old_log_probs[i];
        let ratio = log_ratio.exp();
        let a = advantages[i];
        let unclipped = a * ratio;
        let clipped_obj = a * ratio.clamp(1.0 - clip_range, 1.0 + clip_range);
        loss -= unclipped.min(clipped_obj) as f64;
        d_log_probs[i] = if unclipped <= clipped_obj {
            -a * ratio * inv_n
        } else {
            0.0
        };
        if (ratio - 1.0).abs() > clip_range {
            clipped += 1;
        }
        kl += ((ratio - 1.0) - log_ratio) as f64;
    }
    Ok(PolicyLossStats {
        loss: (loss / n as f64) as f32,
        clip_fraction: clipped as f32 * inv_n,
        approx_kl: (kl / n as f64) as f32,
    })
}

/// The value loss `mean((returns - v)^2)` where `v` is the prediction, or
/// with `clip_range_vf = Some(c)` the clipped prediction
/// `old_values + clamp(values - old_values, -c, c)` (stable-baselines3's
/// form). Writes `d loss / d values` into `d_values`.
///
/// ```
/// use ppo::loss::value_loss;
///
/// let mut d = [0.0f32; 2];
/// let l = value_loss(&[1.0, 3.0], &[0.0, 0.0], &[2.0, 2.0], None, &mut d)?;
/// assert_eq!(l, 1.0);
/// assert_eq!(d, [-1.0, 1.0]);
/// # Ok::<(), ppo::PpoError>(())
/// ```
///
/// # Errors
/// [`PpoError::Shape`] when the slices differ in length.
pub fn value_loss(
    values: &[f32],
    old_values: &[f32],
    returns: &[f32],
    clip_range_vf: Option<f32>,
    d_values: &mut [f32],
) -> Result<f32> {
    let n = values.len();
    check_lengths(
        "value loss inputs",
        n,
        &[old_values.len(), returns.len(), d_values.len()],
    )?;
    if n == 0 {
        return Ok(0.0);
    }
    let scale = 2.0 / n as f32;
    let mut loss = 0.0f64;
    for i in 0..n {
        let (pred, through) = match clip_range_vf {
            None => (values[i], 1.0),
            Some(c) => {
                let diff = values[i] - old_values[i];
                let inside = if diff.abs() <= c { 1.0 } else { 0.0 };
                (old_values[i] + diff.clamp(-c, c), inside)
            }
        };
        let err = pred - returns[i];
        loss += (err * err) as f64;
        d_values[i] = scale * err * through;
    }
    Ok((loss / n as f64) as f32)
}

/// Normalises advantages in place to zero mean and unit standard deviation
/// (`(a - mean) / (std + 1e-8)`, `std` with Bessel's correction as
/// PyTorch's `std()`); slices shorter than two are left unchanged.
pub fn normalize_advantages(advantages: &mut [f32]) {
    let n = advantages.len();
    if n < 2 {
        return;
    }
    let mean = advantages.iter().map(|&a| a as f64).sum::<f64>() / n as f64;
    let var = advantages
        .iter()
        .map(|&a| (a as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1) as f64;
    let denom = var.sqrt() + 1e-8;
    for a in advantages.iter_mut() {
        *a = ((*a as f64 - mean) / denom) as f32;
    }
}

/// `1 - Var(y_true - y_pred) / Var(y_true)`: 1 for perfect predictions, 0
/// for predicting the mean, negative for worse. `None` when `y_true` has no
/// variance (or the lengths differ or are zero).
///
/// ```
/// use ppo::loss::explained_variance;
///
/// assert_eq!(explained_variance(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), Some(1.0));
/// assert_eq!(explained_variance(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]), Some(0.0));
/// assert_eq!(explained_variance(&[1.0, 2.0], &[5.0, 5.0]), None);
/// ```
pub fn explained_variance(y_pred: &[f32], y_true: &[f32]) -> Option<f32> {
    let n = y_true.len();
    if n == 0 || y_pred.len() != n {
        return None;
    }
    let var = |it: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = it.collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64
    };
    let var_y = var(&mut y_true.iter().map(|&y| y as f64));
    if var_y == 0.0 {
        return None;
    }
    let var_res = var(&mut y_true
        .iter()
        .zip(y_pred)
        .map(|(&y, &p)| y as f64 - p as f64));
    Some((1.0 - var_res / var_y) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_gives_zero_mean_unit_sample_std() {
        let mut a = [1.0f32, 2.0, 4.0, 8.0];
        normalize_advantages(&mut a);
        let mean: f32 = a.iter().sum::<f32>() / 4.0;
        let var: f32 = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        let mut one = [3.0f32];
        normalize_advantages(&mut one);
        assert_eq!(one, [3.0]);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut d = [0.0; 2];
        assert!(clipped_surrogate(&[0.0; 2], &[0.0; 3], &[0.0; 2], 0.2, &mut d).is_err());
        assert!(value_loss(&[0.0; 2], &[0.0; 2], &[0.0; 1], None, &mut d).is_err());
    }
}
