//! The versioned output: the same scored flows as JSON lines, CSV and
//! Parquet, through a session, and a closed sink.

use detector::output::{OutputFormat, VerdictWriter};
use detector::{Detector, ScoringSession, fixture};

fn flows(rows: usize) -> flowdata::FlowFrame {
    flowdata::synth::generate(&flowdata::synth::SynthConfig {
        rows,
        seed: 5,
        ..Default::default()
    })
}

fn session_output(d: &Detector, format: OutputFormat, alerts_only: bool) -> (Vec<u8>, String) {
    let mut s = ScoringSession::new(d, VerdictWriter::new(format, Vec::new()), alerts_only);
    let f = flows(200);
    let written = s.score(&f, true).unwrap();
    assert!(!written.closed && written.left_out.is_empty());
    s.advance(200);
    s.score(&f, true).unwrap();
    let (bytes, totals) = s.finish().unwrap();
    (bytes, totals.summary("verdict", 1.0))
}

#[test]
fn each_format_writes_every_flow_with_its_row_and_label() {
    let dir = tempfile::tempdir().unwrap();
    let d = fixture::untrained(dir.path(), 2).unwrap();
    let (json, summary) = session_output(&d, OutputFormat::JsonLines, false);
    let text = String::from_utf8(json).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 400);
    let last: serde_json::Value = serde_json::from_str(lines[399]).unwrap();
    assert_eq!(last["row"], 399, "rows count on past the first batch");
    // The fields in their documented order.
    let at = |key: &str| lines[399].find(&format!("\"{key}\":")).unwrap();
    let keys = [
        "row",
        "p_malicious",
        "reconstruction_error",
        "malicious",
        "top_features",
        "label",
    ];
    assert!(
        keys.windows(2).all(|k| at(k[0]) < at(k[1])),
        "{}",
        lines[399]
    );
    assert!(
        summary.starts_with("400 flows") && summary.contains("\nlabels: tp "),
        "{summary}"
    );

    let (csv, _) = session_output(&d, OutputFormat::Csv, false);
    let text = String::from_utf8(csv).unwrap();
    assert!(
        text.starts_with("row,p_malicious,reconstruction_error,malicious,top_features,label\n")
    );
    assert_eq!(text.lines().count(), 401, "one header");

    let (parquet, _) = session_output(&d, OutputFormat::Parquet, false);
    let path = dir.path().join("scores.parquet");
    std::fs::write(&path, parquet).unwrap();
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 400);

    // Only the alerts.
    let (alerts, summary) = session_output(&d, OutputFormat::JsonLines, true);
    let alerts = String::from_utf8(alerts).unwrap().lines().count();
    assert!(summary.contains(&format!("{alerts} alerts")), "{summary}");
}

#[test]
fn formats_are_chosen_by_extension_and_a_closed_sink_ends_quietly() {
    use std::path::Path;
    assert_eq!(
        OutputFormat::for_path(None).unwrap(),
        OutputFormat::JsonLines
    );
    assert_eq!(
        OutputFormat::for_path(Some(Path::new("a.PARQUET"))).unwrap(),
        OutputFormat::Parquet
    );
    let err = OutputFormat::for_path(Some(Path::new("a.xlsx"))).unwrap_err();
    assert!(err.to_string().contains(".xlsx"), "{err}");

    struct Closed;
    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let d = fixture::untrained(dir.path(), 2).unwrap();
    let mut s = ScoringSession::new(&d, VerdictWriter::new(OutputFormat::Csv, Closed), false);
    assert!(s.score(&flows(50), false).unwrap().closed);
}

#[test]
fn adapting_to_benign_flows_is_measured_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = fixture::untrained(dir.path(), 4).unwrap();
    let benign = flows(1_000).benign();
    let names = d.schema().feature_names();
    let x = benign.select_features(&names).unwrap();
    let config = detector::AdaptConfig {
        trainer: autoencoders::TrainerConfig {
            epochs: 1,
            ..detector::AdaptConfig::default().trainer
        },
        ..detector::AdaptConfig::default()
    };
    let (adapted, a) = d
        .adapt(x.features(), vec!["benign.csv".into()], &config)
        .unwrap();
    assert_eq!(a.tune_rows + a.held_back_rows, x.n_rows());
    assert_eq!(adapted.manifest().adaptations, vec![a.clone()]);
    assert_eq!(adapted.operating_point().name, "verdict");
    for rate in [
        a.fpr_before,
        a.fpr_after,
        a.novelty_fpr_before,
        a.novelty_fpr_after,
    ] {
        assert!((0.0..=1.0).contains(&rate));
    }
    // Too few flows to fine-tune on and to measure: an error naming them.
    let d = Detector::load(dir.path()).unwrap();
    let two = x.features().slice(ndarray::s![..2, ..]).to_owned();
    let err = d.adapt(two.view(), vec![], &config).unwrap_err();
    assert!(err.to_string().contains("2 benign flows"), "{err}");
}
