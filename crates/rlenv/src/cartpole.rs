//! CartPole-v1 with Gymnasium's dynamics.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::env::check_obs_len;
use crate::{Env, FlatEnv, RlEnvError, Space, Step, StepOutcome};

const GRAVITY: f64 = 9.8;
const MASS_CART: f64 = 1.0;
const MASS_POLE: f64 = 0.1;
const TOTAL_MASS: f64 = MASS_CART + MASS_POLE;
/// Half the pole's length.
const LENGTH: f64 = 0.5;
const POLE_MASS_LENGTH: f64 = MASS_POLE * LENGTH;
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// The pole falls beyond 12 degrees.
const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
/// The cart leaves the track beyond 2.4.
const X_THRESHOLD: f64 = 2.4;

/// Configuration of a [`CartPole`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartPoleConfig {
    /// Steps after which an episode is truncated. Must be at least 1.
    /// Default 500 (CartPole-v1).
    pub max_episode_steps: usize,
    /// Seed of the initial-state generator until a seeded reset replaces
    /// it. Default 0.
    pub seed: u64,
}

impl Default for CartPoleConfig {
    fn default() -> Self {
        CartPoleConfig {
            max_episode_steps: 500,
            seed: 0,
        }
    }
}

/// The classic cart-pole balancing task, CartPole-v1 as Gymnasium defines
/// it: state `[x, x_dot, theta, theta_dot]` in f64 (observations are its f32
/// copy), action 0 pushes left and 1 pushes right with force 10, Euler
/// integration with `tau = 0.02`, termination when `|x| > 2.4` or
/// `|theta| > 12` degrees, reward 1 per step (the terminating step
/// included), truncation after 500 steps, initial state uniform in
/// `[-0.05, 0.05]`.
///
/// The random generator differs from numpy's, so seeds give other initial
/// states than Gymnasium's; [`CartPole::set_state`] places the system in
/// any state, for example one recorded from Gymnasium.
///
/// ```
/// use rlenv::{CartPole, Env};
///
/// let mut env = CartPole::new();
/// env.reset(None);
/// env.set_state([0.0, 0.0, 0.1, 0.0]).unwrap();
/// // Pushing right under a pole leaning right keeps it up a little longer.
/// let step = env.step(1).unwrap();
/// assert_eq!(step.reward, 1.0);
/// assert!(env.state()[1] > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct CartPole {
    state: [f64; 4],
    rng: StdRng,
    config: CartPoleConfig,
    elapsed: usize,
    needs_reset: bool,
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl CartPole {
    /// CartPole-v1 (500-step truncation), generator seeded with 0.
    pub fn new() -> Self {
        let config = CartPoleConfig::default();
        CartPole {
            state: [0.0; 4],
            rng: StdRng::seed_from_u64(config.seed),
            config,
            elapsed: 0,
            needs_reset: true,
        }
    }

    /// A cart-pole with another truncation length or seed.
    ///
    /// # Errors
    /// [`RlEnvError::ZeroLength`] when `max_episode_steps` is 0.
    pub fn with_config(config: CartPoleConfig) -> Result<Self, RlEnvError> {
        if config.max_episode_steps == 0 {
            return Err(RlEnvError::ZeroLength {
                name: "max_episode_steps",
                value: 0,
            });
        }
        Ok(CartPole {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            ..Self::new()
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CartPoleConfig {
        &self.config
    }

    /// The physical state `[x, x_dot, theta, theta_dot]`.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
    }

    /// The observation space, Gymnasium's: a `Box` with bounds
    /// `[4.8, inf, 0.419, inf]` (twice the termination thresholds) and their
    /// negatives. Also available as [`Env::observation_space`] and
    /// [`FlatEnv::observation_space`]; this inherent method spares the
    /// choice between them.
    pub fn observation_space(&self) -> Space {
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (THETA_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
        ];
        Space::Box {
            low: high.iter().map(|h| -h).collect(),
            high: high.to_vec(),
            shape: vec![4],
        }
    }

    /// The action space: `Discrete(2)` (0 pushes left, 1 pushes right).
    pub fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    /// Length of one observation: 4.
    pub fn obs_dim(&self) -> usize {
        4
    }

    /// Places the system in `state` (`[x, x_dot, theta, theta_dot]`) and
    /// lets the episode go on from there: the environment can be stepped
    /// even if it had ended, and the elapsed step count is left unchanged.
    /// Used to replay recorded trajectories: reset, set the recorded initial
    /// state, then step.
    ///
    /// # Errors
    /// [`RlEnvError::NonFiniteState`] for a NaN or infinite component.
    pub fn set_state(&mut self, state: [f64; 4]) -> Result<(), RlEnvError> {
        if let Some((index, &value)) = state.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(RlEnvError::NonFiniteState { index, value });
        }
        self.state = state;
        self.needs_reset = false;
        Ok(())
    }

    fn write_obs(&self, obs: &mut [f32]) {
        for (o, s) in obs.iter_mut().zip(self.state) {
            *o = s as f32;
        }
    }
}

impl FlatEnv for CartPole {
    fn observation_space(&self) -> Space {
        CartPole::observation_space(self)
    }

    fn action_space(&self) -> Space {
        CartPole::action_space(self)
    }

    fn obs_dim(&self) -> usize {
        CartPole::obs_dim(self)
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        check_obs_len(obs, 4);
        if let Some(seed) = seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        for s in &mut self.state {
            *s = self.rng.random_range(-0.05..0.05);
        }
        self.elapsed = 0;
        self.needs_reset = false;
        self.write_obs(obs);
    }

    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        assert!(
            action < 2,
            "action {action} is outside the action space Discrete(2)"
        );
        assert!(
            !self.needs_reset,
            "CartPole::step_into called before reset or after the episode ended"
        );
        check_obs_len(obs, 4);
        let [x, x_dot, theta, theta_dot] = self.state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sin_theta, cos_theta) = theta.sin_cos();
        let temp = (force + POLE_MASS_LENGTH * theta_dot * theta_dot * sin_theta) / TOTAL_MASS;
        let theta_acc = (GRAVITY * sin_theta - cos_theta * temp)
            / (LENGTH * (4.0 / 3.0 - MASS_POLE * cos_theta * cos_theta / TOTAL_MASS));
        let x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos_theta / TOTAL_MASS;
        self.state = [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ];
        let [x, _, theta, _] = self.state;
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-THETA_THRESHOLD..=THETA_THRESHOLD).contains(&theta);
        self.elapsed += 1;
        let truncated = self.elapsed >= self.config.max_episode_steps;
        self.needs_reset = terminated || truncated;
        self.write_obs(obs);
        StepOutcome {
            reward: 1.0,
            terminated,
            truncated,
        }
    }
}

impl Env for CartPole {
    type Obs = Vec<f32>;
    type Action = usize;
    type Info = ();

    fn observation_space(&self) -> Space {
        CartPole::observation_space(self)
    }

    fn action_space(&self) -> Space {
        CartPole::action_space(self)
    }

    fn reset(&mut self, seed: Option<u64>) -> (Vec<f32>, ()) {
        let mut obs = vec![0.0; 4];
        self.reset_into(seed, &mut obs);
        (obs, ())
    }

    fn step(&mut self, action: usize) -> Result<Step<Vec<f32>, ()>, RlEnvError> {
        if action >= 2 {
            return Err(RlEnvError::InvalidAction { action, n: 2 });
        }
        if self.needs_reset {
            return Err(RlEnvError::ResetNeeded);
        }
        let mut obs = vec![0.0; 4];
        let out = self.step_into(action, &mut obs);
        Ok(Step {
            obs,
            reward: out.reward,
            terminated: out.terminated,
            truncated: out.truncated,
            info: (),
        })
    }
}
