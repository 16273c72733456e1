//! The meter's throughput by stage, on one core, over a capture held in
//! memory: the shared `generated/mixed.pcap` repeated 20 times, each copy
//! 200 s after the previous (116k packets, 70 MB).
//!
//! - `read`: pcap records out of the stream (pcap-parser, buffer refills);
//! - `read+decode`: and each frame decoded to a packet;
//! - `meter`: and every packet metered, flows kept in memory (no output):
//!   the figure the crate's target (3M packets/s) is about;
//! - `meter+features`: and the 86 features of every flow computed;
//! - `meter+csv`: and every flow written as CSV (to a sink).
//!
//! Run with `cargo bench -p flowmeter --bench meter`; needs the shared data
//! folder (`NIDS_DATA_DIR`).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowmeter::{CaptureReader, CsvWriter, FlowRecord, FlowSink, LabelColumn, MeterConfig, Packet};

const COPIES: i64 = 20;

fn capture() -> Option<(&'static [u8], u64)> {
    let data = common::data_dir()?;
    let bytes = std::fs::read(data.join("pcaps/generated/mixed.pcap")).ok()?;
    let records = common::read_records(bytes);
    let first = records.first()?.timestamp_us;
    let span = records.last()?.timestamp_us - first + 200_000_000;
    let mut all = Vec::with_capacity(records.len() * COPIES as usize);
    for k in 0..COPIES {
        all.extend(records.iter().map(|r| common::Record {
            timestamp_us: r.timestamp_us + k * span,
            ..r.clone()
        }));
    }
    let file = common::pcap(&all, flowmeter::LinkType::ETHERNET, false, false);
    Some((Box::leak(file.into_boxed_slice()), all.len() as u64))
}

fn stages(c: &mut Criterion) {
    let Some((file, packets)) = capture() else {
        eprintln!("skipped: no shared data folder");
        return;
    };
    let config = MeterConfig::default();
    let mut group = c.benchmark_group("meter");
    group.throughput(Throughput::Elements(packets));
    group.sample_size(20);

    group.bench_function("read", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::new("bench", file).unwrap();
            let mut n = 0u64;
            while let Some(frame) = reader.next_frame().unwrap() {
                n += frame.data.len() as u64;
            }
            n
        })
    });
    group.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut reader = CaptureReader::new("bench", file).unwrap();
            let mut n = 0u64;
            while let Some(frame) = reader.next_frame().unwrap() {
                if let Ok(p) = Packet::decode(frame.link, frame.data, frame.timestamp_us, &config) {
                    n += u64::from(p.payload_len);
                }
            }
            n
        })
    });
    group.bench_function("meter", |b| {
        b.iter(|| {
            let mut flows: Vec<FlowRecord> = Vec::with_capacity(16_384);
            flowmeter::run("bench", file, &mut flows, &config).unwrap();
            flows.len()
        })
    });
    group.bench_function("meter+features", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let mut sink = flowmeter::from_fn(|flow| {
                sum += flow.features().map(|(_, v)| v.as_f64()).sum::<f64>();
                Ok(())
            });
            flowmeter::run("bench", file, &mut sink, &config).unwrap();
            sum
        })
    });
    group.bench_function("meter+csv", |b| {
        b.iter(|| {
            let mut csv = CsvWriter::new(std::io::sink(), LabelColumn::Oracle);
            flowmeter::run("bench", file, &mut csv, &config).unwrap();
            csv.finish().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
