//! A look at flow data before training: load and clean the inputs exactly as
//! the pipeline does, then print the cleaning report, label and family
//! counts, and per-feature statistics.
//!
//! ```text
//! cargo run --release --example flow_summary -- PATH... [--label-column C] [--family-column C]
//!     [--categorical a,b] [--alignment strict|intersect|fill:V] [--json]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use flowdata::{Alignment, Bounds, InferOptions, ReadOptions, ScalingMethod, Schema};
use serde::Serialize;

/// Summarise flow CSV files or directories.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// CSV files or directories of CSV files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Label column of a non-CIC-IDS2017 schema (the schema is then inferred).
    #[arg(long)]
    label_column: Option<String>,
    /// Attack-family column of an inferred schema.
    #[arg(long)]
    family_column: Option<String>,
    /// Text columns to one-hot encode in an inferred schema (comma-separated).
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
    /// Missing-feature policy: strict, intersect or fill:VALUE.
    #[arg(long, default_value = "intersect")]
    alignment: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FeatureStats {
    name: String,
    min: f32,
    max: f32,
    mean: f64,
    zero_share: f64,
    clamped: usize,
}

#[derive(Serialize)]
struct Summary {
    rows_read: u64,
    rows_after_cleaning: usize,
    dropped: BTreeMap<&'static str, u64>,
    labels: BTreeMap<String, usize>,
    families: BTreeMap<String, usize>,
    features: usize,
    feature_stats: Vec<FeatureStats>,
    report: flowdata::CleaningReport,
}

fn parse_alignment(s: &str) -> Result<Alignment, String> {
    match s {
        "strict" => Ok(Alignment::Strict),
        "intersect" => Ok(Alignment::Intersect),
        _ => s
            .strip_prefix("fill:")
            .and_then(|v| v.parse::<f32>().ok())
            .map(Alignment::Fill)
            .ok_or_else(|| {
                format!("--alignment: expected strict, intersect or fill:VALUE, got '{s}'")
            }),
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let schema = match &args.label_column {
        Some(label) => {
            let mut opts = InferOptions::new(label.clone());
            opts.family_column = args.family_column.clone();
            opts.categorical = args.categorical.clone();
            Schema::infer(&args.paths, &opts)?
        }
        None => Schema::cicids2017(),
    };
    let options = ReadOptions {
        alignment: parse_alignment(&args.alignment)?,
        ..ReadOptions::with_schema(schema)
    };
    let (frame, report) = flowdata::read_flows(&args.paths, &options)?;
    let x = frame.features();
    let clamped = if frame.n_rows() > 0 {
        let bounds = Bounds::fit(frame.schema(), x, ScalingMethod::default())?;
        bounds.transform(x)?.out_of_range.per_feature
    } else {
        vec![0; frame.n_features()]
    };
    let feature_stats = frame
        .feature_names()
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let col = x.column(j);
            let n = col.len().max(1) as f64;
            FeatureStats {
                name: (*name).to_string(),
                min: col.iter().copied().fold(f32::INFINITY, f32::min),
                max: col.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                mean: col.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
                zero_share: col.iter().filter(|&&v| v == 0.0).count() as f64 / n,
                clamped: clamped[j],
            }
        })
        .collect();
    let summary = Summary {
        rows_read: report.rows_read(),
        rows_after_cleaning: frame.n_rows(),
        dropped: report.dropped().as_map(),
        labels: frame.label_counts(),
        families: frame
            .family_counts()
            .into_iter()
            .map(|(f, n)| (f.name().to_string(), n))
            .collect(),
        features: frame.n_features(),
        feature_stats,
        report,
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
        return Ok(());
    }
    print!("{}", summary.report.to_text());
    println!(
        "\nrows after cleaning: {}, features: {}",
        summary.rows_after_cleaning, summary.features
    );
    println!("\nlabels:");
    for (l, n) in &summary.labels {
        println!("  {l:<32} {n:>10}");
    }
    println!("\nfamilies:");
    for (f, n) in &summary.families {
        println!("  {f:<32} {n:>10}");
    }
    println!(
        "\n{:<32} {:>14} {:>14} {:>14} {:>7} {:>8}",
        "feature", "min", "max", "mean", "zeros", "clamped"
    );
    for s in &summary.feature_stats {
        println!(
            "{:<32} {:>14.4e} {:>14.4e} {:>14.4e} {:>6.1}% {:>8}",
            s.name,
            s.min,
            s.max,
            s.mean,
            100.0 * s.zero_share,
            s.clamped
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
