//! Element-wise kernels: the tanh approximation, activations and their
//! gradients, dot products, sums of squares and Adam's update.
//!
//! Every kernel is written once as a plain, branch-free loop that the compiler
//! can vectorise, and compiled twice: for the baseline target and with AVX2 +
//! FMA enabled, chosen at run time. Reductions use a fixed number of
//! independent accumulators combined in a fixed order, so results do not
//! depend on the thread that runs them.

/// Largest |x| the tanh approximation evaluates; beyond it tanh rounds to +-1
/// in `f32` (tanh(9) = 1 - 3.0e-8).
const TANH_CLAMP: f32 = 9.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part with few significant bits (exact products with small
/// integers) and the rest, for an accurate range reduction.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// 1.5 * 2^23: adding and subtracting it rounds an `f32` of magnitude below
/// 2^22 to the nearest integer, and leaves that integer in the low mantissa
/// bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

use crate::activation::Activation;

/// `a * b + c`, fused when `FMA` (only instantiated where the CPU has FMA).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `tanh(x)` for one value, branch-free.
///
/// With `a = |x|` (clamped to 9), `tanh(a) = -u / (2 + u)` where
/// `u = expm1(-2a)`. `expm1(y)` is `2^n expm1(r) + (2^n - 1)` after the
/// reduction `y = n ln2 + r`, `|r| <= ln2 / 2`, and `expm1(r)` is its Taylor
/// polynomial to degree 8 (truncation below 2e-9 relative). For small `|x|`
/// (`n = 0`) the result keeps full relative accuracy; elsewhere the absolute
/// error stays within a few units in the last place of 1.0. NaN stays NaN.
///
/// This is the portable evaluation; [`tanh_in_place`] may use fused
/// multiply-adds where the CPU has them (results then differ in the last
/// bit).
#[inline(always)]
pub fn tanh_scalar(x: f32) -> f32 {
    tanh_core::<false>(x)
}

#[inline(always)]
fn tanh_core<const FMA: bool>(x: f32) -> f32 {
    let a = x.abs();
    let a = if a < TANH_CLAMP { a } else { TANH_CLAMP };
    let y = -2.0 * a;
    // n = round(y / ln2), read back from the low mantissa bits.
    let shifted = madd::<FMA>(y, LOG2_E, ROUND_MAGIC);
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let n = shifted - ROUND_MAGIC;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, y));
    // expm1(r) = r + r^2/2! + ... + r^8/8!, Horner form.
    let p = 1.0 / 40_320.0;
    let p = madd::<FMA>(p, r, 1.0 / 5_040.0);
    let p = madd::<FMA>(p, r, 1.0 / 720.0);
    let p = madd::<FMA>(p, r, 1.0 / 120.0);
    let p = madd::<FMA>(p, r, 1.0 / 24.0);
    let p = madd::<FMA>(p, r, 1.0 / 6.0);
    let p = madd::<FMA>(p, r, 0.5);
    let p = madd::<FMA>(p, r, 1.0);
    let em1_r = p * r;
    // 2^n from the exponent field (n in [-26, 0]).
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let u = madd::<FMA>(two_n, em1_r, two_n - 1.0);
    let t = -u / (2.0 + u);
    let t = t.copysign(x);
    if x.is_nan() { x } else { t }
}

macro_rules! dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? ;
        body = $body:ident;
        avx = $avx:ident;
    ) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx($($arg: $ty),*) $(-> $ret)? {
            $body::<true>($($arg),*)
        }

        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                if has_avx2_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                    return unsafe { $avx($($arg),*) };
                }
            }
            $body::<false>($($arg),*)
        }
    };
}

/// Whether the running CPU has AVX2 and FMA (detected once, then cached by
/// the standard library).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[inline(always)]
fn tanh_body<const FMA: bool>(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        *x = tanh_core::<FMA>(*x);
    }
}

dispatch! {
    /// Replaces every value by its tanh (see [`tanh_scalar`] for the accuracy).
    pub fn tanh_in_place(xs: &mut [f32]);
    body = tanh_body;
    avx = tanh_avx;
}

/// `sigmoid(x) = (1 + tanh(x / 2)) / 2`, through the tanh approximation.
#[inline(always)]
fn sigmoid_core<const FMA: bool>(x: f32) -> f32 {
    madd::<FMA>(0.5, tanh_core::<FMA>(0.5 * x), 0.5)
}

/// Runs `$body` with `$f` bound to the activation's vectorisable form,
/// matched once outside the loops.
macro_rules! with_act {
    ($act:expr, $fma:ident, |$f:ident| $body:expr) => {
        match $act {
            Activation::Tanh => {
                let $f = |x: f32| tanh_core::<$fma>(x);
                $body
            }
            Activation::Relu => {
                let $f = |x: f32| x.max(0.0);
                $body
            }
            Activation::Sigmoid => {
                let $f = |x: f32| sigmoid_core::<$fma>(x);
                $body
            }
            Activation::Linear => {
                let $f = |x: f32| x;
                $body
            }
        }
    };
}

#[inline(always)]
fn act_body<const FMA: bool>(xs: &mut [f32], act: Activation) {
    with_act!(act, FMA, |f| {
        for x in xs.iter_mut() {
            *x = f(*x);
        }
    });
}

dispatch! {
    /// [`act_in_place`] for any activation.
    fn act_any(xs: &mut [f32], act: Activation);
    body = act_body;
    avx = act_avx;
}

/// Applies `act` to every value in place (tanh and sigmoid through the
/// approximation of [`tanh_scalar`]).
pub fn act_in_place(xs: &mut [f32], act: Activation) {
    match act {
        Activation::Linear => {}
        Activation::Tanh => tanh_in_place(xs),
        other => act_any(xs, other),
    }
}

#[inline(always)]
fn bias_act_body<const FMA: bool>(z: &mut [f32], bias: &[f32], act: Activation) {
    let width = bias.len();
    if width == 0 {
        return;
    }
    with_act!(act, FMA, |f| {
        for row in z.chunks_exact_mut(width) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = f(*v + b);
            }
        }
    });
}

dispatch! {
    /// `z[r, j] = act(z[r, j] + bias[j])` over a row-major matrix whose
    /// width is `bias.len()` (a trailing partial row is left alone).
    pub fn add_bias_act(z: &mut [f32], bias: &[f32], act: Activation);
    body = bias_act_body;
    avx = bias_act_avx;
}

#[inline(always)]
fn act_grad_body<const FMA: bool>(delta: &mut [f32], h: &[f32], act: Activation) {
    match act {
        Activation::Tanh => {
            for (d, &a) in delta.iter_mut().zip(h) {
                *d *= madd::<FMA>(-a, a, 1.0);
            }
        }
        Activation::Relu => {
            for (d, &a) in delta.iter_mut().zip(h) {
                *d = if a > 0.0 { *d } else { 0.0 };
            }
        }
        Activation::Sigmoid => {
            for (d, &a) in delta.iter_mut().zip(h) {
                *d *= a - a * a;
            }
        }
        Activation::Linear => {}
    }
}

dispatch! {
    /// [`mul_act_grad`] for any activation.
    fn act_grad_any(delta: &mut [f32], h: &[f32], act: Activation);
    body = act_grad_body;
    avx = act_grad_avx;
}

/// `delta *= act'`: back through the activation given its output `h`
/// (`1 - h^2` for tanh, `h (1 - h)` for sigmoid, `h > 0` for ReLU, nothing
/// for the identity).
pub fn mul_act_grad(delta: &mut [f32], h: &[f32], act: Activation) {
    if act != Activation::Linear {
        act_grad_any(delta, h, act);
    }
}

const LANES: usize = 16;

/// Adds 16 partial sums in a fixed pairwise order.
#[inline(always)]
fn reduce_lanes(acc: [f32; LANES]) -> f32 {
    let mut half = [0.0f32; 8];
    for i in 0..8 {
        half[i] = acc[i] + acc[i + 8];
    }
    let q = [
        half[0] + half[4],
        half[1] + half[5],
        half[2] + half[6],
        half[3] + half[7],
    ];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// Dot product of the common prefix of `a` and `b`.
#[inline(always)]
fn dot_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] = madd::<FMA>(x[i], y[i], acc[i]);
        }
    }
    for (i, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[i] = madd::<FMA>(*x, *y, acc[i]);
    }
    reduce_lanes(acc)
}

#[inline(always)]
fn linear_rows_body<const FMA: bool>(
    x: &[f32],
    n_in: usize,
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let n_out = bias.len();
    for (xr, or) in x.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
        for ((o, wr), &b) in or.iter_mut().zip(w.chunks_exact(n_in)).zip(bias) {
            *o = dot_body::<FMA>(wr, xr) + b;
        }
    }
}

dispatch! {
    /// `out = x W^T + b` row by row with dot products: the fast path for a
    /// few rows, where a packed GEMM would spend its time packing `W`.
    pub(crate) fn linear_rows(x: &[f32], n_in: usize, w: &[f32], bias: &[f32], out: &mut [f32]);
    body = linear_rows_body;
    avx = linear_rows_avx;
}

#[inline(always)]
fn linear_rows_t_body<const FMA: bool>(
    x: &[f32],
    n_in: usize,
    wt: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let n_out = bias.len();
    for (xr, or) in x.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
        or.copy_from_slice(bias);
        let mut xs = xr.chunks_exact(4);
        let mut ws = wt.chunks_exact(4 * n_out);
        for (x4, w4) in (&mut xs).zip(&mut ws) {
            let (w0, rest) = w4.split_at(n_out);
            let (w1, rest) = rest.split_at(n_out);
            let (w2, w3) = rest.split_at(n_out);
            for ((((o, &a), &b), &c), &d) in or.iter_mut().zip(w0).zip(w1).zip(w2).zip(w3) {
                let acc = madd::<FMA>(x4[0], a, *o);
                let acc = madd::<FMA>(x4[1], b, acc);
                let acc = madd::<FMA>(x4[2], c, acc);
                *o = madd::<FMA>(x4[3], d, acc);
            }
        }
        for (&xi, wrow) in xs
            .remainder()
            .iter()
            .zip(ws.remainder().chunks_exact(n_out))
        {
            for (o, &w) in or.iter_mut().zip(wrow) {
                *o = madd::<FMA>(xi, w, *o);
            }
        }
    }
}

dispatch! {
    /// `out = x W^T + b` row by row given `wt = W^T` (`n_in x n_out`,
    /// row-major): each output row is a sum of scaled rows of `wt`, which
    /// vectorises along the outputs. The fast path for a few rows of a wide
    /// layer.
    pub(crate) fn linear_rows_t(x: &[f32], n_in: usize, wt: &[f32], bias: &[f32], out: &mut [f32]);
    body = linear_rows_t_body;
    avx = linear_rows_t_avx;
}

#[inline(always)]
fn outer_sum_body<const FMA: bool>(delta: &[f32], x: &[f32], n_in: usize, gw: &mut [f32]) {
    let n_out = gw.len() / n_in;
    gw.fill(0.0);
    for (dr, xr) in delta.chunks_exact(n_out).zip(x.chunks_exact(n_in)) {
        for (&d, g) in dr.iter().zip(gw.chunks_exact_mut(n_in)) {
            for (gi, &xi) in g.iter_mut().zip(xr) {
                *gi = madd::<FMA>(d, xi, *gi);
            }
        }
    }
}

dispatch! {
    /// `gw = delta^T x` (`n_out x n_in`, row-major, `n_out = gw.len() /
    /// n_in`) as a sum of outer products over the rows: the weight gradient
    /// of a narrow layer, where a packed GEMM would pad the narrow side.
    pub(crate) fn outer_sum(delta: &[f32], x: &[f32], n_in: usize, gw: &mut [f32]);
    body = outer_sum_body;
    avx = outer_sum_avx;
}

#[inline(always)]
fn sum_squares_body<const FMA: bool>(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] = madd::<FMA>(c[i], c[i], acc[i]);
        }
    }
    for (i, x) in chunks.remainder().iter().enumerate() {
        acc[i] = madd::<FMA>(*x, *x, acc[i]);
    }
    reduce_lanes(acc)
}

dispatch! {
    /// Sum of squares, in a fixed summation order.
    pub fn sum_squares(xs: &[f32]) -> f32;
    body = sum_squares_body;
    avx = sum_squares_avx;
}

#[inline(always)]
fn scale_body<const FMA: bool>(xs: &mut [f32], s: f32) {
    for x in xs.iter_mut() {
        *x *= s;
    }
}

dispatch! {
    /// Multiplies every value by `s`.
    pub fn scale(xs: &mut [f32], s: f32);
    body = scale_body;
    avx = scale_avx;
}

/// Scalars of one Adam step (PyTorch's formulation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamStep {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// `lr / (1 - beta1^t)`.
    pub step_size: f32,
    /// `1 / sqrt(1 - beta2^t)`.
    pub inv_sqrt_bc2: f32,
    /// Factor applied to every gradient first (gradient clipping).
    pub grad_scale: f32,
}

#[inline(always)]
fn adam_body<const FMA: bool>(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamStep) {
    let (b1, b2) = (s.beta1, s.beta2);
    let (c1, c2) = (1.0 - b1, 1.0 - b2);
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g * s.grad_scale;
        let mi = madd::<FMA>(b1, *m, c1 * g);
        let vi = madd::<FMA>(b2, *v, c2 * g * g);
        *m = mi;
        *v = vi;
        let denom = madd::<FMA>(vi.sqrt(), s.inv_sqrt_bc2, s.eps);
        *p = madd::<FMA>(-s.step_size, mi / denom, *p);
    }
}

dispatch! {
    /// One Adam update of `p` given gradients `g` and moments `m`, `v`.
    pub(crate) fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamStep);
    body = adam_body;
    avx = adam_avx;
}

#[inline(always)]
fn column_sums_body<const FMA: bool>(src: &[f32], dst: &mut [f32]) {
    let width = dst.len();
    dst.fill(0.0);
    for row in src.chunks_exact(width) {
        for (d, &v) in dst.iter_mut().zip(row) {
            *d += v;
        }
    }
}

dispatch! {
    /// `dst[j] = sum over rows r of src[r, j]` for a row-major `src` whose
    /// width is `dst.len()`.
    pub fn column_sums(src: &[f32], dst: &mut [f32]);
    body = column_sums_body;
    avx = column_sums_avx;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_matches_libm_to_1e6_on_a_dense_grid() {
        let mut worst = 0.0f64;
        let mut xs: Vec<f32> = (-400_000..=400_000).map(|i| i as f32 * 5e-5).collect();
        xs.extend([
            1e-30,
            -1e-30,
            1e-8,
            -3e-6,
            8.99,
            9.0,
            9.01,
            30.0,
            -1e6,
            f32::MAX,
        ]);
        let mut ys = xs.clone();
        tanh_in_place(&mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let exact = (x as f64).tanh();
            let err = (y as f64 - exact).abs();
            worst = worst.max(err);
            // Relative accuracy near zero.
            if x.abs() < 0.3 && x != 0.0 {
                assert!(err <= 4e-7 * exact.abs(), "x={x}: {y} vs {exact}");
            }
            assert!(
                (tanh_scalar(x) - y).abs() <= 2.5e-7,
                "dispatched and portable paths differ at {x}"
            );
        }
        assert!(worst < 1e-6, "worst absolute error {worst}");
        // Compare with libm's f32 tanh as well.
        for &x in &xs {
            assert!((tanh_scalar(x) - x.tanh()).abs() <= 1e-6, "x={x}");
        }
    }

    #[test]
    fn tanh_special_values() {
        assert_eq!(tanh_scalar(0.0), 0.0);
        assert!(tanh_scalar(-0.0).is_sign_negative());
        assert_eq!(tanh_scalar(f32::INFINITY), 1.0);
        assert_eq!(tanh_scalar(f32::NEG_INFINITY), -1.0);
        assert!(tanh_scalar(f32::NAN).is_nan());
        // Odd symmetry and bounds.
        for i in 0..1000 {
            let x = i as f32 * 0.013;
            assert_eq!(tanh_scalar(-x), -tanh_scalar(x));
            assert!(tanh_scalar(x).abs() <= 1.0);
        }
    }

    #[test]
    fn reductions_match_plain_sums() {
        let a: Vec<f32> = (0..1037)
            .map(|i| ((i * 7919) % 113) as f32 / 37.0 - 1.5)
            .collect();
        let b: Vec<f32> = (0..1037)
            .map(|i| ((i * 104_729) % 97) as f32 / 29.0 - 1.7)
            .collect();
        let d: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        assert!((dot_body::<false>(&a, &b) as f64 - d).abs() < 1e-3);
        let s: f64 = a.iter().map(|&x| x as f64 * x as f64).sum();
        assert!((sum_squares(&a) as f64 - s).abs() < 1e-3);
        let d5: f32 = a[..5].iter().zip(&b[..5]).map(|(x, y)| x * y).sum();
        assert!((dot_body::<false>(&a[..5], &b[..5]) - d5).abs() < 1e-5);
        let mut c = a.clone();
        scale(&mut c, 2.0);
        assert!(c.iter().zip(&a).all(|(&x, &y)| x == 2.0 * y));
    }

    #[test]
    fn row_and_outer_kernels_match_direct_formulas() {
        for (n_in, n_out, rows) in [(11, 6, 3), (19, 7, 3)] {
            let x: Vec<f32> = (0..rows * n_in).map(|i| (i as f32 * 0.37).sin()).collect();
            let w: Vec<f32> = (0..n_out * n_in).map(|i| (i as f32 * 0.11).cos()).collect();
            let wt: Vec<f32> = (0..n_in * n_out)
                .map(|k| w[(k % n_out) * n_in + k / n_out])
                .collect();
            let b: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.1).collect();
            let mut out_t = vec![0.0; rows * n_out];
            linear_rows_t(&x, n_in, &wt, &b, &mut out_t);
            let mut out = vec![0.0; rows * n_out];
            linear_rows(&x, n_in, &w, &b, &mut out);
            for r in 0..rows {
                for j in 0..n_out {
                    let e: f32 = (0..n_in)
                        .map(|i| x[r * n_in + i] * w[j * n_in + i])
                        .sum::<f32>()
                        + b[j];
                    assert!((out_t[r * n_out + j] - e).abs() < 1e-5);
                    assert!((out[r * n_out + j] - e).abs() < 1e-5);
                }
            }
            let delta: Vec<f32> = (0..rows * n_out).map(|i| (i as f32 * 0.5).cos()).collect();
            let mut gw = vec![1.0; n_out * n_in];
            outer_sum(&delta, &x, n_in, &mut gw);
            for j in 0..n_out {
                for i in 0..n_in {
                    let e: f32 = (0..rows)
                        .map(|r| delta[r * n_out + j] * x[r * n_in + i])
                        .sum();
                    assert!((gw[j * n_in + i] - e).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn activation_kernels_match_the_exact_functions() {
        let xs: Vec<f32> = (-3000..=3000).map(|i| i as f32 * 7e-3).collect();
        let bias = [0.25f32, -0.5, 0.0];
        let xs = &xs[..xs.len() / 3 * 3];
        for act in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Linear,
        ] {
            let mut z = xs.to_vec();
            add_bias_act(&mut z, &bias, act);
            let mut plain: Vec<f32> = xs
                .iter()
                .zip(bias.iter().cycle())
                .map(|(x, b)| x + b)
                .collect();
            act_in_place(&mut plain, act);
            for ((&x, &b), (&y, &p)) in xs.iter().zip(bias.iter().cycle()).zip(z.iter().zip(&plain))
            {
                let exact = act.apply(x + b);
                assert!(
                    (y - exact).abs() <= 1e-6,
                    "{act:?}({}) = {y}, not {exact}",
                    x + b
                );
                assert_eq!(y, p, "{act:?}");
            }
            let mut delta = vec![2.0f32; z.len()];
            mul_act_grad(&mut delta, &z, act);
            for (&d, &y) in delta.iter().zip(&z) {
                let exact = 2.0 * act.derivative_from_output(y);
                assert!(
                    (d - exact).abs() <= 1e-6,
                    "{act:?}'({y}) = {d}, not {exact}"
                );
            }
        }
    }
}
