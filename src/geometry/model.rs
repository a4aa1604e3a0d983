//! The voxel model the transport runs in: a grid with a material and a mass density per voxel,
//! and named regions for the summaries.
//!
//! Transport works in a local frame: positions in mm from the outer corner of voxel (0,0,0),
//! axes along i, j, k. The grid's patient placement matters only for input and output.

use crate::geometry::Grid;
use serde::Serialize;

/// A voxel model ready for transport.
#[derive(Clone, Debug)]
pub struct VoxelModel {
    /// The grid (dims, spacing, patient placement).
    pub grid: Grid,
    /// Material index per voxel, into [`VoxelModel::materials`].
    pub material: Vec<u8>,
    /// Mass density per voxel, in g/cm³.
    pub density_g_cm3: Vec<f32>,
    /// Material names (keys of `data/materials/materials.json`), by index.
    pub materials: Vec<String>,
    /// Named regions (organs, lesions, phantom parts) for mass and mean-dose summaries.
    pub regions: Vec<Region>,
}

/// A named set of voxels.
#[derive(Clone, Debug, Serialize)]
pub struct Region {
    /// Region name, e.g. "kidney_left" or "sphere".
    pub name: String,
    /// Linear voxel indices in the model's grid.
    #[serde(skip)]
    pub voxels: Vec<u32>,
}

impl VoxelModel {
    /// A homogeneous model of one material at one density.
    pub fn homogeneous(grid: Grid, material: &str, density_g_cm3: f32) -> Self {
        let n = grid.n_voxels();
        VoxelModel {
            grid,
            material: vec![0; n],
            density_g_cm3: vec![density_g_cm3; n],
            materials: vec![material.to_string()],
            regions: Vec::new(),
        }
    }

    /// Mass of one voxel in kg.
    pub fn voxel_mass_kg(&self, index: usize) -> f64 {
        // g/cm³ × mm³ × 1e-3 cm³/mm³ × 1e-3 kg/g
        self.density_g_cm3[index] as f64 * self.grid.voxel_volume_mm3() * 1e-6
    }
}
