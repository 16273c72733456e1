//! Scoring: raw flows to verdicts, through one path. [`Detector::score_batch`]
//! (a feature matrix in the schema's column order), [`Detector::score_frame`]
//! (a [`FlowFrame`] with the schema's columns, in any order) and
//! [`Detector::score_one`] (one flow) all end in
//! [`Detector::score_scaled`], which scores blocks of [`CHUNK_ROWS`] rows
//! in parallel: scale, encode, decode for the novelty score and its
//! explanation, standardise, run the policy, apply the operating point.
//! A caller streams flows by calling them batch by batch: each batch is
//! scored on its own; splitting a batch at multiples of [`CHUNK_ROWS`]
//! changes no bit of any score, and other splits change scores only to
//! rounding (matrix products of fewer rows sum in another order).

use autoencoders::Autoencoder;
use flowdata::{FlowFrame, OutOfRange};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::artifact::Detector;
use crate::error::{DetectorError, Result};
use crate::input::{policy_input, policy_input_of_latent, policy_margins, probability};

/// Features named per flow in its explanation.
pub const TOP_FEATURES: usize = 3;
/// Rows scored together, in parallel with the other blocks: a multiple of
/// every inner block (the autoencoders' 512 and 64 rows, the policy's
/// 1,024), so that splitting a batch changes no bit of any score.
pub const CHUNK_ROWS: usize = 2048;

/// The scores of a batch of flows.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The policy's logit margin `log P(1) - log P(0)` per flow.
    pub margin: Vec<f64>,
    /// The novelty score (standardised reconstruction error) per flow.
    pub novelty: Vec<f64>,
    /// The verdict at the detector's operating point.
    pub malicious: Vec<bool>,
    /// Per flow (one row each), the input columns with the largest
    /// standardised reconstruction errors, largest first.
    pub top_features: Array2<usize>,
    /// The values scaling clamped to the training range.
    pub out_of_range: OutOfRange,
}

impl Scores {
    /// P(malicious) of flow `i`.
    pub fn p_malicious(&self, i: usize) -> f64 {
        probability(self.margin[i])
    }
}

/// One flow's score.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowScore {
    /// P(malicious) from the policy.
    pub p_malicious: f64,
    /// The novelty score.
    pub reconstruction_error: f64,
    /// The verdict at the detector's operating point.
    pub malicious: bool,
    /// The features with the largest standardised errors, largest first.
    pub top_features: Vec<String>,
}

impl Detector {
    /// Score rows already scaled with the detector's bounds, whose clamped
    /// values are `range`: the path the pipeline's own evaluation takes.
    /// Blocks of [`CHUNK_ROWS`] rows are scored in parallel.
    pub fn score_scaled(&self, x: ArrayView2<'_, f32>, range: OutOfRange) -> Result<Scores> {
        // Each stage reads whole rows: one row-major copy here if need be.
        let x = x.as_standard_layout();
        let n = x.nrows();
        if range.rows != n {
            return Err(DetectorError::Mismatch(format!(
                "{n} rows to score, and a record of clamped values for {}",
                range.rows
            )));
        }
        if n <= CHUNK_ROWS {
            return self.score_block(x.view(), range);
        }
        let starts: Vec<usize> = (0..n).step_by(CHUNK_ROWS).collect();
        let blocks = starts
            .par_iter()
            .map(|&start| {
                let end = (start + CHUNK_ROWS).min(n);
                self.score_block(x.slice(ndarray::s![start..end, ..]), range.rows(start..end))
            })
            .collect::<Result<Vec<_>>>()?;
        let tops: Vec<_> = blocks.iter().map(|b| b.top_features.view()).collect();
        let top_features = ndarray::concatenate(Axis(0), &tops)
            .map_err(|e| DetectorError::Mismatch(format!("explanations: {e}")))?;
        let mut scores = Scores {
            margin: Vec::with_capacity(n),
            novelty: Vec::with_capacity(n),
            malicious: Vec::with_capacity(n),
            top_features,
            out_of_range: range,
        };
        for b in blocks {
            scores.margin.extend(b.margin);
            scores.novelty.extend(b.novelty);
            scores.malicious.extend(b.malicious);
        }
        Ok(scores)
    }

    /// Score one block of scaled rows.
    fn score_block(&self, x: ArrayView2<'_, f32>, range: OutOfRange) -> Result<Scores> {
        let encoder = &self.encoder;
        let (margin, (novelty, top)) = if self.shared {
            // One network: its latent codes serve the policy and are
            // decoded for the novelty score.
            let z = encoder.encode_batch(x)?;
            let reconstruction = encoder.decode_batch(z.view())?;
            let obs = policy_input_of_latent(encoder, &self.scaler, z, x)?;
            (
                policy_margins(&self.policy, obs.view())?,
                self.novelty.explain_reconstruction(
                    x,
                    reconstruction,
                    Some(&range),
                    TOP_FEATURES,
                )?,
            )
        } else {
            let obs = policy_input(encoder, &self.scaler, x)?;
            (
                policy_margins(&self.policy, obs.view())?,
                self.novelty
                    .score_and_explain(x, Some(&range), TOP_FEATURES)?,
            )
        };
        let columns = autoencoders::Reconstructor::reconstructed_columns(self.novelty.model());
        let top_features = top.mapv(|k| columns[k]);
        let malicious = margin
            .iter()
            .zip(&novelty)
            .map(|(&m, &s)| self.point.flag(m, s))
            .collect();
        Ok(Scores {
            margin,
            novelty,
            malicious,
            top_features,
            out_of_range: range,
        })
    }

    /// Score raw (unscaled) flows whose columns follow the detector's schema.
    pub fn score_batch(&self, raw: ArrayView2<'_, f32>) -> Result<Scores> {
        let scaled = self.bounds.transform(raw)?;
        self.score_scaled(scaled.data.view(), scaled.out_of_range)
    }

    /// Score a frame of raw flows read with the detector's schema.
    pub fn score_frame(&self, frame: &FlowFrame) -> Result<Scores> {
        let names = self.schema.feature_names();
        // A frame read with the detector's schema is scaled as it is.
        let aligned;
        let raw = if frame.feature_names() == names {
            frame.features()
        } else {
            aligned = frame.select_features(&names)?;
            aligned.features()
        };
        self.score_batch(raw)
    }

    /// Score one raw flow (its values in the schema's column order).
    pub fn score_one(&self, raw: &[f32]) -> Result<FlowScore> {
        let x = Array2::from_shape_vec((1, raw.len()), raw.to_vec())
            .map_err(|e| DetectorError::Mismatch(format!("one flow: {e}")))?;
        let s = self.score_batch(x.view())?;
        let names = self.schema.feature_names();
        Ok(FlowScore {
            p_malicious: s.p_malicious(0),
            reconstruction_error: s.novelty[0],
            malicious: s.malicious[0],
            top_features: s
                .top_features
                .row(0)
                .iter()
                .map(|&j| names[j].to_string())
                .collect(),
        })
    }
}
