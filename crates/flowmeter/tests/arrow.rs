//! Flows as Arrow record batches and as a Parquet file (features `arrow`
//! and `parquet`): the columns of the CSV, the same values.

#![cfg(feature = "parquet")]

use flowmeter::{ArrowBatches, FlowRecord, FlowSink, LabelColumn, MeterConfig, ParquetWriter};

mod common;

#[test]
fn batches_and_parquet_hold_every_flow() {
    let Some(data) = common::data_dir() else {
        return;
    };
    let capture = data.join("pcaps/generated/bruteforce.pcap");
    let mut flows: Vec<FlowRecord> = Vec::new();
    flowmeter::run_file(&capture, &mut flows, &MeterConfig::default()).unwrap();

    let label = LabelColumn::Fixed("BruteForce".into());
    let mut batches = ArrowBatches::new(label.clone());
    for flow in flows.iter().cloned() {
        batches.write_flow(flow).unwrap();
    }
    batches.finish().unwrap();
    let batch = &batches.batches()[0];
    assert_eq!(batch.num_rows(), flows.len());
    assert_eq!(batch.num_columns(), 94);
    let duration = batch
        .column_by_name("Flow Duration")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    assert_eq!(
        duration.value(0),
        (flows[0].end_us() - flows[0].start_us()) as f64
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.parquet");
    let mut parquet = ParquetWriter::new(std::fs::File::create(&path).unwrap(), label).unwrap();
    for flow in flows.iter().cloned() {
        parquet.write_flow(flow).unwrap();
    }
    parquet.finish().unwrap();
    drop(parquet);
    let file = std::fs::File::open(&path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, flows.len());
}
