//! A rigid transform between two images in patient space: what rigid registration finds and
//! what resampling applies.
//!
//! Units: positions and translations in mm (patient LPS), rotations in degrees.
//!
//! [`RigidTransform`] maps a point p of the reference (fixed) image to the moving image:
//! T(p) = R·(p − c) + c + t, with R = R_z(γ)·R_y(β)·R_x(α) (rotations about the patient axes,
//! x first), c the centre of rotation (the fixed grid's centre, [`grid_centre_mm`]) and t the
//! translation. Resampling the moving image at T(p) for every fixed voxel p brings it onto
//! the fixed grid ([`crate::geometry::resample`]). The parameters (three angles, three
//! shifts) are what the registration's optimiser searches, in [`crate::kinetics::register`].

use crate::geometry::Grid;
use glam::{DMat3, DVec3};
use serde::{Deserialize, Serialize};

/// A rigid transform from the fixed image to the moving image (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RigidTransform {
    /// Rotations α, β, γ about x, y, z, degrees.
    pub rotation_deg: [f64; 3],
    /// Translation, mm.
    pub translation_mm: [f64; 3],
    /// Centre of rotation, mm (the fixed grid's centre).
    pub centre_mm: [f64; 3],
}

impl RigidTransform {
    /// The identity about `centre_mm`.
    pub fn identity(centre_mm: [f64; 3]) -> Self {
        RigidTransform {
            rotation_deg: [0.0; 3],
            translation_mm: [0.0; 3],
            centre_mm,
        }
    }

    /// The rotation R = R_z(γ)·R_y(β)·R_x(α).
    pub fn rotation(&self) -> DMat3 {
        let [a, b, g] = self.rotation_deg.map(f64::to_radians);
        DMat3::from_rotation_z(g) * (DMat3::from_rotation_y(b) * DMat3::from_rotation_x(a))
    }

    /// T(p) = R(p − c) + c + t.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        self.mapping()(p)
    }

    /// T as a function with R computed once, for mapping many points.
    pub fn mapping(&self) -> impl Fn([f64; 3]) -> [f64; 3] + Send + Sync {
        let r = self.rotation();
        let c = DVec3::from(self.centre_mm);
        let t = DVec3::from(self.translation_mm);
        move |p| (r * (DVec3::from(p) - c) + c + t).into()
    }

    /// T⁻¹(q) = Rᵀ(q − c − t) + c.
    pub fn apply_inverse(&self, q: [f64; 3]) -> [f64; 3] {
        let c = DVec3::from(self.centre_mm);
        let d = DVec3::from(q) - c - DVec3::from(self.translation_mm);
        (self.rotation().mul_transpose_vec3(d) + c).into()
    }
}

/// Patient position of the grid's centre, mm: the centre of rotation of a registration to
/// that grid.
pub fn grid_centre_mm(grid: &Grid) -> [f64; 3] {
    grid.voxel_to_patient([0, 1, 2].map(|a| 0.5 * (grid.dims[a] as f64 - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> RigidTransform {
        RigidTransform {
            rotation_deg: [10.0, -20.0, 30.0],
            translation_mm: [1.0, 2.0, -3.0],
            centre_mm: [5.0, 6.0, 7.0],
        }
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = example();
        let p = [12.0, -4.0, 9.0];
        let q = t.apply_inverse(t.apply(p));
        for a in 0..3 {
            assert!((q[a] - p[a]).abs() < 1e-12);
        }
    }

    #[test]
    fn rotation_matrix_is_orthonormal() {
        let r = RigidTransform {
            rotation_deg: [13.0, 27.0, -41.0],
            ..RigidTransform::identity([0.0; 3])
        }
        .rotation();
        assert!((r.transpose() * r).abs_diff_eq(DMat3::IDENTITY, 1e-12));
        assert!((r.determinant() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rotations_apply_x_then_y_then_z() {
        // 90° about x takes y to z; then 90° about z leaves z: R·ŷ = ẑ.
        let t = RigidTransform {
            rotation_deg: [90.0, 0.0, 90.0],
            ..RigidTransform::identity([0.0; 3])
        };
        let q = t.apply([0.0, 1.0, 0.0]);
        assert!((DVec3::from(q) - DVec3::Z).length() < 1e-12, "{q:?}");
        // 90° about z alone takes x to y.
        let t = RigidTransform {
            rotation_deg: [0.0, 0.0, 90.0],
            ..RigidTransform::identity([0.0; 3])
        };
        let q = t.apply([1.0, 0.0, 0.0]);
        assert!((DVec3::from(q) - DVec3::Y).length() < 1e-12, "{q:?}");
    }

    /// The row-major matrices and loops this module replaced: the bit-for-bit reference
    /// (registration magnifies a last-bit difference into a different optimum).
    fn apply_by_loops(t: &RigidTransform, p: [f64; 3]) -> [f64; 3] {
        let [a, b, g] = t.rotation_deg.map(f64::to_radians);
        let (sa, ca) = a.sin_cos();
        let (sb, cb) = b.sin_cos();
        let (sg, cg) = g.sin_cos();
        let rx = [[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]];
        let ry = [[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]];
        let rz = [[cg, -sg, 0.0], [sg, cg, 0.0], [0.0, 0.0, 1.0]];
        let matmul = |a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]| {
            let mut m = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
                }
            }
            m
        };
        let r = matmul(&rz, &matmul(&ry, &rx));
        let d = [0, 1, 2].map(|i| p[i] - t.centre_mm[i]);
        [0, 1, 2].map(|i| {
            (0..3).map(|j| r[i][j] * d[j]).sum::<f64>() + t.centre_mm[i] + t.translation_mm[i]
        })
    }

    #[test]
    fn glam_transform_is_bit_identical_to_the_loops_it_replaced() {
        for (k, angles) in [
            [10.0, -20.0, 30.0],
            [4.0, -3.0, 6.0],
            [0.0, 0.0, 0.0],
            [0.1, 179.0, -0.7],
        ]
        .into_iter()
        .enumerate()
        {
            let t = RigidTransform {
                rotation_deg: angles,
                ..example()
            };
            for i in 0..50 {
                let x = i as f64;
                let p = [x * 1.37 - 30.0, 17.1 - x * 0.9, (x * k as f64).sin() * 40.0];
                assert_eq!(
                    t.apply(p).map(f64::to_bits),
                    apply_by_loops(&t, p).map(f64::to_bits),
                    "{angles:?} at {p:?}"
                );
            }
        }
    }
}
