//! Moving volumes between grids through patient coordinates (LPS, mm), directly or through a
//! rigid transform: nearest neighbour (labels), trilinear (HU, emission images), and
//! activity-conserving redistribution (Bq), plus grid overlap. This is the one resampling
//! module: the I/O (CT and labels onto the transport grid, SPECT/PET activity) and the
//! registration (a moving image through the transform found) both call it.
//!
//! **Where a voxel is looked up.** The voxel centre p of the destination grid is looked up in
//! the source at p, or at T(p) when a [`RigidTransform`] T is given (T maps the destination,
//! i.e. fixed, frame to the source, i.e. moving, frame: what registration returns).
//!
//! | function | values | through T | outside the source |
//! |---|---|---|---|
//! | [`resample_nearest`] | nearest voxel centre | optional | `outside` |
//! | [`resample_trilinear`] | trilinear | optional | `outside` |
//! | [`sample_nearest`], [`sample_trilinear`] | the same, in patient coordinates | no | `outside` |
//! | [`nearest_through`], [`trilinear_through`] | the same, as a volume on the target | yes | 0 |
//! | [`trilinear_at`] | trilinear at one continuous voxel coordinate | (caller's) | `None` |
//! | [`resample_activity`] | Bq per voxel, total conserved | no | reported as lost |
//!
//! Trilinear sampling clamps to the edge voxel within half a voxel of the outer voxel
//! centres and is "outside" beyond.
//!
//! Activity is resampled by overlap volume when the grids share their axes (each destination
//! voxel gets each source voxel's activity times the fraction of that voxel it covers), else
//! by splitting every source voxel into `m³` sub-voxels. Either way the total is conserved for
//! the part of the source inside the destination grid, and the fraction that falls outside is
//! returned so callers can report it.

use crate::geometry::{Grid, RigidTransform, Volume};
use glam::DVec3;
use rayon::prelude::*;

/// Patient-space (LPS) axis-aligned bounding box of a grid's voxel *edges*, mm: (min, max).
pub fn bounding_box_mm(grid: &Grid) -> ([f64; 3], [f64; 3]) {
    let (mut lo, mut hi) = (DVec3::INFINITY, DVec3::NEG_INFINITY);
    for corner in 0..8 {
        let ijk = [0, 1, 2].map(|a| {
            if corner >> a & 1 == 1 {
                grid.dims[a] as f64 - 0.5
            } else {
                -0.5
            }
        });
        let p = DVec3::from(grid.voxel_to_patient(ijk));
        (lo, hi) = (lo.min(p), hi.max(p));
    }
    (lo.into(), hi.into())
}

/// Text of a bounding box for messages.
pub fn box_text((lo, hi): ([f64; 3], [f64; 3])) -> String {
    format!(
        "[{:.1}, {:.1}] × [{:.1}, {:.1}] × [{:.1}, {:.1}]",
        lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]
    )
}

/// The sub-grid of `grid` (same spacing and direction) covering the part of it inside
/// `other`'s bounding box; `None` when they do not overlap.
pub fn restrict_to_overlap(grid: &Grid, other: &Grid) -> Option<Grid> {
    let (lo, hi) = bounding_box_mm(other);
    let (mut imin, mut imax) = (DVec3::INFINITY, DVec3::NEG_INFINITY);
    for corner in 0..8 {
        let p = [0, 1, 2].map(|c| if corner >> c & 1 == 1 { hi[c] } else { lo[c] });
        let v = DVec3::from(grid.patient_to_voxel(p));
        (imin, imax) = (imin.min(v), imax.max(v));
    }
    let mut start = [0usize; 3];
    let mut dims = [0usize; 3];
    for a in 0..3 {
        let s = imin[a].round().max(0.0);
        let e = imax[a].round().min(grid.dims[a] as f64 - 1.0);
        if e < s {
            return None;
        }
        start[a] = s as usize;
        dims[a] = (e - s) as usize + 1;
    }
    let origin_mm = grid.voxel_to_patient(start.map(|x| x as f64));
    Some(Grid {
        dims,
        spacing_mm: grid.spacing_mm,
        origin_mm,
        direction: grid.direction,
    })
}

/// Continuous voxel coordinates in `src` of the centre of `dst`'s voxel `index`, taken
/// through `through` when given.
fn source_voxel<'a>(
    src: &'a Grid,
    dst: &'a Grid,
    through: Option<&RigidTransform>,
) -> impl Fn(usize) -> [f64; 3] + Sync + 'a {
    let moved = through.map(RigidTransform::mapping);
    move |index| {
        let p = dst.voxel_to_patient(dst.ijk(index).map(|x| x as f64));
        let p = match &moved {
            Some(t) => t(p),
            None => p,
        };
        src.patient_to_voxel(p)
    }
}

/// Nearest-neighbour samples of `src` at the voxel centres of `dst`, looked up through
/// `through` when given (see the module doc); `outside` beyond the source.
pub fn resample_nearest<T: Copy + Send + Sync>(
    src: &Volume<T>,
    dst: &Grid,
    through: Option<&RigidTransform>,
    outside: T,
) -> Vec<T> {
    let at = source_voxel(&src.grid, dst, through);
    (0..dst.n_voxels())
        .into_par_iter()
        .map(|idx| match voxel_of(&src.grid, at(idx)) {
            Some(i) => src.data[i],
            None => outside,
        })
        .collect()
}

/// Nearest-neighbour samples of `src` at the voxel centres of `dst` (`outside` beyond it).
pub fn sample_nearest<T: Copy + Send + Sync>(src: &Volume<T>, dst: &Grid, outside: T) -> Vec<T> {
    resample_nearest(src, dst, None, outside)
}

/// A label map moved onto `target` through `t` by nearest voxel; outside it is 0.
pub fn nearest_through<T: Copy + Default + Send + Sync>(
    labels: &Volume<T>,
    t: &RigidTransform,
    target: &Grid,
) -> Volume<T> {
    Volume {
        grid: target.clone(),
        data: resample_nearest(labels, target, Some(t), T::default()),
    }
}

/// The voxel whose centre is nearest to continuous voxel coordinates `v`; `None` outside.
fn voxel_of(grid: &Grid, v: [f64; 3]) -> Option<usize> {
    let mut ijk = [0usize; 3];
    for a in 0..3 {
        let r = v[a].round();
        if !(r >= 0.0 && r < grid.dims[a] as f64) {
            return None;
        }
        ijk[a] = r as usize;
    }
    Some(grid.index(ijk[0], ijk[1], ijk[2]))
}

/// When `dst` is `src`'s lattice shifted by whole voxels (same axes and spacing, the usual
/// transport grid cut out of the CT), the source index of `dst`'s voxel (0, 0, 0).
fn voxel_aligned_offset(src: &Grid, dst: &Grid) -> Option<[i64; 3]> {
    if !same_axes(src, dst) || (0..3).any(|a| src.spacing_mm[a] != dst.spacing_mm[a]) {
        return None;
    }
    let v = src.patient_to_voxel(dst.origin_mm);
    let r = v.map(f64::round);
    (0..3)
        .all(|a| (v[a] - r[a]).abs() < 1e-6)
        .then(|| r.map(|x| x as i64))
}

/// Trilinear samples of `src` at the voxel centres of `dst`, looked up through `through`
/// when given (see the module doc); `outside` beyond the source's outer half voxel.
///
/// Without a transform, a `dst` on `src`'s lattice (shifted by whole voxels) takes the
/// source values as they are.
pub fn resample_trilinear(
    src: &Volume<f32>,
    dst: &Grid,
    through: Option<&RigidTransform>,
    outside: f32,
) -> Vec<f32> {
    if through.is_none() {
        if let Some(offset) = voxel_aligned_offset(&src.grid, dst) {
            return copy_shifted(src, dst, offset, outside);
        }
    }
    let at = source_voxel(&src.grid, dst, through);
    (0..dst.n_voxels())
        .into_par_iter()
        .map(|idx| trilinear_at(src, at(idx)).unwrap_or(outside))
        .collect()
}

/// Trilinear samples of `src` at the voxel centres of `dst`; points outside the source's
/// voxel centres are clamped to the edge voxel when within half a voxel, else `outside`.
pub fn sample_trilinear(src: &Volume<f32>, dst: &Grid, outside: f32) -> Vec<f32> {
    resample_trilinear(src, dst, None, outside)
}

/// `moving` resampled onto `target` through `t` (target point p ← moving at T(p)),
/// trilinear; outside the moving image the value is 0.
pub fn trilinear_through(moving: &Volume<f32>, t: &RigidTransform, target: &Grid) -> Volume<f32> {
    Volume {
        grid: target.clone(),
        data: resample_trilinear(moving, target, Some(t), 0.0),
    }
}

/// Every destination centre is a source centre (`offset` voxels in): the source values.
fn copy_shifted(src: &Volume<f32>, dst: &Grid, offset: [i64; 3], outside: f32) -> Vec<f32> {
    let g = &src.grid;
    (0..dst.n_voxels())
        .into_par_iter()
        .with_min_len(1 << 15)
        .map(|idx| {
            let ijk = dst.ijk(idx);
            let s = [0, 1, 2].map(|a| ijk[a] as i64 + offset[a]);
            if (0..3).all(|a| s[a] >= 0 && s[a] < g.dims[a] as i64) {
                src.data[g.index(s[0] as usize, s[1] as usize, s[2] as usize)]
            } else {
                outside
            }
        })
        .collect()
}

/// Trilinear value of `vol` at continuous voxel coordinates `ijk` (voxel centres at
/// integers); within half a voxel beyond the outer centres the edge value is used, further
/// out (or at a non-finite coordinate) `None`.
pub fn trilinear_at(vol: &Volume<f32>, ijk: [f64; 3]) -> Option<f32> {
    let d = vol.grid.dims;
    let mut base = [0usize; 3];
    let mut frac = [0.0f64; 3];
    for a in 0..3 {
        let x = ijk[a];
        if !(x >= -0.5 && x <= d[a] as f64 - 0.5) {
            return None;
        }
        // Clamp to the edge voxels within the half-voxel border.
        let x = x.clamp(0.0, (d[a] - 1) as f64);
        let b = (x.floor() as usize).min(d[a].saturating_sub(2));
        base[a] = b;
        frac[a] = if d[a] > 1 { x - b as f64 } else { 0.0 };
    }
    let mut v = 0.0f64;
    for corner in 0..8usize {
        let mut w = 1.0;
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let up = (corner >> a) & 1;
            idx[a] = (base[a] + up).min(d[a] - 1);
            w *= if up == 1 { frac[a] } else { 1.0 - frac[a] };
        }
        if w > 0.0 {
            v += w * vol.data[vol.grid.index(idx[0], idx[1], idx[2])] as f64;
        }
    }
    Some(v as f32)
}

/// Activity per voxel of `dst` (Bq) from a concentration map (Bq/mL), conserving the total.
///
/// The concentration is taken as uniform within each source voxel. When the two grids have
/// the same axes (the usual CT and SPECT/PET pair), each destination voxel receives the
/// activity of the source voxels it overlaps in proportion to the overlap volume
/// ([`overlap_resample`]): exact, with no sampling pattern. Grids at an angle to each other are
/// sampled by sub-voxels ([`subvoxel_resample`]).
///
/// Returns the activities and the fraction of the source activity that fell outside `dst`.
pub fn resample_activity(src_bq_ml: &Volume<f32>, dst: &Grid) -> (Vec<f64>, f64) {
    let (out, inside, total) = if same_axes(&src_bq_ml.grid, dst) {
        overlap_resample(src_bq_ml, dst)
    } else {
        subvoxel_resample(src_bq_ml, dst)
    };
    let lost = if total > 0.0 {
        (1.0 - inside / total).max(0.0)
    } else {
        0.0
    };
    (out, lost)
}

/// Whether the two grids' i, j, k axes point the same ways (to rounding).
fn same_axes(a: &Grid, b: &Grid) -> bool {
    (0..3).all(|r| (0..3).all(|c| (a.direction[r][c] - b.direction[r][c]).abs() < 1e-9))
}

/// For each destination index along one axis, the source voxels it overlaps and the
/// fraction of each source voxel's length inside it. `src_lo`/`dst_lo` are the positions of
/// the lower faces of voxel 0 along the (shared) axis, mm.
fn axis_overlaps(
    src_lo: f64,
    src_mm: f64,
    n_src: usize,
    dst_lo: f64,
    dst_mm: f64,
    n_dst: usize,
) -> Vec<Vec<(usize, f64)>> {
    (0..n_dst)
        .map(|j| {
            let (a, b) = (dst_lo + j as f64 * dst_mm, dst_lo + (j + 1) as f64 * dst_mm);
            let first = ((a - src_lo) / src_mm).floor().max(0.0) as usize;
            let mut list = Vec::new();
            for i in first..n_src {
                let (c, d) = (src_lo + i as f64 * src_mm, src_lo + (i + 1) as f64 * src_mm);
                if c >= b {
                    break;
                }
                let len = b.min(d) - a.max(c);
                if len > 0.0 {
                    list.push((i, len / src_mm));
                }
            }
            list
        })
        .collect()
}

/// Overlap-volume resampling between grids with the same axes: (activities, inside, total).
/// In parallel over destination slices; each voxel's sum in a fixed order.
pub fn overlap_resample(src_bq_ml: &Volume<f32>, dst: &Grid) -> (Vec<f64>, f64, f64) {
    let g = &src_bq_ml.grid;
    let ml = g.voxel_volume_mm3() * 1e-3;
    let activity: Vec<f64> = src_bq_ml.data.iter().map(|&c| c as f64 * ml).collect();
    let total: f64 = activity.iter().sum();
    // Face of voxel 0 along axis a, in coordinates along that axis (shared by both grids).
    let lower = |grid: &Grid, a: usize| {
        grid.axes()[a].dot(DVec3::from(grid.origin_mm)) - 0.5 * grid.spacing_mm[a]
    };
    let lists: Vec<Vec<Vec<(usize, f64)>>> = (0..3)
        .map(|a| {
            axis_overlaps(
                lower(g, a),
                g.spacing_mm[a],
                g.dims[a],
                lower(dst, a),
                dst.spacing_mm[a],
                dst.dims[a],
            )
        })
        .collect();
    let [nx, ny, _] = dst.dims;
    let [sx, sy, _] = g.dims;
    let mut out = vec![0.0f64; dst.n_voxels()];
    // Each voxel written once (a first write to fresh memory is one page fault, a read
    // first is two).
    out.par_chunks_mut((nx * ny).max(1))
        .enumerate()
        .for_each(|(k, slice)| {
            for (v, o) in slice.iter_mut().enumerate() {
                let (i, j) = (v % nx, v / nx);
                let mut acc = 0.0;
                for (iz, fz) in &lists[2][k] {
                    for (iy, fy) in &lists[1][j] {
                        let fzy = fz * fy;
                        let row = sx * (iy + sy * iz);
                        for (ix, fx) in &lists[0][i] {
                            acc += activity[row + ix] * (fzy * fx);
                        }
                    }
                }
                *o = acc;
            }
        });
    let inside = out.par_iter().with_min_len(1 << 16).sum::<f64>();
    (out, inside, total)
}

/// Sub-voxel resampling for grids at any angle: every source voxel is split into `m³` equal
/// sub-voxels, each carrying `A/m³` to the destination voxel that contains its centre:
/// (activities, inside, total).
pub fn subvoxel_resample(src_bq_ml: &Volume<f32>, dst: &Grid) -> (Vec<f64>, f64, f64) {
    let g = &src_bq_ml.grid;
    let ml = g.voxel_volume_mm3() * 1e-3;
    // Sub-voxels no larger than half the destination spacing in every direction.
    let finest_dst = dst.spacing_mm.iter().copied().fold(f64::INFINITY, f64::min);
    let coarsest_src = g.spacing_mm.iter().copied().fold(0.0, f64::max);
    let m = ((2.0 * coarsest_src / finest_dst).ceil() as usize).clamp(1, 8);
    let sub = 1.0 / (m * m * m) as f64;
    let mut out = vec![0.0f64; dst.n_voxels()];
    let (mut total, mut inside) = (0.0f64, 0.0f64);
    for idx in 0..g.n_voxels() {
        let a = src_bq_ml.data[idx] as f64 * ml;
        if a == 0.0 {
            continue;
        }
        total += a;
        let ijk = g.ijk(idx);
        for s in 0..m * m * m {
            let o = [s % m, (s / m) % m, s / (m * m)];
            let v = [0, 1, 2].map(|k| ijk[k] as f64 - 0.5 + (o[k] as f64 + 0.5) / m as f64);
            if let Some(d) = voxel_of(dst, dst.patient_to_voxel(g.voxel_to_patient(v))) {
                out[d] += a * sub;
                inside += a * sub;
            }
        }
    }
    (out, inside, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a of a byte stream: a fingerprint of resampled values, bit for bit.
    fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
        bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    fn f32_print(v: &[f32]) -> u64 {
        fnv1a(v.iter().flat_map(|x| x.to_bits().to_le_bytes()))
    }

    fn u16_print(v: &[u16]) -> u64 {
        fnv1a(v.iter().flat_map(|x| x.to_le_bytes()))
    }

    /// A source on an oblique lattice (axes (1,2,2)/3, (2,1,−2)/3, (−2,2,−1)/3: a proper
    /// rotation with no zero cosine) and an axis-aligned target around its centre.
    fn oblique_source_and_target() -> (Volume<f32>, Volume<u16>, Grid) {
        let third = 1.0 / 3.0;
        let src = Grid {
            dims: [11, 9, 7],
            spacing_mm: [2.1, 1.7, 3.3],
            origin_mm: [-12.3, 8.1, -4.4],
            direction: [
                [third, 2.0 * third, 2.0 * third],
                [2.0 * third, third, -2.0 * third],
                [-2.0 * third, 2.0 * third, -third],
            ],
        };
        let n = src.n_voxels();
        let values = (0..n).map(|i| ((i * 37 + 11) % 101) as f32 * 0.5).collect();
        let labels = (0..n).map(|i| (i % 5) as u16).collect();
        let dst = Grid::new([13, 10, 8], [1.5, 2.0, 2.5], [-19.6, 14.8, -13.7]);
        (
            Volume {
                grid: src.clone(),
                data: values,
            },
            Volume {
                grid: src,
                data: labels,
            },
            dst,
        )
    }

    /// The fingerprints were computed by the code this module replaced (commit e951ab0:
    /// `kinetics::register::{resample_linear, resample_nearest}` and
    /// `io::resample::{sample_trilinear, sample_nearest}`, with the hand-written grid and
    /// rotation loops), run on the same inputs: the merged module gives the same bits, with
    /// and without a rigid transform.
    #[test]
    fn resampling_with_and_without_a_rigid_transform_keeps_the_pre_merge_bits() {
        let (values, labels, dst) = oblique_source_and_target();
        let t = RigidTransform {
            rotation_deg: [4.0, -3.0, 6.0],
            translation_mm: [5.2, -3.4, 2.6],
            centre_mm: crate::geometry::rigid::grid_centre_mm(&dst),
        };
        let moved = trilinear_through(&values, &t, &dst);
        assert_eq!(moved.grid, dst);
        assert_eq!(moved.data.iter().filter(|&&x| x != 0.0).count(), 590);
        assert_eq!(f32_print(&moved.data), 0x4ced_e14c_3dfd_9ce4);
        let moved = nearest_through(&labels, &t, &dst);
        assert_eq!(moved.data.iter().filter(|&&x| x != 0).count(), 465);
        assert_eq!(u16_print(&moved.data), 0xcc7e_8262_bcfd_142e);
        let direct = sample_trilinear(&values, &dst, -1.0);
        assert_eq!(direct.iter().filter(|&&x| x != -1.0).count(), 767);
        assert_eq!(f32_print(&direct), 0x67fe_07b3_e4a2_c33d);
        let direct = sample_nearest(&labels, &dst, 9);
        assert_eq!(direct.iter().filter(|&&x| x != 9).count(), 767);
        assert_eq!(u16_print(&direct), 0x089f_a6d1_789f_9e22);
    }

    #[test]
    fn the_identity_transform_samples_like_patient_coordinates() {
        let (values, labels, dst) = oblique_source_and_target();
        let identity = RigidTransform::identity([0.0; 3]);
        assert_eq!(
            resample_trilinear(&values, &dst, Some(&identity), -1.0),
            sample_trilinear(&values, &dst, -1.0)
        );
        assert_eq!(
            resample_nearest(&labels, &dst, Some(&identity), 9),
            sample_nearest(&labels, &dst, 9)
        );
    }

    #[test]
    fn a_pure_shift_moves_the_image_by_whole_voxels() {
        // T(p) = p + 2 mm along x on 1 mm voxels: target voxel i shows source voxel i + 2.
        let g = Grid::new([6, 3, 3], [1.0; 3], [0.0; 3]);
        let data: Vec<f32> = (0..g.n_voxels()).map(|i| i as f32).collect();
        let vol = Volume {
            grid: g.clone(),
            data,
        };
        let t = RigidTransform {
            translation_mm: [2.0, 0.0, 0.0],
            ..RigidTransform::identity([0.0; 3])
        };
        let moved = trilinear_through(&vol, &t, &g);
        for (idx, &x) in moved.data.iter().enumerate() {
            let [i, j, k] = g.ijk(idx);
            // Source x = i + 2 lies beyond the last centre's half voxel (5.5) for i ≥ 4.
            let want = if i + 2 < 6 {
                vol.data[g.index(i + 2, j, k)]
            } else {
                0.0
            };
            assert_eq!(x, want, "({i},{j},{k})");
        }
    }

    #[test]
    fn trilinear_at_reproduces_a_linear_field_and_stops_half_a_voxel_out() {
        let g = Grid::new([4, 5, 6], [2.0, 2.0, 2.0], [0.0; 3]);
        let data = (0..g.n_voxels())
            .map(|i| {
                let [x, y, z] = g.ijk(i);
                (x + 2 * y + 3 * z) as f32
            })
            .collect();
        let v = Volume { grid: g, data };
        let s = trilinear_at(&v, [1.25, 2.5, 3.75]).unwrap();
        assert!((s - (1.25 + 5.0 + 11.25)).abs() < 1e-5);
        // Within the half-voxel border: the edge value.
        assert_eq!(trilinear_at(&v, [-0.5, 0.0, 0.0]), Some(0.0));
        assert!(trilinear_at(&v, [-0.6, 0.0, 0.0]).is_none());
        assert!(trilinear_at(&v, [f64::NAN, 0.0, 0.0]).is_none());
    }

    #[test]
    fn activity_is_conserved_onto_a_finer_shifted_grid() {
        let src = Grid::new([3, 3, 3], [4.0; 3], [0.0; 3]);
        let data: Vec<f32> = (0..27).map(|i| i as f32).collect();
        let total: f64 = data.iter().map(|&v| v as f64 * 0.064).sum();
        let vol = Volume { grid: src, data };
        // Covers the source entirely: [−2, 10] mm on each axis, with margin.
        let dst = Grid::new([14, 14, 14], [1.0; 3], [-2.75, -2.75, -2.75]);
        let (a, lost) = resample_activity(&vol, &dst);
        assert!(lost.abs() < 1e-12);
        assert!((a.iter().sum::<f64>() - total).abs() < 1e-9 * total);
    }

    #[test]
    fn a_uniform_concentration_stays_uniform_on_a_finer_grid_at_any_offset() {
        // 4 mm source voxels onto 1.5 mm voxels shifted by 0.3 mm: a ratio and offset that
        // leave no whole number of sub-voxels per destination voxel.
        let src = Grid::new([6, 6, 6], [4.0; 3], [0.0; 3]);
        let vol = Volume::filled(src, 1000.0f32);
        let dst = Grid::new([14, 14, 14], [1.5; 3], [-0.3, 0.45, 1.1]);
        let (a, _) = resample_activity(&vol, &dst);
        let want = 1000.0 * 1.5f64.powi(3) * 1e-3;
        let (lo, hi) = bounding_box_mm(&vol.grid);
        let mut inside = 0;
        for (v, &x) in a.iter().enumerate() {
            let p = dst.voxel_to_patient(dst.ijk(v).map(|x| x as f64));
            if (0..3).all(|c| p[c] - 0.75 >= lo[c] && p[c] + 0.75 <= hi[c]) {
                assert!((x - want).abs() < 1e-9 * want, "voxel {v}: {x} vs {want}");
                inside += 1;
            }
        }
        assert!(
            inside > 1000,
            "{inside} destination voxels inside the source"
        );
        // The sub-voxel sampling this replaces leaves a pattern on the same grids.
        let (b, _, _) = subvoxel_resample(&vol, &dst);
        assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 0.1 * want));
    }

    #[test]
    fn a_source_voxel_splits_by_overlap_volume_and_the_lost_part_is_reported() {
        // One hot 4 mm voxel (centre 0, faces ±2) onto 3 mm voxels with faces at −1, 2, 5 on
        // x and at −5, −2, 1, 4 on y and z: x keeps 3/4 (1/4 falls off the grid).
        let src = Grid::new([1, 1, 1], [4.0; 3], [0.0; 3]);
        let vol = Volume::filled(src, 250.0f32); // 250 Bq/mL × 0.064 mL = 16 Bq
        let dst = Grid::new([2, 3, 3], [3.0; 3], [0.5, -3.5, -3.5]);
        let (a, lost) = resample_activity(&vol, &dst);
        assert!((lost - 0.25).abs() < 1e-12, "{lost}");
        // y, z: [−2, 2] against faces −5, −2, 1, 4 splits 0, 3/4, 1/4.
        let fy = [0.0, 0.75, 0.25];
        let fx = [0.75, 0.0];
        for (v, &x) in a.iter().enumerate() {
            let [i, j, k] = dst.ijk(v);
            let want = 16.0 * fx[i] * fy[j] * fy[k];
            assert!((x - want).abs() < 1e-12, "({i},{j},{k}): {x} vs {want}");
        }
    }

    #[test]
    fn a_grid_cut_out_of_the_source_samples_the_source_values() {
        let src = Grid::new([7, 6, 5], [1.2, 0.9, 2.5], [-3.0, 4.0, 10.0]);
        let data: Vec<f32> = (0..src.n_voxels()).map(|i| (i * 37 % 101) as f32).collect();
        let vol = Volume {
            grid: src.clone(),
            data,
        };
        // Starts at source voxel (2, 1, 1) and runs one voxel past the source's far x face.
        let dst = Grid {
            dims: [6, 4, 3],
            origin_mm: src.voxel_to_patient([2.0, 1.0, 1.0]),
            ..src.clone()
        };
        assert_eq!(voxel_aligned_offset(&src, &dst), Some([2, 1, 1]));
        let v = sample_trilinear(&vol, &dst, -1.0);
        for (idx, &x) in v.iter().enumerate() {
            let [i, j, k] = dst.ijk(idx);
            let want = if i + 2 < 7 {
                vol.data[src.index(i + 2, j + 1, k + 1)]
            } else {
                -1.0
            };
            assert_eq!(x, want, "({i},{j},{k})");
        }
        // Half a voxel off the lattice: interpolated, not copied.
        let half = Grid {
            origin_mm: src.voxel_to_patient([2.5, 1.0, 1.0]),
            ..dst
        };
        assert_eq!(voxel_aligned_offset(&src, &half), None);
    }

    #[test]
    fn trilinear_reproduces_a_linear_field() {
        let src = Grid::new([5, 5, 5], [2.0; 3], [0.0; 3]);
        let data = (0..125)
            .map(|i| {
                let [x, y, z] = src.ijk(i);
                (x + 2 * y + 3 * z) as f32
            })
            .collect();
        let vol = Volume {
            grid: src.clone(),
            data,
        };
        let dst = Grid::new([3, 3, 3], [1.5; 3], [1.0, 1.0, 1.0]);
        let v = sample_trilinear(&vol, &dst, -1.0);
        for (i, &x) in v.iter().enumerate() {
            let p = dst.voxel_to_patient(dst.ijk(i).map(|x| x as f64));
            let want = (p[0] + 2.0 * p[1] + 3.0 * p[2]) / 2.0;
            assert!((x as f64 - want).abs() < 1e-5, "{x} vs {want}");
        }
    }

    #[test]
    fn overlap_restricts_to_the_common_box_and_none_when_disjoint() {
        let ct = Grid::new([100, 100, 50], [1.0, 1.0, 2.0], [0.0; 3]);
        let spect = Grid::new([10, 10, 10], [4.0; 3], [20.0, 20.0, 20.0]);
        let r = restrict_to_overlap(&ct, &spect).unwrap();
        assert_eq!(r.origin_mm, [18.0, 18.0, 18.0]);
        assert_eq!(r.dims, [41, 41, 21]);
        let far = Grid::new([10, 10, 10], [4.0; 3], [500.0, 0.0, 0.0]);
        assert!(restrict_to_overlap(&ct, &far).is_none());
    }
}
