//! VecEnv: auto-reset, final observations, episode records, errors.

use ndarray::Array2;
use rlenv::{
    CartPole, EpisodeRecord, FlatEnv, FlowDetectionEnv, FlowEnvConfig, RlEnvError, Sampling, Space,
    VecEnv,
};

fn flow_env(rows: usize, dim: usize, episode_length: usize) -> FlowDetectionEnv {
    let latents = Array2::from_shape_fn((rows, dim), |(i, j)| (i * dim + j) as f32);
    let labels = (0..rows).map(|i| u8::from(i % 2 == 1)).collect();
    let config = FlowEnvConfig {
        episode_length,
        sampling: Sampling::Sequential,
        ..Default::default()
    };
    FlowDetectionEnv::new(latents, labels, config).unwrap()
}

#[test]
fn observations_are_one_contiguous_buffer_with_per_env_seeds() {
    let envs = (0..3).map(|_| flow_env(100, 2, 10)).collect();
    let mut venv = VecEnv::new(envs).unwrap();
    assert_eq!(
        (venv.num_envs(), venv.obs_dim(), venv.n_actions()),
        (3, 2, 2)
    );
    assert_eq!(venv.action_space(), Space::Discrete { n: 2 });
    assert_eq!(venv.observation_space().flat_dim(), 2);
    // Sequential envs start at row seed + i.
    let obs = venv.reset(Some(10)).to_vec();
    assert_eq!(obs, vec![20.0, 21.0, 22.0, 23.0, 24.0, 25.0]);
    let step = venv.step(&[0, 1, 0]).unwrap();
    assert_eq!(step.obs, &[22.0, 23.0, 24.0, 25.0, 26.0, 27.0]);
    // Rows 10 (benign), 11 (attack), 12 (benign) judged 0, 1, 0: all correct.
    assert_eq!(step.rewards, &[2.0, 2.0, 2.0]);
    assert_eq!(venv.obs(), &[22.0, 23.0, 24.0, 25.0, 26.0, 27.0]);
}

#[test]
fn finished_envs_reset_at_once_and_keep_their_final_observation() {
    // Episode lengths 3 and 5 with the same data.
    let envs = vec![flow_env(50, 1, 3), flow_env(50, 1, 5)];
    let mut venv = VecEnv::new(envs).unwrap();
    venv.reset(Some(0));
    let mut records = Vec::new();
    for t in 1..=15 {
        let step = venv.step(&[0, 0]).unwrap();
        for (i, &length) in [3, 5].iter().enumerate() {
            let done = t % length == 0;
            assert_eq!(step.truncated[i], done, "env {i} step {t}");
            assert!(!step.terminated[i]);
            if done {
                // Unseeded reset resumes with the flow shown at truncation:
                // the final observation equals the new first observation.
                assert_eq!(step.final_obs[i], step.obs[i]);
                assert_eq!(step.final_obs[i], (i + t) as f32);
            }
        }
        records.extend_from_slice(step.episodes);
    }
    // Env 0 finishes at 3, 6, 9, 12, 15; env 1 at 5, 10, 15.
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r.length == [3, 5][r.env_index]));
    // Labels alternate 0,1: always answering benign scores +2 / -4.
    assert_eq!(
        records[0],
        EpisodeRecord {
            env_index: 0,
            episode_return: 2.0 - 4.0 + 2.0,
            length: 3
        }
    );
}

#[test]
fn terminated_cartpoles_keep_their_final_observation() {
    let mut venv = VecEnv::new(vec![CartPole::new(), CartPole::new()]).unwrap();
    venv.reset(Some(3));
    let space = venv.observation_space();
    let mut finished = 0;
    for _ in 0..200 {
        let step = venv.step(&[1, 1]).unwrap();
        for record in step.episodes {
            let i = record.env_index;
            assert!(step.terminated[i]);
            let final_obs = &step.final_obs[i * 4..i * 4 + 4];
            let new_obs = &step.obs[i * 4..i * 4 + 4];
            // The pole fell: the final state is past a threshold, the new
            // one is a fresh start within 0.05.
            assert!(final_obs[0].abs() > 2.4 || final_obs[2].abs() > 0.2094);
            assert!(new_obs.iter().all(|v| v.abs() <= 0.05));
            assert!(space.contains(final_obs));
            assert_eq!(record.episode_return, record.length as f64);
            finished += 1;
        }
    }
    assert!(finished >= 10);
}

#[test]
fn vec_env_runs_are_reproducible() {
    let run = || {
        let mut venv = VecEnv::new(vec![CartPole::new(); 4]).unwrap();
        let mut trace = venv.reset(Some(42)).to_vec();
        for t in 0..300 {
            let actions: Vec<usize> = (0..4).map(|i| (t / (i + 1)) % 2).collect();
            let step = venv.step(&actions).unwrap();
            trace.extend_from_slice(step.obs);
            trace.extend_from_slice(step.rewards);
        }
        trace
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_calls_are_errors() {
    assert_eq!(
        VecEnv::<CartPole>::new(vec![]).unwrap_err(),
        RlEnvError::NoEnvs
    );
    let err = VecEnv::new(vec![flow_env(10, 2, 5), flow_env(10, 3, 5)]).unwrap_err();
    assert!(matches!(
        err,
        RlEnvError::SpaceMismatch {
            index: 1,
            which: "observation",
            ..
        }
    ));
    let mut venv = VecEnv::new(vec![flow_env(10, 2, 5), flow_env(10, 2, 5)]).unwrap();
    assert_eq!(venv.step(&[0, 0]).unwrap_err(), RlEnvError::ResetNeeded);
    venv.reset(None);
    assert_eq!(
        venv.step(&[0]).unwrap_err(),
        RlEnvError::WrongLength {
            what: "actions",
            expected: 2,
            got: 1
        }
    );
    assert_eq!(
        venv.step(&[0, 2]).unwrap_err(),
        RlEnvError::InvalidAction { action: 2, n: 2 }
    );
    assert!(venv.step(&[0, 1]).is_ok());
}

#[test]
fn boxed_envs_can_be_mixed() {
    let envs: Vec<Box<dyn FlatEnv>> = vec![Box::new(CartPole::new()), Box::new(CartPole::new())];
    let mut venv = VecEnv::new(envs).unwrap();
    venv.reset(Some(0));
    assert_eq!(venv.step(&[0, 1]).unwrap().rewards, &[1.0, 1.0]);
    assert_eq!(venv.envs().len(), 2);
    assert_eq!(venv.envs_mut().len(), 2);
}
