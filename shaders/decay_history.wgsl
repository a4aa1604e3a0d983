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

// The body of `decay_history` for the current invocation's generator.
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
    let n_beta = beta_count(rng_uniform());
    for (var b = 0u; b < n_beta; b++) {
        let units = to_units(sample_beta_kev(rng_uniform()));
        let u1 = rng_uniform();
        let u2 = rng_uniform();
        let dir = isotropic(u1, u2);
        h_emitted_units += units;
        electron_track(place, dir, units);
    }
    let n_lines = line_count(rng_uniform());
    for (var l = 0u; l < n_lines; l++) {
        let a1 = rng_uniform();
        let a2 = rng_uniform();
        let k = line_alias_sample(a1, a2);
        let units = utab[physics.off_line_units + k];
        let u1 = rng_uniform();
        let u2 = rng_uniform();
        let dir = isotropic(u1, u2);
        h_emitted_units += units;
        if (utab[physics.off_line_particle + k] == PARTICLE_ELECTRON) {
            electron_track(place, dir, units);
        } else {
            photon_track(place, dir, units);
        }
    }
}
