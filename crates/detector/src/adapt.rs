//! Adapting a detector to benign traffic of another network: the one
//! fine-tuning procedure, used by `nids adapt` and by the training
//! report's generalization check, so that the report measures what the
//! command ships.
//!
//! A share of the benign flows ([`AdaptConfig::fraction`], drawn by a
//! seeded shuffle) fine-tunes a copy of the novelty autoencoder
//! ([`AdaptConfig::trainer`]); its error scale and threshold are
//! recalibrated on those flows, and the verdict's two thresholds refitted
//! on them within the same budgets, never lowering either (so that no
//! flow the policy flagged becomes easier to miss than the local benign
//! traffic requires). The policy itself is unchanged: without attack
//! flows to replay, further training would teach it only "benign". The
//! rest of the flows measure the false-positive rates before and after.

use autoencoders::{ReconstructionDetector, Trainer, TrainerConfig};
use flowdata::OutOfRange;
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::artifact::Detector;
use crate::error::{DetectorError, Result};
use crate::input::{policy_input, policy_margins};
use crate::manifest::Adaptation;
use crate::verdict::{OperatingPoint, VerdictRule};

/// The name of the operating point an adaptation refits.
pub const VERDICT_POINT: &str = "verdict";

/// How a detector is adapted.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptConfig {
    /// Share of the benign flows fine-tuned on, in (0, 1); the rest
    /// measure the false-positive rates before and after. Default 0.5.
    pub fraction: f64,
    /// The novelty model's fine-tuning; its seed also draws the share.
    /// Default: the trainer's defaults at half their learning rate
    /// (5e-4) for at most 10 epochs.
    pub trainer: TrainerConfig,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        let trainer = TrainerConfig::default();
        AdaptConfig {
            fraction: 0.5,
            trainer: TrainerConfig {
                learning_rate: trainer.learning_rate / 2.0,
                epochs: 10,
                ..trainer
            },
        }
    }
}

/// The share of `flags` that is true (0 for none).
fn share_true(flags: &[bool]) -> f64 {
    flags.iter().filter(|&&f| f).count() as f64 / flags.len().max(1) as f64
}

impl Detector {
    /// Adapt the detector to `benign` (raw flows in the schema's column
    /// order, all benign) as the module documentation says; `sources`
    /// names where they came from in the manifest. Returns the adapted
    /// detector (its default operating point the new verdict) and what the
    /// adaptation measured, which is also appended to its manifest.
    pub fn adapt(
        self,
        benign: ArrayView2<'_, f32>,
        sources: Vec<String>,
        config: &AdaptConfig,
    ) -> Result<(Detector, Adaptation)> {
        let n = benign.nrows();
        let fraction = config.fraction;
        let n_tune = (n as f64 * fraction).round() as usize;
        if !(fraction > 0.0 && fraction < 1.0) || n_tune < 2 || n_tune >= n {
            return Err(DetectorError::argument(
                "fraction",
                fraction,
                format!("must leave flows to fine-tune on and to measure ({n} benign flows)"),
            ));
        }
        let seed = config.trainer.seed;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let pick = |rows: &[usize]| -> Result<(Array2<f32>, OutOfRange)> {
            let mut x = benign.select(ndarray::Axis(0), rows);
            let range = self.bounds.transform_inplace(x.view_mut())?;
            Ok((x, range))
        };
        let (tune, tune_range) = pick(&order[..n_tune])?;
        let (rest, rest_range) = pick(&order[n_tune..])?;
        let before = self.score_scaled(rest.view(), rest_range.clone())?;
        let novelty_before = self.novelty.score_with(rest.view(), Some(&rest_range))?;

        // Fine-tune a copy of the novelty model on the local flows.
        let mut model = self.novelty.model().clone();
        let trainer = Trainer::new(config.trainer.clone())?;
        trainer.fit_split(&mut model, tune.view(), &mut |_| {})?;
        let novelty = ReconstructionDetector::fit_with(
            model,
            tune.view(),
            Some(&tune_range),
            self.novelty.threshold().method,
            self.novelty.error_scale().scoring,
        )?;
        let tune_novelty = novelty.score_with(tune.view(), Some(&tune_range))?;
        let obs = policy_input(&self.encoder, &self.scaler, tune.view())?;
        let tune_margin = policy_margins(&self.policy, obs.view())?;
        let m = &self.manifest;
        let rule = VerdictRule::fit(
            &m.novelty,
            &vec![false; n_tune],
            &tune_margin,
            &tune_novelty,
            m.novelty_budget,
            m.budget,
        )?;
        let old = m.operating_point(VERDICT_POINT)?;
        let raise = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| o.max(new)));
        let verdict = OperatingPoint {
            name: VERDICT_POINT.into(),
            description: format!(
                "{} (adapted on {n_tune} local benign flows)",
                old.description
            ),
            policy_margin: raise(old.policy_margin, rule.policy_margin_threshold)
                .filter(|t| t.is_finite()),
            novelty: Some(rule.novelty_threshold),
        };
        let mut manifest = m.clone();
        for p in manifest.operating_points.iter_mut() {
            if p.name == VERDICT_POINT {
                *p = verdict.clone();
            }
        }
        manifest.default_operating_point = VERDICT_POINT.into();
        manifest.novelty_threshold = novelty.threshold().clone();
        manifest.novelty_error_scale = novelty.error_scale().clone();
        let novelty_after = novelty.score_with(rest.view(), Some(&rest_range))?;
        let flagged =
            |scores: &[f64], t: f64| share_true(&scores.iter().map(|&s| s > t).collect::<Vec<_>>());
        let novelty_fpr_before = flagged(&novelty_before, self.novelty.threshold().value);
        let novelty_fpr_after = flagged(&novelty_after, novelty.threshold().value);
        let mut adapted = Detector {
            shared: self.encoder.same_network(novelty.model()),
            manifest,
            schema: self.schema,
            bounds: self.bounds,
            encoder: self.encoder,
            novelty,
            policy: self.policy,
            scaler: self.scaler,
            point: verdict,
        };
        let after = adapted.score_scaled(rest.view(), rest_range)?;
        let adaptation = Adaptation {
            benign: sources,
            tune_rows: n_tune,
            held_back_rows: n - n_tune,
            fpr_before: share_true(&before.malicious),
            fpr_after: share_true(&after.malicious),
            novelty_fpr_before,
            novelty_fpr_after,
        };
        adapted.manifest.adaptations.push(adaptation.clone());
        Ok((adapted, adaptation))
    }
}
