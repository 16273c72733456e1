//! Dense and convolution layers over candle tensors, with our own seeded
//! initialisation and weights stored as `[in, out]` so that the forward
//! product `x . W` needs no transpose.

use candle_core::{Device, Tensor};
use rand::Rng;
use rand::rngs::StdRng;

use crate::config::Activation;
use crate::error::Result;
use crate::ops;
use crate::params::{Parameters, default_bound, uniform};

type CResult<T> = candle_core::Result<T>;

/// A fully connected layer `act(x . W + b)` with `W` of shape `[in, out]`.
#[derive(Debug)]
pub(crate) struct Dense {
    w: Tensor,
    b: Tensor,
    act: Activation,
    fan_out: usize,
}

impl Dense {
    /// Registers `{prefix}.weight` (`[fan_in, fan_out]`) and `{prefix}.bias`
    /// (`[fan_out]`), both uniform in `+-1/sqrt(fan_in)` as PyTorch does.
    pub(crate) fn new(
        params: &mut Parameters,
        prefix: &str,
        fan_in: usize,
        fan_out: usize,
        act: Activation,
        rng: &mut StdRng,
    ) -> Result<Self> {
        let bound = default_bound(fan_in);
        let w = params.add(
            format!("{prefix}.weight"),
            &[fan_in, fan_out],
            uniform(rng, fan_in * fan_out, bound),
            true,
        )?;
        let b = params.add(
            format!("{prefix}.bias"),
            &[fan_out],
            uniform(rng, fan_out, bound),
            false,
        )?;
        Ok(Self { w, b, act, fan_out })
    }

    /// Output width.
    pub(crate) fn fan_out(&self) -> usize {
        self.fan_out
    }

    /// Forward pass recorded for backpropagation, with an optional dropout
    /// mask (0 or `1/(1-p)` per element) applied after the activation.
    pub(crate) fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> CResult<Tensor> {
        let z = x.matmul(&self.w)?;
        match mask {
            Some(m) => ops::bias_act_mask(&z, &self.b, m, self.act),
            None => ops::bias_act(&z, &self.b, self.act),
        }
    }

    /// Appends the weight transposed to `[fan_out, fan_in]` (the engine's
    /// layout) and then the bias to `out`; returns `fan_in`.
    fn append_engine_params(&self, out: &mut Vec<f32>) -> Result<usize> {
        let w = self.w.flatten_all()?.to_vec1::<f32>()?;
        let fan_in = w.len() / self.fan_out.max(1);
        out.reserve(w.len() + self.fan_out);
        for j in 0..self.fan_out {
            out.extend(w.iter().skip(j).step_by(self.fan_out));
        }
        out.extend(self.b.to_vec1::<f32>()?);
        Ok(fan_in)
    }

    /// Inference: no graph is recorded and the activation runs in place.
    pub(crate) fn infer(&self, x: &Tensor) -> CResult<Tensor> {
        let z = x.detach().matmul(&self.w.detach())?;
        ops::bias_act_inplace(z, &self.b.detach(), self.act)
    }
}

/// A dropout mask of `rows x cols`: each element is 0 with probability `p`
/// and `1/(1-p)` otherwise, drawn from our seeded generator.
pub(crate) fn dropout_mask(rng: &mut StdRng, rows: usize, cols: usize, p: f32) -> CResult<Tensor> {
    let keep = 1.0 / (1.0 - p);
    // Compare 24-bit uniforms with the threshold: one u32 per element.
    let threshold = (f64::from(p) * f64::from(1u32 << 24)) as u32;
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| {
            if (rng.random::<u32>() >> 8) < threshold {
                0.0
            } else {
                keep
            }
        })
        .collect();
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

/// A stack of dense layers; dropout (when training) follows every layer
/// marked as hidden.
#[derive(Debug)]
pub(crate) struct DenseStack {
    layers: Vec<(Dense, bool)>,
}

impl DenseStack {
    /// Builds `dims[0] -> dims[1] -> ... -> dims[n]` named `{prefix}.{i}`.
    /// Every layer uses `hidden_act` except the last, which uses `last_act`.
    pub(crate) fn new(
        params: &mut Parameters,
        prefix: &str,
        dims: &[usize],
        hidden_act: Activation,
        last_act: Activation,
        rng: &mut StdRng,
    ) -> Result<Self> {
        let n = dims.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let last = i + 1 == n;
                let act = if last { last_act } else { hidden_act };
                let layer = Dense::new(
                    params,
                    &format!("{prefix}.{i}"),
                    dims[i],
                    dims[i + 1],
                    act,
                    rng,
                )?;
                Ok((layer, !last))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// Training forward pass with dropout probability `p` after every hidden
    /// layer (no masks are drawn when `p` is 0).
    pub(crate) fn forward(&self, x: &Tensor, p: f32, rng: &mut StdRng) -> CResult<Tensor> {
        let mut h = x.clone();
        for (layer, hidden) in &self.layers {
            h = if *hidden && p > 0.0 {
                let mask = dropout_mask(rng, h.dim(0)?, layer.fan_out(), p)?;
                layer.forward(&h, Some(&mask))?
            } else {
                layer.forward(&h, None)?
            };
        }
        Ok(h)
    }

    /// The stack as the `dense` engine describes a network: layer sizes
    /// (input first), one activation per layer, and the flat parameters
    /// (per layer the weight `[out, in]`, then the bias).
    pub(crate) fn engine_layout(&self) -> Result<(Vec<usize>, Vec<Activation>, Vec<f32>)> {
        let mut sizes = Vec::with_capacity(self.layers.len() + 1);
        let mut params = Vec::new();
        for (layer, _) in &self.layers {
            let fan_in = layer.append_engine_params(&mut params)?;
            if sizes.is_empty() {
                sizes.push(fan_in);
            }
            sizes.push(layer.fan_out);
        }
        let acts = self.layers.iter().map(|(l, _)| l.act).collect();
        Ok((sizes, acts, params))
    }

    /// Inference pass.
    pub(crate) fn infer(&self, x: &Tensor) -> CResult<Tensor> {
        let mut h = x.clone();
        for (layer, _) in &self.layers {
            h = layer.infer(&h)?;
        }
        Ok(h)
    }
}

/// A "same" convolution over channels-last sequences, run as im2col and
/// one matrix product; the caller applies bias and activation with the
/// fused op that suits the layer (with pooling, plain, or with the crop).
/// The weight is `[k * in, out]`: row `t * in + c` holds tap `t` of input
/// channel `c`.
#[derive(Debug)]
pub(crate) struct ConvLayer {
    dense: Dense,
    k: usize,
    c_in: usize,
}

impl ConvLayer {
    /// Registers `{prefix}.weight` (`[k * in, out]`) and `{prefix}.bias`.
    pub(crate) fn new(
        params: &mut Parameters,
        prefix: &str,
        k: usize,
        c_in: usize,
        c_out: usize,
        act: Activation,
        rng: &mut StdRng,
    ) -> Result<Self> {
        Ok(Self {
            dense: Dense::new(params, prefix, k * c_in, c_out, act, rng)?,
            k,
            c_in,
        })
    }

    /// The pre-activation `(batch * len_out, out)` for `batch` sequences of
    /// `len_in x in` values held in `x` (any shape), upsampled by 2 first
    /// when `upsample` is set. Recorded for backpropagation when `train`.
    pub(crate) fn product(
        &self,
        x: &Tensor,
        len_in: usize,
        upsample: bool,
        train: bool,
    ) -> CResult<Tensor> {
        if train {
            ops::im2col(x, len_in, self.c_in, self.k, upsample)?.matmul(&self.dense.w)
        } else {
            ops::im2col(&x.detach(), len_in, self.c_in, self.k, upsample)?
                .matmul(&self.dense.w.detach())
        }
    }

    /// The bias, detached from the graph unless `train`.
    pub(crate) fn bias(&self, train: bool) -> Tensor {
        if train {
            self.dense.b.clone()
        } else {
            self.dense.b.detach()
        }
    }

    /// The activation.
    pub(crate) fn act(&self) -> Activation {
        self.dense.act
    }
}
