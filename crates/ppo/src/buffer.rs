//! The rollout buffer and generalised advantage estimation.

use crate::error::{PpoError, Result};

/// One rollout: `n_steps` steps of `n_envs` environments, stored step-major
/// (transition `t * n_envs + e` is environment `e` at step `t`).
///
/// `rewards` already include the bootstrap `gamma * V(final observation)` of
/// episodes cut by truncation (stable-baselines3's treatment of time limits),
/// and `dones` marks every transition after which an episode ended
/// (terminated or truncated), so GAE never looks across an episode boundary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutBuffer {
    /// Steps per environment.
    pub n_steps: usize,
    /// Number of environments.
    pub n_envs: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// Values per action (1 for a discrete action).
    pub action_width: usize,
    /// Observations the actions were taken in (`n_steps * n_envs * obs_dim`).
    pub observations: Vec<f32>,
    /// Actions taken (`n_steps * n_envs * action_width`).
    pub actions: Vec<f32>,
    /// Rewards received, with the truncation bootstrap added.
    pub rewards: Vec<f32>,
    /// 1.0 where the episode ended after the transition, else 0.0.
    pub dones: Vec<f32>,
    /// Value estimates of the observations.
    pub values: Vec<f32>,
    /// Log-probabilities of the actions under the policy that took them.
    pub log_probs: Vec<f32>,
    /// GAE advantages (after [`RolloutBuffer::compute_returns_and_advantage`]).
    pub advantages: Vec<f32>,
    /// `advantages + values`: the value targets.
    pub returns: Vec<f32>,
}

impl RolloutBuffer {
    /// A zeroed buffer of the given dimensions.
    pub fn new(n_steps: usize, n_envs: usize, obs_dim: usize, action_width: usize) -> Self {
        let n = n_steps * n_envs;
        Self {
            n_steps,
            n_envs,
            obs_dim,
            action_width,
            observations: vec![0.0; n * obs_dim],
            actions: vec![0.0; n * action_width],
            rewards: vec![0.0; n],
            dones: vec![0.0; n],
            values: vec![0.0; n],
            log_probs: vec![0.0; n],
            advantages: vec![0.0; n],
            returns: vec![0.0; n],
        }
    }

    /// Number of transitions (`n_steps * n_envs`).
    pub fn len(&self) -> usize {
        self.n_steps * self.n_envs
    }

    /// Whether the buffer holds no transition.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `advantages` and `returns` by GAE (see [`compute_gae`]) given
    /// the value of the observation that follows the last step of each
    /// environment.
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `last_values` does not hold `n_envs` values.
    pub fn compute_returns_and_advantage(
        &mut self,
        last_values: &[f32],
        gamma: f32,
        gae_lambda: f32,
    ) -> Result<()> {
        compute_gae(
            &self.rewards,
            &self.values,
            &self.dones,
            last_values,
            self.n_envs,
            gamma,
            gae_lambda,
            &mut self.advantages,
            &mut self.returns,
        )
    }
}

/// Generalised advantage estimation over a step-major rollout of `n_envs`
/// environments:
///
/// ```text
/// delta_t = r_t + gamma * (1 - done_t) * V(s_{t+1}) - V(s_t)
/// A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
/// R_t     = A_t + V(s_t)
/// ```
///
/// where `V(s_{t+1})` is `values` of the next step, or `last_values` after
/// the last step. With `gae_lambda = 1` the returns are discounted Monte
/// Carlo returns bootstrapped with `last_values`.
///
/// ```
/// use ppo::compute_gae;
///
/// // One environment, two steps, the episode ends after the second.
/// let (mut adv, mut ret) = ([0.0f32; 2], [0.0f32; 2]);
/// compute_gae(&[1.0, 1.0], &[0.0, 0.0], &[0.0, 1.0], &[5.0], 1, 0.5, 1.0, &mut adv, &mut ret)?;
/// assert_eq!(ret, [1.5, 1.0]); // 1 + 0.5 * 1, and no bootstrap past the end
/// # Ok::<(), ppo::PpoError>(())
/// ```
///
/// # Errors
/// [`PpoError::Shape`] when the lengths are inconsistent.
#[allow(clippy::too_many_arguments)]
pub fn compute_gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[f32],
    last_values: &[f32],
    n_envs: usize,
    gamma: f32,
    gae_lambda: f32,
    advantages: &mut [f32],
    returns: &mut [f32],
) -> Result<()> {
    let n = rewards.len();
    let shape = |what: &str, expected: usize, got: usize| PpoError::Shape {
        what: what.into(),
        expected: expected.to_string(),
        got: got.to_string(),
    };
    if n_envs == 0 || !n.is_multiple_of(n_envs) {
        return Err(shape("rewards (a multiple of n_envs)", n_envs, n));
    }
    for (what, len) in [
        ("values", values.len()),
        ("dones", dones.len()),
        ("advantages", advantages.len()),
        ("returns", returns.len()),
    ] {
        if len != n {
            return Err(shape(what, n, len));
        }
    }
    if last_values.len() != n_envs {
        return Err(shape("last_values", n_envs, last_values.len()));
    }
    let n_steps = n / n_envs;
    for (e, &last_value) in last_values.iter().enumerate() {
        let mut gae = 0.0f32;
        for t in (0..n_steps).rev() {
            let i = t * n_envs + e;
            let next_value = if t + 1 == n_steps {
                last_value
            } else {
                values[i + n_envs]
            };
            let not_done = 1.0 - dones[i];
            let delta = rewards[i] + gamma * next_value * not_done - values[i];
            gae = delta + gamma * gae_lambda * not_done * gae;
            advantages[i] = gae;
            returns[i] = gae + values[i];
        }
    }
    Ok(())
}
