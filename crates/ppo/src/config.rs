//! Hyperparameters, with stable-baselines3's names and defaults.

use serde::{Deserialize, Serialize};

use crate::error::{PpoError, Result};

/// Hidden-layer sizes of the two networks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetArch {
    /// Hidden layers of the policy network (default `[128, 128]`).
    pub pi: Vec<usize>,
    /// Hidden layers of the value network (default `[128, 128]`).
    pub vf: Vec<usize>,
}

impl Default for NetArch {
    fn default() -> Self {
        Self {
            pi: vec![128, 128],
            vf: vec![128, 128],
        }
    }
}

/// How the learning rate changes over a call to [`Ppo::learn`](crate::Ppo::learn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LrSchedule {
    /// `learning_rate` throughout (the default).
    #[default]
    Constant,
    /// stable-baselines3's linear schedule: before the update of each
    /// iteration, `learning_rate * (1 - steps done / steps requested)`.
    Linear,
}

/// PPO hyperparameters. Field names and defaults follow stable-baselines3's
/// `PPO`; the network is `pi [128, 128]`, `vf [128, 128]` here.
///
/// ```
/// use ppo::PpoConfig;
///
/// let config = PpoConfig { batch_size: 100, ..PpoConfig::default() };
/// let err = config.validate_for_envs(1).unwrap_err();
/// assert!(err.to_string().contains("batch_size"));
/// assert!(err.to_string().contains("100"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PpoConfig {
    /// Steps per environment in each rollout (2048). The rollout holds
    /// `n_steps * n_envs` transitions.
    pub n_steps: usize,
    /// Minibatch size (64); must divide the rollout size.
    pub batch_size: usize,
    /// Passes over the rollout per iteration (10).
    pub n_epochs: usize,
    /// Discount factor (0.99), in `[0, 1]`.
    pub gamma: f32,
    /// GAE's lambda (0.95), in `[0, 1]`; 1 gives Monte Carlo returns.
    pub gae_lambda: f32,
    /// Clipping of the probability ratio (0.2), positive.
    pub clip_range: f32,
    /// Clipping of the value change around the rollout's values (`None`: no
    /// clipping). As in stable-baselines3, the clipped prediction replaces
    /// the prediction in the squared error.
    pub clip_range_vf: Option<f32>,
    /// Normalise advantages per minibatch (true).
    pub normalize_advantage: bool,
    /// Weight of the entropy bonus (0.0), non-negative.
    pub ent_coef: f32,
    /// Weight of the value loss (0.5), non-negative.
    pub vf_coef: f32,
    /// Maximum global norm of the gradient (0.5), positive.
    pub max_grad_norm: f32,
    /// Adam's learning rate (3e-4), positive.
    pub learning_rate: f32,
    /// Learning-rate schedule (constant).
    pub lr_schedule: LrSchedule,
    /// Stop the epochs of an iteration once the approximate KL divergence of
    /// a minibatch exceeds `1.5 * target_kl` (`None`: never).
    pub target_kl: Option<f32>,
    /// Hidden layers of both networks.
    pub net_arch: NetArch,
    /// Adam's epsilon (1e-5).
    pub adam_eps: f32,
    /// Number of recent episodes averaged in the training log (100).
    pub stats_window_size: usize,
    /// Update the policy and value networks on two threads (true). Results
    /// are identical either way.
    pub parallel: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            n_steps: 2048,
            batch_size: 64,
            n_epochs: 10,
            gamma: 0.99,
            gae_lambda: 0.95,
            clip_range: 0.2,
            clip_range_vf: None,
            normalize_advantage: true,
            ent_coef: 0.0,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            learning_rate: 3e-4,
            lr_schedule: LrSchedule::Constant,
            target_kl: None,
            net_arch: NetArch::default(),
            adam_eps: 1e-5,
            stats_window_size: 100,
            parallel: true,
        }
    }
}

fn bad(name: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> PpoError {
    PpoError::InvalidConfig {
        name,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn positive(name: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(name, v, "must be positive and finite"))
    }
}

fn non_negative(name: &'static str, v: f32) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(bad(name, v, "must be non-negative and finite"))
    }
}

fn unit(name: &'static str, v: f32) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(name, v, "must lie in [0, 1]"))
    }
}

impl PpoConfig {
    /// Checks every value that can be checked without knowing the number of
    /// environments.
    ///
    /// # Errors
    /// [`PpoError::InvalidConfig`] naming the first bad parameter and value.
    pub fn validate(&self) -> Result<()> {
        if self.n_steps == 0 {
            return Err(bad("n_steps", self.n_steps, "must be at least 1"));
        }
        let min_batch = if self.normalize_advantage { 2 } else { 1 };
        if self.batch_size < min_batch {
            return Err(bad(
                "batch_size",
                self.batch_size,
                format!("must be at least {min_batch} (advantage normalisation needs two samples)"),
            ));
        }
        if self.n_epochs == 0 {
            return Err(bad("n_epochs", self.n_epochs, "must be at least 1"));
        }
        unit("gamma", self.gamma)?;
        unit("gae_lambda", self.gae_lambda)?;
        positive("clip_range", self.clip_range)?;
        if let Some(v) = self.clip_range_vf {
            positive("clip_range_vf", v)?;
        }
        non_negative("ent_coef", self.ent_coef)?;
        non_negative("vf_coef", self.vf_coef)?;
        positive("max_grad_norm", self.max_grad_norm)?;
        positive("learning_rate", self.learning_rate)?;
        if let Some(v) = self.target_kl {
            positive("target_kl", v)?;
        }
        positive("adam_eps", self.adam_eps)?;
        if self.stats_window_size == 0 {
            return Err(bad("stats_window_size", 0, "must be at least 1"));
        }
        for (name, layers) in [
            ("net_arch.pi", &self.net_arch.pi),
            ("net_arch.vf", &self.net_arch.vf),
        ] {
            if layers.contains(&0) {
                return Err(bad(
                    name,
                    format!("{layers:?}"),
                    "hidden layer sizes must be positive",
                ));
            }
        }
        Ok(())
    }

    /// [`PpoConfig::validate`], plus the checks that depend on the number of
    /// environments: the minibatch must fit in and divide the rollout
    /// (`n_steps * n_envs` transitions).
    ///
    /// # Errors
    /// [`PpoError::InvalidConfig`] naming the first bad parameter and value.
    pub fn validate_for_envs(&self, n_envs: usize) -> Result<()> {
        self.validate()?;
        if n_envs == 0 {
            return Err(bad("n_envs", 0, "need at least one environment"));
        }
        let rollout = self.n_steps.checked_mul(n_envs).ok_or_else(|| {
            bad(
                "n_steps",
                self.n_steps,
                format!("n_steps x {n_envs} environments overflows"),
            )
        })?;
        if self.batch_size > rollout {
            return Err(bad(
                "batch_size",
                self.batch_size,
                format!(
                    "larger than the rollout of {rollout} transitions (n_steps {} x {n_envs} envs)",
                    self.n_steps
                ),
            ));
        }
        if rollout % self.batch_size != 0 {
            return Err(bad(
                "batch_size",
                self.batch_size,
                format!(
                    "does not divide the rollout of {rollout} transitions (n_steps {} x {n_envs} envs)",
                    self.n_steps
                ),
            ));
        }
        Ok(())
    }

    /// Transitions per rollout for `n_envs` environments.
    pub fn rollout_size(&self, n_envs: usize) -> usize {
        self.n_steps * n_envs
    }

    /// The environment steps [`crate::Ppo::learn`] runs for a request of
    /// `total_timesteps` with `n_envs` environments: the request rounded up
    /// to whole rollouts of `n_steps * n_envs` (saturating at `u64::MAX`).
    ///
    /// ```
    /// let config = ppo::PpoConfig { n_steps: 512, ..Default::default() };
    /// assert_eq!(config.timesteps_run(4, 9_000), 10_240);
    /// // 1,000 environments run a whole rollout of 512,000 steps for 8,192.
    /// assert_eq!(config.timesteps_run(1_000, 8_192), 512_000);
    /// ```
    pub fn timesteps_run(&self, n_envs: usize, total_timesteps: u64) -> u64 {
        let rollout = (self.n_steps as u64).saturating_mul(n_envs as u64).max(1);
        total_timesteps.div_ceil(rollout).saturating_mul(rollout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(c: PpoConfig, n_envs: usize) -> String {
        c.validate_for_envs(n_envs).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_stable_baselines3s() {
        let c = PpoConfig::default();
        assert_eq!((c.n_steps, c.batch_size, c.n_epochs), (2048, 64, 10));
        assert_eq!((c.gamma, c.gae_lambda, c.clip_range), (0.99, 0.95, 0.2));
        assert_eq!(
            (c.clip_range_vf, c.normalize_advantage, c.target_kl),
            (None, true, None)
        );
        assert_eq!((c.ent_coef, c.vf_coef, c.max_grad_norm), (0.0, 0.5, 0.5));
        assert_eq!(
            (c.learning_rate, c.lr_schedule, c.adam_eps),
            (3e-4, LrSchedule::Constant, 1e-5)
        );
        assert_eq!(
            c.net_arch,
            NetArch {
                pi: vec![128, 128],
                vf: vec![128, 128]
            }
        );
        c.validate_for_envs(1).unwrap();
        c.validate_for_envs(8).unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let d = PpoConfig::default;
        let e = err_of(
            PpoConfig {
                batch_size: 4096,
                ..d()
            },
            1,
        );
        assert!(
            e.contains("batch_size")
                && e.contains("4096")
                && e.contains("larger than the rollout of 2048"),
            "{e}"
        );
        let e = err_of(
            PpoConfig {
                batch_size: 100,
                ..d()
            },
            1,
        );
        assert!(e.contains("does not divide") && e.contains("100"), "{e}");
        let e = err_of(
            PpoConfig {
                ent_coef: -0.1,
                ..d()
            },
            1,
        );
        assert!(e.contains("ent_coef") && e.contains("-0.1"), "{e}");
        let e = err_of(
            PpoConfig {
                vf_coef: f32::NAN,
                ..d()
            },
            1,
        );
        assert!(e.contains("vf_coef") && e.contains("NaN"), "{e}");
        let e = err_of(PpoConfig { gamma: 1.5, ..d() }, 1);
        assert!(e.contains("gamma") && e.contains("1.5"), "{e}");
        let e = err_of(
            PpoConfig {
                gae_lambda: -0.5,
                ..d()
            },
            1,
        );
        assert!(e.contains("gae_lambda"), "{e}");
        let e = err_of(
            PpoConfig {
                clip_range: 0.0,
                ..d()
            },
            1,
        );
        assert!(e.contains("clip_range"), "{e}");
        let e = err_of(
            PpoConfig {
                clip_range_vf: Some(-1.0),
                ..d()
            },
            1,
        );
        assert!(e.contains("clip_range_vf"), "{e}");
        let e = err_of(
            PpoConfig {
                max_grad_norm: 0.0,
                ..d()
            },
            1,
        );
        assert!(e.contains("max_grad_norm"), "{e}");
        let e = err_of(
            PpoConfig {
                learning_rate: -3e-4,
                ..d()
            },
            1,
        );
        assert!(e.contains("learning_rate"), "{e}");
        let e = err_of(
            PpoConfig {
                target_kl: Some(0.0),
                ..d()
            },
            1,
        );
        assert!(e.contains("target_kl"), "{e}");
        let e = err_of(PpoConfig { n_steps: 0, ..d() }, 1);
        assert!(e.contains("n_steps"), "{e}");
        let e = err_of(PpoConfig { n_epochs: 0, ..d() }, 1);
        assert!(e.contains("n_epochs"), "{e}");
        let e = err_of(
            PpoConfig {
                batch_size: 1,
                ..d()
            },
            1,
        );
        assert!(e.contains("batch_size") && e.contains("at least 2"), "{e}");
        let e = err_of(
            PpoConfig {
                net_arch: NetArch {
                    pi: vec![64, 0],
                    vf: vec![64],
                },
                ..d()
            },
            1,
        );
        assert!(e.contains("net_arch.pi") && e.contains("[64, 0]"), "{e}");
        let e = err_of(d(), 0);
        assert!(e.contains("n_envs"), "{e}");
        // A minibatch that divides n_steps * n_envs but not n_steps is fine.
        PpoConfig {
            n_steps: 100,
            batch_size: 80,
            ..d()
        }
        .validate_for_envs(8)
        .unwrap();
        assert!(
            PpoConfig {
                n_steps: 100,
                batch_size: 80,
                ..d()
            }
            .validate_for_envs(1)
            .is_err()
        );
    }

    #[test]
    fn json_round_trip_and_missing_fields_take_defaults() {
        let c = PpoConfig {
            clip_range_vf: Some(0.3),
            lr_schedule: LrSchedule::Linear,
            ..PpoConfig::default()
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<PpoConfig>(&s).unwrap(), c);
        let partial: PpoConfig = serde_json::from_str(r#"{"n_steps": 32}"#).unwrap();
        assert_eq!(
            partial,
            PpoConfig {
                n_steps: 32,
                ..PpoConfig::default()
            }
        );
    }
}
