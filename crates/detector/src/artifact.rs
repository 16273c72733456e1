//! The detector artifact: one directory holding everything scoring raw
//! flows needs, and the [`Detector`] loaded from it.
//!
//! ```text
//! detector/
//!   detector.json   manifest: format version, the novelty calibration,
//!                   operating points, provenance
//!   schema.json     the input columns (flowdata::Schema)
//!   bounds.json     the scaling fitted on the training rows
//!   encoder/        the autoencoder whose latent code the policy reads
//!   novelty/        the verdict's novelty autoencoder (a copy of its own,
//!                   which `adapt` fine-tunes without moving the policy)
//!   policy/         the PPO policy and latent_scaler.json
//! ```
//!
//! Every part is read, then checked against the others by one function
//! ([`verify`]) before the detector exists: the model loaders check their
//! sizes against the file lengths and refuse non-finite weights before
//! they allocate, and `verify` cross-checks widths, the scaler, the
//! calibration and the operating points.

use std::path::Path;

use autoencoders::{Autoencoder, Model, ReconstructionDetector};
use flowdata::{Bounds, Schema};
use ppo::Ppo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DetectorError, Result};
use crate::input::{LatentScaler, PolicyInput};
use crate::manifest::{
    BOUNDS_FILE, ENCODER_DIR, FORMAT_VERSION, MANIFEST_FILE, Manifest, NOVELTY_DIR, POLICY_DIR,
    SCALER_FILE, SCHEMA_FILE,
};
use crate::verdict::OperatingPoint;

/// The largest manifest or scaler file read (JSON of a few hundred
/// kilobytes at most).
const MAX_JSON_BYTES: u64 = 16 << 20;

/// The parts of a detector, borrowed: what [`DetectorParts::write`]
/// writes and [`verify`] checks.
#[derive(Clone, Copy, Debug)]
pub struct DetectorParts<'a> {
    /// The input columns.
    pub schema: &'a Schema,
    /// The scaling fitted on the training rows.
    pub bounds: &'a Bounds,
    /// The autoencoder whose latent code the policy reads.
    pub encoder: &'a Model,
    /// The verdict's novelty autoencoder (calibrated by the manifest's
    /// `novelty_threshold` and `novelty_error_scale`).
    pub novelty: &'a Model,
    /// The policy.
    pub policy: &'a Ppo,
    /// Its input standardisation.
    pub scaler: &'a LatentScaler,
    /// The manifest.
    pub manifest: &'a Manifest,
}

/// A checked detector: scale, encode, score novelty, run the policy,
/// decide ([`crate::score`]), adapt ([`crate::adapt`]), save.
#[derive(Debug)]
pub struct Detector {
    pub(crate) manifest: Manifest,
    pub(crate) schema: Schema,
    pub(crate) bounds: Bounds,
    pub(crate) encoder: Model,
    pub(crate) novelty: ReconstructionDetector<Model>,
    pub(crate) policy: Ppo,
    pub(crate) scaler: LatentScaler,
    pub(crate) point: OperatingPoint,
    /// The encoder and the novelty model are one network (the same kind
    /// and weights): each flow is encoded once.
    pub(crate) shared: bool,
}

fn json_error(path: &Path) -> impl FnOnce(serde_json::Error) -> DetectorError + '_ {
    move |source| DetectorError::Json {
        path: path.to_path_buf(),
        source,
    }
}

/// Read a small JSON file, refusing one larger than the format allows.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let len = std::fs::metadata(path)
        .map_err(|e| DetectorError::io(path, e))?
        .len();
    if len > MAX_JSON_BYTES {
        return Err(DetectorError::invalid(
            path,
            format!("{len} bytes, more than a detector file can hold ({MAX_JSON_BYTES})"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| DetectorError::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(json_error(path))
}

/// Write a value as pretty JSON, whole or not at all.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(json_error(path))?;
    atomicfile::write(path, text.as_bytes()).map_err(|e| DetectorError::io(path, e))
}

/// Read the manifest, its format version first, so that another layout
/// gets a version error rather than a parse error.
/// The novelty model with the manifest's calibration.
fn calibrated(model: Model, manifest: &Manifest) -> Result<ReconstructionDetector<Model>> {
    Ok(ReconstructionDetector::from_parts(
        model,
        manifest.novelty_threshold.clone(),
        manifest.novelty_error_scale.clone(),
    )?)
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let probe: serde_json::Value = read_json(path)?;
    let version = probe
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(DetectorError::invalid(
            path,
            format!(
                "detector format version {}, this build reads {FORMAT_VERSION}",
                version.map_or_else(|| "missing".to_string(), |v| v.to_string())
            ),
        ));
    }
    serde_json::from_value(probe).map_err(json_error(path))
}

/// Check every part against the others; `origin` names where they came
/// from in errors (the detector directory). Returns the manifest's
/// default operating point. Every check of a detector's consistency
/// lives here, so that a loaded detector and one assembled in memory are
/// held to the same rules.
pub fn verify(parts: &DetectorParts<'_>, origin: &Path) -> Result<OperatingPoint> {
    let manifest_path = origin.join(MANIFEST_FILE);
    let m = parts.manifest;
    for p in &m.operating_points {
        for (what, t) in [("policy_margin", p.policy_margin), ("novelty", p.novelty)] {
            if t.is_some_and(f64::is_nan) {
                return Err(DetectorError::invalid(
                    &manifest_path,
                    format!("operating point {}: {what} threshold is NaN", p.name),
                ));
            }
        }
    }
    let n = parts.schema.n_features();
    if parts.bounds.features.len() != n {
        return Err(DetectorError::invalid(
            origin.join(BOUNDS_FILE),
            format!(
                "bounds for {} features, the schema has {n}",
                parts.bounds.features.len()
            ),
        ));
    }
    for (dir, model) in [(ENCODER_DIR, parts.encoder), (NOVELTY_DIR, parts.novelty)] {
        if model.n_features() != n {
            return Err(DetectorError::invalid(
                origin.join(dir),
                format!(
                    "the model reads {} features, the detector's schema has {n}",
                    model.n_features()
                ),
            ));
        }
    }
    m.novelty_error_scale
        .check(parts.novelty.output_dim())
        .map_err(|what| {
            DetectorError::invalid(&manifest_path, format!("novelty_error_scale: {what}"))
        })?;
    let t = m.novelty_threshold.value;
    if !(t.is_finite() && t >= 0.0) {
        return Err(DetectorError::invalid(
            &manifest_path,
            format!("the novelty threshold is {t}: it must be finite and non-negative"),
        ));
    }
    let policy_dir = origin.join(POLICY_DIR);
    let latent = parts.encoder.latent_dim();
    let width = match m.policy_input {
        PolicyInput::Latent => latent,
        PolicyInput::LatentError => latent + 1,
        PolicyInput::LatentFeatures => latent + n,
    };
    let scaler = parts.scaler;
    if scaler.mean.len() != width
        || scaler.std.len() != width
        || scaler.input != m.policy_input
        || parts.policy.observation_space().flat_dim() != width
    {
        return Err(DetectorError::invalid(
            &policy_dir,
            format!(
                "the policy reads {} inputs and its scaler has {} for {} ({} expected)",
                parts.policy.observation_space().flat_dim(),
                scaler.mean.len(),
                m.policy_input,
                width
            ),
        ));
    }
    if let Some(v) = scaler
        .mean
        .iter()
        .chain(&scaler.std)
        .find(|v| !v.is_finite())
    {
        return Err(DetectorError::invalid(
            policy_dir.join(SCALER_FILE),
            format!("the latent scaler holds {v}: every value must be finite"),
        ));
    }
    Ok(m.operating_point(&m.default_operating_point)?.clone())
}

impl DetectorParts<'_> {
    /// Write the parts into `dir` (created; files already there are
    /// replaced one by one, each whole or not at all).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| DetectorError::io(dir, e))?;
        self.schema.save(dir.join(SCHEMA_FILE))?;
        self.bounds.save(dir.join(BOUNDS_FILE))?;
        self.encoder.save(&dir.join(ENCODER_DIR))?;
        self.novelty.save(&dir.join(NOVELTY_DIR))?;
        let policy_dir = dir.join(POLICY_DIR);
        self.policy.save(&policy_dir)?;
        write_json(&policy_dir.join(SCALER_FILE), self.scaler)?;
        write_json(&dir.join(MANIFEST_FILE), self.manifest)
    }
}

impl Detector {
    /// Load and check a detector directory ([`verify`]); its default
    /// operating point applies.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let untrained = detector::fixture::untrained(dir.path(), 1)?;
    /// let loaded = detector::Detector::load(dir.path())?;
    /// assert_eq!(loaded.manifest(), untrained.manifest());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest = read_manifest(&dir.join(MANIFEST_FILE))?;
        let policy_dir = dir.join(POLICY_DIR);
        let schema = Schema::load(dir.join(SCHEMA_FILE))?;
        let bounds = Bounds::load(dir.join(BOUNDS_FILE))?;
        let encoder = Model::load(dir.join(ENCODER_DIR))?;
        let novelty = Model::load(dir.join(NOVELTY_DIR))?;
        let policy = Ppo::load(&policy_dir)?;
        let scaler: LatentScaler = read_json(&policy_dir.join(SCALER_FILE))?;
        let point = verify(
            &DetectorParts {
                schema: &schema,
                bounds: &bounds,
                encoder: &encoder,
                novelty: &novelty,
                policy: &policy,
                scaler: &scaler,
                manifest: &manifest,
            },
            dir,
        )?;
        let novelty = calibrated(novelty, &manifest)?;
        Ok(Detector {
            shared: encoder.same_network(novelty.model()),
            manifest,
            schema,
            bounds,
            encoder,
            novelty,
            policy,
            scaler,
            point,
        })
    }

    /// The parts, borrowed.
    pub fn parts(&self) -> DetectorParts<'_> {
        DetectorParts {
            schema: &self.schema,
            bounds: &self.bounds,
            encoder: &self.encoder,
            novelty: self.novelty.model(),
            policy: &self.policy,
            scaler: &self.scaler,
            manifest: &self.manifest,
        }
    }

    /// Write the detector into `dir` (see [`DetectorParts::write`]).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.parts().write(dir)
    }

    /// Write the detector as a new directory `dir`, whole or not at all:
    /// into a temporary sibling, renamed onto `dir` at the end. An
    /// existing `dir` is refused.
    pub fn save_new(&self, dir: &Path) -> Result<()> {
        if dir.exists() {
            return Err(DetectorError::invalid(
                dir,
                "exists: a detector is written to a new directory",
            ));
        }
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".detector-")
            .tempdir_in(parent)
            .map_err(|e| DetectorError::io(parent, e))?;
        self.save(tmp.path())?;
        std::fs::rename(tmp.path(), dir).map_err(|e| DetectorError::io(dir, e))
    }

    /// Replace the manifest, checked against the other parts as a loaded
    /// one is ([`verify`]; `origin` names the detector in errors); its
    /// default operating point and its novelty calibration apply.
    pub fn replace_manifest(&mut self, manifest: Manifest, origin: &Path) -> Result<()> {
        let point = verify(
            &DetectorParts {
                manifest: &manifest,
                ..self.parts()
            },
            origin,
        )?;
        self.novelty = calibrated(self.novelty.model().clone(), &manifest)?;
        self.manifest = manifest;
        self.point = point;
        Ok(())
    }

    /// What the detector is and what it promises, as text: its models,
    /// operating points, training inputs, adaptations and headline
    /// numbers (`nids inspect`); `dir` is where it was loaded from.
    pub fn describe(&self, dir: &Path) -> String {
        use std::fmt::Write as _;
        let m = &self.manifest;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "detector {} (format {}, nids {})",
            dir.display(),
            m.format_version,
            m.crate_version
        );
        let _ = writeln!(
            o,
            "policy: PPO on the {} autoencoder's {}; novelty: the {} autoencoder; {} input features",
            m.encoder,
            m.policy_input,
            m.novelty,
            self.schema.n_features()
        );
        let p = &m.provenance;
        let _ = writeln!(
            o,
            "trained on {} (seed {}): {} training, {} validation, {} test rows",
            p.source, p.seed, p.rows[0], p.rows[1], p.rows[2]
        );
        for f in &p.inputs {
            let _ = writeln!(o, "  {} ({} bytes, sha256 {})", f.path, f.bytes, f.sha256);
        }
        let _ = writeln!(
            o,
            "operating points (default: {}):",
            m.default_operating_point
        );
        for op in &m.operating_points {
            let t = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            let _ = writeln!(
                o,
                "  {:<12} policy margin >= {:<10} novelty >= {:<10} {}",
                op.name,
                t(op.policy_margin),
                t(op.novelty),
                op.description
            );
        }
        for a in &m.adaptations {
            let _ = writeln!(
                o,
                "adapted on {} benign flows of {}: false-positive rate on {} held back {:.4} -> {:.4}",
                a.tune_rows,
                a.benign.join(", "),
                a.held_back_rows,
                a.fpr_before,
                a.fpr_after
            );
        }
        let _ = writeln!(o, "headline (test split):");
        for (k, v) in &p.headline {
            let _ = writeln!(o, "  {k}: {v:.4}");
        }
        o
    }

    /// Apply the operating point called `name` instead of the default.
    pub fn with_operating_point(mut self, name: &str) -> Result<Self> {
        self.point = self.manifest.operating_point(name)?.clone();
        Ok(self)
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The input columns.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The scaling fitted on the training rows.
    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// The verdict's novelty detector.
    pub fn novelty(&self) -> &ReconstructionDetector<Model> {
        &self.novelty
    }

    /// The operating point applied.
    pub fn operating_point(&self) -> &OperatingPoint {
        &self.point
    }
}
