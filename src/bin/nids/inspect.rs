//! `nids inspect DIR`.

use std::path::PathBuf;

/// The options of `nids inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The detector directory.
    dir: PathBuf,
}

/// Describe the detector on standard output.
pub fn run(args: Args) -> nids::Result<()> {
    print!("{}", nids::commands::inspect(&args.dir)?);
    Ok(())
}
