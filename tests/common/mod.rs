//! Shared helpers for the integration tests: kernel contexts on small models, and the built
//! binary for CLI tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use voxdose::geometry::{Grid, VoxelModel};
use voxdose::physics::decay::EmissionFilter;
use voxdose::source::{Shape, SourceSpec};
use voxdose::transport::driver::{prepare, Prepared};
use voxdose::transport::{StopRule, TransportSettings};

/// Settings for a CPU run of `decays` 177Lu decays.
pub fn settings(decays: u64, seed: u64) -> TransportSettings {
    TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("Lu-177").unwrap(),
        stop: StopRule::Decays(decays),
        seed,
        batches: 20,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: EmissionFilter::All,
        decays_per_block: None,
    }
}

/// A homogeneous cube of `n`³ voxels of `voxel_mm` and the tables to run kernels in it.
pub fn homogeneous(
    material: &str,
    density: f32,
    dims: [usize; 3],
    voxel_mm: f64,
) -> (VoxelModel, Prepared) {
    let model = VoxelModel::homogeneous(Grid::centred(dims, voxel_mm), material, density);
    let src = SourceSpec::Shapes(vec![(
        Shape::Box {
            min_mm: [0.0; 3],
            max_mm: [voxel_mm; 3],
        },
        1.0,
    )]);
    let prep = prepare(&model, &src, &settings(1000, 1)).expect("valid test model");
    (model, prep)
}

/// Path of the built `voxdose` binary.
pub fn voxdose_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_voxdose"))
}
