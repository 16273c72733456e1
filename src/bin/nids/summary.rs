//! `nids summary PATH...`.

use std::path::PathBuf;

use flowdata::Alignment;
use nids::cli::SchemaArgs;

/// The options of `nids summary`.
#[derive(clap::Args)]
pub struct Args {
    /// CSV files or directories of CSV files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    schema: SchemaArgs,
    /// Missing-feature policy: strict, intersect or fill:VALUE.
    #[arg(long, default_value_t = flowdata::ReadOptions::default().alignment)]
    alignment: Alignment,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Print the summary.
pub fn run(args: Args) -> nids::Result<()> {
    print!(
        "{}",
        nids::commands::summary(&args.paths, &args.schema, args.alignment, args.json)?
    );
    Ok(())
}
