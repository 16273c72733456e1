//! Principal component analysis as a linear reconstruction model: the
//! baseline every autoencoder detector must beat.
//!
//! Fitted on benign rows, the first `k` principal directions span the
//! best `k`-dimensional linear approximation of benign traffic; a row's
//! reconstruction is its projection onto them, and the detector scores
//! what the projection loses exactly as it scores an autoencoder's error.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView2, Axis};

use crate::detector::Reconstructor;
use crate::error::{AutoencoderError, Result, invalid};
use crate::model::check_matrix;

/// A fitted PCA: the training mean and the leading principal directions.
///
/// ```
/// use autoencoders::{Pca, Reconstructor};
/// use ndarray::Array2;
/// // Rows on the line y = 2x: one component reconstructs them exactly.
/// let x = Array2::from_shape_fn((20, 2), |(i, j)| i as f32 * (1.0 + j as f32));
/// let pca = Pca::fit(x.view(), 1)?;
/// let r = pca.reconstruct_batch(x.view())?;
/// assert!(x.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-3));
/// assert!(pca.explained_variance_ratio()[0] > 0.999);
/// # Ok::<(), autoencoders::AutoencoderError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f32>,
    /// `(k, n)`: orthonormal rows, largest variance first.
    components: Array2<f32>,
    explained_variance_ratio: Vec<f64>,
}

impl Pca {
    /// Fits `k` components (at least 1, at most the columns) on the rows
    /// of `x` (at least 2). The covariance is accumulated and
    /// diagonalised in double precision.
    pub fn fit(x: ArrayView2<'_, f32>, k: usize) -> Result<Self> {
        let (rows, n) = x.dim();
        check_matrix(x, n, "PCA training data")?;
        if rows < 2 {
            return Err(AutoencoderError::EmptyInput {
                what: "PCA training data (at least 2 rows)",
            });
        }
        if k == 0 || k > n {
            return Err(invalid(
                "pca components",
                k,
                "must lie in 1..=number of features",
            ));
        }
        let x64 = x.mapv(f64::from);
        let mean = x64.mean_axis(Axis(0)).unwrap_or_default();
        let centred = &x64 - &mean;
        let cov = centred.t().dot(&centred) / (rows - 1) as f64;
        let eigen = SymmetricEigen::new(DMatrix::from_row_iterator(n, n, cov.iter().copied()));
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let components =
            Array2::from_shape_fn((k, n), |(c, j)| eigen.eigenvectors[(j, order[c])] as f32);
        let explained_variance_ratio = order[..k]
            .iter()
            .map(|&i| {
                if total > 0.0 {
                    eigen.eigenvalues[i].max(0.0) / total
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            components,
            explained_variance_ratio,
        })
    }

    /// Number of components kept.
    pub fn n_components(&self) -> usize {
        self.components.nrows()
    }

    /// Share of the training variance along each kept component.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// Coordinates of each row along the components, `(rows, k)`.
    pub fn transform(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        check_matrix(x, self.mean.len(), "input")?;
        let mean = ndarray::ArrayView1::from(&self.mean);
        Ok((&x - &mean).dot(&self.components.t()))
    }
}

impl Reconstructor for Pca {
    fn n_features(&self) -> usize {
        self.mean.len()
    }

    fn reconstructed_columns(&self) -> Vec<usize> {
        (0..self.mean.len()).collect()
    }

    fn reconstruct_batch(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let mean = ndarray::ArrayView1::from(&self.mean);
        Ok(self.transform(x)?.dot(&self.components) + mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn components_are_orthonormal_and_sorted_by_variance() {
        let mut rng = StdRng::seed_from_u64(7);
        // Three independent columns with standard deviations 5, 2 and 0.5.
        let x = Array2::from_shape_fn((4000, 3), |(_, j)| {
            [5.0f32, 2.0, 0.5][j] * (rng.random::<f32>() - 0.5)
        });
        let pca = Pca::fit(x.view(), 3).unwrap();
        let g = pca.components.dot(&pca.components.t());
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[[i, j]] - want).abs() < 1e-5, "{g}");
            }
        }
        let r = pca.explained_variance_ratio();
        assert!(r[0] > r[1] && r[1] > r[2], "{r:?}");
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // The leading direction is the widest column.
        assert!(pca.components[[0, 0]].abs() > 0.99);
        // All components reconstruct exactly; fewer lose the narrow column.
        let full = pca.reconstruct_batch(x.view()).unwrap();
        assert!(x.iter().zip(&full).all(|(a, b)| (a - b).abs() < 1e-4));
        let two = Pca::fit(x.view(), 2).unwrap();
        let lost = &x - &two.reconstruct_batch(x.view()).unwrap();
        assert!(lost.column(0).iter().all(|v| v.abs() < 1e-3));
        assert!(lost.column(2).iter().any(|v| v.abs() > 0.1));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let x = Array2::<f32>::zeros((5, 3));
        assert!(Pca::fit(x.view(), 0).is_err());
        assert!(Pca::fit(x.view(), 4).is_err());
        assert!(Pca::fit(x.slice(ndarray::s![..1, ..]), 1).is_err());
        let mut bad = x.clone();
        bad[[2, 1]] = f32::NAN;
        let err = Pca::fit(bad.view(), 1).unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        let pca = Pca::fit(x.view(), 1).unwrap();
        assert!(pca.transform(Array2::zeros((2, 4)).view()).is_err());
    }
}
