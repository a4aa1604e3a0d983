//! Voxel geometry: the grid every volume lives on, rigid transforms between images, moving
//! volumes between grids, the voxel model the transport runs in, and CT number → density and
//! material.
//!
//! Patient coordinates are DICOM LPS in mm throughout the library; NIfTI's RAS is converted at
//! the file boundary (`io::nifti`). Vector and matrix maths uses `glam`'s f64 types.

pub mod grid;
pub mod hu;
pub mod model;
pub mod resample;
pub mod rigid;

pub use grid::{Grid, Volume};
pub use model::{Region, VoxelModel};
pub use rigid::RigidTransform;
