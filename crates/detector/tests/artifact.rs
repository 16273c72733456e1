//! The artifact: saved, loaded and checked, on the untrained fixture.

use std::path::Path;

use detector::{Detector, fixture};

/// The manifest of `dir` as JSON, edited by `f` and written back.
fn edit_manifest(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("detector.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn a_saved_detector_loads_back_and_scores_alike() {
    let root = tempfile::tempdir().unwrap();
    let a = root.path().join("a");
    let d = fixture::untrained(&a, 3).unwrap();
    let flows = flowdata::synth::generate(&flowdata::synth::SynthConfig {
        rows: 300,
        seed: 9,
        ..Default::default()
    });
    let scores = d.score_frame(&flows).unwrap();
    assert_eq!(scores.margin.len(), 300);
    assert_eq!(
        scores.top_features.dim(),
        (300, detector::score::TOP_FEATURES)
    );
    // save_new writes a whole new directory and refuses an existing one.
    let b = root.path().join("b");
    d.save_new(&b).unwrap();
    let again = Detector::load(&b).unwrap();
    assert_eq!(again.score_frame(&flows).unwrap(), scores);
    assert!(d.save_new(&b).unwrap_err().to_string().contains("exists"));
    let names: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary left: {names:?}");
    // One flow scores as it does in a batch (to rounding: the matrix
    // products of one row and of many sum in another order).
    let names = d.schema().feature_names();
    let row = flows.select_features(&names).unwrap();
    let one = d.score_one(&row.features().row(4).to_vec()).unwrap();
    assert!((one.p_malicious - scores.p_malicious(4)).abs() < 1e-6);
    assert!((one.reconstruction_error - scores.novelty[4]).abs() < 1e-6 * scores.novelty[4]);
    assert_eq!(one.top_features.len(), detector::score::TOP_FEATURES);
    assert!(
        d.describe(&a)
            .contains("operating points (default: verdict)")
    );
}

#[test]
fn every_damaged_part_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good");
    fixture::untrained(&good, 1).unwrap();
    let case = |name: &str, damage: &dyn Fn(&Path)| {
        let d = root.path().join(name);
        Detector::load(&good).unwrap().save_new(&d).unwrap();
        damage(&d);
        Detector::load(&d).unwrap_err().to_string()
    };
    let err = case("threshold", &|d| {
        edit_manifest(d, |v| v["novelty_threshold"]["value"] = (-1.0).into())
    });
    assert!(
        err.contains("detector.json") && err.contains("threshold is -1"),
        "{err}"
    );
    let err = case("scale", &|d| {
        edit_manifest(d, |v| {
            v["novelty_error_scale"]["per_feature"]
                .as_array_mut()
                .unwrap()
                .pop();
        })
    });
    assert!(err.contains("novelty_error_scale"), "{err}");
    let err = case("nan", &|d| {
        edit_manifest(d, |v| {
            v["operating_points"][0]["policy_margin"] = "NaN".into()
        })
    });
    assert!(err.contains("detector.json"), "{err}");
    let err = case("version", &|d| {
        edit_manifest(d, |v| v["format_version"] = 1.into())
    });
    assert!(err.contains("format version 1"), "{err}");
    let err = case("bounds", &|d| {
        let p = d.join("bounds.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["features"].as_array_mut().unwrap().pop();
        std::fs::write(&p, v.to_string()).unwrap();
    });
    assert!(err.contains("bounds"), "{err}");
    let err = case("point", &|d| {
        edit_manifest(d, |v| v["default_operating_point"] = "loud".into())
    });
    assert!(
        err.contains("loud") && err.contains("verdict, argmax"),
        "{err}"
    );
}
