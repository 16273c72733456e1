use ndarray::Array2;
use ppo::{Control, IterationRecord, Ppo, PpoConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rlenv::{FlowDetectionEnv, FlowEnvConfig, VecEnv, CartPole};
fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    let rows = 80_000;
    let labels: Vec<u8> = (0..rows).map(|_| u8::from(rng.random::<f32>() < 0.2)).collect();
    let x = Array2::from_shape_fn((rows, 32), |(i, _)| rng.sample::<f32, _>(rand_distr::StandardNormal) + if labels[i] == 1 { 0.5 } else { 0.0 });
    for parallel in [true, false] {
        let config = FlowEnvConfig { episode_length: 1000, seed: 0, ..FlowEnvConfig::default() };
        let mut env = VecEnv::new(vec![FlowDetectionEnv::new(x.clone(), labels.clone(), config).unwrap()]).unwrap();
        let mut model = Ppo::new(PpoConfig { parallel, ..PpoConfig::default() }, &env, 0).unwrap();
        let mut cenv = VecEnv::new(vec![CartPole::new()]).unwrap();
        let mut cmodel = Ppo::new(PpoConfig { parallel, ..PpoConfig::default() }, &cenv, 0).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            model.learn(&mut env, 2048, &mut |_: &IterationRecord| Control::Continue).unwrap();
            let f = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let mut e1 = VecEnv::new(vec![FlowDetectionEnv::new(x.clone(), labels.clone(), FlowEnvConfig { episode_length: 1000, ..FlowEnvConfig::default() }).unwrap()]).unwrap();
            e1.reset(Some(1));
            for i in 0..2048 { e1.step(&[i % 2]).unwrap(); }
            let envt = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            cmodel.learn(&mut cenv, 2048, &mut |_: &IterationRecord| Control::Continue).unwrap();
            let c = t.elapsed().as_secs_f64();
            println!("parallel {parallel}: flow {:.1} ms, cartpole {:.1} ms, env-only flow 2048 steps {:.2} ms", f * 1e3, c * 1e3, envt * 1e3);
        }
    }
}
