//! TimeLimit and EpisodeStatistics.

use ndarray::Array2;
use rlenv::{
    CartPole, Env, EpisodeStatistics, EpisodeStats, FlatEnv, FlowDetectionEnv, FlowEnvConfig,
    RlEnvError, Sampling, TimeLimit, VecEnv,
};

fn flow_env(episode_length: usize) -> FlowDetectionEnv {
    // Labels 0, 1, 0, 1, ...
    let latents = Array2::from_shape_fn((10, 2), |(i, j)| (i + j) as f32);
    let labels = (0..10).map(|i| (i % 2) as u8).collect();
    let config = FlowEnvConfig {
        episode_length,
        sampling: Sampling::Sequential,
        ..Default::default()
    };
    FlowDetectionEnv::new(latents, labels, config).unwrap()
}

#[test]
fn time_limit_truncates_and_refuses_further_steps() {
    let mut env = TimeLimit::new(flow_env(100), 4).unwrap();
    assert_eq!(env.max_episode_steps(), 4);
    for _episode in 0..3 {
        env.reset(None);
        for t in 1..=4 {
            let step = env.step(0).unwrap();
            assert_eq!(step.truncated, t == 4);
            assert_eq!(env.elapsed_steps(), t);
        }
        assert_eq!(env.step(0).unwrap_err(), RlEnvError::ResetNeeded);
    }
    // The inner env's own, shorter limit still applies.
    let mut env = TimeLimit::new(flow_env(2), 10).unwrap();
    env.reset(None);
    env.step(0).unwrap();
    assert!(env.step(0).unwrap().truncated);
    assert!(matches!(
        TimeLimit::new(CartPole::new(), 0),
        Err(RlEnvError::ZeroLength { .. })
    ));
    assert_eq!(env.into_inner().elapsed_steps(), 2);
}

#[test]
fn time_limit_keeps_termination() {
    let mut env = TimeLimit::new(CartPole::new(), 1000).unwrap();
    let mut obs = [0.0; 4];
    env.reset_into(Some(0), &mut obs);
    let out = loop {
        let out = env.step_into(1, &mut obs);
        if out.done() {
            break out;
        }
    };
    assert!(out.terminated && !out.truncated);
    assert!(env.elapsed_steps() < 100);
    assert_eq!(env.inner().elapsed_steps(), env.elapsed_steps());
}

#[test]
fn episode_statistics_record_returns_and_lengths() {
    let mut env = EpisodeStatistics::new(flow_env(4));
    assert_eq!(env.mean_return(), None);
    // Episode 1: rows 0..4 judged all benign: +2 -4 +2 -4.
    env.reset(Some(0));
    let mut infos = Vec::new();
    for _ in 0..4 {
        infos.push(env.step(0).unwrap().info);
    }
    assert!(infos[..3].iter().all(|i| i.episode.is_none()));
    let first = EpisodeStats {
        episode_return: -4.0,
        length: 4,
    };
    assert_eq!(infos[3].episode, Some(first));
    assert_eq!(infos[3].inner.row, 3, "the wrapped info is passed through");
    // Episode 2: rows 4..8 judged correctly: 4 x +2.
    env.reset(None);
    for t in 0..4 {
        env.step(t % 2).unwrap();
        let expected = if t < 3 { 2.0 * (t + 1) as f64 } else { 0.0 };
        assert_eq!(env.current_return(), expected);
    }
    assert_eq!(env.episode_count(), 2);
    assert_eq!(env.last_episode().unwrap().episode_return, 8.0);
    assert_eq!(env.mean_return(), Some(2.0));
    assert_eq!(env.mean_length(), Some(4.0));
    assert_eq!(env.recent_episodes().count(), 2);
}

#[test]
fn episode_statistics_keep_the_most_recent_episodes() {
    let mut env =
        EpisodeStatistics::with_buffer_length(TimeLimit::new(CartPole::new(), 5).unwrap(), 3)
            .unwrap();
    let mut obs = [0.0; 4];
    for episode in 0..10 {
        env.reset_into(Some(episode), &mut obs);
        // Alternating pushes keep the pole up for 5 steps.
        for t in 0..5 {
            env.step_into(t % 2, &mut obs);
        }
    }
    assert_eq!(env.episode_count(), 10);
    assert_eq!(env.recent_episodes().count(), 3);
    assert_eq!(env.mean_return(), Some(5.0));
    assert!(EpisodeStatistics::with_buffer_length(CartPole::new(), 0).is_err());
}

#[test]
fn wrapped_envs_work_in_a_vec_env() {
    let envs = (0..2)
        .map(|_| EpisodeStatistics::new(TimeLimit::new(CartPole::new(), 20).unwrap()))
        .collect();
    let mut venv = VecEnv::new(envs).unwrap();
    venv.reset(Some(0));
    let mut from_vec = Vec::new();
    for t in 0..100 {
        let step = venv.step(&[t % 2, (t + 1) % 2]).unwrap();
        from_vec.extend(
            step.episodes
                .iter()
                .map(|r| (r.env_index, r.episode_return, r.length)),
        );
    }
    for (i, env) in venv.envs().iter().enumerate() {
        let inner: Vec<_> = env
            .recent_episodes()
            .map(|e| (i, e.episode_return, e.length))
            .collect();
        let outer: Vec<_> = from_vec.iter().copied().filter(|r| r.0 == i).collect();
        assert_eq!(inner, outer);
        assert!(!inner.is_empty());
    }
}
