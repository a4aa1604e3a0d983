//! Voxel geometry: the grid every volume lives on, the voxel model the transport runs in, and
//! CT number → density and material.
//!
//! Patient coordinates are DICOM LPS in mm throughout the library; NIfTI's RAS is converted at
//! the file boundary (`io::nifti`).

pub mod grid;
pub mod hu;
pub mod model;

pub use grid::{Grid, Volume};
pub use model::{Region, VoxelModel};
