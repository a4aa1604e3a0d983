//! A regular voxel grid placed in patient space, and a volume of values on it.
//!
//! Conventions: array index `i` runs fastest (x), then `j` (y), then `k` (z), so the linear
//! index is `i + nx·(j + ny·k)`. `origin_mm` is the patient (LPS) position of the *centre* of
//! voxel (0,0,0), as DICOM ImagePositionPatient. `direction` holds the unit vectors of the
//! i, j and k axes in patient space (the columns of the direction matrix).
//!
//! The fields stay plain arrays (they are serialised and read in many places); the maths on
//! them is `glam`'s f64 types. Where a sum has more than one natural order, the order used is
//! the one the stored dose hashes (`scripts/dose-hashes.py`) were made with, and says so.

use glam::{DAffine3, DMat3, DVec3};
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
        // The centre of the new voxel 0 is half a new voxel in from the corner, added axis
        // by axis.
        let corner = DVec3::from(self.voxel_to_patient([-0.5; 3]));
        let [di, dj, dk] = self.axes();
        let origin =
            corner + di * 0.5 * spacing_mm[0] + dj * 0.5 * spacing_mm[1] + dk * 0.5 * spacing_mm[2];
        Grid {
            dims,
            spacing_mm,
            origin_mm: origin.into(),
            direction: self.direction,
        }
    }

    /// Extent of the grid along each axis, in mm (voxel edges to voxel edges).
    pub fn extent_mm(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.dims[a] as f64 * self.spacing_mm[a])
    }

    /// The unit vectors of the i, j, k axes in patient (LPS) space.
    pub fn axes(&self) -> [DVec3; 3] {
        self.direction.map(DVec3::from)
    }

    /// The direction matrix: its columns are the unit vectors of the i, j, k axes (LPS).
    pub fn direction_matrix(&self) -> DMat3 {
        DMat3::from_cols_array_2d(&self.direction)
    }

    /// Patient (LPS) position, in mm, of continuous voxel coordinates (voxel centres at integers).
    pub fn voxel_to_patient(&self, ijk: [f64; 3]) -> [f64; 3] {
        let step = DVec3::from(ijk) * DVec3::from(self.spacing_mm);
        let [di, dj, dk] = self.axes();
        // origin + i·Δi·e_i + j·Δj·e_j + k·Δk·e_k, summed from the origin: the order of the
        // stored results. `DAffine3::transform_point3` adds the origin last, which can change
        // the last bit of a rotated grid's positions.
        let p = DVec3::from(self.origin_mm) + di * step.x + dj * step.y + dk * step.z;
        p.into()
    }

    /// Continuous voxel coordinates (voxel centres at integers) of a patient (LPS) position.
    ///
    /// Exact for orthonormal direction matrices, which DICOM and NIfTI grids have: the
    /// inverse of the direction matrix is its transpose.
    pub fn patient_to_voxel(&self, p_mm: [f64; 3]) -> [f64; 3] {
        let d = DVec3::from(p_mm) - DVec3::from(self.origin_mm);
        let along_axes = self.direction_matrix().mul_transpose_vec3(d);
        (along_axes / DVec3::from(self.spacing_mm)).into()
    }

    /// The voxel-index → patient (LPS, mm) affine: columns are the axes scaled by the
    /// spacing, translation the centre of voxel (0,0,0).
    pub fn affine_lps(&self) -> DAffine3 {
        let [di, dj, dk] = self.axes();
        let [si, sj, sk] = self.spacing_mm;
        DAffine3::from_mat3_translation(
            DMat3::from_cols(di * si, dj * sj, dk * sk),
            DVec3::from(self.origin_mm),
        )
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

    /// The hand-written loops these functions replaced, kept as the bit-for-bit reference.
    fn voxel_to_patient_loop(g: &Grid, ijk: [f64; 3]) -> [f64; 3] {
        let mut p = g.origin_mm;
        for axis in 0..3 {
            let step = ijk[axis] * g.spacing_mm[axis];
            for (c, pc) in p.iter_mut().enumerate() {
                *pc += g.direction[axis][c] * step;
            }
        }
        p
    }

    fn patient_to_voxel_loop(g: &Grid, p_mm: [f64; 3]) -> [f64; 3] {
        let d = [0, 1, 2].map(|c| p_mm[c] - g.origin_mm[c]);
        [0, 1, 2].map(|axis| {
            let dot: f64 = (0..3).map(|c| g.direction[axis][c] * d[c]).sum();
            dot / g.spacing_mm[axis]
        })
    }

    fn oblique_grid() -> Grid {
        // Rotated 0.3 rad about (1, 2, 2)/3: no direction cosine is 0 or ±1.
        let r = glam::DMat3::from_axis_angle(DVec3::new(1.0, 2.0, 2.0) / 3.0, 0.3);
        Grid {
            direction: r.to_cols_array_2d(),
            ..Grid::new([9, 7, 5], [1.3, 0.7, 2.9], [-101.3, 17.9, 255.1])
        }
    }

    #[test]
    fn glam_positions_are_bit_identical_to_the_loops_they_replace() {
        let g = oblique_grid();
        for idx in 0..g.n_voxels() {
            let v = g.ijk(idx).map(|x| x as f64 + 0.37);
            let p = g.voxel_to_patient(v);
            assert_eq!(
                p.map(f64::to_bits),
                voxel_to_patient_loop(&g, v).map(f64::to_bits)
            );
            let back = g.patient_to_voxel(p);
            assert_eq!(
                back.map(f64::to_bits),
                patient_to_voxel_loop(&g, p).map(f64::to_bits)
            );
        }
    }

    #[test]
    fn affine_maps_voxels_like_voxel_to_patient() {
        let g = oblique_grid();
        let m = g.affine_lps();
        for idx in [0, 17, g.n_voxels() - 1] {
            let v = g.ijk(idx).map(|x| x as f64);
            let a = m.transform_point3(DVec3::from(v));
            let b = DVec3::from(g.voxel_to_patient(v));
            assert!((a - b).length() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn coarsening_keeps_the_outer_corner_and_extent() {
        let g = oblique_grid();
        let c = g.coarsened(2.0);
        let corner = |g: &Grid| DVec3::from(g.voxel_to_patient([-0.5; 3]));
        assert!((corner(&c) - corner(&g)).length() < 1e-12);
        for a in 0..3 {
            assert!((c.extent_mm()[a] - g.extent_mm()[a]).abs() < 1e-12);
        }
        assert_eq!(c.dims, [6, 2, 7]);
    }
}
