//! `nids`: train a detector, look inside one, and score flows with it.
//!
//! ```text
//! nids train --data DIR --out RUN          # the pipeline; writes RUN/detector/
//! nids inspect RUN/detector                # what it is and what it promises
//! nids score --detector RUN/detector flows.csv > verdicts.jsonl
//! ```

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use arrow::array::{Array, LargeStringArray};
use clap::{Parser, Subcommand};
use flowdata::{Alignment, CleaningPolicy, ReadOptions};
use nids::Detector;
use nids::cli::{SchemaArgs, TrainArgs};
use nids::detector::Scores;
use serde_json::value::RawValue;

/// Network intrusion detection on flow features.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the autoencoders, the policies and the verdict; write the
    /// report and the detector (`<out>/detector/`).
    Train(Box<TrainArgs>),
    /// Score flows with a saved detector: one JSON object per input row.
    Score(ScoreArgs),
    /// Adapt a saved detector to benign traffic of another network: fine-tune
    /// its novelty model and recalibrate its verdict on part of the flows,
    /// write a new detector, and print the false-positive rate on the rest
    /// before and after.
    Adapt(AdaptArgs),
    /// A first look at flow files: what reading and cleaning did, label and
    /// family counts, per-feature statistics.
    Summary(SummaryArgs),
    /// Describe a saved detector: its models, operating points, training
    /// inputs and headline numbers.
    Inspect {
        /// The detector directory.
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct SummaryArgs {
    /// CSV files or directories of CSV files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    schema: SchemaArgs,
    /// Missing-feature policy: strict, intersect or fill:VALUE.
    #[arg(long, default_value = "intersect")]
    alignment: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct AdaptArgs {
    /// The detector to adapt.
    #[arg(long)]
    detector: PathBuf,
    /// Benign flows of the new network: CSV files or directories
    /// (repeatable; labelled files keep their benign rows only).
    #[arg(long, required = true)]
    benign: Vec<PathBuf>,
    /// Where the adapted detector is written (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Share of the benign flows to adapt on; the rest measure it.
    #[arg(long, default_value_t = 0.5)]
    fraction: f64,
    /// Seed of the split and the fine-tuning.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fill features the flows lack with this value.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    fill_missing: Option<f32>,
}

#[derive(clap::Args)]
struct ScoreArgs {
    /// The detector directory (`<out>/detector` of a training run).
    #[arg(long)]
    detector: PathBuf,
    /// Write here instead of standard output: `.jsonl`/`.json` for JSON
    /// lines, `.csv` for CSV, `.parquet` for Parquet.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The operating point to apply (default: the report's verdict).
    #[arg(long)]
    operating_point: Option<String>,
    /// Write only the flows judged malicious.
    #[arg(long)]
    alerts_only: bool,
    /// Fill features the input lacks with this value (a warning), instead
    /// of refusing the input.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    fill_missing: Option<f32>,
    /// CSV files or directories in any spelling the alias table knows,
    /// Parquet (`.parquet`) or Arrow IPC (`.arrow`, `.ipc`) files as
    /// `flowdata` writes them; `-` or none: CSV on standard input.
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Train(args) => nids::cli::train(*args),
        Command::Score(args) => report(score(args)),
        Command::Adapt(args) => report(adapt(args)),
        Command::Summary(args) => report(summary(args)),
        Command::Inspect { dir } => report(inspect(&dir)),
    }
}

fn report(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A Zeek or Suricata log given where flow features are expected.
fn not_a_flow_file(path: &Path) -> Result<(), String> {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let start = text.trim_start();
    let what = if start.starts_with("#separator") || start.starts_with("#fields") {
        Some("a Zeek log (conn.log)")
    } else if start.starts_with('{') {
        if text.contains("\"event_type\"") {
            Some("Suricata EVE JSON")
        } else {
            Some("JSON (a Zeek or Suricata log?)")
        }
    } else {
        None
    };
    match what {
        Some(w) => Err(format!(
            "{} is {w}, not a flow-feature file: the detector reads CICFlowMeter-style flow features (Flow Duration, Total Fwd Packets, ... as CSV with a header); extract them from the capture with CICFlowMeter first",
            path.display()
        )),
        None => Ok(()),
    }
}

fn summary(args: SummaryArgs) -> Result<(), String> {
    let schema = match &args.schema.label_column {
        Some(label) => {
            let mut opts = flowdata::InferOptions::new(label.clone());
            opts.family_column = args.schema.family_column.clone();
            opts.categorical = args.schema.categorical.clone();
            flowdata::Schema::infer(&args.paths, &opts).map_err(|e| e.to_string())?
        }
        None => flowdata::Schema::cicids2017(),
    };
    let options = ReadOptions {
        alignment: args
            .alignment
            .parse()
            .map_err(|e| format!("--alignment: {e}"))?,
        ..ReadOptions::with_schema(schema)
    };
    let s = flowdata::FlowSummary::read(&args.paths, &options).map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", serde_json::to_string(&s).map_err(|e| e.to_string())?);
    } else {
        print!("{}", s.to_text());
    }
    Ok(())
}

fn inspect(dir: &Path) -> Result<(), String> {
    let d = Detector::load(dir).map_err(|e| e.to_string())?;
    let m = d.manifest();
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "detector {} (format {}, nids {})",
        dir.display(),
        m.format_version,
        m.crate_version
    );
    let _ = writeln!(
        o,
        "policy: PPO on the {} autoencoder's {}; novelty: the {} autoencoder; {} input features",
        m.encoder,
        m.policy_input,
        m.novelty,
        d.schema().n_features()
    );
    let p = &m.provenance;
    let _ = writeln!(
        o,
        "trained on {} (seed {}): {} training, {} validation, {} test rows",
        p.source, p.seed, p.rows[0], p.rows[1], p.rows[2]
    );
    for f in &p.inputs {
        let _ = writeln!(o, "  {} ({} bytes, sha256 {})", f.path, f.bytes, f.sha256);
    }
    let _ = writeln!(
        o,
        "operating points (default: {}):",
        m.default_operating_point
    );
    for op in &m.operating_points {
        let t = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let _ = writeln!(
            o,
            "  {:<12} policy margin >= {:<10} novelty >= {:<10} {}",
            op.name,
            t(op.policy_margin),
            t(op.novelty),
            op.description
        );
    }
    for a in &m.adaptations {
        let _ = writeln!(
            o,
            "adapted on {} benign flows of {}: false-positive rate on {} held back {:.4} -> {:.4}",
            a.tune_rows,
            a.benign.join(", "),
            a.held_back_rows,
            a.fpr_before,
            a.fpr_after
        );
    }
    let _ = writeln!(o, "headline (test split):");
    for (k, v) in &p.headline {
        let _ = writeln!(o, "  {k}: {v:.4}");
    }
    print!("{o}");
    Ok(())
}

fn adapt(args: AdaptArgs) -> Result<(), String> {
    if args.out.exists() {
        return Err(format!(
            "--out {} exists: the adapted detector is written to a new directory",
            args.out.display()
        ));
    }
    let detector = Detector::load(&args.detector).map_err(|e| e.to_string())?;
    for p in &args.benign {
        if p.is_file() {
            not_a_flow_file(p)?;
        }
    }
    let options = ReadOptions {
        alignment: Alignment::for_scoring(args.fill_missing),
        unlabelled: Some("BENIGN".into()),
        ..ReadOptions::with_schema(detector.schema().clone())
    };
    let (frame, _) = flowdata::read_flows(&args.benign, &options).map_err(|e| match e {
        flowdata::FlowDataError::MissingColumns { .. } => {
            format!("{e}: the detector cannot read it (pass --fill-missing VALUE to fill them)")
        }
        other => other.to_string(),
    })?;
    let benign = frame.benign();
    let sources = args
        .benign
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (adapted, a) = detector
        .adapt(benign.features(), sources, args.fraction, args.seed)
        .map_err(|e| e.to_string())?;
    // Written beside the target and renamed into place: whole or not at all.
    let parent = args
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".adapt-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    adapted.save(tmp.path()).map_err(|e| e.to_string())?;
    std::fs::rename(tmp.path(), &args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!(
        "adapted on {} benign flows; on the {} held back, the verdict's false-positive rate went from {:.4} to {:.4}; detector: {}",
        a.tune_rows,
        a.held_back_rows,
        a.fpr_before,
        a.fpr_after,
        args.out.display()
    );
    Ok(())
}

/// Where the scored rows go.
enum Format {
    JsonLines,
    Csv,
    /// Row groups written as the batches come, closed at the end.
    Parquet(
        Option<Box<parquet::arrow::ArrowWriter<std::fs::File>>>,
        Option<std::fs::File>,
    ),
}

/// The longest a streamed flow waits for others to share its batch.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
/// The most flows of one streamed batch (and lines buffered ahead of it).
const STREAM_BATCH: usize = 4096;

/// Running totals of a scoring command, for its summary.
#[derive(Default)]
struct Totals {
    flows: usize,
    alerts: usize,
    beyond: usize,
    values: usize,
    labelled: bool,
    cm: [u64; 4],
}

/// The CSV files of one read: files as given, or a micro-batch of
/// standard input spooled to a file.
enum CsvInput<'a> {
    Files(&'a [PathBuf]),
    Stdin {
        spool: &'a PathBuf,
        /// Data lines of standard input before this batch: line `n` of the
        /// spool is line `n + lines_before` of standard input.
        lines_before: u64,
    },
}

/// The output columns of CSV and Parquet, fixed by the first batch.
#[derive(Clone)]
struct Layout {
    identifiers: Vec<&'static str>,
    labelled: bool,
}

/// Reads, scores and writes one batch of flows at a time.
struct Scorer<'a> {
    detector: &'a Detector,
    options: ReadOptions,
    format: Format,
    alerts_only: bool,
    fill_missing: Option<f32>,
    out: BufWriter<Box<dyn Write>>,
    totals: Totals,
    /// Data rows of the inputs scored so far, skipped ones included.
    rows_before: u64,
    /// The CSV or Parquet columns, once the first batch is written.
    layout: Option<Layout>,
}

/// The bytes of CSV read, scored and written at a time.
const SCORE_BLOCK_BYTES: usize = 8 << 20;

/// Blocks of flows read ahead of the one being scored.
const READ_AHEAD: usize = 2;

/// The most skipped rows listed per file on standard error.
const SKIPPED_LISTED: usize = 20;

impl Scorer<'_> {
    /// Score the flows of CSV files; `Ok(false)` when the output was
    /// closed.
    ///
    /// The files are read one block at a time: a reader thread keeps at
    /// most [`READ_AHEAD`] parsed blocks ahead of the one being scored and
    /// written, so that memory stays bounded by the block size whatever
    /// the size of the input.
    fn batch(&mut self, input: CsvInput<'_>) -> Result<bool, String> {
        let (paths, lines_before) = match input {
            CsvInput::Files(paths) => (paths, None),
            CsvInput::Stdin {
                spool,
                lines_before,
            } => (std::slice::from_ref(spool), Some(lines_before)),
        };
        let name = |f: &flowdata::FileReport| match lines_before {
            Some(_) => "standard input".to_string(),
            None => f.path.display().to_string(),
        };
        let mut reader = match flowdata::FlowReader::open(paths, &self.options) {
            Err(e @ flowdata::FlowDataError::MissingColumns { .. }) => {
                return Err(format!(
                    "{e}: the detector cannot score it (pass --fill-missing VALUE to fill them)"
                ));
            }
            other => other.map_err(|e| e.to_string())?,
        };
        // Standard input warns of missing features once, not per batch.
        if lines_before.is_none_or(|n| n == 0) {
            for f in reader.planned().filter(|f| !f.missing_features.is_empty()) {
                eprintln!(
                    "warning: {} lacks {} of the detector's features, filled with {}: {}",
                    name(f),
                    f.missing_features.len(),
                    self.fill_missing.unwrap_or_default(),
                    f.missing_features.join(", ")
                );
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
            let scored: Result<(), Option<String>> = rx.iter().try_for_each(|chunk| {
                let Some(frame) = chunk.map_err(|e| e.to_string())? else {
                    return Ok(());
                };
                match self.frame(&frame, labelled)? {
                    true => Ok(()),
                    false => Err(None),
                }
            });
            drop(rx);
            let reader = producer
                .join()
                .map_err(|_| "reading the flows failed".to_string());
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
                "warning: {}: {} of {} rows were not scored:",
                name(f),
                f.skipped_rows.len(),
                f.rows_read
            );
            for s in f.skipped_rows.iter().take(SKIPPED_LISTED) {
                text.push_str(&format!(
                    "\n  line {} (row {}): {}",
                    s.line + lines_before.unwrap_or(0),
                    self.rows_before + s.row,
                    s.reason
                ));
            }
            if f.skipped_rows.len() > SKIPPED_LISTED {
                text.push_str(&format!(
                    "\n  ... and {} more",
                    f.skipped_rows.len() - SKIPPED_LISTED
                ));
            }
            eprintln!("{text}");
        }
        self.rows_before += reader.report().rows_read();
        Ok(true)
    }

    /// Score a Parquet or Arrow IPC file written by `flowdata` (columns
    /// named as the detector's features, and a label column).
    fn columnar(&mut self, path: &Path) -> Result<bool, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let frame = match ext.as_deref() {
            Some("parquet") => flowdata::FlowFrame::read_parquet(path),
            _ => flowdata::FlowFrame::read_ipc(path),
        }
        .map_err(|e| e.to_string())?;
        let missing: Vec<&str> = self
            .detector
            .schema()
            .feature_names()
            .into_iter()
            .filter(|n| !frame.feature_names().contains(n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "{}: missing {} feature column(s) the detector needs: {}",
                path.display(),
                missing.len(),
                missing.join(", ")
            ));
        }
        let written = self.frame(&frame, true);
        self.rows_before += frame.n_rows() as u64;
        written
    }

    /// Score one frame of raw flows and write its rows.
    fn frame(&mut self, frame: &flowdata::FlowFrame, labelled: bool) -> Result<bool, String> {
        let scores = self
            .detector
            .score_frame(frame)
            .map_err(|e| e.to_string())?;
        let t = &mut self.totals;
        if t.flows == 0 {
            t.labelled = labelled;
        }
        t.labelled &= labelled;
        if labelled && frame.n_rows() > 0 {
            let cm =
                metrics::ConfusionMatrix::from_predictions(&frame.attack_mask(), &scores.malicious)
                    .map_err(|e| e.to_string())?;
            for (a, b) in t.cm.iter_mut().zip([cm.tp, cm.fp, cm.tn, cm.fn_]) {
                *a += b;
            }
        }
        t.flows += frame.n_rows();
        t.alerts += scores.malicious.iter().filter(|&&m| m).count();
        t.beyond += scores
            .out_of_range
            .beyond_per_feature()
            .iter()
            .sum::<usize>();
        t.values += scores.out_of_range.rows * scores.out_of_range.scaled_features;
        let batch = Batch {
            frame,
            scores: &scores,
            names: self.detector.schema().feature_names(),
            first_row: self.rows_before,
            labelled,
            rows: (0..frame.n_rows())
                .filter(|&i| !self.alerts_only || scores.malicious[i])
                .collect(),
        };
        if let Format::JsonLines = self.format {
            return finish_write(write_json(&mut self.out, &batch).and_then(|()| self.out.flush()));
        }
        // CSV and Parquet keep the first batch's columns.
        let own = batch.layout();
        let header = self.layout.is_none();
        let layout = self.layout.get_or_insert_with(|| own.clone());
        let left_out: Vec<&str> = own
            .identifiers
            .iter()
            .copied()
            .filter(|n| !layout.identifiers.contains(n))
            .chain((own.labelled && !layout.labelled).then_some("label"))
            .collect();
        if !left_out.is_empty() {
            eprintln!(
                "warning: the output keeps the columns of the first input: {} of a later input left out",
                left_out.join(", ")
            );
        }
        if let Format::Parquet(writer, file) = &mut self.format {
            let records =
                record_batch(&batch, layout).map_err(|e| format!("writing the scores: {e}"))?;
            if writer.is_none() {
                let file = file.take().ok_or("writing the scores: no output file")?;
                *writer = Some(Box::new(
                    parquet::arrow::ArrowWriter::try_new(file, records.schema(), None)
                        .map_err(|e| format!("writing the scores: {e}"))?,
                ));
            }
            if let Some(w) = writer {
                w.write(&records)
                    .map_err(|e| format!("writing the scores: {e}"))?;
            }
            return Ok(true);
        }
        finish_write(
            write_csv(&mut self.out, &batch, layout, header).and_then(|()| self.out.flush()),
        )
    }
}

/// The outcome of writing rows: a closed pipe (`| head`) ends the command
/// quietly (`Ok(false)`).
fn finish_write(written: std::io::Result<()>) -> Result<bool, String> {
    match written {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(format!("writing the scores: {e}")),
    }
}

/// Score standard input as it arrives: lines are gathered for at most
/// [`STREAM_WAIT`] (or [`STREAM_BATCH`] lines), scored and written at once,
/// so a flow's verdict follows its line within tens of milliseconds and
/// memory stays bounded on endless input.
fn stream(scorer: &mut Scorer<'_>) -> Result<(), String> {
    use std::io::BufRead;
    use std::sync::mpsc::{RecvTimeoutError, sync_channel};
    let (tx, rx) = sync_channel::<String>(STREAM_BATCH);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        loop {
            let mut line = String::new();
            match lock.read_line(&mut line) {
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
    let mut spool = tempfile::NamedTempFile::new().map_err(|e| format!("standard input: {e}"))?;
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
        file.set_len(0)
            .map_err(|e| format!("standard input: {e}"))?;
        use std::io::Seek;
        file.rewind().map_err(|e| format!("standard input: {e}"))?;
        file.write_all(header.as_bytes())
            .and_then(|()| lines.iter().try_for_each(|l| file.write_all(l.as_bytes())))
            .map_err(|e| format!("standard input: {e}"))?;
        if first {
            not_a_flow_file(&path)?;
            first = false;
        }
        let input = CsvInput::Stdin {
            spool: &path,
            lines_before,
        };
        if !scorer.batch(input)? || done {
            break;
        }
        lines_before += lines.len() as u64;
    }
    Ok(())
}

fn score(args: ScoreArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut detector = Detector::load(&args.detector).map_err(|e| e.to_string())?;
    if let Some(name) = &args.operating_point {
        detector = detector
            .with_operating_point(name)
            .map_err(|e| e.to_string())?;
    }
    let from_stdin = args.inputs.is_empty() || args.inputs == [PathBuf::from("-")];
    if !from_stdin {
        for p in &args.inputs {
            if p.is_file() {
                not_a_flow_file(p)?;
            }
        }
    }
    let format = match args
        .output
        .as_ref()
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("jsonl" | "json" | "ndjson") => Format::JsonLines,
        Some("csv") => Format::Csv,
        Some("parquet") => Format::Parquet(None, None),
        Some(other) => {
            return Err(format!(
                "--output: cannot write .{other}: use .jsonl (JSON lines), .csv or .parquet"
            ));
        }
    };
    // An output file is written beside its target and renamed into place
    // at the end: whole or not at all.
    let tmp = match &args.output {
        Some(p) => {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Some(
                tempfile::NamedTempFile::new_in(parent)
                    .map_err(|e| format!("{}: {e}", p.display()))?,
            )
        }
        None => None,
    };
    let reopen = |t: &tempfile::NamedTempFile| t.reopen().map_err(|e| format!("--output: {e}"));
    let mut format = format;
    if let (Format::Parquet(_, file), Some(t)) = (&mut format, &tmp) {
        *file = Some(reopen(t)?);
    }
    let sink: Box<dyn Write> = match &tmp {
        Some(t) => Box::new(reopen(t)?),
        None => Box::new(std::io::stdout()),
    };
    let mut scorer = Scorer {
        detector: &detector,
        options: ReadOptions {
            alignment: Alignment::for_scoring(args.fill_missing),
            // Every readable flow is scored, duplicates and impossible
            // negatives included (log1p scaling maps negatives to 0 as in
            // training); rows that cannot be parsed or hold no finite value
            // are skipped and counted on stderr.
            cleaning: CleaningPolicy {
                lenient: true,
                drop_duplicates: false,
                negative: flowdata::NegativePolicy::Keep,
                ..CleaningPolicy::default()
            },
            unlabelled: Some("UNLABELLED".into()),
            // Rows are numbered by their input position, skipped rows
            // reported by line, and identifier columns passed through.
            origins: true,
            block_bytes: SCORE_BLOCK_BYTES,
            ..ReadOptions::with_schema(detector.schema().clone())
        },
        format,
        alerts_only: args.alerts_only,
        fill_missing: args.fill_missing,
        out: BufWriter::new(sink),
        totals: Totals::default(),
        rows_before: 0,
        layout: None,
    };
    if from_stdin {
        stream(&mut scorer)?;
    } else {
        // Inputs are scored in the order given: each run of CSV inputs
        // read together, each Parquet or Arrow file alone.
        let columnar = |p: &PathBuf| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["parquet", "arrow", "ipc"].contains(&e.to_ascii_lowercase().as_str())
            })
        };
        let mut open = true;
        for run in args.inputs.chunk_by(|a, b| columnar(a) == columnar(b)) {
            if columnar(&run[0]) {
                for t in run {
                    if open {
                        open = scorer.columnar(t)?;
                    }
                }
            } else if open {
                open = scorer.batch(CsvInput::Files(run))?;
            }
        }
    }

    if let Format::Parquet(Some(w), _) = std::mem::replace(&mut scorer.format, Format::JsonLines) {
        w.close().map_err(|e| format!("writing the scores: {e}"))?;
    }
    match scorer.out.flush() {
        // A closed pipe (`| head`) ends the command quietly.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(format!("writing the scores: {e}"));
        }
        _ => {}
    }
    if let (Some(t), Some(path)) = (tmp, &args.output) {
        t.persist(path)
            .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    }
    let t = &scorer.totals;
    let seconds = started.elapsed().as_secs_f64();
    let mut summary = format!(
        "{} flows, {} alerts ({:.2} %) at operating point {}, {:.0} flows/s; {:.2} % of values outside the training range",
        t.flows,
        t.alerts,
        100.0 * t.alerts as f64 / t.flows.max(1) as f64,
        detector.operating_point().name,
        t.flows as f64 / seconds.max(1e-9),
        100.0 * t.beyond as f64 / t.values.max(1) as f64
    );
    if t.labelled && t.flows > 0 {
        let [tp, fp, tn, fn_] = t.cm;
        let cm = metrics::ConfusionMatrix::new(tp, fp, tn, fn_);
        summary.push_str(&format!(
            "\nlabels: tp {tp} fp {fp} tn {tn} fn {fn_}; precision {:.4} recall {:.4} f1 {:.4} fpr {:.4}",
            cm.precision(),
            cm.recall(),
            cm.f1(),
            cm.fpr()
        ));
    }
    eprintln!("{summary}");
    Ok(())
}

/// One scored batch of flows, as written.
///
/// The documented output fields, version 2. First the identifier columns
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
/// Version 1 numbered `row` among the scored flows (a skipped row shifted
/// the rows after it) and passed no identifier through.
struct Batch<'a> {
    frame: &'a flowdata::FlowFrame,
    scores: &'a Scores,
    /// The detector's feature names, for `top_features`.
    names: Vec<&'a str>,
    /// The position of the batch input's first data row in the whole input.
    first_row: u64,
    labelled: bool,
    /// The rows written: all, or the alerts.
    rows: Vec<usize>,
}

impl Batch<'_> {
    /// The input position of row `i`.
    fn row(&self, i: usize) -> u64 {
        self.first_row + self.frame.origins().map_or(i as u64, |o| o.rows()[i])
    }

    /// An identifier column of the batch, by canonical name.
    fn identifier(&self, name: &str) -> Option<&LargeStringArray> {
        let origins = self.frame.origins()?;
        let (_, values) = origins.identifiers().iter().find(|(n, _)| *n == name)?;
        Some(values)
    }

    /// The batch's own columns.
    fn layout(&self) -> Layout {
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
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
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
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
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
fn write_json(out: &mut impl Write, batch: &Batch<'_>) -> std::io::Result<()> {
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
    batch: &Batch<'_>,
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
    batch: &Batch<'_>,
    layout: &Layout,
) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
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
    arrow::record_batch::RecordBatch::try_from_iter_with_nullable(columns)
}
