// shared/tables.wgsl — the physics, emission and source tables on the device (bind group 3)
// and their lookups: a uniform ln grid turns every lookup into a truncation and one linear
// interpolation.
//
// Host side: `PhysicsParams` in src/transport/gpu_types.rs, packing in
// src/transport/gpu/physics.rs. CPU twins: `LogGrid::locate` and `lerp` in
// src/physics/tables.rs. The interpolated cross-section and range tables are (value, step)
// pairs in the `ptab` texture (offsets `pair_*`); the other float tables are concatenated in
// `ftab` and the integer tables in `utab` (offsets `off_*`), because lavapipe allows 32
// storage buffers per stage and the grid and tally already take 14. Units as in
// src/physics/tables.rs (mm⁻¹ per g/cm³, mm·g/cm³, keV).

// Keep in sync with `PhysicsParams` in src/transport/gpu_types.rs.
struct PhysicsParams {
    seed_lo: u32,
    seed_hi: u32,
    first_history_lo: u32,
    first_history_hi: u32,
    n_histories: u32,
    electron_cutoff_units: u32,
    photon_cutoff_units: u32,
    n_materials: u32,
    energy_ln_min: f32,
    energy_inv_step: f32,
    energy_n: u32,
    x_ln_min: f32,
    x_inv_step: f32,
    x_n: u32,
    tau_ln_min: f32,
    tau_inv_step: f32,
    tau_n: u32,
    beta_count_floor: u32,
    beta_count_frac: f32,
    line_mean_count: f32,
    local_units: u32,
    // Points of the β inverse CDF (0: no β).
    n_beta: u32,
    n_lines: u32,
    // Columns of the source alias table.
    n_source: u32,
    // Shapes (0: a voxel source).
    n_shapes: u32,
    off_s_incoh: u32,
    off_ff_cum: u32,
    off_majorant: u32,
    off_beta: u32,
    off_line_prob: u32,
    // Per shape: kind, then 7 parameters (mm).
    off_shapes: u32,
    // The x grid's points as the CPU computes them (f64 → f32).
    off_x_values: u32,
    off_line_alias: u32,
    off_line_units: u32,
    off_line_particle: u32,
    pair_mu_photo: u32,
    pair_mu_incoh: u32,
    pair_mu_coh: u32,
    pair_mu_total: u32,
    pair_range: u32,
    pair_lambda1: u32,
    pair_inv_range_e: u32,
    pair_screening: u32,
    pair_material: u32,
    pair_brems_xs: u32,
    off_brems_shape: u32,
    brems_t_ln_min: f32,
    brems_t_inv_step: f32,
}

@group(3) @binding(0) var<uniform> physics: PhysicsParams;
@group(3) @binding(1) var<storage, read> ftab: array<f32>;
@group(3) @binding(2) var<storage, read> utab: array<u32>;
// The source alias table, one Rgba32Uint texel per column i (column i at (i mod width,
// i / width)): (keep probability as f32 bits, target of i, target of alias[i], 0), where a
// target is a voxel index (voxel source) or a shape index (`source_texels` in
// src/transport/gpu/physics.rs). A texture, not storage buffers: one fetch per decay, and
// rows up to the adapter's 2-D limit (16384 on lavapipe: 1.3e8 active voxels) instead of the
// 128 MiB storage binding (3.4e7 voxels for a u32 array).
const SOURCE_TEXTURE_WIDTH_LOG2: u32 = 13u;
@group(3) @binding(3) var src_table: texture_2d<u32>;
// The interpolated tables again as (value, next value − value) pairs, offsets `pair_*`, in an
// Rg32Float texture of PAIR_TEXTURE_WIDTH columns (pair p at column p mod width, row
// p / width; `pair_texture` in src/transport/gpu/buffers.rs): one texel fetch per
// interpolation. Mesa's lavapipe reads a storage buffer one lane at a time through memory,
// but fetches texels for all lanes with vector gathers; a GPU reads tables through its
// texture cache. The step is the host's f32 subtraction, the operation `lerp` does, so the
// results are unchanged bit for bit.
const PAIR_TEXTURE_WIDTH_LOG2: u32 = 10u;
@group(3) @binding(4) var ptab: texture_2d<f32>;

// Pair p of `ptab`.
fn pair(p: u32) -> vec2<f32> {
    let width = 1u << PAIR_TEXTURE_WIDTH_LOG2;
    return textureLoad(ptab, vec2<u32>(p & (width - 1u), p >> PAIR_TEXTURE_WIDTH_LOG2), 0).xy;
}

// Interval index and fraction on a uniform ln grid, clamped to the table.
struct Loc {
    i: u32,
    f: f32,
}

// `LogGrid::locate`.
fn log_locate(v: f32, ln_min: f32, inv_step: f32, n: u32) -> Loc {
    let t = clamp((log(v) - ln_min) * inv_step, 0.0, f32(n) - 1.0001);
    let i = u32(t);
    return Loc(i, t - f32(i));
}

fn energy_locate(e_kev: f32) -> Loc {
    return log_locate(e_kev, physics.energy_ln_min, physics.energy_inv_step, physics.energy_n);
}

// `lerp(table, base, i, f)` on a pair table.
fn lerp_p(base: u32, i: u32, f: f32) -> f32 {
    let p = pair(base + i);
    return p.x + f * p.y;
}

// `lerp(ftab, base, i, f)`.
fn lerp_f(base: u32, i: u32, f: f32) -> f32 {
    let a = ftab[base + i];
    let b = ftab[base + i + 1u];
    return a + f * (b - a);
}
