//! The feedforward autoencoder.

use std::sync::Arc;

use candle_core::Tensor;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::{FeedForwardConfig, ModelConfig, ModelKind};
use crate::error::Result;
use crate::inference::{EngineCache, Engines, engine_batch_helpers};
use crate::layers::DenseStack;
use crate::model::{Autoencoder, check_width};
use crate::params::Parameters;

/// A feedforward autoencoder: `n_features -> 128 -> 64 -> 32` and the mirror
/// `32 -> 64 -> 128 -> n_features` with the default
/// [`FeedForwardConfig`].
///
/// Parameter names (safetensors keys): `encoder.{i}.weight` (`[in, out]`)
/// and `encoder.{i}.bias` (`[out]`) for each encoder layer `i` from the
/// input side, and `decoder.{i}.weight` / `decoder.{i}.bias` likewise.
///
/// ```
/// use autoencoders::{Autoencoder, FeedForward, FeedForwardConfig};
/// let model = FeedForward::new(77, FeedForwardConfig::default(), 42)?;
/// assert_eq!(model.latent_dim(), 32);
/// // 77*128+128 + 128*64+64 + 64*32+32, twice (mirrored, with 77 outputs)
/// assert_eq!(model.parameter_count(), 2 * (77 * 128 + 128 * 64 + 64 * 32) + 128 + 64 + 32 + 64 + 128 + 77);
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug)]
pub struct FeedForward {
    config: FeedForwardConfig,
    n_features: usize,
    params: Parameters,
    encoder: DenseStack,
    decoder: DenseStack,
    engines: EngineCache,
}

impl FeedForward {
    /// Builds the model for `n_features` inputs; weights are drawn from a
    /// generator seeded with `seed`.
    pub fn new(n_features: usize, config: FeedForwardConfig, seed: u64) -> Result<Self> {
        config.validate(n_features)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut params = Parameters::default();
        let mut dims = vec![n_features];
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
            encoder,
            decoder,
            engines: EngineCache::default(),
        })
    }

    /// The weights on the dense engine, current with the parameters.
    fn engines(&self) -> Result<Arc<Engines>> {
        self.engines.get(&self.params, || {
            Engines::build(&self.params, &self.encoder, &self.decoder, None)
        })
    }
}

impl Autoencoder for FeedForward {
    fn kind(&self) -> ModelKind {
        ModelKind::FeedForward
    }

    fn config(&self) -> ModelConfig {
        ModelConfig::FeedForward(self.config.clone())
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

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        check_width(x, self.n_features)?;
        Ok(self.encoder.infer(x)?)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        check_width(z, self.config.latent_dim)?;
        Ok(self.decoder.infer(z)?)
    }

    fn forward_train(&self, x: &Tensor, rng: &mut StdRng) -> Result<Tensor> {
        check_width(x, self.n_features)?;
        let p = self.config.dropout;
        let z = self.encoder.forward(x, p, rng)?;
        Ok(self.decoder.forward(&z, p, rng)?)
    }

    engine_batch_helpers!();
}
