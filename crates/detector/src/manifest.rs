//! The manifest, `detector.json`: what a detector is, where it came from,
//! and the rules it may apply.

use std::collections::BTreeMap;
use std::path::Path;

use autoencoders::{ErrorScale, Threshold};
use serde::{Deserialize, Serialize};

use crate::error::{DetectorError, Result};
use crate::input::PolicyInput;
use crate::verdict::OperatingPoint;

/// Version of the detector directory's layout and manifest.
pub const FORMAT_VERSION: u32 = 2;
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "detector.json";
/// The input columns' file name ([`flowdata::Schema`]).
pub const SCHEMA_FILE: &str = "schema.json";
/// The scaling's file name ([`flowdata::Bounds`]).
pub const BOUNDS_FILE: &str = "bounds.json";
/// The directory of the autoencoder whose latent code the policy reads.
pub const ENCODER_DIR: &str = "encoder";
/// The directory of the verdict's novelty autoencoder.
pub const NOVELTY_DIR: &str = "novelty";
/// The directory of the PPO policy and its input standardisation.
pub const POLICY_DIR: &str = "policy";
/// The latent standardisation's file name inside [`POLICY_DIR`].
pub const SCALER_FILE: &str = "latent_scaler.json";

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
    /// The novelty score's threshold, as the novelty detector was
    /// calibrated (the verdict's own novelty threshold is its operating
    /// point's).
    pub novelty_threshold: Threshold,
    /// The per-feature divisors of the novelty score.
    pub novelty_error_scale: ErrorScale,
    /// The novelty part's share of the benign validation flows in the
    /// verdict.
    pub novelty_budget: f64,
    /// The verdict's whole false-alarm budget.
    pub budget: f64,
    /// Local adaptations applied since training (`nids adapt`), oldest first.
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
                DetectorError::argument(
                    "operating_point",
                    name,
                    format!("expected one of {}", names.join(", ")),
                )
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
    /// The novelty detector's false-positive rate alone, at its own
    /// calibrated threshold, on the held-back flows before.
    pub novelty_fpr_before: f64,
    /// The same after (at its recalibrated threshold).
    pub novelty_fpr_after: f64,
}

/// The files an input path of a training run stands for, as the reader
/// reads them ([`flowdata::expand_inputs`]: a file, or the CSV files of a
/// directory, sorted), each with its size and SHA-256.
pub fn describe_inputs(path: &Path) -> Result<Vec<InputFile>> {
    use sha2::{Digest, Sha256};
    flowdata::expand_inputs(&[path])?
        .into_iter()
        .map(|f| {
            let mut file = std::fs::File::open(&f).map_err(|e| DetectorError::io(&f, e))?;
            let mut hasher = Sha256::new();
            let bytes =
                std::io::copy(&mut file, &mut hasher).map_err(|e| DetectorError::io(&f, e))?;
            Ok(InputFile {
                path: f.display().to_string(),
                bytes,
                sha256: hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_the_files_the_reader_reads_with_their_hashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), "abc").unwrap();
        std::fs::write(dir.path().join("a.csv"), "").unwrap();
        std::fs::write(dir.path().join("c.parquet"), "PAR1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let files = describe_inputs(dir.path()).unwrap();
        let names: Vec<&str> = files
            .iter()
            .map(|f| f.path.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["a.csv", "b.csv"], "the reader skips all but CSV");
        assert_eq!(files[1].bytes, 3);
        assert_eq!(
            files[1].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let one = describe_inputs(&dir.path().join("c.parquet")).unwrap();
        assert_eq!(one.len(), 1, "a file given by name is what it is");
        let err = describe_inputs(&dir.path().join("absent.csv")).unwrap_err();
        assert!(err.to_string().contains("absent.csv"), "{err}");
    }
}
