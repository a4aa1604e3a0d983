//! Bremsstrahlung of electrons: which part of the radiative loss is continuous, how often a
//! photon is made, its energy and its direction.
//!
//! **Model** (a mixed, "class II" scheme for radiative losses, Berger 1963, Methods Comput.
//! Phys. 1:135): photons of energy k ≥ [`BREMS_K_MIN_KEV`] are made one by one along the
//! electron's steps; softer ones are part of the continuous loss:
//! - continuous stopping power S_cont(T) = S_col(T) + S_rad(T)·F_soft(T), with
//!   F_soft = ∫₀^{κc} χ dκ / ∫₀¹ χ dκ, κc = k_min/T (ESTAR S_col, S_rad; the CSDA range the
//!   electron steps use is ∫ dT/S_cont, `physics::tables`);
//! - hard photons per path length, per density: Σ_h/ρ = (S_rad/T)·∫_{κc}¹ χ/κ dκ / ∫₀¹ χ dκ, so
//!   the mean energy they carry is S_rad·(1 − F_soft) per unit mass thickness and, with the
//!   continuous part, the total radiative loss is ESTAR's S_rad;
//! - photon energy k = κT with pdf ∝ χ(T, κ)/κ on [κc, 1]: ln κ uniform, then rejection on
//!   χ(T, κ)/max_κ χ(T, κ) (χ falls by up to 40× from κ = 0 to 1, mostly at small κ where
//!   the proposal is dense: acceptance 0.62 at 1 MeV in water);
//! - χ(T, κ) = Σᵢ (wᵢ/Aᵢ) Zᵢ² χᵢ(T, κ): the Seltzer–Berger scaled cross sections (Seltzer &
//!   Berger 1985, Nucl. Instrum. Meth. B 12:95; 1986, At. Data Nucl. Data Tables 35:345), as
//!   in `data/seltzer-berger/` (their integral reproduces ESTAR's S_rad to 0.7 %);
//! - direction: at the polar angle θ = mc²/E (E the total energy) from the electron's
//!   direction, azimuth uniform: EGS4's default angular model (Nelson, Hirayama & Rogers
//!   1985, SLAC-265 §2.7; the photon's angle matters little once it has left a voxel);
//! - a step makes a photon with probability Σ_h·s (s its path), at most one per step (steps
//!   are at most a quarter of the residual range, so Σ_h·s < 0.05 in tissue and the mean count
//!   is exact); the photon starts at the middle of the step (inside the step's voxel) with the
//!   step's mid energy, and its energy is taken from the electron after the step.
//!
//! Which electrons radiate: the decay's own electrons (β, conversion and Auger electrons).
//! Electrons set going by photons (photo-, Compton electrons) do not: for the photon energies
//! of radionuclides (< 3 MeV) they are slower, their radiative yield is below 0.3 % in tissue,
//! and without it the GPU needs no stack of secondaries; their hard radiative loss is simply
//! not lost (their path is up to that fraction longer).
//!
//! Units: energies in keV, Σ_h/ρ in mm⁻¹ per g/cm³ (as the other tables). WGSL twin:
//! `shaders/shared/brems.wgsl`.

use crate::physics::data::MaterialData;
use crate::physics::tables::{PhysicsTables, ELECTRON_MASS_KEV, N_ENERGY};

/// Smallest bremsstrahlung photon made as a particle, keV (the default photon cutoff).
pub const BREMS_K_MIN_KEV: f32 = 10.0;
/// Points of the ln T grid of the sampling table (1 keV – 3 MeV).
pub const N_BREMS_T: usize = 64;
/// Points of the κ grid of the sampling table (uniform, 0 to 1).
pub const N_BREMS_K: usize = 33;
/// Bound on rejection trials of a photon energy: P(64 rejections) < 0.6⁶⁴ ≈ 1e-14; on
/// exhaustion no photon is made (counted as truncated).
pub const MAX_BREMS_TRIALS: u32 = 64;

/// Integrals of χ(T, ·) over κ for one electron energy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BremsIntegrals {
    /// ∫₀¹ χ dκ.
    pub all: f64,
    /// ∫₀^{κc} χ dκ.
    pub soft: f64,
    /// ∫_{κc}¹ χ/κ dκ.
    pub hard_over_kappa: f64,
}

/// The integrals at kinetic energy `t_kev` with photon threshold `k_min_kev`, exact for χ
/// piecewise linear in κ between the tabulated points.
pub fn brems_integrals(md: &MaterialData, t_kev: f64, k_min_kev: f64) -> BremsIntegrals {
    let chi = md.brems.row_at(t_kev);
    let kap = &md.brems.kappa;
    let kc = (k_min_kev / t_kev).min(1.0);
    let (mut all, mut soft, mut hard) = (0.0, 0.0, 0.0);
    for j in 0..kap.len() - 1 {
        let (a, b) = (kap[j], kap[j + 1]);
        let (ya, yb) = (chi[j], chi[j + 1]);
        all += 0.5 * (ya + yb) * (b - a);
        // χ = c0 + c1 κ on [a, b].
        let c1 = (yb - ya) / (b - a);
        let c0 = ya - c1 * a;
        let (lo, hi) = (a.max(0.0), b.min(kc));
        if hi > lo {
            soft += c0 * (hi - lo) + 0.5 * c1 * (hi * hi - lo * lo);
        }
        let (lo, hi) = (a.max(kc), b);
        if hi > lo && lo > 0.0 {
            hard += c0 * (hi / lo).ln() + c1 * (hi - lo);
        }
    }
    BremsIntegrals {
        all,
        soft,
        hard_over_kappa: hard,
    }
}

/// Continuous stopping power S_col + S_rad·F_soft (MeV·cm²/g) at `t_kev`.
pub fn continuous_stopping_power(md: &MaterialData, t_kev: f64, k_min_kev: f64) -> f64 {
    let e = &md.electron;
    if t_kev <= k_min_kev {
        return e.s_col_at(t_kev) + e.s_rad_at(t_kev);
    }
    let i = brems_integrals(md, t_kev, k_min_kev);
    e.s_col_at(t_kev) + e.s_rad_at(t_kev) * i.soft / i.all
}

/// Hard-photon cross section per mass Σ_h/ρ (cm²/g) at `t_kev`.
pub fn hard_photon_xs_cm2_g(md: &MaterialData, t_kev: f64, k_min_kev: f64) -> f64 {
    if t_kev <= k_min_kev {
        return 0.0;
    }
    let i = brems_integrals(md, t_kev, k_min_kev);
    md.electron.s_rad_at(t_kev) / (t_kev * 1e-3) * i.hard_over_kappa / i.all
}

/// The sampling table's rows: χ(Tᵢ, κⱼ) / maxⱼ χ(Tᵢ, κⱼ) on the ln T grid × uniform κ grid.
pub fn shape_rows(md: &MaterialData, grid: &crate::physics::tables::LogGrid) -> Vec<f32> {
    let mut out = Vec::with_capacity(N_BREMS_T * N_BREMS_K);
    for i in 0..N_BREMS_T {
        let row = md.brems.row_at(grid.value(i));
        let at = |k: f64| {
            let kap = &md.brems.kappa;
            let j = kap.partition_point(|&x| x <= k).clamp(1, kap.len() - 1);
            let t = (k - kap[j - 1]) / (kap[j] - kap[j - 1]);
            row[j - 1] + t * (row[j] - row[j - 1])
        };
        let vals: Vec<f64> = (0..N_BREMS_K)
            .map(|j| at(j as f64 / (N_BREMS_K - 1) as f64))
            .collect();
        let max = vals.iter().cloned().fold(f64::MIN_POSITIVE, f64::max);
        out.extend(vals.iter().map(|v| (v / max) as f32));
    }
    out
}

/// Σ_h/ρ (mm⁻¹ per g/cm³) of material `m` at energy interval `i`, fraction `f`.
#[inline]
pub fn brems_xs(t: &PhysicsTables, m: usize, i: usize, f: f32) -> f32 {
    crate::physics::tables::lerp(&t.brems_xs, m * N_ENERGY, i, f)
}

/// χ(T, κ)/max χ of material `m` (bilinear in ln T and κ).
#[inline]
pub fn brems_shape(t: &PhysicsTables, m: usize, e_kev: f32, kappa: f32) -> f32 {
    let (i, f) = t.brems_t_grid.locate(e_kev);
    let x = (kappa * (N_BREMS_K as f32 - 1.0)).clamp(0.0, N_BREMS_K as f32 - 1.0001);
    let j = x as usize;
    let g = x - j as f32;
    let base = m * N_BREMS_T * N_BREMS_K + i * N_BREMS_K + j;
    let s = &t.brems_shape;
    let lo = s[base] + g * (s[base + 1] - s[base]);
    let hi = s[base + N_BREMS_K] + g * (s[base + N_BREMS_K + 1] - s[base + N_BREMS_K]);
    lo + f * (hi - lo)
}

/// One trial of the photon's κ at electron energy `e_kev` (> k_min): ln κ uniform on
/// [κc, 1] by `u1`, accepted when `u2` ≤ the shape. Two uniforms.
#[inline]
pub fn sample_brems_kappa_trial(
    t: &PhysicsTables,
    m: usize,
    e_kev: f32,
    u1: f32,
    u2: f32,
) -> Option<f32> {
    let kc = BREMS_K_MIN_KEV / e_kev;
    let kappa = kc * (-kc.ln() * u1).exp();
    (u2 <= brems_shape(t, m, e_kev, kappa)).then_some(kappa)
}

/// cos θ of the photon relative to the electron: θ = mc²/E (EGS4's default).
#[inline]
pub fn brems_photon_cos(e_kev: f32) -> f32 {
    (ELECTRON_MASS_KEV / (e_kev + ELECTRON_MASS_KEV)).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::data::material_data;

    #[test]
    fn radiative_stopping_power_of_the_spectrum_matches_estar() {
        // S_rad/ρ = N_A T/β² ∫₀¹ χ dκ (Seltzer & Berger 1986, eq. for the radiative stopping
        // power in terms of the scaled cross section); ESTAR computes S_rad from the same
        // tabulation, so the two agree to the interpolation of χ: within 1 %.
        for m in [0usize, 2, 3] {
            let md = material_data(m);
            for t_kev in [10.0, 30.0, 100.0, 500.0, 1000.0, 2280.0] {
                let gamma = 1.0 + t_kev / 510.998_95;
                let beta2 = 1.0 - 1.0 / (gamma * gamma);
                let i = brems_integrals(md, t_kev, BREMS_K_MIN_KEV as f64);
                let s = 6.022_140_76e23 * t_kev * 1e-3 / beta2 * i.all * 1e-27;
                let estar = md.electron.s_rad_at(t_kev);
                assert!(
                    (s / estar - 1.0).abs() < 0.01,
                    "{} T = {t_kev} keV: {s} vs ESTAR {estar}",
                    md.material.name
                );
            }
        }
    }

    #[test]
    fn soft_and_hard_parts_add_up_to_the_radiative_stopping_power() {
        // Water, T = 1 MeV, κc = 0.01: χ falls from 58 to 1.6 mb·mol/g over κ (the SB
        // table), so the soft part is about κc·χ(0)/∫χ ≈ 3 % of the radiative loss.
        let md = material_data(0);
        let t_kev = 1000.0;
        let i = brems_integrals(md, t_kev, 10.0);
        assert!(i.soft > 0.02 * i.all && i.soft < 0.04 * i.all, "{i:?}");
        // The trapezoid over κ between 0 and κc, by hand from the two first rows' shape.
        let chi0 = md.brems.row_at(t_kev)[0];
        assert!(
            (i.soft / (0.01 * chi0) - 1.0).abs() < 0.03,
            "{i:?} χ(0) = {chi0}"
        );
        let s_cont = continuous_stopping_power(md, t_kev, 10.0);
        let e = &md.electron;
        assert!(s_cont < e.s_tot_at(t_kev) && s_cont > e.s_col_at(t_kev));
        assert!(hard_photon_xs_cm2_g(md, 5.0, 10.0) == 0.0);
    }
}
