//! The ingest stage: load (or generate) flows, clean, split, fit scaling on
//! the training rows, scale every split and persist the schema and bounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flowdata::synth::write_csv;
use flowdata::{
    Alignment, Bounds, Family, FeatureKind, FlowFrame, InferOptions, OutOfRange, ReadOptions,
    Schema, SplitConfig, read_flows_with_progress,
};
use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::config::DataConfig;
use crate::error::{PipelineError, Result};

/// Row counts of the ingest stage, as written to the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataSummary {
    /// Where the flows came from (paths, or `synthetic`).
    pub source: String,
    /// Data rows read over all files.
    pub rows_read: u64,
    /// Rows kept after cleaning.
    pub rows_after_cleaning: u64,
    /// Rows dropped, per reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub validation: usize,
    /// Test rows.
    pub test: usize,
    /// The separate test capture, when one was given.
    pub test_source: Option<String>,
    /// Features used by the models.
    pub features: usize,
    /// Categorical features left out of the model input (the destination port).
    pub categorical_dropped: Vec<String>,
    /// Every input column that is not a model feature, with the reason.
    pub columns_left_out: Vec<LeftOutColumn>,
    /// Features the separate test capture lacks, filled with the
    /// `fill_missing` value.
    pub test_features_filled: Vec<String>,
    /// Rows of the separate test capture whose feature values equal those
    /// of a training or validation row (leakage between `--data` and
    /// `--test-data`).
    pub test_rows_in_training: Option<usize>,
    /// Warnings about the data, also written to the report's notes.
    pub warnings: Vec<String>,
    /// Attack rows per split (train, validation, test).
    pub attacks: [usize; 3],
    /// Rows per family in the test split.
    pub test_families: BTreeMap<String, usize>,
    /// Values of the validation and test splits clamped to the training range.
    pub clamped_values: usize,
    /// Attack families removed from the training and validation splits.
    pub unseen_families: Vec<String>,
    /// Values outside the training range, per split.
    pub out_of_range: Vec<RangeSummary>,
}

/// A share of clamped values above which a source gets a warning: about
/// ten times what a capture of the training network shows under the
/// default 0.999-quantile scaling.
pub const CLAMPED_SHARE_WARNING: f64 = 0.01;

/// How much of a source lay outside the training range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RangeSummary {
    /// The split or files.
    pub source: String,
    /// Rows scaled.
    pub rows: usize,
    /// Scaled features per row: the values that could lie out of range.
    pub scaled_features: usize,
    /// Values beyond the training range (clamped to it; the sentinel `-1`
    /// of CIC-IDS2017's window fields is not counted).
    pub clamped_values: usize,
    /// Their share of the scaled values.
    pub share: f64,
    /// The features most often out of range (up to five).
    pub top_features: Vec<FeatureOutOfRange>,
}

/// One feature's values outside the training range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureOutOfRange {
    /// The feature.
    pub feature: String,
    /// Values clamped.
    pub clamped: usize,
    /// Their share of the rows.
    pub share_of_rows: f64,
}

impl RangeSummary {
    /// The summary of `range` (of a matrix with `schema`'s features).
    pub fn new(source: impl Into<String>, range: &OutOfRange, schema: &Schema) -> Self {
        let names = schema.feature_names();
        let beyond = range.beyond_per_feature();
        let mut by_count: Vec<(usize, usize)> = beyond
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, n)| n > 0)
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        RangeSummary {
            source: source.into(),
            rows: range.rows,
            scaled_features: range.scaled_features,
            clamped_values: beyond.iter().sum(),
            share: range.share(),
            top_features: by_count
                .into_iter()
                .take(5)
                .map(|(j, n)| FeatureOutOfRange {
                    feature: names
                        .get(j)
                        .map_or_else(|| format!("#{j}"), |s| s.to_string()),
                    clamped: n,
                    share_of_rows: n as f64 / range.rows.max(1) as f64,
                })
                .collect(),
        }
    }

    /// A warning when the share exceeds [`CLAMPED_SHARE_WARNING`]: the
    /// source was likely made by another extractor or on another network,
    /// and scores mean little until the model is fine-tuned on it.
    pub fn warning(&self) -> Option<String> {
        (self.share > CLAMPED_SHARE_WARNING).then(|| {
            let top: Vec<String> = self
                .top_features
                .iter()
                .map(|f| format!("{} ({:.1} % of rows)", f.feature, 100.0 * f.share_of_rows))
                .collect();
            format!(
                "{}: {:.1} % of the scaled values ({} of {} rows x {} features) lie outside the training range and were clamped, most often {}; a capture from another extractor or network needs --finetune-fraction (or a model trained on it) before its scores mean anything",
                self.source,
                100.0 * self.share,
                self.clamped_values,
                self.rows,
                self.scaled_features,
                top.join(", ")
            )
        })
    }
}

/// An input column that is not a model feature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeftOutColumn {
    /// The column as written in the header.
    pub column: String,
    /// Why it is not a feature.
    pub reason: String,
}

/// The result of the ingest stage: scaled splits and what scaled them.
#[derive(Debug)]
pub struct Ingested {
    /// Training rows, scaled.
    pub train: FlowFrame,
    /// Validation rows, scaled.
    pub validation: FlowFrame,
    /// Test rows, scaled.
    pub test: FlowFrame,
    /// The model-input schema.
    pub schema: Schema,
    /// The scaling fitted on the training split.
    pub bounds: Bounds,
    /// The cleaning report, as text.
    pub cleaning_text: String,
    /// Validation values outside the training range, and how far.
    pub validation_range: OutOfRange,
    /// Test values outside the training range, and how far.
    pub test_range: OutOfRange,
    /// Row counts.
    pub summary: DataSummary,
}

/// The schema of flow files: CIC-IDS2017's, or one inferred from the
/// files around another label column (`--label-column`, with its family
/// and categorical columns).
pub fn infer_schema(
    label_column: Option<&str>,
    family_column: Option<&str>,
    categorical: &[String],
    paths: &[PathBuf],
) -> Result<Schema> {
    match label_column {
        None => Ok(Schema::cicids2017()),
        Some(label) => {
            let mut opts = InferOptions::new(label.to_string());
            opts.family_column = family_column.map(str::to_string);
            opts.categorical = categorical.to_vec();
            Ok(Schema::infer(paths, &opts)?)
        }
    }
}

/// The read options for the configured data (see [`infer_schema`]).
pub fn read_options(config: &DataConfig, paths: &[PathBuf]) -> Result<ReadOptions> {
    Ok(ReadOptions::with_schema(infer_schema(
        config.label_column.as_deref(),
        config.family_column.as_deref(),
        &config.categorical,
        paths,
    )?))
}

/// A reading error, with the way out of one that names features a file
/// lacks: `--fill-missing`.
pub fn fill_hint(e: flowdata::FlowDataError) -> PipelineError {
    match e {
        e @ flowdata::FlowDataError::MissingColumns { .. } => PipelineError::Unsupported(format!(
            "{e}: the detector cannot score it (pass --fill-missing VALUE to fill them)"
        )),
        other => other.into(),
    }
}

/// Refuse a Zeek or Suricata log given where flow features are expected,
/// saying what is needed instead; anything else passes (the reader judges
/// it).
pub fn refuse_logs(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| PipelineError::io(path, e))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let start = text.trim_start();
    let what = if start.starts_with("#separator") || start.starts_with("#fields") {
        Some("a Zeek log (conn.log)")
    } else if start.starts_with('{') {
        if text.contains("\"event_type\"") {
            Some("Suricata EVE JSON")
        } else {
            Some("JSON (a Zeek or Suricata log?)")
        }
    } else {
        None
    };
    match what {
        Some(w) => Err(PipelineError::Unsupported(format!(
            "{} is {w}, not a flow-feature file: the detector reads CICFlowMeter-style flow features (Flow Duration, Total Fwd Packets, ... as CSV with a header); extract them from the capture with CICFlowMeter first",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// Read files aligned to a trained model's schema, keeping exactly the
/// schema's columns. A file that lacks any of the model's features is an
/// error naming them, unless `fill_missing` gives the value to fill them
/// with (`--fill-missing`; see [`Alignment::for_scoring`]).
pub fn read_aligned(
    paths: &[PathBuf],
    schema: &Schema,
    fill_missing: Option<flowdata::FillValue>,
    progress: impl FnMut(u64, u64),
) -> Result<(FlowFrame, flowdata::CleaningReport)> {
    let opts = ReadOptions {
        alignment: Alignment::for_scoring(fill_missing),
        ..ReadOptions::with_schema(schema.clone())
    };
    let (frame, report) = read_flows_with_progress(paths, &opts, progress).map_err(fill_hint)?;
    let names = schema.feature_names();
    Ok((frame.select_features(&names)?, report))
}

/// Every input column that is not a model feature, with the reason, from
/// the reading report (identifiers, duplicates, text or unknown columns,
/// features some file lacks), the categorical features left out, and the
/// label and family columns.
fn left_out_columns(
    config: &DataConfig,
    report: &flowdata::CleaningReport,
    categorical_dropped: &[String],
) -> Vec<LeftOutColumn> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |column: &str, reason: &str| {
        out.entry(column.to_string())
            .or_insert_with(|| reason.to_string());
    };
    let label = config.label_column.as_deref().unwrap_or("Label");
    add(label, "the label column");
    if let Some(f) = &config.family_column {
        add(f, "the attack-family column");
    }
    let other = if config.label_column.is_some() {
        "text, not numeric (name it in --categorical to one-hot encode it)"
    } else {
        "not a feature of the CIC-IDS2017 schema"
    };
    for f in &report.files {
        f.identifier_columns
            .iter()
            .for_each(|c| add(c, "an identifier (never a feature)"));
        f.duplicate_columns
            .iter()
            .for_each(|c| add(c, "a duplicate of another column"));
        f.ignored_columns.iter().for_each(|c| add(c, other));
    }
    for c in &report.features_removed {
        add(
            c,
            "missing from some input file (only features every file has are kept)",
        );
    }
    for c in categorical_dropped {
        add(
            c,
            "categorical (a code, not a quantity): left out of the model input",
        );
    }
    out.into_iter()
        .map(|(column, reason)| LeftOutColumn { column, reason })
        .collect()
}

/// The number of `test` rows whose feature values (bit for bit) equal
/// those of a row of `seen`, by 64-bit fingerprints of the rows.
fn rows_seen_before(seen: &FlowFrame, test: &FlowFrame) -> usize {
    use std::hash::{Hash, Hasher};
    let fingerprint = |row: ndarray::ArrayView1<'_, f32>| {
        let mut h = std::hash::DefaultHasher::new();
        row.iter().for_each(|v| (*v + 0.0).to_bits().hash(&mut h));
        h.finish()
    };
    let known: std::collections::HashSet<u64> = seen
        .features()
        .rows()
        .into_iter()
        .map(fingerprint)
        .collect();
    test.features()
        .rows()
        .into_iter()
        .filter(|r| known.contains(&fingerprint(*r)))
        .count()
}

fn model_features(schema: &Schema) -> (Vec<String>, Vec<String>) {
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for f in &schema.features {
        if f.kind == FeatureKind::Categorical {
            dropped.push(f.name.clone());
        } else {
            keep.push(f.name.clone());
        }
    }
    (keep, dropped)
}

/// The features some file of a reading lacks (each named once).
pub(crate) fn missing_features(report: &flowdata::CleaningReport) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in report.files.iter().flat_map(|f| &f.missing_features) {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// The attack families named in `names` (`--unseen-family`), each present
/// in `frames`; an unknown or absent name is an error listing the attack
/// families the data holds.
fn resolve_families(names: &[String], frames: &[&FlowFrame]) -> Result<Vec<Family>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut present: BTreeMap<Family, usize> = BTreeMap::new();
    for f in frames {
        for (family, n) in f.family_counts() {
            *present.entry(family).or_default() += n;
        }
    }
    let mut out = Vec::new();
    for name in names {
        match Family::from_name(name).filter(|f| f.is_attack() && present.contains_key(f)) {
            Some(f) if !out.contains(&f) => out.push(f),
            Some(_) => {}
            None => {
                let listed: Vec<String> = present
                    .iter()
                    .filter(|(f, _)| f.is_attack())
                    .map(|(f, n)| format!("{} ({n} flows)", f.name()))
                    .collect();
                return Err(PipelineError::config(
                    "unseen_family",
                    name,
                    format!(
                        "is not an attack family of this data; it holds {}",
                        if listed.is_empty() {
                            "none".to_string()
                        } else {
                            listed.join(", ")
                        }
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn attacks(frame: &FlowFrame) -> usize {
    frame.binary_labels().iter().filter(|&&l| l == 1).count()
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run the ingest stage, writing `schema.json` and `bounds.json` (and, for
/// the embedded default, `synthetic_flows.csv`) into `out_dir`.
///
/// `progress(done, total)` reports bytes read.
pub fn run(
    config: &DataConfig,
    out_dir: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<Ingested> {
    std::fs::create_dir_all(out_dir).map_err(|e| PipelineError::io(out_dir, e))?;
    let (paths, source) = if config.paths.is_empty() {
        let path = out_dir.join("synthetic_flows.csv");
        write_csv(&config.synthetic, &path)?;
        (
            vec![path],
            format!(
                "synthetic ({} generated rows, seed {})",
                config.synthetic.rows, config.synthetic.seed
            ),
        )
    } else {
        (config.paths.clone(), join(&config.paths))
    };
    let mut opts = read_options(config, &paths)?;
    opts.cleaning = config.cleaning;
    let (frame, report) = read_flows_with_progress(&paths, &opts, &mut progress)?;
    let (keep, categorical_dropped) = model_features(frame.schema());
    if keep.is_empty() {
        return Err(PipelineError::Unsupported(format!(
            "no usable feature column in {source}"
        )));
    }
    let names: Vec<&str> = keep.iter().map(String::as_str).collect();
    let frame = frame.select_features(&names)?;
    let schema = frame.schema().clone();

    let columns_left_out = left_out_columns(config, &report, &categorical_dropped);
    let mut warnings = Vec::new();
    let mut test_features_filled = Vec::new();
    let mut test_rows_in_training = None;
    let (mut train, mut validation, mut test, test_source) = if config.test_paths.is_empty() {
        let split = frame.split(&config.split)?;
        (split.train, split.validation, split.test, None)
    } else {
        let tv = config.split.train + config.split.validation;
        let split = frame.split(&SplitConfig {
            train: config.split.train / tv,
            validation: config.split.validation / tv,
            test: 0.0,
            seed: config.split.seed,
        })?;
        let (test, test_report) =
            read_aligned(&config.test_paths, &schema, config.fill_missing, |_, _| {})?;
        test_features_filled = missing_features(&test_report);
        let seen = rows_seen_before(&frame, &test);
        test_rows_in_training = Some(seen);
        if seen > 0 {
            warnings.push(format!(
                "{seen} of the {} test rows ({:.1} %) have the same feature values as a training or validation row: the test capture overlaps --data, so its scores are inflated",
                test.n_rows(),
                100.0 * seen as f64 / test.n_rows().max(1) as f64
            ));
        }
        if !test_features_filled.is_empty() {
            warnings.push(format!(
                "the test capture lacks {} of the model's features, filled with {}: {}",
                test_features_filled.len(),
                config.fill_missing.map_or(0.0, f32::from),
                test_features_filled.join(", ")
            ));
        }
        (
            split.train,
            split.validation,
            test,
            Some(join(&config.test_paths)),
        )
    };
    let unseen = resolve_families(&config.unseen_families, &[&train, &validation, &test])?;
    if !unseen.is_empty() {
        let keep = |f: &FlowFrame| f.filter_rows(|r| !unseen.contains(&f.family(r)));
        train = keep(&train);
        validation = keep(&validation);
    }
    for (name, f) in [
        ("training", &train),
        ("validation", &validation),
        ("test", &test),
    ] {
        if f.n_rows() == 0 {
            return Err(PipelineError::Unsupported(format!(
                "the {name} split is empty ({} rows after cleaning)",
                report.rows_kept()
            )));
        }
    }
    if config.save_splits {
        let dir = out_dir.join("splits");
        std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
        test.write_csv(dir.join("test.csv"))?;
    }
    let bounds = Bounds::fit(&schema, train.features(), config.scaling)?;
    bounds.transform_frame(&mut train)?;
    let validation_range = bounds.transform_frame(&mut validation)?;
    let test_range = bounds.transform_frame(&mut test)?;
    let clamped = validation_range.clamped() + test_range.clamped();
    let out_of_range = vec![
        RangeSummary::new("validation split", &validation_range, &schema),
        RangeSummary::new(
            test_source
                .as_ref()
                .map_or_else(|| "test split".to_string(), |s| format!("test capture {s}")),
            &test_range,
            &schema,
        ),
    ];
    warnings.extend(out_of_range.iter().filter_map(RangeSummary::warning));
    schema.save(out_dir.join("schema.json"))?;
    bounds.save(out_dir.join("bounds.json"))?;
    let summary = DataSummary {
        source,
        rows_read: report.rows_read(),
        rows_after_cleaning: report.rows_kept(),
        dropped: report.dropped().as_map(),
        train: train.n_rows(),
        validation: validation.n_rows(),
        test: test.n_rows(),
        test_source,
        features: schema.n_features(),
        categorical_dropped,
        columns_left_out,
        test_features_filled,
        test_rows_in_training,
        warnings,
        attacks: [attacks(&train), attacks(&validation), attacks(&test)],
        test_families: test
            .family_counts()
            .into_iter()
            .map(|(f, n)| (f.name().to_string(), n))
            .collect(),
        clamped_values: clamped,
        unseen_families: unseen.iter().map(|f| f.name().to_string()).collect(),
        out_of_range,
    };
    Ok(Ingested {
        train,
        validation,
        test,
        schema,
        bounds,
        cleaning_text: report.to_text(),
        validation_range,
        test_range,
        summary,
    })
}

/// The indices of `frame`'s attack rows (`attack`) or benign rows.
pub fn row_indices(frame: &FlowFrame, attack: bool) -> Vec<usize> {
    (0..frame.n_rows())
        .filter(|&r| frame.is_attack(r) == attack)
        .collect()
}

/// The feature rows of `frame`'s attack rows (`attack`) or benign rows.
pub fn rows_where(frame: &FlowFrame, attack: bool) -> Array2<f32> {
    frame
        .features()
        .select(Axis(0), &row_indices(frame, attack))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowdata::synth::SynthConfig;

    #[test]
    fn synthetic_ingest_scales_splits_and_writes_schema_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let config = DataConfig {
            synthetic: SynthConfig {
                rows: 3_000,
                ..SynthConfig::default()
            },
            ..DataConfig::default()
        };
        let out = run(&config, dir.path(), |_, _| {}).unwrap();
        let s = &out.summary;
        assert_eq!(
            s.train + s.validation + s.test,
            s.rows_after_cleaning as usize
        );
        assert!(
            s.dropped["duplicate"] > 0,
            "the raw file carries duplicates"
        );
        assert_eq!(s.categorical_dropped, vec!["Destination Port".to_string()]);
        assert!(out.schema.index_of("Destination Port").is_none());
        let schema = flowdata::Schema::load(dir.path().join("schema.json")).unwrap();
        assert_eq!(schema, out.schema);
        assert_eq!(
            flowdata::Bounds::load(dir.path().join("bounds.json")).unwrap(),
            out.bounds
        );
        // Continuous features scaled into [0, 1] (log1p-quantile scaling
        // clamps to the fitted range); flags pass through.
        for f in [&out.train, &out.validation, &out.test] {
            for (j, spec) in out.schema.features.iter().enumerate() {
                if spec.kind == FeatureKind::Continuous {
                    assert!(
                        f.features()
                            .column(j)
                            .iter()
                            .all(|v| (0.0..=1.0).contains(v)),
                        "{}",
                        spec.name
                    );
                }
            }
        }
    }

    #[test]
    fn an_unseen_family_is_left_out_of_training_and_validation_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = DataConfig {
            synthetic: SynthConfig {
                rows: 3_000,
                ..SynthConfig::default()
            },
            unseen_families: vec!["bot".into()],
            ..DataConfig::default()
        };
        let out = run(&config, dir.path(), |_, _| {}).unwrap();
        let count = |f: &FlowFrame| f.families().iter().filter(|&&x| x == Family::Bot).count();
        assert_eq!(count(&out.train), 0);
        assert_eq!(count(&out.validation), 0);
        assert!(count(&out.test) > 0, "the test split keeps the family");
        assert_eq!(out.summary.unseen_families, vec!["Bot".to_string()]);
        assert_eq!(out.validation_range.rows, out.validation.n_rows());
        assert_eq!(out.test_range.rows, out.test.n_rows());
        // A name that is no attack family of the data lists those present.
        for bad in ["Botnet", "Benign", "Heartbleed"] {
            config.unseen_families = vec![bad.into()];
            let err = run(&config, dir.path(), |_, _| {}).unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("Bot (") && err.contains("WebAttack ("),
                "{err}"
            );
        }
    }

    #[test]
    fn a_source_far_outside_the_training_range_gets_a_warning() {
        let schema = Schema::cicids2017().retain_features(&["Flow Duration", "Total Fwd Packets"]);
        let range = |clamped: Vec<usize>| OutOfRange {
            beyond_seen: Vec::new(),
            rows: 100,
            scaled_features: 2,
            excess: clamped
                .iter()
                .enumerate()
                .flat_map(|(j, &n)| {
                    (0..n).map(move |r| flowdata::Excess {
                        row: r as u32,
                        feature: j as u32,
                        amount: 0.5,
                    })
                })
                .collect(),
            per_feature: clamped,
        };
        let quiet = RangeSummary::new("same network", &range(vec![1, 0]), &schema);
        assert!(quiet.warning().is_none());
        let loud = RangeSummary::new("other extractor", &range(vec![3, 40]), &schema);
        assert_eq!(loud.top_features[0].feature, "Total Fwd Packets");
        assert!((loud.share - 43.0 / 200.0).abs() < 1e-12);
        let w = loud.warning().unwrap();
        assert!(
            w.contains("other extractor")
                && w.contains("21.5 %")
                && w.contains("(43 of 100 rows x 2 features)")
                && w.contains("Total Fwd Packets (40.0 % of rows)")
                && w.contains("--finetune-fraction"),
            "{w}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = DataConfig {
            paths: vec![dir.path().join("absent.csv")],
            ..DataConfig::default()
        };
        let err = run(&config, dir.path(), |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("absent.csv"), "{err}");
    }

    #[test]
    fn zeek_and_suricata_logs_are_refused_with_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        for (name, head, says) in [
            ("conn.log", "#separator \\x09\n#fields ts uid", "a Zeek log"),
            ("eve.json", "{\"event_type\":\"flow\"}", "Suricata EVE JSON"),
            ("other.json", "{\"a\":1}", "JSON (a Zeek or Suricata log?)"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, head).unwrap();
            let err = refuse_logs(&p).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(says), "{err}");
            assert!(err.contains("CICFlowMeter"), "{err}");
        }
        let csv = dir.path().join("flows.csv");
        std::fs::write(&csv, "Flow Duration,Label\n1,BENIGN\n").unwrap();
        assert!(refuse_logs(&csv).is_ok());
        let err = refuse_logs(&dir.path().join("absent.csv")).unwrap_err();
        assert!(err.to_string().contains("absent.csv"), "{err}");
    }
}
