//! The convolutional model's training step written by hand over the `dense`
//! engine: im2col and GEMM convolutions, max-pool with the gradient routed
//! to the larger input, nearest-neighbour upsampling, the dense layers and
//! the mean squared error, forward and backward, with every buffer kept
//! between minibatches.
//!
//! It computes what candle's autograd computes through the fused ops of
//! `ops.rs` (which remain the reference and the path of the tensor methods),
//! up to rounding; the minibatch runs in slices of [`SLICE_ROWS`] rows whose
//! activations stay in cache, the gradients accumulating over the slices.
//! On a rayon pool of several threads the slices are shared out among
//! workers, each with its own buffers and gradients, summed in a fixed order.

use std::ops::Range;

use dense::{Activation, MatRef, add_bias_act, column_sums, matmul, mul_act_grad};
use rayon::prelude::*;

use crate::error::{Result, invalid};

/// Rows per slice of a minibatch: the activations of 32 rows of the default
/// model (80 positions, 32 channels) take about 2 MB.
const SLICE_ROWS: usize = 32;

/// One convolution: `k` taps over `c_in` channels to `c_out` channels.
#[derive(Debug, Clone, Copy)]
struct ConvLevel {
    /// Positions of the input sequence.
    len_in: usize,
    /// Upsample the input by 2 first (decoder levels).
    upsample: bool,
    c_in: usize,
    c_out: usize,
    act: Activation,
}

impl ConvLevel {
    fn windows(&self, k: usize) -> Windows {
        Windows {
            len_in: self.len_in,
            ch: self.c_in,
            k,
            upsample: self.upsample,
        }
    }

    fn len_out(&self) -> usize {
        self.windows(1).len_out()
    }
}

/// The architecture as the training step sees it.
#[derive(Debug, Clone)]
pub(crate) struct ConvShape {
    /// Real features per row.
    pub(crate) n_features: usize,
    /// Positions after zero-padding.
    pub(crate) padded: usize,
    /// Kernel width (odd).
    pub(crate) k: usize,
    /// Encoder channels per level.
    pub(crate) channels: Vec<usize>,
    /// Activation of the latent layer.
    pub(crate) latent_act: Activation,
    /// Activation of the output.
    pub(crate) output_act: Activation,
}

impl ConvShape {
    fn encoder_levels(&self) -> Vec<ConvLevel> {
        let mut c_in = 1;
        self.channels
            .iter()
            .enumerate()
            .map(|(i, &c_out)| {
                let level = ConvLevel {
                    len_in: self.padded >> i,
                    upsample: false,
                    c_in,
                    c_out,
                    act: Activation::Relu,
                };
                c_in = c_out;
                level
            })
            .collect()
    }

    fn decoder_levels(&self) -> Vec<ConvLevel> {
        let levels = self.channels.len();
        let mut c_in = self.channels[levels - 1];
        (0..levels)
            .map(|j| {
                let last = j + 1 == levels;
                let (c_out, act) = if last {
                    (1, self.output_act)
                } else {
                    (self.channels[levels - 1 - j], Activation::Relu)
                };
                let level = ConvLevel {
                    len_in: self.padded >> (levels - j),
                    upsample: true,
                    c_in,
                    c_out,
                    act,
                };
                c_in = c_out;
                level
            })
            .collect()
    }
}

/// The windows of a "same" convolution of odd width `k` over sequences of
/// `len_in` positions and `ch` channels (channels-last), optionally after a
/// nearest-neighbour upsampling by 2: row `b * len_out + p` of the window
/// matrix holds, at column `t * ch + c`, `up(x)[b, p + t - k / 2, c]` (zero
/// outside the sequence), `len_out` being `len_in` or `2 * len_in`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Windows {
    pub(crate) len_in: usize,
    pub(crate) ch: usize,
    pub(crate) k: usize,
    pub(crate) upsample: bool,
}

impl Windows {
    pub(crate) fn len_out(&self) -> usize {
        if self.upsample {
            2 * self.len_in
        } else {
            self.len_in
        }
    }

    /// Input position feeding output position `p` through tap `t`, if any.
    #[inline]
    fn source(&self, p: usize, t: usize) -> Option<usize> {
        let up = (p + t).checked_sub(self.k / 2)?;
        if up >= self.len_out() {
            return None;
        }
        Some(if self.upsample { up / 2 } else { up })
    }

    /// Appends the windows of every whole sequence of `x` to `col`.
    pub(crate) fn gather(&self, x: &[f32], col: &mut Vec<f32>) {
        let ch = self.ch;
        for xb in x.chunks_exact(self.len_in * ch) {
            for p in 0..self.len_out() {
                for t in 0..self.k {
                    match self.source(p, t) {
                        Some(src) => col.extend_from_slice(&xb[src * ch..(src + 1) * ch]),
                        None => col.extend(std::iter::repeat_n(0.0, ch)),
                    }
                }
            }
        }
    }

    /// The adjoint of [`Windows::gather`]: adds the window gradients
    /// `d_col` onto the input positions of `d_x`.
    pub(crate) fn scatter(&self, d_col: &[f32], d_x: &mut [f32]) {
        let (ch, k, lo) = (self.ch, self.k, self.len_out());
        for (b, dxb) in d_x.chunks_exact_mut(self.len_in * ch).enumerate() {
            for p in 0..lo {
                let row = &d_col[(b * lo + p) * k * ch..][..k * ch];
                for (t, gt) in row.chunks_exact(ch).enumerate() {
                    if let Some(src) = self.source(p, t) {
                        for (d, &v) in dxb[src * ch..(src + 1) * ch].iter_mut().zip(gt) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

/// The windows of `rows` sequences of `x` into `col`.
fn im2col(level: &ConvLevel, k: usize, x: &[f32], rows: usize, col: &mut Vec<f32>) {
    col.clear();
    level
        .windows(k)
        .gather(&x[..rows * level.len_in * level.c_in], col);
}

/// The gradient of the input of `rows` sequences from the windows'
/// gradient, into `d_x` (overwritten).
fn col2im(level: &ConvLevel, k: usize, d_col: &[f32], rows: usize, d_x: &mut Vec<f32>) {
    resize(d_x, rows * level.len_in * level.c_in);
    d_x.fill(0.0);
    level.windows(k).scatter(d_col, d_x);
}

fn resize(buf: &mut Vec<f32>, len: usize) {
    buf.resize(len, 0.0);
}

/// `out = act(x . w + b)` for `x` (`rows x n_in`) and the layer's weight
/// `w` (`n_in x n_out`) and bias `b`, parameters `layer` of `params`.
fn linear_forward(
    x: &[f32],
    rows: usize,
    params: &[Vec<f32>],
    layer: (usize, usize),
    act: Activation,
    out: &mut Vec<f32>,
) -> Result<()> {
    let (w, b) = (&params[layer.0], &params[layer.1]);
    let n_out = b.len();
    let n_in = w.len() / n_out;
    resize(out, rows * n_out);
    matmul(
        1.0,
        MatRef::row_major(&x[..rows * n_in], rows, n_in),
        MatRef::row_major(w, n_in, n_out),
        0.0,
        out,
    )?;
    add_bias_act(out, b, act);
    Ok(())
}

/// One convolution level: the windows of `rows` sequences of `x` into
/// `col`, and `act(col . w + b)` into `out`.
#[allow(clippy::too_many_arguments)]
fn conv_forward(
    level: &ConvLevel,
    k: usize,
    x: &[f32],
    rows: usize,
    params: &[Vec<f32>],
    layer: (usize, usize),
    col: &mut Vec<f32>,
    out: &mut Vec<f32>,
) -> Result<()> {
    im2col(level, k, x, rows, col);
    let m = rows * level.len_out();
    linear_forward(col, m, params, layer, level.act, out)
}

/// Gradients of `z = x . w + b` (parameters `layer` of `params`) given
/// `gz` (`rows x n_out`): adds `x^T gz` to the weight's gradient and the
/// column sums of `gz` to the bias's, and writes `gz . w^T` into `d_x` when
/// given.
#[allow(clippy::too_many_arguments)]
fn linear_backward(
    x: &[f32],
    rows: usize,
    params: &[Vec<f32>],
    layer: (usize, usize),
    gz: &[f32],
    grads: &mut [Vec<f32>],
    col_sums: &mut Vec<f32>,
    d_x: Option<&mut Vec<f32>>,
) -> Result<()> {
    let w = &params[layer.0];
    let (gw, gb) = layer_grads(grads, layer);
    let n_out = gb.len();
    let n_in = w.len() / n_out;
    let gz = &gz[..rows * n_out];
    matmul(
        1.0,
        MatRef::row_major(&x[..rows * n_in], rows, n_in).t(),
        MatRef::row_major(gz, rows, n_out),
        1.0,
        gw,
    )?;
    resize(col_sums, n_out);
    column_sums(gz, col_sums);
    for (g, s) in gb.iter_mut().zip(col_sums.iter()) {
        *g += s;
    }
    if let Some(d_x) = d_x {
        resize(d_x, rows * n_in);
        matmul(
            1.0,
            MatRef::row_major(gz, rows, n_out),
            MatRef::row_major(w, n_in, n_out).t(),
            0.0,
            d_x,
        )?;
    }
    Ok(())
}

/// The buffers of one worker: the activations of one slice and, for every
/// worker but the first, its own gradients; reused from minibatch to
/// minibatch.
#[derive(Debug, Default)]
struct ConvWorkspace {
    /// This worker's gradient sums (unused by the first worker, which adds
    /// into the caller's buffers).
    grads: Vec<Vec<f32>>,
    /// Padded input.
    x: Vec<f32>,
    /// Per encoder level: windows, activations, pooled output.
    enc_col: Vec<Vec<f32>>,
    enc_act: Vec<Vec<f32>>,
    enc_pool: Vec<Vec<f32>>,
    /// Latent code and the decoder's dense output.
    latent: Vec<f32>,
    dec_dense: Vec<f32>,
    /// Per decoder level: windows, activations.
    dec_col: Vec<Vec<f32>>,
    dec_act: Vec<Vec<f32>>,
    /// Gradient scratch.
    d_out: Vec<f32>,
    d_in: Vec<f32>,
    d_col: Vec<f32>,
    sums: Vec<f32>,
}

/// Parameter indices, in the model's order: per encoder level weight and
/// bias, encoder dense, decoder dense, per decoder level.
struct Index {
    levels: usize,
}

impl Index {
    fn enc(&self, i: usize) -> (usize, usize) {
        (2 * i, 2 * i + 1)
    }
    fn enc_dense(&self) -> (usize, usize) {
        (2 * self.levels, 2 * self.levels + 1)
    }
    fn dec_dense(&self) -> (usize, usize) {
        (2 * self.levels + 2, 2 * self.levels + 3)
    }
    fn dec(&self, j: usize) -> (usize, usize) {
        (2 * self.levels + 4 + 2 * j, 2 * self.levels + 5 + 2 * j)
    }
}

/// Two distinct gradient buffers (weight and bias) of one layer.
fn layer_grads(grads: &mut [Vec<f32>], (w, b): (usize, usize)) -> (&mut [f32], &mut [f32]) {
    let (lo, hi) = grads.split_at_mut(b);
    (&mut lo[w], &mut hi[0])
}

/// The hand-written training step: the parameters, copied from the model
/// at the start of each step, and one [`ConvWorkspace`] per worker, kept
/// between minibatches.
#[derive(Debug, Default)]
pub(crate) struct ConvStep {
    /// Every parameter, in the model's order.
    params: Vec<Vec<f32>>,
    /// Worker `w` runs the `w`-th contiguous range of slices.
    workers: Vec<ConvWorkspace>,
}

/// Zeroes `grads` to one buffer per parameter, each of its length.
fn zero_like(grads: &mut [Vec<f32>], params: &[Vec<f32>]) {
    for (g, p) in grads.iter_mut().zip(params) {
        g.clear();
        g.resize(p.len(), 0.0);
    }
}

impl ConvStep {
    /// Copies the parameters in (`read(i, buf)` fills parameter `i`).
    pub(crate) fn load_params(
        &mut self,
        count: usize,
        mut read: impl FnMut(usize, &mut Vec<f32>) -> Result<()>,
    ) -> Result<()> {
        self.params.resize_with(count, Vec::new);
        for (i, p) in self.params.iter_mut().enumerate() {
            read(i, p)?;
        }
        Ok(())
    }

    /// The mean squared error of the reconstruction of `rows` rows of `x`
    /// (`rows x n_features`), and its gradients with respect to every
    /// parameter written into `grads` (one buffer per parameter, resized
    /// and overwritten).
    ///
    /// With `W = min(threads of the current rayon pool, slices)` workers
    /// above one, worker `w` takes slices `w * S / W .. (w + 1) * S / W` of
    /// the `S` slices; the first adds its gradients straight into `grads`,
    /// the others' are added after it in worker order, so the result
    /// depends on the thread count but not on scheduling. One worker runs
    /// every slice in order on the calling thread.
    pub(crate) fn loss_and_gradients(
        &mut self,
        shape: &ConvShape,
        x: &[f32],
        rows: usize,
        grads: &mut [Vec<f32>],
    ) -> Result<f32> {
        let n = shape.n_features;
        if x.len() != rows * n {
            return Err(invalid(
                "training slice length",
                x.len(),
                "must be rows x features",
            ));
        }
        zero_like(grads, &self.params);
        let scale = 2.0 / (rows * n).max(1) as f32;
        let slices = rows.div_ceil(SLICE_ROWS);
        let workers = rayon::current_num_threads().min(slices).max(1);
        if self.workers.len() < workers {
            self.workers.resize_with(workers, ConvWorkspace::default);
        }
        let params = &self.params;
        let sum = if workers == 1 {
            self.workers[0].run(params, shape, x, rows, 0..slices, scale, grads)?
        } else {
            let range = |w: usize| w * slices / workers..(w + 1) * slices / workers;
            let (first, rest) = self.workers.split_at_mut(1);
            let rest = &mut rest[..workers - 1];
            let (head, tail) = rayon::join(
                || first[0].run(params, shape, x, rows, range(0), scale, grads),
                || {
                    rest.par_iter_mut()
                        .enumerate()
                        .map(|(i, ws)| {
                            let mut own = std::mem::take(&mut ws.grads);
                            own.resize_with(params.len(), Vec::new);
                            zero_like(&mut own, params);
                            let sum = ws.run(params, shape, x, rows, range(i + 1), scale, &mut own);
                            ws.grads = own;
                            sum
                        })
                        .collect::<Result<Vec<f64>>>()
                },
            );
            let mut sum = head?;
            for (part, ws) in tail?.into_iter().zip(rest.iter()) {
                sum += part;
                for (g, own) in grads.iter_mut().zip(&ws.grads) {
                    for (a, b) in g.iter_mut().zip(own) {
                        *a += b;
                    }
                }
            }
            sum
        };
        Ok((sum / (rows * n).max(1) as f64) as f32)
    }
}

impl ConvWorkspace {
    /// Runs `slices` (indices of [`SLICE_ROWS`]-row slices of the `rows`
    /// rows of `x`) forward and backward in order, adding their gradients
    /// into `grads`; returns their sum of squared errors.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        params: &[Vec<f32>],
        shape: &ConvShape,
        x: &[f32],
        rows: usize,
        slices: Range<usize>,
        scale: f32,
        grads: &mut [Vec<f32>],
    ) -> Result<f64> {
        let n = shape.n_features;
        let mut sum = 0f64;
        for slice in slices {
            let start = slice * SLICE_ROWS;
            let slice_rows = (rows - start).min(SLICE_ROWS);
            let chunk = &x[start * n..(start + slice_rows) * n];
            self.forward(params, shape, chunk, slice_rows)?;
            sum += self.output_gradient(shape, chunk, slice_rows, scale);
            self.backward(params, shape, slice_rows, grads)?;
        }
        Ok(sum)
    }

    /// The forward pass of one slice; activations stay in the buffers.
    fn forward(
        &mut self,
        params: &[Vec<f32>],
        shape: &ConvShape,
        x: &[f32],
        rows: usize,
    ) -> Result<()> {
        let (n, padded, k) = (shape.n_features, shape.padded, shape.k);
        let idx = Index {
            levels: shape.channels.len(),
        };
        self.x.clear();
        for row in x.chunks_exact(n).take(rows) {
            self.x.extend_from_slice(row);
            self.x.extend(std::iter::repeat_n(0.0, padded - n));
        }
        let enc = shape.encoder_levels();
        let levels = enc.len();
        self.enc_col.resize_with(levels, Vec::new);
        self.enc_act.resize_with(levels, Vec::new);
        self.enc_pool.resize_with(levels, Vec::new);
        for (i, level) in enc.iter().enumerate() {
            let input = if i == 0 {
                &self.x
            } else {
                &self.enc_pool[i - 1]
            };
            let (col, act) = (&mut self.enc_col[i], &mut self.enc_act[i]);
            conv_forward(level, k, input, rows, params, idx.enc(i), col, act)?;
            let (a, pool) = (&self.enc_act[i], &mut self.enc_pool[i]);
            let ch = level.c_out;
            pool.clear();
            for pair in a.chunks_exact(2 * ch) {
                let (u, v) = pair.split_at(ch);
                pool.extend(u.iter().zip(v).map(|(&u, &v)| u.max(v)));
            }
        }
        linear_forward(
            &self.enc_pool[levels - 1],
            rows,
            params,
            idx.enc_dense(),
            shape.latent_act,
            &mut self.latent,
        )?;
        linear_forward(
            &self.latent,
            rows,
            params,
            idx.dec_dense(),
            Activation::Relu,
            &mut self.dec_dense,
        )?;
        let dec = shape.decoder_levels();
        self.dec_col.resize_with(levels, Vec::new);
        self.dec_act.resize_with(levels, Vec::new);
        for (j, level) in dec.iter().enumerate() {
            // Level j reads the dense output or level j - 1's activations.
            let (done, rest) = self.dec_act.split_at_mut(j);
            let input = done.last().unwrap_or(&self.dec_dense);
            let col = &mut self.dec_col[j];
            conv_forward(level, k, input, rows, params, idx.dec(j), col, &mut rest[0])?;
        }
        Ok(())
    }

    /// Writes `dLoss/d(output)` of the slice into `d_out` (zero at the
    /// padding positions) and returns the slice's sum of squared errors.
    fn output_gradient(&mut self, shape: &ConvShape, x: &[f32], rows: usize, scale: f32) -> f64 {
        let (n, padded) = (shape.n_features, shape.padded);
        let y = &self.dec_act[shape.channels.len() - 1];
        resize(&mut self.d_out, rows * padded);
        let mut sum = 0f64;
        for ((yr, xr), dr) in y
            .chunks_exact(padded)
            .zip(x.chunks_exact(n))
            .zip(self.d_out.chunks_exact_mut(padded))
            .take(rows)
        {
            let mut s = 0f32;
            for ((d, &yv), &xv) in dr.iter_mut().zip(yr).zip(xr) {
                let e = yv - xv;
                s += e * e;
                *d = scale * e;
            }
            dr[n..].fill(0.0);
            sum += f64::from(s);
        }
        sum
    }

    /// The backward pass of the last forward slice, from `d_out`, adding
    /// every parameter's gradient into `grads`.
    fn backward(
        &mut self,
        params: &[Vec<f32>],
        shape: &ConvShape,
        rows: usize,
        grads: &mut [Vec<f32>],
    ) -> Result<()> {
        let k = shape.k;
        let idx = Index {
            levels: shape.channels.len(),
        };
        let dec = shape.decoder_levels();
        let levels = dec.len();
        // d_out holds the gradient of the last decoder level's output.
        for (j, level) in dec.iter().enumerate().rev() {
            mul_act_grad(&mut self.d_out, &self.dec_act[j], level.act);
            let (w, b) = idx.dec(j);
            linear_backward(
                &self.dec_col[j],
                rows * level.len_out(),
                params,
                (w, b),
                &self.d_out,
                grads,
                &mut self.sums,
                Some(&mut self.d_col),
            )?;
            col2im(level, k, &self.d_col, rows, &mut self.d_in);
            std::mem::swap(&mut self.d_out, &mut self.d_in);
        }
        // d_out: gradient of the decoder's dense output, then of the latent
        // code: back through each dense layer's activation and product.
        let dense_layers = [
            (
                &self.dec_dense,
                Activation::Relu,
                &self.latent,
                idx.dec_dense(),
            ),
            (
                &self.latent,
                shape.latent_act,
                &self.enc_pool[levels - 1],
                idx.enc_dense(),
            ),
        ];
        for (output, act, input, layer) in dense_layers {
            mul_act_grad(&mut self.d_out, output, act);
            let d_in = Some(&mut self.d_in);
            let sums = &mut self.sums;
            linear_backward(input, rows, params, layer, &self.d_out, grads, sums, d_in)?;
            std::mem::swap(&mut self.d_out, &mut self.d_in);
        }
        // d_out: gradient of the last level's pooled (flattened) output.
        for (i, level) in shape.encoder_levels().iter().enumerate().rev() {
            let a = &self.enc_act[i];
            let ch = level.c_out;
            resize(&mut self.d_in, a.len());
            for ((pair, g), d) in a
                .chunks_exact(2 * ch)
                .zip(self.d_out.chunks_exact(ch))
                .zip(self.d_in.chunks_exact_mut(2 * ch))
            {
                let (u, v) = pair.split_at(ch);
                let (du, dv) = d.split_at_mut(ch);
                // The gradient goes to the larger (the first on ties).
                for c in 0..ch {
                    let first = u[c] >= v[c];
                    du[c] = if first { g[c] } else { 0.0 };
                    dv[c] = if first { 0.0 } else { g[c] };
                }
            }
            mul_act_grad(&mut self.d_in, a, level.act);
            let (w, b) = idx.enc(i);
            let d_col = (i > 0).then_some(&mut self.d_col);
            linear_backward(
                &self.enc_col[i],
                rows * level.len_in,
                params,
                (w, b),
                &self.d_in,
                grads,
                &mut self.sums,
                d_col,
            )?;
            if i > 0 {
                col2im(level, k, &self.d_col, rows, &mut self.d_out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The hand-written step against candle's autograd through the fused
    //! ops (the model's `forward_train`).
    use candle_core::{Device, Tensor};
    use ndarray::{Array2, s};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::ConvStep;
    use crate::config::{Activation, Conv1dConfig};
    use crate::conv::Conv1d;
    use crate::model::Autoencoder;
    use crate::ops;
    use crate::trainer::{Trainer, TrainerConfig, TrainingHistory};

    fn check(n: usize, config: Conv1dConfig, rows: usize, seed: u64) {
        let model = Conv1d::new(n, config.clone(), seed).unwrap();
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let x: Vec<f32> = (0..rows * n).map(|_| rng.random_range(-1.0..1.5)).collect();

        let t = Tensor::from_slice(&x, (rows, n), &Device::Cpu).unwrap();
        let recon = model.forward_train(&t, &mut rng).unwrap();
        let loss = ops::mse(&recon, &t).unwrap();
        let expected_loss = loss.to_scalar::<f32>().unwrap();
        let store = loss.backward().unwrap();

        let entries = &model.parameters().entries;
        let mut grads = vec![Vec::new(); entries.len()];
        let got_loss = model
            .loss_and_gradients(&x, rows, &mut rng, &mut grads)
            .unwrap()
            .unwrap();
        assert!(
            (got_loss - expected_loss).abs() <= 1e-5 * expected_loss.abs(),
            "{config:?}: loss {got_loss} vs {expected_loss}"
        );
        for (p, g) in entries.iter().zip(&grads) {
            let reference = store
                .get(p.var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert_eq!(g.len(), reference.len(), "{}", p.name);
            let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{}: zero gradient", p.name);
            for (i, (a, b)) in g.iter().zip(&reference).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{config:?} {}[{i}]: {a} vs candle {b} (largest {scale})",
                    p.name
                );
            }
        }
    }

    #[test]
    fn gradients_match_candle_autograd() {
        // The default model, over more rows than one slice.
        check(77, Conv1dConfig::default(), 70, 1);
        // Padding, a wider kernel, three levels, other activations.
        check(
            13,
            Conv1dConfig {
                channels: vec![5, 4, 3],
                kernel_size: 5,
                latent_dim: 6,
                latent_activation: Activation::Tanh,
                output_activation: Activation::Sigmoid,
            },
            9,
            2,
        );
        check(
            6,
            Conv1dConfig {
                channels: vec![4],
                kernel_size: 1,
                latent_dim: 3,
                latent_activation: Activation::Relu,
                output_activation: Activation::Tanh,
            },
            33,
            3,
        );
    }

    #[test]
    fn bad_lengths_are_errors() {
        let model = Conv1d::new(8, Conv1dConfig::default(), 0).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let mut grads = vec![Vec::new(); model.parameters().len()];
        assert!(
            model
                .loss_and_gradients(&[0.0; 15], 2, &mut rng, &mut grads)
                .is_err()
        );
        assert!(
            model
                .loss_and_gradients(&[0.0; 16], 2, &mut rng, &mut grads[1..])
                .is_err()
        );
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// The step's loss and gradients for `model` on `rows` rows of `x`, run
    /// on a pool of `threads` threads.
    fn step_on(
        step: &mut ConvStep,
        model: &Conv1d,
        x: &[f32],
        rows: usize,
        threads: usize,
    ) -> (f32, Vec<Vec<f32>>) {
        let entries = &model.parameters().entries;
        step.load_params(entries.len(), |i, buf| {
            *buf = entries[i].var.as_tensor().flatten_all()?.to_vec1()?;
            Ok(())
        })
        .unwrap();
        let mut grads = vec![Vec::new(); entries.len()];
        let shape = model.shape();
        let loss = pool(threads)
            .install(|| {
                step.loss_and_gradients(&shape, &x[..rows * shape.n_features], rows, &mut grads)
            })
            .unwrap();
        (loss, grads)
    }

    fn assert_grads_close(a: &[Vec<f32>], b: &[Vec<f32>], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (ga, gb) in a.iter().zip(b) {
            assert_eq!(ga.len(), gb.len(), "{what}");
            let scale = gb.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{what}: zero gradient");
            for (u, v) in ga.iter().zip(gb) {
                assert!(
                    (u - v).abs() <= 1e-5 * scale,
                    "{what}: {u} vs {v} (largest {scale})"
                );
            }
        }
    }

    #[test]
    fn workers_share_the_slices_and_match_one_thread() {
        let model = Conv1d::new(77, Conv1dConfig::default(), 4).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        // 7 slices, the last one of 8 rows.
        let rows = 200;
        let x: Vec<f32> = (0..rows * 77).map(|_| rng.random_range(0.0..1.0)).collect();
        let mut one = ConvStep::default();
        let (loss1, grads1) = step_on(&mut one, &model, &x, rows, 1);
        assert_eq!(one.workers.len(), 1);
        for threads in [2, 3] {
            let mut step = ConvStep::default();
            let (loss, grads) = step_on(&mut step, &model, &x, rows, threads);
            // Every worker ran, and the others than the first kept
            // gradients of their own.
            assert_eq!(step.workers.len(), threads);
            for ws in &step.workers[1..] {
                assert!(ws.grads.iter().flatten().any(|&g| g != 0.0));
            }
            assert!(
                (loss - loss1).abs() <= 1e-5 * loss1,
                "{threads} threads: {loss} vs {loss1}"
            );
            let what = format!("{threads} threads");
            assert_grads_close(&grads, &grads1, &what);
            // The same again, with the buffers of the previous call.
            let again = step_on(&mut step, &model, &x, rows, threads);
            assert_eq!(again, (loss, grads), "{what}");
        }
        // Buffers left by more workers, and fewer slices than threads.
        let mut step = ConvStep::default();
        step_on(&mut step, &model, &x, rows, 3);
        assert_eq!(step_on(&mut step, &model, &x, rows, 1), (loss1, grads1));
        let small = step_on(&mut ConvStep::default(), &model, &x, 20, 1);
        assert_eq!(step_on(&mut step, &model, &x, 20, 2), small);
        // An input of the wrong length is an error, not a panic.
        let mut grads = vec![Vec::new(); model.parameters().len()];
        assert!(
            step.loss_and_gradients(&model.shape(), &x[..100], 2, &mut grads)
                .is_err()
        );
    }

    /// One short training run of a small convolutional model on `threads`
    /// threads: the history and the final weights.
    fn train(threads: usize) -> (TrainingHistory, Vec<Vec<f32>>) {
        let config = Conv1dConfig {
            channels: vec![8, 4],
            latent_dim: 6,
            ..Conv1dConfig::default()
        };
        let mut model = Conv1d::new(20, config, 5).unwrap();
        let mut rng = StdRng::seed_from_u64(6);
        let x = Array2::from_shape_simple_fn((360, 20), || rng.random_range(0.0..1.0f32));
        let trainer = Trainer::new(TrainerConfig {
            epochs: 3,
            // Minibatches of 4 slices, and a last one of 2.
            batch_size: 128,
            learning_rate: 3e-3,
            early_stopping: None,
            threads,
            ..TrainerConfig::default()
        })
        .unwrap();
        let history = trainer
            .fit(
                &mut model,
                x.slice(s![..320, ..]),
                x.slice(s![320.., ..]),
                &mut |_| {},
            )
            .unwrap();
        (history, model.parameters().snapshot().unwrap())
    }

    #[test]
    fn two_thread_training_is_reproducible_and_matches_one_thread() {
        let (one, _) = train(1);
        let (two, weights) = train(2);
        assert_eq!(one.epochs.len(), two.epochs.len());
        for (a, b) in one.epochs.iter().zip(&two.epochs) {
            for (u, v) in [
                (a.train_loss, b.train_loss),
                (a.val_loss, b.val_loss),
                (a.grad_norm, b.grad_norm),
            ] {
                assert!(
                    (u - v).abs() <= 1e-5 * u.abs(),
                    "epoch {}: {u} vs {v}",
                    a.epoch
                );
            }
        }
        let (again, weights_again) = train(2);
        assert_eq!(two.train_losses(), again.train_losses());
        assert_eq!(two.val_losses(), again.val_losses());
        assert_eq!(weights, weights_again);
    }
}
