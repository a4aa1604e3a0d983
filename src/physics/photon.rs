//! Photon interactions: cross-section lookup and sampling of photoelectric absorption,
//! incoherent (Compton) and coherent (Rayleigh) scattering.
//!
//! - **Incoherent**: Klein–Nishina sampled by the Butcher & Messel (1960, Nucl. Phys. 20:15)
//!   mixture method as used in EGS4 (Nelson et al. 1985, SLAC-265 §2.9), with the binding
//!   correction by rejection on the incoherent scattering function S(x)/S(∞) (Hubbell et al.
//!   1975, J. Phys. Chem. Ref. Data 4:471; tables from xraylib). The electron receives E − E′;
//!   Doppler broadening and the binding energy of the struck electron are neglected (the shell
//!   energies of tissue elements are < 4.1 keV, below the 10 keV cutoff).
//! - **Coherent**: Thomson (1 + cos²θ)/2 × F²(x) sampled by inverting the cumulative of F² in
//!   x² up to x_max = E/hc, then rejection on (1 + cos²θ)/2 (the method of PENELOPE 2014, Salvat,
//!   NEA/NSC/DOC(2015)3 §2.1).
//! - **Photoelectric**: the photon is absorbed and a photoelectron of the full photon energy is
//!   emitted along the photon direction. Fluorescence and Auger emission are deposited with it:
//!   K-shell energies of tissue elements (Ca 4.04 keV at most) are below the 10 keV cutoffs, so
//!   their range and mean free path are far below a voxel. The Sauter angular distribution is not
//!   sampled for the same reason (a 100 keV photoelectron's CSDA range in water is 0.14 mm).
//!
//! x = sin(θ/2)/λ in Å⁻¹ = E·sin(θ/2)/hc. Energies in keV; `k` = E/mc². Every sampling function
//! takes its uniforms, is deterministic, and has a WGSL twin in `shaders/shared/photon.wgsl`.

use crate::physics::tables::{
    lerp, PhysicsTables, ELECTRON_MASS_KEV, HC_KEV_ANGSTROM, N_ENERGY, N_X,
};

/// Linear attenuation coefficients (mm⁻¹) at one energy in one voxel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhotonMu {
    /// Photoelectric.
    pub photo: f32,
    /// Incoherent.
    pub incoh: f32,
    /// Coherent.
    pub coh: f32,
}

impl PhotonMu {
    /// Total.
    pub fn total(&self) -> f32 {
        self.photo + self.incoh + self.coh
    }
}

/// The interaction a real collision turns out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotonInteraction {
    /// Photoelectric absorption.
    Photoelectric,
    /// Incoherent (Compton) scattering.
    Incoherent,
    /// Coherent (Rayleigh) scattering.
    Coherent,
}

/// μ of material `m` at density `density_g_cm3` and energy `e_kev` (interval `i`, fraction `f`).
#[inline]
pub fn photon_mu(t: &PhysicsTables, m: usize, density_g_cm3: f32, i: usize, f: f32) -> PhotonMu {
    let base = m * N_ENERGY;
    PhotonMu {
        photo: lerp(&t.mu_photo, base, i, f) * density_g_cm3,
        incoh: lerp(&t.mu_incoh, base, i, f) * density_g_cm3,
        coh: lerp(&t.mu_coh, base, i, f) * density_g_cm3,
    }
}

/// Total μ (mm⁻¹) of material `m` at density `density_g_cm3` and energy interval `i`, fraction
/// `f`, from the total table: one lookup where [`photon_mu`] makes three, for the Woodcock
/// flight's real-or-virtual test, which needs only the total. Equal to
/// `photon_mu(..).total()` to within f32 rounding.
#[inline]
pub fn photon_mu_total(t: &PhysicsTables, m: usize, density_g_cm3: f32, i: usize, f: f32) -> f32 {
    lerp(&t.mu_total, m * N_ENERGY, i, f) * density_g_cm3
}

/// Chooses the interaction from the partial coefficients with one uniform.
#[inline]
pub fn choose_interaction(mu: &PhotonMu, u: f32) -> PhotonInteraction {
    let x = u * mu.total();
    if x < mu.photo {
        PhotonInteraction::Photoelectric
    } else if x < mu.photo + mu.incoh {
        PhotonInteraction::Incoherent
    } else {
        PhotonInteraction::Coherent
    }
}

/// One trial of incoherent scattering: Klein–Nishina (Butcher–Messel) and S(x) rejection.
///
/// Returns `Some((ε, cos θ))` with ε = E′/E when accepted. Four uniforms.
#[inline]
pub fn sample_incoherent_trial(
    t: &PhysicsTables,
    m: usize,
    e_kev: f32,
    u: [f32; 4],
) -> Option<(f32, f32)> {
    let k = e_kev / ELECTRON_MASS_KEV;
    let eps0 = 1.0 / (1.0 + 2.0 * k);
    let alpha1 = -eps0.ln();
    let alpha2 = 0.5 * (1.0 - eps0 * eps0);
    let eps = if u[0] * (alpha1 + alpha2) < alpha1 {
        (-alpha1 * u[1]).exp()
    } else {
        (eps0 * eps0 + (1.0 - eps0 * eps0) * u[1]).sqrt()
    };
    let tt = (1.0 - eps) / (k * eps);
    let sin2 = (tt * (2.0 - tt)).max(0.0);
    let g = 1.0 - eps * sin2 / (1.0 + eps * eps);
    if u[2] > g {
        return None;
    }
    let cos_theta = (1.0 - tt).clamp(-1.0, 1.0);
    let x = e_kev * (0.5 * (1.0 - cos_theta)).sqrt() / HC_KEV_ANGSTROM;
    if u[3] > incoherent_s_ratio(t, m, x) {
        return None;
    }
    Some((eps, cos_theta))
}

/// S(x)/S(∞) of material `m`.
#[inline]
pub fn incoherent_s_ratio(t: &PhysicsTables, m: usize, x: f32) -> f32 {
    if x <= 0.0 {
        return 0.0;
    }
    if x < t.x_grid.value(0) as f32 {
        // S ∝ x² as x → 0 (Hubbell 1975): scale the first tabulated value.
        let x0 = crate::physics::tables::X_MIN;
        return t.s_incoh[m * N_X] * (x / x0) * (x / x0);
    }
    let (j, f) = t.x_grid.locate(x);
    lerp(&t.s_incoh, m * N_X, j, f)
}

/// One trial of coherent scattering: x² from the F² cumulative up to x_max, then Thomson
/// rejection. Returns `Some(cos θ)` when accepted. Two uniforms.
#[inline]
pub fn sample_coherent_trial(t: &PhysicsTables, m: usize, e_kev: f32, u: [f32; 2]) -> Option<f32> {
    let x_max = e_kev / HC_KEV_ANGSTROM;
    let cum_max = ff_cumulative(t, m, x_max);
    let x2 = ff_inverse_x2(t, m, u[0] * cum_max);
    let cos_theta = (1.0 - 2.0 * x2 / (x_max * x_max)).clamp(-1.0, 1.0);
    if u[1] * 2.0 > 1.0 + cos_theta * cos_theta {
        return None;
    }
    Some(cos_theta)
}

/// Normalised ∫₀^{x²} F² d(x²) at `x`, linear in x² between grid points (0 at x = 0).
#[inline]
pub fn ff_cumulative(t: &PhysicsTables, m: usize, x: f32) -> f32 {
    let base = m * N_X;
    let x0 = t.x_grid.value(0) as f32;
    if x <= x0 {
        return t.ff_cum[base] * (x * x) / (x0 * x0);
    }
    if x >= t.x_grid.value(N_X - 1) as f32 {
        return 1.0;
    }
    let (j, _) = t.x_grid.locate(x);
    let xa = t.x_grid.value(j) as f32;
    let xb = t.x_grid.value(j + 1) as f32;
    let w = (x * x - xa * xa) / (xb * xb - xa * xa);
    t.ff_cum[base + j] + w * (t.ff_cum[base + j + 1] - t.ff_cum[base + j])
}

/// x² at which the normalised F² cumulative equals `c` (binary search, 9 fixed iterations
/// for `N_X` = 256 points + 1 interval below the grid; bounded for the GPU).
#[inline]
pub fn ff_inverse_x2(t: &PhysicsTables, m: usize, c: f32) -> f32 {
    let base = m * N_X;
    let x0 = t.x_grid.value(0) as f32;
    if c <= t.ff_cum[base] {
        return x0 * x0 * c / t.ff_cum[base].max(f32::MIN_POSITIVE);
    }
    let (mut lo, mut hi) = (0usize, N_X - 1);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if t.ff_cum[base + mid] < c {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let xa = t.x_grid.value(lo) as f32;
    let xb = t.x_grid.value(hi) as f32;
    let (ca, cb) = (t.ff_cum[base + lo], t.ff_cum[base + hi]);
    let w = if cb > ca { (c - ca) / (cb - ca) } else { 0.0 };
    xa * xa + w * (xb * xb - xa * xa)
}

/// Direction cosine of the Compton electron: cos θₑ = (E − E′cos θ) / (pₑc), with
/// pₑc = √(T(T + 2mc²)), T = E − E′.
#[inline]
pub fn compton_electron_cos(e_kev: f32, e_scattered_kev: f32, cos_theta: f32) -> f32 {
    let tkin = e_kev - e_scattered_kev;
    let pc = (tkin * (tkin + 2.0 * ELECTRON_MASS_KEV)).sqrt();
    if pc <= 0.0 {
        return 1.0;
    }
    ((e_kev - e_scattered_kev * cos_theta) / pc).clamp(-1.0, 1.0)
}
