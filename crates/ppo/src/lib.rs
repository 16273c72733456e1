#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod buffer;
mod callback;
mod config;
mod distribution;
mod error;
mod learner;
pub mod loss;
mod persist;

pub use buffer::{RolloutBuffer, compute_gae};
pub use callback::{Callback, CheckpointCallback, Control, IterationRecord, StopOnMeanReturn};
pub use config::{LrSchedule, NetArch, PpoConfig};
/// The dense-network engine the learner runs on (the `dense` crate).
pub use dense as engine;
pub use distribution::{ActionDistribution, Categorical, distribution_for};
pub use error::{PpoError, Result};
pub use learner::Ppo;
pub use persist::{CONFIG_FILE, FORMAT_VERSION, OPTIMIZER_FILE, POLICY_FILE, SavedModel};
/// The spaces a policy is built for ([`Ppo::with_spaces`]).
pub use rlenv::Space;
