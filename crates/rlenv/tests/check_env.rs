//! check_env accepts the crate's environments and rejects broken ones.

use ndarray::Array2;
use rlenv::{
    CartPole, EpisodeStatistics, FlatEnv, FlowDetectionEnv, FlowEnvConfig, RlEnvError, Sampling,
    Space, StepOutcome, TimeLimit, check_env, check_flat_env,
};

fn flow_env(sampling: Sampling) -> FlowDetectionEnv {
    let latents = Array2::from_shape_fn((300, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
    let labels = (0..300).map(|i| u8::from(i % 4 == 0)).collect();
    let config = FlowEnvConfig {
        episode_length: 50,
        sampling,
        ..Default::default()
    };
    FlowDetectionEnv::new(latents, labels, config).unwrap()
}

#[test]
fn the_crate_envs_pass() {
    let report = check_env(&mut CartPole::new(), 0, 2000).unwrap();
    assert!(report.episodes >= 20, "{report:?}");
    check_flat_env(&mut CartPole::new(), 1, 2000).unwrap();
    for sampling in [Sampling::Shuffled, Sampling::Sequential, Sampling::Balanced] {
        let report = check_env(&mut flow_env(sampling), 2, 500).unwrap();
        assert_eq!(report.episodes, 10);
        check_flat_env(&mut flow_env(sampling), 3, 500).unwrap();
    }
    let mut wrapped = EpisodeStatistics::new(TimeLimit::new(CartPole::new(), 30).unwrap());
    check_env(&mut wrapped, 4, 300).unwrap();
    check_flat_env(&mut wrapped, 4, 300).unwrap();
}

/// A configurable broken environment.
struct Broken {
    fault: Fault,
    t: usize,
    calls: u64,
}

#[derive(Clone, Copy)]
enum Fault {
    None,
    ObsOutOfSpace,
    NanReward,
    IgnoresSeed,
    WrongObsDim,
    DiscreteObservations,
}

impl Broken {
    fn new(fault: Fault) -> Self {
        Broken {
            fault,
            t: 0,
            calls: 0,
        }
    }
}

impl FlatEnv for Broken {
    fn observation_space(&self) -> Space {
        match self.fault {
            Fault::DiscreteObservations => Space::Discrete { n: 3 },
            _ => Space::uniform_box(-1.0, 1.0, 2).unwrap(),
        }
    }
    fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }
    fn obs_dim(&self) -> usize {
        match self.fault {
            Fault::WrongObsDim => 3,
            _ => 2,
        }
    }
    fn reset_into(&mut self, _seed: Option<u64>, obs: &mut [f32]) {
        self.t = 0;
        self.calls += 1;
        obs.fill(0.0);
        if let Fault::IgnoresSeed = self.fault {
            obs[0] = (self.calls % 7) as f32 / 10.0;
        }
    }
    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        self.t += 1;
        obs.fill(action as f32 * 0.5);
        if let (Fault::ObsOutOfSpace, 7) = (self.fault, self.t) {
            obs[1] = 1.5;
        }
        let reward = match (self.fault, self.t) {
            (Fault::NanReward, 9) => f32::NAN,
            _ => 1.0,
        };
        StepOutcome {
            reward,
            terminated: self.t == 10,
            truncated: false,
        }
    }
}

fn failure(fault: Fault) -> String {
    match check_flat_env(&mut Broken::new(fault), 0, 50) {
        Err(RlEnvError::CheckFailed(message)) => message,
        other => panic!("expected a failed check, got {other:?}"),
    }
}

#[test]
fn broken_envs_fail() {
    assert_eq!(
        check_flat_env(&mut Broken::new(Fault::None), 0, 50)
            .unwrap()
            .episodes,
        5
    );
    assert!(failure(Fault::ObsOutOfSpace).contains("of step 6"));
    assert!(failure(Fault::NanReward).contains("reward of step 8 must be finite"));
    assert!(failure(Fault::IgnoresSeed).contains("the same seed 0 gave different episodes"));
    assert!(failure(Fault::WrongObsDim).contains("obs_dim is 3"));
    assert!(failure(Fault::DiscreteObservations).contains("must be a Box"));
}
