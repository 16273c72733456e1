//! `nids score --detector DIR [INPUT...]`.

use std::path::PathBuf;

use nids::scoring::ScoreRequest;

/// The options of `nids score`.
#[derive(clap::Args)]
pub struct Args {
    /// The detector directory (`<out>/detector` of a training run).
    #[arg(long)]
    detector: PathBuf,
    /// Write here instead of standard output: `.jsonl`/`.json` for JSON
    /// lines, `.csv` for CSV, `.parquet` for Parquet.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The operating point to apply (default: the report's verdict).
    #[arg(long)]
    operating_point: Option<String>,
    /// Write only the flows judged malicious.
    #[arg(long)]
    alerts_only: bool,
    /// Fill features the input lacks with this value (a warning), instead
    /// of refusing the input.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    fill_missing: Option<flowdata::FillValue>,
    /// CSV files or directories in any spelling the alias table knows,
    /// Parquet (`.parquet`) or Arrow IPC (`.arrow`, `.ipc`) files as
    /// `flowdata` writes them; `-` or none: CSV on standard input.
    inputs: Vec<PathBuf>,
}

/// Score the inputs: verdicts to standard output or `--output`, warnings
/// and the summary to standard error.
pub fn run(args: Args) -> nids::Result<()> {
    let request = ScoreRequest {
        detector: args.detector,
        inputs: args.inputs,
        output: args.output,
        operating_point: args.operating_point,
        alerts_only: args.alerts_only,
        fill_missing: args.fill_missing,
    };
    let stdin = Box::new(std::io::BufReader::new(std::io::stdin()));
    let summary = nids::scoring::score(&request, stdin, std::io::stdout(), &mut |w| {
        eprintln!("warning: {w}")
    })?;
    eprintln!("{summary}");
    Ok(())
}
