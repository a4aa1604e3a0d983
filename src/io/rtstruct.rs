//! RT Structure Sets: closed planar contours (patient LPS, mm) → named regions on any grid.
//!
//! Contours are rasterised through patient coordinates, never through referenced image
//! UIDs (exports often reference images that are not shipped). Each ROI's contours are
//! grouped into planes along their common normal; each plane stands for the slab halfway to
//! its neighbours (half the median gap beyond the end planes). A voxel belongs to the ROI
//! when its centre lies in a plane's slab and inside that plane's contours by the even-odd
//! rule (so holes drawn as inner contours are excluded). Rows of voxels parallel to the
//! contour planes are filled by scanline crossings; other grids fall back to a point test.

use crate::geometry::{Grid, Region};
use crate::io::dicom::{self, items, opt_f64, opt_f64s, opt_str};
use crate::io::InputError;
use dicom_dictionary_std::tags;
use glam::{DVec2, DVec3, Vec3Swizzles};
use std::path::{Path, PathBuf};

/// One ROI of a structure set.
#[derive(Clone, Debug)]
pub struct Structure {
    /// ROINumber (3006,0022).
    pub number: i64,
    /// ROIName (3006,0026).
    pub name: String,
    /// ReferencedFrameOfReferenceUID (3006,0024) of the ROI.
    pub frame_of_reference_uid: String,
    /// Closed planar contours, each a list of points (LPS, mm).
    pub contours: Vec<Vec<[f64; 3]>>,
}

/// A rasterised ROI with its ROINumber (3006,0022).
pub type NumberedRegion = (i64, Region);

/// A structure set.
#[derive(Clone, Debug)]
pub struct StructureSet {
    /// The file.
    pub path: PathBuf,
    /// ROIs in file order.
    pub structures: Vec<Structure>,
}

/// Reads an RTSTRUCT file.
pub fn read_rtstruct(path: &Path) -> Result<StructureSet, InputError> {
    let obj = dicom::open(path)?;
    if opt_str(&obj, tags::MODALITY).as_deref() != Some("RTSTRUCT") {
        return Err(InputError::WrongModality {
            path: path.to_path_buf(),
            detail: format!(
                "--rtstruct expects an RT Structure Set but (0008,0060) Modality is '{}'",
                opt_str(&obj, tags::MODALITY).unwrap_or_default()
            ),
        });
    }
    let rois = items(&obj, tags::STRUCTURE_SET_ROI_SEQUENCE);
    if rois.is_empty() {
        return Err(dicom::missing(
            path,
            tags::STRUCTURE_SET_ROI_SEQUENCE,
            "the structure set defines no ROI",
        ));
    }
    let mut structures: Vec<Structure> = rois
        .iter()
        .map(|r| Structure {
            number: opt_f64(r, tags::ROI_NUMBER).unwrap_or(-1.0) as i64,
            name: opt_str(r, tags::ROI_NAME).unwrap_or_else(|| "unnamed".into()),
            frame_of_reference_uid: opt_str(r, tags::REFERENCED_FRAME_OF_REFERENCE_UID)
                .unwrap_or_default(),
            contours: Vec::new(),
        })
        .collect();
    for rc in items(&obj, tags::ROI_CONTOUR_SEQUENCE) {
        let Some(num) = opt_f64(rc, tags::REFERENCED_ROI_NUMBER).map(|n| n as i64) else {
            continue;
        };
        let Some(s) = structures.iter_mut().find(|s| s.number == num) else {
            continue;
        };
        for c in items(rc, tags::CONTOUR_SEQUENCE) {
            if opt_str(c, tags::CONTOUR_GEOMETRIC_TYPE).as_deref() != Some("CLOSED_PLANAR") {
                continue;
            }
            let Some(v) = opt_f64s(c, tags::CONTOUR_DATA) else {
                continue;
            };
            if v.len() % 3 != 0 || v.len() < 9 || v.iter().any(|x| !x.is_finite()) {
                return Err(InputError::Malformed {
                    path: path.to_path_buf(),
                    reason: format!("(3006,0050) ContourData of ROI '{}' has {} values, not a multiple of 3 (≥ 9) finite numbers; the structure set is damaged", s.name, v.len()),
                });
            }
            s.contours
                .push(v.chunks(3).map(|p| [p[0], p[1], p[2]]).collect());
        }
    }
    Ok(StructureSet {
        path: path.to_path_buf(),
        structures,
    })
}

impl StructureSet {
    /// Regions on `grid` for every ROI with contours; ROIs without closed contours are skipped
    /// with a warning. Refuses ROIs in another frame of reference than `frame_of_reference`
    /// (when both are known).
    pub fn regions_on(
        &self,
        grid: &Grid,
        frame_of_reference: &str,
    ) -> Result<(Vec<Region>, Vec<String>), InputError> {
        let (numbered, warnings) = self.numbered_regions_on(grid, frame_of_reference)?;
        Ok((numbered.into_iter().map(|(_, r)| r).collect(), warnings))
    }

    /// As [`Self::regions_on`], each region with its ROINumber (3006,0022).
    pub fn numbered_regions_on(
        &self,
        grid: &Grid,
        frame_of_reference: &str,
    ) -> Result<(Vec<NumberedRegion>, Vec<String>), InputError> {
        let mut regions = Vec::new();
        let mut warnings = Vec::new();
        for s in &self.structures {
            if !frame_of_reference.is_empty()
                && !s.frame_of_reference_uid.is_empty()
                && s.frame_of_reference_uid != frame_of_reference
            {
                return Err(InputError::FrameOfReference {
                    path: self.path.clone(),
                    tag: format!(
                        "(3006,0024) ReferencedFrameOfReferenceUID of ROI '{}'",
                        s.name
                    ),
                    found: s.frame_of_reference_uid.clone(),
                    expected: frame_of_reference.to_string(),
                });
            }
            if s.contours.is_empty() {
                warnings.push(format!(
                    "{}: ROI '{}' has no closed planar contours; skipped",
                    self.path.display(),
                    s.name
                ));
                continue;
            }
            let voxels = rasterise(&s.contours, grid);
            if voxels.is_empty() {
                warnings.push(format!(
                    "{}: ROI '{}' covers no voxel centre of the grid; skipped",
                    self.path.display(),
                    s.name
                ));
                continue;
            }
            regions.push((
                s.number,
                Region {
                    name: s.name.clone(),
                    voxels,
                },
            ));
        }
        Ok((regions, warnings))
    }
}

/// `a` scaled to unit length (divided by its length, not multiplied by the reciprocal as
/// `DVec3::normalize` does: the rasterised voxels' stored bits).
fn unit(a: DVec3) -> DVec3 {
    a / a.length()
}

/// Normal of a planar polygon by Newell's method (robust to collinear points): the sum over
/// edges p → q of (p − q) × (p + q) taken component-wise as
/// ((p_y − q_y)(p_z + q_z), (p_z − q_z)(p_x + q_x), (p_x − q_x)(p_y + q_y)).
fn polygon_normal(points: &[[f64; 3]]) -> DVec3 {
    let mut n = DVec3::ZERO;
    for (i, p) in points.iter().enumerate() {
        let (p, q) = (DVec3::from(*p), DVec3::from(points[(i + 1) % points.len()]));
        n += (p - q).yzx() * (p + q).zxy();
    }
    n
}

/// Area of a planar polygon (mm²).
pub fn polygon_area_mm2(points: &[[f64; 3]]) -> f64 {
    0.5 * polygon_normal(points).length()
}

/// One plane of contours in 2-D plane coordinates.
struct Plane {
    t_mm: f64,
    polygons: Vec<Vec<DVec2>>,
}

/// Linear voxel indices of `grid` inside the contours (see the module doc).
pub fn rasterise(contours: &[Vec<[f64; 3]>], grid: &Grid) -> Vec<u32> {
    let Some(n) = contours
        .iter()
        .map(|c| polygon_normal(c))
        .find(|n| n.length_squared() > 1e-12)
        .map(unit)
    else {
        return Vec::new();
    };
    // An orthonormal basis (e1, e2) of the contour planes.
    let e1 = unit(n.cross(if n.x.abs() < 0.9 { DVec3::X } else { DVec3::Y }));
    let e2 = n.cross(e1);
    let to2 = |p: DVec3| DVec2::new(p.dot(e1), p.dot(e2));
    let mut planes: Vec<Plane> = Vec::new();
    for c in contours {
        let t = c.iter().map(|p| DVec3::from(*p).dot(n)).sum::<f64>() / c.len() as f64;
        let poly: Vec<DVec2> = c.iter().map(|p| to2(DVec3::from(*p))).collect();
        match planes.iter_mut().find(|pl| (pl.t_mm - t).abs() < 0.01) {
            Some(pl) => pl.polygons.push(poly),
            None => planes.push(Plane {
                t_mm: t,
                polygons: vec![poly],
            }),
        }
    }
    planes.sort_by(|a, b| a.t_mm.total_cmp(&b.t_mm));
    let gaps: Vec<f64> = planes.windows(2).map(|w| w[1].t_mm - w[0].t_mm).collect();
    let half_end = if gaps.is_empty() {
        // One plane: as thick as the grid along n.
        0.5 * (0..3)
            .map(|a| (DVec3::from(grid.direction[a]).dot(n) * grid.spacing_mm[a]).abs())
            .fold(0.0, f64::max)
    } else {
        let mut g = gaps.clone();
        g.sort_by(f64::total_cmp);
        0.5 * g[g.len() / 2]
    };
    // Slab boundaries: plane i covers [bounds[i], bounds[i+1]).
    let mut bounds = vec![planes[0].t_mm - half_end];
    bounds.extend(planes.windows(2).map(|w| 0.5 * (w[0].t_mm + w[1].t_mm)));
    bounds.push(planes[planes.len() - 1].t_mm + half_end);
    let plane_at = |t: f64| -> Option<usize> {
        if t < bounds[0] || t >= bounds[bounds.len() - 1] {
            return None;
        }
        Some(bounds.partition_point(|b| *b <= t) - 1)
    };
    // Voxel index ranges of the contours' bounding box (plus the end slabs).
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in contours.iter().flatten() {
        for s in [-half_end, half_end] {
            let v = grid.patient_to_voxel((DVec3::from(*p) + n * s).into());
            for a in 0..3 {
                lo[a] = lo[a].min(v[a]);
                hi[a] = hi[a].max(v[a]);
            }
        }
    }
    let range = |a: usize| -> (usize, usize) {
        let s = lo[a].floor().max(0.0) as usize;
        let e = (hi[a].ceil() + 1.0).min(grid.dims[a] as f64).max(0.0) as usize;
        (s, e)
    };
    let (ri, rj, rk) = (range(0), range(1), range(2));
    let row_dir = DVec3::from(grid.direction[0]) * grid.spacing_mm[0];
    let row_in_plane = row_dir.dot(n).abs() < 1e-9;
    let mut out = Vec::new();
    for k in rk.0..rk.1 {
        for j in rj.0..rj.1 {
            let p0 = DVec3::from(grid.voxel_to_patient([0.0, j as f64, k as f64]));
            if row_in_plane {
                let Some(pi) = plane_at(p0.dot(n)) else {
                    continue;
                };
                let crossings = row_crossings(&planes[pi].polygons, to2(p0), to2(row_dir));
                for w in crossings.chunks_exact(2) {
                    let s = w[0].ceil().max(ri.0 as f64) as usize;
                    let e = (w[1].ceil().min(ri.1 as f64)).max(0.0) as usize;
                    for i in s..e {
                        out.push(grid.index(i, j, k) as u32);
                    }
                }
            } else {
                for i in ri.0..ri.1 {
                    let p = DVec3::from(grid.voxel_to_patient([i as f64, j as f64, k as f64]));
                    if let Some(pi) = plane_at(p.dot(n)) {
                        if inside_even_odd(&planes[pi].polygons, to2(p)) {
                            out.push(grid.index(i, j, k) as u32);
                        }
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out
}

/// Sorted parameters s where the line p0 + s·d crosses polygon edges (half-open rule, so
/// a vertex on the line counts once). Voxel i is inside when an odd number are < i.
fn row_crossings(polygons: &[Vec<DVec2>], p0: DVec2, d: DVec2) -> Vec<f64> {
    // Signed distance (times |d|) of q from the line, along the line's normal m.
    let m = d.perp();
    let h = |q: DVec2| (q - p0).dot(m);
    let mut s = Vec::new();
    for poly in polygons {
        for (idx, &a) in poly.iter().enumerate() {
            let b = poly[(idx + 1) % poly.len()];
            let (ha, hb) = (h(a), h(b));
            if (ha > 0.0) != (hb > 0.0) {
                let x = a + (b - a) * (ha / (ha - hb));
                s.push((x - p0).dot(d) / d.dot(d));
            }
        }
    }
    s.sort_by(f64::total_cmp);
    s
}

fn inside_even_odd(polygons: &[Vec<DVec2>], p: DVec2) -> bool {
    let mut inside = false;
    for poly in polygons {
        for (idx, a) in poly.iter().enumerate() {
            let b = poly[(idx + 1) % poly.len()];
            if (a.y > p.y) != (b.y > p.y) {
                let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
                if p.x < x {
                    inside = !inside;
                }
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(z: f64, half: f64) -> Vec<[f64; 3]> {
        vec![
            [-half, -half, z],
            [half, -half, z],
            [half, half, z],
            [-half, half, z],
        ]
    }

    #[test]
    fn square_prism_fills_the_voxels_whose_centres_are_inside() {
        // 10 mm squares on planes z = 0, 2, 4 (slabs −1..5 mm) on a 1 mm grid with voxel
        // centres at half-integers: 10 × 10 per plane, 6 grid slices.
        let contours: Vec<_> = [0.0, 2.0, 4.0].iter().map(|&z| square(z, 5.0)).collect();
        let g = Grid::new([20, 20, 20], [1.0; 3], [-9.5, -9.5, -9.5]);
        assert_eq!(rasterise(&contours, &g).len(), 10 * 10 * 6);
        // The same on an oblique-row grid exercises the point-test path.
        let mut tilted = g.clone();
        let (s, c) = 0.2f64.sin_cos();
        tilted.direction = [[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]];
        let n = rasterise(&contours, &tilted).len() as f64;
        assert!((n - 600.0).abs() < 0.15 * 600.0, "{n}");
    }

    #[test]
    fn inner_contour_is_a_hole() {
        let contours = vec![square(0.0, 5.0), square(0.0, 2.0)];
        let g = Grid::new([20, 20, 1], [1.0; 3], [-9.5, -9.5, 0.0]);
        assert_eq!(rasterise(&contours, &g).len(), 100 - 16);
    }
}
