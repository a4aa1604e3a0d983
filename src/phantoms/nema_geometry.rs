//! Geometry of the NEMA IEC body phantom placed anywhere in patient space: the interior of
//! the body, the lung insert and the six spheres, as pure functions of a placement.
//!
//! The numbers are those of the built-in `nema-iec` phantom (`crate::phantoms` `nema_iec`, IEC 61675-1 as
//! described in NEMA NU 2-2012 §7.1–7.2; walls not modelled): a cross-section made of a
//! half-disc of radius 147 mm above the centre line and a 294 × 80 mm lower part whose bottom
//! corners are rounded with radius 77 mm (centres at (±70, −3) mm); interior length 180 mm; a
//! lung insert of 50 mm diameter on the axis; sphere centres on a circle of radius 57.2 mm in
//! the transverse plane 70 mm from the lid, sphere `i` at angle 60°·i from the phantom's x
//! axis, diameters ascending ([`crate::phantoms::NEMA_SPHERE_DIAMETERS_MM`]).
//!
//! A [`NemaPlacement`] puts that geometry in patient coordinates (mm): the phantom axis along
//! patient z, the centre of the half-disc's circle in the sphere plane at `centre_mm`,
//! rotated by `angle_rad` about z, and mirrored (the spheres' order running the other way)
//! when the phantom lies the other way round. The built-in phantom on its centred grid is
//! [`NemaPlacement::builtin`].
//!
//! Kept here (not in `super`) so that the partial-volume code can place the spheres in a
//! measured scan; the built-in phantom builder may take its geometry from it too.

use crate::phantoms::NEMA_SPHERE_DIAMETERS_MM;

/// Radius of the circle of sphere centres, mm.
pub const RING_RADIUS_MM: f64 = 57.2;
/// Distance of the sphere plane from the lid (the interior's end), mm.
pub const SPHERE_PLANE_FROM_LID_MM: f64 = 70.0;
/// Interior length along the axis, mm.
pub const INTERIOR_LENGTH_MM: f64 = 180.0;
/// Lung insert radius, mm.
pub const LUNG_INSERT_RADIUS_MM: f64 = 25.0;
/// Radius of the upper half-disc of the cross-section, mm.
const BODY_RADIUS_MM: f64 = 147.0;
/// Depth of the lower part below the centre line, mm.
const BODY_LOWER_DEPTH_MM: f64 = 80.0;
/// Centres (±x, y) and radius of the rounded bottom corners, mm.
const CORNER_CENTRE_MM: [f64; 2] = [70.0, -3.0];
const CORNER_RADIUS_MM: f64 = 77.0;

/// Where the phantom lies in patient space.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NemaPlacement {
    /// Patient position (mm) of the cross-section's circle centre in the sphere plane.
    pub centre_mm: [f64; 3],
    /// Rotation of the phantom's x axis about patient z, radians.
    pub angle_rad: f64,
    /// Spheres in the other order (phantom lying the other way round, lid towards −z).
    pub mirrored: bool,
}

/// One sphere in patient space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacedSphere {
    /// Inner diameter, mm.
    pub diameter_mm: f64,
    /// Centre, mm (patient).
    pub centre_mm: [f64; 3],
}

impl PlacedSphere {
    /// Inner volume, mL.
    pub fn volume_ml(&self) -> f64 {
        std::f64::consts::PI * self.diameter_mm.powi(3) / 6.0 / 1000.0
    }

    /// Whether patient point `p` (mm) is inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        let r = 0.5 * self.diameter_mm;
        (0..3)
            .map(|a| (p[a] - self.centre_mm[a]).powi(2))
            .sum::<f64>()
            <= r * r
    }
}

impl NemaPlacement {
    /// The built-in `nema-iec` phantom on its centred grid (patient origin at the grid
    /// centre; the grid is 300 × 232 × 184 mm): circle centre 33.5 mm above the grid centre
    /// in y, sphere plane 20 mm above it in z, no rotation.
    pub fn builtin() -> Self {
        NemaPlacement {
            centre_mm: [
                0.0,
                0.5 * (BODY_RADIUS_MM - BODY_LOWER_DEPTH_MM),
                0.5 * INTERIOR_LENGTH_MM - SPHERE_PLANE_FROM_LID_MM,
            ],
            angle_rad: 0.0,
            mirrored: false,
        }
    }

    /// The point `p` (patient, mm) in phantom coordinates: x, y in the cross-section
    /// (phantom axes, circle centre at 0), z along the axis from the sphere plane towards
    /// the lid.
    pub fn to_phantom(&self, p: [f64; 3]) -> [f64; 3] {
        let (dx, dy) = (p[0] - self.centre_mm[0], p[1] - self.centre_mm[1]);
        let (s, c) = self.angle_rad.sin_cos();
        let x = c * dx + s * dy;
        let y = -s * dx + c * dy;
        let dz = p[2] - self.centre_mm[2];
        if self.mirrored {
            [x, -y, -dz]
        } else {
            [x, y, dz]
        }
    }

    /// Phantom coordinates back to patient space.
    pub fn to_patient(&self, q: [f64; 3]) -> [f64; 3] {
        let (x, y, z) = if self.mirrored {
            (q[0], -q[1], -q[2])
        } else {
            (q[0], q[1], q[2])
        };
        let (s, c) = self.angle_rad.sin_cos();
        [
            self.centre_mm[0] + c * x - s * y,
            self.centre_mm[1] + s * x + c * y,
            self.centre_mm[2] + z,
        ]
    }

    /// The six spheres, smallest first.
    pub fn spheres(&self) -> [PlacedSphere; 6] {
        std::array::from_fn(|i| {
            let a = std::f64::consts::TAU * i as f64 / 6.0;
            PlacedSphere {
                diameter_mm: NEMA_SPHERE_DIAMETERS_MM[i],
                centre_mm: self.to_patient([
                    RING_RADIUS_MM * a.cos(),
                    RING_RADIUS_MM * a.sin(),
                    0.0,
                ]),
            }
        })
    }

    /// Whether patient point `p` is inside the phantom's interior (water, lung insert and
    /// spheres included).
    pub fn in_body(&self, p: [f64; 3]) -> bool {
        let [x, y, z] = self.to_phantom(p);
        let lid = SPHERE_PLANE_FROM_LID_MM;
        if z > lid || z < lid - INTERIOR_LENGTH_MM {
            return false;
        }
        if y >= 0.0 {
            return x * x + y * y <= BODY_RADIUS_MM * BODY_RADIUS_MM;
        }
        if y < -BODY_LOWER_DEPTH_MM || x.abs() > BODY_RADIUS_MM {
            return false;
        }
        let (qx, qy) = (x.abs() - CORNER_CENTRE_MM[0], y - CORNER_CENTRE_MM[1]);
        !(qx > 0.0 && qy < 0.0 && qx * qx + qy * qy > CORNER_RADIUS_MM * CORNER_RADIUS_MM)
    }

    /// Whether patient point `p` is inside the lung insert.
    pub fn in_lung_insert(&self, p: [f64; 3]) -> bool {
        let [x, y, _] = self.to_phantom(p);
        self.in_body(p) && x * x + y * y <= LUNG_INSERT_RADIUS_MM * LUNG_INSERT_RADIUS_MM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_placement_matches_the_builtin_phantom_layout() {
        // The built-in phantom (phantoms::nema_iec) on its 300 × 232 × 184 mm centred grid:
        // circle centre at transport-frame (150, 116 + 33.5), sphere plane at 2 + 180 − 70.
        // In patient coordinates (origin at the grid centre) that is (0, 33.5, 20).
        let p = NemaPlacement::builtin();
        assert_eq!(p.centre_mm, [0.0, 33.5, 20.0]);
        let s = p.spheres();
        assert!(
            (s[0].centre_mm[0] - 57.2).abs() < 1e-12 && (s[0].centre_mm[1] - 33.5).abs() < 1e-12
        );
        assert!((s[5].volume_ml() - 26.52).abs() < 0.01);
        assert!(p.in_body([0.0, 33.5 + 140.0, 20.0]) && !p.in_body([0.0, 33.5 + 150.0, 20.0]));
        assert!(p.in_body([0.0, 33.5, 20.0 + 69.0]) && !p.in_body([0.0, 33.5, 20.0 + 71.0]));
        assert!(p.in_lung_insert([10.0, 33.5, -50.0]));
    }

    #[test]
    fn placement_round_trips_and_moves_the_spheres_rigidly() {
        let p = NemaPlacement {
            centre_mm: [5.0, -7.0, 12.0],
            angle_rad: 0.7,
            mirrored: true,
        };
        let q = [3.0, -4.0, 2.5];
        let back = p.to_phantom(p.to_patient(q));
        assert!((0..3).all(|a| (back[a] - q[a]).abs() < 1e-12));
        let s = p.spheres();
        for i in 0..6 {
            let d: f64 = (0..3)
                .map(|a| (s[i].centre_mm[a] - p.centre_mm[a]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!((d - RING_RADIUS_MM).abs() < 1e-9);
        }
    }
}
