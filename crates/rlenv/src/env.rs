//! The two environment traits: Gymnasium's [`Env`] and the allocation-free [`FlatEnv`].

use crate::{RlEnvError, Space};

/// What one call of [`Env::step`] returns, in Gymnasium's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Step<O, I> {
    /// Observation after the step.
    pub obs: O,
    /// Reward of the step.
    pub reward: f32,
    /// The episode reached a terminal state of the task.
    pub terminated: bool,
    /// The episode was cut short (a time limit), not by the task itself.
    pub truncated: bool,
    /// Extra information (the true label, for a flow-detection env).
    pub info: I,
}

/// A Gymnasium-style environment.
///
/// `reset(seed)` starts an episode (re-seeding the environment's random
/// generator when `seed` is `Some`, continuing it when `None`) and `step`
/// advances it by one action. After an episode ends (`terminated` or
/// `truncated`), `step` returns [`RlEnvError::ResetNeeded`] until the next
/// `reset`.
///
/// ```
/// use rlenv::{CartPole, Env};
///
/// let mut env = CartPole::new();
/// let (obs, _info) = env.reset(Some(42));
/// assert!(env.observation_space().contains(&obs));
/// let mut total = 0.0;
/// loop {
///     let step = env.step(1).unwrap();
///     total += step.reward;
///     if step.terminated || step.truncated {
///         break;
///     }
/// }
/// assert!(total >= 1.0);
/// ```
pub trait Env {
    /// Observation type.
    type Obs;
    /// Action type.
    type Action;
    /// Per-step information type.
    type Info;
    /// The space of observations.
    fn observation_space(&self) -> Space;
    /// The space of actions.
    fn action_space(&self) -> Space;
    /// Starts a new episode; returns the first observation and its info.
    fn reset(&mut self, seed: Option<u64>) -> (Self::Obs, Self::Info);
    /// Applies one action.
    ///
    /// # Errors
    /// [`RlEnvError::InvalidAction`] for an action outside the action space,
    /// [`RlEnvError::ResetNeeded`] before the first reset or after the end of
    /// an episode.
    fn step(&mut self, action: Self::Action) -> Result<Step<Self::Obs, Self::Info>, RlEnvError>;
}

/// The reward and end flags of one step of a [`FlatEnv`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOutcome {
    /// Reward of the step.
    pub reward: f32,
    /// The episode reached a terminal state of the task.
    pub terminated: bool,
    /// The episode was cut short by a time limit.
    pub truncated: bool,
}

impl StepOutcome {
    /// Whether the episode is over (`terminated || truncated`).
    pub fn done(&self) -> bool {
        self.terminated || self.truncated
    }
}

/// An environment with flat `f32` observations and discrete actions, which
/// writes observations into caller buffers so that stepping never
/// allocates. This is what [`crate::VecEnv`] and learners drive.
///
/// `observation_space` is a `Box` of [`FlatEnv::obs_dim`] values and
/// `action_space` a `Discrete`.
///
/// ```
/// use rlenv::{CartPole, FlatEnv};
///
/// let mut env = CartPole::new();
/// let mut obs = vec![0.0; env.obs_dim()];
/// env.reset_into(Some(0), &mut obs);
/// let out = env.step_into(0, &mut obs);
/// assert_eq!(out.reward, 1.0);
/// assert!(env.observation_space().contains(&obs));
/// ```
pub trait FlatEnv: Send {
    /// The space of observations (a `Box`).
    fn observation_space(&self) -> Space;
    /// The space of actions (a `Discrete`).
    fn action_space(&self) -> Space;
    /// Length of one observation.
    fn obs_dim(&self) -> usize;
    /// Starts a new episode and writes its first observation into `obs`
    /// (seeding as in [`Env::reset`]).
    ///
    /// # Panics
    /// If `obs.len() != self.obs_dim()` (a bug of the caller).
    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]);
    /// Applies `action` and writes the next observation into `obs`.
    ///
    /// # Panics
    /// If the action is outside the action space, `obs.len() !=
    /// self.obs_dim()`, or the environment needs a reset: these are bugs of
    /// the caller ([`Env::step`] and [`crate::VecEnv::step`] return errors
    /// instead).
    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome;
}

impl<E: FlatEnv + ?Sized> FlatEnv for Box<E> {
    fn observation_space(&self) -> Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> Space {
        (**self).action_space()
    }
    fn obs_dim(&self) -> usize {
        (**self).obs_dim()
    }
    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        (**self).reset_into(seed, obs)
    }
    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        (**self).step_into(action, obs)
    }
}

/// Panics with a clear message when `obs` has the wrong length.
pub(crate) fn check_obs_len(obs: &[f32], dim: usize) {
    assert_eq!(
        obs.len(),
        dim,
        "observation buffer must have length {dim}, but has length {}",
        obs.len()
    );
}
