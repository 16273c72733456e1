//! The ceiling: a cost-sensitive MLP classifier of the PPO policy's shape.

use dense::{Adam, Mlp, MlpWorkspace};
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{check_features, check_fit_inputs};
use crate::error::{BaselineError, Result, invalid};
use crate::loss::{sigmoid, weighted_logistic_loss};
use crate::weights::ClassWeights;

/// Rows per forward pass of batch inference. Fixed, so that results do not
/// depend on the number of threads.
const INFERENCE_CHUNK: usize = 1024;

/// How the ceiling is trained. Every field has a documented default and
/// range; [`CeilingConfig::validate`] checks them all, and
/// [`Ceiling::fit`] calls it.
///
/// ```
/// use baselines::CeilingConfig;
///
/// let config = CeilingConfig { batch_size: 0, ..CeilingConfig::default() };
/// let err = config.validate().unwrap_err();
/// assert!(err.to_string().contains("`batch_size`: 0"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CeilingConfig {
    /// Widths of the tanh hidden layers. Default `[128, 128]`, the PPO
    /// policy's `net_arch`. At least one layer, every width positive.
    pub hidden: Vec<usize>,
    /// Adam's learning rate. Default `1e-3`. Positive and finite.
    pub learning_rate: f32,
    /// Adam's epsilon. Default `1e-8`. Positive and finite.
    pub adam_eps: f32,
    /// Rows per minibatch. Default 256. At least 1.
    pub batch_size: usize,
    /// Most passes over the training rows. Default 200. At least 1.
    pub max_epochs: usize,
    /// Epochs without an improvement of the validation loss before training
    /// stops (the best weights are then restored). Default 10. At least 1.
    pub patience: usize,
    /// The least decrease of the validation loss that counts as an
    /// improvement. Default `1e-5`. Non-negative and finite.
    pub min_delta: f64,
    /// Seed of the initial weights and of the minibatch order. Default 0.
    pub seed: u64,
}

impl Default for CeilingConfig {
    fn default() -> Self {
        CeilingConfig {
            hidden: vec![128, 128],
            learning_rate: 1e-3,
            adam_eps: 1e-8,
            batch_size: 256,
            max_epochs: 200,
            patience: 10,
            min_delta: 1e-5,
            seed: 0,
        }
    }
}

impl CeilingConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] naming the first bad field and its
    /// value.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(invalid(
                "hidden",
                format!("{:?}", self.hidden),
                "at least one hidden layer, every width positive",
            ));
        }
        for (name, v) in [
            ("learning_rate", self.learning_rate),
            ("adam_eps", self.adam_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(name, v, "must be positive and finite"));
            }
        }
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("max_epochs", self.max_epochs),
            ("patience", self.patience),
        ] {
            if v == 0 {
                return Err(invalid(name, v, "must be at least 1"));
            }
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(invalid(
                "min_delta",
                self.min_delta,
                "must be non-negative and finite",
            ));
        }
        Ok(())
    }
}

/// One epoch of training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean weighted loss over the epoch's minibatches (weights divided by
    /// their mean over the training rows).
    pub train_loss: f64,
    /// Weighted mean loss on the validation rows after the epoch.
    pub validation_loss: f64,
}

/// A cost-sensitive binary classifier of the PPO policy's shape: a tanh MLP
/// (by default `[128, 128]`) with one output logit, trained on the `dense`
/// engine with the class-weighted logistic loss
/// ([`weighted_logistic_loss`](crate::weighted_logistic_loss)), Adam,
/// seeded initialisation and minibatch order, and early stopping on the
/// validation loss with the best weights restored.
///
/// With the regret weights of a reward table ([`ClassWeights`]), its output
/// logit is a margin whose cost-optimal threshold is 0: a row's
/// [`Ceiling::margins`] value is positive exactly where its
/// [`Ceiling::probabilities`] value exceeds the weights'
/// [`probability_threshold`](ClassWeights::probability_threshold) (1/3 for
/// +2/-4/-1).
#[derive(Clone, Debug)]
pub struct Ceiling {
    net: Mlp,
    weights: ClassWeights,
    history: Vec<EpochRecord>,
    best_epoch: usize,
}

/// The output logit of every row of `x`, in parallel chunks of fixed size.
fn logits(net: &Mlp, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
    let x = x.as_standard_layout();
    let d = net.n_inputs();
    let Some(flat) = x.as_slice() else {
        unreachable!("a standard-layout array is contiguous")
    };
    if flat.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<Vec<f32>> = flat
        .par_chunks(INFERENCE_CHUNK * d)
        .map_init(MlpWorkspace::default, |ws, rows| {
            net.forward(rows, rows.len() / d, ws).map(<[f32]>::to_vec)
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(parts.concat())
}

/// Weighted mean loss of `net` on a labelled set.
fn mean_loss(
    net: &Mlp,
    x: ArrayView2<'_, f32>,
    labels: &[bool],
    weights: ClassWeights,
) -> Result<f64> {
    let z = logits(net, x)?;
    let norm: f64 = labels.iter().map(|&a| weights.of(a)).sum();
    weighted_logistic_loss(&z, labels, weights, norm, None)
}

/// Buffers of one training step, reused across steps.
#[derive(Default)]
struct Step {
    ws: MlpWorkspace,
    x: Vec<f32>,
    labels: Vec<bool>,
    d_logits: Vec<f32>,
    grad: Vec<f32>,
}

impl Step {
    /// Loss of `net` on the rows `rows` of `x` (row-major, `d` columns), and
    /// its gradient with respect to the parameters in `self.grad`. `weights`
    /// should be normalised to mean 1 over the training rows: the loss is
    /// the mean of the weighted terms.
    fn loss_and_gradient(
        &mut self,
        net: &Mlp,
        x: &[f32],
        labels: &[bool],
        rows: &[usize],
        weights: ClassWeights,
    ) -> Result<f64> {
        let d = net.n_inputs();
        self.x.clear();
        self.labels.clear();
        for &r in rows {
            self.x.extend_from_slice(&x[r * d..(r + 1) * d]);
            self.labels.push(labels[r]);
        }
        let b = rows.len();
        let z = net.forward(&self.x, b, &mut self.ws)?;
        self.d_logits.resize(b, 0.0);
        let loss =
            weighted_logistic_loss(z, &self.labels, weights, b as f64, Some(&mut self.d_logits))?;
        self.grad.resize(net.n_params(), 0.0);
        net.backward(&self.x, b, &mut self.ws, &self.d_logits, &mut self.grad)?;
        Ok(loss)
    }
}

impl Ceiling {
    /// Trains the ceiling on `(x_train, y_train)` (labels: true = attack),
    /// stopping early on the weighted loss over `(x_val, y_val)`.
    ///
    /// ```
    /// use baselines::{Ceiling, CeilingConfig, ClassWeights};
    /// use ndarray::array;
    ///
    /// // Attacks have a large first feature.
    /// let x = array![[0.1f32, 0.5], [0.2, 0.1], [0.9, 0.4], [0.8, 0.9], [0.15, 0.8], [0.95, 0.2]];
    /// let y = [false, false, true, true, false, true];
    /// let config = CeilingConfig { hidden: vec![8], max_epochs: 300, learning_rate: 1e-2, ..Default::default() };
    /// let model = Ceiling::fit(x.view(), &y, x.view(), &y, ClassWeights::default(), &config)?;
    /// let margins = model.margins(x.view())?;
    /// assert_eq!(margins.iter().map(|&m| m > 0.0).collect::<Vec<_>>(), y);
    /// # Ok::<(), baselines::BaselineError>(())
    /// ```
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] for a bad configuration;
    /// [`BaselineError::Shape`] when labels and rows, or the two sets'
    /// columns, disagree; [`BaselineError::NonFinite`] for a NaN or infinite
    /// feature; [`BaselineError::UnusableData`] for an empty set or training
    /// rows of one class; [`BaselineError::Diverged`] for a non-finite loss.
    pub fn fit(
        x_train: ArrayView2<'_, f32>,
        y_train: &[bool],
        x_val: ArrayView2<'_, f32>,
        y_val: &[bool],
        weights: ClassWeights,
        config: &CeilingConfig,
    ) -> Result<Self> {
        config.validate()?;
        check_fit_inputs(x_train, y_train, x_val, y_val)?;
        let d = x_train.ncols();
        let Some(train_weights) = weights.normalised_over(y_train) else {
            unreachable!("checked: the training set has rows")
        };
        let mut sizes = vec![d];
        sizes.extend(&config.hidden);
        sizes.push(1);
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut net = Mlp::orthogonal(&sizes, 2f32.sqrt(), 1.0, &mut rng)?;
        let mut adam = Adam::new(net.n_params(), config.learning_rate, config.adam_eps);
        let x = x_train.as_standard_layout();
        let Some(x) = x.as_slice() else {
            unreachable!("a standard-layout array is contiguous")
        };
        let mut order: Vec<usize> = (0..y_train.len()).collect();
        let mut step = Step::default();
        let mut history = Vec::new();
        let (mut best_loss, mut best_epoch) = (f64::INFINITY, 0);
        let mut best_params = net.params().to_vec();
        for epoch in 1..=config.max_epochs {
            order.shuffle(&mut rng);
            let mut total = 0.0;
            for rows in order.chunks(config.batch_size) {
                let loss = step.loss_and_gradient(&net, x, y_train, rows, train_weights)?;
                total += loss * rows.len() as f64;
                adam.step(net.params_mut(), &step.grad, 1.0);
            }
            let train_loss = total / y_train.len() as f64;
            if !train_loss.is_finite() {
                return Err(BaselineError::Diverged {
                    epoch,
                    which: "training",
                    value: train_loss,
                });
            }
            let validation_loss = mean_loss(&net, x_val, y_val, weights)?;
            if !validation_loss.is_finite() {
                return Err(BaselineError::Diverged {
                    epoch,
                    which: "validation",
                    value: validation_loss,
                });
            }
            history.push(EpochRecord {
                epoch,
                train_loss,
                validation_loss,
            });
            if validation_loss < best_loss - config.min_delta {
                best_loss = validation_loss;
                best_epoch = epoch;
                best_params.copy_from_slice(net.params());
            } else if epoch - best_epoch >= config.patience {
                break;
            }
        }
        net.params_mut().copy_from_slice(&best_params);
        net.prepare_small_batches();
        Ok(Ceiling {
            net,
            weights,
            history,
            best_epoch,
        })
    }

    /// The margin of every row: the output logit, `log P(attack) -
    /// log P(benign)` of the weighted model, as `f64`. Its cost-optimal
    /// threshold is 0. Unlike an `f32` probability it does not saturate
    /// into ties near 1.
    ///
    /// # Errors
    /// [`BaselineError::Shape`] for a wrong number of columns,
    /// [`BaselineError::NonFinite`] for a NaN or infinite feature.
    pub fn margins(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        check_features("features", x, Some(self.n_features()))?;
        Ok(logits(&self.net, x)?.into_iter().map(f64::from).collect())
    }

    /// The estimated `P(attack | x)` of every row under the training
    /// prior: the margin less the weights'
    /// [`log_odds_shift`](ClassWeights::log_odds_shift), through the
    /// logistic function. Its cost-optimal threshold is the weights'
    /// [`probability_threshold`](ClassWeights::probability_threshold).
    ///
    /// # Errors
    /// As [`Ceiling::margins`].
    pub fn probabilities(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        let shift = self.weights.log_odds_shift();
        Ok(self
            .margins(x)?
            .into_iter()
            .map(|m| sigmoid(m - shift))
            .collect())
    }

    /// The cost-optimal decision for every row: margin > 0.
    ///
    /// # Errors
    /// As [`Ceiling::margins`].
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<bool>> {
        Ok(self.margins(x)?.into_iter().map(|m| m > 0.0).collect())
    }

    /// The losses of every epoch trained (including those after the best).
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The epoch whose weights were kept (lowest validation loss).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// The class weights it was trained with.
    pub fn weights(&self) -> ClassWeights {
        self.weights
    }

    /// The trained network (`n_features -> hidden... -> 1`).
    pub fn network(&self) -> &Mlp {
        &self.net
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.net.n_inputs()
    }
}

#[cfg(test)]
mod tests {
    //! The training step's gradient against two oracles written here:
    //! candle's autograd in `f64`, and central differences of an `f64`
    //! forward pass with the exact tanh.

    use candle_core::{Device, Tensor, Var};
    use rand::Rng;
    use rand_distr::StandardNormal;

    use super::*;

    /// A random network of `sizes` (weights ~ N(0, 1/fan-in): tanh units
    /// away from saturation), `n` random rows and labels.
    fn case(sizes: &[usize], n: usize, seed: u64) -> (Mlp, Vec<f32>, Vec<bool>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut net = Mlp::zeros(sizes).unwrap();
        for l in 0..net.n_layers() {
            let (range, [_, fan_in]) = net.weight_range(l).unwrap();
            let scale = 1.0 / (fan_in as f32).sqrt();
            for p in &mut net.params_mut()[range] {
                *p = scale * rng.sample::<f32, _>(StandardNormal);
            }
            let bias = net.bias_range(l).unwrap();
            for p in &mut net.params_mut()[bias] {
                *p = 0.1 * rng.sample::<f32, _>(StandardNormal);
            }
        }
        let x = (0..n * sizes[0])
            .map(|_| rng.sample(StandardNormal))
            .collect();
        let y = (0..n).map(|_| rng.random_bool(0.6)).collect();
        (net, x, y)
    }

    /// The step's loss in `f64`: the weighted mean of the logistic losses
    /// of `rows`, the network evaluated with libm's tanh.
    fn loss_f64(
        sizes: &[usize],
        p: &[f64],
        x: &[f32],
        y: &[bool],
        rows: &[usize],
        w: ClassWeights,
    ) -> f64 {
        let d = sizes[0];
        let mut total = 0.0;
        for &r in rows {
            let mut h: Vec<f64> = x[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
            let mut off = 0;
            for (l, pair) in sizes.windows(2).enumerate() {
                let (n_in, n_out) = (pair[0], pair[1]);
                h = (0..n_out)
                    .map(|j| {
                        let z = p[off + n_in * n_out + j]
                            + (0..n_in).map(|i| p[off + j * n_in + i] * h[i]).sum::<f64>();
                        if l + 2 < sizes.len() { z.tanh() } else { z }
                    })
                    .collect();
                off += n_in * n_out + n_out;
            }
            let z = h[0];
            let t = if y[r] { -z } else { z };
            total += w.of(y[r]) * (1.0 + t.exp()).ln();
        }
        total / rows.len() as f64
    }

    /// The same loss through candle's autograd; returns the gradient in the
    /// network's flat layout.
    fn candle_gradient(
        net: &Mlp,
        x: &[f32],
        y: &[bool],
        rows: &[usize],
        w: ClassWeights,
    ) -> candle_core::Result<Vec<f64>> {
        let dev = Device::Cpu;
        let d = net.n_inputs();
        let xs: Vec<f64> = rows
            .iter()
            .flat_map(|&r| x[r * d..(r + 1) * d].iter().map(|&v| v as f64))
            .collect();
        let mut h = Tensor::from_vec(xs, (rows.len(), d), &dev)?;
        let mut vars = Vec::new();
        for l in 0..net.n_layers() {
            let (wr, [n_out, n_in]) = net.weight_range(l).expect("layer");
            let br = net.bias_range(l).expect("layer");
            let f64s = |r: std::ops::Range<usize>| -> Vec<f64> {
                net.params()[r].iter().map(|&v| v as f64).collect()
            };
            let wv = Var::from_vec(f64s(wr.clone()), (n_out, n_in), &dev)?;
            let bv = Var::from_vec(f64s(br.clone()), n_out, &dev)?;
            h = h
                .matmul(&wv.as_tensor().t()?)?
                .broadcast_add(bv.as_tensor())?;
            if l + 1 < net.n_layers() {
                h = h.tanh()?;
            }
            vars.push((wv, wr, bv, br));
        }
        let sign: Vec<f64> = rows
            .iter()
            .map(|&r| if y[r] { -1.0 } else { 1.0 })
            .collect();
        let weight: Vec<f64> = rows.iter().map(|&r| w.of(y[r])).collect();
        let t = (h.squeeze(1)? * Tensor::from_vec(sign, rows.len(), &dev)?)?;
        let per_row = (t.exp()? + 1.0)?.log()?;
        let loss = ((per_row * Tensor::from_vec(weight, rows.len(), &dev)?)?.sum_all()?
            / rows.len() as f64)?;
        let grads = loss.backward()?;
        let mut out = vec![0.0; net.n_params()];
        for (wv, wr, bv, br) in vars {
            let gw = grads.get(wv.as_tensor()).expect("weight gradient");
            out[wr].copy_from_slice(&gw.flatten_all()?.to_vec1::<f64>()?);
            let gb = grads.get(bv.as_tensor()).expect("bias gradient");
            out[br].copy_from_slice(&gb.to_vec1::<f64>()?);
        }
        Ok(out)
    }

    #[test]
    fn step_gradient_matches_candle_and_finite_differences() {
        // Shapes that exercise the engine's row kernels (<= 8 rows), its
        // packed GEMM and the ceiling's default [128, 128] architecture.
        for (k, (sizes, n)) in [
            (vec![5usize, 16, 12, 1], 40usize),
            (vec![3, 7, 1], 6),
            (vec![9, 128, 128, 1], 33),
        ]
        .into_iter()
        .enumerate()
        {
            let (net, x, y) = case(&sizes, n, k as u64);
            let w = ClassWeights::default().normalised_over(&y).unwrap();
            // A shuffled subset, as a minibatch would be.
            let rows: Vec<usize> = (0..n).rev().step_by(2).chain([1, 3]).collect();
            let mut step = Step::default();
            let loss = step.loss_and_gradient(&net, &x, &y, &rows, w).unwrap();
            let p: Vec<f64> = net.params().iter().map(|&v| v as f64).collect();
            let exact = loss_f64(&sizes, &p, &x, &y, &rows, w);
            assert!(
                (loss - exact).abs() < 1e-5,
                "{sizes:?}: loss {loss} vs {exact}"
            );
            let candle = candle_gradient(&net, &x, &y, &rows, w).unwrap();
            let scale = candle.iter().fold(0.0f64, |m, g| m.max(g.abs()));
            assert!(scale > 1e-2, "{sizes:?}: degenerate gradient");
            for (i, (&g, &c)) in step.grad.iter().zip(&candle).enumerate() {
                assert!(
                    (g as f64 - c).abs() <= 1e-5,
                    "{sizes:?} [{i}]: {g} vs candle {c}"
                );
            }
            // Central differences on a spread of parameters and every bias.
            let mut which: Vec<usize> = (0..net.n_params())
                .step_by(net.n_params() / 150 + 1)
                .collect();
            which.extend((0..net.n_layers()).flat_map(|l| net.bias_range(l).unwrap()));
            let mut q = p.clone();
            let h = 1e-6;
            for i in which {
                q[i] = p[i] + h;
                let up = loss_f64(&sizes, &q, &x, &y, &rows, w);
                q[i] = p[i] - h;
                let down = loss_f64(&sizes, &q, &x, &y, &rows, w);
                q[i] = p[i];
                let fd = (up - down) / (2.0 * h);
                let g = step.grad[i] as f64;
                assert!(
                    (g - fd).abs() <= 1e-5,
                    "{sizes:?} [{i}]: {g} vs finite differences {fd}"
                );
            }
        }
    }
}
