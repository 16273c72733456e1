//! Saving and loading: weights as safetensors, everything else as JSON.
//!
//! A saved model is a directory holding two files, each written whole or
//! not at all ([`atomicfile::write`]):
//! - [`WEIGHTS_FILE`]: every parameter as a little-endian f32 tensor under
//!   its stable hierarchical name, in PyTorch's layout (see the crate
//!   documentation);
//! - [`CONFIG_FILE`]: the format version, the crate version, the model kind
//!   and configuration, the input width and the list of tensors with their
//!   shapes.
//!
//! Architecture and weights only: what the inputs are (schema, scaling) and
//! how a reconstruction detector is calibrated (error scale, threshold)
//! belong to whatever deploys the model, which saves them once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::config::{ModelConfig, ModelKind};
use crate::error::{AutoencoderError, Result};
use crate::model::{Autoencoder, Model};
use crate::spec::Spec;

/// Version of the on-disk format written and read by this build: 2, with
/// dense weights `[out, in]` and convolution weights `[out, in, k]`
/// (PyTorch's layouts).
pub const FORMAT_VERSION: u32 = 2;
/// Name of the JSON configuration file inside a saved model's directory.
pub const CONFIG_FILE: &str = "model.json";
/// Name of the safetensors weights file inside a saved model's directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

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

/// Writes `bytes` to `path` whole or not at all.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(io_err(path))
}

/// Saves any model (see [`Autoencoder::save`]).
pub(crate) fn save(model: &Model, dir: &Path) -> Result<()> {
    let config_path = dir.join(CONFIG_FILE);
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
pub(crate) fn load(dir: &Path) -> Result<Model> {
    let config_path = dir.join(CONFIG_FILE);
    let json = std::fs::read(&config_path).map_err(io_err(&config_path))?;
    let json_err = |source| AutoencoderError::Json {
        path: config_path.clone(),
        source,
    };
    let probe: VersionProbe = serde_json::from_slice(&json).map_err(json_err)?;
    if probe.format_version != FORMAT_VERSION {
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
    if spec.latent_dim() != saved.latent_dim {
        return Err(inconsistent(format!(
            "latent_dim {} does not match the configuration's {}",
            saved.latent_dim,
            spec.latent_dim()
        )));
    }
    let expected: Vec<TensorEntry> = spec
        .params
        .iter()
        .map(|p| TensorEntry {
            name: p.name.clone(),
            shape: p.shape(),
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
        let want = p.shape();
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
        params[p.range()].copy_from_slice(&values);
        seen.insert(p.name.as_str());
    }
    if let Some(extra) = file.names().into_iter().find(|n| !seen.contains(n)) {
        return Err(AutoencoderError::UnexpectedTensor {
            path: weights_path,
            name: extra.to_string(),
        });
    }
    Ok(Model::from_parts(saved.model, spec, params))
}

impl Model {
    /// Loads a model saved by [`Autoencoder::save`]: rebuilds the
    /// architecture from the JSON, checks every tensor's name, type and
    /// shape, and fills in the weights. Missing, truncated or mismatched
    /// files give an error naming the file and the problem.
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        load(dir.as_ref())
    }
}
