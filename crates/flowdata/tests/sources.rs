//! One reader for paths and streams: random bytes and random mutations of
//! a valid CSV give an error or rows, never a panic, and the same outcome
//! whether read from a path or from a `Read` source handing out random
//! pieces with pauses; valid CSV (quoted line ends, CRLF, blank lines,
//! quoted commas) gives the same rows read whole, by path, or live in
//! chunks at deadlines.

use std::time::{Duration, Instant};

use flowdata::testdata::Trickle;
use flowdata::{CleaningPolicy, FlowReader, ReadOptions, Schema, read_flows, read_flows_from};
use proptest::prelude::*;

mod common;
#[path = "common/outcome.rs"]
mod outcome;
use outcome::{Outcome, outcome};

fn schema() -> Schema {
    Schema::cicids2017().retain_features(&["Flow Duration", "Total Fwd Packets", "Flow Bytes/s"])
}

fn options(lenient: bool, origins: bool) -> ReadOptions {
    ReadOptions {
        cleaning: CleaningPolicy {
            lenient,
            ..CleaningPolicy::default()
        },
        unlabelled: origins.then(|| "UNLABELLED".to_string()),
        origins,
        // Small blocks, so that records straddle block ends.
        block_bytes: 64 << 10,
        ..ReadOptions::with_schema(schema())
    }
}

/// The same input by path and as a stream in pieces.
fn both_ways(
    bytes: &[u8],
    sizes: Vec<usize>,
    pauses: Vec<u64>,
    opts: &ReadOptions,
) -> (Outcome, Outcome) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    std::fs::write(&path, bytes).unwrap();
    let by_path = outcome(&path.display().to_string(), read_flows(&[&path], opts));
    let stream = Trickle::new(bytes.to_vec(), sizes, pauses);
    let by_stream = outcome("<stdin>", read_flows_from("<stdin>", stream, opts));
    (by_path, by_stream)
}

/// Read live at short deadlines until the end; the chunks' rows together.
fn live(bytes: &[u8], sizes: Vec<usize>, pauses: Vec<u64>, opts: &ReadOptions) -> Outcome {
    let stream = Trickle::new(bytes.to_vec(), sizes, pauses);
    let mut reader = match FlowReader::from_reader("<stdin>", stream, opts) {
        Ok(r) => r,
        Err(e) => return outcome("<stdin>", Err(e)),
    };
    let mut frames = Vec::new();
    let started = Instant::now();
    loop {
        match reader.next_chunk_by(Instant::now() + Duration::from_millis(2)) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break,
            Err(e) => return outcome("<stdin>", Err(e)),
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no end");
    }
    Outcome::of_frames(&frames, reader.report())
}

const LABELS: &[&str] = &[
    "BENIGN",
    "DDoS",
    "\"Web Attack, Brute Force\"",
    "\"multi\nline\"",
    "\"with \"\"quotes\"\"\"",
    "NeedManualLabel",
    "",
    "Web Attack \u{2013} XSS",
];

const NUMBERS: &[&str] = &[
    "0", "17", "3.25", "1e3", "\"42\"", " 7 ", "Infinity", "", "-1",
];

/// A valid CSV: a header, rows of three numbers and a label, with CRLF,
/// blank lines and a byte-order mark now and then.
fn valid_csv() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            (
                prop::collection::vec(prop::sample::select(NUMBERS), 3),
                prop::sample::select(LABELS),
                any::<bool>(),
                prop::bool::weighted(0.05),
            ),
            1..120,
        ),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(rows, bom, blank_first)| {
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xef\xbb\xbf");
            }
            if blank_first {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"Flow Duration,\" Total Fwd Packets\",Flow Bytes/s,Label\n");
            for (cells, label, crlf, blank) in rows {
                out.extend_from_slice(format!("{},{label}", cells.join(",")).as_bytes());
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                if blank {
                    out.push(b'\n');
                }
            }
            out
        })
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..200, 1..8)
}

fn pauses() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![4 => Just(0u64), 1 => 0u64..3000], 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_csv_gives_the_same_rows_by_path_as_a_stream_and_live(
        bytes in valid_csv(),
        sizes in sizes(),
        pauses in pauses(),
        lenient in any::<bool>(),
        origins in any::<bool>(),
    ) {
        let opts = options(lenient, origins);
        let (by_path, by_stream) = both_ways(&bytes, sizes.clone(), pauses.clone(), &opts);
        prop_assert_eq!(&by_path, &by_stream);
        if lenient && origins {
            // Reading for scoring never fails on valid CSV.
            prop_assert!(matches!(by_path, Outcome::Rows { .. }), "{:?}", by_path);
        }
        // Live reading keeps duplicates per chunk the same way only when
        // none are dropped: compare without deduplication.
        let opts = ReadOptions {
            cleaning: CleaningPolicy { drop_duplicates: false, ..opts.cleaning },
            ..opts
        };
        let (whole, _) = both_ways(&bytes, vec![1 << 20], vec![0], &opts);
        prop_assert_eq!(&whole, &live(&bytes, sizes, pauses, &opts));
    }

    #[test]
    fn mutated_csv_gives_rows_or_an_error_the_same_both_ways(
        bytes in common::mutated(valid_csv(), b",\"\r\n\0\x96\xff -", 10),
        sizes in sizes(),
        lenient in any::<bool>(),
        origins in any::<bool>(),
    ) {
        let opts = options(lenient, origins);
        let (by_path, by_stream) = both_ways(&bytes, sizes, vec![0], &opts);
        prop_assert_eq!(by_path, by_stream);
    }

    #[test]
    fn random_bytes_give_rows_or_an_error_the_same_both_ways(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        sizes in sizes(),
        lenient in any::<bool>(),
    ) {
        let opts = options(lenient, true);
        let (by_path, by_stream) = both_ways(&bytes, sizes, vec![0], &opts);
        prop_assert_eq!(by_path, by_stream);
    }
}
