//! The CPU reference kernels: plain Rust, f32 math, the same algorithm and random streams as
//! the WGSL kernels in `shaders/` (same file names), so they can be diffed and compared.
//!
//! | kernel | WGSL twin | does |
//! |---|---|---|
//! | [`decay_history::decay_history`] | `shaders/decay_history.wgsl` | one decay: position, emissions, tracks |
//! | [`photon_track::photon_track`], [`photon_track::photon_pass`] | `shaders/shared/photon_track.wgsl` | Woodcock flights and interactions, one pass each |
//! | [`electron_track::electron_track`] | `shaders/shared/electron_track.wgsl` | condensed-history steps |
//!
//! The bindings of the kernels are [`KernelInputs`] (read-only) and the tally (read-write).
//! [`run::CpuBackend`] runs batches of `decay_history` on the run's rayon pool: the CPU side
//! of the one batch loop (`transport::driver::run_batches`), as `gpu::run::GpuBackend` is the
//! GPU's.

pub mod decay_history;
pub mod electron_track;
pub mod photon_track;
pub mod run;

use crate::physics::decay::DecayTables;
use crate::physics::tables::PhysicsTables;
use crate::source::SourceTables;
use crate::tally::EnergyTally;

/// Scalar run parameters (the kernels' uniform block; GPU twin `Params` in
/// `src/transport/gpu_types.rs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelParams {
    /// Run seed.
    pub seed: u64,
    /// History index of the first decay of this batch (history h of the batch uses RNG streams
    /// 128·(`first_history` + h) + k, k = 0 for its emissions and k ≥ 1 for its particles, so
    /// streams never repeat within a run; see [`decay_history`]).
    pub first_history: u64,
    /// Histories in this batch.
    pub n_histories: u32,
    /// Grid size.
    pub dims: [u32; 3],
    /// Voxel size, mm.
    pub spacing_mm: [f32; 3],
    /// Electron cutoff, fixed-point units.
    pub electron_cutoff_units: u32,
    /// Photon cutoff, fixed-point units.
    pub photon_cutoff_units: u32,
}

/// Read-only inputs of the kernels.
#[derive(Clone, Copy, Debug)]
pub struct KernelInputs<'a> {
    /// Scalars.
    pub params: &'a KernelParams,
    /// Physics tables.
    pub tables: &'a PhysicsTables,
    /// Woodcock majorant μ_max (mm⁻¹) at the energy-grid points (use the max of a bin's ends).
    pub majorant: &'a [f32],
    /// CSDA range × ρ at the electron cutoff, per material (mm·g/cm³).
    pub range_cutoff: &'a [f32],
    /// Material index per voxel.
    pub material: &'a [u8],
    /// Density per voxel, g/cm³.
    pub density: &'a [f32],
    /// Emission tables.
    pub decay: &'a DecayTables,
    /// Source tables.
    pub source: &'a SourceTables,
}

/// Per-thread counters of a batch (summed after the batch; GPU: per-workgroup sums).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HistoryCounters {
    /// Energy emitted, fixed-point units.
    pub emitted_units: u64,
    /// Energy escaping the grid, fixed-point units.
    pub escaped_units: u64,
    /// Electron path length, mm (for range validation).
    pub electron_path_mm: f64,
    /// Real photon interactions.
    pub photon_interactions: u64,
    /// Electron steps.
    pub electron_steps: u64,
    /// Tracks stopped by a loop bound (should stay 0; reported in the summary).
    pub truncated_tracks: u64,
    /// Energy given to bremsstrahlung photons, fixed-point units.
    pub radiated_units: u64,
}

impl HistoryCounters {
    /// Adds another thread's counters.
    pub fn merge(mut self, o: HistoryCounters) -> Self {
        self.emitted_units += o.emitted_units;
        self.escaped_units += o.escaped_units;
        self.electron_path_mm += o.electron_path_mm;
        self.photon_interactions += o.photon_interactions;
        self.electron_steps += o.electron_steps;
        self.truncated_tracks += o.truncated_tracks;
        self.radiated_units += o.radiated_units;
        self
    }
}

/// A particle's place in the grid: position (mm, transport frame) and voxel indices.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    /// Position, mm.
    pub pos: [f32; 3],
    /// Voxel indices.
    pub ijk: [i32; 3],
}

impl Place {
    /// The place of a position, or `None` outside the grid.
    #[inline]
    pub fn locate(pos: [f32; 3], p: &KernelParams) -> Option<Place> {
        let mut ijk = [0i32; 3];
        for a in 0..3 {
            let t = (pos[a] / p.spacing_mm[a]).floor();
            if !(t >= 0.0 && t < p.dims[a] as f32) {
                return None;
            }
            ijk[a] = t as i32;
        }
        Some(Place { pos, ijk })
    }

    /// Linear voxel index.
    #[inline]
    pub fn voxel(&self, p: &KernelParams) -> usize {
        (self.ijk[0] as u32 + p.dims[0] * (self.ijk[1] as u32 + p.dims[1] * self.ijk[2] as u32))
            as usize
    }
}

/// Shared context of one kernel invocation: inputs, tally and counters.
pub struct Ctx<'a> {
    /// Inputs.
    pub inp: KernelInputs<'a>,
    /// The batch tally.
    pub tally: &'a EnergyTally,
    /// This thread's counters.
    pub counters: &'a mut HistoryCounters,
}
