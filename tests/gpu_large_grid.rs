//! A 512×512×400 grid runs on the device: its densities span four bindings and its tally
//! seven (128 MiB each on lavapipe), and values at every chunk boundary come back exact; a
//! source of more than 2^25 active voxels (past what one u32 storage binding indexes) emits
//! from all of them. About 1.4 GB and 1.5 GB of device memory (host memory on lavapipe).

mod gpu_common;

use voxdose::geometry::{Grid, VoxelModel};
use voxdose::transport::gpu::checks::{grid_lookups, tally_deposits};
use voxdose::transport::gpu::grid::{density_plan, estimate_memory, grid_params, voxel_of};
use voxdose::transport::gpu::tally::{self, energy_units};
use voxdose::transport::gpu_types::{Counter, Deposit};

const DIMS: [usize; 3] = [512, 512, 400];
const N: u64 = 512 * 512 * 400;

/// Voxels on both sides of every chunk boundary for chunks of 2^shift voxels, and the last.
fn boundary_voxels(shift: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (1..=(N >> shift) as u32)
        .flat_map(|c| [(c << shift) - 1, c << shift])
        .filter(|&v| u64::from(v) < N)
        .collect();
    v.extend([0, N as u32 - 1]);
    v
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_512x512x400_tally_spans_seven_bindings_and_is_exact() {
    let ctx = gpu_common::gpu();
    let limit = ctx.binding_limit_bytes();
    eprintln!("{}", estimate_memory(N, limit, &[]).unwrap());
    let plan = tally::plan(N, limit).unwrap();
    let voxels = boundary_voxels(plan.shift);
    let deposits: Vec<Deposit> = voxels
        .iter()
        .enumerate()
        .map(|(i, &voxel)| Deposit {
            voxel,
            energy_kev: 1.0 + i as f32,
        })
        .collect();
    let (gpu, counters) = tally_deposits(&ctx, N, &deposits).unwrap();
    assert_eq!(gpu.len() as u64, N);
    let mut expected_total = 0;
    for d in &deposits {
        let units = u64::from(energy_units(d.energy_kev));
        assert_eq!(gpu[d.voxel as usize], units, "voxel {}", d.voxel);
        expected_total += units;
    }
    assert_eq!(
        gpu.iter().sum::<u64>(),
        expected_total,
        "energy outside the deposited voxels"
    );
    assert_eq!(counters[Counter::Deposited as usize], expected_total);
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_512x512x400_grid_reads_densities_across_four_bindings() {
    let ctx = gpu_common::gpu();
    let grid = Grid::new(DIMS, [1.0, 1.0, 2.0], [0.0; 3]);
    let mut model = VoxelModel::homogeneous(grid, "water", 1.0);
    for (v, d) in model.density_g_cm3.iter_mut().enumerate() {
        *d = 0.5 + (v % 1021) as f32 * 1e-3;
    }
    for (v, m) in model.material.iter_mut().enumerate() {
        *m = (v % 7) as u8;
    }
    let plan = density_plan(N, ctx.binding_limit_bytes()).unwrap();
    let params = grid_params(&model, plan.shift);
    let points: Vec<[f32; 3]> = boundary_voxels(plan.shift)
        .iter()
        .map(|&v| {
            let [i, j, k] = model.grid.ijk(v as usize);
            [i as f32 + 0.5, j as f32 + 0.5, 2.0 * k as f32 + 1.0]
        })
        .collect();
    let found = grid_lookups(&ctx, &model, &points).unwrap();
    for (p, got) in points.iter().zip(&found) {
        let v = voxel_of(&params, *p);
        assert!(v >= 0, "{p:?} inside");
        assert_eq!(got.voxel, v);
        assert_eq!(
            got.density_g_cm3, model.density_g_cm3[v as usize],
            "density at {p:?}"
        );
        assert_eq!(got.material, u32::from(model.material[v as usize]));
    }
}

/// More active voxels than one 128 MiB storage binding of u32 could index (2^25): the source
/// alias table lives in a texture (`src_table`), so every one of them can emit. Uniform
/// activity in all of a 512×512×130 water grid (34 078 720 voxels); photons are deposited
/// where they are emitted (photon cutoff above 177Lu's highest line), so the energy left in
/// slices 128–129, the voxels at and beyond index 2^25, is their share of the decays.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_source_of_more_than_2_pow_25_voxels_emits_from_all_of_them() {
    use voxdose::source::SourceSpec;
    use voxdose::transport::gpu::run::simulate_on;
    use voxdose::transport::{StopRule, TransportSettings};

    let ctx = gpu_common::gpu();
    let dims = [512usize, 512, 130];
    let n = dims.iter().product::<usize>();
    assert!(n > 1 << 25);
    let grid = Grid::new(dims, [1.0, 1.0, 1.0], [0.0; 3]);
    let model = VoxelModel::homogeneous(grid, "water", 1.0);
    let source = SourceSpec::Voxels {
        weights: vec![1.0; n],
    };
    let decays = 40_000u64;
    let settings = TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("Lu-177").unwrap(),
        stop: StopRule::Decays(decays),
        seed: 7,
        batches: 2,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 1000.0,
        emissions: Default::default(),
        decays_per_block: None,
    };
    let r = simulate_on(
        &ctx,
        &model,
        &source,
        &settings,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let e = r.energy;
    assert_eq!(e.deposited_units + e.escaped_units, e.emitted_units);
    let slice = dims[0] * dims[1];
    let high = 128 * slice;
    assert_eq!(high, 1 << 25);
    let total: f64 = r.dose_gy_per_decay.iter().sum();
    let above: f64 = r.dose_gy_per_decay[high..].iter().sum();
    let fraction = above / total;
    let expected = 2.0 / 130.0;
    // Decays there: Poisson, n ≈ 615; the energy per decay has a coefficient of variation
    // below 1 (β spectrum plus lines), so σ_rel < √2 / √n. Electrons escaping through the top
    // face take at most a few % of the last slice's energy (range ≪ 1 mm): allowed as bias.
    let n_high = decays as f64 * expected;
    let sigma_rel = 2f64.sqrt() / n_high.sqrt();
    let tolerance = 5.0 * sigma_rel + 0.05;
    assert!(
        (fraction / expected - 1.0).abs() < tolerance,
        "slices ≥ 128 hold {fraction:.5} of the energy, expected {expected:.5} ± {:.1} %",
        100.0 * tolerance
    );
}
