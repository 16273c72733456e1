//! Action distributions parameterised by the policy network's outputs.

use rand::Rng;
use rand::rngs::StdRng;
use rlenv::Space;

use crate::error::{PpoError, Result};

/// A family of action distributions whose parameters are one row of the
/// policy network's output.
///
/// Actions are rows of `action_width()` `f32` values (a categorical action is
/// its index, stored as one `f32`), so the rollout buffer, the losses and the
/// update do not depend on the family: they only call these methods. A
/// diagonal Gaussian for `Box` actions fits the same trait (outputs: means
/// and log standard deviations; action width: the dimension of the box);
/// what remains specific to discrete actions is handing the action to the
/// environment (`rlenv::FlatEnv` takes an index) and [`distribution_for`].
pub trait ActionDistribution: Send + Sync + std::fmt::Debug {
    /// Number of network outputs per observation.
    fn n_outputs(&self) -> usize;

    /// Number of `f32` values per action.
    fn action_width(&self) -> usize;

    /// The log-probability of `action` and the entropy of the distribution
    /// given the outputs `params` (one row).
    fn log_prob_entropy(&self, params: &[f32], action: &[f32]) -> (f32, f32);

    /// Draws an action into `action`.
    fn sample(&self, params: &[f32], rng: &mut StdRng, action: &mut [f32]);

    /// Writes the most likely action (what `deterministic` prediction uses).
    fn mode(&self, params: &[f32], action: &mut [f32]);

    /// The number of actions of a finite action set (`None` for continuous
    /// families).
    fn n_actions(&self) -> Option<usize>;

    /// Writes the probability of every action into `probs` (`n_actions()`
    /// values); returns `false`, writing nothing, for continuous families.
    fn probabilities(&self, params: &[f32], probs: &mut [f32]) -> bool;

    /// Adds `d_log_prob * d(log p(action))/d(params) + d_entropy *
    /// d(entropy)/d(params)` to `d_params`.
    fn backward(
        &self,
        params: &[f32],
        action: &[f32],
        d_log_prob: f32,
        d_entropy: f32,
        d_params: &mut [f32],
    );
}

/// The distribution for an action space.
///
/// # Errors
/// [`PpoError::UnsupportedSpace`] for spaces without a distribution here
/// (currently everything but `Discrete`).
pub fn distribution_for(space: &Space) -> Result<Box<dyn ActionDistribution>> {
    match space {
        Space::Discrete { n } if *n >= 1 => Ok(Box::new(Categorical::new(*n))),
        other => Err(PpoError::UnsupportedSpace {
            role: "action",
            space: format!("{other:?}"),
        }),
    }
}

/// A categorical distribution over `n` actions given `n` logits.
///
/// ```
/// use ppo::{ActionDistribution, Categorical};
///
/// let dist = Categorical::new(2);
/// let logits = [0.0f32, 0.0];
/// let (log_p, entropy) = dist.log_prob_entropy(&logits, &[1.0]);
/// assert!((log_p - 0.5f32.ln()).abs() < 1e-6);
/// assert!((entropy - 2f32.ln()).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Categorical {
    n: usize,
}

impl Categorical {
    /// A categorical distribution over `n` actions.
    pub fn new(n: usize) -> Self {
        Self { n }
    }

    /// `log(sum(exp(logits)))`, computed stably.
    fn log_sum_exp(logits: &[f32]) -> f32 {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        max + logits.iter().map(|&l| (l - max).exp()).sum::<f32>().ln()
    }

    fn index(&self, action: &[f32]) -> usize {
        // Actions come from this distribution or the rollout buffer; clamp
        // anyway so that a corrupt value cannot index out of bounds.
        (action[0].max(0.0) as usize).min(self.n - 1)
    }
}

impl ActionDistribution for Categorical {
    fn n_outputs(&self) -> usize {
        self.n
    }

    fn action_width(&self) -> usize {
        1
    }

    fn log_prob_entropy(&self, logits: &[f32], action: &[f32]) -> (f32, f32) {
        let lse = Self::log_sum_exp(logits);
        let log_p = logits[self.index(action)] - lse;
        // H = -sum p log p = lse - sum p l
        let mut entropy = lse;
        for &l in logits {
            let p = (l - lse).exp();
            entropy -= p * l;
        }
        (log_p, entropy)
    }

    fn n_actions(&self) -> Option<usize> {
        Some(self.n)
    }

    fn probabilities(&self, logits: &[f32], probs: &mut [f32]) -> bool {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (p, &l) in probs.iter_mut().zip(logits) {
            *p = (l - max).exp();
            sum += *p;
        }
        let inv = 1.0 / sum;
        probs.iter_mut().for_each(|p| *p *= inv);
        true
    }

    fn sample(&self, logits: &[f32], rng: &mut StdRng, action: &mut [f32]) {
        let lse = Self::log_sum_exp(logits);
        let u: f32 = rng.random();
        let mut cumulative = 0.0f32;
        let mut chosen = self.n - 1;
        for (i, &l) in logits.iter().enumerate() {
            cumulative += (l - lse).exp();
            if u < cumulative {
                chosen = i;
                break;
            }
        }
        action[0] = chosen as f32;
    }

    fn mode(&self, logits: &[f32], action: &mut [f32]) {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        action[0] = best as f32;
    }

    fn backward(
        &self,
        logits: &[f32],
        action: &[f32],
        d_log_prob: f32,
        d_entropy: f32,
        d_logits: &mut [f32],
    ) {
        // d log p_a / d l_j = [j = a] - p_j
        // d H / d l_j = -p_j (log p_j + H)
        let lse = Self::log_sum_exp(logits);
        let mut entropy = lse;
        for &l in logits {
            entropy -= (l - lse).exp() * l;
        }
        let a = self.index(action);
        for (j, (d, &l)) in d_logits.iter_mut().zip(logits).enumerate() {
            let log_p = l - lse;
            let p = log_p.exp();
            let indicator = if j == a { 1.0 } else { 0.0 };
            *d += d_log_prob * (indicator - p) - d_entropy * p * (log_p + entropy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn log_prob_and_entropy_match_direct_formulas() {
        let d = Categorical::new(3);
        let logits = [0.3f32, -1.2, 2.0];
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        let p: Vec<f64> = logits.iter().map(|&l| (l as f64).exp() / z).collect();
        let h: f64 = -p.iter().map(|q| q * q.ln()).sum::<f64>();
        for (a, pa) in p.iter().enumerate() {
            let (lp, e) = d.log_prob_entropy(&logits, &[a as f32]);
            assert!((lp as f64 - pa.ln()).abs() < 1e-6);
            assert!((e as f64 - h).abs() < 1e-6);
        }
        let mut probs = [0.0; 3];
        d.probabilities(&logits, &mut probs);
        for (a, b) in probs.iter().zip(&p) {
            assert!((*a as f64 - b).abs() < 1e-6);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let d = Categorical::new(4);
        let logits = [0.5f32, -0.3, 1.1, 0.0];
        let (dl, de) = (0.7f32, -1.3f32);
        let f = |l: &[f64]| {
            let z: f64 = l.iter().map(|x| x.exp()).sum();
            let p: Vec<f64> = l.iter().map(|x| x.exp() / z).collect();
            let h: f64 = -p.iter().map(|q| q * q.ln()).sum::<f64>();
            dl as f64 * p[2].ln() + de as f64 * h
        };
        let mut g = [0.0f32; 4];
        d.backward(&logits, &[2.0], dl, de, &mut g);
        for j in 0..4 {
            let mut up: Vec<f64> = logits.iter().map(|&x| x as f64).collect();
            let mut down = up.clone();
            up[j] += 1e-6;
            down[j] -= 1e-6;
            let fd = (f(&up) - f(&down)) / 2e-6;
            assert!((g[j] as f64 - fd).abs() < 1e-5, "{j}: {} vs {fd}", g[j]);
        }
    }

    #[test]
    fn sampling_follows_the_probabilities_and_mode_is_argmax() {
        let d = Categorical::new(3);
        let logits = [0.0f32, 1.0, -1.0];
        let mut probs = [0.0; 3];
        d.probabilities(&logits, &mut probs);
        let mut rng = StdRng::seed_from_u64(1);
        let mut counts = [0usize; 3];
        let mut a = [0.0f32];
        for _ in 0..20_000 {
            d.sample(&logits, &mut rng, &mut a);
            counts[a[0] as usize] += 1;
        }
        for i in 0..3 {
            assert!((counts[i] as f32 / 20_000.0 - probs[i]).abs() < 0.015);
        }
        d.mode(&logits, &mut a);
        assert_eq!(a[0], 1.0);
    }

    #[test]
    fn box_action_spaces_are_reported() {
        let space = Space::Box {
            low: vec![-1.0],
            high: vec![1.0],
            shape: vec![1],
        };
        assert!(matches!(
            distribution_for(&space),
            Err(PpoError::UnsupportedSpace { .. })
        ));
        assert_eq!(
            distribution_for(&Space::Discrete { n: 3 })
                .unwrap()
                .n_outputs(),
            3
        );
    }
}
