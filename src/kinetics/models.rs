//! Time–activity curve models: evaluation, parameter gradients, bounds and the analytic
//! integral from 0 to ∞.
//!
//! Units: time `t` in hours from administration, rates `λ` in 1/h, amplitudes in the unit of
//! the activity being fitted (Bq for a region, Bq/mL or Bq per voxel for a voxel). The
//! integral is then in activity·h; callers convert to Bq·s (× 3600) once, at output.
//!
//! Symbols: `A` amplitude, `λ` clearance rate, `δ` the extra rate of uptake above washout.
//!
//! | model | A(t) | parameters |
//! |---|---|---|
//! | [`TacModel::MonoExp`] | A·e^(−λt) | A, λ |
//! | [`TacModel::BiExp`] | A₁e^(−λ₁t) + A₂e^(−λ₂t) | A₁, λ₁, A₂, λ₂ |
//! | [`TacModel::TriExp`] | Σ₁³ Aᵢe^(−λᵢt) | A₁, λ₁, A₂, λ₂, A₃, λ₃ |
//! | [`TacModel::UptakeWashout`] | A·(e^(−λt) − e^(−(λ+δ)t)) | A, λ, δ |
//!
//! Every rate is bounded below by the physical decay constant ln2/T½ (a tracer cannot leave
//! more slowly than it decays; DOMAIN.md §4.5) and amplitudes are non-negative. The uptake
//! rate λ+δ is written with δ ≥ 0 so that the bounds stay a box.

use serde::{Deserialize, Serialize};

/// Most parameters any model has (tri-exponential).
pub const MAX_PARAMS: usize = 6;

/// Upper bound on any rate, 1/h: a half-life of one minute, far faster than any SPECT
/// sampling can resolve. It only keeps the optimiser away from overflow.
pub const MAX_RATE_PER_H: f64 = std::f64::consts::LN_2 * 60.0;

/// A time–activity curve model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TacModel {
    /// A·e^(−λt).
    MonoExp,
    /// A₁e^(−λ₁t) + A₂e^(−λ₂t), two clearance phases.
    BiExp,
    /// Three clearance phases.
    TriExp,
    /// A·(e^(−λt) − e^(−(λ+δ)t)): uptake at rate λ+δ, washout at rate λ (a bi-exponential
    /// in uptake form).
    UptakeWashout,
}

impl TacModel {
    /// All models, simplest first.
    pub const ALL: [TacModel; 4] = [
        TacModel::MonoExp,
        TacModel::UptakeWashout,
        TacModel::BiExp,
        TacModel::TriExp,
    ];

    /// Number of free parameters `k`.
    pub fn n_params(self) -> usize {
        match self {
            TacModel::MonoExp => 2,
            TacModel::UptakeWashout => 3,
            TacModel::BiExp => 4,
            TacModel::TriExp => 6,
        }
    }

    /// Short name as used in study files and tables.
    pub fn name(self) -> &'static str {
        match self {
            TacModel::MonoExp => "mono-exp",
            TacModel::BiExp => "bi-exp",
            TacModel::TriExp => "tri-exp",
            TacModel::UptakeWashout => "uptake-washout",
        }
    }

    /// Parses a name as written by [`TacModel::name`].
    pub fn from_name(name: &str) -> Option<TacModel> {
        TacModel::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Parameter names with units, in order.
    pub fn param_names(self) -> &'static [&'static str] {
        match self {
            TacModel::MonoExp => &["A", "lambda_per_h"],
            TacModel::BiExp => &["A1", "lambda1_per_h", "A2", "lambda2_per_h"],
            TacModel::TriExp => &[
                "A1",
                "lambda1_per_h",
                "A2",
                "lambda2_per_h",
                "A3",
                "lambda3_per_h",
            ],
            TacModel::UptakeWashout => &["A", "lambda_washout_per_h", "delta_uptake_per_h"],
        }
    }

    /// Whether parameter `j` is a rate (1/h) rather than an amplitude.
    pub fn is_rate(self, j: usize) -> bool {
        match self {
            TacModel::UptakeWashout => j > 0,
            _ => j % 2 == 1,
        }
    }

    /// Lower and upper bounds of every parameter, given the physical decay constant.
    pub fn bounds(self, lambda_phys_per_h: f64) -> ([f64; MAX_PARAMS], [f64; MAX_PARAMS]) {
        let mut lo = [0.0; MAX_PARAMS];
        let mut hi = [f64::INFINITY; MAX_PARAMS];
        for j in 0..self.n_params() {
            if self.is_rate(j) {
                lo[j] = lambda_phys_per_h;
                hi[j] = MAX_RATE_PER_H;
            }
        }
        if self == TacModel::UptakeWashout {
            // δ is an excess over the washout rate: zero is its physical floor.
            lo[2] = 0.0;
        }
        (lo, hi)
    }

    /// A(t) and, when `grad` is given, ∂A/∂pⱼ for each parameter.
    pub fn eval(self, p: &[f64], t_h: f64, grad: Option<&mut [f64]>) -> f64 {
        match self {
            TacModel::UptakeWashout => {
                let e1 = (-p[1] * t_h).exp();
                let e2 = (-(p[1] + p[2]) * t_h).exp();
                if let Some(g) = grad {
                    g[0] = e1 - e2;
                    g[1] = p[0] * t_h * (e2 - e1);
                    g[2] = p[0] * t_h * e2;
                }
                p[0] * (e1 - e2)
            }
            _ => {
                let terms = self.n_params() / 2;
                let mut sum = 0.0;
                let mut grad = grad;
                for m in 0..terms {
                    let (a, l) = (p[2 * m], p[2 * m + 1]);
                    let e = (-l * t_h).exp();
                    if let Some(g) = grad.as_deref_mut() {
                        g[2 * m] = e;
                        g[2 * m + 1] = -a * t_h * e;
                    }
                    sum += a * e;
                }
                sum
            }
        }
    }

    /// ∫₀^∞ A(t) dt, in activity·h, and when `grad` is given its gradient.
    pub fn integral(self, p: &[f64], grad: Option<&mut [f64]>) -> f64 {
        match self {
            TacModel::UptakeWashout => {
                let (a, l, d) = (p[0], p[1], p[2]);
                let lu = l + d;
                let value = a * (1.0 / l - 1.0 / lu);
                if let Some(g) = grad {
                    g[0] = 1.0 / l - 1.0 / lu;
                    g[1] = a * (-1.0 / (l * l) + 1.0 / (lu * lu));
                    g[2] = a / (lu * lu);
                }
                value
            }
            _ => {
                let mut sum = 0.0;
                let mut grad = grad;
                for m in 0..self.n_params() / 2 {
                    let (a, l) = (p[2 * m], p[2 * m + 1]);
                    if let Some(g) = grad.as_deref_mut() {
                        g[2 * m] = 1.0 / l;
                        g[2 * m + 1] = -a / (l * l);
                    }
                    sum += a / l;
                }
                sum
            }
        }
    }

    /// The slowest (terminal) clearance rate among terms that carry activity, in 1/h.
    pub fn terminal_rate_per_h(self, p: &[f64]) -> f64 {
        match self {
            TacModel::UptakeWashout => p[1],
            _ => (0..self.n_params() / 2)
                .filter(|&m| p[2 * m] > 0.0)
                .map(|m| p[2 * m + 1])
                .fold(f64::INFINITY, f64::min),
        }
    }

    /// Puts multi-exponential terms in order of decreasing rate (fast phase first) so that
    /// results are comparable between fits; permutes the covariance (k×k, row major) along.
    pub fn canonical_order(self, p: &mut [f64], cov: &mut [f64]) {
        if matches!(self, TacModel::MonoExp | TacModel::UptakeWashout) {
            return;
        }
        let k = self.n_params();
        let terms = k / 2;
        let mut order: Vec<usize> = (0..terms).collect();
        order.sort_by(|&a, &b| p[2 * b + 1].total_cmp(&p[2 * a + 1]));
        let perm: Vec<usize> = order.iter().flat_map(|&m| [2 * m, 2 * m + 1]).collect();
        let old_p = p.to_vec();
        let old_c = cov.to_vec();
        for (new, &old) in perm.iter().enumerate() {
            p[new] = old_p[old];
            for (new2, &old2) in perm.iter().enumerate() {
                cov[new * k + new2] = old_c[old * k + old2];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA_LU177_PER_H: f64 = std::f64::consts::LN_2 / (6.647 * 24.0); // ICRP-107 T½

    fn sample_params(model: TacModel) -> Vec<f64> {
        match model {
            TacModel::MonoExp => vec![100.0, 0.02],
            TacModel::BiExp => vec![60.0, 0.3, 40.0, 0.01],
            TacModel::TriExp => vec![30.0, 1.0, 50.0, 0.1, 20.0, 0.006],
            TacModel::UptakeWashout => vec![80.0, 0.015, 0.4],
        }
    }

    #[test]
    fn analytic_gradient_matches_central_differences() {
        for model in TacModel::ALL {
            let p = sample_params(model);
            let k = model.n_params();
            let mut g = [0.0; MAX_PARAMS];
            for t in [0.5, 4.0, 24.0, 96.0] {
                model.eval(&p, t, Some(&mut g));
                for j in 0..k {
                    let h = 1e-6 * p[j].abs().max(1e-3);
                    let (mut pp, mut pm) = (p.clone(), p.clone());
                    pp[j] += h;
                    pm[j] -= h;
                    let fd = (model.eval(&pp, t, None) - model.eval(&pm, t, None)) / (2.0 * h);
                    assert!(
                        (fd - g[j]).abs() <= 1e-5 * (1.0 + fd.abs()),
                        "{model:?} p{j} t={t}: fd {fd} vs {}",
                        g[j]
                    );
                }
            }
        }
    }

    #[test]
    fn analytic_integral_matches_simpson_quadrature() {
        // Independent check: composite Simpson on [0, 3000 h] (tail beyond is < 1e-6 of Ã
        // for every sample, slowest rate 0.006/h → e^(-18)).
        for model in TacModel::ALL {
            let p = sample_params(model);
            let n = 300_000;
            let h = 3000.0 / n as f64;
            let mut s = model.eval(&p, 0.0, None) + model.eval(&p, 3000.0, None);
            for i in 1..n {
                let w = if i % 2 == 1 { 4.0 } else { 2.0 };
                s += w * model.eval(&p, i as f64 * h, None);
            }
            let simpson = s * h / 3.0;
            let exact = model.integral(&p, None);
            assert!(
                (simpson - exact).abs() < 1e-6 * exact,
                "{model:?}: {simpson} vs {exact}"
            );
        }
    }

    #[test]
    fn integral_gradient_matches_central_differences() {
        for model in TacModel::ALL {
            let p = sample_params(model);
            let mut g = [0.0; MAX_PARAMS];
            model.integral(&p, Some(&mut g));
            for j in 0..model.n_params() {
                let h = 1e-6 * p[j].abs();
                let (mut pp, mut pm) = (p.clone(), p.clone());
                pp[j] += h;
                pm[j] -= h;
                let fd = (model.integral(&pp, None) - model.integral(&pm, None)) / (2.0 * h);
                assert!(
                    (fd - g[j]).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "{model:?} p{j}"
                );
            }
        }
    }

    #[test]
    fn rates_are_bounded_by_physical_decay() {
        for model in TacModel::ALL {
            let (lo, _) = model.bounds(LAMBDA_LU177_PER_H);
            for j in 0..model.n_params() {
                let expect = if model.is_rate(j) && !(model == TacModel::UptakeWashout && j == 2) {
                    LAMBDA_LU177_PER_H
                } else {
                    0.0
                };
                assert_eq!(lo[j], expect, "{model:?} p{j}");
            }
        }
    }

    #[test]
    fn canonical_order_puts_fast_phase_first_and_permutes_covariance() {
        let model = TacModel::BiExp;
        let mut p = vec![40.0, 0.01, 60.0, 0.3];
        let mut cov: Vec<f64> = (0..16).map(|i| i as f64).collect();
        model.canonical_order(&mut p, &mut cov);
        assert_eq!(p, vec![60.0, 0.3, 40.0, 0.01]);
        // Old index 2 (A of the fast term) is new index 0: cov[0][0] = old cov[2][2] = 10.
        assert_eq!(cov[0], 10.0);
        assert_eq!(cov[1], 11.0); // old (2,3)
        assert_eq!(cov[2], 8.0); // old (2,0)
    }
}
