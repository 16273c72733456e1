//! The whole pipeline on a small generated set: every stage runs, the
//! report holds the promised fields, the files are written; bad settings
//! and unreadable inputs are errors, never panics.

use std::path::Path;

use autoencoders::ModelKind;
use nids::PipelineConfig;
use serde_json::Value;

fn tiny(out: &Path) -> PipelineConfig {
    let mut c = PipelineConfig::quick(out);
    c.data.synthetic.rows = 2_500;
    c.autoencoders.kinds = vec![ModelKind::FeedForward, ModelKind::Conv1d];
    c.autoencoders.trainer.epochs = 2;
    c.ppo.eval_episodes = 2;
    c.plots = true;
    c
}

fn num(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = &cur[key];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {cur}"))
}

fn check_row(row: &Value) {
    for key in "threshold tp fp tn fn precision recall f1 fpr".split(' ') {
        assert!(row[key].is_number(), "missing {key} in {row}");
    }
    for key in ["precision", "recall", "f1", "fpr"] {
        let x = row[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{key} = {x}");
    }
}

#[test]
fn tiny_run_writes_report_models_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut config = tiny(&out);
    // A shifted benign capture: generated with another seed and a wider spread.
    let shift = dir.path().join("shift.csv");
    flowdata::synth::write_csv(
        &flowdata::synth::SynthConfig {
            rows: 800,
            seed: 99,
            attack_fraction: 0.0,
            spread: 1.5,
            ..Default::default()
        },
        &shift,
    )
    .unwrap();
    config.generalization.shift_benign = vec![shift];
    config.generalization.finetune_fraction = Some(0.3);
    let report = nids::run(&config).unwrap();

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // Data section: counts add up.
    let d = &json["data"];
    assert!(num(&json, "data.rows_read") >= num(&json, "data.rows_after_cleaning"));
    let dropped: f64 = d["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(
        num(&json, "data.rows_read") - dropped,
        num(&json, "data.rows_after_cleaning")
    );
    assert!(d["dropped"]["duplicate"].as_f64().unwrap() > 0.0);
    assert_eq!(
        num(&json, "data.train") + num(&json, "data.validation") + num(&json, "data.test"),
        num(&json, "data.rows_after_cleaning")
    );

    // Autoencoders.
    let aes = json["autoencoders"].as_array().unwrap();
    assert_eq!(aes.len(), 2);
    for (a, kind) in aes.iter().zip(["ff", "conv"]) {
        assert_eq!(a["kind"], kind);
        for key in [
            "val_loss",
            "roc_auc",
            "average_precision",
            "threshold",
            "precision",
            "recall",
            "f1",
        ] {
            assert!(a[key].is_number(), "missing {key}");
        }
        assert!(a["val_loss"].as_f64().unwrap() > 0.0);
        assert!(
            out.join("models")
                .join(kind)
                .join("model.safetensors")
                .is_file()
        );
        assert!(out.join("models").join(kind).join("model.json").is_file());
        assert!(
            out.join("models")
                .join(format!("ppo_{kind}"))
                .join("config.json")
                .is_file()
        );
    }
    let selected = json["ppo"]["autoencoder"].as_str().unwrap();
    assert!(
        json.get("selected_autoencoder").is_none(),
        "said once, in ppo"
    );
    assert!(["ff", "conv"].contains(&selected));

    // PPO.
    let p = &json["ppo"];
    assert!(num(&json, "ppo.timesteps") >= 2048.0);
    assert!(num(&json, "ppo.steps_per_second") > 0.0);
    check_row(&p["argmax"]);
    let rows = p["thresholds"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for (r, t) in rows.iter().zip([0.25, 0.30, 0.35]) {
        check_row(r);
        assert_eq!(r["threshold"].as_f64().unwrap(), t);
    }
    check_row(&p["best_f1"]["test"]);
    // The false-alarm budget holds on the validation flows it was chosen on.
    let budget = &p["fpr_budget"];
    check_row(&budget["test"]);
    assert_eq!(num(&json, "ppo.fpr_budget.budget"), 0.01);
    assert!(num(&json, "ppo.fpr_budget.validation_fpr") <= 0.01);
    assert_eq!(
        budget["threshold"].as_f64(),
        budget["test"]["threshold"].as_f64()
    );
    let auc = num(&json, "ppo.roc_auc");
    assert!((0.0..=1.0).contains(&auc));
    assert!((0.0..=1.0).contains(&num(&json, "ppo.average_precision")));
    let test_rows = num(&json, "data.test") as u64;
    let a = &p["argmax"];
    let total: u64 = ["tp", "fp", "tn", "fn"]
        .iter()
        .map(|k| a[k].as_u64().unwrap())
        .sum();
    assert_eq!(total, test_rows);
    let er = &p["episode_reward"];
    assert_eq!(er["episodes"], 2);
    assert!(er["mean"].as_f64().unwrap() <= er["possible"].as_f64().unwrap());

    // Per-family recall covers the test split's attack families.
    assert!(json.get("per_family_recall").is_none(), "said once, in ppo");
    let fams = p["per_family_recall"].as_object().unwrap();
    let test_fams = d["test_families"].as_object().unwrap();
    assert!(!fams.is_empty());
    for (f, v) in fams {
        assert_eq!(v["support"], test_fams[f]);
    }
    assert!(!fams.contains_key("Benign"));

    // Novelty detectors: the PCA baseline beside the autoencoders.
    let pca = &json["novelty_baselines"][0];
    assert_eq!(pca["name"], "pca32");
    for a in aes.iter().chain([pca]) {
        let pauc = a["partial_roc_auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&pauc), "{pauc}");
        assert_eq!(a["scoring"], "standardised");
    }

    // The verdict: policy OR novelty, its counts over the test split.
    let v = &json["verdict"];
    assert_eq!(v["rule"], "policy OR novelty");
    assert!(["ff", "conv"].contains(&v["novelty_detector"].as_str().unwrap()));
    for key in [
        "novelty_threshold",
        "policy_margin_threshold",
        "policy_probability_threshold",
    ] {
        assert!(v[key].is_number(), "{key}");
    }
    let vt: u64 = ["tp", "fp", "tn", "fn"]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .sum();
    assert_eq!(vt, test_rows);
    assert!(num(&json, "verdict.validation_fpr") <= 0.01);
    for (f, r) in v["per_family_recall"].as_object().unwrap() {
        assert_eq!(r["support"], test_fams[f]);
    }
    // The union flags at least what the policy flags at the same threshold.
    assert!(v["policy_alone"]["recall"].is_number());
    assert!(v["novelty_alone"]["per_family_recall"].is_object());
    assert!(
        report
            .summary_table()
            .contains("verdict: policy OR novelty")
    );

    // Generalization.
    let g = &json["generalization"][0];
    assert!(g["source"].as_str().unwrap().ends_with("shift.csv"));
    for key in ["fpr_detector", "fpr_policy", "fpr_verdict"] {
        assert!((0.0..=1.0).contains(&g[key].as_f64().unwrap()));
    }
    assert!(
        g["out_of_range"]["share"].as_f64().unwrap() > 0.0,
        "a wider spread leaves the range"
    );
    let ft = &g["fpr_after_finetune"];
    for key in [
        "fpr_before",
        "fpr_after",
        "novelty_fpr_before",
        "novelty_fpr_after",
    ] {
        assert!((0.0..=1.0).contains(&ft[key].as_f64().unwrap()), "{key}");
    }
    assert!(ft["tune_rows"].as_u64().unwrap() > 0);
    let drift = g["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 10);
    let ks: Vec<f64> = drift.iter().map(|r| r["ks"].as_f64().unwrap()).collect();
    assert!(ks.windows(2).all(|w| w[0] >= w[1]), "sorted by KS: {ks:?}");
    assert!(ks[0] > 0.0);

    // Files.
    for f in ["report.md", "schema.json", "bounds.json"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for heading in [
        "## Data",
        "## Novelty detectors",
        "## Verdict",
        "## PPO",
        "## Generalization",
        "Recall per attack family",
    ] {
        assert!(md.contains(heading), "{heading}");
    }
    assert_eq!(report.plots.len(), json["plots"].as_array().unwrap().len());
    for name in [
        "ae_loss_ff",
        "ae_errors_conv",
        "roc",
        "pr",
        "confusion_policy_argmax",
        "ppo_learning_curve",
    ] {
        let path = out.join(format!("plots/{name}.png"));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
        assert!(report.plots.contains(&format!("plots/{name}.png")));
    }
    assert!(report.summary_table().contains("argmax"));
}

#[test]
fn an_unseen_family_is_reported_with_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut config = tiny(&out);
    config.autoencoders.kinds = vec![ModelKind::FeedForward];
    config.plots = false;
    config.data.unseen_families = vec!["Bot".into()];
    let report = nids::run(&config).unwrap();
    let u = &report.unseen_families;
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].family, "Bot");
    assert_eq!(u[0].test_flows, report.data.test_families["Bot"]);
    assert!(u[0].test_flows > 0);
    assert_eq!(
        u[0].verdict_recall,
        report.verdict.test.per_family_recall["Bot"].recall
    );
    assert_eq!(u[0].verdict_fpr, report.verdict.test.rates.fpr);
    // Each part's scores of Bot against the benign test flows, and those
    // of the ceiling and the trees, trained without Bot as well.
    for s in [
        u[0].policy_separation,
        u[0].novelty_separation,
        u[0].ceiling_separation,
        u[0].tree_separation,
    ] {
        let s = s.expect("the test split holds Bot and benign flows");
        assert!((0.0..=1.0).contains(&s.roc_auc), "{s:?}");
        assert!((0.0..=1.0).contains(&s.recall_at_test_budget), "{s:?}");
    }
    // Training and validation held no Bot flow.
    let attacks = |split: usize| report.data.attacks[split];
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["data"]["unseen_families"][0], "Bot");
    let row = &json["unseen_families"][0];
    for part in [
        "policy_separation",
        "novelty_separation",
        "ceiling_separation",
        "tree_separation",
    ] {
        for key in ["roc_auc", "recall_at_test_budget"] {
            assert!(row[part][key].is_number(), "{part}.{key}: {row}");
        }
    }
    assert!(attacks(2) >= u[0].test_flows);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Families never shown in training or validation"));
    assert!(md.contains("recall at 1 % test FPR"), "{md}");
    assert!(
        md.contains("| ceiling: the same | trees: the same |"),
        "{md}"
    );
    // An unknown family is an error listing those present.
    config.data.unseen_families = vec!["Worms".into()];
    config.overwrite = true;
    let err = nids::run(&config).unwrap_err().to_string();
    assert!(err.contains("Worms") && err.contains("Bot ("), "{err}");
}

#[test]
fn separate_test_capture_is_used_as_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let test_csv = dir.path().join("test.csv");
    flowdata::synth::write_csv(
        &flowdata::synth::SynthConfig {
            rows: 600,
            seed: 5,
            ..Default::default()
        },
        &test_csv,
    )
    .unwrap();
    let mut config = tiny(&dir.path().join("run"));
    config.autoencoders.kinds = vec![ModelKind::FeedForward];
    config.data.test_paths = vec![test_csv];
    config.plots = false;
    config.ppo.sampling = rlenv::Sampling::Shuffled;
    let report = nids::run(&config).unwrap();
    assert_eq!(report.ppo.sampling, rlenv::Sampling::Shuffled);
    assert!(
        report
            .data
            .test_source
            .as_deref()
            .unwrap()
            .ends_with("test.csv")
    );
    assert!(report.data.test > 500 && report.data.test <= 600);
    assert_eq!(
        report.data.train + report.data.validation,
        report.data.rows_after_cleaning as usize
    );
    assert!(report.plots.is_empty());
}

#[test]
fn bad_settings_and_inputs_are_errors_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = tiny(&dir.path().join("a"));
    c.ppo.thresholds = vec![1.5];
    assert!(nids::run(&c).unwrap_err().to_string().contains("1.5"));

    let mut c = tiny(&dir.path().join("b"));
    c.autoencoders.kinds.clear();
    assert!(nids::run(&c).is_err());

    let mut c = tiny(&dir.path().join("c"));
    c.data.paths = vec![dir.path().join("missing.csv")];
    let err = nids::run(&c).unwrap_err().to_string();
    assert!(err.contains("missing.csv"), "{err}");

    let garbage = dir.path().join("garbage.csv");
    std::fs::write(&garbage, "just,some\ntext,here\n").unwrap();
    let mut c = tiny(&dir.path().join("d"));
    c.data.paths = vec![garbage];
    assert!(nids::run(&c).is_err());

    let mut c = tiny(&dir.path().join("e"));
    c.generalization.finetune_fraction = Some(0.2);
    let err = nids::run(&c).unwrap_err().to_string();
    assert!(err.contains("shift-benign"), "{err}");

    assert!("lstm".parse::<ModelKind>().is_err());
}

#[test]
fn real_sample_runs_end_to_end_with_a_shifted_benign_capture() {
    let (Some(sample), Some(original)) = (
        flowdata::testdata::shared_data_path("cicids2017-sample/CICIDS2017_sample.csv"),
        flowdata::testdata::shared_data_path("cicids2017-original"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny(&dir.path().join("run"));
    config.autoencoders.kinds = vec![ModelKind::FeedForward];
    config.data.paths = vec![sample];
    config.generalization.shift_benign = vec![original];
    config.plots = false;
    let report = nids::run(&config).unwrap();
    // The sample lacks Destination Port: nothing categorical is left to drop.
    assert!(report.data.categorical_dropped.is_empty());
    assert!(report.data.rows_read > 6_000);
    assert!(
        report
            .ppo
            .evaluation
            .scores
            .per_family_recall
            .contains_key("WebAttack")
    );
    let g = &report.generalization[0];
    assert!(g.benign_rows > 9_000, "{}", g.benign_rows);
    assert!(g.drift.len() == 10 && g.mean_ks > 0.0);
}

/// The report without what depends on the clock or the output folder.
fn without_clock_and_paths(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !(k.contains("seconds") || k.contains("per_second") || *k == "timings")
                })
                .filter(|(_, v)| !v.as_str().is_some_and(|s| s.contains('/')))
                .map(|(k, v)| (k.clone(), without_clock_and_paths(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_clock_and_paths).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let reports: Vec<Value> = ["a", "b"]
        .iter()
        .map(|name| {
            let mut config = tiny(&dir.path().join(name));
            config.autoencoders.kinds =
                vec![ModelKind::FeedForward, ModelKind::Conv1d, ModelKind::Deep];
            config.plots = false;
            let report = nids::run(&config).unwrap();
            without_clock_and_paths(&serde_json::to_value(&report).unwrap())
        })
        .collect();
    assert_eq!(reports[0]["autoencoders"].as_array().unwrap().len(), 3);
    assert_eq!(reports[0], reports[1]);
}

/// The candle reference backend runs the default pipeline end to end (all
/// three autoencoders), and detects as well as the `dense` engine, from the
/// same weights, data and random draws.
#[test]
fn the_candle_backend_runs_the_pipeline_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: autoencoders::Backend, name: &str| {
        let mut c = tiny(&dir.path().join(name));
        c.autoencoders.kinds = ModelKind::ALL.to_vec();
        c.autoencoders.backend = backend;
        c.plots = false;
        nids::run(&c).unwrap()
    };
    let candle = run(autoencoders::Backend::Candle, "candle");
    let dense = run(autoencoders::Backend::Dense, "dense");
    assert_eq!(candle.autoencoders.len(), 3);
    for (c, d) in candle.autoencoders.iter().zip(&dense.autoencoders) {
        assert_eq!(c.kind, d.kind);
        assert!(
            c.detection.roc_auc > 0.5,
            "{}: {}",
            c.kind,
            c.detection.roc_auc
        );
        assert!(
            (c.detection.roc_auc - d.detection.roc_auc).abs() < 0.01,
            "{}: candle {} vs dense {}",
            c.kind,
            c.detection.roc_auc,
            d.detection.roc_auc
        );
        assert!((c.val_loss - d.val_loss).abs() < 1e-3 * d.val_loss.max(1.0));
    }
    // The models it saved load and score on the default backend.
    let model = autoencoders::Model::load(dir.path().join("candle/models/deep")).unwrap();
    assert_eq!(model.backend(), autoencoders::Backend::Dense);
}
