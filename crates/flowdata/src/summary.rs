//! A first look at flow data: what reading and cleaning did, label and
//! family counts, and per-feature statistics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::reader::ReadOptions;
use crate::scale::{Bounds, ScalingMethod};

/// One feature's statistics over the cleaned rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureStats {
    /// The feature.
    pub name: String,
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Mean value.
    pub mean: f64,
    /// Share of zeros.
    pub zero_share: f64,
    /// Values the default scaling, fitted on these very rows, clamps.
    pub clamped: usize,
}

/// A summary of flow files.
#[derive(Clone, Debug, Serialize)]
pub struct FlowSummary {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows kept after cleaning.
    pub rows_after_cleaning: usize,
    /// Rows dropped, per reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Rows per raw label.
    pub labels: BTreeMap<String, usize>,
    /// Rows per normalised family.
    pub families: BTreeMap<String, usize>,
    /// Feature columns.
    pub features: usize,
    /// Per-feature statistics.
    pub feature_stats: Vec<FeatureStats>,
    /// The full cleaning report.
    pub report: crate::CleaningReport,
}

impl FlowSummary {
    /// Read and clean `paths` with `options` and summarise them.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("flows.csv");
    /// flowdata::synth::write_csv(&flowdata::synth::SynthConfig { rows: 300, ..Default::default() }, &path)?;
    /// let s = flowdata::FlowSummary::read(&[&path], &flowdata::ReadOptions::default())?;
    /// assert_eq!(s.labels.values().sum::<usize>(), s.rows_after_cleaning);
    /// assert!(s.to_text().contains("rows after cleaning"));
    /// # Ok::<(), flowdata::FlowDataError>(())
    /// ```
    pub fn read<P: AsRef<Path>>(paths: &[P], options: &ReadOptions) -> Result<Self> {
        let (frame, report) = crate::read_flows(paths, options)?;
        let x = frame.features();
        let clamped = if frame.n_rows() > 0 {
            let bounds = Bounds::fit(frame.schema(), x, ScalingMethod::default())?;
            bounds.transform(x)?.out_of_range.per_feature
        } else {
            vec![0; frame.n_features()]
        };
        let feature_stats = frame
            .feature_names()
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let col = x.column(j);
                let n = col.len().max(1) as f64;
                FeatureStats {
                    name: (*name).to_string(),
                    min: col.iter().copied().fold(f32::INFINITY, f32::min),
                    max: col.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                    mean: col.iter().map(|&v| f64::from(v)).sum::<f64>() / n,
                    zero_share: col.iter().filter(|&&v| v == 0.0).count() as f64 / n,
                    clamped: clamped[j],
                }
            })
            .collect();
        Ok(FlowSummary {
            rows_read: report.rows_read(),
            rows_after_cleaning: frame.n_rows(),
            dropped: report.dropped().as_map(),
            labels: frame.label_counts(),
            families: frame
                .family_counts()
                .into_iter()
                .map(|(f, n)| (f.name().to_string(), n))
                .collect(),
            features: frame.n_features(),
            feature_stats,
            report,
        })
    }

    /// The summary as text: the cleaning report, counts, and a feature table.
    pub fn to_text(&self) -> String {
        let mut o = self.report.to_text();
        let _ = writeln!(
            o,
            "\nrows after cleaning: {}, features: {}",
            self.rows_after_cleaning, self.features
        );
        let _ = writeln!(o, "\nlabels:");
        for (l, n) in &self.labels {
            let _ = writeln!(o, "  {l:<32} {n:>10}");
        }
        let _ = writeln!(o, "\nfamilies:");
        for (f, n) in &self.families {
            let _ = writeln!(o, "  {f:<32} {n:>10}");
        }
        let _ = writeln!(
            o,
            "\n{:<32} {:>14} {:>14} {:>14} {:>7} {:>8}",
            "feature", "min", "max", "mean", "zeros", "clamped"
        );
        for s in &self.feature_stats {
            let _ = writeln!(
                o,
                "{:<32} {:>14.4e} {:>14.4e} {:>14.4e} {:>6.1}% {:>8}",
                s.name,
                s.min,
                s.max,
                s.mean,
                100.0 * s.zero_share,
                s.clamped
            );
        }
        o
    }
}
