//! Model configurations: sizes, activations, dropout, noise and embedding.
//!
//! Every configuration has documented defaults (`Default`) and a
//! `validate(n_features)` that rejects values outside their range with an
//! error naming the value.

use serde::{Deserialize, Serialize};

use crate::error::{AutoencoderError, Result, invalid};

pub use dense::Activation;

/// Which of the three architectures a model is. Its short names (`ff`,
/// `conv`, `deep`) name it in reports and file names; [`str::parse`] also
/// takes the long ones (`feedforward`, `conv1d`), in any case.
///
/// ```
/// use autoencoders::ModelKind;
/// assert_eq!(ModelKind::Conv1d.as_str(), "conv");
/// assert_eq!("FeedForward".parse::<ModelKind>()?, ModelKind::FeedForward);
/// assert_eq!(" deep ".parse::<ModelKind>()?.to_string(), "deep");
/// assert!("lstm".parse::<ModelKind>().unwrap_err().to_string().contains("lstm"));
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A feedforward model ([`DenseConfig::feedforward`]).
    #[serde(rename = "feedforward")]
    FeedForward,
    /// A convolutional model ([`Conv1dConfig`]).
    Conv1d,
    /// A deep model ([`DenseConfig::deep`]).
    Deep,
}

impl ModelKind {
    /// Every kind, in the order of the reference system.
    pub const ALL: [ModelKind; 3] = [ModelKind::FeedForward, ModelKind::Conv1d, ModelKind::Deep];

    /// The short name: `ff`, `conv` or `deep`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::FeedForward => "ff",
            ModelKind::Conv1d => "conv",
            ModelKind::Deep => "deep",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = AutoencoderError;

    fn from_str(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "ff" | "feedforward" => Ok(ModelKind::FeedForward),
            "conv" | "conv1d" => Ok(ModelKind::Conv1d),
            "deep" => Ok(ModelKind::Deep),
            _ => Err(invalid(
                "model kind",
                name,
                "expected ff, conv or deep (or feedforward, conv1d)",
            )),
        }
    }
}

fn check_sizes(name: &'static str, sizes: &[usize]) -> Result<()> {
    if sizes.contains(&0) {
        return Err(invalid(name, sizes, "every layer needs at least one unit"));
    }
    Ok(())
}

fn check_dropout(dropout: f32) -> Result<()> {
    if !(0.0..1.0).contains(&dropout) {
        return Err(invalid("dropout", dropout, "must lie in [0, 1)"));
    }
    Ok(())
}

fn check_features(n_features: usize, least: usize) -> Result<()> {
    if n_features < least {
        return Err(invalid(
            "n_features",
            n_features,
            "the model needs more input features",
        ));
    }
    Ok(())
}

/// The one-dimensional convolutional autoencoder.
///
/// The input row is one channel of `n_features` positions, zero-padded on the
/// right to a multiple of `2^levels` (77 features become 80 positions). Each
/// encoder level is a "same" convolution, ReLU and max-pool 2; the encoder
/// ends with flatten and a dense layer to the latent code. The decoder is a
/// dense layer back to `channels.last() x positions / 2^levels`, then per
/// level an upsample 2 and a "same" convolution, with the encoder's channel
/// counts in reverse order except that the last one has 1 channel, and a
/// crop back to `n_features`.
/// With the defaults this is the reference architecture: Conv 32, pool,
/// Conv 16, pool, dense 32 | dense, upsample, Conv 16, upsample, Conv 1.
///
/// ```
/// let cfg = autoencoders::Conv1dConfig::default();
/// assert_eq!(cfg.channels, vec![32, 16]);
/// assert_eq!(cfg.padded_len(77), 80);
/// assert_eq!(cfg.padded_len(76), 76);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conv1dConfig {
    /// Output channels of the encoder's convolutions, one per level.
    /// Default `[32, 16]`.
    pub channels: Vec<usize>,
    /// Kernel width of every convolution; odd, so that "same" padding is
    /// symmetric. Default 3.
    pub kernel_size: usize,
    /// Width of the latent code. Default 32.
    pub latent_dim: usize,
    /// Activation of the latent layer. Default linear.
    pub latent_activation: Activation,
    /// Activation of the output. Default linear.
    pub output_activation: Activation,
}

impl Default for Conv1dConfig {
    fn default() -> Self {
        Self {
            channels: vec![32, 16],
            kernel_size: 3,
            latent_dim: 32,
            latent_activation: Activation::Linear,
            output_activation: Activation::Linear,
        }
    }
}

impl Conv1dConfig {
    /// Checks every value, and that `n_features` is at least 1.
    pub fn validate(&self, n_features: usize) -> Result<()> {
        check_features(n_features, 1)?;
        if self.channels.is_empty() || self.channels.len() > 8 {
            return Err(invalid(
                "channels",
                &self.channels,
                "give between 1 and 8 convolution levels",
            ));
        }
        check_sizes("channels", &self.channels)?;
        check_sizes("latent_dim", &[self.latent_dim])?;
        if self.kernel_size.is_multiple_of(2) {
            return Err(invalid(
                "kernel_size",
                self.kernel_size,
                "must be odd so that same padding is symmetric",
            ));
        }
        Ok(())
    }

    /// The number of positions after right zero-padding: the smallest
    /// multiple of `2^levels` that holds `n_features`.
    pub fn padded_len(&self, n_features: usize) -> usize {
        let unit = 1usize << self.channels.len();
        n_features.div_ceil(unit).max(1) * unit
    }
}

/// A learned embedding of one categorical input column (for flows, the
/// destination port), concatenated with the continuous columns.
///
/// The column must hold integer values in `0..cardinality`, unscaled. The
/// model reconstructs the continuous columns only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingConfig {
    /// Index of the categorical column in the input. Default 0.
    pub column: usize,
    /// Number of categories. Default 65,536 (every TCP/UDP port).
    pub cardinality: usize,
    /// Width of each category's vector. Default 16.
    pub dim: usize,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            column: 0,
            cardinality: 65_536,
            dim: 16,
        }
    }
}

/// A dense autoencoder: optional learned embedding of one categorical
/// column, optional Gaussian input noise (a denoising autoencoder), the
/// encoder `inputs -> hidden... -> latent` and the mirrored decoder
/// `latent -> reversed hidden... -> outputs`, with dropout after every
/// hidden layer while training. Two presets: [`DenseConfig::feedforward`]
/// (the default) and [`DenseConfig::deep`].
///
/// With an embedding of column `c`, the encoder's input is the other
/// `n_features - 1` columns followed by the `dim`-wide vector of the
/// category in column `c`, and the decoder reconstructs those
/// `n_features - 1` continuous columns only.
///
/// ```
/// use autoencoders::DenseConfig;
/// let ff = DenseConfig::feedforward();
/// assert_eq!((ff.hidden.clone(), ff.latent_dim, ff.dropout), (vec![128, 64], 32, 0.0));
/// let deep = DenseConfig::deep();
/// assert_eq!((deep.hidden.clone(), deep.dropout), (vec![256, 128, 64], 0.1));
/// assert!(deep.embedding.is_none());
/// deep.validate(77).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DenseConfig {
    /// Hidden layer widths of the encoder, outermost first.
    pub hidden: Vec<usize>,
    /// Width of the latent code. Default 32.
    pub latent_dim: usize,
    /// Activation of the hidden layers. Default ReLU.
    pub activation: Activation,
    /// Activation of the latent layer. Default linear (the reference system
    /// used ReLU, which can leave latent units dead).
    pub latent_activation: Activation,
    /// Activation of the output layer. Default linear; sigmoid suits inputs
    /// scaled into `[0, 1]`.
    pub output_activation: Activation,
    /// Dropout probability after every hidden layer while training, in
    /// `[0, 1)`.
    pub dropout: f32,
    /// Standard deviation of the Gaussian noise added to the continuous
    /// inputs while training (denoising); 0 turns it off. Default 0.
    pub input_noise_std: f32,
    /// Optional embedding of one categorical column. Default none.
    pub embedding: Option<EmbeddingConfig>,
}

impl Default for DenseConfig {
    /// [`DenseConfig::feedforward`].
    fn default() -> Self {
        Self::feedforward()
    }
}

impl DenseConfig {
    /// The feedforward reference model: `n -> 128 -> 64 -> 32` and the
    /// mirror, no dropout.
    pub fn feedforward() -> Self {
        Self {
            hidden: vec![128, 64],
            latent_dim: 32,
            activation: Activation::Relu,
            latent_activation: Activation::Linear,
            output_activation: Activation::Linear,
            dropout: 0.0,
            input_noise_std: 0.0,
            embedding: None,
        }
    }

    /// The deep reference model: `n -> 256 -> 128 -> 64 -> 32` and the
    /// mirror, dropout 0.1.
    pub fn deep() -> Self {
        Self {
            hidden: vec![256, 128, 64],
            dropout: 0.1,
            ..Self::feedforward()
        }
    }

    /// Checks every value. With an embedding, `n_features` must hold the
    /// categorical column and at least one continuous column.
    pub fn validate(&self, n_features: usize) -> Result<()> {
        check_features(n_features, 1)?;
        check_sizes("hidden", &self.hidden)?;
        check_sizes("latent_dim", &[self.latent_dim])?;
        check_dropout(self.dropout)?;
        if !(self.input_noise_std.is_finite() && self.input_noise_std >= 0.0) {
            return Err(invalid(
                "input_noise_std",
                self.input_noise_std,
                "must be finite and non-negative",
            ));
        }
        if let Some(emb) = &self.embedding {
            check_features(n_features, 2)?;
            if emb.column >= n_features {
                return Err(invalid(
                    "embedding.column",
                    emb.column,
                    "must be a column of the input",
                ));
            }
            if emb.cardinality == 0 || emb.cardinality > 1 << 24 {
                return Err(invalid(
                    "embedding.cardinality",
                    emb.cardinality,
                    "must lie in 1..=16777216 (integers f32 holds exactly)",
                ));
            }
            check_sizes("embedding.dim", &[emb.dim])?;
        }
        Ok(())
    }
}

/// Reads a deep model's configuration: fields it lacks take the
/// [`DenseConfig::deep`] preset's values (the plain `Deserialize` of
/// [`DenseConfig`] takes the feedforward preset's).
fn deep_with_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DenseConfig, D::Error> {
    use serde::de::Error;
    let given = serde_json::Value::deserialize(d)?;
    let mut merged = serde_json::to_value(DenseConfig::deep()).map_err(D::Error::custom)?;
    if let (Some(base), serde_json::Value::Object(given)) = (merged.as_object_mut(), given) {
        base.extend(given);
    }
    serde_json::from_value(merged).map_err(D::Error::custom)
}

/// The configuration of any of the three models, tagged by kind in JSON.
///
/// ```
/// use autoencoders::{ModelConfig, ModelKind};
/// let cfg = ModelConfig::default_for(ModelKind::Conv1d);
/// let json = serde_json::to_string(&cfg).unwrap();
/// assert!(json.contains("\"kind\":\"conv1d\""));
/// assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), cfg);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// A feedforward model.
    #[serde(rename = "feedforward")]
    FeedForward(DenseConfig),
    /// A convolutional model.
    Conv1d(Conv1dConfig),
    /// A deep model.
    Deep(#[serde(deserialize_with = "deep_with_defaults")] DenseConfig),
}

impl ModelConfig {
    /// The default configuration of a kind.
    pub fn default_for(kind: ModelKind) -> Self {
        match kind {
            ModelKind::FeedForward => Self::FeedForward(DenseConfig::feedforward()),
            ModelKind::Conv1d => Self::Conv1d(Conv1dConfig::default()),
            ModelKind::Deep => Self::Deep(DenseConfig::deep()),
        }
    }

    /// The model kind.
    pub fn kind(&self) -> ModelKind {
        match self {
            Self::FeedForward(_) => ModelKind::FeedForward,
            Self::Conv1d(_) => ModelKind::Conv1d,
            Self::Deep(_) => ModelKind::Deep,
        }
    }

    /// Checks the configuration for an input of `n_features` columns.
    pub fn validate(&self, n_features: usize) -> Result<()> {
        match self {
            Self::FeedForward(c) | Self::Deep(c) => c.validate(n_features),
            Self::Conv1d(c) => c.validate(n_features),
        }
    }

    /// The number of scalar parameters the model would have for
    /// `n_features` inputs, computed from its layer specification without
    /// drawing any weight (saturating on overflow).
    ///
    /// ```
    /// use autoencoders::{Autoencoder, Model, ModelConfig, ModelKind};
    /// let cfg = ModelConfig::default_for(ModelKind::Conv1d);
    /// assert_eq!(cfg.parameter_count(77), Model::new(&cfg, 77, 0)?.parameter_count());
    /// let ff = ModelConfig::default_for(ModelKind::FeedForward);
    /// // 77*128+128 + 128*64+64 + 64*32+32, and the mirror with 77 outputs
    /// assert_eq!(ff.parameter_count(77), 2 * (77 * 128 + 128 * 64 + 64 * 32) + 128 + 64 + 32 + 64 + 128 + 77);
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    pub fn parameter_count(&self, n_features: usize) -> usize {
        crate::spec::Spec::new(self, n_features).parameter_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_values_by_name() {
        let cfg = DenseConfig {
            dropout: 1.0,
            ..Default::default()
        };
        let err = cfg.validate(10).unwrap_err().to_string();
        assert!(err.contains("dropout") && err.contains("1.0"), "{err}");

        let cfg = Conv1dConfig {
            kernel_size: 4,
            ..Default::default()
        };
        assert!(
            cfg.validate(10)
                .unwrap_err()
                .to_string()
                .contains("kernel_size")
        );

        let cfg = DenseConfig {
            embedding: Some(EmbeddingConfig {
                column: 5,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(
            cfg.validate(5)
                .unwrap_err()
                .to_string()
                .contains("embedding.column")
        );
        assert!(cfg.validate(6).is_ok());

        let cfg = DenseConfig {
            input_noise_std: f32::NAN,
            ..Default::default()
        };
        assert!(cfg.validate(6).is_err());
        assert!(DenseConfig::default().validate(0).is_err());
        let cfg = DenseConfig {
            hidden: vec![8, 0],
            ..Default::default()
        };
        assert!(cfg.validate(4).unwrap_err().to_string().contains("hidden"));
    }

    #[test]
    fn a_deep_configuration_missing_fields_takes_the_deep_preset() {
        let cfg: ModelConfig = serde_json::from_str(r#"{"kind":"deep","latent_dim":8}"#).unwrap();
        let expected = DenseConfig {
            latent_dim: 8,
            ..DenseConfig::deep()
        };
        assert_eq!(cfg, ModelConfig::Deep(expected));
        let cfg: ModelConfig = serde_json::from_str(r#"{"kind":"feedforward"}"#).unwrap();
        assert_eq!(cfg, ModelConfig::FeedForward(DenseConfig::feedforward()));
        assert!(serde_json::from_str::<ModelConfig>(r#"{"kind":"deep","dropout":"x"}"#).is_err());
    }

    #[test]
    fn padded_len_is_a_multiple_of_the_pooling() {
        let cfg = Conv1dConfig::default();
        for n in 1..300 {
            let p = cfg.padded_len(n);
            assert!(p >= n && p % 4 == 0 && p - n < 4, "{n} -> {p}");
        }
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for act in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Linear,
        ] {
            for &x in &[-1.3f32, -0.2, 0.4, 2.0] {
                let h = 1e-3;
                let fd = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                let d = act.derivative_from_output(act.apply(x));
                assert!((fd - d).abs() < 1e-2, "{act:?} at {x}: {fd} vs {d}");
            }
        }
    }
}
