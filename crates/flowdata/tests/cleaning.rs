//! Cleaning policies, splits, persistence and the synthetic generator.

use std::collections::HashSet;

use flowdata::synth::{SynthConfig, generate, write_csv};
use flowdata::{
    Bounds, CleaningPolicy, FlowFrame, FlowReader, NegativePolicy, NonFinitePolicy, ReadOptions,
    ScalingMethod, Schema, SentinelPolicy, SplitConfig, read_flows, split_indices,
};

fn write_small(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("small.csv");
    std::fs::write(
        &p,
        "Flow Duration,Flow Bytes/s,Init_Win_bytes_forward,Label\n\
         10,Infinity,-1,BENIGN\n\
         20,5,-1,BENIGN\n\
         -3,6,100,BENIGN\n\
         40,NaN,200,DDoS\n\
         20,5,-1,BENIGN\n\
         50,8,300,DDoS\n",
    )
    .unwrap();
    p
}

fn schema3() -> Schema {
    Schema::cicids2017().retain_features(&[
        "Flow Duration",
        "Flow Bytes/s",
        "Init_Win_bytes_forward",
    ])
}

#[test]
fn default_policy_drops_non_finite_negative_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_small(dir.path());
    let (frame, report) = read_flows(&[&p], &ReadOptions::with_schema(schema3())).unwrap();
    let d = report.dropped();
    assert_eq!((d.non_finite, d.negative, d.duplicate), (2, 1, 1));
    assert_eq!(frame.n_rows(), 2);
    assert_eq!(
        report.cells().sentinel,
        3,
        "sentinels are counted on every row read"
    );
}

#[test]
fn impute_abs_and_sentinel_policies() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_small(dir.path());
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            non_finite: NonFinitePolicy::Median,
            negative: NegativePolicy::Abs,
            sentinel: SentinelPolicy::Median,
            drop_duplicates: false,
            lenient: false,
        },
        ..ReadOptions::with_schema(schema3())
    };
    let (frame, report) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(frame.n_rows(), 6);
    let x = frame.features();
    // Flow Bytes/s finite values 5, 6, 5, 8 -> median 5.5.
    assert_eq!(x[[0, 1]], 5.5);
    assert_eq!(x[[3, 1]], 5.5);
    assert_eq!(x[[2, 0]], 3.0, "abs of a negative duration");
    // Init_Win non-sentinel values 100, 200, 300 -> median 200.
    assert_eq!(x[[1, 2]], 200.0);
    assert_eq!(report.cells().imputed, 2);
    // Clip: +inf -> column max of finite values.
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            non_finite: NonFinitePolicy::Clip,
            ..opts.cleaning
        },
        ..opts
    };
    let (frame, _) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(frame.features()[[0, 1]], 8.0);
    // Fill.
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            non_finite: NonFinitePolicy::Fill(-7.0),
            ..opts.cleaning
        },
        ..opts
    };
    let (frame, _) = read_flows(&[&p], &opts).unwrap();
    assert_eq!(frame.features()[[3, 1]], -7.0);
}

#[test]
fn streaming_chunks_equal_the_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synth.csv");
    write_csv(
        &SynthConfig {
            rows: 20_000,
            seed: 3,
            ..Default::default()
        },
        &path,
    )
    .unwrap();
    let (whole, report) = read_flows(&[&path], &ReadOptions::default()).unwrap();
    let opts = ReadOptions {
        block_bytes: 64 << 10,
        ..ReadOptions::default()
    };
    let mut reader = FlowReader::open(&[&path], &opts).unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = reader.next_chunk().unwrap() {
        assert!(c.n_rows() < 1_000, "chunks are bounded");
        chunks.push(c);
    }
    assert!(chunks.len() > 10);
    let joined = FlowFrame::concat(&chunks).unwrap();
    assert_eq!(joined.features(), whole.features());
    assert_eq!(joined.binary_labels(), whole.binary_labels());
    assert_eq!(reader.report().dropped(), report.dropped());
    assert_eq!(reader.bytes_done(), reader.bytes_total());
}

#[test]
fn synthetic_csv_has_the_raw_quirks_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synth.csv");
    let cfg = SynthConfig {
        rows: 5_000,
        seed: 11,
        non_finite_fraction: 0.01,
        ..Default::default()
    };
    let summary = write_csv(&cfg, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let header = bytes.split(|&b| b == b'\n').next().unwrap();
    let header = String::from_utf8_lossy(header);
    assert_eq!(header.split(',').count(), 79);
    assert!(header.starts_with(" Destination Port, Flow Duration"));
    assert_eq!(header.matches("Fwd Header Length").count(), 2);
    assert!(header.ends_with(" Label\r"));
    assert!(bytes.windows(2).any(|w| w == b"\x96 "), "cp1252 en dash");
    let (frame, report) = read_flows(&[&path], &ReadOptions::default()).unwrap();
    assert_eq!(report.rows_read() as usize, summary.rows_written);
    assert_eq!(report.files[0].duplicate_columns.len(), 1);
    assert!(report.dropped().non_finite as usize >= summary.non_finite);
    assert!(report.dropped().duplicate > 0 && summary.duplicates > 0);
    assert_eq!(
        report.cells().infinite as usize,
        report.cells().nan as usize
    );
    assert!(
        frame.family_counts().len() >= 7,
        "benign + at least 6 attack families"
    );
}

#[test]
fn synthetic_families_are_learnable_but_not_trivial() {
    let frame = generate(&SynthConfig {
        rows: 4_000,
        seed: 5,
        ..Default::default()
    });
    let bounds = Bounds::fit(frame.schema(), frame.features(), ScalingMethod::default()).unwrap();
    let x = bounds.transform(frame.features()).unwrap().data;
    let y = frame.binary_labels();
    // One nearest neighbour (port excluded) on the first half, scored on the second.
    let (train, test) = (0..2_000, 2_000..4_000);
    let correct = test
        .clone()
        .filter(|&r| {
            let nearest = train
                .clone()
                .min_by(|&a, &b| {
                    let d = |t: usize| -> f32 {
                        (1..x.ncols())
                            .map(|j| (x[[r, j]] - x[[t, j]]).powi(2))
                            .sum()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            y[nearest] == y[r]
        })
        .count();
    let acc = correct as f64 / test.len() as f64;
    let majority = y[test.clone()].iter().filter(|&&v| v == 0).count() as f64 / test.len() as f64;
    assert!(
        acc > majority + 0.15,
        "a nearest-neighbour rule learns something: {acc} vs {majority}"
    );
    assert!(
        acc < 0.995,
        "but the problem is not trivially separable: {acc}"
    );
}

#[test]
fn synth_is_deterministic() {
    let a = generate(&SynthConfig {
        rows: 300,
        seed: 9,
        ..Default::default()
    });
    let b = generate(&SynthConfig {
        rows: 300,
        seed: 9,
        ..Default::default()
    });
    let c = generate(&SynthConfig {
        rows: 300,
        seed: 10,
        ..Default::default()
    });
    assert_eq!(a, b);
    assert_ne!(a.features(), c.features());
}

#[test]
fn split_is_stratified_seeded_and_never_leaks_a_feature_row() {
    let mut frame = generate(&SynthConfig {
        rows: 6_000,
        seed: 2,
        ..Default::default()
    });
    // Add identical feature rows with conflicting labels: they must stay together.
    let copies: Vec<usize> = (0..300).collect();
    let extra = frame.select_rows(&copies);
    frame = FlowFrame::concat(&[frame, extra]).unwrap();
    let cfg = SplitConfig::default();
    let s = split_indices(&frame, &cfg).unwrap();
    assert_eq!(s, split_indices(&frame, &cfg).unwrap(), "seeded");
    assert_ne!(
        s,
        split_indices(&frame, &SplitConfig { seed: 1, ..cfg }).unwrap()
    );
    let key = |r: usize| {
        frame
            .features()
            .row(r)
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    let train: HashSet<_> = s.train.iter().map(|&r| key(r)).collect();
    let val: HashSet<_> = s.validation.iter().map(|&r| key(r)).collect();
    for &r in s.validation.iter().chain(&s.test) {
        assert!(!train.contains(&key(r)), "row {r} leaks into train");
    }
    for &r in &s.test {
        assert!(!val.contains(&key(r)), "row {r} leaks into validation");
    }
    assert_eq!(
        s.train.len() + s.validation.len() + s.test.len(),
        frame.n_rows()
    );
    let share = |rows: &[usize]| {
        rows.iter().filter(|&&r| frame.is_attack(r)).count() as f64 / rows.len() as f64
    };
    let all: Vec<usize> = (0..frame.n_rows()).collect();
    for part in [&s.train, &s.validation, &s.test] {
        assert!((share(part) - share(&all)).abs() < 0.03, "stratified");
    }
    assert!(SplitConfig { train: 0.9, ..cfg }.validate().is_err());
}

#[test]
fn parquet_ipc_schema_and_bounds_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let frame = generate(&SynthConfig {
        rows: 70_000,
        seed: 4,
        ..Default::default()
    });
    let pq = dir.path().join("flows.parquet");
    frame.write_parquet(&pq).unwrap();
    assert_eq!(FlowFrame::read_parquet(&pq).unwrap(), frame);
    let ipc = dir.path().join("flows.arrow");
    frame.write_ipc(&ipc).unwrap();
    assert_eq!(FlowFrame::read_ipc(&ipc).unwrap(), frame);
    let sp = dir.path().join("schema.json");
    frame.schema().save(&sp).unwrap();
    assert_eq!(&Schema::load(&sp).unwrap(), frame.schema());
    let bounds = Bounds::fit(frame.schema(), frame.features(), ScalingMethod::default()).unwrap();
    let bp = dir.path().join("bounds.json");
    bounds.save(&bp).unwrap();
    let back = Bounds::load(&bp).unwrap();
    assert_eq!(back, bounds);
    assert_eq!(
        back.transform(frame.features()).unwrap(),
        bounds.transform(frame.features()).unwrap()
    );
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    // A truncated parquet file is an error, not a panic.
    let bytes = std::fs::read(&pq).unwrap();
    std::fs::write(&pq, &bytes[..bytes.len() / 2]).unwrap();
    assert!(FlowFrame::read_parquet(&pq).is_err());
    std::fs::write(&bp, b"{\"method\":").unwrap();
    assert!(
        Bounds::load(&bp)
            .unwrap_err()
            .to_string()
            .contains("bounds.json")
    );
    // Bounds in the wrong order: an error on loading, no panic when built by hand.
    let mut swapped = bounds.clone();
    let f = &mut swapped.features[1];
    (f.lo, f.hi) = (f.hi + 1.0, f.lo);
    swapped.save(&bp).unwrap();
    let msg = Bounds::load(&bp).unwrap_err().to_string();
    assert!(
        msg.contains(&swapped.features[1].name) && msg.contains("above hi"),
        "{msg}"
    );
    assert!(swapped.transform(frame.features()).is_ok());
}

#[test]
fn reading_and_splitting_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synth.csv");
    write_csv(
        &SynthConfig {
            rows: 30_000,
            seed: 9,
            ..Default::default()
        },
        &path,
    )
    .unwrap();
    let opts = ReadOptions {
        block_bytes: 64 << 10,
        ..ReadOptions::default()
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (frame, report) = read_flows(&[&path], &opts).unwrap();
                let split = split_indices(&frame, &SplitConfig::default()).unwrap();
                (frame, report.dropped(), split)
            })
    };
    let (one, three) = (run(1), run(3));
    assert_eq!(one.0, three.0);
    assert_eq!(one.1, three.1);
    assert_eq!(one.2, three.2);
}

#[test]
fn origins_keep_identifiers_aligned_with_the_kept_rows() {
    use flowdata::{DropReason, Origins};
    use std::collections::HashMap;

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Kept,
        NonFinite,
        BadNumber,
        Ragged,
    }
    let kind = |i: u64| match i {
        _ if i % 13 == 6 => Kind::Ragged,
        _ if i % 11 == 4 => Kind::BadNumber,
        _ if i % 7 == 3 => Kind::NonFinite,
        _ => Kind::Kept,
    };
    // Every 17th row repeats the previous row's features: a duplicate
    // when that row was kept.
    let duration = |i: u64| if i % 17 == 9 { i - 1 } else { i };
    // The original CIC-IDS2017 spellings (leading spaces); `id` counts
    // the data rows, a blank line every 1000 rows is no row, and every
    // 10th timestamp is quoted around a comma (the CSV parser's path).
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let n = 40_000u64;
    let mut text = String::from(
        "Flow ID, Source IP, Source Port, Destination Port, Protocol, Timestamp,id, Flow Duration, Flow Bytes/s, Label\n",
    );
    let mut lines = Vec::new();
    let mut line = 1u64;
    for i in 0..n {
        if i % 1000 == 0 && i > 0 {
            text.push('\n');
            line += 1;
        }
        line += 1;
        lines.push(line);
        let stamp = if i % 10 == 0 {
            "\"7/7/2017, 3:30\"".to_string()
        } else {
            format!("7/7/2017 3:{}", i % 60)
        };
        let bytes = match kind(i) {
            Kind::NonFinite => "Infinity",
            Kind::BadNumber => "abc",
            _ => "5",
        };
        text.push_str(&format!(
            "10.0.{}.1-10.0.0.2-{}-80-6,10.0.{}.1,{},80,6,{stamp},{i},{},{bytes}",
            i % 250,
            1024 + i,
            i % 250,
            1024 + i,
            duration(i)
        ));
        if kind(i) != Kind::Ragged {
            text.push_str(",BENIGN");
        }
        text.push('\n');
    }
    std::fs::write(&a, text).unwrap();
    // The improved re-extraction's spellings, without a Flow ID.
    let b = dir.path().join("b.csv");
    std::fs::write(
        &b,
        "id,Src IP,Dst Port,Flow Duration,Flow Bytes/s,Label\n\
         a1,192.168.0.1,443,1000000,5,BENIGN\n\
         a2,192.168.0.2,443,NaN,5,BENIGN\n\
         a3,192.168.0.3,22,1000001,5,SSH-Patator\n",
    )
    .unwrap();

    // What should be kept, and why the rest is not.
    let mut seen = std::collections::HashSet::new();
    let mut expected_kept = Vec::new();
    let mut expected_skipped = Vec::new();
    for i in 0..n {
        let reason = match kind(i) {
            Kind::Ragged | Kind::BadNumber => Some(DropReason::Malformed),
            Kind::NonFinite => Some(DropReason::NonFinite),
            Kind::Kept if !seen.insert(duration(i)) => Some(DropReason::Duplicate),
            Kind::Kept => None,
        };
        match reason {
            None => expected_kept.push(i),
            Some(r) => expected_skipped.push((lines[i as usize], i, r)),
        }
    }
    expected_kept.extend([n, n + 2]);

    let schema = Schema::cicids2017().retain_features(&[
        "Destination Port",
        "Flow Duration",
        "Flow Bytes/s",
    ]);
    let opts = ReadOptions {
        cleaning: CleaningPolicy {
            lenient: true,
            ..CleaningPolicy::default()
        },
        origins: true,
        ..ReadOptions::with_schema(schema)
    };
    let (frame, report) = read_flows(&[&a, &b], &opts).unwrap();
    let origins = frame.origins().expect("origins were asked for");
    assert_eq!(origins.rows(), expected_kept.as_slice());
    let names: Vec<&str> = origins.identifiers().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "Flow ID",
            "Src IP",
            "Src Port",
            "Dst Port",
            "Protocol",
            "Timestamp",
            "id"
        ]
    );
    let column: HashMap<&str, _> = origins.identifiers().iter().map(|(n, c)| (*n, c)).collect();
    use arrow::array::Array;
    let x = frame.features();
    for (k, &i) in expected_kept.iter().enumerate() {
        let value = |name: &str| {
            let c = column[name];
            c.is_valid(k).then(|| c.value(k).to_string())
        };
        if i < n {
            assert_eq!(value("id"), Some(i.to_string()));
            assert_eq!(value("Src IP"), Some(format!("10.0.{}.1", i % 250)));
            assert_eq!(value("Src Port"), Some((1024 + i).to_string()));
            assert_eq!(
                value("Flow ID"),
                Some(format!("10.0.{}.1-10.0.0.2-{}-80-6", i % 250, 1024 + i))
            );
            let stamp = if i % 10 == 0 {
                "7/7/2017, 3:30".to_string()
            } else {
                format!("7/7/2017 3:{}", i % 60)
            };
            assert_eq!(value("Timestamp"), Some(stamp));
            assert_eq!(value("Protocol").as_deref(), Some("6"));
            // Destination Port: a feature and an identifier.
            assert_eq!(value("Dst Port").as_deref(), Some("80"));
            assert_eq!(x[[k, 0]], 80.0);
            assert_eq!(x[[k, 1]], duration(i) as f32, "row {i}");
        } else {
            // The second file lacks Flow ID, Src Port, Protocol, Timestamp.
            for name in ["Flow ID", "Src Port", "Protocol", "Timestamp"] {
                assert_eq!(value(name), None, "{name}");
            }
            let j = i - n + 1;
            assert_eq!(value("id"), Some(format!("a{j}")));
            assert_eq!(value("Src IP"), Some(format!("192.168.0.{j}")));
        }
    }
    assert_eq!(column["Dst Port"].value(expected_kept.len() - 1), "22");

    let skipped: Vec<(u64, u64, DropReason)> = report.files[0]
        .skipped_rows
        .iter()
        .map(|s| (s.line, s.row, s.reason))
        .collect();
    assert_eq!(skipped, expected_skipped);
    let second = &report.files[1].skipped_rows;
    assert_eq!(second.len(), 1);
    assert_eq!(
        (second[0].line, second[0].row, second[0].reason),
        (3, n + 1, DropReason::NonFinite)
    );
    assert_eq!(
        report.dropped().total(),
        (expected_skipped.len() + 1) as u64
    );

    // Streamed in small blocks: the same origins, chunk by chunk.
    let mut reader = FlowReader::open(
        &[&a, &b],
        &ReadOptions {
            block_bytes: 64 << 10,
            ..opts.clone()
        },
    )
    .unwrap();
    // The plan is known before the first block: both files, labelled.
    let planned: Vec<_> = reader
        .planned()
        .map(|f| (f.path.clone(), f.unlabelled))
        .collect();
    assert_eq!(planned, vec![(a.clone(), false), (b.clone(), false)]);
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = reader.next_chunk().unwrap() {
        chunks += 1;
        let o: &Origins = chunk.origins().unwrap();
        assert_eq!(o.rows().len(), chunk.n_rows());
        rows.extend_from_slice(o.rows());
        let (name, id) = o.identifiers().last().unwrap();
        assert_eq!(*name, "id");
        ids.extend((0..id.len()).map(|k| id.value(k).to_string()));
    }
    assert!(chunks > 10);
    assert_eq!(rows, expected_kept);
    let whole_ids = column["id"];
    assert_eq!(
        ids,
        (0..whole_ids.len())
            .map(|k| whole_ids.value(k).to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        reader.report().files[0].skipped_rows,
        report.files[0].skipped_rows
    );

    // Selections keep origins; without asking, nothing is kept.
    let picked = frame.select_rows(&[2, 0]);
    let o = picked.origins().unwrap();
    assert_eq!(o.rows(), [expected_kept[2], expected_kept[0]]);
    let (plain, plain_report) = read_flows(
        &[&a, &b],
        &ReadOptions {
            origins: false,
            ..opts
        },
    )
    .unwrap();
    assert!(plain.origins().is_none());
    assert!(plain_report.files.iter().all(|f| f.skipped_rows.is_empty()));
    assert_eq!(plain.features(), frame.features());
}

#[test]
fn arrow_inputs_pass_their_identifier_columns_through() {
    use arrow::array::{Array, ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use std::sync::Arc;
    let frame = generate(&SynthConfig {
        rows: 100,
        seed: 5,
        ..Default::default()
    });
    // Text and integer identifiers; a float column is never one.
    let with_ids = |start: usize, end: usize| {
        let batch = frame.to_record_batch_range(start, end).unwrap();
        let n = batch.num_rows();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(" Source IP", DataType::Utf8, true));
        fields.push(Field::new("Dst Port", DataType::Int64, false));
        fields.push(Field::new("Protocol", DataType::Float32, false));
        let mut columns = batch.columns().to_vec();
        let ips: StringArray = (start..start + n)
            .map(|i| (i != 3).then(|| format!("10.0.0.{i}")))
            .collect();
        columns.push(Arc::new(ips) as ArrayRef);
        columns.push(Arc::new(Int64Array::from_iter_values(
            (start..start + n).map(|i| i as i64 + 1000),
        )));
        columns.push(Arc::new(Float32Array::from(vec![6.0; n])));
        let schema = ArrowSchema::new_with_metadata(fields, batch.schema().metadata().clone());
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    };
    let back = FlowFrame::from_record_batches(&[with_ids(0, 60), with_ids(60, 100)]).unwrap();
    assert_eq!(back.features(), frame.features());
    let origins = back.origins().expect("the batches have identifier columns");
    assert_eq!(origins.rows(), (0..100).collect::<Vec<u64>>());
    let [(ip_name, ips), (port_name, ports)] = origins.identifiers() else {
        panic!(
            "two identifier columns expected: {:?}",
            origins.identifiers()
        );
    };
    assert_eq!((*ip_name, *port_name), ("Src IP", "Dst Port"));
    assert!(ips.is_null(3));
    assert_eq!(ips.value(70), "10.0.0.70");
    assert_eq!(ports.value(99), "1099");
    // Frames written by this crate have none.
    assert!(
        FlowFrame::from_record_batches(&[frame.to_record_batch().unwrap()])
            .unwrap()
            .origins()
            .is_none()
    );
}
