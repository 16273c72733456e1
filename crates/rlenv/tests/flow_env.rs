//! FlowDetectionEnv: rewards, sampling, coverage, errors.

use std::collections::HashSet;

use ndarray::Array2;
use rlenv::{
    Env, FlatEnv, FlowDetectionEnv, FlowEnvConfig, FlowInfo, RewardTable, RlEnvError, Sampling,
};

/// `rows` flows of dimension 3 whose first column is the row index, so an
/// observation tells which row it shows; every `attack_every`-th row is an attack.
fn data(rows: usize, attack_every: usize) -> (Array2<f32>, Vec<u8>) {
    let latents = Array2::from_shape_fn((rows, 3), |(i, j)| (i * 10 + j) as f32 / 10.0);
    let labels = (0..rows).map(|i| u8::from(i % attack_every == 0)).collect();
    (latents, labels)
}

fn row_of(obs: &[f32]) -> usize {
    (obs[0]).round() as usize
}

fn env(rows: usize, attack_every: usize, config: FlowEnvConfig) -> FlowDetectionEnv {
    let (latents, labels) = data(rows, attack_every);
    FlowDetectionEnv::new(latents, labels, config).unwrap()
}

#[test]
fn observation_is_the_judged_flow_and_info_carries_its_label() {
    let config = FlowEnvConfig {
        episode_length: 50,
        ..Default::default()
    };
    let mut env = env(40, 3, config);
    let (mut obs, info) = env.reset(Some(9));
    // Inherent methods: no ambiguity with both Env and FlatEnv in scope.
    assert!(env.observation_space().contains(&obs));
    assert_eq!(env.action_space(), rlenv::Space::Discrete { n: 2 });
    assert_eq!(env.obs_dim(), 3);
    assert_eq!(row_of(&obs), info.row);
    assert_eq!(info.label, u8::from(info.row % 3 == 0));
    for _ in 0..50 {
        let shown = row_of(&obs);
        let step = env.step(0).unwrap();
        assert_eq!(
            step.info,
            FlowInfo {
                row: shown,
                label: u8::from(shown.is_multiple_of(3))
            }
        );
        let expected = if step.info.label == 1 { -4.0 } else { 2.0 };
        assert_eq!(step.reward, expected);
        assert_eq!(env.last_judged(), Some(step.info));
        obs = step.obs;
        assert_eq!(env.current_flow().row, row_of(&obs));
    }
}

#[test]
fn reward_sums_over_known_action_sequences() {
    // Sequential sampling from row 0: labels are 1,0,0,1,0,0,...
    let config = FlowEnvConfig {
        episode_length: 6,
        sampling: Sampling::Sequential,
        ..Default::default()
    };
    let mut env = env(6, 3, config);
    let cases: [([usize; 6], f32); 4] = [
        // all correct: 6 x +2
        ([1, 0, 0, 1, 0, 0], 12.0),
        // always benign: 2 missed attacks (-4) + 4 true negatives (+2)
        ([0; 6], 0.0),
        // always malicious: 2 true positives (+2) + 4 false alarms (-1)
        ([1; 6], 0.0),
        // all wrong: 2 x -4 + 4 x -1
        ([0, 1, 1, 0, 1, 1], -12.0),
    ];
    for (actions, expected) in cases {
        env.reset(Some(0));
        let total: f32 = actions.iter().map(|&a| env.step(a).unwrap().reward).sum();
        assert_eq!(total, expected, "actions {actions:?}");
    }

    let custom = FlowEnvConfig {
        rewards: RewardTable {
            tp: 5.0,
            tn: 0.5,
            fn_: -10.0,
            fp: -0.25,
        },
        ..config
    };
    let mut env = self::env(6, 3, custom);
    env.reset(Some(0));
    let total: f32 = [1, 1, 0, 0, 0, 1]
        .iter()
        .map(|&a| env.step(a).unwrap().reward)
        .sum();
    // TP, FP, TN, FN, TN, FP
    assert_eq!(total, 5.0 - 0.25 + 0.5 - 10.0 + 0.5 - 0.25);
}

#[test]
fn episodes_are_truncated_at_the_configured_length() {
    let mut env = env(100, 4, FlowEnvConfig::default());
    assert_eq!(env.config().episode_length, 3000);
    env.reset(Some(1));
    for t in 1..=3000 {
        let step = env.step(t % 2).unwrap();
        assert!(!step.terminated);
        assert_eq!(step.truncated, t == 3000, "step {t}");
    }
    assert_eq!(env.step(0).unwrap_err(), RlEnvError::ResetNeeded);
    env.reset(None);
    assert_eq!(env.elapsed_steps(), 0);
    assert!(!env.step(0).unwrap().truncated);
}

/// The reference system replayed the same first rows after every reset;
/// here successive episodes walk through the whole data set.
#[test]
fn shuffled_episodes_cover_the_data() {
    let rows = 1000;
    let config = FlowEnvConfig {
        episode_length: 100,
        ..Default::default()
    };
    let mut env = env(rows, 5, config);
    let mut seen = Vec::new();
    let mut first_rows = HashSet::new();
    let (mut obs, _) = env.reset(Some(3));
    for _episode in 0..10 {
        first_rows.insert(row_of(&obs));
        let mut last = Vec::new();
        for _ in 0..100 {
            let step = env.step(0).unwrap();
            seen.push(step.info.row);
            last = step.obs;
        }
        obs = env.reset(None).0;
        assert_eq!(obs, last);
    }
    // Ten episodes of 100 steps are one pass: every row exactly once.
    let distinct: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), rows);
    assert_eq!(first_rows.len(), 10, "every episode starts elsewhere");
    // Not in file order.
    assert_ne!(seen[..10], (0..10).collect::<Vec<_>>()[..]);

    // The next pass is a new permutation that again covers everything.
    let mut second = Vec::new();
    for _ in 0..10 {
        for _ in 0..100 {
            second.push(env.step(1).unwrap().info.row);
        }
        env.reset(None);
    }
    assert_eq!(second.iter().copied().collect::<HashSet<_>>().len(), rows);
    assert_ne!(second, seen);
}

#[test]
fn the_final_observation_is_a_real_flow_judged_next_episode() {
    let config = FlowEnvConfig {
        episode_length: 5,
        ..Default::default()
    };
    let mut env = env(50, 2, config);
    env.reset(Some(0));
    let mut last = None;
    for _ in 0..5 {
        last = Some(env.step(0).unwrap());
    }
    let last = last.unwrap();
    assert!(last.truncated);
    let final_row = row_of(&last.obs);
    assert_eq!(
        last.obs,
        vec![
            final_row as f32,
            final_row as f32 + 0.1,
            final_row as f32 + 0.2
        ]
    );
    let (obs, info) = env.reset(None);
    assert_eq!(
        obs, last.obs,
        "an unseeded reset resumes with the shown flow"
    );
    assert_eq!(info.row, final_row);
    assert_eq!(env.step(0).unwrap().info.row, final_row);
}

#[test]
fn sequential_sampling_continues_across_episodes() {
    let config = FlowEnvConfig {
        episode_length: 4,
        sampling: Sampling::Sequential,
        ..Default::default()
    };
    let mut env = env(10, 3, config);
    let (obs, _) = env.reset(Some(0));
    assert_eq!(row_of(&obs), 0);
    let mut judged = Vec::new();
    for _ in 0..5 {
        for _ in 0..4 {
            judged.push(env.step(0).unwrap().info.row);
        }
        env.reset(None);
    }
    let expected: Vec<usize> = (0..20).map(|i| i % 10).collect();
    assert_eq!(judged, expected);
    // A seeded reset starts at row seed % rows.
    assert_eq!(row_of(&env.reset(Some(13)).0), 3);
}

#[test]
fn balanced_sampling_draws_each_class_half_of_the_time() {
    // 1 attack in 20 rows.
    let config = FlowEnvConfig {
        episode_length: 20_000,
        sampling: Sampling::Balanced,
        ..Default::default()
    };
    let mut env = env(2000, 20, config);
    env.reset(Some(5));
    let mut attacks = 0;
    let mut attack_rows = HashSet::new();
    let n = 20_000;
    for _ in 0..n {
        let info = env.step(1).unwrap().info;
        if info.label == 1 {
            attacks += 1;
            attack_rows.insert(info.row);
        }
    }
    let ratio = attacks as f64 / n as f64;
    // Binomial(20000, 0.5): standard deviation 0.0035.
    assert!((ratio - 0.5).abs() < 0.02, "attack ratio {ratio}");
    // Every one of the 100 attack rows was used.
    assert_eq!(attack_rows.len(), 100);
}

#[test]
fn cost_balanced_sampling_gives_each_class_the_same_expected_regret() {
    let share = |rewards: RewardTable| {
        let config = FlowEnvConfig {
            episode_length: 30_000,
            sampling: Sampling::CostBalanced,
            rewards,
            ..Default::default()
        };
        // 1 benign row in 20.
        let labels: Vec<u8> = (0..2000).map(|i| u8::from(i % 20 != 0)).collect();
        let mut env = FlowDetectionEnv::new(Array2::zeros((2000, 2)), labels, config).unwrap();
        env.reset(Some(9));
        let mut benign_rows = HashSet::new();
        let attacks = (0..30_000)
            .filter(|_| {
                let info = env.step(0).unwrap().info;
                if info.label == 0 {
                    benign_rows.insert(info.row);
                }
                info.label == 1
            })
            .count();
        // Every one of the 100 benign rows was used.
        assert_eq!(benign_rows.len(), 100);
        attacks as f64 / 30_000.0
    };
    // The default table: a missed attack costs 6, a false alarm 3, so
    // attacks are a third of the draws (binomial sd 0.0027).
    let s = share(RewardTable::default());
    assert!((s - 1.0 / 3.0).abs() < 0.015, "attack share {s}");
    // Equal regrets: half; an alarm costing 9 against a miss of 3: 3/4.
    let equal = RewardTable {
        fp: -4.0,
        ..RewardTable::default()
    };
    assert!((share(equal) - 0.5).abs() < 0.015);
    let alarms = RewardTable {
        tp: 1.0,
        tn: 1.0,
        fn_: -2.0,
        fp: -8.0,
    };
    assert!((alarms.regret_balanced_attack_share() - 0.75).abs() < 1e-12);
    assert!((share(alarms) - 0.75).abs() < 0.015);
    // Regrets that are not both positive: a fair coin.
    let free = RewardTable {
        fp: 2.0,
        ..RewardTable::default()
    };
    assert_eq!(free.regret_balanced_attack_share(), 0.5);
}

#[test]
fn samplings_parse_by_name() {
    for s in Sampling::ALL {
        assert_eq!(s.as_str().parse::<Sampling>().unwrap(), s);
        assert_eq!(s.as_str().to_uppercase().parse::<Sampling>().unwrap(), s);
    }
    let err = "random".parse::<Sampling>().unwrap_err();
    assert_eq!(err, RlEnvError::UnknownSampling("random".into()));
    assert!(err.to_string().contains("cost-balanced"), "{err}");
}

#[test]
fn auto_sampling_balances_only_a_sample_where_benign_flows_are_the_minority() {
    let attack_share = |labels: Vec<u8>| {
        let rows = labels.len();
        let config = FlowEnvConfig {
            episode_length: 20_000,
            sampling: Sampling::Auto,
            ..Default::default()
        };
        let mut env = FlowDetectionEnv::new(Array2::zeros((rows, 2)), labels, config).unwrap();
        env.reset(Some(5));
        let attacks = (0..20_000)
            .filter(|_| env.step(1).unwrap().info.label == 1)
            .count();
        attacks as f64 / 20_000.0
    };
    // 95 % attacks: cost-balanced, a third of the draws are attacks.
    let heavy: Vec<u8> = (0..2000).map(|i| u8::from(i % 20 != 0)).collect();
    assert_eq!(Sampling::Auto.resolve(&heavy), Sampling::CostBalanced);
    let share = attack_share(heavy);
    assert!((share - 1.0 / 3.0).abs() < 0.02, "attack share {share}");
    // 5 % attacks: shuffled, attacks at their own share.
    let light: Vec<u8> = (0..2000).map(|i| u8::from(i % 20 == 0)).collect();
    assert_eq!(Sampling::Auto.resolve(&light), Sampling::Shuffled);
    let share = attack_share(light);
    assert!((share - 0.05).abs() < 0.005, "attack share {share}");
    // Equal shares, or one class only: shuffled; the others stay as they are.
    assert_eq!(Sampling::Auto.resolve(&[0, 1, 0, 1]), Sampling::Shuffled);
    assert_eq!(Sampling::Auto.resolve(&[0, 0]), Sampling::Shuffled);
    assert_eq!(
        Sampling::Balanced.resolve(&[0, 0, 0, 1]),
        Sampling::Balanced
    );
}

#[test]
fn balanced_sampling_needs_both_classes() {
    let latents = Array2::zeros((4, 2));
    let config = FlowEnvConfig {
        sampling: Sampling::Balanced,
        ..Default::default()
    };
    let err = FlowDetectionEnv::new(latents.clone(), vec![0; 4], config).unwrap_err();
    assert_eq!(
        err,
        RlEnvError::MissingClass {
            class: "attack (1)"
        }
    );
    assert!(err.to_string().contains("attack (1)"));
    let err = FlowDetectionEnv::new(latents.clone(), vec![1; 4], config).unwrap_err();
    assert_eq!(
        err,
        RlEnvError::MissingClass {
            class: "benign (0)"
        }
    );
    // The other samplers accept a single class.
    assert!(FlowDetectionEnv::new(latents, vec![1; 4], FlowEnvConfig::default()).is_ok());
}

#[test]
fn the_same_seed_gives_the_same_episode() {
    for sampling in [Sampling::Shuffled, Sampling::Sequential, Sampling::Balanced] {
        let config = FlowEnvConfig {
            episode_length: 30,
            sampling,
            seed: 11,
            ..Default::default()
        };
        let run = |env: &mut FlowDetectionEnv, seed: Option<u64>| {
            let mut rows = vec![env.reset(seed).1.row];
            for t in 0..30 {
                rows.push(env.step(t % 2).unwrap().info.row);
            }
            rows
        };
        let mut a = env(200, 3, config);
        let mut b = env(200, 3, config);
        let first = run(&mut a, Some(4));
        run(&mut a, None);
        assert_eq!(
            run(&mut a, Some(4)),
            first,
            "{sampling:?}: reseeding replays"
        );
        assert_eq!(
            run(&mut b, Some(4)),
            first,
            "{sampling:?}: another env, same seed"
        );
        assert_ne!(
            run(&mut b, Some(5)),
            first,
            "{sampling:?}: another seed differs"
        );
        // Before any seeded reset, the config's seed decides.
        let mut c = env(200, 3, config);
        let mut d = env(200, 3, config);
        assert_eq!(run(&mut c, None), run(&mut d, None));
    }
}

#[test]
fn bad_inputs_are_errors() {
    let (latents, labels) = data(5, 2);
    let err = FlowDetectionEnv::new(
        latents.clone(),
        labels[..4].to_vec(),
        FlowEnvConfig::default(),
    );
    assert_eq!(
        err.unwrap_err(),
        RlEnvError::LengthMismatch { rows: 5, labels: 4 }
    );

    let err = FlowDetectionEnv::new(
        latents.clone(),
        vec![0, 1, 2, 0, 0],
        FlowEnvConfig::default(),
    );
    assert_eq!(
        err.unwrap_err(),
        RlEnvError::InvalidLabel { row: 2, label: 2 }
    );

    let mut bad = latents.clone();
    bad[[3, 1]] = f32::NAN;
    let err = FlowDetectionEnv::new(bad, labels.clone(), FlowEnvConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        RlEnvError::NonFiniteLatent { row: 3, col: 1, .. }
    ));

    let err = FlowDetectionEnv::new(Array2::zeros((0, 3)), vec![], FlowEnvConfig::default());
    assert_eq!(err.unwrap_err(), RlEnvError::EmptyData { rows: 0, cols: 3 });

    let zero = FlowEnvConfig {
        episode_length: 0,
        ..Default::default()
    };
    let err = FlowDetectionEnv::new(latents.clone(), labels.clone(), zero).unwrap_err();
    assert!(err.to_string().contains("episode_length"));

    let inf = FlowEnvConfig {
        rewards: RewardTable {
            fp: f32::INFINITY,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = FlowDetectionEnv::new(latents.clone(), labels.clone(), inf).unwrap_err();
    assert_eq!(
        err,
        RlEnvError::NonFiniteReward {
            name: "fp",
            value: f32::INFINITY
        }
    );

    let mut env = FlowDetectionEnv::new(latents, labels, FlowEnvConfig::default()).unwrap();
    assert_eq!(env.step(0).unwrap_err(), RlEnvError::ResetNeeded);
    env.reset(None);
    assert_eq!(
        env.step(2).unwrap_err(),
        RlEnvError::InvalidAction { action: 2, n: 2 }
    );
}

#[test]
fn column_major_latents_are_read_row_by_row() {
    use ndarray::ShapeBuilder;
    let (latents, labels) = data(7, 2);
    let mut column_major = Array2::zeros((7, 3).f());
    column_major.assign(&latents);
    assert!(!column_major.is_standard_layout());
    let config = FlowEnvConfig {
        sampling: Sampling::Sequential,
        ..Default::default()
    };
    let mut env = FlowDetectionEnv::new(column_major, labels, config).unwrap();
    let mut obs = vec![0.0; 3];
    env.reset_into(Some(2), &mut obs);
    assert_eq!(obs, latents.row(2).to_vec());
    env.step_into(0, &mut obs);
    assert_eq!(obs, latents.row(3).to_vec());
}

#[test]
#[should_panic(expected = "action 7 is outside the action space Discrete(2)")]
fn step_into_panics_on_a_bad_action() {
    let mut env = env(5, 2, FlowEnvConfig::default());
    let mut obs = vec![0.0; 3];
    env.reset_into(None, &mut obs);
    env.step_into(7, &mut obs);
}

#[test]
fn config_round_trips_through_json() {
    let config = FlowEnvConfig {
        sampling: Sampling::Balanced,
        seed: 77,
        ..Default::default()
    };
    let text = serde_json::to_string(&config).unwrap();
    let back: FlowEnvConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, config);
}

#[test]
fn environments_share_one_dataset() {
    use std::sync::Arc;
    let (latents, labels) = data(30, 3);
    let dataset = Arc::new(rlenv::FlowDataset::new(latents.clone(), labels).unwrap());
    assert_eq!(
        (
            dataset.num_flows(),
            dataset.obs_dim(),
            dataset.num_attacks()
        ),
        (30, 3, 10)
    );
    assert_eq!(dataset.row(4), latents.row(4).as_slice().unwrap());
    let config = FlowEnvConfig {
        sampling: Sampling::Balanced,
        ..Default::default()
    };
    let mut a = FlowDetectionEnv::from_dataset(dataset.clone(), config).unwrap();
    let b = a.clone();
    assert_eq!(Arc::strong_count(&dataset), 3);
    assert!(Arc::ptr_eq(a.dataset(), b.dataset()));
    assert_eq!(a.num_flows(), 30);
    // Shared data, independent samplers.
    let mut c = b.clone();
    a.reset(Some(1));
    c.reset(Some(2));
    let rows_a: Vec<_> = (0..20).map(|_| a.step(0).unwrap().info.row).collect();
    let rows_c: Vec<_> = (0..20).map(|_| c.step(0).unwrap().info.row).collect();
    assert_ne!(rows_a, rows_c);

    let benign_only = Arc::new(rlenv::FlowDataset::new(Array2::zeros((3, 2)), vec![0; 3]).unwrap());
    assert_eq!(
        FlowDetectionEnv::from_dataset(benign_only, config).unwrap_err(),
        RlEnvError::MissingClass {
            class: "attack (1)"
        }
    );
}
