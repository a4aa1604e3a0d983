// shared/electron_track.wgsl — kernel function `electron_track`: one electron, condensed
// history, to the cutoff or out of the grid. CPU twin: src/transport/cpu/electron_track.rs
// (same steps, same uniforms in the same order).

// Bounds of src/transport/cpu/electron_track.rs (checked by tests/gpu_types.rs).
const MAX_ELECTRON_STEPS: u32 = 4096u;
const MIN_DENSITY: f32 = 1e-6;

fn electron_track(start: Place, dir_in: vec3<f32>, units_in: u32) {
    var place = start;
    var dir = dir_in;
    var units = units_in;
    var voxel = place_voxel(place);
    if (units < physics.electron_cutoff_units) {
        deposit(voxel, units);
        return;
    }
    for (var step = 0u; step < MAX_ELECTRON_STEPS; step++) {
        let m = voxel_material(voxel);
        let rho = max(voxel_density(voxel), MIN_DENSITY);
        let e_kev = f32(units) / UNITS_PER_KEV;
        let loc = energy_locate(e_kev);
        let range = electron_range(m, loc);
        let range_cut = ftab[physics.off_range_cutoff + m];
        var s_rho = MAX_STEP_RANGE_FRACTION * range;
        var last = false;
        if (range - s_rho <= range_cut) {
            s_rho = max(range - range_cut, 0.0);
            last = true;
        }
        var s_mm = s_rho / rho;
        var d_min = 3.40282347e38; // f32::INFINITY stand-in: WGSL has no infinity literal
        var axis = 0u;
        for (var a = 0u; a < 3u; a++) {
            if (dir[a] != 0.0) {
                var face = f32(place.ijk[a]);
                if (dir[a] > 0.0) {
                    face = f32(place.ijk[a] + 1);
                }
                let d = max((face * spacing_mm(a) - place.pos[a]) / dir[a], 0.0);
                if (d < d_min) {
                    d_min = d;
                    axis = a;
                }
            }
        }
        let crossing = d_min < s_mm;
        if (crossing) {
            s_mm = d_min;
            s_rho = s_mm * rho;
            last = false;
        }
        h_electron_steps += 1u;
        h_electron_path_mm += s_mm;
        if (last) {
            deposit(voxel, units);
            return;
        }
        let r_after = range - s_rho;
        let e_after = energy_at_range(m, r_after);
        let units_after = min(to_units(e_after), units);
        deposit(voxel, units - units_after);
        units = units_after;
        let e_mid = energy_at_range(m, range - 0.5 * s_rho);
        let tau = ms_tau(s_rho, electron_lambda1(m, energy_locate(e_mid)));
        place.pos = place.pos + dir * s_mm;
        if (crossing) {
            var stp = -1;
            if (dir[axis] > 0.0) {
                stp = 1;
            }
            place.ijk[axis] += stp;
            var face_index = place.ijk[axis] + 1;
            if (stp > 0) {
                face_index = place.ijk[axis];
            }
            place.pos[axis] = f32(face_index) * spacing_mm(axis);
            if (place.ijk[axis] < 0 || place.ijk[axis] >= i32(dim(axis))) {
                h_escaped_units += units;
                return;
            }
            voxel = place_voxel(place);
        }
        let u_cos = rng_uniform();
        let cos_theta = sample_ms_cos(tau, u_cos);
        let u_phi = rng_uniform();
        dir = rotate(dir, cos_theta, u_phi);
        if (units < physics.electron_cutoff_units) {
            deposit(voxel, units);
            return;
        }
    }
    h_truncated_tracks += 1u;
    deposit(voxel, units);
}
