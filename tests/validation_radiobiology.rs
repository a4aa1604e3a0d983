//! Validation of the Lea–Catcheside closed forms (src/radiobiology/lq.rs) against an
//! independent numerical evaluation of the defining double integral, its limits, numerical
//! safety at the edges, and the σ propagation.
//!
//! The reference integral (TWIN.md §1; Dale 1985, Br J Radiol 58:515):
//! G·D² = 2 ∫₀^∞ Ḋ(t) ∫₀^t Ḋ(s) e^(−μ(t−s)) ds dt. It is evaluated here by nested
//! Gauss–Legendre quadrature on panels: the inner integral up to each outer node is the
//! inner integral up to the panel start, carried by the factor e^(−μΔt) (exact algebra of
//! splitting ∫₀^t into ∫₀^{t_k} + ∫_{t_k}^t), plus a Gauss–Legendre integral over the rest.
//! Panels are no wider than a fifth of the fastest time scale still present, and the
//! integration runs to 60 slowest time constants (tail < e^(−60)).

use std::f64::consts::LN_2;
use voxdose::kinetics::models::TacModel;
use voxdose::radiobiology::{
    accumulate_cycles, bed_gy, eqd2_gy, g_sigma_from_covariance, DoseRateModel, ExpTerm, Tissue,
};

/// 20-point Gauss–Legendre nodes and weights on [−1, 1], computed by Newton's method on
/// P₂₀ (no table typed in).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    (1..=n)
        .map(|i| {
            let mut x = (std::f64::consts::PI * (i as f64 - 0.25) / (n as f64 + 0.5)).cos();
            let mut dp = 0.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                    p0 = p1;
                    p1 = p2;
                }
                dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let dx = p1 / dp;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            (x, 2.0 / ((1.0 - x * x) * dp * dp))
        })
        .collect()
}

/// ∫_a^b f by Gauss–Legendre.
fn gl(rule: &[(f64, f64)], a: f64, b: f64, f: impl Fn(f64) -> f64) -> f64 {
    let (m, h) = (0.5 * (a + b), 0.5 * (b - a));
    rule.iter().map(|(x, w)| w * f(m + h * x)).sum::<f64>() * h
}

/// G from the double integral, for a dose rate `rate(t)` whose time scales are
/// `fastest_h` (shortest) and `slowest_h` (longest), and repair rate μ.
fn g_numerical(
    rate: &dyn Fn(f64) -> f64,
    dose: f64,
    fastest_h: f64,
    slowest_h: f64,
    mu: f64,
) -> f64 {
    let rule = gauss_legendre(20);
    let t_end = 60.0 * slowest_h.max(1.0 / mu);
    let (mut t, mut inner, mut outer) = (0.0f64, 0.0f64, 0.0f64);
    while t < t_end {
        // Fine panels while the fast components are alive, then growing ones, never wider
        // than a fifth of the repair time or a fifth of the slowest scale.
        let width = (0.2 * fastest_h)
            .max(0.05 * t)
            .min(0.2 / mu)
            .min(0.2 * slowest_h)
            .min(t_end - t);
        let t0 = t;
        let t1 = t0 + width;
        let inner_to = |x: f64| -> f64 {
            (-mu * (x - t0)).exp() * inner + gl(&rule, t0, x, |s| rate(s) * (-mu * (x - s)).exp())
        };
        outer += gl(&rule, t0, t1, |x| rate(x) * inner_to(x));
        inner = inner_to(t1);
        t = t1;
    }
    2.0 * outer / (dose * dose)
}

fn mu(t_rep_h: f64) -> f64 {
    LN_2 / t_rep_h
}

#[test]
fn mono_exponential_closed_form_equals_double_integral() {
    for (t_eff, t_rep) in [(50.0, 2.8), (3.0, 1.5), (160.0, 0.5), (0.7, 2.8)] {
        let l = LN_2 / t_eff;
        let rate = |t: f64| l * (-l * t).exp(); // D = 1 Gy
        let num = g_numerical(&rate, 1.0, 1.0 / l, 1.0 / l, mu(t_rep));
        let closed = DoseRateModel::mono_exponential(t_eff).g_factor(t_rep);
        assert!(
            ((num - closed) / closed).abs() < 1e-6,
            "T_eff {t_eff} h, T_rep {t_rep} h: numerical {num} vs closed {closed}"
        );
    }
}

#[test]
fn uptake_washout_closed_form_equals_double_integral() {
    // Washout 60 h, uptake excess from 1.4 h (fast) to 100 h (slower than washout).
    for (l, d, t_rep) in [
        (LN_2 / 60.0, 0.5, 2.8),
        (0.02, 0.007, 1.5),
        (0.05, 2.0, 0.5),
    ] {
        let k = l + d;
        let dose = d / (l * k); // ∫ e^(−λt) − e^(−κt) dt
        let rate = |t: f64| (-l * t).exp() - (-k * t).exp();
        let num = g_numerical(&rate, dose, 1.0 / k, 1.0 / l, mu(t_rep));
        let model = DoseRateModel::UptakeWashout {
            washout_rate_per_h: l,
            uptake_excess_per_h: d,
        };
        let closed = model.g_factor(t_rep);
        assert!(
            ((num - closed) / closed).abs() < 1e-6,
            "λ {l}, δ {d}, T_rep {t_rep}: numerical {num} vs closed {closed}"
        );
    }
}

#[test]
fn bi_and_tri_exponential_closed_form_equals_double_integral() {
    let cases: Vec<Vec<ExpTerm>> = vec![
        // Bi-exponential: a fast renal phase and a slow retention phase.
        vec![
            ExpTerm {
                amplitude: 60.0,
                rate_per_h: 0.3,
            },
            ExpTerm {
                amplitude: 40.0,
                rate_per_h: 0.01,
            },
        ],
        // Tri-exponential with a negative (uptake) term.
        vec![
            ExpTerm {
                amplitude: 30.0,
                rate_per_h: 0.08,
            },
            ExpTerm {
                amplitude: 50.0,
                rate_per_h: 0.012,
            },
            ExpTerm {
                amplitude: -80.0,
                rate_per_h: 0.9,
            },
        ],
    ];
    for terms in cases {
        let dose: f64 = terms.iter().map(|e| e.amplitude / e.rate_per_h).sum();
        let rate = |t: f64| -> f64 {
            terms
                .iter()
                .map(|e| e.amplitude * (-e.rate_per_h * t).exp())
                .sum()
        };
        let l_max = terms.iter().map(|e| e.rate_per_h).fold(0.0, f64::max);
        let l_min = terms
            .iter()
            .map(|e| e.rate_per_h)
            .fold(f64::INFINITY, f64::min);
        let model = DoseRateModel::exponentials(terms.clone());
        model.validate().unwrap();
        for t_rep in [2.8, 0.5] {
            let num = g_numerical(&rate, dose, 1.0 / l_max, 1.0 / l_min, mu(t_rep));
            let closed = model.g_factor(t_rep);
            assert!(
                ((num - closed) / closed).abs() < 1e-6,
                "{terms:?}, T_rep {t_rep}: numerical {num} vs closed {closed}"
            );
        }
    }
}

#[test]
fn acute_limit_gives_d_times_one_plus_d_over_alpha_beta() {
    // T_eff → 0: BED → D(1 + D/(α/β)) (TWIN.md §1).
    let kidney = Tissue::named("kidney").unwrap();
    let acute = 10.0 * (1.0 + 10.0 / 2.6);
    assert!((bed_gy(10.0, &DoseRateModel::mono_exponential(0.0), &kidney) - acute).abs() < 1e-12);
    let near = bed_gy(10.0, &DoseRateModel::mono_exponential(1e-6), &kidney);
    assert!((near - acute).abs() < 1e-5 * acute, "{near} vs {acute}");
    // Instantaneous uptake–washout (δ → ∞) with fast washout, and a fast bi-exponential.
    let uw = DoseRateModel::UptakeWashout {
        washout_rate_per_h: 1e6,
        uptake_excess_per_h: f64::INFINITY,
    };
    assert!((bed_gy(10.0, &uw, &kidney) - acute).abs() < 1e-4 * acute);
}

#[test]
fn protracted_limit_gives_bed_equal_to_dose() {
    // T_eff → ∞: BED → D; exactly D at T_eff = ∞.
    let kidney = Tissue::named("kidney").unwrap();
    assert_eq!(
        bed_gy(
            10.0,
            &DoseRateModel::mono_exponential(f64::INFINITY),
            &kidney
        ),
        10.0
    );
    // T_eff = 10⁹ h: BED − D = D²·T_rep/(T_rep + T_eff)/(α/β) ≈ 1.08e-7 Gy.
    let long = bed_gy(10.0, &DoseRateModel::mono_exponential(1e9), &kidney);
    assert!(long > 10.0 && long - 10.0 < 2e-7, "{long}");
    // λ near 0 in a sum of exponentials: finite, G → 0, no NaN.
    let slow = DoseRateModel::exponentials(vec![
        ExpTerm {
            amplitude: 1e-12,
            rate_per_h: 1e-12,
        },
        ExpTerm {
            amplitude: 1.0,
            rate_per_h: 1e-11,
        },
    ]);
    slow.validate().unwrap();
    let g = slow.g_factor(2.8);
    assert!(g.is_finite() && (0.0..1e-9).contains(&g), "{g}");
    // Amplitudes in Bq (1e9) with rates near the smallest normal numbers: Σaᵢaⱼ/λ would
    // overflow; the shares form stays finite and G → 0.
    let tiny = DoseRateModel::exponentials(vec![
        ExpTerm {
            amplitude: 1e9,
            rate_per_h: 1e-290,
        },
        ExpTerm {
            amplitude: 5e8,
            rate_per_h: 3e-290,
        },
    ]);
    tiny.validate().unwrap();
    let g = tiny.g_factor(2.8);
    assert!(g.is_finite() && (0.0..1e-280).contains(&g), "{g}");
    // Uptake–washout with a washout rate near 0.
    let uw = DoseRateModel::UptakeWashout {
        washout_rate_per_h: 1e-12,
        uptake_excess_per_h: 0.1,
    };
    let g = uw.g_factor(2.8);
    assert!(g.is_finite() && (0.0..1e-9).contains(&g), "{g}");
}

#[test]
fn uptake_washout_stays_exact_as_uptake_and_washout_rates_meet() {
    // δ → 0: the double sum cancels catastrophically, the closed form does not. Its limit,
    // Ḋ ∝ t·e^(−λt), has G = λ(2λ+μ)/(2(λ+μ)²) (the closed form at κ = λ).
    let (l, t_rep) = (0.02, 2.8);
    let m = mu(t_rep);
    let limit = l * (2.0 * l + m) / (2.0 * (l + m) * (l + m));
    for d in [1e-3, 1e-6, 1e-10, 0.0] {
        let g = DoseRateModel::UptakeWashout {
            washout_rate_per_h: l,
            uptake_excess_per_h: d,
        }
        .g_factor(t_rep);
        // First order in δ: d ln G/dκ at κ = λ is about 1/(2λ) here.
        assert!(
            (g - limit).abs() < d / l * limit + 1e-14,
            "δ {d}: {g} vs {limit}"
        );
    }
    // And the limit itself against the double integral of t·e^(−λt).
    let rate = |t: f64| t * (-l * t).exp();
    let num = g_numerical(&rate, 1.0 / (l * l), 1.0 / l, 1.0 / l, m);
    assert!(((num - limit) / limit).abs() < 1e-6, "{num} vs {limit}");
}

#[test]
fn models_that_are_not_dose_rates_are_refused() {
    // Negative slowest term: the rate turns negative at late times.
    let late_negative = DoseRateModel::exponentials(vec![
        ExpTerm {
            amplitude: 2.0,
            rate_per_h: 0.5,
        },
        ExpTerm {
            amplitude: -0.01,
            rate_per_h: 0.01,
        },
    ]);
    assert_eq!(late_negative.validate().unwrap_err().exit_code(), 32);
    // Negative at t = 0 (uptake term larger than the washout term).
    let early_negative = DoseRateModel::exponentials(vec![
        ExpTerm {
            amplitude: 1.0,
            rate_per_h: 0.01,
        },
        ExpTerm {
            amplitude: -2.0,
            rate_per_h: 0.5,
        },
    ]);
    assert!(early_negative.validate().is_err());
    // Zero rate in a sum (infinite dose), NaN, negative half-life.
    let zero_rate = DoseRateModel::exponentials(vec![ExpTerm {
        amplitude: 1.0,
        rate_per_h: 0.0,
    }]);
    assert!(zero_rate.validate().is_err());
    assert!(DoseRateModel::mono_exponential(-1.0).validate().is_err());
    assert!(DoseRateModel::mono_exponential(f64::NAN)
        .validate()
        .is_err());
    assert!(DoseRateModel::from_tac(TacModel::MonoExp, &[1.0, f64::NAN]).is_err());
    // A proper uptake term (negative, faster than washout, equal amplitude) is fine.
    let uptake = DoseRateModel::exponentials(vec![
        ExpTerm {
            amplitude: 1.0,
            rate_per_h: 0.01,
        },
        ExpTerm {
            amplitude: -1.0,
            rate_per_h: 0.5,
        },
    ]);
    uptake.validate().unwrap();
}

#[test]
fn zero_dose_gives_zero_bed_and_eqd2() {
    let kidney = Tissue::named("kidney").unwrap();
    let b = bed_gy(0.0, &DoseRateModel::mono_exponential(50.0), &kidney);
    assert_eq!(b, 0.0);
    assert_eq!(eqd2_gy(b, kidney.alpha_beta_gy), 0.0);
}

#[test]
fn g_sigma_by_delta_method_matches_the_analytic_derivative() {
    // Mono-exponential: G = λ/(λ+μ), dG/dλ = μ/(λ+μ)²; σ_G = |dG/dλ|·σ_λ.
    let (l, s_l, t_rep) = (0.0139, 0.0011, 2.8);
    let m = mu(t_rep);
    let cov = [4.0, 0.0, 0.0, s_l * s_l]; // amplitude σ 2 (G does not depend on it)
    let s = g_sigma_from_covariance(TacModel::MonoExp, &[100.0, l], &cov, t_rep).unwrap();
    let expect = m / ((l + m) * (l + m)) * s_l;
    assert!(((s - expect) / expect).abs() < 1e-5, "{s} vs {expect}");
}

#[test]
fn g_sigma_by_delta_method_matches_sampling_for_small_sigma() {
    // Uptake–washout with 3 % / 5 % / 5 % parameter σ and a correlation: the delta method's
    // σ_G against the spread of G over 20 000 draws (fixed seed, Box–Muller). For small σ the
    // two agree to first order; the sampled σ has a relative standard error of
    // 1/√(2·20000) ≈ 0.5 %, so 3 % allows for that and the second-order terms.
    let p = [100.0, 0.0139, 0.35];
    let sd = [3.0, 0.0139 * 0.05, 0.35 * 0.05];
    let rho = 0.4; // between λ and δ
    let mut cov = [0.0; 9];
    for i in 0..3 {
        cov[i * 3 + i] = sd[i] * sd[i];
    }
    cov[5] = rho * sd[1] * sd[2];
    cov[7] = cov[5];
    let t_rep = 2.8;
    let delta = g_sigma_from_covariance(TacModel::UptakeWashout, &p, &cov, t_rep).unwrap();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut normal = || {
        let (u1, u2) = (uniform().max(1e-300), uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let n = 20_000;
    let gs: Vec<f64> = (0..n)
        .map(|_| {
            let (z1, z2) = (normal(), normal());
            let l = p[1] + sd[1] * z1;
            let d = p[2] + sd[2] * (rho * z1 + (1.0 - rho * rho).sqrt() * z2);
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: l,
                uptake_excess_per_h: d,
            }
            .g_factor(t_rep)
        })
        .collect();
    let mean = gs.iter().sum::<f64>() / n as f64;
    let sampled = (gs.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    assert!(
        ((delta - sampled) / sampled).abs() < 0.03,
        "delta {delta} vs sampled {sampled}"
    );
}

/// |value − printed| within half a unit of the printed value's last digit (`unit`).
fn agrees_to_print(value: f64, printed: f64, unit: f64) -> bool {
    (value - printed).abs() <= 0.5 * unit + 1e-9
}

/// BED (Gy) of `n` acute fractions of `d` Gy with full repair between them, through the
/// library: each fraction is a BED map of one voxel from an acute dose rate (T_eff = 0, so
/// G = 1), and the fractions are accumulated as cycles are ([`accumulate_cycles`]).
fn fractionated_bed(n: usize, d: f64, alpha_beta_gy: f64) -> f64 {
    // The repair half-time does not enter an acute fraction (G = 1 whatever μ): any value.
    let tissue = Tissue::custom(alpha_beta_gy, 1.5, None);
    let fraction = [bed_gy(d, &DoseRateModel::mono_exponential(0.0), &tissue) as f32];
    let maps: Vec<&[f32]> = (0..n).map(|_| &fraction[..]).collect();
    accumulate_cycles(&maps)[0] as f64
}

#[test]
fn fractionated_bed_matches_published_worked_examples() {
    // Published cross-checks of the acute limit and of the sum over fractions (full repair
    // between them, as between cycles). These are the only worked BED examples with stated
    // inputs and printed results that could be read in the sources this project can reach;
    // none of them is protracted, so they do not check G of a decaying dose rate (the
    // closed forms are checked against the double integral above). Search for a paper's
    // printed mono-exponential kidney BED (Wessels et al. 2008 MIRD Pamphlet 20, Bodei et
    // al. 2008, Baechler et al. 2008, Cremonesi et al. 2006, Hobbs & Sgouros 2009, Barone
    // et al. 2005): only abstracts and first pages were readable, no table.
    //
    // Eye Physics, LLC, "TDF / LQ calculator for iPhone" instructions,
    // http://eyephysics.com/TDF/iPhone/Index.htm, steps 2 and 3: 30 fractions of 200 cGy
    // give "72 Gy_10" for acute effects and "100 Gy_3" for late effects; the same 6000 cGy
    // in 25 fractions gives "74.4 Gy_10". Printed to 1 Gy and 0.1 Gy.
    let cases = [
        (30, 2.0, 10.0, 72.0, 1.0),
        (30, 2.0, 3.0, 100.0, 1.0),
        (25, 60.0 / 25.0, 10.0, 74.4, 0.1),
    ];
    for (n, d, ab, printed, unit) in cases {
        let bed = fractionated_bed(n, d, ab);
        assert!(
            agrees_to_print(bed, printed, unit),
            "{n} × {d} Gy, α/β {ab} Gy: voxdose BED {bed} Gy, published {printed} Gy"
        );
    }
    // calculatorlib.com, "BED radiation calculator", the page for 25 fractions of 2 Gy and
    // α/β = 10 Gy (https://calculatorlib.com/bed-radiation-calculator?abratio=10&dose=2&fractions=25):
    // "Biologically Effective Dose 60 Gy (BED)", "EQD2 … 50 Gy". Printed to 1 Gy.
    let bed = fractionated_bed(25, 2.0, 10.0);
    assert!(agrees_to_print(bed, 60.0, 1.0), "BED {bed}");
    let eqd2 = eqd2_gy(bed, 10.0);
    assert!(agrees_to_print(eqd2, 50.0, 1.0), "EQD2 {eqd2}");
}
