//! Several environments stepped together with auto-reset.

use serde::{Deserialize, Serialize};

use crate::{FlatEnv, RlEnvError, Space};

/// One finished episode, as reported by [`VecEnv::step`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Index of the environment that finished the episode.
    pub env_index: usize,
    /// Sum of the episode's rewards.
    pub episode_return: f64,
    /// Number of steps of the episode.
    pub length: usize,
}

/// The result of one [`VecEnv::step`]: views into the vector env's buffers.
#[derive(Clone, Copy, Debug)]
pub struct VecStep<'a> {
    /// Observations, `num_envs x obs_dim` row-major. The row of a finished
    /// environment holds the first observation of its new episode.
    pub obs: &'a [f32],
    /// Rewards, one per environment.
    pub rewards: &'a [f32],
    /// Terminated flags, one per environment.
    pub terminated: &'a [bool],
    /// Truncated flags, one per environment.
    pub truncated: &'a [bool],
    /// Last observations of finished episodes, `num_envs x obs_dim`; row `i`
    /// is meaningful only where `terminated[i] || truncated[i]` (other rows
    /// hold stale values). Learners bootstrap the value of a truncated
    /// episode from it.
    pub final_obs: &'a [f32],
    /// Episodes that finished in this step, in environment order.
    pub episodes: &'a [EpisodeRecord],
}

/// `N` environments stepped together with auto-reset (stable-baselines3
/// semantics), observations in one contiguous `num_envs x obs_dim` buffer.
/// Stepping allocates nothing.
///
/// ```
/// use rlenv::{CartPole, VecEnv};
///
/// let mut envs = VecEnv::new(vec![CartPole::new(), CartPole::new()]).unwrap();
/// let obs = envs.reset(Some(0));
/// assert_eq!(obs.len(), 2 * 4);
/// let mut finished = 0;
/// for _ in 0..100 {
///     let step = envs.step(&[1, 0]).unwrap();
///     for record in step.episodes {
///         let e = record.env_index;
///         assert!(step.terminated[e] || step.truncated[e]);
///         // The last observation of the finished episode is kept: here
///         // the pole fell, so its angle is beyond 12 degrees.
///         assert!(step.final_obs[e * 4 + 2].abs() > 0.2 || step.final_obs[e * 4].abs() > 2.4);
///         finished += 1;
///     }
/// }
/// assert!(finished > 0); // always pushing one way ends episodes quickly
/// ```
#[derive(Debug)]
pub struct VecEnv<E: FlatEnv> {
    envs: Vec<E>,
    obs_dim: usize,
    n_actions: usize,
    observation_space: Space,
    action_space: Space,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    episodes: Vec<EpisodeRecord>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
    needs_reset: bool,
}

impl<E: FlatEnv> VecEnv<E> {
    /// Groups `envs`, which must share their observation space (a `Box`)
    /// and action space (a `Discrete`).
    ///
    /// # Errors
    /// [`RlEnvError::NoEnvs`] for an empty list, [`RlEnvError::SpaceMismatch`]
    /// when spaces differ, [`RlEnvError::InvalidSpace`] when the spaces are
    /// not a `Box` and a `Discrete` or disagree with `obs_dim`.
    pub fn new(envs: Vec<E>) -> Result<Self, RlEnvError> {
        let first = envs.first().ok_or(RlEnvError::NoEnvs)?;
        let observation_space = first.observation_space();
        let action_space = first.action_space();
        observation_space.validate()?;
        action_space.validate()?;
        let obs_dim = first.obs_dim();
        if observation_space.n().is_some() || observation_space.flat_dim() != obs_dim {
            return Err(RlEnvError::InvalidSpace(format!(
                "the observation space must be a Box of {obs_dim} values, but is {observation_space}"
            )));
        }
        let n_actions = action_space.n().ok_or_else(|| {
            RlEnvError::InvalidSpace(format!(
                "the action space must be Discrete, but is {action_space}"
            ))
        })?;
        for (index, env) in envs.iter().enumerate().skip(1) {
            for (which, expected, got) in [
                ("observation", &observation_space, env.observation_space()),
                ("action", &action_space, env.action_space()),
            ] {
                if *expected != got {
                    return Err(RlEnvError::SpaceMismatch {
                        index,
                        which,
                        expected: expected.to_string(),
                        got: got.to_string(),
                    });
                }
            }
        }
        let n = envs.len();
        Ok(VecEnv {
            envs,
            obs_dim,
            n_actions,
            observation_space,
            action_space,
            obs: vec![0.0; n * obs_dim],
            final_obs: vec![0.0; n * obs_dim],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            episodes: Vec::with_capacity(n),
            returns: vec![0.0; n],
            lengths: vec![0; n],
            needs_reset: true,
        })
    }

    /// Number of environments.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// Length of one observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Number of discrete actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// The shared observation space.
    pub fn observation_space(&self) -> Space {
        self.observation_space.clone()
    }

    /// The shared action space.
    pub fn action_space(&self) -> Space {
        self.action_space.clone()
    }

    /// The current observations, `num_envs x obs_dim` row-major.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// Resets every environment; environment `i` gets seed `seed + i`
    /// (wrapping) when `seed` is `Some`. Returns the first observations,
    /// `num_envs x obs_dim` row-major.
    pub fn reset(&mut self, seed: Option<u64>) -> &[f32] {
        for (i, (env, row)) in self
            .envs
            .iter_mut()
            .zip(self.obs.chunks_exact_mut(self.obs_dim))
            .enumerate()
        {
            env.reset_into(seed.map(|s| s.wrapping_add(i as u64)), row);
        }
        self.returns.fill(0.0);
        self.lengths.fill(0);
        self.needs_reset = false;
        &self.obs
    }

    /// Steps every environment with its action. A finished environment
    /// (terminated or truncated) is reset at once (unseeded, continuing its
    /// generator): its row of `obs` holds the first observation of the new
    /// episode and its row of `final_obs` the last observation of the
    /// finished one, which is also reported in `episodes`.
    ///
    /// # Errors
    /// [`RlEnvError::WrongLength`] when `actions.len() != num_envs`,
    /// [`RlEnvError::InvalidAction`] for an action outside the action space,
    /// [`RlEnvError::ResetNeeded`] before the first [`VecEnv::reset`].
    pub fn step(&mut self, actions: &[usize]) -> Result<VecStep<'_>, RlEnvError> {
        if actions.len() != self.envs.len() {
            return Err(RlEnvError::WrongLength {
                what: "actions",
                expected: self.envs.len(),
                got: actions.len(),
            });
        }
        if let Some(&action) = actions.iter().find(|&&a| a >= self.n_actions) {
            return Err(RlEnvError::InvalidAction {
                action,
                n: self.n_actions,
            });
        }
        if self.needs_reset {
            return Err(RlEnvError::ResetNeeded);
        }
        self.episodes.clear();
        let dim = self.obs_dim;
        for (i, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let row = &mut self.obs[i * dim..(i + 1) * dim];
            let out = env.step_into(action, row);
            self.rewards[i] = out.reward;
            self.terminated[i] = out.terminated;
            self.truncated[i] = out.truncated;
            self.returns[i] += f64::from(out.reward);
            self.lengths[i] += 1;
            if out.terminated || out.truncated {
                self.final_obs[i * dim..(i + 1) * dim].copy_from_slice(row);
                env.reset_into(None, row);
                self.episodes.push(EpisodeRecord {
                    env_index: i,
                    episode_return: self.returns[i],
                    length: self.lengths[i],
                });
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
            }
        }
        Ok(VecStep {
            obs: &self.obs,
            rewards: &self.rewards,
            terminated: &self.terminated,
            truncated: &self.truncated,
            final_obs: &self.final_obs,
            episodes: &self.episodes,
        })
    }

    /// The environments.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// The environments, mutably (changing their state between steps is the
    /// caller's responsibility).
    pub fn envs_mut(&mut self) -> &mut [E] {
        &mut self.envs
    }

    /// Gives the environments back.
    pub fn into_envs(self) -> Vec<E> {
        self.envs
    }
}
