//! A multilayer perceptron over one flat parameter buffer.

use rand::Rng;

use crate::activation::Activation;
use crate::error::{DenseError, Result};
use crate::gemm::{MatRef, gemm};
use crate::init::orthogonal;
use crate::kernels;

/// Up to this many rows, forward passes use row kernels instead of a packed
/// GEMM (packing the weights costs more than the product itself).
const SMALL_BATCH: usize = 8;
/// Layers with at most this many outputs use row kernels at every batch size
/// (a packed GEMM pads the narrow side to its kernel width).
const NARROW: usize = 4;

/// Where one layer's parameters live in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LayerSpan {
    n_in: usize,
    n_out: usize,
    weight: usize,
    bias: usize,
    /// Offset of the transposed weights in `Mlp::transposed`.
    transposed: usize,
}

/// A fully connected network `sizes[0] -> sizes[1] -> ... -> sizes[L]` with
/// an [`Activation`] after every layer: by default tanh after every layer
/// but the last, which is linear (see [`Mlp::with_activations`]).
///
/// All parameters live in one flat buffer, layer after layer, each layer as
/// its weight matrix (`n_out x n_in`, row-major: PyTorch's `nn.Linear`
/// layout) followed by its bias (`n_out`). Gradients use the same layout, so
/// optimisers and gradient clipping work on plain slices.
///
/// ```
/// use dense::{Mlp, MlpWorkspace};
/// use rand::{SeedableRng, rngs::StdRng};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let net = Mlp::orthogonal(&[4, 16, 16, 2], 2f32.sqrt(), 0.01, &mut rng)?;
/// let mut ws = MlpWorkspace::default();
/// let x = [0.1f32, -0.2, 0.3, 0.0, 1.0, 0.5, -0.5, 0.2]; // two rows
/// let y = net.forward(&x, 2, &mut ws)?;
/// assert_eq!(y.len(), 4);
///
/// // Backward: d(sum of outputs)/d(parameters).
/// let d_out = vec![1.0f32; 4];
/// let mut grad = vec![0.0f32; net.n_params()];
/// net.backward(&x, 2, &mut ws, &d_out, &mut grad)?;
/// assert!(grad.iter().any(|&g| g != 0.0));
/// # Ok::<(), dense::DenseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mlp {
    sizes: Vec<usize>,
    layers: Vec<LayerSpan>,
    /// The activation after each layer.
    activations: Vec<Activation>,
    params: Vec<f32>,
    /// Transposed weights of every layer (`n_in x n_out`, layer after layer),
    /// valid only while `transposed_fresh`.
    transposed: Vec<f32>,
    transposed_fresh: bool,
}

impl PartialEq for Mlp {
    fn eq(&self, other: &Self) -> bool {
        self.sizes == other.sizes
            && self.activations == other.activations
            && self.params == other.params
    }
}

/// Scratch memory for [`Mlp::forward`] and [`Mlp::backward`]: activations
/// and back-propagated errors. It grows to the largest batch seen and is then
/// reused, so steady-state passes do not allocate.
#[derive(Clone, Debug, Default)]
pub struct MlpWorkspace {
    /// Output of each layer for the last forward pass (after its
    /// activation).
    acts: Vec<Vec<f32>>,
    delta: Vec<f32>,
    delta_prev: Vec<f32>,
    /// Batch size and network shape of the last forward pass.
    last: Option<(usize, Vec<usize>)>,
}

fn grow(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
}

impl Mlp {
    /// A network with all parameters zero, tanh after every layer but the
    /// last, which is linear.
    ///
    /// # Errors
    /// [`DenseError::InvalidSizes`] when fewer than two sizes are given or a
    /// size is zero.
    pub fn zeros(sizes: &[usize]) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(DenseError::InvalidSizes {
                sizes: sizes.to_vec(),
                reason: "need at least an input and an output size, all positive".into(),
            });
        }
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        let (mut offset, mut t_offset) = (0, 0);
        for w in sizes.windows(2) {
            let (n_in, n_out) = (w[0], w[1]);
            layers.push(LayerSpan {
                n_in,
                n_out,
                weight: offset,
                bias: offset + n_in * n_out,
                transposed: t_offset,
            });
            offset += n_in * n_out + n_out;
            t_offset += n_in * n_out;
        }
        let mut activations = vec![Activation::Tanh; layers.len()];
        activations[layers.len() - 1] = Activation::Linear;
        let mut net = Self {
            sizes: sizes.to_vec(),
            layers,
            activations,
            params: vec![0.0; offset],
            transposed: vec![0.0; t_offset],
            transposed_fresh: false,
        };
        net.prepare_small_batches();
        Ok(net)
    }

    /// A network with orthogonal weights (gain `hidden_gain` for the hidden
    /// layers, `output_gain` for the last) and zero biases, drawn from `rng`.
    ///
    /// # Errors
    /// As [`Mlp::zeros`].
    pub fn orthogonal<R: Rng + ?Sized>(
        sizes: &[usize],
        hidden_gain: f32,
        output_gain: f32,
        rng: &mut R,
    ) -> Result<Self> {
        let mut net = Self::zeros(sizes)?;
        let last = net.layers.len() - 1;
        for (l, span) in net.layers.clone().into_iter().enumerate() {
            let gain = if l == last { output_gain } else { hidden_gain };
            let w = orthogonal(span.n_out, span.n_in, gain, rng);
            net.params[span.weight..span.weight + w.len()].copy_from_slice(&w);
        }
        net.prepare_small_batches();
        Ok(net)
    }

    /// A network with the given flat parameters (layout as in the type's
    /// documentation).
    ///
    /// # Errors
    /// As [`Mlp::zeros`], and [`DenseError::Length`] when `params` has the
    /// wrong length.
    pub fn from_params(sizes: &[usize], params: Vec<f32>) -> Result<Self> {
        let mut net = Self::zeros(sizes)?;
        if params.len() != net.params.len() {
            return Err(DenseError::Length {
                what: "MLP parameters",
                expected: net.params.len(),
                got: params.len(),
            });
        }
        net.params = params;
        net.prepare_small_batches();
        Ok(net)
    }

    /// The same network with `activations[l]` after layer `l` (one per
    /// layer).
    ///
    /// ```
    /// use dense::{Activation, Mlp, MlpWorkspace};
    ///
    /// let net = Mlp::from_params(&[2, 2], vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.5])?
    ///     .with_activations(&[Activation::Relu])?;
    /// let mut ws = MlpWorkspace::default();
    /// let y = net.forward(&[0.5, 0.25], 1, &mut ws)?;
    /// assert_eq!(y, &[0.0, 0.75]);
    /// # Ok::<(), dense::DenseError>(())
    /// ```
    ///
    /// # Errors
    /// [`DenseError::Length`] when the number of activations differs from
    /// the number of layers.
    pub fn with_activations(mut self, activations: &[Activation]) -> Result<Self> {
        if activations.len() != self.layers.len() {
            return Err(DenseError::Length {
                what: "activations (one per layer)",
                expected: self.layers.len(),
                got: activations.len(),
            });
        }
        self.activations = activations.to_vec();
        Ok(self)
    }

    /// The activation after each layer.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Input width.
    pub fn n_inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width.
    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Number of linear layers.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter buffer.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// The flat parameter buffer, mutable (for optimisers). Forward passes
    /// over a few rows fall back to a slower path until
    /// [`Mlp::prepare_small_batches`] is called again.
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.transposed_fresh = false;
        &mut self.params
    }

    /// Caches the transposed weights that make forward passes over a few
    /// rows (rollouts, single-observation inference) fast. Constructors call
    /// it; call it again after changing the parameters through
    /// [`Mlp::params_mut`]. Results are the same with or without the cache,
    /// up to rounding.
    pub fn prepare_small_batches(&mut self) {
        for span in &self.layers {
            let w = &self.params[span.weight..span.weight + span.n_in * span.n_out];
            let t = &mut self.transposed[span.transposed..span.transposed + span.n_in * span.n_out];
            for (j, row) in w.chunks_exact(span.n_in).enumerate() {
                for (i, &v) in row.iter().enumerate() {
                    t[i * span.n_out + j] = v;
                }
            }
        }
        self.transposed_fresh = true;
    }

    /// Range of layer `l`'s weight matrix (`n_out x n_in`, row-major) in the
    /// flat buffer, with its shape `[n_out, n_in]`, or `None` past the last
    /// layer.
    pub fn weight_range(&self, l: usize) -> Option<(std::ops::Range<usize>, [usize; 2])> {
        self.layers
            .get(l)
            .map(|s| (s.weight..s.weight + s.n_in * s.n_out, [s.n_out, s.n_in]))
    }

    /// Range of layer `l`'s bias in the flat buffer, or `None` past the last
    /// layer.
    pub fn bias_range(&self, l: usize) -> Option<std::ops::Range<usize>> {
        self.layers.get(l).map(|s| s.bias..s.bias + s.n_out)
    }

    fn check_input(&self, x: &[f32], batch: usize) -> Result<()> {
        if x.len() != batch * self.n_inputs() {
            return Err(DenseError::Length {
                what: "MLP input",
                expected: batch * self.n_inputs(),
                got: x.len(),
            });
        }
        Ok(())
    }

    /// Forward pass over `batch` row-major input rows; returns the outputs
    /// (`batch x n_outputs`, row-major), which stay in `ws` for a following
    /// [`Mlp::backward`].
    ///
    /// # Errors
    /// [`DenseError::Length`] when `x.len() != batch * n_inputs`.
    pub fn forward<'w>(
        &self,
        x: &[f32],
        batch: usize,
        ws: &'w mut MlpWorkspace,
    ) -> Result<&'w [f32]> {
        self.check_input(x, batch)?;
        if ws.acts.len() < self.layers.len() {
            ws.acts.resize_with(self.layers.len(), Vec::new);
        }
        let last = self.layers.len() - 1;
        for (l, (span, &act)) in self.layers.iter().zip(&self.activations).enumerate() {
            let (before, rest) = ws.acts.split_at_mut(l);
            let input: &[f32] = if l == 0 {
                x
            } else {
                &before[l - 1][..batch * span.n_in]
            };
            let out = &mut rest[0];
            grow(out, batch * span.n_out);
            let out = &mut out[..batch * span.n_out];
            let w = &self.params[span.weight..span.weight + span.n_in * span.n_out];
            let b = &self.params[span.bias..span.bias + span.n_out];
            if batch <= SMALL_BATCH || span.n_out <= NARROW {
                if self.transposed_fresh && span.n_out > NARROW {
                    let wt =
                        &self.transposed[span.transposed..span.transposed + span.n_in * span.n_out];
                    kernels::linear_rows_t(input, span.n_in, wt, b, out);
                } else {
                    kernels::linear_rows(input, span.n_in, w, b, out);
                }
                kernels::act_in_place(out, act);
            } else {
                gemm(
                    1.0,
                    MatRef::row_major(input, batch, span.n_in),
                    MatRef::row_major(w, span.n_out, span.n_in).t(),
                    0.0,
                    out,
                );
                kernels::add_bias_act(out, b, act);
            }
        }
        match &mut ws.last {
            Some((b, sizes)) if sizes == &self.sizes => *b = batch,
            last => *last = Some((batch, self.sizes.clone())),
        }
        Ok(&ws.acts[last][..batch * self.n_outputs()])
    }

    /// Backward pass for the last [`Mlp::forward`] made with `ws` (same `x`
    /// and `batch`): given `d_out = dLoss/d(outputs)` (`batch x n_outputs`),
    /// writes `dLoss/d(parameters)` into `grad` (overwriting it; same layout
    /// as [`Mlp::params`]).
    ///
    /// # Errors
    /// [`DenseError::Length`] when a length disagrees,
    /// [`DenseError::NoForwardPass`] when `ws` holds no forward pass of this
    /// network over `batch` rows.
    pub fn backward(
        &self,
        x: &[f32],
        batch: usize,
        ws: &mut MlpWorkspace,
        d_out: &[f32],
        grad: &mut [f32],
    ) -> Result<()> {
        self.check_input(x, batch)?;
        let shape_err = |what: &'static str, expected: usize, got: usize| DenseError::Length {
            what,
            expected,
            got,
        };
        if d_out.len() != batch * self.n_outputs() {
            return Err(shape_err(
                "output gradient",
                batch * self.n_outputs(),
                d_out.len(),
            ));
        }
        if grad.len() != self.params.len() {
            return Err(shape_err(
                "parameter gradient",
                self.params.len(),
                grad.len(),
            ));
        }
        match &ws.last {
            Some((b, sizes)) if *b == batch && sizes == &self.sizes => {}
            _ => {
                return Err(DenseError::NoForwardPass { batch });
            }
        }
        let max_width = self.sizes.iter().copied().max().unwrap_or(0);
        grow(&mut ws.delta, batch * max_width);
        grow(&mut ws.delta_prev, batch * max_width);
        let top = self.layers.len() - 1;
        ws.delta[..d_out.len()].copy_from_slice(d_out);
        // Back through the output layer's own activation, if any.
        kernels::mul_act_grad(
            &mut ws.delta[..d_out.len()],
            &ws.acts[top][..d_out.len()],
            self.activations[top],
        );
        for l in (0..=top).rev() {
            let span = self.layers[l];
            let delta = &ws.delta[..batch * span.n_out];
            let input: &[f32] = if l == 0 {
                x
            } else {
                &ws.acts[l - 1][..batch * span.n_in]
            };
            // dW = delta^T . input
            let (gw, gb) =
                grad[span.weight..span.bias + span.n_out].split_at_mut(span.n_in * span.n_out);
            if span.n_out <= NARROW {
                kernels::outer_sum(delta, input, span.n_in, gw);
            } else {
                gemm(
                    1.0,
                    MatRef::row_major(delta, batch, span.n_out).t(),
                    MatRef::row_major(input, batch, span.n_in),
                    0.0,
                    gw,
                );
            }
            kernels::column_sums(delta, gb);
            if l > 0 {
                // d(input) = delta . W, then back through the activation.
                let w = &self.params[span.weight..span.weight + span.n_in * span.n_out];
                let prev = &mut ws.delta_prev[..batch * span.n_in];
                gemm(
                    1.0,
                    MatRef::row_major(delta, batch, span.n_out),
                    MatRef::row_major(w, span.n_out, span.n_in),
                    0.0,
                    prev,
                );
                kernels::mul_act_grad(prev, input, self.activations[l - 1]);
                std::mem::swap(&mut ws.delta, &mut ws.delta_prev);
            }
        }
        Ok(())
    }
}
