#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod arrow_io;
mod clean;
mod error;
mod frame;
mod infer;
mod io_util;
mod labels;
mod origins;
mod reader;
mod scale;
mod schema;
mod split;
mod summary;
pub mod synth;
pub mod testdata;

pub use arrow_io::SCHEMA_METADATA_KEY;
pub use clean::{
    CellCounts, CleaningPolicy, CleaningReport, DropCounts, DropReason, FileReport, NegativePolicy,
    NonFinitePolicy, SentinelPolicy, SkippedRow,
};
pub use error::{FlowDataError, Result};
pub use frame::FlowFrame;
pub use infer::{InferOptions, MAX_BAD_NUMERIC_SHARE};
pub use io_util::{write_atomic, write_json_atomic};
pub use labels::{ClassInfo, Family, decode_label};
pub use origins::Origins;
pub use reader::{
    Alignment, FlowReader, ReadOptions, expand_inputs, read_flows, read_flows_with_progress,
};
pub use scale::{Bounds, Excess, FeatureBounds, OutOfRange, Scaled, ScalingMethod};
pub use schema::{
    CategoricalPolicy, FeatureKind, FeatureSpec, IDENTIFIER_COLUMNS, OneHotColumn, Schema,
    cicids2017_canonical_name, identifier_column, is_identifier, normalize_header,
};
pub use split::{Split, SplitConfig, SplitIndices, split_indices};
pub use summary::{FeatureStats, FlowSummary};
