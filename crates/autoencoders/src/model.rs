//! The [`Model`]: one type for the three architectures, built from a
//! configuration's layer specification and run on either [`Backend`]; and
//! the [`Autoencoder`] trait of its `ndarray` interface.

use std::ops::Range;
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, ModelKind};
use crate::engine::{self, TrainState, Workspace};
use crate::error::{AutoencoderError, Result, invalid};
use crate::spec::{Masks, Spec};

/// Which implementation runs a model's training and evaluation passes.
/// Both build the same network from the same layer specification and the
/// same weights, and agree to rounding (the crate's tests hold them to
/// 1e-5 on outputs and 1e-4 on training losses).
///
/// ```
/// use autoencoders::Backend;
/// assert_eq!(Backend::default(), Backend::Dense);
/// assert_eq!("candle".parse::<Backend>()?, Backend::Candle);
/// assert_eq!(Backend::Candle.to_string(), "candle");
/// assert!("cuda".parse::<Backend>().is_err());
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The `dense` crate's CPU engine: hand-written forward and backward
    /// passes over the flat weights (the default, and the faster).
    #[default]
    Dense,
    /// `candle-nn` layers and candle's autograd: the reference (with the
    /// crate's `candle` feature; without it, running a model on it is an
    /// error saying so).
    Candle,
}

/// The error of a model run on the candle backend in a build without it.
#[cfg(not(feature = "candle"))]
fn candle_absent() -> AutoencoderError {
    AutoencoderError::Candle(
        "not built in: enable the `candle` feature of the autoencoders crate".into(),
    )
}

impl Backend {
    /// `dense` or `candle`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Dense => "dense",
            Backend::Candle => "candle",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Backend {
    type Err = AutoencoderError;

    fn from_str(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "dense" => Ok(Backend::Dense),
            "candle" if cfg!(feature = "candle") => Ok(Backend::Candle),
            "candle" => Err(invalid(
                "backend",
                name,
                "candle is not built in: enable the `candle` feature of the autoencoders crate",
            )),
            _ => Err(invalid("backend", name, "expected dense or candle")),
        }
    }
}

/// An autoencoder: an encoder to a latent code and a decoder back, in
/// evaluation mode (no dropout, no noise), on `ndarray` matrices.
///
/// ```
/// use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind};
/// use ndarray::Array2;
///
/// let model = Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 10, 7)?;
/// let x = Array2::from_shape_fn((5, 10), |(i, j)| ((i * j) % 3) as f32 / 3.0);
/// let z = model.encode_batch(x.view())?;
/// assert_eq!(z.dim(), (5, 32));
/// assert_eq!(model.reconstruct_batch(x.view())?.dim(), (5, 10));
/// assert_eq!(model.reconstruction_errors(x.view())?.len(), 5);
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
pub trait Autoencoder: Send + Sync {
    /// Which architecture this is.
    fn kind(&self) -> ModelKind;

    /// The configuration the model was built from.
    fn config(&self) -> &ModelConfig;

    /// Number of input columns.
    fn n_features(&self) -> usize;

    /// Width of the latent code.
    fn latent_dim(&self) -> usize;

    /// Number of reconstructed columns: every input column except an
    /// embedded categorical one.
    fn output_dim(&self) -> usize;

    /// `(column, cardinality)` of an embedded categorical input column, if
    /// the model has one. That column is an input only: it is not
    /// reconstructed.
    fn categorical_column(&self) -> Option<(usize, usize)>;

    /// Total number of scalar parameters.
    fn parameter_count(&self) -> usize;

    /// Latent codes of every row, `(rows, latent_dim)`.
    fn encode_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>>;

    /// Decoded rows of latent codes, `(rows, output_dim)`.
    fn decode_batch(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>>;

    /// Reconstructed rows, `(rows, output_dim)`.
    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>>;

    /// Per-row reconstruction error: the mean squared error over the
    /// reconstructed columns.
    fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>>;

    /// Saves the weights (safetensors) and the architecture (JSON) into
    /// `dir`, creating it if needed; both files are written whole or not at
    /// all. Load with [`Model::load`].
    fn save(&self, dir: &Path) -> Result<()>;
}

/// A feedforward, convolutional or deep autoencoder: its configuration,
/// the layer specification built from it, the weights in one flat buffer,
/// and the [`Backend`] that runs it.
///
/// ```
/// use autoencoders::{Autoencoder, Backend, Model, ModelConfig, ModelKind};
/// use ndarray::Array2;
/// let model = Model::new(&ModelConfig::default_for(ModelKind::Conv1d), 77, 3)?;
/// let x = Array2::<f32>::from_elem((4, 77), 0.5);
/// let z = model.encode_batch(x.view())?;
/// assert_eq!(z.dim(), (4, 32));
/// let reference = model.clone().with_backend(Backend::Candle);
/// let z2 = reference.encode_batch(x.view())?;
/// assert!(z.iter().zip(&z2).all(|(a, b)| (a - b).abs() < 1e-5));
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Model {
    config: ModelConfig,
    spec: Spec,
    params: Vec<f32>,
    backend: Backend,
}

impl Model {
    /// Builds a model of the configured kind for `n_features` input
    /// columns, with weights drawn from a generator seeded with `seed`, on
    /// the default backend.
    ///
    /// ```
    /// use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind};
    /// let model = Model::new(&ModelConfig::default_for(ModelKind::Deep), 77, 1)?;
    /// assert_eq!(model.kind(), ModelKind::Deep);
    /// assert_eq!(model.latent_dim(), 32);
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    pub fn new(config: &ModelConfig, n_features: usize, seed: u64) -> Result<Self> {
        config.validate(n_features)?;
        let spec = Spec::new(config, n_features);
        let params = spec.init(seed);
        Ok(Self {
            config: config.clone(),
            spec,
            params,
            backend: Backend::default(),
        })
    }

    /// A model from its configuration and the weights in its flat layout
    /// (the loader's way in; `params` has the specification's length).
    pub(crate) fn from_parts(config: ModelConfig, spec: Spec, params: Vec<f32>) -> Self {
        Self {
            config,
            spec,
            params,
            backend: Backend::default(),
        }
    }

    /// The backend running this model.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs this model on `backend` from now on (the weights stay).
    pub fn set_backend(&mut self, backend: Backend) {
        self.backend = backend;
    }

    /// This model, run on `backend`.
    #[must_use]
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// `(name, shape)` of every parameter tensor, in order: the tensors of
    /// the safetensors file (see the crate documentation).
    ///
    /// ```
    /// use autoencoders::{Model, ModelConfig, ModelKind};
    /// let model = Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 77, 0)?;
    /// let shapes = model.parameter_shapes();
    /// assert_eq!(shapes[0], ("encoder.0.weight".to_string(), vec![128, 77]));
    /// assert_eq!(shapes[1], ("encoder.0.bias".to_string(), vec![128]));
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.spec
            .params
            .iter()
            .map(|p| (p.name.clone(), p.shape()))
            .collect()
    }

    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Whether `other` computes the same function: the same configuration
    /// and the same weights, bit for bit.
    pub fn same_network(&self, other: &Model) -> bool {
        self.config == other.config
            && self.params.len() == other.params.len()
            && self
                .params
                .iter()
                .zip(&other.params)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }

    pub(crate) fn params(&self) -> &[f32] {
        &self.params
    }

    pub(crate) fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Checks that `x` has `n_features` columns of finite values (and valid
    /// categories in an embedded column); `what` names the input in errors.
    pub(crate) fn check_input(&self, x: ArrayView2<'_, f32>, what: &'static str) -> Result<()> {
        check_matrix(x, self.spec.n_features, what)?;
        if let Some((column, cardinality)) = self.spec.categorical {
            check_categories(x, column, cardinality)?;
        }
        Ok(())
    }

    /// The sum of squared errors of the training-mode reconstruction of
    /// `rows` rows of `x` with the minibatch's `masks`, and the gradient of
    /// their mean into `grads` (the flat layout of the weights).
    pub(crate) fn loss_and_grads(
        &self,
        x: &[f32],
        rows: usize,
        masks: &Masks,
        state: &mut TrainState,
        grads: &mut [f32],
    ) -> Result<f64> {
        match self.backend {
            Backend::Dense => {
                engine::loss_and_grads(&self.spec, &self.params, x, rows, masks, state, grads)
            }
            #[cfg(feature = "candle")]
            Backend::Candle => crate::candle_backend::loss_and_grads(
                &self.spec,
                &self.params,
                x,
                rows,
                masks,
                grads,
            ),
            #[cfg(not(feature = "candle"))]
            Backend::Candle => Err(candle_absent()),
        }
    }

    /// Evaluation-mode outputs of `layers[range]` for one chunk of rows.
    fn eval_chunk(
        &self,
        range: Range<usize>,
        x: &[f32],
        rows: usize,
        ws: &mut Workspace,
        out: &mut [f32],
    ) -> Result<()> {
        match self.backend {
            Backend::Dense => {
                let y = engine::forward(&self.spec, &self.params, range, x, rows, None, ws)?;
                out.copy_from_slice(y);
                Ok(())
            }
            #[cfg(feature = "candle")]
            Backend::Candle => {
                crate::candle_backend::eval(&self.spec, &self.params, range, x, rows, out)
            }
            #[cfg(not(feature = "candle"))]
            Backend::Candle => Err(candle_absent()),
        }
    }

    /// `layers[range]` over every row of `x`, in chunks in parallel.
    fn eval_all(&self, range: Range<usize>, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let width = self.spec.layers[range.end - 1].out_width();
        run_chunks(x, self.spec.eval_rows, width, |chunk, rows, ws, out| {
            self.eval_chunk(range.clone(), chunk, rows, ws, out)
        })
    }
}

impl Autoencoder for Model {
    fn kind(&self) -> ModelKind {
        self.config.kind()
    }

    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn n_features(&self) -> usize {
        self.spec.n_features
    }

    fn latent_dim(&self) -> usize {
        self.spec.latent_dim()
    }

    fn output_dim(&self) -> usize {
        self.spec.output_dim()
    }

    fn categorical_column(&self) -> Option<(usize, usize)> {
        self.spec.categorical
    }

    fn parameter_count(&self) -> usize {
        self.params.len()
    }

    fn encode_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_input(x, "input")?;
        self.eval_all(0..self.spec.encoder_len, x)
    }

    fn decode_batch(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_matrix(z, self.latent_dim(), "latent codes")?;
        self.eval_all(self.spec.encoder_len..self.spec.layers.len(), z)
    }

    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_input(x, "input")?;
        self.eval_all(0..self.spec.layers.len(), x)
    }

    fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
        self.check_input(x, "input")?;
        let n = self.spec.n_features;
        let width = self.output_dim();
        let all = 0..self.spec.layers.len();
        let errors = run_chunks(x, self.spec.eval_rows, 1, |chunk, rows, ws, out| {
            let mut recon = vec![0.0; rows * width];
            self.eval_chunk(all.clone(), chunk, rows, ws, &mut recon)?;
            for ((xr, rr), e) in chunk
                .chunks_exact(n)
                .zip(recon.chunks_exact(width))
                .zip(out.iter_mut())
            {
                let target = engine::target_of(&self.spec, xr);
                let sum: f32 = target.zip(rr).map(|(a, b)| (a - b) * (a - b)).sum();
                *e = sum / width as f32;
            }
            Ok(())
        })?;
        Ok(errors.into_raw_vec_and_offset().0)
    }

    fn save(&self, dir: &Path) -> Result<()> {
        crate::persist::save(self, dir)
    }
}

/// Runs `f(chunk, rows, workspace, out)` over chunks of `chunk_rows` rows
/// of `x` in parallel on rayon's current pool, each writing its
/// `rows x out_cols` outputs.
fn run_chunks(
    x: ArrayView2<'_, f32>,
    chunk_rows: usize,
    out_cols: usize,
    f: impl Fn(&[f32], usize, &mut Workspace, &mut [f32]) -> Result<()> + Sync,
) -> Result<Array2<f32>> {
    let (n_rows, n) = x.dim();
    let x = x.as_standard_layout();
    let xs = x.as_slice().unwrap_or(&[]);
    let mut out = Array2::zeros((n_rows, out_cols));
    if n_rows == 0 || n == 0 || out_cols == 0 {
        return Ok(out);
    }
    let dst = out.as_slice_mut().unwrap_or(&mut []);
    if n_rows <= chunk_rows {
        // One chunk (one flow, a small batch) stays on the calling thread.
        f(xs, n_rows, &mut Workspace::default(), dst)?;
        return Ok(out);
    }
    dst.par_chunks_mut(chunk_rows * out_cols)
        .zip(xs.par_chunks(chunk_rows * n))
        .try_for_each_init(Workspace::default, |ws, (o, chunk)| {
            f(chunk, chunk.len() / n, ws, o)
        })?;
    Ok(out)
}

/// Whether every value is finite: an exponent field of all ones marks
/// infinities and NaNs. Branch-free over blocks, so that it vectorises.
fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    values.chunks(4096).all(|block| {
        block.iter().fold(0u32, |any, v| {
            any | u32::from(v.to_bits() & EXPONENT == EXPONENT)
        }) == 0
    })
}

/// Checks the width and that every value is finite.
pub(crate) fn check_matrix(x: ArrayView2<'_, f32>, width: usize, what: &'static str) -> Result<()> {
    if x.ncols() != width {
        return Err(AutoencoderError::FeatureMismatch {
            expected: width,
            got: x.ncols(),
        });
    }
    let all_finite = match x.as_slice() {
        Some(s) => all_finite(s),
        None => x.iter().all(|v| v.is_finite()),
    };
    if all_finite {
        return Ok(());
    }
    if let Some(((row, column), &value)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(AutoencoderError::NonFiniteInput {
            what,
            row,
            column,
            value,
        });
    }
    Ok(())
}

/// Checks that a categorical column holds integers in `0..cardinality`.
fn check_categories(x: ArrayView2<'_, f32>, column: usize, cardinality: usize) -> Result<()> {
    for (row, &value) in x.column(column).iter().enumerate() {
        if !(value >= 0.0 && value.fract() == 0.0 && (value as usize) < cardinality) {
            return Err(AutoencoderError::CategoryOutOfRange {
                column,
                row,
                value,
                cardinality,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::all_finite;

    #[test]
    fn all_finite_finds_every_kind_of_non_finite_value_anywhere() {
        let mut values = vec![1.0f32; 10_000];
        values[9_999] = f32::MAX;
        values[0] = f32::MIN_POSITIVE / 2.0; // subnormal
        assert!(all_finite(&values));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 4_095, 4_096, 9_999] {
                let mut v = values.clone();
                v[at] = bad;
                assert!(!all_finite(&v), "{bad} at {at}");
            }
        }
        assert!(all_finite(&[]));
    }
}
