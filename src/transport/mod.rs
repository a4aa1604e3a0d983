//! Transport: the Monte Carlo driver.
//!
//! [`simulate`] takes a voxel model, a source and settings, runs batches of decays on an
//! opened [`Device`] (the CPU reference kernels in [`cpu`] or their WGSL twins through
//! [`gpu`]), all through the one batch loop [`driver::run_batches`] over a
//! [`backend::Backend`], and returns dose per decay with its per-voxel relative uncertainty
//! and the exact energy balance. Progress and notes go to an [`Observer`]; transport prints
//! nothing itself.

pub mod backend;
pub mod cpu;
pub mod driver;
pub mod gpu;
pub mod gpu_types;
pub mod observer;
pub mod pilot;

pub use backend::{Device, DeviceChoice};
pub use driver::UncertaintySummary;
pub use observer::{Observer, Silent};
pub use pilot::RunEstimate;

use crate::physics::nuclide::Nuclide;
use serde::Serialize;

/// When to stop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StopRule {
    /// Exactly this many decays.
    Decays(u64),
    /// Until the relative standard uncertainty of voxels above `threshold` × max dose is at
    /// most `relative`, or `max_decays` is reached.
    TargetUncertainty {
        /// Target relative σ (e.g. 0.02 for 2 %).
        relative: f64,
        /// Fraction of the maximum dose defining the voxels checked (0.5).
        threshold: f64,
        /// Upper bound on decays.
        max_decays: u64,
    },
}

/// Transport settings, validated (the run layer builds them from a `RunConfig`).
#[derive(Clone, Debug)]
pub struct TransportSettings {
    /// The nuclide's decay data (ICRP-107), loaded once per run.
    pub nuclide: Nuclide,
    /// When to stop.
    pub stop: StopRule,
    /// Run seed.
    pub seed: u64,
    /// History batches for the uncertainty (≥ 2).
    pub batches: u32,
    /// Electron kinetic-energy cutoff, keV.
    pub electron_cutoff_kev: f32,
    /// Photon cutoff, keV.
    pub photon_cutoff_kev: f32,
    /// Which emissions to transport (all, for dose).
    pub emissions: crate::physics::decay::EmissionFilter,
    /// GPU runs: decays per work-queue block of `decay_history` (1 ..=
    /// `gpu_types::MAX_HISTORIES_PER_BLOCK`, 32), to compare block
    /// sizes on new hardware (`voxdose bench --decays-per-block`); `None`: the device's own
    /// (32 on a software adapter, 8 on a GPU). The dose does not depend on it.
    pub decays_per_block: Option<u32>,
}

/// The device a run used, for summaries and benchmarks (and in shard files, read back).
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    /// "cpu" or "gpu".
    pub kind: String,
    /// Adapter or CPU name.
    pub name: String,
    /// wgpu backend, or "rust" for the CPU reference.
    pub backend: String,
    /// Driver description.
    pub driver: String,
    /// Worker threads (CPU) or invocations per dispatch (GPU).
    pub parallelism: u64,
    /// GPU runs: decays per work-queue block of `decay_history` at the end of the run (the
    /// device's size, or smaller after a rerun). Absent for the CPU reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decays_per_block: Option<u32>,
    /// GPU runs: batches that came back cut short by the driver and were run again in
    /// smaller blocks (their first attempt is discarded whole, so the dose is the same bit
    /// for bit). Absent for the CPU reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_batches: Option<u32>,
    /// GPU runs: seconds spent compiling `decay_history` for the device (the first kernel and
    /// any rerun's), outside `wall_s`. Seconds on lavapipe the first time a machine runs a
    /// kernel, a fraction of one once Mesa's shader cache holds it. Absent for the CPU
    /// reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_s: Option<f64>,
}

/// Energy balance in fixed point (65536 units per keV): deposited + escaped = emitted, exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnergyBalance {
    /// Energy of all emitted particles.
    pub emitted_units: u64,
    /// Energy deposited in the grid.
    pub deposited_units: u64,
    /// Energy carried out of the grid.
    pub escaped_units: u64,
}

/// What a run returns.
#[derive(Clone, Debug)]
pub struct TransportResult {
    /// Absorbed dose to medium per decay, Gy, per voxel.
    pub dose_gy_per_decay: Vec<f64>,
    /// Relative standard uncertainty of the dose per voxel (0 where nothing was scored).
    pub rel_uncertainty: Vec<f32>,
    /// Decays simulated.
    pub decays: u64,
    /// Batches they ran in.
    pub batches: u32,
    /// Energy bookkeeping.
    pub energy: EnergyBalance,
    /// Transport wall time, s.
    pub wall_s: f64,
    /// Of `wall_s`, the time spent on batch statistics: reading the tally back (GPU), folding
    /// it into the per-voxel sums, and checking σ, s. On the GPU a batch's fold may overlap
    /// the next batch's transport (`transport::gpu::run`), so it is not all extra time.
    pub statistics_s: f64,
    /// The device used.
    pub device: DeviceInfo,
    /// Mean dose per named region of the model.
    pub regions: Vec<RegionDose>,
    /// Event counters (interactions, steps, truncated tracks, electron path).
    pub counters: cpu::HistoryCounters,
    /// Relative σ of the voxels above 50 % of the maximum dose.
    pub uncertainty: UncertaintySummary,
    /// With a recording schedule: every batch folded, in order (shards, checkpoints).
    pub done: Vec<driver::DoneBatch>,
    /// The time estimate from the pilot at the start of the first batch this process ran
    /// (`None`: no batch large enough for a pilot ran, or the result was merged).
    pub estimate: Option<RunEstimate>,
}

/// Dose summary of one region.
#[derive(Clone, Debug, Serialize)]
pub struct RegionDose {
    /// Region name.
    pub name: String,
    /// Voxels in the region.
    pub voxels: usize,
    /// Mass, kg.
    pub mass_kg: f64,
    /// Mean absorbed dose per decay, Gy.
    pub mean_gy_per_decay: f64,
    /// Relative standard uncertainty of the mean (batch method).
    pub rel_sigma: f64,
    /// Energy deposited in the region per decay, keV.
    pub energy_kev_per_decay: f64,
}

/// Runs the transport of `source` in `model` on `device` (open it with [`Device::open`]).
///
/// The CPU reference runs on the rayon pool this is called in (the run layer installs its
/// own); the GPU path runs on the device.
pub fn simulate(
    model: &crate::geometry::VoxelModel,
    source: &crate::source::SourceSpec,
    settings: &TransportSettings,
    device: &Device,
    observer: &mut dyn Observer,
) -> crate::Result<TransportResult> {
    simulate_with(
        model,
        source,
        settings,
        device,
        driver::Schedule::default(),
        observer,
    )
}

/// [`simulate`] with a [`driver::Schedule`]: a checkpoint to resume from, the batches of a
/// shard, recording (the batches done come back in [`TransportResult::done`]).
pub fn simulate_with(
    model: &crate::geometry::VoxelModel,
    source: &crate::source::SourceSpec,
    settings: &TransportSettings,
    device: &Device,
    schedule: driver::Schedule<'_>,
    observer: &mut dyn Observer,
) -> crate::Result<TransportResult> {
    match device {
        Device::Cpu => driver::simulate_cpu_with(model, source, settings, schedule, observer),
        Device::Gpu(ctx) => {
            gpu::run::simulate_on_with(ctx, model, source, settings, schedule, observer)
        }
    }
}
