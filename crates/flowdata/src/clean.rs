//! Cleaning policies and the cleaning report.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};

/// What to do with `Infinity`, `NaN` and empty cells.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "action", content = "value")]
pub enum NonFinitePolicy {
    /// Drop the row (default; what both reference systems effectively did
    /// for the two rate columns).
    #[default]
    DropRow,
    /// Replace the cell by a constant.
    Fill(f32),
    /// Replace the cell by the median of the column's finite values over
    /// all rows read (needs the whole input: [`crate::read_flows`] only).
    Median,
    /// Replace `+Infinity` by the column's largest finite value, `-Infinity`
    /// by its smallest, and `NaN`/empty by its median ([`crate::read_flows`] only).
    Clip,
}

/// What to do with negative values in features that cannot be negative
/// (counts, lengths, durations: extraction errors in CIC-IDS2017).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NegativePolicy {
    /// Drop the row (default).
    #[default]
    DropRow,
    /// Take the absolute value (the reference anomaly pipeline's choice).
    Abs,
    /// Keep the value as it is.
    Keep,
}

/// What to do with sentinel cells ("not observed", `Init_Win_bytes_*` = -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SentinelPolicy {
    /// Keep the sentinel: "not observed" is information (default).
    #[default]
    Keep,
    /// Replace by 0.
    Zero,
    /// Replace by the column median of the non-sentinel values
    /// ([`crate::read_flows`] only; the reference anomaly pipeline's choice).
    Median,
    /// Drop the row.
    DropRow,
}

/// How rows are cleaned while they are read. Every decision is counted in
/// the [`CleaningReport`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CleaningPolicy {
    /// Non-finite and empty cells. Default: drop the row.
    pub non_finite: NonFinitePolicy,
    /// Negative values where impossible. Default: drop the row.
    pub negative: NegativePolicy,
    /// Sentinel values. Default: keep.
    pub sentinel: SentinelPolicy,
    /// Drop exact duplicate rows (same features and label), keeping the
    /// first; done while reading, so before any split. Default: true.
    pub drop_duplicates: bool,
    /// Skip malformed rows (ragged rows, unparsable cells) and count them
    /// instead of failing. Default: false (fail with file, line and column).
    pub lenient: bool,
}

impl Default for CleaningPolicy {
    fn default() -> Self {
        CleaningPolicy {
            non_finite: NonFinitePolicy::DropRow,
            negative: NegativePolicy::DropRow,
            sentinel: SentinelPolicy::Keep,
            drop_duplicates: true,
            lenient: false,
        }
    }
}

impl CleaningPolicy {
    /// True when the policy needs statistics over all rows (a median or a
    /// column range), so that it can only run in [`crate::read_flows`].
    pub fn needs_global_pass(&self) -> bool {
        matches!(
            self.non_finite,
            NonFinitePolicy::Median | NonFinitePolicy::Clip
        ) || self.sentinel == SentinelPolicy::Median
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if let NonFinitePolicy::Fill(v) = self.non_finite
            && !v.is_finite()
        {
            return Err(FlowDataError::config(
                "non_finite",
                format!("the fill value must be finite, got {v}"),
            ));
        }
        Ok(())
    }
}

/// Rows dropped, per reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    /// Rows with a non-finite or empty cell (under `NonFinitePolicy::DropRow`).
    pub non_finite: u64,
    /// Rows with an impossible negative value (under `NegativePolicy::DropRow`).
    pub negative: u64,
    /// Rows with a sentinel value (under `SentinelPolicy::DropRow`).
    pub sentinel: u64,
    /// Exact duplicates of an earlier row.
    pub duplicate: u64,
    /// Malformed rows skipped in lenient mode.
    pub malformed: u64,
}

impl DropCounts {
    /// All dropped rows.
    pub fn total(&self) -> u64 {
        self.non_finite + self.negative + self.sentinel + self.duplicate + self.malformed
    }

    pub(crate) fn add(&mut self, o: &DropCounts) {
        self.non_finite += o.non_finite;
        self.negative += o.negative;
        self.sentinel += o.sentinel;
        self.duplicate += o.duplicate;
        self.malformed += o.malformed;
    }

    /// The reason a row was dropped, given the counts before it was read
    /// (the first reason whose count grew).
    pub(crate) fn reason_since(&self, before: &DropCounts) -> Option<DropReason> {
        [
            (self.non_finite > before.non_finite, DropReason::NonFinite),
            (self.negative > before.negative, DropReason::Negative),
            (self.sentinel > before.sentinel, DropReason::Sentinel),
            (self.duplicate > before.duplicate, DropReason::Duplicate),
            (self.malformed > before.malformed, DropReason::Malformed),
        ]
        .into_iter()
        .find_map(|(grew, reason)| grew.then_some(reason))
    }

    /// The counts as `reason -> rows`, for reports.
    pub fn as_map(&self) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([
            ("non_finite", self.non_finite),
            ("negative", self.negative),
            ("sentinel", self.sentinel),
            ("duplicate", self.duplicate),
            ("malformed", self.malformed),
        ])
    }
}

/// Why a row was not kept: the reasons counted in [`DropCounts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A non-finite or empty cell (under `NonFinitePolicy::DropRow`).
    NonFinite,
    /// An impossible negative value (under `NegativePolicy::DropRow`).
    Negative,
    /// A sentinel value (under `SentinelPolicy::DropRow`).
    Sentinel,
    /// An exact duplicate of an earlier row.
    Duplicate,
    /// A malformed row (wrong number of cells, a cell that is not a
    /// number or not text, no label where labels are needed, an unclosed
    /// quote, a repeated column that differs), skipped in lenient mode.
    Malformed,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::NonFinite => "a non-finite or empty cell",
            DropReason::Negative => "an impossible negative value",
            DropReason::Sentinel => "a sentinel value",
            DropReason::Duplicate => "a duplicate of an earlier row",
            DropReason::Malformed => {
                "malformed (a wrong number of cells, a cell that is not a number or not text, no label where labels are needed, an unclosed quote, or a repeated column that differs)"
            }
        })
    }
}

/// A row that was read but not kept: where it was and why. Recorded when
/// [`crate::ReadOptions::origins`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRow {
    /// 1-based line in its file (the header is line 1).
    pub line: u64,
    /// 0-based position among the data rows read, as in
    /// [`crate::Origins::rows`].
    pub row: u64,
    /// Why it was not kept.
    pub reason: DropReason,
}

/// Cell-level events (cells changed or seen), as opposed to dropped rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellCounts {
    /// `Infinity`/`inf` cells seen.
    pub infinite: u64,
    /// `NaN` cells seen.
    pub nan: u64,
    /// Empty cells seen.
    pub empty: u64,
    /// Non-finite or empty cells replaced (fill, median or clip).
    pub imputed: u64,
    /// Negative values made positive (`NegativePolicy::Abs`) or kept.
    pub negative_kept_or_fixed: u64,
    /// Sentinel cells seen.
    pub sentinel: u64,
    /// One-hot cells whose category was not in the schema.
    pub unknown_category: u64,
}

impl CellCounts {
    pub(crate) fn add(&mut self, o: &CellCounts) {
        self.infinite += o.infinite;
        self.nan += o.nan;
        self.empty += o.empty;
        self.imputed += o.imputed;
        self.negative_kept_or_fixed += o.negative_kept_or_fixed;
        self.sentinel += o.sentinel;
        self.unknown_category += o.unknown_category;
    }
}

/// What happened to one input file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// The file had no label column: every row got
    /// [`crate::ReadOptions::unlabelled`].
    #[serde(default)]
    pub unlabelled: bool,
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Rows kept.
    pub rows_kept: u64,
    /// Rows dropped, per reason.
    pub dropped: DropCounts,
    /// Cell-level events.
    pub cells: CellCounts,
    /// Header columns outside the schema, ignored.
    pub ignored_columns: Vec<String>,
    /// Identifier columns (never features): not read as features, kept
    /// verbatim in [`crate::Origins`] when [`crate::ReadOptions::origins`] is set.
    pub identifier_columns: Vec<String>,
    /// Repeated feature columns (`Fwd Header Length` twice), dropped once.
    pub duplicate_columns: Vec<String>,
    /// Canonical features this file lacks (filled or intersected away).
    pub missing_features: Vec<String>,
    /// Every row read but not kept, in file order; recorded only when
    /// [`crate::ReadOptions::origins`] is set (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_rows: Vec<SkippedRow>,
    /// The first [`MALFORMED_LISTED`] malformed rows skipped (lenient
    /// reading), with their line and what is wrong; all are counted in
    /// [`DropCounts::malformed`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub malformed_rows: Vec<MalformedRow>,
    /// Rows kept without a label (labels optional: a file without the
    /// label column, a blank cell, the `NeedManualLabel` placeholder).
    #[serde(default)]
    pub unlabelled_rows: u64,
}

/// How many malformed rows a [`FileReport`] lists (all are counted).
pub const MALFORMED_LISTED: usize = 100;

/// A malformed row skipped while reading: where it was and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MalformedRow {
    /// 1-based line where its record starts (the header is line 1 after
    /// any blank lines before it).
    pub line: u64,
    /// 0-based position among the data rows read.
    pub row: u64,
    /// What is wrong, as the error of a strict read says it (input, line,
    /// column, what was found).
    pub message: String,
}

/// The cleaning report: every row read, every row dropped and why, every
/// alignment decision, per file and in total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CleaningReport {
    /// The alignment policy, as text (`strict`, `intersect`, `fill(0)`).
    pub alignment: String,
    /// The cleaning policy.
    pub policy: Option<CleaningPolicy>,
    /// Features of the schema that were removed because some file lacked
    /// them (`Intersect`).
    pub features_removed: Vec<String>,
    /// Features of the final frame that are constant over all kept rows.
    pub constant_features: Vec<String>,
    /// Per-file details, in reading order.
    pub files: Vec<FileReport>,
}

impl CleaningReport {
    /// Data rows read over all files.
    pub fn rows_read(&self) -> u64 {
        self.files.iter().map(|f| f.rows_read).sum()
    }

    /// Rows kept over all files.
    pub fn rows_kept(&self) -> u64 {
        self.files.iter().map(|f| f.rows_kept).sum()
    }

    /// Dropped rows per reason over all files.
    pub fn dropped(&self) -> DropCounts {
        let mut d = DropCounts::default();
        self.files.iter().for_each(|f| d.add(&f.dropped));
        d
    }

    /// Cell events over all files.
    pub fn cells(&self) -> CellCounts {
        let mut c = CellCounts::default();
        self.files.iter().for_each(|f| c.add(&f.cells));
        c
    }

    /// A short human-readable summary, one line per file plus totals.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            s.push_str(&format!(
                "{}: read {}, kept {}, dropped {} (non-finite {}, negative {}, sentinel {}, duplicate {}, malformed {})\n",
                f.path.display(),
                f.rows_read,
                f.rows_kept,
                f.dropped.total(),
                f.dropped.non_finite,
                f.dropped.negative,
                f.dropped.sentinel,
                f.dropped.duplicate,
                f.dropped.malformed
            ));
            if !f.ignored_columns.is_empty() {
                s.push_str(&format!(
                    "  ignored columns: {}\n",
                    f.ignored_columns.join(", ")
                ));
            }
            if !f.duplicate_columns.is_empty() {
                s.push_str(&format!(
                    "  duplicate columns dropped: {}\n",
                    f.duplicate_columns.join(", ")
                ));
            }
            if !f.missing_features.is_empty() {
                s.push_str(&format!(
                    "  missing features: {}\n",
                    f.missing_features.join(", ")
                ));
            }
            if f.unlabelled_rows > 0 {
                s.push_str(&format!("  rows without a label: {}\n", f.unlabelled_rows));
            }
            for m in &f.malformed_rows {
                s.push_str(&format!("  skipped: {}\n", m.message));
            }
            if f.dropped.malformed > f.malformed_rows.len() as u64 {
                s.push_str(&format!(
                    "  ... and {} more malformed rows\n",
                    f.dropped.malformed - f.malformed_rows.len() as u64
                ));
            }
        }
        let d = self.dropped();
        s.push_str(&format!(
            "total: read {}, kept {}, dropped {} (non-finite {}, negative {}, sentinel {}, duplicate {}, malformed {}); alignment {}\n",
            self.rows_read(),
            self.rows_kept(),
            d.total(),
            d.non_finite,
            d.negative,
            d.sentinel,
            d.duplicate,
            d.malformed,
            self.alignment
        ));
        if !self.features_removed.is_empty() {
            s.push_str(&format!(
                "features removed (not in every file): {}\n",
                self.features_removed.join(", ")
            ));
        }
        if !self.constant_features.is_empty() {
            s.push_str(&format!(
                "constant features: {}\n",
                self.constant_features.join(", ")
            ));
        }
        s
    }
}
