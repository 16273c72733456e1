//! The PPO learner: rollouts, GAE, minibatch updates, inference.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rlenv::{EpisodeRecord, FlatEnv, Space, VecEnv};

use crate::buffer::RolloutBuffer;
use crate::callback::{Callback, Control, IterationRecord};
use crate::config::{LrSchedule, PpoConfig};
use crate::distribution::{ActionDistribution, distribution_for};
use crate::engine::{Adam, Mlp, MlpWorkspace};
use crate::error::{PpoError, Result};
use crate::loss::{
    PolicyLossStats, clipped_surrogate, explained_variance, normalize_advantages, value_loss,
};

/// Rows per forward pass in batched inference (bounds the scratch memory).
const INFERENCE_CHUNK: usize = 1024;

/// Independent random streams derived from the model's seed.
#[derive(Clone, Copy)]
enum Stream {
    Iteration = 1,
    Reset = 2,
    Predict = 3,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for stream `stream`, index `index`, of a model seeded `seed`.
fn derive_seed(seed: u64, stream: Stream, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ splitmix64(stream as u64)).wrapping_add(index))
}

/// One network with its optimiser and scratch memory.
#[derive(Clone, Debug)]
pub(crate) struct Net {
    pub(crate) mlp: Mlp,
    pub(crate) adam: Adam,
    ws: MlpWorkspace,
    grad: Vec<f32>,
    d_out: Vec<f32>,
}

impl Net {
    fn new(mlp: Mlp, lr: f32, eps: f32) -> Self {
        let n = mlp.n_params();
        Self {
            adam: Adam::new(n, lr, eps),
            grad: vec![0.0; n],
            mlp,
            ws: MlpWorkspace::default(),
            d_out: Vec::new(),
        }
    }

    fn apply(&mut self, grad_scale: f32) {
        self.adam
            .step(self.mlp.params_mut(), &self.grad, grad_scale);
    }

    /// Applies the last pending update of an iteration and readies the
    /// network for rollouts.
    fn finish(&mut self, pending: Option<f32>) {
        if let Some(scale) = pending {
            self.apply(scale);
        }
        self.mlp.prepare_small_batches();
    }
}

/// The minibatch being trained on, gathered from the rollout buffer.
#[derive(Clone, Debug, Default)]
struct Minibatch {
    len: usize,
    obs: Vec<f32>,
    actions: Vec<f32>,
    old_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
}

impl Minibatch {
    fn gather(&mut self, buf: &RolloutBuffer, idx: &[usize]) {
        let (d, aw) = (buf.obs_dim, buf.action_width);
        self.len = idx.len();
        for v in [
            &mut self.obs,
            &mut self.actions,
            &mut self.old_log_probs,
            &mut self.advantages,
            &mut self.returns,
            &mut self.old_values,
        ] {
            v.clear();
        }
        for &i in idx {
            self.obs
                .extend_from_slice(&buf.observations[i * d..(i + 1) * d]);
            self.actions
                .extend_from_slice(&buf.actions[i * aw..(i + 1) * aw]);
            self.old_log_probs.push(buf.log_probs[i]);
            self.advantages.push(buf.advantages[i]);
            self.returns.push(buf.returns[i]);
            self.old_values.push(buf.values[i]);
        }
    }
}

/// Per-sample scratch of the policy update.
#[derive(Clone, Debug, Default)]
struct PolicyScratch {
    log_probs: Vec<f32>,
    d_log_probs: Vec<f32>,
    advantages: Vec<f32>,
}

struct ActorOut {
    stats: PolicyLossStats,
    entropy: f32,
    sum_squares: f32,
}

struct CriticOut {
    loss: f32,
    sum_squares: f32,
}

/// Forward and backward of the policy on one minibatch, after applying the
/// previous minibatch's pending update.
fn actor_job(
    net: &mut Net,
    s: &mut PolicyScratch,
    dist: &dyn ActionDistribution,
    pending: Option<f32>,
    mb: &Minibatch,
    cfg: &PpoConfig,
) -> Result<ActorOut> {
    if let Some(scale) = pending {
        net.apply(scale);
    }
    let b = mb.len;
    let (n_out, aw) = (dist.n_outputs(), dist.action_width());
    let logits = net.mlp.forward(&mb.obs, b, &mut net.ws)?;
    s.log_probs.resize(b, 0.0);
    s.d_log_probs.resize(b, 0.0);
    s.advantages.clear();
    s.advantages.extend_from_slice(&mb.advantages);
    let mut entropy = 0.0f64;
    for i in 0..b {
        let (lp, h) = dist.log_prob_entropy(
            &logits[i * n_out..(i + 1) * n_out],
            &mb.actions[i * aw..(i + 1) * aw],
        );
        s.log_probs[i] = lp;
        entropy += h as f64;
    }
    if cfg.normalize_advantage {
        normalize_advantages(&mut s.advantages);
    }
    let stats = clipped_surrogate(
        &s.log_probs,
        &mb.old_log_probs,
        &s.advantages,
        cfg.clip_range,
        &mut s.d_log_probs,
    )?;
    let d_entropy = -cfg.ent_coef / b as f32;
    net.d_out.clear();
    net.d_out.resize(b * n_out, 0.0);
    for i in 0..b {
        dist.backward(
            &logits[i * n_out..(i + 1) * n_out],
            &mb.actions[i * aw..(i + 1) * aw],
            s.d_log_probs[i],
            d_entropy,
            &mut net.d_out[i * n_out..(i + 1) * n_out],
        );
    }
    net.mlp
        .backward(&mb.obs, b, &mut net.ws, &net.d_out, &mut net.grad)?;
    let sum_squares = crate::engine::sum_squares(&net.grad);
    Ok(ActorOut {
        stats,
        entropy: (entropy / b as f64) as f32,
        sum_squares,
    })
}

/// Forward and backward of the value network on one minibatch, after
/// applying the previous minibatch's pending update.
fn critic_job(
    net: &mut Net,
    pending: Option<f32>,
    mb: &Minibatch,
    cfg: &PpoConfig,
) -> Result<CriticOut> {
    if let Some(scale) = pending {
        net.apply(scale);
    }
    let b = mb.len;
    let values = net.mlp.forward(&mb.obs, b, &mut net.ws)?;
    net.d_out.resize(b, 0.0);
    let loss = value_loss(
        values,
        &mb.old_values,
        &mb.returns,
        cfg.clip_range_vf,
        &mut net.d_out[..b],
    )?;
    crate::engine::scale(&mut net.d_out[..b], cfg.vf_coef);
    net.mlp
        .backward(&mb.obs, b, &mut net.ws, &net.d_out[..b], &mut net.grad)?;
    let sum_squares = crate::engine::sum_squares(&net.grad);
    Ok(CriticOut { loss, sum_squares })
}

/// Spins this many times on an empty channel before blocking (a few
/// tens of microseconds: longer than the usual wait between the halves of a
/// minibatch, short enough not to burn a core when the machine is busy).
const SPIN_LIMIT: usize = 1 << 8;

/// Receives from `rx`, spinning briefly before blocking. `None` when the
/// sender is gone.
fn recv_spin<T>(rx: &mpsc::Receiver<T>) -> Option<T> {
    for _ in 0..SPIN_LIMIT {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
            Err(mpsc::TryRecvError::Disconnected) => return None,
        }
    }
    rx.recv().ok()
}

/// Work for the value network's thread.
enum CriticTask {
    /// Apply the pending update, then forward and backward on the minibatch.
    Minibatch {
        pending: Option<f32>,
        batch: Arc<Minibatch>,
    },
    /// Apply the last pending update and stop.
    Finish { pending: Option<f32> },
}

/// The value network's thread: serves tasks until told to finish or the
/// sender goes away.
fn critic_worker(
    critic: &mut Net,
    cfg: &PpoConfig,
    tasks: &mpsc::Receiver<CriticTask>,
    done: &mpsc::SyncSender<Result<CriticOut>>,
) {
    while let Some(task) = recv_spin(tasks) {
        let result = match task {
            CriticTask::Minibatch { pending, batch } => critic_job(critic, pending, &batch, cfg),
            CriticTask::Finish { pending } => {
                critic.finish(pending);
                let _ = done.send(Ok(CriticOut {
                    loss: 0.0,
                    sum_squares: 0.0,
                }));
                return;
            }
        };
        if done.send(result).is_err() {
            return;
        }
    }
}

/// Where the value network's half of each minibatch runs.
enum CriticRunner<'a> {
    /// On the calling thread, after the policy's half.
    Inline(&'a mut Net),
    /// On the value network's thread, alongside the policy's half.
    Worker {
        tasks: mpsc::SyncSender<CriticTask>,
        done: mpsc::Receiver<Result<CriticOut>>,
    },
}

fn worker_gone() -> PpoError {
    PpoError::Worker("the value network's thread stopped unexpectedly".into())
}

impl CriticRunner<'_> {
    /// Starts the value network's half (on the worker).
    fn start(&mut self, pending: Option<f32>, batch: &Arc<Minibatch>) -> Result<()> {
        match self {
            CriticRunner::Inline(_) => Ok(()),
            CriticRunner::Worker { tasks, .. } => tasks
                .send(CriticTask::Minibatch {
                    pending,
                    batch: Arc::clone(batch),
                })
                .map_err(|_| worker_gone()),
        }
    }

    /// Completes the value network's half and returns its result.
    fn finish(
        &mut self,
        pending: Option<f32>,
        batch: &Minibatch,
        cfg: &PpoConfig,
    ) -> Result<CriticOut> {
        match self {
            CriticRunner::Inline(critic) => critic_job(critic, pending, batch, cfg),
            CriticRunner::Worker { done, .. } => recv_spin(done).ok_or_else(worker_gone)?,
        }
    }

    /// Applies the last pending update.
    fn close(&mut self, pending: Option<f32>) -> Result<()> {
        match self {
            CriticRunner::Inline(critic) => {
                critic.finish(pending);
                Ok(())
            }
            CriticRunner::Worker { tasks, done } => {
                tasks
                    .send(CriticTask::Finish { pending })
                    .map_err(|_| worker_gone())?;
                recv_spin(done).ok_or_else(worker_gone)?.map(|_| ())
            }
        }
    }
}

/// The policy's side of an update and everything it reads.
struct UpdateWork<'a> {
    cfg: &'a PpoConfig,
    dist: &'a dyn ActionDistribution,
    actor: &'a mut Net,
    buffer: &'a RolloutBuffer,
    minibatch: &'a mut Arc<Minibatch>,
    scratch: &'a mut PolicyScratch,
    indices: &'a mut Vec<usize>,
    iteration: u64,
}

impl UpdateWork<'_> {
    /// The epochs of minibatch updates. Each minibatch's parameter update is
    /// applied at the start of the next one, once the global gradient norm
    /// of both networks is known.
    fn run(&mut self, rng: &mut StdRng, critic: &mut CriticRunner<'_>) -> Result<UpdateStats> {
        let cfg = self.cfg;
        let n = self.buffer.len();
        let mut sums = [0.0f64; 5];
        let mut count = 0usize;
        let mut pending: Option<f32> = None;
        let mut epochs = 0;
        let mut kl_early_stop = false;
        'epochs: for _ in 0..cfg.n_epochs {
            self.indices.clear();
            self.indices.extend(0..n);
            self.indices.shuffle(rng);
            for chunk in self.indices.chunks(cfg.batch_size) {
                // The worker has dropped its handle by now, so this does not copy.
                Arc::make_mut(self.minibatch).gather(self.buffer, chunk);
                critic.start(pending, self.minibatch)?;
                let a = actor_job(
                    self.actor,
                    self.scratch,
                    self.dist,
                    pending,
                    self.minibatch,
                    cfg,
                );
                let c = critic.finish(pending, self.minibatch, cfg);
                let (a, c) = (a?, c?);
                let finite = [a.stats.loss, c.loss, a.sum_squares, c.sum_squares]
                    .iter()
                    .all(|v| v.is_finite());
                if !finite {
                    return Err(PpoError::NonFinite {
                        what: "loss or gradient",
                        iteration: self.iteration,
                    });
                }
                let values = [
                    a.stats.loss,
                    c.loss,
                    a.entropy,
                    a.stats.approx_kl,
                    a.stats.clip_fraction,
                ];
                for (s, v) in sums.iter_mut().zip(values) {
                    *s += v as f64;
                }
                count += 1;
                if let Some(target) = cfg.target_kl
                    && a.stats.approx_kl > 1.5 * target
                {
                    pending = None;
                    kl_early_stop = true;
                    break 'epochs;
                }
                let norm = (a.sum_squares + c.sum_squares).sqrt();
                pending = Some(crate::engine::clip_coefficient(norm, cfg.max_grad_norm));
            }
            epochs += 1;
        }
        self.actor.finish(pending);
        critic.close(pending)?;
        let mean = |i: usize| {
            if count > 0 {
                (sums[i] / count as f64) as f32
            } else {
                0.0
            }
        };
        Ok(UpdateStats {
            policy_loss: mean(0),
            value_loss: mean(1),
            entropy: mean(2),
            approx_kl: mean(3),
            clip_fraction: mean(4),
            epochs,
            kl_early_stop,
        })
    }
}

/// Aggregated statistics of one update.
struct UpdateStats {
    policy_loss: f32,
    value_loss: f32,
    entropy: f32,
    approx_kl: f32,
    clip_fraction: f32,
    epochs: usize,
    kl_early_stop: bool,
}

/// A PPO learner (clipped surrogate, GAE, separate tanh policy and value
/// MLPs) for environments with flat observations and discrete actions.
///
/// ```
/// use ppo::{Control, IterationRecord, Ppo, PpoConfig};
/// use rlenv::{CartPole, VecEnv};
///
/// let mut env = VecEnv::new(vec![CartPole::new(), CartPole::new()])?;
/// let config = PpoConfig { n_steps: 64, batch_size: 32, n_epochs: 2, ..PpoConfig::default() };
/// let mut model = Ppo::new(config, &env, 7)?;
/// let log = model.learn(&mut env, 256, &mut |_: &IterationRecord| Control::Continue)?;
/// assert_eq!(log.len(), 2); // 2 iterations of 64 steps x 2 envs
/// assert_eq!(model.num_timesteps(), 256);
///
/// let obs = ndarray::Array2::<f32>::zeros((3, 4));
/// let probs = model.action_probabilities(obs.view())?;
/// assert_eq!(probs.dim(), (3, 2));
/// let actions = model.predict(obs.view(), true)?;
/// assert!(actions.iter().all(|&a| a < 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ppo {
    pub(crate) config: PpoConfig,
    pub(crate) observation_space: Space,
    pub(crate) action_space: Space,
    pub(crate) obs_dim: usize,
    pub(crate) dist: Box<dyn ActionDistribution>,
    pub(crate) actor: Net,
    pub(crate) critic: Net,
    pub(crate) seed: u64,
    pub(crate) num_timesteps: u64,
    pub(crate) iterations: u64,
    buffer: RolloutBuffer,
    minibatch: Arc<Minibatch>,
    policy_scratch: PolicyScratch,
    indices: Vec<usize>,
    last_obs: Vec<f32>,
    env_actions: Vec<usize>,
    truncated_rows: Vec<usize>,
    truncated_obs: Vec<f32>,
    predict_rng: Mutex<StdRng>,
}

impl std::fmt::Debug for Ppo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ppo")
            .field("config", &self.config)
            .field("observation_space", &self.observation_space)
            .field("action_space", &self.action_space)
            .field("policy_sizes", &self.actor.mlp.sizes())
            .field("value_sizes", &self.critic.mlp.sizes())
            .field("seed", &self.seed)
            .field("num_timesteps", &self.num_timesteps)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Ppo {
    /// A new model for the spaces of `env`, initialised from `seed`
    /// (orthogonal weights: gain sqrt 2 for hidden layers, 0.01 for the
    /// policy head, 1 for the value head).
    ///
    /// # Errors
    /// [`PpoError::InvalidConfig`] for a bad configuration (checked against
    /// `env`'s number of environments), [`PpoError::UnsupportedSpace`] for
    /// spaces other than a `Box` of observations and `Discrete` actions.
    pub fn new<E: FlatEnv>(config: PpoConfig, env: &VecEnv<E>, seed: u64) -> Result<Self> {
        config.validate_for_envs(env.num_envs())?;
        Self::with_spaces(config, env.observation_space(), env.action_space(), seed)
    }

    /// A new model for the given spaces (see [`Ppo::new`]).
    ///
    /// # Errors
    /// As [`Ppo::new`]; the configuration is checked for one environment's
    /// worth of independent values here and against the environments at
    /// [`Ppo::learn`].
    pub fn with_spaces(
        config: PpoConfig,
        observation_space: Space,
        action_space: Space,
        seed: u64,
    ) -> Result<Self> {
        config.validate()?;
        let obs_dim = match &observation_space {
            Space::Box { .. } if observation_space.flat_dim() > 0 => observation_space.flat_dim(),
            other => {
                return Err(PpoError::UnsupportedSpace {
                    role: "observation",
                    space: format!("{other:?}"),
                });
            }
        };
        let dist = distribution_for(&action_space)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let sizes = |hidden: &[usize], out: usize| {
            let mut s = vec![obs_dim];
            s.extend_from_slice(hidden);
            s.push(out);
            s
        };
        let gain = 2f32.sqrt();
        let actor = Mlp::orthogonal(
            &sizes(&config.net_arch.pi, dist.n_outputs()),
            gain,
            0.01,
            &mut rng,
        )?;
        let critic = Mlp::orthogonal(&sizes(&config.net_arch.vf, 1), gain, 1.0, &mut rng)?;
        Ok(Self {
            actor: Net::new(actor, config.learning_rate, config.adam_eps),
            critic: Net::new(critic, config.learning_rate, config.adam_eps),
            predict_rng: Mutex::new(StdRng::seed_from_u64(derive_seed(seed, Stream::Predict, 0))),
            config,
            observation_space,
            action_space,
            obs_dim,
            dist,
            seed,
            num_timesteps: 0,
            iterations: 0,
            buffer: RolloutBuffer::default(),
            minibatch: Arc::default(),
            policy_scratch: PolicyScratch::default(),
            indices: Vec::new(),
            last_obs: Vec::new(),
            env_actions: Vec::new(),
            truncated_rows: Vec::new(),
            truncated_obs: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PpoConfig {
        &self.config
    }

    /// The observation space the model was built for.
    pub fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    /// The action space the model was built for.
    pub fn action_space(&self) -> &Space {
        &self.action_space
    }

    /// The seed the model was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Environment steps trained on so far.
    pub fn num_timesteps(&self) -> u64 {
        self.num_timesteps
    }

    /// Iterations (rollout + update) so far.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// The policy network (outputs: the distribution's parameters, logits
    /// for discrete actions).
    pub fn policy_net(&self) -> &Mlp {
        &self.actor.mlp
    }

    /// The value network (one output).
    pub fn value_net(&self) -> &Mlp {
        &self.critic.mlp
    }

    /// The last rollout collected by [`Ppo::learn`] (empty before).
    pub fn rollout_buffer(&self) -> &RolloutBuffer {
        &self.buffer
    }

    fn check_env<E: FlatEnv>(&self, env: &VecEnv<E>) -> Result<()> {
        if env.obs_dim() != self.obs_dim {
            return Err(PpoError::EnvMismatch(format!(
                "observations have {} values, the model expects {}",
                env.obs_dim(),
                self.obs_dim
            )));
        }
        if env.action_space() != self.action_space {
            return Err(PpoError::EnvMismatch(format!(
                "action space {:?}, the model was built for {:?}",
                env.action_space(),
                self.action_space
            )));
        }
        Ok(())
    }

    /// Trains for `total_timesteps` more environment steps (rounded up to
    /// whole rollouts of `n_steps * num_envs`), or until `callback` stops
    /// training. Returns one record per iteration.
    ///
    /// Every call resets `env` with a seed derived from the model's seed and
    /// step count, and each iteration samples actions and minibatches from a
    /// generator seeded the same way: a model trained with the same seed,
    /// configuration and environments produces the same log, whether or not
    /// it was saved and loaded between calls.
    ///
    /// # Errors
    /// [`PpoError::EnvMismatch`] when `env` does not fit the model,
    /// [`PpoError::InvalidConfig`] when the batch size does not fit its
    /// rollout, [`PpoError::NonFinite`] when observations, rewards or losses
    /// stop being finite, and the errors of the environment and `callback`.
    pub fn learn<E: FlatEnv, C: Callback + ?Sized>(
        &mut self,
        env: &mut VecEnv<E>,
        total_timesteps: u64,
        callback: &mut C,
    ) -> Result<Vec<IterationRecord>> {
        self.check_env(env)?;
        let n_envs = env.num_envs();
        self.config.validate_for_envs(n_envs)?;
        self.prepare(n_envs);
        let reset_seed = derive_seed(self.seed, Stream::Reset, self.num_timesteps);
        self.last_obs.copy_from_slice(env.reset(Some(reset_seed)));
        let mut window: VecDeque<EpisodeRecord> =
            VecDeque::with_capacity(self.config.stats_window_size);
        let mut episodes = 0u64;
        let start = Instant::now();
        let mut done_steps = 0u64;
        let mut records = Vec::new();
        while done_steps < total_timesteps {
            self.iterations += 1;
            let mut rng =
                StdRng::seed_from_u64(derive_seed(self.seed, Stream::Iteration, self.iterations));
            self.collect_rollout(env, &mut rng, &mut window, &mut episodes, callback)?;
            let steps = self.buffer.len() as u64;
            self.num_timesteps += steps;
            done_steps += steps;
            let learning_rate = match self.config.lr_schedule {
                LrSchedule::Constant => self.config.learning_rate,
                LrSchedule::Linear => {
                    let remaining = 1.0 - done_steps as f64 / total_timesteps as f64;
                    (self.config.learning_rate as f64 * remaining.max(0.0)) as f32
                }
            };
            let stats = self.update(&mut rng, learning_rate)?;
            let elapsed = start.elapsed().as_secs_f64();
            let mean = |f: fn(&EpisodeRecord) -> f64| {
                (!window.is_empty())
                    .then(|| window.iter().map(f).sum::<f64>() / window.len() as f64)
            };
            let record = IterationRecord {
                iteration: self.iterations,
                timesteps: self.num_timesteps,
                episodes,
                mean_episode_return: mean(|e| e.episode_return),
                mean_episode_length: mean(|e| e.length as f64),
                policy_loss: stats.policy_loss,
                value_loss: stats.value_loss,
                entropy: stats.entropy,
                approx_kl: stats.approx_kl,
                clip_fraction: stats.clip_fraction,
                explained_variance: explained_variance(&self.buffer.values, &self.buffer.returns),
                learning_rate,
                epochs: stats.epochs,
                kl_early_stop: stats.kl_early_stop,
                steps_per_second: if elapsed > 0.0 {
                    done_steps as f64 / elapsed
                } else {
                    0.0
                },
                elapsed_seconds: elapsed,
            };
            let control = callback.on_iteration(&record, self)?;
            records.push(record);
            if control == Control::Stop {
                break;
            }
        }
        Ok(records)
    }

    /// Sizes the buffers for `n_envs` environments (allocates only when the
    /// sizes change).
    fn prepare(&mut self, n_envs: usize) {
        let aw = self.dist.action_width();
        let b = &self.buffer;
        if b.n_steps != self.config.n_steps
            || b.n_envs != n_envs
            || b.obs_dim != self.obs_dim
            || b.action_width != aw
        {
            self.buffer = RolloutBuffer::new(self.config.n_steps, n_envs, self.obs_dim, aw);
        }
        self.last_obs.resize(n_envs * self.obs_dim, 0.0);
        self.env_actions.resize(n_envs, 0);
        self.truncated_rows.reserve(n_envs);
        self.truncated_obs.reserve(n_envs * self.obs_dim);
    }

    fn collect_rollout<E: FlatEnv, C: Callback + ?Sized>(
        &mut self,
        env: &mut VecEnv<E>,
        rng: &mut StdRng,
        window: &mut VecDeque<EpisodeRecord>,
        episodes: &mut u64,
        callback: &mut C,
    ) -> Result<()> {
        let Self {
            config,
            dist,
            actor,
            critic,
            buffer,
            last_obs,
            env_actions,
            truncated_rows,
            truncated_obs,
            ..
        } = self;
        let (n_envs, d) = (buffer.n_envs, buffer.obs_dim);
        let (n_out, aw) = (dist.n_outputs(), dist.action_width());
        let iteration = self.iterations;
        for t in 0..buffer.n_steps {
            let base = t * n_envs;
            if last_obs.iter().any(|x| !x.is_finite()) {
                return Err(PpoError::NonFinite {
                    what: "observation",
                    iteration,
                });
            }
            buffer.observations[base * d..(base + n_envs) * d].copy_from_slice(last_obs);
            let logits = actor.mlp.forward(last_obs, n_envs, &mut actor.ws)?;
            for e in 0..n_envs {
                let params = &logits[e * n_out..(e + 1) * n_out];
                let i = base + e;
                let action = &mut buffer.actions[i * aw..(i + 1) * aw];
                dist.sample(params, rng, action);
                buffer.log_probs[i] = dist.log_prob_entropy(params, action).0;
                env_actions[e] = action[0] as usize;
            }
            let values = critic.mlp.forward(last_obs, n_envs, &mut critic.ws)?;
            buffer.values[base..base + n_envs].copy_from_slice(values);
            let step = env.step(env_actions)?;
            truncated_rows.clear();
            truncated_obs.clear();
            for e in 0..n_envs {
                let reward = step.rewards[e];
                if !reward.is_finite() {
                    return Err(PpoError::NonFinite {
                        what: "reward",
                        iteration,
                    });
                }
                buffer.rewards[base + e] = reward;
                let (term, trunc) = (step.terminated[e], step.truncated[e]);
                buffer.dones[base + e] = if term || trunc { 1.0 } else { 0.0 };
                if trunc && !term {
                    truncated_rows.push(e);
                    truncated_obs.extend_from_slice(&step.final_obs[e * d..(e + 1) * d]);
                }
            }
            for episode in step.episodes {
                if window.len() == config.stats_window_size {
                    window.pop_front();
                }
                window.push_back(*episode);
                *episodes += 1;
                callback.on_episode(episode);
            }
            last_obs.copy_from_slice(step.obs);
            if !truncated_rows.is_empty() {
                // Time limits are not terminal states: bootstrap with the
                // value of the observation the episode was cut at.
                let v = critic
                    .mlp
                    .forward(truncated_obs, truncated_rows.len(), &mut critic.ws)?;
                for (j, &e) in truncated_rows.iter().enumerate() {
                    buffer.rewards[base + e] += config.gamma * v[j];
                }
            }
        }
        if last_obs.iter().any(|x| !x.is_finite()) {
            return Err(PpoError::NonFinite {
                what: "observation",
                iteration,
            });
        }
        let last_values = critic.mlp.forward(last_obs, n_envs, &mut critic.ws)?;
        buffer.compute_returns_and_advantage(last_values, config.gamma, config.gae_lambda)
    }

    fn update(&mut self, rng: &mut StdRng, learning_rate: f32) -> Result<UpdateStats> {
        let iteration = self.iterations;
        let Self {
            config,
            dist,
            actor,
            critic,
            buffer,
            minibatch,
            policy_scratch,
            indices,
            ..
        } = self;
        let cfg = &*config;
        actor.adam.lr = learning_rate;
        critic.adam.lr = learning_rate;
        let mut work = UpdateWork {
            cfg,
            dist: &**dist,
            actor,
            buffer,
            minibatch,
            scratch: policy_scratch,
            indices,
            iteration,
        };
        if cfg.parallel {
            std::thread::scope(|scope| {
                // At most one message is in flight each way: bounded channels of one
                // slot never block a sender and never allocate.
                let (task_tx, task_rx) = mpsc::sync_channel(1);
                let (done_tx, done_rx) = mpsc::sync_channel(1);
                scope.spawn(move || critic_worker(critic, cfg, &task_rx, &done_tx));
                work.run(
                    rng,
                    &mut CriticRunner::Worker {
                        tasks: task_tx,
                        done: done_rx,
                    },
                )
            })
        } else {
            work.run(rng, &mut CriticRunner::Inline(critic))
        }
    }

    fn check_obs(&self, obs: &ArrayView2<'_, f32>) -> Result<()> {
        if obs.ncols() != self.obs_dim {
            return Err(PpoError::Shape {
                what: "observation batch".into(),
                expected: format!("n x {}", self.obs_dim),
                got: format!("{} x {}", obs.nrows(), obs.ncols()),
            });
        }
        Ok(())
    }

    /// Runs `net` over the rows of `obs` in chunks, handing each chunk's
    /// outputs to `sink(first_row, outputs)`.
    fn forward_rows(
        &self,
        net: &Mlp,
        obs: ArrayView2<'_, f32>,
        mut sink: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        self.check_obs(&obs)?;
        let obs = obs.as_standard_layout();
        let flat = obs.as_slice().ok_or_else(|| PpoError::Shape {
            what: "observation batch layout".into(),
            expected: "a contiguous array".into(),
            got: "a strided view".into(),
        })?;
        let mut ws = MlpWorkspace::default();
        let rows_per_chunk = INFERENCE_CHUNK;
        for (c, chunk) in flat.chunks(rows_per_chunk * self.obs_dim).enumerate() {
            let rows = chunk.len() / self.obs_dim;
            let out = net.forward(chunk, rows, &mut ws)?;
            sink(c * rows_per_chunk, out);
        }
        Ok(())
    }

    /// The policy network's outputs (logits for discrete actions), one row
    /// per observation.
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `obs` does not have `obs_dim` columns.
    pub fn policy_outputs(&self, obs: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let n_out = self.dist.n_outputs();
        let mut out = Array2::zeros((obs.nrows(), n_out));
        let flat = out.as_slice_mut().expect("a new array is contiguous");
        self.forward_rows(&self.actor.mlp, obs, |row, o| {
            flat[row * n_out..row * n_out + o.len()].copy_from_slice(o)
        })?;
        Ok(out)
    }

    /// The probability of every action for every observation
    /// (`n x n_actions`, rows sum to 1).
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `obs` does not have `obs_dim` columns.
    pub fn action_probabilities(&self, obs: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let unsupported = || PpoError::UnsupportedSpace {
            role: "action",
            space: format!("{:?} (no finite action set)", self.action_space),
        };
        let n_actions = self.dist.n_actions().ok_or_else(unsupported)?;
        let n_out = self.dist.n_outputs();
        let outputs = self.policy_outputs(obs)?;
        let mut probs = Array2::zeros((outputs.nrows(), n_actions));
        for (params, mut row) in outputs.rows().into_iter().zip(probs.rows_mut()) {
            let params = params.to_slice().unwrap_or_default();
            let row = row.as_slice_mut().unwrap_or_default();
            if params.len() != n_out || !self.dist.probabilities(params, row) {
                return Err(unsupported());
            }
        }
        Ok(probs)
    }

    /// One action per observation: the most likely one when `deterministic`,
    /// else a draw from the policy (from the model's own seeded generator).
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `obs` does not have `obs_dim` columns.
    pub fn predict(&self, obs: ArrayView2<'_, f32>, deterministic: bool) -> Result<Vec<usize>> {
        if deterministic {
            self.predict_inner(obs, None)
        } else {
            let mut rng = self.predict_rng.lock().unwrap_or_else(|e| e.into_inner());
            self.predict_inner(obs, Some(&mut rng))
        }
    }

    /// [`Ppo::predict`] sampling from the given generator.
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `obs` does not have `obs_dim` columns.
    pub fn predict_with_rng(
        &self,
        obs: ArrayView2<'_, f32>,
        rng: &mut StdRng,
    ) -> Result<Vec<usize>> {
        self.predict_inner(obs, Some(rng))
    }

    fn predict_inner(
        &self,
        obs: ArrayView2<'_, f32>,
        mut rng: Option<&mut StdRng>,
    ) -> Result<Vec<usize>> {
        let n_out = self.dist.n_outputs();
        let mut actions = vec![0usize; obs.nrows()];
        let mut action = vec![0.0f32; self.dist.action_width()];
        self.forward_rows(&self.actor.mlp, obs, |first, out| {
            for (r, params) in out.chunks_exact(n_out).enumerate() {
                match rng.as_deref_mut() {
                    Some(rng) => self.dist.sample(params, rng, &mut action),
                    None => self.dist.mode(params, &mut action),
                }
                actions[first + r] = action[0] as usize;
            }
        })?;
        Ok(actions)
    }

    /// The value network's estimate for every observation.
    ///
    /// # Errors
    /// [`PpoError::Shape`] when `obs` does not have `obs_dim` columns.
    pub fn predict_values(&self, obs: ArrayView2<'_, f32>) -> Result<Array1<f32>> {
        let mut values = Array1::zeros(obs.nrows());
        let flat = values.as_slice_mut().expect("a new array is contiguous");
        self.forward_rows(&self.critic.mlp, obs, |first, out| {
            flat[first..first + out.len()].copy_from_slice(out)
        })?;
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    //! The update's gradients against two oracles written here: candle's
    //! autograd over the same loss in `f64`, and central finite differences
    //! of an independent `f64` implementation of the loss.

    use candle_core::{D, Device, Tensor, Var};
    use rand::Rng;
    use rand_distr::StandardNormal;

    use super::*;

    struct Case {
        batch: usize,
        obs_dim: usize,
        n_actions: usize,
        pi: Vec<usize>,
        vf: Vec<usize>,
        clip_range_vf: Option<f32>,
        normalize_advantage: bool,
        ent_coef: f32,
    }

    /// Forward of a tanh MLP in f64 (layout as `Mlp`).
    fn mlp_f64(sizes: &[usize], p: &[f64], x: &[f64], batch: usize) -> Vec<f64> {
        let mut h = x.to_vec();
        let mut off = 0;
        for (l, w) in sizes.windows(2).enumerate() {
            let (n_in, n_out) = (w[0], w[1]);
            let (wt, b) = (
                &p[off..off + n_in * n_out],
                &p[off + n_in * n_out..off + n_in * n_out + n_out],
            );
            off += n_in * n_out + n_out;
            let mut out = vec![0.0; batch * n_out];
            for r in 0..batch {
                for j in 0..n_out {
                    let z: f64 = (0..n_in)
                        .map(|i| h[r * n_in + i] * wt[j * n_in + i])
                        .sum::<f64>()
                        + b[j];
                    out[r * n_out + j] = if l + 2 < sizes.len() { z.tanh() } else { z };
                }
            }
            h = out;
        }
        h
    }

    fn normalized(adv: &[f32], on: bool) -> Vec<f64> {
        let a: Vec<f64> = adv.iter().map(|&x| x as f64).collect();
        if !on {
            return a;
        }
        let n = a.len() as f64;
        let mean = a.iter().sum::<f64>() / n;
        let std = (a.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        a.iter().map(|x| (x - mean) / (std + 1e-8)).collect()
    }

    /// The policy half of the loss: clipped surrogate + entropy bonus.
    fn policy_loss_f64(sizes: &[usize], p: &[f64], mb: &Minibatch, cfg: &PpoConfig) -> f64 {
        let b = mb.len;
        let x: Vec<f64> = mb.obs.iter().map(|&v| v as f64).collect();
        let logits = mlp_f64(sizes, p, &x, b);
        let k = sizes[sizes.len() - 1];
        let adv = normalized(&mb.advantages, cfg.normalize_advantage);
        let c = cfg.clip_range as f64;
        let (mut surrogate, mut entropy) = (0.0, 0.0);
        for i in 0..b {
            let l = &logits[i * k..(i + 1) * k];
            let lse = l.iter().map(|v| v.exp()).sum::<f64>().ln();
            let logp = l[mb.actions[i] as usize] - lse;
            entropy -= l.iter().map(|v| (v - lse).exp() * (v - lse)).sum::<f64>();
            let ratio = (logp - mb.old_log_probs[i] as f64).exp();
            surrogate += (adv[i] * ratio).min(adv[i] * ratio.clamp(1.0 - c, 1.0 + c));
        }
        -surrogate / b as f64 - cfg.ent_coef as f64 * entropy / b as f64
    }

    /// The value half: `vf_coef` times the (optionally clipped) squared error.
    fn value_loss_f64(sizes: &[usize], p: &[f64], mb: &Minibatch, cfg: &PpoConfig) -> f64 {
        let b = mb.len;
        let x: Vec<f64> = mb.obs.iter().map(|&v| v as f64).collect();
        let v = mlp_f64(sizes, p, &x, b);
        let mut loss = 0.0;
        for ((&v, &old), &ret) in v.iter().zip(&mb.old_values).zip(&mb.returns) {
            let old = old as f64;
            let pred = match cfg.clip_range_vf {
                None => v,
                Some(c) => old + (v - old).clamp(-c as f64, c as f64),
            };
            loss += (ret as f64 - pred).powi(2);
        }
        cfg.vf_coef as f64 * loss / b as f64
    }

    fn central_differences(f: impl Fn(&[f64]) -> f64, p: &[f64]) -> Vec<f64> {
        let h = 1e-6;
        let mut q = p.to_vec();
        (0..p.len())
            .map(|i| {
                q[i] = p[i] + h;
                let up = f(&q);
                q[i] = p[i] - h;
                let down = f(&q);
                q[i] = p[i];
                (up - down) / (2.0 * h)
            })
            .collect()
    }

    /// An MLP's forward in candle over `Var` parameters (one weight and one
    /// bias per layer).
    fn candle_mlp(x: &Tensor, vars: &[(Var, Var)]) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for (l, (w, b)) in vars.iter().enumerate() {
            h = h
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(b.as_tensor())?;
            if l + 1 < vars.len() {
                h = h.tanh()?;
            }
        }
        Ok(h)
    }

    fn candle_vars(mlp: &Mlp, dev: &Device) -> candle_core::Result<Vec<(Var, Var)>> {
        (0..mlp.n_layers())
            .map(|l| {
                let (wr, shape) = mlp.weight_range(l).expect("layer exists");
                let br = mlp.bias_range(l).expect("layer exists");
                let w: Vec<f64> = mlp.params()[wr].iter().map(|&v| v as f64).collect();
                let b: Vec<f64> = mlp.params()[br].iter().map(|&v| v as f64).collect();
                Ok((
                    Var::from_slice(&w, (shape[0], shape[1]), dev)?,
                    Var::from_slice(&b, shape[0], dev)?,
                ))
            })
            .collect()
    }

    fn candle_grads(
        mlp: &Mlp,
        vars: &[(Var, Var)],
        grads: &candle_core::backprop::GradStore,
    ) -> Vec<f64> {
        let mut out = vec![0.0; mlp.n_params()];
        for (l, (w, b)) in vars.iter().enumerate() {
            let (wr, _) = mlp.weight_range(l).expect("layer exists");
            let br = mlp.bias_range(l).expect("layer exists");
            let gw = grads
                .get(w.as_tensor())
                .expect("weight gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let gb = grads
                .get(b.as_tensor())
                .expect("bias gradient")
                .to_vec1::<f64>()
                .unwrap();
            out[wr].copy_from_slice(&gw);
            out[br].copy_from_slice(&gb);
        }
        out
    }

    /// The full PPO loss in candle; returns the gradients of the policy and
    /// value parameters.
    fn candle_loss_grads(
        model: &Ppo,
        mb: &Minibatch,
        cfg: &PpoConfig,
    ) -> candle_core::Result<(Vec<f64>, Vec<f64>)> {
        let dev = Device::Cpu;
        let b = mb.len;
        let d = model.obs_dim;
        let x = Tensor::from_slice(
            &mb.obs.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            (b, d),
            &dev,
        )?;
        let pi = candle_vars(&model.actor.mlp, &dev)?;
        let vf = candle_vars(&model.critic.mlp, &dev)?;
        let logits = candle_mlp(&x, &pi)?;
        let log_probs_all = logits.broadcast_sub(&logits.exp()?.sum_keepdim(D::Minus1)?.log()?)?;
        let actions = Tensor::from_slice(
            &mb.actions.iter().map(|&a| a as u32).collect::<Vec<_>>(),
            (b, 1),
            &dev,
        )?;
        let log_probs = log_probs_all.gather(&actions, 1)?.squeeze(1)?;
        let entropy = (log_probs_all.exp()? * &log_probs_all)?.sum(1)?.neg()?;
        let old = Tensor::from_slice(
            &mb.old_log_probs
                .iter()
                .map(|&v| v as f64)
                .collect::<Vec<_>>(),
            b,
            &dev,
        )?;
        let adv = Tensor::from_slice(
            &normalized(&mb.advantages, cfg.normalize_advantage),
            b,
            &dev,
        )?;
        let ratio = (log_probs - old)?.exp()?;
        let c = cfg.clip_range as f64;
        let surr1 = (&ratio * &adv)?;
        let surr2 = (ratio.clamp(1.0 - c, 1.0 + c)? * &adv)?;
        let policy_loss = surr1.minimum(&surr2)?.mean_all()?.neg()?;
        let entropy_loss = entropy.mean_all()?.neg()?;
        let values = candle_mlp(&x, &vf)?.squeeze(1)?;
        let old_v = Tensor::from_slice(
            &mb.old_values.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            b,
            &dev,
        )?;
        let pred = match cfg.clip_range_vf {
            None => values,
            Some(cv) => (&old_v + (&values - &old_v)?.clamp(-cv as f64, cv as f64)?)?,
        };
        let returns = Tensor::from_slice(
            &mb.returns.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            b,
            &dev,
        )?;
        let value_loss = (returns - pred)?.sqr()?.mean_all()?;
        let loss = ((policy_loss + (entropy_loss * cfg.ent_coef as f64)?)?
            + (value_loss * cfg.vf_coef as f64)?)?;
        let grads = loss.backward()?;
        Ok((
            candle_grads(&model.actor.mlp, &pi, &grads),
            candle_grads(&model.critic.mlp, &vf, &grads),
        ))
    }

    fn randomize(net: &mut Net, rng: &mut StdRng) {
        for p in net.mlp.params_mut() {
            *p = 0.5 * rng.sample::<f32, _>(StandardNormal);
        }
        net.mlp.prepare_small_batches();
    }

    fn check_case(case: &Case, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let config = PpoConfig {
            net_arch: crate::NetArch {
                pi: case.pi.clone(),
                vf: case.vf.clone(),
            },
            clip_range_vf: case.clip_range_vf,
            normalize_advantage: case.normalize_advantage,
            ent_coef: case.ent_coef,
            ..PpoConfig::default()
        };
        let obs_space = Space::Box {
            low: vec![-5.0; case.obs_dim],
            high: vec![5.0; case.obs_dim],
            shape: vec![case.obs_dim],
        };
        let mut model = Ppo::with_spaces(
            config.clone(),
            obs_space,
            Space::Discrete { n: case.n_actions },
            seed,
        )
        .unwrap();
        randomize(&mut model.actor, &mut rng);
        randomize(&mut model.critic, &mut rng);
        let b = case.batch;
        let mut mb = Minibatch {
            len: b,
            obs: (0..b * case.obs_dim)
                .map(|_| rng.sample(StandardNormal))
                .collect(),
            actions: (0..b)
                .map(|_| rng.random_range(0..case.n_actions) as f32)
                .collect(),
            advantages: (0..b).map(|_| rng.sample(StandardNormal)).collect(),
            returns: (0..b).map(|_| rng.sample(StandardNormal)).collect(),
            ..Minibatch::default()
        };
        // Place the ratios and value changes away from the clipping kinks.
        let actor_p: Vec<f64> = model.actor.mlp.params().iter().map(|&v| v as f64).collect();
        let critic_p: Vec<f64> = model
            .critic
            .mlp
            .params()
            .iter()
            .map(|&v| v as f64)
            .collect();
        let x: Vec<f64> = mb.obs.iter().map(|&v| v as f64).collect();
        let logits = mlp_f64(model.actor.mlp.sizes(), &actor_p, &x, b);
        let values = mlp_f64(model.critic.mlp.sizes(), &critic_p, &x, b);
        let ratios = [0.5, 0.75, 0.95, 1.0, 1.05, 1.3, 1.7];
        let shifts = [-0.6, -0.1, 0.05, 0.15, 0.5];
        for i in 0..b {
            let l = &logits[i * case.n_actions..(i + 1) * case.n_actions];
            let lse = l.iter().map(|v| v.exp()).sum::<f64>().ln();
            let logp = l[mb.actions[i] as usize] - lse;
            mb.old_log_probs
                .push((logp - f64::ln(ratios[i % ratios.len()])) as f32);
            mb.old_values
                .push((values[i] - shifts[i % shifts.len()]) as f32);
        }

        let mut scratch = PolicyScratch::default();
        let dist = &*model.dist;
        actor_job(&mut model.actor, &mut scratch, dist, None, &mb, &config).unwrap();
        critic_job(&mut model.critic, None, &mb, &config).unwrap();

        let (candle_pi, candle_vf) = candle_loss_grads(&model, &mb, &config).unwrap();
        let fd_pi = central_differences(
            |p| policy_loss_f64(model.actor.mlp.sizes(), p, &mb, &config),
            &actor_p,
        );
        let fd_vf = central_differences(
            |p| value_loss_f64(model.critic.mlp.sizes(), p, &mb, &config),
            &critic_p,
        );
        for (name, ours, candle, fd) in [
            ("policy", &model.actor.grad, &candle_pi, &fd_pi),
            ("value", &model.critic.grad, &candle_vf, &fd_vf),
        ] {
            assert!(fd.iter().any(|g| g.abs() > 1e-3), "{name}: degenerate case");
            for (i, ((&g, &c), &f)) in ours.iter().zip(candle).zip(fd).enumerate() {
                assert!(
                    (g as f64 - c).abs() <= 1e-5,
                    "{name}[{i}]: ours {g} vs candle {c}"
                );
                assert!(
                    (g as f64 - f).abs() <= 1e-5,
                    "{name}[{i}]: ours {g} vs finite differences {f}"
                );
                assert!(
                    (c - f).abs() <= 1e-6,
                    "{name}[{i}]: candle {c} vs finite differences {f}"
                );
            }
        }
    }

    #[test]
    fn update_gradients_match_candle_and_finite_differences() {
        let cases = [
            // Row kernels (batch <= 8), narrow head, no value clipping.
            Case {
                batch: 6,
                obs_dim: 4,
                n_actions: 3,
                pi: vec![16, 12],
                vf: vec![10],
                clip_range_vf: None,
                normalize_advantage: true,
                ent_coef: 0.01,
            },
            // GEMM path, value clipping, entropy bonus, wide head.
            Case {
                batch: 24,
                obs_dim: 5,
                n_actions: 6,
                pi: vec![16, 12],
                vf: vec![12, 8],
                clip_range_vf: Some(0.2),
                normalize_advantage: true,
                ent_coef: 0.05,
            },
            // No advantage normalisation, one hidden layer.
            Case {
                batch: 17,
                obs_dim: 3,
                n_actions: 2,
                pi: vec![20],
                vf: vec![9, 7],
                clip_range_vf: Some(0.3),
                normalize_advantage: false,
                ent_coef: 0.0,
            },
        ];
        for (k, case) in cases.iter().enumerate() {
            check_case(case, 100 + k as u64);
        }
    }
}
