//! The point-spread function (PSF) of an emission image as a 3-D Gaussian, and its blur on a
//! voxel grid: what partial-volume correction ([`super::partial_volume`]) and the synthetic
//! phantom scans of [`super::recovery`] use to model how a SPECT spreads activity.
//!
//! Responsibility: the Gaussian (FWHM per grid axis, which may differ, on voxels that may be
//! anisotropic), the 1-D voxel kernels, and a separable blur of a whole grid or of a box in
//! it. Also where an assumed FWHM comes from when the user gives none ([`default_fwhm`]).
//!
//! Units: mm for FWHM, σ and spacing; values are blurred as they are (Bq per voxel or a
//! region indicator), so sums are kept up to what leaves the grid.
//!
//! **The voxel kernel.** The image is taken to be uniform inside each voxel (a label map, a
//! uniform region) and each output voxel to be the mean of the blurred image over the
//! voxel, as a reconstructed SPECT voxel is. Along one axis with spacing Δ this gives the
//! weight of a neighbour at offset d
//!
//! k(d) = [F(dΔ + Δ) − 2F(dΔ) + F(dΔ − Δ)] / Δ,  F(x) = x Φ(x/σ) + σ φ(x/σ),
//!
//! the second difference of the antiderivative F of the Gaussian CDF Φ (φ the normal
//! density): a Gaussian convolved with two voxel boxes. The weights sum to 1 exactly; a
//! σ → 0 gives k(0) = 1. The kernel is cut where the Gaussian is below 10⁻⁶ of its peak
//! (|x| > 5.3σ, plus one voxel) and renormalised.
//!
//! **Edges.** Outside the grid the image is zero (a SPECT field of view): activity blurred
//! beyond the edge is lost, the same for the images and the region spread functions.

use crate::geometry::Grid;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// FWHM / σ of a Gaussian: 2·sqrt(2 ln 2).
pub const FWHM_PER_SIGMA: f64 = 2.354_820_045_030_949;

/// Half-width of the kernel in σ: the Gaussian is 10⁻⁶ of its peak there (exp(−5.26²/2)).
const CUT_SIGMA: f64 = 5.26;

/// A 3-D Gaussian PSF with one FWHM per grid axis (i, j, k), mm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianPsf {
    /// FWHM along the grid's i, j, k axes, mm (for an axial SPECT: x, y transaxial, z
    /// axial).
    pub fwhm_mm: [f64; 3],
}

impl GaussianPsf {
    /// A PSF with the given FWHM per axis, mm.
    pub fn new(fwhm_mm: [f64; 3]) -> Self {
        GaussianPsf { fwhm_mm }
    }

    /// The same FWHM along every axis, mm.
    pub fn isotropic(fwhm_mm: f64) -> Self {
        GaussianPsf {
            fwhm_mm: [fwhm_mm; 3],
        }
    }

    /// σ per axis, mm.
    pub fn sigma_mm(&self) -> [f64; 3] {
        self.fwhm_mm.map(|f| f / FWHM_PER_SIGMA)
    }

    /// Every FWHM multiplied by `factor` (for the ± σ of an uncertain FWHM).
    pub fn scaled(&self, factor: f64) -> Self {
        GaussianPsf {
            fwhm_mm: self.fwhm_mm.map(|f| f * factor),
        }
    }

    /// The geometric mean of the three FWHM, mm: one number for tables and logs.
    pub fn mean_fwhm_mm(&self) -> f64 {
        (self.fwhm_mm[0] * self.fwhm_mm[1] * self.fwhm_mm[2]).cbrt()
    }

    /// The kernel's half-width in voxels along each axis of `spacing_mm`.
    pub fn half_width_voxels(&self, spacing_mm: [f64; 3]) -> [usize; 3] {
        let s = self.sigma_mm();
        [0, 1, 2].map(|a| kernel_half_width(s[a], spacing_mm[a]))
    }
}

fn kernel_half_width(sigma_mm: f64, spacing_mm: f64) -> usize {
    (CUT_SIGMA * sigma_mm / spacing_mm).ceil() as usize + 1
}

/// Antiderivative of Φ(x/σ): x Φ(x/σ) + σ φ(x/σ); for σ = 0, max(x, 0).
fn cdf_antiderivative(x: f64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return x.max(0.0);
    }
    let z = x / sigma;
    let cdf = 0.5 * (1.0 + statrs::function::erf::erf(z / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    x * cdf + sigma * pdf
}

/// Weights of the voxel kernel (module doc) for offsets −h..=h, summing to 1.
pub fn kernel_1d(sigma_mm: f64, spacing_mm: f64) -> Vec<f64> {
    let h = kernel_half_width(sigma_mm, spacing_mm) as i64;
    let f = |x: f64| cdf_antiderivative(x, sigma_mm);
    let mut w: Vec<f64> = (-h..=h)
        .map(|d| {
            let x = d as f64 * spacing_mm;
            ((f(x + spacing_mm) - 2.0 * f(x) + f(x - spacing_mm)) / spacing_mm).max(0.0)
        })
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= sum);
    w
}

/// Blurs values laid out on `dims` (i fastest) with voxels of `spacing_mm`, zero outside.
pub fn blur_dims(
    data: &[f64],
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    psf: &GaussianPsf,
) -> Vec<f64> {
    let sigma = psf.sigma_mm();
    let mut cur = data.to_vec();
    for axis in 0..3 {
        if sigma[axis] <= 0.0 || dims[axis] == 1 {
            continue;
        }
        let kernel = kernel_1d(sigma[axis], spacing_mm[axis]);
        cur = convolve_axis(&cur, dims, axis, &kernel);
    }
    cur
}

/// One axis of the separable blur; parallel over k-slices.
fn convolve_axis(data: &[f64], dims: [usize; 3], axis: usize, kernel: &[f64]) -> Vec<f64> {
    let [nx, ny, _] = dims;
    let h = (kernel.len() / 2) as i64;
    let n_axis = dims[axis] as i64;
    let stride = [1, nx, nx * ny][axis] as i64;
    let mut out = vec![0.0; data.len()];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(k, slice)| {
            for j in 0..ny {
                for i in 0..nx {
                    let v = (i + nx * (j + ny * k)) as i64;
                    let pos = [i, j, k][axis] as i64;
                    let lo = (-h).max(-pos);
                    let hi = h.min(n_axis - 1 - pos);
                    let mut acc = 0.0;
                    for d in lo..=hi {
                        acc += kernel[(d + h) as usize] * data[(v + d * stride) as usize];
                    }
                    slice[i + nx * j] = acc;
                }
            }
        });
    out
}

/// Blurs a whole volume on `grid` (values in the grid's linear order).
pub fn blur(grid: &Grid, data: &[f64], psf: &GaussianPsf) -> Vec<f64> {
    blur_dims(data, grid.dims, grid.spacing_mm, psf)
}

/// An axis-aligned box of voxels `[lo, hi)` in a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoxelBox {
    /// First voxel (inclusive) along i, j, k.
    pub lo: [usize; 3],
    /// Last voxel + 1 along i, j, k.
    pub hi: [usize; 3],
}

impl VoxelBox {
    /// The box's size in voxels.
    pub fn dims(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.hi[a] - self.lo[a])
    }

    /// The bounding box of `voxels` (linear indices of `grid`), grown by `margin` voxels
    /// per axis and clamped to the grid; `None` when `voxels` is empty.
    pub fn around(grid: &Grid, voxels: &[usize], margin: [usize; 3]) -> Option<VoxelBox> {
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for &v in voxels {
            let ijk = grid.ijk(v);
            for a in 0..3 {
                lo[a] = lo[a].min(ijk[a]);
                hi[a] = hi[a].max(ijk[a] + 1);
            }
        }
        if voxels.is_empty() {
            return None;
        }
        for a in 0..3 {
            lo[a] = lo[a].saturating_sub(margin[a]);
            hi[a] = (hi[a] + margin[a]).min(grid.dims[a]);
        }
        Some(VoxelBox { lo, hi })
    }

    /// Linear index in the box of grid voxel `ijk` (which must lie in the box).
    pub fn local_index(&self, ijk: [usize; 3]) -> usize {
        let d = self.dims();
        (ijk[0] - self.lo[0]) + d[0] * ((ijk[1] - self.lo[1]) + d[1] * (ijk[2] - self.lo[2]))
    }

    /// Grid linear index of the box's local voxel `local`.
    pub fn grid_index(&self, grid: &Grid, local: usize) -> usize {
        let d = self.dims();
        let (i, j, k) = (local % d[0], (local / d[0]) % d[1], local / (d[0] * d[1]));
        grid.index(self.lo[0] + i, self.lo[1] + j, self.lo[2] + k)
    }
}

/// The blurred indicator of `voxels` (a region spread function, RSF) on a box around them
/// that holds all of it: the box and the values in it. Exact, since the kernel is cut at
/// its half-width and the box is grown by that much (clamped at the grid edge, where the
/// grid's zero padding applies as for a whole-grid blur).
pub fn blur_indicator(
    grid: &Grid,
    voxels: &[usize],
    psf: &GaussianPsf,
) -> Option<(VoxelBox, Vec<f64>)> {
    let margin = psf.half_width_voxels(grid.spacing_mm);
    let b = VoxelBox::around(grid, voxels, margin)?;
    let d = b.dims();
    let mut ind = vec![0.0; d[0] * d[1] * d[2]];
    for &v in voxels {
        ind[b.local_index(grid.ijk(v))] = 1.0;
    }
    Some((b, blur_dims(&ind, d, grid.spacing_mm, psf)))
}

/// Where an assumed PSF comes from when neither the study nor the command line gives one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DefaultFwhm {
    /// FWHM, mm (isotropic).
    pub fwhm_mm: f64,
    /// Relative one-σ of that FWHM.
    pub rel_sigma: f64,
    /// The row of `data/psf_defaults/psf_fwhm.csv` it came from, in words.
    pub basis: String,
}

/// The table `data/psf_defaults/psf_fwhm.csv` (see its PROVENANCE.md), embedded.
const DEFAULTS_CSV: &str = include_str!("../../data/psf_defaults/psf_fwhm.csv");

/// The collimator class of a collimator name as DICOM or a user writes it: "ME" for
/// medium-energy names (MEGP, MELP, ME, MEHS, …), "HE" for high-energy, "LE" for
/// low-energy; other names as given, upper case.
pub fn collimator_class(name: &str) -> String {
    let n = name.trim().to_ascii_uppercase();
    for class in ["ME", "HE", "LE"] {
        if n.starts_with(class) {
            return class.to_string();
        }
    }
    n
}

/// The documented default FWHM for `nuclide` with a collimator of `collimator` (any name;
/// default "ME") and a reconstruction with or without resolution recovery (default with),
/// from `data/psf_defaults/psf_fwhm.csv`; `None` when the table has no such row.
pub fn default_fwhm(
    nuclide: &str,
    collimator: Option<&str>,
    resolution_recovery: Option<bool>,
) -> Option<DefaultFwhm> {
    let class = collimator_class(collimator.unwrap_or("ME"));
    let rr = if resolution_recovery.unwrap_or(true) {
        "yes"
    } else {
        "no"
    };
    let nuclide = crate::io::activity::normalise_nuclide(nuclide).unwrap_or(nuclide.to_string());
    DEFAULTS_CSV
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .skip(1)
        .find_map(|line| {
            let cols: Vec<&str> = line.splitn(6, ',').map(str::trim).collect();
            if cols.len() < 6 || cols[0] != nuclide || cols[1] != class || cols[2] != rr {
                return None;
            }
            Some(DefaultFwhm {
                fwhm_mm: cols[3].parse().ok()?,
                rel_sigma: cols[4].parse().ok()?,
                basis: format!(
                    "default for {nuclide}, {class} collimator, {} resolution recovery: {}",
                    if rr == "yes" { "with" } else { "without" },
                    cols[5].trim_matches('"')
                ),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sums_to_one_and_has_the_gaussian_variance_plus_two_boxes() {
        // Gaussian ⊗ box ⊗ box: variance σ² + 2·Δ²/12 (each box adds Δ²/12).
        for (sigma, dx) in [(4.25, 4.8), (2.0, 1.0), (8.0, 3.0)] {
            let k = kernel_1d(sigma, dx);
            let h = (k.len() / 2) as f64;
            let sum: f64 = k.iter().sum();
            let var: f64 = k
                .iter()
                .enumerate()
                .map(|(i, w)| w * ((i as f64 - h) * dx).powi(2))
                .sum();
            assert!((sum - 1.0).abs() < 1e-12);
            let expect = sigma * sigma + dx * dx / 6.0;
            assert!((var - expect).abs() < 1e-4 * expect, "{var} vs {expect}");
        }
        assert_eq!(kernel_1d(0.0, 4.0), vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn blur_keeps_the_sum_away_from_edges_and_is_separable_in_any_order() {
        let dims = [21, 17, 15];
        let mut data = vec![0.0; dims[0] * dims[1] * dims[2]];
        data[10 + 21 * (8 + 17 * 7)] = 1.0;
        data[9 + 21 * (8 + 17 * 7)] = 2.0;
        // σ ≤ 2.1 mm, the source ≥ 20 mm (≥ 9σ) from every edge.
        let psf = GaussianPsf::new([3.0, 4.0, 5.0]);
        let out = blur_dims(&data, dims, [2.0, 2.5, 3.0], &psf);
        let s: f64 = out.iter().sum();
        assert!((s - 3.0).abs() < 1e-9, "{s}");
        // Symmetric kernel: the single voxel's spread is mirror-symmetric around it.
        let single = blur_dims(
            &data
                .iter()
                .map(|&v| if v == 1.0 { 1.0 } else { 0.0 })
                .collect::<Vec<_>>(),
            dims,
            [2.0, 2.5, 3.0],
            &psf,
        );
        let at = |i: usize, j: usize, k: usize| single[i + 21 * (j + 17 * k)];
        assert!((at(8, 8, 7) - at(12, 8, 7)).abs() < 1e-15);
        assert!((at(10, 6, 5) - at(10, 10, 9)).abs() < 1e-15);
    }

    #[test]
    fn blurred_indicator_on_a_box_equals_the_whole_grid_blur() {
        let grid = Grid::new([30, 26, 20], [4.0, 4.0, 5.0], [0.0; 3]);
        let voxels: Vec<usize> = (0..grid.n_voxels())
            .filter(|&v| {
                let [i, j, k] = grid.ijk(v);
                (3..9).contains(&i) && (20..25).contains(&j) && (8..11).contains(&k)
            })
            .collect();
        let psf = GaussianPsf::isotropic(10.0);
        let (b, local) = blur_indicator(&grid, &voxels, &psf).unwrap();
        let mut full_in = vec![0.0; grid.n_voxels()];
        voxels.iter().for_each(|&v| full_in[v] = 1.0);
        let full = blur(&grid, &full_in, &psf);
        let mut in_box = 0.0;
        for (l, &val) in local.iter().enumerate() {
            let g = b.grid_index(&grid, l);
            assert!((val - full[g]).abs() < 1e-12);
            in_box += val;
        }
        let total: f64 = full.iter().sum();
        assert!((in_box - total).abs() < 1e-9);
    }

    #[test]
    fn collimator_names_map_to_classes() {
        assert_eq!(collimator_class("MEGP"), "ME");
        assert_eq!(collimator_class(" melp "), "ME");
        assert_eq!(collimator_class("HEGP"), "HE");
        assert_eq!(collimator_class("LEHR"), "LE");
        assert!(default_fwhm("Lu-177", Some("MELP"), None).is_some());
        assert!(default_fwhm("177Lu", None, Some(false)).is_some());
        assert!(default_fwhm("Lu-177", Some("LEHR"), None).is_none());
    }
}
