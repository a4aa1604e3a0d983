//! `#[repr(C)]` + `Pod` twins of the structs and constants the WGSL kernels share with the
//! host (`shaders/shared/*.wgsl` and the kernels' parameter structs).
//!
//! Each struct names its WGSL twin, and `tests/gpu_types.rs` parses the shaders with naga and
//! checks every size, member offset and shared constant against these, so the "keep in sync"
//! comments are enforced. Fields are u32/i32/f32 only (core WGSL), with explicit `_pad`
//! fields; uniform structs are a multiple of 16 bytes. Units are in the field docs.

use bytemuck::{Pod, Zeroable};

/// Fixed-point scale of every energy tally and counter: units per keV (`UNITS_PER_KEV` in
/// `shaders/shared/tally.wgsl`).
pub const UNITS_PER_KEV: f32 = 65536.0;
/// Tally chunk bindings per kernel (`TALLY_MAX_CHUNKS`, `tally_chunk0..7`).
pub const TALLY_MAX_CHUNKS: u32 = 8;
/// Density chunk bindings per kernel (`DENSITY_MAX_CHUNKS`, `density_chunk0..3`).
pub const DENSITY_MAX_CHUNKS: u32 = 4;
/// Global 64-bit counters (`N_COUNTERS`).
pub const N_COUNTERS: u32 = 8;

/// Index of each global counter (`COUNTER_*` in `shaders/shared/tally.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Counter {
    /// Energy of all emitted particles, fixed-point units.
    Emitted = 0,
    /// Energy deposited in the grid, fixed-point units.
    Deposited = 1,
    /// Energy carried out of the grid, fixed-point units.
    Escaped = 2,
    /// Histories (or test-kernel invocations) completed.
    Histories = 3,
}

/// Twin of `TallyParams` in `shaders/shared/tally.wgsl` (bind group 2, binding 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct TallyParams {
    /// Voxels in the grid.
    pub n_voxels: u32,
    /// log2 of the voxels per tally chunk binding.
    pub chunk_shift: u32,
    /// Chunk bindings in use.
    pub n_chunks: u32,
    /// Padding to 16 bytes.
    pub _pad0: u32,
}

/// Twin of `GridParams` in `shaders/shared/grid.wgsl` (bind group 1, binding 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct GridParams {
    /// Voxels along i.
    pub nx: u32,
    /// Voxels along j.
    pub ny: u32,
    /// Voxels along k.
    pub nz: u32,
    /// nx · ny · nz.
    pub n_voxels: u32,
    /// 1 / voxel size along i, 1/mm.
    pub inv_spacing_x_per_mm: f32,
    /// 1 / voxel size along j, 1/mm.
    pub inv_spacing_y_per_mm: f32,
    /// 1 / voxel size along k, 1/mm.
    pub inv_spacing_z_per_mm: f32,
    /// log2 of the voxels per density chunk binding.
    pub density_chunk_shift: u32,
}

/// Twin of `RngCheckParams` in `shaders/check_rng.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RngCheckParams {
    /// Low half of the run seed.
    pub seed_lo: u32,
    /// High half of the run seed.
    pub seed_hi: u32,
    /// Low half of the first stream.
    pub first_stream_lo: u32,
    /// High half of the first stream.
    pub first_stream_hi: u32,
    /// Streams (invocations).
    pub n_streams: u32,
    /// Outputs per stream.
    pub n_outputs: u32,
    /// Padding.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
}

/// Twin of `TallyCheckParams` in `shaders/check_tally.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct TallyCheckParams {
    /// Deposits in the list.
    pub n_deposits: u32,
    /// Padding.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
    /// Padding.
    pub _pad2: u32,
}

/// Twin of `Deposit` in `shaders/check_tally.wgsl`: one energy deposit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Deposit {
    /// Linear voxel index.
    pub voxel: u32,
    /// Energy, keV.
    pub energy_kev: f32,
}

/// Twin of `GridCheckParams` in `shaders/check_grid.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GridCheckParams {
    /// Points to look up.
    pub n_points: u32,
    /// Padding.
    pub _pad0: u32,
    /// Padding.
    pub _pad1: u32,
    /// Padding.
    pub _pad2: u32,
}

/// Twin of `GridLookup` in `shaders/check_grid.wgsl`: what one position maps to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct GridLookup {
    /// Linear voxel index, −1 outside the grid.
    pub voxel: i32,
    /// Material index (0 outside).
    pub material: u32,
    /// Mass density, g/cm³ (0 outside).
    pub density_g_cm3: f32,
    /// Padding.
    pub _pad0: u32,
}
