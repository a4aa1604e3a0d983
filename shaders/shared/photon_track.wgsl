// shared/photon_track.wgsl — kernel functions `photon_flight` and `photon_track`: one photon
// by Woodcock (delta) tracking against the grid's majorant μ_max(E), to absorption, the
// cutoff or escape; secondary electrons go through `electron_track` at once. CPU twin:
// src/transport/cpu/photon_track.rs (same flights, same uniforms in the same order).

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
        let mu = mu_total(photon_mu(voxel_material(v), voxel_density(v), loc));
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

// `photon_track`.
fn photon_track(start: Place, dir_in: vec3<f32>, units_in: u32) {
    var dir = dir_in;
    var units = units_in;
    var pos = start.pos;
    var voxel = place_voxel(start);
    var flights = 0u;
    loop {
        if (units < physics.photon_cutoff_units) {
            deposit(voxel, units);
            return;
        }
        let e_kev = f32(units) / UNITS_PER_KEV;
        let end = photon_flight(pos, dir, e_kev);
        flights += end.flights;
        if (end.escaped) {
            h_escaped_units += units;
            return;
        }
        let here = end.place;
        pos = here.pos;
        voxel = place_voxel(here);
        if (flights >= MAX_PHOTON_FLIGHTS) {
            h_truncated_tracks += 1u;
            deposit(voxel, units);
            return;
        }
        h_photon_interactions += 1u;
        let m = voxel_material(voxel);
        let mu = photon_mu(m, voxel_density(voxel), energy_locate(e_kev));
        let kind = choose_interaction(mu, rng_uniform());
        if (kind == INTERACTION_PHOTO) {
            electron_track(here, dir, units);
            return;
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
                continue;
            }
            let eps = outcome.a;
            let cos_theta = outcome.b;
            let scattered = min(to_units(eps * e_kev), units);
            let electron_units = units - scattered;
            let u_phi = rng_uniform();
            let cos_e = compton_electron_cos(e_kev, f32(scattered) / UNITS_PER_KEV, cos_theta);
            let e_dir = rotate(dir, cos_e, fract(u_phi + 0.5));
            dir = rotate(dir, cos_theta, u_phi);
            units = scattered;
            electron_track(here, e_dir, electron_units);
        } else {
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
                dir = rotate(dir, outcome.a, rng_uniform());
            } else {
                h_truncated_tracks += 1u;
            }
        }
    }
}
