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

use clap::{Parser, Subcommand};
use flowdata::{Alignment, CleaningPolicy, ReadOptions};
use nids::Detector;
use nids::cli::TrainArgs;
use nids::detector::Scores;

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
    /// Label column of a non-CIC-IDS2017 schema (the schema is then inferred).
    #[arg(long)]
    label_column: Option<String>,
    /// Attack-family column of an inferred schema.
    #[arg(long)]
    family_column: Option<String>,
    /// Text columns to one-hot encode in an inferred schema (comma-separated).
    #[arg(long, value_delimiter = ',')]
    categorical: Vec<String>,
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
    let schema = match &args.label_column {
        Some(label) => {
            let mut opts = flowdata::InferOptions::new(label.clone());
            opts.family_column = args.family_column.clone();
            opts.categorical = args.categorical.clone();
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

/// Reads, scores and writes one batch of flows at a time.
struct Scorer<'a> {
    detector: &'a Detector,
    options: ReadOptions,
    format: Format,
    alerts_only: bool,
    fill_missing: Option<f32>,
    out: BufWriter<Box<dyn Write>>,
    totals: Totals,
    header_written: bool,
}

impl Scorer<'_> {
    /// Score the flows of CSV `inputs`; `Ok(false)` when the output was
    /// closed.
    fn batch(&mut self, inputs: &[PathBuf]) -> Result<bool, String> {
        let (frame, read) = match flowdata::read_flows(inputs, &self.options) {
            Err(e @ flowdata::FlowDataError::MissingColumns { .. }) => {
                return Err(format!(
                    "{e}: the detector cannot score it (pass --fill-missing VALUE to fill them)"
                ));
            }
            other => other.map_err(|e| e.to_string())?,
        };
        for f in &read.files {
            if !f.missing_features.is_empty() && self.totals.flows == 0 {
                eprintln!(
                    "warning: {} lacks {} of the detector's features, filled with {}: {}",
                    f.path.display(),
                    f.missing_features.len(),
                    self.fill_missing.unwrap_or_default(),
                    f.missing_features.join(", ")
                );
            }
            let dropped = f.rows_read - f.rows_kept;
            if dropped > 0 {
                eprintln!(
                    "warning: {}: {dropped} of {} rows were not scored ({})",
                    f.path.display(),
                    f.rows_read,
                    serde_json::to_string(&f.dropped).unwrap_or_default()
                );
            }
        }
        let labelled = read.files.iter().all(|f| !f.unlabelled);
        self.frame(&frame, labelled)
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
        self.frame(&frame, true)
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
        let offset = t.flows;
        t.flows += frame.n_rows();
        t.alerts += scores.malicious.iter().filter(|&&m| m).count();
        t.beyond += scores
            .out_of_range
            .beyond_per_feature()
            .iter()
            .sum::<usize>();
        t.values += scores.out_of_range.rows * scores.out_of_range.scaled_features;
        let header = !self.header_written;
        self.header_written = true;
        if let Format::Parquet(writer, file) = &mut self.format {
            let batch = record_batch(
                frame,
                &scores,
                self.detector,
                offset,
                labelled,
                self.alerts_only,
            )
            .map_err(|e| format!("writing the scores: {e}"))?;
            if writer.is_none() {
                let file = file.take().ok_or("writing the scores: no output file")?;
                *writer = Some(Box::new(
                    parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
                        .map_err(|e| format!("writing the scores: {e}"))?,
                ));
            }
            if let Some(w) = writer {
                w.write(&batch)
                    .map_err(|e| format!("writing the scores: {e}"))?;
            }
            return Ok(true);
        }
        let written = write_rows(
            &mut self.out,
            &self.format,
            frame,
            &scores,
            Rows {
                detector: self.detector,
                offset,
                labelled,
                alerts_only: self.alerts_only,
                header,
            },
        )
        .and_then(|()| self.out.flush());
        match written {
            Ok(()) => Ok(true),
            // A closed pipe (`| head`) ends the command quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(format!("writing the scores: {e}")),
        }
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
        if !scorer.batch(std::slice::from_ref(&path))? || done {
            break;
        }
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
            ..ReadOptions::with_schema(detector.schema().clone())
        },
        format,
        alerts_only: args.alerts_only,
        fill_missing: args.fill_missing,
        out: BufWriter::new(sink),
        totals: Totals::default(),
        header_written: false,
    };
    if from_stdin {
        stream(&mut scorer)?;
    } else {
        // CSV inputs are read together; each Parquet or Arrow file alone.
        let columnar = |p: &PathBuf| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["parquet", "arrow", "ipc"].contains(&e.to_ascii_lowercase().as_str())
            })
        };
        let (tables, csv): (Vec<PathBuf>, Vec<PathBuf>) =
            args.inputs.iter().cloned().partition(|p| columnar(p));
        let mut open = csv.is_empty() || scorer.batch(&csv)?;
        for t in &tables {
            if open {
                open = scorer.columnar(t)?;
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

/// A batch's rows as an Arrow record batch (the Parquet output), with the
/// fields of [`write_rows`].
fn record_batch(
    frame: &flowdata::FlowFrame,
    scores: &Scores,
    detector: &Detector,
    offset: usize,
    labelled: bool,
    alerts_only: bool,
) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
    use std::sync::Arc;
    let names = detector.schema().feature_names();
    let rows: Vec<usize> = (0..frame.n_rows())
        .filter(|&i| !alerts_only || scores.malicious[i])
        .collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "row",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|&i| (offset + i) as u64),
            )),
        ),
        (
            "p_malicious",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| scores.p_malicious(i)),
            )),
        ),
        (
            "reconstruction_error",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|&i| scores.novelty[i]),
            )),
        ),
        (
            "malicious",
            Arc::new(BooleanArray::from(
                rows.iter()
                    .map(|&i| scores.malicious[i])
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "top_features",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|&i| {
                scores.top_features[i]
                    .iter()
                    .map(|&j| names[j])
                    .collect::<Vec<_>>()
                    .join(";")
            }))),
        ),
    ];
    if labelled {
        columns.push((
            "label",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|&i| frame.raw_label(i)),
            )),
        ));
    }
    arrow::record_batch::RecordBatch::try_from_iter(columns)
}

/// How a batch's rows are written.
struct Rows<'a> {
    detector: &'a Detector,
    /// The first row's number in the whole input.
    offset: usize,
    labelled: bool,
    alerts_only: bool,
    /// Write the CSV header first.
    header: bool,
}

/// The documented output fields, version 1: `row` (0-based position among
/// the scored flows, in input order; skipped rows are counted on stderr),
/// `p_malicious`, `reconstruction_error` (the novelty score), `malicious`
/// (the verdict), `top_features` (three feature names, largest
/// standardised reconstruction error first), and `label` when the input
/// carries labels.
fn write_rows(
    out: &mut impl Write,
    format: &Format,
    frame: &flowdata::FlowFrame,
    scores: &Scores,
    rows: Rows<'_>,
) -> std::io::Result<()> {
    let Rows {
        detector,
        offset,
        labelled,
        alerts_only,
        header,
    } = rows;
    let names = detector.schema().feature_names();
    if let (Format::Csv, true) = (format, header) {
        write!(
            out,
            "row,p_malicious,reconstruction_error,malicious,top_features"
        )?;
        if labelled {
            write!(out, ",label")?;
        }
        writeln!(out)?;
    }
    for i in 0..frame.n_rows() {
        if alerts_only && !scores.malicious[i] {
            continue;
        }
        let top: Vec<&str> = scores.top_features[i].iter().map(|&j| names[j]).collect();
        match format {
            Format::JsonLines => {
                let mut v = serde_json::json!({
                    "row": offset + i,
                    "p_malicious": scores.p_malicious(i),
                    "reconstruction_error": scores.novelty[i],
                    "malicious": scores.malicious[i],
                    "top_features": top,
                });
                if labelled {
                    v["label"] = serde_json::Value::from(frame.raw_label(i));
                }
                writeln!(out, "{v}")?;
            }
            // Written by `record_batch` instead.
            Format::Parquet(..) => {}
            Format::Csv => {
                write!(
                    out,
                    "{},{},{},{},\"{}\"",
                    offset + i,
                    scores.p_malicious(i),
                    scores.novelty[i],
                    scores.malicious[i],
                    top.join(";")
                )?;
                if labelled {
                    write!(out, ",\"{}\"", frame.raw_label(i).replace('"', "\"\""))?;
                }
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
