//! Streaming, parallel reading of flow CSV into [`FlowFrame`]s, from files
//! and from any byte stream (standard input, a pipe) with the same rules.
//!
//! Inputs are read in blocks of whole records; each block is cut into
//! parts parsed on all cores, and the parts are merged in order, so that
//! the result does not depend on the number of threads. Records follow
//! CSV rules: a quoted field may hold line ends (see `records`), and
//! errors name the line a record starts on. A live stream is read with a
//! deadline ([`FlowReader::next_chunk_by`]): the complete records that have
//! arrived by then are returned, with bounded memory on endless input.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hashbrown::{HashMap, HashSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clean::{
    CellCounts, CleaningPolicy, CleaningReport, DropCounts, DropReason, FileReport,
    MALFORMED_LISTED, MalformedRow, NegativePolicy, NonFinitePolicy, SentinelPolicy, SkippedRow,
};
use crate::error::{FlowDataError, Result};
use crate::frame::FlowFrame;
use crate::input::{ByteSource, Fill, InputSpec, Opened, STDIN_NAME, open_input};
use crate::labels::{ClassInfo, Family, LabelCell, decode_label, decode_text, is_text, label_cell};
use crate::number::{Cell, parse_cell, plain_number, store};
use crate::origins::OriginsBuilder;
use crate::records::{MAX_RECORD_BYTES, QuotedParser, cut_records};
use crate::schema::{Schema, identifier_column, is_identifier, normalize_header};
use crate::sniff::first_bytes;

/// A value that fills missing features: finite, and finite as `f32` too
/// (a model computes in `f32`). [`FillValue::new`] and its `FromStr` are
/// the only ways to make one, so every fill value has been checked.
///
/// ```
/// use flowdata::FillValue;
/// assert_eq!("0".parse::<FillValue>().unwrap().get(), 0.0);
/// for bad in ["NaN", "inf", "-inf", "1e39", "x"] {
///     let err = bad.parse::<FillValue>().unwrap_err().to_string();
///     assert!(err.contains(bad), "{err}");
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f32")]
pub struct FillValue(f32);

impl FillValue {
    /// A fill value: `value` must be finite and within `f32`'s range.
    pub fn new(value: f64) -> Result<FillValue> {
        let v = value as f32;
        if value.is_finite() && v.is_finite() {
            Ok(FillValue(v))
        } else {
            Err(FlowDataError::config(
                "fill value",
                format!(
                    "{value} cannot fill missing features: expected a finite number within ±{:e}",
                    f32::MAX
                ),
            ))
        }
    }

    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }
}

impl TryFrom<f64> for FillValue {
    type Error = FlowDataError;
    fn try_from(value: f64) -> Result<FillValue> {
        FillValue::new(value)
    }
}

impl TryFrom<f32> for FillValue {
    type Error = FlowDataError;
    fn try_from(value: f32) -> Result<FillValue> {
        FillValue::new(f64::from(value))
    }
}

impl From<FillValue> for f32 {
    fn from(v: FillValue) -> f32 {
        v.0
    }
}

impl std::str::FromStr for FillValue {
    type Err = FlowDataError;

    /// A number as text; the error quotes the text as given.
    fn from_str(s: &str) -> Result<FillValue> {
        let bad = |why: &str| {
            FlowDataError::config(
                "fill value",
                format!("'{s}' cannot fill missing features: {why}"),
            )
        };
        let v: f64 = s.trim().parse().map_err(|_| bad("expected a number"))?;
        FillValue::new(v)
            .map_err(|_| bad(&format!("expected a finite number within ±{:e}", f32::MAX)))
    }
}

impl std::fmt::Display for FillValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What to do when a file lacks features of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "policy", content = "value")]
pub enum Alignment {
    /// Fail, naming the file and the missing columns.
    Strict,
    /// Shrink the schema to the features every input has (default: right
    /// when exploring or training on several files).
    #[default]
    Intersect,
    /// Fill the missing features with a constant (right when a trained model
    /// must score a file that lacks some features).
    Fill(FillValue),
}

impl Alignment {
    /// [`Alignment::Fill`] with a checked value ([`FillValue::new`]).
    ///
    /// ```
    /// use flowdata::Alignment;
    /// assert!(Alignment::fill(0.0).is_ok());
    /// assert!(Alignment::fill(f64::NAN).is_err() && Alignment::fill(1e39).is_err());
    /// ```
    pub fn fill(value: f64) -> Result<Alignment> {
        FillValue::new(value).map(Alignment::Fill)
    }

    /// The policy for scoring files with a trained model's schema: a file
    /// that lacks any of the model's features is an error naming them
    /// ([`Alignment::Strict`]), unless a fill value is chosen explicitly
    /// ([`Alignment::Fill`]); a model never scores silently made-up
    /// features.
    ///
    /// ```
    /// use flowdata::{Alignment, FillValue};
    /// assert_eq!(Alignment::for_scoring(None), Alignment::Strict);
    /// let zero = FillValue::new(0.0).unwrap();
    /// assert_eq!(Alignment::for_scoring(Some(zero)), Alignment::Fill(zero));
    /// ```
    pub fn for_scoring(fill_missing: Option<FillValue>) -> Alignment {
        fill_missing.map_or(Alignment::Strict, Alignment::Fill)
    }
}

/// The class name [`ReadOptions::for_scoring`] gives rows without a label.
pub const UNLABELLED: &str = "UNLABELLED";

impl std::str::FromStr for Alignment {
    type Err = FlowDataError;

    /// `strict`, `intersect` or `fill:VALUE`.
    ///
    /// ```
    /// use flowdata::Alignment;
    /// assert_eq!("fill:0".parse::<Alignment>().unwrap(), Alignment::fill(0.0).unwrap());
    /// assert!("loose".parse::<Alignment>().is_err());
    /// assert!("fill:NaN".parse::<Alignment>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "strict" => Ok(Alignment::Strict),
            "intersect" => Ok(Alignment::Intersect),
            _ => match s.strip_prefix("fill:") {
                Some(v) => v.parse().map(Alignment::Fill),
                None => Err(FlowDataError::config(
                    "alignment",
                    format!("expected strict, intersect or fill:VALUE, got '{s}'"),
                )),
            },
        }
    }
}

impl std::fmt::Display for Alignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alignment::Strict => f.write_str("strict"),
            Alignment::Intersect => f.write_str("intersect"),
            Alignment::Fill(v) => write!(f, "fill({v})"),
        }
    }
}

/// Options for reading flow CSVs.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadOptions {
    /// The schema the files are aligned to. Default: [`Schema::cicids2017`].
    pub schema: Schema,
    /// Missing-feature policy. Default: [`Alignment::Intersect`].
    pub alignment: Alignment,
    /// Cleaning policy (its `lenient` flag decides whether a malformed
    /// row is skipped and reported, or an error). Default:
    /// [`CleaningPolicy::default`].
    pub cleaning: CleaningPolicy,
    /// Bytes of text read and parsed at a time (default 4 MiB; at least 64 KiB).
    pub block_bytes: usize,
    /// Whether labels are needed. `None` (the default, for training and
    /// evaluation): a file without the label column (or the schema's family
    /// column) is an error naming it, and a row without a label (a blank or
    /// punctuation-only cell, the `NeedManualLabel` placeholder) is
    /// malformed. `Some(text)` (for scoring): labels are optional; every
    /// row without one gets `text` as its label, in a class marked
    /// unlabelled ([`ClassInfo::labelled`], [`FlowFrame::is_labelled`]),
    /// never an attack unless `text` names one, and the family column may
    /// be absent.
    pub unlabelled: Option<String>,
    /// Keep where each kept row came from ([`FlowFrame::origins`]): its
    /// position among the data rows read, and the identifier columns the
    /// files have ([`crate::IDENTIFIER_COLUMNS`], in any extractor's
    /// spelling; a feature such as `Destination Port` is read as a feature
    /// too), verbatim; identifier cells that are not text
    /// ([`crate::is_text`]) make the row malformed; and every row not kept,
    /// with its line and the reason ([`FileReport::skipped_rows`]).
    /// Default: false (nothing is kept, and reading costs nothing more).
    pub origins: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            schema: Schema::cicids2017(),
            alignment: Alignment::Intersect,
            cleaning: CleaningPolicy::default(),
            block_bytes: 4 << 20,
            unlabelled: None,
            origins: false,
        }
    }
}

impl ReadOptions {
    /// How a trained model's flows are read for scoring: with its schema,
    /// every readable flow kept (duplicates and impossible negatives
    /// included: the model judges them), malformed rows skipped and listed
    /// ([`CleaningPolicy::lenient`]; a strict reader sets it back), labels
    /// optional (rows without one are `UNLABELLED`, never an attack),
    /// origins kept so that each verdict joins back to its row, and missing
    /// features an error unless a fill value is given
    /// ([`Alignment::for_scoring`]).
    pub fn for_scoring(schema: Schema, fill_missing: Option<FillValue>) -> ReadOptions {
        ReadOptions {
            alignment: Alignment::for_scoring(fill_missing),
            cleaning: CleaningPolicy {
                lenient: true,
                drop_duplicates: false,
                negative: NegativePolicy::Keep,
                ..CleaningPolicy::default()
            },
            unlabelled: Some(UNLABELLED.into()),
            origins: true,
            ..ReadOptions::with_schema(schema)
        }
    }

    /// Options for another schema, other settings at their defaults.
    pub fn with_schema(schema: Schema) -> ReadOptions {
        ReadOptions {
            schema,
            ..ReadOptions::default()
        }
    }
}

/// Expand a list of files and directories into the CSV files to read:
/// directories contribute their `*.csv` files (sorted by name, not recursive).
pub fn expand_inputs<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p).map_err(|e| FlowDataError::io(p, e))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| FlowDataError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv"))
                })
                .collect();
            if files.is_empty() {
                return Err(FlowDataError::NoInput(format!(
                    "directory {} holds no .csv files",
                    p.display()
                )));
            }
            files.sort();
            out.extend(files);
        } else {
            out.push(p.to_path_buf());
        }
    }
    if out.is_empty() {
        return Err(FlowDataError::NoInput("no paths were given".into()));
    }
    Ok(out)
}

/// The role of one input column.
#[derive(Clone, Debug, PartialEq)]
enum Role {
    Feature(usize),
    /// CICFlowMeter's repeat of a feature, checked equal to it.
    Repeat(usize),
    OneHot {
        offset: usize,
        index: usize,
    },
    Label,
    Family,
    /// An identifier passed through (with origins): checked to be text.
    Identifier,
    Ignored,
}

/// How one file's columns map onto the schema.
#[derive(Clone, Debug)]
struct FilePlan {
    path: PathBuf,
    header: Vec<String>,
    roles: Vec<Role>,
    /// Per one-hot column: category bytes -> index.
    one_hot: Vec<HashMap<Vec<u8>, usize>>,
    /// Schema features this file lacks.
    missing: Vec<usize>,
    /// The label rows without one get, when labels are optional.
    default_label: Option<Vec<u8>>,
    /// The identifier columns: (column, index in `IDENTIFIER_COLUMNS`),
    /// the first column of each identifier only.
    identifiers: Vec<(usize, usize)>,
    report: FileReport,
}

/// The header's columns for an error message: comma-separated, shortened to
/// about 300 bytes.
pub(crate) fn short_columns(header: &[String]) -> String {
    let mut columns = header.join(", ");
    if columns.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| columns.is_char_boundary(i))
            .unwrap_or(0);
        columns.truncate(cut);
        columns.push_str(" ...");
    }
    columns
}

/// What a header column gives, before repeats are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Target {
    Feature(usize),
    OneHot(usize),
    Label,
    Family,
}

/// True for CICFlowMeter's repeat of `Fwd Header Length` (feature 62
/// duplicates 41 in its source): the same name again, or pandas' `.1`.
fn is_cicflowmeter_repeat(feature: &str, header: &str) -> bool {
    let key = normalize_header(header);
    feature == "Fwd Header Length" && (key == "fwdheaderlength" || key == "fwdheaderlength1")
}

/// The feature a header names, directly or as pandas' `NAME.1` copy.
fn feature_of<'a>(schema: &'a Schema, h: &str) -> Option<&'a str> {
    schema.canonical_name(h).or_else(|| {
        let (base, suffix) = h.rsplit_once('.')?;
        (!suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_digit()))
            .then(|| schema.canonical_name(base))
            .flatten()
    })
}

fn plan_file(
    path: &Path,
    header: Vec<String>,
    schema: &Schema,
    options: &ReadOptions,
) -> Result<FilePlan> {
    let unlabelled = options.unlabelled.as_deref();
    let label_key = normalize_header(&schema.label_column);
    let family_key = schema.family_column.as_deref().map(normalize_header);
    let mut roles = vec![Role::Ignored; header.len()];
    let mut report = FileReport {
        path: path.to_path_buf(),
        ..FileReport::default()
    };
    let mut identifiers: Vec<(usize, usize)> = Vec::new();
    for (i, h) in header.iter().enumerate() {
        if let Some(slot) = identifier_column(h)
            && !identifiers.iter().any(|&(_, s)| s == slot)
        {
            identifiers.push((i, slot));
        }
    }
    let mut one_hot_maps = Vec::new();
    let mut one_hot_cols = vec![None; schema.one_hot.len()];
    for (k, oh) in schema.one_hot.iter().enumerate() {
        let first = format!("{}={}", oh.column, oh.categories.first().map_or("", |s| s));
        let map = oh
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_bytes().to_vec(), i))
            .collect();
        one_hot_maps.push(map);
        one_hot_cols[k] = schema.index_of(&first);
    }
    // What each column gives, and the columns of each target.
    let mut targets: Vec<Option<Target>> = vec![None; header.len()];
    let mut columns_of: HashMap<Target, Vec<usize>> = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        let key = normalize_header(h);
        let target = if key == label_key {
            Some(Target::Label)
        } else if family_key.as_deref() == Some(key.as_str()) {
            Some(Target::Family)
        } else if let Some(k) = schema
            .one_hot
            .iter()
            .position(|oh| normalize_header(&oh.column) == key)
        {
            Some(Target::OneHot(k))
        } else {
            feature_of(schema, h).and_then(|name| schema.index_of(name).map(Target::Feature))
        };
        if let Some(t) = target {
            targets[i] = Some(t);
            columns_of.entry(t).or_default().push(i);
        }
    }
    for (i, target) in targets.iter().enumerate() {
        let h = &header[i];
        let Some(t) = *target else {
            if is_identifier(h) {
                report.identifier_columns.push(h.clone());
                if options.origins && identifiers.iter().any(|&(c, _)| c == i) {
                    roles[i] = Role::Identifier;
                }
            } else {
                report.ignored_columns.push(h.clone());
            }
            continue;
        };
        let cols = &columns_of[&t];
        if cols[0] != i {
            // A repeat: the known CICFlowMeter one is checked equal to the
            // first column; any other refuses the file (below).
            if let Target::Feature(j) = t {
                roles[i] = Role::Repeat(j);
            }
            report.duplicate_columns.push(h.clone());
            continue;
        }
        roles[i] = match t {
            Target::Feature(j) => Role::Feature(j),
            Target::OneHot(k) => match one_hot_cols[k] {
                Some(offset) => Role::OneHot { offset, index: k },
                None => Role::Ignored,
            },
            Target::Label => Role::Label,
            Target::Family => Role::Family,
        };
    }
    for (t, cols) in &columns_of {
        if cols.len() < 2 {
            continue;
        }
        let known = match t {
            Target::Feature(j) => {
                cols.len() == 2
                    && is_cicflowmeter_repeat(&schema.features[*j].name, &header[cols[1]])
            }
            _ => false,
        };
        if !known {
            let target = match t {
                Target::Feature(j) => format!("feature '{}'", schema.features[*j].name),
                Target::OneHot(k) => {
                    format!("the categorical column '{}'", schema.one_hot[*k].column)
                }
                Target::Label => format!("the label column '{}'", schema.label_column),
                Target::Family => format!(
                    "the family column '{}'",
                    schema.family_column.as_deref().unwrap_or("")
                ),
            };
            let mut cols = cols.clone();
            cols.sort_unstable();
            return Err(FlowDataError::DuplicateColumns {
                path: path.to_path_buf(),
                target,
                columns: cols
                    .iter()
                    .map(|&c| format!("{} '{}'", c + 1, header[c]))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    let have_label = roles.contains(&Role::Label);
    if !have_label && unlabelled.is_none() {
        return Err(FlowDataError::MissingLabelColumn {
            path: path.to_path_buf(),
            expected: schema.label_column.clone(),
            columns: short_columns(&header),
        });
    }
    report.unlabelled = !have_label;
    if let Some(family) = &schema.family_column
        && !roles.contains(&Role::Family)
        && unlabelled.is_none()
    {
        return Err(FlowDataError::MissingFamilyColumn {
            path: path.to_path_buf(),
            expected: family.clone(),
            columns: short_columns(&header),
        });
    }
    let mut assigned = vec![false; schema.n_features()];
    for r in &roles {
        if let Role::Feature(j) = r {
            assigned[*j] = true;
        }
    }
    // One-hot features are present when their source column is.
    for (k, oh) in schema.one_hot.iter().enumerate() {
        let present = roles
            .iter()
            .any(|r| matches!(r, Role::OneHot { index, .. } if *index == k));
        if present {
            for c in &oh.categories {
                if let Some(j) = schema.index_of(&format!("{}={c}", oh.column)) {
                    assigned[j] = true;
                }
            }
        }
    }
    let missing: Vec<usize> = (0..schema.n_features()).filter(|&j| !assigned[j]).collect();
    report.missing_features = missing
        .iter()
        .map(|&j| schema.features[j].name.clone())
        .collect();
    Ok(FilePlan {
        path: path.to_path_buf(),
        header,
        roles,
        one_hot: one_hot_maps,
        missing,
        default_label: unlabelled.map(|l| l.as_bytes().to_vec()),
        identifiers,
        report,
    })
}

/// Align every input to the schema under the policy; returns the
/// effective schema, the plans and the features removed by `Intersect`.
fn plan_files(
    inputs: &[(PathBuf, Vec<String>)],
    options: &ReadOptions,
) -> Result<(Schema, Vec<FilePlan>, Vec<String>)> {
    let full: Vec<FilePlan> = inputs
        .iter()
        .map(|(f, h)| plan_file(f, h.clone(), &options.schema, options))
        .collect::<Result<_>>()?;
    match options.alignment {
        Alignment::Strict => {
            if let Some(p) = full.iter().find(|p| !p.missing.is_empty()) {
                return Err(FlowDataError::MissingColumns {
                    path: p.path.clone(),
                    schema: options.schema.name.clone(),
                    missing: p.report.missing_features.clone(),
                });
            }
            Ok((options.schema.clone(), full, Vec::new()))
        }
        Alignment::Fill(_) => Ok((options.schema.clone(), full, Vec::new())),
        Alignment::Intersect => {
            let mut lacking = vec![false; options.schema.n_features()];
            for p in &full {
                p.missing.iter().for_each(|&j| lacking[j] = true);
            }
            if !lacking.iter().any(|&l| l) {
                return Ok((options.schema.clone(), full, Vec::new()));
            }
            let removed: Vec<String> = (0..lacking.len())
                .filter(|&j| lacking[j])
                .map(|j| options.schema.features[j].name.clone())
                .collect();
            let mut schema = options.schema.clone();
            schema.features.retain(|f| !removed.contains(&f.name));
            schema.one_hot.retain(|oh| {
                schema
                    .features
                    .iter()
                    .any(|f| f.name.starts_with(&format!("{}=", oh.column)))
            });
            if schema.features.is_empty() {
                return Err(FlowDataError::NoSharedFeature {
                    schema: options.schema.name.clone(),
                    files: inputs
                        .iter()
                        .map(|(f, h)| format!("{} (columns: {})", f.display(), short_columns(h)))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            let plans = inputs
                .iter()
                .zip(full)
                .map(|((f, h), old)| {
                    let mut p = plan_file(f, h.clone(), &schema, options)?;
                    p.report.missing_features = old.report.missing_features;
                    Ok(p)
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((schema, plans, removed))
        }
    }
}

/// The output of parsing one part of a block. Parts are recycled from
/// block to block, so that their buffers are allocated once.
#[derive(Default)]
struct PartOut {
    values: Vec<f32>,
    /// Per kept row: index into `keys`.
    local_class: Vec<u32>,
    /// The distinct class keys of the part, and their indices.
    keys: Vec<Vec<u8>>,
    key_index: HashMap<Vec<u8>, u32>,
    fingerprints: Vec<u128>,
    rows_read: u64,
    /// Rows passing cleaning without a label (labels optional).
    unlabelled: u64,
    dropped: DropCounts,
    cells: CellCounts,
    error: Option<FlowDataError>,
    /// The first malformed rows: (index among the part's rows read, line,
    /// what is wrong).
    malformed: Vec<(u64, u64, String)>,
    /// With origins, per kept row: (index among the part's rows read, line).
    kept: Vec<(u64, u64)>,
    /// With origins, the identifier cells of the kept rows, row by row:
    /// the text, and where each cell ends.
    id_text: Vec<u8>,
    id_ends: Vec<usize>,
    /// With origins, the rows not kept: (index among the part's rows read,
    /// line, reason).
    skipped: Vec<(u64, u64, DropReason)>,
    /// The parser of quoted records, made when first needed.
    parser: Option<QuotedParser>,
    /// The label cell of the last plain row, and what it holds.
    last_label: Vec<u8>,
    last_label_kind: LabelCell,
}

impl PartOut {
    fn reset(&mut self) {
        self.values.clear();
        self.local_class.clear();
        self.keys.clear();
        self.key_index.clear();
        self.fingerprints.clear();
        self.rows_read = 0;
        self.unlabelled = 0;
        self.dropped = DropCounts::default();
        self.cells = CellCounts::default();
        self.error = None;
        self.malformed.clear();
        self.kept.clear();
        self.id_text.clear();
        self.id_ends.clear();
        self.skipped.clear();
        self.last_label.clear();
        self.last_label_kind = LabelCell::NoLabel;
    }

    /// The index of a class key in this part.
    fn class_key(&mut self, key: &[u8]) -> u32 {
        // Labels come in runs: try the previous row's key first.
        if let Some(&last) = self.local_class.last()
            && self.keys[last as usize] == key
        {
            return last;
        }
        if let Some(&k) = self.key_index.get(key) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(key.to_vec());
        self.key_index.insert(key.to_vec(), k);
        k
    }
}

/// Immutable parsing context of one input.
struct ParseCtx<'a> {
    plan: &'a FilePlan,
    schema: &'a Schema,
    policy: CleaningPolicy,
    origins: bool,
    template: &'a [f32],
    checks: &'a RowChecks,
    hash_a: &'a hashbrown::DefaultHashBuilder,
    hash_b: &'a hashbrown::DefaultHashBuilder,
}

/// Per feature, what the cleaning policy looks at: the sentinel (NaN when
/// none) and whether the feature cannot be negative.
struct RowChecks {
    sentinel: Vec<f32>,
    nonnegative: Vec<bool>,
}

impl RowChecks {
    fn new(schema: &Schema) -> RowChecks {
        RowChecks {
            sentinel: schema
                .features
                .iter()
                .map(|f| f.sentinel.unwrap_or(f32::NAN))
                .collect(),
            nonnegative: schema.features.iter().map(|f| f.nonnegative).collect(),
        }
    }

    /// True when a value of the row is a sentinel or a negative value of
    /// a feature that cannot be negative (one pass without branches).
    fn flags(&self, row: &[f32]) -> bool {
        let mut any = false;
        for ((v, s), nn) in row.iter().zip(&self.sentinel).zip(&self.nonnegative) {
            any |= (*v == *s) | (*nn & (*v < 0.0));
        }
        any
    }
}

/// The cells of a line without quotes, as byte ranges.
fn split_plain(line: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    // Fields are short: a plain byte loop beats a search per comma.
    let mut start = 0;
    for (i, &b) in line.iter().enumerate() {
        if b == b',' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans.push((start, line.len()));
}

fn shorten(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// Two readings of one quantity agree (both missing counts as agreeing).
fn same_value(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The record ends of a block whose records are not all single lines.
#[derive(Clone, Debug, Default)]
struct RecordEnds {
    /// The end of every record (offsets in the block).
    ends: Vec<usize>,
    /// The ends of the records whose quote never closed.
    unclosed: Vec<usize>,
}

/// The records of one part: its lines, or the record ends the block was
/// cut at (offsets in the block; the part starts at `base`).
#[derive(Clone, Copy)]
struct PartRecords<'a> {
    ends: &'a [usize],
    unclosed: &'a [usize],
    base: usize,
}

/// What [`FlowDataError`] a malformed row gives, built only when it is
/// reported (a message or an error).
type MakeError<'a> = &'a dyn Fn() -> FlowDataError;

/// What is wrong with a cell.
#[derive(Clone, Copy)]
enum CellProblem {
    /// A feature's cell that is not a number.
    Number,
    /// A label, family or identifier cell that is not text.
    Text,
    /// A label cell that names no class, where labels are needed.
    Label,
}

impl ParseCtx<'_> {
    /// The error of a cell of column `column` (0-based) on `line`.
    fn cell_error(
        &self,
        problem: CellProblem,
        line: u64,
        column: usize,
        cell: &[u8],
    ) -> FlowDataError {
        let (path, name) = (self.plan.path.clone(), self.plan.header[column].clone());
        let column = column + 1;
        match problem {
            CellProblem::Number => FlowDataError::BadNumber {
                path,
                line,
                column,
                name,
                found: shorten(cell),
            },
            CellProblem::Text => FlowDataError::BadText {
                path,
                line,
                column,
                name,
                found: first_bytes(cell),
            },
            CellProblem::Label => FlowDataError::BadLabel {
                path,
                line,
                column,
                name,
                found: shorten(cell),
            },
        }
    }

    /// A malformed row: skipped, counted and listed in lenient mode, an
    /// error otherwise; false when parsing must stop.
    fn malformed(&self, line: u64, make: MakeError<'_>, out: &mut PartOut) -> bool {
        if self.policy.lenient {
            out.dropped.malformed += 1;
            if out.malformed.len() < MALFORMED_LISTED {
                out.malformed
                    .push((out.rows_read - 1, line, make().to_string()));
            }
            true
        } else {
            out.error = Some(make());
            false
        }
    }

    /// Parse one part (whole records) whose first line is `first_line` of
    /// the input into `out`, which has been reset.
    ///
    /// A plain line is parsed in one pass ([`Self::fast_row`]); a line it
    /// declines is split on commas, or goes through the CSV parser when it
    /// has quotes, and [`Self::row`] checks it cell by cell.
    fn parse_part(
        &self,
        bytes: &[u8],
        first_line: u64,
        records: Option<PartRecords<'_>>,
        has_nul: bool,
        out: &mut PartOut,
    ) {
        let mut key = Vec::with_capacity(64);
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(self.plan.header.len() + 1);
        let mut parser = out.parser.take();
        let mut pos = 0usize;
        let mut next_record = 0usize;
        let mut line_no = first_line;
        while pos < bytes.len() {
            let (end, unclosed) = match records {
                None => (
                    memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i + 1),
                    false,
                ),
                Some(r) => {
                    let end = r.ends[next_record] - r.base;
                    next_record += 1;
                    (end, r.unclosed.binary_search(&(end + r.base)).is_ok())
                }
            };
            let record = &bytes[pos..end];
            pos = end;
            let this_line = line_no;
            line_no += match records {
                None => u64::from(record.last() == Some(&b'\n')),
                Some(_) => memchr::memchr_iter(b'\n', record).count() as u64,
            };
            let mut line = record.strip_suffix(b"\n").unwrap_or(record);
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let before =
                self.origins
                    .then_some((out.rows_read, out.local_class.len(), out.dropped));
            if (has_nul && memchr::memchr(0, line).is_some()) || unclosed {
                out.rows_read += 1;
                let make = || {
                    if unclosed {
                        FlowDataError::Csv {
                            path: self.plan.path.clone(),
                            line: this_line,
                            message: format!(
                                "a quoted field opened on this line is not closed (by the end of the input, or within {MAX_RECORD_BYTES} bytes)"
                            ),
                        }
                    } else {
                        FlowDataError::NotCsv {
                            path: self.plan.path.clone(),
                            line: this_line,
                            reason: format!("NUL byte in line {this_line}"),
                        }
                    }
                };
                let go_on = self.malformed(this_line, &make, out);
                if let Some(before) = before {
                    self.note_origin(line, &[], this_line, before, out);
                }
                if !go_on {
                    break;
                }
                continue;
            }
            if let Some(go_on) = self.fast_row(line, out, &mut key) {
                if let Some(before) = before {
                    // A line the fast path takes is plain; its cells are
                    // only needed for the identifiers.
                    spans.clear();
                    if !self.plan.identifiers.is_empty() {
                        split_plain(line, &mut spans);
                    }
                    self.note_origin(line, &spans, this_line, before, out);
                }
                if !go_on {
                    break;
                }
                continue;
            }
            if memchr::memchr(b'"', line).is_none() {
                split_plain(line, &mut spans);
            } else {
                let parser = parser.get_or_insert_default();
                parser.parse(record, true);
                let (text, ends) = parser.fields();
                spans.clear();
                let mut start = 0;
                for &e in ends {
                    spans.push((start, e));
                    start = e;
                }
                // The line end's `\r` stays in the last field.
                if let Some(last) = spans.last_mut()
                    && last.1 > last.0
                    && text[last.1 - 1] == b'\r'
                {
                    last.1 -= 1;
                }
                line = text;
            }
            let go_on = self.row(line, &spans, this_line, out, &mut key);
            if let Some(before) = before {
                self.note_origin(line, &spans, this_line, before, out);
            }
            if !go_on {
                break;
            }
        }
        out.parser = parser;
    }

    /// Record where the row just parsed came from: when it was kept, its
    /// line and identifier cells; when not, its line and the reason.
    /// `before` holds the part's rows read, kept rows and drop counts
    /// before the row.
    fn note_origin(
        &self,
        text: &[u8],
        spans: &[(usize, usize)],
        line: u64,
        before: (u64, usize, DropCounts),
        out: &mut PartOut,
    ) {
        let (rows_before, kept_before, dropped_before) = before;
        if out.rows_read == rows_before {
            return;
        }
        let row = out.rows_read - 1;
        if out.local_class.len() > kept_before {
            out.kept.push((row, line));
            for &(column, _) in &self.plan.identifiers {
                let (a, b) = spans[column];
                out.id_text.extend_from_slice(&text[a..b]);
                out.id_ends.push(out.id_text.len());
            }
        } else if let Some(reason) = out.dropped.reason_since(&dropped_before) {
            out.skipped.push((row, line, reason));
        }
    }

    /// Parse a block on all threads: it is cut at record ends into parts,
    /// taken from `spare` (recycled) where possible, parsed in parallel.
    fn parse_block(&self, block: &Block, spare: &mut Vec<PartOut>) -> Vec<PartOut> {
        let bytes = &block.bytes[..];
        let n_parts = if bytes.len() < (256 << 10) {
            1
        } else {
            rayon::current_num_threads() * 2
        };
        let mut bounds = vec![0usize];
        for k in 1..n_parts {
            let target = bytes.len() * k / n_parts;
            let prev = *bounds.last().expect("non-empty");
            if target <= prev {
                continue;
            }
            let b = match &block.records {
                None => memchr::memchr(b'\n', &bytes[target..]).map(|nl| target + nl + 1),
                Some(r) => r.ends.get(r.ends.partition_point(|&e| e < target)).copied(),
            };
            if let Some(b) = b.filter(|&b| b < bytes.len() && b > prev) {
                bounds.push(b);
            }
        }
        bounds.push(bytes.len());
        let lines: Vec<u64> = bounds
            .par_windows(2)
            .map(|w| memchr::memchr_iter(b'\n', &bytes[w[0]..w[1]]).count() as u64)
            .collect();
        let has_nul = block.has_nul;
        let mut jobs = Vec::with_capacity(lines.len());
        let mut line = block.first_line;
        for (w, n_lines) in bounds.windows(2).zip(lines) {
            let mut part = spare.pop().unwrap_or_default();
            part.reset();
            let records = block.records.as_ref().map(|r| {
                let a = r.ends.partition_point(|&e| e <= w[0]);
                let b = r.ends.partition_point(|&e| e <= w[1]);
                PartRecords {
                    ends: &r.ends[a..b],
                    unclosed: &r.unclosed,
                    base: w[0],
                }
            });
            jobs.push((&bytes[w[0]..w[1]], line, records, part));
            line += n_lines;
        }
        jobs.into_par_iter()
            .map(|(bytes, start, records, mut part)| {
                self.parse_part(bytes, start, records, has_nul, &mut part);
                part
            })
            .collect()
    }

    /// The label of a row from its label cell (`None`: the file has no
    /// label column): `Ok((flag, text))` with flag 1 for a label, 0 for a
    /// row without one (labels optional); `Err` with what is wrong.
    fn label_of<'b>(
        &'b self,
        cell: Option<&'b [u8]>,
    ) -> std::result::Result<(u8, &'b [u8]), LabelCell> {
        self.label_as(cell.map_or(LabelCell::NoLabel, label_cell), cell)
    }

    /// [`Self::label_of`] of a cell whose kind is known.
    fn label_as<'b>(
        &'b self,
        state: LabelCell,
        cell: Option<&'b [u8]>,
    ) -> std::result::Result<(u8, &'b [u8]), LabelCell> {
        match (state, &self.plan.default_label) {
            (LabelCell::Class, _) => Ok((1, cell.unwrap_or_default())),
            (LabelCell::NoLabel, Some(default)) => Ok((0, default)),
            (other, _) => Err(other),
        }
    }

    /// Process one record; false when parsing must stop (an error in strict mode).
    fn row(
        &self,
        text: &[u8],
        spans: &[(usize, usize)],
        line: u64,
        out: &mut PartOut,
        key: &mut Vec<u8>,
    ) -> bool {
        let n_cols = self.plan.header.len();
        out.rows_read += 1;
        let path = &self.plan.path;
        if spans.len() != n_cols {
            let make = || FlowDataError::RaggedRow {
                path: path.clone(),
                line,
                expected: n_cols,
                found: spans.len(),
            };
            return self.malformed(line, &make, out);
        }
        let start = out.values.len();
        out.values.extend_from_slice(self.template);
        let mut label: Option<&[u8]> = None;
        let mut family: &[u8] = b"";
        let mut non_finite = false;
        let mut repeat: Option<(usize, usize, f32)> = None;
        let mut bad: Option<(usize, CellProblem)> = None;
        for (i, (role, &(a, b))) in self.plan.roles.iter().zip(spans).enumerate() {
            let cell = &text[a..b];
            let row = &mut out.values[start..];
            match role {
                Role::Feature(j) => match parse_cell(cell) {
                    Cell::Bad => {
                        bad = Some((i, CellProblem::Number));
                        break;
                    }
                    parsed => non_finite |= store(parsed, &mut row[*j], &mut out.cells),
                },
                Role::Repeat(j) => match parse_cell(cell) {
                    Cell::Value(v) => repeat = Some((i, *j, v + 0.0)),
                    Cell::Empty => repeat = Some((i, *j, f32::NAN)),
                    Cell::Bad => {
                        bad = Some((i, CellProblem::Number));
                        break;
                    }
                },
                Role::OneHot { offset, index } => {
                    match self.plan.one_hot[*index].get(cell.trim_ascii()) {
                        Some(&c) => row[offset + c] = 1.0,
                        None => out.cells.unknown_category += 1,
                    }
                }
                Role::Label => label = Some(cell),
                Role::Family | Role::Identifier if !is_text(cell) => {
                    bad = Some((i, CellProblem::Text));
                    break;
                }
                Role::Family => family = cell,
                Role::Identifier | Role::Ignored => {}
            }
        }
        if let Some((i, problem)) = bad {
            out.values.truncate(start);
            let (a, b) = spans[i];
            let make = || self.cell_error(problem, line, i, &text[a..b]);
            return self.malformed(line, &make, out);
        }
        if let Some((i, j, v)) = repeat
            && !same_value(v, out.values[start + j])
        {
            let first = out.values[start + j];
            out.values.truncate(start);
            let first_column = self
                .plan
                .roles
                .iter()
                .position(|r| *r == Role::Feature(j))
                .unwrap_or(0);
            let make = || FlowDataError::RepeatDiffers {
                path: path.clone(),
                line,
                repeat: format!("column {} ('{}') holds {v}", i + 1, self.plan.header[i]),
                first: format!(
                    "column {} ('{}') holds {first}",
                    first_column + 1,
                    self.plan.header[first_column]
                ),
            };
            return self.malformed(line, &make, out);
        }
        match self.label_of(label) {
            Ok((flag, label)) => self.finish_row(start, flag, label, family, non_finite, out, key),
            Err(state) => {
                out.values.truncate(start);
                let column = self
                    .plan
                    .roles
                    .iter()
                    .position(|r| *r == Role::Label)
                    .unwrap_or(0);
                let problem = if state == LabelCell::NotText {
                    CellProblem::Text
                } else {
                    CellProblem::Label
                };
                let found = label.unwrap_or_default();
                let make = || self.cell_error(problem, line, column, found);
                self.malformed(line, &make, out)
            }
        }
    }

    /// Parse a plain line (no quotes) in one pass over its bytes, without
    /// cutting it into cells first; `None`, with nothing recorded, when the
    /// line needs a closer look (wrong number of cells, a cell that is not
    /// a number or not text, a label that is not a class, a repeat that
    /// differs), which [`Self::row`] then gives.
    fn fast_row(&self, line: &[u8], out: &mut PartOut, key: &mut Vec<u8>) -> Option<bool> {
        let start = out.values.len();
        out.values.extend_from_slice(self.template);
        let row = &mut out.values[start..];
        let n = line.len();
        let last = self.plan.roles.len() - 1;
        let (mut label, mut family): (Option<&[u8]>, &[u8]) = (None, b"");
        let mut cells = CellCounts::default();
        let mut non_finite = false;
        let mut repeat: Option<(usize, f32)> = None;
        let mut pos = 0usize;
        let cell_end = |from: usize| memchr::memchr(b',', &line[from..]).map_or(n, |k| from + k);
        let mut ok = true;
        for (i, role) in self.plan.roles.iter().enumerate() {
            let begin = pos;
            match role {
                Role::Feature(j) => {
                    // A count or a plain decimal up to the comma, the
                    // common cases; anything else is parsed in full.
                    let (value, end) = plain_number(line, begin);
                    pos = end;
                    if let Some(v) = value.filter(|_| pos == n || line[pos] == b',') {
                        row[*j] = v;
                    } else {
                        pos = cell_end(pos);
                        match parse_cell(&line[begin..pos]) {
                            Cell::Bad => {
                                ok = false;
                                break;
                            }
                            parsed => non_finite |= store(parsed, &mut row[*j], &mut cells),
                        }
                    }
                }
                Role::Repeat(j) => {
                    let (value, end) = plain_number(line, begin);
                    pos = end;
                    let v = match value.filter(|_| pos == n || line[pos] == b',') {
                        Some(v) => v,
                        None => {
                            pos = cell_end(pos);
                            match parse_cell(&line[begin..pos]) {
                                Cell::Value(v) => v + 0.0,
                                Cell::Empty => f32::NAN,
                                Cell::Bad => {
                                    ok = false;
                                    break;
                                }
                            }
                        }
                    };
                    repeat = Some((*j, v));
                }
                other => {
                    pos = cell_end(pos);
                    let cell = &line[begin..pos];
                    if memchr::memchr(b'"', cell).is_some() {
                        // Quoted cells go through the CSV parser.
                        ok = false;
                        break;
                    }
                    match other {
                        Role::OneHot { offset, index } => {
                            match self.plan.one_hot[*index].get(cell.trim_ascii()) {
                                Some(&c) => row[offset + c] = 1.0,
                                None => cells.unknown_category += 1,
                            }
                        }
                        Role::Label => label = Some(cell),
                        Role::Family | Role::Identifier if !is_text(cell) => {
                            ok = false;
                            break;
                        }
                        Role::Family => family = cell,
                        _ => {}
                    }
                }
            }
            // `pos` is at the comma ending the cell, or at the end.
            if i < last {
                if pos >= n {
                    ok = false;
                    break;
                }
                pos += 1;
            }
        }
        let repeat_ok = repeat.is_none_or(|(j, v)| same_value(v, row[j]));
        // Labels come in runs: the previous row's is not looked at again.
        let state = match label {
            None => LabelCell::NoLabel,
            Some(cell) if cell == out.last_label.as_slice() => out.last_label_kind,
            Some(cell) => {
                out.last_label.clear();
                out.last_label.extend_from_slice(cell);
                out.last_label_kind = label_cell(cell);
                out.last_label_kind
            }
        };
        let labelled = ok && pos == n && repeat_ok;
        let label = labelled.then(|| self.label_as(state, label).ok()).flatten();
        let Some((flag, label)) = label else {
            out.values.truncate(start);
            return None;
        };
        out.rows_read += 1;
        out.cells.add(&cells);
        Some(self.finish_row(start, flag, label, family, non_finite, out, key))
    }

    /// Apply the cleaning policy to the parsed row at `start` and record
    /// its class and fingerprint; false when parsing must stop.
    #[allow(clippy::too_many_arguments)]
    fn finish_row(
        &self,
        start: usize,
        labelled: u8,
        label: &[u8],
        family: &[u8],
        non_finite: bool,
        out: &mut PartOut,
        key: &mut Vec<u8>,
    ) -> bool {
        let nf = self.schema.n_features();
        let p = self.policy;
        let row = &mut out.values[start..start + nf];
        let mut drop_negative = false;
        let mut drop_sentinel = false;
        // Most rows hold neither: one pass without branches finds out.
        if self.checks.flags(row) {
            for (v, spec) in row.iter_mut().zip(&self.schema.features) {
                if spec.sentinel == Some(*v) {
                    out.cells.sentinel += 1;
                    match p.sentinel {
                        // Median replacement happens after non-finite handling,
                        // so that it is not counted as an imputed non-finite cell.
                        SentinelPolicy::Keep | SentinelPolicy::Median => {}
                        SentinelPolicy::Zero => *v = 0.0,
                        SentinelPolicy::DropRow => drop_sentinel = true,
                    }
                } else if spec.nonnegative && *v < 0.0 && v.is_finite() {
                    match p.negative {
                        NegativePolicy::DropRow => drop_negative = true,
                        NegativePolicy::Abs => {
                            *v = -*v;
                            out.cells.negative_kept_or_fixed += 1;
                        }
                        NegativePolicy::Keep => out.cells.negative_kept_or_fixed += 1,
                    }
                }
            }
        }
        if drop_negative || drop_sentinel {
            out.values.truncate(start);
            if drop_negative {
                out.dropped.negative += 1;
            } else {
                out.dropped.sentinel += 1;
            }
            return true;
        }
        if non_finite {
            match p.non_finite {
                NonFinitePolicy::DropRow => {
                    out.values.truncate(start);
                    out.dropped.non_finite += 1;
                    return true;
                }
                NonFinitePolicy::Fill(fill) => {
                    for v in row.iter_mut().filter(|v| !v.is_finite()) {
                        *v = fill;
                        out.cells.imputed += 1;
                    }
                }
                NonFinitePolicy::Median => {
                    for v in row.iter_mut().filter(|v| !v.is_finite()) {
                        *v = f32::NAN;
                        out.cells.imputed += 1;
                    }
                }
                NonFinitePolicy::Clip => {
                    out.cells.imputed += row.iter().filter(|v| !v.is_finite()).count() as u64;
                }
            }
        }
        if p.sentinel == SentinelPolicy::Median {
            for (v, spec) in row.iter_mut().zip(&self.schema.features) {
                if spec.sentinel == Some(*v) {
                    *v = f32::NAN;
                }
            }
        }
        out.unlabelled += u64::from(labelled == 0);
        class_key(key, labelled, label.trim_ascii(), family.trim_ascii());
        let local = out.class_key(key);
        out.local_class.push(local);
        if p.drop_duplicates {
            let row: &[u8] = bytemuck::cast_slice(&out.values[start..start + nf]);
            let mut a = self.hash_a.build_hasher();
            let mut b = self.hash_b.build_hasher();
            b.write_u64(0x9e37_79b9_7f4a_7c15);
            a.write(row);
            b.write(row);
            a.write(key);
            b.write(key);
            out.fingerprints
                .push((u128::from(a.finish()) << 64) | u128::from(b.finish()));
        }
        true
    }
}

/// A row's class key: whether the input labelled it, the label's length
/// and bytes, then the family's bytes.
fn class_key(key: &mut Vec<u8>, labelled: u8, label: &[u8], family: &[u8]) {
    key.clear();
    key.push(labelled);
    key.extend_from_slice(&(label.len() as u32).to_le_bytes());
    key.extend_from_slice(label);
    key.extend_from_slice(family);
}

/// The class of a key made by [`class_key`].
fn class_of(key: &[u8], has_family_column: bool) -> ClassInfo {
    let len = key
        .get(1..5)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    let label_bytes = key.get(5..5 + len).unwrap_or_default();
    let label = decode_label(label_bytes);
    if key.first() == Some(&0) {
        return ClassInfo::unlabelled(&label);
    }
    let family_text = decode_label(key.get(5 + len..).unwrap_or_default());
    let numeric = label.parse::<f64>().ok();
    if has_family_column {
        let family = Family::from_label(&family_text);
        let attack = match numeric {
            Some(x) => x != 0.0,
            None => Family::from_label(&label).is_attack(),
        };
        let family = match (attack, family) {
            (false, _) => Family::Benign,
            (true, Family::Benign) => Family::Other,
            (true, f) => f,
        };
        let raw = if family_text.is_empty() {
            label
        } else {
            family_text
        };
        ClassInfo {
            raw,
            family,
            attack,
            labelled: true,
        }
    } else if let Some(x) = numeric {
        let attack = x != 0.0;
        ClassInfo {
            raw: label,
            family: if attack {
                Family::Other
            } else {
                Family::Benign
            },
            attack,
            labelled: true,
        }
    } else {
        ClassInfo::from_label(&label)
    }
}

/// The input being read.
struct OpenInput {
    plan_index: usize,
    source: ByteSource,
    buf: Vec<u8>,
    /// 1-based line number of the first line in `buf`.
    next_line: u64,
    eof: bool,
}

/// A streaming reader: yields cleaned [`FlowFrame`] chunks of about one
/// block each, with bounded memory, so that inputs larger than memory can
/// be processed, from files ([`FlowReader::open`]) or a live stream
/// ([`FlowReader::from_reader`], [`FlowReader::stdin`]) read with a
/// deadline ([`FlowReader::next_chunk_by`]). Exact duplicates are removed
/// across the whole stream (a 128-bit fingerprint per kept row is
/// remembered).
///
/// ```no_run
/// use flowdata::{FlowReader, ReadOptions};
/// let mut reader = FlowReader::open(&["data/"], &ReadOptions::default())?;
/// while let Some(chunk) = reader.next_chunk()? {
///     println!("{} rows", chunk.n_rows());
/// }
/// println!("{}", reader.report().to_text());
/// # Ok::<(), flowdata::FlowDataError>(())
/// ```
pub struct FlowReader {
    core: Core,
    source: Source,
    merger: Merger,
    /// The block read ahead, parsed on the next step.
    lookahead: Option<Block>,
    /// The block parsed ahead, merged on the next step.
    pending: Option<ParsedBlock>,
    /// Parts to reuse.
    pool: Vec<PartOut>,
    /// A read error met while reading ahead, returned after the blocks
    /// before it.
    deferred: Option<FlowDataError>,
    bytes_total: u64,
}

/// What parsing needs, shared by the blocks of all inputs.
struct Core {
    schema: Schema,
    plans: Vec<FilePlan>,
    template: Vec<f32>,
    checks: RowChecks,
    hash_a: hashbrown::DefaultHashBuilder,
    hash_b: hashbrown::DefaultHashBuilder,
    policy: CleaningPolicy,
    origins: bool,
}

impl Core {
    /// Parse a block of the input it came from.
    fn parse(&self, block: &Block, spare: &mut Vec<PartOut>) -> ParsedBlock {
        let ctx = ParseCtx {
            plan: &self.plans[block.plan_index],
            schema: &self.schema,
            policy: self.policy,
            origins: self.origins,
            template: &self.template,
            checks: &self.checks,
            hash_a: &self.hash_a,
            hash_b: &self.hash_b,
        };
        ParsedBlock {
            parts: ctx.parse_block(block, spare),
            plan_index: block.plan_index,
            finished: block.finished,
        }
    }
}

/// Reads the inputs one block of whole records at a time.
struct Source {
    block_bytes: usize,
    /// The inputs opened (their headers read), taken in turn.
    opened: Vec<Option<Opened>>,
    current: Option<OpenInput>,
    next_file: usize,
    bytes_done: u64,
    /// Block buffers to reuse.
    spare: Vec<Vec<u8>>,
    parser: QuotedParser,
}

/// One block of whole records read from an input.
struct Block {
    bytes: Vec<u8>,
    first_line: u64,
    plan_index: usize,
    /// The last block of its input.
    finished: bool,
    /// Where its records end, when they are not all single lines.
    records: Option<RecordEnds>,
    /// A NUL byte lies in it (its records are then checked for one).
    has_nul: bool,
}

/// A parsed block waiting to be merged.
struct ParsedBlock {
    parts: Vec<PartOut>,
    plan_index: usize,
    finished: bool,
}

/// The state that sees the parsed blocks in input order: classes, the
/// duplicate set and the report.
struct Merger {
    policy: CleaningPolicy,
    classes: Vec<ClassInfo>,
    class_index: HashMap<Vec<u8>, u32>,
    seen: HashSet<u128>,
    report: CleaningReport,
    /// The origins of the rows appended since they were last taken (when
    /// asked for).
    origins: Option<OriginsBuilder>,
    /// Data rows of the parts merged so far.
    rows_merged: u64,
}

impl Merger {
    /// Attach the origins of the rows appended since the last call, when
    /// they are kept.
    fn attach_origins(&mut self, frame: FlowFrame) -> Result<FlowFrame> {
        match &mut self.origins {
            Some(o) => frame.with_origins(o.take()),
            None => Ok(frame),
        }
    }

    /// Append the kept rows of a parsed block; the number appended.
    fn merge(
        &mut self,
        block: &mut ParsedBlock,
        plans: &[FilePlan],
        schema: &Schema,
        values: &mut Vec<f32>,
        class_ids: &mut Vec<u32>,
    ) -> Result<usize> {
        let nf = schema.n_features();
        let has_family = schema.family_column.is_some();
        let before = class_ids.len();
        let file_report = &mut self.report.files[block.plan_index];
        let identifiers = &plans[block.plan_index].identifiers;
        for part in &mut block.parts {
            let base = self.rows_merged;
            self.rows_merged += part.rows_read;
            let skipped_before = file_report.skipped_rows.len();
            if self.origins.is_some() {
                file_report
                    .skipped_rows
                    .extend(part.skipped.iter().map(|&(row, line, reason)| SkippedRow {
                        line,
                        row: base + row,
                        reason,
                    }));
            }
            let room = MALFORMED_LISTED.saturating_sub(file_report.malformed_rows.len());
            file_report
                .malformed_rows
                .extend(
                    part.malformed
                        .drain(..)
                        .take(room)
                        .map(|(row, line, message)| MalformedRow {
                            line,
                            row: base + row,
                            message,
                        }),
                );
            file_report.rows_read += part.rows_read;
            file_report.dropped.add(&part.dropped);
            file_report.cells.add(&part.cells);
            if let Some(e) = part.error.take() {
                return Err(e);
            }
            let map: Vec<u32> = part
                .keys
                .iter()
                .map(|k| match self.class_index.get(k.as_slice()) {
                    Some(&id) => id,
                    None => {
                        let id = self.classes.len() as u32;
                        self.classes.push(class_of(k, has_family));
                        self.class_index.insert(k.clone(), id);
                        id
                    }
                })
                .collect();
            file_report.unlabelled_rows += part.unlabelled;
            for (r, &local) in part.local_class.iter().enumerate() {
                if self.policy.drop_duplicates && !self.seen.insert(part.fingerprints[r]) {
                    file_report.dropped.duplicate += 1;
                    // Counted above as kept: a duplicate is not.
                    if part.keys[local as usize].first() == Some(&0) {
                        file_report.unlabelled_rows -= 1;
                    }
                    if self.origins.is_some() {
                        let (row, line) = part.kept[r];
                        file_report.skipped_rows.push(SkippedRow {
                            line,
                            row: base + row,
                            reason: DropReason::Duplicate,
                        });
                    }
                    continue;
                }
                values.extend_from_slice(&part.values[r * nf..(r + 1) * nf]);
                class_ids.push(map[local as usize]);
                if let Some(origins) = &mut self.origins {
                    let ends = &part.id_ends[r * identifiers.len()..(r + 1) * identifiers.len()];
                    let mut start = (r * identifiers.len())
                        .checked_sub(1)
                        .map_or(0, |i| part.id_ends[i]);
                    let cells = identifiers.iter().zip(ends).map(|(&(_, slot), &end)| {
                        let cell = decode_text(&part.id_text[start..end]);
                        start = end;
                        (slot, cell)
                    });
                    origins.push(base + part.kept[r].0, cells);
                }
            }
            file_report.skipped_rows[skipped_before..].sort_unstable_by_key(|s| s.row);
        }
        let added = class_ids.len() - before;
        file_report.rows_kept += added as u64;
        if block.finished && file_report.rows_read == 0 {
            return Err(FlowDataError::NoRows {
                path: plans[block.plan_index].path.clone(),
            });
        }
        Ok(added)
    }
}

impl FlowReader {
    /// Open files and directories, read every header and align them to the
    /// schema under the options' policy. Each file is opened once (a FIFO
    /// or a device path is read as a stream) and refused, naming what it
    /// is, when its first bytes are not CSV text ([`crate::sniff`]).
    pub fn open<P: AsRef<Path>>(paths: &[P], options: &ReadOptions) -> Result<FlowReader> {
        let files = expand_inputs(paths)?;
        FlowReader::open_inputs(files.into_iter().map(InputSpec::Path).collect(), options)
    }

    /// Read flows from any byte source (a pipe, a socket, a decompressor)
    /// that goes by `name` in reports and errors, with the rules of
    /// [`FlowReader::open`]. The source is read on a thread of its own, so
    /// that [`FlowReader::next_chunk_by`] can return at a deadline; this
    /// call waits until the header has arrived.
    pub fn from_reader(
        name: impl Into<PathBuf>,
        reader: impl Read + Send + 'static,
        options: &ReadOptions,
    ) -> Result<FlowReader> {
        FlowReader::open_inputs(
            vec![InputSpec::Reader {
                name: name.into(),
                reader: Box::new(reader),
            }],
            options,
        )
    }

    /// Read flows from standard input, named `<stdin>`
    /// ([`FlowReader::from_reader`]).
    pub fn stdin(options: &ReadOptions) -> Result<FlowReader> {
        FlowReader::from_reader(STDIN_NAME, std::io::stdin(), options)
    }

    fn open_inputs(specs: Vec<InputSpec>, options: &ReadOptions) -> Result<FlowReader> {
        options.cleaning.validate()?;
        options.schema.validate()?;
        let opened = specs
            .into_iter()
            .map(open_input)
            .collect::<Result<Vec<Opened>>>()?;
        let headers: Vec<(PathBuf, Vec<String>)> = opened
            .iter()
            .map(|o| (o.name.clone(), o.header.clone()))
            .collect();
        let (schema, plans, removed) = plan_files(&headers, options)?;
        let fill = match options.alignment {
            Alignment::Fill(v) => v.get(),
            _ => 0.0,
        };
        // Missing features are filled; one-hot features start at 0.
        let mut template = vec![fill; schema.n_features()];
        for oh in &schema.one_hot {
            for c in &oh.categories {
                if let Some(j) = schema.index_of(&format!("{}={c}", oh.column)) {
                    template[j] = 0.0;
                }
            }
        }
        let bytes_total = opened.iter().map(|o| o.bytes_total).sum();
        let report = CleaningReport {
            alignment: options.alignment.to_string(),
            policy: Some(options.cleaning),
            features_removed: removed,
            ..CleaningReport::default()
        };
        let merger = Merger {
            policy: options.cleaning,
            classes: Vec::new(),
            class_index: HashMap::new(),
            seen: HashSet::new(),
            report,
            origins: options.origins.then(OriginsBuilder::default),
            rows_merged: 0,
        };
        Ok(FlowReader {
            core: Core {
                checks: RowChecks::new(&schema),
                schema,
                plans,
                template,
                hash_a: hashbrown::DefaultHashBuilder::default(),
                hash_b: hashbrown::DefaultHashBuilder::default(),
                policy: options.cleaning,
                origins: options.origins,
            },
            source: Source {
                block_bytes: options.block_bytes.max(64 << 10),
                opened: opened.into_iter().map(Some).collect(),
                current: None,
                next_file: 0,
                bytes_done: 0,
                spare: Vec::new(),
                parser: QuotedParser::default(),
            },
            merger,
            lookahead: None,
            pending: None,
            pool: Vec::new(),
            deferred: None,
            bytes_total,
        })
    }

    /// The effective schema (after `Intersect`).
    pub fn schema(&self) -> &Schema {
        &self.core.schema
    }

    /// The inputs to read, in order, as planned when they were opened:
    /// their names, missing features and whether they carry labels (the
    /// row counts fill in [`Self::report`] as the inputs are read).
    pub fn planned(&self) -> impl Iterator<Item = &FileReport> {
        self.core.plans.iter().map(|p| &p.report)
    }

    /// The report so far (complete once [`Self::next_chunk`] returned `None`).
    pub fn report(&self) -> &CleaningReport {
        &self.merger.report
    }

    /// The rows skipped so far and not yet taken (with
    /// [`ReadOptions::origins`]), each with the index of its input in
    /// [`Self::report`]'s files, in input order; they leave the report, so
    /// that a reader of an endless stream holds no growing list.
    pub fn take_skipped_rows(&mut self) -> Vec<(usize, SkippedRow)> {
        self.merger
            .report
            .files
            .iter_mut()
            .enumerate()
            .flat_map(|(i, f)| {
                std::mem::take(&mut f.skipped_rows)
                    .into_iter()
                    .map(move |s| (i, s))
            })
            .collect()
    }

    /// Total size of the input files in bytes (streams count 0).
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    /// Bytes read so far (for progress bars).
    pub fn bytes_done(&self) -> u64 {
        self.source.bytes_done
    }

    /// The next cleaned chunk, or `None` at the end of the last input.
    /// Waits for a whole block (or the end) of a stream: a live stream is
    /// read with [`Self::next_chunk_by`].
    pub fn next_chunk(&mut self) -> Result<Option<FlowFrame>> {
        self.chunk(None)
    }

    /// The cleaned rows of the complete records that have arrived by
    /// `deadline`, as a frame (empty when none has), or `None` at the end
    /// of the last input. Returns at the deadline at the latest (sooner
    /// when a block is full or the input ends), so that a caller scores
    /// what a live stream has sent every few tens of milliseconds; a
    /// record still incomplete waits for the next call. Memory stays
    /// bounded on endless input: at most a block, a record and the
    /// stream's read-ahead are held, besides what the options keep per row
    /// (a fingerprint per kept row to drop duplicates, which a scorer of an
    /// endless stream turns off; the skipped rows of
    /// [`ReadOptions::origins`], taken with [`Self::take_skipped_rows`]) and
    /// one entry per distinct label.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (rx, mut tx) = std::io::pipe()?;
    /// use std::io::Write;
    /// tx.write_all(b"Flow Duration,Label\n1,BENIGN\n2,")?;
    /// let options = flowdata::ReadOptions::default();
    /// let mut reader = flowdata::FlowReader::from_reader("<pipe>", rx, &options)?;
    /// let chunk = reader.next_chunk_by(Instant::now() + Duration::from_millis(50))?.unwrap();
    /// assert_eq!(chunk.n_rows(), 1, "the second record is not complete yet");
    /// tx.write_all(b"DDoS\n")?;
    /// drop(tx);
    /// let chunk = reader.next_chunk_by(Instant::now() + Duration::from_secs(5))?.unwrap();
    /// assert_eq!(chunk.raw_label(0), "DDoS");
    /// assert!(reader.next_chunk_by(Instant::now() + Duration::from_secs(5))?.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn next_chunk_by(&mut self, deadline: Instant) -> Result<Option<FlowFrame>> {
        self.chunk(Some(deadline))
    }

    fn chunk(&mut self, deadline: Option<Instant>) -> Result<Option<FlowFrame>> {
        let (mut values, mut class_ids) = (Vec::new(), Vec::new());
        let read = match deadline {
            None => self.next_into(&mut values, &mut class_ids)?,
            Some(d) => self.next_by(&mut values, &mut class_ids, d)?,
        };
        if read.is_none() {
            return Ok(None);
        }
        let features = ndarray::Array2::from_shape_vec(
            (class_ids.len(), self.core.schema.n_features()),
            values,
        )
        .map_err(|e| FlowDataError::Shape(e.to_string()))?;
        let frame = FlowFrame::new(
            self.core.schema.clone(),
            features,
            class_ids,
            self.merger.classes.clone(),
        )?;
        self.merger.attach_origins(frame).map(Some)
    }

    /// [`Self::next_into`] without reading ahead: the rows of what has
    /// arrived by `deadline` (possibly none), or `None` at the end.
    fn next_by(
        &mut self,
        values: &mut Vec<f32>,
        class_ids: &mut Vec<u32>,
        deadline: Instant,
    ) -> Result<Option<usize>> {
        let mut parsed = match self.pending.take() {
            Some(p) => p,
            None => {
                let block = match self.lookahead.take() {
                    Some(b) => b,
                    None => {
                        if let Some(e) = self.deferred.take() {
                            return Err(e);
                        }
                        let read = self.source.read_next(
                            &self.core.plans,
                            &mut self.merger.report,
                            Some(deadline),
                        )?;
                        match read {
                            Some(b) => b,
                            None => return Ok(None),
                        }
                    }
                };
                let mut spare = std::mem::take(&mut self.pool);
                let parsed = self.core.parse(&block, &mut spare);
                self.pool = spare;
                self.source.spare.push(block.bytes);
                parsed
            }
        };
        let rows = self.merger.merge(
            &mut parsed,
            &self.core.plans,
            &self.core.schema,
            values,
            class_ids,
        );
        self.pool.append(&mut parsed.parts);
        rows.map(Some)
    }

    /// Append the next non-empty cleaned block to `values` (row-major) and
    /// `class_ids`; the number of rows appended, or `None` at the end.
    ///
    /// Blocks go through a pipeline: while one parsed block is merged
    /// (duplicate set, classes, appending) and the block after next is
    /// read, the next one is parsed on the other threads. Merging stays in
    /// input order, so the result is the same as without the overlap.
    fn next_into(
        &mut self,
        values: &mut Vec<f32>,
        class_ids: &mut Vec<u32>,
    ) -> Result<Option<usize>> {
        loop {
            if self.lookahead.is_none() && self.pending.is_none() && self.deferred.is_none() {
                match self
                    .source
                    .read_next(&self.core.plans, &mut self.merger.report, None)
                {
                    Ok(block) => self.lookahead = block,
                    Err(e) => self.deferred = Some(e),
                }
            }
            let to_parse = self.lookahead.take();
            let pending = self.pending.take();
            if to_parse.is_none() && pending.is_none() {
                return match self.deferred.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            let read_more = self.deferred.is_none();
            let mut spare = std::mem::take(&mut self.pool);
            let FlowReader {
                core,
                source,
                merger,
                ..
            } = self;
            let core = &*core;
            let ((merged, read), parsed) = rayon::join(
                || {
                    let merged = pending.map(|mut p| {
                        let rows =
                            merger.merge(&mut p, &core.plans, &core.schema, values, class_ids);
                        (rows, p.parts)
                    });
                    let read =
                        read_more.then(|| source.read_next(&core.plans, &mut merger.report, None));
                    (merged, read)
                },
                || to_parse.map(|block| (core.parse(&block, &mut spare), block.bytes)),
            );
            self.pool = spare;
            if let Some((parsed, bytes)) = parsed {
                self.pending = Some(parsed);
                self.source.spare.push(bytes);
            }
            match read {
                Some(Ok(block)) => self.lookahead = block,
                Some(Err(e)) => self.deferred = Some(e),
                None => {}
            }
            if let Some((rows, parts)) = merged {
                self.pool.extend(parts);
                let rows = rows?;
                if rows > 0 {
                    return Ok(Some(rows));
                }
            }
        }
    }
}

impl Source {
    /// The next block of the current or next input, or `None` after the
    /// last. With a deadline, a stream's block holds what has arrived by
    /// then (possibly nothing).
    fn read_next(
        &mut self,
        plans: &[FilePlan],
        report: &mut CleaningReport,
        deadline: Option<Instant>,
    ) -> Result<Option<Block>> {
        if self.current.is_none() {
            if self.next_file == plans.len() {
                return Ok(None);
            }
            self.open_next(plans, report)?;
        }
        let block = self.next_block(plans, deadline)?;
        if block.finished {
            self.current = None;
        }
        Ok(Some(block))
    }

    fn open_next(&mut self, plans: &[FilePlan], report: &mut CleaningReport) -> Result<()> {
        let i = self.next_file;
        self.next_file += 1;
        let opened = self.opened[i]
            .take()
            .expect("each input is opened once, in order");
        let next_line = opened.first_data_line;
        // The header's bytes count as read (progress reaches the size).
        self.bytes_done += opened.header_bytes();
        let (source, buf, eof) = opened.into_data()?;
        let mut file_report = plans[i].report.clone();
        file_report.rows_read = 0;
        report.files.push(file_report);
        self.current = Some(OpenInput {
            plan_index: i,
            source,
            buf,
            next_line,
            eof,
        });
        Ok(())
    }

    /// Read up to one block of whole records from the current input: a
    /// block's worth, the rest of the input, or (with a deadline) what a
    /// stream has sent by then.
    fn next_block(&mut self, plans: &[FilePlan], deadline: Option<Instant>) -> Result<Block> {
        let block_bytes = self.block_bytes;
        let cur = self.current.as_mut().expect("an input is open");
        let path = &plans[cur.plan_index].path;
        let io = |e| FlowDataError::io(path, e);
        let mut target = block_bytes;
        let cut = loop {
            let mut timed_out = false;
            while !cur.eof && cur.buf.len() < target {
                let want = target - cur.buf.len();
                match cur
                    .source
                    .read_into(&mut cur.buf, want, deadline)
                    .map_err(io)?
                {
                    Fill::Data => {}
                    Fill::Eof => cur.eof = true,
                    Fill::Timeout => {
                        timed_out = true;
                        break;
                    }
                }
            }
            if timed_out && !cur.eof {
                // What arrived just as the deadline passed comes too.
                cur.eof = cur
                    .source
                    .read_ready(&mut cur.buf, block_bytes)
                    .map_err(io)?;
            }
            let cut = cut_records(&cur.buf, cur.eof, &mut self.parser).map_err(|offset| {
                FlowDataError::NotCsv {
                    path: path.clone(),
                    line: cur.next_line
                        + memchr::memchr_iter(b'\n', &cur.buf[..offset]).count() as u64,
                    reason: format!("no line end within {MAX_RECORD_BYTES} bytes"),
                }
            })?;
            if cut.end > 0 || cur.eof || timed_out {
                break cut;
            }
            // A record longer than the block: read on until it ends.
            target = cur.buf.len() + (1 << 20);
        };
        let mut rest = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(block_bytes + (1 << 16)));
        rest.clear();
        rest.extend_from_slice(&cur.buf[cut.end..]);
        cur.buf.truncate(cut.end);
        let block = std::mem::replace(&mut cur.buf, rest);
        let first_line = cur.next_line;
        cur.next_line += memchr::memchr_iter(b'\n', &block).count() as u64;
        self.bytes_done += block.len() as u64;
        Ok(Block {
            bytes: block,
            first_line,
            plan_index: cur.plan_index,
            finished: cur.eof && cur.buf.is_empty(),
            has_nul: cut.has_nul,
            records: cut.records.map(|ends| RecordEnds {
                ends,
                unclosed: cut.unclosed,
            }),
        })
    }
}

/// Read, align and clean flow files (CSV files or directories of them)
/// into one [`FlowFrame`], with the cleaning report.
///
/// Peak memory stays near the size of the final f32 matrix: blocks are
/// parsed in place and appended to one growing buffer.
///
/// ```no_run
/// let (frame, report) = flowdata::read_flows(&["MachineLearningCVE/"], &flowdata::ReadOptions::default())?;
/// println!("{} flows, {} features\n{}", frame.n_rows(), frame.n_features(), report.to_text());
/// # Ok::<(), flowdata::FlowDataError>(())
/// ```
pub fn read_flows<P: AsRef<Path>>(
    paths: &[P],
    options: &ReadOptions,
) -> Result<(FlowFrame, CleaningReport)> {
    read_flows_with_progress(paths, options, |_, _| {})
}

/// [`read_flows`] with a progress callback `(bytes_done, bytes_total)`.
pub fn read_flows_with_progress<P: AsRef<Path>>(
    paths: &[P],
    options: &ReadOptions,
    progress: impl FnMut(u64, u64),
) -> Result<(FlowFrame, CleaningReport)> {
    read_all(FlowReader::open(paths, options)?, options, progress)
}

/// [`read_flows`] of a byte source read to its end (standard input, a
/// pipe), named `name` in reports and errors.
pub fn read_flows_from(
    name: impl Into<PathBuf>,
    reader: impl Read + Send + 'static,
    options: &ReadOptions,
) -> Result<(FlowFrame, CleaningReport)> {
    read_all(
        FlowReader::from_reader(name, reader, options)?,
        options,
        |_, _| {},
    )
}

fn read_all(
    mut reader: FlowReader,
    options: &ReadOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<(FlowFrame, CleaningReport)> {
    let nf = reader.schema().n_features();
    let mut values: Vec<f32> = Vec::new();
    let mut class_ids: Vec<u32> = Vec::new();
    let mut reserved = false;
    while reader.next_into(&mut values, &mut class_ids)?.is_some() {
        if !reserved {
            // Reserve for the whole input from the first block's density,
            // so the buffer never moves; untouched capacity is not resident.
            reserved = true;
            let per_row = reader.bytes_done() as f64 / reader.report().rows_read().max(1) as f64;
            let est = (reader.bytes_total() as f64 / per_row.max(1.0) * 1.02) as usize + 1024;
            values.reserve_exact(est.saturating_sub(class_ids.len()) * nf);
            class_ids.reserve_exact(est.saturating_sub(class_ids.len()));
            if options.cleaning.drop_duplicates {
                reader.merger.seen.reserve(est);
            }
        }
        progress(reader.bytes_done(), reader.bytes_total());
    }
    progress(reader.bytes_done(), reader.bytes_total());
    let schema = reader.schema().clone();
    let classes = reader.merger.classes.clone();
    let mut report = reader.report().clone();
    let n = class_ids.len();
    let mut features = ndarray::Array2::from_shape_vec((n, nf), values)
        .map_err(|e| FlowDataError::Shape(e.to_string()))?;
    if options.cleaning.needs_global_pass() {
        impute_columns(
            &mut features,
            options.cleaning.non_finite == NonFinitePolicy::Clip,
        );
    }
    report.constant_features = constant_features(&features, &schema);
    let frame = FlowFrame::new(schema, features, class_ids, classes)?;
    Ok((reader.merger.attach_origins(frame)?, report))
}

/// Replace NaN by the column median of the finite values; with `clip`,
/// also +/-inf by the column's finite max/min.
fn impute_columns(x: &mut ndarray::Array2<f32>, clip: bool) {
    let stats: Vec<(f32, f32, f32)> = (0..x.ncols())
        .into_par_iter()
        .map(|j| {
            let mut finite: Vec<f32> = x
                .column(j)
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            if finite.is_empty() {
                return (0.0, 0.0, 0.0);
            }
            let max = finite.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let min = finite.iter().copied().fold(f32::INFINITY, f32::min);
            let median = crate::scale::quantile_in_place(&mut finite, 0.5);
            (median, min, max)
        })
        .collect();
    for mut row in x.rows_mut() {
        for (v, &(median, min, max)) in row.iter_mut().zip(&stats) {
            if v.is_nan() {
                *v = median;
            } else if clip && v.is_infinite() {
                *v = if *v > 0.0 { max } else { min };
            }
        }
    }
}

fn constant_features(x: &ndarray::Array2<f32>, schema: &Schema) -> Vec<String> {
    if x.nrows() == 0 {
        return Vec::new();
    }
    let x = x.as_standard_layout();
    let width = x.ncols();
    let all = x.as_slice().unwrap_or(&[]);
    let first: Vec<u32> = all[..width].iter().map(|v| v.to_bits()).collect();
    let constant = all
        .par_chunks(8192 * width.max(1))
        .map(|chunk| {
            // Counted per column over contiguous rows, so that it vectorises.
            let mut differs = vec![0u32; width];
            for row in chunk.chunks_exact(width.max(1)) {
                for ((d, v), f) in differs.iter_mut().zip(row).zip(&first) {
                    *d |= u32::from(v.to_bits() != *f);
                }
            }
            differs.into_iter().map(|d| d == 0).collect::<Vec<bool>>()
        })
        .reduce(
            || vec![true; first.len()],
            |a, b| a.iter().zip(b).map(|(x, y)| *x && y).collect(),
        );
    (0..x.ncols())
        .filter(|&j| constant[j])
        .map(|j| schema.features[j].name.clone())
        .collect()
}
