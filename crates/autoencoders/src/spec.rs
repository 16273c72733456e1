//! The one definition of every architecture: a small layer specification
//! that each configuration expands into, and from which both backends run
//! (`engine.rs` on the `dense` crate, `candle_backend.rs` on `candle-nn`).
//!
//! Activations between layers are row-major matrices of one row per
//! sample; sequences are stored channels-last (position after position,
//! the channels of a position together), so a flatten is free. The
//! parameters live in one flat buffer, tensor after tensor in the order the
//! layers register them, each in PyTorch's layout (dense `[out, in]`,
//! convolution `[out, in, k]`).

use dense::Activation;
use rand::rngs::{SmallRng, StdRng};
use rand::{Rng, RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::config::{Conv1dConfig, DenseConfig, ModelConfig};

/// One layer. Widths are values per row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Layer {
    /// Column `column` of rows of `n_in` values indexes `table`
    /// (`[cardinality, dim]`); the output is the other columns followed by
    /// the category's vector.
    Embedding {
        n_in: usize,
        column: usize,
        dim: usize,
        table: usize,
    },
    /// Training only: Gaussian noise of standard deviation `std` on the
    /// first `cols` of `width` values.
    Noise { std: f32, width: usize, cols: usize },
    /// Zero-padding (`to > from`) or cropping (`to < from`) of each row.
    Resize { from: usize, to: usize },
    /// `act(x W^T + b)`.
    Dense {
        n_in: usize,
        n_out: usize,
        act: Activation,
        weight: usize,
        bias: usize,
    },
    /// A "same" convolution, then `act`.
    Conv1d {
        conv: dense::Conv1d,
        act: Activation,
        weight: usize,
        bias: usize,
    },
    /// Max-pooling by 2 over `len` positions of `ch` channels.
    MaxPool2 { len: usize, ch: usize },
    /// Nearest-neighbour upsampling by 2 of `len` positions of `ch` channels.
    Upsample2 { len: usize, ch: usize },
    /// Training only: dropout with probability `p` over `width` values.
    Dropout { p: f32, width: usize },
}

impl Layer {
    /// Values per row going in.
    pub(crate) fn in_width(&self) -> usize {
        match *self {
            Layer::Embedding { n_in, .. } | Layer::Dense { n_in, .. } => n_in,
            Layer::Noise { width, .. } | Layer::Dropout { width, .. } => width,
            Layer::Resize { from, .. } => from,
            Layer::Conv1d { conv, .. } => conv.len * conv.c_in,
            Layer::MaxPool2 { len, ch } | Layer::Upsample2 { len, ch } => len * ch,
        }
    }

    /// Values per row coming out.
    pub(crate) fn out_width(&self) -> usize {
        match *self {
            Layer::Embedding { n_in, dim, .. } => n_in - 1 + dim,
            Layer::Dense { n_out, .. } => n_out,
            Layer::Noise { width, .. } | Layer::Dropout { width, .. } => width,
            Layer::Resize { to, .. } => to,
            Layer::Conv1d { conv, .. } => conv.len * conv.c_out,
            Layer::MaxPool2 { len, ch } => len / 2 * ch,
            Layer::Upsample2 { len, ch } => 2 * len * ch,
        }
    }
}

/// What a parameter tensor is, which fixes its shape, the order its
/// initial values are drawn in, whether weight decay applies and how it is
/// initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamKind {
    /// A dense layer's weight, `[out, in]` (drawn `[in, out]`).
    DenseWeight { n_in: usize, n_out: usize },
    /// A convolution's weight, `[out, in, k]` (drawn `[k * in, out]`, row
    /// `t * in + c`).
    ConvWeight { c_out: usize, c_in: usize, k: usize },
    /// A bias of a layer with `fan_in` inputs per output.
    Bias { n_out: usize, fan_in: usize },
    /// An embedding table `[cardinality, dim]`.
    Table { cardinality: usize, dim: usize },
}

/// One named parameter tensor and where it lies in the flat buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamInfo {
    /// The safetensors key.
    pub(crate) name: String,
    pub(crate) kind: ParamKind,
    pub(crate) offset: usize,
    pub(crate) len: usize,
}

impl ParamInfo {
    /// The shape in the current format.
    pub(crate) fn shape(&self) -> Vec<usize> {
        match self.kind {
            ParamKind::DenseWeight { n_in, n_out } => vec![n_out, n_in],
            ParamKind::ConvWeight { c_out, c_in, k } => vec![c_out, c_in, k],
            ParamKind::Bias { n_out, .. } => vec![n_out],
            ParamKind::Table { cardinality, dim } => vec![cardinality, dim],
        }
    }

    /// The flat range in the parameter buffer.
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }

    /// Whether weight decay applies (weights and tables, not biases).
    pub(crate) fn decays(&self) -> bool {
        !matches!(self.kind, ParamKind::Bias { .. })
    }

    /// Writes values drawn in the initialiser's order (dense `[in, out]`,
    /// convolutions `[k * in, out]`) into `out` in the stored layout.
    pub(crate) fn convert_v1(&self, v1: &[f32], out: &mut [f32]) {
        match self.kind {
            ParamKind::DenseWeight { n_in, n_out } => {
                for (i, row) in v1.chunks_exact(n_out).enumerate() {
                    for (o, &v) in row.iter().enumerate() {
                        out[o * n_in + i] = v;
                    }
                }
            }
            ParamKind::ConvWeight { c_out, c_in, k } => {
                for (r, row) in v1.chunks_exact(c_out).enumerate() {
                    let (t, c) = (r / c_in, r % c_in);
                    for (o, &v) in row.iter().enumerate() {
                        out[(o * c_in + c) * k + t] = v;
                    }
                }
            }
            _ => out.copy_from_slice(v1),
        }
    }

    /// Draws the initial values: PyTorch's default uniform
    /// `+-1/sqrt(fan_in)` for weights and biases (drawn input-major, so
    /// that a seed gives the weights it always gave), N(0, 1)
    /// for an embedding table.
    fn init(&self, rng: &mut StdRng, out: &mut [f32]) {
        let uniform = |rng: &mut StdRng, fan_in: usize| {
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            (0..self.len)
                .map(|_| rng.random_range(-bound..bound))
                .collect::<Vec<f32>>()
        };
        match self.kind {
            ParamKind::DenseWeight { n_in, .. } => self.convert_v1(&uniform(rng, n_in), out),
            ParamKind::ConvWeight { c_in, k, .. } => self.convert_v1(&uniform(rng, c_in * k), out),
            ParamKind::Bias { fan_in, .. } => out.copy_from_slice(&uniform(rng, fan_in)),
            ParamKind::Table { .. } => {
                for v in out.iter_mut() {
                    *v = StandardNormal.sample(rng);
                }
            }
        }
    }
}

/// A model's layers and parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub(crate) layers: Vec<Layer>,
    /// `layers[..encoder_len]` is the encoder, the rest the decoder.
    pub(crate) encoder_len: usize,
    pub(crate) params: Vec<ParamInfo>,
    pub(crate) n_features: usize,
    /// An embedded categorical input column and its cardinality: an input
    /// only, not reconstructed.
    pub(crate) categorical: Option<(usize, usize)>,
    /// Rows per slice of a minibatch in the `dense` engine's training step
    /// (the slices share out among threads and keep activations in cache).
    pub(crate) slice_rows: usize,
    /// Rows per chunk of the evaluation passes.
    pub(crate) eval_rows: usize,
}

/// Registers layers and parameters in order.
struct Builder {
    layers: Vec<Layer>,
    params: Vec<ParamInfo>,
    offset: usize,
}

impl Builder {
    fn param(&mut self, name: String, kind: ParamKind) -> usize {
        let len = match kind {
            ParamKind::DenseWeight { n_in, n_out } => n_in.saturating_mul(n_out),
            ParamKind::ConvWeight { c_out, c_in, k } => {
                c_out.saturating_mul(c_in).saturating_mul(k)
            }
            ParamKind::Bias { n_out, .. } => n_out,
            ParamKind::Table { cardinality, dim } => cardinality.saturating_mul(dim),
        };
        self.params.push(ParamInfo {
            name,
            kind,
            offset: self.offset,
            len,
        });
        self.offset = self.offset.saturating_add(len);
        self.params.len() - 1
    }

    fn dense(&mut self, prefix: &str, n_in: usize, n_out: usize, act: Activation) {
        let weight = self.param(
            format!("{prefix}.weight"),
            ParamKind::DenseWeight { n_in, n_out },
        );
        let bias = self.param(
            format!("{prefix}.bias"),
            ParamKind::Bias {
                n_out,
                fan_in: n_in,
            },
        );
        self.layers.push(Layer::Dense {
            n_in,
            n_out,
            act,
            weight,
            bias,
        });
    }

    fn conv(&mut self, prefix: &str, conv: dense::Conv1d, act: Activation) {
        let (c_out, c_in, k) = (conv.c_out, conv.c_in, conv.k);
        let weight = self.param(
            format!("{prefix}.weight"),
            ParamKind::ConvWeight { c_out, c_in, k },
        );
        let bias = self.param(
            format!("{prefix}.bias"),
            ParamKind::Bias {
                n_out: c_out,
                fan_in: c_in * k,
            },
        );
        self.layers.push(Layer::Conv1d {
            conv,
            act,
            weight,
            bias,
        });
    }

    /// Dense layers `dims[0] -> ... -> dims[n]` named `{prefix}.{i}`, with
    /// dropout after each but the last.
    fn stack(&mut self, prefix: &str, dims: &[usize], acts: (Activation, Activation), p: f32) {
        let n = dims.len() - 1;
        for i in 0..n {
            let last = i + 1 == n;
            let act = if last { acts.1 } else { acts.0 };
            self.dense(&format!("{prefix}.{i}"), dims[i], dims[i + 1], act);
            if !last && p > 0.0 {
                self.layers.push(Layer::Dropout {
                    p,
                    width: dims[i + 1],
                });
            }
        }
    }
}

impl Spec {
    /// The layers of `config` for `n_features` inputs (the configuration
    /// is assumed valid; sizes saturate rather than overflow).
    pub(crate) fn new(config: &ModelConfig, n_features: usize) -> Self {
        let mut b = Builder {
            layers: Vec::new(),
            params: Vec::new(),
            offset: 0,
        };
        let (encoder_len, categorical, slice_rows, eval_rows) = match config {
            ModelConfig::FeedForward(c) | ModelConfig::Deep(c) => {
                let (encoder_len, categorical) = dense_layers(&mut b, c, n_features);
                (encoder_len, categorical, 128, 512)
            }
            ModelConfig::Conv1d(c) => (conv_layers(&mut b, c, n_features), None, 32, 64),
        };
        Self {
            layers: b.layers,
            encoder_len,
            params: b.params,
            n_features,
            categorical,
            slice_rows,
            eval_rows,
        }
    }

    /// Total number of scalar parameters.
    pub(crate) fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .map(|p| p.len)
            .fold(0, usize::saturating_add)
    }

    /// Width of the latent code.
    pub(crate) fn latent_dim(&self) -> usize {
        self.layers[self.encoder_len - 1].out_width()
    }

    /// Number of reconstructed columns.
    pub(crate) fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, Layer::out_width)
    }

    /// Initial parameters drawn from a generator seeded with `seed`.
    pub(crate) fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut values = vec![0.0; self.parameter_count()];
        for p in &self.params {
            p.init(&mut rng, &mut values[p.range()]);
        }
        values
    }

    /// The dropout masks and noise of one training minibatch of `rows`
    /// rows: the one source of randomness of a training step, which both
    /// backends read. See [`Spec::draw_masks_into`].
    #[cfg(test)]
    pub(crate) fn draw_masks(&self, rows: usize, rng: &mut StdRng) -> Masks {
        let mut masks = Masks::default();
        self.draw_masks_into(rows, rng, &mut masks);
        masks
    }

    /// Draws a minibatch's masks into `masks`, reusing its buffers: a fast
    /// generator (`SmallRng`) is seeded from `rng` (one draw of it per
    /// minibatch), then fills the layers in order. A dropout unit is
    /// dropped when a 16-bit uniform (four from each 64-bit draw) falls
    /// below `p` rounded to a multiple of 2^-16.
    pub(crate) fn draw_masks_into(&self, rows: usize, rng: &mut StdRng, masks: &mut Masks) {
        masks.layers.resize_with(self.layers.len(), || None);
        let mut fast = SmallRng::from_rng(rng);
        for (layer, slot) in self.layers.iter().zip(&mut masks.layers) {
            match *layer {
                Layer::Noise { std, cols, .. } => {
                    let buf = slot.get_or_insert_with(Vec::new);
                    buf.clear();
                    buf.extend(
                        (0..rows * cols)
                            .map(|_| std * Distribution::<f32>::sample(&StandardNormal, &mut fast)),
                    );
                }
                Layer::Dropout { p, width } => {
                    let keep = 1.0 / (1.0 - p);
                    let threshold = (f64::from(p) * 65_536.0).round() as u64;
                    let buf = slot.get_or_insert_with(Vec::new);
                    buf.clear();
                    buf.resize(rows * width, 0.0);
                    for quad in buf.chunks_mut(4) {
                        let bits = fast.next_u64();
                        for (j, v) in quad.iter_mut().enumerate() {
                            let u = (bits >> (16 * j)) & 0xffff;
                            *v = if u < threshold { 0.0 } else { keep };
                        }
                    }
                }
                _ => *slot = None,
            }
        }
    }
}

/// The random draws of one training minibatch: per layer, the noise
/// (`rows x cols`) of a noise layer or the mask (`rows x width`, values 0
/// or `1 / (1 - p)`) of a dropout layer; `None` for other layers.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Masks {
    pub(crate) layers: Vec<Option<Vec<f32>>>,
}

/// Embedding, noise, encoder and decoder of a dense model; returns the
/// encoder's length and the categorical column.
fn dense_layers(
    b: &mut Builder,
    c: &DenseConfig,
    n_features: usize,
) -> (usize, Option<(usize, usize)>) {
    let (width, n_cont, categorical) = match &c.embedding {
        Some(e) => {
            let table = b.param(
                "embedding.weight".into(),
                ParamKind::Table {
                    cardinality: e.cardinality,
                    dim: e.dim,
                },
            );
            b.layers.push(Layer::Embedding {
                n_in: n_features,
                column: e.column,
                dim: e.dim,
                table,
            });
            let n_cont = n_features.saturating_sub(1);
            (n_cont + e.dim, n_cont, Some((e.column, e.cardinality)))
        }
        None => (n_features, n_features, None),
    };
    if c.input_noise_std > 0.0 {
        b.layers.push(Layer::Noise {
            std: c.input_noise_std,
            width,
            cols: n_cont,
        });
    }
    let mut dims = vec![width];
    dims.extend(&c.hidden);
    dims.push(c.latent_dim);
    b.stack(
        "encoder",
        &dims,
        (c.activation, c.latent_activation),
        c.dropout,
    );
    let encoder_len = b.layers.len();
    dims.reverse();
    let last = dims.len() - 1;
    dims[last] = n_cont;
    b.stack(
        "decoder",
        &dims,
        (c.activation, c.output_activation),
        c.dropout,
    );
    (encoder_len, categorical)
}

/// The convolutional model (see [`Conv1dConfig`]); returns the encoder's
/// length.
fn conv_layers(b: &mut Builder, c: &Conv1dConfig, n_features: usize) -> usize {
    let (k, ch) = (c.kernel_size, &c.channels);
    let levels = ch.len();
    let padded = c.padded_len(n_features);
    let last = ch.last().copied().unwrap_or(1);
    let flat = (padded >> levels).saturating_mul(last);
    if padded != n_features {
        b.layers.push(Layer::Resize {
            from: n_features,
            to: padded,
        });
    }
    let mut c_in = 1;
    for (i, &c_out) in ch.iter().enumerate() {
        let len = padded >> i;
        let conv = dense::Conv1d {
            len,
            c_in,
            c_out,
            k,
        };
        b.conv(&format!("encoder.conv.{i}"), conv, Activation::Relu);
        b.layers.push(Layer::MaxPool2 { len, ch: c_out });
        c_in = c_out;
    }
    b.dense("encoder.dense", flat, c.latent_dim, c.latent_activation);
    let encoder_len = b.layers.len();
    b.dense("decoder.dense", c.latent_dim, flat, Activation::Relu);
    for j in 0..levels {
        let len = padded >> (levels - j);
        b.layers.push(Layer::Upsample2 { len, ch: c_in });
        let (c_out, act) = if j + 1 == levels {
            (1, c.output_activation)
        } else {
            (ch[levels - 1 - j], Activation::Relu)
        };
        let conv = dense::Conv1d {
            len: 2 * len,
            c_in,
            c_out,
            k,
        };
        b.conv(&format!("decoder.conv.{j}"), conv, act);
        c_in = c_out;
    }
    if padded != n_features {
        b.layers.push(Layer::Resize {
            from: padded,
            to: n_features,
        });
    }
    encoder_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EmbeddingConfig, ModelKind};

    /// Dropout masks drop about `p` of the units and scale the rest by
    /// `1 / (1 - p)`, noise has the configured spread, the same seed gives
    /// the same draws, and reused buffers hold what fresh ones would.
    #[test]
    fn masks_follow_their_distributions_and_reuse_buffers() {
        let config = ModelConfig::Deep(DenseConfig {
            dropout: 0.25,
            input_noise_std: 0.5,
            ..DenseConfig::deep()
        });
        let spec = Spec::new(&config, 77);
        let draw = |rows: usize, seed: u64| spec.draw_masks(rows, &mut StdRng::seed_from_u64(seed));
        let masks = draw(1000, 1);
        assert_eq!(masks, draw(1000, 1));
        assert_ne!(masks, draw(1000, 2));
        let (mut dropouts, mut noises) = (0, 0);
        for (layer, mask) in spec.layers.iter().zip(&masks.layers) {
            match (layer, mask) {
                (Layer::Dropout { width, .. }, Some(m)) => {
                    dropouts += 1;
                    assert_eq!(m.len(), 1000 * width);
                    assert!(m.iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
                    let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64;
                    let share = dropped / m.len() as f64;
                    assert!((share - 0.25).abs() < 0.01, "{share}");
                }
                (Layer::Noise { cols, .. }, Some(m)) => {
                    noises += 1;
                    assert_eq!(m.len(), 1000 * cols);
                    let var = m.iter().map(|&v| f64::from(v * v)).sum::<f64>() / m.len() as f64;
                    assert!((var.sqrt() - 0.5).abs() < 0.02, "{}", var.sqrt());
                }
                (_, None) => {}
                (layer, Some(_)) => panic!("a mask for {layer:?}"),
            }
        }
        assert_eq!((dropouts, noises), (6, 1));
        // Reusing the buffers of a larger draw gives the fresh draw.
        let mut reused = draw(1000, 3);
        spec.draw_masks_into(7, &mut StdRng::seed_from_u64(4), &mut reused);
        assert_eq!(reused, draw(7, 4));
    }

    #[test]
    fn layer_widths_chain_and_parameters_tile_the_buffer() {
        let deep = DenseConfig {
            input_noise_std: 0.1,
            embedding: Some(EmbeddingConfig {
                column: 2,
                cardinality: 9,
                dim: 3,
            }),
            ..DenseConfig::deep()
        };
        let mut configs: Vec<ModelConfig> = ModelKind::ALL
            .iter()
            .map(|&k| ModelConfig::default_for(k))
            .collect();
        configs.push(ModelConfig::Deep(deep));
        for config in &configs {
            for n in [5, 77, 80] {
                let spec = Spec::new(config, n);
                for w in spec.layers.windows(2) {
                    assert_eq!(w[0].out_width(), w[1].in_width(), "{config:?}");
                }
                let skip = usize::from(spec.categorical.is_some());
                assert_eq!(spec.layers[0].in_width(), n);
                assert_eq!(spec.output_dim(), n - skip);
                assert_eq!(spec.latent_dim(), 32);
                let mut offset = 0;
                for p in &spec.params {
                    assert_eq!(p.offset, offset);
                    assert_eq!(p.len, p.shape().iter().product::<usize>());
                    offset += p.len;
                }
                assert_eq!(spec.init(3).len(), offset);
            }
        }
    }

    #[test]
    fn initialiser_draws_are_transposed_into_pytorch_layouts() {
        let dense = ParamInfo {
            name: "w".into(),
            kind: ParamKind::DenseWeight { n_in: 2, n_out: 3 },
            offset: 0,
            len: 6,
        };
        let mut out = [0.0; 6];
        // [in, out] = [[0, 1, 2], [3, 4, 5]] becomes [out, in].
        dense.convert_v1(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &mut out);
        assert_eq!(out, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let conv = ParamInfo {
            name: "c".into(),
            kind: ParamKind::ConvWeight {
                c_out: 1,
                c_in: 2,
                k: 2,
            },
            offset: 0,
            len: 4,
        };
        // Rows t * in + c: (t0 c0), (t0 c1), (t1 c0), (t1 c1).
        let mut out = [0.0; 4];
        conv.convert_v1(&[1.0, 2.0, 3.0, 4.0], &mut out);
        // [out, in, k]: c0 (t0, t1), c1 (t0, t1).
        assert_eq!(out, [1.0, 3.0, 2.0, 4.0]);
    }
}
