//! Anomaly detection by reconstruction error, in the manner of PyOD:
//! `fit` on (mostly) normal rows, `score` (PyOD's `decision_function`,
//! higher = more anomalous) and `predict` against a calibrated threshold.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{AutoencoderError, Result, invalid};
use crate::model::Autoencoder;

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

/// An anomaly detector: a trained autoencoder and a threshold on its
/// per-row reconstruction error (the mean squared error over the
/// reconstructed features).
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
}

impl<M: Autoencoder> ReconstructionDetector<M> {
    /// Calibrates the threshold on the reconstruction errors of
    /// `benign_validation` (benign rows the model was not trained on).
    pub fn fit(
        model: M,
        benign_validation: ArrayView2<'_, f32>,
        method: ThresholdMethod,
    ) -> Result<Self> {
        method.percentile()?;
        if benign_validation.nrows() == 0 {
            return Err(AutoencoderError::EmptyInput {
                what: "calibration data",
            });
        }
        let errors: Vec<f64> = model
            .reconstruction_errors(benign_validation)?
            .into_iter()
            .map(f64::from)
            .collect();
        let threshold = Threshold::calibrate(&errors, method)?;
        Ok(Self { model, threshold })
    }

    /// A detector from a model and a threshold chosen elsewhere (e.g. loaded).
    pub fn from_parts(model: M, threshold: Threshold) -> Self {
        Self { model, threshold }
    }

    /// Anomaly scores: each row's reconstruction error (higher = more
    /// anomalous), as PyOD's `decision_function`.
    pub fn score(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        Ok(self
            .model
            .reconstruction_errors(x)?
            .into_iter()
            .map(f64::from)
            .collect())
    }

    /// 1 (anomalous) where the score is above the threshold, else 0.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<u8>> {
        Ok(self.threshold.apply(&self.score(x)?))
    }

    /// The calibrated threshold.
    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Replaces the threshold, e.g. after choosing another operating point.
    pub fn set_threshold(&mut self, threshold: Threshold) {
        self.threshold = threshold;
    }

    /// The autoencoder.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Gives back the model and the threshold.
    pub fn into_parts(self) -> (M, Threshold) {
        (self.model, self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
