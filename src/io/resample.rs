//! Moving volumes between grids through patient coordinates (LPS, mm): nearest neighbour (labels),
//! trilinear (HU), and activity-conserving redistribution (Bq), plus grid overlap.
//!
//! Activity is resampled by overlap volume when the grids share their axes (each destination
//! voxel gets each source voxel's activity times the fraction of that voxel it covers), else
//! by splitting every source voxel into `m³` sub-voxels. Either way the total is conserved for
//! the part of the source inside the destination grid, and the fraction that falls outside is
//! returned so callers can report it.

use crate::geometry::{Grid, Volume};

/// Patient-space (LPS) axis-aligned bounding box of a grid's voxel *edges*, mm: (min, max).
pub fn bounding_box_mm(grid: &Grid) -> ([f64; 3], [f64; 3]) {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let ijk = [0, 1, 2].map(|a| {
            if corner >> a & 1 == 1 {
                grid.dims[a] as f64 - 0.5
            } else {
                -0.5
            }
        });
        let p = grid.voxel_to_patient(ijk);
        for c in 0..3 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    (lo, hi)
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
    let mut imin = [f64::INFINITY; 3];
    let mut imax = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let p = [0, 1, 2].map(|c| if corner >> c & 1 == 1 { hi[c] } else { lo[c] });
        let v = grid.patient_to_voxel(p);
        for a in 0..3 {
            imin[a] = imin[a].min(v[a]);
            imax[a] = imax[a].max(v[a]);
        }
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

/// Nearest-neighbour samples of `src` at the voxel centres of `dst` (`outside` beyond it).
pub fn sample_nearest<T: Copy + Send + Sync>(src: &Volume<T>, dst: &Grid, outside: T) -> Vec<T> {
    use rayon::prelude::*;
    (0..dst.n_voxels())
        .into_par_iter()
        .map(|idx| {
            let ijk = dst.ijk(idx).map(|x| x as f64);
            let v = src.grid.patient_to_voxel(dst.voxel_to_patient(ijk));
            match voxel_of(&src.grid, v) {
                Some(i) => src.data[i],
                None => outside,
            }
        })
        .collect()
}

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

/// Trilinear samples of `src` at the voxel centres of `dst`; points outside the source's
/// voxel centres are clamped to the edge voxel when within half a voxel, else `outside`.
pub fn sample_trilinear(src: &Volume<f32>, dst: &Grid, outside: f32) -> Vec<f32> {
    use rayon::prelude::*;
    let g = &src.grid;
    if let Some(offset) = voxel_aligned_offset(g, dst) {
        // Every destination centre is a source centre: the samples are the source values.
        return (0..dst.n_voxels())
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
            .collect();
    }
    (0..dst.n_voxels())
        .into_par_iter()
        .map(|idx| {
            let ijk = dst.ijk(idx).map(|x| x as f64);
            let v = g.patient_to_voxel(dst.voxel_to_patient(ijk));
            if (0..3).any(|a| v[a] < -0.5 || v[a] > g.dims[a] as f64 - 0.5) {
                return outside;
            }
            let mut base = [0usize; 3];
            let mut frac = [0.0f64; 3];
            for a in 0..3 {
                let c = v[a].clamp(0.0, (g.dims[a] - 1) as f64);
                let f = c.floor().min((g.dims[a].max(2) - 2) as f64).max(0.0);
                base[a] = f as usize;
                frac[a] = if g.dims[a] > 1 { c - f } else { 0.0 };
            }
            let mut acc = 0.0f64;
            for corner in 0..8 {
                let mut w = 1.0;
                let mut p = [0usize; 3];
                for a in 0..3 {
                    let up = corner >> a & 1 == 1;
                    p[a] = (base[a] + usize::from(up)).min(g.dims[a] - 1);
                    w *= if up { frac[a] } else { 1.0 - frac[a] };
                }
                if w > 0.0 {
                    acc += w * src.data[g.index(p[0], p[1], p[2])] as f64;
                }
            }
            acc as f32
        })
        .collect()
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
    use rayon::prelude::*;
    let g = &src_bq_ml.grid;
    let ml = g.voxel_volume_mm3() * 1e-3;
    let activity: Vec<f64> = src_bq_ml.data.iter().map(|&c| c as f64 * ml).collect();
    let total: f64 = activity.iter().sum();
    // Face of voxel 0 along axis a, in coordinates along that axis (shared by both grids).
    let lower = |grid: &Grid, a: usize| {
        let o: f64 = (0..3)
            .map(|c| grid.direction[a][c] * grid.origin_mm[c])
            .sum();
        o - 0.5 * grid.spacing_mm[a]
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
