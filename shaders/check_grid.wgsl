// check_grid.wgsl — test kernel `check_grid`: position → voxel, material and density
// lookups through the chunked grid bindings (shared/grid.wgsl).
//
// Bindings row: `CHECK_GRID` in src/transport/gpu/pipelines.rs. CPU twin:
// `transport::gpu::grid::voxel_of` and direct indexing of the model, compared bit for bit by
// tests/gpu_grid.rs through `transport::gpu::checks::grid_lookups`.

// Keep in sync with `GridCheckParams` in src/transport/gpu_types.rs.
struct GridCheckParams {
    n_points: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Keep in sync with `GridLookup` in src/transport/gpu_types.rs.
struct GridLookup {
    // Linear voxel index, −1 outside the grid.
    voxel: i32,
    // Material index (0 outside).
    material: u32,
    // g/cm³ (0 outside).
    density_g_cm3: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> grid_check: GridCheckParams;
// Positions in mm (x, y, z, unused w).
@group(0) @binding(1) var<storage, read> points_mm: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> lookups: array<GridLookup>;

@compute @workgroup_size(64)
fn check_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    let p = gid.x;
    if (p < grid_check.n_points) {
        let v = voxel_of(points_mm[p].xyz);
        var out = GridLookup(v, 0u, 0.0, 0u);
        if (v >= 0) {
            out.material = voxel_material(u32(v));
            out.density_g_cm3 = voxel_density(u32(v));
        }
        lookups[p] = out;
    }
}
