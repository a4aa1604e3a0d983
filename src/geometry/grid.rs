//! A regular voxel grid placed in patient space, and a volume of values on it.
//!
//! Conventions: array index `i` runs fastest (x), then `j` (y), then `k` (z), so the linear
//! index is `i + nx·(j + ny·k)`. `origin_mm` is the patient (LPS) position of the *centre* of
//! voxel (0,0,0), as DICOM ImagePositionPatient. `direction` holds the unit vectors of the
//! i, j and k axes in patient space (the columns of the direction matrix).

use serde::{Deserialize, Serialize};

/// A regular grid: size, voxel spacing and placement in patient space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Number of voxels along i, j, k.
    pub dims: [usize; 3],
    /// Voxel size along i, j, k, in mm.
    pub spacing_mm: [f64; 3],
    /// Patient (LPS) position of the centre of voxel (0,0,0), in mm.
    pub origin_mm: [f64; 3],
    /// Unit vectors of the i, j, k axes in patient (LPS) space.
    pub direction: [[f64; 3]; 3],
}

impl Grid {
    /// An axis-aligned grid with identity direction.
    pub fn new(dims: [usize; 3], spacing_mm: [f64; 3], origin_mm: [f64; 3]) -> Self {
        Grid {
            dims,
            spacing_mm,
            origin_mm,
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    /// An axis-aligned grid of cubic voxels centred on the patient origin.
    pub fn centred(dims: [usize; 3], voxel_mm: f64) -> Self {
        let origin = |n: usize| -0.5 * (n as f64 - 1.0) * voxel_mm;
        Grid::new(
            dims,
            [voxel_mm; 3],
            [origin(dims[0]), origin(dims[1]), origin(dims[2])],
        )
    }

    /// Total number of voxels.
    pub fn n_voxels(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Linear index of voxel (i, j, k).
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    /// (i, j, k) of a linear index.
    pub fn ijk(&self, index: usize) -> [usize; 3] {
        let nx = self.dims[0];
        let ny = self.dims[1];
        [index % nx, (index / nx) % ny, index / (nx * ny)]
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_volume_mm3(&self) -> f64 {
        self.spacing_mm[0] * self.spacing_mm[1] * self.spacing_mm[2]
    }

    /// A grid with the same placement, direction and extent, with voxels of about
    /// `voxel_mm` along each axis (the extent divided into a whole number of voxels). The
    /// outer corner of voxel 0 stays where it was.
    pub fn coarsened(&self, voxel_mm: f64) -> Grid {
        let ext = self.extent_mm();
        let dims = [0, 1, 2].map(|a| ((ext[a] / voxel_mm).round() as usize).max(1));
        let spacing_mm = [0, 1, 2].map(|a| ext[a] / dims[a] as f64);
        // The centre of the new voxel 0 is half a new voxel in from the corner.
        let mut origin_mm = self.voxel_to_patient([-0.5; 3]);
        for a in 0..3 {
            for c in 0..3 {
                origin_mm[c] += self.direction[a][c] * 0.5 * spacing_mm[a];
            }
        }
        Grid {
            dims,
            spacing_mm,
            origin_mm,
            direction: self.direction,
        }
    }

    /// Extent of the grid along each axis, in mm (voxel edges to voxel edges).
    pub fn extent_mm(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.dims[a] as f64 * self.spacing_mm[a])
    }

    /// Patient (LPS) position, in mm, of continuous voxel coordinates (voxel centres at integers).
    pub fn voxel_to_patient(&self, ijk: [f64; 3]) -> [f64; 3] {
        let mut p = self.origin_mm;
        for axis in 0..3 {
            let step = ijk[axis] * self.spacing_mm[axis];
            for (c, pc) in p.iter_mut().enumerate() {
                *pc += self.direction[axis][c] * step;
            }
        }
        p
    }

    /// Continuous voxel coordinates (voxel centres at integers) of a patient (LPS) position.
    ///
    /// Exact for orthonormal direction matrices, which DICOM and NIfTI grids have.
    pub fn patient_to_voxel(&self, p_mm: [f64; 3]) -> [f64; 3] {
        let d = [0, 1, 2].map(|c| p_mm[c] - self.origin_mm[c]);
        [0, 1, 2].map(|axis| {
            let dot: f64 = (0..3).map(|c| self.direction[axis][c] * d[c]).sum();
            dot / self.spacing_mm[axis]
        })
    }

    /// The 4×4 voxel-index → patient (LPS, mm) affine, row major.
    pub fn affine_lps(&self) -> [[f64; 4]; 4] {
        let mut m = [[0.0; 4]; 4];
        for r in 0..3 {
            for axis in 0..3 {
                m[r][axis] = self.direction[axis][r] * self.spacing_mm[axis];
            }
            m[r][3] = self.origin_mm[r];
        }
        m[3][3] = 1.0;
        m
    }
}

/// Values on a grid, stored in the grid's linear order.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume<T> {
    /// Where the values live.
    pub grid: Grid,
    /// One value per voxel, `grid.n_voxels()` long.
    pub data: Vec<T>,
}

impl<T: Clone> Volume<T> {
    /// A volume filled with one value.
    pub fn filled(grid: Grid, value: T) -> Self {
        let n = grid.n_voxels();
        Volume {
            grid,
            data: vec![value; n],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_ijk_are_inverse() {
        let g = Grid::new([3, 4, 5], [1.0, 2.0, 3.0], [0.0; 3]);
        for idx in 0..g.n_voxels() {
            let [i, j, k] = g.ijk(idx);
            assert_eq!(g.index(i, j, k), idx);
        }
    }

    #[test]
    fn patient_round_trip_with_rotated_axes() {
        let mut g = Grid::new([8, 8, 8], [1.5, 2.0, 2.5], [10.0, -5.0, 3.0]);
        // i along y, j along -x, k along z: an orthonormal, right-handed rotation.
        g.direction = [[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let v = [1.25, 3.5, 6.0];
        let p = g.voxel_to_patient(v);
        assert_eq!(p, [10.0 - 3.5 * 2.0, -5.0 + 1.25 * 1.5, 3.0 + 6.0 * 2.5]);
        let back = g.patient_to_voxel(p);
        for a in 0..3 {
            assert!((back[a] - v[a]).abs() < 1e-12);
        }
    }
}
