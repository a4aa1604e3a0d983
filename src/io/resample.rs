//! Moving volumes between grids through patient coordinates (LPS, mm): nearest neighbour (labels),
//! trilinear (HU), and activity-conserving redistribution (Bq), plus grid overlap.
//!
//! Activity is resampled by splitting every source voxel into `m³` equal sub-voxels, each
//! carrying `A/m³` to the destination voxel that contains its centre. The total is exactly
//! conserved for the part of the source inside the destination grid, and the fraction that
//! falls outside is returned so callers can report it.

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

/// Trilinear samples of `src` at the voxel centres of `dst`; points outside the source's
/// voxel centres are clamped to the edge voxel when within half a voxel, else `outside`.
pub fn sample_trilinear(src: &Volume<f32>, dst: &Grid, outside: f32) -> Vec<f32> {
    use rayon::prelude::*;
    let g = &src.grid;
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
/// Returns the activities and the fraction of the source activity that fell outside `dst`.
pub fn resample_activity(src_bq_ml: &Volume<f32>, dst: &Grid) -> (Vec<f64>, f64) {
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
    let lost = if total > 0.0 {
        1.0 - inside / total
    } else {
        0.0
    };
    (out, lost)
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
