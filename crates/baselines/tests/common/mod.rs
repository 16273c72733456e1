//! Generated data with a known best decision.

#![allow(dead_code)] // each test file uses part of this module

use baselines::{BaselineError, ClassWeights};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// Two overlapping Gaussian classes in `d` dimensions with identity
/// covariance: benign around the origin, attacks around `(delta, 0, ...)`,
/// a row an attack with probability `prior`.
pub struct Gaussians {
    pub d: usize,
    pub delta: f64,
    pub prior: f64,
}

impl Gaussians {
    pub fn sample(&self, n: usize, seed: u64) -> (Array2<f32>, Vec<bool>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = Array2::zeros((n, self.d));
        let mut y = Vec::with_capacity(n);
        for mut row in x.rows_mut() {
            let attack = rng.random_bool(self.prior);
            for (j, v) in row.iter_mut().enumerate() {
                let mean = if attack && j == 0 { self.delta } else { 0.0 };
                *v = (mean + rng.sample::<f64, _>(StandardNormal)) as f32;
            }
            y.push(attack);
        }
        (x, y)
    }

    /// The Bayes-optimal cost-sensitive rule flags `x` exactly when its first
    /// coordinate exceeds this: where `w_a prior N(x; attack) = w_b (1 -
    /// prior) N(x; benign)`.
    pub fn bayes_threshold(&self, w: ClassWeights) -> f64 {
        let log_ratio = (w.attack() * self.prior / (w.benign() * (1.0 - self.prior))).ln();
        self.delta / 2.0 - log_ratio / self.delta
    }
}

/// Attack recall, false-positive rate and F1 of `flags` against `labels`.
pub fn rates(labels: &[bool], flags: &[bool]) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (&y, &f) in labels.iter().zip(flags) {
        match (y, f) {
            (true, true) => tp += 1.0,
            (false, true) => fp += 1.0,
            (true, false) => fn_ += 1.0,
            (false, false) => tn += 1.0,
        }
    }
    (
        tp / (tp + fn_),
        fp / (fp + tn),
        2.0 * tp / (2.0 * tp + fp + fn_),
    )
}

/// Mean regret per row of `flags` under weights `w`.
pub fn mean_regret(labels: &[bool], flags: &[bool], w: ClassWeights) -> f64 {
    labels
        .iter()
        .zip(flags)
        .filter(|(y, f)| y != f)
        .map(|(&y, _)| w.of(y))
        .sum::<f64>()
        / labels.len() as f64
}

/// Asserts that `err` is a shape error `expected` vs `got` whose message
/// contains `needle`.
pub fn assert_shape(err: BaselineError, expected: usize, got: usize, needle: &str) {
    let ok = matches!(err, BaselineError::Shape { expected: e, got: g, .. } if e == expected && g == got);
    assert!(ok && err.to_string().contains(needle), "{err}");
}

/// Asserts that `err` names a non-finite value at `row`, `column`.
pub fn assert_non_finite(err: BaselineError, row: usize, column: usize) {
    let ok = matches!(err, BaselineError::NonFinite { row: r, column: c, .. } if r == row && c == column);
    assert!(ok, "{err}");
}

/// Asserts that `err` is a configuration error naming `field` and showing
/// `value`.
pub fn assert_invalid(err: BaselineError, field: &str, value: &str) {
    let msg = err.to_string();
    let ok = matches!(err, BaselineError::InvalidConfig { name, .. } if name == field);
    assert!(ok && msg.contains(value), "{field}: {msg}");
}
