//! A generic schema inferred from any labelled flow CSV.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};
use crate::reader::expand_inputs;
use crate::schema::{
    CategoricalPolicy, FeatureKind, FeatureSpec, OneHotColumn, Schema, is_identifier,
    normalize_header,
};

/// How to infer a schema from labelled CSV files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferOptions {
    /// The label column (binary `0/1`, or text with `BENIGN`/`Normal` for benign).
    pub label_column: String,
    /// A column naming the attack family (UNSW-NB15's `attack_cat`), if any.
    pub family_column: Option<String>,
    /// Text columns that are categories (UNSW-NB15: `proto`, `service`, `state`).
    pub categorical: Vec<String>,
    /// One-hot encode the categorical columns (default) or drop them.
    pub categorical_policy: CategoricalPolicy,
    /// A categorical column with more distinct values is refused (default 512).
    pub max_categories: usize,
}

impl InferOptions {
    /// Options for a label column, other settings at their defaults.
    pub fn new(label_column: impl Into<String>) -> InferOptions {
        InferOptions {
            label_column: label_column.into(),
            family_column: None,
            categorical: Vec::new(),
            categorical_policy: CategoricalPolicy::OneHot,
            max_categories: 512,
        }
    }
}

/// A column stays numeric when at most this share of its non-empty cells
/// are not numbers: those cells are malformed rows when the files are read
/// (dropped and counted in lenient mode, an error naming them otherwise).
pub const MAX_BAD_NUMERIC_SHARE: f64 = 0.01;

enum ColumnState {
    /// Counts of non-empty cells that parse as numbers, and that do not.
    Numeric {
        numbers: u64,
        other: u64,
    },
    Categorical(BTreeSet<String>),
    Skip,
}

impl Schema {
    /// Infer a schema from labelled CSV files (or directories): numeric
    /// columns become continuous features in file order (a column is
    /// numeric when at most [`MAX_BAD_NUMERIC_SHARE`] of its non-empty cells
    /// are not numbers: a stray `N/A` makes a malformed row, not a text
    /// column); the named
    /// categorical columns are one-hot encoded in place (features
    /// `column=value`, values sorted) or dropped; identifier columns and
    /// other text columns are left out (the reading report lists them).
    ///
    /// ```no_run
    /// use flowdata::{InferOptions, Schema};
    /// let mut opts = InferOptions::new("label");
    /// opts.family_column = Some("attack_cat".into());
    /// opts.categorical = vec!["proto".into(), "service".into(), "state".into()];
    /// let schema = Schema::infer(&["UNSW_NB15_training-set.csv"], &opts)?;
    /// # Ok::<(), flowdata::FlowDataError>(())
    /// ```
    pub fn infer<P: AsRef<Path>>(paths: &[P], options: &InferOptions) -> Result<Schema> {
        let files = expand_inputs(paths)?;
        let label_key = normalize_header(&options.label_column);
        let family_key = options.family_column.as_deref().map(normalize_header);
        let categorical: Vec<String> = options
            .categorical
            .iter()
            .map(|c| normalize_header(c))
            .collect();
        let mut header: Vec<String> = Vec::new();
        let mut states: Vec<ColumnState> = Vec::new();
        for path in &files {
            crate::input::check_csv_file(path)?;
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_path(path)
                .map_err(|e| FlowDataError::Csv {
                    path: path.clone(),
                    line: 1,
                    message: e.to_string(),
                })?;
            let h: Vec<String> = rdr
                .byte_headers()
                .map_err(|e| FlowDataError::Csv {
                    path: path.clone(),
                    line: 1,
                    message: e.to_string(),
                })?
                .iter()
                .map(|c| {
                    String::from_utf8_lossy(c)
                        .trim_start_matches('\u{feff}')
                        .trim()
                        .to_string()
                })
                .collect();
            if header.is_empty() {
                if !h.iter().any(|c| normalize_header(c) == label_key) {
                    return Err(FlowDataError::MissingLabelColumn {
                        path: path.clone(),
                        expected: options.label_column.clone(),
                        columns: h.join(", "),
                    });
                }
                // A repeated column is read once (the reader drops the
                // repeats as duplicate columns).
                let mut seen = std::collections::HashSet::new();
                states = h
                    .iter()
                    .map(|c| {
                        let key = normalize_header(c);
                        if key == label_key
                            || Some(&key) == family_key.as_ref()
                            || is_identifier(c)
                            || !seen.insert(key.clone())
                        {
                            ColumnState::Skip
                        } else if categorical.contains(&key) {
                            ColumnState::Categorical(BTreeSet::new())
                        } else {
                            ColumnState::Numeric {
                                numbers: 0,
                                other: 0,
                            }
                        }
                    })
                    .collect();
                header = h;
            } else if h != header {
                return Err(FlowDataError::Shape(format!(
                    "{}: header differs from {}",
                    path.display(),
                    files[0].display()
                )));
            }
            let mut record = csv::ByteRecord::new();
            loop {
                match rdr.read_byte_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(e) => {
                        return Err(FlowDataError::Csv {
                            path: path.clone(),
                            line: e.position().map_or(0, |p| p.line()),
                            message: e.to_string(),
                        });
                    }
                }
                for (cell, state) in record.iter().zip(states.iter_mut()) {
                    match state {
                        ColumnState::Numeric { numbers, other } => {
                            let t = cell.trim_ascii();
                            if !t.is_empty() {
                                if std::str::from_utf8(t).is_ok_and(|s| s.parse::<f32>().is_ok()) {
                                    *numbers += 1;
                                } else {
                                    *other += 1;
                                }
                            }
                        }
                        ColumnState::Categorical(set) => {
                            if set.len() <= options.max_categories {
                                set.insert(String::from_utf8_lossy(cell.trim_ascii()).into_owned());
                            }
                        }
                        ColumnState::Skip => {}
                    }
                }
            }
        }
        let mut features = Vec::new();
        let mut one_hot = Vec::new();
        for (name, state) in header.iter().zip(states) {
            match state {
                ColumnState::Numeric { numbers, other } => {
                    let numeric = other == 0
                        || (numbers > 0
                            && other as f64 <= MAX_BAD_NUMERIC_SHARE * (numbers + other) as f64);
                    // A text column is left out (the reading report lists it).
                    if numeric {
                        features.push(FeatureSpec {
                            name: name.clone(),
                            kind: FeatureKind::Continuous,
                            nonnegative: false,
                            sentinel: None,
                        });
                    }
                }
                ColumnState::Categorical(set) => {
                    if options.categorical_policy == CategoricalPolicy::Drop {
                        continue;
                    }
                    if set.len() > options.max_categories {
                        return Err(FlowDataError::config(
                            "categorical",
                            format!(
                                "column '{name}' has more than {} distinct values; drop it or raise max_categories",
                                options.max_categories
                            ),
                        ));
                    }
                    let categories: Vec<String> = set.into_iter().collect();
                    for c in &categories {
                        features.push(FeatureSpec {
                            name: format!("{name}={c}"),
                            kind: FeatureKind::Flag,
                            nonnegative: false,
                            sentinel: None,
                        });
                    }
                    one_hot.push(OneHotColumn {
                        column: name.clone(),
                        categories,
                    });
                }
                ColumnState::Skip => {}
            }
        }
        for c in &options.categorical {
            if !header
                .iter()
                .any(|h| normalize_header(h) == normalize_header(c))
            {
                return Err(FlowDataError::config(
                    "categorical",
                    format!("no column '{c}' in {}", files[0].display()),
                ));
            }
        }
        if let Some(family) = &options.family_column
            && !header
                .iter()
                .any(|h| normalize_header(h) == normalize_header(family))
        {
            return Err(FlowDataError::MissingFamilyColumn {
                path: files[0].clone(),
                expected: family.clone(),
                columns: crate::reader::short_columns(&header),
            });
        }
        if features.is_empty() {
            return Err(FlowDataError::config(
                "schema",
                format!(
                    "{}: no feature column to infer a schema from (columns: {}); numeric columns, and the --categorical ones, become features",
                    files[0].display(),
                    crate::reader::short_columns(&header)
                ),
            ));
        }
        let name = files[0].file_stem().map_or_else(
            || "generic".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let schema = Schema {
            name,
            features,
            label_column: options.label_column.clone(),
            family_column: options.family_column.clone(),
            one_hot,
            use_aliases: false,
        };
        schema.validate()?;
        Ok(schema)
    }
}
