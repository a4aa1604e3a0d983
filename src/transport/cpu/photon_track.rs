//! Kernel functions `photon_flight`, `photon_pass` and `photon_track`: one photon by Woodcock
//! (delta) tracking against the majorant μ_max(E) of the whole grid, to absorption, the cutoff
//! or escape. [`photon_pass`] is one flight and interaction; the electron it sets going is
//! transported through [`electron_track`] before the next pass. Physics in
//! [`crate::physics::photon`]; WGSL twin `shaders/shared/photon_track.wgsl` (`photon_begin`
//! is [`PhotonState::new`]; the WGSL hands the electron back to `decay_history`, which tracks
//! it before the next pass, in the same order).
//!
//! Woodcock et al. 1965 (Proc. Conf. Applications of Computing Methods to Reactor Problems,
//! ANL-7050): flights of −ln(u)/μ_max; at each flight end the collision is real with
//! probability μ(E, voxel)/μ_max. Exact for any μ ≤ μ_max; μ_max per energy bin is the largest
//! interpolated μ of any voxel (`transport::majorant`). The test reads the total-μ table (one
//! lookup per flight); only a real collision looks up the partial coefficients.

use super::electron_track::electron_track;
use super::{Ctx, Place};
use crate::physics::decay::to_units;
use crate::physics::direction::rotate;
use crate::physics::photon::{
    choose_interaction, compton_electron_cos, photon_mu, photon_mu_total, sample_coherent_trial,
    sample_incoherent_trial, PhotonInteraction,
};
use crate::physics::rng::Pcg32;
use crate::physics::tables::UNITS_PER_KEV;

/// Bound on flights (real + virtual) per photon; a 3 MeV photon in a 50 cm body needs a few
/// hundred. Reaching it is counted in `truncated_tracks` and the energy deposited locally.
pub const MAX_PHOTON_FLIGHTS: u32 = 100_000;
/// Bound on rejection trials per scattering: acceptance is above 0.3 at all energies, so
/// P(64 rejections) < 1e-9; on exhaustion the photon goes on unscattered (counted).
pub const MAX_SCATTER_TRIALS: u32 = 64;

/// What a Woodcock flight ended in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FlightEnd {
    /// Left the grid.
    Escaped,
    /// A real collision at this place.
    Collision(Place),
}

/// Flies a photon of energy `e_kev` from `pos` along `dir` to its next real collision or out
/// of the grid (kernel function `photon_flight`).
#[inline]
pub fn photon_flight(
    ctx: &Ctx,
    mut pos: [f32; 3],
    dir: [f32; 3],
    e_kev: f32,
    rng: &mut Pcg32,
) -> (FlightEnd, u32) {
    let p = ctx.inp.params;
    let t = ctx.inp.tables;
    let (i, f) = t.energy.locate(e_kev);
    let mu_max = ctx.inp.majorant[i].max(ctx.inp.majorant[i + 1]);
    for n in 0..MAX_PHOTON_FLIGHTS {
        let s = -rng.uniform().ln() / mu_max;
        for a in 0..3 {
            pos[a] += dir[a] * s;
        }
        let Some(place) = Place::locate(pos, p) else {
            return (FlightEnd::Escaped, n);
        };
        let v = place.voxel(p);
        let mu = photon_mu_total(t, ctx.inp.material[v] as usize, ctx.inp.density[v], i, f);
        if rng.uniform() * mu_max < mu {
            return (FlightEnd::Collision(place), n);
        }
    }
    (
        FlightEnd::Collision(Place::locate(pos, p).unwrap_or(Place { pos, ijk: [0; 3] })),
        MAX_PHOTON_FLIGHTS,
    )
}

/// A photon in flight (WGSL: the `p_*` private variables of `photon_track.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhotonState {
    /// Position, mm.
    pub pos: [f32; 3],
    /// Direction.
    pub dir: [f32; 3],
    /// Energy, fixed-point units.
    pub units: u32,
    /// Voxel of the last collision (or of the start).
    pub voxel: usize,
    /// Flights so far, virtual and real.
    pub flights: u32,
}

impl PhotonState {
    /// A photon of `units` at `place` along `dir` (WGSL `photon_begin`).
    pub fn new(place: Place, dir: [f32; 3], units: u32, p: &super::KernelParams) -> Self {
        PhotonState {
            pos: place.pos,
            dir,
            units,
            voxel: place.voxel(p),
            flights: 0,
        }
    }
}

/// What one [`photon_pass`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhotonPass {
    /// The photon has ended (absorbed, below the cutoff, escaped or truncated).
    pub ended: bool,
    /// The electron it set going: place, direction, units.
    pub electron: Option<(Place, [f32; 3], u32)>,
}

/// One pass of the photon loop: the cutoff test, a flight to the next real collision and the
/// interaction there.
pub fn photon_pass(ctx: &mut Ctx, ph: &mut PhotonState, rng: &mut Pcg32) -> PhotonPass {
    let p = *ctx.inp.params;
    let t = ctx.inp.tables;
    const ENDED: PhotonPass = PhotonPass {
        ended: true,
        electron: None,
    };
    let units = ph.units;
    if units < p.photon_cutoff_units {
        ctx.tally.add(ph.voxel, units);
        return ENDED;
    }
    let dir = ph.dir;
    let e_kev = units as f32 / UNITS_PER_KEV;
    let (end, n) = photon_flight(ctx, ph.pos, dir, e_kev, rng);
    ph.flights += n;
    let here = match end {
        FlightEnd::Escaped => {
            ctx.counters.escaped_units += units as u64;
            return ENDED;
        }
        FlightEnd::Collision(here) => here,
    };
    ph.pos = here.pos;
    let voxel = here.voxel(&p);
    ph.voxel = voxel;
    if ph.flights >= MAX_PHOTON_FLIGHTS {
        ctx.counters.truncated_tracks += 1;
        ctx.tally.add(voxel, units);
        return ENDED;
    }
    ctx.counters.photon_interactions += 1;
    let m = ctx.inp.material[voxel] as usize;
    let (i, f) = t.energy.locate(e_kev);
    let mu = photon_mu(t, m, ctx.inp.density[voxel], i, f);
    match choose_interaction(&mu, rng.uniform()) {
        PhotonInteraction::Photoelectric => PhotonPass {
            ended: true,
            electron: Some((here, dir, units)),
        },
        PhotonInteraction::Incoherent => incoherent(ctx, ph, here, m, e_kev, rng),
        PhotonInteraction::Coherent => coherent(ctx, ph, m, e_kev, rng),
    }
}

/// Incoherent scattering at `here`: the photon goes on at the scattered energy and direction,
/// the Compton electron takes the rest (a trial loop that runs out counts as truncated and
/// leaves the photon as it was).
fn incoherent(
    ctx: &mut Ctx,
    ph: &mut PhotonState,
    here: Place,
    m: usize,
    e_kev: f32,
    rng: &mut Pcg32,
) -> PhotonPass {
    let t = ctx.inp.tables;
    let (units, dir) = (ph.units, ph.dir);
    let mut outcome = None;
    for _ in 0..MAX_SCATTER_TRIALS {
        let u = [rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()];
        outcome = sample_incoherent_trial(t, m, e_kev, u);
        if outcome.is_some() {
            break;
        }
    }
    let Some((eps, cos_theta)) = outcome else {
        ctx.counters.truncated_tracks += 1;
        return PhotonPass {
            ended: false,
            electron: None,
        };
    };
    let scattered = to_units(eps * e_kev).min(units);
    let electron_units = units - scattered;
    let u_phi = rng.uniform();
    let cos_e = compton_electron_cos(e_kev, scattered as f32 / UNITS_PER_KEV, cos_theta);
    let e_dir = rotate(dir, cos_e, (u_phi + 0.5).fract());
    ph.dir = rotate(dir, cos_theta, u_phi);
    ph.units = scattered;
    PhotonPass {
        ended: false,
        electron: Some((here, e_dir, electron_units)),
    }
}

/// Coherent scattering: the photon changes direction, not energy.
fn coherent(
    ctx: &mut Ctx,
    ph: &mut PhotonState,
    m: usize,
    e_kev: f32,
    rng: &mut Pcg32,
) -> PhotonPass {
    let t = ctx.inp.tables;
    let mut outcome = None;
    for _ in 0..MAX_SCATTER_TRIALS {
        outcome = sample_coherent_trial(t, m, e_kev, [rng.uniform(), rng.uniform()]);
        if outcome.is_some() {
            break;
        }
    }
    match outcome {
        Some(cos_theta) => ph.dir = rotate(ph.dir, cos_theta, rng.uniform()),
        None => ctx.counters.truncated_tracks += 1,
    }
    PhotonPass {
        ended: false,
        electron: None,
    }
}

/// Transports a photon of `units` fixed-point energy from `place` along `dir`: passes until it
/// ends, each pass's electron tracked before the next.
pub fn photon_track(ctx: &mut Ctx, place: Place, dir: [f32; 3], units: u32, rng: &mut Pcg32) {
    let mut ph = PhotonState::new(place, dir, units, ctx.inp.params);
    loop {
        let pass = photon_pass(ctx, &mut ph, rng);
        if let Some((at, e_dir, e_units)) = pass.electron {
            electron_track(ctx, at, e_dir, e_units, false, rng);
        }
        if pass.ended {
            return;
        }
    }
}
