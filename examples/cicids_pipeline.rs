//! The CIC-IDS2017 pipeline. With no arguments it runs on the embedded
//! default (generated flows); `--data PATH` (repeatable, files or
//! directories) runs it on real CIC-IDS2017 CSVs.
//!
//! Stages available now: load, clean, split and scale, with the schema and
//! bounds written to the output directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use flowdata::synth::SynthConfig;
use indicatif::{ProgressBar, ProgressStyle};
use nids::ingest::{IngestConfig, Source};

/// Network intrusion detection on CIC-IDS2017 flows.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// CSV files or directories of CSV files (repeatable). Without it, the
    /// embedded default: generated CIC-IDS2017-format flows.
    #[arg(long)]
    data: Vec<PathBuf>,
    /// Rows of the embedded default.
    #[arg(long, default_value_t = 60_000)]
    synthetic_rows: usize,
    /// Seed of everything random.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory (default: runs/<unix time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = args.out.clone().unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/{t}"))
    });
    let mut config = IngestConfig::default();
    config.split.seed = args.seed;
    config.source = if args.data.is_empty() {
        Source::Synthetic(SynthConfig {
            rows: args.synthetic_rows,
            seed: args.seed,
            ..SynthConfig::default()
        })
    } else {
        Source::Files(args.data.clone())
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("loading {bar:40} {bytes}/{total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let result = nids::ingest::run(&config, &out, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(ingested) => {
            print!("{}", ingested.report.to_text());
            let s = &ingested.summary;
            println!(
                "\nrows read {}, after cleaning {}, features {}\nsplit: train {}, validation {}, test {}; {} validation/test values clamped to the training range",
                s.rows_read, s.rows_after_cleaning, s.features, s.train, s.validation, s.test, s.clamped_values
            );
            println!(
                "wrote {} and {} in {:.1} s",
                out.join("schema.json").display(),
                out.join("bounds.json").display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
