//! The linear-quadratic model with repair during protracted irradiation: the Lea–Catcheside
//! factor G of a dose rate that is a sum of exponentials, in closed form, and BED, EQD2 and
//! their standard uncertainties.
//!
//! Units: doses in Gy, times in h, rates in 1/h, α/β in Gy. A [`DoseRateModel`] is the
//! *shape* of the dose rate (G does not depend on its scale), so one model serves every
//! voxel of a region: `bed_gy(dose_gy, &model, &tissue)`.
//!
//! Symbols (TWIN.md §1; Dale 1985, Br J Radiol 58:515; Dale 1996, Phys Med Biol 41:1871):
//! Ḋ(t) = Σᵢ aᵢ e^(−λᵢt), D = Σᵢ aᵢ/λᵢ, μ = ln2/T_rep, and
//!
//! ```text
//! G·D² = 2 ∫₀^∞ Ḋ(t) ∫₀^t Ḋ(s) e^(−μ(t−s)) ds dt
//!      = Σᵢ Σⱼ aᵢ aⱼ K(λᵢ, λⱼ),   K(x, y) = [1/(x+μ) + 1/(y+μ)] / (x+y)
//! BED  = D + G·D² / (α/β),   EQD2 = BED / (1 + 2 Gy/(α/β))
//! ```
//!
//! K is the usual (λᵢ+λⱼ+2μ)/[(λᵢ+λⱼ)(λᵢ+μ)(λⱼ+μ)] written as a sum, which is how it is
//! evaluated. Two shapes get their own closed forms, for numerical safety:
//! - mono-exponential: G = T_rep/(T_rep + T_eff), exact for T_eff = 0 (acute, G = 1) and
//!   T_eff = ∞ (G = 0, BED = D);
//! - uptake–washout, Ḋ ∝ e^(−λt) − e^(−κt) with κ = λ+δ: the double sum has a₁ = −a₂ and
//!   cancels catastrophically as δ → 0; summed by hand it is
//!   G = λκ(λ+κ+μ) / [(λ+κ)(λ+μ)(κ+μ)], finite at δ = 0 (the t·e^(−λt) limit) and → the
//!   mono-exponential as δ → ∞.

use super::tissue::Tissue;
use super::RadiobiologyError;
use crate::kinetics::models::TacModel;
use serde::Serialize;
use std::f64::consts::LN_2;

/// One exponential term of a dose rate, aᵢ e^(−λᵢ t).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ExpTerm {
    /// Amplitude aᵢ in any unit shared by the terms (only ratios matter); may be negative
    /// (an uptake phase).
    pub amplitude: f64,
    /// Rate λᵢ, 1/h (> 0 and finite).
    pub rate_per_h: f64,
}

/// The shape of a dose rate after administration (t in h). Its scale is set by the dose it
/// is used with.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "shape", rename_all = "kebab-case")]
pub enum DoseRateModel {
    /// Ḋ ∝ e^(−λt), λ = ln2/T_eff. T_eff = 0 is an acute dose, T_eff = ∞ no decrease.
    MonoExponential {
        /// Effective half-life, h (0 to ∞).
        effective_half_life_h: f64,
    },
    /// Ḋ ∝ e^(−λt) − e^(−(λ+δ)t): uptake at rate λ+δ, washout at rate λ (the kinetics
    /// module's uptake–washout model).
    UptakeWashout {
        /// Washout rate λ, 1/h (≥ 0, finite).
        washout_rate_per_h: f64,
        /// Excess δ of the uptake rate over the washout rate, 1/h (≥ 0, may be ∞).
        uptake_excess_per_h: f64,
    },
    /// Ḋ = Σᵢ aᵢ e^(−λᵢ t) (bi-, tri-exponential, or any sum of terms).
    Exponentials {
        /// The terms.
        terms: Vec<ExpTerm>,
    },
}

/// How many points per decade of time [`DoseRateModel::validate`] samples the rate at.
const SIGN_CHECK_POINTS: usize = 400;

impl DoseRateModel {
    /// A mono-exponential shape with this effective half-life (h).
    pub fn mono_exponential(effective_half_life_h: f64) -> Self {
        DoseRateModel::MonoExponential {
            effective_half_life_h,
        }
    }

    /// A sum of exponential terms.
    pub fn exponentials(terms: Vec<ExpTerm>) -> Self {
        DoseRateModel::Exponentials { terms }
    }

    /// The shape of a kinetics model fitted by `voxdose fit` (parameters in the order of
    /// [`TacModel::param_names`]; amplitudes in any unit, rates in 1/h). The dose rate in a
    /// region is taken proportional to its activity (self-dose, as for 177Lu β).
    pub fn from_tac(model: TacModel, params: &[f64]) -> Result<Self, RadiobiologyError> {
        if params.len() < model.n_params() {
            return Err(RadiobiologyError::InvalidModel {
                reason: format!(
                    "{} needs {} parameters, got {}",
                    model.name(),
                    model.n_params(),
                    params.len()
                ),
            });
        }
        let m = match model {
            TacModel::MonoExp => DoseRateModel::mono_exponential(LN_2 / params[1]),
            TacModel::UptakeWashout => DoseRateModel::UptakeWashout {
                washout_rate_per_h: params[1],
                uptake_excess_per_h: params[2],
            },
            TacModel::BiExp | TacModel::TriExp => DoseRateModel::exponentials(
                params[..model.n_params()]
                    .chunks_exact(2)
                    .map(|p| ExpTerm {
                        amplitude: p[0],
                        rate_per_h: p[1],
                    })
                    .collect(),
            ),
        };
        m.validate()?;
        Ok(m)
    }

    /// Checks that the shape is a dose rate: finite parameters, rates ≥ 0, a positive total
    /// dose, and Ḋ(t) ≥ 0 for all t (checked on a log grid of times and at t → ∞).
    pub fn validate(&self) -> Result<(), RadiobiologyError> {
        let bad = |reason: String| Err(RadiobiologyError::InvalidModel { reason });
        match self {
            DoseRateModel::MonoExponential {
                effective_half_life_h: t,
            } => {
                if t.is_nan() || *t < 0.0 {
                    return bad(format!(
                        "effective half-life {t} h; it must be ≥ 0 (0: acute, inf: constant)"
                    ));
                }
            }
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: l,
                uptake_excess_per_h: d,
            } => {
                if !(l.is_finite() && *l > 0.0) || d.is_nan() || *d < 0.0 {
                    return bad(format!(
                        "uptake–washout rates λ = {l}/h, δ = {d}/h; need λ > 0 (finite) and δ ≥ 0"
                    ));
                }
            }
            DoseRateModel::Exponentials { terms } => return validate_terms(terms),
        }
        Ok(())
    }

    /// The Lea–Catcheside factor G (dimensionless, 0 ≤ G ≤ 1) for a repair half-time
    /// `repair_half_time_h` (> 0).
    pub fn g_factor(&self, repair_half_time_h: f64) -> f64 {
        let mu = LN_2 / repair_half_time_h;
        match self {
            DoseRateModel::MonoExponential {
                effective_half_life_h: t_eff,
            } => {
                if t_eff.is_infinite() {
                    0.0
                } else {
                    repair_half_time_h / (repair_half_time_h + t_eff)
                }
            }
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: l,
                uptake_excess_per_h: d,
            } => {
                if d.is_infinite() {
                    return l / (l + mu);
                }
                let k = l + d;
                l * k * (l + k + mu) / ((l + k) * (l + mu) * (k + mu))
            }
            DoseRateModel::Exponentials { terms } => g_of_terms(terms, mu),
        }
    }

    /// The dose rate Ḋ(t) (Gy/h) at `t_h` when the total dose is `dose_gy`.
    pub fn dose_rate_gy_per_h(&self, dose_gy: f64, t_h: f64) -> f64 {
        match self {
            DoseRateModel::MonoExponential {
                effective_half_life_h: t,
            } => {
                let l = LN_2 / t;
                dose_gy * l * (-l * t_h).exp()
            }
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: l,
                uptake_excess_per_h: d,
            } => {
                let k = l + d;
                // ∫₀^∞ e^(−λt) − e^(−κt) dt = δ/(λκ).
                dose_gy * l * k / d * ((-l * t_h).exp() - (-k * t_h).exp())
            }
            DoseRateModel::Exponentials { terms } => {
                let total: f64 = terms.iter().map(|e| e.amplitude / e.rate_per_h).sum();
                dose_gy / total
                    * terms
                        .iter()
                        .map(|e| e.amplitude * (-e.rate_per_h * t_h).exp())
                        .sum::<f64>()
            }
        }
    }

    /// The effective half-life of the slowest phase that carries dose, h (for reports).
    pub fn terminal_half_life_h(&self) -> f64 {
        match self {
            DoseRateModel::MonoExponential {
                effective_half_life_h,
            } => *effective_half_life_h,
            DoseRateModel::UptakeWashout {
                washout_rate_per_h, ..
            } => LN_2 / washout_rate_per_h,
            DoseRateModel::Exponentials { terms } => {
                LN_2 / terms
                    .iter()
                    .filter(|e| e.amplitude > 0.0)
                    .map(|e| e.rate_per_h)
                    .fold(f64::INFINITY, f64::min)
            }
        }
    }
}

fn validate_terms(terms: &[ExpTerm]) -> Result<(), RadiobiologyError> {
    let bad = |reason: String| Err(RadiobiologyError::InvalidModel { reason });
    if terms.is_empty() {
        return bad("a sum of exponentials needs at least one term".into());
    }
    if let Some(e) = terms
        .iter()
        .find(|e| !e.amplitude.is_finite() || !e.rate_per_h.is_finite() || e.rate_per_h <= 0.0)
    {
        return bad(format!(
            "term a = {}, λ = {}/h: amplitudes must be finite and rates finite and > 0 (for λ → 0 use a mono-exponential with T_eff = inf)",
            e.amplitude, e.rate_per_h
        ));
    }
    let total: f64 = terms.iter().map(|e| e.amplitude / e.rate_per_h).sum();
    if !(total > 0.0 && total.is_finite()) {
        return bad(format!(
            "the terms integrate to Σ aᵢ/λᵢ = {total}; a dose rate must deliver a positive dose"
        ));
    }
    // t → ∞: the slowest term with a non-zero amplitude decides the sign.
    let slowest = terms
        .iter()
        .filter(|e| e.amplitude != 0.0)
        .min_by(|a, b| a.rate_per_h.total_cmp(&b.rate_per_h));
    if slowest.is_some_and(|e| e.amplitude < 0.0) {
        return bad("the slowest term is negative, so the dose rate turns negative at late times; check the fit".into());
    }
    let rate = |t: f64| -> f64 {
        terms
            .iter()
            .map(|e| e.amplitude * (-e.rate_per_h * t).exp())
            .sum()
    };
    let scale: f64 = terms.iter().map(|e| e.amplitude.abs()).sum();
    let l_max = terms.iter().map(|e| e.rate_per_h).fold(0.0, f64::max);
    let l_min = terms
        .iter()
        .map(|e| e.rate_per_h)
        .fold(f64::INFINITY, f64::min);
    let (t0, t1) = (1e-3 / l_max, 50.0 / l_min);
    let decades = (t1 / t0).log10().max(1.0);
    let n = (SIGN_CHECK_POINTS as f64 * decades).ceil() as usize;
    let times =
        std::iter::once(0.0).chain((0..=n).map(|i| t0 * (t1 / t0).powf(i as f64 / n as f64)));
    for t in times {
        let r = rate(t);
        if r < -1e-12 * scale {
            return bad(format!(
                "the dose rate is negative at t = {t:.4} h ({r:.3e} in the amplitudes' unit); a sum of exponentials for a dose rate must stay ≥ 0"
            ));
        }
    }
    Ok(())
}

/// G = Σᵢⱼ aᵢaⱼ K(λᵢ, λⱼ) / D² for rates > 0 (validated), μ = ln2/T_rep.
///
/// Evaluated in the terms' dose shares wᵢ = aᵢ/λᵢ scaled by the largest |wᵢ|, as
/// G = Σᵢⱼ wᵢwⱼ·λᵢλⱼ/(λᵢ+λⱼ)·[1/(λᵢ+μ) + 1/(λⱼ+μ)] / (Σwᵢ)²: every factor stays bounded as
/// a rate goes to 0, so amplitudes in Bq with rates near 0 neither overflow nor give NaN.
pub(crate) fn g_of_terms(terms: &[ExpTerm], mu: f64) -> f64 {
    let share = |e: &ExpTerm| e.amplitude / e.rate_per_h;
    let scale = terms.iter().map(|e| share(e).abs()).fold(0.0, f64::max);
    let w = |e: &ExpTerm| share(e) / scale;
    let total: f64 = terms.iter().map(w).sum();
    let u = |l: f64| 1.0 / (l + mu);
    let mut sum = 0.0;
    for ei in terms {
        for ej in terms {
            let (li, lj) = (ei.rate_per_h, ej.rate_per_h);
            sum += w(ei) * w(ej) * (li / (li + lj) * lj) * (u(li) + u(lj));
        }
    }
    sum / (total * total)
}

/// BED (Gy) of `dose_gy` delivered with the Lea–Catcheside factor `g`, for α/β in Gy.
pub fn bed_from_g(dose_gy: f64, g: f64, alpha_beta_gy: f64) -> f64 {
    dose_gy + g * dose_gy * dose_gy / alpha_beta_gy
}

/// BED (Gy) of a total dose `dose_gy` delivered with the shape `model` to `tissue`.
pub fn bed_gy(dose_gy: f64, model: &DoseRateModel, tissue: &Tissue) -> f64 {
    bed_from_g(
        dose_gy,
        model.g_factor(tissue.repair_half_time_h),
        tissue.alpha_beta_gy,
    )
}

/// EQD2 (Gy): the dose in 2 Gy fractions with the same BED, BED / (1 + 2/(α/β)).
pub fn eqd2_gy(bed_gy: f64, alpha_beta_gy: f64) -> f64 {
    bed_gy / (1.0 + 2.0 / alpha_beta_gy)
}

/// ∂BED/∂D = 1 + 2·G·D/(α/β): the factor that turns σ(D) into σ(BED).
pub fn dbed_ddose(dose_gy: f64, g: f64, alpha_beta_gy: f64) -> f64 {
    1.0 + 2.0 * g * dose_gy / alpha_beta_gy
}

/// σ(BED) in Gy from σ(D) and σ(G), treated as independent (first-order propagation):
/// σ² = (∂BED/∂D·σ_D)² + (D²/(α/β)·σ_G)².
pub fn bed_sigma_gy(
    dose_gy: f64,
    dose_sigma_gy: f64,
    g: f64,
    g_sigma: f64,
    alpha_beta_gy: f64,
) -> f64 {
    let from_dose = dbed_ddose(dose_gy, g, alpha_beta_gy) * dose_sigma_gy;
    let from_g = dose_gy * dose_gy / alpha_beta_gy * g_sigma;
    from_dose.hypot(from_g)
}

/// σ(G) from the covariance of a fitted kinetics model (k×k row major, the order of
/// [`TacModel::param_names`]) by the delta method, σ² = ∇Gᵀ C ∇G, with ∇G by central
/// differences (forward differences at a parameter's lower bound 0).
pub fn g_sigma_from_covariance(
    model: TacModel,
    params: &[f64],
    covariance: &[f64],
    repair_half_time_h: f64,
) -> Result<f64, RadiobiologyError> {
    let k = model.n_params();
    if covariance.len() != k * k || params.len() < k {
        return Err(RadiobiologyError::InvalidModel {
            reason: format!(
                "{}: {} parameters and a covariance of {} entries; expected {k} and {}",
                model.name(),
                params.len(),
                covariance.len(),
                k * k
            ),
        });
    }
    let g_at = |p: &[f64]| -> Result<f64, RadiobiologyError> {
        Ok(DoseRateModel::from_tac(model, p)?.g_factor(repair_half_time_h))
    };
    let g0 = g_at(params)?;
    let mut grad = vec![0.0; k];
    for j in 0..k {
        let h = 1e-6 * params[j].abs().max(1e-9);
        let mut plus = params[..k].to_vec();
        plus[j] += h;
        let mut minus = params[..k].to_vec();
        minus[j] -= h;
        grad[j] = match (g_at(&plus), g_at(&minus)) {
            (Ok(gp), Ok(gm)) if minus[j] >= 0.0 => (gp - gm) / (2.0 * h),
            (Ok(gp), _) => (gp - g0) / h,
            (Err(e), _) => return Err(e),
        };
    }
    let mut var = 0.0;
    for i in 0..k {
        for j in 0..k {
            var += grad[i] * covariance[i * k + j] * grad[j];
        }
    }
    Ok(var.max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TWIN.md §1 check value: D = 10 Gy, T_eff = 50 h, α/β = 2.6 Gy, T_rep = 2.8 h →
    /// BED 12.0396 Gy, EQD2 6.8050 Gy.
    #[test]
    fn twin_md_check_value() {
        let tissue = Tissue::custom(2.6, 2.8, None);
        let bed = bed_gy(10.0, &DoseRateModel::mono_exponential(50.0), &tissue);
        assert!((bed - 12.0396).abs() < 5e-5, "{bed}");
        assert!((eqd2_gy(bed, 2.6) - 6.8050).abs() < 5e-5);
    }

    #[test]
    fn mono_exponential_closed_form_equals_general_sum() {
        // One term of the general double sum gives λ/(λ+μ) = T_rep/(T_rep+T_eff).
        for t_eff in [0.3, 5.0, 50.0, 2000.0] {
            let l = LN_2 / t_eff;
            let general = DoseRateModel::exponentials(vec![ExpTerm {
                amplitude: 3.0,
                rate_per_h: l,
            }]);
            let mono = DoseRateModel::mono_exponential(t_eff);
            let (a, b) = (general.g_factor(2.8), mono.g_factor(2.8));
            assert!((a - b).abs() < 1e-14, "{t_eff}: {a} vs {b}");
        }
    }

    #[test]
    fn uptake_washout_closed_form_equals_general_sum() {
        // Away from δ → 0 the general double sum is accurate and must agree.
        let (l, d) = (0.012, 0.35);
        let uw = DoseRateModel::UptakeWashout {
            washout_rate_per_h: l,
            uptake_excess_per_h: d,
        };
        let general = DoseRateModel::exponentials(vec![
            ExpTerm {
                amplitude: 1.0,
                rate_per_h: l,
            },
            ExpTerm {
                amplitude: -1.0,
                rate_per_h: l + d,
            },
        ]);
        let (a, b) = (uw.g_factor(1.5), general.g_factor(1.5));
        assert!((a - b).abs() < 1e-12 * a, "{a} vs {b}");
    }

    #[test]
    fn every_shape_serialises_for_the_summary() {
        // bed_summary.json carries each region's shape; an internally tagged newtype of a
        // sequence would fail at run time, so check all three.
        for m in [
            DoseRateModel::mono_exponential(50.0),
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: 0.01,
                uptake_excess_per_h: 0.3,
            },
            DoseRateModel::exponentials(vec![ExpTerm {
                amplitude: 1.0,
                rate_per_h: 0.1,
            }]),
        ] {
            let v = serde_json::to_value(&m).unwrap();
            assert!(v["shape"].is_string(), "{v}");
        }
    }
}
