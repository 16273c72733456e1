//! The flow-detection environment: one network flow per step, judged benign or malicious.

use std::sync::Arc;

use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::env::check_obs_len;
use crate::{Env, FlatEnv, RlEnvError, Space, Step, StepOutcome};

/// Action 0: the flow is judged benign.
pub const BENIGN: usize = 0;
/// Action 1: the flow is judged malicious.
pub const MALICIOUS: usize = 1;

/// Rewards for the four outcomes of judging one flow.
///
/// Defaults (the reference system's): correct answers +2, a missed attack
/// (false negative) -4, a false alarm (false positive) -1. Every entry must
/// be finite.
///
/// ```
/// use rlenv::RewardTable;
///
/// let table = RewardTable::default();
/// assert_eq!(table.reward(1, 0), -4.0); // attack judged benign
/// assert_eq!(table.reward(0, 1), -1.0); // benign judged malicious
/// assert_eq!(table.reward(1, 1), 2.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardTable {
    /// Attack judged malicious (true positive). Default +2.
    pub tp: f32,
    /// Benign judged benign (true negative). Default +2.
    pub tn: f32,
    /// Attack judged benign (false negative, missed attack). Default -4.
    pub fn_: f32,
    /// Benign judged malicious (false positive, false alarm). Default -1.
    pub fp: f32,
}

impl Default for RewardTable {
    fn default() -> Self {
        RewardTable {
            tp: 2.0,
            tn: 2.0,
            fn_: -4.0,
            fp: -1.0,
        }
    }
}

impl RewardTable {
    /// The share of attack draws under which both classes carry the same
    /// expected regret: `(tn - fp) / ((tp - fn) + (tn - fp))`, 1/3 for
    /// the default table; 1/2 unless both regrets are positive.
    ///
    /// ```
    /// let share = rlenv::RewardTable::default().regret_balanced_attack_share();
    /// assert!((share - 1.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn regret_balanced_attack_share(&self) -> f64 {
        let miss = f64::from(self.tp - self.fn_);
        let alarm = f64::from(self.tn - self.fp);
        if miss > 0.0 && alarm > 0.0 && (miss + alarm).is_finite() {
            alarm / (miss + alarm)
        } else {
            0.5
        }
    }

    /// Checks that every entry is finite.
    pub fn validate(&self) -> Result<(), RlEnvError> {
        for (name, value) in [
            ("tp", self.tp),
            ("tn", self.tn),
            ("fn_", self.fn_),
            ("fp", self.fp),
        ] {
            if !value.is_finite() {
                return Err(RlEnvError::NonFiniteReward { name, value });
            }
        }
        Ok(())
    }

    /// Reward for judging a flow of true `label` (0 benign, otherwise
    /// attack) with `action` (0 benign, otherwise malicious).
    pub fn reward(&self, label: u8, action: usize) -> f32 {
        match (label != 0, action != BENIGN) {
            (true, true) => self.tp,
            (false, false) => self.tn,
            (true, false) => self.fn_,
            (false, true) => self.fp,
        }
    }

    /// The table as `[label][action]`.
    fn lookup(&self) -> [[f32; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }
}

/// How the next flow is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampling {
    /// A seeded permutation of all rows, continued across episodes and
    /// re-shuffled when exhausted: every row is seen once per pass.
    #[default]
    Shuffled,
    /// Rows in order, continued across episodes, wrapping at the end. A
    /// seeded reset starts at row `seed % rows`, so `reset(Some(0))` starts
    /// at the first row.
    Sequential,
    /// Each step draws the class (benign or attack) with probability 1/2,
    /// then the next row of that class from a seeded per-class permutation
    /// (re-shuffled when exhausted). Both classes must be present.
    Balanced,
    /// [`Sampling::Balanced`], with the class drawn so that each carries
    /// the same expected regret: an attack with probability
    /// `(tn - fp) / ((tp - fn) + (tn - fp))` of the reward table. With the
    /// default table a missed attack costs 6 and a false alarm 3, so
    /// benign flows are drawn two times in three. The policy then weighs a
    /// false alarm as heavily as a missed attack, and does not learn to
    /// flag every benign flow that looks a little unusual with certainty.
    /// A table whose regrets are not both positive draws each class half
    /// the time.
    CostBalanced,
    /// [`Sampling::CostBalanced`] when benign rows are fewer than attack
    /// rows (an attack-heavy sample, where the benign minority would
    /// otherwise get few updates), else [`Sampling::Shuffled`]: benign
    /// flows are never drawn below their natural share, which would trade
    /// false alarms for recall.
    Auto,
}

impl Sampling {
    /// Every sampling, in declaration order.
    pub const ALL: [Sampling; 5] = [
        Sampling::Shuffled,
        Sampling::Sequential,
        Sampling::Balanced,
        Sampling::CostBalanced,
        Sampling::Auto,
    ];

    /// Every name ([`Sampling::as_str`]), comma-separated.
    pub fn names() -> String {
        Sampling::ALL.map(Sampling::as_str).join(", ")
    }

    /// The name in flags: `shuffled`, `sequential`, `balanced`,
    /// `cost-balanced` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sampling::Shuffled => "shuffled",
            Sampling::Sequential => "sequential",
            Sampling::Balanced => "balanced",
            Sampling::CostBalanced => "cost-balanced",
            Sampling::Auto => "auto",
        }
    }

    /// The sampling used for binary `labels` (1 = attack): [`Sampling::Auto`]
    /// resolved, the others as they are.
    pub fn resolve(self, labels: &[u8]) -> Sampling {
        match self {
            Sampling::Auto => {
                let attacks = labels.iter().filter(|&&l| l == 1).count();
                if labels.len() - attacks < attacks {
                    Sampling::CostBalanced
                } else {
                    Sampling::Shuffled
                }
            }
            other => other,
        }
    }
}

impl std::str::FromStr for Sampling {
    type Err = RlEnvError;

    /// A sampling by its name ([`Sampling::as_str`]), in any case.
    ///
    /// ```
    /// use rlenv::Sampling;
    ///
    /// assert_eq!("Cost-Balanced".parse::<Sampling>()?, Sampling::CostBalanced);
    /// assert!("random".parse::<Sampling>().is_err());
    /// # Ok::<(), rlenv::RlEnvError>(())
    /// ```
    fn from_str(s: &str) -> Result<Self, RlEnvError> {
        let name = s.trim().to_ascii_lowercase();
        Sampling::ALL
            .into_iter()
            .find(|x| x.as_str() == name)
            .ok_or_else(|| RlEnvError::UnknownSampling(s.to_string()))
    }
}

/// Configuration of a [`FlowDetectionEnv`].
///
/// ```
/// use rlenv::{FlowEnvConfig, Sampling};
///
/// let config = FlowEnvConfig { episode_length: 100, sampling: Sampling::Balanced, ..Default::default() };
/// assert!(config.validate().is_ok());
/// assert_eq!(FlowEnvConfig::default().episode_length, 3000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowEnvConfig {
    /// Rewards of the four outcomes. Default [`RewardTable::default`].
    pub rewards: RewardTable,
    /// Steps per episode, after which the episode is `truncated`. Must be
    /// at least 1. Default 3,000.
    pub episode_length: usize,
    /// How flows are drawn. Default [`Sampling::Shuffled`].
    pub sampling: Sampling,
    /// Seed of the sampler until a seeded reset replaces it. Default 0.
    pub seed: u64,
}

impl Default for FlowEnvConfig {
    fn default() -> Self {
        FlowEnvConfig {
            rewards: RewardTable::default(),
            episode_length: 3000,
            sampling: Sampling::Shuffled,
            seed: 0,
        }
    }
}

impl FlowEnvConfig {
    /// Checks the reward table and the episode length.
    pub fn validate(&self) -> Result<(), RlEnvError> {
        self.rewards.validate()?;
        if self.episode_length == 0 {
            return Err(RlEnvError::ZeroLength {
                name: "episode_length",
                value: 0,
            });
        }
        Ok(())
    }
}

/// The true class of a flow and where it lives in the data.
///
/// In [`Env::step`] it describes the flow the action was judged against;
/// in [`Env::reset`] the flow shown by the returned observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowInfo {
    /// True label: 0 benign, 1 attack.
    pub label: u8,
    /// Row of the flow in the latent matrix.
    pub row: usize,
}

/// Validated flow latents (row-major, one row per flow) and labels
/// (0 benign, 1 attack), shared between environments through an [`Arc`] so
/// that a [`crate::VecEnv`] of many environments holds one copy of the data.
///
/// ```
/// use std::sync::Arc;
/// use ndarray::array;
/// use rlenv::{FlowDataset, FlowDetectionEnv, FlowEnvConfig};
///
/// let data = Arc::new(FlowDataset::new(array![[0.0f32, 1.0], [2.0, 3.0]], vec![0, 1]).unwrap());
/// let envs: Vec<_> = (0..4)
///     .map(|i| FlowDetectionEnv::from_dataset(data.clone(), FlowEnvConfig { seed: i, ..Default::default() }))
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(Arc::strong_count(&data), 5);
/// assert_eq!(envs[3].dataset().row(1), &[2.0, 3.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FlowDataset {
    data: Vec<f32>,
    dim: usize,
    labels: Vec<u8>,
}

impl FlowDataset {
    /// Validates and stores `latents` (one row per flow) and `labels`.
    ///
    /// # Errors
    /// An empty matrix, more than `u32::MAX` rows, a label count that
    /// differs from the row count, a label other than 0 or 1, or a
    /// non-finite latent.
    pub fn new(latents: Array2<f32>, labels: Vec<u8>) -> Result<Self, RlEnvError> {
        let (rows, dim) = latents.dim();
        if rows == 0 || dim == 0 {
            return Err(RlEnvError::EmptyData { rows, cols: dim });
        }
        if u32::try_from(rows).is_err() {
            return Err(RlEnvError::TooManyFlows { rows });
        }
        if labels.len() != rows {
            return Err(RlEnvError::LengthMismatch {
                rows,
                labels: labels.len(),
            });
        }
        if let Some((row, &label)) = labels.iter().enumerate().find(|&(_, &l)| l > 1) {
            return Err(RlEnvError::InvalidLabel { row, label });
        }
        if let Some(((row, col), &value)) = latents.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(RlEnvError::NonFiniteLatent { row, col, value });
        }
        let data = if latents.is_standard_layout() {
            latents.into_raw_vec_and_offset().0
        } else {
            latents.iter().copied().collect()
        };
        Ok(FlowDataset { data, dim, labels })
    }

    /// Number of flows.
    pub fn num_flows(&self) -> usize {
        self.labels.len()
    }

    /// Length of one latent vector.
    pub fn obs_dim(&self) -> usize {
        self.dim
    }

    /// The labels, one per flow.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Number of attack flows.
    pub fn num_attacks(&self) -> usize {
        self.labels.iter().filter(|&&l| l == 1).count()
    }

    /// The latent vector of flow `row`.
    ///
    /// # Panics
    /// If `row >= self.num_flows()`.
    #[inline]
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }
}

/// Draws row indices.
#[derive(Clone, Debug)]
enum Sampler {
    Shuffled {
        rng: StdRng,
        order: Vec<u32>,
        pos: usize,
    },
    Sequential {
        pos: usize,
        rows: usize,
    },
    Balanced {
        rng: StdRng,
        /// Rows of each class, in a shuffled order.
        classes: [Vec<u32>; 2],
        pos: [usize; 2],
        /// The probability of drawing an attack; `None`: a fair coin.
        p_attack: Option<f64>,
    },
}

impl Sampler {
    fn new(
        sampling: Sampling,
        rewards: &RewardTable,
        labels: &[u8],
        seed: u64,
    ) -> Result<Self, RlEnvError> {
        let resolved = sampling.resolve(labels);
        let mut sampler = match resolved {
            Sampling::Shuffled => Sampler::Shuffled {
                rng: StdRng::seed_from_u64(seed),
                order: Vec::new(),
                pos: 0,
            },
            Sampling::Sequential => Sampler::Sequential {
                pos: 0,
                rows: labels.len(),
            },
            // `resolve` leaves no `Auto`.
            Sampling::Balanced | Sampling::CostBalanced | Sampling::Auto => {
                let rows = 0..labels.len() as u32;
                let benign: Vec<u32> = rows.clone().filter(|&i| labels[i as usize] == 0).collect();
                let attack: Vec<u32> = rows.filter(|&i| labels[i as usize] == 1).collect();
                if benign.is_empty() {
                    return Err(RlEnvError::MissingClass {
                        class: "benign (0)",
                    });
                }
                if attack.is_empty() {
                    return Err(RlEnvError::MissingClass {
                        class: "attack (1)",
                    });
                }
                Sampler::Balanced {
                    rng: StdRng::seed_from_u64(seed),
                    classes: [benign, attack],
                    pos: [0, 0],
                    p_attack: (resolved == Sampling::CostBalanced)
                        .then(|| rewards.regret_balanced_attack_share()),
                }
            }
        };
        sampler.reseed(seed, labels.len());
        Ok(sampler)
    }

    /// Restarts the sampler as a function of `seed` alone.
    fn reseed(&mut self, seed: u64, rows: usize) {
        match self {
            Sampler::Shuffled { rng, order, pos } => {
                *rng = StdRng::seed_from_u64(seed);
                order.clear();
                order.extend(0..rows as u32);
                order.shuffle(rng);
                *pos = 0;
            }
            Sampler::Sequential { pos, rows } => *pos = (seed % *rows as u64) as usize,
            Sampler::Balanced {
                rng, classes, pos, ..
            } => {
                *rng = StdRng::seed_from_u64(seed);
                for class in classes.iter_mut() {
                    class.sort_unstable();
                    class.shuffle(rng);
                }
                *pos = [0, 0];
            }
        }
    }

    #[inline]
    fn next_row(&mut self) -> usize {
        match self {
            Sampler::Shuffled { rng, order, pos } => {
                if *pos == order.len() {
                    order.shuffle(rng);
                    *pos = 0;
                }
                let row = order[*pos];
                *pos += 1;
                row as usize
            }
            Sampler::Sequential { pos, rows } => {
                let row = *pos;
                *pos = if row + 1 == *rows { 0 } else { row + 1 };
                row
            }
            Sampler::Balanced {
                rng,
                classes,
                pos,
                p_attack,
            } => {
                let class = usize::from(match *p_attack {
                    None => rand::Rng::random::<bool>(rng),
                    Some(p) => rand::Rng::random_bool(rng, p),
                });
                let rows = &mut classes[class];
                if pos[class] == rows.len() {
                    rows.shuffle(rng);
                    pos[class] = 0;
                }
                let row = rows[pos[class]];
                pos[class] += 1;
                row as usize
            }
        }
    }
}

/// The flow-detection environment: each step shows the latent vector of one
/// network flow; the agent answers 0 (benign) or 1 (malicious) and is
/// rewarded by a [`RewardTable`] against the flow's true label.
///
/// The observation of step `t` is the latent of the flow being judged; the
/// reward of step `t` judges the action against that flow's label; the next
/// observation is the next sampled flow. Episodes never terminate and are
/// `truncated` after [`FlowEnvConfig::episode_length`] steps; the final
/// observation is a real flow (the next one drawn), and an unseeded reset
/// starts the next episode with that same flow, so no flow is skipped.
/// Sampling continues across episodes: episodes cover the whole data set
/// rather than replaying its first rows.
///
/// The data live in a shared [`FlowDataset`]: clones and environments built
/// with [`FlowDetectionEnv::from_dataset`] hold no copy of the latents.
///
/// ```
/// use ndarray::array;
/// use rlenv::{Env, FlowDetectionEnv, FlowEnvConfig};
///
/// let latents = array![[0.0f32, 1.0], [1.0, 0.0], [0.5, 0.5]];
/// let labels = vec![0, 1, 0];
/// let config = FlowEnvConfig { episode_length: 3, ..Default::default() };
/// let mut env = FlowDetectionEnv::new(latents, labels, config).unwrap();
/// let (_obs, first) = env.reset(Some(1));
/// // Answer with the true label: every step earns +2.
/// let mut label = first.label;
/// let mut total = 0.0;
/// for _ in 0..3 {
///     let step = env.step(label as usize).unwrap();
///     total += step.reward;
///     label = env.current_flow().label;
/// }
/// assert_eq!(total, 6.0);
/// ```
#[derive(Clone, Debug)]
pub struct FlowDetectionEnv {
    data: Arc<FlowDataset>,
    config: FlowEnvConfig,
    table: [[f32; 2]; 2],
    sampler: Sampler,
    /// Row shown by the current observation (valid when `has_current`).
    current: usize,
    has_current: bool,
    elapsed: usize,
    needs_reset: bool,
    last_judged: Option<FlowInfo>,
}

impl FlowDetectionEnv {
    /// Builds the environment over `latents` (one row per flow) and
    /// `labels` (0 benign, 1 attack).
    ///
    /// # Errors
    /// An invalid config, any error of [`FlowDataset::new`], or
    /// [`Sampling::Balanced`] with one class absent
    /// ([`RlEnvError::MissingClass`]).
    pub fn new(
        latents: Array2<f32>,
        labels: Vec<u8>,
        config: FlowEnvConfig,
    ) -> Result<Self, RlEnvError> {
        config.validate()?;
        Self::from_dataset(Arc::new(FlowDataset::new(latents, labels)?), config)
    }

    /// Builds the environment over a shared [`FlowDataset`].
    ///
    /// # Errors
    /// An invalid config, or [`Sampling::Balanced`] with one class absent
    /// ([`RlEnvError::MissingClass`]).
    pub fn from_dataset(data: Arc<FlowDataset>, config: FlowEnvConfig) -> Result<Self, RlEnvError> {
        config.validate()?;
        let sampler = Sampler::new(config.sampling, &config.rewards, &data.labels, config.seed)?;
        Ok(FlowDetectionEnv {
            data,
            table: config.rewards.lookup(),
            config,
            sampler,
            current: 0,
            has_current: false,
            elapsed: 0,
            needs_reset: true,
            last_judged: None,
        })
    }

    /// The shared data set.
    pub fn dataset(&self) -> &Arc<FlowDataset> {
        &self.data
    }

    /// The configuration.
    pub fn config(&self) -> &FlowEnvConfig {
        &self.config
    }

    /// Number of flows in the data.
    pub fn num_flows(&self) -> usize {
        self.data.num_flows()
    }

    /// The observation space: a `Box` of [`FlowDetectionEnv::obs_dim`]
    /// values within the finite f32 range (latents are checked finite).
    /// Also available as [`Env::observation_space`] and
    /// [`FlatEnv::observation_space`]; this inherent method spares the
    /// choice between them.
    pub fn observation_space(&self) -> Space {
        let dim = self.data.dim;
        Space::Box {
            low: vec![f32::MIN; dim],
            high: vec![f32::MAX; dim],
            shape: vec![dim],
        }
    }

    /// The action space: `Discrete(2)` ([`BENIGN`], [`MALICIOUS`]).
    pub fn action_space(&self) -> Space {
        Space::Discrete { n: 2 }
    }

    /// Length of one observation (the latent dimension).
    pub fn obs_dim(&self) -> usize {
        self.data.dim
    }

    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
    }

    /// The flow shown by the current observation (row 0 before the first
    /// reset).
    pub fn current_flow(&self) -> FlowInfo {
        FlowInfo {
            label: self.data.labels[self.current],
            row: self.current,
        }
    }

    /// The flow judged by the last step, if any step was taken since the
    /// environment was built.
    pub fn last_judged(&self) -> Option<FlowInfo> {
        self.last_judged
    }

    fn start_episode(&mut self, seed: Option<u64>) {
        if let Some(seed) = seed {
            self.sampler.reseed(seed, self.data.num_flows());
            self.has_current = false;
        }
        if !self.has_current {
            self.current = self.sampler.next_row();
            self.has_current = true;
        }
        self.elapsed = 0;
        self.needs_reset = false;
    }
}

impl FlatEnv for FlowDetectionEnv {
    fn observation_space(&self) -> Space {
        FlowDetectionEnv::observation_space(self)
    }

    fn action_space(&self) -> Space {
        FlowDetectionEnv::action_space(self)
    }

    fn obs_dim(&self) -> usize {
        FlowDetectionEnv::obs_dim(self)
    }

    fn reset_into(&mut self, seed: Option<u64>, obs: &mut [f32]) {
        check_obs_len(obs, self.data.dim);
        self.start_episode(seed);
        obs.copy_from_slice(self.data.row(self.current));
    }

    #[inline]
    fn step_into(&mut self, action: usize, obs: &mut [f32]) -> StepOutcome {
        assert!(
            action <= MALICIOUS,
            "action {action} is outside the action space Discrete(2)"
        );
        assert!(
            !self.needs_reset,
            "FlowDetectionEnv::step_into called before reset or after the episode ended"
        );
        check_obs_len(obs, self.data.dim);
        let label = self.data.labels[self.current];
        let reward = self.table[usize::from(label)][action];
        self.last_judged = Some(FlowInfo {
            label,
            row: self.current,
        });
        self.current = self.sampler.next_row();
        obs.copy_from_slice(self.data.row(self.current));
        self.elapsed += 1;
        let truncated = self.elapsed >= self.config.episode_length;
        self.needs_reset = truncated;
        StepOutcome {
            reward,
            terminated: false,
            truncated,
        }
    }
}

impl Env for FlowDetectionEnv {
    type Obs = Vec<f32>;
    type Action = usize;
    type Info = FlowInfo;

    fn observation_space(&self) -> Space {
        FlowDetectionEnv::observation_space(self)
    }

    fn action_space(&self) -> Space {
        FlowDetectionEnv::action_space(self)
    }

    fn reset(&mut self, seed: Option<u64>) -> (Vec<f32>, FlowInfo) {
        let mut obs = vec![0.0; self.data.dim];
        self.reset_into(seed, &mut obs);
        (obs, self.current_flow())
    }

    fn step(&mut self, action: usize) -> Result<Step<Vec<f32>, FlowInfo>, RlEnvError> {
        if action > MALICIOUS {
            return Err(RlEnvError::InvalidAction { action, n: 2 });
        }
        if self.needs_reset {
            return Err(RlEnvError::ResetNeeded);
        }
        let info = self.current_flow();
        let mut obs = vec![0.0; self.data.dim];
        let out = self.step_into(action, &mut obs);
        Ok(Step {
            obs,
            reward: out.reward,
            terminated: out.terminated,
            truncated: out.truncated,
            info,
        })
    }
}
