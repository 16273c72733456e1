//! Saving and loading: weights as safetensors, everything else as JSON.
//!
//! A saved model is a directory holding two files, each written atomically
//! (a temporary file in the same directory, synced, then renamed):
//! - [`WEIGHTS_FILE`]: every parameter as a little-endian f32 tensor under
//!   its stable hierarchical name, in PyTorch's layout (see the crate
//!   documentation);
//! - [`CONFIG_FILE`]: the format version, the crate version, the model kind
//!   and configuration, the input width, the list of tensors with their
//!   shapes, and the [`ModelMetadata`] (feature names, schema, scaling
//!   bounds, detector threshold).

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, ModelKind};
use crate::detector::{ErrorScale, Threshold};
use crate::error::{AutoencoderError, Result};
use crate::model::{Autoencoder, Model};
use crate::spec::Spec;

/// Version of the on-disk format written by this build: 2, with dense
/// weights `[out, in]` and convolution weights `[out, in, k]` (PyTorch's
/// layouts). Files of version 1 (dense `[in, out]`, convolutions
/// `[k * in, out]`) still load.
pub const FORMAT_VERSION: u32 = 2;
/// Name of the JSON configuration file inside a saved model's directory.
pub const CONFIG_FILE: &str = "model.json";
/// Name of the safetensors weights file inside a saved model's directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// What travels with a model besides its weights, so that it can score new
/// data exactly as it was trained: the input columns, their scaling, and
/// the detector threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelMetadata {
    /// Input column names in order; empty, or one per input column.
    pub feature_names: Vec<String>,
    /// The flow schema of the input columns.
    pub schema: Option<flowdata::Schema>,
    /// The scaling fitted on the training rows.
    pub bounds: Option<flowdata::Bounds>,
    /// The calibrated reconstruction-error threshold.
    pub threshold: Option<Threshold>,
    /// The per-feature divisors the threshold's score was computed with;
    /// absent in files written before standardised scores (their
    /// threshold is on the plain mean squared error).
    pub error_scale: Option<ErrorScale>,
}

/// One tensor of the weights file, as listed in the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TensorEntry {
    name: String,
    shape: Vec<usize>,
}

/// The JSON configuration file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedConfig {
    format_version: u32,
    crate_version: String,
    kind: ModelKind,
    model: ModelConfig,
    n_features: usize,
    latent_dim: usize,
    parameter_count: usize,
    tensors: Vec<TensorEntry>,
    #[serde(flatten)]
    metadata: ModelMetadata,
}

/// Only the version field, read first so that a newer format gets a version
/// error rather than a parse error.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AutoencoderError + '_ {
    move |source| AutoencoderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` through a synced `tempfile::NamedTempFile` in
/// the same directory (a unique name, so that threads never collide) and a
/// rename, so that readers see either the old file or the whole new one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

fn check_metadata(path: &Path, n_features: usize, meta: &ModelMetadata) -> Result<()> {
    let inconsistent = |reason: String| AutoencoderError::Inconsistent {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(t) = &meta.threshold {
        // A reconstruction error is a mean of squares: never negative.
        if !(t.value.is_finite() && t.value >= 0.0) {
            return Err(inconsistent(format!(
                "the detector threshold is {}: it must be finite and non-negative",
                t.value
            )));
        }
    }
    let names = &meta.feature_names;
    if !names.is_empty() && names.len() != n_features {
        return Err(inconsistent(format!(
            "{} feature names for a model of {n_features} inputs",
            names.len()
        )));
    }
    if let Some(schema) = &meta.schema {
        let schema_names = schema.feature_names();
        if schema_names.len() != n_features {
            return Err(inconsistent(format!(
                "the schema has {} features, the model {n_features} inputs",
                schema_names.len()
            )));
        }
        if !names.is_empty() && schema_names != *names {
            return Err(inconsistent(
                "the schema's feature names differ from feature_names".into(),
            ));
        }
    }
    if let Some(bounds) = &meta.bounds {
        let bound_names = bounds.feature_names();
        if bound_names.len() != n_features {
            return Err(inconsistent(format!(
                "the bounds cover {} features, the model has {n_features} inputs",
                bound_names.len()
            )));
        }
        if !names.is_empty() && bound_names != *names {
            return Err(inconsistent(
                "the bounds' feature names differ from feature_names".into(),
            ));
        }
    }
    Ok(())
}

/// Saves any model (see [`Autoencoder::save`]).
pub(crate) fn save(model: &Model, dir: &Path, metadata: &ModelMetadata) -> Result<()> {
    let config_path = dir.join(CONFIG_FILE);
    check_metadata(&config_path, model.n_features(), metadata)?;
    if let Some(scale) = &metadata.error_scale {
        scale
            .check(model.output_dim())
            .map_err(|reason| AutoencoderError::Inconsistent {
                path: config_path.clone(),
                reason,
            })?;
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;

    let mut buffers = Vec::new();
    let mut entries = Vec::new();
    for p in &model.spec().params {
        let values = &model.params()[p.range()];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        buffers.push((p.name.clone(), p.shape(), bytes));
        entries.push(TensorEntry {
            name: p.name.clone(),
            shape: p.shape(),
        });
    }
    let weights_path = dir.join(WEIGHTS_FILE);
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| AutoencoderError::Safetensors {
                    path: weights_path.clone(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([
        ("format".to_string(), "autoencoders".to_string()),
        ("kind".to_string(), model.kind().to_string()),
    ]);
    let bytes = safetensors::tensor::serialize(views, Some(info)).map_err(|e| {
        AutoencoderError::Safetensors {
            path: weights_path.clone(),
            reason: e.to_string(),
        }
    })?;
    write_atomic(&weights_path, &bytes)?;

    let saved = SavedConfig {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        kind: model.kind(),
        model: model.config().clone(),
        n_features: model.n_features(),
        latent_dim: model.latent_dim(),
        parameter_count: model.parameter_count(),
        tensors: entries,
        metadata: metadata.clone(),
    };
    let mut json = serde_json::to_vec_pretty(&saved).map_err(|source| AutoencoderError::Json {
        path: config_path.clone(),
        source,
    })?;
    json.push(b'\n');
    write_atomic(&config_path, &json)
}

fn describe(dtype: &str, shape: &[usize]) -> String {
    format!("{dtype} {shape:?}")
}

/// Loads a model saved by [`Autoencoder::save`] (see [`Model::load`]).
pub(crate) fn load(dir: &Path) -> Result<(Model, ModelMetadata)> {
    let config_path = dir.join(CONFIG_FILE);
    let json = std::fs::read(&config_path).map_err(io_err(&config_path))?;
    let json_err = |source| AutoencoderError::Json {
        path: config_path.clone(),
        source,
    };
    let probe: VersionProbe = serde_json::from_slice(&json).map_err(json_err)?;
    let version = probe.format_version;
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(AutoencoderError::FormatVersion {
            path: config_path,
            found: probe.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let saved: SavedConfig = serde_json::from_slice(&json).map_err(json_err)?;
    let inconsistent = |reason: String| AutoencoderError::Inconsistent {
        path: config_path.clone(),
        reason,
    };
    if saved.kind != saved.model.kind() {
        return Err(inconsistent(format!(
            "kind is {} but the model configuration is {}",
            saved.kind,
            saved.model.kind()
        )));
    }
    check_metadata(&config_path, saved.n_features, &saved.metadata)?;
    saved.model.validate(saved.n_features)?;
    // Read the weights first: a configuration asking for more parameters
    // than the file holds is rejected before anything is allocated for it.
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights_path).map_err(io_err(&weights_path))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| AutoencoderError::Safetensors {
        path: weights_path.clone(),
        reason: e.to_string(),
    })?;
    let needed = saved.model.parameter_count(saved.n_features);
    if needed != saved.parameter_count || needed.saturating_mul(4) > bytes.len() {
        return Err(inconsistent(format!(
            "the configuration needs {needed} parameters, the file says {} and {} holds {} bytes",
            saved.parameter_count,
            WEIGHTS_FILE,
            bytes.len()
        )));
    }
    let spec = Spec::new(&saved.model, saved.n_features);
    if let Some(scale) = &saved.metadata.error_scale {
        scale.check(spec.output_dim()).map_err(inconsistent)?;
    }
    if spec.latent_dim() != saved.latent_dim {
        return Err(inconsistent(format!(
            "latent_dim {} does not match the configuration's {}",
            saved.latent_dim,
            spec.latent_dim()
        )));
    }
    let shape = |p: &crate::spec::ParamInfo| {
        if version == 1 {
            p.v1_shape()
        } else {
            p.shape()
        }
    };
    let expected: Vec<TensorEntry> = spec
        .params
        .iter()
        .map(|p| TensorEntry {
            name: p.name.clone(),
            shape: shape(p),
        })
        .collect();
    if expected != saved.tensors {
        return Err(inconsistent(
            "the tensor list does not match the one the configuration builds".into(),
        ));
    }

    let mut params = vec![0f32; needed];
    let mut seen = BTreeSet::new();
    for p in &spec.params {
        let view = file
            .tensor(&p.name)
            .map_err(|_| AutoencoderError::MissingTensor {
                path: weights_path.clone(),
                name: p.name.clone(),
            })?;
        let want = shape(p);
        if view.dtype() != Dtype::F32 || view.shape() != want.as_slice() {
            return Err(AutoencoderError::TensorMismatch {
                path: weights_path.clone(),
                name: p.name.clone(),
                expected: describe("F32", &want),
                got: describe(&format!("{:?}", view.dtype()), view.shape()),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(AutoencoderError::Inconsistent {
                path: weights_path.clone(),
                reason: format!(
                    "tensor `{}` holds {} at flat index {i}: weights must be finite",
                    p.name, values[i]
                ),
            });
        }
        let out = &mut params[p.range()];
        if version == 1 {
            p.convert_v1(&values, out);
        } else {
            out.copy_from_slice(&values);
        }
        seen.insert(p.name.as_str());
    }
    if let Some(extra) = file.names().into_iter().find(|n| !seen.contains(n)) {
        return Err(AutoencoderError::UnexpectedTensor {
            path: weights_path,
            name: extra.to_string(),
        });
    }
    Ok((Model::from_parts(saved.model, spec, params), saved.metadata))
}

impl Model {
    /// Loads a model saved by [`Autoencoder::save`]: rebuilds the
    /// architecture from the JSON, checks every tensor's name, type and
    /// shape, and fills in the weights. Missing, truncated or mismatched
    /// files give an error naming the file and the problem.
    pub fn load(dir: impl AsRef<Path>) -> Result<(Model, ModelMetadata)> {
        load(dir.as_ref())
    }
}
