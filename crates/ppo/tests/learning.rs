//! Learning and the learner's contracts: CartPole is solved, a flow
//! detection policy is learned, runs are reproducible, callbacks,
//! checkpoints, KL early stopping, annealing and truncation bootstrapping
//! behave as documented.

use ndarray::Array2;
use ppo::{
    CheckpointCallback, Control, IterationRecord, LrSchedule, Ppo, PpoConfig, PpoError,
    StopOnMeanReturn,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rlenv::{CartPole, FlatEnv, FlowDetectionEnv, FlowEnvConfig, Space, StepOutcome, VecEnv};

fn go_on(_: &IterationRecord) -> Control {
    Control::Continue
}

/// The CartPole configuration of the `ppo_cartpole` example.
fn cartpole_config() -> PpoConfig {
    PpoConfig {
        n_steps: 256,
        batch_size: 64,
        n_epochs: 10,
        gamma: 0.98,
        gae_lambda: 0.8,
        learning_rate: 1e-3,
        lr_schedule: LrSchedule::Linear,
        ..PpoConfig::default()
    }
}

fn cartpoles(n: usize) -> VecEnv<CartPole> {
    VecEnv::new((0..n).map(|_| CartPole::new()).collect()).unwrap()
}

#[test]
fn cartpole_reaches_195_within_100k_steps() {
    let mut env = cartpoles(8);
    let mut model = Ppo::new(cartpole_config(), &env, 1).unwrap();
    let start = std::time::Instant::now();
    // 48 iterations of 2,048 steps: never more than 100,000 steps.
    let log = model
        .learn(&mut env, 98_304, &mut StopOnMeanReturn { threshold: 195.0 })
        .unwrap();
    let last = log.last().unwrap();
    println!(
        "CartPole: mean return {:?} after {} steps ({} iterations, {:.1} s)",
        last.mean_episode_return,
        last.timesteps,
        log.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(last.timesteps <= 100_000);
    assert!(last.mean_episode_return.unwrap() >= 195.0, "{last:?}");
}

/// Latents of two well-separated classes (25% attacks).
fn separable_latents(rows: usize, seed: u64) -> (Array2<f32>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let labels: Vec<u8> = (0..rows)
        .map(|_| u8::from(rng.random::<f32>() < 0.25))
        .collect();
    let x = Array2::from_shape_fn((rows, 8), |(i, j)| {
        let centre = if labels[i] == 1 { 1.0 } else { -1.0 };
        let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
        sign * centre + 0.4 * rng.sample::<f32, _>(rand_distr::StandardNormal)
    });
    (x, labels)
}

#[test]
fn flow_detection_policy_reaches_attack_f1_above_095() {
    let (x, y) = separable_latents(4000, 0);
    let envs = (0..4)
        .map(|i| {
            let config = FlowEnvConfig {
                episode_length: 500,
                seed: i,
                ..FlowEnvConfig::default()
            };
            FlowDetectionEnv::new(x.clone(), y.clone(), config).unwrap()
        })
        .collect();
    let mut env = VecEnv::new(envs).unwrap();
    let config = PpoConfig {
        n_steps: 256,
        net_arch: ppo::NetArch {
            pi: vec![64, 64],
            vf: vec![64, 64],
        },
        ..PpoConfig::default()
    };
    let mut model = Ppo::new(config, &env, 3).unwrap();
    model.learn(&mut env, 16_384, &mut go_on).unwrap();
    let (xt, yt) = separable_latents(2000, 99);
    let predicted = model.predict(xt.view(), true).unwrap();
    let probs = model.action_probabilities(xt.view()).unwrap();
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (i, (&p, &t)) in predicted.iter().zip(&yt).enumerate() {
        assert_eq!(
            p,
            usize::from(probs[[i, 1]] > probs[[i, 0]]),
            "argmax of the probabilities"
        );
        match (p, t) {
            (1, 1) => tp += 1.0,
            (1, 0) => fp += 1.0,
            (0, 1) => fn_ += 1.0,
            _ => {}
        }
    }
    let f1 = 2.0 * tp / (2.0 * tp + fp + fn_);
    println!("flow detection: attack F1 {f1:.4} (tp {tp}, fp {fp}, fn {fn_})");
    assert!(f1 > 0.95, "attack F1 {f1}");
}

fn short_config(parallel: bool) -> PpoConfig {
    PpoConfig {
        n_steps: 128,
        batch_size: 32,
        n_epochs: 3,
        parallel,
        ..cartpole_config()
    }
}

fn deterministic(log: &[IterationRecord]) -> Vec<IterationRecord> {
    log.iter().map(IterationRecord::without_timing).collect()
}

#[test]
fn same_seed_gives_an_identical_training_log_with_or_without_threads() {
    let run = |seed: u64, parallel: bool| {
        let mut env = cartpoles(2);
        let mut model = Ppo::new(short_config(parallel), &env, seed).unwrap();
        let log = model.learn(&mut env, 1024, &mut go_on).unwrap();
        (deterministic(&log), model.policy_net().params().to_vec())
    };
    let (a, pa) = run(5, true);
    let (b, pb) = run(5, true);
    let (c, pc) = run(5, false);
    let (d, _) = run(6, true);
    assert_eq!(a.len(), 4);
    assert_eq!(a, b);
    assert_eq!(pa, pb);
    assert_eq!(
        a, c,
        "the two-thread update must reproduce the one-thread one exactly"
    );
    assert_eq!(pa, pc);
    assert_ne!(a, d);
    assert!(
        a.iter()
            .all(|r| r.policy_loss.is_finite() && r.approx_kl >= 0.0)
    );
}

#[test]
fn save_load_and_continue_training_matches_uninterrupted_training() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = cartpoles(2);
    let mut model = Ppo::new(short_config(true), &env, 11).unwrap();
    model.learn(&mut env, 512, &mut go_on).unwrap();
    model.save(dir.path()).unwrap();
    let mut loaded = Ppo::load(dir.path()).unwrap();
    assert_eq!(loaded.num_timesteps(), 512);
    assert_eq!(loaded.iterations(), 2);
    assert_eq!(loaded.policy_net(), model.policy_net());
    assert_eq!(loaded.value_net(), model.value_net());
    assert_eq!(loaded.config(), model.config());
    let obs = Array2::from_shape_fn((7, 4), |(i, j)| (i as f32 - j as f32) * 0.05);
    assert_eq!(
        loaded.action_probabilities(obs.view()).unwrap(),
        model.action_probabilities(obs.view()).unwrap()
    );
    assert_eq!(
        loaded.predict_values(obs.view()).unwrap(),
        model.predict_values(obs.view()).unwrap()
    );
    // Continuing the loaded model equals continuing the original one
    // (parameters, Adam's state and the random streams all carry over).
    let continued = model.learn(&mut cartpoles(2), 512, &mut go_on).unwrap();
    let resumed = loaded.learn(&mut cartpoles(2), 512, &mut go_on).unwrap();
    assert_eq!(deterministic(&continued), deterministic(&resumed));
    assert_eq!(continued[0].iteration, 3);
    assert_eq!(continued[1].timesteps, 1024);
    assert_eq!(loaded.policy_net(), model.policy_net());
}

#[test]
fn callbacks_stop_training_and_checkpoints_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = cartpoles(2);
    let mut model = Ppo::new(short_config(true), &env, 2).unwrap();
    let mut seen = Vec::new();
    let mut stop_at_three = |r: &IterationRecord| {
        seen.push(r.iteration);
        if r.iteration == 3 {
            Control::Stop
        } else {
            Control::Continue
        }
    };
    let mut callbacks = (CheckpointCallback::new(dir.path(), 2), &mut stop_at_three);
    let log = model.learn(&mut env, 100_000, &mut callbacks).unwrap();
    let saved = &callbacks.0.saved.clone();
    drop(callbacks);
    assert_eq!(log.len(), 3);
    assert_eq!(seen, vec![1, 2, 3]);
    assert_eq!(model.num_timesteps(), 3 * 256);
    assert_eq!(saved, &vec![dir.path().join("ppo_512_steps")]);
    let checkpoint = Ppo::load(&saved[0]).unwrap();
    assert_eq!(checkpoint.num_timesteps(), 512);
    assert_eq!(
        log[2].episodes,
        log.iter().map(|r| r.episodes).max().unwrap()
    );
}

#[test]
fn kl_early_stop_and_linear_annealing() {
    let mut env = cartpoles(2);
    let config = PpoConfig {
        target_kl: Some(1e-6),
        lr_schedule: LrSchedule::Constant,
        ..short_config(true)
    };
    let mut model = Ppo::new(config, &env, 4).unwrap();
    let log = model.learn(&mut env, 768, &mut go_on).unwrap();
    for r in &log {
        assert!(r.kl_early_stop && r.epochs < 3, "{r:?}");
    }
    // Linear annealing: lr * (1 - steps done / steps requested).
    let mut model = Ppo::new(short_config(true), &env, 4).unwrap();
    let log = model.learn(&mut env, 1024, &mut go_on).unwrap();
    let lrs: Vec<f32> = log.iter().map(|r| r.learning_rate).collect();
    for (lr, e) in lrs.iter().zip([0.75e-3f32, 0.5e-3, 0.25e-3, 0.0]) {
        assert!((lr - e).abs() < 1e-9, "{lrs:?}");
    }
    assert!(log.iter().all(|r| !r.kl_early_stop && r.epochs == 3));
}

/// A one-dimensional environment whose episodes always last `limit` steps
/// and end by truncation (or by termination when `terminate`), reward 1.
struct Corridor {
    t: usize,
    limit: usize,
    terminate: bool,
}

impl FlatEnv for Corridor {
    fn observation_space(&self) -> Space {
        Space::Box {
            low: vec![0.0],
            high: vec![100.0],
            shape: vec![1],
        }
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn obs_dim(&self) -> usize {
        1
    }
    fn reset_into(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        self.t = 0;
        obs[0] = 0.0;
    }
    fn step_into(&mut self, _action: usize, obs: &mut [f32]) -> StepOutcome {
        self.t += 1;
        obs[0] = self.t as f32;
        let end = self.t == self.limit;
        StepOutcome {
            reward: 1.0,
            terminated: end && self.terminate,
            truncated: end && !self.terminate,
        }
    }
}

#[test]
fn truncated_episodes_are_bootstrapped_and_terminated_ones_are_not() {
    for terminate in [false, true] {
        let mut env = VecEnv::new(vec![Corridor {
            t: 0,
            limit: 3,
            terminate,
        }])
        .unwrap();
        let config = PpoConfig {
            n_steps: 6,
            batch_size: 6,
            n_epochs: 1,
            gamma: 0.9,
            ..PpoConfig::default()
        };
        let mut model = Ppo::new(config, &env, 0).unwrap();
        // Before learning, record the value of the observation at the time limit.
        let v_end = model
            .predict_values(Array2::from_elem((1, 1), 3.0).view())
            .unwrap()[0];
        assert!(v_end.abs() > 1e-4);
        model.learn(&mut env, 6, &mut go_on).unwrap();
        let buf = model.rollout_buffer();
        assert_eq!(buf.dones, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
        let expect = if terminate { 1.0 } else { 1.0 + 0.9 * v_end };
        for t in [2, 5] {
            assert!(
                (buf.rewards[t] - expect).abs() < 1e-6,
                "terminate={terminate}: {} vs {expect}",
                buf.rewards[t]
            );
        }
        assert_eq!(buf.rewards[0], 1.0);
        assert_eq!(buf.observations, vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    }
}

/// Rewards NaN after a few steps.
struct Broken(usize);

impl FlatEnv for Broken {
    fn observation_space(&self) -> Space {
        Space::Box {
            low: vec![-1.0],
            high: vec![1.0],
            shape: vec![1],
        }
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn obs_dim(&self) -> usize {
        1
    }
    fn reset_into(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        obs[0] = 0.0;
    }
    fn step_into(&mut self, _action: usize, obs: &mut [f32]) -> StepOutcome {
        self.0 += 1;
        obs[0] = 0.5;
        StepOutcome {
            reward: if self.0 > 5 { f32::NAN } else { 0.0 },
            terminated: false,
            truncated: false,
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let env = cartpoles(1);
    let err = Ppo::new(
        PpoConfig {
            batch_size: 4096,
            ..PpoConfig::default()
        },
        &env,
        0,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PpoError::InvalidConfig {
                name: "batch_size",
                ..
            }
        ),
        "{err}"
    );
    let mut model = Ppo::new(short_config(true), &env, 0).unwrap();
    // Wrong observation width.
    assert!(matches!(
        model.predict(Array2::zeros((2, 3)).view(), true),
        Err(PpoError::Shape { .. })
    ));
    assert!(
        model
            .action_probabilities(Array2::zeros((2, 5)).view())
            .is_err()
    );
    // An environment that does not match the model.
    let mut other = VecEnv::new(vec![Corridor {
        t: 0,
        limit: 3,
        terminate: true,
    }])
    .unwrap();
    assert!(matches!(
        model.learn(&mut other, 128, &mut go_on),
        Err(PpoError::EnvMismatch(_))
    ));
    // A rollout that does not divide into minibatches for this many envs.
    let mut three = cartpoles(3);
    let config = PpoConfig {
        n_steps: 100,
        batch_size: 64,
        ..PpoConfig::default()
    };
    let mut m3 =
        Ppo::with_spaces(config, three.observation_space(), three.action_space(), 0).unwrap();
    assert!(matches!(
        m3.learn(&mut three, 300, &mut go_on),
        Err(PpoError::InvalidConfig { .. })
    ));
    // Non-finite rewards stop training with an error.
    let mut broken = VecEnv::new(vec![Broken(0)]).unwrap();
    let mut mb = Ppo::new(
        PpoConfig {
            n_steps: 16,
            batch_size: 8,
            ..PpoConfig::default()
        },
        &broken,
        0,
    )
    .unwrap();
    assert!(matches!(
        mb.learn(&mut broken, 16, &mut go_on),
        Err(PpoError::NonFinite { what: "reward", .. })
    ));
    // Box action spaces are not supported yet.
    let boxed = Space::Box {
        low: vec![-1.0],
        high: vec![1.0],
        shape: vec![1],
    };
    assert!(matches!(
        Ppo::with_spaces(PpoConfig::default(), boxed.clone(), boxed, 0),
        Err(PpoError::UnsupportedSpace { role: "action", .. })
    ));
}

#[test]
fn stochastic_predictions_follow_the_policy() {
    let env = cartpoles(1);
    let model = Ppo::new(PpoConfig::default(), &env, 0).unwrap();
    let obs = Array2::from_elem((4000, 4), 0.01f32);
    let probs = model.action_probabilities(obs.view()).unwrap();
    let p1 = probs[[0, 1]] as f64;
    // A fresh policy is close to uniform (head gain 0.01).
    assert!((p1 - 0.5).abs() < 0.05);
    let actions = model.predict(obs.view(), false).unwrap();
    let share = actions.iter().filter(|&&a| a == 1).count() as f64 / 4000.0;
    assert!((share - p1).abs() < 0.04, "{share} vs {p1}");
    let mut rng = StdRng::seed_from_u64(3);
    let a = model.predict_with_rng(obs.view(), &mut rng).unwrap();
    let b = model
        .predict_with_rng(obs.view(), &mut StdRng::seed_from_u64(3))
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Ppo>();
    check::<PpoConfig>();
    check::<PpoError>();
    check::<IterationRecord>();
    check::<ppo::RolloutBuffer>();
    check::<ppo::engine::Mlp>();
    check::<ppo::engine::Adam>();
    check::<ppo::Categorical>();
    // Debug output summarises the model instead of dumping its buffers.
    let model = Ppo::new(PpoConfig::default(), &cartpoles(1), 0).unwrap();
    let text = format!("{model:?}");
    assert!(
        text.contains("num_timesteps: 0") && text.contains("[4, 128, 128, 2]") && text.len() < 2000,
        "{text}"
    );
}
