//! Kernel `decay_history`: one decay, from its position to the end of every track it starts.
//! WGSL twin `shaders/decay_history.wgsl` (blocks of several decays per invocation, taken
//! from a work queue; here rayon's work stealing plays that part), in the same three
//! phases: draw every emission of the decay; track the electron emissions in the order drawn;
//! then the photon lines in the order drawn ([`photon_track`], which tracks each electron a
//! photon sets going before the photon flies on). The WGSL runs the phases over several
//! decays at a time, as many as its emission queue holds (a decay it cuts short is drawn on in
//! the next round), and phase 1 as one flat loop of `electron_step` passes (a SIMD lane whose
//! electron ended starts the next in the same pass); that gives the same numbers because every
//! particle has its own stream.
//!
//! Random numbers (kept identical in WGSL): history h = first_history + index draws its
//! emissions from stream (seed, [`PARTICLE_STREAMS_PER_HISTORY`]·h): 5 for the position, 1
//! for the β count, per β 1 energy + 2 direction, 1 for the line count, per line 2 alias +
//! 2 direction. Its k-th emission (k = 1, 2, … in the order drawn) is transported on stream
//! (seed, 128·h + k); a photon's electrons continue on the photon's stream.

use super::electron_track::electron_track;
use super::photon_track::photon_track;
use super::{Ctx, Place};
use crate::physics::decay::{to_units, ELECTRON, MAX_EMISSIONS_PER_DECAY};
use crate::physics::direction::isotropic;
use crate::physics::rng::Pcg32;
use crate::source::source_position;

/// Streams per history: the emission stream, then one per emission (at most
/// [`MAX_EMISSIONS_PER_DECAY`] < 128). WGSL: `PARTICLE_STREAMS_LOG2`.
pub const PARTICLE_STREAMS_PER_HISTORY: u64 = 128;
const _: () = assert!((MAX_EMISSIONS_PER_DECAY as u64) < PARTICLE_STREAMS_PER_HISTORY);

/// Simulates history `h` of the batch.
pub fn decay_history(ctx: &mut Ctx, h: u32) {
    let p = *ctx.inp.params;
    let d = ctx.inp.decay;
    let base = (p.first_history + h as u64) * PARTICLE_STREAMS_PER_HISTORY;
    let mut rng = Pcg32::new(p.seed, base);
    let pos = source_position(ctx.inp.source, p.dims, p.spacing_mm, &mut rng);
    let Some(place) = Place::locate(pos, &p) else {
        // A shape reaching outside the grid: the decay's energy leaves at once.
        ctx.counters.emitted_units += d.local_units as u64;
        ctx.counters.escaped_units += d.local_units as u64;
        return;
    };
    ctx.counters.emitted_units += d.local_units as u64;
    ctx.tally.add(place.voxel(&p), d.local_units);
    // Phase 0: every emission, as (direction, units, stream); electrons from the front of the
    // queue, photons from the back (as the WGSL's `queue_dir`, `queue_pos`).
    let mut queue = [([0.0f32; 3], 0u32, 0u64); MAX_EMISSIONS_PER_DECAY];
    let (mut n_e, mut n_p, mut k) = (0, 0, base);
    let n_beta = d.beta_count(rng.uniform());
    for _ in 0..n_beta {
        let units = to_units(d.sample_beta_kev(rng.uniform()));
        let dir = isotropic(rng.uniform(), rng.uniform());
        ctx.counters.emitted_units += units as u64;
        k += 1;
        queue[n_e] = (dir, units, k);
        n_e += 1;
    }
    let n_lines = d.line_count(rng.uniform());
    for _ in 0..n_lines {
        let line = d.line_alias.sample(rng.uniform(), rng.uniform());
        let units = d.line_units[line];
        let dir = isotropic(rng.uniform(), rng.uniform());
        ctx.counters.emitted_units += units as u64;
        k += 1;
        if d.line_particle[line] == ELECTRON {
            queue[n_e] = (dir, units, k);
            n_e += 1;
        } else {
            n_p += 1;
            queue[MAX_EMISSIONS_PER_DECAY - n_p] = (dir, units, k);
        }
    }
    // Phase 1: the electrons; phase 2: the photons.
    for &(dir, units, stream) in &queue[..n_e] {
        electron_track(
            ctx,
            place,
            dir,
            units,
            true,
            &mut Pcg32::new(p.seed, stream),
        );
    }
    for &(dir, units, stream) in queue[MAX_EMISSIONS_PER_DECAY - n_p..].iter().rev() {
        photon_track(ctx, place, dir, units, &mut Pcg32::new(p.seed, stream));
    }
}
