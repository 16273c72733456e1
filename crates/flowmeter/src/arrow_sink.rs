//! Finished flows as Arrow record batches (feature `arrow`) and Parquet
//! files (feature `parquet`).
//!
//! Columns are named as in the CSV output. `Flow ID`, `Src IP`, `Dst IP`,
//! `Timestamp` (the oracle's text) and `Label` are strings; `Src Port`,
//! `Dst Port` and `Protocol` are `Int64`; every feature is `Float64` (the
//! integer ones exactly), which is how the project's flow reader recognises
//! feature columns in Arrow and Parquet files.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::Error;
use crate::record::{FEATURES, FlowRecord, IDENTIFIERS, LABEL};
use crate::sink::{FlowSink, LabelColumn};
use crate::text::Row;

/// Rows per record batch.
const BATCH_ROWS: usize = 8192;

/// The Arrow schema of the batches.
pub fn arrow_schema(label: &LabelColumn) -> SchemaRef {
    let mut fields: Vec<Field> = IDENTIFIERS
        .iter()
        .map(|&name| {
            let data_type = match name {
                "Src Port" | "Dst Port" | "Protocol" => DataType::Int64,
                _ => DataType::Utf8,
            };
            Field::new(name, data_type, false)
        })
        .collect();
    fields.extend(
        FEATURES
            .iter()
            .map(|f| Field::new(f.name(), DataType::Float64, false)),
    );
    if label.value().is_some() {
        fields.push(Field::new(LABEL, DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// Column builders for one batch.
struct Builder {
    schema: SchemaRef,
    label: Option<String>,
    flow_id: StringBuilder,
    src: StringBuilder,
    src_port: Int64Builder,
    dst: StringBuilder,
    dst_port: Int64Builder,
    protocol: Int64Builder,
    timestamp: StringBuilder,
    features: Vec<Float64Builder>,
    labels: StringBuilder,
    rows: usize,
    text: Row,
}

impl Builder {
    fn new(label: &LabelColumn) -> Builder {
        Builder {
            schema: arrow_schema(label),
            label: label.value().map(str::to_string),
            flow_id: StringBuilder::new(),
            src: StringBuilder::new(),
            src_port: Int64Builder::new(),
            dst: StringBuilder::new(),
            dst_port: Int64Builder::new(),
            protocol: Int64Builder::new(),
            timestamp: StringBuilder::new(),
            features: FEATURES
                .iter()
                .map(|_| Float64Builder::with_capacity(BATCH_ROWS))
                .collect(),
            labels: StringBuilder::new(),
            rows: 0,
            text: Row::default(),
        }
    }

    fn push(&mut self, flow: &FlowRecord) {
        fn string(builder: &mut StringBuilder, text: &mut Row, index: usize, flow: &FlowRecord) {
            text.clear();
            flow.write_identifier(index, text);
            builder.append_value(text.as_str());
        }
        string(&mut self.flow_id, &mut self.text, 0, flow);
        string(&mut self.src, &mut self.text, 1, flow);
        self.src_port.append_value(i64::from(flow.src_port()));
        string(&mut self.dst, &mut self.text, 3, flow);
        self.dst_port.append_value(i64::from(flow.dst_port()));
        self.protocol.append_value(i64::from(flow.protocol()));
        string(&mut self.timestamp, &mut self.text, 6, flow);
        for (builder, (_, value)) in self.features.iter_mut().zip(flow.features()) {
            builder.append_value(value.as_f64());
        }
        if let Some(label) = &self.label {
            self.labels.append_value(label);
        }
        self.rows += 1;
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.flow_id.finish()),
            Arc::new(self.src.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.timestamp.finish()),
        ];
        columns.extend(
            self.features
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        if self.label.is_some() {
            columns.push(Arc::new(self.labels.finish()));
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| Error::Arrow(e.to_string()))
    }
}

/// Collects flows into Arrow record batches of up to 8192 rows.
///
/// ```
/// use flowmeter::{ArrowBatches, FlowSink, LabelColumn};
/// let mut batches = ArrowBatches::new(LabelColumn::Fixed("BENIGN".into()));
/// batches.finish().unwrap();
/// assert!(batches.batches().is_empty());
/// assert_eq!(batches.schema().field(0).name(), "Flow ID");
/// ```
pub struct ArrowBatches {
    builder: Builder,
    batches: Vec<RecordBatch>,
}

impl std::fmt::Debug for ArrowBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowBatches")
            .field("batches", &self.batches.len())
            .finish_non_exhaustive()
    }
}

impl ArrowBatches {
    /// An empty collector.
    pub fn new(label: LabelColumn) -> ArrowBatches {
        ArrowBatches {
            builder: Builder::new(&label),
            batches: Vec::new(),
        }
    }

    /// The batches' schema.
    pub fn schema(&self) -> SchemaRef {
        self.builder.schema.clone()
    }

    /// The batches completed so far (all of them after `finish`).
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Takes the completed batches.
    pub fn take_batches(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.batches)
    }
}

impl FlowSink for ArrowBatches {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        self.builder.push(&flow);
        if self.builder.rows >= BATCH_ROWS {
            self.batches.push(self.builder.finish()?);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.builder.rows > 0 {
            self.batches.push(self.builder.finish()?);
        }
        Ok(())
    }
}

/// Writes flows to a Parquet file (Snappy-compressed row groups of 8192
/// flows), with the columns of [`arrow_schema`].
#[cfg(feature = "parquet")]
pub struct ParquetWriter<W: std::io::Write + Send> {
    builder: Builder,
    writer: Option<parquet::arrow::ArrowWriter<W>>,
}

#[cfg(feature = "parquet")]
impl<W: std::io::Write + Send> std::fmt::Debug for ParquetWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter").finish_non_exhaustive()
    }
}

#[cfg(feature = "parquet")]
impl<W: std::io::Write + Send> ParquetWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W, label: LabelColumn) -> Result<ParquetWriter<W>, Error> {
        let builder = Builder::new(&label);
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let writer = parquet::arrow::ArrowWriter::try_new(out, builder.schema.clone(), Some(props))
            .map_err(|e| Error::Arrow(e.to_string()))?;
        Ok(ParquetWriter {
            builder,
            writer: Some(writer),
        })
    }

    fn write_batch(&mut self) -> Result<(), Error> {
        let batch = self.builder.finish()?;
        match &mut self.writer {
            Some(writer) => writer
                .write(&batch)
                .map_err(|e| Error::Arrow(e.to_string())),
            None => Err(Error::Arrow("the Parquet file is already finished".into())),
        }
    }
}

#[cfg(feature = "parquet")]
impl<W: std::io::Write + Send> FlowSink for ParquetWriter<W> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        self.builder.push(&flow);
        if self.builder.rows >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.builder.rows > 0 {
            self.write_batch()?;
        }
        if let Some(writer) = self.writer.take() {
            writer.close().map_err(|e| Error::Arrow(e.to_string()))?;
        }
        Ok(())
    }
}
