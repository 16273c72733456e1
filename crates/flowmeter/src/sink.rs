//! Where finished flows go: a [`FlowSink`]. Writers for CSV and JSON lines
//! (Arrow and Parquet behind features), a collector (`Vec<FlowRecord>`),
//! closures ([`from_fn`]) and a sink that runs another one on its own
//! thread ([`ThreadedSink`]).

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::error::Error;
use crate::record::{
    FEATURES, FeatureValue, FlowRecord, IDENTIFIER_IS_TEXT, IDENTIFIERS, LABEL, ORACLE_LABEL,
};
use crate::text::Row;

/// Receives finished flows.
pub trait FlowSink {
    /// Takes one finished flow.
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error>;

    /// Ends the output (flushes files, joins threads). Call it once, after
    /// the last flow of the last capture; flows written later are an error
    /// or lost, depending on the sink.
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// Collects flows in memory.
impl FlowSink for Vec<FlowRecord> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        self.push(flow);
        Ok(())
    }
}

impl<S: FlowSink + ?Sized> FlowSink for &mut S {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        (**self).write_flow(flow)
    }

    fn finish(&mut self) -> Result<(), Error> {
        (**self).finish()
    }
}

impl<S: FlowSink + ?Sized> FlowSink for Box<S> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        (**self).write_flow(flow)
    }

    fn finish(&mut self) -> Result<(), Error> {
        (**self).finish()
    }
}

/// A sink that calls a closure for each flow: see [`from_fn`].
#[derive(Debug)]
pub struct FnSink<F>(F);

/// Streams flows to a closure, e.g. a detector scoring each flow as it ends:
///
/// ```
/// let mut durations = Vec::new();
/// let mut sink = flowmeter::from_fn(|flow| {
///     durations.push(flow.end_us() - flow.start_us());
///     Ok(())
/// });
/// # let _ = &mut sink;
/// ```
pub fn from_fn<F: FnMut(FlowRecord) -> Result<(), Error>>(f: F) -> FnSink<F> {
    FnSink(f)
}

impl<F: FnMut(FlowRecord) -> Result<(), Error>> FlowSink for FnSink<F> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        (self.0)(flow)
    }
}

/// The `Label` column of the writers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LabelColumn {
    /// `NeedManualLabel` in every row, as the oracle writes.
    #[default]
    Oracle,
    /// This label in every row (e.g. `BENIGN`, `DoS Hulk`): a capture of
    /// one class becomes training data.
    Fixed(String),
    /// No `Label` column.
    Omit,
}

impl LabelColumn {
    /// The label written in every row, if there is a column.
    pub fn value(&self) -> Option<&str> {
        match self {
            LabelColumn::Oracle => Some(ORACLE_LABEL),
            LabelColumn::Fixed(label) => Some(label),
            LabelColumn::Omit => None,
        }
    }

    /// The label as a writer's cell (quoted, escaped), if there is a column.
    fn encoded(&self, encode: fn(&mut Vec<u8>, &str)) -> Option<Vec<u8>> {
        self.value().map(|label| {
            let mut cell = Vec::new();
            encode(&mut cell, label);
            cell
        })
    }
}

/// The column names of a writer's output, identifiers first.
pub fn column_names(label: &LabelColumn) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = IDENTIFIERS.to_vec();
    names.extend(FEATURES.iter().map(|f| f.name()));
    if label.value().is_some() {
        names.push(LABEL);
    }
    names
}

/// Bytes buffered before a write to the underlying writer.
const FLUSH_AT: usize = 1 << 18;

fn io_error(e: std::io::Error) -> Error {
    Error::Output(e)
}

/// Writes flows as CSV with the oracle's header, one row per flow, readable
/// by the project's flow reader and by a detector trained on the improved
/// CIC-IDS2017 CSVs. Numbers are formatted without allocation; rows are
/// buffered and written in large blocks.
///
/// ```
/// use flowmeter::{CsvWriter, FlowSink, LabelColumn};
/// let mut out = Vec::new();
/// let mut csv = CsvWriter::new(&mut out, LabelColumn::Fixed("BENIGN".into()));
/// csv.finish().unwrap();
/// drop(csv);
/// let header = String::from_utf8(out).unwrap();
/// assert!(header.starts_with("Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,"));
/// assert!(header.ends_with(",Total Connection Flow Time,Label\n"));
/// ```
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    row: Row,
    label: Option<Vec<u8>>,
    header_written: bool,
}

impl<W: Write> CsvWriter<W> {
    /// A writer to `out` (buffered internally: pass a plain file).
    pub fn new(out: W, label: LabelColumn) -> CsvWriter<W> {
        let label = label.encoded(push_csv_cell);
        CsvWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 16384),
            row: Row::default(),
            label,
            header_written: false,
        }
    }

    fn header(&mut self) {
        if self.header_written {
            return;
        }
        self.header_written = true;
        let label = if self.label.is_some() {
            LabelColumn::Oracle
        } else {
            LabelColumn::Omit
        };
        for (i, name) in column_names(&label).into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(name.as_bytes());
        }
        self.buf.push(b'\n');
    }

    fn flush_buffer(&mut self) -> Result<(), Error> {
        self.out.write_all(&self.buf).map_err(io_error)?;
        self.buf.clear();
        Ok(())
    }
}

fn push_csv_cell(out: &mut Vec<u8>, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        for b in cell.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(cell.as_bytes());
    }
}

impl<W: Write> FlowSink for CsvWriter<W> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        self.header();
        let row = &mut self.row;
        row.clear();
        for i in 0..IDENTIFIERS.len() {
            if i > 0 {
                row.byte(b',');
            }
            flow.write_identifier(i, row);
        }
        for (_, value) in flow.features() {
            row.byte(b',');
            match value {
                FeatureValue::Int(v) => row.int(v),
                FeatureValue::Float(v) => row.float(v),
            }
        }
        self.buf.extend_from_slice(row.as_bytes());
        if let Some(label) = &self.label {
            self.buf.push(b',');
            self.buf.extend_from_slice(label);
        }
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.flush_buffer()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.header();
        self.flush_buffer()?;
        self.out.flush().map_err(io_error)
    }
}

/// Writes flows as JSON lines: one object per flow, keys in column order
/// under the oracle's names; integers as integers, non-finite floats as
/// `null`.
#[derive(Debug)]
pub struct JsonLinesWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    row: Row,
    /// `"Name":` for every column, JSON-escaped once.
    keys: Vec<Vec<u8>>,
    label: Option<Vec<u8>>,
}

impl<W: Write> JsonLinesWriter<W> {
    /// A writer to `out` (buffered internally).
    pub fn new(out: W, label: LabelColumn) -> JsonLinesWriter<W> {
        let keys = column_names(&label)
            .into_iter()
            .map(|name| {
                let mut key = Vec::new();
                push_json_string(&mut key, name);
                key.push(b':');
                key
            })
            .collect();
        let label = label.encoded(push_json_string);
        JsonLinesWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 16384),
            row: Row::default(),
            keys,
            label,
        }
    }
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

impl<W: Write> FlowSink for JsonLinesWriter<W> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        let row = &mut self.row;
        row.clear();
        for (i, text) in IDENTIFIER_IS_TEXT.iter().enumerate() {
            row.byte(if i == 0 { b'{' } else { b',' });
            row.bytes(&self.keys[i]);
            if *text {
                row.byte(b'"');
            }
            flow.write_identifier(i, row);
            if *text {
                row.byte(b'"');
            }
        }
        for (key, (_, value)) in self.keys[IDENTIFIERS.len()..].iter().zip(flow.features()) {
            row.byte(b',');
            row.bytes(key);
            match value {
                FeatureValue::Int(v) => row.int(v),
                FeatureValue::Float(v) if v.is_finite() => row.float(v),
                FeatureValue::Float(_) => row.bytes(b"null"),
            }
        }
        self.buf.extend_from_slice(row.as_bytes());
        if let Some(label) = &self.label {
            self.buf.push(b',');
            self.buf.extend_from_slice(&self.keys[self.keys.len() - 1]);
            self.buf.extend_from_slice(label);
        }
        self.buf.extend_from_slice(b"}\n");
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf).map_err(io_error)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.write_all(&self.buf).map_err(io_error)?;
        self.buf.clear();
        self.out.flush().map_err(io_error)
    }
}

/// Flows handed to the output thread at once.
const BATCH: usize = 256;
/// Batches in flight before the meter waits for the output thread.
const BATCHES_IN_FLIGHT: usize = 16;

/// Runs another sink (a file writer, a scorer) on its own thread: the meter
/// hands it batches of finished flows through a bounded channel and goes on
/// reading packets while the flows are formatted and written.
///
/// ```
/// use flowmeter::{CsvWriter, FlowSink, LabelColumn, ThreadedSink};
/// let mut sink = ThreadedSink::spawn(CsvWriter::new(Vec::new(), LabelColumn::Omit));
/// sink.finish().unwrap();
/// let csv = sink.into_inner().unwrap();
/// # drop(csv);
/// ```
#[derive(Debug)]
pub struct ThreadedSink<S: FlowSink + Send + 'static> {
    sender: Option<SyncSender<Vec<FlowRecord>>>,
    batch: Vec<FlowRecord>,
    thread: Option<JoinHandle<Result<S, Error>>>,
    finished: Option<S>,
}

impl<S: FlowSink + Send + 'static> ThreadedSink<S> {
    /// Starts the output thread.
    pub fn spawn(inner: S) -> ThreadedSink<S> {
        let (sender, receiver) = sync_channel::<Vec<FlowRecord>>(BATCHES_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("flow-output".into())
            .spawn(move || drain(inner, receiver))
            .expect("spawning the output thread");
        ThreadedSink {
            sender: Some(sender),
            batch: Vec::with_capacity(BATCH),
            thread: Some(thread),
            finished: None,
        }
    }

    fn send_batch(&mut self) -> Result<(), Error> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let sent = match &self.sender {
            Some(sender) => sender.send(batch).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            self.join().map(|_| ())
        }
    }

    /// Waits for the thread; its error if it failed.
    fn join(&mut self) -> Result<(), Error> {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(inner)) => self.finished = Some(inner),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(Error::Output(std::io::Error::other(
                        "the output thread panicked",
                    )));
                }
            }
        }
        if self.finished.is_none() {
            return Err(Error::Output(std::io::Error::other(
                "the output thread has already stopped",
            )));
        }
        Ok(())
    }

    /// The inner sink, after [`finish`](FlowSink::finish).
    pub fn into_inner(mut self) -> Result<S, Error> {
        self.finish()?;
        Ok(self.finished.take().expect("finish joined the thread"))
    }
}

fn drain<S: FlowSink>(mut inner: S, receiver: Receiver<Vec<FlowRecord>>) -> Result<S, Error> {
    for batch in receiver {
        for flow in batch {
            inner.write_flow(flow)?;
        }
    }
    inner.finish()?;
    Ok(inner)
}

impl<S: FlowSink + Send + 'static> FlowSink for ThreadedSink<S> {
    fn write_flow(&mut self, flow: FlowRecord) -> Result<(), Error> {
        self.batch.push(flow);
        if self.batch.len() >= BATCH {
            self.send_batch()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.finished.is_some() {
            return Ok(());
        }
        if !self.batch.is_empty() {
            self.send_batch()?;
        }
        self.join()
    }
}

impl<S: FlowSink + Send + 'static> Drop for ThreadedSink<S> {
    fn drop(&mut self) {
        // Close the channel so that the thread ends; its result is dropped
        // (call `finish` to see it).
        self.sender = None;
    }
}
