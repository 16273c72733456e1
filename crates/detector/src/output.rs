//! The versioned output of scoring: one row per scored flow as JSON lines,
//! CSV or Parquet, written batch by batch ([`VerdictWriter`]) to any sink
//! (standard output, a file written whole or not at all, a pipe).

use std::io::Write;
use std::path::Path;

use arrow::array::{Array, LargeStringArray};
use arrow::record_batch::RecordBatch;
use flowdata::FlowFrame;
use serde_json::value::RawValue;

use crate::error::{DetectorError, Result};
use crate::score::Scores;

/// The version of the documented output fields ([`ScoredBatch`]). Version
/// 1 numbered `row` among the scored flows (a skipped row shifted the rows
/// after it) and passed no identifier through.
pub const OUTPUT_VERSION: u32 = 2;

/// The output columns of CSV and Parquet, fixed by the first batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The identifier columns, canonical names in their documented order.
    pub identifiers: Vec<&'static str>,
    /// Whether a `label` column is written.
    pub labelled: bool,
}

/// One scored batch of flows, as written.
///
/// The documented output fields, version [`OUTPUT_VERSION`]. First the identifier columns
/// the input has (`Flow ID`, `Src IP`, `Src Port`, `Dst IP`, `Dst Port`,
/// `Protocol`, `Timestamp`, `id`, in this order, under these names whatever
/// the input's spelling, each cell as written), then `row` (the 0-based
/// position of the flow's data row in the whole input: all inputs in the
/// order given, rows that were not scored counted, so that a verdict joins
/// back to its row; skipped rows are reported on stderr with their line),
/// `p_malicious`, `reconstruction_error` (the novelty score), `malicious`
/// (the verdict), `top_features` (three feature names, largest
/// standardised reconstruction error first), and `label` when the input
/// carries labels. An identifier a row lacks (its file has no such column)
/// is left out of its JSON object, empty in CSV and null in Parquet; CSV
/// and Parquet keep the columns of the first input.
///
pub struct ScoredBatch<'a> {
    /// The flows, as read (their origins give `row` and the identifiers).
    pub frame: &'a FlowFrame,
    /// Their scores.
    pub scores: &'a Scores,
    /// The detector's feature names, for `top_features`.
    pub names: Vec<&'a str>,
    /// The position of the batch input's first data row in the whole input.
    pub first_row: u64,
    /// Whether the flows carry labels to write.
    pub labelled: bool,
    /// The rows written: all, or the alerts.
    pub rows: Vec<usize>,
}

impl ScoredBatch<'_> {
    /// The input position of row `i`.
    pub fn row(&self, i: usize) -> u64 {
        self.first_row + self.frame.origins().map_or(i as u64, |o| o.rows()[i])
    }

    /// An identifier column of the batch, by canonical name.
    fn identifier(&self, name: &str) -> Option<&LargeStringArray> {
        let origins = self.frame.origins()?;
        let (_, values) = origins.identifiers().iter().find(|(n, _)| *n == name)?;
        Some(values)
    }

    /// The batch's own columns.
    pub fn layout(&self) -> Layout {
        Layout {
            identifiers: self
                .frame
                .origins()
                .map(|o| o.identifiers().iter().map(|(n, _)| *n).collect())
                .unwrap_or_default(),
            labelled: self.labelled,
        }
    }

    /// The features explaining row `i`, largest error first.
    fn top(&self, i: usize) -> Vec<&str> {
        self.scores
            .top_features
            .row(i)
            .iter()
            .map(|&j| self.names[j])
            .collect()
    }
}

/// The value of an identifier column at row `i`, if the row has one.
fn cell(values: Option<&LargeStringArray>, i: usize) -> Option<&str> {
    values.filter(|v| v.is_valid(i)).map(|v| v.value(i))
}

/// One output row as a JSON object, fields in their documented order.
/// Feature names and labels come as JSON text rendered once per batch.
struct JsonRow<'a> {
    identifiers: Vec<(&'a str, &'a str)>,
    row: u64,
    p_malicious: f64,
    reconstruction_error: f64,
    malicious: bool,
    top_features: TopFeatures<'a>,
    label: Option<&'a RawValue>,
}

/// A row's explanation: the names of its top features, as JSON strings.
struct TopFeatures<'a> {
    columns: ndarray::ArrayView1<'a, usize>,
    names: &'a [Box<RawValue>],
}

impl serde::Serialize for TopFeatures<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.columns.iter().map(|&j| &*self.names[j]))
    }
}

/// Each text rendered once as a JSON string.
fn json_strings<'a>(texts: impl Iterator<Item = &'a str>) -> Vec<Box<RawValue>> {
    texts
        .map(|t| {
            let quoted = serde_json::to_string(t).expect("a string serialises");
            RawValue::from_string(quoted).expect("a JSON string is JSON")
        })
        .collect()
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (name, value) in &self.identifiers {
            m.serialize_entry(name, value)?;
        }
        m.serialize_entry("row", &self.row)?;
        m.serialize_entry("p_malicious", &self.p_malicious)?;
        m.serialize_entry("reconstruction_error", &self.reconstruction_error)?;
        m.serialize_entry("malicious", &self.malicious)?;
        m.serialize_entry("top_features", &self.top_features)?;
        if let Some(label) = self.label {
            m.serialize_entry("label", label)?;
        }
        m.end()
    }
}

/// The batch's rows as JSON lines, fields in their documented order;
/// blocks of rows are formatted in parallel and written in order.
fn write_json_lines(out: &mut impl Write, batch: &ScoredBatch<'_>) -> std::io::Result<()> {
    use rayon::prelude::*;
    let layout = batch.layout();
    let identifiers: Vec<(&str, Option<&LargeStringArray>)> = layout
        .identifiers
        .iter()
        .map(|&n| (n, batch.identifier(n)))
        .collect();
    let scores = batch.scores;
    let names = json_strings(batch.names.iter().copied());
    let labels = json_strings(batch.frame.classes().iter().map(|c| c.raw.as_str()));
    let class_ids = batch.frame.class_ids();
    let blocks: Vec<std::io::Result<Vec<u8>>> = batch
        .rows
        .par_chunks(4096)
        .map(|rows| {
            let mut text = Vec::with_capacity(rows.len() * 160);
            for &i in rows {
                let row = JsonRow {
                    identifiers: identifiers
                        .iter()
                        .filter_map(|&(name, values)| cell(values, i).map(|v| (name, v)))
                        .collect(),
                    row: batch.row(i),
                    p_malicious: scores.p_malicious(i),
                    reconstruction_error: scores.novelty[i],
                    malicious: scores.malicious[i],
                    top_features: TopFeatures {
                        columns: scores.top_features.row(i),
                        names: &names,
                    },
                    label: batch.labelled.then(|| &*labels[class_ids[i] as usize]),
                };
                serde_json::to_writer(&mut text, &row)?;
                text.push(b'\n');
            }
            Ok(text)
        })
        .collect();
    for block in blocks {
        out.write_all(&block?)?;
    }
    Ok(())
}

/// A CSV text field: quoted, quotes doubled.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The batch's rows as CSV in the output's columns (and the header first
/// when asked).
fn write_csv(
    out: &mut impl Write,
    batch: &ScoredBatch<'_>,
    layout: &Layout,
    header: bool,
) -> std::io::Result<()> {
    if header {
        for name in &layout.identifiers {
            write!(out, "{name},")?;
        }
        write!(
            out,
            "row,p_malicious,reconstruction_error,malicious,top_features"
        )?;
        if layout.labelled {
            write!(out, ",label")?;
        }
        writeln!(out)?;
    }
    let identifiers: Vec<Option<&LargeStringArray>> = layout
        .identifiers
        .iter()
        .map(|n| batch.identifier(n))
        .collect();
    let scores = batch.scores;
    for &i in &batch.rows {
        for values in &identifiers {
            write!(out, "{},", cell(*values, i).map(quoted).unwrap_or_default())?;
        }
        write!(
            out,
            "{},{},{},{},{}",
            batch.row(i),
            scores.p_malicious(i),
            scores.novelty[i],
            scores.malicious[i],
            quoted(&batch.top(i).join(";"))
        )?;
        if layout.labelled {
            let label = batch.labelled.then(|| quoted(batch.frame.raw_label(i)));
            write!(out, ",{}", label.unwrap_or_default())?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The batch's rows as an Arrow record batch (the Parquet output) in the
/// output's columns.
fn record_batch(
    batch: &ScoredBatch<'_>,
    layout: &Layout,
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
    use std::sync::Arc;
    let rows = &batch.rows;
    let scores = batch.scores;
    let mut columns: Vec<(&str, ArrayRef, bool)> = layout
        .identifiers
        .iter()
        .map(|&name| {
            let values = batch.identifier(name);
            let column: LargeStringArray = rows.iter().map(|&i| cell(values, i)).collect();
            (name, Arc::new(column) as ArrayRef, true)
        })
        .collect();
    columns.extend([
        (
            "row",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|&i| batch.row(i)),
            )) as ArrayRef,
            false,
        ),
        (
            "p_malicious",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| scores.p_malicious(i)),
            )),
            false,
        ),
        (
            "reconstruction_error",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| scores.novelty[i]),
            )),
            false,
        ),
        (
            "malicious",
            Arc::new(BooleanArray::from(
                rows.iter()
                    .map(|&i| scores.malicious[i])
                    .collect::<Vec<_>>(),
            )),
            false,
        ),
        (
            "top_features",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|&i| batch.top(i).join(";")),
            )),
            false,
        ),
    ]);
    if layout.labelled {
        let labels: StringArray = rows
            .iter()
            .map(|&i| batch.labelled.then(|| batch.frame.raw_label(i)))
            .collect();
        columns.push(("label", Arc::new(labels), true));
    }
    RecordBatch::try_from_iter_with_nullable(columns)
}

/// The format of the scored rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per line (`.jsonl`, `.json`, `.ndjson`).
    JsonLines,
    /// CSV with a header (`.csv`).
    Csv,
    /// Parquet, one row group per batch (`.parquet`).
    Parquet,
}

impl OutputFormat {
    /// The format of an output file, by its extension; JSON lines without
    /// one (standard output).
    pub fn for_path(path: Option<&Path>) -> Result<Self> {
        let ext = path
            .and_then(Path::extension)
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            None | Some("jsonl" | "json" | "ndjson") => Ok(OutputFormat::JsonLines),
            Some("csv") => Ok(OutputFormat::Csv),
            Some("parquet") => Ok(OutputFormat::Parquet),
            Some(other) => Err(DetectorError::argument(
                "output",
                format!(".{other}"),
                "use .jsonl (JSON lines), .csv or .parquet",
            )),
        }
    }
}

/// Where the rows of a [`VerdictWriter`] go: the sink, or the Parquet
/// writer that owns it once the first batch fixed the columns.
enum Encoder<W: Write + Send> {
    Text(W),
    Parquet(Box<parquet::arrow::ArrowWriter<W>>),
}

/// Writes scored batches in one format to one sink: the columns of CSV and
/// Parquet are fixed by the first batch, and a closed sink (a pipe whose
/// reader left, `| head`) ends the writing quietly.
pub struct VerdictWriter<W: Write + Send> {
    format: OutputFormat,
    encoder: Option<Encoder<W>>,
    layout: Option<Layout>,
}

/// What writing a batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The sink was closed: nothing more can be written.
    pub closed: bool,
    /// Columns of this batch that the output, fixed by the first batch,
    /// leaves out.
    pub left_out: Vec<&'static str>,
}

fn output_error(e: impl std::fmt::Display) -> DetectorError {
    DetectorError::Output(e.to_string())
}

impl<W: Write + Send> VerdictWriter<W> {
    /// A writer of `format` into `sink`.
    pub fn new(format: OutputFormat, sink: W) -> Self {
        VerdictWriter {
            format,
            encoder: Some(Encoder::Text(sink)),
            layout: None,
        }
    }

    /// Write the rows of `batch` (flushed, so that a streaming reader sees
    /// them at once).
    pub fn write(&mut self, batch: &ScoredBatch<'_>) -> Result<Written> {
        let mut written = Written::default();
        let own = batch.layout();
        // CSV and Parquet keep the first batch's columns.
        let first = self.layout.is_none();
        let layout = self.layout.get_or_insert_with(|| own.clone());
        if self.format != OutputFormat::JsonLines {
            written.left_out = own
                .identifiers
                .iter()
                .copied()
                .filter(|n| !layout.identifiers.contains(n))
                .chain((own.labelled && !layout.labelled).then_some("label"))
                .collect();
        }
        let result = match self.encoder.take() {
            None => return Err(output_error("the writer was closed")),
            Some(Encoder::Text(mut out)) if self.format != OutputFormat::Parquet => {
                let r = match self.format {
                    OutputFormat::Csv => write_csv(&mut out, batch, layout, first),
                    _ => write_json_lines(&mut out, batch),
                };
                let r = r.and_then(|()| out.flush());
                self.encoder = Some(Encoder::Text(out));
                r
            }
            Some(encoder) => {
                let records = record_batch(batch, layout).map_err(output_error)?;
                let mut w = match encoder {
                    Encoder::Parquet(w) => w,
                    Encoder::Text(sink) => Box::new(
                        parquet::arrow::ArrowWriter::try_new(sink, records.schema(), None)
                            .map_err(output_error)?,
                    ),
                };
                w.write(&records).map_err(output_error)?;
                self.encoder = Some(Encoder::Parquet(w));
                Ok(())
            }
        };
        match result {
            Ok(()) => Ok(written),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                written.closed = true;
                Ok(written)
            }
            Err(e) => Err(output_error(e)),
        }
    }

    /// Finish the output (a Parquet file's footer, a last flush) and hand
    /// the sink back (to commit a file written whole or not at all). A
    /// closed sink is no error.
    pub fn finish(mut self) -> Result<W> {
        let mut sink = match self.encoder.take() {
            None => return Err(output_error("the writer was closed")),
            Some(Encoder::Text(sink)) => sink,
            // The footer, then the sink.
            Some(Encoder::Parquet(w)) => w.into_inner().map_err(output_error)?,
        };
        match sink.flush() {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(output_error(e)),
            _ => Ok(sink),
        }
    }
}
