//! The saved detector: a pipeline run writes it, `Detector::load` and
//! `nids score` read it back and flag exactly what the report measured;
//! every kind of damage to it is a clear error.

use std::path::{Path, PathBuf};
use std::process::Command;

use autoencoders::ModelKind;
use detector::Detector;
use nids::{PipelineConfig, Report};

fn trained(dir: &Path) -> (Report, PathBuf) {
    let out = dir.join("run");
    let mut c = PipelineConfig::quick(&out);
    c.data.synthetic.rows = 2_500;
    c.data.save_splits = true;
    c.autoencoders.kinds = vec![ModelKind::FeedForward, ModelKind::Conv1d];
    c.autoencoders.trainer.epochs = 2;
    c.ppo.timesteps = nids::Timesteps::Fixed(4_096);
    let report = nids::run(&c).unwrap();
    (report, out)
}

/// The `nids` command.
fn nids() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nids"))
}

/// Run `command`, insisting that it succeeds; its output.
fn succeeded(command: &mut Command) -> std::process::Output {
    let run = command.output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

fn counts(labels: &[bool], flags: &[bool]) -> [u64; 4] {
    let cm = metrics::ConfusionMatrix::from_predictions(labels, flags).unwrap();
    [cm.tp, cm.fp, cm.tn, cm.fn_]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_saved_detector_flags_what_the_report_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (report, out) = trained(dir.path());
    let detector = Detector::load(out.join("detector")).unwrap();
    let m = detector.manifest();
    assert_eq!(m.default_operating_point, "verdict");
    assert_eq!(m.encoder, report.ppo.autoencoder);
    assert_eq!(m.novelty, report.verdict.rule.novelty_detector);
    assert_eq!(
        m.provenance.rows,
        [report.data.train, report.data.validation, report.data.test]
    );

    // The raw test split, read and scored from scratch.
    let test_csv = out.join("splits/test.csv");
    let (frame, _) = flowdata::read_flows(
        &[&test_csv],
        &flowdata::ReadOptions::with_schema(detector.schema().clone()),
    )
    .unwrap();
    assert_eq!(frame.n_rows(), report.data.test);
    let labels = frame.attack_mask();
    let scores = detector.score_frame(&frame).unwrap();
    let v = &report.verdict.test;
    assert_eq!(
        counts(&labels, &scores.malicious),
        [v.rates.tp, v.rates.fp, v.rates.tn, v.rates.fn_]
    );
    // Every operating point reproduces its row of the report.
    let argmax = detector
        .manifest()
        .operating_point("argmax")
        .unwrap()
        .clone();
    let flags: Vec<bool> = (0..frame.n_rows())
        .map(|i| argmax.flag(scores.margin[i], scores.novelty[i]))
        .collect();
    let a = &report.ppo.evaluation.scores.argmax;
    assert_eq!(counts(&labels, &flags), [a.tp, a.fp, a.tn, a.fn_]);
    let best = Detector::load(out.join("detector"))
        .unwrap()
        .with_operating_point("best-f1")
        .unwrap();
    let b = &report.ppo.evaluation.scores.best_f1.test;
    assert_eq!(
        counts(&labels, &best.score_frame(&frame).unwrap().malicious),
        [b.tp, b.fp, b.tn, b.fn_]
    );
    assert!(
        Detector::load(out.join("detector"))
            .unwrap()
            .with_operating_point("nonsense")
            .unwrap_err()
            .to_string()
            .contains("verdict")
    );

    // A batch larger than one block is scored block by block in parallel:
    // each copy of the split scores as the split alone did.
    let n = frame.n_rows();
    let copies = detector::score::CHUNK_ROWS.div_ceil(n) + 1;
    let stacked = ndarray::concatenate(ndarray::Axis(0), &vec![frame.features(); copies]).unwrap();
    let big = detector.score_batch(stacked.view()).unwrap();
    assert!(stacked.nrows() > detector::score::CHUNK_ROWS);
    for c in 0..copies {
        for i in 0..n {
            let j = c * n + i;
            assert!((big.margin[j] - scores.margin[i]).abs() < 1e-6, "row {j}");
            assert!((big.novelty[j] - scores.novelty[i]).abs() < 1e-9 * (1.0 + scores.novelty[i]));
            assert_eq!(big.malicious[j], scores.malicious[i], "row {j}");
            assert_eq!(
                big.top_features.row(j),
                scores.top_features.row(i),
                "row {j}"
            );
        }
    }
    assert_eq!(big.out_of_range.rows, stacked.nrows());
    assert_eq!(
        big.out_of_range.clamped(),
        copies * scores.out_of_range.clamped()
    );

    // One flow at a time gives the same answer, with its explanation.
    let one = detector
        .score_one(frame.features().row(0).as_slice().unwrap())
        .unwrap();
    // One row and a batch take different GEMM kernels: equal to rounding.
    assert!((one.p_malicious - scores.p_malicious(0)).abs() < 1e-6);
    assert_eq!(one.malicious, scores.malicious[0]);
    assert_eq!(one.top_features.len(), 3);
    assert!(detector.score_one(&[1.0, 2.0]).is_err());

    // The command line: JSON lines on stdout, the same verdicts.
    let run = succeeded(
        nids()
            .args(["score", "--detector"])
            .arg(out.join("detector"))
            .arg(&test_csv),
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), frame.n_rows());
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["row"], i);
        assert_eq!(l["malicious"], scores.malicious[i]);
        assert_eq!(l["p_malicious"].as_f64().unwrap(), scores.p_malicious(i));
        assert_eq!(l["top_features"].as_array().unwrap().len(), 3);
    }
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "tp {} fp {} tn {} fn {}",
            v.rates.tp, v.rates.fp, v.rates.tn, v.rates.fn_
        )),
        "{stderr}"
    );

    // Unlabelled flows on standard input, alerts only, as CSV.
    let text = std::fs::read_to_string(&test_csv).unwrap();
    let unlabelled: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let mut child = nids()
        .args(["score", "--alerts-only", "--output"])
        .arg(dir.path().join("alerts.csv"))
        .arg("--detector")
        .arg(out.join("detector"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(unlabelled.as_bytes())
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let alerts = std::fs::read_to_string(dir.path().join("alerts.csv")).unwrap();
    assert!(alerts.starts_with("row,p_malicious,reconstruction_error,malicious,top_features\n"));
    assert_eq!(
        alerts.lines().count() - 1,
        scores.malicious.iter().filter(|&&m| m).count()
    );
    assert!(!String::from_utf8_lossy(&done.stderr).contains("labels:"));

    // A stream: each verdict follows its line while standard input stays
    // open (seconds, not the promised milliseconds, so a busy machine
    // cannot fail it), and a closed output ends the command quietly.
    let data_lines: Vec<&str> = text.lines().skip(1).collect();
    let header = text.lines().next().unwrap();
    let mut child = nids()
        .args(["score", "--detector"])
        .arg(out.join("detector"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().take(2) {
            tx.send(line.unwrap()).unwrap();
        }
        // Dropping the pipe here closes the command's output.
    });
    writeln!(stdin, "{header}").unwrap();
    for (i, l) in data_lines.iter().take(2).enumerate() {
        writeln!(stdin, "{l}").unwrap();
        stdin.flush().unwrap();
        let got: serde_json::Value = serde_json::from_str(
            &rx.recv_timeout(std::time::Duration::from_secs(20))
                .expect("a verdict while the stream stays open"),
        )
        .unwrap();
        assert_eq!(got["row"], i);
        assert_eq!(got["malicious"], scores.malicious[i]);
    }
    reader.join().unwrap();
    // More flows into a closed output: the command stops, quietly.
    for l in data_lines.iter().skip(2).take(200) {
        if writeln!(stdin, "{l}").is_err() {
            break;
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // The same flows as Parquet and as Arrow IPC give the same verdicts.
    for ext in ["parquet", "arrow"] {
        let table = dir.path().join(format!("test.{ext}"));
        if ext == "parquet" {
            frame.write_parquet(&table).unwrap();
        } else {
            frame.write_ipc(&table).unwrap();
        }
        let run = succeeded(
            nids()
                .args(["score", "--detector"])
                .arg(out.join("detector"))
                .arg(&table),
        );
        let flags: Vec<bool> = String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["malicious"] == true)
            .collect();
        assert_eq!(flags, scores.malicious, "{ext}");
    }

    // Parquet output: the same verdicts, read back column by column.
    let pq = dir.path().join("scores.parquet");
    succeeded(
        nids()
            .args(["score", "--output"])
            .arg(&pq)
            .arg("--detector")
            .arg(out.join("detector"))
            .arg(&test_csv),
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut flags = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        assert!(batch.column_by_name("label").is_some());
        let m = batch
            .column_by_name("malicious")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::BooleanArray>()
            .unwrap()
            .clone();
        flags.extend(m.iter().map(|v| v.unwrap()));
    }
    assert_eq!(flags, scores.malicious);

    // Every input row is scored: a duplicate too.
    let dup = dir.path().join("dup.csv");
    std::fs::write(
        &dup,
        format!("{header}\n{}\n{}\n", data_lines[0], data_lines[0]),
    )
    .unwrap();
    let twice = nids()
        .args(["score", "--detector"])
        .arg(out.join("detector"))
        .arg(&dup)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&twice.stdout).lines().count(), 2);

    // Summary: what flow_summary printed.
    let summary = nids()
        .args(["summary", "--json"])
        .arg(&test_csv)
        .output()
        .unwrap();
    assert!(summary.status.success());
    let v: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(v["rows_after_cleaning"], report.data.test);

    // Inspect names the parts and the operating points.
    let inspect = nids()
        .arg("inspect")
        .arg(out.join("detector"))
        .output()
        .unwrap();
    let text = String::from_utf8(inspect.stdout).unwrap();
    assert!(inspect.status.success());
    for word in ["verdict", "argmax", "best-f1", "fpr<=1%", "verdict_f1"] {
        assert!(text.contains(word), "{word}: {text}");
    }
}

#[test]
fn a_damaged_detector_is_a_clear_error_and_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = trained(dir.path());
    let good = out.join("detector");
    let case = |name: &str, damage: &dyn Fn(&Path)| {
        let d = dir.path().join(name);
        copy_dir(&good, &d);
        damage(&d);
        Detector::load(&d).unwrap_err().to_string()
    };
    let err = case("no-manifest", &|d| {
        std::fs::remove_file(d.join("detector.json")).unwrap()
    });
    assert!(err.contains("detector.json"), "{err}");
    let edit = |d: &Path, f: &dyn Fn(&mut serde_json::Value)| {
        let p = d.join("detector.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, v.to_string()).unwrap();
    };
    let err = case("version", &|d| {
        edit(d, &|v| v["format_version"] = 99.into())
    });
    assert!(err.contains("format version 99"), "{err}");
    let err = case("point", &|d| {
        edit(d, &|v| v["default_operating_point"] = "x".into())
    });
    assert!(
        err.contains("operating_point") && err.contains("verdict"),
        "{err}"
    );
    let err = case("truncated", &|d| {
        let p = d.join("encoder/model.safetensors");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(err.contains("model.safetensors"), "{err}");
    let err = case("scaler", &|d| {
        let p = d.join("policy/latent_scaler.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["mean"].as_array_mut().unwrap().pop();
        std::fs::write(&p, v.to_string()).unwrap();
    });
    assert!(err.contains("scaler"), "{err}");
    let err = case("schema", &|d| {
        std::fs::write(d.join("schema.json"), "{").unwrap()
    });
    assert!(err.contains("schema.json"), "{err}");
    let err = case("huge", &|d| {
        let f = std::fs::File::create(d.join("detector.json")).unwrap();
        f.set_len(1 << 30).unwrap();
    });
    assert!(err.contains("more than a detector file can hold"), "{err}");

    // The command line: bad arguments and inputs exit non-zero with a message.
    let nids = |args: &[&str]| {
        let o = nids().args(args).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let d = good.to_str().unwrap();
    let (ok, err) = nids(&["score", "--detector", "/nonexistent/detector", "x.csv"]);
    assert!(!ok && err.contains("detector.json"), "{err}");
    let (ok, err) = nids(&[
        "score",
        "--detector",
        d,
        "--operating-point",
        "loud",
        "x.csv",
    ]);
    assert!(!ok && err.contains("loud"), "{err}");
    let zeek = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/zeek/conn.log");
    if zeek.is_file() {
        let (ok, err) = nids(&["score", "--detector", d, zeek.to_str().unwrap()]);
        assert!(
            !ok && err.contains("Zeek") && err.contains("CICFlowMeter"),
            "{err}"
        );
    }
    let eve = dir.path().join("eve.json");
    std::fs::write(&eve, "{\"timestamp\":\"x\",\"event_type\":\"flow\"}\n").unwrap();
    let (ok, err) = nids(&["score", "--detector", d, eve.to_str().unwrap()]);
    assert!(!ok && err.contains("Suricata"), "{err}");
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, "Flow Duration,Label\n5,BENIGN\n").unwrap();
    let (ok, err) = nids(&["score", "--detector", d, partial.to_str().unwrap()]);
    assert!(
        !ok && err.contains("--fill-missing") && err.contains("Total Fwd Packets"),
        "{err}"
    );
    let (ok, err) = nids(&[
        "score",
        "--detector",
        d,
        "--output",
        "x.xlsx",
        partial.to_str().unwrap(),
        "--fill-missing",
        "0",
    ]);
    assert!(!ok && err.contains(".xlsx"), "{err}");
    let (ok, err) = nids(&["summary", "--alignment", "loose", "x.csv"]);
    assert!(!ok && err.contains("alignment"), "{err}");
    let (ok, _) = nids(&["inspect"]);
    assert!(!ok);
    let (ok, _) = nids(&["frobnicate"]);
    assert!(!ok);
}

#[test]
fn nids_adapt_lowers_false_alarms_on_benign_flows_of_another_capture() {
    let (Some(improved), Some(original)) = (
        flowdata::testdata::shared_data_path("cicids2017-improved"),
        flowdata::testdata::shared_data_path("cicids2017-original"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut c = PipelineConfig::quick(&out);
    c.data.paths = vec![improved];
    c.autoencoders.trainer.epochs = 4;
    c.ppo.timesteps = nids::Timesteps::Fixed(65_536);
    c.ppo.n_envs = PipelineConfig::default().ppo.n_envs;
    c.ppo.eval_episodes = PipelineConfig::default().ppo.eval_episodes;
    nids::run(&c).unwrap();
    let adapted = dir.path().join("adapted");
    let adapt = || {
        nids()
            .args(["adapt", "--detector"])
            .arg(out.join("detector"))
            .arg("--benign")
            .arg(&original)
            .arg("--out")
            .arg(&adapted)
            .output()
            .unwrap()
    };
    let run = adapt();
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let d = Detector::load(&adapted).unwrap();
    let a = &d.manifest().adaptations[0];
    println!("{stdout}");
    assert!(
        a.fpr_before > 0.0,
        "the new capture raises false alarms: {a:?}"
    );
    assert!(a.fpr_after < a.fpr_before, "{a:?}");
    assert!(a.fpr_after <= 0.02, "{a:?}");
    assert!(stdout.contains("false-positive rate went from"));
    // The adapted detector never lowers a threshold of the verdict.
    let before = Detector::load(out.join("detector")).unwrap();
    let (old, new) = (
        before.manifest().operating_point("verdict").unwrap(),
        d.manifest().operating_point("verdict").unwrap(),
    );
    assert!(
        new.policy_margin.unwrap_or(f64::INFINITY) >= old.policy_margin.unwrap_or(f64::INFINITY)
    );
    // Writing over an existing directory is refused.
    let again = adapt();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
}

/// Runs `nids score` on `inputs` (standard input when `stdin` is given)
/// and returns its output and standard error.
fn score_command(
    detector: &Path,
    extra: &[&std::ffi::OsStr],
    stdin: Option<&str>,
) -> (String, String) {
    use std::io::Write;
    let mut child = nids()
        .args(["score", "--detector"])
        .arg(detector)
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(done.stderr).unwrap();
    assert!(done.status.success(), "{stderr}");
    (String::from_utf8(done.stdout).unwrap(), stderr)
}

#[test]
fn nids_score_passes_identifiers_through_and_numbers_rows_by_input_position() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = trained(dir.path());
    let detector_dir = out.join("detector");
    let detector = Detector::load(&detector_dir).unwrap();
    let test_csv = out.join("splits/test.csv");
    let (frame, _) = flowdata::read_flows(
        &[&test_csv],
        &flowdata::ReadOptions::with_schema(detector.schema().clone()),
    )
    .unwrap();
    let scores = detector.score_frame(&frame).unwrap();

    // The test split's first 30 flows as the original CIC-IDS2017 release
    // writes them: identifier columns first, every header but the first
    // with a leading space. Row 10 holds Infinity, row 20 a cell that is
    // not a number: both are skipped, and the rows after keep their
    // input position.
    let text = std::fs::read_to_string(&test_csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let n = 30usize;
    let (bad_value, bad_cell) = (10usize, 20usize);
    let identifiers = |i: usize| {
        [
            format!("192.168.10.{i}-8.8.8.8-{}-53-17", 40_000 + i),
            format!("192.168.10.{i}"),
            (40_000 + i).to_string(),
            "8.8.8.8".to_string(),
            "053".to_string(),
            "17".to_string(),
            format!("07/07/2017 03:30:{i:02}"),
        ]
    };
    let mut csv = String::from(
        "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp",
    );
    for h in header.split(',') {
        csv.push_str(", ");
        csv.push_str(h);
    }
    csv.push('\n');
    for (i, line) in lines.take(n).enumerate() {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        if i == bad_value {
            cells[1] = "Infinity".into();
        }
        if i == bad_cell {
            cells[2] = "oops".into();
        }
        csv.push_str(&identifiers(i).join(","));
        csv.push(',');
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    let input = dir.path().join("flows.csv");
    std::fs::write(&input, &csv).unwrap();
    // The identifier columns but `id`, which the input lacks.
    let names = &flowdata::IDENTIFIER_COLUMNS[..7];
    let kept: Vec<usize> = (0..n)
        .filter(|&i| i != bad_value && i != bad_cell)
        .collect();

    // JSON lines: the identifiers verbatim and first, in their order, and
    // each verdict the one of its input row.
    let check_json = |stdout: &str, first_row: usize| {
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), kept.len(), "{stdout}");
        for (line, &i) in lines.iter().zip(&kept) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["row"], first_row + i, "{line}");
            for (name, value) in names.iter().zip(identifiers(i)) {
                assert_eq!(v[name], value.as_str(), "{name}: {line}");
            }
            let p = v["p_malicious"].as_f64().unwrap();
            assert!((p - scores.p_malicious(i)).abs() < 1e-6, "{line}");
            assert_eq!(v["label"], frame.raw_label(i));
            let at = |key: &str| line.find(&format!("\"{key}\":")).unwrap();
            let order: Vec<usize> = names
                .iter()
                .copied()
                .chain(["row", "p_malicious", "malicious", "top_features", "label"])
                .map(at)
                .collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{line}");
        }
    };
    let (stdout, stderr) = score_command(&detector_dir, &[input.as_os_str()], None);
    check_json(&stdout, 0);
    assert!(
        stderr.contains("flows.csv: 2 of 30 rows were not scored")
            && stderr.contains(&format!("line {} (row {bad_value})", bad_value + 2))
            && stderr.contains(&format!("line {} (row {bad_cell})", bad_cell + 2)),
        "{stderr}"
    );

    // Standard input, in micro-batches: the same records; lines are
    // standard input's.
    let (stdout, stderr) = score_command(&detector_dir, &[], Some(&csv));
    check_json(&stdout, 0);
    assert!(
        stderr.contains("standard input")
            && stderr.contains(&format!("line {} (row {bad_cell})", bad_cell + 2)),
        "{stderr}"
    );

    // Inputs are numbered as concatenated in the order given; a Parquet
    // input without identifiers writes none.
    let table = dir.path().join("five.parquet");
    frame
        .select_rows(&[0, 1, 2, 3, 4])
        .write_parquet(&table)
        .unwrap();
    let (stdout, _) = score_command(
        &detector_dir,
        &[table.as_os_str(), input.as_os_str(), input.as_os_str()],
        None,
    );
    let records: Vec<&str> = stdout.lines().collect();
    assert_eq!(records.len(), 5 + 2 * kept.len());
    for (k, line) in records[..5].iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["row"], k);
        assert!(v.get("Flow ID").is_none(), "{line}");
    }
    check_json(&records[5..5 + kept.len()].join("\n"), 5);
    check_json(&records[5 + kept.len()..].join("\n"), 5 + n);

    // CSV: the identifier columns first, under their canonical names.
    let csv_out = dir.path().join("scores.csv");
    score_command(
        &detector_dir,
        &["--output".as_ref(), csv_out.as_os_str(), input.as_os_str()],
        None,
    );
    let written = std::fs::read_to_string(&csv_out).unwrap();
    let mut rows = written.lines();
    assert_eq!(
        rows.next().unwrap(),
        format!(
            "{},row,p_malicious,reconstruction_error,malicious,top_features,label",
            names.join(",")
        )
    );
    let rows: Vec<Vec<String>> = rows
        .map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_string())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), kept.len());
    for (row, &i) in rows.iter().zip(&kept) {
        assert_eq!(row[..names.len()], identifiers(i), "{row:?}");
        assert_eq!(row[names.len()], i.to_string(), "{row:?}");
        assert_eq!(row.last().unwrap(), frame.raw_label(i));
    }

    // Parquet: the same columns, read back.
    let pq = dir.path().join("scores.parquet");
    score_command(
        &detector_dir,
        &["--output".as_ref(), pq.as_os_str(), input.as_os_str()],
        None,
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&pq).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<arrow::record_batch::RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let columns: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(columns[..names.len()], *names);
    assert_eq!(columns[names.len()], "row");
    let row_numbers: Vec<u64> = batch
        .column_by_name("row")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(
        row_numbers,
        kept.iter().map(|&i| i as u64).collect::<Vec<_>>()
    );
    for (j, name) in names.iter().enumerate() {
        let values = batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::LargeStringArray>()
            .unwrap();
        for (k, &i) in kept.iter().enumerate() {
            assert_eq!(values.value(k), identifiers(i)[j], "{name}");
        }
    }
}
