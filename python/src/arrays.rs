//! Volumes between voxdose and Python: a flat numpy array in the grid's linear order (i
//! fastest), the dims (nx, ny, nz) and the NIfTI affine (voxel index → RAS mm, 4×4, as
//! nibabel gives it).

use glam::{DAffine3, DMat3, DVec3};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::Path;
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::{affine_ras_from_grid, grid_from_affine_ras};

/// The 4×4 RAS affine of `grid`, rows first.
pub fn affine_rows(grid: &Grid) -> [[f64; 4]; 4] {
    let a = affine_ras_from_grid(grid);
    let (m, t) = (a.matrix3, a.translation);
    [
        [m.x_axis.x, m.y_axis.x, m.z_axis.x, t.x],
        [m.x_axis.y, m.y_axis.y, m.z_axis.y, t.y],
        [m.x_axis.z, m.y_axis.z, m.z_axis.z, t.z],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// The grid of `dims` and a 4×4 RAS affine (rows first); a sheared or degenerate affine is
/// an input error (exit 9), as for a NIfTI file.
pub fn grid_of(dims: [usize; 3], affine: [[f64; 4]; 4]) -> voxdose::Result<Grid> {
    let col = |j: usize| DVec3::new(affine[0][j], affine[1][j], affine[2][j]);
    let ras = DAffine3::from_mat3_translation(DMat3::from_cols(col(0), col(1), col(2)), col(3));
    grid_from_affine_ras(dims, &ras).map_err(|reason| {
        voxdose::Error::from(voxdose::io::InputError::Inconsistent {
            path: "<numpy array>".into(),
            reason: format!("affine {reason}"),
        })
    })
}

/// A dict with the volume's flat data (`data`), `dims` and `affine`.
pub fn volume_dict<'py, T: numpy::Element>(
    py: Python<'py>,
    grid: &Grid,
    data: Vec<T>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("data", PyArray1::from_vec(py, data))?;
    d.set_item("dims", grid.dims.to_vec())?;
    d.set_item("affine", affine_rows(grid).map(|r| r.to_vec()).to_vec())?;
    Ok(d)
}

/// Writes flat f32 data on (dims, affine) as NIfTI-1 `path` (gzip for `.gz`).
pub fn write_f32(
    path: &Path,
    data: &PyReadonlyArray1<'_, f32>,
    dims: [usize; 3],
    affine: [[f64; 4]; 4],
    description: &str,
) -> voxdose::Result<()> {
    let vol = Volume {
        grid: grid_of(dims, affine)?,
        data: flat(data, dims)?,
    };
    voxdose::io::nifti::write_volume_f32(path, &vol, description)
}

/// Writes flat u16 labels on (dims, affine) as NIfTI-1 `path`.
pub fn write_u16(
    path: &Path,
    data: &PyReadonlyArray1<'_, u16>,
    dims: [usize; 3],
    affine: [[f64; 4]; 4],
    description: &str,
) -> voxdose::Result<()> {
    let vol = Volume {
        grid: grid_of(dims, affine)?,
        data: flat(data, dims)?,
    };
    voxdose::io::nifti::write_labels_u16(path, &vol, description)
}

fn flat<T: numpy::Element + Copy>(
    data: &PyReadonlyArray1<'_, T>,
    dims: [usize; 3],
) -> voxdose::Result<Vec<T>> {
    let values: Vec<T> = data.as_array().iter().copied().collect();
    let n = dims.iter().product::<usize>();
    if values.len() != n {
        return Err(voxdose::Error::Internal(format!(
            "array of {} values for a grid of {dims:?} ({n} voxels)",
            values.len()
        )));
    }
    Ok(values)
}
