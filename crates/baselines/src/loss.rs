//! The weighted logistic loss on slices, with its derivative.

use crate::error::{BaselineError, Result};
use crate::weights::ClassWeights;

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// The logistic function in `f64`.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The class-weighted binary cross-entropy of one-logit outputs:
///
/// ```text
/// loss = sum_i w(y_i) * (y_i ? softplus(-z_i) : softplus(z_i)) / norm
/// d loss / d z_i = w(y_i) * (sigmoid(z_i) - y_i) / norm
/// ```
///
/// with `z_i = logits[i]`, `y_i = labels[i]` (true = attack) and `w` the
/// class weights. With `norm` the sum of the weights, the loss is the
/// weighted mean. Computed in `f64`; the derivative, when `d_logits` is
/// given, is written into it (overwriting it).
///
/// ```
/// use baselines::{ClassWeights, weighted_logistic_loss};
///
/// let w = ClassWeights::default(); // benign 3, attack 6
/// let mut d = [0.0f32; 2];
/// let loss = weighted_logistic_loss(&[0.0, 0.0], &[true, false], w, 9.0, Some(&mut d))?;
/// // Both rows at logit 0 lose ln 2, whatever their weight.
/// assert!((loss - 2f64.ln()).abs() < 1e-12);
/// assert_eq!(d, [-6.0 * 0.5 / 9.0, 3.0 * 0.5 / 9.0]);
/// # Ok::<(), baselines::BaselineError>(())
/// ```
///
/// # Errors
/// [`BaselineError::Shape`] when the lengths disagree,
/// [`BaselineError::InvalidConfig`] when `norm` is not positive and finite.
pub fn weighted_logistic_loss(
    logits: &[f32],
    labels: &[bool],
    weights: ClassWeights,
    norm: f64,
    d_logits: Option<&mut [f32]>,
) -> Result<f64> {
    if labels.len() != logits.len() {
        return Err(BaselineError::Shape {
            what: "labels (one per logit)",
            expected: logits.len(),
            got: labels.len(),
        });
    }
    if !(norm.is_finite() && norm > 0.0) {
        return Err(crate::error::invalid(
            "norm",
            norm,
            "must be positive and finite",
        ));
    }
    let loss =
        |z: f64, attack: bool| weights.of(attack) * if attack { softplus(-z) } else { softplus(z) };
    let total: f64 = match d_logits {
        None => logits
            .iter()
            .zip(labels)
            .map(|(&z, &a)| loss(z as f64, a))
            .sum(),
        Some(d) => {
            if d.len() != logits.len() {
                return Err(BaselineError::Shape {
                    what: "logit gradient",
                    expected: logits.len(),
                    got: d.len(),
                });
            }
            let mut total = 0.0;
            for ((&z, &a), g) in logits.iter().zip(labels).zip(d.iter_mut()) {
                let z = z as f64;
                total += loss(z, a);
                let target = if a { 1.0 } else { 0.0 };
                *g = (weights.of(a) * (sigmoid(z) - target) / norm) as f32;
            }
            total
        }
    };
    Ok(total / norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_and_sigmoid_are_stable_far_out() {
        assert_eq!(softplus(1000.0), 1000.0);
        assert_eq!(softplus(-1000.0), 0.0);
        assert!((softplus(0.0) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(-3.0) + sigmoid(3.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn derivative_matches_central_differences() {
        let w = ClassWeights::new(3.0, 6.0).unwrap();
        let z = [-2.5f32, 0.3, 4.0, -0.1];
        let y = [true, false, true, false];
        let mut d = [0.0f32; 4];
        weighted_logistic_loss(&z, &y, w, 7.0, Some(&mut d)).unwrap();
        for i in 0..z.len() {
            // The step actually taken in f32, so that rounding of the
            // perturbed logits does not enter the quotient.
            let (up_z, down_z) = (z[i] + 1e-3, z[i] - 1e-3);
            let at = |zi: f32| {
                let mut zz = z;
                zz[i] = zi;
                weighted_logistic_loss(&zz, &y, w, 7.0, None).unwrap()
            };
            let fd = (at(up_z) - at(down_z)) / (up_z as f64 - down_z as f64);
            assert!((fd - d[i] as f64).abs() < 1e-5, "[{i}] {fd} vs {}", d[i]);
        }
    }

    #[test]
    fn bad_lengths_and_norms_are_errors() {
        let w = ClassWeights::default();
        let err = weighted_logistic_loss(&[0.0], &[true, false], w, 1.0, None).unwrap_err();
        assert!(
            matches!(
                err,
                BaselineError::Shape {
                    expected: 1,
                    got: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = weighted_logistic_loss(&[0.0], &[true], w, 0.0, None).unwrap_err();
        assert!(err.to_string().contains("`norm`"), "{err}");
        let mut d = [0.0f32; 3];
        let err = weighted_logistic_loss(&[0.0], &[true], w, 1.0, Some(&mut d)).unwrap_err();
        assert!(matches!(err, BaselineError::Shape { got: 3, .. }), "{err}");
    }
}
