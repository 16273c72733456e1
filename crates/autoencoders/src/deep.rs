//! The deep (wider, regularised, optionally denoising) autoencoder.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{DeepConfig, ModelConfig, ModelKind};
use crate::error::Result;
use crate::inference::{EmbeddingTable, EngineCache, Engines, engine_batch_helpers};
use crate::layers::DenseStack;
use crate::model::{Autoencoder, check_width, drop_column};
use crate::params::Parameters;

/// A deep autoencoder: `n -> 256 -> 128 -> 64 -> 32` and the mirror with
/// the default [`DeepConfig`], dropout after every hidden layer while
/// training, optional Gaussian input noise (denoising), and an optional
/// learned embedding of one categorical column.
///
/// With an embedding of column `c`, the encoder's input is the other
/// `n_features - 1` columns followed by the `dim`-wide embedding of the
/// category in column `c`, and the decoder reconstructs those
/// `n_features - 1` continuous columns only.
///
/// Parameter names (safetensors keys): `embedding.weight`
/// (`[cardinality, dim]`, only with an embedding), `encoder.{i}.weight`
/// (`[in, out]`), `encoder.{i}.bias`, `decoder.{i}.weight`,
/// `decoder.{i}.bias`.
///
/// ```
/// use autoencoders::{Autoencoder, Deep, DeepConfig, EmbeddingConfig};
/// use ndarray::Array2;
/// let cfg = DeepConfig {
///     embedding: Some(EmbeddingConfig { column: 0, cardinality: 1024, dim: 8 }),
///     ..DeepConfig::default()
/// };
/// let model = Deep::new(6, cfg, 1)?;
/// // column 0 holds ports (categories), the rest are scaled features
/// let x = Array2::from_shape_fn((3, 6), |(i, j)| if j == 0 { 80.0 + i as f32 } else { 0.5 });
/// assert_eq!(model.encode_batch(x.view())?.dim(), (3, 32));
/// assert_eq!(model.reconstruct_batch(x.view())?.dim(), (3, 5));
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug)]
pub struct Deep {
    config: DeepConfig,
    n_features: usize,
    params: Parameters,
    embedding: Option<Tensor>,
    encoder: DenseStack,
    decoder: DenseStack,
    engines: EngineCache,
}

impl Deep {
    /// Builds the model for `n_features` inputs (the categorical column
    /// included); weights are drawn from a generator seeded with `seed`.
    /// The embedding starts from N(0, 1), as PyTorch's does.
    pub fn new(n_features: usize, config: DeepConfig, seed: u64) -> Result<Self> {
        config.validate(n_features)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut params = Parameters::default();
        let (embedding, n_cont, emb_dim) = match &config.embedding {
            Some(e) => {
                let data: Vec<f32> = (0..e.cardinality * e.dim)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                let t = params.add(
                    "embedding.weight".into(),
                    &[e.cardinality, e.dim],
                    data,
                    true,
                )?;
                (Some(t), n_features - 1, e.dim)
            }
            None => (None, n_features, 0),
        };
        let mut dims = vec![n_cont + emb_dim];
        dims.extend(&config.hidden);
        dims.push(config.latent_dim);
        let encoder = DenseStack::new(
            &mut params,
            "encoder",
            &dims,
            config.activation,
            config.latent_activation,
            &mut rng,
        )?;
        dims.reverse();
        let last = dims.len() - 1;
        dims[last] = n_cont;
        let decoder = DenseStack::new(
            &mut params,
            "decoder",
            &dims,
            config.activation,
            config.output_activation,
            &mut rng,
        )?;
        Ok(Self {
            config,
            n_features,
            params,
            embedding,
            encoder,
            decoder,
            engines: EngineCache::default(),
        })
    }

    /// The weights on the dense engine, current with the parameters.
    fn engines(&self) -> Result<Arc<Engines>> {
        self.engines.get(&self.params, || {
            let embedding = match (&self.config.embedding, &self.embedding) {
                (Some(e), Some(table)) => Some(EmbeddingTable {
                    column: e.column,
                    dim: e.dim,
                    table: table.flatten_all()?.to_vec1::<f32>()?,
                }),
                _ => None,
            };
            Engines::build(&self.params, &self.encoder, &self.decoder, embedding)
        })
    }

    /// The encoder's input: continuous columns (plus noise when given) and
    /// the embedded category.
    fn encoder_input(&self, x: &Tensor, noise: Option<(f32, &mut StdRng)>) -> Result<Tensor> {
        check_width(x, self.n_features)?;
        let (mut cont, ids) = match (&self.config.embedding, &self.embedding) {
            (Some(e), Some(_)) => {
                let ids = x.narrow(1, e.column, 1)?.squeeze(1)?.to_dtype(DType::U32)?;
                (drop_column(x, e.column)?, Some(ids))
            }
            _ => (x.clone(), None),
        };
        if let Some((std, rng)) = noise {
            let (rows, cols) = cont.dims2()?;
            let data: Vec<f32> = (0..rows * cols)
                .map(|_| std * Distribution::<f32>::sample(&StandardNormal, &mut *rng))
                .collect();
            cont = (cont + Tensor::from_vec(data, (rows, cols), &Device::Cpu)?)?;
        }
        Ok(match (ids, &self.embedding) {
            (Some(ids), Some(table)) => Tensor::cat(&[cont, table.embedding(&ids)?], 1)?,
            _ => cont,
        })
    }
}

impl Autoencoder for Deep {
    fn kind(&self) -> ModelKind {
        ModelKind::Deep
    }

    fn config(&self) -> ModelConfig {
        ModelConfig::Deep(self.config.clone())
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn latent_dim(&self) -> usize {
        self.config.latent_dim
    }

    fn parameters(&self) -> &Parameters {
        &self.params
    }

    fn categorical_column(&self) -> Option<(usize, usize)> {
        self.config
            .embedding
            .as_ref()
            .map(|e| (e.column, e.cardinality))
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let input = self.encoder_input(&x.detach(), None)?.detach();
        Ok(self.encoder.infer(&input)?)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        check_width(z, self.config.latent_dim)?;
        Ok(self.decoder.infer(z)?)
    }

    fn forward_train(&self, x: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        let std = self.config.input_noise_std;
        let noise = (std > 0.0).then_some((std, &mut *rng));
        let input = self.encoder_input(x, noise)?;
        let p = self.config.dropout;
        let z = self.encoder.forward(&input, p, rng)?;
        Ok(self.decoder.forward(&z, p, rng)?)
    }

    engine_batch_helpers!();
}
