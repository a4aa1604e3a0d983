//! The voxel model on the device (`shaders/shared/grid.wgsl`, bind group 1): material per
//! voxel packed four to a u32, density (g/cm³) split across chunk bindings, and the memory
//! estimate printed before a run.
//!
//! [`voxel_of`] is the CPU twin of the WGSL position lookup: positions in mm in the
//! transport frame (from the outer corner of voxel (0,0,0)), `floor(x / spacing)` per axis in
//! f32, as `transport::cpu::Place::locate`. Vulkan allows 2.5 ULP for f32 division, so on a
//! real GPU a point within an ULP of a face may land in the neighbour (lavapipe divides
//! exactly); multiplying by a precomputed inverse spacing would make it device-independent.

use super::buffers::{self, ChunkPlan, NamedBuffer};
use super::device::GpuContext;
use super::tally;
use super::DeviceError;
use crate::geometry::VoxelModel;
use crate::transport::gpu_types::{GridParams, COUNTERS_BUFFER_BYTES, DENSITY_MAX_CHUNKS};

/// Index along one axis, or −1 outside `[0, n)`; twin of `axis_index` in WGSL.
pub fn axis_index(x_mm: f32, spacing_mm: f32, n: u32) -> i32 {
    let f = (x_mm / spacing_mm).floor();
    if f >= 0.0 && f < n as f32 {
        f as i32
    } else {
        -1
    }
}

/// Linear voxel index of a position in mm, or −1 outside; twin of `voxel_of` in WGSL.
pub fn voxel_of(grid: &GridParams, pos_mm: [f32; 3]) -> i32 {
    let i = axis_index(pos_mm[0], grid.spacing_x_mm, grid.nx);
    let j = axis_index(pos_mm[1], grid.spacing_y_mm, grid.ny);
    let k = axis_index(pos_mm[2], grid.spacing_z_mm, grid.nz);
    if i < 0 || j < 0 || k < 0 {
        return -1;
    }
    i + grid.nx as i32 * (j + grid.ny as i32 * k)
}

/// How the density array of `n_voxels` is split on a device with this binding limit.
pub fn density_plan(n_voxels: u64, binding_limit_bytes: u64) -> Result<ChunkPlan, DeviceError> {
    ChunkPlan::new(
        "density_chunk",
        n_voxels,
        4,
        DENSITY_MAX_CHUNKS,
        binding_limit_bytes,
    )
}

/// The grid's uniform for a model.
pub fn grid_params(model: &VoxelModel, density_chunk_shift: u32) -> GridParams {
    let [nx, ny, nz] = model.grid.dims;
    let sp = |a: usize| model.grid.spacing_mm[a] as f32;
    GridParams {
        nx: nx as u32,
        ny: ny as u32,
        nz: nz as u32,
        n_voxels: model.grid.n_voxels() as u32,
        spacing_x_mm: sp(0),
        spacing_y_mm: sp(1),
        spacing_z_mm: sp(2),
        density_chunk_shift,
    }
}

/// The grid buffers of one run (bind group 1).
#[derive(Debug)]
pub struct DeviceGrid {
    /// The uniform as uploaded.
    pub params: GridParams,
    /// How the densities are split.
    pub density_plan: ChunkPlan,
    uniform: NamedBuffer,
    material: NamedBuffer,
    density: Vec<NamedBuffer>,
}

impl DeviceGrid {
    /// Uploads a model's materials and densities.
    pub fn upload(ctx: &GpuContext, model: &VoxelModel) -> Result<Self, DeviceError> {
        let n = model.grid.n_voxels() as u64;
        let plan = density_plan(n, ctx.binding_limit_bytes())?;
        let params = grid_params(model, plan.shift);
        let density = (0..DENSITY_MAX_CHUNKS)
            .map(|c| {
                let (start, len) = plan.chunk_range(c);
                let values = &model.density_g_cm3[start as usize..(start + len) as usize];
                buffers::storage_init(ctx, &plan.name(c), bytemuck::cast_slice(values))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DeviceGrid {
            uniform: buffers::uniform(ctx, "grid", &params)?,
            material: buffers::storage_init(ctx, "material_packed", &model.material)?,
            density,
            density_plan: plan,
            params,
        })
    }

    /// The buffers of bind group 1, in binding order.
    pub fn buffers(&self) -> Vec<&NamedBuffer> {
        let mut all = vec![&self.uniform, &self.material];
        all.extend(self.density.iter());
        all
    }
}

/// Device memory a run needs, by buffer group, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// (what, bytes), in allocation order.
    pub items: Vec<(String, u64)>,
}

impl MemoryEstimate {
    /// All items together.
    pub fn total_bytes(&self) -> u64 {
        self.items.iter().map(|(_, b)| b).sum()
    }
}

impl std::fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        write!(
            f,
            "GPU memory estimate {:.1} MiB (",
            mib(self.total_bytes())
        )?;
        for (i, (what, bytes)) in self.items.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{what} {:.1} MiB", mib(*bytes))?;
        }
        write!(f, ")")
    }
}

/// The memory a grid of `n_voxels` needs on a device with this binding limit, or
/// [`DeviceError::TooLarge`] if its tally or densities cannot be bound at all.
/// `extra` lists kernel-specific buffers (physics tables, parameters).
pub fn estimate_memory(
    n_voxels: u64,
    binding_limit_bytes: u64,
    extra: &[(&str, u64)],
) -> Result<MemoryEstimate, DeviceError> {
    let tally = tally::plan(n_voxels, binding_limit_bytes)?;
    let density = density_plan(n_voxels, binding_limit_bytes)?;
    let material = n_voxels.next_multiple_of(4);
    buffers::check_binding_bytes("material_packed", material, binding_limit_bytes)?;
    let mut items = vec![
        (
            format!("tally ({} chunks)", tally.n_chunks),
            tally.device_bytes(),
        ),
        (
            format!("density ({} chunks)", density.n_chunks),
            density.device_bytes(),
        ),
        ("materials".to_string(), material),
        ("counters".to_string(), COUNTERS_BUFFER_BYTES),
        (
            "read-back staging".to_string(),
            binding_limit_bytes.min(tally.device_bytes()),
        ),
    ];
    items.extend(extra.iter().map(|(w, b)| (w.to_string(), *b)));
    Ok(MemoryEstimate { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(dims: [u32; 3], spacing_mm: f32) -> GridParams {
        GridParams {
            nx: dims[0],
            ny: dims[1],
            nz: dims[2],
            n_voxels: dims.iter().product(),
            spacing_x_mm: spacing_mm,
            spacing_y_mm: spacing_mm,
            spacing_z_mm: spacing_mm,
            density_chunk_shift: 30,
        }
    }

    #[test]
    fn voxel_of_indexes_i_fastest_and_rejects_outside_points() {
        let g = params([4, 3, 2], 2.0);
        assert_eq!(voxel_of(&g, [0.1, 0.1, 0.1]), 0);
        // i = 3, j = 2, k = 1 in a 4 × 3 grid layer: 3 + 4·(2 + 3·1) = 23.
        assert_eq!(voxel_of(&g, [7.9, 5.9, 3.9]), 23);
        assert_eq!(voxel_of(&g, [2.0, 0.0, 0.0]), 1); // a face belongs to the upper voxel
        assert_eq!(voxel_of(&g, [-0.001, 1.0, 1.0]), -1);
        assert_eq!(voxel_of(&g, [8.0, 1.0, 1.0]), -1);
        assert_eq!(voxel_of(&g, [1.0, 1.0, f32::NAN]), -1);
    }

    #[test]
    fn memory_estimate_of_512x512x400_is_about_1_3_gib() {
        // tally 8 B + density 4 B + material 1 B per voxel = 13 B × 104 857 600 voxels.
        let est = estimate_memory(512 * 512 * 400, 128 << 20, &[]).unwrap();
        let per_voxel = est.total_bytes() as f64 / (512.0 * 512.0 * 400.0);
        assert!(per_voxel > 13.0 && per_voxel < 14.3, "{est}");
    }
}
