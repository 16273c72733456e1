//! `check_env`: sanity checks of an environment's contract.

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::{Env, FlatEnv, RlEnvError, Space};

/// What a successful check covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Steps taken in each of the two seeded runs.
    pub steps: usize,
    /// Episodes finished in each run.
    pub episodes: usize,
}

/// One transition: observation, reward, terminated, truncated; a reset is
/// recorded with reward zero and both flags false.
type Transition = (Vec<f32>, f32, bool, bool);

/// The two ways of driving an environment.
trait Driver {
    fn spaces(&self) -> (Space, Space);
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;
    fn step(&mut self, action: usize) -> Result<Transition, RlEnvError>;
    /// Checks that stepping a finished episode is refused, where the API
    /// allows checking it.
    fn check_refuses_after_end(&mut self) -> Result<(), RlEnvError>;
}

struct GymDriver<'a, E>(&'a mut E);

impl<E> Driver for GymDriver<'_, E>
where
    E: Env<Action = usize>,
    E::Obs: AsRef<[f32]>,
{
    fn spaces(&self) -> (Space, Space) {
        (self.0.observation_space(), self.0.action_space())
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.0.reset(seed).0.as_ref().to_vec()
    }
    fn step(&mut self, action: usize) -> Result<Transition, RlEnvError> {
        let s = self.0.step(action)?;
        Ok((s.obs.as_ref().to_vec(), s.reward, s.terminated, s.truncated))
    }
    fn check_refuses_after_end(&mut self) -> Result<(), RlEnvError> {
        match self.0.step(0) {
            Err(RlEnvError::ResetNeeded) => Ok(()),
            other => Err(RlEnvError::CheckFailed(format!(
                "step after the end of an episode must return ResetNeeded, but returned {:?}",
                other.map(|s| (s.reward, s.terminated, s.truncated))
            ))),
        }
    }
}

struct FlatDriver<'a, E>(&'a mut E);

impl<E: FlatEnv> Driver for FlatDriver<'_, E> {
    fn spaces(&self) -> (Space, Space) {
        (self.0.observation_space(), self.0.action_space())
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        let mut obs = vec![0.0; self.0.obs_dim()];
        self.0.reset_into(seed, &mut obs);
        obs
    }
    fn step(&mut self, action: usize) -> Result<Transition, RlEnvError> {
        let mut obs = vec![0.0; self.0.obs_dim()];
        let out = self.0.step_into(action, &mut obs);
        Ok((obs, out.reward, out.terminated, out.truncated))
    }
    fn check_refuses_after_end(&mut self) -> Result<(), RlEnvError> {
        Ok(())
    }
}

/// Checks a Gymnasium-style environment with discrete actions:
///
/// - the observation space is a valid `Box` and the action space a valid
///   `Discrete`;
/// - an action outside the action space is refused with
///   [`RlEnvError::InvalidAction`];
/// - every observation (after resets and steps) is finite and inside the
///   observation space, and every reward is finite;
/// - stepping a finished episode returns [`RlEnvError::ResetNeeded`];
/// - two runs of `steps` steps from `reset(Some(seed))`, with the same
///   seeded random actions and unseeded resets between episodes, give the
///   same observations, rewards and flags.
///
/// # Errors
/// [`RlEnvError::CheckFailed`] (or the environment's own error) naming the
/// first problem found.
///
/// ```
/// use rlenv::{CartPole, check_env};
///
/// let report = check_env(&mut CartPole::new(), 7, 300).unwrap();
/// assert_eq!(report.steps, 300);
/// assert!(report.episodes >= 1);
/// ```
pub fn check_env<E>(env: &mut E, seed: u64, steps: usize) -> Result<CheckReport, RlEnvError>
where
    E: Env<Action = usize>,
    E::Obs: AsRef<[f32]>,
{
    let mut driver = GymDriver(env);
    let n = check_spaces(&driver.spaces(), None)?;
    driver.reset(Some(seed));
    match driver.step(n) {
        Err(RlEnvError::InvalidAction { .. }) => {}
        other => {
            return Err(RlEnvError::CheckFailed(format!(
                "action {n} is outside Discrete({n}) and must be refused with InvalidAction, but step returned {:?}",
                other.map(|t| (t.1, t.2, t.3))
            )));
        }
    }
    check_runs(&mut driver, n, seed, steps)
}

/// Checks a [`FlatEnv`] as [`check_env`] does, through `reset_into` and
/// `step_into` (whose invalid calls panic, so they are not probed), and
/// that `obs_dim` matches the observation space.
///
/// ```
/// use ndarray::Array2;
/// use rlenv::{FlowDetectionEnv, FlowEnvConfig, check_flat_env};
///
/// let latents = Array2::from_shape_fn((50, 3), |(i, j)| (i * 3 + j) as f32);
/// let labels = (0..50).map(|i| (i % 5 == 0) as u8).collect();
/// let config = FlowEnvConfig { episode_length: 20, ..Default::default() };
/// let mut env = FlowDetectionEnv::new(latents, labels, config).unwrap();
/// assert_eq!(check_flat_env(&mut env, 1, 100).unwrap().episodes, 5);
/// ```
pub fn check_flat_env<E: FlatEnv>(
    env: &mut E,
    seed: u64,
    steps: usize,
) -> Result<CheckReport, RlEnvError> {
    let dim = env.obs_dim();
    let mut driver = FlatDriver(env);
    let n = check_spaces(&driver.spaces(), Some(dim))?;
    check_runs(&mut driver, n, seed, steps)
}

/// Validates the spaces; returns the number of actions.
fn check_spaces((obs, act): &(Space, Space), dim: Option<usize>) -> Result<usize, RlEnvError> {
    obs.validate()?;
    act.validate()?;
    if obs.n().is_some() {
        return Err(RlEnvError::CheckFailed(format!(
            "the observation space must be a Box, but is {obs}"
        )));
    }
    if let Some(dim) = dim.filter(|&d| d != obs.flat_dim()) {
        return Err(RlEnvError::CheckFailed(format!(
            "obs_dim is {dim} but the observation space {obs} holds {} values",
            obs.flat_dim()
        )));
    }
    act.n().ok_or_else(|| {
        RlEnvError::CheckFailed(format!("the action space must be Discrete, but is {act}"))
    })
}

fn check_runs(
    driver: &mut impl Driver,
    n_actions: usize,
    seed: u64,
    steps: usize,
) -> Result<CheckReport, RlEnvError> {
    let (first, episodes) = run(driver, n_actions, seed, steps)?;
    let (second, _) = run(driver, n_actions, seed, steps)?;
    if let Some(i) = (0..first.len()).find(|&i| first[i] != second[i]) {
        return Err(RlEnvError::CheckFailed(format!(
            "the same seed {seed} gave different episodes: transition {i} was {:?} then {:?}",
            first[i], second[i]
        )));
    }
    Ok(CheckReport { steps, episodes })
}

/// One seeded run; every transition is checked and recorded.
fn run(
    driver: &mut impl Driver,
    n_actions: usize,
    seed: u64,
    steps: usize,
) -> Result<(Vec<Transition>, usize), RlEnvError> {
    let (obs_space, _) = driver.spaces();
    let check_obs = |obs: &[f32], when: &str| {
        if obs.iter().all(|v| v.is_finite()) && obs_space.contains(obs) {
            Ok(())
        } else {
            Err(RlEnvError::CheckFailed(format!(
                "observation {when} is not finite or outside {obs_space}: {obs:?}"
            )))
        }
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut record = Vec::with_capacity(steps + 1);
    let obs = driver.reset(Some(seed));
    check_obs(&obs, "after the seeded reset")?;
    record.push((obs, 0.0, false, false));
    let mut episodes = 0;
    for t in 0..steps {
        let action = rand::Rng::random_range(&mut rng, 0..n_actions);
        let (obs, reward, terminated, truncated) = driver.step(action)?;
        check_obs(&obs, &format!("of step {t}"))?;
        if !reward.is_finite() {
            return Err(RlEnvError::CheckFailed(format!(
                "reward of step {t} must be finite, but is {reward}"
            )));
        }
        record.push((obs, reward, terminated, truncated));
        if terminated || truncated {
            episodes += 1;
            driver.check_refuses_after_end()?;
            let obs = driver.reset(None);
            check_obs(&obs, &format!("of the reset after step {t}"))?;
            record.push((obs, 0.0, false, false));
        }
    }
    Ok((record, episodes))
}
