//! End-to-end network intrusion detection on flow features: the training
//! pipeline over the workspace crates (`flowdata`, `autoencoders`,
//! `rlenv`, `ppo`, `baselines`, `metrics`, `detector`), and the library
//! side of the `nids` command, so that the binary and each example are
//! thin command lines over it.
//!
//! [`pipeline::run`] takes a [`config::PipelineConfig`] and writes models,
//! `schema.json`, `bounds.json`, `report.json`, `report.md`, PNG plots and
//! the deployable detector (`detector/`, the `detector` crate's artifact)
//! into the output directory, which appears whole or not at all
//! ([`output`]).
#![deny(missing_docs)]

// The modules in layers, lowest first: a module imports only modules of
// the layers above it here (tests/layering.rs checks it). Configuration
// and errors at the bottom; ingest; evaluation; the stages; the
// generalization check; report and plots; the pipeline; the commands.
pub mod error;

pub mod config;

pub mod output;
pub mod progress;

pub mod ingest;

pub mod evaluate;

pub mod novelty;
pub mod verdict;

pub mod policy;

pub mod supervised;

pub mod generalization;

pub mod plots;
pub mod report;

pub mod pipeline;

pub mod cli;

pub mod commands;
pub mod scoring;

pub use config::{PipelineConfig, Timesteps};
pub use error::{PipelineError, Result};
pub use pipeline::run;
pub use report::Report;
