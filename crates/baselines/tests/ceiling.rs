//! The ceiling against the Bayes-optimal cost-sensitive rule on generated
//! overlapping classes, its determinism, early stopping and input checks.

mod common;

use baselines::{BaselineError, Ceiling, CeilingConfig, ClassWeights, weighted_logistic_loss};
use common::{Gaussians, assert_invalid, assert_non_finite, assert_shape, mean_regret, rates};
use ndarray::{Array2, array, s};

const DATA: Gaussians = Gaussians {
    d: 2,
    delta: 1.5,
    prior: 0.4,
};

fn fit(weights: ClassWeights, config: &CeilingConfig) -> Ceiling {
    let (xt, yt) = DATA.sample(6_000, 1);
    let (xv, yv) = DATA.sample(2_000, 2);
    Ceiling::fit(xt.view(), &yt, xv.view(), &yv, weights, config).unwrap()
}

/// Where the margin crosses 0 along the first axis (the second held at 0).
fn boundary(model: &Ceiling) -> f64 {
    let grid: Vec<f32> = (0..=600).map(|i| -2.0 + i as f32 * 0.01).collect();
    let x = Array2::from_shape_fn((grid.len(), 2), |(i, j)| if j == 0 { grid[i] } else { 0.0 });
    let m = model.margins(x.view()).unwrap();
    let i = m
        .iter()
        .position(|&v| v > 0.0)
        .expect("the margin crosses 0");
    grid[i] as f64
}

#[test]
fn decisions_come_close_to_the_bayes_optimal_rule() {
    let w = ClassWeights::default();
    let model = fit(w, &CeilingConfig::default());
    let t = DATA.bayes_threshold(w);
    let b = boundary(&model);
    assert!((b - t).abs() < 0.15, "boundary {b} vs Bayes {t}");

    let (x, y) = DATA.sample(40_000, 3);
    let flags = model.predict(x.view()).unwrap();
    let bayes: Vec<bool> = x.column(0).iter().map(|&v| v as f64 > t).collect();
    let (_, _, f1) = rates(&y, &flags);
    let (_, _, f1_bayes) = rates(&y, &bayes);
    let (regret, regret_bayes) = (mean_regret(&y, &flags, w), mean_regret(&y, &bayes, w));
    assert!((f1 - f1_bayes).abs() < 0.01, "F1 {f1} vs Bayes {f1_bayes}");
    assert!(
        regret < regret_bayes * 1.02,
        "regret {regret} vs Bayes {regret_bayes}"
    );
    // The probabilities carry the same decision at the weights' threshold.
    let p = model.probabilities(x.view()).unwrap();
    let m = model.margins(x.view()).unwrap();
    for (&p, &m) in p.iter().zip(&m) {
        if m.abs() > 1e-9 {
            assert_eq!(p > w.probability_threshold(), m > 0.0, "p {p}, margin {m}");
        }
    }
}

#[test]
fn a_heavier_attack_weight_moves_the_boundary_as_theory_says() {
    let config = CeilingConfig {
        hidden: vec![32, 32],
        ..CeilingConfig::default()
    };
    let light = ClassWeights::new(3.0, 1.0).unwrap();
    let heavy = ClassWeights::new(3.0, 12.0).unwrap();
    let (m_light, m_heavy) = (fit(light, &config), fit(heavy, &config));
    let (b_light, b_heavy) = (boundary(&m_light), boundary(&m_heavy));
    let (t_light, t_heavy) = (DATA.bayes_threshold(light), DATA.bayes_threshold(heavy));
    assert!((b_light - t_light).abs() < 0.2, "{b_light} vs {t_light}");
    assert!((b_heavy - t_heavy).abs() < 0.2, "{b_heavy} vs {t_heavy}");

    let (x, y) = DATA.sample(20_000, 4);
    let (r_light, fpr_light, _) = rates(&y, &m_light.predict(x.view()).unwrap());
    let (r_heavy, fpr_heavy, _) = rates(&y, &m_heavy.predict(x.view()).unwrap());
    assert!(r_heavy > r_light + 0.2, "recall {r_heavy} vs {r_light}");
    assert!(fpr_heavy > fpr_light, "FPR {fpr_heavy} vs {fpr_light}");
}

#[test]
fn the_same_seed_gives_bit_identical_margins() {
    let config = CeilingConfig {
        hidden: vec![16, 16],
        max_epochs: 8,
        ..CeilingConfig::default()
    };
    let w = ClassWeights::default();
    let (a, b) = (fit(w, &config), fit(w, &config));
    let other = fit(
        w,
        &CeilingConfig {
            seed: 1,
            ..config.clone()
        },
    );
    let (x, _) = DATA.sample(3_000, 5);
    let ma = a.margins(x.view()).unwrap();
    assert_eq!(
        ma.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.margins(x.view())
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    );
    assert_eq!(a.history(), b.history());
    assert_ne!(ma, other.margins(x.view()).unwrap());
    // A column-major view of the same rows gives the same margins.
    let xf = x.t().as_standard_layout().to_owned();
    assert_eq!(ma, a.margins(xf.t()).unwrap());
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let config = CeilingConfig {
        hidden: vec![16],
        patience: 2,
        max_epochs: 60,
        learning_rate: 3e-2,
        ..CeilingConfig::default()
    };
    let w = ClassWeights::default();
    let model = fit(w, &config);
    let h = model.history();
    let best = model.best_epoch();
    assert!(
        h.len() < config.max_epochs,
        "stopped after {} epochs",
        h.len()
    );
    assert_eq!(h.len(), best + config.patience);
    let min = h
        .iter()
        .map(|r| r.validation_loss)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(h[best - 1].validation_loss, min);
    // The kept weights are those of the best epoch: the validation loss
    // recomputed from the model equals the recorded one.
    let (xv, yv) = DATA.sample(2_000, 2);
    let z: Vec<f32> = model
        .margins(xv.view())
        .unwrap()
        .iter()
        .map(|&m| m as f32)
        .collect();
    let norm: f64 = yv.iter().map(|&a| w.of(a)).sum();
    let loss = weighted_logistic_loss(&z, &yv, w, norm, None).unwrap();
    assert!((loss - min).abs() < 1e-12, "{loss} vs {min}");
}

#[test]
fn bad_configs_and_inputs_are_errors_naming_the_problem() {
    let x = array![[0.0f32, 1.0], [1.0, 0.0], [0.5, 0.5]];
    let y = [false, true, true];
    let w = ClassWeights::default();
    let ok = CeilingConfig {
        hidden: vec![4],
        max_epochs: 2,
        ..CeilingConfig::default()
    };
    let config_error =
        |c: &CeilingConfig| Ceiling::fit(x.view(), &y, x.view(), &y, w, c).unwrap_err();
    for (config, field, value) in [
        (
            CeilingConfig {
                hidden: vec![],
                ..ok.clone()
            },
            "hidden",
            "[]",
        ),
        (
            CeilingConfig {
                hidden: vec![8, 0],
                ..ok.clone()
            },
            "hidden",
            "[8, 0]",
        ),
        (
            CeilingConfig {
                learning_rate: -1.0,
                ..ok.clone()
            },
            "learning_rate",
            "-1",
        ),
        (
            CeilingConfig {
                adam_eps: f32::NAN,
                ..ok.clone()
            },
            "adam_eps",
            "NaN",
        ),
        (
            CeilingConfig {
                batch_size: 0,
                ..ok.clone()
            },
            "batch_size",
            "0",
        ),
        (
            CeilingConfig {
                max_epochs: 0,
                ..ok.clone()
            },
            "max_epochs",
            "0",
        ),
        (
            CeilingConfig {
                patience: 0,
                ..ok.clone()
            },
            "patience",
            "0",
        ),
        (
            CeilingConfig {
                min_delta: -0.5,
                ..ok.clone()
            },
            "min_delta",
            "-0.5",
        ),
    ] {
        let err = config_error(&config);
        assert_invalid(err, field, value);
    }
    let err = Ceiling::fit(x.view(), &y[..2], x.view(), &y, w, &ok).unwrap_err();
    assert_shape(err, 3, 2, "training labels");
    let narrow = x.slice(s![.., ..1]);
    let err = Ceiling::fit(x.view(), &y, narrow, &y, w, &ok).unwrap_err();
    assert_shape(err, 2, 1, "validation features");
    let mut bad = x.clone();
    bad[[2, 1]] = f32::INFINITY;
    let err = Ceiling::fit(bad.view(), &y, x.view(), &y, w, &ok).unwrap_err();
    assert_non_finite(err, 2, 1);
    let err = Ceiling::fit(x.view(), &[true; 3], x.view(), &y, w, &ok).unwrap_err();
    assert!(err.to_string().contains("both classes"), "{err}");
    let empty = Array2::<f32>::zeros((0, 2));
    let err = Ceiling::fit(x.view(), &y, empty.view(), &[], w, &ok).unwrap_err();
    assert!(err.to_string().contains("validation features"), "{err}");

    let model = Ceiling::fit(x.view(), &y, x.view(), &y, w, &ok).unwrap();
    let err = model.margins(narrow).unwrap_err();
    assert_shape(err, 2, 1, "");
    let err = model.probabilities(bad.view()).unwrap_err();
    assert!(err.to_string().contains("inf"), "{err}");
    assert_non_finite(err, 2, 1);
    assert!(model.margins(empty.view()).unwrap().is_empty());
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Ceiling>();
    check::<CeilingConfig>();
    check::<ClassWeights>();
    check::<BaselineError>();
    check::<baselines::TreeBaseline>();
    check::<baselines::TreeConfig>();
}
