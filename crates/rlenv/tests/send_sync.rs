//! Every public type can cross threads.

use rlenv::*;

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Space>();
    send_sync::<RlEnvError>();
    send_sync::<StepOutcome>();
    send_sync::<Step<Vec<f32>, FlowInfo>>();
    send_sync::<FlowDetectionEnv>();
    send_sync::<FlowEnvConfig>();
    send_sync::<RewardTable>();
    send_sync::<Sampling>();
    send_sync::<FlowInfo>();
    send_sync::<CartPole>();
    send_sync::<CartPoleConfig>();
    send_sync::<VecEnv<CartPole>>();
    send_sync::<VecStep<'static>>();
    send_sync::<EpisodeRecord>();
    send_sync::<TimeLimit<CartPole>>();
    send_sync::<EpisodeStatistics<FlowDetectionEnv>>();
    send_sync::<EpisodeStats>();
    send_sync::<StatsInfo<FlowInfo>>();
    send_sync::<CheckReport>();
}
