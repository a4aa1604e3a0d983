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
//! is singular. Start values are cheap (log-linear slope of the last two points; for the
//! uptake the method of residuals and three uptake half-times, ranked by WRSS from the
//! curve alone, e^(−λt) shared), and the uptake–washout fit is also run in its second
//! valley, uptake over before the first scan, keeping the lower WRSS, wherever the finite
//! fit leaves that valley possibly lower (`SECOND_VALLEY_DELTA_T0`). Nothing is allocated
//! per voxel.
//!
//! **Cost** (BENCHMARKS.md, kinetics; `examples/voxel_fit_cost.rs` under callgrind, the
//! benchmark's voxels): 27 200 instructions per uptake–washout voxel before this rework;
//! 16 500 with the exponential's rounding done without a library call, the 2×2 Cholesky
//! written out and the loops unrolled per shape; 12 200 with the second valley fitted only
//! where needed; 10 400 with the starts ranked from the curve alone, e^(−λt) shared; with
//! the same results to the last bit, 9 730 with the covariance's Cholesky on fixed arrays
//! and 2^(−n) of the exponential as one factor. Per voxel of [`fit_voxels`] (the benchmark's
//! path, `-- volume 1 32`: 10 500 before those two), still bit-identical: 8 620 with the
//! exponentials shared (the uptake guesses' once per schedule, the start ranking's by the
//! fits' first evaluation) and the arrays sized to the curve; 7 260 with the exponentials of
//! a curve's points computed lane by lane (two to an SSE2 register). Computing b and its
//! derivatives lane by lane too was slower (7 600) and was dropped. What
//! did not help, measured on the tests' 40 000 random voxels against the reference search:
//! a looser stop, on Ã after a full Newton step (< 1e-7 of Ã) or on the Newton decrement
//! (< 1e-12 in χ²), left the iteration count as it was (5–7 per fit, under 2 % fewer) and
//! changed Ã or σ(Ã) beyond 1e-6 and 1e-4 in 0.1 % and 0.6 % of voxels (σ by up to 15 %
//! where it depends on where the fit stops along a nearly flat valley); starting from the
//! peeled δ alone reached another minimum in 0.07 % of voxels. None of these is used.
//!
//! **Physical ceiling.** A voxel cannot hold more than the activity injected, so its Ã is at
//! most A_inj / λ_phys (all of it there for ever, decaying physically). A fit above that
//! ([`fit_voxels_masked`]'s `ceiling_bq_h`) is not the voxel's kinetics but an extrapolation
//! before the first scan that nothing measured: a voxel at the edge of a rigidly registered
//! field of view reads 0 where a later scan did not cover it, and a curve such as
//! (696, 0, 0, 0) Bq fits an uptake–washout peaking at 10⁴⁸ Bq minutes after injection,
//! whose Ã (10⁴⁶ Bq·h) was +inf in the f32 map. Such voxels take the trapezoids instead.
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
    /// The fitted parameters in the order of [`TacModel::param_names`] (amplitudes in the
    /// activity unit, Bq per voxel; rates in 1/h), as f32 to keep big grids small; NaN
    /// unless fitted and beyond the model's parameters. For BED's voxel dose-rate shape.
    pub params: [f32; MAX_PARAMS],
}

/// Parameters of a voxel without a fit.
const NO_PARAMS: [f32; MAX_PARAMS] = [f32::NAN; MAX_PARAMS];

/// The first `k` of `p` as f32 parameters (the rest NaN).
fn params_f32(p: &[f64]) -> [f32; MAX_PARAMS] {
    let mut out = NO_PARAMS;
    for (o, v) in out.iter_mut().zip(p) {
        *o = *v as f32;
    }
    out
}

impl VoxelTia {
    const MASKED: VoxelTia = VoxelTia {
        tia_bq_h: 0.0,
        sigma_bq_h: 0.0,
        fitted: false,
        status: VoxelStatus::Masked,
        wrss: f64::NAN,
        params: NO_PARAMS,
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

/// The [`uptake_guesses`] of one scan schedule with their e^(−δtᵢ)
/// ([`varpro::uptake_exps`]): they depend on the times alone, so [`fit_voxels`] computes them
/// once for all its voxels. Arrays of `N` ≥ the number of scans.
struct UptakeStarts<const N: usize> {
    deltas: [f64; 3],
    exps: [[f64; N]; 3],
}

impl<const N: usize> UptakeStarts<N> {
    /// The starts for times `t` where `model` is the uptake–washout and `t` is not empty;
    /// otherwise none are needed and their exponentials are left out (zero).
    fn for_model(model: TacModel, t: &[f64]) -> Self {
        let deltas = uptake_guesses(t.first().copied().unwrap_or(0.0));
        let exps = if model == TacModel::UptakeWashout {
            deltas.map(|d| varpro::uptake_exps(d, t))
        } else {
            [[0.0; N]; 3]
        };
        UptakeStarts { deltas, exps }
    }
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

/// Weights 1/σᵢ² and σᵢ = `rel_sigma`·max(yᵢ, 1e-3·peak), on arrays of `N` ≥ the points.
fn weights<const N: usize>(y: &[f64], peak: f64, rel_sigma: f64) -> ([f64; N], [f64; N]) {
    let floor = 1e-3 * peak;
    let mut sigma = [0.0; N];
    let mut w = [0.0; N];
    for i in 0..y.len().min(N) {
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
        params: NO_PARAMS,
    }
}

fn fitted(tia: f64, var: f64, wrss: f64, params: &[f64]) -> Option<VoxelTia> {
    (tia.is_finite() && tia >= 0.0 && var.is_finite() && var >= 0.0).then(|| VoxelTia {
        tia_bq_h: tia,
        sigma_bq_h: var.sqrt(),
        fitted: true,
        status: VoxelStatus::Fitted,
        wrss,
        params: params_f32(params),
    })
}

/// Stopping rules of the separable fits: WRSS settled to 1e-10 or the rates to 1e-7, which
/// keeps Ã within ~1e-8 of the converged minimum (Newton converges fast there). A looser
/// stop on Ã or on the Newton decrement was measured and not kept (module doc).
fn varpro_options(lambda_phys: f64) -> VarProOptions {
    VarProOptions {
        lo: [lambda_phys, 0.0],
        hi: [MAX_RATE_PER_H; 2],
        max_iter: 50,
        rel_tol: 1e-10,
        param_tol: 1e-7,
    }
}

/// When the uptake–washout fit also fits its second valley (uptake over before the first
/// scan).
#[derive(Clone, Copy, Debug, PartialEq)]
enum SecondValley {
    /// Always: the reference the default is tested against (`tests` below).
    #[cfg(test)]
    Always,
    /// Where [`second_valley_needed`] says, with this threshold on δ·t₀ (the default:
    /// [`SECOND_VALLEY_DELTA_T0`]).
    WhenNeeded(f64),
}

/// The mono-exponential voxel fit.
fn mono_exp(t: &[f64], y: &[f64], w: &[f64], lambda_phys: f64) -> Option<VoxelTia> {
    let lw = terminal_rate(t, y, lambda_phys);
    let opts = varpro_options(lambda_phys);
    let r = varpro::fit(Shape::MonoExp, t, y, w, [lw, 0.0], &opts);
    let p = [r.amplitude, r.rates[0]];
    r.tia_var_h2
        .and_then(|var| fitted(r.tia_h, var, r.wrss, &p))
}

/// The finite fit resolves the uptake where e^(−δt₀) ≥ e^(−3) ≈ 5 %: its curve then lies
/// at least 5 % below its washout part at the first scan, as much as the smallest noise the
/// voxel fits assume (5–20 %), and the second valley (that point on the washout curve) is
/// not fitted. Measured on 40 000 random voxels (`tests` below): thresholds from 0.3 to 10
/// all pick the same valley as fitting both always, in every voxel; ln 10⁹ does not (10
/// voxels, where the finite fit stopped along the flat valley at δ·t₀ > 10 with σ ~ 10⁴·Ã
/// while the second valley is lower).
const SECOND_VALLEY_DELTA_T0: f64 = 3.0;

/// Whether the finite-δ fit `f` leaves the second valley possibly the lower one, so that
/// it must be fitted too: peeling found no uptake (y₀ on or above the washout curve of the
/// last two points), the finite fit has no covariance (JᵀWJ singular: δ not resolved), or
/// δ·t₀ is above `delta_t0_max` (little uptake left at the first scan, the valleys merge).
/// Otherwise the finite minimum has a clear uptake at the first scan, which the second
/// valley cannot fit.
fn second_valley_needed(f: &varpro::VarProFit, t0: f64, peeled: bool, delta_t0_max: f64) -> bool {
    // Written so that a NaN δ counts as unresolved.
    let resolved = f.rates[1] * t0 <= delta_t0_max;
    !peeled || f.tia_var_h2.is_none() || !resolved
}

/// The uptake–washout voxel fit: the WRSS has two valleys, a finite uptake rate δ and
/// uptake over before the first scan (δ → ∞, at the scans a mono-exponential); the lower
/// WRSS is kept. The second valley is fitted only where `second` says
/// ([`SecondValley::WhenNeeded`] by default), or where the finite fit fails.
///
/// The finite fit starts from the best (lowest WRSS) of: the classic method of residuals
/// (peeling: λ from the last two points, the washout curve A·e^(−λt) through the last
/// point, δ from how far the first point falls below it, e^(−δt₀) = 1 − y₀/(A·e^(−λt₀))),
/// and three uptake half-times, a tenth, a third and once the first scan time (noise can
/// put y₀ above the washout curve, so peeling alone is not enough; starting from the
/// peeled δ alone changed the minimum reached in 0.07 % of the test voxels, either way).
/// The second valley is fitted as a mono-exponential (one exponential per point instead of
/// two); Ã and σ are then those of the uptake–washout curve with δ on its bound,
/// Ã = A/λ − A/(λ + δ_max), from the mono-exponential covariance.
///
/// The exponentials are shared where the values are the same: those of the three guesses
/// come with `starts`, and the fits' first evaluations reuse those of the start ranking
/// (e^(−λtᵢ) for both fits, e^(−δtᵢ) of the chosen δ for the finite one).
fn uptake_washout<const N: usize>(
    t: &[f64],
    y: &[f64],
    w: &[f64],
    lambda_phys: f64,
    second: SecondValley,
    starts: &UptakeStarts<N>,
) -> Option<VoxelTia> {
    let n = t.len();
    let lw = terminal_rate(t, y, lambda_phys);
    let washout_at_t0 = y[n - 1] * (-lw * (t[0] - t[n - 1])).exp();
    let seen = y[0] / washout_at_t0;
    let peeled =
        (seen.is_finite() && seen > 0.0 && seen < 1.0).then(|| -(-seen).ln_1p() / t[0].max(1e-3));
    let opts = varpro_options(lambda_phys);
    let guesses = (starts.deltas.iter().zip(&starts.exps)).map(|(&d, e)| (d, Some(e)));
    let deltas = peeled.map(|d| (d, None)).into_iter().chain(guesses);
    let best = varpro::best_uptake_washout_start(lw, deltas, t, y, w);
    let finite = best.as_ref().map(|(_, start, ex)| {
        varpro::fit_n(Shape::UptakeWashout, t, y, w, *start, Some(ex), &opts)
    });
    // The mono-exponential's exponentials at its start (lw): the first column of the
    // start ranking's.
    let limit_exps = best.map(|(_, _, ex)| [ex[0], [0.0; N]]);
    let fit_limit = || {
        varpro::fit_n(
            Shape::MonoExp,
            t,
            y,
            w,
            [lw, 0.0],
            limit_exps.as_ref(),
            &opts,
        )
    };
    let limit_needed = match (&finite, second) {
        (Some(f), SecondValley::WhenNeeded(delta_t0_max)) => {
            second_valley_needed(f, t[0], peeled.is_some(), delta_t0_max)
        }
        _ => true,
    };
    let limit = limit_needed.then(fit_limit);
    if let Some(f) = finite {
        let limit_wrss = limit.map_or(f64::INFINITY, |l| l.wrss);
        if f.rates[1] * t[0] <= UNRESOLVED_UPTAKE && f.wrss <= limit_wrss {
            // A finite δ whose JᵀWJ is singular to precision (e^(−δt₀) nearly gone) falls
            // through to the limit, which fits the points as well.
            let p = [f.amplitude, f.rates[0], f.rates[1]];
            if let Some(v) = f
                .tia_var_h2
                .and_then(|var| fitted(f.tia_h, var, f.wrss, &p))
            {
                return Some(v);
            }
        }
    }
    // The finite fit was not kept: the limit is needed even where the rule above skipped it.
    let limit = limit.unwrap_or_else(fit_limit);
    let (a, l, u) = (
        limit.amplitude,
        limit.rates[0],
        limit.rates[0] + MAX_RATE_PER_H,
    );
    let tia = a / l - a / u;
    let g = [1.0 / l - 1.0 / u, -a / (l * l) + a / (u * u)];
    limit
        .variance(&g)
        .and_then(|var| fitted(tia, var, limit.wrss, &[a, l, MAX_RATE_PER_H]))
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
    fit_voxel_tac_with(
        model,
        t,
        y,
        rel_sigma,
        lambda_phys_per_h,
        SecondValley::WhenNeeded(SECOND_VALLEY_DELTA_T0),
    )
}

/// Evaluates `$body` with `$starts` bound to the uptake starts of schedule `$t` on the
/// smallest array size that holds it (`varpro::SHORT`, else `MAX_POINTS`): one monomorphised
/// copy of the fit per size.
macro_rules! with_uptake_starts {
    ($model:expr, $t:expr, |$starts:ident| $body:expr) => {
        if $t.len() <= varpro::SHORT[0] {
            let $starts = UptakeStarts::<{ varpro::SHORT[0] }>::for_model($model, $t);
            $body
        } else if $t.len() <= varpro::SHORT[1] {
            let $starts = UptakeStarts::<{ varpro::SHORT[1] }>::for_model($model, $t);
            $body
        } else {
            let $starts = UptakeStarts::<MAX_POINTS>::for_model($model, $t);
            $body
        }
    };
}

/// [`fit_voxel_tac`], fitting the second uptake–washout valley where `second` says.
fn fit_voxel_tac_with(
    model: TacModel,
    t: &[f64],
    y: &[f64],
    rel_sigma: f64,
    lambda_phys_per_h: f64,
    second: SecondValley,
) -> VoxelTia {
    with_uptake_starts!(model, t, |starts| fit_voxel_tac_in(
        model,
        t,
        y,
        rel_sigma,
        lambda_phys_per_h,
        second,
        &starts
    ))
}

/// [`fit_voxel_tac_with`] with the uptake starts of the schedule `t` given.
fn fit_voxel_tac_in<const N: usize>(
    model: TacModel,
    t: &[f64],
    y: &[f64],
    rel_sigma: f64,
    lambda_phys_per_h: f64,
    second: SecondValley,
    starts: &UptakeStarts<N>,
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
    let (sigma, w) = weights::<N>(y, peak, rel_sigma);
    if n >= model.n_params() {
        let fit = match shape {
            Shape::MonoExp => mono_exp(t, y, &w[..n], lambda_phys_per_h),
            Shape::UptakeWashout => {
                uptake_washout(t, y, &w[..n], lambda_phys_per_h, second, starts)
            }
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
    let (sigma, w) = weights::<MAX_POINTS>(y, peak, rel_sigma);
    let k = model.n_params();
    if n >= k {
        let (lo, hi) = model.bounds(lambda_phys_per_h);
        let p0 = start(model, t, y, &w[..n], lambda_phys_per_h);
        let r = lm::fit(model, t, y, &w[..n], &p0, &lo, &hi, opts);
        let mut g = [0.0; MAX_PARAMS];
        let tia = model.integral(&r.params, Some(&mut g));
        if let Some(x) = lm::cholesky_solve(&r.jtwj[..k * k], &g, k) {
            let var: f64 = (0..k).map(|j| g[j] * x[j]).sum();
            if let Some(v) = fitted(tia, var, r.wrss, &r.params[..k]) {
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
    let ceiling = f64::INFINITY;
    fit_voxels_masked(
        frames,
        time_h,
        model,
        rel_sigma,
        lambda_phys_per_h,
        None,
        ceiling,
    )
}

/// [`fit_voxels`], leaving out the voxels where `mask` is false ([`VoxelStatus::Masked`]),
/// and taking the trapezoids where a fit's Ã exceeds `ceiling_bq_h` (the injected activity
/// / λ_phys: see the module doc, physical ceiling), or is not finite.
pub fn fit_voxels_masked(
    frames: &[&[f32]],
    time_h: &[f64],
    model: TacModel,
    rel_sigma: f64,
    lambda_phys_per_h: f64,
    mask: Option<&[bool]>,
    ceiling_bq_h: f64,
) -> Vec<VoxelTia> {
    let t = &time_h[..time_h.len().min(MAX_POINTS)];
    let (rel, lambda) = (rel_sigma, lambda_phys_per_h);
    with_uptake_starts!(model, t, |starts| fit_all(
        frames,
        t,
        model,
        (rel, lambda, ceiling_bq_h),
        mask,
        &starts
    ))
}

/// [`fit_voxels_masked`] on arrays of `N` ≥ the number of scans, the uptake starts of the
/// schedule computed once.
fn fit_all<const N: usize>(
    frames: &[&[f32]],
    time_h: &[f64],
    model: TacModel,
    (rel_sigma, lambda_phys_per_h, ceiling_bq_h): (f64, f64, f64),
    mask: Option<&[bool]>,
    starts: &UptakeStarts<N>,
) -> Vec<VoxelTia> {
    let n_vox = frames.first().map_or(0, |f| f.len());
    let n = time_h.len();
    let second = SecondValley::WhenNeeded(SECOND_VALLEY_DELTA_T0);
    (0..n_vox)
        .into_par_iter()
        .with_min_len(4096)
        .map(|v| {
            if mask.is_some_and(|m| !m[v]) {
                return VoxelTia::MASKED;
            }
            let mut y = [0.0; N];
            for i in 0..n {
                y[i] = frames[i][v] as f64;
            }
            let (y, lambda) = (&y[..n], lambda_phys_per_h);
            let r = fit_voxel_tac_in(model, time_h, y, rel_sigma, lambda, second, starts);
            if r.fitted && (r.tia_bq_h > ceiling_bq_h || !r.tia_bq_h.is_finite()) {
                let (sigma, _) = weights::<N>(y, peak_of(y), rel_sigma);
                return trapezoid(time_h, y, &sigma[..n], lambda);
            }
            r
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
    fn a_fit_above_the_injected_activity_ceiling_takes_the_trapezoids() {
        // A voxel at the edge of a rigidly registered field of view: measured at 4 h, then
        // (almost) outside the later scans, which read 0 there. Its uptake–washout fit
        // (δ on its bound, λ = 26/h) peaks at 10⁷⁵ Bq minutes after injection; its Ã, 10⁷³
        // Bq·h, was +inf in the f32 map.
        let t = [4.0, 24.0, 72.0, 168.0];
        let y = [696.44, 1e-3, 0.0, 0.0];
        let frames: Vec<Vec<f32>> = y.map(|a| vec![a as f32]).to_vec();
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let model = TacModel::UptakeWashout;
        let free = fit_voxels(&refs, &t, model, 0.05, LAMBDA_PHYS)[0];
        assert!(free.fitted && free.tia_bq_h > 1e30, "{free:?}");
        let ceiling = 7.4e9 / LAMBDA_PHYS;
        let r = fit_voxels_masked(&refs, &t, model, 0.05, LAMBDA_PHYS, None, ceiling)[0];
        assert_eq!(r.status, VoxelStatus::Trapezoid, "{r:?}");
        // The trapezoids of the voxel's values as read (f32), σ as `weights` gives them.
        let y = y.map(|a| f64::from(a as f32));
        let (sigma, _) = weights::<4>(&y, y[0], 0.05);
        let (expected, _, _) = trapezoid_tia_points(&t, &y, &sigma, LAMBDA_PHYS);
        assert_eq!(r.tia_bq_h, expected);
        // 696 Bq over the first 12 h of trapezoid: finite and far below the ceiling.
        assert!(r.tia_bq_h.is_finite() && r.tia_bq_h < 1e4, "{r:?}");
        // A voxel whose fit is within the ceiling keeps it.
        let truth = [5000.0, 0.02, 0.5];
        let frames: Vec<Vec<f32>> = t
            .iter()
            .map(|&t| vec![model.eval(&truth, t, None) as f32])
            .collect();
        let refs: Vec<&[f32]> = frames.iter().map(Vec::as_slice).collect();
        let ok = fit_voxels_masked(&refs, &t, model, 0.05, LAMBDA_PHYS, None, ceiling)[0];
        let free = fit_voxels(&refs, &t, model, 0.05, LAMBDA_PHYS)[0];
        assert_eq!(
            (ok.tia_bq_h, ok.sigma_bq_h),
            (free.tia_bq_h, free.sigma_bq_h)
        );
        assert!(ok.fitted);
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

    /// Voxel TACs for the comparison of the two searches: the benchmark's kind
    /// (`benches/kinetics.rs`: 4 scans, δ 0.1–0.5/h, 5 % noise), then wider kinetics
    /// (δ log-uniform over 0.02–20/h, so from a slow uptake to one over before the first
    /// scan, λ up to 0.1/h above λ_phys, 5–20 % noise, three scan schedules) and pure
    /// mono-exponentials (the second valley exactly). Returns (times, activity, rel σ).
    fn comparison_voxels(count: usize, seed: u64) -> Vec<(Vec<f64>, Vec<f64>, f64)> {
        use crate::physics::rng::Pcg32;
        let mut rng = Pcg32::new(seed, 17);
        let mut u = move || (rng.next_u32() as f64 + 0.5) / 4294967296.0;
        let schedules: [&[f64]; 3] = [
            &[4.0, 24.0, 72.0, 168.0],
            &[1.0, 4.0, 24.0, 72.0, 168.0],
            &[2.0, 20.0, 50.0, 100.0, 200.0],
        ];
        (0..count)
            .map(|i| {
                let (times, p, rel): (&[f64], [f64; 3], f64) = match i % 4 {
                    0 => (
                        schedules[0],
                        [
                            1.0e4 * (0.5 + 2.0 * u()),
                            LAMBDA_PHYS + 0.005 + 0.03 * u(),
                            0.1 + 0.4 * u(),
                        ],
                        0.05,
                    ),
                    1 | 2 => (
                        schedules[(i / 4) % 3],
                        [
                            1.0e4 * (0.5 + 2.0 * u()),
                            LAMBDA_PHYS + 0.1 * u(),
                            0.02 * 1000f64.powf(u()),
                        ],
                        0.05 + 0.15 * u(),
                    ),
                    _ => (
                        schedules[(i / 4) % 3],
                        [
                            1.0e4 * (0.5 + 2.0 * u()),
                            LAMBDA_PHYS + 0.1 * u(),
                            f64::INFINITY,
                        ],
                        0.05 + 0.15 * u(),
                    ),
                };
                let y = times
                    .iter()
                    .map(|&t| {
                        let truth = if p[2].is_finite() {
                            TacModel::UptakeWashout.eval(&p, t, None)
                        } else {
                            TacModel::MonoExp.eval(&p[..2], t, None)
                        };
                        // Box–Muller.
                        let (u1, u2) = (u(), u());
                        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                        truth * (1.0 + rel * z)
                    })
                    .collect();
                (times.to_vec(), y, rel)
            })
            .collect()
    }

    /// Both valleys always against the default (the second valley only where the finite
    /// fit leaves it possibly lower) over 40 000 random voxels ([`comparison_voxels`]):
    /// same status, same Ã and σ(Ã) (1e-12 relative: the same fits run in the same order),
    /// in every voxel. `second_valley_threshold_sweep` prints the same for other thresholds.
    #[test]
    fn second_valley_only_where_needed_picks_the_same_valley_as_always() {
        let cases = comparison_voxels(40_000, 20261201);
        let differ = count_differences(&cases, SecondValley::WhenNeeded(SECOND_VALLEY_DELTA_T0));
        assert_eq!(differ, 0, "{differ} of {} voxels differ", cases.len());
    }

    /// The comparison above for thresholds on δ·t₀ from 0.3 to ln 10⁹ (printed; run with
    /// `--ignored --nocapture`).
    #[test]
    #[ignore = "prints a sweep; not a check"]
    fn second_valley_threshold_sweep() {
        let cases = comparison_voxels(40_000, 20261201);
        for threshold in [0.3, 1.0, 3.0, 10.0, UNRESOLVED_UPTAKE] {
            let differ = count_differences(&cases, SecondValley::WhenNeeded(threshold));
            eprintln!(
                "δ·t₀ threshold {threshold}: {differ} of {} voxels differ",
                cases.len()
            );
        }
    }

    /// Voxels of `cases` whose uptake–washout fit with `second` differs from the one with
    /// [`SecondValley::Always`] (status, or Ã or σ(Ã) beyond 1e-12 relative); prints the
    /// first few.
    fn count_differences(cases: &[(Vec<f64>, Vec<f64>, f64)], second: SecondValley) -> usize {
        let model = TacModel::UptakeWashout;
        let mut differ = 0;
        for (t, y, rel) in cases {
            let fast = fit_voxel_tac_with(model, t, y, *rel, LAMBDA_PHYS, second);
            let both = fit_voxel_tac_with(model, t, y, *rel, LAMBDA_PHYS, SecondValley::Always);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
            if fast.status != both.status
                || !close(fast.tia_bq_h, both.tia_bq_h)
                || !close(fast.sigma_bq_h, both.sigma_bq_h)
            {
                if differ < 5 {
                    eprintln!("t {t:?} y {y:?}\n  {second:?} {fast:?}\n  Always {both:?}");
                }
                differ += 1;
            }
        }
        differ
    }
}
