#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod arrow_io;
mod clean;
mod error;
mod frame;
mod infer;
mod input;
mod io_util;
mod labels;
mod number;
mod origins;
mod reader;
mod records;
mod scale;
mod schema;
mod sniff;
mod split;
mod summary;
pub mod synth;
pub mod testdata;

pub use arrow_io::SCHEMA_METADATA_KEY;
pub use clean::{
    CellCounts, CleaningPolicy, CleaningReport, DropCounts, DropReason, FileReport,
    MALFORMED_LISTED, MalformedRow, NegativePolicy, NonFinitePolicy, SentinelPolicy, SkippedRow,
};
pub use error::{FlowDataError, Result};
pub use frame::FlowFrame;
pub use infer::{InferOptions, MAX_BAD_NUMERIC_SHARE};
pub use input::STDIN_NAME;
pub use io_util::{write_atomic, write_json_atomic};
pub use labels::{ClassInfo, Family, decode_label, is_no_label, is_text};
pub use origins::Origins;
pub use reader::{
    Alignment, FillValue, FlowReader, ReadOptions, UNLABELLED, expand_inputs, read_flows,
    read_flows_from, read_flows_with_progress,
};
pub use scale::{Bounds, Excess, FeatureBounds, OutOfRange, RowOutOfRange, Scaled, ScalingMethod};
pub use schema::{
    CategoricalPolicy, FeatureKind, FeatureSpec, IDENTIFIER_COLUMNS, OneHotColumn, Schema,
    cicids2017_canonical_name, identifier_column, is_identifier, normalize_header,
};
pub use sniff::{InputKind, SNIFF_BYTES, first_bytes, sniff};
pub use split::{Split, SplitConfig, SplitIndices, split_indices};
pub use summary::{FeatureStats, FlowSummary};
