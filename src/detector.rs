//! The detector artifact: one directory holding everything scoring raw
//! flows needs, written by every pipeline run as `<out>/detector/`, and the
//! one scoring path that reads it ([`Detector`]).
//!
//! ```text
//! detector/
//!   detector.json   manifest: format version, operating points, provenance
//!   schema.json     the input columns (flowdata::Schema)
//!   bounds.json     the scaling fitted on the training rows
//!   encoder/        the autoencoder whose latent code the policy reads
//!   novelty/        the verdict's novelty autoencoder (a copy of its own,
//!                   which `nids adapt` fine-tunes without moving the policy)
//!   policy/         the PPO policy and latent_scaler.json
//! ```
//!
//! Loading checks every part before anything sized by a file is allocated:
//! each model loader checks its sizes against the file lengths and refuses
//! non-finite weights, and the manifest's thresholds must be finite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use autoencoders::{Autoencoder, ErrorScale, Model, ReconstructionDetector};
use flowdata::{Bounds, FlowFrame, OutOfRange, Schema};
use ndarray::{Array2, ArrayView2, Axis};
use ppo::Ppo;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::policy::{
    LatentScaler, PolicyInput, policy_input, policy_input_of_latent, policy_margins, probability,
};

/// Version of the detector directory's layout and manifest.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "detector.json";
/// The latent standardisation's file name inside `policy/`.
pub const SCALER_FILE: &str = "latent_scaler.json";
/// Features named per flow in its explanation.
pub const TOP_FEATURES: usize = 3;
/// Rows scored together, in parallel with the other blocks: a multiple of
/// every inner block (the autoencoders' 512 and 64 rows, the policy's
/// 1,024), so that splitting a batch changes no bit of any score.
pub const CHUNK_ROWS: usize = 2048;
/// The largest manifest or scaler file read (JSON of a few kilobytes).
const MAX_JSON_BYTES: u64 = 16 << 20;

/// A named decision rule: the policy's margin against one threshold, the
/// novelty score against another; a flow is malicious when either flags it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// `verdict`, `argmax`, `best-f1`, `fpr<=1%`, ...
    pub name: String,
    /// How it was chosen.
    pub description: String,
    /// Flag when the policy's logit margin is at least this; `None`: the
    /// policy part never flags.
    pub policy_margin: Option<f64>,
    /// Flag when the novelty score is at least this; `None`: the novelty
    /// part never flags.
    pub novelty: Option<f64>,
}

impl OperatingPoint {
    /// The decision for one flow.
    pub fn flag(&self, margin: f64, novelty: f64) -> bool {
        self.policy_margin.is_some_and(|t| margin >= t)
            || self.novelty.is_some_and(|t| novelty >= t)
    }
}

/// One input file the detector was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// The path as given.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hexadecimal.
    pub sha256: String,
}

/// Where a detector came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The seed of the run.
    pub seed: u64,
    /// The training inputs (empty for the embedded generated default).
    pub inputs: Vec<InputFile>,
    /// Where the flows came from, as the report says it.
    pub source: String,
    /// Rows of the training, validation and test splits.
    pub rows: [usize; 3],
    /// The report's headline numbers on the test split.
    pub headline: BTreeMap<String, f64>,
}

/// The manifest, `detector.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The `nids` version that wrote it.
    pub crate_version: String,
    /// The autoencoder kind of `encoder/`.
    pub encoder: String,
    /// The novelty autoencoder's kind (its files are `novelty/`).
    pub novelty: String,
    /// The novelty part's share of the benign validation flows in the
    /// verdict.
    pub novelty_budget: f64,
    /// The verdict's whole false-alarm budget.
    pub budget: f64,
    /// Local adaptations applied since training (`nids adapt`), oldest first.
    #[serde(default)]
    pub adaptations: Vec<Adaptation>,
    /// What the policy reads.
    pub policy_input: PolicyInput,
    /// The rules a scorer may apply.
    pub operating_points: Vec<OperatingPoint>,
    /// The rule applied unless another is asked for: the report's verdict.
    pub default_operating_point: String,
    /// Where it came from.
    pub provenance: Provenance,
}

impl Manifest {
    /// The operating point called `name`, or an error listing them.
    pub fn operating_point(&self, name: &str) -> Result<&OperatingPoint> {
        self.operating_points
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .operating_points
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                PipelineError::config(
                    "operating_point",
                    name,
                    format!("expected one of {}", names.join(", ")),
                )
            })
    }
}

/// What the pipeline hands over to be written as a detector.
pub struct DetectorParts<'a> {
    /// The input columns.
    pub schema: &'a Schema,
    /// The scaling.
    pub bounds: &'a Bounds,
    /// The policy's autoencoder and its calibrated detector.
    pub encoder: &'a ReconstructionDetector<Model>,
    /// The verdict's novelty detector.
    pub novelty: &'a ReconstructionDetector<Model>,
    /// The policy.
    pub policy: &'a Ppo,
    /// Its input standardisation.
    pub scaler: &'a LatentScaler,
    /// The manifest (operating points, provenance).
    pub manifest: Manifest,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |e| PipelineError::io(path, e)
}

fn save_model(
    dir: &Path,
    schema: &Schema,
    bounds: &Bounds,
    d: &ReconstructionDetector<Model>,
) -> Result<()> {
    let meta = autoencoders::ModelMetadata {
        feature_names: schema
            .feature_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        schema: Some(schema.clone()),
        bounds: Some(bounds.clone()),
        threshold: Some(d.threshold().clone()),
        error_scale: Some(d.error_scale().clone()),
    };
    d.model().save(dir, &meta)?;
    Ok(())
}

/// Write a detector directory at `dir` (created; the pipeline's run
/// directory makes the whole appear at once).
pub fn write(dir: &Path, parts: &DetectorParts<'_>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    parts.schema.save(dir.join("schema.json"))?;
    parts.bounds.save(dir.join("bounds.json"))?;
    save_model(
        &dir.join("encoder"),
        parts.schema,
        parts.bounds,
        parts.encoder,
    )?;
    save_model(
        &dir.join("novelty"),
        parts.schema,
        parts.bounds,
        parts.novelty,
    )?;
    let policy_dir = dir.join("policy");
    parts.policy.save(&policy_dir)?;
    crate::report::write_json(&policy_dir.join(SCALER_FILE), parts.scaler)?;
    crate::report::write_json(&dir.join(MANIFEST_FILE), &parts.manifest)
}

/// Read a small JSON file, refusing one larger than the format allows.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let len = std::fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_JSON_BYTES {
        return Err(PipelineError::Unsupported(format!(
            "{}: {len} bytes, more than a detector file can hold ({MAX_JSON_BYTES})",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes).map_err(|source| PipelineError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The scores of a batch of flows.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The policy's logit margin `log P(1) - log P(0)` per flow.
    pub margin: Vec<f64>,
    /// The novelty score (standardised reconstruction error) per flow.
    pub novelty: Vec<f64>,
    /// The verdict at the detector's operating point.
    pub malicious: Vec<bool>,
    /// Per flow (one row each), the input columns with the largest
    /// standardised reconstruction errors, largest first.
    pub top_features: Array2<usize>,
    /// The values scaling clamped to the training range.
    pub out_of_range: OutOfRange,
}

impl Scores {
    /// P(malicious) of flow `i`.
    pub fn p_malicious(&self, i: usize) -> f64 {
        probability(self.margin[i])
    }
}

/// One flow's score.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowScore {
    /// P(malicious) from the policy.
    pub p_malicious: f64,
    /// The novelty score.
    pub reconstruction_error: f64,
    /// The verdict at the detector's operating point.
    pub malicious: bool,
    /// The features with the largest standardised errors, largest first.
    pub top_features: Vec<String>,
}

/// A loaded detector: scale, encode, score novelty, run the policy, decide.
#[derive(Debug)]
pub struct Detector {
    dir: PathBuf,
    manifest: Manifest,
    schema: Schema,
    bounds: Bounds,
    encoder: ReconstructionDetector<Model>,
    novelty: ReconstructionDetector<Model>,
    policy: Ppo,
    scaler: LatentScaler,
    point: OperatingPoint,
    /// The encoder and the novelty model are one network (the same kind
    /// and weights): each flow is encoded once.
    shared: bool,
}

fn load_detector_model(dir: &Path, n_features: usize) -> Result<ReconstructionDetector<Model>> {
    let (model, meta) = Model::load(dir)?;
    if model.n_features() != n_features {
        return Err(PipelineError::Unsupported(format!(
            "{}: the model reads {} features, the detector's schema has {n_features}",
            dir.display(),
            model.n_features()
        )));
    }
    let threshold = meta.threshold.ok_or_else(|| {
        PipelineError::Unsupported(format!(
            "{}: the model has no detector threshold",
            dir.display()
        ))
    })?;
    let scale = meta
        .error_scale
        .unwrap_or_else(|| ErrorScale::unit(model.output_dim()));
    Ok(ReconstructionDetector::from_parts(model, threshold, scale)?)
}

/// The manifest's thresholds checked (none NaN) and its default
/// operating point.
fn checked_point(manifest: &Manifest, path: &Path) -> Result<OperatingPoint> {
    for p in &manifest.operating_points {
        for (what, t) in [("policy_margin", p.policy_margin), ("novelty", p.novelty)] {
            if let Some(t) = t
                && t.is_nan()
            {
                return Err(PipelineError::Unsupported(format!(
                    "{}: operating point {}: {what} threshold is NaN",
                    path.display(),
                    p.name
                )));
            }
        }
    }
    Ok(manifest
        .operating_point(&manifest.default_operating_point)?
        .clone())
}

impl Detector {
    /// Load and check a detector directory; its default operating point
    /// applies.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest_path = dir.join(MANIFEST_FILE);
        // The version first, so that a newer layout gets a version error.
        let probe: serde_json::Value = read_json(&manifest_path)?;
        let version = probe
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(PipelineError::Unsupported(format!(
                "{}: detector format version {}, this build reads {FORMAT_VERSION}",
                manifest_path.display(),
                version.map_or_else(|| "missing".to_string(), |v| v.to_string())
            )));
        }
        let manifest: Manifest =
            serde_json::from_value(probe).map_err(|source| PipelineError::Json {
                path: manifest_path.clone(),
                source,
            })?;
        let point = checked_point(&manifest, &manifest_path)?;
        let schema = Schema::load(dir.join("schema.json"))?;
        let bounds = Bounds::load(dir.join("bounds.json"))?;
        let n = schema.n_features();
        if bounds.features.len() != n {
            return Err(PipelineError::Unsupported(format!(
                "{}: bounds for {} features, the schema has {n}",
                dir.display(),
                bounds.features.len()
            )));
        }
        let encoder = load_detector_model(&dir.join("encoder"), n)?;
        let novelty = load_detector_model(&dir.join("novelty"), n)?;
        let policy_dir = dir.join("policy");
        let policy = Ppo::load(&policy_dir)?;
        let scaler: LatentScaler = read_json(&policy_dir.join(SCALER_FILE))?;
        let latent = encoder.model().latent_dim();
        let width = match manifest.policy_input {
            PolicyInput::Latent => latent,
            PolicyInput::LatentError => latent + 1,
            PolicyInput::LatentFeatures => latent + n,
        };
        if scaler.mean.len() != width
            || scaler.std.len() != width
            || scaler.input != manifest.policy_input
            || policy.observation_space().flat_dim() != width
        {
            return Err(PipelineError::Unsupported(format!(
                "{}: the policy reads {} inputs and its scaler has {} for {} ({} expected)",
                policy_dir.display(),
                policy.observation_space().flat_dim(),
                scaler.mean.len(),
                manifest.policy_input,
                width
            )));
        }
        if let Some(v) = scaler
            .mean
            .iter()
            .chain(&scaler.std)
            .find(|v| !v.is_finite())
        {
            return Err(PipelineError::Unsupported(format!(
                "{}: the latent scaler holds {v}: every value must be finite",
                policy_dir.join(SCALER_FILE).display()
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shared: encoder.model().same_network(novelty.model()),
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

    /// Replace the manifest, in memory and in the directory it was loaded
    /// from (the pipeline completes it once the test split is measured);
    /// its default operating point applies.
    pub(crate) fn rewrite_manifest(&mut self, manifest: Manifest) -> Result<()> {
        let path = self.dir.join(MANIFEST_FILE);
        self.point = checked_point(&manifest, &path)?;
        crate::report::write_json(&path, &manifest)?;
        self.manifest = manifest;
        Ok(())
    }

    /// The verdict's novelty detector.
    pub fn novelty(&self) -> &ReconstructionDetector<Model> {
        &self.novelty
    }

    /// Apply the operating point called `name` instead of the default.
    pub fn with_operating_point(mut self, name: &str) -> Result<Self> {
        self.point = self.manifest.operating_point(name)?.clone();
        Ok(self)
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// The operating point applied.
    pub fn operating_point(&self) -> &OperatingPoint {
        &self.point
    }

    /// Score rows already scaled with the detector's bounds, whose clamped
    /// values are `range`: the path the pipeline's own evaluation takes.
    /// Blocks of [`CHUNK_ROWS`] rows are scored in parallel.
    pub fn score_scaled(&self, x: ArrayView2<'_, f32>, range: OutOfRange) -> Result<Scores> {
        // Each stage reads whole rows: one row-major copy here if need be.
        let x = x.as_standard_layout();
        let n = x.nrows();
        if range.rows != n {
            return Err(PipelineError::Unsupported(format!(
                "{n} rows to score, and a record of clamped values for {}",
                range.rows
            )));
        }
        if n <= CHUNK_ROWS {
            return self.score_block(x.view(), range);
        }
        let starts: Vec<usize> = (0..n).step_by(CHUNK_ROWS).collect();
        let blocks = starts
            .par_iter()
            .map(|&start| {
                let end = (start + CHUNK_ROWS).min(n);
                self.score_block(x.slice(ndarray::s![start..end, ..]), range.rows(start..end))
            })
            .collect::<Result<Vec<_>>>()?;
        let tops: Vec<_> = blocks.iter().map(|b| b.top_features.view()).collect();
        let top_features = ndarray::concatenate(Axis(0), &tops)
            .map_err(|e| PipelineError::Unsupported(format!("explanations: {e}")))?;
        let mut scores = Scores {
            margin: Vec::with_capacity(n),
            novelty: Vec::with_capacity(n),
            malicious: Vec::with_capacity(n),
            top_features,
            out_of_range: range,
        };
        for b in blocks {
            scores.margin.extend(b.margin);
            scores.novelty.extend(b.novelty);
            scores.malicious.extend(b.malicious);
        }
        Ok(scores)
    }

    /// Score one block of scaled rows.
    fn score_block(&self, x: ArrayView2<'_, f32>, range: OutOfRange) -> Result<Scores> {
        let encoder = self.encoder.model();
        let (margin, (novelty, top)) = if self.shared {
            // One network: its latent codes serve the policy and are
            // decoded for the novelty score.
            let z = encoder.encode_batch(x)?;
            let reconstruction = encoder.decode_batch(z.view())?;
            let obs = policy_input_of_latent(encoder, &self.scaler, z, x)?;
            (
                policy_margins(&self.policy, obs.view())?,
                self.novelty.explain_reconstruction(
                    x,
                    reconstruction,
                    Some(&range),
                    TOP_FEATURES,
                )?,
            )
        } else {
            let obs = policy_input(encoder, &self.scaler, x)?;
            (
                policy_margins(&self.policy, obs.view())?,
                self.novelty
                    .score_and_explain(x, Some(&range), TOP_FEATURES)?,
            )
        };
        let columns = autoencoders::Reconstructor::reconstructed_columns(self.novelty.model());
        let top_features = top.mapv(|k| columns[k]);
        let malicious = margin
            .iter()
            .zip(&novelty)
            .map(|(&m, &s)| self.point.flag(m, s))
            .collect();
        Ok(Scores {
            margin,
            novelty,
            malicious,
            top_features,
            out_of_range: range,
        })
    }

    /// Score raw (unscaled) flows whose columns follow the detector's schema.
    pub fn score_batch(&self, raw: ArrayView2<'_, f32>) -> Result<Scores> {
        let scaled = self.bounds.transform(raw)?;
        self.score_scaled(scaled.data.view(), scaled.out_of_range)
    }

    /// Score a frame of raw flows read with the detector's schema.
    pub fn score_frame(&self, frame: &FlowFrame) -> Result<Scores> {
        let names = self.schema.feature_names();
        // A frame read with the detector's schema is scaled as it is.
        let aligned;
        let raw = if frame.feature_names() == names {
            frame.features()
        } else {
            aligned = frame.select_features(&names)?;
            aligned.features()
        };
        self.score_batch(raw)
    }

    /// Score one raw flow (its values in the schema's column order).
    pub fn score_one(&self, raw: &[f32]) -> Result<FlowScore> {
        let x = Array2::from_shape_vec((1, raw.len()), raw.to_vec())
            .map_err(|e| PipelineError::Unsupported(format!("one flow: {e}")))?;
        let s = self.score_batch(x.view())?;
        let names = self.schema.feature_names();
        Ok(FlowScore {
            p_malicious: s.p_malicious(0),
            reconstruction_error: s.novelty[0],
            malicious: s.malicious[0],
            top_features: s
                .top_features
                .row(0)
                .iter()
                .map(|&j| names[j].to_string())
                .collect(),
        })
    }
}

/// One local adaptation (`nids adapt`): where its benign flows came from
/// and what it measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adaptation {
    /// The benign flows' files.
    pub benign: Vec<String>,
    /// Flows the novelty model was fine-tuned and the thresholds
    /// recalibrated on.
    pub tune_rows: usize,
    /// Flows held back to measure on.
    pub held_back_rows: usize,
    /// The verdict's false-positive rate on the held-back flows before.
    pub fpr_before: f64,
    /// The same after.
    pub fpr_after: f64,
}

impl Detector {
    /// Adapt the detector to benign traffic of another network: fine-tune
    /// the novelty model on a share (`fraction`) of `benign` (raw flows,
    /// all benign), recalibrate the verdict's two thresholds on those
    /// flows within the same budgets, never lowering either (so no flow
    /// the detector flagged as an attack for the policy's sake becomes
    /// easier to miss than the local benign traffic requires), and
    /// measure the verdict's false-positive rate on the rest before and
    /// after. The policy itself is unchanged: without attack flows to
    /// replay, further training would teach it only "benign". The
    /// adapted detector's default operating point is the new verdict.
    pub fn adapt(
        self,
        benign: ArrayView2<'_, f32>,
        sources: Vec<String>,
        fraction: f64,
        seed: u64,
    ) -> Result<(Detector, Adaptation)> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let n = benign.nrows();
        let n_tune = (n as f64 * fraction).round() as usize;
        if !(fraction > 0.0 && fraction < 1.0) || n_tune < 2 || n_tune >= n {
            return Err(PipelineError::config(
                "fraction",
                fraction,
                format!("must leave flows to fine-tune on and to measure ({n} benign flows)"),
            ));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let pick = |rows: &[usize]| -> Result<(Array2<f32>, OutOfRange)> {
            let mut x = benign.select(ndarray::Axis(0), rows);
            let range = self.bounds.transform_inplace(x.view_mut())?;
            Ok((x, range))
        };
        let (tune, tune_range) = pick(&order[..n_tune])?;
        let (rest, rest_range) = pick(&order[n_tune..])?;
        let before = self.score_scaled(rest.view(), rest_range.clone())?;
        let fpr_before = share_true(&before.malicious);

        // Fine-tune a copy of the novelty model on the local flows.
        let mut model = self.novelty.model().clone();
        let trainer = autoencoders::Trainer::new(autoencoders::TrainerConfig {
            learning_rate: 5e-4,
            epochs: 10,
            seed,
            min_epoch_rows: 16_384,
            ..autoencoders::TrainerConfig::default()
        })?;
        trainer.fit_split(&mut model, tune.view(), &mut |_| {})?;
        let novelty = ReconstructionDetector::fit_with(
            model,
            tune.view(),
            Some(&tune_range),
            self.novelty.threshold().method,
            self.novelty.error_scale().scoring,
        )?;
        let tune_novelty = novelty.score_with(tune.view(), Some(&tune_range))?;
        let obs = policy_input(self.encoder.model(), &self.scaler, tune.view())?;
        let tune_margin = policy_margins(&self.policy, obs.view())?;
        let rule = crate::verdict::VerdictRule::fit(
            &self.manifest.novelty,
            &vec![false; n_tune],
            &tune_margin,
            &tune_novelty,
            self.manifest.novelty_budget,
            self.manifest.budget,
        )?;
        let old = self.manifest.operating_point("verdict")?;
        let raise = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o.max(new)));
        let verdict = OperatingPoint {
            name: "verdict".into(),
            description: format!(
                "{} (adapted on {n_tune} local benign flows)",
                old.description
            ),
            policy_margin: raise(old.policy_margin, rule.policy_margin_threshold)
                .filter(|t| t.is_finite()),
            novelty: Some(rule.novelty_threshold),
        };
        let mut manifest = self.manifest.clone();
        for p in manifest.operating_points.iter_mut() {
            if p.name == "verdict" {
                *p = verdict.clone();
            }
        }
        manifest.default_operating_point = "verdict".into();
        let adapted = Detector {
            dir: self.dir,
            shared: self.encoder.model().same_network(novelty.model()),
            manifest,
            schema: self.schema,
            bounds: self.bounds,
            encoder: self.encoder,
            novelty,
            policy: self.policy,
            scaler: self.scaler,
            point: verdict,
        };
        let after = adapted.score_scaled(rest.view(), rest_range)?;
        let adaptation = Adaptation {
            benign: sources,
            tune_rows: n_tune,
            held_back_rows: n - n_tune,
            fpr_before,
            fpr_after: share_true(&after.malicious),
        };
        let mut adapted = adapted;
        adapted.manifest.adaptations.push(adaptation.clone());
        Ok((adapted, adaptation))
    }

    /// Write this detector (e.g. an adapted one) as a new directory.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write(
            dir,
            &DetectorParts {
                schema: &self.schema,
                bounds: &self.bounds,
                encoder: &self.encoder,
                novelty: &self.novelty,
                policy: &self.policy,
                scaler: &self.scaler,
                manifest: self.manifest.clone(),
            },
        )
    }
}

fn share_true(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}
