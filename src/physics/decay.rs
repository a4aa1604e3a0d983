//! Decay → emitted particles, from ICRP-107 data ([`crate::physics::nuclide`]).
//!
//! Per decay:
//! - **β∓**: the number of β particles is the sum of the branch yields (1 for 177Lu), as
//!   ⌊y⌋ plus one more with probability y − ⌊y⌋. Each energy is drawn from the published
//!   spectrum read as a **piecewise-linear density** between its points, through a
//!   [`N_BETA`]-point inverse-CDF table (exact inversion of the piecewise-quadratic CDF at the
//!   table points). For 177Lu this rule has a mean of 133.79 keV per β (the trapezoid rule on the
//!   same 101 points gives 133.35 keV and the ICRP-107 branch means 133.27 keV; the 0.4 % spread
//!   is the coarseness of the published grid, ../shared/reference/README.md). Positrons are
//!   transported as electrons; their annihilation photons are the ICRP-107 annihilation lines,
//!   emitted at the decay site.
//! - **Discrete lines above the cutoffs** (IC and Auger electrons above the electron cutoff, γ
//!   and X-rays above the photon cutoff): their count is Poisson with mean Y = Σ yields, and each
//!   is drawn from an alias table with weights y_i. By Poisson thinning this equals an
//!   independent Poisson(y_i) count per line, so every line's mean yield, and hence the mean
//!   energy per decay, is exact. Correlations within one cascade are not modelled; absorbed
//!   dose is linear in the emissions and does not depend on them.
//! - **Local energy**: lines below the cutoffs, α particles and recoils (ranges < 0.1 mm) are
//!   deposited at the decay site as a fixed energy per decay.
//!
//! All energies are quantised once to fixed point (65536 units/keV), so the energy balance is
//! exact. WGSL twin: `shaders/shared/decay.wgsl`.

use crate::physics::nuclide::{EmissionKind, Nuclide};
use crate::physics::tables::UNITS_PER_KEV;
use crate::source::alias::AliasTable;

/// Points of the β inverse-CDF table.
pub const N_BETA: usize = 2048;
/// Bound on the Poisson inversion loop: P(N > 64) < 1e-40 for Y ≤ 10.
pub const MAX_LINES_PER_DECAY: u32 = 64;
/// Bound on βs per decay ([`DecayTables::beta_count`] is ⌊Y⌋ or ⌊Y⌋ + 1 for a β yield Y
/// per decay, ≤ 1 for one nuclide); tables with ⌊Y⌋ + 1 above it are refused
/// ([`DecayTables::check_bounds`]), because the transport queues a decay's emissions in
/// fixed-size arrays.
pub const MAX_BETAS_PER_DECAY: u32 = 8;
/// Most emissions one decay draws: βs plus lines.
pub const MAX_EMISSIONS_PER_DECAY: usize = (MAX_BETAS_PER_DECAY + MAX_LINES_PER_DECAY) as usize;

/// Particle type codes shared with WGSL.
pub const ELECTRON: u32 = 0;
/// See [`ELECTRON`].
pub const PHOTON: u32 = 1;

/// Which emissions a run transports (tests and component studies separate them, as GATE users
/// do with separate β and γ runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EmissionFilter {
    /// Everything.
    #[default]
    All,
    /// β, IC and Auger electrons only (and local α energy).
    Electrons,
    /// γ, X-ray and annihilation photons only.
    Photons,
}

impl EmissionFilter {
    fn keeps(self, kind: EmissionKind) -> bool {
        match self {
            EmissionFilter::All => true,
            EmissionFilter::Electrons => !kind.is_photon(),
            EmissionFilter::Photons => kind.is_photon(),
        }
    }
}

/// Emission sampling tables of one nuclide, for given cutoffs.
#[derive(Clone, Debug)]
pub struct DecayTables {
    /// Inverse CDF of the β spectrum at `N_BETA` equally spaced probabilities, keV (empty: no β).
    pub beta_inv_cdf: Vec<f32>,
    /// ⌊β particles per decay⌋.
    pub beta_count_floor: u32,
    /// Probability of one more β.
    pub beta_count_frac: f32,
    /// Mean number of discrete lines above the cutoffs per decay (Poisson mean).
    pub line_mean_count: f32,
    /// Alias table over those lines.
    pub line_alias: AliasTable,
    /// Energy of each line in fixed-point units.
    pub line_units: Vec<u32>,
    /// Particle code of each line ([`ELECTRON`] or [`PHOTON`]).
    pub line_particle: Vec<u32>,
    /// Energy deposited at the decay site, fixed-point units per decay.
    pub local_units: u32,
    /// Exact mean energy per decay of the sampling rules, keV, by particle (electron, photon,
    /// local) — the reference the sampled means are tested against.
    pub mean_kev: [f64; 3],
}

/// Quantises an energy to fixed-point units (ties to even, as WGSL `round`).
#[inline]
pub fn to_units(e_kev: f32) -> u32 {
    (e_kev * UNITS_PER_KEV).round_ties_even() as u32
}

impl DecayTables {
    /// Builds the tables. `electron_cutoff_kev` and `photon_cutoff_kev` split transported from
    /// locally deposited lines.
    pub fn new(
        nuclide: &Nuclide,
        electron_cutoff_kev: f64,
        photon_cutoff_kev: f64,
        filter: EmissionFilter,
    ) -> Self {
        let mut mean = [0.0f64; 3];
        let (mut beta_inv_cdf, mut beta_yield) = (Vec::new(), 0.0);
        let beta_spectrum = nuclide
            .beta_minus_spectrum
            .as_ref()
            .or(nuclide.beta_plus_spectrum.as_ref());
        let beta_kind = if nuclide.beta_minus_spectrum.is_some() {
            EmissionKind::BetaMinus
        } else {
            EmissionKind::BetaPlus
        };
        if let Some(spec) = beta_spectrum.filter(|_| filter.keeps(beta_kind)) {
            beta_yield = nuclide
                .beta_branches
                .iter()
                .map(|b| b.yield_per_decay)
                .sum::<f64>();
            beta_inv_cdf = beta_inverse_cdf(spec);
            let m: f64 = beta_inv_cdf
                .windows(2)
                .map(|w| 0.5 * (w[0] + w[1]) as f64)
                .sum::<f64>()
                / (N_BETA - 1) as f64;
            mean[0] += beta_yield * m;
        }
        let mut weights = Vec::new();
        let mut line_units = Vec::new();
        let mut line_particle = Vec::new();
        let mut local_kev = 0.0f64;
        for line in &nuclide.lines {
            if !filter.keeps(line.kind) {
                continue;
            }
            let (transported, code, cutoff) = if line.kind.is_photon() {
                (true, PHOTON, photon_cutoff_kev)
            } else if line.kind.is_electron() {
                (true, ELECTRON, electron_cutoff_kev)
            } else {
                (false, ELECTRON, f64::INFINITY)
            };
            if transported && line.energy_kev >= cutoff {
                weights.push(line.yield_per_decay);
                line_units.push(to_units(line.energy_kev as f32));
                line_particle.push(code);
                mean[code as usize] += line.yield_per_decay * line.energy_kev;
            } else {
                local_kev += line.yield_per_decay * line.energy_kev;
            }
        }
        let local_units = to_units(local_kev as f32);
        mean[2] = local_units as f64 / UNITS_PER_KEV as f64;
        let line_mean_count = weights.iter().sum::<f64>() as f32;
        let line_alias = AliasTable::new(&weights).unwrap_or(AliasTable {
            prob: vec![1.0],
            alias: vec![0],
        });
        if line_units.is_empty() {
            line_units.push(0);
            line_particle.push(PHOTON);
        }
        DecayTables {
            beta_inv_cdf,
            beta_count_floor: beta_yield.floor() as u32,
            beta_count_frac: (beta_yield - beta_yield.floor()) as f32,
            line_mean_count,
            line_alias,
            line_units,
            line_particle,
            local_units,
            mean_kev: mean,
        }
    }

    /// Err (a sentence) when the β yield needs more than [`MAX_BETAS_PER_DECAY`] βs in a decay.
    pub fn check_bounds(&self) -> Result<(), String> {
        if self.beta_count_floor + 1 > MAX_BETAS_PER_DECAY {
            return Err(format!(
                "a β yield of {} per decay needs up to {} βs in one decay; the transport \
                 handles at most {MAX_BETAS_PER_DECAY}",
                self.beta_count_floor as f32 + self.beta_count_frac,
                self.beta_count_floor + 1
            ));
        }
        Ok(())
    }

    /// Number of β particles in this decay, from one uniform.
    #[inline]
    pub fn beta_count(&self, u: f32) -> u32 {
        if self.beta_inv_cdf.is_empty() {
            return 0;
        }
        self.beta_count_floor + u32::from(u < self.beta_count_frac)
    }

    /// A β energy (keV) from one uniform.
    #[inline]
    pub fn sample_beta_kev(&self, u: f32) -> f32 {
        let t = u * (N_BETA - 1) as f32;
        let i = (t as usize).min(N_BETA - 2);
        let f = t - i as f32;
        self.beta_inv_cdf[i] + f * (self.beta_inv_cdf[i + 1] - self.beta_inv_cdf[i])
    }

    /// Number of discrete lines above the cutoffs in this decay (Poisson, by inversion).
    #[inline]
    pub fn line_count(&self, u: f32) -> u32 {
        poisson_inversion(self.line_mean_count, u)
    }
}

/// Poisson(mean) from one uniform by sequential inversion, at most [`MAX_LINES_PER_DECAY`].
#[inline]
pub fn poisson_inversion(mean: f32, u: f32) -> u32 {
    let mut p = (-mean).exp();
    let mut cdf = p;
    let mut n = 0u32;
    while u > cdf && n < MAX_LINES_PER_DECAY {
        n += 1;
        p *= mean / n as f32;
        cdf += p;
    }
    n
}

/// Inverse CDF of a piecewise-linear density through points (E keV, N), at `N_BETA` equally
/// spaced probabilities. Computed in f64.
fn beta_inverse_cdf(spectrum: &[(f64, f64)]) -> Vec<f32> {
    let mut cdf = vec![0.0f64];
    for w in spectrum.windows(2) {
        let ((e0, n0), (e1, n1)) = (w[0], w[1]);
        cdf.push(
            cdf.last().copied().unwrap_or(0.0) + 0.5 * (n0.max(0.0) + n1.max(0.0)) * (e1 - e0),
        );
    }
    let total = *cdf.last().unwrap_or(&1.0);
    let mut out = Vec::with_capacity(N_BETA);
    let mut k = 0usize;
    for j in 0..N_BETA {
        let target = total * j as f64 / (N_BETA - 1) as f64;
        while k + 2 < cdf.len() && cdf[k + 1] < target {
            k += 1;
        }
        let ((e0, n0), (e1, n1)) = (spectrum[k], spectrum[k + 1]);
        let (n0, n1) = (n0.max(0.0), n1.max(0.0));
        let h = e1 - e0;
        let slope = (n1 - n0) / h;
        let c = (target - cdf[k]).max(0.0);
        // Solve n0·x + slope·x²/2 = c for x in [0, h].
        let x = if slope.abs() < 1e-300 * n0.max(1e-300) || slope == 0.0 {
            if n0 > 0.0 {
                c / n0
            } else {
                0.0
            }
        } else {
            let disc = (n0 * n0 + 2.0 * slope * c).max(0.0);
            2.0 * c / (n0 + disc.sqrt()).max(1e-300)
        };
        out.push((e0 + x.clamp(0.0, h)) as f32);
    }
    out
}

/// Exact mean (keV) of the piecewise-linear density through `spectrum` (for tests and reports).
pub fn piecewise_linear_mean_kev(spectrum: &[(f64, f64)]) -> f64 {
    let (mut m0, mut m1) = (0.0, 0.0);
    for w in spectrum.windows(2) {
        let ((a, na), (b, nb)) = (w[0], w[1]);
        let h = b - a;
        m0 += 0.5 * h * (na + nb);
        m1 += h / 6.0 * (2.0 * a * na + a * nb + b * na + 2.0 * b * nb);
    }
    m1 / m0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_inversion_has_the_right_mean_and_variance() {
        let mut rng = crate::physics::rng::Pcg32::new(11, 0);
        let mean = 1.7f32;
        let n = 200_000;
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let k = poisson_inversion(mean, rng.uniform()) as f64;
            s += k;
            s2 += k * k;
        }
        let m = s / n as f64;
        let var = s2 / n as f64 - m * m;
        // σ of the sample mean is sqrt(mean/n); 4σ ≈ two-sided 6e-5 false alarm.
        assert!(
            (m - mean as f64).abs() < 4.0 * (mean as f64 / n as f64).sqrt(),
            "mean {m}"
        );
        assert!((var / mean as f64 - 1.0).abs() < 0.03, "variance {var}");
    }

    #[test]
    fn beta_inverse_cdf_of_a_triangle_is_exact() {
        // Density 2(1 − E) on [0, 1]: CDF 2E − E², inverse 1 − sqrt(1 − p).
        let inv = beta_inverse_cdf(&[(0.0, 2.0), (1.0, 0.0)]);
        for (j, e) in inv.iter().enumerate() {
            let p = j as f64 / (N_BETA - 1) as f64;
            assert!((*e as f64 - (1.0 - (1.0 - p).sqrt())).abs() < 1e-6);
        }
        assert!((piecewise_linear_mean_kev(&[(0.0, 2.0), (1.0, 0.0)]) - 1.0 / 3.0).abs() < 1e-12);
    }
}
