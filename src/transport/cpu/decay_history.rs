//! Kernel `decay_history`: one decay, from its position to the end of every track it starts.
//! WGSL twin `shaders/decay_history.wgsl` (one invocation per history). The WGSL flattens the
//! recursion: its inner loop draws the emissions and runs photon passes
//! ([`super::photon_track::photon_pass`]) until an electron is due, and one `electron_track`
//! call site tracks it, which is this function's order of events and random numbers.
//!
//! Order of random numbers (kept identical in WGSL): stream = (seed, first_history + h);
//! 5 for the position, 1 for the β count, then per β: 1 energy + 2 direction + the track;
//! 1 for the line count, then per line: 2 alias + 2 direction + the track.

use super::electron_track::electron_track;
use super::photon_track::photon_track;
use super::{Ctx, Place};
use crate::physics::decay::{to_units, ELECTRON};
use crate::physics::direction::isotropic;
use crate::physics::rng::Pcg32;
use crate::source::source_position;

/// Simulates history `h` of the batch.
pub fn decay_history(ctx: &mut Ctx, h: u32) {
    let p = *ctx.inp.params;
    let d = ctx.inp.decay;
    let mut rng = Pcg32::new(p.seed, p.first_history + h as u64);
    let pos = source_position(ctx.inp.source, p.dims, p.spacing_mm, &mut rng);
    let Some(place) = Place::locate(pos, &p) else {
        // A shape reaching outside the grid: the decay's energy leaves at once.
        ctx.counters.emitted_units += d.local_units as u64;
        ctx.counters.escaped_units += d.local_units as u64;
        return;
    };
    ctx.counters.emitted_units += d.local_units as u64;
    ctx.tally.add(place.voxel(&p), d.local_units);
    let n_beta = d.beta_count(rng.uniform());
    for _ in 0..n_beta {
        let units = to_units(d.sample_beta_kev(rng.uniform()));
        let dir = isotropic(rng.uniform(), rng.uniform());
        ctx.counters.emitted_units += units as u64;
        electron_track(ctx, place, dir, units, &mut rng);
    }
    let n_lines = d.line_count(rng.uniform());
    for _ in 0..n_lines {
        let k = d.line_alias.sample(rng.uniform(), rng.uniform());
        let units = d.line_units[k];
        let dir = isotropic(rng.uniform(), rng.uniform());
        ctx.counters.emitted_units += units as u64;
        if d.line_particle[k] == ELECTRON {
            electron_track(ctx, place, dir, units, &mut rng);
        } else {
            photon_track(ctx, place, dir, units, &mut rng);
        }
    }
}
