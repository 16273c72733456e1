//! Ingest throughput: read + clean (non-finite, negatives, duplicates) of a
//! generated 1-million-row raw CIC-IDS2017-format CSV, and Parquet read of
//! the same frame.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowdata::synth::{SynthConfig, write_csv};
use flowdata::{FlowFrame, ReadOptions, read_flows};

const ROWS: usize = 1_000_000;

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("flows.csv");
    let summary = write_csv(
        &SynthConfig {
            rows: ROWS,
            seed: 1,
            ..Default::default()
        },
        &csv,
    )
    .expect("generate");
    let (frame, _) = read_flows(&[&csv], &ReadOptions::default()).expect("read");
    let parquet = dir.path().join("flows.parquet");
    frame.write_parquet(&parquet).expect("write parquet");

    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(summary.rows_written as u64));
    g.bench_function("csv_read_clean_1m_rows", |b| {
        b.iter(|| black_box(read_flows(&[&csv], &ReadOptions::default()).expect("read")))
    });
    g.throughput(Throughput::Elements(frame.n_rows() as u64));
    g.bench_function("parquet_read_1m_rows", |b| {
        b.iter(|| black_box(FlowFrame::read_parquet(&parquet).expect("read parquet")))
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
