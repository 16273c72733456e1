//! The one-dimensional convolutional autoencoder.

use std::sync::{Mutex, PoisonError};

use candle_core::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::config::{Activation, Conv1dConfig, ModelConfig, ModelKind};
use crate::conv_train::{ConvShape, ConvStep};
use crate::error::{AutoencoderError, Result};
use crate::layers::{ConvLayer, Dense};
use crate::model::{Autoencoder, check_width};
use crate::ops;
use crate::params::Parameters;

/// A convolutional autoencoder over the feature vector seen as one channel
/// of `n_features` positions; see [`Conv1dConfig`] for the architecture.
///
/// Any feature count works: the input is zero-padded on the right to a
/// multiple of `2^levels` positions and the output is cropped back, so the
/// loss and the reconstruction error only ever see the real features.
///
/// Activations run channels-last, `(rows, positions, channels)`, which is
/// also the order of the flatten before the latent layer. Parameter names
/// (safetensors keys):
/// - `encoder.conv.{i}.weight` `[k * in, out]` (row `t * in + c` is tap `t`
///   of input channel `c`) and `encoder.conv.{i}.bias` `[out]`;
/// - `encoder.dense.weight` `[positions / 2^levels * channels, latent]`,
///   `encoder.dense.bias`;
/// - `decoder.dense.weight` `[latent, positions / 2^levels * channels]`,
///   `decoder.dense.bias`;
/// - `decoder.conv.{i}.weight`, `decoder.conv.{i}.bias` as in the encoder.
///
/// ```
/// use autoencoders::{Autoencoder, Conv1d, Conv1dConfig};
/// use ndarray::Array2;
/// let model = Conv1d::new(77, Conv1dConfig::default(), 3)?;
/// let x = Array2::<f32>::zeros((4, 77));
/// assert_eq!(model.encode_batch(x.view())?.dim(), (4, 32));
/// assert_eq!(model.reconstruct_batch(x.view())?.dim(), (4, 77));
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug)]
pub struct Conv1d {
    config: Conv1dConfig,
    n_features: usize,
    padded: usize,
    params: Parameters,
    encoder_convs: Vec<ConvLayer>,
    encoder_dense: Dense,
    decoder_dense: Dense,
    decoder_convs: Vec<ConvLayer>,
    /// Parameters and per-worker buffers of the hand-written training step.
    step: Box<Mutex<ConvStep>>,
}

impl Conv1d {
    /// Builds the model for `n_features` inputs; weights are drawn from a
    /// generator seeded with `seed`.
    pub fn new(n_features: usize, config: Conv1dConfig, seed: u64) -> Result<Self> {
        config.validate(n_features)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut params = Parameters::default();
        let k = config.kernel_size;
        let ch = &config.channels;
        let levels = ch.len();
        let padded = config.padded_len(n_features);
        let flat = (padded >> levels) * ch[levels - 1];

        let mut encoder_convs = Vec::with_capacity(levels);
        let mut c_in = 1;
        for (i, &c_out) in ch.iter().enumerate() {
            encoder_convs.push(ConvLayer::new(
                &mut params,
                &format!("encoder.conv.{i}"),
                k,
                c_in,
                c_out,
                Activation::Relu,
                &mut rng,
            )?);
            c_in = c_out;
        }
        let encoder_dense = Dense::new(
            &mut params,
            "encoder.dense",
            flat,
            config.latent_dim,
            config.latent_activation,
            &mut rng,
        )?;
        let decoder_dense = Dense::new(
            &mut params,
            "decoder.dense",
            config.latent_dim,
            flat,
            Activation::Relu,
            &mut rng,
        )?;
        let mut decoder_convs = Vec::with_capacity(levels);
        for j in 0..levels {
            let last = j + 1 == levels;
            let (c_out, act) = if last {
                (1, config.output_activation)
            } else {
                (ch[levels - 1 - j], Activation::Relu)
            };
            decoder_convs.push(ConvLayer::new(
                &mut params,
                &format!("decoder.conv.{j}"),
                k,
                c_in,
                c_out,
                act,
                &mut rng,
            )?);
            c_in = c_out;
        }
        Ok(Self {
            config,
            n_features,
            padded,
            params,
            encoder_convs,
            encoder_dense,
            decoder_dense,
            decoder_convs,
            step: Box::default(),
        })
    }

    /// The architecture as the hand-written training step sees it.
    pub(crate) fn shape(&self) -> ConvShape {
        ConvShape {
            n_features: self.n_features,
            padded: self.padded,
            k: self.config.kernel_size,
            channels: self.config.channels.clone(),
            latent_act: self.config.latent_activation,
            output_act: self.config.output_activation,
        }
    }

    /// Number of positions after zero-padding (80 for 77 features).
    pub fn padded_len(&self) -> usize {
        self.padded
    }

    fn encode_impl(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        check_width(x, self.n_features)?;
        // (rows, padded) is `rows` sequences of `padded` positions x 1 channel.
        let mut h = if self.padded > self.n_features {
            x.pad_with_zeros(1, 0, self.padded - self.n_features)?
        } else {
            x.clone()
        };
        let mut len = self.padded;
        let levels = self.encoder_convs.len();
        for (i, conv) in self.encoder_convs.iter().enumerate() {
            let z = conv.product(&h, len, false, train)?;
            // The last level's output is flattened for the dense layer.
            h = ops::bias_act_pool(&z, &conv.bias(train), len, conv.act(), i + 1 == levels)?;
            len /= 2;
        }
        Ok(if train {
            self.encoder_dense.forward(&h, None)?
        } else {
            self.encoder_dense.infer(&h)?
        })
    }

    fn decode_impl(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        check_width(z, self.config.latent_dim)?;
        let mut h = if train {
            self.decoder_dense.forward(z, None)?
        } else {
            self.decoder_dense.infer(z)?
        };
        let levels = self.decoder_convs.len();
        let mut len = self.padded >> levels;
        for (j, conv) in self.decoder_convs.iter().enumerate() {
            let zc = conv.product(&h, len, true, train)?;
            len *= 2;
            let b = conv.bias(train);
            h = if j + 1 == levels {
                ops::bias_act_crop(&zc, &b, self.padded, self.n_features, conv.act())?
            } else if train {
                ops::bias_act(&zc, &b, conv.act())?
            } else {
                ops::bias_act_inplace(zc, &b, conv.act())?
            };
        }
        Ok(h)
    }
}

impl Autoencoder for Conv1d {
    fn kind(&self) -> ModelKind {
        ModelKind::Conv1d
    }

    fn config(&self) -> ModelConfig {
        ModelConfig::Conv1d(self.config.clone())
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

    /// 32 rows: the convolutions' activations are about 15 KB a row, so
    /// small chunks stay in cache.
    fn inference_rows(&self) -> usize {
        32
    }

    fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.encode_impl(&x.detach(), false)
    }

    fn decode(&self, z: &Tensor) -> Result<Tensor> {
        self.decode_impl(&z.detach(), false)
    }

    /// The hand-written training step (see the module `conv_train`): the
    /// same loss and gradients as candle's autograd on
    /// [`forward_train`](Autoencoder::forward_train), without its
    /// allocations. On a rayon pool of several threads (the trainer's, of
    /// [`TrainerConfig::threads`](crate::TrainerConfig::threads)) the
    /// minibatch's 32-row slices are shared out among the threads in fixed
    /// contiguous ranges and their gradients summed in a fixed order: the
    /// result is the same from run to run for a given thread count, and
    /// within rounding of the one-thread result.
    fn loss_and_gradients(
        &self,
        x: &[f32],
        rows: usize,
        _rng: &mut StdRng,
        grads: &mut [Vec<f32>],
    ) -> Result<Option<f32>> {
        if x.len() != rows * self.n_features {
            return Err(AutoencoderError::FeatureMismatch {
                expected: self.n_features,
                got: x.len() / rows.max(1),
            });
        }
        let entries = &self.params.entries;
        if grads.len() != entries.len() {
            return Err(crate::error::invalid(
                "gradient buffers",
                grads.len(),
                "need one per parameter tensor",
            ));
        }
        let mut step = self.step.lock().unwrap_or_else(PoisonError::into_inner);
        step.load_params(entries.len(), |i, buf| {
            ops::with_f32(entries[i].var.as_tensor(), |s| {
                buf.clear();
                buf.extend_from_slice(s);
            })?;
            Ok(())
        })?;
        Ok(Some(step.loss_and_gradients(
            &self.shape(),
            x,
            rows,
            grads,
        )?))
    }

    fn forward_train(&self, x: &Tensor, _rng: &mut StdRng) -> Result<Tensor> {
        let z = self.encode_impl(x, true)?;
        self.decode_impl(&z, true)
    }
}
