//! Sources: where decays happen.
//!
//! Two kinds: a voxelised map of decays (activity or time-integrated activity per voxel)
//! sampled through an alias table with positions uniform inside the voxel, and analytic shapes
//! whose decay positions are sampled in the exact shape, as reference codes do.
//! Positions are in the transport frame (mm from the outer corner of voxel (0,0,0)).
//! TODO(lead): samplers.

/// An analytic source shape in the transport frame (mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// A ball.
    Sphere {
        /// Centre, mm.
        centre_mm: [f64; 3],
        /// Radius, mm.
        radius_mm: f64,
    },
    /// An axis-aligned box.
    Box {
        /// Lower corner, mm.
        min_mm: [f64; 3],
        /// Upper corner, mm.
        max_mm: [f64; 3],
    },
    /// A cylinder with its axis along k (z).
    CylinderZ {
        /// Axis position (x, y), mm.
        centre_mm: [f64; 2],
        /// Radius, mm.
        radius_mm: f64,
        /// Lower and upper z, mm.
        z_mm: [f64; 2],
    },
}

/// Where decays happen, and with what relative weight.
#[derive(Clone, Debug)]
pub enum SourceSpec {
    /// One weight per voxel of the model grid (activity in Bq, or TIA in Bq·s); decays are
    /// uniform inside each voxel. The weights' sum is the "decays represented" for absolute dose.
    Voxels {
        /// Non-negative, finite weight per voxel.
        weights: Vec<f32>,
    },
    /// Analytic shapes, each with a relative weight (e.g. activity concentration × volume).
    Shapes(Vec<(Shape, f64)>),
}

pub mod alias;

use crate::geometry::Grid;
use crate::physics::direction::isotropic;
use crate::physics::rng::Pcg32;
use alias::AliasTable;

/// Shape codes shared with WGSL (`shaders/shared/source.wgsl`).
pub const SHAPE_SPHERE: u32 = 0;
/// See [`SHAPE_SPHERE`].
pub const SHAPE_BOX: u32 = 1;
/// See [`SHAPE_SPHERE`].
pub const SHAPE_CYLINDER_Z: u32 = 2;

/// A shape flattened for the kernels: a code and seven parameters (mm).
///
/// Sphere: centre xyz, radius. Box: min xyz, max xyz. Cylinder: centre xy, radius, z min, z max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlatShape {
    /// `SHAPE_*` code.
    pub kind: u32,
    /// Parameters, mm.
    pub p: [f32; 7],
}

/// Source sampling tables, shaped for the kernels.
#[derive(Clone, Debug)]
pub struct SourceTables {
    /// Voxels with positive weight (voxel source), linear indices.
    pub voxel_index: Vec<u32>,
    /// Alias table over `voxel_index` (voxel source), or over `shapes`.
    pub alias: AliasTable,
    /// Shapes (shape source); empty for a voxel source.
    pub shapes: Vec<FlatShape>,
    /// Sum of the weights: the decays (or Bq) the source represents.
    pub total_weight: f64,
}

impl SourceSpec {
    /// Validates the source against the grid and builds its sampling tables.
    pub fn tables(&self, grid: &Grid) -> crate::Result<SourceTables> {
        match self {
            SourceSpec::Voxels { weights } => {
                if weights.len() != grid.n_voxels() {
                    return Err(crate::Error::Internal(format!(
                        "source has {} weights for a grid of {} voxels",
                        weights.len(),
                        grid.n_voxels()
                    )));
                }
                if let Some((i, w)) = weights
                    .iter()
                    .enumerate()
                    .find(|(_, w)| !w.is_finite() || **w < 0.0)
                {
                    let [x, y, z] = grid.ijk(i);
                    return Err(crate::Error::invalid(
                        "source",
                        format!("voxel ({x}, {y}, {z}) has activity {w}; activities must be finite and ≥ 0"),
                    ));
                }
                let voxel_index: Vec<u32> = (0..weights.len() as u32)
                    .filter(|&i| weights[i as usize] > 0.0)
                    .collect();
                let w: Vec<f64> = voxel_index
                    .iter()
                    .map(|&i| weights[i as usize] as f64)
                    .collect();
                let alias = AliasTable::new(&w).ok_or_else(|| {
                    crate::Error::invalid(
                        "source",
                        "the activity map is zero everywhere; nothing to simulate",
                    )
                })?;
                Ok(SourceTables {
                    voxel_index,
                    alias,
                    shapes: Vec::new(),
                    total_weight: w.iter().sum(),
                })
            }
            SourceSpec::Shapes(list) => {
                let w: Vec<f64> = list.iter().map(|(_, w)| *w).collect();
                let alias = AliasTable::new(&w).ok_or_else(|| {
                    crate::Error::invalid("source", "all source shapes have zero weight")
                })?;
                let shapes = list.iter().map(|(s, _)| s.flatten()).collect();
                Ok(SourceTables {
                    voxel_index: Vec::new(),
                    alias,
                    shapes,
                    total_weight: w.iter().sum(),
                })
            }
        }
    }
}

impl Shape {
    /// The kernel form of the shape.
    pub fn flatten(&self) -> FlatShape {
        let f = |v: f64| v as f32;
        match *self {
            Shape::Sphere {
                centre_mm: c,
                radius_mm: r,
            } => FlatShape {
                kind: SHAPE_SPHERE,
                p: [f(c[0]), f(c[1]), f(c[2]), f(r), 0.0, 0.0, 0.0],
            },
            Shape::Box {
                min_mm: a,
                max_mm: b,
            } => FlatShape {
                kind: SHAPE_BOX,
                p: [f(a[0]), f(a[1]), f(a[2]), f(b[0]), f(b[1]), f(b[2]), 0.0],
            },
            Shape::CylinderZ {
                centre_mm: c,
                radius_mm: r,
                z_mm: z,
            } => FlatShape {
                kind: SHAPE_CYLINDER_Z,
                p: [f(c[0]), f(c[1]), f(r), f(z[0]), f(z[1]), 0.0, 0.0],
            },
        }
    }

    /// Whether a point (transport frame, mm) is inside the shape.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match *self {
            Shape::Sphere {
                centre_mm: c,
                radius_mm: r,
            } => (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>() <= r * r,
            Shape::Box {
                min_mm: a,
                max_mm: b,
            } => (0..3).all(|k| p[k] >= a[k] && p[k] <= b[k]),
            Shape::CylinderZ {
                centre_mm: c,
                radius_mm: r,
                z_mm: z,
            } => {
                (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) <= r * r
                    && p[2] >= z[0]
                    && p[2] <= z[1]
            }
        }
    }

    /// Volume in mm³.
    pub fn volume_mm3(&self) -> f64 {
        match *self {
            Shape::Sphere { radius_mm: r, .. } => 4.0 / 3.0 * std::f64::consts::PI * r.powi(3),
            Shape::Box {
                min_mm: a,
                max_mm: b,
            } => (0..3).map(|k| b[k] - a[k]).product(),
            Shape::CylinderZ {
                radius_mm: r,
                z_mm: z,
                ..
            } => std::f64::consts::PI * r * r * (z[1] - z[0]),
        }
    }
}

/// A decay position in the transport frame (mm), exact in the shape or uniform in the voxel.
///
/// Kernel function (WGSL twin `source_position` in `shaders/shared/source.wgsl`); draws five
/// uniforms in a fixed order whatever the source kind, so streams stay aligned across kinds.
#[inline]
pub fn source_position(
    src: &SourceTables,
    dims: [u32; 3],
    spacing_mm: [f32; 3],
    rng: &mut Pcg32,
) -> [f32; 3] {
    let (u1, u2) = (rng.uniform(), rng.uniform());
    let (u3, u4, u5) = (rng.uniform(), rng.uniform(), rng.uniform());
    let k = src.alias.sample(u1, u2);
    if src.shapes.is_empty() {
        let v = src.voxel_index[k];
        let (nx, ny) = (dims[0], dims[1]);
        let (i, j, kk) = (v % nx, (v / nx) % ny, v / (nx * ny));
        return [
            (i as f32 + u3) * spacing_mm[0],
            (j as f32 + u4) * spacing_mm[1],
            (kk as f32 + u5) * spacing_mm[2],
        ];
    }
    let s = src.shapes[k];
    let p = s.p;
    match s.kind {
        SHAPE_SPHERE => {
            let r = p[3] * u3.cbrt();
            let d = isotropic(u4, u5);
            [p[0] + r * d[0], p[1] + r * d[1], p[2] + r * d[2]]
        }
        SHAPE_BOX => [
            p[0] + u3 * (p[3] - p[0]),
            p[1] + u4 * (p[4] - p[1]),
            p[2] + u5 * (p[5] - p[2]),
        ],
        _ => {
            let r = p[2] * u3.sqrt();
            let phi = std::f32::consts::TAU * u4;
            [
                p[0] + r * phi.cos(),
                p[1] + r * phi.sin(),
                p[3] + u5 * (p[4] - p[3]),
            ]
        }
    }
}
