//! The candle backend: builds the network of a [`Spec`] from plain
//! `candle-nn` layers (`Linear`, `Embedding`) and tensor operations, with
//! the weights taken from the model's flat parameter buffer at every call,
//! and trains through candle's autograd. It is the reference the `dense`
//! engine is tested against, and the route to candle's other devices.
//!
//! Activations between layers have the engine's row layout, `(rows,
//! width)` with sequences channels-last. A convolution is the `Linear`
//! layer of its `[out, in * k]` weight over the windows of the zero-padded
//! sequence (shifted views stacked tap by tap), not candle's `conv1d`:
//! candle 0.11's CPU `conv1d` computes wrong weight gradients, because its
//! backward pass convolves with a non-contiguous kernel
//! (huggingface/candle#3735), which the tests here caught.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Module;
use dense::Activation;

use crate::error::{AutoencoderError, Result};
use crate::spec::{Layer, Masks, Spec};

type CResult<T> = candle_core::Result<T>;

fn err(e: candle_core::Error) -> AutoencoderError {
    AutoencoderError::Candle(e.to_string())
}

/// Every parameter tensor, shaped, from the flat buffer.
fn tensors(spec: &Spec, params: &[f32]) -> CResult<Vec<Tensor>> {
    spec.params
        .iter()
        .map(|p| Tensor::from_slice(&params[p.range()], p.shape(), &Device::Cpu))
        .collect()
}

fn activate(h: Tensor, act: Activation) -> CResult<Tensor> {
    match act {
        Activation::Relu => h.relu(),
        Activation::Sigmoid => candle_nn::ops::sigmoid(&h),
        Activation::Tanh => h.tanh(),
        Activation::Linear => Ok(h),
    }
}

/// `x` without column `column`.
fn drop_column(x: &Tensor, column: usize) -> CResult<Tensor> {
    let width = x.dim(1)?;
    let right = width - column - 1;
    match (column, right) {
        (0, _) => x.narrow(1, 1, right),
        (_, 0) => x.narrow(1, 0, column),
        _ => Tensor::cat(
            &[x.narrow(1, 0, column)?, x.narrow(1, column + 1, right)?],
            1,
        ),
    }
}

/// A "same" convolution of `(rows, len * c_in)` channels-last sequences:
/// the windows `(rows * len, c_in * k)` (column `c * k + t` holds tap `t`
/// of channel `c`) through a `Linear` layer of the weight `[out, in, k]`
/// seen as `[out, in * k]`; returns `(rows, len * c_out)`.
fn conv1d(h: &Tensor, conv: dense::Conv1d, w: &Tensor, b: &Tensor) -> CResult<Tensor> {
    let rows = h.dim(0)?;
    let (len, c_in, k) = (conv.len, conv.c_in, conv.k);
    let half = k / 2;
    let padded = h
        .reshape((rows, len, c_in))?
        .pad_with_zeros(1, half, half)?;
    let taps = (0..k)
        .map(|t| padded.narrow(1, t, len))
        .collect::<CResult<Vec<_>>>()?;
    let windows = Tensor::stack(&taps, 3)?.reshape((rows * len, c_in * k))?;
    let linear = candle_nn::Linear::new(w.reshape((conv.c_out, c_in * k))?, Some(b.clone()));
    linear.forward(&windows)?.reshape((rows, len * conv.c_out))
}

/// `layers[range]` over `x`, with `masks` (noise and dropout, full width)
/// when training.
fn forward(
    spec: &Spec,
    p: &[Tensor],
    range: std::ops::Range<usize>,
    x: &Tensor,
    masks: Option<&[Option<Tensor>]>,
) -> CResult<Tensor> {
    let mut h = x.clone();
    for l in range {
        let mask = masks.and_then(|m| m[l].as_ref());
        h = match spec.layers[l] {
            Layer::Embedding {
                column, dim, table, ..
            } => {
                let ids = h.narrow(1, column, 1)?.squeeze(1)?.to_dtype(DType::U32)?;
                let emb = candle_nn::Embedding::new(p[table].clone(), dim).forward(&ids)?;
                Tensor::cat(&[drop_column(&h, column)?, emb], 1)?
            }
            Layer::Noise { .. } => match mask {
                Some(noise) => (h + noise)?,
                None => h,
            },
            Layer::Dropout { .. } => match mask {
                Some(mask) => (h * mask)?,
                None => h,
            },
            Layer::Resize { from, to } if to > from => h.pad_with_zeros(1, 0, to - from)?,
            Layer::Resize { to, .. } => h.narrow(1, 0, to)?,
            Layer::Dense {
                act, weight, bias, ..
            } => {
                let linear = candle_nn::Linear::new(p[weight].clone(), Some(p[bias].clone()));
                activate(linear.forward(&h)?, act)?
            }
            Layer::Conv1d {
                conv,
                act,
                weight,
                bias,
            } => activate(conv1d(&h, conv, &p[weight], &p[bias])?, act)?,
            Layer::MaxPool2 { len, ch } => {
                let rows = h.dim(0)?;
                h.reshape((rows, len / 2, 2, ch))?
                    .max(2)?
                    .reshape((rows, len / 2 * ch))?
            }
            Layer::Upsample2 { len, ch } => {
                let rows = h.dim(0)?;
                h.reshape((rows, len, 1, ch))?
                    .broadcast_as((rows, len, 2, ch))?
                    .contiguous()?
                    .reshape((rows, 2 * len * ch))?
            }
        };
    }
    Ok(h)
}

/// Evaluation-mode outputs of `layers[range]` over `rows` rows of `x`,
/// written into `out`.
pub(crate) fn eval(
    spec: &Spec,
    params: &[f32],
    range: std::ops::Range<usize>,
    x: &[f32],
    rows: usize,
    out: &mut [f32],
) -> Result<()> {
    let run = || -> CResult<Vec<f32>> {
        let width = spec.layers[range.start].in_width();
        let x = Tensor::from_slice(x, (rows, width), &Device::Cpu)?;
        forward(spec, &tensors(spec, params)?, range, &x, None)?
            .flatten_all()?
            .to_vec1::<f32>()
    };
    out.copy_from_slice(&run().map_err(err)?);
    Ok(())
}

/// The masks of a minibatch as full-width tensors: noise padded with zeros
/// beyond its columns.
fn mask_tensors(spec: &Spec, masks: &Masks, rows: usize) -> CResult<Vec<Option<Tensor>>> {
    spec.layers
        .iter()
        .zip(&masks.layers)
        .map(|(layer, m)| {
            let Some(m) = m else { return Ok(None) };
            let width = layer.out_width();
            let full = match *layer {
                Layer::Noise { width, cols, .. } if cols < width => {
                    let mut full = vec![0.0; rows * width];
                    dense::resize_rows(m, cols, width, &mut full);
                    full
                }
                _ => m.clone(),
            };
            Tensor::from_vec(full, (rows, width), &Device::Cpu).map(Some)
        })
        .collect()
}

/// As [`engine::loss_and_grads`](crate::engine::loss_and_grads), through
/// candle's autograd.
pub(crate) fn loss_and_grads(
    spec: &Spec,
    params: &[f32],
    x: &[f32],
    rows: usize,
    masks: &Masks,
    grads: &mut [f32],
) -> Result<f64> {
    let mut run = || -> CResult<f64> {
        let vars = spec
            .params
            .iter()
            .map(|p| Var::from_slice(&params[p.range()], p.shape(), &Device::Cpu))
            .collect::<CResult<Vec<Var>>>()?;
        let p: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let x = Tensor::from_slice(x, (rows, spec.n_features), &Device::Cpu)?;
        let masks = mask_tensors(spec, masks, rows)?;
        let y = forward(spec, &p, 0..spec.layers.len(), &x, Some(&masks))?;
        let target = match spec.categorical {
            Some((column, _)) => drop_column(&x, column)?,
            None => x,
        };
        let sum = (y - target)?.sqr()?.sum_all()?;
        let loss = (&sum / (rows * spec.output_dim()).max(1) as f64)?;
        let store = loss.backward()?;
        for (v, info) in vars.iter().zip(&spec.params) {
            let g = &mut grads[info.range()];
            match store.get(v.as_tensor()) {
                Some(t) => g.copy_from_slice(&t.flatten_all()?.to_vec1::<f32>()?),
                None => g.fill(0.0),
            }
        }
        Ok(f64::from(sum.to_scalar::<f32>()?))
    };
    run().map_err(err)
}
