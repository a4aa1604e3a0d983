//! Emitted energy per decay from Monte Carlo histories vs the ICRP-107 mean energy per decay.
//!
//! The transport runs the decays of a uniform source filling a 3 mm water cube (the geometry does
//! not enter: the emitted energy is counted as each decay is sampled, whatever then escapes)
//! on the device asked for; σ from the spread of the 20 history batches.
//!
//! Reference: ICRP Publication 107 (Eckerman & Endo 2008, Ann. ICRP 38(3)), the mean energy
//! per nuclear transformation summed over all radiations (β, IC, Auger, γ, X), as tabulated in
//! `tests/reference/icrp107_nuclide_summary.csv` (`sum_electrons_keV + sum_photons_keV`;
//! icrp107-database 0.0.3 with ICRP-07.NDX via decaychain 0.7.1, see
//! `../shared/reference/README.md`).

use super::{compare, CaseResult, Mode, ValidateConfig};
use crate::geometry::{Grid, VoxelModel};
use crate::physics::decay::{piecewise_linear_mean_kev, EmissionFilter};
use crate::physics::nuclide::{EmissionKind, Nuclide};
use crate::physics::tables::UNITS_PER_KEV;
use crate::source::{Shape, SourceSpec};
use crate::transport::driver::Schedule;
use crate::transport::{simulate_with, Device, Silent, StopRule, TransportSettings};
use crate::Result;

/// (nuclide, ICRP-107 electrons keV per decay, photons keV per decay): the columns
/// `sum_electrons_keV` and `sum_photons_keV` of tests/reference/icrp107_nuclide_summary.csv.
const ICRP107_KEV_PER_DECAY: [(&str, f64, f64); 4] = [
    ("Lu-177", 147.92313516289386, 35.09766519300592),
    ("Y-90", 933.1062704805922, 0.0012316189753454896),
    ("I-131", 191.84786789720133, 382.75765301799464),
    ("Tb-161", 202.4886595428373, 36.524745984614995),
];

const SOURCE: &str = "ICRP Publication 107 (Eckerman & Endo 2008, Ann. ICRP 38(3)): mean energy \
per decay, all radiations (icrp107-database 0.0.3, ICRP-07.NDX; tests/reference/icrp107_nuclide_summary.csv)";

/// Case ids: `energy-per-decay-<nuclide>`.
pub fn case_ids() -> Vec<String> {
    ICRP107_KEV_PER_DECAY
        .iter()
        .map(|(n, _, _)| format!("energy-per-decay-{}", n.to_lowercase().replace('-', "")))
        .collect()
}

/// Runs the case `id`.
pub fn run(id: &str, config: &ValidateConfig, device: &Device) -> Result<CaseResult> {
    let (name, e, g) = *super::row_of(&ICRP107_KEV_PER_DECAY, case_ids(), id, "energy")?;
    let nuclide = Nuclide::load(name)?;
    let reference = e + g;
    let systematic = beta_rule_offset_kev(&nuclide) / reference + 0.0005;
    let perturbed = scale_energies(&nuclide, config.perturbation.emission_energy_scale);
    let decays = match config.mode {
        Mode::Quick => 200_000,
        Mode::Full => 4_000_000,
    };
    let (value, sigma, wall_s) = emitted_per_decay(perturbed, decays, device)?;
    let why = format!(
        "β energies are sampled from the piecewise-linear density through ICRP-107's published \
         spectrum points, whose mean differs from ICRP-107's β mean ({:.3} % of the total), \
         + 0.05 %",
        100.0 * (systematic - 0.0005)
    );
    Ok(compare(
        id,
        Some(name),
        "emitted energy per decay (keV)",
        (value, sigma),
        (reference, None),
        (3.0, systematic, &why),
        SOURCE,
        (
            format!("MC histories, {} transport", device.kind()),
            decays,
            wall_s,
        ),
    ))
}

/// |mean of the sampling rule − ICRP-107 β mean| × β yield, keV per decay.
pub(crate) fn beta_rule_offset_kev(n: &Nuclide) -> f64 {
    let Some(spec) = n.beta_minus_spectrum.as_ref() else {
        return 0.0;
    };
    let tabulated = n.energy_per_decay_kev(|k| k == EmissionKind::BetaMinus);
    let yield_: f64 = n.beta_branches.iter().map(|b| b.yield_per_decay).sum();
    (piecewise_linear_mean_kev(spec) * yield_ - tabulated).abs()
}

/// The nuclide with every emitted energy times `f` (test-only perturbation; 1: unchanged).
pub(crate) fn scale_energies(n: &Nuclide, f: f64) -> Nuclide {
    let mut n = n.clone();
    if f == 1.0 {
        return n;
    }
    for l in n.lines.iter_mut().chain(n.beta_branches.iter_mut()) {
        l.energy_kev *= f;
    }
    for spec in [&mut n.beta_minus_spectrum, &mut n.beta_plus_spectrum]
        .into_iter()
        .flatten()
    {
        for p in spec.iter_mut() {
            *p = (p.0 * f, p.1 / f);
        }
    }
    n
}

/// Emitted keV per decay, its σ from the batches, and the transport's wall time.
fn emitted_per_decay(nuclide: Nuclide, decays: u64, device: &Device) -> Result<(f64, f64, f64)> {
    let model = VoxelModel::homogeneous(Grid::centred([3, 3, 3], 1.0), "water", 1.0);
    let source = SourceSpec::Shapes(vec![(
        Shape::Box {
            min_mm: [0.0; 3],
            max_mm: [3.0; 3],
        },
        1.0,
    )]);
    let settings = TransportSettings {
        nuclide,
        stop: StopRule::Decays(decays),
        seed: 29,
        batches: 20,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: EmissionFilter::All,
        decays_per_block: None,
    };
    let schedule = Schedule {
        record: true,
        ..Default::default()
    };
    let r = simulate_with(&model, &source, &settings, device, schedule, &mut Silent)?;
    // Energy emitted per decay over the batches, which may differ in size.
    let batches: Vec<(f64, f64, f64)> = r
        .done
        .iter()
        .map(|d| {
            let n = d.batch.decays as f64;
            (n, d.counters.emitted_units as f64 / UNITS_PER_KEV as f64, n)
        })
        .collect();
    let (mean, sigma) = super::batch_ratio(&batches);
    Ok((mean, sigma, r.wall_s))
}
