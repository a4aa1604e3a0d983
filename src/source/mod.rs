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
