//! A capture to flow rows: `cargo run --release -p flowmeter --example flows -- CAPTURE [OUT.csv|OUT.jsonl|-] [--threads]`.
//!
//! `CAPTURE` may be `-` (stdin). The summary goes to stderr.

use std::io::Write;

use flowmeter::{CsvWriter, FlowSink, JsonLinesWriter, LabelColumn, MeterConfig, ThreadedSink};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threaded = args.iter().any(|a| a == "--threads");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(input) = paths.first() else {
        eprintln!("usage: flows CAPTURE [OUT.csv|OUT.jsonl|-] [--threads]");
        std::process::exit(2);
    };
    let output = paths.get(1).map_or("-", |s| s.as_str());
    let out: Box<dyn Write + Send> = if output == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::fs::File::create(output)?)
    };
    let writer: Box<dyn FlowSink + Send> = if output.ends_with(".jsonl") {
        Box::new(JsonLinesWriter::new(out, LabelColumn::Oracle))
    } else {
        Box::new(CsvWriter::new(out, LabelColumn::Oracle))
    };
    let config = MeterConfig::default();
    let summary = if threaded {
        let mut sink = ThreadedSink::spawn(writer);
        let summary = meter(input, &mut sink, &config)?;
        sink.finish()?;
        summary
    } else {
        let mut sink = writer;
        let summary = meter(input, &mut sink, &config)?;
        sink.finish()?;
        summary
    };
    eprintln!("{input}: {summary}");
    Ok(())
}

fn meter(
    input: &str,
    sink: &mut impl FlowSink,
    config: &MeterConfig,
) -> Result<flowmeter::CaptureSummary, flowmeter::Error> {
    if input == "-" {
        flowmeter::run("-", std::io::stdin(), sink, config)
    } else {
        flowmeter::run_file(input, sink, config)
    }
}
