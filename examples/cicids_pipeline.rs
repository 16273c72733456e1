//! The end-to-end pipeline as a command line: load and clean flows, train
//! the autoencoders and their reconstruction detectors, train PPO on each
//! autoencoder's latents, evaluate the best policy on the test split, check
//! generalization on benign traffic of other captures, and write models, a
//! Markdown + JSON report and PNG plots.
//!
//! With no arguments it runs on the embedded default (generated
//! CIC-IDS2017-format flows): `cargo run --release --example cicids_pipeline`.

use std::process::ExitCode;

use clap::Parser;
use nids::cli::TrainArgs;

/// Network intrusion detection on flow features: autoencoders + PPO.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn main() -> ExitCode {
    nids::cli::train(Cli::parse().args)
}
