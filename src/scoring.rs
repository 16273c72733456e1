//! `nids score`: flows from files and standard input fed to a detector's
//! [`ScoringSession`] batch by batch, verdicts to standard output or to a
//! file written whole or not at all.
//!
//! CSV files are read one block at a time: a reader thread keeps at most
//! [`READ_AHEAD`] parsed blocks ahead of the one being scored and written,
//! so that memory stays bounded by the block size whatever the size of the
//! input. Parquet and Arrow IPC files (as `flowdata` writes them) are read
//! whole, one at a time. Standard input is scored as it arrives: lines are
//! gathered for at most [`STREAM_WAIT`] (or [`STREAM_BATCH`] lines),
//! scored and written at once, so a flow's verdict follows its line within
//! tens of milliseconds and memory stays bounded on endless input.

use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use detector::{Detector, OutputFormat, ScoringSession, Totals, VerdictWriter};
use flowdata::{FlowFrame, FlowReader, ReadOptions};

use crate::error::{PipelineError, Result};
use crate::ingest::{fill_hint, refuse_logs};

/// The longest a streamed flow waits for others to share its batch.
pub const STREAM_WAIT: Duration = Duration::from_millis(20);
/// The most flows of one streamed batch (and lines buffered ahead of it).
pub const STREAM_BATCH: usize = 4096;
/// Blocks of flows read ahead of the one being scored.
pub const READ_AHEAD: usize = 2;
/// The most skipped rows listed per file.
pub const SKIPPED_LISTED: usize = 20;

/// What `nids score` is asked to do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreRequest {
    /// The detector directory.
    pub detector: PathBuf,
    /// CSV files or directories, Parquet or Arrow IPC files; none or `-`:
    /// CSV on standard input.
    pub inputs: Vec<PathBuf>,
    /// The output file (`.jsonl`, `.csv`, `.parquet`); none: JSON lines on
    /// standard output.
    pub output: Option<PathBuf>,
    /// The operating point to apply instead of the detector's default.
    pub operating_point: Option<String>,
    /// Write only the flows judged malicious.
    pub alerts_only: bool,
    /// Fill features the input lacks with this value (a warning), instead
    /// of refusing the input.
    pub fill_missing: Option<flowdata::FillValue>,
}

impl ScoreRequest {
    /// Whether the flows come from standard input.
    pub fn from_stdin(&self) -> bool {
        self.inputs.is_empty() || self.inputs == [PathBuf::from("-")]
    }
}

/// Whether `path` names a Parquet or Arrow IPC file.
fn columnar(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["parquet", "arrow", "ipc"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Score what `request` asks, reading standard input from `stdin` and
/// writing to `stdout` when it has no output file; `warn` receives each
/// warning. Returns the summary for standard error.
pub fn score(
    request: &ScoreRequest,
    stdin: Box<dyn BufRead + Send>,
    stdout: impl Write + Send,
    warn: &mut dyn FnMut(String),
) -> Result<String> {
    let started = Instant::now();
    let mut detector = Detector::load(&request.detector)?;
    if let Some(name) = &request.operating_point {
        detector = detector.with_operating_point(name)?;
    }
    if !request.from_stdin() {
        for p in request.inputs.iter().filter(|p| p.is_file()) {
            refuse_logs(p)?;
        }
    }
    let format = OutputFormat::for_path(request.output.as_deref())?;
    let feed = Feed {
        detector: &detector,
        request,
        options: detector.read_options(request.fill_missing),
    };
    let totals = match &request.output {
        Some(path) => {
            let file =
                atomicfile::AtomicFile::create(path).map_err(|e| PipelineError::io(path, e))?;
            let (file, totals) = feed.run(VerdictWriter::new(format, file), stdin, warn)?;
            file.commit().map_err(|e| PipelineError::io(path, e))?;
            totals
        }
        None => {
            let sink = std::io::BufWriter::new(stdout);
            feed.run(VerdictWriter::new(format, sink), stdin, warn)?.1
        }
    };
    Ok(totals.summary(
        &detector.operating_point().name,
        started.elapsed().as_secs_f64(),
    ))
}

/// The CSV files of one read: files as given, or a micro-batch of
/// standard input spooled to a file.
enum CsvInput<'a> {
    Files(&'a [PathBuf]),
    Stdin {
        spool: &'a Path,
        /// Data lines of standard input before this batch: line `n` of the
        /// spool is line `n + lines_before` of standard input.
        lines_before: u64,
    },
}

/// One scoring command's inputs, read in order.
struct Feed<'a> {
    detector: &'a Detector,
    request: &'a ScoreRequest,
    options: ReadOptions,
}

impl Feed<'_> {
    /// Feed every input to a session writing to `writer`; the sink and the
    /// totals at the end.
    fn run<W: Write + Send>(
        &self,
        writer: VerdictWriter<W>,
        stdin: Box<dyn BufRead + Send>,
        warn: &mut dyn FnMut(String),
    ) -> Result<(W, Totals)> {
        let mut session = ScoringSession::new(self.detector, writer, self.request.alerts_only);
        if self.request.from_stdin() {
            self.stream(&mut session, stdin, warn)?;
        } else {
            // Inputs are scored in the order given: each run of CSV inputs
            // read together, each Parquet or Arrow file alone.
            let mut open = true;
            for run in self
                .request
                .inputs
                .chunk_by(|a, b| columnar(a) == columnar(b))
            {
                if !open {
                    break;
                }
                if columnar(&run[0]) {
                    for path in run {
                        if open {
                            open = self.columnar(&mut session, path, warn)?;
                        }
                    }
                } else {
                    open = self.csv(&mut session, CsvInput::Files(run), warn)?;
                }
            }
        }
        Ok(session.finish()?)
    }

    /// Score one frame; `false` when the output was closed.
    fn frame<W: Write + Send>(
        session: &mut ScoringSession<'_, W>,
        frame: &FlowFrame,
        labelled: bool,
        warn: &mut dyn FnMut(String),
    ) -> Result<bool> {
        let written = session.score(frame, labelled)?;
        if !written.left_out.is_empty() {
            warn(format!(
                "the output keeps the columns of the first input: {} of a later input left out",
                written.left_out.join(", ")
            ));
        }
        Ok(!written.closed)
    }

    /// Score the flows of CSV files; `false` when the output was closed.
    fn csv<W: Write + Send>(
        &self,
        session: &mut ScoringSession<'_, W>,
        input: CsvInput<'_>,
        warn: &mut dyn FnMut(String),
    ) -> Result<bool> {
        let (paths, lines_before) = match input {
            CsvInput::Files(paths) => (paths.to_vec(), None),
            CsvInput::Stdin {
                spool,
                lines_before,
            } => (vec![spool.to_path_buf()], Some(lines_before)),
        };
        let name = |f: &flowdata::FileReport| match lines_before {
            Some(_) => "standard input".to_string(),
            None => f.path.display().to_string(),
        };
        let mut reader = FlowReader::open(&paths, &self.options).map_err(fill_hint)?;
        // Standard input warns of missing features once, not per batch.
        if lines_before.is_none_or(|n| n == 0) {
            for f in reader.planned().filter(|f| !f.missing_features.is_empty()) {
                warn(format!(
                    "{} lacks {} of the detector's features, filled with {}: {}",
                    name(f),
                    f.missing_features.len(),
                    self.request.fill_missing.map_or(0.0, f32::from),
                    f.missing_features.join(", ")
                ));
            }
        }
        let labelled = reader.planned().all(|f| !f.unlabelled);
        // The next blocks are read and parsed on a thread of their own
        // while one is scored and written: the stages share the cores.
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        let reader = std::thread::scope(|s| {
            let producer = s.spawn(move || {
                loop {
                    let chunk = reader.next_chunk();
                    let last = !matches!(chunk, Ok(Some(_)));
                    // A closed receiver: the scoring stopped.
                    if tx.send(chunk).is_err() || last {
                        return reader;
                    }
                }
            });
            // `Err(None)`: the output was closed.
            let scored: std::result::Result<(), Option<PipelineError>> =
                rx.iter().try_for_each(|chunk| {
                    let Some(frame) = chunk.map_err(|e| Some(e.into()))? else {
                        return Ok(());
                    };
                    match Self::frame(session, &frame, labelled, warn) {
                        Ok(true) => Ok(()),
                        Ok(false) => Err(None),
                        Err(e) => Err(Some(e)),
                    }
                });
            drop(rx);
            let reader = producer
                .join()
                .map_err(|_| PipelineError::Unsupported("reading the flows failed".into()));
            match scored {
                Ok(()) => reader.map(Some),
                Err(None) => Ok(None),
                Err(Some(e)) => Err(e),
            }
        })?;
        let Some(reader) = reader else {
            return Ok(false);
        };
        for f in &reader.report().files {
            if f.skipped_rows.is_empty() {
                continue;
            }
            let mut text = format!(
                "{}: {} of {} rows were not scored:",
                name(f),
                f.skipped_rows.len(),
                f.rows_read
            );
            for s in f.skipped_rows.iter().take(SKIPPED_LISTED) {
                text.push_str(&format!(
                    "\n  line {} (row {}): {}",
                    s.line + lines_before.unwrap_or(0),
                    session.rows_before() + s.row,
                    s.reason
                ));
            }
            if f.skipped_rows.len() > SKIPPED_LISTED {
                text.push_str(&format!(
                    "\n  ... and {} more",
                    f.skipped_rows.len() - SKIPPED_LISTED
                ));
            }
            warn(text);
        }
        session.advance(reader.report().rows_read());
        Ok(true)
    }

    /// Score a Parquet or Arrow IPC file written by `flowdata` (columns
    /// named as the detector's features, and a label column).
    fn columnar<W: Write + Send>(
        &self,
        session: &mut ScoringSession<'_, W>,
        path: &Path,
        warn: &mut dyn FnMut(String),
    ) -> Result<bool> {
        let frame = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("parquet") => FlowFrame::read_parquet(path),
            _ => FlowFrame::read_ipc(path),
        }?;
        let missing: Vec<&str> = self
            .detector
            .schema()
            .feature_names()
            .into_iter()
            .filter(|n| !frame.feature_names().contains(n))
            .collect();
        if !missing.is_empty() {
            return Err(PipelineError::Unsupported(format!(
                "{}: missing {} feature column(s) the detector needs: {}",
                path.display(),
                missing.len(),
                missing.join(", ")
            )));
        }
        let open = Self::frame(session, &frame, true, warn)?;
        session.advance(frame.n_rows() as u64);
        Ok(open)
    }

    /// Score standard input as it arrives (see the module documentation).
    fn stream<W: Write + Send>(
        &self,
        session: &mut ScoringSession<'_, W>,
        mut stdin: Box<dyn BufRead + Send>,
        warn: &mut dyn FnMut(String),
    ) -> Result<()> {
        use std::sync::mpsc::{RecvTimeoutError, sync_channel};
        let (tx, rx) = sync_channel::<String>(STREAM_BATCH);
        std::thread::spawn(move || {
            loop {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let Ok(header) = rx.recv() else {
            return Ok(());
        };
        let stdin_error = |e: std::io::Error| PipelineError::io("standard input", e);
        let mut spool = tempfile::NamedTempFile::new().map_err(stdin_error)?;
        let path = spool.path().to_path_buf();
        let mut first = true;
        let mut lines_before = 0u64;
        loop {
            let mut lines = Vec::new();
            let mut done = false;
            match rx.recv() {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
            let deadline = Instant::now() + STREAM_WAIT;
            while lines.len() < STREAM_BATCH {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(l) => lines.push(l),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        done = true;
                        break;
                    }
                }
            }
            // Blank lines hold no flow (and a file of them no rows).
            if lines.iter().all(|l| l.trim().is_empty()) {
                lines_before += lines.len() as u64;
                if done {
                    break;
                }
                continue;
            }
            let file = spool.as_file_mut();
            file.set_len(0).map_err(stdin_error)?;
            file.rewind().map_err(stdin_error)?;
            file.write_all(header.as_bytes())
                .and_then(|()| lines.iter().try_for_each(|l| file.write_all(l.as_bytes())))
                .map_err(stdin_error)?;
            if first {
                refuse_logs(&path)?;
                first = false;
            }
            let input = CsvInput::Stdin {
                spool: &path,
                lines_before,
            };
            if !self.csv(session, input, warn)? || done {
                break;
            }
            lines_before += lines.len() as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An untrained detector in `dir/detector` and `rows` generated flows
    /// as `dir/flows.csv`.
    fn setup(dir: &Path, rows: usize) -> (ScoreRequest, PathBuf) {
        let detector = dir.join("detector");
        detector::fixture::untrained(&detector, 3).unwrap();
        // Clean UTF-8 rows (the generator's raw CSV carries cp1252 labels,
        // which standard input does not take).
        let csv = dir.join("flows.csv");
        let config = flowdata::synth::SynthConfig {
            rows,
            ..Default::default()
        };
        flowdata::synth::generate(&config).write_csv(&csv).unwrap();
        let request = ScoreRequest {
            detector,
            ..ScoreRequest::default()
        };
        (request, csv)
    }

    /// Run `request` with `stdin`; standard output, warnings, summary.
    fn run(request: &ScoreRequest, stdin: &str) -> (String, Vec<String>, String) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let input = Box::new(std::io::Cursor::new(stdin.as_bytes().to_vec()));
        let summary = score(request, input, &mut out, &mut |w| warnings.push(w)).unwrap();
        (String::from_utf8(out).unwrap(), warnings, summary)
    }

    fn rows(jsonl: &str) -> Vec<u64> {
        jsonl
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["row"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn files_and_standard_input_give_the_same_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let (mut request, csv) = setup(dir.path(), 300);
        request.inputs = vec![csv.clone()];
        let (from_file, warnings, summary) = run(&request, "");
        // Rows with a non-finite value are reported, not scored.
        assert!(
            warnings.iter().all(|w| w.contains("were not scored")),
            "{warnings:?}"
        );
        assert!(
            summary.contains("flows, ") && summary.contains("labels: tp"),
            "{summary}"
        );
        let n = from_file.lines().count();
        assert!(n > 250, "{n} of 300 generated rows scored");
        // The same rows through standard input, in micro-batches.
        request.inputs = vec![];
        let text = std::fs::read_to_string(&csv).unwrap();
        let (from_stdin, _, _) = run(&request, &text);
        assert_eq!(from_stdin, from_file);
        // Twice the file: the second copy's rows follow the first's.
        request.inputs = vec![csv.clone(), csv.clone()];
        let (twice, _, _) = run(&request, "");
        let numbers = rows(&twice);
        assert_eq!(numbers.len(), 2 * n);
        assert!(numbers[n] > numbers[n - 1]);
        // Into a CSV file, written whole: a header and one line per flow.
        let out = dir.path().join("scores.csv");
        request.inputs = vec![csv];
        request.output = Some(out.clone());
        let (stdout, _, _) = run(&request, "");
        assert!(stdout.is_empty());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().lines().count(),
            n + 1
        );
    }

    #[test]
    fn missing_features_are_refused_or_filled_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (mut request, _) = setup(dir.path(), 50);
        let partial = dir.path().join("partial.csv");
        std::fs::write(&partial, "Flow Duration,Label\n5,BENIGN\n").unwrap();
        request.inputs = vec![partial];
        let err = score(
            &request,
            Box::new(std::io::empty()),
            Vec::new(),
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--fill-missing") && err.contains("Total Fwd Packets"),
            "{err}"
        );
        request.fill_missing = Some(flowdata::FillValue::new(0.0).unwrap());
        let (out, warnings, _) = run(&request, "");
        assert_eq!(out.lines().count(), 1);
        assert!(warnings[0].contains("partial.csv lacks"), "{warnings:?}");
    }
}
