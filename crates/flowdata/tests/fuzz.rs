//! A fuzz harness for the readers that runs on stable Rust: generated CSV
//! bytes (cells drawn from the spellings flow files really hold, and some
//! they should not) and mutations of a valid file (bytes flipped, inserted,
//! deleted, the file cut short) go through the header parser, `read_flows`
//! (CIC-IDS2017 schema and an inferred one, strict and lenient) and
//! `FlowReader`. Each input must give a result or an error that names the
//! file, without a panic and within a time limit.
//!
//! `cargo test -p flowdata --test fuzz` runs a short campaign;
//! `cargo test -p flowdata --test fuzz -- --ignored --nocapture` runs the
//! long one (`NIDS_FUZZ_CASES`, default 50,000 inputs) and prints
//! how many inputs it tried and how long it took.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowdata::{CleaningPolicy, FlowReader, InferOptions, ReadOptions, Schema, read_flows};
use proptest::prelude::*;

mod common;
use proptest::test_runner::{Config, TestRunner};

/// Cells flow files hold, and some they should not.
const CELLS: &[&str] = &[
    "0",
    "1",
    "17",
    "-1",
    "3.25",
    "-0.0",
    "1e39",
    "1e-50",
    "18446744073709551616",
    "Infinity",
    "-Infinity",
    "inf",
    "NaN",
    "nan",
    "",
    " ",
    "N/A",
    "?",
    "-",
    "BENIGN",
    "DDoS",
    "Web Attack \u{2013} Brute Force",
    "\"quoted, cell\"",
    "\"unterminated",
    "\"\"",
    "x\"y",
    "\u{feff}",
    "0x1f",
];

const HEADERS: &[&str] = &[
    "Flow Duration",
    " Total Fwd Packets",
    "Flow Bytes/s",
    "Fwd Header Length",
    "Fwd Header Length.1",
    "Label",
    "label",
    "Destination Port",
    "id",
    "proto",
    "",
    "\"Flow IAT Min\"",
];

/// One generated input: a header and rows of cells, with line-end and
/// encoding quirks.
fn generated() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(prop::sample::select(HEADERS), 1..8),
        prop::collection::vec(
            prop::collection::vec(prop::sample::select(CELLS), 0..9),
            0..40,
        ),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(header, rows, bom, crlf, junk)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xef\xbb\xbf");
            }
            out.extend_from_slice(header.join(",").as_bytes());
            out.extend_from_slice(eol);
            for row in rows {
                out.extend_from_slice(row.join(",").as_bytes());
                out.extend_from_slice(eol);
            }
            out.extend_from_slice(&junk);
            out
        })
}

/// A small valid file to mutate.
fn seed_file() -> Vec<u8> {
    let mut s = String::from(" Flow Duration, Total Fwd Packets,Flow Bytes/s, Label\r\n");
    for i in 0..30 {
        let label = ["BENIGN", "DDoS", "Web Attack \u{2013} XSS"][i % 3];
        s.push_str(&format!("{},{},{}.5,{label}\r\n", i * 7, i % 5, i));
    }
    s.into_bytes()
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        generated(),
        common::mutated(Just(seed_file()), b",\"\r\n\0\x96 -", 12)
    ]
}

/// Every way of reading the file; each error must name it.
fn read_every_way(path: &Path) -> Result<(), String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let check = |what: &str, err: flowdata::FlowDataError| {
        let msg = err.to_string();
        if msg.contains(&name) {
            Ok(())
        } else {
            Err(format!("{what}: the error does not name the file: {msg}"))
        }
    };
    let schema = Schema::cicids2017().retain_features(&[
        "Flow Duration",
        "Total Fwd Packets",
        "Flow Bytes/s",
        "Fwd Header Length",
        "Destination Port",
    ]);
    for lenient in [false, true] {
        let options = ReadOptions {
            cleaning: CleaningPolicy {
                lenient,
                ..CleaningPolicy::default()
            },
            ..ReadOptions::with_schema(schema.clone())
        };
        match read_flows(&[path], &options) {
            Ok((frame, report)) => {
                if frame.n_rows() as u64 != report.rows_kept() {
                    return Err(format!(
                        "{} rows kept but {} in the frame",
                        report.rows_kept(),
                        frame.n_rows()
                    ));
                }
            }
            Err(e) => check("read_flows", e)?,
        }
        match FlowReader::open(&[path], &options) {
            Ok(mut reader) => loop {
                match reader.next_chunk() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        check("FlowReader", e)?;
                        break;
                    }
                }
            },
            Err(e) => check("FlowReader::open", e)?,
        }
    }
    for label in ["Label", "label"] {
        match Schema::infer(&[path], &InferOptions::new(label)) {
            Ok(schema) => {
                if let Err(e) = read_flows(&[path], &ReadOptions::with_schema(schema)) {
                    check("read_flows (inferred schema)", e)?;
                }
            }
            Err(e) => check("Schema::infer", e)?,
        }
    }
    Ok(())
}

/// Run one input on a worker thread: a panic or a hang is a failure.
fn run_one(dir: &Path, n: u64, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join(format!("fuzz-{n}.csv"));
    std::fs::write(&path, bytes).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker_path = path.clone();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| read_every_way(&worker_path));
        let _ = tx.send(r);
    });
    let outcome = rx.recv_timeout(Duration::from_secs(20));
    let _ = std::fs::remove_file(&path);
    match outcome {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(msg))) => Err(TestCaseError::fail(format!(
            "{msg}\ninput: {:?}",
            String::from_utf8_lossy(bytes)
        ))),
        Ok(Err(_)) => Err(TestCaseError::fail(format!(
            "panic on input {:?}",
            String::from_utf8_lossy(bytes)
        ))),
        Err(_) => Err(TestCaseError::fail(format!(
            "no answer within 20 s on input {:?}",
            String::from_utf8_lossy(bytes)
        ))),
    }
}

/// Run `cases` inputs; returns how many were tried.
fn campaign(cases: u32) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let tried = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&input(), |bytes| {
        let n = tried.fetch_add(1, Ordering::Relaxed);
        run_one(dir.path(), n, &bytes)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    tried.load(Ordering::Relaxed)
}

#[test]
fn readers_survive_generated_and_mutated_csv() {
    let tried = campaign(256);
    assert!(tried >= 256);
}

#[test]
#[ignore = "long fuzz campaign: cargo test -p flowdata --test fuzz -- --ignored --nocapture"]
fn readers_survive_a_long_fuzz_campaign() {
    let cases: u32 = std::env::var("NIDS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let started = Instant::now();
    let tried = campaign(cases);
    println!(
        "fuzz: {tried} inputs tried in {:.1} s ({:.0} inputs/s), no panic, no hang, every error named its file",
        started.elapsed().as_secs_f64(),
        tried as f64 / started.elapsed().as_secs_f64()
    );
}
