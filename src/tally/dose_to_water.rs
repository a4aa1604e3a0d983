//! Dose to water from dose to medium: D_w = D_m · s̄_w,m, with s̄ the ratio of mass collision
//! stopping powers of water and the medium averaged over the CSDA track-length spectrum of an
//! electron slowing down from the nuclide's mean emitted electron energy to the cutoff
//! (Bragg–Gray cavity theory; the conversion discussed in AAPM TG-268 / GATE's
//! dose-to-water option, [GATE-d2w] in ../shared/docs/DOMAIN.md). It is an approximation:
//! the real electron spectrum in a voxel is a superposition of such slowing-down spectra.

use crate::physics::data::material_data;
use crate::physics::materials::material_index;
use crate::physics::nuclide::Nuclide;

/// s̄_w,m for each material name, for electrons of mean energy `e0_kev` slowing to `cut_kev`.
pub fn water_to_medium_ratios(materials: &[String], e0_kev: f64, cut_kev: f64) -> Vec<f64> {
    let water = &material_data(0).electron;
    materials
        .iter()
        .map(|name| {
            let Some(m) = material_index(name) else {
                return 1.0;
            };
            let med = &material_data(m).electron;
            // Track-length weighting dE / S_tot,m on a log grid (200 points).
            let (mut num, mut den) = (0.0, 0.0);
            let n = 200;
            let (a, b) = (cut_kev.ln(), e0_kev.max(cut_kev * 1.01).ln());
            for k in 0..n {
                let e = (a + (b - a) * (k as f64 + 0.5) / n as f64).exp();
                let de = e * (b - a) / n as f64;
                let w = de / med.s_tot_at(e);
                num += w * water.s_col_at(e) / med.s_col_at(e);
                den += w;
            }
            num / den
        })
        .collect()
}

/// Mean kinetic energy (keV) of the electrons a nuclide emits above `cut_kev` (β branches by
/// their mean energies, IC and Auger lines).
pub fn mean_electron_energy_kev(n: &Nuclide, cut_kev: f64) -> f64 {
    let lines = n.beta_branches.iter().chain(
        n.lines
            .iter()
            .filter(|l| l.kind.is_electron() && l.energy_kev >= cut_kev),
    );
    let (mut ey, mut y) = (0.0, 0.0);
    for l in lines {
        ey += l.energy_kev * l.yield_per_decay;
        y += l.yield_per_decay;
    }
    if y > 0.0 {
        ey / y
    } else {
        cut_kev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_ratio_is_one_and_bone_ratio_is_above_one() {
        let r = water_to_medium_ratios(&["water".into(), "cortical-bone".into()], 133.0, 10.0);
        assert!((r[0] - 1.0).abs() < 1e-12);
        // ESTAR S_col at 100 keV: water 4.1153, ICRP cortical bone 3.6786 MeV cm²/g
        // (../shared/reference/estar_electron_stopping_csda.csv): ratio 1.119.
        assert!((r[1] - 4.1153 / 3.6786).abs() < 0.01, "{}", r[1]);
    }
}
