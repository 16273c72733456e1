#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod cartpole;
mod check;
mod env;
mod error;
mod flow;
mod space;
mod vec_env;
mod wrappers;

pub use cartpole::{CartPole, CartPoleConfig};
pub use check::{CheckReport, check_env, check_flat_env};
pub use env::{Env, FlatEnv, Step, StepOutcome};
pub use error::RlEnvError;
pub use flow::{
    BENIGN, FlowDataset, FlowDetectionEnv, FlowEnvConfig, FlowInfo, MALICIOUS, RewardTable,
    Sampling,
};
pub use space::Space;
pub use vec_env::{EpisodeRecord, VecEnv, VecStep};
pub use wrappers::{EpisodeStatistics, EpisodeStats, StatsInfo, TimeLimit};
