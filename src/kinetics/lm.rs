//! Weighted least squares by Levenberg–Marquardt with box bounds, for the small models of
//! [`super::models`] (at most [`MAX_PARAMS`] parameters).
//!
//! Method: minimise WRSS = Σ wᵢ (yᵢ − f(tᵢ; p))² with wᵢ = 1/σᵢ². Each step solves
//! (JᵀWJ + μ·diag(JᵀWJ)) δ = JᵀW r (Marquardt's scaling, so amplitudes in Bq and rates in
//! 1/h need no manual scaling), projects p + δ onto the bounds, and is accepted only if
//! WRSS falls; μ shrinks after a success and grows after a failure. Projection keeps every
//! iterate feasible; the covariance at the optimum is (JᵀWJ)⁻¹ (Gauss–Newton), which is the
//! usual approximation also when a parameter rests on a bound (reported in `at_bound`).
//!
//! Units are those of the caller (hours, 1/h, activity); nothing here depends on them.
//! Everything lives on the stack so that voxel-wise fits allocate nothing.

use super::models::{TacModel, MAX_PARAMS};

/// Fixed-size parameter vector; only the first `model.n_params()` entries are used.
pub type Params = [f64; MAX_PARAMS];

/// Stopping rules.
#[derive(Clone, Copy, Debug)]
pub struct LmOptions {
    /// Most iterations (accepted or rejected steps).
    pub max_iter: usize,
    /// Stop when an accepted step lowers WRSS by less than this fraction.
    pub rel_tol: f64,
    /// Stop when an accepted step changes every parameter by less than this fraction of
    /// its value (0 disables the test).
    pub param_tol: f64,
}

impl Default for LmOptions {
    fn default() -> Self {
        LmOptions {
            max_iter: 200,
            rel_tol: 1e-10,
            param_tol: 0.0,
        }
    }
}

/// Result of one fit.
#[derive(Clone, Copy, Debug)]
pub struct LmResult {
    /// Fitted parameters.
    pub params: Params,
    /// Weighted residual sum of squares at `params`.
    pub wrss: f64,
    /// JᵀWJ at `params` (k×k row major in the first k² entries).
    pub jtwj: [f64; MAX_PARAMS * MAX_PARAMS],
    /// Steps taken.
    pub iterations: usize,
    /// Whether the relative-decrease criterion was met before `max_iter`.
    pub converged: bool,
    /// Bit j set when parameter j ended on a bound.
    pub at_bound: u32,
}

/// Weighted residual sum of squares of `p`.
pub fn wrss(model: TacModel, p: &[f64], t_h: &[f64], y: &[f64], w: &[f64]) -> f64 {
    t_h.iter()
        .zip(y)
        .zip(w)
        .map(|((&t, &y), &w)| {
            let r = y - model.eval(p, t, None);
            w * r * r
        })
        .sum()
}

/// WRSS, JᵀWJ and JᵀW r at `p`, in one pass over the points (the exponentials are the
/// cost, so they are evaluated once per trial).
fn normal_equations(
    model: TacModel,
    p: &[f64],
    t_h: &[f64],
    y: &[f64],
    w: &[f64],
) -> (f64, [f64; MAX_PARAMS * MAX_PARAMS], Params) {
    let k = model.n_params();
    let mut a = [0.0; MAX_PARAMS * MAX_PARAMS];
    let mut b = [0.0; MAX_PARAMS];
    let mut g = [0.0; MAX_PARAMS];
    let mut cost = 0.0;
    for i in 0..t_h.len() {
        let f = model.eval(p, t_h[i], Some(&mut g));
        let r = y[i] - f;
        cost += w[i] * r * r;
        for r_ in 0..k {
            b[r_] += w[i] * g[r_] * r;
            for c in 0..=r_ {
                a[r_ * k + c] += w[i] * g[r_] * g[c];
            }
        }
    }
    for r_ in 0..k {
        for c in 0..r_ {
            a[c * k + r_] = a[r_ * k + c];
        }
    }
    (cost, a, b)
}

/// Solves the symmetric positive-definite system `a x = b` (k×k) by Cholesky; `None` when
/// `a` is not positive definite.
pub fn cholesky_solve(a: &[f64], b: &[f64], k: usize) -> Option<Params> {
    let mut l = [0.0; MAX_PARAMS * MAX_PARAMS];
    for i in 0..k {
        for j in 0..=i {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= l[i * k + m] * l[j * k + m];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut x = [0.0; MAX_PARAMS];
    for i in 0..k {
        let mut s = b[i];
        for m in 0..i {
            s -= l[i * k + m] * x[m];
        }
        x[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = x[i];
        for m in i + 1..k {
            s -= l[m * k + i] * x[m];
        }
        x[i] = s / l[i * k + i];
    }
    Some(x)
}

/// Inverse of a symmetric positive-definite k×k matrix (row major), `None` if singular.
pub fn spd_inverse(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut inv = vec![0.0; k * k];
    for c in 0..k {
        let mut e = [0.0; MAX_PARAMS];
        e[c] = 1.0;
        let x = cholesky_solve(a, &e, k)?;
        for r in 0..k {
            inv[r * k + c] = x[r];
        }
    }
    Some(inv)
}

/// Fits `model` to (t, y) with weights `w` from `p0`, keeping `lo ≤ p ≤ hi`.
#[allow(
    clippy::too_many_arguments,
    reason = "the data (t, y, w), the start and the bounds are each the fit's own"
)]
pub fn fit(
    model: TacModel,
    t_h: &[f64],
    y: &[f64],
    w: &[f64],
    p0: &Params,
    lo: &Params,
    hi: &Params,
    opts: LmOptions,
) -> LmResult {
    let k = model.n_params();
    let mut p = *p0;
    for j in 0..k {
        p[j] = p[j].clamp(lo[j], hi[j]);
    }
    let (mut cost, mut a, mut b) = normal_equations(model, &p, t_h, y, w);
    let mut mu = 1e-3;
    let mut converged = false;
    let mut iterations = 0;
    while iterations < opts.max_iter {
        iterations += 1;
        let mut damped = a;
        for j in 0..k {
            damped[j * k + j] += mu * a[j * k + j].max(1e-300);
        }
        let Some(step) = cholesky_solve(&damped, &b, k) else {
            mu *= 10.0;
            if mu > 1e12 {
                break;
            }
            continue;
        };
        let mut trial = p;
        let mut moved = false;
        for j in 0..k {
            trial[j] = (trial[j] + step[j]).clamp(lo[j], hi[j]);
            // A step below 1e-12 of the parameter changes nothing in f64 arithmetic.
            moved |= (trial[j] - p[j]).abs() > 1e-12 * p[j].abs().max(1e-300);
        }
        if !moved {
            converged = true;
            break;
        }
        let (trial_cost, ta, tb) = normal_equations(model, &trial, t_h, y, w);
        if trial_cost.is_finite() && trial_cost <= cost {
            let decrease = cost - trial_cost;
            let small_step =
                (0..k).all(|j| (trial[j] - p[j]).abs() <= opts.param_tol * p[j].abs().max(1e-300));
            (p, cost, a, b) = (trial, trial_cost, ta, tb);
            mu = (mu / 3.0).max(1e-12);
            if decrease <= opts.rel_tol * cost || cost == 0.0 || small_step {
                converged = true;
                break;
            }
        } else {
            mu *= 10.0;
            if mu > 1e12 {
                // No descent direction left at this precision: a (possibly bounded) minimum.
                converged = true;
                break;
            }
        }
    }
    let mut at_bound = 0;
    for j in 0..k {
        if p[j] <= lo[j] || p[j] >= hi[j] {
            at_bound |= 1 << j;
        }
    }
    LmResult {
        params: p,
        wrss: cost,
        jtwj: a,
        iterations,
        converged,
        at_bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // [[4,2],[2,3]] x = [2,1] → x = [0.5, 0]
        let x = cholesky_solve(&[4.0, 2.0, 2.0, 3.0], &[2.0, 1.0], 2).unwrap();
        assert!((x[0] - 0.5).abs() < 1e-14 && x[1].abs() < 1e-14);
        assert!(cholesky_solve(&[1.0, 2.0, 2.0, 1.0], &[1.0, 1.0], 2).is_none());
    }

    #[test]
    fn noise_free_mono_exponential_is_recovered_exactly() {
        let t = [2.0, 6.0, 24.0, 48.0, 96.0];
        let truth = [1000.0, 0.03];
        let y: Vec<f64> = t
            .iter()
            .map(|&t| TacModel::MonoExp.eval(&truth, t, None))
            .collect();
        let w = [1.0; 5];
        let (lo, hi) = TacModel::MonoExp.bounds(0.004);
        let mut p0 = [0.0; MAX_PARAMS];
        p0[0] = 500.0;
        p0[1] = 0.1;
        let r = fit(
            TacModel::MonoExp,
            &t,
            &y,
            &w,
            &p0,
            &lo,
            &hi,
            LmOptions::default(),
        );
        assert!(r.converged);
        assert!((r.params[0] - 1000.0).abs() < 1e-6, "{:?}", r.params);
        assert!((r.params[1] - 0.03).abs() < 1e-10);
    }

    #[test]
    fn rate_is_held_at_the_physical_bound() {
        // Data that rise over time would want a negative rate; the bound stops it at λ_phys.
        let t = [1.0, 10.0, 50.0];
        let y = [10.0, 11.0, 12.0];
        let (lo, hi) = TacModel::MonoExp.bounds(0.004);
        let mut p0 = [0.0; MAX_PARAMS];
        p0[0] = 10.0;
        p0[1] = 0.05;
        let r = fit(
            TacModel::MonoExp,
            &t,
            &y,
            &[1.0; 3],
            &p0,
            &lo,
            &hi,
            LmOptions::default(),
        );
        assert_eq!(r.params[1], 0.004);
        assert_eq!(r.at_bound & 0b10, 0b10);
    }
}
