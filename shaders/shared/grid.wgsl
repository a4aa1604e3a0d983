// shared/grid.wgsl — the voxel model on the device (bind group 1): dims, spacing, material
// and density per voxel, and the position → voxel lookup.
//
// Host side: `GridParams` and `DENSITY_MAX_CHUNKS` in src/transport/gpu_types.rs, buffers in
// src/transport/gpu/grid.rs. CPU twin of the lookup: `crate::transport::gpu::grid::voxel_of`
// (tested bit for bit in tests/gpu_grid.rs).
//
// Positions are in mm in the transport frame: from the outer corner of voxel (0,0,0), axes
// along i, j, k (src/geometry/model.rs); linear index i + nx·(j + ny·k).
// Materials are u8, packed four per u32 (voxel v in byte v & 3 of word v >> 2). Densities
// (g/cm³, f32) span up to DENSITY_MAX_CHUNKS bindings like the tally (shared/tally.wgsl):
// voxel v in chunk v >> density_chunk_shift.

// Keep in sync with `GridParams` in src/transport/gpu_types.rs.
struct GridParams {
    nx: u32,
    ny: u32,
    nz: u32,
    n_voxels: u32,
    // Voxel size along i, j, k, mm.
    spacing_x_mm: f32,
    spacing_y_mm: f32,
    spacing_z_mm: f32,
    // log2 of the voxels per density chunk binding.
    density_chunk_shift: u32,
}

// Density chunk bindings (density_chunk0 … density_chunk3). Also in gpu_types.rs.
const DENSITY_MAX_CHUNKS: u32 = 4u;

@group(1) @binding(0) var<uniform> grid: GridParams;
@group(1) @binding(1) var<storage, read> material_packed: array<u32>;
@group(1) @binding(2) var<storage, read> density_chunk0: array<f32>;
@group(1) @binding(3) var<storage, read> density_chunk1: array<f32>;
@group(1) @binding(4) var<storage, read> density_chunk2: array<f32>;
@group(1) @binding(5) var<storage, read> density_chunk3: array<f32>;

// Material index of voxel v (v < n_voxels).
fn voxel_material(v: u32) -> u32 {
    return (material_packed[v >> 2u] >> (8u * (v & 3u))) & 0xFFu;
}

// Density chunk bindings this pipeline uses, set by the host at pipeline creation (see
// `TALLY_CHUNKS` in tally.wgsl: one chunk folds the switch away).
override DENSITY_CHUNKS: u32 = DENSITY_MAX_CHUNKS;

// Mass density of voxel v in g/cm³ (v < n_voxels).
fn voxel_density(v: u32) -> f32 {
    if (DENSITY_CHUNKS == 1u) {
        return density_chunk0[v];
    }
    let chunk = v >> grid.density_chunk_shift;
    let i = v & ((1u << grid.density_chunk_shift) - 1u);
    switch chunk {
        case 0u: { return density_chunk0[i]; }
        case 1u: { return density_chunk1[i]; }
        case 2u: { return density_chunk2[i]; }
        case 3u: { return density_chunk3[i]; }
        default: { return 0.0; }
    }
}

// Index along one axis of coordinate x_mm: floor(x / spacing), or −1 outside [0, n), as
// `Place::locate` in src/transport/cpu/mod.rs. (Vulkan allows 2.5 ULP for f32 division, so a
// real GPU may disagree with the CPU for points within an ULP of a face; lavapipe does not.)
fn axis_index(x_mm: f32, spacing_mm: f32, n: u32) -> i32 {
    let f = floor(x_mm / spacing_mm);
    if (f >= 0.0 && f < f32(n)) {
        return i32(f);
    }
    return -1;
}

// Linear voxel index of a position in mm, or −1 when it lies outside the grid.
fn voxel_of(pos_mm: vec3<f32>) -> i32 {
    let i = axis_index(pos_mm.x, grid.spacing_x_mm, grid.nx);
    let j = axis_index(pos_mm.y, grid.spacing_y_mm, grid.ny);
    let k = axis_index(pos_mm.z, grid.spacing_z_mm, grid.nz);
    if (i < 0 || j < 0 || k < 0) {
        return -1;
    }
    return i + i32(grid.nx) * (j + i32(grid.ny) * k);
}

// A particle's place: position (mm) and voxel indices; `inside` false when off the grid.
// CPU twin: `Place` in src/transport/cpu/mod.rs.
struct Place {
    pos: vec3<f32>,
    ijk: vec3<i32>,
    inside: bool,
}

// `Place::locate`.
fn place_locate(pos: vec3<f32>) -> Place {
    let i = axis_index(pos.x, grid.spacing_x_mm, grid.nx);
    let j = axis_index(pos.y, grid.spacing_y_mm, grid.ny);
    let k = axis_index(pos.z, grid.spacing_z_mm, grid.nz);
    return Place(pos, vec3<i32>(i, j, k), i >= 0 && j >= 0 && k >= 0);
}

// `Place::voxel`.
fn place_voxel(p: Place) -> u32 {
    return u32(p.ijk.x) + grid.nx * (u32(p.ijk.y) + grid.ny * u32(p.ijk.z));
}

// Voxel size along i, j, k (mm) as one vector.
fn grid_spacing() -> vec3<f32> {
    return vec3<f32>(grid.spacing_x_mm, grid.spacing_y_mm, grid.spacing_z_mm);
}

// Grid size along i, j, k as one vector.
fn grid_dims() -> vec3<i32> {
    return vec3<i32>(i32(grid.nx), i32(grid.ny), i32(grid.nz));
}
