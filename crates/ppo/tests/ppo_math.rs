//! GAE, the PPO losses and gradient clipping against oracles written in the
//! tests: hand-computed values, discounted Monte Carlo returns, and the
//! direct formulas of the PPO paper and stable-baselines3.

use ppo::compute_gae;
use ppo::engine::{clip_grad_norm, global_norm};
use ppo::loss::{clipped_surrogate, explained_variance, normalize_advantages, value_loss};
use proptest::prelude::*;

#[test]
fn gae_matches_hand_computed_values() {
    // One environment, gamma 0.9, lambda 0.8, the episode ends after step 1:
    //   t=2: delta = 3 + 0.9 * 2.0 - 1.5 = 3.3;            A = 3.3
    //   t=1: delta = 2 - 1.0 = 1.0 (done: no bootstrap);   A = 1.0
    //   t=0: delta = 1 + 0.9 * 1.0 - 0.5 = 1.4;            A = 1.4 + 0.72 * 1.0 = 2.12
    let (mut adv, mut ret) = ([0.0f32; 3], [0.0f32; 3]);
    compute_gae(
        &[1.0, 2.0, 3.0],
        &[0.5, 1.0, 1.5],
        &[0.0, 1.0, 0.0],
        &[2.0],
        1,
        0.9,
        0.8,
        &mut adv,
        &mut ret,
    )
    .unwrap();
    for (a, e) in adv.iter().zip([2.12f32, 1.0, 3.3]) {
        assert!((a - e).abs() < 1e-6, "{adv:?}");
    }
    for (r, e) in ret.iter().zip([2.62f32, 2.0, 4.8]) {
        assert!((r - e).abs() < 1e-6, "{ret:?}");
    }
}

#[test]
fn gae_keeps_environments_apart() {
    // Two environments, step-major: [e0 t0, e1 t0, e0 t1, e1 t1].
    // e0: rewards 1, 1, values 0, last value 4, gamma 0.5, lambda 1:
    //     R1 = 1 + 0.5 * 4 = 3, R0 = 1 + 0.5 * 3 = 2.5.
    // e1: rewards 0, 2, values 1, 1, terminal after t1:
    //     R1 = 2, R0 = 0 + 0.5 * 2 = 1; A = R - V = 0, 1.
    let (mut adv, mut ret) = ([0.0f32; 4], [0.0f32; 4]);
    compute_gae(
        &[1.0, 0.0, 1.0, 2.0],
        &[0.0, 1.0, 0.0, 1.0],
        &[0.0, 0.0, 0.0, 1.0],
        &[4.0, 9.0],
        2,
        0.5,
        1.0,
        &mut adv,
        &mut ret,
    )
    .unwrap();
    assert_eq!(ret, [2.5, 1.0, 3.0, 2.0]);
    assert_eq!(adv, [2.5, 0.0, 3.0, 1.0]);
}

#[test]
fn gae_rejects_inconsistent_lengths() {
    let (mut adv, mut ret) = ([0.0f32; 4], [0.0f32; 4]);
    assert!(
        compute_gae(
            &[0.0; 4],
            &[0.0; 4],
            &[0.0; 4],
            &[0.0],
            2,
            0.9,
            0.9,
            &mut adv,
            &mut ret
        )
        .is_err()
    );
    assert!(
        compute_gae(
            &[0.0; 4], &[0.0; 3], &[0.0; 4], &[0.0; 2], 2, 0.9, 0.9, &mut adv, &mut ret
        )
        .is_err()
    );
    assert!(
        compute_gae(
            &[0.0; 3],
            &[0.0; 3],
            &[0.0; 3],
            &[0.0; 2],
            2,
            0.9,
            0.9,
            &mut adv,
            &mut ret[..3]
        )
        .is_err()
    );
}

/// A rollout of `n_envs` environments: rewards, values, dones, last values.
fn rollout() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>)> {
    (1usize..4, 1usize..12).prop_flat_map(|(n_envs, n_steps)| {
        let n = n_envs * n_steps;
        (
            Just(n_envs),
            prop::collection::vec(-2.0f32..2.0, n),
            prop::collection::vec(-3.0f32..3.0, n),
            prop::collection::vec(
                prop::bool::weighted(0.2).prop_map(|d| if d { 1.0 } else { 0.0 }),
                n,
            ),
            prop::collection::vec(-3.0f32..3.0, n_envs),
        )
    })
}

proptest! {
    #[test]
    fn gae_with_lambda_one_gives_discounted_monte_carlo_returns(
        (n_envs, rewards, values, dones, last) in rollout(),
        gamma in 0.0f32..=1.0,
    ) {
        let n = rewards.len();
        let (mut adv, mut ret) = (vec![0.0; n], vec![0.0; n]);
        compute_gae(&rewards, &values, &dones, &last, n_envs, gamma, 1.0, &mut adv, &mut ret).unwrap();
        // Oracle: G_t = r_t + gamma * (1 - done_t) * G_{t+1}, G_T = last value.
        for (e, &last_value) in last.iter().enumerate() {
            let mut g = last_value as f64;
            for t in (0..n / n_envs).rev() {
                let i = t * n_envs + e;
                g = rewards[i] as f64 + gamma as f64 * (1.0 - dones[i] as f64) * g;
                prop_assert!((ret[i] as f64 - g).abs() < 1e-4, "env {} step {}: {} vs {}", e, t, ret[i], g);
                prop_assert!((adv[i] as f64 - (g - values[i] as f64)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn gae_with_lambda_zero_gives_one_step_td_errors(
        (n_envs, rewards, values, dones, last) in rollout(),
        gamma in 0.0f32..=1.0,
    ) {
        let n = rewards.len();
        let (mut adv, mut ret) = (vec![0.0; n], vec![0.0; n]);
        compute_gae(&rewards, &values, &dones, &last, n_envs, gamma, 0.0, &mut adv, &mut ret).unwrap();
        for i in 0..n {
            let next = if i + n_envs < n { values[i + n_envs] } else { last[i % n_envs] };
            let delta = rewards[i] + gamma * (1.0 - dones[i]) * next - values[i];
            prop_assert!((adv[i] - delta).abs() < 1e-5);
        }
    }

    #[test]
    fn clipped_surrogate_matches_the_direct_formula(
        samples in prop::collection::vec((-3.0f32..0.0, -1.0f32..1.0, -2.0f32..2.0), 1..40),
        clip in 0.05f32..0.5,
    ) {
        let logp: Vec<f32> = samples.iter().map(|s| s.0).collect();
        let old: Vec<f32> = samples.iter().map(|s| s.0 - s.1).collect();
        let adv: Vec<f32> = samples.iter().map(|s| s.2).collect();
        let mut d = vec![0.0; logp.len()];
        let stats = clipped_surrogate(&logp, &old, &adv, clip, &mut d).unwrap();
        // Oracle: L = -mean(min(A r, A clip(r, 1 - c, 1 + c))), r = exp(logp - old).
        let n = logp.len() as f64;
        let c = clip as f64;
        let loss = |lp: &[f64]| -> f64 {
            -lp.iter().zip(&old).zip(&adv).map(|((&l, &o), &a)| {
                let r = (l - o as f64).exp();
                (a as f64 * r).min(a as f64 * r.clamp(1.0 - c, 1.0 + c))
            }).sum::<f64>() / n
        };
        let lp: Vec<f64> = logp.iter().map(|&v| v as f64).collect();
        prop_assert!((stats.loss as f64 - loss(&lp)).abs() < 1e-5 * (1.0 + loss(&lp).abs()));
        let ratios: Vec<f64> = lp.iter().zip(&old).map(|(&l, &o)| (l - o as f64).exp()).collect();
        let clipped = ratios.iter().filter(|r| (*r - 1.0).abs() > c).count() as f64 / n;
        prop_assert!((stats.clip_fraction as f64 - clipped).abs() < 1e-6);
        let kl = ratios.iter().map(|r| (r - 1.0) - r.ln()).sum::<f64>() / n;
        prop_assert!((stats.approx_kl as f64 - kl).abs() < 1e-5);
        // Gradient against central differences, away from the kinks.
        for i in 0..lp.len() {
            if (ratios[i] - (1.0 - c)).abs() < 1e-3 || (ratios[i] - (1.0 + c)).abs() < 1e-3 {
                continue;
            }
            let (mut up, mut down) = (lp.clone(), lp.clone());
            up[i] += 1e-6;
            down[i] -= 1e-6;
            let fd = (loss(&up) - loss(&down)) / 2e-6;
            prop_assert!((d[i] as f64 - fd).abs() < 1e-5, "{}: {} vs {}", i, d[i], fd);
        }
    }

    #[test]
    fn value_loss_matches_the_direct_formula(
        samples in prop::collection::vec((-3.0f32..3.0, -3.0f32..3.0, -3.0f32..3.0), 1..40),
        clip in prop::option::of(0.05f32..1.0),
    ) {
        let values: Vec<f32> = samples.iter().map(|s| s.0).collect();
        let old: Vec<f32> = samples.iter().map(|s| s.1).collect();
        let returns: Vec<f32> = samples.iter().map(|s| s.2).collect();
        let mut d = vec![0.0; values.len()];
        let got = value_loss(&values, &old, &returns, clip, &mut d).unwrap();
        // Oracle (stable-baselines3): v' = v, or old + clamp(v - old, -c, c);
        // L = mean((R - v')^2).
        let n = values.len() as f64;
        let loss = |v: &[f64]| -> f64 {
            v.iter().zip(&old).zip(&returns).map(|((&v, &o), &r)| {
                let pred = match clip { None => v, Some(c) => o as f64 + (v - o as f64).clamp(-c as f64, c as f64) };
                (r as f64 - pred).powi(2)
            }).sum::<f64>() / n
        };
        let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
        prop_assert!((got as f64 - loss(&v)).abs() < 1e-5 * (1.0 + loss(&v)));
        for i in 0..v.len() {
            if let Some(c) = clip
                && ((v[i] - old[i] as f64).abs() - c as f64).abs() < 1e-3
            {
                continue;
            }
            let (mut up, mut down) = (v.clone(), v.clone());
            up[i] += 1e-6;
            down[i] -= 1e-6;
            let fd = (loss(&up) - loss(&down)) / 2e-6;
            prop_assert!((d[i] as f64 - fd).abs() < 1e-5, "{}: {} vs {}", i, d[i], fd);
        }
    }

    #[test]
    fn gradient_clipping_yields_the_target_norm(
        a in prop::collection::vec(-10.0f32..10.0, 1..300),
        b in prop::collection::vec(-10.0f32..10.0, 1..300),
        max_norm in 0.01f32..5.0,
    ) {
        let mut a = a;
        let mut b = b;
        let before64 = a.iter().chain(&b).map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let (a0, b0) = (a.clone(), b.clone());
        let before = clip_grad_norm(&mut [&mut a, &mut b], max_norm);
        prop_assert!((before as f64 - before64).abs() < 1e-4 * before64.max(1.0));
        let after = global_norm(&[&a, &b]) as f64;
        if before64 > max_norm as f64 * 1.001 {
            // Scaled by max_norm / (norm + 1e-6): the norm becomes max_norm.
            prop_assert!((after - max_norm as f64).abs() < 1e-5 * (max_norm as f64).max(1.0), "{} vs {}", after, max_norm);
            // Directions are kept.
            let s = a[0] as f64 / a0[0] as f64;
            prop_assert!(a0[0] == 0.0 || (s - max_norm as f64 / (before64 + 1e-6)).abs() < 1e-4);
        } else if before64 < max_norm as f64 * 0.999 {
            prop_assert!(a == a0 && b == b0);
        }
    }
}

#[test]
fn advantage_normalisation_and_explained_variance() {
    let mut a = vec![2.0f32, 4.0, 6.0];
    normalize_advantages(&mut a);
    // mean 4, sample std 2
    for (x, e) in a.iter().zip([-1.0f32, 0.0, 1.0]) {
        assert!((x - e).abs() < 1e-6);
    }
    // 1 - Var(y - p) / Var(y): y = [1, 2, 3, 4], p = y + [0.5, -0.5, 0.5, -0.5]
    // Var(y) = 1.25, Var(y - p) = 0.25 -> 0.8
    let ev = explained_variance(&[1.5, 1.5, 3.5, 3.5], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!((ev - 0.8).abs() < 1e-6);
}
