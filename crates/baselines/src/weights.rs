//! Class weights from the regret of each error under a reward table.

use serde::{Deserialize, Serialize};

use crate::error::{BaselineError, Result};

/// Per-class weights of a cost-sensitive loss: `attack` multiplies the loss
/// of every attack row, `benign` that of every benign row.
///
/// Under a reward table, the right weight of a class is the *regret* of
/// getting one of its rows wrong: what the correct action earns minus what
/// the wrong one earns. A model trained with these weights and flagging
/// where its own probability exceeds 1/2 makes the decision that maximises
/// the expected reward: flag a flow exactly when
/// `P(attack | x) > benign / (benign + attack)`.
///
/// ```
/// use baselines::ClassWeights;
///
/// // The detection environment's table: TP +2, TN +2, FN -4, FP -1.
/// let w = ClassWeights::from_rewards(2.0, 2.0, -4.0, -1.0)?;
/// assert_eq!((w.benign(), w.attack()), (3.0, 6.0));
/// assert_eq!(w, ClassWeights::default());
/// assert!((w.probability_threshold() - 1.0 / 3.0).abs() < 1e-12);
///
/// // A reward table in which a miss costs nothing cannot be weighted.
/// let err = ClassWeights::from_rewards(2.0, 2.0, 2.0, -1.0).unwrap_err();
/// assert!(err.to_string().contains("attack"), "{err}");
/// # Ok::<(), baselines::BaselineError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawWeights")]
pub struct ClassWeights {
    benign: f64,
    attack: f64,
}

/// The serialised form, checked on the way in.
#[derive(Deserialize)]
struct RawWeights {
    benign: f64,
    attack: f64,
}

impl TryFrom<RawWeights> for ClassWeights {
    type Error = BaselineError;
    fn try_from(raw: RawWeights) -> Result<Self> {
        ClassWeights::new(raw.benign, raw.attack)
    }
}

impl Default for ClassWeights {
    /// The regrets of the detection environment's reward table (TP +2,
    /// TN +2, FN -4, FP -1): benign 3, attack 6.
    fn default() -> Self {
        ClassWeights {
            benign: 3.0,
            attack: 6.0,
        }
    }
}

impl ClassWeights {
    /// Weights `benign` and `attack`.
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] naming the class when a weight is not
    /// positive and finite.
    pub fn new(benign: f64, attack: f64) -> Result<Self> {
        for (name, w) in [("benign", benign), ("attack", attack)] {
            if !(w.is_finite() && w > 0.0) {
                return Err(BaselineError::InvalidConfig {
                    name,
                    value: w.to_string(),
                    reason: "a class weight must be positive and finite".into(),
                });
            }
        }
        Ok(ClassWeights { benign, attack })
    }

    /// The regrets of a reward table: `attack = tp - fn_` (flagging an
    /// attack rather than missing it), `benign = tn - fp` (passing a benign
    /// flow rather than flagging it).
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] naming the class when its regret is
    /// not positive and finite (the table does not prefer the correct
    /// action).
    pub fn from_rewards(tp: f64, tn: f64, fn_: f64, fp: f64) -> Result<Self> {
        Self::new(tn - fp, tp - fn_)
    }

    /// The weight of benign rows.
    pub fn benign(&self) -> f64 {
        self.benign
    }

    /// The weight of attack rows.
    pub fn attack(&self) -> f64 {
        self.attack
    }

    /// The weight of a row with label `attack`.
    pub fn of(&self, attack: bool) -> f64 {
        if attack { self.attack } else { self.benign }
    }

    /// The cost-optimal threshold on the unweighted `P(attack | x)`:
    /// `benign / (benign + attack)` (1/3 for the default weights).
    pub fn probability_threshold(&self) -> f64 {
        self.benign / (self.benign + self.attack)
    }

    /// `ln(attack / benign)`: what the weights add to the log-odds a
    /// weighted model learns. Subtracting it from a weighted model's margin
    /// gives the log-odds of `P(attack | x)` under the training prior.
    pub fn log_odds_shift(&self) -> f64 {
        (self.attack / self.benign).ln()
    }

    /// The weights divided by their mean over `labels`, so that a weighted
    /// loss stays on the scale of the unweighted one. `None` for no labels.
    pub(crate) fn normalised_over(&self, labels: &[bool]) -> Option<ClassWeights> {
        if labels.is_empty() {
            return None;
        }
        let attacks = labels.iter().filter(|&&a| a).count() as f64;
        let n = labels.len() as f64;
        let mean = (attacks * self.attack + (n - attacks) * self.benign) / n;
        Some(ClassWeights {
            benign: self.benign / mean,
            attack: self.attack / mean,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_weights_name_the_class_and_value() {
        for (b, a, name) in [
            (0.0, 1.0, "benign"),
            (1.0, -2.0, "attack"),
            (f64::NAN, 1.0, "benign"),
            (1.0, f64::INFINITY, "attack"),
        ] {
            let err = ClassWeights::new(b, a).unwrap_err();
            let BaselineError::InvalidConfig { name: got, .. } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(*got, name);
            let shown = if name == "benign" { b } else { a };
            assert!(err.to_string().contains(&shown.to_string()), "{err}");
        }
    }

    #[test]
    fn normalised_weights_have_mean_one_and_keep_their_ratio() {
        let w = ClassWeights::default();
        let labels = [true, true, false, true, false];
        let n = w.normalised_over(&labels).unwrap();
        let mean: f64 = labels.iter().map(|&a| n.of(a)).sum::<f64>() / labels.len() as f64;
        assert!((mean - 1.0).abs() < 1e-12);
        assert!((n.attack() / n.benign() - 2.0).abs() < 1e-12);
        assert!(w.normalised_over(&[]).is_none());
    }

    #[test]
    fn deserialising_checks_the_weights() {
        let ok: ClassWeights = serde_json::from_str(r#"{"benign":3.0,"attack":6.0}"#).unwrap();
        assert_eq!(ok, ClassWeights::default());
        let err = serde_json::from_str::<ClassWeights>(r#"{"benign":-1.0,"attack":6.0}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("benign") && err.contains("-1"), "{err}");
    }
}
