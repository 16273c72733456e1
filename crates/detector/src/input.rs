//! What the policy reads ([`PolicyInput`]), the standardisation of its
//! inputs ([`LatentScaler`]), and its scores.
//!
//! Scores are the f64 logit margin `log P(1) - log P(0)` of the policy's
//! two actions, never the f32 probability: a confident policy saturates
//! P(malicious) to exactly 1.0 for many flows, and no threshold can then
//! tell them apart. Thresholds, curves and the false-alarm budget all work
//! on the margin; P(malicious) is [`probability`] of it.

use std::fmt;
use std::str::FromStr;

use autoencoders::{Autoencoder, Model};
use ndarray::{Array2, ArrayView2};
use ppo::Ppo;
use serde::{Deserialize, Serialize};

use crate::error::{DetectorError, Result};

/// What the policy observes for each flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyInput {
    /// The autoencoder's latent code (the reference system's design).
    Latent,
    /// The latent code and the log of the flow's reconstruction error.
    LatentError,
    /// The latent code and the scaled flow features themselves.
    LatentFeatures,
}

impl PolicyInput {
    /// Every input, in report order.
    pub const ALL: [PolicyInput; 3] = [
        PolicyInput::Latent,
        PolicyInput::LatentError,
        PolicyInput::LatentFeatures,
    ];

    /// The name in flags, reports and files: `latent`, `latent+error`,
    /// `latent+features`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyInput::Latent => "latent",
            PolicyInput::LatentError => "latent+error",
            PolicyInput::LatentFeatures => "latent+features",
        }
    }
}

impl fmt::Display for PolicyInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PolicyInput {
    type Err = DetectorError;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        PolicyInput::ALL
            .into_iter()
            .find(|i| i.as_str() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = PolicyInput::ALL.iter().map(|i| i.as_str()).collect();
                DetectorError::argument(
                    "policy_input",
                    s,
                    format!("expected one of {}", names.join(", ")),
                )
            })
    }
}

impl Serialize for PolicyInput {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PolicyInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The unstandardised policy input of scaled flows.
pub fn raw_policy_input(
    model: &Model,
    input: PolicyInput,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    raw_policy_input_of_latent(model, input, model.encode_batch(x)?, x)
}

/// [`raw_policy_input`] of scaled flows `x` whose latent codes `z` are
/// already at hand.
pub fn raw_policy_input_of_latent(
    model: &Model,
    input: PolicyInput,
    z: Array2<f32>,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    assemble(model, input, z, x, |_| {})
}

/// The policy input row by row, each row passed to `finish` once complete:
/// row-major, so that each flow's input is one contiguous row.
fn assemble(
    model: &Model,
    input: PolicyInput,
    mut z: Array2<f32>,
    x: ArrayView2<'_, f32>,
    finish: impl Fn(&mut [f32]),
) -> Result<Array2<f32>> {
    let extra: ndarray::CowArray<'_, f32, ndarray::Ix2> = match input {
        PolicyInput::Latent => {
            if !z.is_standard_layout() {
                z = z.as_standard_layout().into_owned();
            }
            let latent = z.ncols().max(1);
            if let Some(all) = z.as_slice_mut() {
                all.chunks_exact_mut(latent).for_each(&finish);
            }
            return Ok(z);
        }
        PolicyInput::LatentError => {
            // The error spans orders of magnitude; its log is what separates.
            let errors = model.reconstruction_errors(x)?;
            Array2::from_shape_fn((errors.len(), 1), |(r, _)| (errors[r] + 1e-12).ln()).into()
        }
        PolicyInput::LatentFeatures => x.into(),
    };
    let (rows, latent) = z.dim();
    let width = latent + extra.ncols();
    let mut data = Vec::with_capacity(rows * width);
    for (zr, er) in z.rows().into_iter().zip(extra.rows()) {
        let start = data.len();
        data.extend(zr.iter());
        data.extend(er.iter());
        finish(&mut data[start..]);
    }
    Array2::from_shape_vec((rows, width), data)
        .map_err(|e| DetectorError::Mismatch(format!("policy input of {rows} rows x {width}: {e}")))
}

/// Per-column standardisation of the policy's latent inputs (and the log
/// error of `latent+error`), fitted on the training rows, so that every
/// autoencoder hands the policy values of one scale; the scaled features of
/// `latent+features` pass through in `[0, 1]` (mean 0, std 1 here). Saved
/// as `latent_scaler.json` beside the policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentScaler {
    /// What the columns are.
    pub input: PolicyInput,
    /// Mean per column.
    pub mean: Vec<f32>,
    /// Standard deviation per column (1 where constant).
    pub std: Vec<f32>,
}

impl LatentScaler {
    /// Fit on training inputs whose first `latent` columns are the latent
    /// code. The scaled features of `latent+features` pass through as they
    /// are: they already lie in `[0, 1]`, and standardising them would
    /// blow a feature that barely varies in training up to dozens of
    /// standard deviations on new traffic, which is what stops a policy
    /// from generalising to attack families it has not seen.
    pub fn fit(input: PolicyInput, latent: usize, z: ArrayView2<'_, f32>) -> Self {
        let n = z.nrows().max(1) as f64;
        let mut mean = Vec::with_capacity(z.ncols());
        let mut std = Vec::with_capacity(z.ncols());
        for (c, col) in z.columns().into_iter().enumerate() {
            if input == PolicyInput::LatentFeatures && c >= latent {
                mean.push(0.0);
                std.push(1.0);
                continue;
            }
            let m = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = col.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-6 { s as f32 } else { 1.0 });
        }
        LatentScaler { input, mean, std }
    }

    /// Standardise in place (row by row, in row-major order).
    pub fn transform(&self, z: &mut Array2<f32>) {
        let standardise = self.row_transform();
        if !z.is_standard_layout() {
            *z = z.as_standard_layout().into_owned();
        }
        let width = z.ncols();
        if let Some(all) = z.as_slice_mut()
            && width > 0
        {
            all.chunks_exact_mut(width).for_each(standardise);
        }
    }

    /// Standardise a row in place, touching only the columns this scaler
    /// changes: what training inputs and scored flows both go through.
    fn row_transform(&self) -> impl Fn(&mut [f32]) + '_ {
        let active = self.active_width();
        move |row: &mut [f32]| {
            let width = active.min(row.len());
            self.transform_row(&mut row[..width]);
        }
    }

    /// The columns up to the last one this scaler changes: the columns
    /// after it (the features of `latent+features`) pass through.
    pub fn active_width(&self) -> usize {
        self.mean
            .iter()
            .zip(&self.std)
            .rposition(|(&m, &s)| m != 0.0 || s != 1.0)
            .map_or(0, |i| i + 1)
    }

    /// Standardise one row in place.
    pub fn transform_row(&self, row: &mut [f32]) {
        for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }
}

/// The policy's input of scaled flows: encode, add what `scaler.input`
/// asks for, standardise.
pub fn policy_input(
    model: &Model,
    scaler: &LatentScaler,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    policy_input_of_latent(model, scaler, model.encode_batch(x)?, x)
}

/// [`policy_input`] of scaled flows `x` whose latent codes `z` are already
/// at hand.
pub fn policy_input_of_latent(
    model: &Model,
    scaler: &LatentScaler,
    z: Array2<f32>,
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>> {
    assemble(model, scaler.input, z, x, scaler.row_transform())
}

/// The policy's logit margin `log P(1) - log P(0)` for each row, in f64:
/// positive exactly where the argmax action is 1 (malicious).
pub fn policy_margins(policy: &Ppo, obs: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
    let logits = policy.policy_outputs(obs)?;
    if logits.ncols() != 2 {
        return Err(DetectorError::Mismatch(format!(
            "the policy has {} outputs; a detection policy has two actions",
            logits.ncols()
        )));
    }
    Ok(logits
        .rows()
        .into_iter()
        .map(|r| f64::from(r[1]) - f64::from(r[0]))
        .collect())
}

/// P(malicious) of a logit margin: `1 / (1 + exp(-margin))`.
pub fn probability(margin: f64) -> f64 {
    1.0 / (1.0 + (-margin).exp())
}

/// The margin of a probability: `ln(p / (1 - p))` (infinite at 0 and 1).
pub fn margin_of(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_have_names_that_round_trip() {
        for i in PolicyInput::ALL {
            assert_eq!(i.as_str().parse::<PolicyInput>().unwrap(), i);
            let json = serde_json::to_string(&i).unwrap();
            assert_eq!(serde_json::from_str::<PolicyInput>(&json).unwrap(), i);
        }
        assert_eq!(
            " Latent+Features ".parse::<PolicyInput>().unwrap(),
            PolicyInput::LatentFeatures
        );
        let err = "pixels".parse::<PolicyInput>().unwrap_err().to_string();
        assert!(
            err.contains("pixels") && err.contains("latent+error"),
            "{err}"
        );
    }

    #[test]
    fn the_scaler_standardises_the_latent_and_passes_scaled_features_through() {
        // Two latent columns, then two scaled features: one that barely
        // varies in training and one that does.
        let z = Array2::from_shape_fn((100, 4), |(r, c)| match c {
            0 => r as f32,
            1 => 3.0,
            2 => {
                if r == 0 {
                    0.01
                } else {
                    0.0
                }
            }
            _ => r as f32 / 99.0,
        });
        let s = LatentScaler::fit(PolicyInput::LatentFeatures, 2, z.view());
        assert!((s.mean[0] - 49.5).abs() < 1e-4 && s.std[0] > 28.0);
        assert_eq!((s.mean[1], s.std[1]), (3.0, 1.0), "a constant keeps std 1");
        assert_eq!(
            (&s.mean[2..], &s.std[2..]),
            (&[0.0, 0.0][..], &[1.0, 1.0][..])
        );
        // A feature at the top of its training range stays at 1 instead of
        // lying ten standard deviations out.
        let mut row = [49.5, 3.0, 1.0, 1.0];
        s.transform_row(&mut row);
        assert_eq!(row, [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(s.active_width(), 2, "the features pass through");
        // Every other input kind standardises each column.
        let e = LatentScaler::fit(PolicyInput::LatentError, 2, z.view());
        assert!(e.std[2] < 0.01 && (e.mean[3] - 0.5).abs() < 1e-4);
    }

    #[test]
    fn margins_and_probabilities_agree() {
        for m in [-40.0, -3.0, 0.0, 0.7, 35.0] {
            let p = probability(m);
            assert!((0.0..=1.0).contains(&p));
            if m.abs() < 30.0 {
                assert!((margin_of(p) - m).abs() < 1e-9, "{m}");
            }
        }
        assert_eq!(probability(0.0), 0.5);
        // f32 saturates long before f64 does: the margin keeps the order.
        assert_eq!(1.0f32 / (1.0 + (-20.0f32).exp()), 1.0);
        assert!(probability(20.0) < probability(21.0));
    }
}
