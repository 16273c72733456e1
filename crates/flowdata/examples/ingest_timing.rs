//! Time the whole ingest job on one raw CIC-IDS2017-format CSV, stage by
//! stage, as the pandas and polars baselines do it: read, clean (non-finite
//! rows, negatives, duplicates), stratified 80/20 split (seed 42), min-max
//! scaling fitted on the training rows. Prints one JSON line with the
//! stage times and the peak resident memory.
//!
//! ```text
//! cargo run --release -p flowdata --example ingest_timing -- FILE.csv [--generate ROWS]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use flowdata::synth::{SynthConfig, write_csv};
use flowdata::{Bounds, ReadOptions, ScalingMethod, SplitConfig, read_flows, split_indices};

fn peak_rss_kib() -> u64 {
    flowdata::testdata::process_memory_kib("VmHWM:").unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .ok_or("usage: ingest_timing FILE.csv [--generate ROWS]")?,
    );
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let rows: usize = args
            .get(i + 1)
            .ok_or("--generate needs a row count")?
            .parse()?;
        let t = Instant::now();
        let s = write_csv(
            &SynthConfig {
                rows,
                seed: 1,
                ..Default::default()
            },
            &path,
        )?;
        eprintln!(
            "generated {} rows in {:.1} s",
            s.rows_written,
            t.elapsed().as_secs_f64()
        );
    }
    let all = Instant::now();
    let t = Instant::now();
    let (frame, report) = read_flows(&[&path], &ReadOptions::default())?;
    let read_s = t.elapsed().as_secs_f64();
    let read_peak = peak_rss_kib();
    let t = Instant::now();
    let cfg = SplitConfig {
        train: 0.8,
        validation: 0.0,
        test: 0.2,
        seed: 42,
    };
    let idx = split_indices(&frame, &cfg)?;
    let split = frame.into_split(&idx)?;
    let (mut train, mut test) = (split.train, split.test);
    let split_s = t.elapsed().as_secs_f64();
    let split_peak = peak_rss_kib();
    let t = Instant::now();
    let bounds = Bounds::fit(train.schema(), train.features(), ScalingMethod::MinMax)?;
    bounds.transform_frame(&mut train)?;
    bounds.transform_frame(&mut test)?;
    let scale_s = t.elapsed().as_secs_f64();
    let total = all.elapsed().as_secs_f64();
    let matrix_mib =
        ((train.n_rows() + test.n_rows()) * train.n_features()) as f64 * 4.0 / (1 << 20) as f64;
    println!(
        "{}",
        serde_json::json!({
            "tool": "flowdata",
            "rows_in": report.rows_read(),
            "rows_out": report.rows_kept(),
            "dropped": report.dropped().as_map(),
            "n_features": train.n_features(),
            "train_rows": train.n_rows(),
            "test_rows": test.n_rows(),
            "stages_s": { "read_clean_dedup": read_s, "stratified_split": split_s, "minmax_fit_transform": scale_s },
            "total_s": total,
            "rows_per_s": report.rows_read() as f64 / total,
            "final_matrix_mib": matrix_mib,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
            "peak_rss_mib_after": { "read": read_peak as f64 / 1024.0, "split": split_peak as f64 / 1024.0 },
        })
    );
    Ok(())
}
