//! The tree-ensemble baseline: gradient-boosted trees from `forust-ml`.

use forust_ml::metric::Metric;
use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::data::{check_features, check_fit_inputs};
use crate::error::{BaselineError, Result, invalid};
use crate::weights::ClassWeights;

/// How the tree ensemble is trained. [`TreeConfig::validate`] checks every
/// field; [`TreeBaseline::fit`] calls it.
///
/// ```
/// use baselines::TreeConfig;
///
/// let config = TreeConfig { learning_rate: 0.0, ..TreeConfig::default() };
/// let err = config.validate().unwrap_err();
/// assert!(err.to_string().contains("`learning_rate`: 0"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeConfig {
    /// Most boosting rounds (trees). Default 500. At least 1.
    pub max_trees: usize,
    /// Shrinkage of every tree. Default 0.1. In (0, 1].
    pub learning_rate: f32,
    /// Depth of every tree. Default 6. At least 1.
    pub max_depth: usize,
    /// Rounds without an improvement of the weighted validation log-loss
    /// before boosting stops; the ensemble is cut back to its best round.
    /// Default 20. At least 1.
    pub patience: usize,
    /// L2 penalty on leaf values. Default 1. Non-negative and finite.
    pub l2: f32,
    /// Least sum of (weighted) hessians in a leaf. Default 1.
    /// Non-negative and finite.
    pub min_leaf_weight: f32,
    /// Histogram bins per feature. Default 256. At least 2.
    pub bins: u16,
    /// Seed of the library's random choices. Default 0.
    pub seed: u64,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            max_trees: 500,
            learning_rate: 0.1,
            max_depth: 6,
            patience: 20,
            l2: 1.0,
            min_leaf_weight: 1.0,
            bins: 256,
            seed: 0,
        }
    }
}

impl TreeConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] naming the first bad field and its
    /// value.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("max_trees", self.max_trees),
            ("max_depth", self.max_depth),
            ("patience", self.patience),
        ] {
            if v == 0 {
                return Err(invalid(name, v, "must be at least 1"));
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(invalid(
                "learning_rate",
                self.learning_rate,
                "must lie in (0, 1]",
            ));
        }
        for (name, v) in [("l2", self.l2), ("min_leaf_weight", self.min_leaf_weight)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(name, v, "must be non-negative and finite"));
            }
        }
        if self.bins < 2 {
            return Err(invalid("bins", self.bins, "must be at least 2"));
        }
        Ok(())
    }
}

/// Gradient-boosted trees on the logistic loss with the regret weights as
/// sample weights, stopped early on the weighted validation log-loss.
///
/// [`TreeBaseline::scores`] are margins: the ensemble's log-odds of the
/// weighted model, higher = more malicious, cost-optimal threshold 0 (as
/// [`Ceiling::margins`](crate::Ceiling::margins)).
pub struct TreeBaseline {
    booster: GradientBooster,
    n_features: usize,
    weights: ClassWeights,
}

impl std::fmt::Debug for TreeBaseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeBaseline")
            .field("n_trees", &self.n_trees())
            .field("n_features", &self.n_features)
            .field("weights", &self.weights)
            .finish_non_exhaustive()
    }
}

/// `x` as the column-major `f64` buffer the library reads.
fn column_major(x: ArrayView2<'_, f32>) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for column in x.columns() {
        out.extend(column.iter().map(|&v| f64::from(v)));
    }
    out
}

fn targets(labels: &[bool]) -> Vec<f64> {
    labels.iter().map(|&a| if a { 1.0 } else { 0.0 }).collect()
}

fn sample_weights(labels: &[bool], weights: ClassWeights) -> Vec<f64> {
    labels.iter().map(|&a| weights.of(a)).collect()
}

impl TreeBaseline {
    /// Fits the ensemble on `(x_train, y_train)` (labels: true = attack),
    /// stopping on the weighted log-loss over `(x_val, y_val)`.
    ///
    /// # Errors
    /// [`BaselineError::InvalidConfig`] for a bad configuration;
    /// [`BaselineError::Shape`], [`BaselineError::NonFinite`] and
    /// [`BaselineError::UnusableData`] for inputs as in
    /// [`Ceiling::fit`](crate::Ceiling::fit); [`BaselineError::Tree`] for
    /// an error of the library.
    pub fn fit(
        x_train: ArrayView2<'_, f32>,
        y_train: &[bool],
        x_val: ArrayView2<'_, f32>,
        y_val: &[bool],
        weights: ClassWeights,
        config: &TreeConfig,
    ) -> Result<Self> {
        config.validate()?;
        check_fit_inputs(x_train, y_train, x_val, y_val)?;
        let d = x_train.ncols();
        let (xt, xv) = (column_major(x_train), column_major(x_val));
        let (yt, yv) = (targets(y_train), targets(y_val));
        let (wt, wv) = (
            sample_weights(y_train, weights),
            sample_weights(y_val, weights),
        );
        let mut booster = GradientBooster::default()
            .set_objective_type(ObjectiveType::LogLoss)
            .set_iterations(config.max_trees)
            .set_learning_rate(config.learning_rate)
            .set_max_depth(config.max_depth)
            .set_l2(config.l2)
            .set_min_leaf_weight(config.min_leaf_weight)
            .set_nbins(config.bins)
            .set_seed(config.seed)
            .set_evaluation_metric(Some(Metric::LogLoss))
            .set_early_stopping_rounds(Some(config.patience));
        let eval = vec![(
            Matrix::new(&xv, y_val.len(), d),
            yv.as_slice(),
            wv.as_slice(),
        )];
        booster
            .fit(&Matrix::new(&xt, y_train.len(), d), &yt, &wt, Some(eval))
            .map_err(|e| BaselineError::Tree(e.to_string()))?;
        Ok(TreeBaseline {
            booster,
            n_features: d,
            weights,
        })
    }

    /// The margin of every row: the ensemble's log-odds, higher = more
    /// malicious, cost-optimal threshold 0.
    ///
    /// # Errors
    /// [`BaselineError::Shape`] for a wrong number of columns,
    /// [`BaselineError::NonFinite`] for a NaN or infinite feature.
    pub fn scores(&self, x: ArrayView2<'_, f32>) -> Result<Vec<f64>> {
        check_features("features", x, Some(self.n_features))?;
        if x.nrows() == 0 {
            return Ok(Vec::new());
        }
        let data = column_major(x);
        Ok(self
            .booster
            .predict(&Matrix::new(&data, x.nrows(), self.n_features), true))
    }

    /// The cost-optimal decision for every row: score > 0.
    ///
    /// # Errors
    /// As [`TreeBaseline::scores`].
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Result<Vec<bool>> {
        Ok(self.scores(x)?.into_iter().map(|s| s > 0.0).collect())
    }

    /// Number of trees kept (the best round of the early stopping).
    pub fn n_trees(&self) -> usize {
        self.booster
            .prediction_iteration
            .unwrap_or(self.booster.trees.len())
    }

    /// The class weights it was trained with.
    pub fn weights(&self) -> ClassWeights {
        self.weights
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
}
