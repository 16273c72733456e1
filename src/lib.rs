//! End-to-end network intrusion detection on flow features: the pipeline
//! glue over the workspace crates (`flowdata`, `autoencoders`, `rlenv`,
//! `ppo`, `metrics`), so that each example is a thin command line over it.
#![deny(missing_docs)]

pub mod ingest;
