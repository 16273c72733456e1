//! Named parameters in a fixed order, and their seeded initialisation.

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{Device, Tensor, Var};
use rand::Rng;
use rand::rngs::StdRng;

use crate::error::Result;

/// One named parameter tensor.
#[derive(Debug)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) var: Var,
    /// Whether weight decay applies (weight matrices and embeddings; not biases).
    pub(crate) decay: bool,
}

/// A model's parameters, in the order the model created them.
///
/// The names are the keys of the safetensors file (see the crate
/// documentation for the layout). The order is fixed, so that reductions over
/// all parameters (the global gradient norm) are deterministic.
#[derive(Debug, Default)]
pub struct Parameters {
    pub(crate) entries: Vec<Param>,
    /// Counts the changes of the values (optimiser steps, restores, loads),
    /// so that copies of the weights kept for the dense engine know when
    /// they are stale.
    generation: AtomicU64,
}

impl Parameters {
    /// Registers a new parameter and returns the tensor that the model uses
    /// in its forward pass (it shares storage with the variable).
    pub(crate) fn add(
        &mut self,
        name: String,
        shape: &[usize],
        data: Vec<f32>,
        decay: bool,
    ) -> Result<Tensor> {
        let tensor = Tensor::from_vec(data, shape, &Device::Cpu)?;
        let var = Var::from_tensor(&tensor)?;
        let handle = var.as_tensor().clone();
        self.entries.push(Param { name, var, decay });
        Ok(handle)
    }

    /// The number of changes of the values so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records a change of the values; every write to a variable calls it.
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Number of parameter tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no parameter tensors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn count(&self) -> usize {
        self.entries.iter().map(|p| p.var.elem_count()).sum()
    }

    /// `(name, shape)` of every parameter tensor, in order.
    pub fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.entries
            .iter()
            .map(|p| (p.name.clone(), p.var.dims().to_vec()))
            .collect()
    }

    /// A copy of every parameter's values, in order.
    pub(crate) fn snapshot(&self) -> Result<Vec<Vec<f32>>> {
        self.entries
            .iter()
            .map(|p| Ok(p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .collect()
    }

    /// Writes values taken by [`Parameters::snapshot`] back.
    pub(crate) fn restore(&self, values: &[Vec<f32>]) -> Result<()> {
        for (p, v) in self.entries.iter().zip(values) {
            let t = Tensor::from_slice(v, p.var.shape(), &Device::Cpu)?;
            p.var.set(&t)?;
        }
        self.touch();
        Ok(())
    }
}

/// Values drawn uniformly from `[-bound, bound)`.
pub(crate) fn uniform(rng: &mut StdRng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// PyTorch's default initialisation for a layer with `fan_in` inputs:
/// weights and biases uniform in `+-1/sqrt(fan_in)`.
pub(crate) fn default_bound(fan_in: usize) -> f32 {
    1.0 / (fan_in.max(1) as f32).sqrt()
}
