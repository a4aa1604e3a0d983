//! Derived physics tables on uniform grids, shaped for the CPU and GPU kernels.
//!
//! The raw published tables ([`crate::physics::data`]) are resampled once, at load, onto
//! uniform grids so that every lookup in the transport loop is a truncation plus one linear
//! interpolation (MC-GPU's habit), identically on the CPU and in WGSL. All arrays are flat
//! `f32`, material-major (`m * n + i`), so they upload to the GPU unchanged.
//!
//! | table | grid | unit |
//! |---|---|---|
//! | `mu_photo`, `mu_incoh`, `mu_coh`, `mu_total` | ln E, [`N_ENERGY`] points, 1 keV – 3 MeV | mm⁻¹ per g/cm³ (μ/ρ × 0.1) |
//! | `range` (CSDA with the continuous part of the loss, [`crate::physics::brems`]) | ln E | mm · g/cm³ (R/ρ-scaled: divide by ρ for mm) |
//! | `brems_xs` (hard bremsstrahlung photons per path) | ln E | mm⁻¹ per g/cm³ |
//! | `brems_shape` (χ(T, κ)/max χ for sampling the photon energy) | ln T × κ, [`crate::physics::brems::N_BREMS_T`] × [`crate::physics::brems::N_BREMS_K`] | 1 |
//! | `lambda1` (elastic transport mean free path) | ln E | mm · g/cm³ |
//! | `inv_range_e` (energy at a residual range) | ln R per material, [`N_RANGE`] points | keV |
//! | `s_incoh` (S(x)/S(∞)) and `ff_cum` (∫F² d(x²), normalised) | ln x, [`N_X`] points | 1 |
//! | `screening` (A of the screened-Rutherford law for a given ⟨1−cosθ⟩) | ln τ, [`N_TAU`] points | 1 |
//!
//! The elastic transport mean free path comes from the screened Rutherford cross section with
//! Molière's screening parameter (Molière 1947, Z. Naturforsch. 2a:133; in the form of
//! Bethe 1953, Phys. Rev. 89:1256), Z(Z+1) for atomic electrons, mixture rule by mass fraction.

use crate::physics::brems::{
    continuous_stopping_power, hard_photon_xs_cm2_g, shape_rows, BREMS_K_MIN_KEV, N_BREMS_T,
};
use crate::physics::data::{material_data, MaterialData};

/// Points of the log-energy grid.
pub const N_ENERGY: usize = 1024;
/// Lowest tabulated energy, keV.
pub const E_MIN_KEV: f32 = 1.0;
/// Highest tabulated energy, keV.
pub const E_MAX_KEV: f32 = 3000.0;
/// Points of the per-material inverse-range grid.
pub const N_RANGE: usize = 1024;
/// Points of the momentum-transfer grid (form factor, incoherent scattering function).
pub const N_X: usize = 256;
/// Momentum-transfer grid limits, 1/Å (x = sin(θ/2)/λ).
pub const X_MIN: f32 = 1e-3;
/// See [`X_MIN`].
pub const X_MAX: f32 = 100.0;
/// Points of the screening-parameter table.
pub const N_TAU: usize = 256;
/// Smallest ⟨1 − cos θ⟩ tabulated; below it a step is not deflected.
pub const TAU_MIN: f32 = 1e-6;
/// Largest ⟨1 − cos θ⟩ tabulated; above it the direction is sampled isotropically.
pub const TAU_MAX: f32 = 0.999;
/// Fixed-point energy units per keV (tallies and particle energies).
pub const UNITS_PER_KEV: f32 = 65536.0;
/// hc in keV·Å, for x = E·sin(θ/2)/(hc) (CODATA 2018: 12.398 419 84 keV·Å).
pub const HC_KEV_ANGSTROM: f32 = 12.398_42;
/// Electron rest energy, keV (CODATA 2018).
pub const ELECTRON_MASS_KEV: f32 = 510.998_95;

/// A uniform grid in ln(value): `t = (ln v − ln_min) · inv_step`, index `floor(t)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogGrid {
    /// ln of the first point.
    pub ln_min: f32,
    /// 1 / (ln step).
    pub inv_step: f32,
    /// Number of points.
    pub n: u32,
}

impl LogGrid {
    /// `n` points from `min` to `max`, uniform in ln.
    pub fn new(min: f32, max: f32, n: usize) -> Self {
        let ln_min = min.ln();
        LogGrid {
            ln_min,
            inv_step: (n as f32 - 1.0) / (max.ln() - ln_min),
            n: n as u32,
        }
    }

    /// The value at point `i`.
    pub fn value(&self, i: usize) -> f64 {
        (self.ln_min as f64 + i as f64 / self.inv_step as f64).exp()
    }

    /// Interval index and fraction for `v`, clamped to the table (same code in WGSL).
    #[inline]
    pub fn locate(&self, v: f32) -> (usize, f32) {
        let t = ((v.ln() - self.ln_min) * self.inv_step).clamp(0.0, self.n as f32 - 1.000_1);
        let i = t as usize;
        (i, t - i as f32)
    }
}

/// Linear interpolation in a flat table at `base + i` and `base + i + 1`.
#[inline]
pub fn lerp(table: &[f32], base: usize, i: usize, f: f32) -> f32 {
    let a = table[base + i];
    let b = table[base + i + 1];
    a + f * (b - a)
}

/// All derived tables for a list of materials.
#[derive(Clone, Debug)]
pub struct PhysicsTables {
    /// Material names, by index.
    pub materials: Vec<String>,
    /// The log-energy grid.
    pub energy: LogGrid,
    /// Photoelectric μ/ρ × 0.1 (mm⁻¹ per g/cm³), `m * N_ENERGY + i`.
    pub mu_photo: Vec<f32>,
    /// Incoherent μ/ρ × 0.1.
    pub mu_incoh: Vec<f32>,
    /// Coherent μ/ρ × 0.1.
    pub mu_coh: Vec<f32>,
    /// Total μ/ρ × 0.1 (photoelectric + incoherent + coherent, summed in f64): the one lookup
    /// of a Woodcock flight's real-or-virtual test. The sum of the three partials the
    /// transport samples, so without pair production (not transported; 0 below 1022 keV),
    /// unlike [`crate::physics::data::PhotonMu::total`], which includes it.
    pub mu_total: Vec<f32>,
    /// CSDA range × ρ (mm · g/cm³).
    pub range: Vec<f32>,
    /// Elastic transport mean free path × ρ (mm · g/cm³).
    pub lambda1: Vec<f32>,
    /// Per-material ln-range grids for [`PhysicsTables::inv_range_e`].
    pub range_grid: Vec<LogGrid>,
    /// Energy (keV) at residual range, `m * N_RANGE + j`.
    pub inv_range_e: Vec<f32>,
    /// Momentum-transfer grid.
    pub x_grid: LogGrid,
    /// S(x)/S(∞), `m * N_X + j`.
    pub s_incoh: Vec<f32>,
    /// ∫₀^{x²} F² d(x²) / ∫₀^{∞} F² d(x²), `m * N_X + j` (at x_j; 0 at x = 0).
    pub ff_cum: Vec<f32>,
    /// The ln τ grid of [`PhysicsTables::screening`].
    pub tau_grid: LogGrid,
    /// Screening parameter A at ⟨1−cosθ⟩ = τ (material independent).
    pub screening: Vec<f32>,
    /// Collision stopping power of water / material at the grid energies (dose-to-water).
    pub water_to_medium_s_col: Vec<f32>,
    /// Hard bremsstrahlung photons per path Σ_h/ρ (mm⁻¹ per g/cm³), `m * N_ENERGY + i`.
    pub brems_xs: Vec<f32>,
    /// The ln T grid of [`PhysicsTables::brems_shape`].
    pub brems_t_grid: LogGrid,
    /// χ(T, κ)/max χ, `m * N_BREMS_T * N_BREMS_K + i * N_BREMS_K + j`.
    pub brems_shape: Vec<f32>,
}

impl PhysicsTables {
    /// Builds the tables for the named materials (indices into `data/materials`).
    pub fn build(material_indices: &[usize]) -> Self {
        let energy = LogGrid::new(E_MIN_KEV, E_MAX_KEV, N_ENERGY);
        let x_grid = LogGrid::new(X_MIN, X_MAX, N_X);
        let tau_grid = LogGrid::new(TAU_MIN, TAU_MAX, N_TAU);
        let mut t = PhysicsTables {
            materials: Vec::new(),
            energy,
            mu_photo: Vec::new(),
            mu_incoh: Vec::new(),
            mu_coh: Vec::new(),
            mu_total: Vec::new(),
            range: Vec::new(),
            lambda1: Vec::new(),
            range_grid: Vec::new(),
            inv_range_e: Vec::new(),
            x_grid,
            s_incoh: Vec::new(),
            ff_cum: Vec::new(),
            tau_grid,
            screening: screening_table(&tau_grid),
            water_to_medium_s_col: Vec::new(),
            brems_xs: Vec::new(),
            brems_t_grid: LogGrid::new(E_MIN_KEV, E_MAX_KEV, N_BREMS_T),
            brems_shape: Vec::new(),
        };
        let water = material_data(0);
        let k_min = BREMS_K_MIN_KEV as f64;
        for &mi in material_indices {
            let md = material_data(mi);
            t.materials.push(md.material.name.clone());
            let range = range_table(md, &energy, |e| continuous_stopping_power(md, e, k_min));
            t.range.extend(range.iter().map(|r| (r * 10.0) as f32));
            t.brems_shape.extend(shape_rows(md, &t.brems_t_grid));
            for i in 0..N_ENERGY {
                let e = energy.value(i);
                let mu = md.photon.at(e);
                t.mu_photo.push((mu.photoelectric * 0.1) as f32);
                t.mu_incoh.push((mu.incoherent * 0.1) as f32);
                t.mu_coh.push((mu.coherent * 0.1) as f32);
                t.mu_total
                    .push(((mu.photoelectric + mu.incoherent + mu.coherent) * 0.1) as f32);
                t.brems_xs
                    .push((hard_photon_xs_cm2_g(md, e, k_min) * 0.1) as f32);
                t.lambda1
                    .push((transport_mfp_g_cm2(&md.material.composition, e) * 10.0) as f32);
                let ratio = water.electron.s_col_at(e) / md.electron.s_col_at(e);
                t.water_to_medium_s_col.push(ratio as f32);
            }
            let base = t.range.len() - N_ENERGY;
            let (grid, inv) = inverse_range(&t.range[base..], &energy);
            t.range_grid.push(grid);
            t.inv_range_e.extend(inv);
            let s_inf = md.scatter.s_at(1e6).max(f64::MIN_POSITIVE);
            let mut cum = 0.0f64;
            let mut prev_x2 = 0.0f64;
            let mut prev_f = md.scatter.ff2_at(0.0);
            let mut cums = Vec::with_capacity(N_X);
            for j in 0..N_X {
                let x = x_grid.value(j);
                t.s_incoh.push((md.scatter.s_at(x) / s_inf).min(1.0) as f32);
                // Trapezoids in x² on a fine sub-grid: F² varies smoothly in x².
                let sub = 8;
                for k in 1..=sub {
                    let xs = if j == 0 {
                        x * k as f64 / sub as f64
                    } else {
                        let x0 = x_grid.value(j - 1);
                        x0 * (x / x0).powf(k as f64 / sub as f64)
                    };
                    let f = md.scatter.ff2_at(xs);
                    cum += 0.5 * (f + prev_f) * (xs * xs - prev_x2);
                    prev_x2 = xs * xs;
                    prev_f = f;
                }
                cums.push(cum);
            }
            let total = cums[N_X - 1].max(f64::MIN_POSITIVE);
            t.ff_cum.extend(cums.iter().map(|c| (c / total) as f32));
        }
        t
    }

    /// Number of materials.
    pub fn n_materials(&self) -> usize {
        self.materials.len()
    }
}

/// Range (g/cm²) at the grid energies for stopping power `s_mev_cm2_g(E)`: ESTAR's first
/// value at the grid's first energy (R(E₀) = E₀/(2S(E₀)), as the ESTAR table is made), then
/// R += ∫ E/S d(ln E) by trapezoids, 8 per grid interval.
pub fn range_table(
    md: &MaterialData,
    energy: &LogGrid,
    s_mev_cm2_g: impl Fn(f64) -> f64,
) -> Vec<f64> {
    const SUB: usize = 8;
    let mut r = md.electron.csda_range_at(energy.value(0));
    let f = |e_kev: f64| e_kev * 1e-3 / s_mev_cm2_g(e_kev);
    let mut out = vec![r];
    for i in 1..energy.n as usize {
        let (la, lb) = (energy.value(i - 1).ln(), energy.value(i).ln());
        let h = (lb - la) / SUB as f64;
        let mut prev = f(la.exp());
        for k in 1..=SUB {
            let next = f((la + h * k as f64).exp());
            r += 0.5 * h * (prev + next);
            prev = next;
        }
        out.push(r);
    }
    out
}

/// The inverse of a range table: energy on a uniform ln-range grid.
fn inverse_range(range: &[f32], energy: &LogGrid) -> (LogGrid, Vec<f32>) {
    let r_min = range[0].max(1e-12);
    let r_max = range[N_ENERGY - 1];
    let grid = LogGrid::new(r_min, r_max, N_RANGE);
    let mut out = Vec::with_capacity(N_RANGE);
    let mut i = 0usize;
    for j in 0..N_RANGE {
        let r = grid.value(j) as f32;
        while i + 2 < N_ENERGY && range[i + 1] < r {
            i += 1;
        }
        // Range is monotonic; interpolate ln E linearly in ln R between grid energies.
        let (r0, r1) = (range[i].max(1e-12) as f64, range[i + 1] as f64);
        let f = ((r as f64).ln() - r0.ln()) / (r1.ln() - r0.ln());
        let ln_e = energy.value(i).ln()
            + f.clamp(0.0, 1.0) * (energy.value(i + 1).ln() - energy.value(i).ln());
        out.push(ln_e.exp() as f32);
    }
    (grid, out)
}

/// Standard atomic weights (IUPAC 2021, abridged values) for the elements of tissues.
pub fn atomic_weight(z: u32) -> f64 {
    match z {
        1 => 1.008,
        6 => 12.011,
        7 => 14.007,
        8 => 15.999,
        9 => 18.998,
        11 => 22.990,
        12 => 24.305,
        14 => 28.085,
        15 => 30.974,
        16 => 32.06,
        17 => 35.45,
        18 => 39.95,
        19 => 39.098,
        20 => 40.078,
        26 => 55.845,
        30 => 65.38,
        53 => 126.90,
        // Fallback for elements absent from tissue tables: A ≈ 2Z + small excess is crude,
        // so use a mid-range estimate that only enters the elastic transport path.
        z => 2.0 * z as f64 + 0.0045 * (z as f64).powi(2),
    }
}

/// Elastic transport mean free path λ₁ (g/cm²) of electrons of kinetic energy `e_kev` in a
/// mixture, from the screened Rutherford transport cross section
/// σ₁ = 2π Z(Z+1) r_e² (mc²)² / (pcβ)² · [ln(1 + 1/η) − 1/(1 + η)]
/// with Molière's screening η = (ħc / (2·pc·0.885 a₀ Z^{-1/3}))² · (1.13 + 3.76 (αZ/β)²).
pub fn transport_mfp_g_cm2(composition: &[(u32, f64)], e_kev: f64) -> f64 {
    const R_E_CM: f64 = 2.817_940_326_2e-13; // classical electron radius (CODATA 2018)
    const MC2_KEV: f64 = 510.998_95;
    const HBARC_KEV_CM: f64 = 1.973_269_804e-8; // ħc = 197.327 MeV fm
    const A0_CM: f64 = 5.291_772_109e-9; // Bohr radius
    const ALPHA: f64 = 1.0 / 137.035_999;
    const N_A: f64 = 6.022_140_76e23;
    let pc2 = e_kev * (e_kev + 2.0 * MC2_KEV); // (pc)², keV²
    let gamma = 1.0 + e_kev / MC2_KEV;
    let beta2 = 1.0 - 1.0 / (gamma * gamma);
    let mut sigma_per_g = 0.0;
    for &(z, w) in composition {
        let zf = z as f64;
        let a_screen = 0.885 * A0_CM * zf.powf(-1.0 / 3.0);
        let eta = (HBARC_KEV_CM / (2.0 * pc2.sqrt() * a_screen)).powi(2)
            * (1.13 + 3.76 * (ALPHA * zf).powi(2) / beta2);
        let k = zf * (zf + 1.0) * R_E_CM * R_E_CM * MC2_KEV * MC2_KEV / (pc2 * beta2);
        let sigma1 = 2.0 * std::f64::consts::PI * k * ((1.0 + 1.0 / eta).ln() - 1.0 / (1.0 + eta));
        sigma_per_g += w / atomic_weight(z) * N_A * sigma1;
    }
    1.0 / sigma_per_g
}

/// ⟨1 − cos θ⟩ of the screened Rutherford law p(μ) ∝ (1 − μ + 2A)⁻²:
/// 2A·[(1 + A)·ln(1 + 1/A) − 1].
pub fn screened_rutherford_mean(a: f64) -> f64 {
    2.0 * a * ((1.0 + a) * (1.0 / a).ln_1p() - 1.0)
}

/// A(τ) on the ln τ grid, by bisection in ln A (the mean is monotonic in A).
fn screening_table(grid: &LogGrid) -> Vec<f32> {
    (0..grid.n as usize)
        .map(|j| {
            let tau = grid.value(j);
            let (mut lo, mut hi) = (-40.0f64, 12.0f64);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if screened_rutherford_mean(mid.exp()) < tau {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            (0.5 * (lo + hi)).exp() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_grid_locates_its_own_points() {
        let g = LogGrid::new(1.0, 3000.0, N_ENERGY);
        for i in [0usize, 1, 100, 512, N_ENERGY - 2] {
            let (j, f) = g.locate(g.value(i) as f32);
            assert!(
                j == i && f < 1e-3 || j + 1 == i && f > 0.999,
                "i={i} j={j} f={f}"
            );
        }
    }

    #[test]
    fn screening_table_inverts_the_mean() {
        let g = LogGrid::new(TAU_MIN, TAU_MAX, N_TAU);
        let table = screening_table(&g);
        for j in (0..N_TAU).step_by(17) {
            let m = screened_rutherford_mean(table[j] as f64);
            assert!((m / g.value(j) - 1.0).abs() < 1e-4, "j={j}");
        }
    }

    #[test]
    fn range_integration_reproduces_the_estar_csda_range() {
        // With the total stopping power the integral is ESTAR's CSDA range (data/estar,
        // integrated by make_tables.py on 2000 points per decade): within 0.1 %.
        let g = LogGrid::new(E_MIN_KEV, E_MAX_KEV, N_ENERGY);
        for m in [0usize, 2] {
            let md = material_data(m);
            let r = range_table(md, &g, |e| md.electron.s_tot_at(e));
            for i in [100usize, 500, 800, N_ENERGY - 1] {
                let estar = md.electron.csda_range_at(g.value(i));
                assert!(
                    (r[i] / estar - 1.0).abs() < 1e-3,
                    "m {m} i {i}: {} vs {estar}",
                    r[i]
                );
            }
        }
    }

    #[test]
    fn screened_rutherford_mean_limits() {
        // A → ∞ gives an isotropic distribution, ⟨1−μ⟩ = 1; A → 0 gives no deflection.
        assert!((screened_rutherford_mean(1e6) - 1.0).abs() < 1e-5);
        assert!(screened_rutherford_mean(1e-9) < 1e-7);
    }
}
