//! The training log and callbacks that observe or stop training.

use std::path::PathBuf;

use rlenv::EpisodeRecord;
use serde::{Deserialize, Serialize};

use crate::Ppo;
use crate::error::Result;

/// One record per training iteration (rollout + update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// Iterations of this model so far (1-based, counting earlier `learn`
    /// calls).
    pub iteration: u64,
    /// Environment steps of this model so far.
    pub timesteps: u64,
    /// Episodes finished during this `learn` call.
    pub episodes: u64,
    /// Mean return of the last `stats_window_size` episodes of this `learn`
    /// call (`None` before the first finishes).
    pub mean_episode_return: Option<f64>,
    /// Mean length of the same episodes.
    pub mean_episode_length: Option<f64>,
    /// Mean clipped-surrogate loss over the minibatches.
    pub policy_loss: f32,
    /// Mean value loss (squared error, before `vf_coef`).
    pub value_loss: f32,
    /// Mean entropy of the policy over the minibatches.
    pub entropy: f32,
    /// Mean approximate KL divergence between the rollout policy and the
    /// updated one.
    pub approx_kl: f32,
    /// Mean fraction of samples whose probability ratio was clipped.
    pub clip_fraction: f32,
    /// Explained variance of the rollout's value estimates against the
    /// returns (`None` when the returns have no variance).
    pub explained_variance: Option<f32>,
    /// Learning rate of this iteration's update.
    pub learning_rate: f32,
    /// Epochs completed (fewer than `n_epochs` after a KL early stop).
    pub epochs: usize,
    /// Whether `target_kl` stopped the update early.
    pub kl_early_stop: bool,
    /// Environment steps per second since the start of this `learn` call,
    /// updates included (wall clock: the one non-reproducible field, with
    /// `elapsed_seconds`).
    pub steps_per_second: f64,
    /// Seconds since the start of this `learn` call.
    pub elapsed_seconds: f64,
}

impl IterationRecord {
    /// The record with its wall-clock fields zeroed: what the same seed
    /// reproduces exactly.
    pub fn without_timing(&self) -> Self {
        Self {
            steps_per_second: 0.0,
            elapsed_seconds: 0.0,
            ..self.clone()
        }
    }
}

/// What a callback asks of training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this iteration.
    Stop,
}

/// Observes training; can stop it after any iteration.
///
/// Closures `FnMut(&IterationRecord) -> Control` are callbacks:
///
/// ```
/// use ppo::{Control, IterationRecord};
///
/// let mut stop_after_two = |r: &IterationRecord| {
///     if r.iteration >= 2 { Control::Stop } else { Control::Continue }
/// };
/// # let _ = &mut stop_after_two;
/// ```
pub trait Callback {
    /// Called after every iteration with its record and the model.
    ///
    /// # Errors
    /// An error ends training and is returned by [`Ppo::learn`].
    fn on_iteration(&mut self, record: &IterationRecord, model: &Ppo) -> Result<Control>;

    /// Called for every finished episode during rollouts.
    fn on_episode(&mut self, _episode: &EpisodeRecord) {}
}

impl<F: FnMut(&IterationRecord) -> Control> Callback for F {
    fn on_iteration(&mut self, record: &IterationRecord, _model: &Ppo) -> Result<Control> {
        Ok(self(record))
    }
}

impl<A: Callback, B: Callback> Callback for (A, B) {
    fn on_iteration(&mut self, record: &IterationRecord, model: &Ppo) -> Result<Control> {
        let a = self.0.on_iteration(record, model)?;
        let b = self.1.on_iteration(record, model)?;
        Ok(if a == Control::Stop || b == Control::Stop {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    fn on_episode(&mut self, episode: &EpisodeRecord) {
        self.0.on_episode(episode);
        self.1.on_episode(episode);
    }
}

/// Saves the model every `every_iterations` iterations into
/// `dir/ppo_<timesteps>_steps` (stable-baselines3's `CheckpointCallback`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointCallback {
    /// Parent directory of the checkpoints.
    pub dir: PathBuf,
    /// Save after every this many iterations (0 saves never).
    pub every_iterations: u64,
    /// Directories written so far.
    pub saved: Vec<PathBuf>,
}

impl CheckpointCallback {
    /// Checkpoints into `dir` every `every_iterations` iterations.
    pub fn new(dir: impl Into<PathBuf>, every_iterations: u64) -> Self {
        Self {
            dir: dir.into(),
            every_iterations,
            saved: Vec::new(),
        }
    }
}

impl Callback for CheckpointCallback {
    fn on_iteration(&mut self, record: &IterationRecord, model: &Ppo) -> Result<Control> {
        if self.every_iterations > 0 && record.iteration.is_multiple_of(self.every_iterations) {
            let path = self.dir.join(format!("ppo_{}_steps", record.timesteps));
            model.save(&path)?;
            self.saved.push(path);
        }
        Ok(Control::Continue)
    }
}

/// Stops training once the mean episode return of the log reaches a
/// threshold (stable-baselines3's `StopTrainingOnRewardThreshold`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StopOnMeanReturn {
    /// The mean return that ends training.
    pub threshold: f64,
}

impl Callback for StopOnMeanReturn {
    fn on_iteration(&mut self, record: &IterationRecord, _model: &Ppo) -> Result<Control> {
        Ok(match record.mean_episode_return {
            Some(r) if r >= self.threshold => Control::Stop,
            _ => Control::Continue,
        })
    }
}
