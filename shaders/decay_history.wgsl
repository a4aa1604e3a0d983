// decay_history.wgsl — kernel `decay_history`: one decay per invocation, from its position
// to the end of every track it starts, scored into the chunked fixed-point tally.
//
// Bindings row: `DECAY_HISTORY` in src/transport/gpu/pipelines.rs (groups 1 grid, 2 tally,
// 3 physics). CPU twin: src/transport/cpu/decay_history.rs — the same random-number order:
// stream = (seed, first_history + h); 5 for the position, 1 for the β count, then per β
// 1 energy + 2 direction + the track; 1 for the line count, then per line 2 alias +
// 2 direction + the track.

@compute @workgroup_size(64)
fn decay_history(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let h = gid.x;
    if (h < physics.n_histories) {
        h_emitted_units = 0u;
        h_escaped_units = 0u;
        h_photon_interactions = 0u;
        h_electron_steps = 0u;
        h_truncated_tracks = 0u;
        h_electron_path_mm = 0.0;
        let stream_lo = physics.first_history_lo + h;
        let stream_hi = physics.first_history_hi + select(0u, 1u, stream_lo < h);
        rng_init(physics.seed_lo, physics.seed_hi, stream_lo, stream_hi);
        simulate_decay();
        history_flush();
    }
    counters_flush(lane);
}

// Emissions drawn by phase 0 of `simulate_decay`: direction and energy units (w, as f32
// bits); electrons from the front, photons from the back.
var<private> emission_queue: array<vec4<f32>, MAX_EMISSIONS_PER_DECAY>;

// The body of `decay_history` for the current invocation's generator, in three phases shaped
// for SIMD devices (lavapipe; a GPU's warps), where a loop costs its body for every group of
// lanes while any lane is still in it and every branch runs under a mask, taken or not:
// 0. draw every emission of the decay (cheap: no transport) into `emission_queue`;
// 1. track the electron emissions through one flat `electron_step` loop, so a lane with a
//    short track starts its next electron instead of idling, and no photon code runs per step;
// 2. fly the photons, one `photon_pass` per pass, each electron a pass sets going tracked
//    before the next pass (`electron_track`).
// The order of events and random numbers is the CPU twin's.
fn simulate_decay() {
    let pos = source_position();
    let place = place_locate(pos);
    h_emitted_units += physics.local_units;
    if (!place.inside) {
        h_escaped_units += physics.local_units;
        return;
    }
    deposit(place_voxel(place), physics.local_units);
    var betas_left = beta_count(rng_uniform());
    var lines_left = 0u;
    var lines_drawn = false;
    var n_e = 0u;
    var n_p = 0u;
    // Phase 0: draw every emission (electrons to the front of the queue, photons to the back).
    loop {
        var emit = false;
        var electron = true;
        var units = 0u;
        if (betas_left > 0u) {
            betas_left -= 1u;
            units = to_units(sample_beta_kev(rng_uniform()));
            emit = true;
        } else if (!lines_drawn) {
            lines_left = line_count(rng_uniform());
            lines_drawn = true;
        } else if (lines_left > 0u) {
            lines_left -= 1u;
            let a1 = rng_uniform();
            let a2 = rng_uniform();
            let k = line_alias_sample(a1, a2);
            units = utab[physics.off_line_units + k];
            electron = utab[physics.off_line_particle + k] == PARTICLE_ELECTRON;
            emit = true;
        } else {
            break;
        }
        if (emit) {
            let u1 = rng_uniform();
            let u2 = rng_uniform();
            let dir = isotropic(u1, u2);
            h_emitted_units += units;
            var slot = n_e;
            if (electron) {
                n_e += 1u;
            } else {
                n_p += 1u;
                slot = MAX_EMISSIONS_PER_DECAY - n_p;
            }
            emission_queue[slot] = vec4<f32>(dir, bitcast<f32>(units));
        }
    }
    // Phase 1: the electrons in order through one flat loop, one step per pass: a lane whose
    // electron ended starts its next one in the same pass.
    var q = 0u;
    var e_on = false;
    loop {
        if (!e_on) {
            if (q >= n_e) {
                break;
            }
            let e = emission_queue[q];
            q += 1u;
            electron_begin(place, e.xyz, bitcast<u32>(e.w));
        }
        e_on = !electron_step();
    }
    // Phase 2: the photons in order, each electron tracked as it is set going.
    q = 0u;
    var photon_on = false;
    loop {
        if (!photon_on) {
            if (q >= n_p) {
                break;
            }
            q += 1u;
            let e = emission_queue[MAX_EMISSIONS_PER_DECAY - q];
            photon_begin(place, e.xyz, bitcast<u32>(e.w));
        }
        let flown = photon_pass();
        photon_on = !flown.ended;
        if (flown.electron.some) {
            electron_track(flown.electron.place, flown.electron.dir, flown.electron.units);
        }
    }
}
