//! Orthogonal initialisation from a seeded generator.

use rand::Rng;
use rand_distr::StandardNormal;

/// A `rows x cols` row-major matrix with orthonormal rows (when
/// `rows <= cols`) or orthonormal columns (otherwise), times `gain`.
///
/// Follows PyTorch's `nn.init.orthogonal_`: draw a standard normal matrix,
/// orthonormalise the longer side (QR with a positive diagonal of R, here by
/// Gram-Schmidt with re-orthogonalisation in `f64`), scale by `gain`. The
/// draws come from `rng`, so a seeded generator gives the same matrix on
/// every run.
pub fn orthogonal<R: Rng + ?Sized>(rows: usize, cols: usize, gain: f32, rng: &mut R) -> Vec<f32> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    // Work on a tall matrix `p x q` (p >= q) stored column by column.
    let (p, q) = if rows >= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let mut columns: Vec<Vec<f64>> = (0..q)
        .map(|_| {
            (0..p)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect();
    for j in 0..q {
        let (done, rest) = columns.split_at_mut(j);
        let v = &mut rest[0];
        // Two passes of modified Gram-Schmidt keep orthogonality at f64 precision.
        for _ in 0..2 {
            for u in done.iter() {
                let proj: f64 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
                for (vi, ui) in v.iter_mut().zip(u) {
                    *vi -= proj * ui;
                }
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        // A Gaussian column lies in the span of the previous ones with
        // probability zero; guard the division anyway.
        let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        v.iter_mut().for_each(|x| *x *= inv);
    }
    let mut out = vec![0.0f32; rows * cols];
    for (j, col) in columns.iter().enumerate() {
        for (i, &x) in col.iter().enumerate() {
            let value = (x * gain as f64) as f32;
            if rows >= cols {
                out[i * cols + j] = value;
            } else {
                out[j * cols + i] = value;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn gram(w: &[f32], rows: usize, cols: usize, by_rows: bool) -> Vec<f64> {
        let n = if by_rows { rows } else { cols };
        let at = |a: usize, i: usize| {
            if by_rows {
                w[a * cols + i] as f64
            } else {
                w[i * cols + a] as f64
            }
        };
        let len = if by_rows { cols } else { rows };
        let mut g = vec![0.0; n * n];
        for a in 0..n {
            for b in 0..n {
                g[a * n + b] = (0..len).map(|i| at(a, i) * at(b, i)).sum();
            }
        }
        g
    }

    #[test]
    fn rows_or_columns_are_orthonormal_times_gain() {
        let mut rng = StdRng::seed_from_u64(3);
        for &(rows, cols, gain) in &[
            (128, 4, 2f32.sqrt()),
            (2, 128, 0.01),
            (1, 128, 1.0),
            (64, 64, 1.5),
        ] {
            let w = orthogonal(rows, cols, gain, &mut rng);
            let by_rows = rows <= cols;
            let g = gram(&w, rows, cols, by_rows);
            let n = rows.min(cols);
            for a in 0..n {
                for b in 0..n {
                    let expect = if a == b { (gain * gain) as f64 } else { 0.0 };
                    assert!(
                        (g[a * n + b] - expect).abs() < 1e-5,
                        "{rows}x{cols} ({a},{b}) {}",
                        g[a * n + b]
                    );
                }
            }
        }
    }

    #[test]
    fn same_seed_same_matrix() {
        let a = orthogonal(8, 5, 1.0, &mut StdRng::seed_from_u64(9));
        let b = orthogonal(8, 5, 1.0, &mut StdRng::seed_from_u64(9));
        let c = orthogonal(8, 5, 1.0, &mut StdRng::seed_from_u64(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
