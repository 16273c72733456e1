//! `nids`: train a detector, look inside one, score flows with it, adapt
//! it to another network. Each subcommand is a module of clap definitions
//! and argument conversion; what they do is the `nids` library's.
//!
//! ```text
//! nids train --data DIR --out RUN          # the pipeline; writes RUN/detector/
//! nids inspect RUN/detector                # what it is and what it promises
//! nids score --detector RUN/detector flows.csv > verdicts.jsonl
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod adapt;
mod inspect;
mod score;
mod summary;
mod train;

/// Network intrusion detection on flow features.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the autoencoders, the policies and the verdict; write the
    /// report and the detector (`<out>/detector/`).
    Train(Box<train::Args>),
    /// Score flows with a saved detector: one JSON object per input row.
    Score(score::Args),
    /// Adapt a saved detector to benign traffic of another network: fine-tune
    /// its novelty model and recalibrate its verdict on part of the flows,
    /// write a new detector, and print the false-positive rate on the rest
    /// before and after.
    Adapt(adapt::Args),
    /// A first look at flow files: what reading and cleaning did, label and
    /// family counts, per-feature statistics.
    Summary(summary::Args),
    /// Describe a saved detector: its models, operating points, training
    /// inputs and headline numbers.
    Inspect(inspect::Args),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Train(args) => train::run(*args),
        Command::Score(args) => report(score::run(args)),
        Command::Adapt(args) => report(adapt::run(args)),
        Command::Summary(args) => report(summary::run(args)),
        Command::Inspect(args) => report(inspect::run(args)),
    }
}

/// The exit status of a command, its error on standard error.
fn report(result: nids::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
