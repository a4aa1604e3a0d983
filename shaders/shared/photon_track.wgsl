// shared/photon_track.wgsl — kernel functions `photon_flight`, `photon_begin` and
// `photon_pass`: one photon by Woodcock (delta) tracking against the grid's majorant μ_max(E),
// to absorption, the cutoff or escape, one flight and interaction per `photon_pass`; a pass
// that sets an electron going hands it back to the caller (decay_history.wgsl), which tracks
// it before the next pass. CPU twin: src/transport/cpu/photon_track.rs (same flights, same
// uniforms in the same order: its `photon_track` is one loop of these passes with the
// electrons tracked in place).

// Bounds of src/transport/cpu/photon_track.rs (checked by tests/gpu_types.rs).
const MAX_PHOTON_FLIGHTS: u32 = 100000u;
const MAX_SCATTER_TRIALS: u32 = 64u;

// `(FlightEnd, n)`: escaped, or a real collision at `place`; `flights` virtual + real.
struct FlightEnd {
    escaped: bool,
    place: Place,
    flights: u32,
}

// `photon_flight`.
fn photon_flight(start: vec3<f32>, dir: vec3<f32>, e_kev: f32) -> FlightEnd {
    var pos = start;
    let loc = energy_locate(e_kev);
    let mu_max = max(ftab[physics.off_majorant + loc.i], ftab[physics.off_majorant + loc.i + 1u]);
    for (var n = 0u; n < MAX_PHOTON_FLIGHTS; n++) {
        let s = -log(rng_uniform()) / mu_max;
        pos = pos + dir * s;
        let place = place_locate(pos);
        if (!place.inside) {
            return FlightEnd(true, place, n);
        }
        let v = place_voxel(place);
        let mu = photon_mu_total(voxel_material(v), voxel_density(v), loc);
        if (rng_uniform() * mu_max < mu) {
            return FlightEnd(false, place, n);
        }
    }
    var last = place_locate(pos);
    if (!last.inside) {
        last = Place(pos, vec3<i32>(0, 0, 0), true);
    }
    return FlightEnd(false, last, MAX_PHOTON_FLIGHTS);
}

// A particle to start: `some` false for none.
struct Emission {
    some: bool,
    place: Place,
    dir: vec3<f32>,
    units: u32,
}

// What one `photon_pass` did: whether the photon has ended, and the electron it set going.
struct PhotonPass {
    ended: bool,
    electron: Emission,
}

// The invocation's current photon.
var<private> p_pos: vec3<f32>;
var<private> p_dir: vec3<f32>;
var<private> p_units: u32;
var<private> p_voxel: u32;
var<private> p_flights: u32;

// Starts a photon of `units` at `start` along `dir`.
fn photon_begin(start: Place, dir: vec3<f32>, units: u32) {
    p_pos = start.pos;
    p_dir = dir;
    p_units = units;
    p_voxel = place_voxel(start);
    p_flights = 0u;
}

// One pass of the CPU's photon loop: the cutoff test, a flight to the next real collision and
// the interaction there.
fn photon_pass() -> PhotonPass {
    let none = Emission(false, Place(p_pos, vec3<i32>(0), true), vec3<f32>(0.0), 0u);
    let units = p_units;
    if (units < physics.photon_cutoff_units) {
        deposit(p_voxel, units);
        return PhotonPass(true, none);
    }
    let dir = p_dir;
    let e_kev = f32(units) / UNITS_PER_KEV;
    let end = photon_flight(p_pos, dir, e_kev);
    p_flights += end.flights;
    if (end.escaped) {
        escape_units(units);
        return PhotonPass(true, none);
    }
    let here = end.place;
    p_pos = here.pos;
    let voxel = place_voxel(here);
    p_voxel = voxel;
    if (p_flights >= MAX_PHOTON_FLIGHTS) {
        h_truncated_tracks += 1u;
        deposit(voxel, units);
        return PhotonPass(true, none);
    }
    h_photon_interactions += 1u;
    let m = voxel_material(voxel);
    let mu = photon_mu(m, voxel_density(voxel), energy_locate(e_kev));
    let kind = choose_interaction(mu, rng_uniform());
    if (kind == INTERACTION_PHOTO) {
        return PhotonPass(true, Emission(true, here, dir, units));
    }
    if (kind == INTERACTION_INCOH) {
        var outcome = Trial(false, 0.0, 0.0);
        for (var t = 0u; t < MAX_SCATTER_TRIALS; t++) {
            let u0 = rng_uniform();
            let u1 = rng_uniform();
            let u2 = rng_uniform();
            let u3 = rng_uniform();
            outcome = sample_incoherent_trial(m, e_kev, u0, u1, u2, u3);
            if (outcome.accepted) {
                break;
            }
        }
        if (!outcome.accepted) {
            h_truncated_tracks += 1u;
            return PhotonPass(false, none);
        }
        let eps = outcome.a;
        let cos_theta = outcome.b;
        let scattered = min(to_units(eps * e_kev), units);
        let electron_units = units - scattered;
        let u_phi = rng_uniform();
        let cos_e = compton_electron_cos(e_kev, f32(scattered) / UNITS_PER_KEV, cos_theta);
        let e_dir = rotate(dir, cos_e, fract(u_phi + 0.5));
        p_dir = rotate(dir, cos_theta, u_phi);
        p_units = scattered;
        return PhotonPass(false, Emission(true, here, e_dir, electron_units));
    }
    var outcome = Trial(false, 0.0, 0.0);
    for (var t = 0u; t < MAX_SCATTER_TRIALS; t++) {
        let u0 = rng_uniform();
        let u1 = rng_uniform();
        outcome = sample_coherent_trial(m, e_kev, u0, u1);
        if (outcome.accepted) {
            break;
        }
    }
    if (outcome.accepted) {
        p_dir = rotate(dir, outcome.a, rng_uniform());
    } else {
        h_truncated_tracks += 1u;
    }
    return PhotonPass(false, none);
}
