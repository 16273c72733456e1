//! `nids train`: the pipeline's options, as the `cicids_pipeline` example
//! takes them.

use std::process::ExitCode;

/// The options of `nids train`.
pub type Args = nids::cli::TrainArgs;

/// Run the pipeline.
pub fn run(args: Args) -> ExitCode {
    nids::cli::train(args)
}
