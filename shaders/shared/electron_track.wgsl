// shared/electron_track.wgsl — kernel function `electron_track`: one electron, condensed
// history, to the cutoff or out of the grid. CPU twin: src/transport/cpu/electron_track.rs
// (same steps, same uniforms in the same order).

// Bounds of src/transport/cpu/electron_track.rs (checked by tests/gpu_types.rs).
const MAX_ELECTRON_STEPS: u32 = 4096u;
const MIN_DENSITY: f32 = 1e-6;

// One call site of `deposit` per step (the voxel and units of the step are chosen first):
// a SIMD device such as lavapipe runs every branch under a mask, so each call site costs its
// atomics whether a lane takes it or not. The cutoff test opens the step, so the energy of an
// electron that fell below the cutoff is deposited by the next pass, in the voxel it reached,
// exactly as the CPU twin deposits it at the end of the step it fell in.
fn electron_track(start: Place, dir_in: vec3<f32>, units_in: u32) {
    var place = start;
    var dir = dir_in;
    var units = units_in;
    var voxel = place_voxel(place);
    let spacing = grid_spacing();
    for (var step = 0u; step <= MAX_ELECTRON_STEPS; step++) {
        // What this pass deposits, where, and whether the track ends with it.
        var dep_voxel = voxel;
        var dep_units = units;
        var done = true;
        if (units < physics.electron_cutoff_units) {
            // Below the cutoff (at the start, or after the previous step): local deposit.
        } else if (step == MAX_ELECTRON_STEPS) {
            h_truncated_tracks += 1u;
        } else {
            let m = voxel_material(voxel);
            let rho = max(voxel_density(voxel), MIN_DENSITY);
            let e_kev = f32(units) / UNITS_PER_KEV;
            let range = electron_range(m, energy_locate(e_kev));
            let range_cut = ftab[physics.off_range_cutoff + m];
            var s_rho = MAX_STEP_RANGE_FRACTION * range;
            var last = false;
            if (range - s_rho <= range_cut) {
                s_rho = max(range - range_cut, 0.0);
                last = true;
            }
            var s_mm = s_rho / rho;
            // Distance to each axis' next face (the CPU's per-axis loop as vector lanes: no
            // dynamic indexing); axes with dir = 0 never cross.
            let ijk_f = vec3<f32>(place.ijk);
            let up = dir > vec3<f32>(0.0);
            let face = select(ijk_f, ijk_f + vec3<f32>(1.0), up);
            let moving = dir != vec3<f32>(0.0);
            let dir_safe = select(vec3<f32>(1.0), dir, moving);
            let d3 = select(
                vec3<f32>(3.40282347e38), // f32::INFINITY stand-in: WGSL has no infinity literal
                max((face * spacing - place.pos) / dir_safe, vec3<f32>(0.0)),
                moving,
            );
            // The first axis with the strictly smallest distance, as the CPU's loop picks it.
            var d_min = d3.x;
            var axis = 0u;
            if (d3.y < d_min) {
                d_min = d3.y;
                axis = 1u;
            }
            if (d3.z < d_min) {
                d_min = d3.z;
                axis = 2u;
            }
            let crossing = d_min < s_mm;
            if (crossing) {
                s_mm = d_min;
                s_rho = s_mm * rho;
                last = false;
            }
            h_electron_steps += 1u;
            h_electron_path_mm += s_mm;
            if (!last) {
                let e_after = energy_at_range(m, range - s_rho);
                let units_after = min(to_units(e_after), units);
                dep_units = units - units_after;
                units = units_after;
                done = false;
                let e_mid = energy_at_range(m, range - 0.5 * s_rho);
                let tau = ms_tau(s_rho, electron_lambda1(m, energy_locate(e_mid)));
                place.pos = place.pos + dir * s_mm;
                if (crossing) {
                    let on_axis = vec3<u32>(axis) == vec3<u32>(0u, 1u, 2u);
                    let stp = select(vec3<i32>(-1), vec3<i32>(1), up);
                    place.ijk = place.ijk + select(vec3<i32>(0), stp, on_axis);
                    // The face just crossed: the new voxel's lower face going up, else its upper.
                    let face_index = select(place.ijk + vec3<i32>(1), place.ijk, up);
                    place.pos = select(place.pos, vec3<f32>(face_index) * spacing, on_axis);
                    let off_grid = (place.ijk < vec3<i32>(0)) | (place.ijk >= grid_dims());
                    if (any(on_axis & off_grid)) {
                        h_escaped_units += units;
                        done = true;
                    } else {
                        voxel = place_voxel(place);
                    }
                }
                if (!done) {
                    let u_cos = rng_uniform();
                    let cos_theta = sample_ms_cos(tau, u_cos);
                    let u_phi = rng_uniform();
                    dir = rotate(dir, cos_theta, u_phi);
                }
            }
        }
        deposit(dep_voxel, dep_units);
        if (done) {
            return;
        }
    }
}
