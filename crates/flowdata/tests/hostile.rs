//! A corpus of hostile inputs, made at run time, each with its expected
//! outcome. Every reading case runs twice, by path and as a stream fed in
//! small pieces (the `<stdin>` path of a scorer), and must give the same
//! outcome both ways: the rows kept, the malformed rows with their lines,
//! or an error that names the input and says what is wrong.

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "common/outcome.rs"]
mod outcome;
use outcome::{Outcome, outcome};

use flowdata::testdata::Trickle;
use flowdata::{
    Alignment, Bounds, CleaningPolicy, FillValue, FlowDataError, FlowReader, InputKind,
    ReadOptions, ScalingMethod, Schema, read_flows, read_flows_from,
};

const HEADER: &str = "Flow Duration,Total Fwd Packets,Flow Bytes/s,Label";

/// The error of a read that must fail, checked to mention every part.
fn refused<T>(read: flowdata::Result<T>, parts: &[&str]) -> FlowDataError {
    let Err(err) = read else {
        panic!("expected an error mentioning {parts:?}");
    };
    let msg = err.to_string();
    for p in parts {
        assert!(msg.contains(p), "'{p}' not in: {msg}");
    }
    err
}

fn schema3() -> Schema {
    Schema::cicids2017().retain_features(&["Flow Duration", "Total Fwd Packets", "Flow Bytes/s"])
}

/// How a case is read.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Labels needed, malformed rows an error (training).
    Strict,
    /// Labels needed, malformed rows skipped and reported.
    Lenient,
    /// Labels optional, malformed rows skipped, origins kept (scoring).
    Scoring,
}

fn options(mode: Mode) -> ReadOptions {
    let base = ReadOptions::with_schema(schema3());
    match mode {
        Mode::Strict => base,
        Mode::Lenient => ReadOptions {
            cleaning: CleaningPolicy {
                lenient: true,
                ..CleaningPolicy::default()
            },
            ..base
        },
        Mode::Scoring => ReadOptions::for_scoring(schema3(), None),
    }
}

/// What a case must give.
#[derive(Debug)]
enum Expect {
    /// Rows kept; the lines of the malformed rows skipped; rows without a
    /// label; the raw labels of the kept rows.
    Rows {
        kept: usize,
        malformed_lines: &'static [u64],
        unlabelled: u64,
        labels: &'static [&'static str],
    },
    /// An error whose message holds each of these (and the input's name).
    Error(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    mode: Mode,
    expect: Expect,
}

fn rows(lines: &[&str]) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text.into_bytes()
}

fn with_bytes(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("{HEADER}\n").into_bytes();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// A little-endian microsecond pcap header (no packets).
fn pcap(magic: [u8; 4]) -> Vec<u8> {
    let mut b = magic.to_vec();
    b.extend_from_slice(&[
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    b
}

fn cases() -> Vec<Case> {
    use Expect::*;
    use Mode::*;
    let good = [
        "1,2,3,BENIGN",
        "4,5,6,DDoS",
        "7,8,9,BENIGN",
        "10,11,12,PortScan",
        "13,14,15,BENIGN",
    ];
    let mut utf8_line7: Vec<&[u8]> = good.iter().map(|l| l.as_bytes()).collect();
    utf8_line7.push(b"16,\xff\xfe,18,BENIGN");
    utf8_line7.extend([&b"19,20,21,DDoS"[..], b"22,23,24,BENIGN"]);
    vec![
        Case {
            name: "invalid UTF-8 in a number on line 7: reported, reading goes on",
            bytes: with_bytes(&utf8_line7),
            mode: Lenient,
            expect: Rows {
                kept: 7,
                malformed_lines: &[7],
                unlabelled: 0,
                labels: &[],
            },
        },
        Case {
            name: "invalid UTF-8 in a number on line 7, strict: an error naming line and column",
            bytes: with_bytes(&utf8_line7),
            mode: Strict,
            expect: Error(&["line 7, column 2", "expected a number"]),
        },
        Case {
            name: "invalid UTF-8 in a label: not text, skipped",
            bytes: with_bytes(&[b"1,2,3,BENIGN", b"4,5,6,\xff\xfe\xfd", b"7,8,9,DDoS"]),
            mode: Lenient,
            expect: Rows {
                kept: 2,
                malformed_lines: &[3],
                unlabelled: 0,
                labels: &["BENIGN", "DDoS"],
            },
        },
        Case {
            name: "invalid UTF-8 in a label, strict",
            bytes: with_bytes(&[b"1,2,3,BENIGN", b"4,5,6,BEN\xc3\x28\xa0IGN"]),
            mode: Strict,
            expect: Error(&["line 3, column 4 ('Label')", "expected text"]),
        },
        Case {
            name: "the cp1252 en dash of the original files is a label",
            bytes: with_bytes(&[b"1,2,3,Web Attack \x96 Brute Force"]),
            mode: Strict,
            expect: Rows {
                kept: 1,
                malformed_lines: &[],
                unlabelled: 0,
                labels: &["Web Attack \u{2013} Brute Force"],
            },
        },
        Case {
            name: "binary garbage: an error naming what its first bytes look like",
            bytes: (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            mode: Scoring,
            expect: Error(&["binary data, not text", "first bytes:"]),
        },
        Case {
            name: "an ELF header: binary",
            bytes: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00".to_vec(),
            mode: Scoring,
            expect: Error(&["binary data", "7f 45 4c 46"]),
        },
        Case {
            name: "a quoted line end stays in its field; lines stay right after it",
            bytes: rows(&[
                "1,2,3,BENIGN",
                "4,5,6,\"Web Attack,\nBrute Force\"",
                "7,8,9,DDoS",
                "10,x,12,BENIGN",
                "13,14,15,BENIGN",
            ]),
            mode: Lenient,
            expect: Rows {
                kept: 4,
                malformed_lines: &[6],
                unlabelled: 0,
                labels: &["BENIGN", "Web Attack,\nBrute Force", "DDoS", "BENIGN"],
            },
        },
        Case {
            name: "a quoted line end in a strict read: the error names the line after it",
            bytes: rows(&["1,2,3,\"a\nb\nc\"", "4,5,6"]),
            mode: Strict,
            expect: Error(&["line 5", "expected 4 cells", "found 3"]),
        },
        Case {
            name: "a quote never closed: its line is malformed, reading goes on at the next",
            bytes: rows(&["1,2,3,BENIGN", "4,5,6,\"DDoS", "7,8,9,BENIGN"]),
            mode: Lenient,
            expect: Rows {
                kept: 2,
                malformed_lines: &[3],
                unlabelled: 0,
                labels: &["BENIGN", "BENIGN"],
            },
        },
        Case {
            name: "a blank first line is skipped, not 'the file is empty'",
            bytes: [b"\n \r\n".as_slice(), &rows(&["1,2,3,BENIGN", "4,x,6,DDoS"])].concat(),
            mode: Lenient,
            expect: Rows {
                kept: 1,
                malformed_lines: &[5],
                unlabelled: 0,
                labels: &["BENIGN"],
            },
        },
        Case {
            name: "blank lines only",
            bytes: b"\n\n  \n".to_vec(),
            mode: Strict,
            expect: Error(&["holds only 3 blank line(s)", "expected a CSV header"]),
        },
        Case {
            name: "an empty input",
            bytes: Vec::new(),
            mode: Strict,
            expect: Error(&["the file is empty"]),
        },
        Case {
            name: "a header and no rows",
            bytes: rows(&[]),
            mode: Scoring,
            expect: Error(&["no data rows"]),
        },
        Case {
            name: "a Zeek TSV log",
            bytes: b"#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\n".to_vec(),
            mode: Strict,
            expect: Error(&["a Zeek log (TSV", "nids flows"]),
        },
        Case {
            name: "a Zeek JSON log",
            bytes: b"{\"ts\":1575413096.05,\"uid\":\"CH53\",\"id.orig_h\":\"10.0.0.1\"}\n".to_vec(),
            mode: Scoring,
            expect: Error(&["a Zeek log (JSON lines)"]),
        },
        Case {
            name: "Suricata EVE JSON",
            bytes: b"{\"timestamp\":\"2022-11-18T00:15:50\",\"flow_id\":1,\"event_type\":\"flow\"}\n"
                .to_vec(),
            mode: Strict,
            expect: Error(&["Suricata EVE JSON", "flow meter"]),
        },
        Case {
            name: "a little-endian microsecond pcap",
            bytes: pcap([0xd4, 0xc3, 0xb2, 0xa1]),
            mode: Scoring,
            expect: Error(&["a pcap capture (micro-second timestamps, little-endian)", "nids flows", "nids score"]),
        },
        Case {
            name: "a big-endian nanosecond pcap",
            bytes: pcap([0xa1, 0xb2, 0x3c, 0x4d]),
            mode: Scoring,
            expect: Error(&["a pcap capture (nano-second timestamps, big-endian)"]),
        },
        Case {
            name: "a pcapng capture",
            bytes: vec![0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a],
            mode: Scoring,
            expect: Error(&["a pcapng capture", "nids flows"]),
        },
        Case {
            name: "gzip-compressed CSV",
            bytes: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
            mode: Strict,
            expect: Error(&["gzip-compressed", "decompress"]),
        },
        Case {
            name: "two columns for one feature (alias spellings), values differ",
            bytes: b"Flow Duration,Total Fwd Packets,Flow Bytes/s,flow_duration,Label\n1,2,3,99,BENIGN\n".to_vec(),
            mode: Scoring,
            expect: Error(&["columns 1 'Flow Duration', 4 'flow_duration'", "feature 'Flow Duration'"]),
        },
        Case {
            name: "pandas' copy of a feature other than CICFlowMeter's repeat",
            bytes: b"Flow Duration,Total Fwd Packets,Flow Bytes/s,Flow Duration.1,Label\n1,2,3,1,BENIGN\n".to_vec(),
            mode: Strict,
            expect: Error(&["4 'Flow Duration.1'"]),
        },
        Case {
            name: "the label column twice",
            bytes: b"Flow Duration,Total Fwd Packets,Flow Bytes/s,Label,label\n1,2,3,BENIGN,DDoS\n".to_vec(),
            mode: Strict,
            expect: Error(&["the label column 'Label'"]),
        },
        Case {
            name: "NeedManualLabel is no label: unlabelled when scoring, never an attack",
            bytes: rows(&["1,2,3,NeedManualLabel", "4,5,6,DDoS", "7,8,9,"]),
            mode: Scoring,
            expect: Rows {
                kept: 3,
                malformed_lines: &[],
                unlabelled: 2,
                labels: &["UNLABELLED", "DDoS", "UNLABELLED"],
            },
        },
        Case {
            name: "NeedManualLabel where labels are needed: malformed",
            bytes: rows(&["1,2,3,NeedManualLabel", "4,5,6,DDoS"]),
            mode: Strict,
            expect: Error(&["line 2, column 4", "expected a label, found 'NeedManualLabel'", "labels are needed"]),
        },
        Case {
            name: "no label column where labels are needed: named, with why",
            bytes: b"Flow Duration,Total Fwd Packets,Flow Bytes/s\n1,2,3\n".to_vec(),
            mode: Lenient,
            expect: Error(&["no label column 'Label'", "needed to train or evaluate"]),
        },
        Case {
            name: "no label column when scoring: every row unlabelled",
            bytes: b"Flow Duration,Total Fwd Packets,Flow Bytes/s\n1,2,3\n4,5,6\n".to_vec(),
            mode: Scoring,
            expect: Rows {
                kept: 2,
                malformed_lines: &[],
                unlabelled: 2,
                labels: &["UNLABELLED", "UNLABELLED"],
            },
        },
        Case {
            name: "a NUL byte in a data line: malformed, not the end of the input",
            bytes: with_bytes(&[b"1,2,3,BENIGN", b"4,5,6,BEN\x00IGN", b"7,8,9,DDoS"]),
            mode: Lenient,
            expect: Rows {
                kept: 2,
                malformed_lines: &[3],
                unlabelled: 0,
                labels: &["BENIGN", "DDoS"],
            },
        },
        Case {
            name: "a ragged row in a stream: its line, then the rows after it",
            bytes: rows(&["1,2,3,BENIGN", "4,5,BENIGN", "7,8,9,DDoS"]),
            mode: Scoring,
            expect: Rows {
                kept: 2,
                malformed_lines: &[3],
                unlabelled: 0,
                labels: &["BENIGN", "DDoS"],
            },
        },
    ]
}

#[test]
fn every_hostile_input_gets_its_expected_outcome_by_path_and_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases().into_iter().enumerate() {
        let path = dir.path().join(format!("case-{i}.csv"));
        std::fs::write(&path, &case.bytes).unwrap();
        let opts = options(case.mode);
        let by_path = outcome(&path.display().to_string(), read_flows(&[&path], &opts));
        let stream = Trickle::new(case.bytes.clone(), vec![1, 7, 64, 3], vec![0, 0, 1000]);
        let by_stream = outcome("<stdin>", read_flows_from("<stdin>", stream, &opts));
        assert_eq!(by_path, by_stream, "{}: path and stream differ", case.name);
        match (&case.expect, &by_path) {
            (
                Expect::Rows {
                    kept,
                    malformed_lines,
                    unlabelled,
                    labels,
                },
                Outcome::Rows {
                    malformed_lines: m,
                    unlabelled: u,
                    labels: l,
                    labelled,
                    attack,
                    ..
                },
            ) => {
                assert_eq!(
                    (l.len(), m.as_slice(), u),
                    (*kept, *malformed_lines, unlabelled),
                    "{}",
                    case.name
                );
                if !labels.is_empty() {
                    assert_eq!(l, labels, "{}", case.name);
                }
                // A row without a label is never an attack.
                for (r, (&lab, &att)) in labelled.iter().zip(attack).enumerate() {
                    assert!(
                        lab || !att,
                        "{}: row {r} is unlabelled yet an attack",
                        case.name
                    );
                }
                assert_eq!(
                    labelled.iter().filter(|l| !**l).count() as u64,
                    *u,
                    "{}",
                    case.name
                );
            }
            (Expect::Error(parts), Outcome::Error(msg)) => {
                for p in *parts {
                    assert!(msg.contains(p), "{}: '{p}' not in: {msg}", case.name);
                }
            }
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", case.name),
        }
    }
}

#[test]
fn malformed_rows_are_listed_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, rows(&["1,2,3,BENIGN", "4,five,6,DDoS", "7,8,9"])).unwrap();
    let (_, report) = read_flows(&[&path], &options(Mode::Lenient)).unwrap();
    let listed: Vec<&str> = report.files[0]
        .malformed_rows
        .iter()
        .map(|m| m.message.as_str())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].contains("bad.csv: line 3, column 2") && listed[0].contains("'five'"));
    assert!(listed[1].contains("line 4") && listed[1].contains("expected 4 cells"));
    assert!(report.to_text().contains("skipped: "));
}

#[test]
fn quoted_line_ends_keep_rows_and_lines_aligned_with_origins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quoted.csv");
    let text = "Flow ID,Flow Duration,Total Fwd Packets,Flow Bytes/s,Label\n\
                a,1,2,3,BENIGN\n\
                \"b\nb\",4,5,6,DDoS\n\
                c,7,x,9,BENIGN\n\
                d,10,11,12,BENIGN\n";
    std::fs::write(&path, text).unwrap();
    let (frame, report) = read_flows(&[&path], &options(Mode::Scoring)).unwrap();
    let origins = frame.origins().unwrap();
    // Row 2 (line 5) is malformed; rows keep their input positions.
    assert_eq!(origins.rows(), &[0, 1, 3]);
    let ids = &origins.identifiers()[0];
    assert_eq!(ids.0, "Flow ID");
    assert_eq!(ids.1.value(1), "b\nb");
    assert_eq!(report.files[0].skipped_rows[0].line, 5);
    assert_eq!(report.files[0].skipped_rows[0].row, 2);
}

#[test]
fn identifiers_that_are_not_text_make_the_row_malformed_when_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.csv");
    let mut bytes = b"Flow ID,Flow Duration,Total Fwd Packets,Flow Bytes/s,Label\n".to_vec();
    bytes.extend_from_slice(b"a,1,2,3,BENIGN\n\xff\xfe\x01,4,5,6,DDoS\nc,7,8,9,BENIGN\n");
    std::fs::write(&path, &bytes).unwrap();
    let (frame, report) = read_flows(&[&path], &options(Mode::Scoring)).unwrap();
    assert_eq!(frame.n_rows(), 2);
    assert!(
        report.files[0].malformed_rows[0]
            .message
            .contains("line 3, column 1 ('Flow ID'): expected text")
    );
    // Not passed through, the identifier is not read at all.
    let opts = ReadOptions {
        origins: false,
        ..options(Mode::Scoring)
    };
    assert_eq!(read_flows(&[&path], &opts).unwrap().0.n_rows(), 3);
}

#[test]
fn cicflowmeter_repeat_is_read_once_and_checked_equal() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Fwd Header Length"]);
    for repeat in ["Fwd Header Length", "Fwd Header Length.1"] {
        let path = dir.path().join("repeat.csv");
        let text = format!(
            " Flow Duration, Fwd Header Length,{repeat}, Label\n1,20,20,BENIGN\n2,40,40,DDoS\n3,60,61,BENIGN\n4,,,BENIGN\n"
        );
        std::fs::write(&path, text).unwrap();
        let strict = ReadOptions::with_schema(schema.clone());
        let err = refused(read_flows(&[&path], &strict), &["holds 61 where column 2"]);
        assert!(matches!(err, FlowDataError::RepeatDiffers { line: 4, .. }));
        let lenient = ReadOptions {
            cleaning: CleaningPolicy {
                lenient: true,
                ..CleaningPolicy::default()
            },
            ..strict
        };
        let (frame, report) = read_flows(&[&path], &lenient).unwrap();
        assert_eq!(
            frame.n_rows(),
            2,
            "the differing row is malformed, the empty one non-finite"
        );
        assert_eq!(report.dropped().malformed, 1);
        assert_eq!(report.dropped().non_finite, 1);
        assert_eq!(report.cells().empty, 1, "the repeat's cell is counted once");
        assert_eq!(report.files[0].duplicate_columns, vec![repeat.to_string()]);
    }
}

#[test]
fn fill_values_are_finite_f32_numbers_only() {
    for bad in [
        "NaN", "nan", "inf", "-inf", "Infinity", "1e39", "-3.5e38", "", "zero",
    ] {
        let err = bad.parse::<FillValue>().unwrap_err().to_string();
        assert!(err.contains(&format!("'{bad}'")), "{err}");
        let err = format!("fill:{bad}")
            .parse::<Alignment>()
            .unwrap_err()
            .to_string();
        assert!(err.contains(bad), "{err}");
    }
    for bad in [f64::NAN, f64::INFINITY, 1e39, -1e300] {
        assert!(
            FillValue::new(bad).is_err() && Alignment::fill(bad).is_err(),
            "{bad}"
        );
    }
    for good in ["0", "-1", "3.4e38", " 2.5 "] {
        let v: FillValue = good.parse().unwrap();
        assert!(v.get().is_finite());
    }
    // Deserialising goes through the same check.
    assert!(serde_json::from_str::<Alignment>(r#"{"policy":"fill","value":1e39}"#).is_err());
    let a: Alignment = serde_json::from_str(r#"{"policy":"fill","value":-1}"#).unwrap();
    assert_eq!(a, Alignment::fill(-1.0).unwrap());
}

#[test]
fn out_of_range_counts_negatives_flags_and_constant_features_per_row() {
    let schema = Schema::cicids2017().retain_features(&[
        "Flow Duration",
        "FIN Flag Count",
        "Init_Win_bytes_forward",
        "Fwd Avg Bulk Rate",
    ]);
    // Training: durations 0..1000, FIN 0/1, the -1 sentinel seen in the
    // window, the bulk rate always 0.
    let train = ndarray::Array2::from_shape_fn((1000, 4), |(i, j)| match j {
        0 => i as f32,
        1 => (i % 2) as f32,
        2 => {
            if i % 3 == 0 {
                -1.0
            } else {
                8192.0
            }
        }
        _ => 0.0,
    });
    let probe = ndarray::array![
        [10.0f32, 1.0, -1.0, 0.0], // inside
        [-1e15, 0.0, 8192.0, 0.0], // a negative duration
        [10.0, 1e15, 8192.0, 0.0], // a flag far above its range
        [10.0, 0.0, -5.0, 0.0],    // below the sentinel seen
        [10.0, 0.0, 8192.0, 7.0],  // a feature constant in training
        [1e9, 2.0, -1.0, 0.0],     // two at once
    ];
    for method in [
        ScalingMethod::default(),
        ScalingMethod::MinMax,
        ScalingMethod::Standard,
    ] {
        let bounds = Bounds::fit(&schema, train.view(), method).unwrap();
        let o = bounds.transform(probe.view()).unwrap().out_of_range;
        let per_row = o.per_row();
        let counts: Vec<usize> = per_row.iter().map(|r| r.features).collect();
        assert_eq!(counts, vec![0, 1, 1, 1, 1, 2], "{method:?}");
        let worst: Vec<Option<u32>> = per_row.iter().map(|r| r.worst.map(|w| w.feature)).collect();
        assert_eq!(
            worst[..5],
            [None, Some(0), Some(1), Some(2), Some(3)],
            "{method:?}"
        );
        assert!(per_row[1].worst.unwrap().amount < 0.0, "below the range");
        assert!(
            per_row[2].worst.unwrap().amount > 1e14,
            "1e15 flags, in widths of 0..1"
        );
        assert_eq!(o.scaled_features, 4, "{method:?}: three scaled, one flag");
        assert_eq!(o.beyond_per_feature(), vec![2, 2, 1, 1], "{method:?}");
        assert!(
            (o.share() - 6.0 / 24.0).abs() < 1e-12,
            "{method:?}: {}",
            o.share()
        );
        // The sentinel seen in training is inside the range.
        assert!(o.outside().all(|e| e.row != 0));
    }
}

#[test]
fn bounds_saved_before_the_training_range_was_recorded_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::cicids2017().retain_features(&["Flow Duration", "FIN Flag Count"]);
    let train = ndarray::array![[0.0f32, 0.0], [10.0, 1.0]];
    let bounds = Bounds::fit(&schema, train.view(), ScalingMethod::default()).unwrap();
    let path = dir.path().join("bounds.json");
    bounds.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"seen\""));
    let old: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut old = old;
    for f in old["features"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("seen");
    }
    std::fs::write(&path, old.to_string()).unwrap();
    let loaded = Bounds::load(&path).unwrap();
    let o = loaded
        .transform(ndarray::array![[5.0f32, 9.0]].view())
        .unwrap()
        .out_of_range;
    assert_eq!(
        (o.scaled_features, o.outside().count()),
        (1, 0),
        "flags unchecked without a range"
    );
    // A range that is not a finite interval is refused, naming the feature.
    let mut bad: serde_json::Value = serde_json::from_str(&text).unwrap();
    bad["features"][1]["seen"] = serde_json::json!([5.0, 1.0]);
    std::fs::write(&path, bad.to_string()).unwrap();
    refused(Bounds::load(&path), &["FIN Flag Count", "bounds.json"]);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_opened_once_and_read_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("flows.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || {
        std::fs::write(writer_path, rows(&["1,2,3,BENIGN", "4,5,6,DDoS"])).unwrap();
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_path = fifo.clone();
    std::thread::spawn(move || {
        let _ =
            tx.send(read_flows(&[&reader_path], &options(Mode::Strict)).map(|(f, _)| f.n_rows()));
    });
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a FIFO must not hang");
    assert_eq!(got.unwrap(), 2);
    writer.join().unwrap();
}

#[cfg(unix)]
#[test]
fn a_device_given_as_csv_is_refused_after_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let started = Instant::now();
    let err = refused(
        read_flows(&[&link], &options(Mode::Scoring)),
        &["binary data", "00 00 00 00"],
    );
    assert!(matches!(
        err,
        FlowDataError::NotFlowCsv {
            kind: InputKind::Binary,
            ..
        }
    ));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn other_readers_name_what_a_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.csv");
    std::fs::write(&capture, pcap([0xd4, 0xc3, 0xb2, 0xa1])).unwrap();
    let infer = flowdata::InferOptions::new("Label");
    refused(
        Schema::infer(&[&capture], &infer),
        &["capture.csv", "pcap capture"],
    );
    let text = dir.path().join("flows.parquet");
    std::fs::write(&text, rows(&["1,2,3,BENIGN"])).unwrap();
    refused(
        flowdata::FlowFrame::read_parquet(&text),
        &["CSV text, not a Parquet file"],
    );
    refused(
        flowdata::FlowFrame::read_ipc(&capture),
        &["pcap capture", "Arrow IPC"],
    );
}

#[test]
fn an_arrow_ipc_stream_reads_like_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let frame = flowdata::synth::generate(&flowdata::synth::SynthConfig {
        rows: 50,
        ..Default::default()
    });
    let path = dir.path().join("flows.arrows");
    let batch = frame.to_record_batch().unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(file, &batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    let back = flowdata::FlowFrame::read_ipc(&path).unwrap();
    assert_eq!(back.features(), frame.features());
}

#[test]
fn a_family_column_is_optional_when_labels_are() {
    let dir = tempfile::tempdir().unwrap();
    let labelled = dir.path().join("l.csv");
    std::fs::write(&labelled, "x,y,label,attack_cat\n1,2,0,Normal\n3,4,1,DoS\n").unwrap();
    let mut infer = flowdata::InferOptions::new("label");
    infer.family_column = Some("attack_cat".into());
    let schema = Schema::infer(&[&labelled], &infer).unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "x,y\n1,2\n3,4\n").unwrap();
    let opts = ReadOptions {
        unlabelled: Some("UNLABELLED".into()),
        ..ReadOptions::with_schema(schema.clone())
    };
    let (frame, _) = read_flows(&[&path], &opts).unwrap();
    assert_eq!(frame.n_rows(), 2);
    assert!(!frame.is_labelled(0) && !frame.is_attack(0));
    refused(
        read_flows(&[&path], &ReadOptions::with_schema(schema)),
        &["no label column 'label'", "t.csv"],
    );
}

/// The live reader: records that arrive with pauses are returned by the
/// deadline after they arrive, an incomplete record waits.
#[test]
fn a_live_stream_gives_complete_records_by_each_deadline() {
    let (rx, mut tx) = std::io::pipe().unwrap();
    use std::io::Write;
    tx.write_all(format!("{HEADER}\n1,2,3,BENIGN\n4,5,").as_bytes())
        .unwrap();
    let opts = options(Mode::Scoring);
    let started = Instant::now();
    let mut reader = FlowReader::from_reader("<stdin>", rx, &opts).unwrap();
    let chunk = reader
        .next_chunk_by(Instant::now() + Duration::from_millis(50))
        .unwrap()
        .unwrap();
    assert_eq!(chunk.n_rows(), 1);
    // Nothing new: an empty chunk at the deadline, not a wait.
    let t = Instant::now();
    let chunk = reader
        .next_chunk_by(Instant::now() + Duration::from_millis(50))
        .unwrap()
        .unwrap();
    assert_eq!(chunk.n_rows(), 0);
    assert!(t.elapsed() < Duration::from_secs(2));
    tx.write_all(b"6,\"DD\noS\"\n7,8,9,BENIGN\n").unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let chunk = reader
            .next_chunk_by(Instant::now() + Duration::from_millis(50))
            .unwrap()
            .unwrap();
        got.extend((0..chunk.n_rows()).map(|r| chunk.raw_label(r).to_string()));
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    assert_eq!(got, vec!["DD\noS", "BENIGN"]);
    drop(tx);
    while let Some(chunk) = reader
        .next_chunk_by(Instant::now() + Duration::from_millis(50))
        .unwrap()
    {
        assert_eq!(chunk.n_rows(), 0);
    }
    assert_eq!(reader.report().files[0].path, PathBuf::from("<stdin>"));
    assert_eq!(reader.report().rows_read(), 3);
}
