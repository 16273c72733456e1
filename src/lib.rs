//! End-to-end network intrusion detection on flow features: the pipeline
//! glue over the workspace crates (`flowdata`, `autoencoders`, `rlenv`,
//! `ppo`, `metrics`), so that each example is a thin command line over it.
//!
//! [`pipeline::run`] takes a [`config::PipelineConfig`] and writes models,
//! `schema.json`, `bounds.json`, `report.json`, `report.md` and PNG plots
//! into the output directory, which appears whole or not at all
//! ([`output`]).
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod detector;
pub mod error;
pub mod evaluate;
pub mod generalization;
pub mod ingest;
pub mod output;
pub mod pipeline;
pub mod plots;
pub mod policy;
pub mod progress;
pub mod report;
pub mod stages;
pub mod supervised;
pub mod verdict;

pub use config::{PipelineConfig, Timesteps};
pub use detector::Detector;
pub use error::{PipelineError, Result};
pub use pipeline::run;
pub use report::Report;
