//! Space: validation, membership, seeded sampling, serialisation.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rlenv::{RlEnvError, Space};

#[test]
fn discrete_membership() {
    let space = Space::discrete(3).unwrap();
    assert!(space.contains_discrete(0) && space.contains_discrete(2));
    assert!(!space.contains_discrete(3));
    assert!(space.contains(&[2.0]));
    assert!(!space.contains(&[3.0]));
    assert!(!space.contains(&[1.5]));
    assert!(!space.contains(&[-1.0]));
    assert!(!space.contains(&[f32::NAN]));
    assert!(!space.contains(&[0.0, 1.0]));
    assert_eq!((space.n(), space.flat_dim()), (Some(3), 1));
    assert!(matches!(
        Space::discrete(0),
        Err(RlEnvError::InvalidSpace(_))
    ));
}

#[test]
fn box_membership() {
    let space = Space::new_box(
        vec![-1.0, 0.0, 0.0, 0.0],
        vec![1.0, 1.0, 2.0, 3.0],
        vec![2, 2],
    )
    .unwrap();
    assert_eq!((space.n(), space.flat_dim()), (None, 4));
    assert!(space.contains(&[-1.0, 1.0, 2.0, 0.0]));
    assert!(!space.contains(&[-1.1, 1.0, 2.0, 0.0]));
    assert!(!space.contains(&[0.0, 0.0, 0.0]));
    assert!(!space.contains(&[0.0, f32::NAN, 0.0, 0.0]));
    assert!(!space.contains_discrete(0));

    let unbounded = Space::uniform_box(f32::NEG_INFINITY, f32::INFINITY, 2).unwrap();
    assert!(unbounded.contains(&[1e30, -1e30]));
    assert!(!unbounded.contains(&[f32::NAN, 0.0]));
}

#[test]
fn malformed_boxes_are_errors() {
    for (low, high, shape) in [
        (vec![0.0], vec![1.0], vec![2]),
        (vec![0.0, 0.0], vec![1.0], vec![2]),
        (vec![2.0], vec![1.0], vec![1]),
        (vec![f32::NAN], vec![1.0], vec![1]),
    ] {
        let err = Space::new_box(low.clone(), high, shape).unwrap_err();
        assert!(matches!(err, RlEnvError::InvalidSpace(_)), "{low:?}: {err}");
    }
}

#[test]
fn seeded_sampling_is_reproducible() {
    let space = Space::new_box(
        vec![-1.0, 0.0, f32::NEG_INFINITY, f32::NEG_INFINITY],
        vec![1.0, f32::INFINITY, 5.0, f32::INFINITY],
        vec![4],
    )
    .unwrap();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..100).map(|_| space.sample(&mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    let samples = draw(3);
    assert!(
        samples
            .iter()
            .all(|s| space.contains(s) && s.iter().all(|v| v.is_finite()))
    );
    // One-sided bounds: low + Exp(1) and high - Exp(1) have means low + 1 and high - 1.
    let mean = |k: usize| samples.iter().map(|s| s[k] as f64).sum::<f64>() / 100.0;
    assert!((mean(1) - 1.0).abs() < 0.35, "mean {}", mean(1));
    assert!((mean(2) - 4.0).abs() < 0.35, "mean {}", mean(2));
    assert!(mean(3).abs() < 0.35, "mean {}", mean(3));

    let discrete = Space::discrete(4).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let mut counts = [0; 4];
    for _ in 0..4000 {
        let a = discrete.sample_discrete(&mut rng).unwrap();
        assert!(discrete.contains(&discrete.sample(&mut rng)));
        counts[a] += 1;
    }
    assert!(
        counts.iter().all(|&c| (800..1200).contains(&c)),
        "{counts:?}"
    );
    assert_eq!(space.sample_discrete(&mut rng), None);
}

#[test]
fn spaces_round_trip_through_json_with_infinite_bounds() {
    let space = Space::new_box(
        vec![-4.8, f32::NEG_INFINITY],
        vec![4.8, f32::INFINITY],
        vec![2],
    )
    .unwrap();
    let text = serde_json::to_string(&space).unwrap();
    assert!(
        text.contains("\"inf\"") && text.contains("\"-inf\""),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<Space>(&text).unwrap(), space);
    let discrete = Space::discrete(2).unwrap();
    let text = serde_json::to_string(&discrete).unwrap();
    assert_eq!(serde_json::from_str::<Space>(&text).unwrap(), discrete);
    let bad = r#"{"Box":{"low":["huge"],"high":[1.0],"shape":[1]}}"#;
    assert!(serde_json::from_str::<Space>(bad).is_err());
}

#[test]
fn display_names_the_space() {
    assert_eq!(Space::discrete(2).unwrap().to_string(), "Discrete(2)");
    assert_eq!(
        Space::uniform_box(0.0, 1.0, 3).unwrap().to_string(),
        "Box(shape=[3])"
    );
}

proptest! {
    #[test]
    fn samples_lie_in_their_box(
        bounds in prop::collection::vec((-1e6f32..1e6, 0f32..1e6), 1..8),
        seed in any::<u64>(),
    ) {
        let low: Vec<f32> = bounds.iter().map(|b| b.0).collect();
        let high: Vec<f32> = bounds.iter().map(|b| b.0 + b.1).collect();
        let space = Space::new_box(low, high, vec![bounds.len()]).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..20 {
            prop_assert!(space.contains(&space.sample(&mut rng)));
        }
    }
}
