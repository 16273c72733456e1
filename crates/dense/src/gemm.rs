//! A safe wrapper over the `gemm` crate's single-precision product: products of strided views
//! into a row-major output.

use crate::error::{DenseError, Result};

/// A read-only matrix view: `rows x cols` elements of `data` at
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between the starts of two consecutive rows.
    pub row_stride: usize,
    /// Distance between two consecutive elements of a row.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, as a view of the same data.
    #[must_use]
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride;
        last < self.data.len()
    }
}

fn check(a: &MatRef<'_>, b: &MatRef<'_>, c: &[f32]) -> Result<()> {
    if b.rows != a.cols {
        return Err(DenseError::Length {
            what: "inner dimension of a product",
            expected: a.cols,
            got: b.rows,
        });
    }
    for v in [a, b] {
        if !v.fits() {
            return Err(DenseError::ViewOutOfBounds {
                rows: v.rows,
                cols: v.cols,
                row_stride: v.row_stride,
                col_stride: v.col_stride,
                len: v.data.len(),
            });
        }
    }
    if c.len() < a.rows * b.cols {
        return Err(DenseError::Length {
            what: "product output",
            expected: a.rows * b.cols,
            got: c.len(),
        });
    }
    Ok(())
}

/// `c = alpha * a * b + beta * c` where `c` is row-major `a.rows x b.cols`
/// (its first `a.rows * b.cols` values). With `beta == 0`, `c` is only
/// written.
///
/// ```
/// use dense::{MatRef, matmul};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let mut c = [0.0f32; 4];
/// // a * a^T
/// matmul(1.0, MatRef::row_major(&a, 2, 2), MatRef::row_major(&a, 2, 2).t(), 0.0, &mut c)?;
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]);
/// # Ok::<(), dense::DenseError>(())
/// ```
///
/// # Errors
/// [`DenseError::Length`] when the inner dimensions differ or `c` is too
/// small, [`DenseError::ViewOutOfBounds`] when a view reaches past its
/// slice.
pub fn matmul(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) -> Result<()> {
    check(&a, &b, c)?;
    run(alpha, a, b, beta, c);
    Ok(())
}

/// [`matmul`] for shapes the engine has already checked.
///
/// # Panics
/// When the shapes disagree (an internal invariant of the engine, never a
/// consequence of user input).
pub(crate) fn gemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    if let Err(e) = check(&a, &b, c) {
        panic!("{e}");
    }
    run(alpha, a, b, beta, c);
}

fn run(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the views were checked to lie inside their slices, `c` holds at
    // least m * n elements written with row stride n, and `c` cannot alias
    // `a` or `b` (it is borrowed mutably). `gemm` computes
    // `dst = alpha * dst + beta * lhs * rhs`, reading `dst` only when asked.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            beta != 0.0,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_naive_product_with_transposes() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.3).sin()).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.7).cos()).collect();
        let mut c = vec![1.0; m * n];
        gemm(
            2.0,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&bt, n, k).t(),
            0.5,
            &mut c,
        );
        for i in 0..m {
            for j in 0..n {
                let s: f32 = (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum();
                assert!((c[i * n + j] - (2.0 * s + 0.5)).abs() < 1e-5);
            }
        }
    }
}
