//! The tree baseline on problems with known answers, its determinism and
//! input checks.

mod common;

use baselines::{ClassWeights, TreeBaseline, TreeConfig};
use common::{Gaussians, assert_invalid, assert_non_finite, assert_shape, rates};
use ndarray::{Array2, array, s};

/// Attacks exactly where `x0 + x1 > 1` (a threshold no single axis-aligned
/// split finds), with a distractor column.
fn separable(n: usize, seed: u64) -> (Array2<f32>, Vec<bool>) {
    let (x, _) = Gaussians {
        d: 3,
        delta: 0.0,
        prior: 0.5,
    }
    .sample(n, seed);
    let y = x.rows().into_iter().map(|r| r[0] + r[1] > 1.0).collect();
    (x, y)
}

#[test]
fn learns_a_separable_problem() {
    let (xt, yt) = separable(4_000, 1);
    let (xv, yv) = separable(1_000, 2);
    let (xe, ye) = separable(4_000, 3);
    let model = TreeBaseline::fit(
        xt.view(),
        &yt,
        xv.view(),
        &yv,
        ClassWeights::default(),
        &TreeConfig::default(),
    )
    .unwrap();
    assert!(
        model.n_trees() > 1 && model.n_trees() <= 500,
        "{} trees",
        model.n_trees()
    );
    let (recall, fpr, f1) = rates(&ye, &model.predict(xe.view()).unwrap());
    assert!(
        f1 > 0.97 && recall > 0.97 && fpr < 0.03,
        "recall {recall} FPR {fpr} F1 {f1}"
    );
    // Margins: rows far inside each class score far from 0.
    let far = array![[3.0f32, 3.0, 0.0], [-3.0, -3.0, 0.0]];
    let m = model.scores(far.view()).unwrap();
    assert!(m[0] > 2.0 && m[1] < -2.0, "{m:?}");
}

#[test]
fn the_same_seed_gives_the_same_scores_and_weights_move_the_decision() {
    let data = Gaussians {
        d: 2,
        delta: 1.5,
        prior: 0.4,
    };
    let (xt, yt) = data.sample(6_000, 1);
    let (xv, yv) = data.sample(2_000, 2);
    let (xe, ye) = data.sample(10_000, 3);
    let config = TreeConfig {
        max_depth: 3,
        ..TreeConfig::default()
    };
    let fit = |w| TreeBaseline::fit(xt.view(), &yt, xv.view(), &yv, w, &config).unwrap();
    let (a, b) = (fit(ClassWeights::default()), fit(ClassWeights::default()));
    let sa = a.scores(xe.view()).unwrap();
    assert_eq!(
        sa.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.scores(xe.view())
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    );
    assert_eq!(a.n_trees(), b.n_trees());
    // A heavier attack weight flags more: higher recall, higher FPR.
    let light = fit(ClassWeights::new(3.0, 1.0).unwrap());
    let (r_light, fpr_light, _) = rates(&ye, &light.predict(xe.view()).unwrap());
    let (r_heavy, fpr_heavy, _) = rates(&ye, &a.predict(xe.view()).unwrap());
    assert!(r_heavy > r_light + 0.1, "recall {r_heavy} vs {r_light}");
    assert!(fpr_heavy > fpr_light, "FPR {fpr_heavy} vs {fpr_light}");
    // Close to the Bayes-optimal rule for the default weights.
    let t = data.bayes_threshold(ClassWeights::default());
    let bayes: Vec<bool> = xe.column(0).iter().map(|&v| v as f64 > t).collect();
    let (_, _, f1_bayes) = rates(&ye, &bayes);
    let (_, _, f1) = rates(&ye, &a.predict(xe.view()).unwrap());
    assert!((f1 - f1_bayes).abs() < 0.02, "F1 {f1} vs Bayes {f1_bayes}");
}

#[test]
fn bad_configs_and_inputs_are_errors_naming_the_problem() {
    let x = array![[0.0f32, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]];
    let y = [false, true, true, false];
    let w = ClassWeights::default();
    let ok = TreeConfig {
        max_trees: 3,
        ..TreeConfig::default()
    };
    for (config, field, value) in [
        (
            TreeConfig {
                max_trees: 0,
                ..ok.clone()
            },
            "max_trees",
            "0",
        ),
        (
            TreeConfig {
                max_depth: 0,
                ..ok.clone()
            },
            "max_depth",
            "0",
        ),
        (
            TreeConfig {
                patience: 0,
                ..ok.clone()
            },
            "patience",
            "0",
        ),
        (
            TreeConfig {
                learning_rate: 1.5,
                ..ok.clone()
            },
            "learning_rate",
            "1.5",
        ),
        (
            TreeConfig {
                l2: -1.0,
                ..ok.clone()
            },
            "l2",
            "-1",
        ),
        (
            TreeConfig {
                min_leaf_weight: f32::NAN,
                ..ok.clone()
            },
            "min_leaf_weight",
            "NaN",
        ),
        (
            TreeConfig {
                bins: 1,
                ..ok.clone()
            },
            "bins",
            "1",
        ),
    ] {
        let err = TreeBaseline::fit(x.view(), &y, x.view(), &y, w, &config).unwrap_err();
        assert_invalid(err, field, value);
    }
    let err = TreeBaseline::fit(x.view(), &y, x.view(), &y[..3], w, &ok).unwrap_err();
    assert_shape(err, 4, 3, "validation labels");
    let mut bad = x.clone();
    bad[[1, 0]] = f32::NAN;
    let err = TreeBaseline::fit(x.view(), &y, bad.view(), &y, w, &ok).unwrap_err();
    assert_non_finite(err, 1, 0);
    let err = TreeBaseline::fit(x.view(), &[false; 4], x.view(), &y, w, &ok).unwrap_err();
    assert!(err.to_string().contains("benign"), "{err}");

    let model = TreeBaseline::fit(x.view(), &y, x.view(), &y, w, &ok).unwrap();
    let err = model.scores(x.slice(s![.., ..1])).unwrap_err();
    assert_shape(err, 2, 1, "");
    assert!(
        model
            .scores(Array2::zeros((0, 2)).view())
            .unwrap()
            .is_empty()
    );
}
