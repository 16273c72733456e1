//! Malformed input gives a clear error naming file, line and column, never
//! a panic; lenient mode skips and counts bad rows.

use std::path::{Path, PathBuf};

use flowdata::{CleaningPolicy, FlowDataError, ReadOptions, Schema, read_flows};

const HEADER: &str = "Flow Duration,Total Fwd Packets,Flow Bytes/s,Label";

fn options() -> ReadOptions {
    ReadOptions::with_schema(Schema::cicids2017().retain_features(&[
        "Flow Duration",
        "Total Fwd Packets",
        "Flow Bytes/s",
    ]))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn read_err(path: &Path) -> FlowDataError {
    read_flows(&[path], &options()).unwrap_err()
}

#[test]
fn ragged_row_names_file_line_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "ragged.csv",
        format!("{HEADER}\n1,2,3,BENIGN\n4,5,BENIGN\n").as_bytes(),
    );
    let err = read_err(&p);
    assert!(
        matches!(
            err,
            FlowDataError::RaggedRow {
                line: 3,
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ragged.csv: line 3"));
}

#[test]
fn non_numeric_cell_names_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.csv",
        format!("{HEADER}\r\n1,2,3,BENIGN\r\n1,two,3,BENIGN\r\n").as_bytes(),
    );
    let err = read_err(&p);
    let msg = err.to_string();
    assert!(
        matches!(&err, FlowDataError::BadNumber { line: 3, column: 2, found, .. } if found == "two"),
        "{msg}"
    );
    assert!(
        msg.contains("Total Fwd Packets") && msg.contains("expected a number"),
        "{msg}"
    );
}

#[test]
fn missing_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "nolabel.csv",
        b"Flow Duration,Total Fwd Packets,Flow Bytes/s\n1,2,3\n",
    );
    let err = read_err(&p);
    assert!(
        matches!(err, FlowDataError::MissingLabelColumn { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("'Label'"));
}

#[test]
fn empty_and_header_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "empty.csv", b"");
    assert!(matches!(read_err(&p), FlowDataError::EmptyFile { .. }));
    let p = write(dir.path(), "header.csv", format!("{HEADER}\r\n").as_bytes());
    let err = read_err(&p);
    assert!(matches!(err, FlowDataError::NoRows { .. }), "{err}");
    assert!(err.to_string().contains("no data rows"));
}

#[test]
fn invalid_utf8_label_is_read_as_cp1252() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = format!("{HEADER}\n1,2,3,BENIGN\n").into_bytes();
    bytes.extend_from_slice(b"4,5,6,Web Attack \x96 Brute Force\n");
    bytes.extend_from_slice("7,8,9,Web Attack \u{2013} Brute Force\n".as_bytes());
    let p = write(dir.path(), "cp1252.csv", &bytes);
    let (frame, _) = read_flows(&[&p], &options()).unwrap();
    assert_eq!(frame.raw_label(1), "Web Attack \u{2013} Brute Force");
    assert_eq!(frame.label_counts()["Web Attack \u{2013} Brute Force"], 2);
    assert_eq!(frame.family(1), flowdata::Family::WebAttack);
}

#[test]
fn binary_file_is_not_csv() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let p = write(dir.path(), "blob.csv", &bytes);
    let err = read_err(&p);
    assert!(
        matches!(
            err,
            FlowDataError::NotFlowCsv {
                kind: flowdata::InputKind::Binary,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("blob.csv: binary data"), "{err}");
    // A PNG-like header without NUL in the first line still fails cleanly.
    let p = write(
        dir.path(),
        "img.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    );
    assert!(read_flows(&[&p], &options()).is_err());
}

#[test]
fn missing_file_and_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_err(&dir.path().join("nope.csv"));
    assert!(matches!(err, FlowDataError::Io { .. }));
    assert!(err.to_string().contains("nope.csv"));
    let err = read_err(dir.path());
    assert!(matches!(err, FlowDataError::NoInput(_)), "{err}");
}

#[test]
fn lenient_mode_skips_and_counts_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "mixed.csv",
        format!("{HEADER}\n1,2,3,BENIGN\n4,5,BENIGN\n1,x,3,BENIGN\n7,8,9,DDoS\n").as_bytes(),
    );
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            lenient: true,
            ..CleaningPolicy::default()
        },
        ..options()
    };
    let (frame, report) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(frame.n_rows(), 2);
    assert_eq!(report.dropped().malformed, 2);
    assert_eq!(report.rows_read(), 4);
}

#[test]
fn bom_crlf_spaces_and_non_finite_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff} Flow Duration, Total Fwd Packets,Flow Bytes/s, Label\r\n\
                1,2,Infinity,BENIGN\r\n\
                1,2,inf,BENIGN\r\n\
                1,2,NaN,BENIGN\r\n\
                1,2,,BENIGN\r\n\
                1,2,-Infinity,BENIGN\r\n\
                5,6,7.5,PortScan\r\n";
    let p = write(dir.path(), "quirks.csv", text.as_bytes());
    let (frame, report) = read_flows(&[&p], &options()).unwrap();
    assert_eq!(frame.n_rows(), 1);
    assert_eq!(report.dropped().non_finite, 5);
    let cells = report.cells();
    assert_eq!((cells.infinite, cells.nan, cells.empty), (3, 1, 1));
    assert_eq!(frame.features().row(0).to_vec(), vec![5.0, 6.0, 7.5]);
}

/// Rows `1,2,3,BENIGN` with numbers that vary, enough for many blocks.
fn many_rows(rows: usize) -> String {
    let mut text = format!("{HEADER}\n");
    for i in 0..rows {
        text.push_str(&format!("{i},{},{}.5,BENIGN\n", i % 7, i % 13));
    }
    text
}

#[test]
fn errors_deep_in_a_file_name_their_line_after_the_good_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = many_rows(40_000);
    text.push_str("7,8,oops,BENIGN\n");
    text.push_str(&many_rows(10_000)[HEADER.len() + 1..]);
    let p = write(dir.path(), "late.csv", text.as_bytes());
    let opts = ReadOptions {
        block_bytes: 64 << 10,
        ..options()
    };
    let mut reader = flowdata::FlowReader::open(&[&p], &opts).unwrap();
    let mut rows = 0;
    let err = loop {
        match reader.next_chunk() {
            Ok(Some(chunk)) => rows += chunk.n_rows(),
            Ok(None) => panic!("the bad cell was not reported"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(&err, FlowDataError::BadNumber { line: 40_002, column: 3, found, .. } if found == "oops"),
        "{err}"
    );
    // Every block before the bad one was delivered first.
    assert!(
        rows > 30_000 && rows <= 40_000,
        "{rows} rows before the error"
    );
}

#[test]
fn the_first_bad_file_in_order_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "a.csv", many_rows(30_000).as_bytes());
    let ragged = write(
        dir.path(),
        "b.csv",
        format!("{HEADER}\n1,2,3,BENIGN\n4,5,BENIGN\n").as_bytes(),
    );
    // Good rows, then binary bytes past the part sniffed when the header
    // is read: found only when the body is read.
    let mut text = many_rows(20_000).into_bytes();
    text.extend_from_slice(b"\x7fELF\x02\x01\x01\x00\x00\x00");
    let binary = write(dir.path(), "c.csv", &text);
    let opts = ReadOptions {
        block_bytes: 64 << 10,
        ..options()
    };
    let err = read_flows(&[&good, &ragged, &binary], &opts).unwrap_err();
    assert!(
        matches!(&err, FlowDataError::RaggedRow { path, line: 3, .. } if path.ends_with("b.csv")),
        "{err}"
    );
    let err = read_flows(&[&good, &binary, &ragged], &opts).unwrap_err();
    assert!(
        matches!(&err, FlowDataError::NotCsv { path, line: 20_002, .. } if path.ends_with("c.csv")),
        "{err}"
    );
}

#[test]
fn integers_and_decimals_parse_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cells = [
        "0",
        "16777217",
        "9007199254740993",
        "1234567890123456789",
        "12345678901234567890123",
        "0.1",
        "-3",
        "1e3",
        " 42 ",
        "3.4028236e38",
    ];
    let mut text = format!("{HEADER}\n");
    for c in cells {
        text.push_str(&format!("{c},1,1,BENIGN\n"));
    }
    let p = write(dir.path(), "numbers.csv", text.as_bytes());
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            drop_duplicates: false,
            negative: flowdata::NegativePolicy::Keep,
            non_finite: flowdata::NonFinitePolicy::Fill(-1.0),
            ..CleaningPolicy::default()
        },
        ..options()
    };
    let (frame, _) = read_flows(&[&p], &opts).unwrap();
    let got: Vec<f32> = frame.features().column(0).to_vec();
    let want: Vec<f32> = cells
        .iter()
        .map(|c| c.trim().parse::<f32>().unwrap())
        .map(|v| if v.is_finite() { v } else { -1.0 })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn quoted_cells_are_read_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}\n1,2,3,BENIGN\n\"4\",5,\"6.5\",\"Web Attack, Brute Force\"\n7,8,9,\"BENIGN\"\n10,11,12,DoS Hulk\n"
    );
    let p = write(dir.path(), "quoted.csv", text.as_bytes());
    let (frame, report) = read_flows(&[&p], &options()).unwrap();
    assert_eq!(report.rows_read(), 4);
    assert_eq!(
        frame.features().column(0).to_vec(),
        vec![1.0, 4.0, 7.0, 10.0]
    );
    assert_eq!(frame.features()[[1, 2]], 6.5);
    assert_eq!(frame.binary_labels(), vec![0, 1, 0, 1]);
    let raw: Vec<&str> = (0..4).map(|r| frame.raw_label(r)).collect();
    assert_eq!(raw[1], "Web Attack, Brute Force");
    assert_eq!(raw[2], "BENIGN");
}
