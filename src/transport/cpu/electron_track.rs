//! Kernel function `electron_track`: one electron, condensed history, to the cutoff or out of
//! the grid. Physics in [`crate::physics::electron`] and [`crate::physics::brems`]; WGSL twin
//! `shaders/shared/electron_track.wgsl`.
//!
//! A radiating electron (the decay's own: `radiates`) may make a bremsstrahlung photon on a
//! step; the photon is transported, on the electron's stream, after the step's deflection and
//! before the electron goes on ([`photon_track`], whose electrons do not radiate): the order
//! of random numbers of `decay_history.wgsl`, whose phase 1 runs the photon after the
//! `electron_step` pass that made it.

use super::photon_track::photon_track;
use super::{Ctx, KernelParams, Place};
use crate::physics::brems::{
    brems_photon_cos, brems_xs, sample_brems_kappa_trial, BREMS_K_MIN_KEV, MAX_BREMS_TRIALS,
};
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

/// A bremsstrahlung photon made on a step: where, which way, its energy in units.
type BremsPhoton = (Place, [f32; 3], u32);

/// Transports an electron of `units` fixed-point energy from `place` along `dir`; `radiates`:
/// whether it makes bremsstrahlung photons (the decay's electrons do, a photon's do not).
#[expect(
    clippy::needless_range_loop,
    reason = "indexes axes like the WGSL it mirrors"
)]
pub fn electron_track(
    ctx: &mut Ctx,
    mut place: Place,
    mut dir: [f32; 3],
    mut units: u32,
    radiates: bool,
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
        let mut units_after = to_units(e_after).min(units);
        ctx.tally.add(voxel, units - units_after);
        // λ₁ at the mid-step energy: the step's energy loss is up to ~20 %.
        let e_mid = energy_at_range(t, m, range - 0.5 * s_rho);
        let (im, fm) = t.energy.locate(e_mid);
        let tau = ms_tau(s_rho, electron_lambda1(t, m, im, fm));
        let mut photon = None;
        if radiates && e_mid > BREMS_K_MIN_KEV {
            let p_emit = brems_xs(t, m, im, fm) * s_rho;
            if rng.uniform() < p_emit {
                photon = brems_photon(ctx, &place, dir, s_mm, m, e_mid, units_after, rng);
                if let Some((_, _, k)) = photon {
                    units_after -= k;
                }
            }
        }
        units = units_after;
        for a in 0..3 {
            place.pos[a] += dir[a] * s_mm;
        }
        if crossing {
            if !cross_face(&mut place, dir, axis, p) {
                ctx.counters.escaped_units += units as u64;
                track_brems(ctx, photon, rng);
                return;
            }
            voxel = place.voxel(p);
        }
        let cos_theta = sample_ms_cos(t, tau, rng.uniform());
        dir = rotate(dir, cos_theta, rng.uniform());
        track_brems(ctx, photon, rng);
        if units < p.electron_cutoff_units {
            ctx.tally.add(voxel, units);
            return;
        }
    }
    ctx.counters.truncated_tracks += 1;
    ctx.tally.add(voxel, units);
}

/// Samples a bremsstrahlung photon of a step from `place` of length `s_mm` along `dir` at mid
/// energy `e_mid` in material `m`; its energy is at most `units_left`. `None` when the
/// rejection runs out (counted as truncated) or the photon would carry nothing.
#[expect(
    clippy::too_many_arguments,
    reason = "the step's state, as the WGSL twin reads it"
)]
fn brems_photon(
    ctx: &mut Ctx,
    place: &Place,
    dir: [f32; 3],
    s_mm: f32,
    m: usize,
    e_mid: f32,
    units_left: u32,
    rng: &mut Pcg32,
) -> Option<BremsPhoton> {
    let t = ctx.inp.tables;
    let mut kappa = None;
    for _ in 0..MAX_BREMS_TRIALS {
        let (u1, u2) = (rng.uniform(), rng.uniform());
        kappa = sample_brems_kappa_trial(t, m, e_mid, u1, u2);
        if kappa.is_some() {
            break;
        }
    }
    let u_phi = rng.uniform();
    let Some(kappa) = kappa else {
        ctx.counters.truncated_tracks += 1;
        return None;
    };
    let k = to_units(kappa * e_mid).min(units_left);
    if k == 0 {
        return None;
    }
    let mut mid = *place;
    for a in 0..3 {
        mid.pos[a] += dir[a] * (0.5 * s_mm);
    }
    ctx.counters.radiated_units += k as u64;
    Some((mid, rotate(dir, brems_photon_cos(e_mid), u_phi), k))
}

/// Transports the step's bremsstrahlung photon, if any, on the electron's stream.
fn track_brems(ctx: &mut Ctx, photon: Option<BremsPhoton>, rng: &mut Pcg32) {
    if let Some((at, dir, k)) = photon {
        photon_track(ctx, at, dir, k, rng);
    }
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
