#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod capture;
mod config;
mod decode;
mod error;
mod flow;
mod meter;
mod record;
mod sink;
mod summary;
mod text;

#[cfg(feature = "arrow")]
mod arrow_sink;

use std::io::Read;
use std::path::Path;

pub use capture::{CaptureFormat, CaptureReader, Frame, describe_bytes};
pub use config::MeterConfig;
pub use decode::{LinkType, Packet, TcpFlags, protocol};
pub use error::Error;
pub use meter::FlowMeter;
pub use record::{
    FEATURES, Feature, FeatureKind, FeatureValue, FlowRecord, IDENTIFIERS, LABEL, ORACLE_LABEL,
    feature_index,
};
pub use sink::{
    CsvWriter, FlowSink, FnSink, JsonLinesWriter, LabelColumn, ThreadedSink, column_names, from_fn,
};
pub use summary::{CaptureEnd, CaptureSummary, SkipCounts, SkipReason};
pub use text::format_timestamp;

#[cfg(feature = "parquet")]
pub use arrow_sink::ParquetWriter;
#[cfg(feature = "arrow")]
pub use arrow_sink::{ArrowBatches, arrow_schema};

/// Meters a whole capture read from any `Read` (a file, a pipe, stdin) and
/// hands every flow to `sink` as soon as it is final; open flows are
/// flushed at the end. `name` names the input in errors (a path, `-`).
///
/// The sink is not finished, so that several captures can go to one
/// output: call [`FlowSink::finish`] after the last one.
pub fn run(
    name: &str,
    input: impl Read + Send + 'static,
    sink: &mut impl FlowSink,
    config: &MeterConfig,
) -> Result<CaptureSummary, Error> {
    let mut meter = FlowMeter::new(config.clone())?;
    let mut reader = CaptureReader::new(name, input)?;
    while let Some(frame) = reader.next_frame()? {
        meter.push_frame(frame.link, frame.timestamp_us, frame.data, sink)?;
    }
    meter.finish(sink)?;
    Ok(merge(reader.summary(), meter.summary()))
}

/// [`run`] on a file, named by its path in errors.
pub fn run_file(
    path: impl AsRef<Path>,
    sink: &mut impl FlowSink,
    config: &MeterConfig,
) -> Result<CaptureSummary, Error> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        name: name.clone(),
        source,
    })?;
    run(&name, file, sink, config)
}

/// The reader's counts (records, bytes, end) with the meter's (packets
/// metered and skipped while decoding, flows, anomalies).
fn merge(reader: CaptureSummary, meter: &CaptureSummary) -> CaptureSummary {
    let mut summary = meter.clone();
    summary.packets_read = reader.packets_read;
    summary.bytes_read = reader.bytes_read;
    summary.oversized_records = reader.oversized_records;
    summary.end = reader.end;
    for (reason, n) in reader.skipped.iter() {
        for _ in 0..n {
            summary.skipped.add(reason);
        }
    }
    summary
}
