//! Saving and loading models: safetensors for the networks and the
//! optimiser, JSON for the configuration and training state.

use std::collections::HashMap;
use std::path::Path;

use rlenv::Space;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::config::PpoConfig;
use crate::engine::Mlp;
use crate::error::{PpoError, Result};
use crate::learner::Ppo;

/// File of the networks' parameters in a saved model directory.
pub const POLICY_FILE: &str = "policy.safetensors";
/// File of Adam's moments in a saved model directory.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// File of the configuration and training state in a saved model directory.
pub const CONFIG_FILE: &str = "config.json";
/// Version of the saved-model layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// The JSON half of a saved model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedModel {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Hyperparameters.
    pub config: PpoConfig,
    /// Observation space.
    pub observation_space: Space,
    /// Action space.
    pub action_space: Space,
    /// The model's seed.
    pub seed: u64,
    /// Environment steps trained on.
    pub num_timesteps: u64,
    /// Iterations trained.
    pub iterations: u64,
    /// Adam steps of the policy network.
    pub policy_adam_steps: u64,
    /// Adam steps of the value network.
    pub value_adam_steps: u64,
}

/// `(name, shape, range in the flat buffer)` of every tensor of `mlp`, named
/// as the layers of a PyTorch `nn.Sequential(Linear, Tanh, Linear, ...)`
/// registered as `prefix`: `prefix.0.weight`, `prefix.0.bias`,
/// `prefix.2.weight`, ...
fn tensor_layout(prefix: &str, mlp: &Mlp) -> Vec<(String, Vec<usize>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    for l in 0..mlp.n_layers() {
        if let (Some((w, shape)), Some(b)) = (mlp.weight_range(l), mlp.bias_range(l)) {
            let (weight, bias) = layer_names(prefix, l);
            out.push((weight, shape.to_vec(), w));
            out.push((bias, vec![shape[0]], b));
        }
    }
    out
}

/// The names of layer `l`'s weight and bias tensors.
fn layer_names(prefix: &str, l: usize) -> (String, String) {
    (
        format!("{prefix}.{}.weight", 2 * l),
        format!("{prefix}.{}.bias", 2 * l),
    )
}

/// Checks, before any network is allocated, that the file holds every
/// tensor a network of layer `sizes` needs, at its shape: sizes that only
/// `config.json` claims are never allocated.
fn check_shapes(path: &Path, st: &SafeTensors<'_>, prefix: &str, sizes: &[usize]) -> Result<()> {
    for (l, w) in sizes.windows(2).enumerate() {
        let (weight, bias) = layer_names(prefix, l);
        for (name, shape) in [(weight, vec![w[1], w[0]]), (bias, vec![w[1]])] {
            let view = st.tensor(&name).map_err(|_| PpoError::InvalidModelFile {
                path: path.into(),
                message: format!(
                    "missing tensor `{name}` of shape {shape:?} (config.json's layer sizes {sizes:?})"
                ),
            })?;
            if view.shape() != shape.as_slice() {
                return Err(PpoError::InvalidModelFile {
                    path: path.into(),
                    message: format!(
                        "tensor `{name}` has shape {:?}, but config.json's layer sizes {sizes:?} need {shape:?}",
                        view.shape()
                    ),
                });
            }
        }
    }
    Ok(())
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_safetensors(path: &Path, tensors: Vec<(String, Vec<usize>, Vec<u8>)>) -> Result<()> {
    let st_err = |e: safetensors::SafeTensorError| PpoError::SafeTensors {
        path: path.into(),
        message: e.to_string(),
    };
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            Ok((
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(st_err)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(st_err)?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` whole or not at all ([`atomicfile::write`]): a reader
/// (or a kill, or a full disk) never sees a half-written file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(|source| PpoError::Io {
        path: path.into(),
        source,
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| PpoError::Io {
        path: path.into(),
        source,
    })
}

/// Reads the tensors named by `layout` (with `suffix` appended) into `dst`,
/// checking dtype and shape.
fn read_tensors(
    path: &Path,
    st: &SafeTensors<'_>,
    layout: &[(String, Vec<usize>, std::ops::Range<usize>)],
    suffix: &str,
    dst: &mut [f32],
) -> Result<()> {
    let invalid = |message: String| PpoError::InvalidModelFile {
        path: path.into(),
        message,
    };
    for (name, shape, range) in layout {
        let name = format!("{name}{suffix}");
        let view = st
            .tensor(&name)
            .map_err(|_| invalid(format!("missing tensor `{name}`")))?;
        if view.dtype() != Dtype::F32 {
            return Err(invalid(format!(
                "tensor `{name}` has dtype {:?}, expected F32",
                view.dtype()
            )));
        }
        if view.shape() != shape.as_slice() {
            return Err(invalid(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        for (i, (d, chunk)) in dst[range.clone()]
            .iter_mut()
            .zip(view.data().chunks_exact(4))
            .enumerate()
        {
            *d = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if !d.is_finite() {
                return Err(invalid(format!(
                    "tensor `{name}` holds {} at flat index {i}: weights must be finite",
                    *d
                )));
            }
        }
    }
    Ok(())
}

impl Ppo {
    /// Saves the model into directory `dir` (created if needed):
    /// [`POLICY_FILE`] with tensors `pi.0.weight`, `pi.0.bias`,
    /// `pi.2.weight`, ... (policy) and `vf.0.weight`, ... (value), shaped as
    /// PyTorch's `nn.Linear` (`[out, in]`); [`OPTIMIZER_FILE`] with Adam's
    /// moments (`<tensor>.exp_avg`, `<tensor>.exp_avg_sq`); and
    /// [`CONFIG_FILE`] ([`SavedModel`]).
    ///
    /// ```
    /// use ppo::{Ppo, PpoConfig};
    /// use rlenv::Space;
    ///
    /// let obs = Space::Box { low: vec![-1.0; 3], high: vec![1.0; 3], shape: vec![3] };
    /// let model = Ppo::with_spaces(PpoConfig::default(), obs, Space::Discrete { n: 2 }, 0)?;
    /// let dir = tempfile::tempdir()?;
    /// model.save(dir.path())?;
    /// let loaded = Ppo::load(dir.path())?;
    /// assert_eq!(loaded.policy_net(), model.policy_net());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`PpoError::Io`], [`PpoError::Json`] or [`PpoError::SafeTensors`]
    /// when a file cannot be written.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| PpoError::Io {
            path: dir.into(),
            source,
        })?;
        let mut policy = Vec::new();
        let mut optimizer = Vec::new();
        for (prefix, net) in [("pi", &self.actor), ("vf", &self.critic)] {
            for (name, shape, range) in tensor_layout(prefix, &net.mlp) {
                policy.push((
                    name.clone(),
                    shape.clone(),
                    to_bytes(&net.mlp.params()[range.clone()]),
                ));
                optimizer.push((
                    format!("{name}.exp_avg"),
                    shape.clone(),
                    to_bytes(&net.adam.exp_avg()[range.clone()]),
                ));
                optimizer.push((
                    format!("{name}.exp_avg_sq"),
                    shape,
                    to_bytes(&net.adam.exp_avg_sq()[range]),
                ));
            }
        }
        write_safetensors(&dir.join(POLICY_FILE), policy)?;
        write_safetensors(&dir.join(OPTIMIZER_FILE), optimizer)?;
        let saved = SavedModel {
            format_version: FORMAT_VERSION,
            config: self.config.clone(),
            observation_space: self.observation_space.clone(),
            action_space: self.action_space.clone(),
            seed: self.seed,
            num_timesteps: self.num_timesteps,
            iterations: self.iterations,
            policy_adam_steps: self.actor.adam.steps(),
            value_adam_steps: self.critic.adam.steps(),
        };
        let path = dir.join(CONFIG_FILE);
        let json = serde_json::to_string_pretty(&saved).map_err(|source| PpoError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, json.as_bytes())
    }

    /// Loads a model saved by [`Ppo::save`]; training continues where it
    /// stopped (parameters, Adam's state, step and iteration counts). When
    /// [`OPTIMIZER_FILE`] is absent the optimiser starts afresh.
    ///
    /// # Errors
    /// [`PpoError::Io`], [`PpoError::Json`] or [`PpoError::SafeTensors`]
    /// for unreadable files, [`PpoError::InvalidModelFile`] for an unknown
    /// version, an invalid space (a `Box` whose bounds do not match its
    /// shape), missing, extra or misshapen tensors (checked against the
    /// tensors present before any network is allocated, so that a size
    /// `config.json` merely claims is never allocated), NaN or infinite
    /// weights or moments, or a negative second moment, and the errors of
    /// [`Ppo::with_spaces`] for an invalid configuration.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let path = dir.join(CONFIG_FILE);
        let text = read_file(&path)?;
        let saved: SavedModel = serde_json::from_slice(&text).map_err(|source| PpoError::Json {
            path: path.clone(),
            source,
        })?;
        if saved.format_version != FORMAT_VERSION {
            return Err(PpoError::InvalidModelFile {
                path,
                message: format!(
                    "format version {} (this crate reads {FORMAT_VERSION})",
                    saved.format_version
                ),
            });
        }
        // Every size config.json claims is checked against the spaces and
        // the tensors present before a network is allocated.
        for (role, space) in [
            ("observation_space", &saved.observation_space),
            ("action_space", &saved.action_space),
        ] {
            space.validate().map_err(|e| PpoError::InvalidModelFile {
                path: path.clone(),
                message: format!("{role}: {e}"),
            })?;
        }
        let weights_path = dir.join(POLICY_FILE);
        let bytes = read_file(&weights_path)?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| PpoError::SafeTensors {
            path: weights_path.clone(),
            message: e.to_string(),
        })?;
        let obs_dim = saved.observation_space.flat_dim();
        if let Some(n_actions) = saved.action_space.n() {
            for (prefix, hidden, out) in [
                ("pi", &saved.config.net_arch.pi, n_actions),
                ("vf", &saved.config.net_arch.vf, 1),
            ] {
                let mut sizes = vec![obs_dim];
                sizes.extend_from_slice(hidden);
                sizes.push(out);
                check_shapes(&weights_path, &st, prefix, &sizes)?;
            }
        }
        let mut model = Self::with_spaces(
            saved.config,
            saved.observation_space,
            saved.action_space,
            saved.seed,
        )?;
        model.num_timesteps = saved.num_timesteps;
        model.iterations = saved.iterations;

        let path = weights_path;
        let layouts = [
            tensor_layout("pi", &model.actor.mlp),
            tensor_layout("vf", &model.critic.mlp),
        ];
        for (layout, net) in layouts.iter().zip([&mut model.actor, &mut model.critic]) {
            read_tensors(&path, &st, layout, "", net.mlp.params_mut())?;
            net.mlp.prepare_small_batches();
        }
        let known: Vec<&String> = layouts.iter().flatten().map(|(n, _, _)| n).collect();
        let extra: Vec<&str> = st
            .names()
            .into_iter()
            .filter(|n| !known.iter().any(|k| k == n))
            .collect();
        if !extra.is_empty() {
            return Err(PpoError::InvalidModelFile {
                path,
                message: format!("unexpected tensors {extra:?}"),
            });
        }

        let path = dir.join(OPTIMIZER_FILE);
        if path.exists() {
            let bytes = read_file(&path)?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| PpoError::SafeTensors {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let steps = [saved.policy_adam_steps, saved.value_adam_steps];
            for ((layout, net), steps) in layouts
                .iter()
                .zip([&mut model.actor, &mut model.critic])
                .zip(steps)
            {
                let n = net.mlp.n_params();
                let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
                read_tensors(&path, &st, layout, ".exp_avg", &mut m)?;
                read_tensors(&path, &st, layout, ".exp_avg_sq", &mut v)?;
                if let Some(i) = v.iter().position(|&x| x < 0.0) {
                    return Err(PpoError::InvalidModelFile {
                        path,
                        message: format!(
                            "a second moment (exp_avg_sq) is negative ({}) at flat index {i}",
                            v[i]
                        ),
                    });
                }
                if !net.adam.restore(&m, &v, steps) {
                    return Err(PpoError::InvalidModelFile {
                        path,
                        message: "optimiser state of the wrong size".into(),
                    });
                }
            }
        }
        Ok(model)
    }
}
