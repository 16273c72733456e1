//! Wrappers: a time limit and episode statistics.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{Env, FlatEnv, RlEnvError, Space, Step, StepOutcome};

/// Truncates episodes after a number of steps (Gymnasium's `TimeLimit`).
///
/// ```
/// use rlenv::{CartPole, Env, TimeLimit};
///
/// let mut env = TimeLimit::new(CartPole::new(), 3).unwrap();
/// env.reset(Some(0));
/// env.step(0).unwrap();
/// env.step(1).unwrap();
/// assert!(env.step(0).unwrap().truncated);
/// ```
#[derive(Clone, Debug)]
pub struct TimeLimit<E> {
    env: E,
    max_episode_steps: usize,
    elapsed: usize,
    needs_reset: bool,
}

impl<E> TimeLimit<E> {
    /// Wraps `env` so that its episodes last at most `max_episode_steps`.
    ///
    /// # Errors
    /// [`RlEnvError::ZeroLength`] when `max_episode_steps` is 0.
    pub fn new(env: E, max_episode_steps: usize) -> Result<Self, RlEnvError> {
        if max_episode_steps == 0 {
            return Err(RlEnvError::ZeroLength {
                name: "max_episode_steps",
                value: 0,
            });
        }
        Ok(TimeLimit {
            env,
            max_episode_steps,
            elapsed: 0,
            needs_reset: true,
        })
    }

    /// The step limit.
    pub fn max_episode_steps(&self) -> usize {
        self.max_episode_steps
    }

    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }

    /// Counts a step; returns whether the limit is reached.
    fn count(&mut self, terminated: bool, truncated: bool) -> bool {
        self.elapsed += 1;
        let truncated = truncated || self.elapsed >= self.max_episode_steps;
        self.needs_reset = terminated || truncated;
        truncated
    }
}

impl<E: Env> Env for TimeLimit<E> {
    type Obs = E::Obs;
    type Action = E::Action;
    type Info = E::Info;

    fn observation_space(&self) -> Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> (E::Obs, E::Info) {
        self.elapsed = 0;
        self.needs_reset = false;
        self.env.reset(seed)
    }

    fn step(&mut self, action: E::Action) -> Result<Step<E::Obs, E::Info>, RlEnvError> {
        if self.needs_reset {
            return Err(RlEnvError::ResetNeeded);
        }
        let mut step = self.env.step(action)?;
        step.truncated = self.count(step.terminated, step.truncated);
        Ok(step)
    }
}

impl<E: FlatEnv> FlatEnv for TimeLimit<E> {
    fn observation_space(&self) -> Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> Space {
        self.env.action_space()
    }

    fn obs_dim(&self) -> usize {
        self.env.obs_dim()
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        self.elapsed = 0;
        self.needs_reset = false;
        self.env.reset_into(seed, obs);
    }

    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        assert!(
            !self.needs_reset,
            "TimeLimit::step_into called before reset or after the episode ended"
        );
        let mut out = self.env.step_into(action, obs);
        out.truncated = self.count(out.terminated, out.truncated);
        out
    }
}

/// Return and length of one finished episode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Sum of the episode's rewards.
    pub episode_return: f64,
    /// Number of steps.
    pub length: usize,
}

/// Info of an [`EpisodeStatistics`]-wrapped [`Env`]: the wrapped env's info
/// and, on the last step of an episode, that episode's statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatsInfo<I> {
    /// The wrapped environment's info.
    pub inner: I,
    /// Statistics of the episode that just finished, if it did.
    pub episode: Option<EpisodeStats>,
}

/// Records the return and length of every finished episode
/// (Gymnasium's `RecordEpisodeStatistics`), so that a learner can log
/// without knowing the environment. The most recent episodes (100 by
/// default) are kept; recording allocates nothing per step.
///
/// ```
/// use rlenv::{CartPole, EpisodeStatistics, Env};
///
/// let mut env = EpisodeStatistics::new(CartPole::new());
/// env.reset(Some(0));
/// let stats = loop {
///     let step = env.step(1).unwrap();
///     if let Some(stats) = step.info.episode {
///         break stats;
///     }
/// };
/// assert_eq!(stats.episode_return, stats.length as f64);
/// assert_eq!(env.last_episode(), Some(stats));
/// assert_eq!(env.episode_count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct EpisodeStatistics<E> {
    env: E,
    episode_return: f64,
    episode_length: usize,
    recent: VecDeque<EpisodeStats>,
    buffer_length: usize,
    count: usize,
}

impl<E> EpisodeStatistics<E> {
    /// Wraps `env`, keeping the statistics of the last 100 episodes.
    pub fn new(env: E) -> Self {
        EpisodeStatistics {
            env,
            episode_return: 0.0,
            episode_length: 0,
            recent: VecDeque::with_capacity(100),
            buffer_length: 100,
            count: 0,
        }
    }

    /// Wraps `env`, keeping the statistics of the last `buffer_length`
    /// episodes.
    ///
    /// # Errors
    /// [`RlEnvError::ZeroLength`] when `buffer_length` is 0.
    pub fn with_buffer_length(env: E, buffer_length: usize) -> Result<Self, RlEnvError> {
        if buffer_length == 0 {
            return Err(RlEnvError::ZeroLength {
                name: "buffer_length",
                value: 0,
            });
        }
        Ok(EpisodeStatistics {
            recent: VecDeque::with_capacity(buffer_length),
            buffer_length,
            ..Self::new(env)
        })
    }

    /// Statistics of the last finished episode.
    pub fn last_episode(&self) -> Option<EpisodeStats> {
        self.recent.back().copied()
    }

    /// The most recent finished episodes, oldest first.
    pub fn recent_episodes(&self) -> impl Iterator<Item = &EpisodeStats> {
        self.recent.iter()
    }

    /// Number of episodes finished since wrapping.
    pub fn episode_count(&self) -> usize {
        self.count
    }

    /// Mean return of the recent episodes (`None` before the first ends).
    pub fn mean_return(&self) -> Option<f64> {
        let n = self.recent.len();
        (n > 0).then(|| self.recent.iter().map(|e| e.episode_return).sum::<f64>() / n as f64)
    }

    /// Mean length of the recent episodes (`None` before the first ends).
    pub fn mean_length(&self) -> Option<f64> {
        let n = self.recent.len();
        (n > 0).then(|| self.recent.iter().map(|e| e.length as f64).sum::<f64>() / n as f64)
    }

    /// Return of the episode in progress so far.
    pub fn current_return(&self) -> f64 {
        self.episode_return
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// The wrapped environment, mutably.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }

    fn start(&mut self) {
        self.episode_return = 0.0;
        self.episode_length = 0;
    }

    /// Accounts for one step; returns the episode's statistics if it ended.
    fn record(&mut self, reward: f32, done: bool) -> Option<EpisodeStats> {
        self.episode_return += f64::from(reward);
        self.episode_length += 1;
        if !done {
            return None;
        }
        let stats = EpisodeStats {
            episode_return: self.episode_return,
            length: self.episode_length,
        };
        if self.recent.len() == self.buffer_length {
            self.recent.pop_front();
        }
        self.recent.push_back(stats);
        self.count += 1;
        self.start();
        Some(stats)
    }
}

impl<E: Env> Env for EpisodeStatistics<E> {
    type Obs = E::Obs;
    type Action = E::Action;
    type Info = StatsInfo<E::Info>;

    fn observation_space(&self) -> Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> Space {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> (E::Obs, StatsInfo<E::Info>) {
        self.start();
        let (obs, inner) = self.env.reset(seed);
        (
            obs,
            StatsInfo {
                inner,
                episode: None,
            },
        )
    }

    fn step(&mut self, action: E::Action) -> Result<Step<E::Obs, StatsInfo<E::Info>>, RlEnvError> {
        let step = self.env.step(action)?;
        let episode = self.record(step.reward, step.terminated || step.truncated);
        Ok(Step {
            obs: step.obs,
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            info: StatsInfo {
                inner: step.info,
                episode,
            },
        })
    }
}

impl<E: FlatEnv> FlatEnv for EpisodeStatistics<E> {
    fn observation_space(&self) -> Space {
        self.env.observation_space()
    }

    fn action_space(&self) -> Space {
        self.env.action_space()
    }

    fn obs_dim(&self) -> usize {
        self.env.obs_dim()
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        self.start();
        self.env.reset_into(seed, obs);
    }

    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        let out = self.env.step_into(action, obs);
        self.record(out.reward, out.done());
        out
    }
}
