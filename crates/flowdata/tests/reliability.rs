//! Inputs that used to give silently wrong results: a numeric column with a
//! few bad cells, blank labels, a family column that is not there, a very
//! long header, files that share no feature.

use std::path::{Path, PathBuf};

use flowdata::{CleaningPolicy, FlowDataError, InferOptions, ReadOptions, Schema, read_flows};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// 200 rows of `dur,sbytes,proto,label` with `N/A` in one `sbytes` cell.
fn unsw_like(dir: &Path) -> PathBuf {
    let mut text = String::from("id,dur,sbytes,proto,label\n");
    for i in 0..200 {
        let sbytes = if i == 57 {
            "N/A".to_string()
        } else {
            (100 + i).to_string()
        };
        let proto = ["tcp", "udp"][i % 2];
        text.push_str(&format!("{i},{}.5,{sbytes},{proto},{}\n", i % 7, i % 3 % 2));
    }
    write(dir, "unsw_like.csv", &text)
}

#[test]
fn a_numeric_column_with_a_few_bad_cells_stays_a_feature_with_malformed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = unsw_like(dir.path());
    let schema = Schema::infer(&[&p], &InferOptions::new("label")).unwrap();
    assert_eq!(
        schema.feature_names(),
        vec!["dur", "sbytes"],
        "one N/A in 200 cells leaves sbytes numeric; proto is text"
    );
    // Strict (the default): the bad cell is an error naming it.
    let err = read_flows(&[&p], &ReadOptions::with_schema(schema.clone())).unwrap_err();
    assert!(
        matches!(&err, FlowDataError::BadNumber { line: 59, column: 3, found, .. } if found == "N/A"),
        "{err}"
    );
    // Lenient: the row is dropped and counted.
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            lenient: true,
            ..CleaningPolicy::default()
        },
        ..ReadOptions::with_schema(schema)
    };
    let (frame, report) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(report.dropped().malformed, 1);
    assert_eq!(frame.n_rows(), 199);
    // The text column is named in the report.
    assert_eq!(report.files[0].ignored_columns, vec!["proto".to_string()]);

    // A column that is mostly text stays text.
    let mut text = String::from("x,code,label\n");
    for i in 0..50 {
        let code = if i % 4 == 0 {
            "7".to_string()
        } else {
            format!("c{i}")
        };
        text.push_str(&format!("{i}.0,{code},0\n"));
    }
    let q = write(dir.path(), "mostly_text.csv", &text);
    let schema = Schema::infer(&[&q], &InferOptions::new("label")).unwrap();
    assert_eq!(schema.feature_names(), vec!["x"]);
}

#[test]
fn blank_or_punctuation_labels_are_malformed_rows_never_benign() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "labels.csv",
        "Flow Duration,Total Fwd Packets,Label\n\
         1,2,BENIGN\n\
         3,4,\n\
         5,6,?\n\
         7,8,\" \"\n\
         9,10,DDoS\n\
         11,12, -- \n",
    );
    let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Total Fwd Packets"]);
    let err = read_flows(&[&p], &ReadOptions::with_schema(schema.clone())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("labels.csv: line 3, column 3 ('Label')") && msg.contains("label"),
        "{msg}"
    );
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            lenient: true,
            ..CleaningPolicy::default()
        },
        ..ReadOptions::with_schema(schema)
    };
    let (frame, report) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(frame.n_rows(), 2);
    assert_eq!(frame.binary_labels(), vec![0, 1]);
    assert_eq!(report.dropped().malformed, 4);
    assert!(!frame.label_counts().contains_key(""));
}

#[test]
fn blank_labels_are_malformed_with_an_inferred_schema_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "blank.csv",
        "a,b,attack_cat,label\n1,2,,0\n3,4,DoS,1\n5,6,Normal,\n",
    );
    let mut opts = InferOptions::new("label");
    opts.family_column = Some("attack_cat".into());
    let schema = Schema::infer(&[&p], &opts).unwrap();
    let read = ReadOptions {
        cleaning: CleaningPolicy {
            lenient: true,
            ..CleaningPolicy::default()
        },
        ..ReadOptions::with_schema(schema)
    };
    let (frame, report) = read_flows(&[&p], &read).unwrap();
    // An empty family cell with a numeric label is fine (normal rows);
    // an empty label is not.
    assert_eq!(frame.binary_labels(), vec![0, 1]);
    assert_eq!(report.dropped().malformed, 1);
}

#[test]
fn a_family_column_that_is_not_there_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "t.csv", "x,y,label\n1,2,0\n3,4,1\n");
    let mut opts = InferOptions::new("label");
    opts.family_column = Some("attack_kat".into());
    let err = Schema::infer(&[&p], &opts).unwrap_err().to_string();
    assert!(err.contains("attack_kat") && err.contains("t.csv"), "{err}");
    // A schema naming a family column the file lacks is refused on reading.
    let mut schema = Schema::infer(&[&p], &InferOptions::new("label")).unwrap();
    schema.family_column = Some("attack_kat".into());
    let err = read_flows(&[&p], &ReadOptions::with_schema(schema))
        .unwrap_err()
        .to_string();
    assert!(err.contains("attack_kat") && err.contains("t.csv"), "{err}");
}

#[test]
fn a_header_longer_than_64_kib_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut header: Vec<String> = (0..12_000).map(|i| format!("extra_column_{i}")).collect();
    header.push("Flow Duration".into());
    header.push("Label".into());
    let header = header.join(",");
    assert!(header.len() > 64 << 10);
    let zeros = vec!["0"; 12_000].join(",");
    let text = format!("{header}\n{zeros},5,BENIGN\n{zeros},6,DDoS\n");
    let p = write(dir.path(), "wide.csv", &text);
    let schema = Schema::cicids2017().retain_features(&["Flow Duration"]);
    let (frame, _) = read_flows(&[&p], &ReadOptions::with_schema(schema)).unwrap();
    assert_eq!(frame.n_rows(), 2);
    assert_eq!(frame.binary_labels(), vec![0, 1]);
    assert_eq!(frame.features().column(0).to_vec(), vec![5.0, 6.0]);
    // The inferred schema finds the label at the end too.
    let schema = Schema::infer(&[&p], &InferOptions::new("Label")).unwrap();
    assert_eq!(schema.n_features(), 12_001);
}

#[test]
fn files_sharing_no_feature_are_named_with_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", "Flow Duration,Label\n1,BENIGN\n");
    let b = write(
        dir.path(),
        "b.csv",
        "Total Fwd Packets,Other,Label\n1,2,BENIGN\n",
    );
    let err = read_flows(&[dir.path()], &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("share no feature"), "{msg}");
    for part in [
        a.display().to_string(),
        "Flow Duration".to_string(),
        b.display().to_string(),
        "Total Fwd Packets, Other".to_string(),
    ] {
        assert!(msg.contains(&part), "{part} not in {msg}");
    }
}

#[test]
fn atomic_writes_from_many_threads_never_collide_or_leave_temporaries() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.json");
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let path = &path;
            s.spawn(move || {
                for _ in 0..40 {
                    flowdata::write_atomic(path, |w| {
                        w.write_all(&vec![b'a' + t; 64 << 10])
                            .map_err(|e| FlowDataError::Io {
                                path: path.clone(),
                                source: e,
                            })
                    })
                    .unwrap();
                }
            });
        }
    });
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 64 << 10);
    assert!(
        bytes.iter().all(|&b| b == bytes[0]),
        "one writer's whole file"
    );
    // A failed write leaves the previous file and no temporary behind.
    let err = flowdata::write_atomic(&path, |w| {
        w.write_all(b"half").unwrap();
        Err(FlowDataError::NoInput("stop".into()))
    });
    assert!(err.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("schema.json")]);
}
