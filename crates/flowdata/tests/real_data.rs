//! Every real CIC-IDS2017 file in the shared data folder loads into the
//! canonical schema; UNSW-NB15 loads through an inferred schema. Skipped
//! (with a message) where the folder is absent, unless NIDS_REQUIRE_DATA=1.

use flowdata::testdata::shared_data_path;
use flowdata::{Alignment, Family, FlowDataError, InferOptions, ReadOptions, Schema, read_flows};

#[test]
fn original_friday_file_with_all_its_quirks() {
    let Some(path) = shared_data_path("cicids2017-original") else {
        return;
    };
    let (frame, report) = read_flows(&[&path], &ReadOptions::default()).unwrap();
    assert_eq!(report.rows_read(), 9_998);
    assert_eq!(frame.n_features(), 77, "Destination Port + 76 features");
    let file = &report.files[0];
    assert_eq!(
        file.duplicate_columns,
        vec!["Fwd Header Length".to_string()]
    );
    assert!(file.missing_features.is_empty());
    let cells = report.cells();
    assert_eq!(cells.infinite, 13, "13 Infinity cells");
    assert_eq!(cells.nan, 1, "1 NaN cell");
    assert!(report.dropped().non_finite >= 1);
    assert!(frame.features().iter().all(|v| v.is_finite()));
    assert_eq!(
        frame.family_counts().get(&Family::Benign).copied(),
        Some(frame.n_rows())
    );
    assert_eq!(
        report.rows_kept() + report.dropped().total(),
        report.rows_read(),
        "every row is accounted for"
    );
    // Sentinels are kept by default and counted.
    assert!(cells.sentinel > 0);
}

#[test]
fn sample_improved_and_original_load_together() {
    let Some(root) = flowdata::testdata::shared_data_dir() else {
        return;
    };
    let paths = [
        root.join("cicids2017-original"),
        root.join("cicids2017-sample/CICIDS2017_sample.csv"),
        root.join("cicids2017-improved"),
    ];
    let (frame, report) = read_flows(&paths, &ReadOptions::default()).unwrap();
    assert_eq!(report.files.len(), 18, "1 + 1 + 16 files");
    // The sample lacks Destination Port: Intersect removes it from all.
    assert_eq!(
        report.features_removed,
        vec!["Destination Port".to_string()]
    );
    assert_eq!(frame.n_features(), 76);
    let sample = &report.files[1];
    assert_eq!(
        sample.duplicate_columns,
        vec!["Fwd Header Length.1".to_string()]
    );
    assert!(sample.cells.empty > 0, "the sample has empty cells");
    let improved = &report.files[2];
    assert!(improved.identifier_columns.iter().any(|c| c == "Flow ID"));
    assert!(improved.ignored_columns.iter().any(|c| c == "ICMP Code"));
    let families = frame.family_counts();
    for f in Family::ALL.into_iter().filter(|&f| f != Family::Other) {
        assert!(families.get(&f).copied().unwrap_or(0) > 0, "{f} present");
    }
    assert!(!families.contains_key(&Family::Other));
}

#[test]
fn improved_directory_keeps_every_canonical_feature() {
    let Some(path) = shared_data_path("cicids2017-improved") else {
        return;
    };
    let options = ReadOptions {
        alignment: Alignment::Strict,
        ..ReadOptions::default()
    };
    let (frame, report) = read_flows(&[&path], &options).unwrap();
    assert_eq!(frame.n_features(), 77);
    assert_eq!(report.rows_read(), 21_712);
    assert!(report.dropped().duplicate > 0);
    let labels = frame.label_counts();
    assert!(labels.contains_key("Web Attack - Brute Force"));
    let web = (0..frame.n_rows())
        .find(|&r| frame.raw_label(r) == "Web Attack - XSS")
        .unwrap();
    assert_eq!(frame.family(web), Family::WebAttack);
}

#[test]
fn strict_alignment_names_the_file_and_the_missing_column() {
    let Some(root) = flowdata::testdata::shared_data_dir() else {
        return;
    };
    let options = ReadOptions {
        alignment: Alignment::Strict,
        ..ReadOptions::default()
    };
    let err = read_flows(&[root.join("cicids2017-sample")], &options).unwrap_err();
    assert!(matches!(err, FlowDataError::MissingColumns { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("CICIDS2017_sample.csv") && msg.contains("Destination Port"),
        "{msg}"
    );
    // Fill keeps the schema whole and says what it filled.
    let options = ReadOptions {
        alignment: Alignment::fill(0.0).unwrap(),
        ..ReadOptions::default()
    };
    let (frame, report) = read_flows(&[root.join("cicids2017-sample")], &options).unwrap();
    assert_eq!(frame.n_features(), 77);
    assert_eq!(
        report.files[0].missing_features,
        vec!["Destination Port".to_string()]
    );
    assert!(frame.features().column(0).iter().all(|&v| v == 0.0));
}

#[test]
fn unsw_nb15_through_an_inferred_schema() {
    let Some(path) = shared_data_path("unsw-nb15/UNSW_NB15_training-set.csv") else {
        return;
    };
    let mut opts = InferOptions::new("label");
    opts.family_column = Some("attack_cat".into());
    opts.categorical = vec!["proto".into(), "service".into(), "state".into()];
    let schema = Schema::infer(&[&path], &opts).unwrap();
    assert!(
        schema.index_of("id").is_none(),
        "identifiers are never features"
    );
    assert!(schema.index_of("proto=tcp").is_some());
    assert!(schema.index_of("dur").is_some());
    let (frame, report) = read_flows(&[&path], &ReadOptions::with_schema(schema.clone())).unwrap();
    assert_eq!(report.rows_read(), 82_332);
    let counts = frame.label_counts();
    assert!(counts.contains_key("Normal") && counts.contains_key("Exploits"));
    let attacks = frame.binary_labels().iter().filter(|&&y| y == 1).count();
    assert!(attacks > 0 && attacks < frame.n_rows());
    for r in 0..frame.n_rows() {
        assert_eq!(frame.raw_label(r) == "Normal", !frame.is_attack(r));
    }
    // One-hot rows sum to one per categorical column.
    let proto: Vec<usize> = (0..schema.n_features())
        .filter(|&j| schema.features[j].name.starts_with("proto="))
        .collect();
    for row in frame.features().rows() {
        let s: f32 = proto.iter().map(|&j| row[j]).sum();
        assert_eq!(s, 1.0);
    }
    // Dropping the categories instead.
    opts.categorical_policy = flowdata::CategoricalPolicy::Drop;
    let dropped = Schema::infer(&[&path], &opts).unwrap();
    assert!(dropped.index_of("proto=tcp").is_none());
    assert!(dropped.n_features() < schema.n_features());
}

#[test]
fn logs_and_captures_are_named_and_extractor_placeholders_are_no_label() {
    let Some(dir) = flowdata::testdata::shared_data_dir() else {
        return;
    };
    for (file, kind) in [
        ("zeek/conn.log", "a Zeek log (TSV"),
        ("zeek/conn.json.log", "a Zeek log (JSON lines)"),
        ("suricata/eve.json", "Suricata EVE JSON"),
        ("pcaps/generated/benign.pcap", "a pcap capture"),
    ] {
        let path = dir.join(file);
        let err = read_flows(&[&path], &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(err, FlowDataError::NotFlowCsv { .. }),
            "{file}: {err}"
        );
        assert!(err.to_string().contains(kind), "{file}: {err}");
        let err = Schema::infer(&[&path], &InferOptions::new("Label")).unwrap_err();
        assert!(err.to_string().contains(kind), "{file}: {err}");
    }
    // The fixed CICFlowMeter labels every flow NeedManualLabel: read for
    // scoring, the flows are unlabelled and none is an attack; read for
    // training, every row lacks a label.
    let oracle = dir.join("pcaps/generated/mixed.pcap_Flow.csv");
    let scoring = ReadOptions {
        unlabelled: Some("UNLABELLED".into()),
        alignment: Alignment::fill(0.0).unwrap(),
        ..ReadOptions::default()
    };
    let (frame, report) = read_flows(&[&oracle], &scoring).unwrap();
    assert!(frame.n_rows() > 0);
    assert_eq!(
        report.files[0].unlabelled_rows,
        report.rows_read() - report.dropped().total()
    );
    assert!(frame.labelled_mask().iter().all(|l| !l));
    assert!(frame.attack_mask().iter().all(|a| !a));
    let err = read_flows(&[&oracle], &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("'NeedManualLabel'"), "{err}");
}
