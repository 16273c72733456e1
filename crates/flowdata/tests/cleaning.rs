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
