//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading, cleaning, scaling or writing flows.
///
/// Messages name the file, the line (1-based, the header is line 1), the
/// column and what was expected, so that a user can open the file and look.
#[derive(Debug, thiserror::Error)]
pub enum FlowDataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no header line at all: no byte, or blank lines only.
    #[error("{path}: {} (expected a CSV header line)", if *blank_lines == 0 { "the file is empty".to_string() } else { format!("the file holds only {blank_lines} blank line(s)") })]
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// Blank lines it holds.
        blank_lines: u64,
    },
    /// The input is not flow features as CSV: a capture, a Zeek or
    /// Suricata log, a columnar file, compressed or binary data (told by
    /// [`crate::sniff`] from its first bytes).
    #[error("{path}: {kind}, not a flow-feature CSV file (first bytes: {first_bytes}): {}", kind.advice())]
    NotFlowCsv {
        /// The file (`<stdin>` for standard input).
        path: PathBuf,
        /// What it is.
        kind: crate::sniff::InputKind,
        /// Its first bytes, in hex and as text ([`crate::first_bytes`]).
        first_bytes: String,
    },
    /// A file read as Parquet or Arrow IPC is something else.
    #[error("{path}: {kind}, not {expected} (first bytes: {first_bytes})")]
    WrongFormat {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: crate::sniff::InputKind,
        /// What was expected.
        expected: &'static str,
        /// Its first bytes, in hex and as text.
        first_bytes: String,
    },
    /// The file holds a header but no data rows.
    #[error("{path}: the file has a header but no data rows")]
    NoRows {
        /// The file.
        path: PathBuf,
    },
    /// The input does not look like CSV text (NUL bytes, for example).
    #[error("{path}: line {line}: not a CSV text file ({reason})")]
    NotCsv {
        /// The file.
        path: PathBuf,
        /// Line where the problem was seen.
        line: u64,
        /// What was seen.
        reason: String,
    },
    /// A row has a different number of cells than the header.
    #[error("{path}: line {line}: expected {expected} cells as in the header, found {found}")]
    RaggedRow {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Cells in the header.
        expected: usize,
        /// Cells in this row.
        found: usize,
    },
    /// A cell of a numeric column could not be parsed as a number.
    #[error("{path}: line {line}, column {column} ('{name}'): expected a number, found '{found}'")]
    BadNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// Column name as written in the header.
        name: String,
        /// The cell's text (lossily decoded, shortened).
        found: String,
    },
    /// The label column was not found in the header, and it is needed
    /// (reading for training or evaluation; a reader for scoring makes it
    /// optional with [`crate::ReadOptions::unlabelled`]).
    #[error(
        "{path}: no label column '{expected}' in the header (columns: {columns}); labels are needed to train or evaluate"
    )]
    MissingLabelColumn {
        /// The file.
        path: PathBuf,
        /// The label column that was expected.
        expected: String,
        /// The header's columns, comma-separated and shortened.
        columns: String,
    },
    /// The family column named by the schema was not found in the header,
    /// and labels are needed.
    #[error(
        "{path}: no family column '{expected}' in the header (columns: {columns}); it is needed to train or evaluate"
    )]
    MissingFamilyColumn {
        /// The file.
        path: PathBuf,
        /// The family column that was expected.
        expected: String,
        /// The header's columns, comma-separated and shortened.
        columns: String,
    },
    /// A label cell that names no class (empty, punctuation only, the
    /// `NeedManualLabel` placeholder) where labels are needed.
    #[error(
        "{path}: line {line}, column {column} ('{name}'): expected a label, found '{found}' (a blank, punctuation-only or placeholder label names no class; labels are needed to train or evaluate)"
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// Column name as written in the header.
        name: String,
        /// The cell's text (lossily decoded, shortened).
        found: String,
    },
    /// A label or identifier cell that is not text ([`crate::is_text`]):
    /// bytes that are not UTF-8 nor single Windows-1252 characters, or
    /// control bytes.
    #[error("{path}: line {line}, column {column} ('{name}'): expected text, found bytes {found}")]
    BadText {
        /// The file.
        path: PathBuf,
        /// 1-based line number (where the record starts).
        line: u64,
        /// 1-based column number.
        column: usize,
        /// Column name as written in the header.
        name: String,
        /// The cell's first bytes, in hex and as text.
        found: String,
    },
    /// Two or more columns give the same feature (or label column) after
    /// header normalisation and aliases.
    #[error(
        "{path}: columns {columns} all give {target}; each may appear once (only CICFlowMeter's repeated 'Fwd Header Length', identical by construction, is read once and checked)"
    )]
    DuplicateColumns {
        /// The file.
        path: PathBuf,
        /// What they give: `feature 'Flow Duration'`, `the label column 'Label'`.
        target: String,
        /// The columns, `2 'Flow Duration', 80 'flow_duration'`.
        columns: String,
    },
    /// A repeated column that must repeat its values does not.
    #[error(
        "{path}: line {line}: {repeat} where {first}; a repeated column must repeat its values"
    )]
    RepeatDiffers {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The repeat and its value: `column 3 ('Fwd Header Length.1') holds 61`.
        repeat: String,
        /// The first column and its value.
        first: String,
    },
    /// Under the `Intersect` policy, the input files have no feature of the
    /// schema in common.
    #[error("the input files share no feature of schema '{schema}': {files}")]
    NoSharedFeature {
        /// Schema name.
        schema: String,
        /// Each file with the columns it has, `path (columns: a, b)`,
        /// separated by `; `.
        files: String,
    },
    /// The header lacks features the schema needs under the `Strict` policy.
    #[error("{path}: missing {} feature column(s) required by schema '{schema}': {}", missing.len(), missing.join(", "))]
    MissingColumns {
        /// The file.
        path: PathBuf,
        /// Schema name.
        schema: String,
        /// Canonical names of the missing features.
        missing: Vec<String>,
    },
    /// A CSV-level syntax error reported by the parser.
    #[error("{path}: line {line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// No input files were given, or a directory held no CSV files.
    #[error("no input files: {0}")]
    NoInput(String),
    /// A configuration value is invalid.
    #[error("invalid {name}: {message}")]
    InvalidConfig {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid, with the value.
        message: String,
    },
    /// Matrices or schemas that must agree do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// JSON (schema, bounds) could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Arrow or Parquet conversion failed.
    #[error("{context}: {message}")]
    Arrow {
        /// The file or the operation.
        context: String,
        /// The library's message.
        message: String,
    },
}

impl FlowDataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FlowDataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(name: &'static str, message: impl Into<String>) -> Self {
        FlowDataError::InvalidConfig {
            name,
            message: message.into(),
        }
    }

    pub(crate) fn arrow(context: impl Into<String>, err: impl std::fmt::Display) -> Self {
        FlowDataError::Arrow {
            context: context.into(),
            message: err.to_string(),
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = FlowDataError> = std::result::Result<T, E>;
