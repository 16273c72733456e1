//! Distribution-shift statistics between two samples of one feature (or of
//! one detector's scores): how far apart are the two empirical
//! distributions?

use crate::MetricsError;
use crate::sweep::{score, sorted_sample};

/// Walks the union of two ascending key runs, calling `visit(value, i, j)`
/// at each distinct value with `i` and `j` the counts of `a` and `b` that
/// are `<= value`.
fn walk_union(a: &[u64], b: &[u64], mut visit: impl FnMut(u64, usize, usize)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        visit(v, i, j);
    }
}

/// The two-sample Kolmogorov-Smirnov statistic `D = max_x |F_a(x) - F_b(x)|`
/// over the empirical distribution functions, as
/// `scipy.stats.ks_2samp(a, b).statistic` (two-sided). 0 for identical
/// samples, 1 for samples that do not overlap.
///
/// Errors: [`MetricsError::EmptyInput`] when `a` or `b` is empty,
/// [`MetricsError::NonFiniteScore`] for a NaN or infinite value.
///
/// ```
/// assert_eq!(metrics::ks_statistic(&[1.0, 2.0, 3.0], &[4.0, 5.0])?, 1.0);
/// assert_eq!(metrics::ks_statistic(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0])?, 0.5);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Result<f64, MetricsError> {
    let a = sorted_sample("a", a)?;
    let b = sorted_sample("b", b)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut d: f64 = 0.0;
    walk_union(&a, &b, |_, i, j| {
        d = d.max((i as f64 / na - j as f64 / nb).abs());
    });
    Ok(d)
}

/// The first Wasserstein (earth mover's) distance between the empirical
/// distributions of `a` and `b` with equal weights, `∫ |F_a(x) - F_b(x)| dx`,
/// as `scipy.stats.wasserstein_distance(a, b)`. In the units of the values.
///
/// Errors: [`MetricsError::EmptyInput`] when `a` or `b` is empty,
/// [`MetricsError::NonFiniteScore`] for a NaN or infinite value.
///
/// ```
/// let w = metrics::wasserstein_distance(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0])?;
/// assert!((w - 5.0).abs() < 1e-12); // every value moves by 5
/// assert_eq!(metrics::wasserstein_distance(&[0.0], &[0.0, 1.0])?, 0.5);
/// # Ok::<(), metrics::MetricsError>(())
/// ```
pub fn wasserstein_distance(a: &[f64], b: &[f64]) -> Result<f64, MetricsError> {
    let a = sorted_sample("a", a)?;
    let b = sorted_sample("b", b)?;
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let mut total = 0.0;
    let mut previous: Option<(f64, f64)> = None;
    walk_union(&a, &b, |v, i, j| {
        let x = score(v);
        if let Some((x_prev, gap)) = previous {
            total += gap * (x - x_prev);
        }
        previous = Some((x, (i as f64 / na - j as f64 / nb).abs()));
    });
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_zero_shift() {
        let a = [0.3, -1.0, 2.5, 2.5, 0.0];
        assert_eq!(ks_statistic(&a, &a).unwrap(), 0.0);
        assert_eq!(wasserstein_distance(&a, &a).unwrap(), 0.0);
    }

    #[test]
    fn shift_by_a_constant_moves_wasserstein_by_it() {
        let a = [0.25, 0.5, 1.0, 2.0];
        let b: Vec<f64> = a.iter().map(|x| x + 3.0).collect();
        assert_eq!(wasserstein_distance(&a, &b).unwrap(), 3.0);
        assert_eq!(ks_statistic(&a, &b).unwrap(), 1.0);
    }

    #[test]
    fn errors_name_the_sample() {
        assert_eq!(
            ks_statistic(&[], &[1.0]),
            Err(MetricsError::EmptyInput { what: "a" })
        );
        assert_eq!(
            wasserstein_distance(&[1.0], &[]),
            Err(MetricsError::EmptyInput { what: "b" })
        );
        assert!(matches!(
            ks_statistic(&[1.0], &[2.0, f64::INFINITY]),
            Err(MetricsError::NonFiniteScore {
                what: "b",
                index: 1,
                ..
            })
        ));
    }
}
