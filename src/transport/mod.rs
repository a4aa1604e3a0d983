//! Transport: the Monte Carlo driver.
//!
//! `simulate` takes a voxel model, a source and settings, runs batches of decays on the chosen
//! device (the CPU reference kernels in [`cpu`] or their WGSL twins through [`gpu`]) and returns
//! dose per decay with its per-voxel relative uncertainty and the exact energy balance.
//! TODO(lead): implementation.

pub mod cpu;
pub mod gpu;
pub mod gpu_types;

use crate::cli::args::DeviceChoice;
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

/// Transport settings, validated.
#[derive(Clone, Debug)]
pub struct TransportSettings {
    /// Nuclide name as in `data/icrp107/` (e.g. "Lu-177").
    pub nuclide: String,
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
    /// Device choice.
    pub device: DeviceChoice,
    /// Show a progress bar.
    pub progress: bool,
}

/// The device a run used, for summaries and benchmarks.
#[derive(Clone, Debug, Serialize)]
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
    /// Energy bookkeeping.
    pub energy: EnergyBalance,
    /// Transport wall time, s.
    pub wall_s: f64,
    /// The device used.
    pub device: DeviceInfo,
}
