#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// The modules in layers, lowest first: a module imports only modules of
// the layers above it here (the workspace's layering test checks it).
pub mod error;

pub mod input;

pub mod verdict;

pub mod manifest;

pub mod artifact;

pub mod score;

pub mod adapt;

pub mod output;

pub mod session;

pub mod fixture;

pub use adapt::AdaptConfig;
pub use artifact::{Detector, DetectorParts};
pub use error::{DetectorError, Result};
pub use input::{LatentScaler, PolicyInput, probability};
pub use manifest::{Adaptation, InputFile, Manifest, Provenance};
pub use output::{OutputFormat, ScoredBatch, VerdictWriter};
pub use score::{FlowScore, Scores};
pub use session::{ScoringSession, Totals};
pub use verdict::{OperatingPoint, VerdictRule};
