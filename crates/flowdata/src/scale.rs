//! Feature scaling fitted on training rows, persisted as JSON `Bounds`.

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{FlowDataError, Result};
use crate::schema::{FeatureKind, Schema};

/// How continuous features are scaled. Flags and categorical features are
/// passed through unchanged whatever the method.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum ScalingMethod {
    /// `(clamp(x, min, max) - min) / (max - min)`, 0 for a constant feature.
    MinMax,
    /// `(clamp(x, min, max) - mean) / std`, 0 for a constant feature.
    Standard,
    /// The reference anomaly pipeline's robust min-max:
    /// `(clip(log1p(max(x, 0)), 0, hi) - 0) / hi` with `hi` the given
    /// quantile of `log1p(max(x, 0))` on the training rows; 0 when `hi < 1e-9`.
    Log1pQuantile {
        /// The upper quantile, 0.999 in the reference pipeline.
        quantile: f64,
    },
}

impl Default for ScalingMethod {
    /// `Log1pQuantile { quantile: 0.999 }`: robust to the heavy tails of
    /// byte and time counters.
    fn default() -> Self {
        ScalingMethod::Log1pQuantile { quantile: 0.999 }
    }
}

/// The fitted parameters of one feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureBounds {
    /// Feature name.
    pub name: String,
    /// False for flags and categorical features, which pass through.
    pub scaled: bool,
    /// Lower end of the fitted range (raw units; log units for `Log1pQuantile`).
    pub lo: f32,
    /// Upper end of the fitted range (raw units; log units for `Log1pQuantile`).
    pub hi: f32,
    /// Mean of the training values (used by `Standard`).
    pub mean: f32,
    /// Standard deviation of the training values (used by `Standard`).
    pub std: f32,
    /// The range the training values spanned, `(min, max)` in raw units,
    /// for continuous features and flags (a categorical feature is a
    /// category, not a magnitude: `None`). A value outside it lies outside
    /// the training range even where scaling records no distance: a flag,
    /// which passes through unscaled; a raw value below 0 under log1p
    /// scaling, which maps every negative to 0. Absent from bounds fitted
    /// before it was recorded, which check neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<(f32, f32)>,
}

/// Per-feature scaling parameters, fitted on the training split only and
/// saved beside the schema so that training and inference transform alike.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// The method.
    pub method: ScalingMethod,
    /// One entry per feature, in matrix column order.
    pub features: Vec<FeatureBounds>,
    /// Number of training rows the bounds were fitted on.
    pub fitted_rows: usize,
}

/// A transformed matrix and the values that fell outside the fitted range.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaled {
    /// The scaled matrix.
    pub data: Array2<f32>,
    /// Number of values clamped to the fitted range (all features).
    pub clamped: usize,
    /// Which values were clamped, and by how much.
    pub out_of_range: OutOfRange,
}

/// One value outside the fitted range: how far beyond it the unclamped
/// value lay (positive above the range, negative below). In
/// [`OutOfRange::excess`], in scaled units: adding `amount` to the scaled
/// value gives the value scaling would have produced without the clamp.
/// In [`OutOfRange::beyond_seen`], in widths of the range the training
/// values spanned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Excess {
    /// Row of the matrix.
    pub row: u32,
    /// Feature (column).
    pub feature: u32,
    /// Distance beyond the range.
    pub amount: f32,
}

/// The values of a matrix that fell outside the training range: counts per
/// feature and the distance of each beyond the range. Clamping keeps the
/// models' inputs where they were trained; this keeps the evidence of
/// novelty that clamping erases.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutOfRange {
    /// Rows of the matrix.
    pub rows: usize,
    /// Features checked against the training range per row: the scaled
    /// (continuous) features, and the flags whose training range the
    /// bounds know ([`FeatureBounds::seen`]). Categorical features (the
    /// destination port) are categories, not magnitudes: never checked.
    pub scaled_features: usize,
    /// Clamped values per feature (raw values below 0 count under log1p
    /// scaling, which takes log1p of `max(x, 0)`, at distance 0 in
    /// [`Self::excess`]).
    pub per_feature: Vec<usize>,
    /// Every clamped value, by row then feature.
    pub excess: Vec<Excess>,
    /// Values outside the training range whose scaled value carries no
    /// distance, by row then feature: flags beyond the values seen in
    /// training (they pass through unscaled), raw values below the
    /// smallest training value under log1p scaling (a negative maps to 0),
    /// and values of a feature constant in training that differ from it
    /// (it scales to 0). `amount` is the distance beyond the range the
    /// training values spanned, in widths of that range (at least 1 raw
    /// unit; under log1p scaling, in the widths of the fitted log range,
    /// the logarithm taken of `-x` for a negative `x`).
    pub beyond_seen: Vec<Excess>,
}

/// One row's values outside the training range: how many features, and
/// the one farthest out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RowOutOfRange {
    /// Features of the row outside the training range.
    pub features: usize,
    /// The farthest: its feature and distance (row as in the matrix).
    /// Distances compare in widths of the training range (standard
    /// deviations under standard scaling).
    pub worst: Option<Excess>,
}

impl OutOfRange {
    /// Number of clamped values.
    pub fn clamped(&self) -> usize {
        self.per_feature.iter().sum()
    }

    /// The values that lay outside the training range, by row then
    /// feature: the clamped values beyond the range (a non-zero distance)
    /// and [`Self::beyond_seen`]. The negative raw values log1p scaling
    /// maps to 0 that training also held (CIC-IDS2017's sentinel `-1`: no
    /// TCP window) are not outside.
    pub fn outside(&self) -> impl Iterator<Item = &Excess> {
        let mut a = self.excess.iter().filter(|e| e.amount != 0.0).peekable();
        let mut b = self.beyond_seen.iter().peekable();
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if (y.row, y.feature) < (x.row, x.feature) => b.next(),
            (Some(_), _) => a.next(),
            (None, _) => b.next(),
        })
    }

    /// Values per feature that lay outside the training range
    /// ([`Self::outside`]).
    pub fn beyond_per_feature(&self) -> Vec<usize> {
        let mut n = vec![0usize; self.per_feature.len()];
        for e in self.outside() {
            if let Some(c) = n.get_mut(e.feature as usize) {
                *c += 1;
            }
        }
        n
    }

    /// Share of the checked values that lay outside the training range
    /// ([`Self::outside`] over rows x [`Self::scaled_features`]; 0 for no
    /// rows).
    pub fn share(&self) -> f64 {
        let n = self.rows * self.scaled_features;
        if n == 0 {
            0.0
        } else {
            self.outside().count() as f64 / n as f64
        }
    }

    /// Per row: how many of its features lay outside the training range,
    /// and the one farthest out (largest distance, the first on ties), so
    /// that a scored flow can say it lies outside what the model has seen.
    ///
    /// ```
    /// use flowdata::{Excess, OutOfRange};
    /// let o = OutOfRange {
    ///     rows: 3,
    ///     scaled_features: 2,
    ///     per_feature: vec![1, 0],
    ///     excess: vec![Excess { row: 1, feature: 0, amount: 0.5 }],
    ///     beyond_seen: vec![Excess { row: 1, feature: 1, amount: -3.0 }],
    /// };
    /// let rows = o.per_row();
    /// assert_eq!((rows[0].features, rows[1].features), (0, 2));
    /// assert_eq!(rows[1].worst.unwrap().feature, 1);
    /// ```
    pub fn per_row(&self) -> Vec<RowOutOfRange> {
        let mut out = vec![RowOutOfRange::default(); self.rows];
        for e in self.outside() {
            if let Some(r) = out.get_mut(e.row as usize) {
                r.features += 1;
                if r.worst.is_none_or(|w| e.amount.abs() > w.amount.abs()) {
                    r.worst = Some(*e);
                }
            }
        }
        out
    }

    /// The entries of the consecutive rows `range`, renumbered from 0: the
    /// record of a block of rows scored on its own.
    ///
    /// ```
    /// use flowdata::{Excess, OutOfRange};
    /// let all = OutOfRange {
    ///     rows: 4,
    ///     scaled_features: 2,
    ///     per_feature: vec![2, 1],
    ///     excess: vec![
    ///         Excess { row: 0, feature: 0, amount: 1.0 },
    ///         Excess { row: 2, feature: 0, amount: 0.5 },
    ///         Excess { row: 3, feature: 1, amount: -2.0 },
    ///     ],
    ///     beyond_seen: vec![Excess { row: 3, feature: 0, amount: 7.0 }],
    /// };
    /// let block = all.rows(2..4);
    /// assert_eq!((block.rows, block.per_feature.clone()), (2, vec![1, 1]));
    /// assert_eq!(block.excess[1], Excess { row: 1, feature: 1, amount: -2.0 });
    /// assert_eq!(block.beyond_seen[0].row, 1);
    /// ```
    pub fn rows(&self, range: std::ops::Range<usize>) -> OutOfRange {
        let end = range.end.min(self.rows);
        let start = range.start.min(end);
        // Entries are in row order.
        let slice = |list: &[Excess]| -> Vec<Excess> {
            let lo = list.partition_point(|e| (e.row as usize) < start);
            let hi = list.partition_point(|e| (e.row as usize) < end);
            list[lo..hi]
                .iter()
                .map(|e| Excess {
                    row: e.row - start as u32,
                    ..*e
                })
                .collect()
        };
        let excess = slice(&self.excess);
        let mut per_feature = vec![0usize; self.per_feature.len()];
        for e in &excess {
            if let Some(n) = per_feature.get_mut(e.feature as usize) {
                *n += 1;
            }
        }
        OutOfRange {
            rows: end - start,
            scaled_features: self.scaled_features,
            per_feature,
            excess,
            beyond_seen: slice(&self.beyond_seen),
        }
    }

    /// The entries of `rows` (indices into this matrix, ascending or not),
    /// renumbered as rows `0..rows.len()` of the selection.
    pub fn select(&self, rows: &[usize]) -> OutOfRange {
        let mut new_index = vec![u32::MAX; self.rows];
        for (i, &r) in rows.iter().enumerate() {
            if let Some(slot) = new_index.get_mut(r) {
                *slot = i as u32;
            }
        }
        let pick = |list: &[Excess]| -> Vec<Excess> {
            let mut picked: Vec<Excess> = list
                .iter()
                .filter_map(|e| {
                    let row = *new_index.get(e.row as usize)?;
                    (row != u32::MAX).then_some(Excess { row, ..*e })
                })
                .collect();
            picked.sort_by_key(|e| (e.row, e.feature));
            picked
        };
        let excess = pick(&self.excess);
        let mut per_feature = vec![0usize; self.per_feature.len()];
        for e in &excess {
            if let Some(n) = per_feature.get_mut(e.feature as usize) {
                *n += 1;
            }
        }
        OutOfRange {
            rows: rows.len(),
            scaled_features: self.scaled_features,
            per_feature,
            excess,
            beyond_seen: pick(&self.beyond_seen),
        }
    }

    /// The unclamped scaled values: `scaled` (this matrix after clamping)
    /// with each clamped value's distance beyond the range added back
    /// ([`Self::beyond_seen`] holds no clamped value).
    pub fn unclamp(&self, mut scaled: ArrayViewMut2<'_, f32>) {
        for e in &self.excess {
            if let Some(v) = scaled.get_mut((e.row as usize, e.feature as usize)) {
                *v += e.amount;
            }
        }
    }
}

/// `log1p(max(x, 0))` of every value in place, eight lanes at a time: the
/// log1p scaling's transform, the one definition both fitting and scaling
/// use. `ln(1 + x)` with the rounding of `1 + x` corrected,
/// `(x - ((1 + x) - 1)) / (1 + x)`, as in Goldberg's log1p; `wide`'s `ln`
/// is within about an ulp of the true logarithm, as libm's is.
pub(crate) fn log1p_nonnegative(values: &mut [f32]) {
    use wide::f32x8;
    let lanes = |v: f32x8| -> f32x8 {
        let x = v.max(f32x8::ZERO);
        let u = x + f32x8::ONE;
        let corrected = u.ln() + (x - (u - f32x8::ONE)) / u;
        // Infinity: ln gives it, the correction would give NaN.
        u.is_inf().blend(u, corrected)
    };
    let mut chunks = values.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = f32x8::from(<[f32; 8]>::try_from(&*c).unwrap_or([0.0; 8]));
        c.copy_from_slice(&lanes(v).to_array());
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let mut pad = [0.0f32; 8];
        pad[..rest.len()].copy_from_slice(rest);
        let out = lanes(f32x8::from(pad)).to_array();
        rest.copy_from_slice(&out[..rest.len()]);
    }
}

const CONSTANT_EPS: f32 = 1e-9;

/// `f32::clamp` without its panic on bounds given in the wrong order (as
/// hand-edited bounds might be): NaN passes through, as there.
#[inline]
fn clamp(u: f32, lo: f32, hi: f32) -> f32 {
    let c = if u < lo { lo } else { u };
    if c > hi { hi } else { c }
}

#[derive(Clone, Copy)]
struct Affine {
    scaled: bool,
    lo: f32,
    hi: f32,
    scale: f32,
    offset: f32,
    /// A flag whose training range is known: checked against it.
    flag_seen: bool,
    /// The range the training values spanned (raw units).
    seen: (f32, f32),
    /// Under log1p scaling, the raw value below which a value of a scaled
    /// feature lies outside the training range (`-inf`: not checked).
    negative_floor: f32,
}

/// `sign(x) * log1p(|x|)`: log1p scaling's logarithm carried on below 0,
/// to measure how far a negative value lies.
fn signed_log1p(x: f32) -> f32 {
    x.abs().ln_1p().copysign(x)
}

impl Bounds {
    /// Fit on a training matrix whose columns follow `schema`.
    ///
    /// ```
    /// use flowdata::{Bounds, Schema, ScalingMethod};
    /// let schema = Schema::cicids2017().retain_features(&["Flow Duration"]);
    /// let train = ndarray::array![[0.0f32], [10.0]];
    /// let b = Bounds::fit(&schema, train.view(), ScalingMethod::MinMax).unwrap();
    /// let s = b.transform(ndarray::array![[5.0f32], [20.0]].view()).unwrap();
    /// assert_eq!(s.data, ndarray::array![[0.5f32], [1.0]]);
    /// assert_eq!(s.clamped, 1);
    /// ```
    pub fn fit(
        schema: &Schema,
        train: ArrayView2<'_, f32>,
        method: ScalingMethod,
    ) -> Result<Bounds> {
        if train.ncols() != schema.n_features() {
            return Err(FlowDataError::Shape(format!(
                "training matrix has {} columns, schema '{}' has {}",
                train.ncols(),
                schema.name,
                schema.n_features()
            )));
        }
        if train.nrows() == 0 {
            return Err(FlowDataError::config(
                "training rows",
                "cannot fit bounds on 0 rows",
            ));
        }
        if let ScalingMethod::Log1pQuantile { quantile } = method
            && !(quantile > 0.0 && quantile <= 1.0)
        {
            return Err(FlowDataError::config(
                "quantile",
                format!("must lie in (0, 1], got {quantile}"),
            ));
        }
        let features = fit_columns(schema, train, method)?;
        Ok(Bounds {
            method,
            features,
            fitted_rows: train.nrows(),
        })
    }

    /// Feature names in column order.
    pub fn feature_names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// Scale a copy of a matrix (row-major), clamping values outside the
    /// fitted range and counting them; the rows are copied and scaled
    /// block by block in parallel.
    pub fn transform(&self, x: ArrayView2<'_, f32>) -> Result<Scaled> {
        let mut data = Array2::zeros(x.raw_dim());
        let out_of_range = self.scale_blocks(data.view_mut(), Some(x))?;
        Ok(Scaled {
            data,
            clamped: out_of_range.clamped(),
            out_of_range,
        })
    }

    /// Scale a matrix in place; returns what fell outside the fitted range.
    pub fn transform_inplace(&self, x: ArrayViewMut2<'_, f32>) -> Result<OutOfRange> {
        self.scale_blocks(x, None)
    }

    /// Scale `x` in place, or, with `source` (of `x`'s shape, as both
    /// callers make it), write `source` scaled into `x`.
    fn scale_blocks(
        &self,
        mut x: ArrayViewMut2<'_, f32>,
        source: Option<ArrayView2<'_, f32>>,
    ) -> Result<OutOfRange> {
        if x.ncols() != self.features.len() {
            return Err(FlowDataError::Shape(format!(
                "matrix has {} columns, bounds were fitted on {}",
                x.ncols(),
                self.features.len()
            )));
        }
        let nf = self.features.len();
        // Per-feature constants as separate arrays so that the row loop
        // vectorises; unscaled features get the identity (x - 0) * 1 + -0.
        let plan: Vec<Affine> = self.features.iter().map(|f| self.affine(f)).collect();
        let pick = |f: fn(&Affine) -> f32, identity: f32| -> Vec<f32> {
            plan.iter()
                .map(|a| if a.scaled { f(a) } else { identity })
                .collect()
        };
        let lo = pick(|a| a.lo, f32::NEG_INFINITY);
        let hi = pick(|a| a.hi, f32::INFINITY);
        let shift = pick(|a| a.lo, 0.0);
        let scale = pick(|a| a.scale, 1.0);
        let offset = pick(|a| a.offset, -0.0);
        let counted: Vec<u32> = plan.iter().map(|a| u32::from(a.scaled)).collect();
        // The training range of the flags (the identity elsewhere), and
        // its width, at least 1.
        let flag = |f: fn(&Affine) -> f32, identity: f32| -> Vec<f32> {
            plan.iter()
                .map(|a| if a.flag_seen { f(a) } else { identity })
                .collect()
        };
        let seen_lo = flag(|a| a.seen.0, f32::NEG_INFINITY);
        let seen_hi = flag(|a| a.seen.1, f32::INFINITY);
        let seen_width = flag(|a| (a.seen.1 - a.seen.0).max(1.0), 1.0);
        let floor: Vec<f32> = plan.iter().map(|a| a.negative_floor).collect();
        let log = matches!(self.method, ScalingMethod::Log1pQuantile { .. });
        // Each clamped value's distance beyond the range, in scaled units;
        // each value beyond the range seen without one, in widths. Most
        // values lie inside: passes without branches (they vectorise) mark
        // the others and scale every value; only the marked ones are then
        // looked at one by one.
        let kernel = |row: &mut [f32],
                      logs: &mut [f32],
                      marks: &mut [u32],
                      counts: &mut [u32],
                      beyond: &mut Vec<(u32, f32)>,
                      seen: &mut Vec<(u32, f32)>| {
            let n = row.len();
            let (counted, lo, hi) = (&counted[..n], &lo[..n], &hi[..n]);
            let (shift, scale, offset) = (&shift[..n], &scale[..n], &offset[..n]);
            let (seen_lo, seen_hi, marks) = (&seen_lo[..n], &seen_hi[..n], &mut marks[..n]);
            // The value clamping and scaling start from: log1p(max(x, 0))
            // or the value itself.
            let logs = &mut logs[..n];
            logs.copy_from_slice(row);
            if log {
                log1p_nonnegative(logs);
            }
            let mut outside = 0u32;
            for j in 0..n {
                let (v, u) = (row[j], logs[j]);
                let c = clamp(u, lo[j], hi[j]);
                // Raw values below 0 count as clamped under log1p scaling.
                let clamped = (c != u) | (log & (v < 0.0));
                let mark = ((counted[j] == 1) & clamped) | (v < seen_lo[j]) | (v > seen_hi[j]);
                marks[j] = u32::from(mark);
                outside |= marks[j];
            }
            if outside != 0 {
                for j in (0..n).filter(|&j| marks[j] != 0) {
                    let (raw, u) = (row[j], logs[j]);
                    if counted[j] == 1 {
                        let c = clamp(u, lo[j], hi[j]);
                        if c != u || (log && raw < 0.0) {
                            counts[j] += 1;
                            beyond.push((j as u32, (u - c) * scale[j]));
                        }
                        if scale[j] == 0.0 && c != u {
                            seen.push((j as u32, u - c));
                        } else if raw < floor[j] {
                            let widths = if scale[j] == 0.0 { 1.0 } else { scale[j] };
                            let below = signed_log1p(raw) - signed_log1p(floor[j]);
                            seen.push((j as u32, below * widths));
                        }
                    } else {
                        let c = clamp(raw, seen_lo[j], seen_hi[j]);
                        seen.push((j as u32, (raw - c) / seen_width[j]));
                    }
                }
            }
            for j in 0..n {
                let t = (clamp(logs[j], lo[j], hi[j]) - shift[j]) * scale[j] + offset[j];
                row[j] = if counted[j] == 1 { t } else { row[j] };
            }
        };
        const CHUNK: usize = 4096;
        let rows = x.nrows();
        let scale_chunk = |(chunk_index, mut chunk): (usize, ArrayViewMut2<'_, f32>)| {
            if let Some(source) = source {
                let start = chunk_index * CHUNK;
                let end = start + chunk.nrows();
                chunk.assign(&source.slice(ndarray::s![start..end, ..]));
            }
            let mut counts = vec![0u32; nf];
            let (mut excess, mut beyond_seen) = (Vec::new(), Vec::new());
            let (mut beyond, mut seen) = (Vec::new(), Vec::new());
            let mut copy = vec![0f32; nf];
            let mut logs = vec![0f32; nf];
            let mut marks = vec![0u32; nf];
            for (i, mut row) in chunk.rows_mut().into_iter().enumerate() {
                if let Some(row) = row.as_slice_mut() {
                    kernel(
                        row,
                        &mut logs,
                        &mut marks,
                        &mut counts,
                        &mut beyond,
                        &mut seen,
                    );
                } else {
                    copy.iter_mut().zip(row.iter()).for_each(|(c, v)| *c = *v);
                    kernel(
                        &mut copy,
                        &mut logs,
                        &mut marks,
                        &mut counts,
                        &mut beyond,
                        &mut seen,
                    );
                    row.iter_mut().zip(&copy).for_each(|(v, c)| *v = *c);
                }
                let r = (chunk_index * CHUNK + i) as u32;
                let entry = |(feature, amount)| Excess {
                    row: r,
                    feature,
                    amount,
                };
                excess.extend(beyond.drain(..).map(entry));
                beyond_seen.extend(seen.drain(..).map(entry));
            }
            (counts, excess, beyond_seen)
        };
        // One chunk (one flow, a small batch) stays on the calling thread.
        type Chunk = (Vec<u32>, Vec<Excess>, Vec<Excess>);
        let chunks: Vec<Chunk> = if rows <= CHUNK {
            vec![scale_chunk((0, x.view_mut()))]
        } else {
            x.axis_chunks_iter_mut(Axis(0), CHUNK)
                .into_par_iter()
                .enumerate()
                .map(scale_chunk)
                .collect()
        };
        let mut per_feature = vec![0usize; nf];
        let (mut excess, mut beyond_seen) = (Vec::new(), Vec::new());
        for (counts, e, s) in chunks {
            per_feature
                .iter_mut()
                .zip(counts)
                .for_each(|(a, b)| *a += b as usize);
            excess.extend(e);
            beyond_seen.extend(s);
        }
        Ok(OutOfRange {
            rows,
            scaled_features: plan.iter().filter(|a| a.scaled || a.flag_seen).count(),
            per_feature,
            excess,
            beyond_seen,
        })
    }

    /// The per-feature affine map applied after clamping: `(c - lo) * scale + offset`.
    fn affine(&self, f: &FeatureBounds) -> Affine {
        let range = f.hi - f.lo;
        let (scale, offset) = match self.method {
            ScalingMethod::MinMax | ScalingMethod::Log1pQuantile { .. } => {
                if range < CONSTANT_EPS {
                    (0.0, 0.0)
                } else {
                    (1.0 / range, 0.0)
                }
            }
            ScalingMethod::Standard => {
                if f.std < CONSTANT_EPS {
                    (0.0, 0.0)
                } else {
                    (1.0 / f.std, (f.lo - f.mean) / f.std)
                }
            }
        };
        let log = matches!(self.method, ScalingMethod::Log1pQuantile { .. });
        let seen = f.seen;
        Affine {
            scaled: f.scaled,
            lo: f.lo,
            hi: f.hi,
            scale,
            offset,
            flag_seen: !f.scaled && seen.is_some(),
            seen: seen.unwrap_or((f32::NEG_INFINITY, f32::INFINITY)),
            negative_floor: match seen {
                Some((lo, _)) if log && f.scaled => lo.min(0.0),
                _ => f32::NEG_INFINITY,
            },
        }
    }

    /// Scale a frame's features in place; returns what fell outside the
    /// fitted range.
    pub fn transform_frame(&self, frame: &mut crate::FlowFrame) -> Result<OutOfRange> {
        self.transform_inplace(frame.features_mut())
    }

    /// Map scaled values back to raw units (exact inside the fitted range
    /// up to rounding; clamped values come back at the range's ends).
    pub fn inverse_transform(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.features.len() {
            return Err(FlowDataError::Shape(format!(
                "matrix has {} columns, bounds were fitted on {}",
                x.ncols(),
                self.features.len()
            )));
        }
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                let f = &self.features[j];
                if !f.scaled {
                    continue;
                }
                *v = match self.method {
                    ScalingMethod::MinMax => f.lo + *v * (f.hi - f.lo),
                    ScalingMethod::Standard => f.mean + *v * f.std,
                    ScalingMethod::Log1pQuantile { .. } => (f.lo + *v * (f.hi - f.lo)).exp_m1(),
                };
            }
        }
        Ok(out)
    }

    /// Write as pretty JSON, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io_util::write_json_atomic(path.as_ref(), self)
    }

    /// Read bounds written by [`Bounds::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Bounds> {
        let bounds: Bounds = crate::io_util::read_json(path.as_ref())?;
        for f in &bounds.features {
            if let Some((lo, hi)) = f.seen
                && !(lo.is_finite() && hi.is_finite() && lo <= hi)
            {
                return Err(FlowDataError::config(
                    "bounds",
                    format!(
                        "{}: feature '{}' has a training range ({lo}, {hi}) that is not a finite interval",
                        path.as_ref().display(),
                        f.name
                    ),
                ));
            }
            if f.lo.partial_cmp(&f.hi).is_none_or(|o| o.is_gt()) {
                return Err(FlowDataError::config(
                    "bounds",
                    format!(
                        "{}: feature '{}' has lo {} above hi {}",
                        path.as_ref().display(),
                        f.name,
                        f.lo,
                        f.hi
                    ),
                ));
            }
        }
        Ok(bounds)
    }
}

/// Running statistics of the columns of a block of rows, one array per
/// statistic so that the row loop vectorises.
#[derive(Clone)]
struct Acc {
    min: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f64>,
    sumsq: Vec<f64>,
    non_finite: Vec<u32>,
}

impl Acc {
    fn new(nf: usize) -> Acc {
        Acc {
            min: vec![f32::INFINITY; nf],
            max: vec![f32::NEG_INFINITY; nf],
            sum: vec![0.0; nf],
            sumsq: vec![0.0; nf],
            non_finite: vec![0; nf],
        }
    }

    fn add_row(&mut self, row: &[f32]) {
        let it = self
            .min
            .iter_mut()
            .zip(&mut self.max)
            .zip(&mut self.non_finite);
        for (((lo, hi), bad), &v) in it.zip(row) {
            *lo = lo.min(v);
            *hi = hi.max(v);
            *bad += u32::from(!v.is_finite());
        }
        for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.sumsq).zip(row) {
            *s += f64::from(v);
            *q += f64::from(v) * f64::from(v);
        }
    }

    fn merge(mut self, o: Acc) -> Acc {
        self.min
            .iter_mut()
            .zip(&o.min)
            .for_each(|(a, b)| *a = a.min(*b));
        self.max
            .iter_mut()
            .zip(&o.max)
            .for_each(|(a, b)| *a = a.max(*b));
        self.sum.iter_mut().zip(&o.sum).for_each(|(a, b)| *a += b);
        self.sumsq
            .iter_mut()
            .zip(&o.sumsq)
            .for_each(|(a, b)| *a += b);
        self.non_finite
            .iter_mut()
            .zip(&o.non_finite)
            .for_each(|(a, b)| *a += b);
        self
    }
}

/// Column statistics in one row-wise pass (cache-friendly on a row-major
/// matrix); quantiles from columns gathered a few at a time.
fn fit_columns(
    schema: &Schema,
    train: ArrayView2<'_, f32>,
    method: ScalingMethod,
) -> Result<Vec<FeatureBounds>> {
    let nf = train.ncols();
    let acc = train
        .axis_chunks_iter(Axis(0), 4096)
        .into_par_iter()
        .map(|chunk| {
            let mut acc = Acc::new(nf);
            let mut copy = vec![0f32; nf];
            for row in chunk.rows() {
                match row.as_slice() {
                    Some(r) => acc.add_row(r),
                    None => {
                        copy.iter_mut().zip(row.iter()).for_each(|(c, v)| *c = *v);
                        acc.add_row(&copy);
                    }
                }
            }
            acc
        })
        .reduce(|| Acc::new(nf), Acc::merge);
    let n = train.nrows() as f64;
    let mut out = Vec::with_capacity(nf);
    for (j, spec) in schema.features.iter().enumerate() {
        if acc.non_finite[j] > 0 {
            let v = train.column(j).iter().copied().find(|v| !v.is_finite());
            return Err(FlowDataError::config(
                "training matrix",
                format!(
                    "feature '{}' holds a non-finite value ({}); clean before fitting",
                    spec.name,
                    v.unwrap_or(f32::NAN)
                ),
            ));
        }
        let mean = acc.sum[j] / n;
        let var = (acc.sumsq[j] / n - mean * mean).max(0.0);
        out.push(FeatureBounds {
            name: spec.name.clone(),
            scaled: spec.kind == FeatureKind::Continuous,
            lo: acc.min[j],
            hi: acc.max[j],
            mean: mean as f32,
            std: var.sqrt() as f32,
            seen: (spec.kind != FeatureKind::Categorical).then_some((acc.min[j], acc.max[j])),
        });
    }
    if let ScalingMethod::Log1pQuantile { quantile } = method {
        const GROUP: usize = 8;
        for start in (0..nf).step_by(GROUP) {
            let cols: Vec<usize> = (start..(start + GROUP).min(nf)).collect();
            let mut gathered: Vec<Vec<f32>> = cols
                .iter()
                .map(|_| Vec::with_capacity(train.nrows()))
                .collect();
            for row in train.rows() {
                for (g, &j) in gathered.iter_mut().zip(&cols) {
                    g.push(row[j]);
                }
            }
            let his: Vec<f32> = gathered
                .into_par_iter()
                .map(|mut g| {
                    log1p_nonnegative(&mut g);
                    quantile_in_place(&mut g, quantile)
                })
                .collect();
            for (&j, hi) in cols.iter().zip(his) {
                out[j].lo = 0.0;
                out[j].hi = hi;
            }
        }
    }
    Ok(out)
}

/// The `q` quantile with linear interpolation between order statistics
/// (numpy's default), reordering `values`.
pub(crate) fn quantile_in_place(values: &mut [f32], q: f64) -> f32 {
    let n = values.len();
    let pos = q * (n - 1) as f64;
    let k = pos.floor() as usize;
    let frac = (pos - k as f64) as f32;
    let (_, &mut lo, upper) = values.select_nth_unstable_by(k, f32::total_cmp);
    if frac == 0.0 || upper.is_empty() {
        return lo;
    }
    let hi = upper.iter().copied().fold(f32::INFINITY, f32::min);
    lo + frac * (hi - lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    fn schema2() -> Schema {
        Schema::cicids2017().retain_features(&["Flow Duration", "FIN Flag Count"])
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        // numpy.quantile([1,2,3,4], 0.999) = 3.997
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert!((quantile_in_place(&mut v, 0.999) - 3.997).abs() < 1e-5);
        let mut v = vec![5.0, 1.0, 3.0];
        assert_eq!(quantile_in_place(&mut v, 0.5), 3.0);
    }

    #[test]
    fn log1p_lanes_agree_with_libm() {
        let mut raw: Vec<f32> = vec![0.0, 1e-30, 1e-8, 1e-4, 0.5, 1.0, 3.0, 1e3, 65_535.0];
        raw.extend((0..2000).map(|i| (i as f32 * 0.37).exp_m1()));
        raw.extend([f32::MAX, f32::INFINITY, -1.0, -0.0, f32::NEG_INFINITY]);
        let mut got = raw.clone();
        log1p_nonnegative(&mut got);
        for (&x, &g) in raw.iter().zip(&got) {
            let want = x.max(0.0).ln_1p();
            if want.is_infinite() {
                assert_eq!(g, want, "log1p({x})");
            } else {
                let ulps = (g.to_bits() as i64 - want.to_bits() as i64).abs();
                assert!(ulps <= 2, "log1p({x}) = {g}, libm {want}: {ulps} ulps");
            }
        }
        // Every length, so that the tail handling is exercised.
        for n in 0..20 {
            let mut v: Vec<f32> = (0..n).map(|i| i as f32).collect();
            log1p_nonnegative(&mut v);
            for (i, g) in v.iter().enumerate() {
                assert!(
                    (g - (i as f32).ln_1p()).abs() <= 1e-6 * (1.0 + g),
                    "{n} {i}"
                );
            }
        }
    }

    #[test]
    fn log1p_quantile_is_the_reference_transform() {
        let train = array![
            [0.0f32, 1.0],
            [(1.0f32).exp_m1(), 0.0],
            [(2.0f32).exp_m1(), 1.0]
        ];
        let b = Bounds::fit(
            &schema2(),
            train.view(),
            ScalingMethod::Log1pQuantile { quantile: 1.0 },
        )
        .unwrap();
        assert!((b.features[0].hi - 2.0).abs() < 1e-6);
        assert!(!b.features[1].scaled);
        let s = b
            .transform(array![[(1.0f32).exp_m1(), 7.0], [-3.0, 0.0], [1e9, 1.0]].view())
            .unwrap();
        assert!((s.data[[0, 0]] - 0.5).abs() < 1e-6);
        assert_eq!(s.data[[0, 1]], 7.0, "flags pass through");
        assert_eq!(s.data[[1, 0]], 0.0);
        assert_eq!(s.data[[2, 0]], 1.0);
        assert_eq!(s.out_of_range.per_feature, vec![2, 0]);
        // The negative value lies below every training value, the flag 7
        // above its training range 0..1: both outside, neither clamped.
        assert_eq!(s.out_of_range.beyond_per_feature(), vec![2, 1]);
        let seen: Vec<(u32, u32)> = s
            .out_of_range
            .beyond_seen
            .iter()
            .map(|e| (e.row, e.feature))
            .collect();
        assert_eq!(seen, vec![(0, 1), (1, 0)]);
        // -3 lies log1p(3) below 0, in widths of the fitted log range (2).
        let below = s.out_of_range.beyond_seen[1].amount;
        assert!((below + 3f32.ln_1p() / 2.0).abs() < 1e-6, "{below}");
        assert_eq!(s.out_of_range.beyond_seen[0].amount, 6.0);
    }

    #[test]
    fn out_of_range_keeps_how_far_each_clamped_value_lay() {
        let train = array![[0.0f32, 0.0], [10.0, 1.0]];
        let b = Bounds::fit(&schema2(), train.view(), ScalingMethod::MinMax).unwrap();
        let raw = array![[5.0f32, 1.0], [25.0, 0.0], [-5.0, 1.0], [10.0, 0.0]];
        let s = b.transform(raw.view()).unwrap();
        let o = &s.out_of_range;
        // The flag is checked against its training range too.
        assert_eq!((o.rows, o.scaled_features, o.clamped()), (4, 2, 2));
        assert!((o.share() - 0.25).abs() < 1e-12);
        assert_eq!(o.beyond_per_feature(), vec![2, 0]);
        let got: Vec<(u32, u32, f32)> = o
            .excess
            .iter()
            .map(|e| (e.row, e.feature, e.amount))
            .collect();
        assert_eq!(got, vec![(1, 0, 1.5), (2, 0, -0.5)]);
        // Adding the distances back gives the unclamped scaling.
        let mut u = s.data.clone();
        o.unclamp(u.view_mut());
        assert_eq!(u.column(0).to_vec(), vec![0.5, 2.5, -0.5, 1.0]);
        // A selection renumbers its rows and counts only its own values.
        let sel = o.select(&[2, 0]);
        assert_eq!((sel.rows, sel.clamped()), (2, 1));
        assert_eq!((sel.excess[0].row, sel.excess[0].amount), (0, -0.5));
        // Row order across the parallel chunks is kept on a large matrix.
        let big =
            Array2::from_shape_fn(
                (10_000, 2),
                |(i, j)| if j == 0 && i % 997 == 0 { 20.0 } else { 1.0 },
            );
        let o = b.transform(big.view()).unwrap().out_of_range;
        let rows: Vec<u32> = o.excess.iter().map(|e| e.row).collect();
        assert_eq!(
            rows,
            (0..10_000)
                .step_by(997)
                .map(|r| r as u32)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn constant_features_scale_to_zero_and_non_finite_is_refused() {
        let train = array![[3.0f32, 0.0], [3.0, 0.0]];
        for m in [ScalingMethod::MinMax, ScalingMethod::Standard] {
            let b = Bounds::fit(&schema2(), train.view(), m).unwrap();
            let s = b.transform(array![[3.0f32, 0.0]].view()).unwrap();
            assert_eq!(s.data[[0, 0]], 0.0, "{m:?}");
        }
        // The reference transform's lower end is 0, so a constant positive
        // feature maps to 1 and a constant zero feature to 0.
        let b = Bounds::fit(&schema2(), train.view(), ScalingMethod::default()).unwrap();
        let s = b.transform(array![[3.0f32, 0.0]].view()).unwrap();
        assert_eq!(s.data[[0, 0]], 1.0);
        let zeros = array![[0.0f32, 0.0], [0.0, 0.0]];
        let b = Bounds::fit(&schema2(), zeros.view(), ScalingMethod::default()).unwrap();
        assert_eq!(
            b.transform(array![[5.0f32, 0.0]].view()).unwrap().data[[0, 0]],
            0.0
        );
        let bad = array![[f32::INFINITY, 0.0]];
        assert!(Bounds::fit(&schema2(), bad.view(), ScalingMethod::MinMax).is_err());
        let b = Bounds::fit(&schema2(), train.view(), ScalingMethod::MinMax).unwrap();
        assert!(b.transform(array![[1.0f32]].view()).is_err());
    }

    #[test]
    fn json_round_trip_is_exact() {
        let train = array![[0.1f32, 0.0], [123.456, 1.0], [7.7, 0.0]];
        let dir = tempfile::tempdir().unwrap();
        for m in [
            ScalingMethod::MinMax,
            ScalingMethod::Standard,
            ScalingMethod::default(),
        ] {
            let b = Bounds::fit(&schema2(), train.view(), m).unwrap();
            let p = dir.path().join("bounds.json");
            b.save(&p).unwrap();
            assert_eq!(Bounds::load(&p).unwrap(), b);
        }
    }

    proptest! {
        #[test]
        fn scaled_values_stay_in_range_and_invert(
            rows in proptest::collection::vec((-1e6f32..1e6, 0f32..1e7), 2..40),
            probe in proptest::collection::vec((-2e6f32..2e6, -1e7f32..2e7), 1..20),
        ) {
            let schema = Schema::cicids2017().retain_features(&["Flow IAT Min", "Flow Duration"]);
            let train = Array2::from_shape_fn((rows.len(), 2), |(i, j)| if j == 0 { rows[i].0 } else { rows[i].1 });
            let test = Array2::from_shape_fn((probe.len(), 2), |(i, j)| if j == 0 { probe[i].0 } else { probe[i].1 });
            for m in [ScalingMethod::MinMax, ScalingMethod::default()] {
                let b = Bounds::fit(&schema, train.view(), m).unwrap();
                let s = b.transform(test.view()).unwrap();
                prop_assert!(s.data.iter().all(|v| (0.0..=1.0).contains(v)));
                let t = b.transform(train.view()).unwrap();
                if m == ScalingMethod::MinMax {
                    prop_assert_eq!(t.clamped, 0);
                    let back = b.inverse_transform(t.data.view()).unwrap();
                    // f32 rounding scales with the column's magnitude.
                    for j in 0..2 {
                        let mag = train.column(j).iter().fold(1f32, |m, v| m.max(v.abs()));
                        for (a, o) in back.column(j).iter().zip(train.column(j).iter()) {
                            prop_assert!((a - o).abs() <= 4e-7 * mag * 4.0, "{} vs {}", a, o);
                        }
                    }
                }
            }
        }
    }
}
