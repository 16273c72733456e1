//! The dense engine against two oracles written here: candle's autograd
//! (in f64) and central finite differences of an f64 forward pass.

use candle_core::{Device, Tensor, Var};
use dense::{Activation, Mlp, MlpWorkspace, tanh_in_place};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn act_f64(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Linear => z,
    }
}

/// Reference forward in f64 with the exact activations; layout as `Mlp`.
fn forward_acts_f64(
    sizes: &[usize],
    acts: &[Activation],
    p: &[f64],
    x: &[f64],
    batch: usize,
) -> Vec<f64> {
    let mut h = x.to_vec();
    let mut off = 0;
    for (l, w) in sizes.windows(2).enumerate() {
        let (n_in, n_out) = (w[0], w[1]);
        let mut out = vec![0.0; batch * n_out];
        for r in 0..batch {
            for j in 0..n_out {
                let mut z = p[off + n_in * n_out + j];
                for i in 0..n_in {
                    z += h[r * n_in + i] * p[off + j * n_in + i];
                }
                out[r * n_out + j] = act_f64(acts[l], z);
            }
        }
        off += n_in * n_out + n_out;
        h = out;
    }
    h
}

/// Reference forward in f64 with the exact tanh (linear output); layout as
/// `Mlp`.
fn forward_f64(sizes: &[usize], p: &[f64], x: &[f64], batch: usize) -> Vec<f64> {
    let mut acts = vec![Activation::Tanh; sizes.len() - 1];
    acts[sizes.len() - 2] = Activation::Linear;
    forward_acts_f64(sizes, &acts, p, x, batch)
}

fn random_case(sizes: &[usize], batch: usize, seed: u64) -> (Mlp, Vec<f32>, Vec<f32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Mlp::zeros(sizes).unwrap();
    // Weights of scale ~1/sqrt(fan-in) keep the tanh units away from saturation.
    let scale = 1.0 / (sizes[0].max(8) as f32).sqrt();
    for p in net.params_mut() {
        *p = scale * rng.sample::<f32, _>(StandardNormal);
    }
    net.prepare_small_batches();
    let x = (0..batch * sizes[0])
        .map(|_| rng.sample(StandardNormal))
        .collect();
    let c = (0..batch * sizes[sizes.len() - 1])
        .map(|_| rng.sample(StandardNormal))
        .collect();
    (net, x, c)
}

/// Gradient of `sum(c * net(x))` by candle's autograd in f64.
fn candle_gradient(net: &Mlp, x: &[f32], c: &[f32], batch: usize) -> Vec<f64> {
    let dev = Device::Cpu;
    let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
    let mut h = Tensor::from_slice(&f64s(x), (batch, net.n_inputs()), &dev).unwrap();
    let mut vars = Vec::new();
    for l in 0..net.n_layers() {
        let (wr, shape) = net.weight_range(l).unwrap();
        let br = net.bias_range(l).unwrap();
        let w =
            Var::from_slice(&f64s(&net.params()[wr.clone()]), (shape[0], shape[1]), &dev).unwrap();
        let b = Var::from_slice(&f64s(&net.params()[br.clone()]), shape[0], &dev).unwrap();
        h = h
            .matmul(&w.as_tensor().t().unwrap())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        h = match net.activations()[l] {
            Activation::Tanh => h.tanh().unwrap(),
            Activation::Relu => h.relu().unwrap(),
            Activation::Sigmoid => candle_core::Tensor::ones_like(&h)
                .unwrap()
                .broadcast_div(&(h.neg().unwrap().exp().unwrap() + 1.0).unwrap())
                .unwrap(),
            Activation::Linear => h,
        };
        vars.push((w, b, wr, br));
    }
    let c = Tensor::from_slice(&f64s(c), (batch, net.n_outputs()), &dev).unwrap();
    let loss = (h * c).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let mut out = vec![0.0; net.n_params()];
    for (w, b, wr, br) in vars {
        let gw = grads
            .get(w.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        out[wr].copy_from_slice(&gw);
        out[br].copy_from_slice(&grads.get(b.as_tensor()).unwrap().to_vec1::<f64>().unwrap());
    }
    out
}

/// Central differences for the parameters in `which`.
fn finite_difference_gradient(
    net: &Mlp,
    x: &[f32],
    c: &[f32],
    batch: usize,
    which: &[usize],
) -> Vec<(usize, f64)> {
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let f = |p: &[f64]| -> f64 {
        forward_f64(net.sizes(), p, &x, batch)
            .iter()
            .zip(c)
            .map(|(y, &c)| y * c as f64)
            .sum()
    };
    let mut p: Vec<f64> = net.params().iter().map(|&v| v as f64).collect();
    let h = 1e-6;
    which
        .iter()
        .map(|&i| {
            let orig = p[i];
            p[i] = orig + h;
            let up = f(&p);
            p[i] = orig - h;
            let down = f(&p);
            p[i] = orig;
            (i, (up - down) / (2.0 * h))
        })
        .collect()
}

/// Shapes that exercise every kernel path: row kernels (batch <= 8), the
/// packed GEMM, narrow output layers, the default [128, 128] architecture.
const CASES: &[(&[usize], usize)] = &[
    (&[4, 128, 128, 2], 64),
    (&[4, 128, 128, 1], 16),
    (&[4, 128, 128, 2], 1),
    (&[3, 5, 1], 7),
    (&[6, 17, 9, 8], 9),
    (&[32, 24, 6], 33),
    (&[2, 3], 5),
];

#[test]
fn backward_matches_candle_autograd_and_finite_differences() {
    for (k, &(sizes, batch)) in CASES.iter().enumerate() {
        let (net, x, c) = random_case(sizes, batch, k as u64);
        let mut ws = MlpWorkspace::default();
        net.forward(&x, batch, &mut ws).unwrap();
        let mut grad = vec![f32::NAN; net.n_params()];
        net.backward(&x, batch, &mut ws, &c, &mut grad).unwrap();
        let candle = candle_gradient(&net, &x, &c, batch);
        // Every parameter of small networks; for large ones a spread of
        // about 600 (every k-th, plus every bias).
        let which: Vec<usize> = if net.n_params() <= 2000 {
            (0..net.n_params()).collect()
        } else {
            let step = net.n_params() / 400;
            let mut w: Vec<usize> = (0..net.n_params()).step_by(step).collect();
            w.extend((0..net.n_layers()).flat_map(|l| net.bias_range(l).unwrap()));
            w
        };
        let fd = finite_difference_gradient(&net, &x, &c, batch, &which);
        let scale = candle.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        assert!(scale > 1e-2, "{sizes:?}: degenerate gradient");
        for i in 0..net.n_params() {
            let g = grad[i] as f64;
            assert!(
                (g - candle[i]).abs() <= 1e-5,
                "{sizes:?} batch {batch} [{i}]: {g} vs candle {}",
                candle[i]
            );
        }
        for &(i, f) in &fd {
            let g = grad[i] as f64;
            assert!(
                (g - f).abs() <= 1e-5,
                "{sizes:?} batch {batch} [{i}]: {g} vs finite differences {f}"
            );
        }
    }
}

#[test]
fn forward_paths_agree_with_the_f64_reference() {
    for (k, &(sizes, batch)) in CASES.iter().enumerate() {
        let (mut net, x, _) = random_case(sizes, batch, 50 + k as u64);
        let p: Vec<f64> = net.params().iter().map(|&v| v as f64).collect();
        let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let reference = forward_f64(sizes, &p, &xf, batch);
        let mut ws = MlpWorkspace::default();
        let cached = net.forward(&x, batch, &mut ws).unwrap().to_vec();
        // Without the transposed cache (after `params_mut`), the row
        // kernels fall back to dot products.
        net.params_mut();
        let uncached = net.forward(&x, batch, &mut ws).unwrap().to_vec();
        for ((a, b), r) in cached.iter().zip(&uncached).zip(&reference) {
            assert!(
                (*a as f64 - r).abs() < 1e-5 && (*b as f64 - r).abs() < 1e-5,
                "{sizes:?}: {a} {b} vs {r}"
            );
        }
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let net = Mlp::zeros(&[3, 4, 2]).unwrap();
    let mut ws = MlpWorkspace::default();
    assert!(net.forward(&[0.0; 5], 2, &mut ws).is_err());
    let x = [0.0f32; 6];
    // Backward before any forward pass of this shape.
    let mut grad = vec![0.0; net.n_params()];
    assert!(net.backward(&x, 2, &mut ws, &[0.0; 4], &mut grad).is_err());
    net.forward(&x, 2, &mut ws).unwrap();
    assert!(net.backward(&x, 2, &mut ws, &[0.0; 3], &mut grad).is_err());
    assert!(
        net.backward(&x, 2, &mut ws, &[0.0; 4], &mut grad[1..])
            .is_err()
    );
    assert!(Mlp::zeros(&[3]).is_err());
    assert!(Mlp::zeros(&[3, 0, 2]).is_err());
    assert!(Mlp::from_params(&[3, 2], vec![0.0; 7]).is_err());
    assert!(Mlp::from_params(&[3, 2], vec![0.0; 8]).is_ok());
}

#[test]
fn tanh_approximation_is_within_1e6_of_libm() {
    let xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 1e-4).collect();
    let mut ys = xs.clone();
    tanh_in_place(&mut ys);
    let worst = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x.tanh() - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "worst difference from libm: {worst}");
}

#[test]
fn every_activation_matches_candle_autograd_and_the_f64_reference() {
    use Activation::{Linear, Relu, Sigmoid, Tanh};
    let cases: &[(&[usize], &[Activation], usize)] = &[
        (&[7, 16, 8, 7], &[Relu, Relu, Sigmoid], 40),
        (&[5, 12, 3], &[Sigmoid, Tanh], 3),
        (&[6, 20, 4, 6], &[Relu, Linear, Linear], 17),
        (&[9, 2], &[Sigmoid], 11),
    ];
    for (k, &(sizes, acts, batch)) in cases.iter().enumerate() {
        let (net, x, c) = random_case(sizes, batch, 100 + k as u64);
        let net = net.with_activations(acts).unwrap();
        assert_eq!(net.activations(), acts);
        let mut ws = MlpWorkspace::default();
        let y = net.forward(&x, batch, &mut ws).unwrap().to_vec();
        let p: Vec<f64> = net.params().iter().map(|&v| v as f64).collect();
        let xf: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let reference = forward_acts_f64(sizes, acts, &p, &xf, batch);
        for (a, r) in y.iter().zip(&reference) {
            assert!((*a as f64 - r).abs() < 2e-6, "{sizes:?}: {a} vs {r}");
        }
        let mut grad = vec![f32::NAN; net.n_params()];
        net.backward(&x, batch, &mut ws, &c, &mut grad).unwrap();
        let candle = candle_gradient(&net, &x, &c, batch);
        let scale = candle.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        assert!(scale > 1e-2, "{sizes:?}: degenerate gradient");
        for (i, (&g, &e)) in grad.iter().zip(&candle).enumerate() {
            assert!(
                (g as f64 - e).abs() <= 1e-5 * scale.max(1.0),
                "{acts:?} [{i}]: {g} vs candle {e}"
            );
        }
    }
    assert!(
        Mlp::zeros(&[3, 4, 2])
            .unwrap()
            .with_activations(&[Relu])
            .is_err()
    );
}
