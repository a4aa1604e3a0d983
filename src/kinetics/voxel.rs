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
//! σ²(Ã) = gᵀ(JᵀWJ)⁻¹g. Start values are cheap (log-linear slope of the last points, three
//! uptake guesses) because this runs millions of times; everything stays on the stack.

use super::fit::{trapezoid_tia, Tac};
use super::lm::{self, LmOptions, Params};
use super::models::{TacModel, MAX_PARAMS};
use rayon::prelude::*;

/// Most time points a voxel fit accepts (stack arrays).
pub const MAX_POINTS: usize = 32;

/// Per-voxel result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoxelTia {
    /// Ã, Bq·h.
    pub tia_bq_h: f64,
    /// σ(Ã) from the fit or the trapezoid propagation, Bq·h.
    pub sigma_bq_h: f64,
    /// Whether the model fit was used (false: trapezoid fallback or empty voxel).
    pub fitted: bool,
}

/// The model used per voxel for `n` time points.
pub fn default_voxel_model(n: usize) -> TacModel {
    if n >= 4 {
        TacModel::UptakeWashout
    } else {
        TacModel::MonoExp
    }
}

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

fn start(model: TacModel, t: &[f64], y: &[f64], w: &[f64], lambda_phys: f64) -> Params {
    let mut p = [0.0; MAX_PARAMS];
    let lw = terminal_rate(t, y, lambda_phys);
    let amplitude = |p: &mut Params| {
        p[0] = 1.0;
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..t.len() {
            let b = model.eval(p, t[i], None);
            num += w[i] * b * y[i];
            den += w[i] * b * b;
        }
        p[0] = if den > 0.0 { (num / den).max(0.0) } else { 0.0 };
        lm::wrss(model, p, t, y, w)
    };
    match model {
        TacModel::UptakeWashout => {
            p[1] = lw;
            let mut best = (f64::INFINITY, p);
            // Uptake half-times of about a tenth, a third and the whole first scan time.
            for frac in [0.1, 0.3, 1.0] {
                let mut q = p;
                q[2] = std::f64::consts::LN_2 / (frac * t[0].max(0.5));
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

/// Ã and σ for one voxel TAC (`t` in h, `y` in Bq).
pub fn fit_voxel_tac(
    model: TacModel,
    t: &[f64],
    y: &[f64],
    rel_sigma: f64,
    lambda_phys_per_h: f64,
) -> VoxelTia {
    let n = t.len();
    let peak = y.iter().copied().fold(0.0, f64::max);
    if peak <= 0.0 || n == 0 || n > MAX_POINTS {
        return VoxelTia {
            tia_bq_h: 0.0,
            sigma_bq_h: 0.0,
            fitted: false,
        };
    }
    let floor = 1e-3 * peak;
    let mut sigma = [0.0; MAX_POINTS];
    let mut w = [0.0; MAX_POINTS];
    for i in 0..n {
        sigma[i] = rel_sigma * y[i].max(floor);
        w[i] = 1.0 / (sigma[i] * sigma[i]);
    }
    let k = model.n_params();
    if n >= k {
        let (lo, hi) = model.bounds(lambda_phys_per_h);
        let p0 = start(model, t, y, &w[..n], lambda_phys_per_h);
        let opts = LmOptions {
            max_iter: 60,
            rel_tol: 1e-8,
        };
        let r = lm::fit(model, t, y, &w[..n], &p0, &lo, &hi, opts);
        let mut g = [0.0; MAX_PARAMS];
        let tia = model.integral(&r.params, Some(&mut g));
        if let Some(x) = lm::cholesky_solve(&r.jtwj[..k * k], &g, k) {
            let var: f64 = (0..k).map(|j| g[j] * x[j]).sum();
            if tia.is_finite() && tia >= 0.0 && var.is_finite() && var >= 0.0 {
                return VoxelTia {
                    tia_bq_h: tia,
                    sigma_bq_h: var.sqrt(),
                    fitted: true,
                };
            }
        }
    }
    let tac = Tac {
        time_h: t.to_vec(),
        activity: y.to_vec(),
        sigma: sigma[..n].to_vec(),
    };
    let (tia, s, _) = trapezoid_tia(&tac, lambda_phys_per_h);
    VoxelTia {
        tia_bq_h: tia,
        sigma_bq_h: s,
        fitted: false,
    }
}

/// Fits every voxel. `frames[i][v]` is the activity (Bq) of voxel `v` at `time_h[i]`.
pub fn fit_voxels(
    frames: &[&[f32]],
    time_h: &[f64],
    model: TacModel,
    rel_sigma: f64,
    lambda_phys_per_h: f64,
) -> Vec<VoxelTia> {
    let n_vox = frames.first().map_or(0, |f| f.len());
    let n = time_h.len();
    (0..n_vox)
        .into_par_iter()
        .with_min_len(4096)
        .map(|v| {
            let mut y = [0.0; MAX_POINTS];
            for i in 0..n.min(MAX_POINTS) {
                y[i] = frames[i][v] as f64;
            }
            fit_voxel_tac(model, time_h, &y[..n], rel_sigma, lambda_phys_per_h)
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
