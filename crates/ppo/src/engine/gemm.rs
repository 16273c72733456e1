//! A safe wrapper over `matrixmultiply::sgemm` for the three products a
//! dense layer needs.

/// A read-only matrix view: `rows x cols` elements of `data` at
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
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

/// `c = alpha * a * b + beta * c` where `c` is row-major `a.rows x b.cols`.
///
/// # Panics
/// When the shapes disagree or a view reaches past its slice (an internal
/// invariant of the engine, never a consequence of user input).
pub(crate) fn gemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(a.fits() && b.fits(), "matrix view out of bounds");
    assert!(c.len() >= m * n, "output too small");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the views were checked to lie inside their slices, `c` holds at
    // least m * n elements written with row stride n, and `c` cannot alias
    // `a` or `b` (it is borrowed mutably).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
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
