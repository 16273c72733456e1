//! Adam and AdamW, updating candle variables in place in one fused pass per
//! parameter tensor, with optional global gradient-norm clipping.

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, Layout};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ops::with_f32;
use crate::params::Parameters;

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam; weight decay, if any, is added to the gradient (L2), as in
    /// PyTorch's `Adam(weight_decay=...)`.
    Adam,
    /// AdamW: weight decay is applied to the weights directly (decoupled).
    AdamW,
}

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamParams {
    pub(crate) kind: OptimizerKind,
    pub(crate) lr: f64,
    pub(crate) weight_decay: f64,
    pub(crate) beta1: f64,
    pub(crate) beta2: f64,
    pub(crate) eps: f64,
}

/// Runs a closure on one parameter's gradient: `visit(i, f)` calls `f` on
/// the gradient of parameter `i`, if it has one.
type GradVisitor<'a> = &'a dyn Fn(usize, &mut dyn FnMut(&[f32]) -> Result<()>) -> Result<()>;

/// Optimiser state: first and second moments per parameter tensor.
#[derive(Debug)]
pub(crate) struct Adam {
    pub(crate) params: AdamParams,
    t: i32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

/// The per-tensor update, run in place on the variable's storage.
struct Kernel<'a> {
    g: &'a [f32],
    state: RefCell<(&'a mut [f32], &'a mut [f32])>,
    /// Gradient scale from norm clipping.
    scale: f32,
    /// L2 coefficient added to the gradient (Adam with weight decay).
    l2: f32,
    /// Multiplier of the weights before the step (AdamW's decoupled decay).
    shrink: f32,
    beta1: f32,
    beta2: f32,
    /// `lr / (1 - beta1^t)`.
    step: f32,
    /// `1 / sqrt(1 - beta2^t)`.
    v_corr: f32,
    eps: f32,
}

impl InplaceOp1 for Kernel<'_> {
    fn name(&self) -> &'static str {
        "adam-step"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("adam-step: parameters must be f32")
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("adam-step: parameters must be contiguous")
        };
        let theta = &mut data[start..end];
        let mut state = self.state.borrow_mut();
        let (m, v) = &mut *state;
        if theta.len() != self.g.len() || m.len() != theta.len() {
            candle_core::bail!(
                "adam-step: {} parameters but {} gradients",
                theta.len(),
                self.g.len()
            );
        }
        for (((w, &g), m), v) in theta
            .iter_mut()
            .zip(self.g)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            let g = g * self.scale + self.l2 * *w;
            *m = self.beta1 * *m + (1.0 - self.beta1) * g;
            *v = self.beta2 * *v + (1.0 - self.beta2) * g * g;
            *w = *w * self.shrink - self.step * *m / (v.sqrt() * self.v_corr + self.eps);
        }
        Ok(())
    }
}

impl Adam {
    pub(crate) fn new(params: &Parameters, hyper: AdamParams) -> Self {
        let zeros = || -> Vec<Vec<f32>> {
            params
                .entries
                .iter()
                .map(|p| vec![0.0; p.var.elem_count()])
                .collect()
        };
        Self {
            params: hyper,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One optimisation step with the gradients of candle's autograd.
    /// Returns the global gradient norm before clipping (summed in
    /// parameter order).
    pub(crate) fn step(
        &mut self,
        params: &Parameters,
        grads: &GradStore,
        clip: Option<f64>,
    ) -> Result<f64> {
        self.step_with(
            params,
            clip,
            &|i, f| match grads.get(&params.entries[i].var) {
                Some(g) => with_f32(g, |s| f(s))?,
                None => Ok(()),
            },
        )
    }

    /// One optimisation step with one gradient buffer per parameter tensor
    /// (in order, row-major). Returns the global gradient norm before
    /// clipping.
    pub(crate) fn step_flat(
        &mut self,
        params: &Parameters,
        grads: &[Vec<f32>],
        clip: Option<f64>,
    ) -> Result<f64> {
        self.step_with(params, clip, &|i, f| match grads.get(i) {
            Some(g) => f(g),
            None => Ok(()),
        })
    }

    /// The step, given `with_grad(i, f)`, which runs `f` on parameter `i`'s
    /// gradient if it has one.
    fn step_with(
        &mut self,
        params: &Parameters,
        clip: Option<f64>,
        with_grad: GradVisitor<'_>,
    ) -> Result<f64> {
        let mut sum_sq = 0f64;
        for i in 0..params.entries.len() {
            with_grad(i, &mut |s| {
                sum_sq += s.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
                Ok(())
            })?;
        }
        let norm = sum_sq.sqrt();
        let scale = match clip {
            Some(max) if norm > max => (max / (norm + 1e-6)) as f32,
            _ => 1.0,
        };
        self.t = self.t.saturating_add(1);
        let h = self.params;
        let step = (h.lr / (1.0 - h.beta1.powi(self.t))) as f32;
        let v_corr = (1.0 / (1.0 - h.beta2.powi(self.t)).sqrt()) as f32;
        for (i, p) in params.entries.iter().enumerate() {
            let decay = if p.decay { h.weight_decay } else { 0.0 };
            let (l2, shrink) = match h.kind {
                OptimizerKind::Adam => (decay as f32, 1.0),
                OptimizerKind::AdamW => (0.0, (1.0 - h.lr * decay) as f32),
            };
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            with_grad(i, &mut |gs| {
                let kernel = Kernel {
                    g: gs,
                    state: RefCell::new((m.as_mut_slice(), v.as_mut_slice())),
                    scale,
                    l2,
                    shrink,
                    beta1: h.beta1 as f32,
                    beta2: h.beta2 as f32,
                    step,
                    v_corr,
                    eps: h.eps as f32,
                };
                Ok(p.var.as_tensor().inplace_op1(&kernel)?)
            })?;
        }
        params.touch();
        Ok(norm)
    }
}

#[cfg(test)]
mod tests {
    //! The fused step is checked against candle-nn's AdamW, and against the
    //! textbook Adam update written out by hand.
    use super::*;
    use candle_core::{Device, Tensor};
    use candle_nn::Optimizer;

    fn params_with(values: &[f32]) -> Parameters {
        let mut p = Parameters::default();
        p.add("w".into(), &[values.len()], values.to_vec(), true)
            .unwrap();
        p
    }

    fn loss(p: &Parameters) -> Tensor {
        let w = p.entries[0].var.as_tensor();
        let t = Tensor::new(&[0.5f32, -1.0, 2.0], &Device::Cpu).unwrap();
        (w - t).unwrap().sqr().unwrap().sum_all().unwrap()
    }

    #[test]
    fn adamw_matches_candle_nn() {
        let init = [1.0f32, 2.0, -3.0];
        let ours = params_with(&init);
        let theirs = params_with(&init);
        let hyper = AdamParams {
            kind: OptimizerKind::AdamW,
            lr: 0.05,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut adam = Adam::new(&ours, hyper);
        let mut reference = candle_nn::AdamW::new(
            vec![theirs.entries[0].var.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.05,
                weight_decay: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..20 {
            adam.step(&ours, &loss(&ours).backward().unwrap(), None)
                .unwrap();
            reference.backward_step(&loss(&theirs)).unwrap();
        }
        let a = ours.entries[0].var.as_tensor().to_vec1::<f32>().unwrap();
        let b = theirs.entries[0].var.as_tensor().to_vec1::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn adam_l2_and_clipping_follow_the_formula() {
        let ours = params_with(&[1.0, 2.0, -3.0]);
        let hyper = AdamParams {
            kind: OptimizerKind::Adam,
            lr: 0.1,
            weight_decay: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut adam = Adam::new(&ours, hyper);
        // gradient of sum (w - t)^2 is 2 (w - t) = [1, 6, -10]; norm sqrt(137)
        let norm = adam
            .step(&ours, &loss(&ours).backward().unwrap(), Some(1.0))
            .unwrap();
        assert!((norm - 137f64.sqrt()).abs() < 1e-5);
        let w = ours.entries[0].var.as_tensor().to_vec1::<f32>().unwrap();
        // first step: m_hat = g', v_hat = g'^2, so w -= lr * sign(g') (up to eps)
        let scale = 1.0 / (137f32.sqrt() + 1e-6);
        for (i, (&w0, &g)) in [1.0f32, 2.0, -3.0]
            .iter()
            .zip(&[1.0f32, 6.0, -10.0])
            .enumerate()
        {
            let gp = g * scale + 0.5 * w0;
            let expected = w0 - 0.1 * gp.signum();
            assert!(
                (w[i] - expected).abs() < 1e-5,
                "{i}: {} vs {expected}",
                w[i]
            );
        }
    }
}
