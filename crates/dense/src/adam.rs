//! Adam on a flat parameter buffer, and global gradient-norm clipping.

use crate::kernels::{self, AdamStep};

/// Adam (Kingma and Ba) with PyTorch's formulation:
///
/// ```text
/// m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// ```
///
/// The moments are flat buffers the size of the parameters; a step does not
/// allocate.
///
/// ```
/// use dense::Adam;
///
/// let mut params = vec![1.0f32, -2.0];
/// let mut adam = Adam::new(params.len(), 0.1, 1e-8);
/// adam.step(&mut params, &[0.5, -0.5], 1.0);
/// // The first step moves each parameter by about lr against its gradient.
/// assert!((params[0] - 0.9).abs() < 1e-6 && (params[1] + 1.9).abs() < 1e-6);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment (0.9).
    pub beta1: f32,
    /// Decay of the second moment (0.999).
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    t: u64,
}

impl Adam {
    /// Adam for `n_params` parameters with betas (0.9, 0.999).
    pub fn new(n_params: usize, lr: f32, eps: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps,
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
            t: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// First-moment estimates.
    pub fn exp_avg(&self) -> &[f32] {
        &self.m
    }

    /// Second-moment estimates.
    pub fn exp_avg_sq(&self) -> &[f32] {
        &self.v
    }

    /// Restores the state of a saved optimiser. Returns `false` (and changes
    /// nothing) when the moment lengths differ from this optimiser's.
    pub fn restore(&mut self, exp_avg: &[f32], exp_avg_sq: &[f32], steps: u64) -> bool {
        if exp_avg.len() != self.m.len() || exp_avg_sq.len() != self.v.len() {
            return false;
        }
        self.m.copy_from_slice(exp_avg);
        self.v.copy_from_slice(exp_avg_sq);
        self.t = steps;
        true
    }

    /// One update of `params` with gradients `grads`, each gradient first
    /// multiplied by `grad_scale` (the factor of gradient clipping; 1 for
    /// none).
    ///
    /// # Panics
    /// When `params` or `grads` differ in length from the optimiser's
    /// moments (a programming error).
    pub fn step(&mut self, params: &mut [f32], grads: &[f32], grad_scale: f32) {
        assert!(
            params.len() == self.m.len() && grads.len() == self.m.len(),
            "Adam over {} parameters given {} parameters and {} gradients",
            self.m.len(),
            params.len(),
            grads.len()
        );
        self.t += 1;
        let t = self.t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - (self.beta1 as f64).powi(t);
        let bc2 = 1.0 - (self.beta2 as f64).powi(t);
        let s = AdamStep {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            step_size: (self.lr as f64 / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            grad_scale,
        };
        kernels::adam_update(params, grads, &mut self.m, &mut self.v, s);
    }
}

/// The Euclidean norm of all gradients together, `sqrt(sum of g^2)`,
/// summed in a fixed order (deterministic).
pub fn global_norm(grads: &[&[f32]]) -> f32 {
    grads
        .iter()
        .map(|g| kernels::sum_squares(g))
        .sum::<f32>()
        .sqrt()
}

/// PyTorch's `clip_grad_norm_`: when the global norm exceeds `max_norm`,
/// scales every gradient by `max_norm / (norm + 1e-6)`. Returns the norm
/// before clipping.
///
/// ```
/// use dense::{clip_grad_norm, global_norm};
///
/// let mut a = vec![3.0f32, 0.0];
/// let mut b = vec![4.0f32];
/// let before = clip_grad_norm(&mut [&mut a, &mut b], 0.5);
/// assert_eq!(before, 5.0);
/// assert!((global_norm(&[&a, &b]) - 0.5).abs() < 1e-6);
/// ```
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f32) -> f32 {
    let views: Vec<&[f32]> = grads.iter().map(|g| &**g).collect();
    let norm = global_norm(&views);
    let coef = clip_coefficient(norm, max_norm);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            kernels::scale(g, coef);
        }
    }
    norm
}

/// The factor `min(1, max_norm / (norm + 1e-6))` that clipping applies to
/// gradients of global norm `norm`.
///
/// ```
/// assert_eq!(dense::clip_coefficient(0.5, 1.0), 1.0);
/// assert!((dense::clip_coefficient(4.0, 1.0) - 0.25).abs() < 1e-6);
/// ```
pub fn clip_coefficient(norm: f32, max_norm: f32) -> f32 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: Adam as written in PyTorch's documentation, in f64.
    #[test]
    fn adam_matches_reference_formula_over_several_steps() {
        let mut p = vec![0.5f32, -1.5, 2.0, 0.0, 3.0];
        let mut pr: Vec<f64> = p.iter().map(|&x| x as f64).collect();
        let (lr, eps, b1, b2) = (3e-3f64, 1e-5f64, 0.9f64, 0.999f64);
        let mut m = vec![0.0f64; p.len()];
        let mut v = vec![0.0f64; p.len()];
        let mut adam = Adam::new(p.len(), lr as f32, eps as f32);
        for t in 1..=7 {
            let g: Vec<f32> = (0..p.len()).map(|i| ((i + t) as f32 * 0.7).sin()).collect();
            let scale = if t % 2 == 0 { 0.5 } else { 1.0 };
            adam.step(&mut p, &g, scale);
            for i in 0..p.len() {
                let gi = g[i] as f64 * scale as f64;
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                let mhat = m[i] / (1.0 - b1.powi(t as i32));
                let denom = (v[i] / (1.0 - b2.powi(t as i32))).sqrt() + eps;
                pr[i] -= lr * mhat / denom;
            }
        }
        assert_eq!(adam.steps(), 7);
        for (a, b) in p.iter().zip(&pr) {
            assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn clipping_leaves_small_gradients_alone() {
        let mut a = vec![0.1f32, 0.2];
        let before = clip_grad_norm(&mut [&mut a], 10.0);
        assert!((before - 0.05f32.sqrt()).abs() < 1e-7);
        assert_eq!(a, vec![0.1, 0.2]);
    }

    #[test]
    fn restore_rejects_wrong_lengths() {
        let mut adam = Adam::new(3, 0.1, 1e-5);
        assert!(!adam.restore(&[0.0; 2], &[0.0; 3], 4));
        assert!(adam.restore(&[1.0; 3], &[2.0; 3], 4));
        assert_eq!(adam.steps(), 4);
        assert_eq!(adam.exp_avg(), &[1.0; 3]);
        assert_eq!(adam.exp_avg_sq(), &[2.0; 3]);
    }
}
