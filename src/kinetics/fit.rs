//! Fitting one time–activity curve: start values, weighted Levenberg–Marquardt per model,
//! model selection by AIC/AICc with the ΔAIC ≤ 2 parsimony rule, and the trapezoid +
//! physical-decay-tail fallback. Integrals are analytic 0 → ∞ (see [`super::models`]).
//!
//! Units: time in h, rates in 1/h, activity in the caller's unit; integrals in activity·h.
//!
//! Selection follows DOMAIN.md §4.5: AIC = n·ln(WRSS/n) + 2k and
//! AICc = AIC + 2k(k+1)/(n−k−1) (defined for n > k+1). The model with the lowest criterion
//! wins, except that the model with fewest parameters among those within Δ = 2 of the lowest
//! is kept (PyTheranostics' rule). A model is a candidate only with at least one degree of
//! freedom (n ≥ k+1); with [`Criterion::Auto`] AICc is used when it is defined for every
//! candidate, AIC otherwise.
//!
//! Uncertainty of Ã from the fit is the delta method: σ²(Ã) = gᵀ C g with g = ∂Ã/∂p and C
//! the parameter covariance (EANM 2018 law of propagation, Gear et al. EJNMMI
//! 2018;45:2456). With `absolute_sigma` C = (JᵀWJ)⁻¹ (the σᵢ are known); otherwise C is
//! scaled by WRSS/(n−k), as when the σᵢ are known only up to a factor.

use super::lm::{self, LmOptions, Params};
use super::models::{TacModel, MAX_PARAMS};
use super::KineticsError;
use serde::{Deserialize, Serialize};

/// One time–activity curve.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tac {
    /// Time of each point from administration, h, strictly increasing.
    pub time_h: Vec<f64>,
    /// Activity at each point (Bq, Bq/mL, … as the caller chooses).
    pub activity: Vec<f64>,
    /// One-σ uncertainty of each activity, same unit; used as weights 1/σ².
    pub sigma: Vec<f64>,
}

/// Which information criterion ranks models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// Akaike information criterion.
    Aic,
    /// AIC with the small-sample correction.
    Aicc,
    /// AICc where defined for every candidate, else AIC.
    Auto,
}

/// How a curve is fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Models to try.
    pub models: Vec<TacModel>,
    /// Ranking criterion.
    pub criterion: Criterion,
    /// Keep the simplest model within this criterion difference of the best (2 per
    /// PyTheranostics).
    pub parsimony_delta: f64,
    /// Whether the σᵢ are absolute (covariance (JᵀWJ)⁻¹) or relative (scaled by WRSS/(n−k)).
    pub absolute_sigma: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            models: TacModel::ALL.to_vec(),
            criterion: Criterion::Auto,
            parsimony_delta: 2.0,
            absolute_sigma: false,
        }
    }
}

/// One model fitted to one curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFit {
    /// The model.
    pub model: TacModel,
    /// Parameters in the order of [`TacModel::param_names`].
    pub params: Vec<f64>,
    /// One-σ uncertainty of each parameter.
    pub param_sigma: Vec<f64>,
    /// Parameter covariance, k×k row major.
    pub covariance: Vec<f64>,
    /// Weighted residual sum of squares.
    pub wrss: f64,
    /// AIC = n·ln(WRSS/n) + 2k.
    pub aic: f64,
    /// AICc, where n > k+1.
    pub aicc: Option<f64>,
    /// Weighted coefficient of determination.
    pub r_squared: f64,
    /// Optimiser iterations.
    pub iterations: usize,
    /// Names of parameters that ended on a bound.
    pub at_bound: Vec<String>,
    /// ∫₀^∞ of the fitted curve, activity·h.
    pub integral_h: f64,
    /// One-σ uncertainty of `integral_h` from the covariance, activity·h.
    pub integral_sigma_h: f64,
}

impl ModelFit {
    /// The criterion value used for ranking.
    pub fn criterion(&self, use_aicc: bool) -> f64 {
        if use_aicc {
            self.aicc.unwrap_or(f64::INFINITY)
        } else {
            self.aic
        }
    }
}

/// How the time-integrated activity was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TiaMethod {
    /// Analytic integral of a fitted model.
    Fit,
    /// Trapezoids, linear from zero before the first point, physical decay after the last.
    Trapezoid,
    /// A single-time-point method (see [`super::stp`]).
    SingleTimePoint,
}

/// The result for one curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TacFit {
    /// Every model that could be fitted, in the order tried.
    pub candidates: Vec<ModelFit>,
    /// Index into `candidates` of the selected model (when `method` is `Fit`).
    pub selected: Option<usize>,
    /// Whether AICc (rather than AIC) ranked the candidates.
    pub used_aicc: bool,
    /// How Ã was obtained.
    pub method: TiaMethod,
    /// Ã in activity·h.
    pub tia_h: f64,
    /// One-σ of Ã from the fit (or from the point σ for trapezoids), activity·h.
    pub tia_sigma_h: f64,
    /// Effective half-life of the terminal phase, h.
    pub effective_half_life_h: f64,
    /// Fraction of Ã after the last time point.
    pub tail_fraction: f64,
    /// Notes for the reader (why a fallback was taken, …).
    pub notes: Vec<String>,
}

impl TacFit {
    /// The selected model fit, if any.
    pub fn selected_fit(&self) -> Option<&ModelFit> {
        self.selected.map(|i| &self.candidates[i])
    }
}

fn check_tac(tac: &Tac, what: &str) -> Result<(), KineticsError> {
    let fail = |reason: String| KineticsError::FitFailed {
        region: what.to_string(),
        reason,
    };
    let n = tac.time_h.len();
    if n == 0 || tac.activity.len() != n || tac.sigma.len() != n {
        return Err(fail(format!(
            "needs equal, non-zero numbers of times, activities and σ (got {}, {}, {})",
            n,
            tac.activity.len(),
            tac.sigma.len()
        )));
    }
    for i in 0..n {
        if !(tac.time_h[i].is_finite() && tac.activity[i].is_finite() && tac.sigma[i] > 0.0) {
            return Err(fail(format!(
                "point {i} (t = {} h, A = {}, σ = {}) is not finite or has σ ≤ 0",
                tac.time_h[i], tac.activity[i], tac.sigma[i]
            )));
        }
        if i > 0 && tac.time_h[i] <= tac.time_h[i - 1] {
            return Err(fail(format!(
                "times must increase: point {i} at {} h follows {} h",
                tac.time_h[i],
                tac.time_h[i - 1]
            )));
        }
    }
    Ok(())
}

/// Log-spaced rate grid from λ_phys up to a rate the sampling can still see.
fn rate_grid(tac: &Tac, lambda_phys: f64, n: usize) -> Vec<f64> {
    let t_first = tac.time_h[0].max(0.1);
    let top = (5.0 / t_first).max(lambda_phys * 4.0);
    (0..n)
        .map(|i| lambda_phys * (top / lambda_phys).powf(i as f64 / (n - 1) as f64))
        .collect()
}

/// Amplitudes for fixed rates by weighted linear least squares, clamped at zero.
fn amplitudes_for_rates(model: TacModel, rates: &[f64], tac: &Tac) -> Option<Params> {
    let mut p = [0.0; MAX_PARAMS];
    match model {
        TacModel::UptakeWashout => {
            p[1] = rates[0];
            p[2] = rates[1];
            p[0] = 1.0;
            let (mut num, mut den) = (0.0, 0.0);
            for i in 0..tac.time_h.len() {
                let basis = model.eval(&p, tac.time_h[i], None);
                let w = 1.0 / (tac.sigma[i] * tac.sigma[i]);
                num += w * basis * tac.activity[i];
                den += w * basis * basis;
            }
            if den <= 0.0 {
                return None;
            }
            p[0] = (num / den).max(0.0);
        }
        _ => {
            let m = model.n_params() / 2;
            let mut a = [0.0; MAX_PARAMS * MAX_PARAMS];
            let mut b = [0.0; MAX_PARAMS];
            for i in 0..tac.time_h.len() {
                let w = 1.0 / (tac.sigma[i] * tac.sigma[i]);
                let e: Vec<f64> = rates.iter().map(|l| (-l * tac.time_h[i]).exp()).collect();
                for r in 0..m {
                    b[r] += w * e[r] * tac.activity[i];
                    for c in 0..m {
                        a[r * m + c] += w * e[r] * e[c];
                    }
                }
            }
            let x = lm::cholesky_solve(&a, &b, m)?;
            for r in 0..m {
                p[2 * r] = x[r].max(0.0);
                p[2 * r + 1] = rates[r];
            }
        }
    }
    Some(p)
}

/// Start values: every rate combination on a small grid, amplitudes by linear least
/// squares; the `keep` best by WRSS are returned.
fn start_values(model: TacModel, tac: &Tac, lambda_phys: f64, keep: usize) -> Vec<Params> {
    let grid = rate_grid(tac, lambda_phys, 9);
    let mut combos: Vec<Vec<f64>> = Vec::new();
    match model {
        TacModel::MonoExp => combos.extend(grid.iter().map(|&l| vec![l])),
        TacModel::UptakeWashout => {
            for &l in &grid {
                for &u in &grid {
                    if u > l {
                        combos.push(vec![l, u - l]);
                    }
                }
            }
        }
        TacModel::BiExp => {
            for i in 0..grid.len() {
                for j in 0..i {
                    combos.push(vec![grid[i], grid[j]]);
                }
            }
        }
        TacModel::TriExp => {
            for i in 0..grid.len() {
                for j in 0..i {
                    for l in 0..j {
                        combos.push(vec![grid[i], grid[j], grid[l]]);
                    }
                }
            }
        }
    }
    let mut scored: Vec<(f64, Params)> = combos
        .iter()
        .filter_map(|rates| amplitudes_for_rates(model, rates, tac))
        .map(|p| {
            let w: Vec<f64> = tac.sigma.iter().map(|s| 1.0 / (s * s)).collect();
            (lm::wrss(model, &p, &tac.time_h, &tac.activity, &w), p)
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.into_iter().take(keep).map(|(_, p)| p).collect()
}

/// Fits one model; `None` when the fit fails (no start values, singular covariance).
pub fn fit_model(
    model: TacModel,
    tac: &Tac,
    lambda_phys_per_h: f64,
    absolute_sigma: bool,
) -> Option<ModelFit> {
    let k = model.n_params();
    let n = tac.time_h.len();
    if n < k + 1 {
        return None;
    }
    let w: Vec<f64> = tac.sigma.iter().map(|s| 1.0 / (s * s)).collect();
    let (lo, hi) = model.bounds(lambda_phys_per_h);
    let best = start_values(model, tac, lambda_phys_per_h, 3)
        .iter()
        .map(|p0| {
            lm::fit(
                model,
                &tac.time_h,
                &tac.activity,
                &w,
                p0,
                &lo,
                &hi,
                LmOptions::default(),
            )
        })
        .min_by(|a, b| a.wrss.total_cmp(&b.wrss))?;
    summarise(model, tac, &w, &best, absolute_sigma)
}

fn summarise(
    model: TacModel,
    tac: &Tac,
    w: &[f64],
    r: &lm::LmResult,
    absolute_sigma: bool,
) -> Option<ModelFit> {
    let k = model.n_params();
    let n = tac.time_h.len();
    let mut cov = lm::spd_inverse(&r.jtwj[..k * k], k)?;
    if !absolute_sigma {
        let s2 = r.wrss / (n - k) as f64;
        cov.iter_mut().for_each(|c| *c *= s2);
    }
    let mut params = r.params[..k].to_vec();
    model.canonical_order(&mut params, &mut cov);
    let mut g = [0.0; MAX_PARAMS];
    let integral_h = model.integral(&params, Some(&mut g));
    let mut var = 0.0;
    for a in 0..k {
        for b in 0..k {
            var += g[a] * cov[a * k + b] * g[b];
        }
    }
    if !(integral_h.is_finite() && var.is_finite() && var >= 0.0) {
        return None;
    }
    let sw: f64 = w.iter().sum();
    let mean = tac.activity.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / sw;
    let tss: f64 = tac
        .activity
        .iter()
        .zip(w)
        .map(|(y, w)| w * (y - mean) * (y - mean))
        .sum();
    let nf = n as f64;
    if !r.wrss.is_finite() {
        return None;
    }
    // Residuals below 1e-9 σ per point are rounding, not information: floor WRSS at
    // n·(1e-9)² so that exact fits of noise-free data tie (and parsimony decides) instead of
    // ranking by round-off, and AIC stays finite.
    let aic = nf * (r.wrss.max(nf * 1e-18) / nf).ln() + 2.0 * k as f64;
    let aicc = (n > k + 1).then(|| aic + 2.0 * (k * (k + 1)) as f64 / (n - k - 1) as f64);
    let names = model.param_names();
    Some(ModelFit {
        model,
        param_sigma: (0..k).map(|j| cov[j * k + j].max(0.0).sqrt()).collect(),
        params,
        covariance: cov,
        wrss: r.wrss,
        aic,
        aicc,
        r_squared: if tss > 0.0 { 1.0 - r.wrss / tss } else { 1.0 },
        iterations: r.iterations,
        at_bound: (0..k)
            .filter(|j| r.at_bound & (1 << j) != 0)
            .map(|j| names[j].to_string())
            .collect(),
        integral_h,
        integral_sigma_h: var.sqrt(),
    })
}

/// Picks the model by the criterion and the parsimony rule; returns (index, used AICc).
pub fn select_model(candidates: &[ModelFit], n: usize, opts: &FitOptions) -> Option<(usize, bool)> {
    if candidates.is_empty() {
        return None;
    }
    let use_aicc = match opts.criterion {
        Criterion::Aic => false,
        Criterion::Aicc => true,
        Criterion::Auto => candidates.iter().all(|c| n > c.model.n_params() + 1),
    };
    let best = candidates
        .iter()
        .map(|c| c.criterion(use_aicc))
        .fold(f64::INFINITY, f64::min);
    if !best.is_finite() {
        return None;
    }
    let chosen = (0..candidates.len())
        .filter(|&i| candidates[i].criterion(use_aicc) <= best + opts.parsimony_delta)
        .min_by(|&a, &b| {
            let (ca, cb) = (&candidates[a], &candidates[b]);
            ca.model
                .n_params()
                .cmp(&cb.model.n_params())
                .then(ca.criterion(use_aicc).total_cmp(&cb.criterion(use_aicc)))
        })?;
    Some((chosen, use_aicc))
}

/// Ã by trapezoids: linear from zero at t = 0 to the first point, physical decay after the
/// last point (a conservative tail). Returns (Ã, σ(Ã), tail fraction) in activity·h; σ is
/// exact since Ã is linear in the activities.
pub fn trapezoid_tia(tac: &Tac, lambda_phys_per_h: f64) -> (f64, f64, f64) {
    trapezoid_tia_points(&tac.time_h, &tac.activity, &tac.sigma, lambda_phys_per_h)
}

/// [`trapezoid_tia`] on plain slices (equal, non-zero lengths), allocating nothing, for the
/// voxel fallback. Point i carries the weight cᵢ = (tᵢ₊₁ − tᵢ₋₁)/2 with t₋₁ = 0, the last
/// point (tₙ₋₁ − tₙ₋₂)/2 + 1/λ_phys.
pub fn trapezoid_tia_points(
    time_h: &[f64],
    activity: &[f64],
    sigma: &[f64],
    lambda_phys_per_h: f64,
) -> (f64, f64, f64) {
    let n = time_h.len();
    let (mut tia, mut var) = (0.0, 0.0);
    for i in 0..n {
        let before = if i == 0 { 0.0 } else { time_h[i - 1] };
        let mut c = if i + 1 < n {
            0.5 * (time_h[i + 1] - before)
        } else {
            0.5 * (time_h[i] - before)
        };
        if i + 1 == n {
            c += 1.0 / lambda_phys_per_h;
        }
        tia += c * activity[i];
        var += c * c * sigma[i] * sigma[i];
    }
    let tail = activity[n - 1] / lambda_phys_per_h;
    (tia, var.sqrt(), if tia > 0.0 { tail / tia } else { 0.0 })
}

/// Fits a curve with every allowed model, selects one, and falls back to trapezoids when no
/// model fits. `what` names the curve in errors (region name, voxel index).
pub fn fit_tac(
    tac: &Tac,
    lambda_phys_per_h: f64,
    opts: &FitOptions,
    what: &str,
) -> Result<TacFit, KineticsError> {
    check_tac(tac, what)?;
    let n = tac.time_h.len();
    let mut notes = Vec::new();
    let candidates: Vec<ModelFit> = opts
        .models
        .iter()
        .filter_map(|&m| {
            let fit = fit_model(m, tac, lambda_phys_per_h, opts.absolute_sigma);
            if fit.is_none() {
                notes.push(if n < m.n_params() + 1 {
                    format!("{} skipped: {} points cannot identify {} parameters with a degree of freedom left", m.name(), n, m.n_params())
                } else {
                    format!("{} failed to converge to a finite covariance", m.name())
                });
            }
            fit
        })
        .collect();
    let last = n - 1;
    if let Some((idx, used_aicc)) = select_model(&candidates, n, opts) {
        let sel = &candidates[idx];
        let lambda_term = sel.model.terminal_rate_per_h(&sel.params);
        let tail = {
            let t_last = tac.time_h[last];
            // ∫_{t_last}^∞ of the fit, from the integral minus a fine quadrature to t_last.
            let steps = 2000;
            let h = t_last / steps as f64;
            let mut s =
                sel.model.eval(&sel.params, 0.0, None) + sel.model.eval(&sel.params, t_last, None);
            for i in 1..steps {
                let wgt = if i % 2 == 1 { 4.0 } else { 2.0 };
                s += wgt * sel.model.eval(&sel.params, i as f64 * h, None);
            }
            sel.integral_h - s * h / 3.0
        };
        return Ok(TacFit {
            selected: Some(idx),
            used_aicc,
            method: TiaMethod::Fit,
            tia_h: sel.integral_h,
            tia_sigma_h: sel.integral_sigma_h,
            effective_half_life_h: std::f64::consts::LN_2 / lambda_term,
            tail_fraction: (tail / sel.integral_h).clamp(0.0, 1.0),
            candidates,
            notes,
        });
    }
    notes.push("no model could be fitted: trapezoids with a physical-decay tail".into());
    let (tia_h, tia_sigma_h, tail_fraction) = trapezoid_tia(tac, lambda_phys_per_h);
    Ok(TacFit {
        candidates,
        selected: None,
        used_aicc: false,
        method: TiaMethod::Trapezoid,
        tia_h,
        tia_sigma_h,
        effective_half_life_h: std::f64::consts::LN_2 / lambda_phys_per_h,
        tail_fraction,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA_PHYS: f64 = std::f64::consts::LN_2 / (6.647 * 24.0); // 177Lu, ICRP-107

    #[test]
    fn trapezoid_of_a_dense_mono_exponential_approaches_the_analytic_integral() {
        // A = 100 e^{-0.05 t}; Ã = 100/0.05 = 2000. With a tail at rate 0.05 the trapezoid
        // error is O(h²): h = 0.1 h → relative error ~ h²λ²/12 ≈ 2e-6. Before the first
        // point (t₀ = 0.1 h) the linear-from-zero assumption counts A(t₀)·t₀/2 instead of
        // ≈ A₀·t₀, i.e. 5 less, by design (uptake is assumed to start at zero).
        let l = 0.05;
        let t: Vec<f64> = (1..=2000).map(|i| i as f64 * 0.1).collect();
        let tac = Tac {
            activity: t.iter().map(|t| 100.0 * (-l * t).exp()).collect(),
            sigma: vec![1.0; t.len()],
            time_h: t,
        };
        let (tia, _, tail) = trapezoid_tia(&tac, l);
        let expect = 2000.0 - 0.5 * 0.1 * 100.0;
        assert!((tia - expect).abs() < expect * 1e-5, "{tia} vs {expect}");
        assert!(tail < 1e-3);
    }

    #[test]
    fn decreasing_times_are_rejected_with_the_offending_point() {
        let tac = Tac {
            time_h: vec![4.0, 24.0, 20.0],
            activity: vec![1.0; 3],
            sigma: vec![0.1; 3],
        };
        let e = fit_tac(&tac, LAMBDA_PHYS, &FitOptions::default(), "kidney").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("kidney") && msg.contains("20 h"), "{msg}");
    }

    #[test]
    fn single_point_falls_back_to_trapezoid_with_note() {
        let tac = Tac {
            time_h: vec![24.0],
            activity: vec![50.0],
            sigma: vec![5.0],
        };
        let f = fit_tac(&tac, LAMBDA_PHYS, &FitOptions::default(), "r").unwrap();
        assert_eq!(f.method, TiaMethod::Trapezoid);
        let expect = 0.5 * 24.0 * 50.0 + 50.0 / LAMBDA_PHYS;
        assert!((f.tia_h - expect).abs() < 1e-9 * expect);
        assert!(!f.notes.is_empty());
    }
}
