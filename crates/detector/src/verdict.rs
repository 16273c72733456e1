//! The operating points a detector may apply, and the headline verdict's
//! rule: a flow is malicious when the policy flags it OR the novelty
//! detector does.
//!
//! The policy recognises the attacks it was trained on; the novelty
//! detector, trained on benign traffic alone, flags what does not look
//! benign, including families the policy has never seen. The rule is fixed
//! by a false-alarm budget on benign flows, not chosen by F1: validation
//! holds no flow of a family the model has never seen, so a rule chosen on
//! it would always drop the novelty part. The novelty detector gets at
//! most its share of the benign flows; the policy's threshold is then the
//! lowest that keeps the union within the whole budget.

use serde::{Deserialize, Serialize};

use crate::error::{DetectorError, Result};
use crate::input::probability;

/// A named decision rule: the policy's margin against one threshold, the
/// novelty score against another; a flow is malicious when either flags it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// `verdict`, `argmax`, `best-f1`, `fpr<=1%`, ...
    pub name: String,
    /// How it was chosen.
    pub description: String,
    /// Flag when the policy's logit margin is at least this; `None`: the
    /// policy part never flags.
    pub policy_margin: Option<f64>,
    /// Flag when the novelty score is at least this; `None`: the novelty
    /// part never flags.
    pub novelty: Option<f64>,
}

impl OperatingPoint {
    /// The decision for one flow.
    pub fn flag(&self, margin: f64, novelty: f64) -> bool {
        self.policy_margin.is_some_and(|t| margin >= t)
            || self.novelty.is_some_and(|t| novelty >= t)
    }
}

/// The rule and its two thresholds: what `nids score` applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictRule {
    /// `policy OR novelty`.
    pub rule: String,
    /// The autoencoder whose reconstruction score is the novelty part.
    pub novelty_detector: String,
    /// Flag when the novelty score is at least this.
    pub novelty_threshold: f64,
    /// Flag when the policy's logit margin `log P(1) - log P(0)` is at
    /// least this.
    pub policy_margin_threshold: f64,
    /// The same policy threshold as P(malicious).
    pub policy_probability_threshold: f64,
    /// The novelty part's share of the benign validation flows.
    pub novelty_budget: f64,
    /// The union's share of the benign validation flows.
    pub budget: f64,
}

/// The name of the rule.
pub const RULE: &str = "policy OR novelty";

impl VerdictRule {
    /// Fit the two thresholds on labelled flows (the validation split, or
    /// the benign flows of an adaptation): `val_labels` (attack = true),
    /// the policy's margins and the novelty scores; `novelty_budget` and
    /// `budget` are shares of the benign flows.
    pub fn fit(
        novelty_detector: &str,
        val_labels: &[bool],
        val_margin: &[f64],
        val_novelty: &[f64],
        novelty_budget: f64,
        budget: f64,
    ) -> Result<Self> {
        if !(0.0..=budget).contains(&novelty_budget) || !(0.0..1.0).contains(&budget) {
            return Err(DetectorError::argument(
                "novelty_budget",
                novelty_budget,
                format!("must lie in [0, {budget}] (the headline false-alarm budget, below 1)"),
            ));
        }
        if val_margin.len() != val_labels.len() || val_novelty.len() != val_labels.len() {
            return Err(DetectorError::Mismatch(format!(
                "verdict: {} labels, {} policy scores and {} novelty scores",
                val_labels.len(),
                val_margin.len(),
                val_novelty.len()
            )));
        }
        let benign: Vec<usize> = (0..val_labels.len()).filter(|&i| !val_labels[i]).collect();
        if benign.is_empty() {
            return Err(DetectorError::Mismatch(
                "no benign flow to fit the verdict on".into(),
            ));
        }
        let novelty_threshold =
            metrics::threshold_for_fpr_labelled(val_labels, val_novelty, novelty_budget)?;
        // The false alarms the policy may add: the union's allowance less
        // the novelty part's own, counted on the flows it leaves.
        let allowed = metrics::false_alarm_allowance(benign.len(), budget);
        let novelty_fp = benign
            .iter()
            .filter(|&&i| val_novelty[i] >= novelty_threshold)
            .count();
        let rest: Vec<f64> = benign
            .iter()
            .filter(|&&i| val_novelty[i] < novelty_threshold)
            .map(|&i| val_margin[i])
            .collect();
        let extra = allowed.saturating_sub(novelty_fp);
        let policy_margin_threshold = if rest.is_empty() {
            f64::INFINITY
        } else {
            metrics::threshold_for_fpr(&rest, (extra as f64 / rest.len() as f64).min(1.0))?
        };
        Ok(Self {
            rule: RULE.to_string(),
            novelty_detector: novelty_detector.to_string(),
            novelty_threshold,
            policy_margin_threshold,
            policy_probability_threshold: probability(policy_margin_threshold),
            novelty_budget,
            budget,
        })
    }

    /// The rule as the detector's operating point `verdict`; an infinite
    /// threshold is a part that never flags.
    pub fn operating_point(&self) -> OperatingPoint {
        let finite = |t: f64| t.is_finite().then_some(t);
        OperatingPoint {
            name: "verdict".into(),
            description: format!(
                "{}: the policy within the headline budget of {} % of benign validation flows, the novelty detector within {} %",
                self.rule,
                100.0 * self.budget,
                100.0 * self.novelty_budget
            ),
            policy_margin: finite(self.policy_margin_threshold),
            novelty: finite(self.novelty_threshold),
        }
    }

    /// The verdict of each flow from its policy margin and novelty score.
    pub fn flags(&self, margin: &[f64], novelty: &[f64]) -> Vec<bool> {
        let point = self.operating_point();
        margin
            .iter()
            .zip(novelty)
            .map(|(&m, &s)| point.flag(m, s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_split_between_novelty_and_policy() {
        // 1,000 benign validation flows: novelty 0.5 % = 5, union 1 % = 10.
        let mut labels = vec![false; 1000];
        labels.extend(vec![true; 200]);
        let margin: Vec<f64> = (0..1200)
            .map(|i| {
                if i < 1000 {
                    -10.0 + i as f64 / 100.0
                } else {
                    5.0
                }
            })
            .collect();
        // Novelty ranks the benign flows the other way round.
        let novelty: Vec<f64> = (0..1200)
            .map(|i| if i < 1000 { 1000.0 - i as f64 } else { 0.0 })
            .collect();
        let rule = VerdictRule::fit("ff", &labels, &margin, &novelty, 0.005, 0.01).unwrap();
        let flags = rule.flags(&margin, &novelty);
        let benign_flagged = flags[..1000].iter().filter(|&&f| f).count();
        let by_novelty = novelty[..1000]
            .iter()
            .filter(|&&s| s >= rule.novelty_threshold)
            .count();
        assert_eq!(by_novelty, 5);
        assert_eq!(benign_flagged, 10, "the union uses the whole budget");
        assert!(flags[1000..].iter().all(|&f| f), "attacks are flagged");
        assert!(
            (rule.policy_probability_threshold - probability(rule.policy_margin_threshold)).abs()
                < 1e-12
        );
        // The novelty part never takes more than its share.
        let none = VerdictRule::fit("ff", &labels, &margin, &novelty, 0.0, 0.01).unwrap();
        assert_eq!(
            novelty[..1000]
                .iter()
                .filter(|&&s| s >= none.novelty_threshold)
                .count(),
            0
        );
        assert!(VerdictRule::fit("ff", &labels, &margin, &novelty, 0.02, 0.01).is_err());
    }

    #[test]
    fn overlapping_flags_leave_room_for_the_policy() {
        // The benign flows novelty flags are the policy's top ones too:
        // the union then lets the policy flag more of the rest.
        let mut labels = vec![false; 1000];
        labels.push(true);
        let margin: Vec<f64> = (0..1001).map(|i| i as f64).collect();
        let novelty = margin.clone();
        let rule = VerdictRule::fit("ff", &labels, &margin, &novelty, 0.005, 0.01).unwrap();
        let fp = rule.flags(&margin, &novelty)[..1000]
            .iter()
            .filter(|&&f| f)
            .count();
        assert_eq!(fp, 10);
    }
}
