//! `voxdose validate`: the standard benchmark cases, each against a published reference.
//!
//! A researcher choosing a dose engine, or checking an install on a new machine or GPU, runs
//! one command and gets voxdose next to the published value, with the tolerance, why that
//! tolerance, and the source of each reference. One file per case family:
//!
//! - [`energy`]: emitted energy per decay from Monte Carlo histories vs the ICRP-107 mean
//!   energy per decay, every single nuclide `voxdose nuclides` lists (full transport, on the
//!   device asked for);
//! - [`photon`]: narrow-beam transmission through water and cortical bone vs NIST XCOM
//!   (the CPU photon kernel, `photon_flight`);
//! - [`electron`]: mean CSDA path length of monoenergetic electrons vs NIST ESTAR (the CPU
//!   electron kernel, `electron_track`);
//! - [`cpe`]: the dose in the core of a large uniform water sphere, electrons only, vs the
//!   ICRP-107 electron energy per decay over the mass (charged-particle equilibrium; full
//!   transport on the device);
//! - [`vsv`]: voxel S-value kernels of 177Lu, 90Y and 131I at 3 and 6 mm in soft tissue (self
//!   voxel, face, edge and corner neighbours) vs the Lanconelli et al. 2012 database, and the
//!   self voxel of 90Y and 131I vs MIRD Pamphlet 17 (full transport on the device);
//! - [`sphere`]: the absorbed fraction of the 90Y β energy in unit-density soft-tissue
//!   spheres of 0.004 to 100 g vs the published Monte Carlo values tabulated by Hashempour et
//!   al. 2019 (full transport on the device; `--full` runs all six, `--quick` the 4 g one);
//! - [`sphere_s`]: the self-dose S value of 177Lu in unit-density soft-tissue spheres of 0.5
//!   to 54 g vs the OLINDA/EXM sphere model values of Golzaryan et al. 2025, Table S4 (full
//!   transport on the device; `--full` runs all thirteen, `--quick` the 4 g one).
//!
//! What has no case, and why (a case is only made from numbers read from a stored source):
//! NEMA IEC sphere doses (no published Monte Carlo reference for
//! them was found). A reference code's speed is printed as recorded ([`RECORDED_SPEED`]:
//! ARCHER-NM on a GPU, GATE on a 112-thread server), not rerun, and on no machine like the
//! project's own.
//!
//! Each result's `tolerance` bounds |ratio − 1|: a multiple of the Monte Carlo σ (from
//! history batches or per-history spreads) plus a stated systematic allowance.

pub mod cpe;
pub mod electron;
pub mod energy;
pub mod output;
pub mod photon;
pub mod sphere;
pub mod sphere_s;
pub mod vsv;

use crate::run::{Engine, TransportConfig};
use crate::transport::DeviceChoice;
use crate::{Error, Result};
use serde::Serialize;

/// What the suite does not compare, printed after the table (the module doc and the README's
/// *Validation* section say why).
pub const NOT_COVERED: &str = "not compared (no published reference found): NEMA IEC sphere \
doses; hist/s is voxdose's own, no reference code's speed is recorded on this kind of machine \
(see the recorded figures below)";

/// A reference code's published speed, printed after the table for comparison by eye:
/// recorded, not rerun, and on other machines than the ones voxdose's `hist/s` come from.
///
/// Liu J, Cheng B, Peng Z, Qi M, Pei X, Xu X G (2024), Chin J Radiol Med Prot 44(10):871–878,
/// abstract (www.cjrmp.net/html/2024/10/20241009.htm, read in Chinese): the same 5 × 10⁹
/// decays of a 177Lu-DOTATATE patient of the University of Michigan public data set took
/// ARCHER-NM 90 s on a personal computer with a 24 GB NVIDIA Titan RTX and GATE more than
/// 9 h on a 112-thread server (organ mean doses within 4 % of each other). The decays per
/// second are this project's division.
pub const RECORDED_SPEED: &str = "recorded, not rerun (Liu et al. 2024, Chin J Radiol Med Prot \
44(10):871, a 177Lu-DOTATATE patient, 5e9 decays): ARCHER-NM 90 s on one NVIDIA Titan RTX \
24 GB (5.6e7 decays/s); GATE over 9 h on a 112-thread server (under 1.5e5 decays/s)";

/// How much statistics the cases run with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Seconds per case: an install check (well under a minute in the dev build on 2 cores).
    /// The `full_only` cases are left out unless named with `--cases`.
    #[default]
    Quick,
    /// 10 to 25 times the histories: σ at or below the published precision.
    Full,
}

/// Test-only: deliberately wrong physics, to prove that the suite can fail.
///
/// Only the library API sets it; no command-line flag reaches it, and
/// [`Perturbation::default`] (every factor 1) is what `voxdose validate` runs. The references
/// are never perturbed: a factor other than 1 makes the transport disagree with them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perturbation {
    /// Scales the density of the medium the transport sees, hence every macroscopic
    /// attenuation coefficient (1/mm) and every stopping power per mm, and the voxel masses;
    /// the references keep the nominal density.
    pub medium_density_scale: f32,
    /// Scales every emitted energy of the decay data (β spectra and discrete lines).
    pub emission_energy_scale: f64,
}

impl Default for Perturbation {
    fn default() -> Self {
        Perturbation {
            medium_density_scale: 1.0,
            emission_energy_scale: 1.0,
        }
    }
}

/// What `voxdose validate` runs.
#[derive(Clone, Debug, Default)]
pub struct ValidateConfig {
    /// Statistics.
    pub mode: Mode,
    /// Where the full-transport cases run (the kernel cases always run the CPU kernels).
    pub device: DeviceChoice,
    /// Case ids to run; empty: all.
    pub cases: Vec<String>,
    /// Test-only physics perturbation (see [`Perturbation`]).
    pub perturbation: Perturbation,
}

/// One case's outcome. The first eleven fields are the published interface of
/// `validation.json` and `validation.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Case id (`voxdose validate --cases ID`).
    pub case: String,
    /// Nuclide; `None` for monoenergetic particles.
    pub nuclide: Option<String>,
    /// What is compared, with its unit.
    pub quantity: String,
    /// voxdose's value.
    pub voxdose: f64,
    /// Its Monte Carlo σ (absolute, same unit).
    pub voxdose_sigma: f64,
    /// The reference value.
    pub reference: f64,
    /// Its published σ, where the source gives one.
    pub reference_sigma: Option<f64>,
    /// voxdose / reference.
    pub ratio: f64,
    /// The bound on |ratio − 1|.
    pub tolerance: f64,
    /// |ratio − 1| ≤ tolerance.
    pub pass: bool,
    /// Where the reference comes from (paper, table, page; database and version).
    pub source: String,
    /// Why this tolerance: the σ multiple and the systematic allowance.
    pub tolerance_basis: String,
    /// How the voxdose value was obtained and on what (`gpu`, `cpu`, `cpu kernel`).
    pub method: String,
    /// Histories (decays, photons or electrons) the value comes from.
    pub histories: u64,
    /// Histories per second of wall time (informational; no pass/fail).
    pub histories_per_second: f64,
    /// A disagreement with the reference that is understood and documented (why, and the
    /// evidence): such a case keeps its honest `pass` but does not make the suite fail.
    pub known_disagreement: Option<String>,
}

impl CaseResult {
    /// Outside its tolerance and not a documented known disagreement: the suite fails.
    pub fn fails_suite(&self) -> bool {
        !self.pass && self.known_disagreement.is_none()
    }
}

/// A catalogue entry: the id and the family that runs it.
#[derive(Clone, Debug)]
pub struct CaseDef {
    /// Case id.
    pub id: String,
    /// Which family runs it.
    pub family: Family,
    /// Run by `--full` (and by `--cases`) only: `--quick` leaves it out.
    pub full_only: bool,
}

/// The case families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// [`energy`].
    EnergyPerDecay,
    /// [`photon`].
    NarrowBeam,
    /// [`electron`].
    CsdaRange,
    /// [`cpe`].
    CpeSphere,
    /// [`vsv`].
    VoxelSValue,
    /// [`sphere`].
    SphereAbsorbedFraction,
    /// [`sphere_s`].
    SphereSValue,
}

/// Every case, in the order they run.
pub fn catalogue() -> Vec<CaseDef> {
    let mut list = Vec::new();
    let mut add = |ids: Vec<String>, family| {
        list.extend(ids.into_iter().map(|id| CaseDef {
            full_only: match family {
                Family::SphereAbsorbedFraction => id != sphere::QUICK_CASE,
                Family::SphereSValue => id != sphere_s::QUICK_CASE,
                _ => false,
            },
            id,
            family,
        }));
    };
    add(energy::case_ids(), Family::EnergyPerDecay);
    add(photon::case_ids(), Family::NarrowBeam);
    add(electron::case_ids(), Family::CsdaRange);
    add(cpe::case_ids(), Family::CpeSphere);
    add(vsv::case_ids(), Family::VoxelSValue);
    add(sphere::case_ids(), Family::SphereAbsorbedFraction);
    add(sphere_s::case_ids(), Family::SphereSValue);
    list
}

/// The cases `names` selects (all when empty); an unknown name is an error listing them all.
pub fn select(names: &[String]) -> Result<Vec<CaseDef>> {
    let all = catalogue();
    if names.is_empty() {
        return Ok(all);
    }
    for name in names {
        if !all.iter().any(|c| &c.id == name) {
            return Err(Error::UnknownName {
                what: "validation case (--cases)",
                name: name.clone(),
                known: all
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(all.into_iter().filter(|c| names.contains(&c.id)).collect())
}

/// The cases a run of `config` runs: those named, else the whole catalogue, less the
/// `full_only` cases in `--quick`.
pub fn cases_to_run(config: &ValidateConfig) -> Result<Vec<CaseDef>> {
    let mut cases = select(&config.cases)?;
    if config.cases.is_empty() && config.mode == Mode::Quick {
        cases.retain(|c| !c.full_only);
    }
    Ok(cases)
}

/// Runs the selected cases; `progress` is called after each with its result.
pub fn run_suite(
    config: &ValidateConfig,
    progress: &mut dyn FnMut(&CaseResult),
) -> Result<Vec<CaseResult>> {
    let cases = cases_to_run(config)?;
    let engine = Engine::new(&TransportConfig {
        device: config.device,
        ..Default::default()
    })?;
    let mut results = Vec::with_capacity(cases.len());
    let mut kernels = vsv::Cache::default();
    for case in &cases {
        let r = engine.install(|device| run_case(case, config, device, &mut kernels))?;
        check_finite(&r)?;
        progress(&r);
        results.push(r);
    }
    Ok(results)
}

/// Runs one case.
fn run_case(
    case: &CaseDef,
    config: &ValidateConfig,
    device: &crate::transport::Device,
    kernels: &mut vsv::Cache,
) -> Result<CaseResult> {
    match case.family {
        Family::EnergyPerDecay => energy::run(&case.id, config, device),
        Family::NarrowBeam => photon::run(&case.id, config),
        Family::CsdaRange => electron::run(&case.id, config),
        Family::CpeSphere => cpe::run(&case.id, config, device),
        Family::VoxelSValue => vsv::run(&case.id, config, device, kernels),
        Family::SphereAbsorbedFraction => sphere::run(&case.id, config, device),
        Family::SphereSValue => sphere_s::run(&case.id, config, device),
    }
}

/// A case whose value or σ is not finite cannot be compared (exit code 44).
fn check_finite(r: &CaseResult) -> Result<()> {
    if r.voxdose.is_finite() && r.voxdose_sigma.is_finite() && r.ratio.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::NotFinite {
            case: r.case.clone(),
            value: r.voxdose,
            sigma: r.voxdose_sigma,
        }
        .into())
    }
}

/// The comparison of `value ± sigma` with `reference`: a tolerance of `k_sigma` relative σ
/// plus `systematic`, and the filled-in result.
#[allow(
    clippy::too_many_arguments,
    reason = "one named field each; called per family"
)]
pub(crate) fn compare(
    case: &str,
    nuclide: Option<&str>,
    quantity: &str,
    (value, sigma): (f64, f64),
    (reference, reference_sigma): (f64, Option<f64>),
    (k_sigma, systematic, why_systematic): (f64, f64, &str),
    source: &str,
    (method, histories, wall_s): (String, u64, f64),
) -> CaseResult {
    let ratio = value / reference;
    let rel_sigma = (sigma / value).abs();
    let tolerance = k_sigma * rel_sigma + systematic;
    CaseResult {
        case: case.to_string(),
        nuclide: nuclide.map(str::to_string),
        quantity: quantity.to_string(),
        voxdose: value,
        voxdose_sigma: sigma,
        reference,
        reference_sigma,
        ratio,
        tolerance,
        pass: (ratio - 1.0).abs() <= tolerance,
        source: source.to_string(),
        tolerance_basis: format!(
            "{k_sigma}σ (σ = {:.3} %) + {:.2} % systematic: {why_systematic}",
            100.0 * rel_sigma,
            100.0 * systematic
        ),
        method,
        histories,
        histories_per_second: histories as f64 / wall_s.max(1e-9),
        known_disagreement: None,
    }
}

/// The row of `rows` whose case id (`ids`, in the same order) is `id`.
pub(crate) fn row_of<'a, T>(
    rows: &'a [T],
    ids: Vec<String>,
    id: &str,
    family: &str,
) -> Result<&'a T> {
    rows.iter()
        .zip(ids)
        .find(|(_, c)| c == id)
        .map(|(r, _)| r)
        .ok_or_else(|| Error::Internal(format!("no {family} case {id}")))
}

/// Σ numerator / Σ denominator over history batches of (decays, numerator, denominator), and
/// its σ from the decay-weighted spread of the batch ratios (batches may differ in size).
pub(crate) fn batch_ratio(batches: &[(f64, f64, f64)]) -> (f64, f64) {
    let ratio = batches.iter().map(|b| b.1).sum::<f64>() / batches.iter().map(|b| b.2).sum::<f64>();
    let total: f64 = batches.iter().map(|b| b.0).sum();
    let spread: f64 = batches
        .iter()
        .filter(|b| b.2 > 0.0)
        .map(|b| b.0 * (b.1 / b.2 - ratio).powi(2))
        .sum();
    let dof = (batches.len() as f64 - 1.0).max(1.0);
    (ratio, (spread / dof / total).sqrt())
}

/// Mean and σ of the mean of per-history (or per-batch) values.
pub(crate) fn mean_sigma(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// Why `voxdose validate` stopped (exit codes 43–44).
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// Cases outside their tolerance (the outputs are written first).
    #[error("{} of {total} validation cases outside their tolerance: {}; see validation.json for each case's value, reference and tolerance", .failed.len(), .failed.join(", "))]
    Failed {
        /// The failed case ids.
        failed: Vec<String>,
        /// Cases run.
        total: usize,
    },
    /// A case produced no finite value to compare.
    #[error("validation case {case} gave no finite value ({value} ± {sigma}); this is a bug or a broken device: run it again with --device cpu and report it")]
    NotFinite {
        /// Case id.
        case: String,
        /// Its value.
        value: f64,
        /// Its σ.
        sigma: f64,
    },
}

impl ValidationError {
    /// Exit code (43: a case failed; 44: a case gave no finite value).
    pub fn exit_code(&self) -> i32 {
        match self {
            ValidationError::Failed { .. } => 43,
            ValidationError::NotFinite { .. } => 44,
        }
    }
}

/// Settings to prepare the kernel cases' tables (177Lu; the kernels take their particle and
/// energy from the case, not from the decay data).
pub(crate) fn kernel_settings() -> crate::transport::TransportSettings {
    crate::transport::TransportSettings {
        nuclide: crate::physics::nuclide::Nuclide::load("Lu-177")
            .expect("Lu-177 decay data are embedded in the binary"),
        stop: crate::transport::StopRule::Decays(1000),
        seed: 1,
        batches: 20,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: crate::physics::decay::EmissionFilter::All,
        decays_per_block: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_leaves_out_the_full_only_cases_unless_named() {
        let quick = ValidateConfig::default();
        let ids: Vec<String> = cases_to_run(&quick)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(ids.contains(&sphere::QUICK_CASE.to_string()));
        assert!(ids.contains(&sphere_s::QUICK_CASE.to_string()));
        assert!(!ids.contains(&"sphere-af-y90-100g".to_string()));
        assert!(!ids.contains(&"sphere-s-lu177-54ml".to_string()));
        // One sphere of each family.
        assert_eq!(
            ids.iter().filter(|i| i.starts_with("sphere-")).count(),
            2,
            "{ids:?}"
        );
        let full = ValidateConfig {
            mode: Mode::Full,
            ..Default::default()
        };
        assert_eq!(cases_to_run(&full).unwrap().len(), catalogue().len());
        let named = ValidateConfig {
            cases: vec!["sphere-af-y90-100g".into()],
            ..Default::default()
        };
        assert_eq!(cases_to_run(&named).unwrap().len(), 1);
    }
}
