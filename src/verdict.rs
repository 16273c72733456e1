//! The headline verdict measured: the rule ([`detector::VerdictRule`],
//! policy OR novelty, fitted on validation within the false-alarm budget)
//! on the test split, beside each part alone at the whole budget, and how
//! far each scorer sets apart an attack family it was never shown.

use detector::VerdictRule;
use flowdata::Family;
use serde::Serialize;

use crate::error::{PipelineError, Result};
use crate::evaluate::DecisionRow;

/// Below this many benign validation flows within the headline budget, a
/// run notes that the verdict's thresholds are coarse.
const FEW_FLOWS: usize = 10;

/// A note for a run whose headline `budget` allows fewer than ten of its
/// `n_benign` benign validation flows. Each of the verdict's two thresholds
/// sits just above a benign validation score, so on new benign flows
/// (exchangeable with those) the union flagging `k` of `n` is expected to
/// flag about `(k + 2) / (n + 1)`, and which flows happen to be in
/// validation moves the thresholds a long way.
pub fn coarse_budget_note(n_benign: usize, budget: f64) -> Option<String> {
    let k = metrics::false_alarm_allowance(n_benign, budget);
    (k < FEW_FLOWS).then(|| {
        format!(
            "the verdict's false-alarm budget of {} % allows {k} of the {n_benign} benign validation flows: thresholds set by so few flows move a long way from one split to another, and on new benign flows the verdict is expected to flag about {:.1} % (({k} + 2) / ({n_benign} + 1): each of its two thresholds sits just above a benign validation score); more benign flows in validation (`--split`) steady them",
            100.0 * budget,
            100.0 * (k + 2) as f64 / (n_benign + 1) as f64
        )
    })
}

/// The verdict on the test split, beside its two parts alone at the same
/// headline budget.
#[derive(Clone, Debug, Serialize)]
pub struct VerdictReport {
    /// The rule and its thresholds (the operating point a saved detector
    /// scores with).
    #[serde(flatten)]
    pub rule: VerdictRule,
    /// The verdict's false-positive rate on the benign validation flows.
    pub validation_fpr: f64,
    /// The verdict's recall on the validation attacks.
    pub validation_recall: f64,
    /// Test counts, rates and per-family recall of the verdict.
    #[serde(flatten)]
    pub test: DecisionRow,
    /// The policy alone at its threshold for the whole budget.
    pub policy_alone: DecisionRow,
    /// The novelty detector alone at its threshold for the whole budget.
    pub novelty_alone: DecisionRow,
}

/// The scores the verdict is measured on.
#[derive(Clone, Copy, Debug)]
pub struct VerdictInputs<'a> {
    /// Validation labels (attack = true).
    pub val_labels: &'a [bool],
    /// Test labels.
    pub test_labels: &'a [bool],
    /// Test families.
    pub test_families: &'a [Family],
    /// The policy's validation margins.
    pub val_margin: &'a [f64],
    /// The policy's test margins.
    pub test_margin: &'a [f64],
    /// The novelty detector's validation scores.
    pub val_novelty: &'a [f64],
    /// The novelty detector's test scores.
    pub test_novelty: &'a [f64],
    /// The verdict on each test flow, as the detector decided it.
    pub test_flags: &'a [bool],
}

/// Measure the verdict `rule` (fitted on validation) on test, and each part
/// alone at the whole budget.
pub fn evaluate_verdict(rule: VerdictRule, inputs: VerdictInputs<'_>) -> Result<VerdictReport> {
    let i = inputs;
    let budget = rule.budget;
    let val = DecisionRow::new(
        i.val_labels,
        &vec![Family::Other; i.val_labels.len()],
        &rule.flags(i.val_margin, i.val_novelty),
    )?;
    let test = DecisionRow::new(i.test_labels, i.test_families, i.test_flags)?;
    let alone = |val_scores: &[f64], test_scores: &[f64]| -> Result<DecisionRow> {
        let t = metrics::threshold_for_fpr_labelled(i.val_labels, val_scores, budget)?;
        let flags: Vec<bool> = test_scores.iter().map(|&s| s >= t).collect();
        DecisionRow::new(i.test_labels, i.test_families, &flags)
    };
    Ok(VerdictReport {
        validation_fpr: val.rates.fpr,
        validation_recall: val.rates.recall,
        policy_alone: alone(i.val_margin, i.test_margin)?,
        novelty_alone: alone(i.val_novelty, i.test_novelty)?,
        rule,
        test,
    })
}

/// The recall of a family the model was never shown, by each decision.
#[derive(Clone, Debug, Serialize)]
pub struct UnseenFamilyReport {
    /// The normalised family name.
    pub family: String,
    /// Its test flows (none of its flows were trained or validated on).
    pub test_flows: usize,
    /// Recall of the verdict.
    pub verdict_recall: f64,
    /// Recall of the policy alone at the whole budget.
    pub policy_recall: f64,
    /// Recall of the novelty detector alone at the whole budget.
    pub novelty_recall: f64,
    /// The verdict's false-positive rate on the test split at the same
    /// operating point.
    pub verdict_fpr: f64,
    /// How far the policy's margins set the family apart from the benign
    /// test flows; `None` without a test flow of the family (or a benign
    /// one).
    pub policy_separation: Option<Separation>,
    /// The same for the novelty scores.
    pub novelty_separation: Option<Separation>,
    /// The same for the ceiling, a supervised classifier of the policy's
    /// shape on its inputs, trained without the family; `None` without a
    /// ceiling.
    pub ceiling_separation: Option<Separation>,
    /// The same for the tree-ensemble baseline on the scaled features,
    /// trained without the family; `None` without one.
    pub tree_separation: Option<Separation>,
}

/// The test scores of the supervised scorers beside the policy, each
/// trained without the unseen families, for their separations of them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SupervisedScores<'a> {
    /// The ceiling's margin of each test flow.
    pub ceiling: Option<&'a [f64]>,
    /// The tree ensemble's margin of each test flow.
    pub tree: Option<&'a [f64]>,
}

/// How far one part's scores set a family apart from the benign test flows,
/// whatever the threshold: the limit of the scores, not an operating point.
/// If a part's recall here falls short of a target, no threshold reaches
/// the target at that false-alarm rate; if it reaches it here but misses
/// at its operating point, the flows were lost to where validation put the
/// threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Separation {
    /// ROC AUC of the family's flows against the benign test flows.
    pub roc_auc: f64,
    /// The family's recall at the lowest threshold that flags at most the
    /// headline budget of the benign test flows.
    pub recall_at_test_budget: f64,
}

impl Separation {
    /// The separation of `family` by `scores` (one per test flow) at a
    /// share `budget` of the benign test flows; `None` when the test split
    /// holds no flow of the family or no benign flow.
    fn of(
        inputs: &VerdictInputs<'_>,
        family: Family,
        scores: &[f64],
        budget: f64,
    ) -> Result<Option<Self>> {
        if scores.len() != inputs.test_labels.len() {
            return Err(PipelineError::Unsupported(format!(
                "{} scores for {} test flows",
                scores.len(),
                inputs.test_labels.len()
            )));
        }
        let (labels, scores): (Vec<bool>, Vec<f64>) = inputs
            .test_labels
            .iter()
            .zip(inputs.test_families)
            .zip(scores)
            .filter(|((attack, f), _)| !**attack || **f == family)
            .map(|((&attack, _), &s)| (attack, s))
            .unzip();
        if !labels.contains(&true) || !labels.contains(&false) {
            return Ok(None);
        }
        Ok(Some(Self {
            roc_auc: metrics::roc_auc(&labels, &scores)?,
            recall_at_test_budget: metrics::recall_at_fpr(&labels, &scores, budget)?.recall,
        }))
    }
}

impl VerdictReport {
    /// The unseen families' rows, measured on the test scores of `inputs`
    /// (those the report was measured on) and of the `supervised` scorers.
    pub fn unseen(
        &self,
        families: &[Family],
        inputs: &VerdictInputs<'_>,
        supervised: SupervisedScores<'_>,
    ) -> Result<Vec<UnseenFamilyReport>> {
        let recall = |row: &DecisionRow, f: Family| {
            row.per_family_recall
                .get(f.name())
                .map_or((0, 0.0), |r| (r.support, r.recall))
        };
        let budget = self.rule.budget;
        let separation = |f: Family, scores: Option<&[f64]>| -> Result<Option<Separation>> {
            Ok(match scores {
                Some(s) => Separation::of(inputs, f, s, budget)?,
                None => None,
            })
        };
        families
            .iter()
            .map(|&f| {
                Ok(UnseenFamilyReport {
                    family: f.name().to_string(),
                    test_flows: recall(&self.test, f).0,
                    verdict_recall: recall(&self.test, f).1,
                    policy_recall: recall(&self.policy_alone, f).1,
                    novelty_recall: recall(&self.novelty_alone, f).1,
                    verdict_fpr: self.test.rates.fpr,
                    policy_separation: separation(f, Some(inputs.test_margin))?,
                    novelty_separation: separation(f, Some(inputs.test_novelty))?,
                    ceiling_separation: separation(f, supervised.ceiling)?,
                    tree_separation: separation(f, supervised.tree)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_of_few_validation_flows_is_noted() {
        let note = coarse_budget_note(250, 0.01).expect("2 of 250 flows");
        assert!(note.contains("allows 2 of the 250"), "{note}");
        assert!(note.contains("about 1.6 %"), "{note}");
        assert!(coarse_budget_note(999, 0.01).is_some(), "9 flows");
        assert!(coarse_budget_note(1000, 0.01).is_none(), "10 flows");
        assert!(coarse_budget_note(100_000, 0.001).is_none());
    }

    #[test]
    fn separation_is_the_limit_of_the_scores() {
        // 200 benign flows scored 0..199; ten DDoS flows at `at`; ten DoS
        // flows scored above everything, which the DDoS row leaves out.
        let case = |at: f64| {
            let mut labels = vec![false; 200];
            let mut families = vec![Family::Benign; 200];
            let mut scores: Vec<f64> = (0..200).map(f64::from).collect();
            for (family, score) in [(Family::DDoS, at), (Family::DoS, 1e3)] {
                labels.extend([true; 10]);
                families.extend([family; 10]);
                scores.extend([score; 10]);
            }
            let inputs = VerdictInputs {
                val_labels: &labels,
                test_labels: &labels,
                test_families: &families,
                val_margin: &scores,
                test_margin: &scores,
                val_novelty: &scores,
                test_novelty: &scores,
                test_flags: &[],
            };
            Separation::of(&inputs, Family::DDoS, &scores, 0.01)
                .unwrap()
                .unwrap()
        };
        // 1 % of 200 is two benign flows: at 197.5 the threshold flags
        // 198 and 199 beside the family, at 196.5 it would flag three.
        let within = case(197.5);
        assert_eq!(within.recall_at_test_budget, 1.0);
        assert_eq!(within.roc_auc, 198.0 / 200.0);
        let beyond = case(196.5);
        assert_eq!(beyond.recall_at_test_budget, 0.0);
        assert_eq!(beyond.roc_auc, 197.0 / 200.0);
    }

    #[test]
    fn the_report_puts_the_parts_beside_the_union() {
        // Attacks of two families: the policy knows DoS, novelty sees DDoS.
        let mut labels = vec![false; 400];
        let mut families = vec![Family::Benign; 400];
        let mut margin: Vec<f64> = (0..400).map(|i| -(i as f64) / 10.0).collect();
        let mut novelty: Vec<f64> = (0..400).map(|i| (i % 97) as f64 / 100.0).collect();
        for i in 0..100 {
            labels.push(true);
            let ddos = i % 2 == 0;
            families.push(if ddos { Family::DDoS } else { Family::DoS });
            margin.push(if ddos { -50.0 } else { 10.0 });
            novelty.push(if ddos { 5.0 } else { 0.0 });
        }
        let rule = VerdictRule::fit(
            "ff",
            &labels,
            &margin,
            &novelty,
            crate::config::VerdictConfig::default().novelty_budget,
            0.01,
        )
        .unwrap();
        let flags = rule.flags(&margin, &novelty);
        let inputs = VerdictInputs {
            val_labels: &labels,
            test_labels: &labels,
            test_families: &families,
            val_margin: &margin,
            test_margin: &margin,
            val_novelty: &novelty,
            test_novelty: &novelty,
            test_flags: &flags,
        };
        let r = evaluate_verdict(rule, inputs).unwrap();
        assert_eq!(r.test.per_family_recall["DDoS"].recall, 1.0);
        assert_eq!(r.test.per_family_recall["DoS"].recall, 1.0);
        assert_eq!(r.policy_alone.per_family_recall["DDoS"].recall, 0.0);
        assert_eq!(r.novelty_alone.per_family_recall["DoS"].recall, 0.0);
        assert!(r.test.rates.fpr <= 0.01, "{}", r.test.rates.fpr);
        // The trees score like novelty; there is no ceiling.
        let supervised = SupervisedScores {
            ceiling: None,
            tree: Some(&novelty),
        };
        let unseen = r
            .unseen(&[Family::DDoS, Family::Bot], &inputs, supervised)
            .unwrap();
        assert_eq!((unseen[0].test_flows, unseen[0].verdict_recall), (50, 1.0));
        assert_eq!(unseen[0].policy_recall, 0.0);
        // Every DDoS margin (-50) lies below every benign one, every DDoS
        // novelty score (5) above.
        let (policy, novelty) = (
            unseen[0].policy_separation.unwrap(),
            unseen[0].novelty_separation.unwrap(),
        );
        assert_eq!((policy.roc_auc, policy.recall_at_test_budget), (0.0, 0.0));
        assert_eq!((novelty.roc_auc, novelty.recall_at_test_budget), (1.0, 1.0));
        assert_eq!(unseen[0].tree_separation, Some(novelty));
        assert!(unseen[0].ceiling_separation.is_none());
        // Scores that are not one per test flow are an error, not a
        // separation of the flows they happen to cover.
        let short = SupervisedScores {
            ceiling: Some(&margin[..10]),
            tree: None,
        };
        let err = r.unseen(&[Family::DDoS], &inputs, short).unwrap_err();
        assert!(
            err.to_string().contains("10 scores for 500 test flows"),
            "{err}"
        );
        // No Bot flow in the test split: nothing to separate.
        assert_eq!(unseen[1].test_flows, 0);
        assert!(unseen[1].policy_separation.is_none());
        let json = serde_json::to_value(&r).unwrap();
        let keys = "rule novelty_threshold policy_margin_threshold tp fp tn fn precision recall f1 fpr per_family_recall";
        for key in keys.split(' ') {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
