//! Electron condensed history: continuous slowing down and multiple elastic scattering.
//!
//! **Model.** Class I condensed history (Berger 1963, Methods Comput. Phys. 1:135):
//! - *Energy loss*: continuous slowing down along the step, exact in the CSDA sense — the
//!   residual range after a step of path s in density ρ is R(E)·… − s·ρ, and the new energy is
//!   read from the inverse range table (ESTAR total stopping power, so radiative loss is
//!   deposited locally: the radiation yield of a 500 keV electron in water is 0.2 %). No energy
//!   straggling, no explicit δ-rays or bremsstrahlung photons.
//! - *Multiple scattering*: at the end of each step the direction is deflected by an angle drawn
//!   from a screened-Rutherford (Wentzel) distribution p(μ) ∝ (1 − μ + 2A)⁻² whose screening A
//!   is chosen so that ⟨1 − cos θ⟩ equals the exact Goudsmit–Saunderson value 1 − exp(−s/λ₁)
//!   (Goudsmit & Saunderson 1940, Phys. Rev. 57:24; the moment-matched Wentzel model of
//!   Fernández-Varea et al. 1993, Nucl. Instrum. Meth. B 73:447, here fitted to the first moment
//!   only). λ₁ is the elastic transport mean free path ([`crate::physics::tables`]).
//! - *Steps*: at most [`MAX_STEP_RANGE_FRACTION`] of the residual CSDA range, and never across a
//!   voxel boundary (material and density are constant along a step).
//! - *Cutoff*: below the kinetic-energy cutoff (default 10 keV, CSDA range 2.5 µm in water) the
//!   remaining energy is deposited in the current voxel.
//!
//! Symbols: E kinetic energy (keV); R CSDA range × ρ (mm·g/cm³); s path length (mm);
//! τ = ⟨1 − cos θ⟩. WGSL twin: `shaders/shared/electron.wgsl`.

use crate::physics::tables::{lerp, PhysicsTables, N_ENERGY, N_RANGE, TAU_MAX, TAU_MIN};

/// Largest step as a fraction of the residual CSDA range.
pub const MAX_STEP_RANGE_FRACTION: f32 = 0.25;

/// CSDA range × ρ (mm·g/cm³) of material `m` at grid interval `i`, fraction `f`.
#[inline]
pub fn electron_range(t: &PhysicsTables, m: usize, i: usize, f: f32) -> f32 {
    lerp(&t.range, m * N_ENERGY, i, f)
}

/// Elastic transport mean free path × ρ (mm·g/cm³).
#[inline]
pub fn electron_lambda1(t: &PhysicsTables, m: usize, i: usize, f: f32) -> f32 {
    lerp(&t.lambda1, m * N_ENERGY, i, f)
}

/// Kinetic energy (keV) at residual range `r` (mm·g/cm³) in material `m`.
#[inline]
pub fn energy_at_range(t: &PhysicsTables, m: usize, r: f32) -> f32 {
    let (j, f) = t.range_grid[m].locate(r);
    lerp(&t.inv_range_e, m * N_RANGE, j, f)
}

/// cos θ of a multiple-scattering deflection after a step with ⟨1 − cos θ⟩ = `tau`.
///
/// Two uniforms in, cos θ out. Below τ_min the step is not deflected; above τ_max the direction
/// is isotropic (the electron has lost memory of its direction).
#[inline]
pub fn sample_ms_cos(t: &PhysicsTables, tau: f32, u: f32) -> f32 {
    if tau < TAU_MIN {
        return 1.0;
    }
    if tau >= TAU_MAX {
        return 2.0 * u - 1.0;
    }
    let (j, f) = t.tau_grid.locate(tau);
    let a = lerp(&t.screening, 0, j, f);
    // Inversion of the screened-Rutherford cumulative: μ = 1 − 2A·u / (1 − u + A).
    (1.0 - 2.0 * a * u / (1.0 - u + a)).clamp(-1.0, 1.0)
}

/// ⟨1 − cos θ⟩ after a path `s_rho` (mm·g/cm³) with transport mean free path `lambda1_rho`.
#[inline]
pub fn ms_tau(s_rho: f32, lambda1_rho: f32) -> f32 {
    1.0 - (-s_rho / lambda1_rho).exp()
}
