#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod ceiling;
mod data;
mod error;
mod loss;
mod tree;
mod weights;

pub use ceiling::{Ceiling, CeilingConfig, EpochRecord};
pub use error::{BaselineError, Result};
pub use loss::weighted_logistic_loss;
pub use tree::{TreeBaseline, TreeConfig};
pub use weights::ClassWeights;
