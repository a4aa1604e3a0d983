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

// The body of `decay_history` for the current invocation's generator. The decay's
// electrons — its βs, its electron lines, and the photo- and Compton electrons of its
// photons — all go through one `electron_track` call: the inner loop finds the next
// electron (drawing emissions and flying the current photon), the outer loop tracks it. On
// a SIMD device (lavapipe; a GPU's warps) a call site costs its loop for every group of
// lanes that passes it, taken or not, so one site instead of four is one electron loop per
// electron rather than four per emission. The order of events and random numbers is the
// CPU twin's: a photon's electron is tracked before the photon flies on.
fn simulate_decay() {
    let pos = source_position();
    let place = place_locate(pos);
    h_emitted_units += physics.local_units;
    if (!place.inside) {
        // A shape reaching outside the grid: the decay's energy leaves at once.
        h_escaped_units += physics.local_units;
        return;
    }
    deposit(place_voxel(place), physics.local_units);
    var betas_left = beta_count(rng_uniform());
    var lines_left = 0u;
    var lines_drawn = false;
    var photon_on = false;
    loop {
        var next = Emission(false, place, vec3<f32>(0.0), 0u);
        loop {
            if (photon_on) {
                let flown = photon_pass();
                photon_on = !flown.ended;
                if (flown.electron.some) {
                    next = flown.electron;
                    break;
                }
            } else if (betas_left > 0u) {
                betas_left -= 1u;
                let units = to_units(sample_beta_kev(rng_uniform()));
                let u1 = rng_uniform();
                let u2 = rng_uniform();
                h_emitted_units += units;
                next = Emission(true, place, isotropic(u1, u2), units);
                break;
            } else if (!lines_drawn) {
                lines_left = line_count(rng_uniform());
                lines_drawn = true;
            } else if (lines_left > 0u) {
                lines_left -= 1u;
                let a1 = rng_uniform();
                let a2 = rng_uniform();
                let k = line_alias_sample(a1, a2);
                let units = utab[physics.off_line_units + k];
                let u1 = rng_uniform();
                let u2 = rng_uniform();
                let dir = isotropic(u1, u2);
                h_emitted_units += units;
                if (utab[physics.off_line_particle + k] == PARTICLE_ELECTRON) {
                    next = Emission(true, place, dir, units);
                    break;
                }
                photon_begin(place, dir, units);
                photon_on = true;
            } else {
                break;
            }
        }
        if (!next.some) {
            break;
        }
        electron_track(next.place, next.dir, next.units);
    }
}
