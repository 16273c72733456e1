//! The `dense` backend: runs a [`Spec`] forward and backward on the
//! `dense` crate's layers, over the model's flat parameter buffer itself
//! (nothing is copied or cached), with every buffer kept between calls.
//!
//! A training step runs its minibatch in slices of [`Spec::slice_rows`]
//! rows, forward and backward one slice at a time so that the activations
//! stay in cache, the gradients accumulating. On a rayon pool of several
//! threads the slices are shared out among `min(threads, slices)` workers
//! in fixed contiguous ranges, each with its own buffers and gradients,
//! added in worker order: the result is the same from run to run for a
//! given thread count.

use std::ops::Range;

use dense::{
    ConvBuffers, add_noise, embed_rows, embed_rows_backward, linear_backward, linear_forward,
    max_pool2, max_pool2_backward, mul_act_grad, mul_mask, resize_rows, upsample2,
    upsample2_backward,
};
use rayon::prelude::*;

use crate::error::Result;
use crate::spec::{Layer, Masks, ParamInfo, Spec};

/// Activations and gradient scratch of one worker.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Output of every layer of the last forward pass.
    outs: Vec<Vec<f32>>,
    /// Buffers of every convolution of the last forward pass.
    convs: Vec<ConvBuffers>,
    /// Gradient of the current layer's output, and of its input.
    d_out: Vec<f32>,
    d_in: Vec<f32>,
}

/// The random draws of a slice: the minibatch's masks and the slice's
/// first row.
type SliceMasks<'a> = (&'a Masks, usize);

fn mask_rows<'a>(
    masks: Option<SliceMasks<'a>>,
    l: usize,
    rows: usize,
    width: usize,
) -> Option<&'a [f32]> {
    let (masks, first) = masks?;
    let m = masks.layers.get(l)?.as_deref()?;
    m.get(first * width..(first + rows) * width)
}

fn tensor<'a>(params: &'a [f32], spec: &Spec, i: usize) -> &'a [f32] {
    &params[spec.params[i].range()]
}

/// The gradient buffers of a weight and of the bias registered after it.
fn weight_and_bias<'a>(
    grads: &'a mut [f32],
    w: &ParamInfo,
    b: &ParamInfo,
) -> (&'a mut [f32], &'a mut [f32]) {
    let (lo, hi) = grads.split_at_mut(b.offset);
    (&mut lo[w.range()], &mut hi[..b.len])
}

/// Runs `layers[range]` over `rows` rows of `x`; returns the last layer's
/// output, which stays in `ws`. With `masks` (training) noise and dropout
/// apply; without, they are the identity.
pub(crate) fn forward<'w>(
    spec: &Spec,
    params: &[f32],
    range: Range<usize>,
    x: &[f32],
    rows: usize,
    masks: Option<SliceMasks<'_>>,
    ws: &'w mut Workspace,
) -> Result<&'w [f32]> {
    let n = spec.layers.len();
    ws.outs.resize_with(n, Vec::new);
    ws.convs.resize_with(n, ConvBuffers::default);
    let last = range.end - 1;
    for l in range.clone() {
        let layer = &spec.layers[l];
        let (before, rest) = ws.outs.split_at_mut(l);
        let input: &[f32] = if l == range.start {
            x
        } else {
            &before[l - 1][..rows * layer.in_width()]
        };
        let out = &mut rest[0];
        out.resize(rows * layer.out_width(), 0.0);
        let out = &mut out[..];
        match *layer {
            Layer::Embedding {
                n_in,
                column,
                dim,
                table,
            } => embed_rows(input, n_in, column, tensor(params, spec, table), dim, out)?,
            Layer::Noise { width, cols, .. } => match mask_rows(masks, l, rows, cols) {
                Some(noise) => add_noise(input, width, noise, cols, out),
                None => out.copy_from_slice(input),
            },
            Layer::Dropout { width, .. } => match mask_rows(masks, l, rows, width) {
                Some(mask) => mul_mask(input, mask, out),
                None => out.copy_from_slice(input),
            },
            Layer::Resize { from, to } => resize_rows(input, from, to, out),
            Layer::Dense {
                act, weight, bias, ..
            } => linear_forward(
                input,
                rows,
                tensor(params, spec, weight),
                tensor(params, spec, bias),
                act,
                out,
            )?,
            Layer::Conv1d {
                conv,
                act,
                weight,
                bias,
            } => conv.forward(
                input,
                rows,
                tensor(params, spec, weight),
                tensor(params, spec, bias),
                act,
                &mut ws.convs[l],
                out,
            )?,
            Layer::MaxPool2 { ch, .. } => max_pool2(input, ch, out),
            Layer::Upsample2 { ch, .. } => upsample2(input, ch, out),
        }
    }
    Ok(&ws.outs[last][..rows * spec.layers[last].out_width()])
}

/// The backward pass of the last training [`forward`] over every layer
/// (same `x`, `rows` and masks), from the gradient of the output held in
/// `ws.d_out`; adds every parameter's gradient into `grads`.
fn backward(
    spec: &Spec,
    params: &[f32],
    x: &[f32],
    rows: usize,
    masks: SliceMasks<'_>,
    ws: &mut Workspace,
    grads: &mut [f32],
) -> Result<()> {
    for (l, layer) in spec.layers.iter().enumerate().rev() {
        let input: &[f32] = if l == 0 {
            x
        } else {
            &ws.outs[l - 1][..rows * layer.in_width()]
        };
        let output = &ws.outs[l][..rows * layer.out_width()];
        let d_out = &mut ws.d_out[..rows * layer.out_width()];
        ws.d_in.resize(rows * layer.in_width(), 0.0);
        let d_in = &mut ws.d_in[..rows * layer.in_width()];
        // The first layer's input needs no gradient.
        let need_d_in = l > 0;
        match *layer {
            Layer::Embedding {
                n_in,
                column,
                dim,
                table,
            } => {
                let g = &mut grads[spec.params[table].range()];
                embed_rows_backward(input, n_in, column, d_out, dim, g)?;
            }
            Layer::Noise { .. } => d_in.copy_from_slice(d_out),
            Layer::Dropout { width, .. } => match mask_rows(Some(masks), l, rows, width) {
                Some(mask) => mul_mask(d_out, mask, d_in),
                None => d_in.copy_from_slice(d_out),
            },
            Layer::Resize { from, to } => resize_rows(d_out, to, from, d_in),
            Layer::Dense {
                act, weight, bias, ..
            } => {
                mul_act_grad(d_out, output, act);
                let (w, b) = (&spec.params[weight], &spec.params[bias]);
                let (gw, gb) = weight_and_bias(grads, w, b);
                let d_in = need_d_in.then_some(d_in);
                linear_backward(input, rows, &params[w.range()], d_out, gw, gb, d_in)?;
            }
            Layer::Conv1d {
                conv,
                act,
                weight,
                bias,
            } => {
                mul_act_grad(d_out, output, act);
                let (w, b) = (&spec.params[weight], &spec.params[bias]);
                let (gw, gb) = weight_and_bias(grads, w, b);
                let d_in = need_d_in.then_some(d_in);
                conv.backward(rows, d_out, gw, gb, &mut ws.convs[l], d_in)?;
            }
            Layer::MaxPool2 { ch, .. } => max_pool2_backward(input, d_out, ch, d_in),
            Layer::Upsample2 { ch, .. } => upsample2_backward(d_out, ch, d_in),
        }
        std::mem::swap(&mut ws.d_out, &mut ws.d_in);
    }
    Ok(())
}

/// The target of a reconstruction: the input row without an embedded
/// categorical column.
pub(crate) fn target_of(spec: &Spec, row: &[f32]) -> impl Iterator<Item = f32> {
    let skip = spec.categorical.map(|(c, _)| c);
    row.iter()
        .enumerate()
        .filter(move |(j, _)| Some(*j) != skip)
        .map(|(_, &v)| v)
}

/// Writes `scale * (y - target)` into `ws.d_out` for the last forward pass
/// `y` over `rows` rows of `x`; returns the sum of squared errors.
fn output_gradient(spec: &Spec, x: &[f32], rows: usize, scale: f32, ws: &mut Workspace) -> f64 {
    let width = spec.output_dim();
    let y = &ws.outs[spec.layers.len() - 1][..rows * width];
    ws.d_out.resize(rows * width, 0.0);
    let mut sum = 0f64;
    for ((yr, xr), dr) in y
        .chunks_exact(width)
        .zip(x.chunks_exact(spec.n_features))
        .zip(ws.d_out.chunks_exact_mut(width))
    {
        let mut s = 0f32;
        for ((d, &yv), t) in dr.iter_mut().zip(yr).zip(target_of(spec, xr)) {
            let e = yv - t;
            s += e * e;
            *d = scale * e;
        }
        sum += f64::from(s);
    }
    sum
}

/// One worker of the training step: its buffers and, for every worker but
/// the first, its own gradient sums.
#[derive(Debug, Default)]
struct Worker {
    ws: Workspace,
    grads: Vec<f32>,
}

impl Worker {
    /// Runs `slices` of the minibatch forward and backward in order, adding
    /// their gradients into `grads`; returns their sum of squared errors.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        spec: &Spec,
        params: &[f32],
        x: &[f32],
        rows: usize,
        masks: &Masks,
        slices: Range<usize>,
        scale: f32,
        grads: &mut [f32],
    ) -> Result<f64> {
        let n = spec.n_features;
        let mut sum = 0f64;
        for slice in slices {
            let start = slice * spec.slice_rows;
            let r = (rows - start).min(spec.slice_rows);
            let chunk = &x[start * n..(start + r) * n];
            let all = 0..spec.layers.len();
            forward(
                spec,
                params,
                all,
                chunk,
                r,
                Some((masks, start)),
                &mut self.ws,
            )?;
            sum += output_gradient(spec, chunk, r, scale, &mut self.ws);
            backward(spec, params, chunk, r, (masks, start), &mut self.ws, grads)?;
        }
        Ok(sum)
    }
}

/// The training step's workers, kept between minibatches.
#[derive(Debug, Default)]
pub(crate) struct TrainState {
    workers: Vec<Worker>,
}

/// The sum of squared errors of the training-mode reconstruction of `rows`
/// rows of `x` (with the minibatch's `masks`), and the gradient of their
/// mean with respect to every parameter, written into `grads`.
pub(crate) fn loss_and_grads(
    spec: &Spec,
    params: &[f32],
    x: &[f32],
    rows: usize,
    masks: &Masks,
    state: &mut TrainState,
    grads: &mut [f32],
) -> Result<f64> {
    grads.fill(0.0);
    let scale = 2.0 / (rows * spec.output_dim()).max(1) as f32;
    let slices = rows.div_ceil(spec.slice_rows);
    let workers = rayon::current_num_threads().min(slices).max(1);
    if state.workers.len() < workers {
        state.workers.resize_with(workers, Worker::default);
    }
    if workers == 1 {
        return state.workers[0].run(spec, params, x, rows, masks, 0..slices, scale, grads);
    }
    let range = |w: usize| w * slices / workers..(w + 1) * slices / workers;
    let (first, rest) = state.workers.split_at_mut(1);
    let rest = &mut rest[..workers - 1];
    let (head, tail) = rayon::join(
        || first[0].run(spec, params, x, rows, masks, range(0), scale, grads),
        || {
            rest.par_iter_mut()
                .enumerate()
                .map(|(i, worker)| {
                    let mut own = std::mem::take(&mut worker.grads);
                    own.clear();
                    own.resize(params.len(), 0.0);
                    let sum =
                        worker.run(spec, params, x, rows, masks, range(i + 1), scale, &mut own);
                    worker.grads = own;
                    sum
                })
                .collect::<Result<Vec<f64>>>()
        },
    );
    let mut sum = head?;
    for (part, worker) in tail?.into_iter().zip(rest.iter()) {
        sum += part;
        for (g, o) in grads.iter_mut().zip(&worker.grads) {
            *g += o;
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Conv1dConfig, DenseConfig, EmbeddingConfig, ModelConfig};
    use dense::Activation;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Small models with every kind of layer; smooth activations where the
    /// configuration allows, so that finite differences see no kinks.
    fn specs() -> Vec<Spec> {
        let deep = DenseConfig {
            hidden: vec![10, 6],
            latent_dim: 3,
            activation: Activation::Tanh,
            output_activation: Activation::Sigmoid,
            dropout: 0.25,
            input_noise_std: 0.1,
            embedding: Some(EmbeddingConfig {
                column: 2,
                cardinality: 5,
                dim: 2,
            }),
            ..DenseConfig::deep()
        };
        let conv = Conv1dConfig {
            channels: vec![3, 2],
            latent_dim: 3,
            latent_activation: Activation::Tanh,
            ..Conv1dConfig::default()
        };
        vec![
            Spec::new(&ModelConfig::Deep(deep), 6),
            Spec::new(&ModelConfig::Conv1d(conv), 7),
        ]
    }

    fn inputs(spec: &Spec, rows: usize) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(3);
        let n = spec.n_features;
        (0..rows * n)
            .map(|i| match spec.categorical {
                Some((c, card)) if i % n == c => (i / n % card) as f32,
                _ => rng.random_range(0.0..1.0),
            })
            .collect()
    }

    /// The gradient of the mean squared error against central finite
    /// differences of the loss, with the masks fixed, for every parameter,
    /// on both backends.
    #[test]
    fn gradients_match_central_finite_differences() {
        for spec in specs() {
            let rows = 5;
            let x = inputs(&spec, rows);
            let params = spec.init(2);
            let masks = spec.draw_masks(rows, &mut StdRng::seed_from_u64(4));
            let mut state = TrainState::default();
            let mut grads = vec![0.0; params.len()];
            let mean = (rows * spec.output_dim()) as f64;
            loss_and_grads(&spec, &params, &x, rows, &masks, &mut state, &mut grads).unwrap();
            let mut cg = vec![0.0; params.len()];
            crate::candle_backend::loss_and_grads(&spec, &params, &x, rows, &masks, &mut cg)
                .unwrap();
            let loss = |p: &[f32]| {
                let mut g = vec![0.0; p.len()];
                let mut s = TrainState::default();
                loss_and_grads(&spec, p, &x, rows, &masks, &mut s, &mut g).unwrap() / mean
            };
            let h = 1e-3f32;
            let max_grad = grads.iter().fold(0f32, |m, g| m.max(g.abs()));
            let mut worst = 0f64;
            for i in 0..params.len() {
                let (mut lo, mut hi) = (params.clone(), params.clone());
                lo[i] -= h;
                hi[i] += h;
                let fd = (loss(&hi) - loss(&lo)) / (2.0 * f64::from(h));
                // Central differences of an f32 loss: absolute noise of
                // about 1e-5 of the largest gradient.
                let scale = 1e-2 * f64::from(max_grad) + fd.abs();
                for (what, g) in [("engine", grads[i]), ("candle", cg[i])] {
                    let err = (fd - f64::from(g)).abs() / scale;
                    assert!(err < 3e-2, "{what} parameter {i}: {g} vs {fd}");
                    worst = worst.max(err);
                }
            }
            assert!(worst > 0.0);
            assert!(grads.iter().any(|&g| g != 0.0));
        }
    }

    /// The engine's gradients equal candle's autograd on the same masks.
    #[test]
    fn gradients_match_candle_autograd() {
        // One slice, and several (the convolutional model's are 32 rows).
        let cases = specs()
            .into_iter()
            .flat_map(|s| [5, 70].map(|rows| (s.clone(), rows)));
        for (spec, rows) in cases {
            let x = inputs(&spec, rows);
            let params = spec.init(6);
            let masks = spec.draw_masks(rows, &mut StdRng::seed_from_u64(7));
            let mut ours = vec![0.0; params.len()];
            let mut theirs = vec![0.0; params.len()];
            let a = loss_and_grads(
                &spec,
                &params,
                &x,
                rows,
                &masks,
                &mut TrainState::default(),
                &mut ours,
            )
            .unwrap();
            let b = crate::candle_backend::loss_and_grads(
                &spec,
                &params,
                &x,
                rows,
                &masks,
                &mut theirs,
            )
            .unwrap();
            assert!((a - b).abs() < 1e-4 * a.abs().max(1.0), "{a} vs {b}");
            for info in &spec.params {
                for (p, q) in ours[info.range()].iter().zip(&theirs[info.range()]) {
                    assert!(
                        (p - q).abs() < 1e-5 + 1e-4 * q.abs(),
                        "{} rows {rows}: {p} vs {q}",
                        info.name
                    );
                }
            }
        }
    }
}
