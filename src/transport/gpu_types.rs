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
/// Decays per block of `decay_history`'s work queue on a GPU (the default of the
/// `HISTORIES_PER_BLOCK` override in shaders/decay_history.wgsl): an invocation runs a
/// block's decays' particles through one loop, then takes its next block. Small, so that
/// batches of 10⁶ decays still give a GPU 10⁵ invocations.
pub const HISTORIES_PER_BLOCK_GPU: u32 = 8;
/// Decays per block on a software adapter (lavapipe): it runs a few 8-lane vectors at a time,
/// so even a batch of 10⁵ decays (3125 blocks) leaves it ample parallelism, and the bigger
/// block keeps more lanes busy in the photon loop (BENCHMARKS.md, 2026-12-02).
pub const HISTORIES_PER_BLOCK_SOFTWARE: u32 = 32;
/// The largest block `decay_history` is run with (`voxdose bench --decays-per-block`, the
/// tests): the size tested to give the dose of blocks of 1 and 8 bit for bit
/// (tests/gpu_vs_cpu.rs), and the software adapter's own.
pub const MAX_HISTORIES_PER_BLOCK: u32 = HISTORIES_PER_BLOCK_SOFTWARE;
/// Blocks of the work queue one invocation of `decay_history` takes at most (the default of
/// the `BLOCKS_PER_INVOCATION` override in shaders/decay_history.wgsl): enough for lanes
/// that finish early to take the work of slow ones, few enough to stay well inside lavapipe's
/// 65535 loop iterations per invocation (BENCHMARKS.md, 2026-12-02).
pub const BLOCKS_PER_INVOCATION: u32 = 2;
/// Slots of `decay_history`'s per-invocation emission queue (`QUEUE_SLOTS` in
/// shaders/decay_history.wgsl): a round draws decays until it is full, the decay it cuts short
/// drawn on in the next round. Its size trades lavapipe's compile time (in proportion to the
/// slots) against the rounds a block takes (BENCHMARKS.md, 2026-12-02).
pub const EMISSION_QUEUE_SLOTS: u32 = 72;
/// Global 64-bit counters (`N_COUNTERS`).
pub const N_COUNTERS: u32 = 9;
/// The u32 word of the counters buffer after the counters that holds `decay_history`'s
/// work-queue position (`QUEUE_WORD` in `shaders/shared/tally.wgsl`).
pub const QUEUE_WORD: u32 = 2 * N_COUNTERS;
/// Bytes of the counters buffer: the counters (a lo, hi u32 pair each) and the queue word,
/// padded to a pair.
pub const COUNTERS_BUFFER_BYTES: u64 = 8 * N_COUNTERS as u64 + 8;

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
    /// Real photon interactions.
    PhotonInteractions = 4,
    /// Electron condensed-history steps.
    ElectronSteps = 5,
    /// Tracks stopped by a loop bound.
    TruncatedTracks = 6,
    /// Electron path length, 1/65536 mm units.
    ElectronPath = 7,
    /// Energy given to bremsstrahlung photons, fixed-point units.
    Radiated = 8,
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
    /// Voxel size along i, mm.
    pub spacing_x_mm: f32,
    /// Voxel size along j, mm.
    pub spacing_y_mm: f32,
    /// Voxel size along k, mm.
    pub spacing_z_mm: f32,
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

/// Twin of `CompactParams` in `shaders/tally_compact.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct CompactParams {
    /// Entries the compacted list holds.
    pub capacity: u32,
    /// Invocations in the dispatch (the kernel's grid stride over the chunk).
    pub stride: u32,
    /// The chunk's first voxel in the grid.
    pub first_voxel: u32,
    /// Voxels in the chunk.
    pub n_voxels: u32,
}

/// u32 words before the first entry of `tally_compact`'s list (word 0: the count of voxels
/// that scored; `COMPACT_HEADER_WORDS` in shaders/tally_compact.wgsl).
pub const COMPACT_HEADER_WORDS: u32 = 4;
/// u32 words per entry of `tally_compact`'s list: voxel, lo, hi (`COMPACT_ENTRY_WORDS`).
pub const COMPACT_ENTRY_WORDS: u32 = 3;

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

/// Twin of `PhysicsParams` in `shaders/shared/tables.wgsl` (bind group 3, binding 0): the
/// scalars of a `decay_history` dispatch and the offsets of each table in `ftab` / `utab`.
/// Built by `transport::gpu::physics`; fields mirror `KernelParams`, `LogGrid` and
/// `DecayTables` (energies in fixed-point units, ln grids as ln_min / inv_step / n).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct PhysicsParams {
    /// Low half of the run seed.
    pub seed_lo: u32,
    /// High half of the run seed.
    pub seed_hi: u32,
    /// Low half of the first history (RNG stream) of this dispatch.
    pub first_history_lo: u32,
    /// High half of the first history.
    pub first_history_hi: u32,
    /// Histories in this dispatch.
    pub n_histories: u32,
    /// `electron_cutoff_units` (see the WGSL struct).
    pub electron_cutoff_units: u32,
    /// `photon_cutoff_units` (see the WGSL struct).
    pub photon_cutoff_units: u32,
    /// `n_materials` (see the WGSL struct).
    pub n_materials: u32,
    /// `energy_ln_min` (see the WGSL struct).
    pub energy_ln_min: f32,
    /// `energy_inv_step` (see the WGSL struct).
    pub energy_inv_step: f32,
    /// `energy_n` (see the WGSL struct).
    pub energy_n: u32,
    /// `x_ln_min` (see the WGSL struct).
    pub x_ln_min: f32,
    /// `x_inv_step` (see the WGSL struct).
    pub x_inv_step: f32,
    /// `x_n` (see the WGSL struct).
    pub x_n: u32,
    /// `tau_ln_min` (see the WGSL struct).
    pub tau_ln_min: f32,
    /// `tau_inv_step` (see the WGSL struct).
    pub tau_inv_step: f32,
    /// `tau_n` (see the WGSL struct).
    pub tau_n: u32,
    /// `beta_count_floor` (see the WGSL struct).
    pub beta_count_floor: u32,
    /// `beta_count_frac` (see the WGSL struct).
    pub beta_count_frac: f32,
    /// `line_mean_count` (see the WGSL struct).
    pub line_mean_count: f32,
    /// `local_units` (see the WGSL struct).
    pub local_units: u32,
    /// `n_beta` (see the WGSL struct).
    pub n_beta: u32,
    /// `n_lines` (see the WGSL struct).
    pub n_lines: u32,
    /// `n_source` (see the WGSL struct).
    pub n_source: u32,
    /// `n_shapes` (see the WGSL struct).
    pub n_shapes: u32,
    /// Offset of the `s_incoh` table (in `ftab`, or `utab` for integer tables).
    pub off_s_incoh: u32,
    /// Offset of the `ff_cum` table (in `ftab`, or `utab` for integer tables).
    pub off_ff_cum: u32,
    /// Offset of the `majorant` table (in `ftab`, or `utab` for integer tables).
    pub off_majorant: u32,
    /// Offset of the `beta` table (in `ftab`, or `utab` for integer tables).
    pub off_beta: u32,
    /// Offset of the `line_prob` table (in `ftab`, or `utab` for integer tables).
    pub off_line_prob: u32,
    /// Offset of the `shapes` table (in `ftab`, or `utab` for integer tables).
    pub off_shapes: u32,
    /// Offset of the `x_values` table (in `ftab`, or `utab` for integer tables).
    pub off_x_values: u32,
    /// Offset of the `line_alias` table (in `ftab`, or `utab` for integer tables).
    pub off_line_alias: u32,
    /// Offset of the `line_units` table (in `ftab`, or `utab` for integer tables).
    pub off_line_units: u32,
    /// Offset of the `line_particle` table (in `ftab`, or `utab` for integer tables).
    pub off_line_particle: u32,
    /// Pair tables in `ptab` (each entry: value at point i, value at i + 1 minus it), offsets
    /// in pairs: μ_photo, μ_incoh, μ_coh, μ_total per material (N_ENERGY each).
    pub pair_mu_photo: u32,
    /// See `pair_mu_photo`.
    pub pair_mu_incoh: u32,
    /// See `pair_mu_photo`.
    pub pair_mu_coh: u32,
    /// Total μ per material (N_ENERGY each), as pairs: the Woodcock flight's one lookup.
    pub pair_mu_total: u32,
    /// CSDA range × ρ per material (N_ENERGY each), as pairs.
    pub pair_range: u32,
    /// λ₁ × ρ per material (N_ENERGY each), as pairs.
    pub pair_lambda1: u32,
    /// Energy at residual range per material (N_RANGE each), as pairs.
    pub pair_inv_range_e: u32,
    /// Screening parameter on the τ grid, as pairs.
    pub pair_screening: u32,
    /// Per material two entries: (ln_min, inv_step) and (n, range cutoff) of its
    /// inverse-range grid.
    pub pair_material: u32,
    /// Hard bremsstrahlung photons per path Σ_h/ρ per material (N_ENERGY each), as pairs.
    pub pair_brems_xs: u32,
    /// χ(T, κ)/max χ per material (N_BREMS_T × N_BREMS_K each) in `ftab`.
    pub off_brems_shape: u32,
    /// ln of the first point of the bremsstrahlung ln T grid (N_BREMS_T points).
    pub brems_t_ln_min: f32,
    /// 1 / ln step of that grid.
    pub brems_t_inv_step: f32,
}
