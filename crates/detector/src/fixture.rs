//! A small untrained detector, for examples and tests (this crate's, and
//! those of the crates built on it): the real artifact with every part in
//! place, its weights untrained. It scores and explains flows like a
//! trained one; its verdicts mean nothing.

use std::collections::BTreeMap;
use std::path::Path;

use autoencoders::{
    Autoencoder, Model, ModelConfig, ModelKind, ReconstructionDetector, ThresholdMethod,
};
use flowdata::synth::{SynthConfig, generate};
use flowdata::{Bounds, FeatureKind, ScalingMethod};
use ppo::{Ppo, PpoConfig, Space};

use crate::artifact::{Detector, DetectorParts};
use crate::error::Result;
use crate::input::{LatentScaler, PolicyInput, raw_policy_input};
use crate::manifest::{FORMAT_VERSION, Manifest, Provenance};
use crate::verdict::OperatingPoint;

/// Generated flows the fixture is fitted on.
const ROWS: usize = 2_000;

/// Write an untrained detector into `dir` and load it: the schema and
/// scaling of 2,000 flows generated with `seed` (`flowdata::synth`), a
/// feedforward autoencoder as both encoder and novelty model, calibrated
/// on the benign flows, an untrained policy on its latent code and the
/// scaled features, and two operating points (`verdict`, `argmax`).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let detector = detector::fixture::untrained(dir.path(), 7)?;
/// assert_eq!(detector.operating_point().name, "verdict");
/// assert!(dir.path().join("detector.json").is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn untrained(dir: &Path, seed: u64) -> Result<Detector> {
    let frame = generate(&SynthConfig {
        rows: ROWS,
        seed,
        ..SynthConfig::default()
    });
    // The model reads the continuous features and flags, not the port.
    let (_, read): (Vec<_>, Vec<_>) = frame
        .schema()
        .features
        .iter()
        .partition(|f| f.kind == FeatureKind::Categorical);
    let names: Vec<&str> = read.iter().map(|f| f.name.as_str()).collect();
    let mut flows = frame.select_features(&names)?;
    let schema = flows.schema().clone();
    let bounds = Bounds::fit(&schema, flows.features(), ScalingMethod::default())?;
    bounds.transform_frame(&mut flows)?;
    let benign = flows.benign();
    let model = Model::new(
        &ModelConfig::default_for(ModelKind::FeedForward),
        schema.n_features(),
        seed,
    )?;
    let novelty = ReconstructionDetector::fit(
        model.clone(),
        benign.features(),
        ThresholdMethod::Percentile(95.0),
    )?;
    let input = PolicyInput::LatentFeatures;
    let obs = raw_policy_input(&model, input, flows.features())?;
    let scaler = LatentScaler::fit(input, model.latent_dim(), obs.view());
    let width = obs.ncols();
    let policy = Ppo::with_spaces(
        PpoConfig::default(),
        Space::Box {
            low: vec![f32::NEG_INFINITY; width],
            high: vec![f32::INFINITY; width],
            shape: vec![width],
        },
        Space::Discrete { n: 2 },
        seed,
    )?;
    let point = |name: &str, description: &str, novelty: Option<f64>| OperatingPoint {
        name: name.into(),
        description: description.into(),
        policy_margin: Some(0f64.next_up()),
        novelty,
    };
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        encoder: ModelKind::FeedForward.as_str().to_string(),
        novelty: ModelKind::FeedForward.as_str().to_string(),
        novelty_threshold: novelty.threshold().clone(),
        novelty_error_scale: novelty.error_scale().clone(),
        novelty_budget: 0.02,
        budget: 0.05,
        adaptations: Vec::new(),
        policy_input: input,
        operating_points: vec![
            point(
                "verdict",
                "untrained: the policy's argmax OR the novelty threshold",
                Some(novelty.threshold().value),
            ),
            point("argmax", "untrained: the policy's own decision", None),
        ],
        default_operating_point: "verdict".into(),
        provenance: Provenance {
            seed,
            inputs: Vec::new(),
            source: format!("untrained fixture ({ROWS} generated flows, seed {seed})"),
            rows: [flows.n_rows(), 0, 0],
            headline: BTreeMap::new(),
        },
    };
    DetectorParts {
        schema: &schema,
        bounds: &bounds,
        encoder: &model,
        novelty: novelty.model(),
        policy: &policy,
        scaler: &scaler,
        manifest: &manifest,
    }
    .write(dir)?;
    Detector::load(dir)
}
