//! Separable least squares (variable projection) for the voxel models, which have one
//! amplitude: A(t) = a·b(t; θ) with θ the rates. For given θ the best amplitude is linear
//! least squares in closed form, so Levenberg–Marquardt runs over the rates only (one or
//! two of them instead of two or three parameters), with analytic derivatives and every
//! array on the stack. [`super::voxel`] uses it for millions of voxel curves.
//!
//! Units: t in h, rates in 1/h, amplitude in the activity unit of the data (Bq per voxel);
//! the integral in activity·h.
//!
//! Symbols: `a` amplitude, `b` the shape, `dⱼ = ∂b/∂θⱼ`, `w` weights 1/σ², `r = y − a·b`.
//!
//! **Shapes** (same curves as [`super::models`]):
//! - mono-exponential, θ = (λ): b = e^(−λt), Ã = a/λ;
//! - uptake–washout, θ = (λ, δ), written as b = (e^(−λt) − e^(−(λ+δ)t))/δ
//!   = t·e^(−λt)·q(δt) with q(x) = (1 − e^(−x))/x, so a = A·δ in terms of
//!   [`super::models::TacModel::UptakeWashout`]'s A and Ã = a/(λ(λ+δ)). Dividing by δ keeps
//!   the shape finite as δ → 0 (the limit t·e^(−λt) is then reachable instead of needing
//!   A → ∞), and `expm1` avoids the cancellation of e^(−λt) − e^(−(λ+δ)t) at small δ.
//!
//! **Method** (Golub & Pereyra, SIAM J Numer Anal 1973;10:413; Kaufman, BIT 1975;15:49).
//! For θ fixed, a = ⟨b,y⟩/⟨b,b⟩ (⟨u,v⟩ = Σ wᵢuᵢvᵢ), clamped at 0. The reduced residual
//! r(θ) = y − a(θ)·b(θ) has, in Kaufman's approximation, the Jacobian
//! J = a·(d − b⟨b,d⟩/⟨b,b⟩), so the Gauss–Newton matrix is
//! H = a²(⟨dⱼ,dₗ⟩ − ⟨b,dⱼ⟩⟨b,dₗ⟩/⟨b,b⟩) and the right-hand side Jᵀ W r = a⟨d,r⟩ (the
//! projection term vanishes because ⟨b,r⟩ = 0). Each step solves
//! H·Δθ = Jᵀ W r, projects onto the bounds of [`super::models::TacModel::bounds`], and
//! backtracks (halving the step) until WRSS falls. H is the exact
//! Hessian of the reduced WRSS where it is positive definite (Newton: quadratic convergence
//! despite the large residuals of noisy four-point curves, where Gauss–Newton is only
//! linear), Kaufman's matrix otherwise; the second derivatives of b cost no exponential. Fixed points are
//! the stationary points of the same WRSS as the full fit over (a, θ), so at convergence the
//! result equals the full Levenberg–Marquardt fit's when both reach the same minimum
//! (`tests/kinetics_fit.rs` checks it on synthetic voxels).
//!
//! **Uncertainty.** At the optimum the full Gauss–Newton matrix over (a, θ) is assembled
//! from the same sums (⟨b,b⟩, a⟨b,dⱼ⟩, a²⟨dⱼ,dₗ⟩) and σ²(Ã) = gᵀ(JᵀWJ)⁻¹g with g = ∂Ã/∂(a, θ)
//! (the delta method, as in [`super::fit`]); the delta method is invariant to the
//! reparametrisation A → a = A·δ, so σ(Ã) is the one the (A, λ, δ) fit would give. A rate
//! that ends on its upper bound ([`super::models::MAX_RATE_PER_H`], a one-minute half-life)
//! has left the sampled curve: its column of J is zero or collinear with the amplitude's,
//! so JᵀWJ is singular and (JᵀWJ)⁻¹ meaningless (the full fit reports σ ~ 1e70 there). Such
//! a rate is held fixed for the covariance (the active-set convention), which gives the σ
//! of the remaining model, e.g. the mono-exponential when uptake is instantaneous.

use super::lm::cholesky_solve;
use super::models::MAX_PARAMS;

/// Most points a curve may have (stack arrays).
pub const MAX_POINTS: usize = 32;

/// Most rate parameters of a shape.
const MAX_RATES: usize = 2;

/// A one-amplitude curve shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// e^(−λt); θ = (λ).
    MonoExp,
    /// (e^(−λt) − e^(−(λ+δ)t))/δ; θ = (λ, δ).
    UptakeWashout,
}

impl Shape {
    /// Number of rates θ.
    pub fn n_rates(self) -> usize {
        match self {
            Shape::MonoExp => 1,
            Shape::UptakeWashout => 2,
        }
    }

    /// The exponentials b(t) is made of ([`Exps`]) at one time.
    #[inline(always)]
    fn exps(self, theta: &[f64; MAX_RATES], t: f64) -> [f64; MAX_RATES] {
        match self {
            Shape::MonoExp => [exp_neg(theta[0] * t), 0.0],
            Shape::UptakeWashout => [exp_neg(theta[0] * t), exp_neg(theta[1] * t)],
        }
    }

    /// b(t), ∂b/∂θⱼ and ∂²b/∂θⱼ∂θₗ at one time (no exponential beyond those of b).
    #[cfg(test)]
    fn eval(
        self,
        theta: &[f64; MAX_RATES],
        t: f64,
        d: &mut [f64; MAX_RATES],
        e: &mut [[f64; MAX_RATES]; MAX_RATES],
    ) -> f64 {
        self.eval_from(theta, t, self.exps(theta, t), d, e)
    }

    /// [`Shape::eval`] from the exponentials `ex` = [`Shape::exps`] at (θ, t).
    #[inline]
    fn eval_from(
        self,
        theta: &[f64; MAX_RATES],
        t: f64,
        ex: [f64; MAX_RATES],
        d: &mut [f64; MAX_RATES],
        e: &mut [[f64; MAX_RATES]; MAX_RATES],
    ) -> f64 {
        match self {
            Shape::MonoExp => {
                let b = ex[0];
                d[0] = -t * b;
                e[0][0] = t * t * b;
                b
            }
            Shape::UptakeWashout => {
                let e1 = ex[0];
                let x = theta[1] * t;
                let [q, dq, ddq] = q_and_derivatives(x, ex[1]);
                let b = t * e1 * q;
                d[0] = -t * b;
                d[1] = t * t * e1 * dq;
                e[0][0] = t * t * b;
                e[0][1] = -t * d[1];
                e[1][0] = e[0][1];
                e[1][1] = t * t * t * e1 * ddq;
                b
            }
        }
    }

    /// b(t) alone, the same value as [`Shape::eval`] gives.
    #[inline]
    fn value(self, theta: &[f64; MAX_RATES], t: f64) -> f64 {
        let ex = self.exps(theta, t);
        match self {
            Shape::MonoExp => ex[0],
            Shape::UptakeWashout => t * ex[0] * q_only(theta[1] * t, ex[1]),
        }
    }

    /// Ã = ∫₀^∞ a·b dt and its gradient over (a, θ).
    fn integral(self, a: f64, theta: &[f64; MAX_RATES], g: &mut [f64; MAX_PARAMS]) -> f64 {
        match self {
            Shape::MonoExp => {
                let l = theta[0];
                g[0] = 1.0 / l;
                g[1] = -a / (l * l);
                a / l
            }
            Shape::UptakeWashout => {
                let (l, u) = (theta[0], theta[0] + theta[1]);
                let lu = l * u;
                g[0] = 1.0 / lu;
                g[1] = -a * (l + u) / (lu * lu);
                g[2] = -a / (l * u * u);
                a / lu
            }
        }
    }
}

/// Below this x the q of [`q_and_derivatives`] is a Taylor series and needs no e^(−x).
const Q_SERIES_BELOW: f64 = 1e-2;

/// q(x) = (1 − e^(−x))/x, q′(x) = (e^(−x) − q)/x and q″(x) = −(e^(−x) + 2q′)/x for x ≥ 0,
/// given `ex` = e^(−x) (not read below x = 0.01); Taylor series (to x⁵) below x = 0.01, where the closed
/// forms cancel (truncation error there below 1e-15).
#[inline]
fn q_and_derivatives(x: f64, ex: f64) -> [f64; 3] {
    if x < Q_SERIES_BELOW {
        let q =
            1.0 + x * (-0.5 + x * (1.0 / 6.0 + x * (-1.0 / 24.0 + x * (1.0 / 120.0 - x / 720.0))));
        let dq = -0.5
            + x * (1.0 / 3.0 + x * (-0.125 + x * (1.0 / 30.0 + x * (-1.0 / 144.0 + x / 840.0))));
        let ddq =
            1.0 / 3.0 + x * (-0.25 + x * (0.1 + x * (-1.0 / 36.0 + x * (1.0 / 168.0 - x / 960.0))));
        [q, dq, ddq]
    } else {
        // 1 − e^(−x) loses at most ε/x ≤ 1e-14 relative here.
        let q = (1.0 - ex) / x;
        let dq = (ex - q) / x;
        [q, dq, -(ex + 2.0 * dq) / x]
    }
}

/// q(x) of [`q_and_derivatives`] alone, by the same expressions.
#[inline]
fn q_only(x: f64, ex: f64) -> f64 {
    if x < Q_SERIES_BELOW {
        1.0 + x * (-0.5 + x * (1.0 / 6.0 + x * (-1.0 / 24.0 + x * (1.0 / 120.0 - x / 720.0))))
    } else {
        (1.0 - ex) / x
    }
}

/// ln 2 in two parts for [`exp_neg`] (Cody–Waite): `ln2HI[0]`, `ln2LO[0]` of fdlibm's e_exp.c.
#[allow(
    clippy::excessive_precision,
    reason = "fdlibm's published digits, kept to be checked against the source; the f64 is the same"
)]
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
#[allow(
    clippy::excessive_precision,
    reason = "fdlibm's published digits, kept to be checked against the source; the f64 is the same"
)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// Adding and subtracting 1.5·2⁵² rounds to the nearest integer (ties to even) for
/// |x·log₂e| < 2⁵¹: no call to the library `round`, which the baseline x86-64 target does not
/// inline (it has no SSE4.1 `roundsd`).
const ROUND: f64 = 6_755_399_441_055_744.0;

/// e^(−x) for x ≥ 0 (any x works), to about 2 ulp: x·log₂e = n + f with n an integer and
/// |f| ≤ ½, e^(−x) = 2^(−n)·e^(r) with r = −x + n·ln 2 (ln 2 split in two parts, Cody–Waite,
/// so r carries no rounding of n·ln 2), |r| ≤ ln2/2, and e^r by its Taylor series to r¹³
/// (truncation (ln2/2)¹⁴/14! < 1e-17). It is inlined and branch-light, which the library
/// exp is not, and the exponentials are most of the cost of a voxel fit. Checked against
/// `f64::exp` in the tests below.
#[inline]
fn exp_neg(x: f64) -> f64 {
    if x > 708.0 {
        return 0.0;
    }
    let n = (x * std::f64::consts::LOG2_E + ROUND) - ROUND;
    let r = -x + n * LN2_HI + n * LN2_LO;
    let mut e = INV_FACT[13];
    for k in (0..13).rev() {
        e = e * r + INV_FACT[k];
    }
    // 2^(−n) as one factor where that is a normal number (every x in ±708, so every call
    // here): the same product as by the two halves below, since scaling by a power of two is
    // exact until the result is subnormal and then rounds once either way.
    if (-1022.0..=1022.0).contains(&n) {
        return e * f64::from_bits(((1023 - n as i64) as u64) << 52);
    }
    // 2^(−n) in two halves so that n up to 1021 stays a normal number.
    let half = (n as i64) / 2;
    for h in [half, n as i64 - half] {
        e *= f64::from_bits(((1023 - h) as u64) << 52);
    }
    e
}

/// 1/k! for k = 0 … 13 (the Taylor coefficients of [`exp_neg`]).
const INV_FACT: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    0.16666666666666666,
    0.041666666666666664,
    0.008333333333333333,
    0.001388888888888889,
    0.0001984126984126984,
    2.48015873015873e-05,
    2.7557319223985893e-06,
    2.755731922398589e-07,
    2.505210838544172e-08,
    2.08767569878681e-09,
    1.6059043836821613e-10,
];
/// [`exp_neg`] of every lane, the same value to the last bit, written lane by lane so that
/// the compiler can run it on vector registers (two lanes in SSE2's): the same operations,
/// with 2^(−n) built from the bits of n + 1.5·2⁵² (whose low bits are n) instead of a
/// conversion to an integer. Lanes outside ±708 (or NaN) take [`exp_neg`] itself.
#[inline(always)]
fn exp_neg_lanes<const L: usize>(x: [f64; L]) -> [f64; L] {
    // Written with `&` so that the check has no branch per lane.
    let in_range = x
        .iter()
        .fold(true, |ok, x| ok & (-708.0..=708.0).contains(x));
    if !in_range {
        return x.map(exp_neg);
    }
    let mut k = [0.0; L];
    let mut r = [0.0; L];
    for l in 0..L {
        k[l] = x[l] * std::f64::consts::LOG2_E + ROUND;
        let n = k[l] - ROUND;
        r[l] = -x[l] + n * LN2_HI + n * LN2_LO;
    }
    let mut e = [INV_FACT[13]; L];
    for c in (0..13).rev() {
        for l in 0..L {
            e[l] = e[l] * r[l] + INV_FACT[c];
        }
    }
    // |n| ≤ 1022: k = 1.5·2⁵² + n exactly, its bits those of 1.5·2⁵² plus n, whose low 12
    // bits are zero, so bits(k) << 52 = n << 52 (mod 2⁶⁴) and 2^(−n) has the bits
    // (1023 − n) << 52, as in `exp_neg`.
    for l in 0..L {
        let scale = f64::from_bits((1023u64 << 52).wrapping_sub(k[l].to_bits() << 52));
        e[l] *= scale;
    }
    e
}

/// rate·tᵢ for the points, 0 in the lanes past them.
#[inline(always)]
fn lanes<const N: usize>(rate: f64, t: &[f64]) -> [f64; N] {
    let mut x = [0.0; N];
    for i in 0..t.len().min(N) {
        x[i] = rate * t[i];
    }
    x
}

/// Sums over the points at one θ.
#[derive(Clone, Copy, Debug)]
struct Sums {
    /// Best amplitude a ≥ 0.
    a: f64,
    /// WRSS at (a, θ).
    cost: f64,
    /// ⟨b,b⟩.
    bb: f64,
    /// ⟨b,dⱼ⟩.
    bd: [f64; MAX_RATES],
    /// ⟨dⱼ,dₗ⟩.
    dd: [[f64; MAX_RATES]; MAX_RATES],
    /// ⟨dⱼ,r⟩.
    dr: [f64; MAX_RATES],
    /// ⟨eⱼₗ,r⟩ with eⱼₗ = ∂²b/∂θⱼ∂θₗ.
    er: [[f64; MAX_RATES]; MAX_RATES],
}

impl Sums {
    /// Half the exact Hessian of the reduced WRSS C(θ) = ⟨y,y⟩ − ⟨b,y⟩²/⟨b,b⟩:
    /// ½∂²C/∂θⱼ∂θₗ = a²⟨dⱼ,dₗ⟩ − a⟨eⱼₗ,r⟩ − ⟨b,b⟩·aⱼ·aₗ, with aⱼ = ∂a/∂θⱼ =
    /// (⟨dⱼ,r⟩ − a⟨b,dⱼ⟩)/⟨b,b⟩; and Kaufman's Gauss–Newton approximation
    /// a²(⟨dⱼ,dₗ⟩ − ⟨b,dⱼ⟩⟨b,dₗ⟩/⟨b,b⟩) (module doc). The right-hand side of both is
    /// −½∂C/∂θⱼ = a⟨dⱼ,r⟩.
    fn hessian(&self, j: usize, l: usize, exact: bool) -> f64 {
        let a = self.a;
        if exact {
            let aj = (self.dr[j] - a * self.bd[j]) / self.bb;
            let al = (self.dr[l] - a * self.bd[l]) / self.bb;
            a * a * self.dd[j][l] - a * self.er[j][l] - self.bb * aj * al
        } else {
            a * a * (self.dd[j][l] - self.bd[j] * self.bd[l] / self.bb)
        }
    }
}

/// The exponentials of a shape at θ at each point, `ex[j][i]` = e^(−θⱼtᵢ) (`Shape::exps`;
/// the mono-exponential's second row unused), on arrays of `N` ≥ the number of points (1 in
/// the lanes past them). Computing them once lets a start's ranking and the fit's first
/// evaluation share them.
pub type Exps<const N: usize> = [[f64; N]; MAX_RATES];

/// [`Exps`] of `shape` at θ for the times `t`.
#[inline(always)]
fn point_exps<const N: usize>(shape: Shape, theta: &[f64; MAX_RATES], t: &[f64]) -> Exps<N> {
    match shape {
        Shape::MonoExp => [exp_neg_lanes(lanes(theta[0], t)), [0.0; N]],
        Shape::UptakeWashout => [
            exp_neg_lanes(lanes(theta[0], t)),
            exp_neg_lanes(lanes(theta[1], t)),
        ],
    }
}

/// The array lengths `N` of [`fit_n`] for curves of up to 4 and 8 points ([`fit`] picks the
/// smallest that holds the curve, else [`MAX_POINTS`]), so that short curves' arrays are not
/// zeroed at 32 and their exponentials fill whole vector registers.
pub const SHORT: [usize; 2] = [4, 8];

#[cfg(test)]
fn sums(shape: Shape, theta: &[f64; MAX_RATES], t: &[f64], y: &[f64], w: &[f64]) -> Sums {
    sums_at::<MAX_POINTS>(shape, theta, &point_exps(shape, theta, t), t, y, w)
}

/// The sums at θ from its exponentials `ex` ([`point_exps`]).
fn sums_at<const N: usize>(
    shape: Shape,
    theta: &[f64; MAX_RATES],
    ex: &Exps<N>,
    t: &[f64],
    y: &[f64],
    w: &[f64],
) -> Sums {
    // One copy per number of rates, so that the loops over the rates unroll.
    match shape {
        Shape::MonoExp => sums_m::<1, N>(shape, theta, ex, t, y, w),
        Shape::UptakeWashout => sums_m::<2, N>(shape, theta, ex, t, y, w),
    }
}

/// [`sums_at`] for a shape with `M` rates.
#[inline(always)]
fn sums_m<const M: usize, const N: usize>(
    shape: Shape,
    theta: &[f64; MAX_RATES],
    ex: &Exps<N>,
    t: &[f64],
    y: &[f64],
    w: &[f64],
) -> Sums {
    let m = M;
    let n = t.len().min(N);
    let mut bs = [0.0; N];
    let (mut bb, mut by) = (0.0, 0.0);
    // Σw·eⱼₗ·y and Σw·eⱼₗ·b, so that ⟨eⱼₗ,r⟩ needs no second pass (it only enters the
    // Hessian, where its rounding does not matter).
    let mut ey = [[0.0; MAX_RATES]; MAX_RATES];
    let mut eb = [[0.0; MAX_RATES]; MAX_RATES];
    let mut bd = [0.0; MAX_RATES];
    let mut dd = [[0.0; MAX_RATES]; MAX_RATES];
    let mut dy = [0.0; MAX_RATES];
    for i in 0..n {
        let mut d = [0.0; MAX_RATES];
        let mut e = [[0.0; MAX_RATES]; MAX_RATES];
        let b = shape.eval_from(theta, t[i], [ex[0][i], ex[1][i]], &mut d, &mut e);
        let (wb, wy) = (w[i] * b, w[i] * y[i]);
        bb += wb * b;
        by += wb * y[i];
        for j in 0..m {
            bd[j] += wb * d[j];
            dy[j] += wy * d[j];
            for l in 0..=j {
                dd[j][l] += w[i] * d[j] * d[l];
                ey[j][l] += wy * e[j][l];
                eb[j][l] += wb * e[j][l];
            }
        }
        bs[i] = b;
    }
    for j in 0..m {
        for l in 0..j {
            dd[l][j] = dd[j][l];
        }
    }
    let a = if bb > 0.0 && by > 0.0 { by / bb } else { 0.0 };
    // WRSS from the residuals, not ⟨y,y⟩ − a⟨b,y⟩, which cancels for good fits.
    let mut cost = 0.0;
    for i in 0..n {
        let r = y[i] - a * bs[i];
        cost += w[i] * r * r;
    }
    let mut er = [[0.0; MAX_RATES]; MAX_RATES];
    for j in 0..m {
        for l in 0..=j {
            er[j][l] = ey[j][l] - a * eb[j][l];
            er[l][j] = er[j][l];
        }
    }
    let mut dr = [0.0; MAX_RATES];
    for j in 0..m {
        dr[j] = dy[j] - a * bd[j];
    }
    Sums {
        a,
        cost,
        bb,
        bd,
        dd,
        dr,
        er,
    }
}

/// Solves the k×k (k ≤ 2) symmetric system `h`·x = `b` (row-major), `None` unless `h` is
/// positive definite: Cholesky written out for the one- and two-rate shapes (the generic
/// [`cholesky_solve`] loops over 6×6 arrays), same pivots and the same refusals.
#[inline]
fn solve_small(
    h: &[f64; MAX_RATES * MAX_RATES],
    b: &[f64; MAX_PARAMS],
    k: usize,
) -> Option<[f64; MAX_PARAMS]> {
    let mut x = [0.0; MAX_PARAMS];
    match k {
        1 => {
            if !(h[0] > 0.0 && h[0].is_finite()) {
                return None;
            }
            x[0] = b[0] / h[0];
        }
        2 => {
            let (a, c, d) = (h[0], h[2], h[3]);
            // L = [[√a, 0], [c/√a, √(d − c²/a)]].
            let s = d - c * c / a;
            if !(a > 0.0 && a.is_finite() && s > 0.0 && s.is_finite()) {
                return None;
            }
            x[1] = (b[1] - c / a * b[0]) / s;
            x[0] = (b[0] - c * x[1]) / a;
        }
        _ => return cholesky_solve(&h[..k * k], &b[..k], k),
    }
    Some(x)
}

/// Bounds and stopping rules of one separable fit.
#[derive(Clone, Copy, Debug)]
pub struct VarProOptions {
    /// Lower bounds of θ.
    pub lo: [f64; MAX_RATES],
    /// Upper bounds of θ.
    pub hi: [f64; MAX_RATES],
    /// Most iterations (accepted or rejected steps).
    pub max_iter: usize,
    /// Stop when an accepted step lowers WRSS by less than this fraction.
    pub rel_tol: f64,
    /// Stop when an accepted step changes every rate by less than this fraction.
    pub param_tol: f64,
}

/// Result of one separable fit.
#[derive(Clone, Copy, Debug)]
pub struct VarProFit {
    /// Amplitude a.
    pub amplitude: f64,
    /// Rates θ, 1/h.
    pub rates: [f64; MAX_RATES],
    /// WRSS at the optimum.
    pub wrss: f64,
    /// Ã = ∫₀^∞ a·b dt, activity·h.
    pub tia_h: f64,
    /// σ²(Ã) = gᵀ(JᵀWJ)⁻¹g over (a, θ), rates on their upper bound held fixed; `None` when
    /// JᵀWJ is singular or a = 0.
    pub tia_var_h2: Option<f64>,
    /// Steps taken.
    pub iterations: usize,
    /// The sums at the optimum (for [`VarProFit::variance`]).
    sums: Sums,
    /// Rates free in the covariance (not held on their upper bound).
    free: [bool; MAX_RATES],
    /// Number of rates.
    m: usize,
}

impl VarProFit {
    /// gᵀ(JᵀWJ)⁻¹g over (a, θ) for the gradient `g` of any function of the parameters
    /// (e.g. Ã of a related model), rates on their upper bound held fixed.
    pub fn variance(&self, g: &[f64]) -> Option<f64> {
        let mut gg = [0.0; MAX_PARAMS];
        gg[..g.len()].copy_from_slice(g);
        tia_variance(&self.sums, self.m, self.free, &gg)
    }
}

/// WRSS at the best amplitude for θ (used to rank start values): the `cost` of `sums`,
/// the same arithmetic in the same order (so the same value to the last bit), from b alone,
/// without the derivatives.
pub fn reduced_wrss(
    shape: Shape,
    theta: &[f64; MAX_RATES],
    t: &[f64],
    y: &[f64],
    w: &[f64],
) -> f64 {
    let n = t.len().min(MAX_POINTS);
    let mut bs = [0.0; MAX_POINTS];
    for i in 0..n {
        bs[i] = shape.value(theta, t[i]);
    }
    projected_wrss(&bs[..n], y, w)
}

/// e^(−δtᵢ) for the uptake–washout starts ([`best_uptake_washout_start`]) at δ, where q uses
/// it, so that fixed start rates can have theirs computed once for many curves.
pub fn uptake_exps<const N: usize>(delta: f64, t: &[f64]) -> [f64; N] {
    exp_neg_lanes(lanes(delta, t))
}

/// WRSS of the points against the curve a·bᵢ at its best amplitude a = Σwby / Σwb² (0 when
/// either sum is not positive), the arithmetic of `sums` in the same order.
fn projected_wrss(bs: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let (mut bb, mut by) = (0.0, 0.0);
    for i in 0..bs.len() {
        let wb = w[i] * bs[i];
        bb += wb * bs[i];
        by += wb * y[i];
    }
    let a = if bb > 0.0 && by > 0.0 { by / bb } else { 0.0 };
    let mut cost = 0.0;
    for i in 0..bs.len() {
        let r = y[i] - a * bs[i];
        cost += w[i] * r * r;
    }
    cost
}

/// The uptake–washout start of lowest [`reduced_wrss`] among θ = (λ, δ) for the δ in
/// `deltas` (the first of equals), and that WRSS: the same values as calling
/// [`reduced_wrss`] for each, with e^(−λtᵢ) computed once for all of them and e^(−δtᵢ) taken
/// from the candidates where they carry it ([`uptake_exps`]). Also returns the start's
/// [`Exps`], for [`fit_n`]. `None` when no WRSS is finite.
pub fn best_uptake_washout_start<'a, const N: usize>(
    lambda: f64,
    deltas: impl IntoIterator<Item = (f64, Option<&'a [f64; N]>)>,
    t: &[f64],
    y: &[f64],
    w: &[f64],
) -> Option<(f64, [f64; MAX_RATES], Exps<N>)> {
    let n = t.len().min(N);
    let e1 = exp_neg_lanes(lanes(lambda, t));
    let mut best = (f64::INFINITY, [lambda, 0.0], [0.0; N]);
    for (delta, exps) in deltas {
        let ed = exps.copied().unwrap_or_else(|| uptake_exps(delta, t));
        let mut bs = [0.0; N];
        for i in 0..n {
            // As in `Shape::value`.
            bs[i] = t[i] * e1[i] * q_only(delta * t[i], ed[i]);
        }
        let cost = projected_wrss(&bs[..n], y, w);
        if cost < best.0 {
            best = (cost, [lambda, delta], ed);
        }
    }
    best.0.is_finite().then_some((best.0, best.1, [e1, best.2]))
}

/// Fits `shape` to (t, y) with weights `w` (≤ [`MAX_POINTS`] points) from the rates
/// `theta0`, keeping them within the bounds of `opts`.
pub fn fit(
    shape: Shape,
    t: &[f64],
    y: &[f64],
    w: &[f64],
    theta0: [f64; MAX_RATES],
    opts: &VarProOptions,
) -> VarProFit {
    if t.len() <= SHORT[0] {
        fit_n::<{ SHORT[0] }>(shape, t, y, w, theta0, None, opts)
    } else if t.len() <= SHORT[1] {
        fit_n::<{ SHORT[1] }>(shape, t, y, w, theta0, None, opts)
    } else {
        fit_n::<MAX_POINTS>(shape, t, y, w, theta0, None, opts)
    }
}

/// [`fit`] on arrays of `N` ≥ the number of points, with the exponentials at `theta0` where
/// the caller has them (`exps0`, the [`Exps`] of `shape` at `theta0`: the same fit, without
/// computing them again; they are not used where θ₀ is outside the bounds).
pub fn fit_n<const N: usize>(
    shape: Shape,
    t: &[f64],
    y: &[f64],
    w: &[f64],
    theta0: [f64; MAX_RATES],
    exps0: Option<&Exps<N>>,
    opts: &VarProOptions,
) -> VarProFit {
    let m = shape.n_rates();
    let mut theta = theta0;
    for j in 0..m {
        theta[j] = theta[j].clamp(opts.lo[j], opts.hi[j]);
    }
    // Rates with lo = hi are held fixed: the steps run over the others (`idx`).
    let mut idx = [0usize; MAX_RATES];
    let mut mf = 0;
    for j in 0..m {
        if opts.lo[j] < opts.hi[j] {
            idx[mf] = j;
            mf += 1;
        }
    }
    let mut cur = match exps0 {
        Some(ex) if theta == theta0 => sums_at(shape, &theta, ex, t, y, w),
        _ => sums_at::<N>(shape, &theta, &point_exps(shape, &theta, t), t, y, w),
    };
    let mut iterations = 0;
    while iterations < opts.max_iter && cur.a > 0.0 && mf > 0 {
        iterations += 1;
        let mut rhs = [0.0; MAX_PARAMS];
        for (r, &j) in idx[..mf].iter().enumerate() {
            rhs[r] = cur.a * cur.dr[j];
        }
        let solve = |exact: bool| {
            let mut h = [0.0; MAX_RATES * MAX_RATES];
            for (r, &j) in idx[..mf].iter().enumerate() {
                for (c, &l) in idx[..mf].iter().enumerate() {
                    h[r * mf + c] = cur.hessian(j, l, exact);
                }
            }
            solve_small(&h, &rhs, mf)
        };
        // Newton first; Kaufman's step where Newton's matrix is not positive definite or
        // its step does not lower WRSS.
        let mut accepted = None;
        for exact in [true, false] {
            let Some(step) = solve(exact) else {
                continue;
            };
            if let Some(hit) =
                line_search::<N>(shape, t, y, w, &theta, &step, &idx[..mf], &cur, opts)
            {
                accepted = Some(hit);
                break;
            }
        }
        let Some((trial, next, tiny)) = accepted else {
            // No descent left at this precision: a (possibly bounded) minimum.
            break;
        };
        if tiny {
            break;
        }
        let decrease = cur.cost - next.cost;
        (theta, cur) = (trial, next);
        if decrease <= opts.rel_tol * cur.cost || cur.cost == 0.0 {
            break;
        }
    }
    let mut g = [0.0; MAX_PARAMS];
    let tia_h = shape.integral(cur.a, &theta, &mut g);
    let mut free = [true; MAX_RATES];
    for j in 0..m {
        free[j] = theta[j] < opts.hi[j];
    }
    VarProFit {
        amplitude: cur.a,
        rates: theta,
        wrss: cur.cost,
        tia_h,
        tia_var_h2: tia_variance(&cur, m, free, &g),
        iterations,
        sums: cur,
        free,
        m,
    }
}

/// Backtracking along `step` (full step, then halves, at most 12 tries), keeping to the
/// bounds: the first point with lower WRSS, and whether the step was below the tolerance
/// (then it is not evaluated: converged). `None` when no try lowers WRSS.
#[expect(clippy::too_many_arguments, reason = "the fit's state, passed as is")]
fn line_search<const N: usize>(
    shape: Shape,
    t: &[f64],
    y: &[f64],
    w: &[f64],
    theta: &[f64; MAX_RATES],
    step: &[f64; MAX_PARAMS],
    idx: &[usize],
    cur: &Sums,
    opts: &VarProOptions,
) -> Option<([f64; MAX_RATES], Sums, bool)> {
    let mut alpha = 1.0;
    for _ in 0..12 {
        let mut trial = *theta;
        for (r, &j) in idx.iter().enumerate() {
            trial[j] = (theta[j] + alpha * step[r]).clamp(opts.lo[j], opts.hi[j]);
        }
        let tiny = idx
            .iter()
            .all(|&j| (trial[j] - theta[j]).abs() <= opts.param_tol * theta[j].abs().max(1e-300));
        if tiny {
            return (alpha == 1.0).then_some((*theta, *cur, true));
        }
        let next = sums_at::<N>(shape, &trial, &point_exps(shape, &trial, t), t, y, w);
        if next.cost.is_finite() && next.cost < cur.cost {
            return Some((trial, next, false));
        }
        alpha *= 0.5;
    }
    None
}

/// gᵀ(JᵀWJ)⁻¹g with JᵀWJ over (a, θ) = [[⟨b,b⟩, a⟨b,dₗ⟩], [a⟨b,dⱼ⟩, a²⟨dⱼ,dₗ⟩]], leaving out
/// the rates not in `free` (held fixed on their upper bound, see the module doc).
fn tia_variance(s: &Sums, m: usize, free: [bool; MAX_RATES], g: &[f64; MAX_PARAMS]) -> Option<f64> {
    if s.a <= 0.0 {
        return None;
    }
    let mut idx = [0usize; MAX_RATES];
    let mut mf = 0;
    for j in 0..m {
        if free[j] {
            idx[mf] = j;
            mf += 1;
        }
    }
    let k = mf + 1;
    // (a, θ) with at most MAX_RATES rates: an array of that size is not zeroed by a call.
    let mut jtwj = [0.0; (MAX_RATES + 1) * (MAX_RATES + 1)];
    let mut gf = [0.0; MAX_PARAMS];
    jtwj[0] = s.bb;
    gf[0] = g[0];
    for (r, &j) in idx[..mf].iter().enumerate() {
        gf[r + 1] = g[j + 1];
        jtwj[r + 1] = s.a * s.bd[j];
        jtwj[(r + 1) * k] = s.a * s.bd[j];
        for (c, &l) in idx[..mf].iter().enumerate() {
            jtwj[(r + 1) * k + c + 1] = s.a * s.a * s.dd[j][l];
        }
    }
    let x = match k {
        1 => cholesky_solve_fixed::<1>(&jtwj, &gf),
        2 => cholesky_solve_fixed::<2>(&jtwj, &gf),
        3 => cholesky_solve_fixed::<3>(&jtwj, &gf),
        _ => cholesky_solve(&jtwj[..k * k], &gf[..k], k),
    }?;
    let var: f64 = (0..k).map(|j| gf[j] * x[j]).sum();
    (var.is_finite() && var >= 0.0).then_some(var)
}

/// [`cholesky_solve`] for a K×K system (`a` row-major with row length K, `b`), the same
/// operations in the same order (so the same result to the last bit), on arrays of K so that
/// the loops unroll: the generic one works on 6×6 arrays, zeroed per call.
#[inline]
#[expect(
    clippy::needless_range_loop,
    reason = "the loops of `cholesky_solve`, for its order of operations"
)]
fn cholesky_solve_fixed<const K: usize>(a: &[f64], b: &[f64]) -> Option<[f64; MAX_PARAMS]> {
    let mut l = [[0.0; K]; K];
    for i in 0..K {
        for j in 0..=i {
            let mut s = a[i * K + j];
            for m in 0..j {
                s -= l[i][m] * l[j][m];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut x = [0.0; MAX_PARAMS];
    for i in 0..K {
        let mut s = b[i];
        for m in 0..i {
            s -= l[i][m] * x[m];
        }
        x[i] = s / l[i][i];
    }
    for i in (0..K).rev() {
        let mut s = x[i];
        for m in i + 1..K {
            s -= l[m][i] * x[m];
        }
        x[i] = s / l[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinetics::models::TacModel;

    #[test]
    fn shape_derivatives_match_central_differences() {
        for (shape, theta) in [
            (Shape::MonoExp, [0.03, 0.0]),
            (Shape::UptakeWashout, [0.02, 0.4]),
            (Shape::UptakeWashout, [0.02, 1e-5]),
            (Shape::UptakeWashout, [0.02, 0.0]),
        ] {
            for t in [0.5, 4.0, 24.0, 168.0] {
                let mut d = [0.0; MAX_RATES];
                let mut e = [[0.0; MAX_RATES]; MAX_RATES];
                shape.eval(&theta, t, &mut d, &mut e);
                for j in 0..shape.n_rates() {
                    let h = 1e-6 * theta[j].abs().max(1e-3);
                    let (mut p, mut q) = (theta, theta);
                    p[j] += h;
                    q[j] -= h;
                    // One-sided at the δ = 0 end of the domain.
                    let lo = if q[j] < 0.0 { theta } else { q };
                    let span = if q[j] < 0.0 { h } else { 2.0 * h };
                    let (mut dp, mut dl) = ([0.0; MAX_RATES], [0.0; MAX_RATES]);
                    let mut z = [[0.0; MAX_RATES]; MAX_RATES];
                    let fd = (shape.eval(&p, t, &mut dp, &mut z)
                        - shape.eval(&lo, t, &mut dl, &mut z))
                        / span;
                    let tol = if q[j] < 0.0 { 1e-3 } else { 1e-6 };
                    assert!(
                        (fd - d[j]).abs() <= tol * (1e-12 + fd.abs().max(d[j].abs())),
                        "{shape:?} θ{j} = {:?} t = {t}: fd {fd} vs {}",
                        theta,
                        d[j]
                    );
                    // Second derivatives from the first ones.
                    for l in 0..shape.n_rates() {
                        let fd2 = (dp[l] - dl[l]) / span;
                        assert!(
                            (fd2 - e[l][j]).abs() <= tol * (1e-12 + fd2.abs().max(e[l][j].abs())),
                            "{shape:?} ∂²/∂θ{l}∂θ{j} at {:?} t = {t}: fd {fd2} vs {}",
                            theta,
                            e[l][j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reduced_wrss_is_the_cost_of_the_full_sums_to_the_bit() {
        let t = [4.0, 24.0, 72.0, 168.0];
        let y = [3000.0, 5200.0, 2100.0, 400.0];
        let w = y.map(|v| 1.0 / (0.05 * v * 0.05 * v));
        for (shape, theta) in [
            (Shape::MonoExp, [0.03, 0.0]),
            (Shape::UptakeWashout, [0.02, 0.4]),
            (Shape::UptakeWashout, [0.02, 1e-4]),
            (Shape::UptakeWashout, [0.05, 30.0]),
        ] {
            let full = sums(shape, &theta, &t, &y, &w).cost;
            assert_eq!(
                reduced_wrss(shape, &theta, &t, &y, &w).to_bits(),
                full.to_bits()
            );
        }
        let deltas = [0.4, 1e-4, 30.0, 0.05];
        let costs = deltas.map(|d| reduced_wrss(Shape::UptakeWashout, &[0.02, d], &t, &y, &w));
        let k = (0..4).fold(0, |k, j| if costs[j] < costs[k] { j } else { k });
        let (c, theta, ex) =
            best_uptake_washout_start::<4>(0.02, deltas.map(|d| (d, None)), &t, &y, &w).unwrap();
        assert_eq!(
            (c.to_bits(), theta),
            (costs[k].to_bits(), [0.02, deltas[k]])
        );
        assert_eq!(ex, point_exps::<4>(Shape::UptakeWashout, &theta, &t));
        // Candidates that carry their e^(−δt) give the same start.
        let carried = deltas.map(|d| uptake_exps::<4>(d, &t));
        let with = best_uptake_washout_start::<4>(
            0.02,
            (0..4).map(|j| (deltas[j], Some(&carried[j]))),
            &t,
            &y,
            &w,
        );
        assert_eq!(
            with.map(|(c, th, _)| (c.to_bits(), th)),
            Some((c.to_bits(), theta))
        );
    }

    #[test]
    fn exp_neg_matches_the_library_exponential_to_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let x = i as f64 * 7.1e-3 * (1.0 + 1e-7 * (i % 13) as f64); // 0 … 1420
            let (a, b) = (exp_neg(x), (-x).exp());
            if x <= 708.0 {
                worst = worst.max((a - b).abs() / b);
            } else {
                assert_eq!(a, 0.0, "x = {x}");
            }
        }
        assert!(worst < 1e-15, "largest relative difference {worst:e}");
        assert_eq!(exp_neg(0.0), 1.0);
    }

    #[test]
    fn exp_neg_lanes_is_exp_neg_to_the_bit() {
        for i in 0..100_000 {
            let x = -720.0 + i as f64 * 1.43e-2 * (1.0 + 1e-7 * (i % 13) as f64); // −720 … 710
            let xs = [x, 0.5 * x, 1e-3 * x, -0.0];
            assert_eq!(
                exp_neg_lanes(xs).map(f64::to_bits),
                xs.map(|x| exp_neg(x).to_bits()),
                "x = {x}"
            );
            let ys = [x, x + 0.25];
            assert_eq!(
                exp_neg_lanes(ys).map(f64::to_bits),
                ys.map(|x| exp_neg(x).to_bits())
            );
        }
        let odd = [f64::NAN, 709.0, -709.5, f64::INFINITY];
        for (a, b) in exp_neg_lanes(odd).iter().zip(odd.map(exp_neg)) {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
        }
    }

    #[test]
    fn normalised_uptake_washout_is_the_model_curve_divided_by_delta() {
        let p = [800.0, 0.012, 0.6];
        let mut d = [0.0; MAX_RATES];
        let mut e = [[0.0; MAX_RATES]; MAX_RATES];
        for t in [1.0, 10.0, 100.0] {
            let b = Shape::UptakeWashout.eval(&[p[1], p[2]], t, &mut d, &mut e);
            let f = TacModel::UptakeWashout.eval(&p, t, None);
            assert!((p[0] * p[2] * b - f).abs() < 1e-12 * f, "t = {t}");
        }
    }
}
