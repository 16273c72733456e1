use ppo::{Control, IterationRecord, Ppo, PpoConfig};
use rlenv::{CartPole, VecEnv};
fn best(parallel: bool, n_epochs: usize, n_envs: usize) -> f64 {
    let mut env = VecEnv::new((0..n_envs).map(|_| CartPole::new()).collect()).unwrap();
    let cfg = PpoConfig { parallel, n_epochs, n_steps: 2048 / n_envs, ..PpoConfig::default() };
    let mut model = Ppo::new(cfg.clone(), &env, 0).unwrap();
    let mut best = f64::MAX;
    for _ in 0..8 {
        let t = std::time::Instant::now();
        model.learn(&mut env, 2048, &mut |_: &IterationRecord| Control::Continue).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best * 1e3
}
fn main() {
    for n_envs in [1, 8] {
        let r0 = best(false, 0usize.max(1), n_envs);
        let s = best(false, 10, n_envs);
        let p = best(true, 10, n_envs);
        println!("envs {n_envs}: 1-epoch {r0:.1} ms; 10 epochs serial {s:.1} ms ({:.0} steps/s), parallel {p:.1} ms ({:.0} steps/s); per epoch serial {:.2} ms", 2048.0 / s * 1e3, 2048.0 / p * 1e3, (s - r0) / 9.0);
    }
}
