//! CartPole dynamics checked against trajectories recorded from Gymnasium
//! 1.4.0 (`fixtures/make_cartpole_fixture.py` wrote `fixtures/cartpole_v1.json`).

use rlenv::{CartPole, Env, FlatEnv};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    env: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    policy: String,
    initial_state: [f64; 4],
    steps: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    action: usize,
    state: [f64; 4],
    reward: f32,
    terminated: bool,
    truncated: bool,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/cartpole_v1.json");
    serde_json::from_str(text).expect("the fixture parses")
}

/// Equal to 1e-6 relative, with an absolute floor for components near zero.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-12
}

fn assert_state(ours: [f64; 4], theirs: [f64; 4], what: &str) {
    for k in 0..4 {
        assert!(
            close(ours[k], theirs[k]),
            "{what}, component {k}: ours {} vs gymnasium {}",
            ours[k],
            theirs[k]
        );
    }
}

/// Free rollouts from Gymnasium's initial state with the recorded actions.
///
/// Open-loop CartPole is unstable: a difference of one unit in the last
/// place grows about e-fold every 15 steps, and numpy's `sin`/`cos` are not
/// the platform's (they differ by one ulp at step 19 of the long episode),
/// so rollouts are compared over their first `HORIZON` steps; the
/// step-by-step test below covers every step.
#[test]
fn rollouts_match_gymnasium() {
    const HORIZON: usize = 150;
    let fixture = fixture();
    assert_eq!(fixture.env, "CartPole-v1");
    assert_eq!(fixture.episodes.len(), 6);
    let mut compared = 0;
    for episode in &fixture.episodes {
        let mut env = CartPole::new();
        env.reset(Some(episode.seed));
        env.set_state(episode.initial_state).unwrap();
        for (t, record) in episode.steps.iter().enumerate().take(HORIZON) {
            let step = env.step(record.action).unwrap();
            let what = format!("seed {} ({}), step {t}", episode.seed, episode.policy);
            assert_state(env.state(), record.state, &what);
            let obs: Vec<f32> = env.state().iter().map(|&v| v as f32).collect();
            assert_eq!(step.obs, obs, "the observation is the f32 state");
            assert_eq!(step.reward, record.reward, "{what}");
            assert_eq!(step.terminated, record.terminated, "{what}");
            assert_eq!(step.truncated, record.truncated, "{what}");
            compared += 1;
        }
        if episode.steps.len() <= HORIZON {
            // The recorded episode ended, so has ours.
            assert_eq!(env.step(0).unwrap_err(), rlenv::RlEnvError::ResetNeeded);
        }
    }
    assert!(compared > 200, "{compared}");
}

/// Every recorded step: from Gymnasium's state before the step, the
/// recorded action gives Gymnasium's next state, reward and flags
/// (truncation after 500 steps included).
#[test]
fn every_step_matches_gymnasium() {
    let fixture = fixture();
    let mut compared = 0;
    for episode in &fixture.episodes {
        let mut env = CartPole::new();
        env.reset(Some(episode.seed));
        let mut before = episode.initial_state;
        for (t, record) in episode.steps.iter().enumerate() {
            env.set_state(before).unwrap();
            let step = env.step(record.action).unwrap();
            let what = format!("seed {} ({}), step {t}", episode.seed, episode.policy);
            assert_state(env.state(), record.state, &what);
            assert_eq!(step.reward, record.reward, "{what}");
            assert_eq!(step.terminated, record.terminated, "{what}");
            assert_eq!(step.truncated, record.truncated, "{what}");
            before = record.state;
            compared += 1;
        }
    }
    assert_eq!(compared, 8 + 10 + 27 + 15 + 11 + 500);
}

#[test]
fn the_long_episode_is_truncated_at_500_steps_through_step_into() {
    let fixture = fixture();
    let episode = fixture
        .episodes
        .iter()
        .find(|e| e.policy == "balance")
        .unwrap();
    assert_eq!(episode.steps.len(), 500);
    let mut env = CartPole::new();
    let mut obs = [0.0f32; 4];
    env.reset_into(Some(0), &mut obs);
    assert_eq!(env.obs_dim(), 4);
    assert_eq!(env.action_space().n(), Some(2));
    let high = [4.8, f32::INFINITY, 0.41887903, f32::INFINITY];
    let low = high.map(|h| -h);
    assert_eq!(
        env.observation_space(),
        rlenv::Space::new_box(low.to_vec(), high.to_vec(), vec![4]).unwrap()
    );
    env.set_state(episode.initial_state).unwrap();
    let mut last = None;
    let mut before = episode.initial_state;
    for record in &episode.steps {
        env.set_state(before).unwrap();
        last = Some(env.step_into(record.action, &mut obs));
        before = record.state;
    }
    let last = last.unwrap();
    assert!(last.truncated && !last.terminated);
    assert_eq!(env.elapsed_steps(), 500);
}
