//! [`execute`]: a [`Problem`] on a device → [`RunResult`]: the transport, then the dose
//! quantity asked for (dose to medium, or to water by the Bragg–Gray conversion of
//! [`crate::tally::dose_to_water`]) and the dose scale.

use super::config::DoseTo;
use super::problem::Problem;
use crate::geometry::VoxelModel;
use crate::tally::dose_to_water::{mean_electron_energy_kev, water_to_medium_ratios};
use crate::transport::driver::Schedule;
use crate::transport::{simulate_with, Device, Observer, TransportResult, TransportSettings};
use crate::Result;

/// What a run computed.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// The transport's result, its dose per decay already converted to the quantity reported.
    pub transport: TransportResult,
    /// "dose to medium" or "dose to water (…)".
    pub dose_quantity: &'static str,
    /// The method that made the dose: "mc", "dvk" or "ldm".
    pub method: &'static str,
    /// Decays the dose represents (Bq·s); `None`: the dose is per decay.
    pub tia_bq_s: Option<f64>,
}

impl RunResult {
    /// The unit of [`RunResult::dose`]: "Gy", or "Gy per decay" without a dose scale.
    pub fn dose_unit(&self) -> &'static str {
        if self.tia_bq_s.is_some() {
            "Gy"
        } else {
            "Gy per decay"
        }
    }

    /// The dose per voxel in [`RunResult::dose_unit`].
    pub fn dose(&self) -> Vec<f64> {
        let scale = self.tia_bq_s.unwrap_or(1.0);
        self.transport
            .dose_gy_per_decay
            .iter()
            .map(|d| d * scale)
            .collect()
    }
}

/// Runs `problem` on `device`, reporting to `observer`.
pub fn execute(
    problem: &Problem,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<RunResult> {
    execute_with(problem, device, Schedule::default(), observer)
}

/// [`execute`] with a batch [`Schedule`]: a checkpoint to resume from, the batches of a
/// shard, recording the batches done (returned in `transport.done`).
pub fn execute_with(
    problem: &Problem,
    device: &Device,
    schedule: Schedule<'_>,
    observer: &mut dyn Observer,
) -> Result<RunResult> {
    let transport = simulate_with(
        &problem.model,
        &problem.source,
        &problem.settings,
        device,
        schedule,
        observer,
    )?;
    Ok(dose_of(problem, transport, observer))
}

/// The transport's dose per decay made the dose `problem` reports: dose to medium or to
/// water, and its dose scale. (A merge of shards ends here too.)
pub fn dose_of(
    problem: &Problem,
    mut transport: TransportResult,
    observer: &mut dyn Observer,
) -> RunResult {
    let dose_quantity = match problem.dose_to {
        DoseTo::Medium => "dose to medium",
        DoseTo::Water => {
            to_water(&mut transport, &problem.model, &problem.settings, observer);
            "dose to water (Bragg–Gray, CSDA-weighted stopping-power ratio)"
        }
    };
    RunResult {
        transport,
        dose_quantity,
        method: "mc",
        tia_bq_s: problem.tia_bq_s,
    }
}

/// Runs `problem` by a fast method (`--method dvk|ldm`, [`crate::run::dvk`]) instead of the
/// transport; dose to water as for Monte Carlo. The dose quantity names the method.
pub fn execute_fast(
    problem: &Problem,
    method: crate::run::dvk::DoseMethod,
    density_scaling: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<RunResult> {
    use crate::run::dvk::DoseMethod;
    let mut transport =
        crate::run::dvk::run_fast_method(problem, method, density_scaling, device, observer)?;
    let water = problem.dose_to == DoseTo::Water;
    if water {
        to_water(&mut transport, &problem.model, &problem.settings, observer);
    }
    let dose_quantity = match (method, water, density_scaling) {
        (DoseMethod::Dvk, false, false) => "dose to medium by dose-voxel-kernel convolution (dvk)",
        (DoseMethod::Dvk, false, true) => {
            "dose to medium by dose-voxel-kernel convolution, density-scaled (dvk)"
        }
        (DoseMethod::Dvk, true, _) => "dose to water by dose-voxel-kernel convolution (dvk)",
        (_, false, _) => "dose to medium by local deposition of electron energy (ldm)",
        (_, true, _) => "dose to water by local deposition of electron energy (ldm)",
    };
    Ok(RunResult {
        transport,
        dose_quantity,
        method: method.name(),
        tia_bq_s: problem.tia_bq_s,
    })
}

/// Converts dose to medium into dose to water in place: each voxel × its material's
/// water/medium stopping-power ratio, each region's mean × the energy-weighted mean ratio
/// over the region (exact for the region's mean dose).
fn to_water(
    result: &mut TransportResult,
    model: &VoxelModel,
    settings: &TransportSettings,
    observer: &mut dyn Observer,
) {
    let cut = settings.electron_cutoff_kev as f64;
    let e0 = mean_electron_energy_kev(&settings.nuclide, cut);
    let ratio = water_to_medium_ratios(&model.materials, e0, cut);
    let r = |v: usize| ratio[model.material[v] as usize];
    for (region, voxels) in result.regions.iter_mut().zip(&model.regions) {
        let (mut num, mut den) = (0.0, 0.0);
        for v in voxels.voxels.iter().map(|&v| v as usize) {
            let e = result.dose_gy_per_decay[v] * model.voxel_mass_kg(v);
            num += e * r(v);
            den += e;
        }
        if den > 0.0 {
            region.mean_gy_per_decay *= num / den;
        }
    }
    for (v, d) in result.dose_gy_per_decay.iter_mut().enumerate() {
        *d *= r(v);
    }
    observer.note(&format!(
        "dose to water: stopping-power ratios water/medium {ratio:.4?} (mean electron energy {e0:.1} keV)"
    ));
}
