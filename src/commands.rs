//! The smaller `nids` commands, as library calls: `inspect`, `summary`
//! and `adapt` (`train` is [`crate::cli::train`], `score`
//! [`crate::scoring::score`]).

use std::path::{Path, PathBuf};

use detector::{AdaptConfig, Adaptation, Detector};
use flowdata::{Alignment, ReadOptions};

use crate::cli::SchemaArgs;
use crate::error::{PipelineError, Result};
use crate::ingest::{fill_hint, infer_schema, refuse_logs};

/// `nids inspect`: what the detector in `dir` is and what it promises.
pub fn inspect(dir: &Path) -> Result<String> {
    Ok(Detector::load(dir)?.describe(dir))
}

/// `nids summary`: a first look at flow files, as text or one JSON object.
pub fn summary(
    paths: &[PathBuf],
    schema: &SchemaArgs,
    alignment: Alignment,
    json: bool,
) -> Result<String> {
    let options = ReadOptions {
        alignment,
        ..ReadOptions::with_schema(infer_schema(
            schema.label_column.as_deref(),
            schema.family_column.as_deref(),
            &schema.categorical,
            paths,
        )?)
    };
    let s = flowdata::FlowSummary::read(paths, &options)?;
    if json {
        let text =
            serde_json::to_string(&s).map_err(|source| PipelineError::json("<summary>", source))?;
        Ok(format!("{text}\n"))
    } else {
        Ok(s.to_text())
    }
}

/// What `nids adapt` is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptRequest {
    /// The detector to adapt.
    pub detector: PathBuf,
    /// Benign flows of the new network: CSV files or directories
    /// (labelled files keep their benign rows only).
    pub benign: Vec<PathBuf>,
    /// Where the adapted detector is written (must not exist).
    pub out: PathBuf,
    /// The adaptation's settings.
    pub config: AdaptConfig,
    /// Fill features the flows lack with this value.
    pub fill_missing: Option<flowdata::FillValue>,
}

/// `nids adapt`: adapt a saved detector to a new network's benign flows
/// ([`Detector::adapt`]) and write it as a new directory, whole or not at
/// all.
pub fn adapt(request: &AdaptRequest) -> Result<Adaptation> {
    if request.out.exists() {
        return Err(PipelineError::config(
            "out",
            request.out.display(),
            "exists: the adapted detector is written to a new directory",
        ));
    }
    let detector = Detector::load(&request.detector)?;
    for p in request.benign.iter().filter(|p| p.is_file()) {
        refuse_logs(p)?;
    }
    let options = ReadOptions {
        alignment: Alignment::for_scoring(request.fill_missing),
        unlabelled: Some("BENIGN".into()),
        ..ReadOptions::with_schema(detector.schema().clone())
    };
    let (frame, _) = flowdata::read_flows(&request.benign, &options).map_err(fill_hint)?;
    let benign = frame.benign();
    let sources = request
        .benign
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let (adapted, adaptation) = detector.adapt(benign.features(), sources, &request.config)?;
    adapted.save_new(&request.out)?;
    Ok(adaptation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_describes_and_adapt_writes_a_new_detector_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("detector");
        detector::fixture::untrained(&d, 1).unwrap();
        let text = inspect(&d).unwrap();
        assert!(
            text.contains("operating points (default: verdict)"),
            "{text}"
        );
        let benign = dir.path().join("benign.csv");
        let flows = flowdata::synth::generate(&flowdata::synth::SynthConfig {
            rows: 600,
            attack_fraction: 0.0,
            ..Default::default()
        });
        flows.write_csv(&benign).unwrap();
        let mut config = AdaptConfig::default();
        config.trainer.epochs = 1;
        let request = AdaptRequest {
            detector: d,
            benign: vec![benign.clone()],
            out: dir.path().join("adapted"),
            config,
            fill_missing: None,
        };
        let a = adapt(&request).unwrap();
        assert!(a.tune_rows > 0 && a.held_back_rows > 0);
        assert_eq!(
            Detector::load(&request.out).unwrap().manifest().adaptations,
            [a]
        );
        let err = adapt(&request).unwrap_err().to_string();
        assert!(err.contains("exists"), "{err}");
        let text = summary(
            &[benign],
            &SchemaArgs::default(),
            Alignment::Intersect,
            false,
        )
        .unwrap();
        assert!(!text.is_empty());
    }
}
