//! Streaming, parallel reading of flow CSV files into [`FlowFrame`]s.
//!
//! Files are read in blocks of whole lines; each block is cut into parts
//! parsed on all cores, and the parts are merged in order, so that the
//! result does not depend on the number of threads. Records never span
//! lines (flow CSVs have no quoted line breaks).

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};

use hashbrown::{HashMap, HashSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clean::{
    CellCounts, CleaningPolicy, CleaningReport, DropCounts, DropReason, FileReport, NegativePolicy,
    NonFinitePolicy, SentinelPolicy, SkippedRow,
};
use crate::error::{FlowDataError, Result};
use crate::frame::FlowFrame;
use crate::labels::{ClassInfo, Family, decode_label, decode_text};
use crate::origins::OriginsBuilder;
use crate::schema::{Schema, identifier_column, is_identifier, normalize_header};

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
    Fill(f32),
}

impl Alignment {
    /// The policy for scoring files with a trained model's schema: a file
    /// that lacks any of the model's features is an error naming them
    /// ([`Alignment::Strict`]), unless a fill value is chosen explicitly
    /// ([`Alignment::Fill`]); a model never scores silently made-up
    /// features.
    ///
    /// ```
    /// use flowdata::Alignment;
    /// assert_eq!(Alignment::for_scoring(None), Alignment::Strict);
    /// assert_eq!(Alignment::for_scoring(Some(0.0)), Alignment::Fill(0.0));
    /// ```
    pub fn for_scoring(fill_missing: Option<f32>) -> Alignment {
        fill_missing.map_or(Alignment::Strict, Alignment::Fill)
    }
}

impl std::str::FromStr for Alignment {
    type Err = FlowDataError;

    /// `strict`, `intersect` or `fill:VALUE`.
    ///
    /// ```
    /// use flowdata::Alignment;
    /// assert_eq!("fill:0".parse::<Alignment>().unwrap(), Alignment::Fill(0.0));
    /// assert!("loose".parse::<Alignment>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "strict" => Ok(Alignment::Strict),
            "intersect" => Ok(Alignment::Intersect),
            _ => s
                .strip_prefix("fill:")
                .and_then(|v| v.parse::<f32>().ok())
                .map(Alignment::Fill)
                .ok_or_else(|| {
                    FlowDataError::config(
                        "alignment",
                        format!("expected strict, intersect or fill:VALUE, got '{s}'"),
                    )
                }),
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
    /// Cleaning policy. Default: [`CleaningPolicy::default`].
    pub cleaning: CleaningPolicy,
    /// Bytes of text read and parsed at a time (default 4 MiB; at least 64 KiB).
    pub block_bytes: usize,
    /// The label every row of a file without the label column gets (a
    /// scorer reads unlabelled flows with it); `None` (the default): such a
    /// file is an error naming the column it lacks.
    pub unlabelled: Option<String>,
    /// Keep where each kept row came from ([`FlowFrame::origins`]): its
    /// position among the data rows read, and the identifier columns the
    /// files have ([`crate::IDENTIFIER_COLUMNS`], in any extractor's
    /// spelling; a feature such as `Destination Port` is read as a feature
    /// too), verbatim; and every row not kept, with its line and the reason
    /// ([`FileReport::skipped_rows`]). Default: false (nothing is kept, and
    /// reading costs nothing more).
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
    OneHot { offset: usize, index: usize },
    Label,
    Family,
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
    /// The label of every row when the file has no label column.
    default_label: Vec<u8>,
    /// The identifier columns: (column, index in `IDENTIFIER_COLUMNS`),
    /// the first column of each identifier only.
    identifiers: Vec<(usize, usize)>,
    report: FileReport,
}

/// The longest header line read (a longer one is an error, not an allocation).
const MAX_HEADER_BYTES: usize = 16 << 20;

/// Read the header line of a file (and check that it looks like CSV text).
/// The first 64 KiB are read, and more until the first line ends, so that
/// a header of any width is read whole.
fn read_header(path: &Path) -> Result<Vec<String>> {
    let mut file = File::open(path).map_err(|e| FlowDataError::io(path, e))?;
    let mut head = Vec::with_capacity(64 << 10);
    loop {
        let eof = fill(&mut file, &mut head, 64 << 10).map_err(|e| FlowDataError::io(path, e))?;
        if eof || memchr::memchr(b'\n', &head).is_some() {
            break;
        }
        if head.len() > MAX_HEADER_BYTES {
            return Err(FlowDataError::NotCsv {
                path: path.into(),
                line: 1,
                reason: format!("no line end in the first {MAX_HEADER_BYTES} bytes"),
            });
        }
    }
    if head.is_empty() {
        return Err(FlowDataError::EmptyFile { path: path.into() });
    }
    if let Some(pos) = memchr::memchr(0, &head) {
        let line = 1 + memchr::memchr_iter(b'\n', &head[..pos]).count() as u64;
        return Err(FlowDataError::NotCsv {
            path: path.into(),
            line,
            reason: format!("NUL byte at offset {pos}"),
        });
    }
    let end = memchr::memchr(b'\n', &head).unwrap_or(head.len());
    let mut line = &head[..end];
    if let Some(rest) = line.strip_prefix(b"\xef\xbb\xbf") {
        line = rest;
    }
    let record = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line)
        .byte_records()
        .next()
        .transpose()
        .map_err(|e| FlowDataError::Csv {
            path: path.into(),
            line: 1,
            message: e.to_string(),
        })?
        .ok_or_else(|| FlowDataError::EmptyFile { path: path.into() })?;
    let header: Vec<String> = record
        .iter()
        .map(|c| String::from_utf8_lossy(c).trim().to_string())
        .collect();
    if header.iter().all(|h| h.is_empty()) {
        return Err(FlowDataError::EmptyFile { path: path.into() });
    }
    Ok(header)
}

/// A header's columns for an error message: comma-separated, shortened to
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

fn plan_file(
    path: &Path,
    header: Vec<String>,
    schema: &Schema,
    unlabelled: Option<&str>,
) -> Result<FilePlan> {
    let label_key = normalize_header(&schema.label_column);
    let family_key = schema.family_column.as_deref().map(normalize_header);
    let mut roles = vec![Role::Ignored; header.len()];
    let mut assigned = vec![false; schema.n_features()];
    let mut report = FileReport {
        path: path.to_path_buf(),
        ..FileReport::default()
    };
    let mut have_label = false;
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
    for (i, h) in header.iter().enumerate() {
        let key = normalize_header(h);
        if key == label_key && !have_label {
            roles[i] = Role::Label;
            have_label = true;
            continue;
        }
        if family_key.as_deref() == Some(key.as_str()) {
            roles[i] = Role::Family;
            continue;
        }
        if let Some(k) = schema
            .one_hot
            .iter()
            .position(|oh| normalize_header(&oh.column) == key)
        {
            if let Some(offset) = one_hot_cols[k] {
                roles[i] = Role::OneHot { offset, index: k };
            }
            continue;
        }
        if let Some(name) = schema.canonical_name(h) {
            let j = schema
                .index_of(name)
                .expect("canonical names come from the schema");
            if assigned[j] {
                report.duplicate_columns.push(h.clone());
            } else {
                assigned[j] = true;
                roles[i] = Role::Feature(j);
            }
            continue;
        }
        if let Some((base, suffix)) = h.rsplit_once('.')
            && suffix.chars().all(|c| c.is_ascii_digit())
            && schema.canonical_name(base).is_some()
        {
            report.duplicate_columns.push(h.clone());
            continue;
        }
        if is_identifier(h) {
            report.identifier_columns.push(h.clone());
        } else {
            report.ignored_columns.push(h.clone());
        }
    }
    let mut default_label = Vec::new();
    if !have_label && let Some(l) = unlabelled {
        default_label = l.as_bytes().to_vec();
        report.unlabelled = true;
    } else if !have_label {
        return Err(FlowDataError::MissingLabelColumn {
            path: path.to_path_buf(),
            expected: schema.label_column.clone(),
            columns: short_columns(&header),
        });
    }
    if let Some(family) = &schema.family_column
        && !roles.contains(&Role::Family)
    {
        return Err(FlowDataError::MissingFamilyColumn {
            path: path.to_path_buf(),
            expected: family.clone(),
            columns: short_columns(&header),
        });
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
        default_label,
        identifiers,
        report,
    })
}

/// Align every file to the schema under the policy; returns the effective
/// schema, the plans and the features removed by `Intersect`.
fn plan_files(
    files: &[PathBuf],
    options: &ReadOptions,
) -> Result<(Schema, Vec<FilePlan>, Vec<String>)> {
    options.schema.validate()?;
    let headers = files
        .iter()
        .map(|f| read_header(f))
        .collect::<Result<Vec<_>>>()?;
    let full: Vec<FilePlan> = files
        .iter()
        .zip(headers.iter().cloned())
        .map(|(f, h)| plan_file(f, h, &options.schema, options.unlabelled.as_deref()))
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
                    files: files
                        .iter()
                        .zip(&headers)
                        .map(|(f, h)| format!("{} (columns: {})", f.display(), short_columns(h)))
                        .collect::<Vec<_>>()
                        .join("; "),
                });
            }
            let plans = files
                .iter()
                .zip(headers)
                .zip(full)
                .map(|((f, h), old)| {
                    let mut p = plan_file(f, h, &schema, options.unlabelled.as_deref())?;
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
    /// The distinct (label, family) keys of the part, and their indices.
    keys: Vec<Vec<u8>>,
    key_index: HashMap<Vec<u8>, u32>,
    fingerprints: Vec<u128>,
    rows_read: u64,
    dropped: DropCounts,
    cells: CellCounts,
    error: Option<FlowDataError>,
    /// With origins, per kept row: (index among the part's rows read, line).
    kept: Vec<(u64, u64)>,
    /// With origins, the identifier cells of the kept rows, row by row:
    /// the text, and where each cell ends.
    id_text: Vec<u8>,
    id_ends: Vec<usize>,
    /// With origins, the rows not kept: (index among the part's rows read,
    /// line, reason).
    skipped: Vec<(u64, u64, DropReason)>,
}

impl PartOut {
    fn reset(&mut self) {
        self.values.clear();
        self.local_class.clear();
        self.keys.clear();
        self.key_index.clear();
        self.fingerprints.clear();
        self.rows_read = 0;
        self.dropped = DropCounts::default();
        self.cells = CellCounts::default();
        self.error = None;
        self.kept.clear();
        self.id_text.clear();
        self.id_ends.clear();
        self.skipped.clear();
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

/// Immutable parsing context of one file.
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

enum Cell {
    Value(f32),
    Empty,
    Bad,
}

#[inline]
fn parse_cell(bytes: &[u8]) -> Cell {
    let t = bytes.trim_ascii();
    if t.is_empty() {
        return Cell::Empty;
    }
    // Most cells are plain counts: up to 19 digits fit a u64 exactly, and
    // its conversion rounds to nearest like a full parse would.
    if t.len() <= 19 {
        let mut n = 0u64;
        let mut digits = true;
        for &b in t {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                digits = false;
                break;
            }
            n = n * 10 + u64::from(d);
        }
        if digits {
            return Cell::Value(n as f32);
        }
    }
    match fast_float2::parse::<f32, _>(t) {
        Ok(v) => Cell::Value(v),
        Err(_) => Cell::Bad,
    }
}

/// Powers of ten exact in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The plain number (digits, optionally `.` and more digits) starting at
/// `from`, and where its digits end; `None` for anything else (a sign, an
/// exponent, no digits, more than 19 digits), which a full parse handles.
///
/// The value is the correctly rounded `f32`, as a full parse gives: the
/// digits form an integer `m` below 2^53 and the point a power of ten
/// `10^k` (k <= 22), both exact in `f64`, so `m / 10^k` is rounded once to
/// `f64`; rounding that to `f32` is rounding once more, and for a quotient
/// double rounding through a format of at least 2 x 24 + 2 bits gives the
/// same result as rounding once (Figueroa, 1995).
#[inline]
fn plain_number(line: &[u8], from: usize) -> (Option<f32>, usize) {
    let n = line.len();
    let (m, pos) = digits(line, from, 0);
    let int_digits = pos - from;
    if int_digits == 0 || int_digits > 19 {
        return (None, pos);
    }
    if pos == n || line[pos] != b'.' {
        // A count: up to 19 digits fit a u64 exactly, and its conversion
        // rounds to nearest like a full parse would.
        return (Some(m as f32), pos);
    }
    let (m, end) = digits(line, pos + 1, m);
    let frac_digits = end - pos - 1;
    if frac_digits == 0 || int_digits + frac_digits > 19 || m > 1 << 53 {
        return (None, end);
    }
    (Some((m as f64 / POW10[frac_digits]) as f32), end)
}

/// Read the ASCII digits from `from` on into `m` (`m * 10 + digit` each,
/// wrapping: callers count the digits); the value and where they end.
/// Eight bytes at a time where the line has them.
#[inline]
fn digits(line: &[u8], from: usize, mut m: u64) -> (u64, usize) {
    let mut pos = from;
    while let Some(bytes) = line.get(pos..pos + 8) {
        let chunk = u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        let (k, v) = leading_digits(chunk);
        m = m.wrapping_mul(POW10_U64[k]).wrapping_add(v);
        pos += k;
        if k < 8 {
            return (m, pos);
        }
    }
    while let Some(&b) = line.get(pos) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        pos += 1;
    }
    (m, pos)
}

const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// How many of eight bytes (little-endian, first byte lowest) are ASCII
/// digits before the first that is not, and the number they spell.
#[inline]
fn leading_digits(chunk: u64) -> (usize, u64) {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // A byte is a digit when its high nibble is 3 and adding 6 to it does
    // not carry out of the low nibble. A carry out of a byte (>= 0xFA)
    // only reaches bytes after it, which do not count.
    let not_digit =
        ((chunk & HIGH) ^ THREES) | ((chunk.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
    let k = (not_digit.trailing_zeros() / 8) as usize;
    if k == 0 {
        return (0, 0);
    }
    // The digits' values moved to the top bytes: the bytes below are
    // leading zeros. Then pairs, quads and the eight are combined.
    let v = (chunk & 0x0F0F_0F0F_0F0F_0F0F) << (8 * (8 - k));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let a = (v & MASK).wrapping_mul(100 + (1_000_000 << 32));
    let b = ((v >> 16) & MASK).wrapping_mul(1 + (10_000 << 32));
    (k, u64::from((a.wrapping_add(b) >> 32) as u32))
}

/// Store a parsed cell and count what it holds; true when it is not a
/// finite number (an empty cell becomes NaN).
#[inline]
fn store(cell: Cell, slot: &mut f32, counts: &mut CellCounts) -> bool {
    match cell {
        Cell::Value(v) if v.is_finite() => {
            // -0.0 and 0.0 are one value (for deduplication too).
            *slot = v + 0.0;
            false
        }
        Cell::Value(v) => {
            if v.is_nan() {
                counts.nan += 1;
            } else {
                counts.infinite += 1;
            }
            *slot = v;
            true
        }
        Cell::Empty => {
            counts.empty += 1;
            *slot = f32::NAN;
            true
        }
        // Callers report bad cells themselves.
        Cell::Bad => {
            *slot = f32::NAN;
            true
        }
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

impl ParseCtx<'_> {
    /// Parse one part (whole lines) whose first line is `first_line` of the
    /// file into `out`, which has been reset.
    ///
    /// A plain line is parsed in one pass ([`Self::fast_row`]); a line it
    /// declines is split on commas, or goes through the `csv` parser when
    /// it has quotes, and [`Self::row`] checks it cell by cell.
    fn parse_part(&self, bytes: &[u8], first_line: u64, out: &mut PartOut) {
        let mut key = Vec::with_capacity(64);
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(self.plan.header.len() + 1);
        let mut record = csv::ByteRecord::new();
        let mut pos = 0usize;
        let mut line_no = first_line;
        while pos < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            let mut line = &bytes[pos..end];
            pos = end + 1;
            let this_line = line_no;
            line_no += 1;
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            let before =
                self.origins
                    .then_some((out.rows_read, out.local_class.len(), out.dropped));
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
                    return;
                }
                continue;
            }
            if memchr::memchr(b'"', line).is_none() {
                split_plain(line, &mut spans);
            } else {
                spans.clear();
                let mut rdr = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(line);
                if let Err(e) = rdr.read_byte_record(&mut record) {
                    out.error = Some(FlowDataError::Csv {
                        path: self.plan.path.clone(),
                        line: this_line,
                        message: e.to_string(),
                    });
                    return;
                }
                spans.extend(
                    (0..record.len()).filter_map(|i| record.range(i).map(|r| (r.start, r.end))),
                );
                line = record.as_slice();
            }
            let go_on = self.row(line, &spans, this_line, out, &mut key);
            if let Some(before) = before {
                self.note_origin(line, &spans, this_line, before, out);
            }
            if !go_on {
                return;
            }
        }
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

    /// Parse a block on all threads: it is cut at line ends into parts,
    /// taken from `spare` (recycled) where possible, parsed in parallel.
    fn parse_block(&self, block: &[u8], first_line: u64, spare: &mut Vec<PartOut>) -> Vec<PartOut> {
        let n_parts = if block.len() < (256 << 10) {
            1
        } else {
            rayon::current_num_threads() * 2
        };
        let mut bounds = vec![0usize];
        for k in 1..n_parts {
            let target = block.len() * k / n_parts;
            let prev = *bounds.last().expect("non-empty");
            if target <= prev {
                continue;
            }
            if let Some(nl) = memchr::memchr(b'\n', &block[target..]) {
                let b = target + nl + 1;
                if b < block.len() {
                    bounds.push(b);
                }
            }
        }
        bounds.push(block.len());
        let lines: Vec<u64> = bounds
            .par_windows(2)
            .map(|w| memchr::memchr_iter(b'\n', &block[w[0]..w[1]]).count() as u64)
            .collect();
        let mut jobs = Vec::with_capacity(lines.len());
        let mut line = first_line;
        for (w, n_lines) in bounds.windows(2).zip(lines) {
            let mut part = spare.pop().unwrap_or_default();
            part.reset();
            jobs.push((&block[w[0]..w[1]], line, part));
            line += n_lines;
        }
        jobs.into_par_iter()
            .map(|(bytes, start, mut part)| {
                self.parse_part(bytes, start, &mut part);
                part
            })
            .collect()
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
        let p = self.policy;
        out.rows_read += 1;
        if spans.len() != n_cols {
            if p.lenient {
                out.dropped.malformed += 1;
                return true;
            }
            out.error = Some(FlowDataError::RaggedRow {
                path: self.plan.path.clone(),
                line,
                expected: n_cols,
                found: spans.len(),
            });
            return false;
        }
        let start = out.values.len();
        out.values.extend_from_slice(self.template);
        let row = &mut out.values[start..];
        let mut label: &[u8] = &self.plan.default_label;
        let mut family: &[u8] = b"";
        let mut non_finite = false;
        for (i, (role, &(a, b))) in self.plan.roles.iter().zip(spans).enumerate() {
            let cell = &text[a..b];
            match role {
                Role::Feature(j) => match parse_cell(cell) {
                    Cell::Bad => {
                        out.values.truncate(start);
                        if p.lenient {
                            out.dropped.malformed += 1;
                            return true;
                        }
                        out.error = Some(FlowDataError::BadNumber {
                            path: self.plan.path.clone(),
                            line,
                            column: i + 1,
                            name: self.plan.header[i].clone(),
                            found: shorten(cell),
                        });
                        return false;
                    }
                    parsed => non_finite |= store(parsed, &mut row[*j], &mut out.cells),
                },
                Role::OneHot { offset, index } => {
                    match self.plan.one_hot[*index].get(cell.trim_ascii()) {
                        Some(&c) => row[offset + c] = 1.0,
                        None => out.cells.unknown_category += 1,
                    }
                }
                Role::Label => label = cell,
                Role::Family => family = cell,
                Role::Ignored => {}
            }
        }
        if !names_a_class(label) {
            out.values.truncate(start);
            if p.lenient {
                out.dropped.malformed += 1;
                return true;
            }
            let column = self
                .plan
                .roles
                .iter()
                .position(|r| *r == Role::Label)
                .unwrap_or(0);
            out.error = Some(FlowDataError::BadLabel {
                path: self.plan.path.clone(),
                line,
                column: column + 1,
                name: self.plan.header[column].clone(),
                found: shorten(label),
            });
            return false;
        }
        self.finish_row(start, label, family, non_finite, out, key)
    }

    /// Parse a plain line (no quotes) in one pass over its bytes, without
    /// cutting it into cells first; `None`, with nothing recorded, when the
    /// line needs a closer look (wrong number of cells, a cell that is not
    /// a number), which [`Self::row`] then gives.
    fn fast_row(&self, line: &[u8], out: &mut PartOut, key: &mut Vec<u8>) -> Option<bool> {
        let start = out.values.len();
        out.values.extend_from_slice(self.template);
        let row = &mut out.values[start..];
        let n = line.len();
        let last = self.plan.roles.len() - 1;
        let (mut label, mut family): (&[u8], &[u8]) = (&self.plan.default_label, b"");
        let mut cells = CellCounts::default();
        let mut non_finite = false;
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
                        Role::Label => label = cell,
                        Role::Family => family = cell,
                        Role::Ignored | Role::Feature(_) => {}
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
        if !ok || pos != n || !names_a_class(label) {
            out.values.truncate(start);
            return None;
        }
        out.rows_read += 1;
        out.cells.add(&cells);
        Some(self.finish_row(start, label, family, non_finite, out, key))
    }

    /// Apply the cleaning policy to the parsed row at `start` and record
    /// its class and fingerprint; false when parsing must stop.
    fn finish_row(
        &self,
        start: usize,
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
        key.clear();
        key.extend_from_slice(label.trim_ascii());
        key.push(0xff);
        key.extend_from_slice(family.trim_ascii());
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

/// True when a label cell can name a class: it holds a letter or a digit
/// (or a byte of a non-ASCII character). Blank and punctuation-only cells
/// (`""`, `?`, `-`) are malformed rows, never a class.
fn names_a_class(label: &[u8]) -> bool {
    label
        .iter()
        .any(|&b| b.is_ascii_alphanumeric() || b >= 0x80)
}

/// The class of a (label, family) cell pair.
fn class_of(key: &[u8], has_family_column: bool) -> ClassInfo {
    let sep = key.iter().rposition(|&b| b == 0xff).unwrap_or(key.len());
    let label = decode_label(&key[..sep]);
    let family_text = decode_label(key.get(sep + 1..).unwrap_or(b""));
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
        }
    } else {
        ClassInfo::from_label(&label)
    }
}

/// One open input file.
struct OpenFile {
    plan_index: usize,
    file: File,
    buf: Vec<u8>,
    /// 1-based line number of the first line in `buf`.
    next_line: u64,
    eof: bool,
}

/// A streaming reader: yields cleaned [`FlowFrame`] chunks of about one
/// block each, with bounded memory, so that inputs larger than memory can
/// be processed. Exact duplicates are removed across the whole stream
/// (a 128-bit fingerprint per kept row is remembered).
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
    schema: Schema,
    plans: Vec<FilePlan>,
    template: Vec<f32>,
    checks: RowChecks,
    hash_a: hashbrown::DefaultHashBuilder,
    hash_b: hashbrown::DefaultHashBuilder,
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

/// Reads the input files one block of whole lines at a time.
struct Source {
    block_bytes: usize,
    current: Option<OpenFile>,
    next_file: usize,
    bytes_done: u64,
    /// Block buffers to reuse.
    spare: Vec<Vec<u8>>,
}

/// One block of whole lines read from a file.
struct Block {
    bytes: Vec<u8>,
    first_line: u64,
    plan_index: usize,
    /// The last block of its file.
    finished: bool,
}

/// A parsed block waiting to be merged.
struct ParsedBlock {
    parts: Vec<PartOut>,
    plan_index: usize,
    finished: bool,
}

/// The state that sees the parsed blocks in file order: classes, the
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
            for (r, &local) in part.local_class.iter().enumerate() {
                if self.policy.drop_duplicates && !self.seen.insert(part.fingerprints[r]) {
                    file_report.dropped.duplicate += 1;
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
    /// schema under the options' policy.
    pub fn open<P: AsRef<Path>>(paths: &[P], options: &ReadOptions) -> Result<FlowReader> {
        options.cleaning.validate()?;
        let files = expand_inputs(paths)?;
        let (schema, plans, removed) = plan_files(&files, options)?;
        let fill = match options.alignment {
            Alignment::Fill(v) => v,
            _ => 0.0,
        };
        // Missing features are filled; one-hot features start at 0.
        let template = vec![fill; schema.n_features()];
        let mut template = template;
        for oh in &schema.one_hot {
            for c in &oh.categories {
                if let Some(j) = schema.index_of(&format!("{}={c}", oh.column)) {
                    template[j] = 0.0;
                }
            }
        }
        let bytes_total = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
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
            checks: RowChecks::new(&schema),
            schema,
            plans,
            template,
            source: Source {
                block_bytes: options.block_bytes.max(64 << 10),
                current: None,
                next_file: 0,
                bytes_done: 0,
                spare: Vec::new(),
            },
            hash_a: hashbrown::DefaultHashBuilder::default(),
            hash_b: hashbrown::DefaultHashBuilder::default(),
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
        &self.schema
    }

    /// The files to read, in order, as planned when they were opened:
    /// their paths, missing features and whether they carry labels (the
    /// row counts fill in [`Self::report`] as the files are read).
    pub fn planned(&self) -> impl Iterator<Item = &FileReport> {
        self.plans.iter().map(|p| &p.report)
    }

    /// The report so far (complete once [`Self::next_chunk`] returned `None`).
    pub fn report(&self) -> &CleaningReport {
        &self.merger.report
    }

    /// Total size of the input files in bytes.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    /// Bytes read so far (for progress bars).
    pub fn bytes_done(&self) -> u64 {
        self.source.bytes_done
    }

    /// The next cleaned chunk, or `None` at the end of the last file.
    pub fn next_chunk(&mut self) -> Result<Option<FlowFrame>> {
        let (mut values, mut class_ids) = (Vec::new(), Vec::new());
        if self.next_into(&mut values, &mut class_ids)?.is_none() {
            return Ok(None);
        }
        let features =
            ndarray::Array2::from_shape_vec((class_ids.len(), self.schema.n_features()), values)
                .map_err(|e| FlowDataError::Shape(e.to_string()))?;
        let frame = FlowFrame::new(
            self.schema.clone(),
            features,
            class_ids,
            self.merger.classes.clone(),
        )?;
        self.merger.attach_origins(frame).map(Some)
    }

    /// Append the next non-empty cleaned block to `values` (row-major) and
    /// `class_ids`; the number of rows appended, or `None` at the end.
    ///
    /// Blocks go through a pipeline: while one parsed block is merged
    /// (duplicate set, classes, appending) and the block after next is
    /// read, the next one is parsed on the other threads. Merging stays in
    /// file order, so the result is the same as without the overlap.
    fn next_into(
        &mut self,
        values: &mut Vec<f32>,
        class_ids: &mut Vec<u32>,
    ) -> Result<Option<usize>> {
        loop {
            if self.lookahead.is_none() && self.pending.is_none() && self.deferred.is_none() {
                match self.source.read_next(&self.plans, &mut self.merger.report) {
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
            let policy = self.merger.policy;
            let origins = self.merger.origins.is_some();
            let FlowReader {
                schema,
                plans,
                template,
                checks,
                hash_a,
                hash_b,
                source,
                merger,
                pool,
                ..
            } = self;
            let mut spare = std::mem::take(pool);
            let ((merged, read), parsed) = rayon::join(
                || {
                    let merged = pending.map(|mut p| {
                        let rows = merger.merge(&mut p, plans, schema, values, class_ids);
                        (rows, p.parts)
                    });
                    let read = read_more.then(|| source.read_next(plans, &mut merger.report));
                    (merged, read)
                },
                || {
                    to_parse.map(|block| {
                        let ctx = ParseCtx {
                            plan: &plans[block.plan_index],
                            schema,
                            policy,
                            origins,
                            template,
                            checks,
                            hash_a,
                            hash_b,
                        };
                        let parsed = ParsedBlock {
                            parts: ctx.parse_block(&block.bytes, block.first_line, &mut spare),
                            plan_index: block.plan_index,
                            finished: block.finished,
                        };
                        (parsed, block.bytes)
                    })
                },
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
    /// The next block of the current or next file, or `None` after the last.
    fn read_next(
        &mut self,
        plans: &[FilePlan],
        report: &mut CleaningReport,
    ) -> Result<Option<Block>> {
        if self.current.is_none() {
            if self.next_file == plans.len() {
                return Ok(None);
            }
            self.open_next(plans, report)?;
        }
        let block = self.next_block(plans)?;
        if block.finished {
            self.current = None;
        }
        Ok(Some(block))
    }

    fn open_next(&mut self, plans: &[FilePlan], report: &mut CleaningReport) -> Result<()> {
        let i = self.next_file;
        self.next_file += 1;
        let path = &plans[i].path;
        let mut file = File::open(path).map_err(|e| FlowDataError::io(path, e))?;
        // Skip the header line.
        let mut buf = Vec::with_capacity(self.block_bytes + (1 << 16));
        let mut eof = false;
        let header_bytes;
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &buf) {
                buf.drain(..=nl);
                header_bytes = nl as u64 + 1;
                break;
            }
            if eof {
                header_bytes = buf.len() as u64;
                buf.clear();
                break;
            }
            eof = fill(&mut file, &mut buf, 1 << 16).map_err(|e| FlowDataError::io(path, e))?;
        }
        self.bytes_done += header_bytes;
        let mut file_report = plans[i].report.clone();
        file_report.rows_read = 0;
        report.files.push(file_report);
        self.current = Some(OpenFile {
            plan_index: i,
            file,
            buf,
            next_line: 2,
            eof,
        });
        Ok(())
    }

    /// Read up to one block of whole lines from the current file.
    fn next_block(&mut self, plans: &[FilePlan]) -> Result<Block> {
        let block_bytes = self.block_bytes;
        let cur = self.current.as_mut().expect("a file is open");
        let path = &plans[cur.plan_index].path;
        while !cur.eof && cur.buf.len() < block_bytes {
            let want = block_bytes - cur.buf.len();
            cur.eof =
                fill(&mut cur.file, &mut cur.buf, want).map_err(|e| FlowDataError::io(path, e))?;
        }
        let cut = if cur.eof {
            cur.buf.len()
        } else {
            match memchr::memrchr(b'\n', &cur.buf) {
                Some(nl) => nl + 1,
                None => {
                    // A line longer than the block: read on until it ends.
                    let mut extra = Vec::new();
                    while !cur.eof && memchr::memchr(b'\n', &extra).is_none() {
                        cur.eof = fill(&mut cur.file, &mut extra, 1 << 20)
                            .map_err(|e| FlowDataError::io(path, e))?;
                    }
                    cur.buf.extend_from_slice(&extra);
                    memchr::memrchr(b'\n', &cur.buf).map_or(cur.buf.len(), |nl| nl + 1)
                }
            }
        };
        let mut rest = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(block_bytes + (1 << 16)));
        rest.clear();
        rest.extend_from_slice(&cur.buf[cut..]);
        cur.buf.truncate(cut);
        let block = std::mem::replace(&mut cur.buf, rest);
        let first_line = cur.next_line;
        cur.next_line += memchr::memchr_iter(b'\n', &block).count() as u64;
        self.bytes_done += block.len() as u64;
        if let Some(pos) = memchr::memchr(0, &block) {
            let line = first_line + memchr::memchr_iter(b'\n', &block[..pos]).count() as u64;
            return Err(FlowDataError::NotCsv {
                path: path.clone(),
                line,
                reason: format!("NUL byte in line {line}"),
            });
        }
        let finished = cur.eof && cur.buf.is_empty();
        Ok(Block {
            bytes: block,
            first_line,
            plan_index: cur.plan_index,
            finished,
        })
    }
}

/// Append up to `want` bytes from `file` to `buf`; true at end of file.
fn fill(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let got = file.take(want as u64).read_to_end(buf)?;
    Ok(got < want)
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
    mut progress: impl FnMut(u64, u64),
) -> Result<(FlowFrame, CleaningReport)> {
    let mut reader = FlowReader::open(paths, options)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The plain-number path gives the full parser's value, bit for bit,
    /// and declines what it does not handle.
    #[test]
    fn plain_numbers_match_the_full_parse() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut checked = 0;
        for _ in 0..200_000 {
            let int_digits = rng.random_range(1..=12);
            let frac_digits = rng.random_range(0..=12);
            let mut text: String = (0..int_digits)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if frac_digits > 0 {
                text.push('.');
                text.extend((0..frac_digits).map(|_| char::from(b'0' + rng.random_range(0..10u8))));
            }
            let number = text.clone();
            // What follows the number: nothing, the next cell, or a
            // byte that is no digit.
            match rng.random_range(0..4) {
                0 => {}
                1 => text.push_str(",12345678,9"),
                2 => {
                    let b = rng.random_range(0..=0xFFu8);
                    if b.is_ascii_digit() || b == b'.' {
                        continue;
                    }
                    text.push(char::from(b));
                }
                _ => text.push_str("e5"),
            }
            let (value, end) = plain_number(text.as_bytes(), 0);
            assert_eq!(end, number.len(), "{text}");
            let full: f32 = fast_float2::parse(&number).unwrap();
            if let Some(v) = value {
                assert_eq!(v.to_bits(), full.to_bits(), "{text}: {v} against {full}");
                checked += 1;
            }
        }
        assert!(checked > 100_000, "only {checked} taken by the plain path");
        // Halfway cases between two f32 values, written out exactly.
        for text in [
            "16777217",
            "16777217.0",
            "0.1",
            "3.4028235",
            "33554435.00",
            "1.00000005960464477539",
        ] {
            let (value, _) = plain_number(text.as_bytes(), 0);
            if let Some(v) = value {
                let full: f32 = fast_float2::parse(text).unwrap();
                assert_eq!(v.to_bits(), full.to_bits(), "{text}");
            }
        }
        // A byte that carries when 6 is added stops the digits before it.
        let carry = [b'1', b'2', 0xFF, b'3', b'4', b'5', b'6', b'7', b'8', b'9'];
        assert_eq!(plain_number(&carry, 0), (Some(12.0), 2));
        for declined in [
            "",
            ".5",
            "5.",
            "-1",
            "1e5",
            "+2",
            "12345678901234567890",
            "1.2.3",
        ] {
            let (value, end) = plain_number(declined.as_bytes(), 0);
            let rest = &declined.as_bytes()[end..];
            assert!(
                value.is_none() || !rest.is_empty(),
                "{declined:?} taken whole as {value:?}"
            );
        }
    }
}
