//! Voxel-wise time-integrated activity: one small fit per voxel, in parallel (rayon), with
//! the trapezoid + physical-tail fallback where a fit fails.
//!
//! Units: frames hold activity per voxel (Bq) at `time_h` hours after administration; the
//! returned maps are Ã and σ(Ã) in Bq·h per voxel (the caller converts to Bq·s).
//!
//! Method: voxel TACs are noisy and short, so each voxel gets one fixed model (no
//! selection): the uptake–washout bi-exponential with four or more points, mono-exponential
//! with two or three. Weights are 1/σᵢ² with σᵢ = `rel_sigma`·yᵢ (floored at 1e-3 of the
//! voxel's peak so zeros keep a finite weight); the σ are treated as absolute, so
//! σ²(Ã) = gᵀ(JᵀWJ)⁻¹g. These two models have one amplitude, so they are fitted by
//! variable projection ([`super::varpro`]: the amplitude in closed form, Newton steps with
//! backtracking over the rates, analytic derivatives), which reaches the same minimum as the full
//! fit over all parameters ([`fit_voxel_tac_full_lm`], kept as the reference and used for
//! the multi-amplitude models), or a lower one, with a finite σ where the full fit's JᵀWJ
//! is singular. It is not faster yet (BENCHMARKS.md: about 2× slower on the 128³ case,
//! for the extra start values, the tighter stop and the second valley). Start values are cheap
//! (log-linear slope of the last two points; for the uptake the method of residuals and
//! three uptake half-times, ranked by WRSS),
//! and the uptake–washout fit is also run in its second valley, uptake over before the
//! first scan, keeping the lower WRSS; nothing is allocated per voxel.
//!
//! **Masked voxels.** Voxels whose peak activity over the scans is ≤ 0, or which a caller's
//! mask excludes (below an activity threshold, outside the body), are not fitted: their Ã
//! and σ are 0 and [`VoxelStatus::Masked`] says so; callers count them and report the
//! activity they held (see `docs/study-file.md`, `voxel_threshold`).

use super::fit::trapezoid_tia_points;
use super::lm::{self, LmOptions, Params};
use super::models::{TacModel, MAX_PARAMS, MAX_RATE_PER_H};
use super::varpro::{self, Shape, VarProOptions};
use rayon::prelude::*;

/// Most time points a voxel fit accepts (stack arrays).
pub const MAX_POINTS: usize = varpro::MAX_POINTS;

/// How a voxel's Ã was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoxelStatus {
    /// From the model fit.
    Fitted,
    /// Trapezoids with a physical-decay tail (the fit failed or had too few points).
    Trapezoid,
    /// Not fitted: peak ≤ 0 or excluded by the mask; Ã = σ = 0.
    Masked,
}

/// Per-voxel result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelTia {
    /// Ã, Bq·h.
    pub tia_bq_h: f64,
    /// σ(Ã) from the fit or the trapezoid propagation, Bq·h.
    pub sigma_bq_h: f64,
    /// Whether the model fit was used (false: trapezoid fallback or masked voxel).
    pub fitted: bool,
    /// How Ã was obtained.
    pub status: VoxelStatus,
    /// WRSS of the fit (NaN unless fitted).
    pub wrss: f64,
}

impl VoxelTia {
    const MASKED: VoxelTia = VoxelTia {
        tia_bq_h: 0.0,
        sigma_bq_h: 0.0,
        fitted: false,
        status: VoxelStatus::Masked,
        wrss: f64::NAN,
    };
}

/// The model used per voxel for `n` time points.
pub fn default_voxel_model(n: usize) -> TacModel {
    if n >= 4 {
        TacModel::UptakeWashout
    } else {
        TacModel::MonoExp
    }
}

/// Stopping rules of the full Levenberg–Marquardt voxel fit: WRSS or the parameters settled
/// to ~1e-4 relative, far below the 5–20 % noise of voxel TACs.
const VOXEL_LM: LmOptions = LmOptions {
    max_iter: 40,
    rel_tol: 1e-6,
    param_tol: 1e-4,
};

/// Log-linear slope of the last two positive points, clamped to ≥ λ_phys.
fn terminal_rate(t: &[f64], y: &[f64], lambda_phys: f64) -> f64 {
    let n = t.len();
    if n >= 2 && y[n - 1] > 0.0 && y[n - 2] > 0.0 {
        let l = (y[n - 2] / y[n - 1]).ln() / (t[n - 1] - t[n - 2]);
        if l.is_finite() {
            return l.max(lambda_phys);
        }
    }
    lambda_phys
}

/// δ·t₀ above ln 10⁹: e^(−δt₀) < 1e-9, the uptake term is gone from every scan and the
/// data cannot resolve δ. Such fits are replaced by the one with δ on its upper bound
/// ([`MAX_RATE_PER_H`], instantaneous uptake): the largest Ã the flat valley allows, higher
/// than its lowest by at most λ/δ ≤ λ·t₀/20.7 of Ã (0.6 % for λ = 0.03/h, t₀ = 4 h).
const UNRESOLVED_UPTAKE: f64 = 20.723_265_836_946_41;

/// Uptake rate guesses δ: uptake half-times of about a tenth, a third and once the first
/// scan time.
fn uptake_guesses(t0: f64) -> [f64; 3] {
    [0.1, 0.3, 1.0].map(|frac| std::f64::consts::LN_2 / (frac * t0.max(0.5)))
}

fn start(model: TacModel, t: &[f64], y: &[f64], w: &[f64], lambda_phys: f64) -> Params {
    let mut p = [0.0; MAX_PARAMS];
    let lw = terminal_rate(t, y, lambda_phys);
    // Best amplitude for the shape in `p` by weighted linear least squares, and the WRSS it
    // leaves (Σwy² − (Σwby)²/Σwb²), in one pass.
    let amplitude = |p: &mut Params| {
        p[0] = 1.0;
        let (mut num, mut den, mut yy) = (0.0, 0.0, 0.0);
        for i in 0..t.len() {
            let b = model.eval(p, t[i], None);
            num += w[i] * b * y[i];
            den += w[i] * b * b;
            yy += w[i] * y[i] * y[i];
        }
        if den > 0.0 && num > 0.0 {
            p[0] = num / den;
            yy - num * num / den
        } else {
            p[0] = 0.0;
            yy
        }
    };
    match model {
        TacModel::UptakeWashout => {
            p[1] = lw;
            let mut best = (f64::INFINITY, p);
            for delta in uptake_guesses(t[0]) {
                let mut q = p;
                q[2] = delta;
                let c = amplitude(&mut q);
                if c < best.0 {
                    best = (c, q);
                }
            }
            best.1
        }
        _ => {
            p[1] = lw;
            amplitude(&mut p);
            p
        }
    }
}

/// Weights 1/σᵢ² and σᵢ = `rel_sigma`·max(yᵢ, 1e-3·peak).
fn weights(y: &[f64], peak: f64, rel_sigma: f64) -> ([f64; MAX_POINTS], [f64; MAX_POINTS]) {
    let floor = 1e-3 * peak;
    let mut sigma = [0.0; MAX_POINTS];
    let mut w = [0.0; MAX_POINTS];
    for i in 0..y.len() {
        sigma[i] = rel_sigma * y[i].max(floor);
        w[i] = 1.0 / (sigma[i] * sigma[i]);
    }
    (sigma, w)
}

fn peak_of(y: &[f64]) -> f64 {
    y.iter().copied().fold(0.0, f64::max)
}

fn trapezoid(t: &[f64], y: &[f64], sigma: &[f64], lambda_phys: f64) -> VoxelTia {
    let (tia, s, _) = trapezoid_tia_points(t, y, sigma, lambda_phys);
    VoxelTia {
        tia_bq_h: tia,
        sigma_bq_h: s,
        fitted: false,
        status: VoxelStatus::Trapezoid,
        wrss: f64::NAN,
    }
}

fn fitted(tia: f64, var: f64, wrss: f64) -> Option<VoxelTia> {
    (tia.is_finite() && tia >= 0.0 && var.is_finite() && var >= 0.0).then(|| VoxelTia {
        tia_bq_h: tia,
        sigma_bq_h: var.sqrt(),
        fitted: true,
        status: VoxelStatus::Fitted,
        wrss,
    })
}

/// Stopping rules of the separable fits: WRSS settled to 1e-10 or the rates to 1e-7, which
/// keeps Ã within ~1e-8 of the converged minimum (Gauss–Newton converges fast there).
fn varpro_options(lambda_phys: f64) -> VarProOptions {
    VarProOptions {
        lo: [lambda_phys, 0.0],
        hi: [MAX_RATE_PER_H; 2],
        max_iter: 50,
        rel_tol: 1e-10,
        param_tol: 1e-7,
    }
}

/// The mono-exponential voxel fit.
fn mono_exp(t: &[f64], y: &[f64], w: &[f64], lambda_phys: f64) -> Option<VoxelTia> {
    let lw = terminal_rate(t, y, lambda_phys);
    let opts = varpro_options(lambda_phys);
    let r = varpro::fit(Shape::MonoExp, t, y, w, [lw, 0.0], &opts);
    r.tia_var_h2.and_then(|var| fitted(r.tia_h, var, r.wrss))
}

/// The uptake–washout voxel fit: the WRSS has two valleys, a finite uptake rate δ and
/// uptake over before the first scan (δ → ∞, at the scans a mono-exponential); both are
/// fitted and the lower WRSS kept.
///
/// The finite fit starts from the best (lowest WRSS) of: the classic method of residuals
/// (peeling: λ from the last two points, the washout curve A·e^(−λt) through the last
/// point, δ from how far the first point falls below it, e^(−δt₀) = 1 − y₀/(A·e^(−λt₀))),
/// and three uptake half-times, a tenth, a third and once the first scan time. The second
/// valley is fitted as a mono-exponential (one exponential per point instead of two); Ã and
/// σ are then those of the uptake–washout curve with δ on its bound,
/// Ã = A/λ − A/(λ + δ_max), from the mono-exponential covariance.
fn uptake_washout(t: &[f64], y: &[f64], w: &[f64], lambda_phys: f64) -> Option<VoxelTia> {
    let n = t.len();
    let lw = terminal_rate(t, y, lambda_phys);
    let washout_at_t0 = y[n - 1] * (-lw * (t[0] - t[n - 1])).exp();
    let seen = y[0] / washout_at_t0;
    // Start: the peeled δ and three uptake half-times (a tenth, a third, once t₀), ranked by
    // the WRSS they leave; noise can put y₀ above the washout curve, so peeling alone is
    // not enough.
    let mut start = (f64::INFINITY, [lw, 0.0]);
    let peeled =
        (seen.is_finite() && seen > 0.0 && seen < 1.0).then(|| -(-seen).ln_1p() / t[0].max(1e-3));
    for delta in peeled.into_iter().chain(uptake_guesses(t[0])) {
        let c = varpro::reduced_wrss(Shape::UptakeWashout, &[lw, delta], t, y, w);
        if c < start.0 {
            start = (c, [lw, delta]);
        }
    }
    let finite = start.0.is_finite().then(|| {
        let opts = varpro_options(lambda_phys);
        varpro::fit(Shape::UptakeWashout, t, y, w, start.1, &opts)
    });
    let opts = varpro_options(lambda_phys);
    let limit = varpro::fit(Shape::MonoExp, t, y, w, [lw, 0.0], &opts);
    if let Some(f) = finite {
        if f.rates[1] * t[0] <= UNRESOLVED_UPTAKE && f.wrss <= limit.wrss {
            // A finite δ whose JᵀWJ is singular to precision (e^(−δt₀) nearly gone) falls
            // through to the limit, which fits the points as well.
            if let Some(v) = f.tia_var_h2.and_then(|var| fitted(f.tia_h, var, f.wrss)) {
                return Some(v);
            }
        }
    }
    let (a, l, u) = (
        limit.amplitude,
        limit.rates[0],
        limit.rates[0] + MAX_RATE_PER_H,
    );
    let tia = a / l - a / u;
    let g = [1.0 / l - 1.0 / u, -a / (l * l) + a / (u * u)];
    limit
        .variance(&g)
        .and_then(|var| fitted(tia, var, limit.wrss))
}

/// Ã and σ for one voxel TAC (`t` in h, `y` in Bq): variable projection for the
/// one-amplitude models, the full fit otherwise.
pub fn fit_voxel_tac(
    model: TacModel,
    t: &[f64],
    y: &[f64],
    rel_sigma: f64,
    lambda_phys_per_h: f64,
) -> VoxelTia {
    let shape = match model {
        TacModel::MonoExp => Shape::MonoExp,
        TacModel::UptakeWashout => Shape::UptakeWashout,
        _ => return fit_voxel_tac_full_lm(model, t, y, rel_sigma, lambda_phys_per_h, VOXEL_LM),
    };
    let n = t.len();
    let peak = peak_of(y);
    if peak <= 0.0 || n == 0 || n > MAX_POINTS {
        return VoxelTia::MASKED;
    }
    let (sigma, w) = weights(y, peak, rel_sigma);
    if n >= model.n_params() {
        let fit = match shape {
            Shape::MonoExp => mono_exp(t, y, &w[..n], lambda_phys_per_h),
            Shape::UptakeWashout => uptake_washout(t, y, &w[..n], lambda_phys_per_h),
        };
        if let Some(v) = fit {
            return v;
        }
    }
    trapezoid(t, y, &sigma[..n], lambda_phys_per_h)
}

/// Ã and σ for one voxel TAC by the full Levenberg–Marquardt fit over every parameter of
/// `model` ([`super::lm`]) with stopping rules `opts`: the reference the fast path of
/// [`fit_voxel_tac`] is tested against, and the method for the multi-amplitude models.
pub fn fit_voxel_tac_full_lm(
    model: TacModel,
    t: &[f64],
    y: &[f64],
    rel_sigma: f64,
    lambda_phys_per_h: f64,
    opts: LmOptions,
) -> VoxelTia {
    let n = t.len();
    let peak = peak_of(y);
    if peak <= 0.0 || n == 0 || n > MAX_POINTS {
        return VoxelTia::MASKED;
    }
    let (sigma, w) = weights(y, peak, rel_sigma);
    let k = model.n_params();
    if n >= k {
        let (lo, hi) = model.bounds(lambda_phys_per_h);
        let p0 = start(model, t, y, &w[..n], lambda_phys_per_h);
        let r = lm::fit(model, t, y, &w[..n], &p0, &lo, &hi, opts);
        let mut g = [0.0; MAX_PARAMS];
        let tia = model.integral(&r.params, Some(&mut g));
        if let Some(x) = lm::cholesky_solve(&r.jtwj[..k * k], &g, k) {
            let var: f64 = (0..k).map(|j| g[j] * x[j]).sum();
            if let Some(v) = fitted(tia, var, r.wrss) {
                return v;
            }
        }
    }
    trapezoid(t, y, &sigma[..n], lambda_phys_per_h)
}

/// Fits every voxel. `frames[i][v]` is the activity (Bq) of voxel `v` at `time_h[i]`.
pub fn fit_voxels(
    frames: &[&[f32]],
    time_h: &[f64],
    model: TacModel,
    rel_sigma: f64,
    lambda_phys_per_h: f64,
) -> Vec<VoxelTia> {
    fit_voxels_masked(frames, time_h, model, rel_sigma, lambda_phys_per_h, None)
}

/// [`fit_voxels`], leaving out the voxels where `mask` is false ([`VoxelStatus::Masked`]).
pub fn fit_voxels_masked(
    frames: &[&[f32]],
    time_h: &[f64],
    model: TacModel,
    rel_sigma: f64,
    lambda_phys_per_h: f64,
    mask: Option<&[bool]>,
) -> Vec<VoxelTia> {
    let n_vox = frames.first().map_or(0, |f| f.len());
    let n = time_h.len().min(MAX_POINTS);
    (0..n_vox)
        .into_par_iter()
        .with_min_len(4096)
        .map(|v| {
            if mask.is_some_and(|m| !m[v]) {
                return VoxelTia::MASKED;
            }
            let mut y = [0.0; MAX_POINTS];
            for i in 0..n {
                y[i] = frames[i][v] as f64;
            }
            fit_voxel_tac(model, &time_h[..n], &y[..n], rel_sigma, lambda_phys_per_h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA_PHYS: f64 = std::f64::consts::LN_2 / (6.647 * 24.0); // 177Lu, ICRP-107

    #[test]
    fn noise_free_uptake_washout_voxel_integrates_exactly() {
        let truth = [5000.0, 0.02, 0.5];
        let t = [4.0, 24.0, 72.0, 168.0];
        let y: Vec<f64> = t
            .iter()
            .map(|&t| TacModel::UptakeWashout.eval(&truth, t, None))
            .collect();
        let r = fit_voxel_tac(TacModel::UptakeWashout, &t, &y, 0.05, LAMBDA_PHYS);
        let exact = TacModel::UptakeWashout.integral(&truth, None);
        assert!(r.fitted);
        assert!(
            (r.tia_bq_h - exact).abs() < 1e-4 * exact,
            "{} vs {exact}",
            r.tia_bq_h
        );
    }

    #[test]
    fn empty_voxel_gives_zero() {
        let r = fit_voxel_tac(
            TacModel::MonoExp,
            &[4.0, 24.0],
            &[0.0, 0.0],
            0.1,
            LAMBDA_PHYS,
        );
        assert_eq!(r.tia_bq_h, 0.0);
    }
}
