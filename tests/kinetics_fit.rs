//! Statistical validation of the TAC fits on synthetic curves of known parameters with
//! Gaussian noise from fixed seeds (issue "Kinetics", "Must show"):
//! - parameters and Ã are recovered within their estimated σ at the stated coverage;
//! - AIC/AICc picks the generating model in most draws, at a stated rate;
//! - fitted integrals match the analytic value;
//! - single-time-point estimates agree with the full fit within Hänscheid's published
//!   range for the scan time used (DOMAIN.md §4.5).
//!
//! Tolerances on rates are binomial: |p̂ − p| < k·sqrt(p(1−p)/N) with k = 3.9 (two-sided
//! false-alarm rate ≈ 1e-4 for a correct change that reshuffles the random numbers).

use std::f64::consts::LN_2;
use voxdose::kinetics::fit::{fit_model, fit_tac, Criterion, FitOptions, Tac, TiaMethod};
use voxdose::kinetics::models::TacModel;
use voxdose::kinetics::stp::{haenscheid_ratio_mono, stp_tia, StpMethod};
use voxdose::physics::rng::Pcg32;

/// 177Lu physical decay constant, 1/h (T½ = 6.647 d, ICRP-107).
const LAMBDA_PHYS: f64 = LN_2 / (6.647 * 24.0);
/// k for a two-sided 1e-4 false-alarm rate.
const K: f64 = 3.9;

struct Normal(Pcg32);

impl Normal {
    fn new(seed: u64) -> Self {
        Normal(Pcg32::new(seed, 54))
    }
    fn uniform_open(&mut self) -> f64 {
        let hi = self.0.next_u32() as u64;
        let lo = self.0.next_u32() as u64;
        (((hi << 21) ^ lo) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Box–Muller standard normal.
    fn sample(&mut self) -> f64 {
        let (u1, u2) = (self.uniform_open(), self.uniform_open());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn noisy_tac(model: TacModel, p: &[f64], times: &[f64], rel: f64, rng: &mut Normal) -> Tac {
    let truth: Vec<f64> = times.iter().map(|&t| model.eval(p, t, None)).collect();
    let sigma: Vec<f64> = truth.iter().map(|a| rel * a).collect();
    Tac {
        time_h: times.to_vec(),
        activity: truth
            .iter()
            .zip(&sigma)
            .map(|(a, s)| a + s * rng.sample())
            .collect(),
        sigma,
    }
}

fn binomial_check(what: &str, hits: usize, n: usize, p: f64) {
    let rate = hits as f64 / n as f64;
    let tol = K * (p * (1.0 - p) / n as f64).sqrt();
    eprintln!("{what}: {rate:.4} (expected {p:.4} ± {tol:.4}, N = {n})");
    assert!(
        (rate - p).abs() < tol,
        "{what}: rate {rate} vs {p} ± {tol} (k = {K}, N = {n})"
    );
}

#[test]
fn mono_exponential_parameters_and_tia_are_covered_by_their_sigma_at_68_and_95_percent() {
    let truth = [1000.0, 0.03];
    let times = [2.0, 6.0, 24.0, 48.0, 96.0, 144.0];
    let tia_true = TacModel::MonoExp.integral(&truth, None);
    let n = 2000;
    let mut rng = Normal::new(20261201);
    let (mut in1, mut in2) = ([0usize; 3], [0usize; 3]);
    for _ in 0..n {
        let tac = noisy_tac(TacModel::MonoExp, &truth, &times, 0.05, &mut rng);
        let f = fit_model(TacModel::MonoExp, &tac, LAMBDA_PHYS, true).expect("mono fit");
        let checks = [
            (f.params[0] - truth[0], f.param_sigma[0]),
            (f.params[1] - truth[1], f.param_sigma[1]),
            (f.integral_h - tia_true, f.integral_sigma_h),
        ];
        for (j, (err, s)) in checks.iter().enumerate() {
            in1[j] += (err.abs() <= *s) as usize;
            in2[j] += (err.abs() <= 1.96 * s) as usize;
        }
    }
    // Coverage of a Gaussian: P(|z| ≤ 1) = 0.6827, P(|z| ≤ 1.96) = 0.9500.
    for (j, name) in ["A", "lambda", "TIA"].iter().enumerate() {
        binomial_check(&format!("{name} within 1σ"), in1[j], n, 0.6827);
        binomial_check(&format!("{name} within 1.96σ"), in2[j], n, 0.95);
    }
}

#[test]
fn uptake_washout_tia_is_covered_by_its_sigma() {
    let truth = [5000.0, 0.015, 0.3];
    let times = [1.0, 4.0, 24.0, 48.0, 96.0, 168.0];
    let tia_true = TacModel::UptakeWashout.integral(&truth, None);
    let n = 1000;
    let mut rng = Normal::new(7);
    let mut in1 = 0;
    for _ in 0..n {
        let tac = noisy_tac(TacModel::UptakeWashout, &truth, &times, 0.05, &mut rng);
        let f = fit_model(TacModel::UptakeWashout, &tac, LAMBDA_PHYS, true).expect("fit");
        in1 += ((f.integral_h - tia_true).abs() <= f.integral_sigma_h) as usize;
    }
    binomial_check("uptake-washout TIA within 1σ", in1, n, 0.6827);
}

/// Selection rates observed when this test was written (seeds 11 and 12, Pcg32 stream 54,
/// 300 draws each: 297/300 and 291/300). They are stated, not derived: the check is that a
/// change to the fitter does not move them beyond binomial noise.
const BI_PICKS_BI_RATE: f64 = 0.99;
/// See [`BI_PICKS_BI_RATE`].
const MONO_PICKS_MONO_RATE: f64 = 0.97;

fn selection_rate(model: TacModel, p: &[f64], seed: u64, n: usize) -> usize {
    let times = [1.0, 4.0, 8.0, 24.0, 48.0, 96.0, 168.0];
    let opts = FitOptions {
        models: vec![TacModel::MonoExp, TacModel::UptakeWashout, TacModel::BiExp],
        criterion: Criterion::Aicc,
        absolute_sigma: true,
        ..FitOptions::default()
    };
    let mut rng = Normal::new(seed);
    (0..n)
        .filter(|_| {
            let tac = noisy_tac(model, p, &times, 0.03, &mut rng);
            let f = fit_tac(&tac, LAMBDA_PHYS, &opts, "draw").unwrap();
            f.selected_fit().map(|m| m.model) == Some(model)
        })
        .count()
}

#[test]
fn aicc_with_parsimony_picks_the_generating_model_in_most_draws() {
    let n = 300;
    let bi = selection_rate(TacModel::BiExp, &[600.0, 0.25, 400.0, 0.01], 11, n);
    let mono = selection_rate(TacModel::MonoExp, &[1000.0, 0.02], 12, n);
    eprintln!("bi-exp data → bi-exp: {bi}/{n}; mono data → mono: {mono}/{n}");
    assert!(
        bi * 2 > n && mono * 2 > n,
        "most draws must pick the generating model"
    );
    binomial_check("bi-exp picked for bi-exp data", bi, n, BI_PICKS_BI_RATE);
    binomial_check(
        "mono-exp picked for mono data",
        mono,
        n,
        MONO_PICKS_MONO_RATE,
    );
}

#[test]
fn fitted_integrals_of_noise_free_curves_match_the_analytic_value() {
    let cases: [(TacModel, &[f64]); 4] = [
        (TacModel::MonoExp, &[1000.0, 0.02]),
        (TacModel::UptakeWashout, &[800.0, 0.012, 0.6]),
        (TacModel::BiExp, &[600.0, 0.25, 400.0, 0.01]),
        (TacModel::TriExp, &[300.0, 1.2, 500.0, 0.1, 200.0, 0.006]),
    ];
    let times: Vec<f64> = [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 24.0, 48.0, 72.0, 120.0, 168.0, 240.0,
    ]
    .to_vec();
    for (model, p) in cases {
        let truth: Vec<f64> = times.iter().map(|&t| model.eval(p, t, None)).collect();
        let tac = Tac {
            time_h: times.clone(),
            sigma: truth.iter().map(|a| 0.01 * a).collect(),
            activity: truth,
        };
        let f = fit_model(model, &tac, LAMBDA_PHYS, true).unwrap();
        let exact = model.integral(p, None);
        assert!(
            (f.integral_h - exact).abs() < 1e-6 * exact,
            "{model:?}: fitted {} vs analytic {exact}",
            f.integral_h
        );
    }
}

#[test]
fn haenscheid_matches_the_full_fit_within_the_published_range_for_the_scan_time() {
    // Mono-exponential with T_eff = 60 h, densely sampled, fitted; then one "scan" at
    // x·T_eff gives the STP estimate. Published (DOMAIN.md §4.5, Hänscheid 2018): exact at
    // x = 1, ≤ 6 % high near x = 1.44, within 10 % for 0.76 ≤ x ≤ 2.4. The 10 % bound is
    // rounded: 2x·2^(−x) = 0.8976 at x = 0.76 and crosses 0.90 at x ≈ 0.765, so the grid
    // starts at 0.765 and x = 0.76 itself is checked against 10.5 %.
    let t_eff = 60.0;
    let truth = [2.0e6, LN_2 / t_eff];
    let times = [2.0, 6.0, 24.0, 48.0, 72.0, 96.0, 144.0, 192.0];
    let tac = Tac {
        time_h: times.to_vec(),
        activity: times
            .iter()
            .map(|&t| TacModel::MonoExp.eval(&truth, t, None))
            .collect(),
        sigma: times
            .iter()
            .map(|&t| 0.02 * TacModel::MonoExp.eval(&truth, t, None))
            .collect(),
    };
    let full = fit_tac(&tac, LAMBDA_PHYS, &FitOptions::default(), "mono").unwrap();
    assert_eq!(full.method, TiaMethod::Fit);
    let stp_ratio = |x: f64| {
        let t = x * t_eff;
        stp_tia(
            StpMethod::Haenscheid,
            t,
            TacModel::MonoExp.eval(&truth, t, None),
        )
        .tia_h
            / full.tia_h
    };
    assert!(
        (stp_ratio(1.0) - 1.0).abs() < 1e-6,
        "exact at T_eff: {}",
        stp_ratio(1.0)
    );
    let peak = stp_ratio(1.0 / LN_2);
    assert!(peak > 1.05 && peak <= 1.062, "near 1.44 T_eff: {peak}");
    assert!((stp_ratio(0.76) - 1.0).abs() < 0.105);
    for i in 0..=40 {
        let x = 0.765 + (2.4 - 0.765) * i as f64 / 40.0;
        let r = stp_ratio(x);
        assert!((r - 1.0).abs() <= 0.10 + 1e-6, "x = {x}: ratio {r}");
        assert!(r <= 1.062, "x = {x}: ratio {r} above the 6 % maximum");
        assert!((r - haenscheid_ratio_mono(x)).abs() < 1e-6);
    }
    assert!(
        stp_ratio(0.5) < 0.9 && stp_ratio(3.5) < 0.9,
        "outside the range the error grows"
    );
}

#[test]
fn population_half_life_stp_matches_the_full_fit_when_the_half_life_is_right() {
    let t_eff = 50.0;
    let truth = [1.0e6, LN_2 / t_eff];
    let times = [4.0, 24.0, 48.0, 96.0, 168.0];
    let mut rng = Normal::new(99);
    let tac = noisy_tac(TacModel::MonoExp, &truth, &times, 0.03, &mut rng);
    let full = fit_tac(
        &tac,
        LAMBDA_PHYS,
        &FitOptions {
            absolute_sigma: true,
            ..FitOptions::default()
        },
        "m",
    )
    .unwrap();
    // One scan at 72 h with 3 % noise: the estimate differs from the fit by the noise of
    // that point and of the fit, combined (k = 3.9).
    let a72 = TacModel::MonoExp.eval(&truth, 72.0, None) * (1.0 + 0.03 * rng.sample());
    let stp = stp_tia(
        StpMethod::PopulationHalfLife {
            effective_half_life_h: t_eff,
        },
        72.0,
        a72,
    );
    let s = ((0.03 * stp.tia_h).powi(2) + full.tia_sigma_h.powi(2)).sqrt();
    assert!(
        (stp.tia_h - full.tia_h).abs() < K * s,
        "{} vs {} ± {s}",
        stp.tia_h,
        full.tia_h
    );
}

/// The fast voxel path (variable projection, `voxel::fit_voxel_tac`) against the full
/// Levenberg–Marquardt fit over every parameter run to tight convergence
/// (`fit_voxel_tac_full_lm` with `LmOptions::default()`), on synthetic voxel TACs of the
/// benchmark's kind: 4 scans (4, 24, 72, 168 h), uptake–washout kinetics over the ranges
/// of `benches/kinetics.rs`, 5 % Gaussian noise, fixed seed; and mono-exponential voxels
/// with 3 scans. Both minimise the same WRSS, so where they reach the same minimum Ã and
/// σ(Ã) must agree to optimiser precision (1e-6 and 1e-4 relative). Where they do not
/// (a different local minimum or a bound), the fast path must have found a WRSS at least
/// as low, i.e. it is never the worse fit.
#[test]
fn variable_projection_voxel_fit_matches_the_full_levenberg_marquardt_fit() {
    use voxdose::kinetics::lm::LmOptions;
    use voxdose::kinetics::voxel::{fit_voxel_tac, fit_voxel_tac_full_lm, VoxelStatus};
    let mut rng = Normal::new(20261202);
    let mut uniform = Pcg32::new(5, 9);
    let mut u = move || uniform.next_u32() as f64 / 4294967296.0;
    let cases: Vec<(TacModel, Vec<f64>, Vec<f64>)> = (0..3000)
        .map(|i| {
            if i % 3 == 2 {
                let p = vec![1.0e4 * (0.5 + u()), LAMBDA_PHYS + 0.04 * u()];
                (TacModel::MonoExp, p, vec![4.0, 24.0, 96.0])
            } else {
                let p = vec![
                    1.0e4 * (0.5 + 2.0 * u()),
                    LAMBDA_PHYS + 0.005 + 0.03 * u(),
                    0.1 + 0.4 * u(),
                ];
                (TacModel::UptakeWashout, p, vec![4.0, 24.0, 72.0, 168.0])
            }
        })
        .collect();
    let (mut same, mut better, mut at_bound, mut n) = (0usize, 0usize, 0usize, 0usize);
    let mut worst = 0.0f64;
    for (model, p, times) in &cases {
        let tac = noisy_tac(*model, p, times, 0.05, &mut rng);
        let fast = fit_voxel_tac(*model, times, &tac.activity, 0.05, LAMBDA_PHYS);
        let full = fit_voxel_tac_full_lm(
            *model,
            times,
            &tac.activity,
            0.05,
            LAMBDA_PHYS,
            LmOptions::default(),
        );
        n += 1;
        let d_tia = (fast.tia_bq_h - full.tia_bq_h).abs() / full.tia_bq_h.abs().max(1e-300);
        let d_sigma = (fast.sigma_bq_h - full.sigma_bq_h).abs() / full.sigma_bq_h.abs().max(1e-300);
        if fast.status == full.status && d_tia <= 1e-6 && d_sigma <= 1e-4 {
            same += 1;
            worst = worst.max(d_tia);
            continue;
        }
        let full_wrss = if full.status == VoxelStatus::Fitted {
            full.wrss
        } else {
            f64::INFINITY
        };
        if fast.status == VoxelStatus::Fitted && fast.wrss < full_wrss * (1.0 - 1e-9) {
            // A lower minimum than the full fit found (it stopped in another valley).
            better += 1;
            continue;
        }
        assert!(
            fast.status == VoxelStatus::Fitted
                && full.status == VoxelStatus::Fitted
                && full.sigma_bq_h > 1e3 * full.tia_bq_h,
            "{model:?} {p:?}: fast {fast:?} vs full {full:?}"
        );
        // Same valley, uptake over before the first scan: δ is not resolved (flat WRSS),
        // the full fit's JᵀWJ is singular (σ ~ 1e70) and it stops anywhere along the
        // valley; the fast path puts δ on its one-minute bound and holds it fixed. At the
        // scans the curve is then a mono-exponential to 1e-70, so the mono-exponential fit
        // must give the same WRSS and σ(Ã), and Ã less the uptake term A/(λ+δ), which is
        // ≤ 5e-3 of Ã for λ ≤ 0.2/h and δ = 41.6/h (models.rs MAX_RATE_PER_H).
        let mono = fit_voxel_tac_full_lm(
            TacModel::MonoExp,
            times,
            &tac.activity,
            0.05,
            LAMBDA_PHYS,
            LmOptions::default(),
        );
        let ratio = fast.tia_bq_h / mono.tia_bq_h;
        assert!(
            ratio > 1.0 - 5e-3 && ratio < 1.0 + 1e-6,
            "{model:?} {p:?}: fast {fast:?}, mono {mono:?}"
        );
        assert!(
            (fast.wrss - mono.wrss).abs() <= 1e-6 * mono.wrss.max(1e-12),
            "{model:?} {p:?}: fast {fast:?}, mono {mono:?}"
        );
        assert!(
            (fast.sigma_bq_h - mono.sigma_bq_h).abs() < 1e-2 * mono.sigma_bq_h,
            "{model:?} {p:?}: fast {fast:?}, mono {mono:?}"
        );
        at_bound += 1;
    }
    eprintln!(
        "{same}/{n} voxels agree (largest Ã difference {worst:.1e}); {at_bound} agree with a rate on its upper bound; {better} reach a lower WRSS with the fast path"
    );
    assert!(same + at_bound + better == n);
}

#[test]
fn variable_projection_voxel_fit_is_exact_on_noise_free_curves() {
    use voxdose::kinetics::voxel::fit_voxel_tac;
    for (model, p, times) in [
        (
            TacModel::UptakeWashout,
            vec![5000.0, 0.02, 0.5],
            vec![4.0, 24.0, 72.0, 168.0],
        ),
        (
            TacModel::UptakeWashout,
            vec![800.0, 0.012, 0.06],
            vec![1.0, 4.0, 24.0, 72.0, 168.0],
        ),
        (TacModel::MonoExp, vec![1000.0, 0.03], vec![4.0, 24.0, 96.0]),
    ] {
        let y: Vec<f64> = times.iter().map(|&t| model.eval(&p, t, None)).collect();
        let r = fit_voxel_tac(model, &times, &y, 0.05, LAMBDA_PHYS);
        let exact = model.integral(&p, None);
        assert!(r.fitted, "{model:?} {p:?}: {r:?}");
        assert!(
            (r.tia_bq_h - exact).abs() < 1e-8 * exact,
            "{model:?} {p:?}: {} vs {exact}",
            r.tia_bq_h
        );
    }
    // A mono-exponential curve fitted with the uptake–washout model: the instantaneous-
    // uptake valley, Ã = A/λ − A/(λ + δ_max) (δ_max = 41.6/h, models.rs MAX_RATE_PER_H).
    let (p, times) = ([1000.0, 0.008], [4.0, 24.0, 72.0, 168.0]);
    let y: Vec<f64> = times
        .iter()
        .map(|&t| TacModel::MonoExp.eval(&p, t, None))
        .collect();
    let r = fit_voxel_tac(TacModel::UptakeWashout, &times, &y, 0.05, LAMBDA_PHYS);
    let limit = p[0] / p[1] - p[0] / (p[1] + voxdose::kinetics::models::MAX_RATE_PER_H);
    assert!(r.fitted, "{r:?}");
    assert!(
        (r.tia_bq_h - limit).abs() < 1e-6 * limit,
        "{} vs {limit}",
        r.tia_bq_h
    );
}
