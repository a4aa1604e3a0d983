//! Kernel function `electron_track`: one electron, condensed history, to the cutoff or out of
//! the grid. Physics in [`crate::physics::electron`]; WGSL twin
//! `shaders/shared/electron_track.wgsl`.

use super::{Ctx, KernelParams, Place};
use crate::physics::decay::to_units;
use crate::physics::direction::rotate;
use crate::physics::electron::{
    electron_lambda1, electron_range, energy_at_range, ms_tau, sample_ms_cos,
    MAX_STEP_RANGE_FRACTION,
};
use crate::physics::rng::Pcg32;
use crate::physics::tables::UNITS_PER_KEV;

/// Bound on steps per track: a 3 MeV electron needs about 40 range-limited steps plus one per
/// voxel crossed; 4096 is never reached in practice and is counted if it is.
pub const MAX_ELECTRON_STEPS: u32 = 4096;

/// Smallest density used for path conversion (g/cm³): keeps vacuum voxels finite.
pub const MIN_DENSITY: f32 = 1e-6;

/// Transports an electron of `units` fixed-point energy from `place` along `dir`.
#[expect(
    clippy::needless_range_loop,
    reason = "indexes axes like the WGSL it mirrors"
)]
pub fn electron_track(
    ctx: &mut Ctx,
    mut place: Place,
    mut dir: [f32; 3],
    mut units: u32,
    rng: &mut Pcg32,
) {
    let p = ctx.inp.params;
    let t = ctx.inp.tables;
    let mut voxel = place.voxel(p);
    if units < p.electron_cutoff_units {
        ctx.tally.add(voxel, units);
        return;
    }
    for _ in 0..MAX_ELECTRON_STEPS {
        let m = ctx.inp.material[voxel] as usize;
        let rho = ctx.inp.density[voxel].max(MIN_DENSITY);
        let e_kev = units as f32 / UNITS_PER_KEV;
        let (i, f) = t.energy.locate(e_kev);
        let range = electron_range(t, m, i, f);
        let range_cut = ctx.inp.range_cutoff[m];
        // Step: a fraction of the residual range, or what is left down to the cutoff.
        let mut s_rho = MAX_STEP_RANGE_FRACTION * range;
        let mut last = false;
        if range - s_rho <= range_cut {
            s_rho = (range - range_cut).max(0.0);
            last = true;
        }
        let mut s_mm = s_rho / rho;
        let (d_min, axis) = boundary_distance(&place, dir, p.spacing_mm);
        let crossing = d_min < s_mm;
        if crossing {
            s_mm = d_min;
            s_rho = s_mm * rho;
            last = false;
        }
        ctx.counters.electron_steps += 1;
        ctx.counters.electron_path_mm += s_mm as f64;
        if last {
            ctx.tally.add(voxel, units);
            return;
        }
        let r_after = range - s_rho;
        let e_after = energy_at_range(t, m, r_after);
        let units_after = to_units(e_after).min(units);
        ctx.tally.add(voxel, units - units_after);
        units = units_after;
        // λ₁ at the mid-step energy: the step's energy loss is up to ~20 %.
        let e_mid = energy_at_range(t, m, range - 0.5 * s_rho);
        let (im, fm) = t.energy.locate(e_mid);
        let tau = ms_tau(s_rho, electron_lambda1(t, m, im, fm));
        for a in 0..3 {
            place.pos[a] += dir[a] * s_mm;
        }
        if crossing {
            if !cross_face(&mut place, dir, axis, p) {
                ctx.counters.escaped_units += units as u64;
                return;
            }
            voxel = place.voxel(p);
        }
        let cos_theta = sample_ms_cos(t, tau, rng.uniform());
        dir = rotate(dir, cos_theta, rng.uniform());
        if units < p.electron_cutoff_units {
            ctx.tally.add(voxel, units);
            return;
        }
    }
    ctx.counters.truncated_tracks += 1;
    ctx.tally.add(voxel, units);
}

/// Distance (mm) from `place` along `dir` to the boundary of its voxel, and the axis of the
/// face it reaches first.
fn boundary_distance(place: &Place, dir: [f32; 3], spacing_mm: [f32; 3]) -> (f32, usize) {
    let mut d_min = f32::INFINITY;
    let mut axis = 0usize;
    for a in 0..3 {
        if dir[a] != 0.0 {
            let face = if dir[a] > 0.0 {
                (place.ijk[a] + 1) as f32
            } else {
                place.ijk[a] as f32
            };
            let d = ((face * spacing_mm[a] - place.pos[a]) / dir[a]).max(0.0);
            if d < d_min {
                d_min = d;
                axis = a;
            }
        }
    }
    (d_min, axis)
}

/// Moves `place` across its voxel's face on `axis` (travelling along `dir`) into the next
/// voxel, snapped onto the face; false when that leaves the grid.
fn cross_face(place: &mut Place, dir: [f32; 3], axis: usize, p: &KernelParams) -> bool {
    let step = if dir[axis] > 0.0 { 1 } else { -1 };
    place.ijk[axis] += step;
    let face_index = if step > 0 {
        place.ijk[axis]
    } else {
        place.ijk[axis] + 1
    };
    place.pos[axis] = face_index as f32 * p.spacing_mm[axis];
    (0..p.dims[axis] as i32).contains(&place.ijk[axis])
}
