//! Fused CPU kernels registered as candle custom ops, each with its own
//! backward pass.
//!
//! Candle runs every elementary op as a separate pass with its own
//! allocation, and its autograd adds a zero-fill and an addition per
//! gradient. At autoencoder sizes that overhead is larger than the
//! arithmetic, so the elementwise parts of a layer run as one op each:
//! bias + activation (plain, with a dropout mask, with max-pool 2, or with
//! the crop of the convolutional model's output), the mean squared error,
//! and im2col (with an optional upsampling by 2). Matrix products stay with
//! candle's `matmul`.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Device, InplaceOp2, Layout, Shape, Storage, Tensor,
};

use crate::config::Activation;
use crate::conv_train::Windows;

type CResult<T> = candle_core::Result<T>;

fn cpu_f32<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> CResult<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Runs `f` on the contiguous f32 data of a CPU tensor.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> CResult<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => Ok(f(cpu_f32(s, layout, "read")?)),
        _ => candle_core::bail!("only CPU tensors are supported"),
    }
}

fn out(data: Vec<f32>, shape: impl Into<Shape>) -> CResult<(CpuStorage, Shape)> {
    Ok((CpuStorage::F32(data), shape.into()))
}

fn new_tensor(data: Vec<f32>, shape: impl Into<Shape>) -> CResult<Tensor> {
    Tensor::from_vec(data, shape, &Device::Cpu)
}

/// Calls `$body` with `$f` bound to the activation as a closure, matched
/// once outside the loops so that they vectorise.
macro_rules! with_act {
    ($act:expr, |$f:ident| $body:expr) => {
        match $act {
            Activation::Relu => {
                let $f = |x: f32| x.max(0.0);
                $body
            }
            Activation::Linear => {
                let $f = |x: f32| x;
                $body
            }
            Activation::Sigmoid => {
                let $f = |x: f32| Activation::Sigmoid.apply(x);
                $body
            }
            Activation::Tanh => {
                let $f = f32::tanh;
                $body
            }
        }
    };
}

/// Same for the derivative written in terms of the activation's output.
macro_rules! with_deriv {
    ($act:expr, |$d:ident| $body:expr) => {
        match $act {
            Activation::Relu => {
                let $d = |y: f32| Activation::Relu.derivative_from_output(y);
                $body
            }
            Activation::Linear => {
                let $d = |_: f32| 1.0f32;
                $body
            }
            Activation::Sigmoid => {
                let $d = |y: f32| Activation::Sigmoid.derivative_from_output(y);
                $body
            }
            Activation::Tanh => {
                let $d = |y: f32| Activation::Tanh.derivative_from_output(y);
                $body
            }
        }
    };
}

/// `y[r, j] = f(z[r, j] + b[j])`.
fn bias_act_rows(z: &[f32], b: &[f32], act: Activation) -> Vec<f32> {
    let n = b.len();
    let mut y = Vec::with_capacity(z.len());
    with_act!(act, |f| {
        for zr in z.chunks_exact(n) {
            y.extend(zr.iter().zip(b).map(|(&zv, &bv)| f(zv + bv)));
        }
    });
    y
}

/// Column sums of a row-major `(rows, n)` matrix.
fn col_sums(x: &[f32], n: usize) -> Vec<f32> {
    let mut s = vec![0f32; n];
    for row in x.chunks_exact(n) {
        for (a, &v) in s.iter_mut().zip(row) {
            *a += v;
        }
    }
    s
}

/// Gradient of the pre-activation from the activation's output:
/// `gz = g * f'(y) (* mask)`, and the bias gradient, the column sums of `gz`.
fn act_backward(
    y: &[f32],
    g: &[f32],
    mask: Option<&[f32]>,
    act: Activation,
    n: usize,
) -> (Vec<f32>, Vec<f32>) {
    let gz: Vec<f32> = with_deriv!(act, |d| match mask {
        Some(m) => g
            .iter()
            .zip(y)
            .zip(m)
            .map(|((&gv, &yv), &mv)| gv * d(yv) * mv)
            .collect(),
        None => g.iter().zip(y).map(|(&gv, &yv)| gv * d(yv)).collect(),
    });
    let gb = col_sums(&gz, n);
    (gz, gb)
}

/// `act(z + b)` for `z` of shape `(rows, n)` and `b` of shape `(n)`.
struct BiasAct(Activation);

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let z = cpu_f32(s1, l1, "bias-act")?;
        let b = cpu_f32(s2, l2, "bias-act")?;
        out(bias_act_rows(z, b, self.0), l1.shape().clone())
    }

    fn bwd(
        &self,
        _z: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let n = b.elem_count();
        let (gz, gb) = with_f32(res, |y| {
            with_f32(grad, |g| act_backward(y, g, None, self.0, n))
        })??;
        Ok((Some(new_tensor(gz, res.shape())?), Some(new_tensor(gb, n)?)))
    }
}

/// `act(z + b) * mask` (inverted dropout: the mask holds 0 or `1/(1-p)`).
struct BiasActMask(Activation);

impl CustomOp3 for BiasActMask {
    fn name(&self) -> &'static str {
        "bias-act-dropout"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let z = cpu_f32(s1, l1, "bias-act-dropout")?;
        let b = cpu_f32(s2, l2, "bias-act-dropout")?;
        let mask = cpu_f32(s3, l3, "bias-act-dropout")?;
        let mut y = bias_act_rows(z, b, self.0);
        for (v, &m) in y.iter_mut().zip(mask) {
            *v *= m;
        }
        out(y, l1.shape().clone())
    }

    fn bwd(
        &self,
        z: &Tensor,
        b: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = b.elem_count();
        // The output is masked, so the activation is recomputed from z + b.
        let act = with_f32(z, |zs| with_f32(b, |bs| bias_act_rows(zs, bs, self.0)))??;
        let (gz, gb) = with_f32(grad, |g| {
            with_f32(mask, |m| act_backward(&act, g, Some(m), self.0, n))
        })??;
        Ok((
            Some(new_tensor(gz, z.shape())?),
            Some(new_tensor(gb, n)?),
            None,
        ))
    }
}

/// In-place `z <- act(z + b)` for inference, reusing the matmul's output.
struct BiasActInPlace(Activation);

impl InplaceOp2 for BiasActInPlace {
    fn name(&self) -> &'static str {
        "bias-act-inplace"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<()> {
        let b = cpu_f32(s2, l2, "bias-act-inplace")?;
        let (start, end) = match l1.contiguous_offsets() {
            Some(o) => o,
            None => candle_core::bail!("bias-act-inplace: input must be contiguous"),
        };
        let CpuStorage::F32(data) = s1 else {
            candle_core::bail!("bias-act-inplace: expected f32 data")
        };
        let z = &mut data[start..end];
        let n = b.len();
        with_act!(self.0, |f| {
            for row in z.chunks_exact_mut(n) {
                for (v, &bv) in row.iter_mut().zip(b) {
                    *v = f(*v + bv);
                }
            }
        });
        Ok(())
    }
}

/// `act(z + b)` with gradients for `z` and `b`.
pub(crate) fn bias_act(z: &Tensor, b: &Tensor, act: Activation) -> CResult<Tensor> {
    z.contiguous()?.apply_op2(b, BiasAct(act))
}

/// `act(z + b) * mask` with gradients for `z` and `b`.
pub(crate) fn bias_act_mask(
    z: &Tensor,
    b: &Tensor,
    mask: &Tensor,
    act: Activation,
) -> CResult<Tensor> {
    z.contiguous()?.apply_op3(b, mask, BiasActMask(act))
}

/// `act(z + b)` without gradients, overwriting `z` (which must be a fresh
/// tensor that nothing else shares).
pub(crate) fn bias_act_inplace(z: Tensor, b: &Tensor, act: Activation) -> CResult<Tensor> {
    let z = z.contiguous()?;
    z.inplace_op2(b, &BiasActInPlace(act))?;
    Ok(z)
}

/// Mean squared error over all elements, as a scalar.
struct Mse;

impl CustomOp2 for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let p = cpu_f32(s1, l1, "mse")?;
        let t = cpu_f32(s2, l2, "mse")?;
        if p.len() != t.len() {
            candle_core::bail!("mse: {} predictions for {} targets", p.len(), t.len());
        }
        let mut sum = 0f64;
        for (pr, tr) in p.chunks(1024).zip(t.chunks(1024)) {
            let mut s = 0f32;
            for (&a, &b) in pr.iter().zip(tr) {
                s += (a - b) * (a - b);
            }
            sum += f64::from(s);
        }
        out(vec![(sum / p.len().max(1) as f64) as f32], ())
    }

    fn bwd(
        &self,
        pred: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let g0 = grad.to_scalar::<f32>()?;
        let scale = 2.0 * g0 / pred.elem_count().max(1) as f32;
        let gp = with_f32(pred, |p| {
            with_f32(target, |t| {
                p.iter()
                    .zip(t)
                    .map(|(&a, &b)| scale * (a - b))
                    .collect::<Vec<_>>()
            })
        })??;
        Ok((Some(new_tensor(gp, pred.shape())?), None))
    }
}

/// Mean squared error between `pred` and `target` (no gradient for the target).
pub(crate) fn mse(pred: &Tensor, target: &Tensor) -> CResult<Tensor> {
    pred.contiguous()?.apply_op2(&target.contiguous()?, Mse)
}

/// Number of whole sequences of `len x ch` values in `n` values.
fn batch_of(n: usize, len: usize, ch: usize, op: &str) -> CResult<usize> {
    let per = len * ch;
    if per == 0 || !n.is_multiple_of(per) {
        candle_core::bail!("{op}: {n} values are not whole sequences of {len} x {ch}");
    }
    Ok(n / per)
}

/// im2col as a custom op, with its adjoint as the backward pass (see
/// [`Windows`]).
struct Im2Col(Windows);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = cpu_f32(s, l, "im2col")?;
        let w = &self.0;
        let batch = batch_of(x.len(), w.len_in, w.ch, "im2col")?;
        let mut y = Vec::with_capacity(batch * w.len_out() * w.k * w.ch);
        w.gather(x, &mut y);
        out(y, (batch * w.len_out(), w.k * w.ch))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        let gx = with_f32(grad, |g| {
            let mut gx = vec![0f32; arg.elem_count()];
            self.0.scatter(g, &mut gx);
            gx
        })?;
        Ok(Some(new_tensor(gx, arg.shape())?))
    }
}

/// Convolution windows over `batch` sequences of `len_in x ch` held in `x`
/// (any shape), upsampled by 2 first when `upsample` is set.
pub(crate) fn im2col(
    x: &Tensor,
    len_in: usize,
    ch: usize,
    k: usize,
    upsample: bool,
) -> CResult<Tensor> {
    x.contiguous()?.apply_op1(Im2Col(Windows {
        len_in,
        ch,
        k,
        upsample,
    }))
}

/// `maxpool2(act(z + b))` along the positions: `z` is `(batch * len, ch)`,
/// the output `(batch * len / 2, ch)`, or `(batch, len / 2 * ch)` when
/// `flatten` is set.
struct BiasActPool {
    len: usize,
    act: Activation,
    flatten: bool,
}

impl CustomOp2 for BiasActPool {
    fn name(&self) -> &'static str {
        "bias-act-pool"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let z = cpu_f32(s1, l1, "bias-act-pool")?;
        let b = cpu_f32(s2, l2, "bias-act-pool")?;
        let ch = b.len();
        if !self.len.is_multiple_of(2) {
            candle_core::bail!("bias-act-pool: odd length {}", self.len);
        }
        let batch = batch_of(z.len(), self.len, ch, "bias-act-pool")?;
        let mut y = Vec::with_capacity(z.len() / 2);
        with_act!(self.act, |f| {
            for pair in z.chunks_exact(2 * ch) {
                let (u, v) = pair.split_at(ch);
                y.extend(
                    u.iter()
                        .zip(v)
                        .zip(b)
                        .map(|((&u, &v), &bv)| f(u + bv).max(f(v + bv))),
                );
            }
        });
        let half = self.len / 2;
        if self.flatten {
            out(y, (batch, half * ch))
        } else {
            out(y, (batch * half, ch))
        }
    }

    fn bwd(
        &self,
        z: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let ch = b.elem_count();
        let gz = with_f32(z, |zs| {
            with_f32(b, |bs| {
                with_f32(grad, |g| {
                    let mut gz = vec![0f32; zs.len()];
                    with_act!(self.act, |f| with_deriv!(self.act, |d| {
                        for ((pair, gr), out) in zs
                            .chunks_exact(2 * ch)
                            .zip(g.chunks_exact(ch))
                            .zip(gz.chunks_exact_mut(2 * ch))
                        {
                            let (u, v) = pair.split_at(ch);
                            let (gu, gv) = out.split_at_mut(ch);
                            for c in 0..ch {
                                let (a, a2) = (f(u[c] + bs[c]), f(v[c] + bs[c]));
                                // The gradient goes to the larger (the first on ties).
                                if a >= a2 {
                                    gu[c] = gr[c] * d(a);
                                } else {
                                    gv[c] = gr[c] * d(a2);
                                }
                            }
                        }
                    }));
                    gz
                })
            })
        })???;
        let gb = col_sums(&gz, ch);
        Ok((Some(new_tensor(gz, z.shape())?), Some(new_tensor(gb, ch)?)))
    }
}

/// Bias, activation and max-pool 2 of a convolution's `(batch * len, ch)`
/// output.
pub(crate) fn bias_act_pool(
    z: &Tensor,
    b: &Tensor,
    len: usize,
    act: Activation,
    flatten: bool,
) -> CResult<Tensor> {
    z.contiguous()?
        .apply_op2(b, BiasActPool { len, act, flatten })
}

/// The last convolution's bias and activation, with the crop back to the
/// real features: `z` is `(batch * period, 1)`, the output `(batch, keep)`
/// with `out[b, j] = act(z[b * period + j] + bias)`.
struct BiasActCrop {
    period: usize,
    keep: usize,
    act: Activation,
}

impl CustomOp2 for BiasActCrop {
    fn name(&self) -> &'static str {
        "bias-act-crop"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let z = cpu_f32(s1, l1, "bias-act-crop")?;
        let b = cpu_f32(s2, l2, "bias-act-crop")?;
        if b.len() != 1 || self.keep > self.period {
            candle_core::bail!("bias-act-crop: needs one channel and keep <= period");
        }
        let batch = batch_of(z.len(), self.period, 1, "bias-act-crop")?;
        let mut y = Vec::with_capacity(batch * self.keep);
        with_act!(self.act, |f| {
            for zr in z.chunks_exact(self.period) {
                y.extend(zr[..self.keep].iter().map(|&v| f(v + b[0])));
            }
        });
        out(y, (batch, self.keep))
    }

    fn bwd(
        &self,
        z: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let gz = with_f32(res, |y| {
            with_f32(grad, |g| {
                let mut gz = Vec::with_capacity(z.elem_count());
                with_deriv!(self.act, |d| {
                    for (yr, gr) in y.chunks_exact(self.keep).zip(g.chunks_exact(self.keep)) {
                        gz.extend(yr.iter().zip(gr).map(|(&yv, &gv)| gv * d(yv)));
                        gz.extend(std::iter::repeat_n(0.0, self.period - self.keep));
                    }
                });
                gz
            })
        })??;
        let gb = vec![gz.iter().sum::<f32>()];
        Ok((Some(new_tensor(gz, z.shape())?), Some(new_tensor(gb, 1)?)))
    }
}

/// Bias and activation of a one-channel `(batch * period, 1)` convolution
/// output, cropped to the first `keep` positions: `(batch, keep)`.
pub(crate) fn bias_act_crop(
    z: &Tensor,
    b: &Tensor,
    period: usize,
    keep: usize,
    act: Activation,
) -> CResult<Tensor> {
    z.contiguous()?
        .apply_op2(b, BiasActCrop { period, keep, act })
}

#[cfg(test)]
mod tests {
    //! Each fused op is checked against the same computation written with
    //! candle's elementary ops, forward and backward.
    use super::*;
    use candle_core::Var;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn rand_var(shape: &[usize], seed: u64) -> Var {
        let mut rng = StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor) {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    fn reference_act(x: &Tensor, act: Activation) -> Tensor {
        match act {
            Activation::Relu => x.relu().unwrap(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(x).unwrap(),
            Activation::Tanh => x.tanh().unwrap(),
            Activation::Linear => x.clone(),
        }
    }

    #[test]
    fn bias_act_matches_elementary_ops() {
        for act in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Linear,
        ] {
            let z = rand_var(&[5, 7], 1);
            let b = rand_var(&[7], 2);
            let w = rand_var(&[5, 7], 3).as_tensor().detach();
            let fused = bias_act(z.as_tensor(), b.as_tensor(), act).unwrap();
            let plain = reference_act(&z.broadcast_add(b.as_tensor()).unwrap(), act);
            close(&fused, &plain);
            let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(gf.get(&z).unwrap(), gp.get(&z).unwrap());
            close(gf.get(&b).unwrap(), gp.get(&b).unwrap());

            let inplace =
                bias_act_inplace(z.as_tensor().detach().copy().unwrap(), b.as_tensor(), act)
                    .unwrap();
            close(
                &inplace,
                &reference_act(&z.broadcast_add(b.as_tensor()).unwrap(), act),
            );
        }
    }

    #[test]
    fn masked_bias_act_matches_elementary_ops() {
        for act in [Activation::Relu, Activation::Sigmoid] {
            let z = rand_var(&[4, 6], 4);
            let b = rand_var(&[6], 5);
            let mask: Vec<f32> = (0..24)
                .map(|i| if i % 3 == 0 { 0.0 } else { 1.5 })
                .collect();
            let mask = Tensor::from_vec(mask, (4, 6), &Device::Cpu).unwrap();
            let w = rand_var(&[4, 6], 6).as_tensor().detach();
            let fused = bias_act_mask(z.as_tensor(), b.as_tensor(), &mask, act).unwrap();
            let plain =
                (reference_act(&z.broadcast_add(b.as_tensor()).unwrap(), act) * &mask).unwrap();
            close(&fused, &plain);
            let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(gf.get(&z).unwrap(), gp.get(&z).unwrap());
            close(gf.get(&b).unwrap(), gp.get(&b).unwrap());
        }
    }

    #[test]
    fn mse_matches_elementary_ops() {
        let p = rand_var(&[3, 9], 7);
        let t = rand_var(&[3, 9], 8).as_tensor().detach();
        let fused = mse(p.as_tensor(), &t).unwrap();
        let plain = (p.as_tensor() - &t)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        close(&fused, &plain);
        let gf = (fused * 3.0).unwrap().backward().unwrap();
        let gp = (plain * 3.0).unwrap().backward().unwrap();
        close(gf.get(&p).unwrap(), gp.get(&p).unwrap());
    }

    /// Reference windows from elementary ops: upsample by broadcasting,
    /// pad, shifted narrows, concatenation.
    fn reference_windows(
        x: &Tensor,
        b: usize,
        len: usize,
        ch: usize,
        k: usize,
        upsample: bool,
    ) -> Tensor {
        let mut x = x.reshape((b, len, ch)).unwrap();
        let mut len = len;
        if upsample {
            x = x
                .unsqueeze(2)
                .unwrap()
                .broadcast_as((b, len, 2, ch))
                .unwrap()
                .reshape((b, 2 * len, ch))
                .unwrap();
            len *= 2;
        }
        let padded = x.pad_with_zeros(1, k / 2, k / 2).unwrap();
        let windows: Vec<Tensor> = (0..k).map(|t| padded.narrow(1, t, len).unwrap()).collect();
        Tensor::cat(&windows, 2)
            .unwrap()
            .reshape((b * len, k * ch))
            .unwrap()
    }

    #[test]
    fn im2col_matches_padded_windows() {
        for (k, upsample) in [(3, false), (5, false), (3, true), (1, true)] {
            let (b, len, ch) = (2, 6, 3);
            let x = rand_var(&[b * len, ch], 9);
            let fused = im2col(x.as_tensor(), len, ch, k, upsample).unwrap();
            let plain = reference_windows(x.as_tensor(), b, len, ch, k, upsample);
            close(&fused, &plain);
            let w = rand_var(plain.dims(), 10).as_tensor().detach();
            let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(gf.get(&x).unwrap(), gp.get(&x).unwrap());
        }
        let x = Tensor::zeros((7, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(im2col(&x, 3, 2, 3, false).is_err());
    }

    #[test]
    fn bias_act_pool_matches_elementary_ops() {
        let (b, len, ch) = (2, 6, 4);
        for (act, flatten) in [(Activation::Relu, false), (Activation::Tanh, true)] {
            let z = rand_var(&[b * len, ch], 11);
            let bias = rand_var(&[ch], 12);
            let fused = bias_act_pool(z.as_tensor(), bias.as_tensor(), len, act, flatten).unwrap();
            let a = reference_act(&z.broadcast_add(bias.as_tensor()).unwrap(), act);
            let pooled = a.reshape((b, len / 2, 2, ch)).unwrap().max(2).unwrap();
            let plain = if flatten {
                pooled.reshape((b, len / 2 * ch)).unwrap()
            } else {
                pooled.reshape((b * len / 2, ch)).unwrap()
            };
            assert_eq!(fused.dims(), plain.dims());
            close(&fused, &plain);
            let w = rand_var(plain.dims(), 13).as_tensor().detach();
            let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(gf.get(&z).unwrap(), gp.get(&z).unwrap());
            close(gf.get(&bias).unwrap(), gp.get(&bias).unwrap());
        }
        let z = Tensor::zeros((6, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b1 = Tensor::zeros(1, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(bias_act_pool(&z, &b1, 3, Activation::Relu, false).is_err());
    }

    #[test]
    fn bias_act_crop_matches_elementary_ops() {
        let (b, period, keep) = (3, 8, 5);
        for act in [Activation::Linear, Activation::Sigmoid] {
            let z = rand_var(&[b * period, 1], 14);
            let bias = rand_var(&[1], 15);
            let fused = bias_act_crop(z.as_tensor(), bias.as_tensor(), period, keep, act).unwrap();
            let a = reference_act(&z.broadcast_add(bias.as_tensor()).unwrap(), act);
            let plain = a.reshape((b, period)).unwrap().narrow(1, 0, keep).unwrap();
            close(&fused, &plain);
            let w = rand_var(&[b, keep], 16).as_tensor().detach();
            let gf = (fused * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gp = (plain * &w).unwrap().sum_all().unwrap().backward().unwrap();
            close(gf.get(&z).unwrap(), gp.get(&z).unwrap());
            close(gf.get(&bias).unwrap(), gp.get(&bias).unwrap());
        }
    }
}
