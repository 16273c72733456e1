//! The [`Autoencoder`] trait shared by the three models, its `ndarray` batch
//! helpers, and the [`Model`] enum that holds any of them.

use candle_core::{Device, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::config::{ModelConfig, ModelKind};
use crate::conv::Conv1d;
use crate::deep::Deep;
use crate::error::{AutoencoderError, Result};
use crate::feedforward::FeedForward;
use crate::params::Parameters;
use crate::persist::ModelMetadata;
use std::path::Path;

/// Default rows per forward pass in the batch helpers (see
/// [`Autoencoder::inference_rows`]).
pub const INFERENCE_CHUNK: usize = 2048;

/// An autoencoder: an encoder to a latent code and a decoder back.
///
/// Evaluation mode is [`encode`](Autoencoder::encode),
/// [`decode`](Autoencoder::decode) and
/// [`reconstruct`](Autoencoder::reconstruct) (no dropout, no noise, no
/// gradient graph); training mode is
/// [`forward_train`](Autoencoder::forward_train). The `*_batch` helpers take
/// and return `ndarray` matrices, so callers never need candle:
///
/// ```
/// use autoencoders::{Autoencoder, FeedForward, FeedForwardConfig};
/// use ndarray::Array2;
///
/// let model = FeedForward::new(10, FeedForwardConfig::default(), 7)?;
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
    fn config(&self) -> ModelConfig;

    /// Number of input columns.
    fn n_features(&self) -> usize;

    /// Width of the latent code.
    fn latent_dim(&self) -> usize;

    /// The named parameters, in a fixed order.
    fn parameters(&self) -> &Parameters;

    /// `(column, cardinality)` of an embedded categorical input column, if
    /// the model has one. That column is an input only: it is not
    /// reconstructed.
    fn categorical_column(&self) -> Option<(usize, usize)> {
        None
    }

    /// Encodes `(rows, n_features)` into `(rows, latent_dim)`.
    fn encode(&self, x: &Tensor) -> Result<Tensor>;

    /// Decodes `(rows, latent_dim)` into `(rows, output_dim)`.
    fn decode(&self, z: &Tensor) -> Result<Tensor>;

    /// The training-mode reconstruction of `x` (dropout and input noise drawn
    /// from `rng`), recorded for backpropagation.
    fn forward_train(&self, x: &Tensor, rng: &mut StdRng) -> Result<Tensor>;

    /// The training loss (mean squared error of the training-mode
    /// reconstruction) over `rows` row-major rows `x`, with its gradient
    /// with respect to every parameter written into `grads` (one buffer
    /// per tensor of [`Autoencoder::parameters`], in order, each resized to
    /// its tensor's size, values in row-major order), computed by a
    /// hand-written backward pass. `None` when the model has none: the
    /// [`Trainer`](crate::Trainer) then runs candle's autograd on
    /// [`forward_train`](Autoencoder::forward_train). [`Conv1d`] has one;
    /// the default returns `None`.
    fn loss_and_gradients(
        &self,
        x: &[f32],
        rows: usize,
        rng: &mut StdRng,
        grads: &mut [Vec<f32>],
    ) -> Result<Option<f32>> {
        let _ = (x, rows, rng, grads);
        Ok(None)
    }

    /// Number of reconstructed columns: every input column except an
    /// embedded categorical one.
    fn output_dim(&self) -> usize {
        self.n_features() - usize::from(self.categorical_column().is_some())
    }

    /// Rows per forward pass in the candle batch helpers (the default
    /// methods, which the convolutional model uses) and the validation
    /// loss: enough to amortise the per-operation overhead, few enough to
    /// keep the activations in cache. Chunks run in parallel on rayon's
    /// current thread pool. Default [`INFERENCE_CHUNK`].
    fn inference_rows(&self) -> usize {
        INFERENCE_CHUNK
    }

    /// Total number of scalar parameters.
    fn parameter_count(&self) -> usize {
        self.parameters().count()
    }

    /// `decode(encode(x))`.
    fn reconstruct(&self, x: &Tensor) -> Result<Tensor> {
        self.decode(&self.encode(x)?)
    }

    /// The part of `x` that the reconstruction is compared with.
    fn target(&self, x: &Tensor) -> Result<Tensor> {
        match self.categorical_column() {
            Some((column, _)) => Ok(drop_column(x, column)?),
            None => Ok(x.clone()),
        }
    }

    /// Checks that `x` has `n_features` columns of finite values (and valid
    /// categories in an embedded column); `what` names the input in errors.
    fn check_input(&self, x: ArrayView2<'_, f32>, what: &'static str) -> Result<()> {
        check_matrix(x, self.n_features(), what)?;
        if let Some((column, cardinality)) = self.categorical_column() {
            check_categories(x, column, cardinality)?;
        }
        Ok(())
    }

    /// Latent codes of every row, `(rows, latent_dim)`.
    fn encode_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_input(x, "input")?;
        map_chunks(x, self.inference_rows(), self.latent_dim(), |t| {
            self.encode(t)
        })
    }

    /// Decoded rows of latent codes, `(rows, output_dim)`.
    fn decode_batch(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_matrix(z, self.latent_dim(), "latent codes")?;
        map_chunks(z, self.inference_rows(), self.output_dim(), |t| {
            self.decode(t)
        })
    }

    /// Reconstructed rows, `(rows, output_dim)`.
    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.check_input(x, "input")?;
        map_chunks(x, self.inference_rows(), self.output_dim(), |t| {
            self.reconstruct(t)
        })
    }

    /// Saves the weights (safetensors) and the configuration with
    /// `metadata` (JSON) into `dir`, creating it if needed; both files are
    /// written atomically. Load with [`Model::load`].
    ///
    /// ```
    /// use autoencoders::{Autoencoder, FeedForward, FeedForwardConfig, Model, ModelMetadata};
    /// use ndarray::Array2;
    /// let dir = tempfile::tempdir().unwrap();
    /// let model = FeedForward::new(3, FeedForwardConfig::default(), 5)?;
    /// let meta = ModelMetadata { feature_names: vec!["a".into(), "b".into(), "c".into()], ..Default::default() };
    /// model.save(dir.path(), &meta)?;
    /// let (loaded, loaded_meta) = Model::load(dir.path())?;
    /// let x = Array2::from_elem((2, 3), 0.25f32);
    /// assert_eq!(loaded.encode_batch(x.view())?, model.encode_batch(x.view())?);
    /// assert_eq!(loaded_meta, meta);
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    fn save(&self, dir: &Path, metadata: &ModelMetadata) -> Result<()> {
        crate::persist::save(self, dir, metadata)
    }

    /// Per-row reconstruction error: the mean squared error over the
    /// reconstructed columns.
    fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
        let recon = self.reconstruct_batch(x)?;
        let skip = self.categorical_column().map(|(c, _)| c);
        let width = self.output_dim() as f32;
        Ok(x.rows()
            .into_iter()
            .zip(recon.rows())
            .map(|(xr, rr)| {
                let target = xr
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| Some(*j) != skip)
                    .map(|(_, v)| v);
                let sum: f32 = target.zip(rr.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
                sum / width
            })
            .collect())
    }
}

/// Checks that a `(rows, cols)` tensor has `width` columns.
pub(crate) fn check_width(x: &Tensor, width: usize) -> Result<()> {
    let (_, got) = x.dims2()?;
    if got != width {
        return Err(AutoencoderError::FeatureMismatch {
            expected: width,
            got,
        });
    }
    Ok(())
}

/// `x` without one column.
pub(crate) fn drop_column(x: &Tensor, column: usize) -> candle_core::Result<Tensor> {
    let width = x.dim(1)?;
    if column == 0 {
        x.narrow(1, 1, width - 1)
    } else if column + 1 == width {
        x.narrow(1, 0, width - 1)
    } else {
        Tensor::cat(
            &[
                x.narrow(1, 0, column)?,
                x.narrow(1, column + 1, width - column - 1)?,
            ],
            1,
        )
    }
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
        Some(s) => s.iter().all(|v| v.is_finite()),
        None => x.iter().all(|v| v.is_finite()),
    };
    if !all_finite {
        for ((row, column), &value) in x.indexed_iter() {
            if !value.is_finite() {
                return Err(AutoencoderError::NonFiniteInput {
                    what,
                    row,
                    column,
                    value,
                });
            }
        }
    }
    Ok(())
}

/// Checks that a categorical column holds integers in `0..cardinality`.
pub(crate) fn check_categories(
    x: ArrayView2<'_, f32>,
    column: usize,
    cardinality: usize,
) -> Result<()> {
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

/// Copies rows of a matrix into a `(rows, cols)` tensor.
pub(crate) fn to_tensor(x: ArrayView2<'_, f32>) -> candle_core::Result<Tensor> {
    let data: Vec<f32> = match x.as_slice() {
        Some(s) => s.to_vec(),
        None => x.iter().copied().collect(),
    };
    Tensor::from_vec(data, x.dim(), &Device::Cpu)
}

/// Copies a `(rows, cols)` tensor into a matrix.
pub(crate) fn to_array(t: &Tensor) -> Result<Array2<f32>> {
    let (rows, cols) = t.dims2()?;
    let data = t.flatten_all()?.to_vec1::<f32>()?;
    Array2::from_shape_vec((rows, cols), data)
        .map_err(|e| AutoencoderError::Candle(candle_core::Error::msg(e.to_string())))
}

/// Runs `f` over chunks of `chunk` rows, the chunks in parallel on rayon's
/// current pool, and stacks the results in order.
fn map_chunks(
    x: ArrayView2<'_, f32>,
    chunk: usize,
    out_cols: usize,
    f: impl Fn(&Tensor) -> Result<Tensor> + Sync,
) -> Result<Array2<f32>> {
    let chunk = chunk.max(1);
    if x.nrows() <= chunk {
        return to_array(&f(&to_tensor(x)?)?);
    }
    let parts: Vec<ArrayView2<'_, f32>> = x.axis_chunks_iter(Axis(0), chunk).collect();
    let results: Vec<Result<Array2<f32>>> = parts
        .into_par_iter()
        .map(|part| to_array(&f(&to_tensor(part)?)?))
        .collect();
    let mut out = Array2::zeros((x.nrows(), out_cols));
    for (result, mut dst) in results
        .into_iter()
        .zip(out.axis_chunks_iter_mut(Axis(0), chunk))
    {
        dst.assign(&result?);
    }
    Ok(out)
}

/// Any of the three models; what [`Model::load`](crate::Model::load) returns.
#[derive(Debug)]
pub enum Model {
    /// A feedforward autoencoder.
    FeedForward(FeedForward),
    /// A convolutional autoencoder.
    Conv1d(Conv1d),
    /// A deep autoencoder.
    Deep(Deep),
}

impl Model {
    /// Builds a model of the configured kind for `n_features` input columns,
    /// with weights initialised from `seed`.
    ///
    /// ```
    /// use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind};
    /// let model = Model::new(&ModelConfig::default_for(ModelKind::Deep), 77, 1)?;
    /// assert_eq!(model.kind(), ModelKind::Deep);
    /// assert_eq!(model.latent_dim(), 32);
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    pub fn new(config: &ModelConfig, n_features: usize, seed: u64) -> Result<Self> {
        Ok(match config {
            ModelConfig::FeedForward(c) => {
                Self::FeedForward(FeedForward::new(n_features, c.clone(), seed)?)
            }
            ModelConfig::Conv1d(c) => Self::Conv1d(Conv1d::new(n_features, c.clone(), seed)?),
            ModelConfig::Deep(c) => Self::Deep(Deep::new(n_features, c.clone(), seed)?),
        })
    }

    fn inner(&self) -> &dyn Autoencoder {
        match self {
            Self::FeedForward(m) => m,
            Self::Conv1d(m) => m,
            Self::Deep(m) => m,
        }
    }
}

impl From<FeedForward> for Model {
    fn from(m: FeedForward) -> Self {
        Self::FeedForward(m)
    }
}

impl From<Conv1d> for Model {
    fn from(m: Conv1d) -> Self {
        Self::Conv1d(m)
    }
}

impl From<Deep> for Model {
    fn from(m: Deep) -> Self {
        Self::Deep(m)
    }
}

impl Autoencoder for Model {
    fn kind(&self) -> ModelKind {
        self.inner().kind()
    }

    fn config(&self) -> ModelConfig {
        self.inner().config()
    }

    fn n_features(&self) -> usize {
        self.inner().n_features()
    }

    fn latent_dim(&self) -> usize {
        self.inner().latent_dim()
    }

    fn parameters(&self) -> &Parameters {
        self.inner().parameters()
    }

    fn categorical_column(&self) -> Option<(usize, usize)> {
        self.inner().categorical_column()
    }

    fn inference_rows(&self) -> usize {
        self.inner().inference_rows()
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.inner().encode(x)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.inner().decode(z)
    }

    fn forward_train(&self, x: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        self.inner().forward_train(x, rng)
    }

    fn loss_and_gradients(
        &self,
        x: &[f32],
        rows: usize,
        rng: &mut StdRng,
        grads: &mut [Vec<f32>],
    ) -> Result<Option<f32>> {
        self.inner().loss_and_gradients(x, rows, rng, grads)
    }

    fn encode_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.inner().encode_batch(x)
    }

    fn decode_batch(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.inner().decode_batch(z)
    }

    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.inner().reconstruct_batch(x)
    }

    fn reconstruction_errors(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f32>> {
        self.inner().reconstruction_errors(x)
    }
}
