//! Charged-particle equilibrium: the dose in the core of a large uniform water sphere,
//! electrons only, is the electron energy per decay over the sphere's mass.
//!
//! A uniform source fills a water sphere of 40 mm radius (voxels of 4 mm); only β, IC and
//! Auger electrons are emitted (photon lines left out). In the core (voxels wholly inside the
//! sphere and > 4 mm, more than the CSDA range at the β endpoints of these nuclides, from its
//! surface) as much electron energy enters as leaves every voxel, so the dose per decay is
//! E_e / (ρ · 4/3 π R³) exactly. σ from the 20 history batches of the region's dose; the
//! transport runs on the device asked for.
//!
//! Reference: theory (CPE, e.g. Attix 1986, *Introduction to Radiological Physics and
//! Radiation Dosimetry*, §4) with E_e the ICRP-107 electron energy per decay (β + IC + Auger;
//! `sum_electrons_keV` of `tests/reference/icrp107_nuclide_summary.csv`).

use super::{compare, CaseResult, Mode, ValidateConfig};
use crate::geometry::{Grid, Region, VoxelModel};
use crate::physics::decay::EmissionFilter;
use crate::physics::nuclide::Nuclide;
use crate::source::{Shape, SourceSpec};
use crate::transport::{simulate, Device, Silent, StopRule, TransportSettings};
use crate::{Error, Result};

/// (nuclide, ICRP-107 electron keV per decay: `sum_electrons_keV`).
const CASES: [(&str, f64); 3] = [
    ("Lu-177", 147.92313516289386),
    ("I-131", 191.84786789720133),
    ("Tb-161", 202.4886595428373),
];

const SOURCE: &str = "theory (charged-particle equilibrium: D = E_e/m) with E_e from ICRP \
Publication 107 (Eckerman & Endo 2008), electrons per decay (icrp107-database 0.0.3; \
tests/reference/icrp107_nuclide_summary.csv)";

const RADIUS_MM: f64 = 40.0;
const VOXEL_MM: f64 = 4.0;
const GRID: usize = 22;
const MARGIN_MM: f64 = 4.0;
/// Bremsstrahlung photons leave with their energy: ESTAR's radiation yield of water at
/// 0.5 MeV is 0.20 % (tests/reference/estar_electron_stopping_csda.csv), above the mean over
/// these β spectra (mean β energies 133–182 keV).
const BREMS_ALLOWANCE: f64 = 0.002;

/// Case ids: `cpe-sphere-<nuclide>`.
pub fn case_ids() -> Vec<String> {
    CASES
        .iter()
        .map(|(n, _)| format!("cpe-sphere-{}", n.to_lowercase().replace('-', "")))
        .collect()
}

/// Runs the case `id`.
pub fn run(id: &str, config: &ValidateConfig, device: &Device) -> Result<CaseResult> {
    let (name, e_kev) = *super::row_of(&CASES, case_ids(), id, "CPE")?;
    let nuclide = Nuclide::load(name)?;
    let rule = super::energy::beta_rule_offset_kev(&nuclide) / e_kev;
    let decays = match config.mode {
        Mode::Quick => 100_000,
        Mode::Full => 2_000_000,
    };
    let density = config.perturbation.medium_density_scale;
    let emitting =
        super::energy::scale_energies(&nuclide, config.perturbation.emission_energy_scale);
    let (dose, rel_sigma, wall_s) = core_dose(emitting, density, decays, device)?;
    let mass_kg = 4.0 / 3.0 * std::f64::consts::PI * (RADIUS_MM / 10.0).powi(3) * 1.0e-3;
    let reference = e_kev * crate::tally::J_PER_KEV / mass_kg;
    let why = format!(
        "β sampled from the piecewise-linear ICRP-107 spectrum (mean off by {:.3} % of E_e) + \
         0.2 % for bremsstrahlung photons that leave (ESTAR radiation yield of water at 0.5 MeV)",
        100.0 * rule
    );
    Ok(compare(
        id,
        Some(name),
        "dose in the core of a 40 mm water sphere, electrons only (Gy per decay)",
        (dose, dose * rel_sigma),
        (reference, None),
        (3.0, rule + BREMS_ALLOWANCE, &why),
        SOURCE,
        (
            format!("MC histories, {} transport", device.kind()),
            decays,
            wall_s,
        ),
    ))
}

/// Mean dose of the core (Gy per decay), its relative σ, and the transport's wall time.
fn core_dose(
    nuclide: Nuclide,
    density: f32,
    decays: u64,
    device: &Device,
) -> Result<(f64, f64, f64)> {
    let mut model = VoxelModel::homogeneous(Grid::centred([GRID; 3], VOXEL_MM), "water", density);
    model.regions = vec![core_region(&model)];
    let source = SourceSpec::Shapes(vec![(
        Shape::Sphere {
            // Shapes are placed from the grid's corner.
            centre_mm: [0.5 * GRID as f64 * VOXEL_MM; 3],
            radius_mm: RADIUS_MM,
        },
        1.0,
    )]);
    let settings = TransportSettings {
        nuclide,
        stop: StopRule::Decays(decays),
        seed: 30,
        batches: 20,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: EmissionFilter::Electrons,
        decays_per_block: None,
    };
    let r = simulate(&model, &source, &settings, device, &mut Silent)?;
    let core = r
        .regions
        .first()
        .ok_or_else(|| Error::Internal("the CPE run lost its core region".into()))?;
    Ok((core.mean_gy_per_decay, core.rel_sigma, r.wall_s))
}

/// Voxels wholly inside the sphere shrunk by the margin.
fn core_region(model: &VoxelModel) -> Region {
    let half = 0.5 * GRID as f64 * VOXEL_MM;
    let inside = |v: &u32| {
        let ijk = model.grid.ijk(*v as usize);
        let far = ijk.iter().map(|&i| {
            let (a, b) = (i as f64 * VOXEL_MM - half, (i + 1) as f64 * VOXEL_MM - half);
            a.abs().max(b.abs())
        });
        far.map(|d| d * d).sum::<f64>().sqrt() < RADIUS_MM - MARGIN_MM
    };
    Region {
        name: "core".into(),
        voxels: (0..model.grid.n_voxels() as u32).filter(inside).collect(),
    }
}
