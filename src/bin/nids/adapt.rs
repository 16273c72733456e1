//! `nids adapt --detector DIR --benign PATH --out DIR`.

use std::path::PathBuf;

use detector::AdaptConfig;
use nids::commands::AdaptRequest;

/// The options of `nids adapt`.
#[derive(clap::Args)]
pub struct Args {
    /// The detector to adapt.
    #[arg(long)]
    detector: PathBuf,
    /// Benign flows of the new network: CSV files or directories
    /// (repeatable; labelled files keep their benign rows only).
    #[arg(long, required = true)]
    benign: Vec<PathBuf>,
    /// Where the adapted detector is written (must not exist).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_name = "SHARE", help = format!("Share of the benign flows to adapt on; the rest measure it [default: {}]", AdaptConfig::default().fraction))]
    fraction: Option<f64>,
    #[arg(long, value_name = "SEED", help = format!("Seed of the split and the fine-tuning [default: {}]", AdaptConfig::default().trainer.seed))]
    seed: Option<u64>,
    /// Fill features the flows lack with this value.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    fill_missing: Option<flowdata::FillValue>,
}

/// Adapt, write the new detector, print what it measured.
pub fn run(args: Args) -> nids::Result<()> {
    let mut config = AdaptConfig::default();
    if let Some(fraction) = args.fraction {
        config.fraction = fraction;
    }
    if let Some(seed) = args.seed {
        config.trainer.seed = seed;
    }
    let request = AdaptRequest {
        detector: args.detector,
        benign: args.benign,
        out: args.out,
        config,
        fill_missing: args.fill_missing,
    };
    let a = nids::commands::adapt(&request)?;
    println!(
        "adapted on {} benign flows; on the {} held back, the verdict's false-positive rate went from {:.4} to {:.4}; detector: {}",
        a.tune_rows,
        a.held_back_rows,
        a.fpr_before,
        a.fpr_after,
        request.out.display()
    );
    Ok(())
}
