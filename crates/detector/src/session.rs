//! A scoring session: batches of flows from any source (blocks of CSV
//! files, Parquet files, standard input, a flow meter's rows, a query
//! engine's record batches) scored by one detector and written by one
//! [`VerdictWriter`], with the running totals of the summary line.

use std::io::Write;

use flowdata::{FillValue, FlowFrame, ReadOptions};
use metrics::ConfusionMatrix;

use crate::artifact::Detector;
use crate::error::Result;
use crate::output::{ScoredBatch, VerdictWriter, Written};

/// The bytes of CSV read, scored and written at a time: as fast as 16 MB
/// blocks, with half the memory.
pub const SCORE_BLOCK_BYTES: usize = 8 << 20;

impl Detector {
    /// How flows to be scored are read: aligned to the detector's schema
    /// (a missing feature is an error naming it, or filled with
    /// `fill_missing`); every readable flow is scored, duplicates and
    /// impossible negatives included (log1p scaling maps negatives to 0
    /// as in training), while rows that cannot be parsed or hold no finite
    /// value are skipped and reported; rows are numbered by their input
    /// position and identifier columns passed through; blocks of
    /// [`SCORE_BLOCK_BYTES`].
    pub fn read_options(&self, fill_missing: Option<FillValue>) -> ReadOptions {
        ReadOptions {
            block_bytes: SCORE_BLOCK_BYTES,
            ..ReadOptions::for_scoring(self.schema().clone(), fill_missing)
        }
    }
}

/// Running totals of a session, for its summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Flows scored.
    pub flows: usize,
    /// Flows judged malicious.
    pub alerts: usize,
    /// Scaled values that lay beyond the training range.
    pub beyond: usize,
    /// Scaled values in all.
    pub values: usize,
    /// Whether every batch carried labels.
    pub labelled: bool,
    /// The verdicts against the labels, while every batch carried them.
    pub confusion: ConfusionMatrix,
}

impl Totals {
    /// The summary line(s): flows, alerts, throughput over `seconds`, the
    /// share of values beyond the training range, and the confusion
    /// counts when the flows were labelled.
    pub fn summary(&self, operating_point: &str, seconds: f64) -> String {
        let mut summary = format!(
            "{} flows, {} alerts ({:.2} %) at operating point {}, {:.0} flows/s; {:.2} % of values outside the training range",
            self.flows,
            self.alerts,
            100.0 * self.alerts as f64 / self.flows.max(1) as f64,
            operating_point,
            self.flows as f64 / seconds.max(1e-9),
            100.0 * self.beyond as f64 / self.values.max(1) as f64
        );
        if self.labelled && self.flows > 0 {
            let cm = &self.confusion;
            summary.push_str(&format!(
                "\nlabels: tp {} fp {} tn {} fn {}; precision {:.4} recall {:.4} f1 {:.4} fpr {:.4}",
                cm.tp,
                cm.fp,
                cm.tn,
                cm.fn_,
                cm.precision(),
                cm.recall(),
                cm.f1(),
                cm.fpr()
            ));
        }
        summary
    }
}

/// Scores batches of raw flows with one detector and writes their rows.
pub struct ScoringSession<'d, W: Write + Send> {
    detector: &'d Detector,
    writer: VerdictWriter<W>,
    alerts_only: bool,
    totals: Totals,
    rows_before: u64,
}

impl<'d, W: Write + Send> ScoringSession<'d, W> {
    /// A session writing every scored flow (or only the alerts).
    pub fn new(detector: &'d Detector, writer: VerdictWriter<W>, alerts_only: bool) -> Self {
        ScoringSession {
            detector,
            writer,
            alerts_only,
            totals: Totals::default(),
            rows_before: 0,
        }
    }

    /// Score one frame of raw flows (`labelled`: its labels are real, and
    /// written) and write its rows; its `row` numbers count from the data
    /// rows of the inputs passed over so far ([`ScoringSession::advance`]).
    pub fn score(&mut self, frame: &FlowFrame, labelled: bool) -> Result<Written> {
        let scores = self.detector.score_frame(frame)?;
        let t = &mut self.totals;
        if t.flows == 0 {
            t.labelled = labelled;
        }
        t.labelled &= labelled;
        if labelled && frame.n_rows() > 0 {
            t.confusion +=
                ConfusionMatrix::from_predictions(&frame.attack_mask(), &scores.malicious)?;
        }
        t.flows += frame.n_rows();
        t.alerts += scores.malicious.iter().filter(|&&m| m).count();
        t.beyond += scores
            .out_of_range
            .beyond_per_feature()
            .iter()
            .sum::<usize>();
        t.values += scores.out_of_range.rows * scores.out_of_range.scaled_features;
        let batch = ScoredBatch {
            frame,
            scores: &scores,
            names: self.detector.schema().feature_names(),
            first_row: self.rows_before,
            labelled,
            rows: (0..frame.n_rows())
                .filter(|&i| !self.alerts_only || scores.malicious[i])
                .collect(),
        };
        self.writer.write(&batch)
    }

    /// Count `rows` more data rows of the input as passed over (an input
    /// read whole, its skipped rows included), so that the next frames'
    /// `row` numbers follow them.
    pub fn advance(&mut self, rows: u64) {
        self.rows_before += rows;
    }

    /// The data rows passed over so far.
    pub fn rows_before(&self) -> u64 {
        self.rows_before
    }

    /// The detector.
    pub fn detector(&self) -> &'d Detector {
        self.detector
    }

    /// The totals so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Finish the output; the sink and the totals.
    pub fn finish(self) -> Result<(W, Totals)> {
        Ok((self.writer.finish()?, self.totals))
    }
}
