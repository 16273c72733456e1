//! Layers beyond the multilayer perceptron, forward and backward, on
//! row-major activations: a fully connected layer on its own, a "same"
//! one-dimensional convolution, max-pooling and nearest-neighbour
//! upsampling by 2, dropout, additive noise, an embedding of one
//! categorical column, and zero-padding / cropping of rows.
//!
//! Sequences are stored channels-last: row `b` of a batch of sequences of
//! `len` positions and `ch` channels holds position `p`, channel `c` at
//! `b * len * ch + p * ch + c`. Weights follow PyTorch's layouts: a fully
//! connected layer's is `[out, in]` (`nn.Linear`), a convolution's
//! `[out, in, k]` (`nn.Conv1d`). Backward passes take the gradient of the
//! layer's output and add the parameters' gradients into the given buffers
//! (`+=`), so that several slices of a minibatch can accumulate.

use crate::activation::Activation;
use crate::error::{DenseError, Result};
use crate::gemm::{MatRef, gemm};
use crate::kernels;

fn length(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(DenseError::Length {
            what,
            expected,
            got,
        })
    }
}

/// `out = act(x . w^T + b)` for `rows` rows of `x` (`rows x in`), a weight
/// `w` of `[out, in]` (PyTorch's `nn.Linear` layout) and a bias `b` of
/// `[out]`; `out` holds `rows x out` values.
///
/// ```
/// use dense::{Activation, linear_forward};
/// let w = [1.0, 2.0, 0.0, -1.0]; // [[1, 2], [0, -1]]
/// let mut out = [0.0; 2];
/// linear_forward(&[1.0, 1.0], 1, &w, &[0.5, 0.0], Activation::Relu, &mut out)?;
/// assert_eq!(out, [3.5, 0.0]);
/// # Ok::<(), dense::DenseError>(())
/// ```
///
/// # Errors
/// [`DenseError::Length`] when a length disagrees with the others.
pub fn linear_forward(
    x: &[f32],
    rows: usize,
    w: &[f32],
    b: &[f32],
    act: Activation,
    out: &mut [f32],
) -> Result<()> {
    let n_out = b.len();
    let n_in = w.len() / n_out.max(1);
    length("linear weight", n_in * n_out, w.len())?;
    length("linear input", rows * n_in, x.len())?;
    length("linear output", rows * n_out, out.len())?;
    if rows == 0 || n_out == 0 {
        return Ok(());
    }
    gemm(
        1.0,
        MatRef::row_major(x, rows, n_in),
        MatRef::row_major(w, n_out, n_in).t(),
        0.0,
        out,
    );
    kernels::add_bias_act(out, b, act);
    Ok(())
}

/// The backward pass of [`linear_forward`] given `d_z`, the gradient of the
/// pre-activation (`rows x out`; see [`mul_act_grad`](crate::mul_act_grad)):
/// adds `d_z^T x` to `gw` and the column sums of `d_z` to `gb`, and writes
/// `d_z . w` (the input's gradient) into `d_x` when given.
///
/// # Errors
/// [`DenseError::Length`] when a length disagrees with the others.
pub fn linear_backward(
    x: &[f32],
    rows: usize,
    w: &[f32],
    d_z: &[f32],
    gw: &mut [f32],
    gb: &mut [f32],
    d_x: Option<&mut [f32]>,
) -> Result<()> {
    let n_out = gb.len();
    let n_in = w.len() / n_out.max(1);
    length("linear weight", n_in * n_out, w.len())?;
    length("linear weight gradient", w.len(), gw.len())?;
    length("linear input", rows * n_in, x.len())?;
    length("linear output gradient", rows * n_out, d_z.len())?;
    if rows == 0 || n_out == 0 {
        if let Some(d_x) = d_x {
            d_x.fill(0.0);
        }
        return Ok(());
    }
    gemm(
        1.0,
        MatRef::row_major(d_z, rows, n_out).t(),
        MatRef::row_major(x, rows, n_in),
        1.0,
        gw,
    );
    for row in d_z.chunks_exact(n_out) {
        for (g, &d) in gb.iter_mut().zip(row) {
            *g += d;
        }
    }
    if let Some(d_x) = d_x {
        length("linear input gradient", rows * n_in, d_x.len())?;
        gemm(
            1.0,
            MatRef::row_major(d_z, rows, n_out),
            MatRef::row_major(w, n_out, n_in),
            0.0,
            d_x,
        );
    }
    Ok(())
}

/// A "same" convolution of odd width `k` with stride 1 over sequences of
/// `len` positions, `c_in` channels in and `c_out` out (channels-last),
/// computed as im2col and one matrix product. Its weight is PyTorch's
/// `nn.Conv1d` layout `[c_out, c_in, k]` and its bias `[c_out]`; a
/// position outside the sequence reads zero (padding `k / 2` on both
/// sides).
///
/// The window matrix is tap-major (column `t * c_in + c` holds tap `t` of
/// channel `c`), so that each position's window is one contiguous run of
/// the channels-last input; the weight is reordered to match in
/// [`ConvBuffers`].
///
/// ```
/// use dense::{Activation, Conv1d, ConvBuffers};
/// let conv = Conv1d { len: 3, c_in: 1, c_out: 1, k: 3 };
/// // A moving sum: weights [1, 1, 1], bias 0.
/// let (mut bufs, mut out) = (ConvBuffers::default(), vec![0.0; 3]);
/// conv.forward(&[1.0, 2.0, 3.0], 1, &[1.0; 3], &[0.0], Activation::Linear, &mut bufs, &mut out)?;
/// assert_eq!(out, [3.0, 6.0, 5.0]);
/// # Ok::<(), dense::DenseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1d {
    /// Positions of the input and the output sequence.
    pub len: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel width (odd).
    pub k: usize,
}

/// The buffers of one [`Conv1d`]: the window matrix and the reordered
/// weight of the last forward pass (which the backward pass reads), and
/// the backward pass's scratch. They grow to the largest batch seen and
/// are then reused.
#[derive(Clone, Debug, Default)]
pub struct ConvBuffers {
    col: Vec<f32>,
    w: Vec<f32>,
    gw: Vec<f32>,
    d_col: Vec<f32>,
    w_flip: Vec<f32>,
}

impl Conv1d {
    /// Values of the window matrix of `rows` sequences.
    pub fn col_len(&self, rows: usize) -> usize {
        rows * self.len * self.c_in * self.k
    }

    /// The source positions `first..last` of position `p`'s window, and
    /// the window offset (in positions) of `first`.
    fn window(&self, p: usize) -> (usize, usize, usize) {
        let half = self.k / 2;
        let first = p.saturating_sub(half);
        let last = (p + half + 1).min(self.len);
        (first, last, first + half - p)
    }

    /// The window matrix of `rows` sequences of `x` into `col` (resized):
    /// row `b * len + p`, column `t * c_in + c` holds `x[b, p + t - k / 2,
    /// c]`, zero outside the sequence.
    fn im2col(&self, x: &[f32], rows: usize, col: &mut Vec<f32>) {
        let (len, ch, k) = (self.len, self.c_in, self.k);
        col.resize(self.col_len(rows), 0.0);
        for (xb, cb) in x
            .chunks_exact(len * ch)
            .zip(col.chunks_exact_mut(len * ch * k))
            .take(rows)
        {
            for (p, window) in cb.chunks_exact_mut(ch * k).enumerate() {
                let (first, last, at) = self.window(p);
                let end = (at + last - first) * ch;
                window[..at * ch].fill(0.0);
                window[at * ch..end].copy_from_slice(&xb[first * ch..last * ch]);
                window[end..].fill(0.0);
            }
        }
    }

    /// `out = act(conv(x) + b)` for `rows` sequences; `bufs` keeps what
    /// [`Conv1d::backward`] needs.
    ///
    /// # Errors
    /// [`DenseError::Length`] when a length disagrees with the shape.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        w: &[f32],
        b: &[f32],
        act: Activation,
        bufs: &mut ConvBuffers,
        out: &mut [f32],
    ) -> Result<()> {
        let (ch, k) = (self.c_in, self.k);
        length("convolution input", rows * self.len * ch, x.len())?;
        length("convolution bias", self.c_out, b.len())?;
        length("convolution weight", self.c_out * ch * k, w.len())?;
        // [c_out, c_in, k] -> [c_out, k, c_in], the windows' order.
        bufs.w.resize(w.len(), 0.0);
        for (src, dst) in w.chunks_exact(ch * k).zip(bufs.w.chunks_exact_mut(ch * k)) {
            for c in 0..ch {
                for t in 0..k {
                    dst[t * ch + c] = src[c * k + t];
                }
            }
        }
        self.im2col(x, rows, &mut bufs.col);
        linear_forward(&bufs.col, rows * self.len, &bufs.w, b, act, out)
    }

    /// The backward pass of the last [`Conv1d::forward`] with these
    /// buffers, given `d_z`, the gradient of the pre-activation: adds the
    /// weight's and the bias's gradients into `gw` and `gb`, and writes the
    /// input's gradient into `d_x` when given.
    ///
    /// The input's gradient is itself a "same" convolution: of `d_z`, with
    /// the kernel flipped and the channels' roles swapped, so it runs as
    /// the forward pass does (windows and one product).
    ///
    /// # Errors
    /// [`DenseError::Length`] when a length disagrees with the shape.
    pub fn backward(
        &self,
        rows: usize,
        d_z: &[f32],
        gw: &mut [f32],
        gb: &mut [f32],
        bufs: &mut ConvBuffers,
        d_x: Option<&mut [f32]>,
    ) -> Result<()> {
        let (ch, k, c_out) = (self.c_in, self.k, self.c_out);
        length("convolution windows", self.col_len(rows), bufs.col.len())?;
        length("convolution weight gradient", bufs.w.len(), gw.len())?;
        length(
            "convolution output gradient",
            rows * self.len * c_out,
            d_z.len(),
        )?;
        let m = rows * self.len;
        bufs.gw.clear();
        bufs.gw.resize(gw.len(), 0.0);
        linear_backward(&bufs.col, m, &bufs.w, d_z, &mut bufs.gw, gb, None)?;
        // Back from the windows' order to [c_out, c_in, k].
        for (src, dst) in bufs
            .gw
            .chunks_exact(ch * k)
            .zip(gw.chunks_exact_mut(ch * k))
        {
            for c in 0..ch {
                for t in 0..k {
                    dst[c * k + t] += src[t * ch + c];
                }
            }
        }
        if let Some(d_x) = d_x {
            length("convolution input gradient", m * ch, d_x.len())?;
            // w_flip[c, t * c_out + o] = w[o, c, k - 1 - t], read from the
            // reordered w[o, (k - 1 - t) * c_in + c].
            bufs.w_flip.resize(bufs.w.len(), 0.0);
            for (c, dst) in bufs.w_flip.chunks_exact_mut(k * c_out).enumerate() {
                for t in 0..k {
                    for o in 0..c_out {
                        dst[t * c_out + o] = bufs.w[o * k * ch + (k - 1 - t) * ch + c];
                    }
                }
            }
            let transposed = Conv1d {
                len: self.len,
                c_in: c_out,
                c_out: ch,
                k,
            };
            transposed.im2col(d_z, rows, &mut bufs.d_col);
            gemm(
                1.0,
                MatRef::row_major(&bufs.d_col, m, k * c_out),
                MatRef::row_major(&bufs.w_flip, ch, k * c_out).t(),
                0.0,
                d_x,
            );
        }
        Ok(())
    }
}

/// Max-pooling by 2 over positions: `out[b, p, c] = max(x[b, 2p, c],
/// x[b, 2p + 1, c])` for sequences of an even number of positions and `ch`
/// channels (`x` holds whole sequences; `out` half as many values).
///
/// ```
/// let mut out = [0.0; 2];
/// dense::max_pool2(&[1.0, 5.0, 3.0, 2.0], 1, &mut out);
/// assert_eq!(out, [5.0, 3.0]);
/// ```
pub fn max_pool2(x: &[f32], ch: usize, out: &mut [f32]) {
    for (pair, o) in x.chunks_exact(2 * ch).zip(out.chunks_exact_mut(ch)) {
        let (u, v) = pair.split_at(ch);
        for ((o, &u), &v) in o.iter_mut().zip(u).zip(v) {
            *o = u.max(v);
        }
    }
}

/// The backward pass of [`max_pool2`]: each output's gradient goes to the
/// larger of its two inputs (the first on ties); `d_x` is overwritten.
pub fn max_pool2_backward(x: &[f32], d_out: &[f32], ch: usize, d_x: &mut [f32]) {
    for ((pair, g), d) in x
        .chunks_exact(2 * ch)
        .zip(d_out.chunks_exact(ch))
        .zip(d_x.chunks_exact_mut(2 * ch))
    {
        let (u, v) = pair.split_at(ch);
        let (du, dv) = d.split_at_mut(ch);
        for c in 0..ch {
            let first = u[c] >= v[c];
            du[c] = if first { g[c] } else { 0.0 };
            dv[c] = if first { 0.0 } else { g[c] };
        }
    }
}

/// Nearest-neighbour upsampling by 2 over positions: every position of `ch`
/// channels is repeated once (`out` holds twice as many values as `x`).
///
/// ```
/// let mut out = [0.0; 4];
/// dense::upsample2(&[1.0, 2.0], 1, &mut out);
/// assert_eq!(out, [1.0, 1.0, 2.0, 2.0]);
/// ```
pub fn upsample2(x: &[f32], ch: usize, out: &mut [f32]) {
    for (v, o) in x.chunks_exact(ch).zip(out.chunks_exact_mut(2 * ch)) {
        o[..ch].copy_from_slice(v);
        o[ch..].copy_from_slice(v);
    }
}

/// The backward pass of [`upsample2`]: each input's gradient is the sum of
/// its two copies'; `d_x` is overwritten.
pub fn upsample2_backward(d_out: &[f32], ch: usize, d_x: &mut [f32]) {
    for (g, d) in d_out.chunks_exact(2 * ch).zip(d_x.chunks_exact_mut(ch)) {
        let (a, b) = g.split_at(ch);
        for ((d, &a), &b) in d.iter_mut().zip(a).zip(b) {
            *d = a + b;
        }
    }
}

/// Dropout with a given mask, or its backward pass: `out = x * mask`
/// element by element (a mask holds 0 for a dropped unit and `1 / (1 - p)`
/// for a kept one).
pub fn mul_mask(x: &[f32], mask: &[f32], out: &mut [f32]) {
    for ((o, &x), &m) in out.iter_mut().zip(x).zip(mask) {
        *o = x * m;
    }
}

/// Additive noise on the first `cols` columns of rows of `width` values:
/// `out = x + noise` there (`noise` holds `cols` values a row), `out = x`
/// elsewhere. Its backward pass is the identity.
pub fn add_noise(x: &[f32], width: usize, noise: &[f32], cols: usize, out: &mut [f32]) {
    out.copy_from_slice(x);
    for (o, n) in out.chunks_exact_mut(width).zip(noise.chunks_exact(cols)) {
        for (o, &n) in o.iter_mut().zip(n) {
            *o += n;
        }
    }
}

/// Rows of `from` values zero-padded on the right to `to` values
/// (`to >= from`), or with `to < from`, cut to their first `to` values.
/// Padding and cropping are each other's backward pass.
///
/// ```
/// let mut out = [9.0; 4];
/// dense::resize_rows(&[1.0, 2.0], 1, 2, &mut out);
/// assert_eq!(out, [1.0, 0.0, 2.0, 0.0]);
/// ```
pub fn resize_rows(x: &[f32], from: usize, to: usize, out: &mut [f32]) {
    let keep = from.min(to);
    for (r, o) in x.chunks_exact(from).zip(out.chunks_exact_mut(to)) {
        o[..keep].copy_from_slice(&r[..keep]);
        o[keep..].fill(0.0);
    }
}

/// A learned embedding of one categorical column: each row of `n_in`
/// values becomes its other `n_in - 1` values followed by the `dim`-wide
/// row of `table` (`[cardinality, dim]`) that column `column` indexes.
///
/// ```
/// let table = [0.0, 0.5, 1.0, 1.5]; // 2 categories x 2
/// let mut out = [0.0; 3];
/// dense::embed_rows(&[1.0, 7.0], 2, 0, &table, 2, &mut out)?;
/// assert_eq!(out, [7.0, 1.0, 1.5]);
/// # Ok::<(), dense::DenseError>(())
/// ```
///
/// # Errors
/// [`DenseError::Category`] when a category is not an integer in
/// `0..cardinality`.
pub fn embed_rows(
    x: &[f32],
    n_in: usize,
    column: usize,
    table: &[f32],
    dim: usize,
    out: &mut [f32],
) -> Result<()> {
    let width = n_in - 1 + dim;
    for (row, (r, o)) in x
        .chunks_exact(n_in)
        .zip(out.chunks_exact_mut(width))
        .enumerate()
    {
        let id = category(r[column], row, table.len() / dim.max(1))?;
        o[..column].copy_from_slice(&r[..column]);
        o[column..n_in - 1].copy_from_slice(&r[column + 1..]);
        o[n_in - 1..].copy_from_slice(&table[id * dim..(id + 1) * dim]);
    }
    Ok(())
}

/// The backward pass of [`embed_rows`]: adds each row's gradient of its
/// embedded part (the last `dim` of `width = n_in - 1 + dim` values of
/// `d_out`) to the row of `g_table` its category indexes.
///
/// # Errors
/// As [`embed_rows`].
pub fn embed_rows_backward(
    x: &[f32],
    n_in: usize,
    column: usize,
    d_out: &[f32],
    dim: usize,
    g_table: &mut [f32],
) -> Result<()> {
    let width = n_in - 1 + dim;
    for (row, (r, d)) in x
        .chunks_exact(n_in)
        .zip(d_out.chunks_exact(width))
        .enumerate()
    {
        let id = category(r[column], row, g_table.len() / dim.max(1))?;
        for (g, &v) in g_table[id * dim..(id + 1) * dim]
            .iter_mut()
            .zip(&d[n_in - 1..])
        {
            *g += v;
        }
    }
    Ok(())
}

fn category(value: f32, row: usize, cardinality: usize) -> Result<usize> {
    if value >= 0.0 && value.fract() == 0.0 && (value as usize) < cardinality {
        Ok(value as usize)
    } else {
        Err(DenseError::Category {
            row,
            value,
            cardinality,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, f: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * f).sin()).collect()
    }

    /// The convolution against its definition, and its backward pass as the
    /// adjoint: <conv(x), g> = <x, conv^T(g)> for the input, and the weight
    /// gradient against central finite differences of that product.
    #[test]
    fn convolution_matches_its_definition_and_adjoint() {
        let conv = Conv1d {
            len: 6,
            c_in: 3,
            c_out: 2,
            k: 3,
        };
        let rows = 2;
        let x = wave(rows * 6 * 3, 0.7);
        let w = wave(2 * 3 * 3, 1.3);
        let b = [0.1, -0.2];
        let mut bufs = ConvBuffers::default();
        let mut out = vec![0.0; rows * 6 * 2];
        conv.forward(&x, rows, &w, &b, Activation::Linear, &mut bufs, &mut out)
            .unwrap();
        for r in 0..rows {
            for p in 0..6 {
                for o in 0..2 {
                    let mut s = b[o];
                    for c in 0..3 {
                        for t in 0..3 {
                            let src = p as isize + t as isize - 1;
                            if (0..6).contains(&src) {
                                s += w[o * 9 + c * 3 + t] * x[r * 18 + src as usize * 3 + c];
                            }
                        }
                    }
                    assert!((out[r * 12 + p * 2 + o] - s).abs() < 1e-5);
                }
            }
        }
        let g = wave(out.len(), 0.31);
        let (mut gw, mut gb) = (vec![0.0; w.len()], vec![0.0; 2]);
        let mut d_x = vec![0.0; x.len()];
        conv.backward(rows, &g, &mut gw, &mut gb, &mut bufs, Some(&mut d_x))
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f32>();
        let objective = |w: &[f32], x: &[f32]| {
            let mut bufs = ConvBuffers::default();
            let mut out = vec![0.0; rows * 12];
            conv.forward(x, rows, w, &b, Activation::Linear, &mut bufs, &mut out)
                .unwrap();
            dot(&out, &g)
        };
        let h = 1e-2;
        for i in 0..w.len() {
            let (mut lo, mut hi) = (w.clone(), w.clone());
            lo[i] -= h;
            hi[i] += h;
            let fd = (objective(&hi, &x) - objective(&lo, &x)) / (2.0 * h);
            assert!((fd - gw[i]).abs() < 1e-2, "weight {i}: {fd} vs {}", gw[i]);
        }
        for i in 0..x.len() {
            let (mut lo, mut hi) = (x.clone(), x.clone());
            lo[i] -= h;
            hi[i] += h;
            let fd = (objective(&w, &hi) - objective(&w, &lo)) / (2.0 * h);
            assert!((fd - d_x[i]).abs() < 1e-2, "input {i}: {fd} vs {}", d_x[i]);
        }
        let gsum: f32 = g.iter().step_by(2).sum();
        assert!((gb[0] - gsum).abs() < 1e-4);
    }

    #[test]
    fn pooling_upsampling_and_resizing_are_adjoint_pairs() {
        let x = [1.0, -1.0, 3.0, 4.0, 2.0, 2.0, 0.0, 5.0];
        let mut pooled = [0.0; 4];
        max_pool2(&x, 2, &mut pooled);
        assert_eq!(pooled, [3.0, 4.0, 2.0, 5.0]);
        let mut d_x = [9.0; 8];
        max_pool2_backward(&x, &[1.0, 2.0, 3.0, 4.0], 2, &mut d_x);
        assert_eq!(d_x, [0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 4.0]);
        let mut up = [0.0; 8];
        upsample2(&[1.0, 2.0, 3.0, 4.0], 2, &mut up);
        assert_eq!(up, [1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
        let mut d_up = [0.0; 4];
        upsample2_backward(&x, 2, &mut d_up);
        assert_eq!(d_up, [4.0, 3.0, 2.0, 7.0]);
        let mut cropped = [0.0; 2];
        resize_rows(&[1.0, 2.0, 3.0, 4.0], 2, 1, &mut cropped);
        assert_eq!(cropped, [1.0, 3.0]);
    }

    #[test]
    fn embedding_gathers_and_scatters_rows() {
        let table = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        let x = [0.5, 2.0, 0.25, 1.0];
        let mut out = [0.0; 6];
        embed_rows(&x, 2, 1, &table, 2, &mut out).unwrap();
        assert_eq!(out, [0.5, 20.0, 21.0, 0.25, 10.0, 11.0]);
        let mut g = [0.0; 6];
        embed_rows_backward(&x, 2, 1, &[9.0, 1.0, 2.0, 9.0, 3.0, 4.0], 2, &mut g).unwrap();
        assert_eq!(g, [0.0, 0.0, 3.0, 4.0, 1.0, 2.0]);
        let err = embed_rows(&[0.5, 3.0], 2, 1, &table, 2, &mut out[..3]).unwrap_err();
        assert!(err.to_string().contains('3'), "{err}");
        let mut noisy = [0.0; 4];
        add_noise(&[1.0, 1.0, 1.0, 1.0], 2, &[0.5, -0.5], 1, &mut noisy);
        assert_eq!(noisy, [1.5, 1.0, 0.5, 1.0]);
        let mut dropped = [0.0; 2];
        mul_mask(&[3.0, 4.0], &[0.0, 2.0], &mut dropped);
        assert_eq!(dropped, [0.0, 8.0]);
    }

    #[test]
    fn one_row_matches_its_row_of_a_batch() {
        let (rows, n_in, n_out) = (5, 77, 40);
        let x = wave(rows * n_in, 0.9);
        let w = wave(n_out * n_in, 0.4);
        let b = wave(n_out, 1.3);
        for act in [Activation::Linear, Activation::Relu, Activation::Tanh] {
            let mut batch = vec![0.0; rows * n_out];
            linear_forward(&x, rows, &w, &b, act, &mut batch).unwrap();
            for r in 0..rows {
                let mut one = vec![0.0; n_out];
                linear_forward(&x[r * n_in..(r + 1) * n_in], 1, &w, &b, act, &mut one).unwrap();
                for (a, e) in one.iter().zip(&batch[r * n_out..(r + 1) * n_out]) {
                    assert!(
                        (a - e).abs() <= 1e-5 * e.abs().max(1.0),
                        "{act:?}: {a} against {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn linear_backward_matches_finite_differences() {
        let (rows, n_in, n_out) = (3, 4, 2);
        let x = wave(rows * n_in, 0.9);
        let w = wave(n_out * n_in, 0.4);
        let b = [0.3, -0.1];
        let g = wave(rows * n_out, 1.7);
        let f = |w: &[f32]| {
            let mut out = vec![0.0; rows * n_out];
            linear_forward(&x, rows, w, &b, Activation::Linear, &mut out).unwrap();
            out.iter().zip(&g).map(|(a, b)| a * b).sum::<f32>()
        };
        let (mut gw, mut gb) = (vec![0.0; w.len()], vec![0.0; 2]);
        let mut d_x = vec![0.0; x.len()];
        linear_backward(&x, rows, &w, &g, &mut gw, &mut gb, Some(&mut d_x)).unwrap();
        for i in 0..w.len() {
            let (mut lo, mut hi) = (w.clone(), w.clone());
            lo[i] -= 1e-2;
            hi[i] += 1e-2;
            assert!(((f(&hi) - f(&lo)) / 2e-2 - gw[i]).abs() < 1e-3);
        }
        assert!(linear_forward(&x, rows, &w[1..], &b, Activation::Linear, &mut [0.0; 6]).is_err());
    }
}
