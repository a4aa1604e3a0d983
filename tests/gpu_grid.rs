//! The device grid (`shaders/shared/grid.wgsl`): position → voxel, material and density on
//! the GPU equal the CPU twin (`transport::gpu::grid::voxel_of`) and the model's arrays bit
//! for bit, with the densities split across chunk bindings.

mod gpu_common;

use voxdose::geometry::{Grid, VoxelModel};
use voxdose::physics::rng::Pcg32;
use voxdose::transport::gpu::checks::grid_lookups;
use voxdose::transport::gpu::grid::{density_plan, grid_params, voxel_of};

/// A 7×5×3 model of 1.5 × 2 × 2.5 mm voxels with random materials and densities.
fn random_model() -> VoxelModel {
    let grid = Grid::new([7, 5, 3], [1.5, 2.0, 2.5], [0.0; 3]);
    let mut model = VoxelModel::homogeneous(grid, "water", 1.0);
    let mut rng = Pcg32::new(9, 1);
    for v in 0..model.grid.n_voxels() {
        model.material[v] = (rng.next_u32() % 4) as u8;
        model.density_g_cm3[v] = 0.2 + 2.0 * rng.uniform();
    }
    model
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_grid_lookup_matches_cpu_twin_with_densities_over_two_chunks() {
    // 256-byte bindings hold 64 densities: the 105 voxels span two chunk bindings.
    let ctx = gpu_common::gpu().with_binding_limit(256);
    let model = random_model();
    assert_eq!(density_plan(105, 256).unwrap().n_chunks, 2);
    let mut rng = Pcg32::new(10, 2);
    // Points in a box 1 mm larger than the grid on every side, so some fall outside.
    let ext = model.grid.extent_mm();
    let mut points: Vec<[f32; 3]> = (0..5000)
        .map(|_| [0, 1, 2].map(|a| (rng.uniform() * (ext[a] + 2.0) as f32) - 1.0))
        .collect();
    // Faces and corners, where f32 rounding decides the voxel.
    points.extend([
        [1.5, 2.0, 2.5],
        [10.5, 10.0, 7.5],
        [0.0, 0.0, 0.0],
        [10.499999, 9.999999, 7.4999995],
    ]);
    let found = grid_lookups(&ctx, &model, &points).unwrap();
    let params = grid_params(&model, 0);
    let mut inside = 0;
    for (p, got) in points.iter().zip(&found) {
        let v = voxel_of(&params, *p);
        assert_eq!(got.voxel, v, "voxel of {p:?}");
        if v >= 0 {
            inside += 1;
            let v = v as usize;
            assert_eq!(
                got.material,
                u32::from(model.material[v]),
                "material at {p:?}"
            );
            assert_eq!(
                got.density_g_cm3.to_bits(),
                model.density_g_cm3[v].to_bits()
            );
        }
    }
    // Binomial check that the sampled box really straddles the grid: the inside fraction is
    // the volume ratio; 5σ bounds it (two-sided false alarm 6e-7).
    let p: f64 = (0..3).map(|a| ext[a] / (ext[a] + 2.0)).product();
    let expected = 5000.0 * p;
    let sigma = (5000.0 * p * (1.0 - p)).sqrt();
    let random_inside = inside as f64 - 3.0; // three of the four fixed points are inside
    assert!(
        (random_inside - expected).abs() < 5.0 * sigma,
        "{inside} points inside, expected {expected:.0} ± {sigma:.0}"
    );
}
