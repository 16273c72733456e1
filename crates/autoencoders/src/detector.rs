//! Anomaly detection by reconstruction error, in the manner of PyOD:
//! `fit` on (mostly) normal rows, `score` (PyOD's `decision_function`,
//! higher = more anomalous) and `predict` against a calibrated threshold.
//!
//! The score of a row is the mean over the reconstructed features of each
//! feature's squared error divided by that feature's mean squared error on
//! benign rows, normally the training rows ([`ErrorScoring::Standardised`]),
//! so that a few features that are always hard to reconstruct do not drown
//! the others; and the error is taken against the value scaling would have
//! given without its clamp to the training range ([`flowdata::OutOfRange`]),
//! so that a flow far outside anything seen in training scores high
//! instead of being clamped into the familiar range.

use flowdata::OutOfRange;
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use wide::{CmpGe, f32x8};

use crate::error::{AutoencoderError, Result, invalid};
use crate::model::{Autoencoder, Model};

/// A model that reconstructs its input: an autoencoder, or a linear
/// baseline such as [`crate::Pca`].
pub trait Reconstructor {
    /// Number of input columns.
    fn n_features(&self) -> usize;

    /// The input column of each reconstructed column, in output order.
    fn reconstructed_columns(&self) -> Vec<usize>;

    /// Reconstructed rows, `(rows, reconstructed_columns().len())`.
    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>>;
}

impl Reconstructor for Model {
    fn n_features(&self) -> usize {
        Autoencoder::n_features(self)
    }

    fn reconstructed_columns(&self) -> Vec<usize> {
        let skip = self.categorical_column().map(|(c, _)| c);
        (0..Autoencoder::n_features(self))
            .filter(|&c| Some(c) != skip)
            .collect()
    }

    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        Autoencoder::reconstruct_batch(self, x)
    }
}

/// How per-feature reconstruction errors become one score per row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorScoring {
    /// The mean squared error over the reconstructed features (the
    /// reference systems' score).
    MeanSquared,
    /// Each feature's squared error divided by its mean on benign rows
    /// (see [`ReconstructionDetector::fit_scaled`]), averaged over the
    /// features.
    #[default]
    Standardised,
}

impl ErrorScoring {
    /// `standardised` or `mse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MeanSquared => "mse",
            Self::Standardised => "standardised",
        }
    }
}

impl std::str::FromStr for ErrorScoring {
    type Err = AutoencoderError;

    /// `standardised` (or `standardized`, `std`) or `mse` (or `mean_squared`).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standardised" | "standardized" | "std" => Ok(Self::Standardised),
            "mse" | "mean_squared" | "mean-squared" => Ok(Self::MeanSquared),
            _ => Err(invalid("scoring", s, "expected standardised or mse")),
        }
    }
}

/// The per-feature divisors of the squared reconstruction errors: benign
/// rows' mean squared error of each reconstructed feature
/// ([`ErrorScoring::Standardised`]), or 1 ([`ErrorScoring::MeanSquared`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorScale {
    /// How the divisors were chosen.
    pub scoring: ErrorScoring,
    /// One positive, finite divisor per reconstructed column.
    pub per_feature: Vec<f32>,
}

impl ErrorScale {
    /// Divisors of 1 for `columns` columns: the plain mean squared error.
    pub fn unit(columns: usize) -> Self {
        Self {
            scoring: ErrorScoring::MeanSquared,
            per_feature: vec![1.0; columns],
        }
    }

    /// The divisors for `scoring` from squared errors of benign rows,
    /// `(rows, columns)`. A feature's mean is floored at 1e-3 times the
    /// mean over all features, so that a feature benign rows always
    /// reconstruct exactly cannot divide by zero.
    pub fn fit(squared_errors: ArrayView2<'_, f32>, scoring: ErrorScoring) -> Result<Self> {
        let columns = squared_errors.ncols();
        if scoring == ErrorScoring::MeanSquared {
            return Ok(Self::unit(columns));
        }
        if squared_errors.nrows() == 0 {
            return Err(AutoencoderError::EmptyInput {
                what: "calibration data",
            });
        }
        let means: Vec<f64> = squared_errors
            .axis_iter(Axis(1))
            .map(|c| c.iter().map(|&v| f64::from(v)).sum::<f64>() / c.len() as f64)
            .collect();
        let overall = means.iter().sum::<f64>() / columns.max(1) as f64;
        let floor = (overall * 1e-3).max(f64::from(f32::MIN_POSITIVE));
        Ok(Self {
            scoring,
            per_feature: means.iter().map(|&m| m.max(floor) as f32).collect(),
        })
    }

    /// Checks a loaded scale: one positive, finite divisor per column.
    pub fn check(&self, columns: usize) -> std::result::Result<(), String> {
        if self.per_feature.len() != columns {
            return Err(format!(
                "the error scale has {} divisors for {columns} reconstructed columns",
                self.per_feature.len()
            ));
        }
        if let Some((j, v)) = self
            .per_feature
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(format!(
                "the error scale's divisor {j} is {v}: each must be positive and finite"
            ));
        }
        Ok(())
    }
}

/// How the threshold is set from the calibration errors (reconstruction
/// errors of benign validation rows).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMethod {
    /// The threshold is this percentile (in `(0, 100)`) of the calibration
    /// errors, with linear interpolation (NumPy's default): 99 flags about
    /// 1 % of benign traffic.
    Percentile(f64),
    /// PyOD's `contamination`: the expected share of anomalies in the
    /// calibration rows, in `(0, 0.5]`; the threshold is the
    /// `100 * (1 - contamination)` percentile, so that share of the
    /// calibration rows scores above it.
    Contamination(f64),
}

impl Default for ThresholdMethod {
    /// The 99th percentile of benign errors.
    fn default() -> Self {
        Self::Percentile(99.0)
    }
}

impl ThresholdMethod {
    /// The percentile, in `(0, 100)`, that the method takes.
    pub fn percentile(self) -> Result<f64> {
        match self {
            Self::Percentile(p) if p > 0.0 && p < 100.0 => Ok(p),
            Self::Percentile(p) => Err(invalid("percentile", p, "must lie in (0, 100)")),
            Self::Contamination(c) if c > 0.0 && c <= 0.5 => Ok(100.0 * (1.0 - c)),
            Self::Contamination(c) => Err(invalid("contamination", c, "must lie in (0, 0.5]")),
        }
    }
}

/// A calibrated decision threshold on reconstruction errors, with a summary
/// of the errors it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Rows scoring strictly above this are predicted anomalous.
    pub value: f64,
    /// How it was chosen.
    pub method: ThresholdMethod,
    /// Number of calibration rows.
    pub calibration_rows: usize,
    /// Mean calibration error.
    pub calibration_mean: f64,
    /// Median calibration error.
    pub calibration_median: f64,
}

impl Threshold {
    /// Calibrates a threshold from errors of benign rows.
    ///
    /// ```
    /// use autoencoders::{Threshold, ThresholdMethod};
    /// let errors: Vec<f64> = (1..=100).map(f64::from).collect();
    /// let t = Threshold::calibrate(&errors, ThresholdMethod::Percentile(90.0))?;
    /// assert!((t.value - 90.1).abs() < 1e-9);
    /// let c = Threshold::calibrate(&errors, ThresholdMethod::Contamination(0.1))?;
    /// assert!((c.value - t.value).abs() < 1e-9);
    /// # Ok::<(), autoencoders::AutoencoderError>(())
    /// ```
    pub fn calibrate(errors: &[f64], method: ThresholdMethod) -> Result<Self> {
        let p = method.percentile()?;
        if errors.is_empty() {
            return Err(AutoencoderError::EmptyInput {
                what: "calibration errors",
            });
        }
        if let Some(i) = errors.iter().position(|e| !e.is_finite()) {
            return Err(AutoencoderError::NonFiniteInput {
                what: "calibration errors",
                row: i,
                column: 0,
                value: errors[i] as f32,
            });
        }
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        Ok(Self {
            value: percentile_sorted(&sorted, p),
            method,
            calibration_rows: sorted.len(),
            calibration_mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            calibration_median: percentile_sorted(&sorted, 50.0),
        })
    }

    /// 1 (anomalous) where a score is strictly above the threshold, else 0.
    pub fn apply(&self, scores: &[f64]) -> Vec<u8> {
        scores.iter().map(|&s| u8::from(s > self.value)).collect()
    }
}

/// The `p`-th percentile of sorted values, interpolating linearly between
/// the closest ranks.
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// An anomaly detector: a reconstruction model and a threshold on its
/// per-row score (see the module documentation).
///
/// ```
/// use autoencoders::{Model, ModelConfig, ModelKind, ReconstructionDetector, ThresholdMethod};
/// use ndarray::Array2;
///
/// let model = Model::new(&ModelConfig::default_for(ModelKind::FeedForward), 4, 0)?;
/// let benign = Array2::from_shape_fn((50, 4), |(i, j)| ((i + j) % 7) as f32 / 7.0);
/// let detector = ReconstructionDetector::fit(model, benign.view(), ThresholdMethod::Percentile(95.0))?;
/// let scores = detector.score(benign.view())?;
/// let flagged = detector.predict(benign.view())?;
/// assert_eq!(scores.len(), 50);
/// assert!(flagged.iter().filter(|&&f| f == 1).count() <= 3); // about 5 % of the calibration rows
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug)]
pub struct ReconstructionDetector<M> {
    model: M,
    threshold: Threshold,
    scale: ErrorScale,
}

impl<M: Reconstructor> ReconstructionDetector<M> {
    /// Calibrates the standardised score and its threshold on
    /// `benign_validation` (benign rows the model was not trained on).
    pub fn fit(
        model: M,
        benign_validation: ArrayView2<'_, f32>,
        method: ThresholdMethod,
    ) -> Result<Self> {
        Self::fit_with(
            model,
            benign_validation,
            None,
            method,
            ErrorScoring::default(),
        )
    }

    /// Calibrates the score (`scoring`) and its threshold on
    /// `benign_validation`, whose values outside the training range are
    /// `out_of_range` (from [`flowdata::Bounds::transform_inplace`]): the
    /// error scale and the threshold from the same rows. Where the model's
    /// benign training rows are at hand, [`Self::fit_scaled`] keeps the
    /// validation rows for the threshold alone.
    pub fn fit_with(
        model: M,
        benign_validation: ArrayView2<'_, f32>,
        out_of_range: Option<&OutOfRange>,
        method: ThresholdMethod,
        scoring: ErrorScoring,
    ) -> Result<Self> {
        Self::fit_scaled(
            model,
            None,
            benign_validation,
            out_of_range,
            method,
            scoring,
        )
    }

    /// [`Self::fit_with`], with the error scale fitted on `scale_rows`
    /// when given (rows inside the training range): the benign training
    /// rows. Those are many more than the validation rows, so that a
    /// feature benign traffic rarely sets still gets a fair divisor, and
    /// the threshold rows then serve the threshold alone: fitted on the
    /// same few rows, the scale makes their scores low and the threshold
    /// flag more new benign rows than its percentile says.
    pub fn fit_scaled(
        model: M,
        scale_rows: Option<ArrayView2<'_, f32>>,
        benign_validation: ArrayView2<'_, f32>,
        out_of_range: Option<&OutOfRange>,
        method: ThresholdMethod,
        scoring: ErrorScoring,
    ) -> Result<Self> {
        method.percentile()?;
        if benign_validation.nrows() == 0 {
            return Err(AutoencoderError::EmptyInput {
                what: "calibration data",
            });
        }
        let squared = squared_errors(&model, benign_validation, out_of_range)?;
        let scale = match scale_rows {
            Some(rows) => ErrorScale::fit(squared_errors(&model, rows, None)?.view(), scoring)?,
            None => ErrorScale::fit(squared.view(), scoring)?,
        };
        let errors = row_scores(&squared, &scale);
        let threshold = Threshold::calibrate(&errors, method)?;
        Ok(Self {
            model,
            threshold,
            scale,
        })
    }

    /// A detector from a model, its error scale and a threshold chosen
    /// elsewhere (e.g. loaded).
    pub fn from_parts(model: M, threshold: Threshold, scale: ErrorScale) -> Result<Self> {
        scale
            .check(model.reconstructed_columns().len())
            .map_err(|reason| AutoencoderError::BadErrorScale { reason })?;
        Ok(Self {
            model,
            threshold,
            scale,
        })
    }

    /// Anomaly scores of rows scaled within the training range (higher =
    /// more anomalous), as PyOD's `decision_function`.
    pub fn score(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        self.score_with(x, None)
    }

    /// Anomaly scores of rows whose values outside the training range are
    /// `out_of_range`.
    pub fn score_with(
        &self,
        x: ArrayView2<'_, f32>,
        out_of_range: Option<&OutOfRange>,
    ) -> Result<Vec<f64>> {
        Ok(row_scores(
            &squared_errors(&self.model, x, out_of_range)?,
            &self.scale,
        ))
    }

    /// The scores of [`Self::score_with`] and, for each row, the indices of
    /// the `k` reconstructed columns with the largest standardised error
    /// (largest first), one row of `(rows, k)` per row: the explanation an
    /// analyst reads first, whose ranking a few always-wide features
    /// cannot dominate.
    pub fn score_and_explain(
        &self,
        x: ArrayView2<'_, f32>,
        out_of_range: Option<&OutOfRange>,
        k: usize,
    ) -> Result<(Vec<f64>, Array2<usize>)> {
        let reconstruction = self.model.reconstruct_batch(x)?;
        self.explain_reconstruction(x, reconstruction, out_of_range, k)
    }

    /// [`Self::score_and_explain`] of rows whose reconstruction by this
    /// detector's model is already at hand (e.g. decoded from latent codes
    /// computed for another purpose), `(rows, reconstructed columns)`.
    pub fn explain_reconstruction(
        &self,
        x: ArrayView2<'_, f32>,
        reconstruction: Array2<f32>,
        out_of_range: Option<&OutOfRange>,
        k: usize,
    ) -> Result<(Vec<f64>, Array2<usize>)> {
        let squared = errors_of(&self.model, x, reconstruction, out_of_range)?;
        let scores = row_scores(&squared, &self.scale);
        // Ranked by each squared error times its divisor's inverse.
        let inverse: Vec<f32> = self.scale.per_feature.iter().map(|d| 1.0 / d).collect();
        let width = inverse.len();
        let k = k.min(width);
        let squared = squared.as_standard_layout();
        let rows = squared.as_slice().unwrap_or(&[]);
        let mut top = Array2::zeros((squared.nrows(), k));
        if k == 0 {
            return Ok((scores, top));
        }
        // Whole blocks of eight, the padding below any value.
        let blocks = width.div_ceil(8);
        let mut weighted = vec![f32::NEG_INFINITY; blocks * 8];
        // The k largest block maxima, largest first.
        let mut maxima: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
        for (r, mut out) in rows.chunks_exact(width).zip(top.rows_mut()) {
            for ((w, &v), &i) in weighted.iter_mut().zip(r).zip(&inverse) {
                *w = v * i;
            }
            // The k-th largest block maximum is k values from k blocks, so
            // at most the row's k-th largest value: only values at least
            // that can rank, and one eight-lane comparison per block finds
            // them (few beyond the k).
            maxima.clear();
            if blocks >= k {
                for (b, block) in weighted.chunks_exact(8).enumerate() {
                    let m = block.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                    insert_ranked(&mut maxima, k, m, b);
                }
            }
            let floor = maxima
                .get(k - 1)
                .map(|&(m, _)| m)
                .filter(|f| !f.is_nan())
                .unwrap_or(f32::NEG_INFINITY);
            best.clear();
            for (b, block) in weighted.chunks_exact(8).enumerate() {
                let block: [f32; 8] = block.try_into().unwrap_or([f32::NEG_INFINITY; 8]);
                let mut hits = f32x8::from(block).cmp_ge(f32x8::splat(floor)).move_mask();
                // In column order, so that ties go to the earlier column as
                // a stable sort would order them.
                while hits != 0 {
                    let o = hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    if 8 * b + o >= width {
                        break;
                    }
                    insert_ranked(&mut best, k, block[o], 8 * b + o);
                }
            }
            for (o, &(_, j)) in out.iter_mut().zip(&best) {
                *o = j;
            }
        }
        Ok((scores, top))
    }

    /// Each row's squared error per reconstructed column divided by the
    /// column's divisor, `(rows, reconstructed columns)`: the terms whose
    /// mean is the score, and the explanation of a high one.
    pub fn feature_errors(
        &self,
        x: ArrayView2<'_, f32>,
        out_of_range: Option<&OutOfRange>,
    ) -> Result<Array2<f32>> {
        let mut e = squared_errors(&self.model, x, out_of_range)?;
        for mut row in e.rows_mut() {
            row.iter_mut()
                .zip(&self.scale.per_feature)
                .for_each(|(v, d)| *v /= d);
        }
        Ok(e)
    }

    /// 1 (anomalous) where the score is above the threshold, else 0.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<u8>> {
        Ok(self.threshold.apply(&self.score(x)?))
    }

    /// The calibrated threshold.
    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// The per-feature divisors of the score.
    pub fn error_scale(&self) -> &ErrorScale {
        &self.scale
    }

    /// Replaces the threshold, e.g. after choosing another operating point.
    pub fn set_threshold(&mut self, threshold: Threshold) {
        self.threshold = threshold;
    }

    /// The reconstruction model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Gives back the model, the threshold and the error scale.
    pub fn into_parts(self) -> (M, Threshold, ErrorScale) {
        (self.model, self.threshold, self.scale)
    }
}

/// Squared reconstruction errors, `(rows, reconstructed columns)`, each
/// taken against the unclamped scaled value where `out_of_range` says the
/// input was clamped.
fn squared_errors<M: Reconstructor>(
    model: &M,
    x: ArrayView2<'_, f32>,
    out_of_range: Option<&OutOfRange>,
) -> Result<Array2<f32>> {
    let reconstruction = model.reconstruct_batch(x)?;
    errors_of(model, x, reconstruction, out_of_range)
}

/// [`squared_errors`] of rows reconstructed as `e`, turned into the errors
/// in place.
fn errors_of<M: Reconstructor>(
    model: &M,
    x: ArrayView2<'_, f32>,
    mut e: Array2<f32>,
    out_of_range: Option<&OutOfRange>,
) -> Result<Array2<f32>> {
    let columns = model.reconstructed_columns();
    if e.dim() != (x.nrows(), columns.len()) {
        return Err(AutoencoderError::ReconstructionShape {
            expected: (x.nrows(), columns.len()),
            got: e.dim(),
        });
    }
    let excess = match out_of_range {
        Some(o) if o.rows != x.nrows() => {
            return Err(AutoencoderError::OutOfRangeRows {
                rows: x.nrows(),
                listed: o.rows,
            });
        }
        Some(o) => o.excess.as_slice(),
        None => &[],
    };
    let mut output_of = vec![usize::MAX; model.n_features()];
    for (k, &c) in columns.iter().enumerate() {
        output_of[c] = k;
    }
    let mut next = 0usize;
    for (i, (mut er, xr)) in e.rows_mut().into_iter().zip(x.rows()).enumerate() {
        // The distances of this row's clamped values go first.
        while let Some(ex) = excess.get(next).filter(|ex| ex.row as usize == i) {
            if let Some(&k) = output_of
                .get(ex.feature as usize)
                .filter(|&&k| k != usize::MAX)
            {
                er[k] -= ex.amount;
            }
            next += 1;
        }
        for (v, &c) in er.iter_mut().zip(&columns) {
            let d = *v - xr[c];
            *v = d * d;
        }
    }
    Ok(e)
}

/// Insert `(v, index)` into `best`, the `k` (at least 1) largest so far,
/// largest first with ties in the order they came, when it holds fewer
/// than `k` or `v` exceeds its last.
#[inline]
fn insert_ranked(best: &mut Vec<(f32, usize)>, k: usize, v: f32, index: usize) {
    let ranks = best.len() < k || v > best[k - 1].0;
    if ranks {
        let at = best.iter().take_while(|b| b.0 >= v).count();
        best.insert(at, (v, index));
        best.truncate(k);
    }
}

/// Each row's mean of its squared errors over the divisors.
fn row_scores(squared: &Array2<f32>, scale: &ErrorScale) -> Vec<f64> {
    const LANES: usize = 8;
    let inv: Vec<f64> = scale
        .per_feature
        .iter()
        .map(|&d| 1.0 / f64::from(d))
        .collect();
    let width = inv.len();
    let n = width.max(1) as f64;
    let squared = squared.as_standard_layout();
    let Some(all) = squared.as_slice().filter(|_| width > 0) else {
        return vec![0.0; squared.nrows()];
    };
    // Eight partial sums per row, so that the additions pipeline.
    all.chunks_exact(width)
        .map(|r| {
            let mut acc = [0f64; LANES];
            let mut values = r.chunks_exact(LANES);
            let mut inverses = inv.chunks_exact(LANES);
            for (c, i) in (&mut values).zip(&mut inverses) {
                for l in 0..LANES {
                    acc[l] += f64::from(c[l]) * i[l];
                }
            }
            for ((a, &v), &i) in acc
                .iter_mut()
                .zip(values.remainder())
                .zip(inverses.remainder())
            {
                *a += f64::from(v) * i;
            }
            acc.iter().sum::<f64>() / n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([3, 1, 4, 1, 5, 9, 2, 6], [10, 50, 99]) = [1.0, 3.5, 8.79]
        let v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        for (p, want) in [(10.0, 1.0), (50.0, 3.5), (99.0, 8.79)] {
            let t = Threshold::calibrate(&v, ThresholdMethod::Percentile(p)).unwrap();
            assert!((t.value - want).abs() < 1e-12, "{p}: {}", t.value);
        }
        let t = Threshold::calibrate(&v, ThresholdMethod::Contamination(0.5)).unwrap();
        assert!((t.value - 3.5).abs() < 1e-12);
        assert_eq!(t.calibration_rows, 8);
        assert!((t.calibration_mean - 31.0 / 8.0).abs() < 1e-12);
        assert_eq!(t.apply(&[3.5, 3.6, 0.0]), vec![0, 1, 0]);
    }

    #[test]
    fn contamination_sets_the_flagged_share() {
        let errors: Vec<f64> = (0..1000).map(|i| f64::from(i) * 0.001).collect();
        for c in [0.01, 0.05, 0.2] {
            let t = Threshold::calibrate(&errors, ThresholdMethod::Contamination(c)).unwrap();
            let flagged = t.apply(&errors).iter().filter(|&&f| f == 1).count();
            assert!((flagged as f64 - c * 1000.0).abs() <= 1.0, "{c}: {flagged}");
        }
    }

    /// A reconstruction model that returns a fixed matrix.
    struct Fixed(Array2<f32>);

    impl Reconstructor for Fixed {
        fn n_features(&self) -> usize {
            self.0.ncols()
        }
        fn reconstructed_columns(&self) -> Vec<usize> {
            (0..self.0.ncols()).collect()
        }
        fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
            Ok(self.0.slice(ndarray::s![..x.nrows(), ..]).to_owned())
        }
    }

    #[test]
    fn fit_scaled_takes_the_scale_from_its_rows_and_the_threshold_from_the_others() {
        // Scale rows: feature 0 off by 1, feature 1 by 0.1.
        let recon = ndarray::array![[1.0f32, 0.1], [1.0, 0.1], [1.0, 0.1], [1.0, 0.1]];
        let scale_rows = Array2::<f32>::zeros((4, 2));
        // Threshold rows: feature 0 off by 0.5, feature 1 exact.
        let threshold_rows = ndarray::array![[0.5f32, 0.1], [0.5, 0.1], [0.5, 0.1], [0.5, 0.1]];
        let d = ReconstructionDetector::fit_scaled(
            Fixed(recon.clone()),
            Some(scale_rows.view()),
            threshold_rows.view(),
            None,
            ThresholdMethod::Percentile(50.0),
            ErrorScoring::Standardised,
        )
        .unwrap();
        let divisors = &d.error_scale().per_feature;
        assert!((divisors[0] - 1.0).abs() < 1e-6 && (divisors[1] - 0.01).abs() < 1e-6);
        // Each threshold row scores (0.25 / 1 + 0 / 0.01) / 2.
        assert!((d.threshold().value - 0.125).abs() < 1e-6);
        assert_eq!(d.threshold().calibration_rows, 4);
        // Without scale rows, the threshold rows set both.
        let same = ReconstructionDetector::fit_with(
            Fixed(recon),
            threshold_rows.view(),
            None,
            ThresholdMethod::Percentile(50.0),
            ErrorScoring::Standardised,
        )
        .unwrap();
        assert!((same.error_scale().per_feature[0] - 0.25).abs() < 1e-6);
        assert!(same.error_scale().per_feature[1] < 1e-3);
    }

    #[test]
    fn standardised_scores_weigh_each_feature_by_its_benign_error() {
        // Feature 0 is always off by 1 on benign rows, feature 1 by 0.1.
        let x = Array2::<f32>::zeros((4, 2));
        let recon = ndarray::array![[1.0f32, 0.1], [1.0, 0.1], [1.0, 0.1], [1.0, 0.1]];
        let d = ReconstructionDetector::fit(
            Fixed(recon.clone()),
            x.view(),
            ThresholdMethod::Percentile(50.0),
        )
        .unwrap();
        assert_eq!(d.error_scale().scoring, ErrorScoring::Standardised);
        assert!((d.score(x.view()).unwrap()[0] - 1.0).abs() < 1e-6);
        // An error of 0.4 on the quiet feature is 16 times its usual
        // squared error; 1.3 on the loud one under twice its own.
        let quiet = ndarray::array![[1.0f32, 0.4]];
        let loud = ndarray::array![[1.3f32, 0.1]];
        let score = |r: Array2<f32>| {
            ReconstructionDetector::from_parts(
                Fixed(r),
                d.threshold().clone(),
                d.error_scale().clone(),
            )
            .unwrap()
            .score(ndarray::Array2::zeros((1, 2)).view())
            .unwrap()[0]
        };
        assert!(score(quiet.clone()) > 5.0 * score(loud.clone()));
        // The plain mean squared error ranks them the other way round.
        let mse = ReconstructionDetector::fit_with(
            Fixed(recon),
            x.view(),
            None,
            ThresholdMethod::Percentile(50.0),
            ErrorScoring::MeanSquared,
        )
        .unwrap();
        assert_eq!(mse.error_scale().per_feature, vec![1.0, 1.0]);
        let plain = |r: Array2<f32>| {
            ReconstructionDetector::from_parts(
                Fixed(r),
                mse.threshold().clone(),
                mse.error_scale().clone(),
            )
            .unwrap()
            .score(ndarray::Array2::zeros((1, 2)).view())
            .unwrap()[0]
        };
        assert!(plain(quiet) < plain(loud));
        // A scale of the wrong width or with a zero divisor is refused.
        let bad = ErrorScale {
            scoring: ErrorScoring::Standardised,
            per_feature: vec![1.0],
        };
        assert!(
            ReconstructionDetector::from_parts(
                Fixed(Array2::zeros((1, 2))),
                d.threshold().clone(),
                bad
            )
            .is_err()
        );
        let zero = ErrorScale {
            scoring: ErrorScoring::Standardised,
            per_feature: vec![1.0, 0.0],
        };
        assert!(zero.check(2).unwrap_err().contains("divisor 1"));
    }

    #[test]
    fn a_value_beyond_the_training_range_scores_by_its_distance() {
        use flowdata::{Excess, OutOfRange};
        // The model reconstructs every clamped row perfectly.
        let x = ndarray::array![[1.0f32, 0.5], [1.0, 0.5], [0.2, 0.5]];
        let d = ReconstructionDetector::from_parts(
            Fixed(x.clone()),
            Threshold::calibrate(&[1.0], ThresholdMethod::Percentile(50.0)).unwrap(),
            ErrorScale::unit(2),
        )
        .unwrap();
        assert_eq!(d.score(x.view()).unwrap(), vec![0.0, 0.0, 0.0]);
        // Row 1 lay 3 range-widths above the range before the clamp.
        let o = OutOfRange {
            rows: 3,
            scaled_features: 2,
            per_feature: vec![1, 0],
            excess: vec![Excess {
                row: 1,
                feature: 0,
                amount: 3.0,
            }],
            beyond_seen: Vec::new(),
        };
        let s = d.score_with(x.view(), Some(&o)).unwrap();
        assert_eq!(s, vec![0.0, 4.5, 0.0]);
        assert_eq!(d.feature_errors(x.view(), Some(&o)).unwrap()[[1, 0]], 9.0);
        let (scores, top) = d.score_and_explain(x.view(), Some(&o), 1).unwrap();
        assert_eq!(scores, s);
        assert_eq!(top.row(1).to_vec(), vec![0]);
        let short = OutOfRange { rows: 2, ..o };
        assert!(d.score_with(x.view(), Some(&short)).is_err());
    }

    #[test]
    fn explanations_of_wide_rows_match_a_stable_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let rows = 300;
        // Widths below, at and above a block of eight; k below, at and
        // above the number of blocks.
        for width in [77, 13, 8, 5] {
            // Few distinct values, so that ties are common.
            let x = Array2::from_shape_fn((rows, width), |_| f32::from(rng.random_range(0u8..12)));
            let d = ReconstructionDetector::from_parts(
                Fixed(Array2::zeros((rows, width))),
                Threshold::calibrate(&[1.0], ThresholdMethod::Percentile(50.0)).unwrap(),
                ErrorScale::unit(width),
            )
            .unwrap();
            for k in [0, 1, 2, 3, 9, 10, 11, width] {
                let (_, top) = d.score_and_explain(x.view(), None, k).unwrap();
                let k = k.min(width);
                for (i, row) in x.rows().into_iter().enumerate() {
                    let mut order: Vec<usize> = (0..width).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                    assert_eq!(
                        top.row(i).to_vec(),
                        order[..k].to_vec(),
                        "row {i}, k {k}, width {width}"
                    );
                }
            }
        }
    }

    #[test]
    fn explanations_name_the_largest_standardised_errors_in_order() {
        // Squared errors (x - 0)^2 divided by the unit scale; ties go to
        // the earlier column.
        let x = ndarray::array![
            [1.0f32, 3.0, 2.0, 3.0, 0.5],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [-4.0, 1.0, 2.0, 3.0, 5.0]
        ];
        let d = ReconstructionDetector::from_parts(
            Fixed(Array2::zeros((3, 5))),
            Threshold::calibrate(&[1.0], ThresholdMethod::Percentile(50.0)).unwrap(),
            ErrorScale::unit(5),
        )
        .unwrap();
        let (_, top) = d.score_and_explain(x.view(), None, 3).unwrap();
        assert_eq!(top, ndarray::array![[1, 3, 2], [0, 1, 2], [4, 0, 3]]);
        let (_, all) = d.score_and_explain(x.view(), None, 9).unwrap();
        assert_eq!(all.row(0).to_vec(), vec![1, 3, 2, 0, 4]);
        let (_, none) = d.score_and_explain(x.view(), None, 0).unwrap();
        assert_eq!(none.dim(), (3, 0));
    }

    #[test]
    fn bad_methods_and_inputs_are_rejected() {
        assert!(Threshold::calibrate(&[1.0], ThresholdMethod::Percentile(100.0)).is_err());
        assert!(Threshold::calibrate(&[1.0], ThresholdMethod::Contamination(0.0)).is_err());
        assert!(Threshold::calibrate(&[1.0], ThresholdMethod::Contamination(0.7)).is_err());
        assert!(Threshold::calibrate(&[], ThresholdMethod::default()).is_err());
        let err = Threshold::calibrate(&[1.0, f64::NAN], ThresholdMethod::default()).unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }
}
