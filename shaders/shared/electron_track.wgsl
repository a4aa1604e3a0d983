// shared/electron_track.wgsl — kernel functions `electron_begin`, `electron_step` and
// `electron_track`: one electron, condensed history, to the cutoff or out of the grid, one step
// per `electron_step`. CPU twin: src/transport/cpu/electron_track.rs (same steps, same uniforms
// in the same order; its loop body is one `electron_step`).

// Bounds of src/transport/cpu/electron_track.rs (checked by tests/gpu_types.rs).
const MAX_ELECTRON_STEPS: u32 = 4096u;
const MIN_DENSITY: f32 = 1e-6;

// Shaped for SIMD devices (lavapipe; a GPU's warps), which run every branch under a mask:
// - the track's state lives in `var<private>` globals and one `electron_step` is one pass, so
//   decay_history.wgsl can run the βs and electron lines of a decay through one flat loop
//   (a lane whose electron ended starts its next one in the same pass instead of idling until
//   every lane's track has ended);
// - one call site of the tally per pass, and the energy left in the current voxel is summed
//   in `e_pending` and added to the tally when the electron leaves the voxel or ends (the same
//   integer sum, so the same tally bit for bit), so a step costs no atomic;
// - the voxel's material, density and range grid are read once per voxel entered
//   (`electron_medium`, at the top of the pass after `e_enter` is set), at one call site for
//   the start and every crossing: lavapipe reads storage buffers lane by lane;
// - the cutoff test opens the pass, so the energy of an electron that fell below the cutoff
//   is deposited by the next pass, in the voxel it reached, as the CPU deposits it at the end
//   of the step it fell in.

// The invocation's current electron.
var<private> e_place: Place;
var<private> e_dir: vec3<f32>;
var<private> e_units: u32;
// The voxel it is in, its medium, and the energy deposited there and not yet in the tally.
var<private> e_voxel: u32;
var<private> e_md: ElectronMedium;
var<private> e_pending: u32;
// Passes made, and whether the medium of `e_voxel` is still to be read.
var<private> e_pass: u32;
var<private> e_enter: bool;
// Whether the electron makes bremsstrahlung photons (the decay's electrons; set by the
// caller after `electron_begin`), and the photon the last pass made (`b_some`), which the
// caller transports before the next pass (decay_history.wgsl, `brems_photon_track`).
var<private> e_radiates: bool;
var<private> b_some: bool;
var<private> b_place: Place;
var<private> b_dir: vec3<f32>;
var<private> b_units: u32;

// Starts an electron of `units` at `start` along `dir`.
fn electron_begin(start: Place, dir: vec3<f32>, units: u32) {
    e_place = start;
    e_dir = dir;
    e_units = units;
    e_voxel = place_voxel(start);
    e_pending = 0u;
    e_pass = 0u;
    e_enter = true;
    e_radiates = false;
    b_some = false;
}

// One pass of the CPU's step loop; true when the track has ended.
fn electron_step() -> bool {
    if (e_enter) {
        e_md = electron_medium(e_voxel);
        e_enter = false;
    }
    let spacing = grid_spacing();
    let md = e_md;
    // Whether the track ends in this pass, and whether it leaves `e_voxel`.
    var done = true;
    var leaves = false;
    if (e_units < physics.electron_cutoff_units) {
        // Below the cutoff (at the start, or after the previous step): local deposit.
        e_pending += e_units;
    } else if (e_pass == MAX_ELECTRON_STEPS) {
        h_truncated_tracks += 1u;
        e_pending += e_units;
    } else {
        let units = e_units;
        let dir = e_dir;
        var place = e_place;
        let rho = md.rho;
        let e_kev = f32(units) / UNITS_PER_KEV;
        let range = electron_range(md.m, energy_locate(e_kev));
        var s_rho = MAX_STEP_RANGE_FRACTION * range;
        var last = false;
        if (range - s_rho <= md.range_cut) {
            s_rho = max(range - md.range_cut, 0.0);
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
        if (last) {
            e_pending += units;
        } else {
            let e_after = energy_at_range(md, range - s_rho);
            var units_after = min(to_units(e_after), units);
            e_pending += units - units_after;
            done = false;
            let e_mid = energy_at_range(md, range - 0.5 * s_rho);
            let loc_mid = energy_locate(e_mid);
            let tau = ms_tau(s_rho, electron_lambda1(md.m, loc_mid));
            if (e_radiates && e_mid > BREMS_K_MIN_KEV) {
                let p_emit = brems_xs(md.m, loc_mid) * s_rho;
                if (rng_uniform() < p_emit) {
                    units_after -= brems_emit(place, dir, s_mm, md.m, e_mid, units_after);
                }
            }
            e_units = units_after;
            place.pos = place.pos + dir * s_mm;
            if (crossing) {
                leaves = true;
                let on_axis = vec3<u32>(axis) == vec3<u32>(0u, 1u, 2u);
                let stp = select(vec3<i32>(-1), vec3<i32>(1), up);
                place.ijk = place.ijk + select(vec3<i32>(0), stp, on_axis);
                // The face just crossed: the new voxel's lower face going up, else its upper.
                let face_index = select(place.ijk + vec3<i32>(1), place.ijk, up);
                place.pos = select(place.pos, vec3<f32>(face_index) * spacing, on_axis);
                let off_grid = (place.ijk < vec3<i32>(0)) | (place.ijk >= grid_dims());
                if (any(on_axis & off_grid)) {
                    escape_units(units_after);
                    done = true;
                }
            }
            e_place = place;
            if (!done) {
                let u_cos = rng_uniform();
                let cos_theta = sample_ms_cos(tau, u_cos);
                let u_phi = rng_uniform();
                e_dir = rotate(dir, cos_theta, u_phi);
            }
        }
    }
    e_pass += 1u;
    if (done || leaves) {
        deposit(e_voxel, e_pending);
        e_pending = 0u;
        if (done) {
            return true;
        }
        e_voxel = place_voxel(e_place);
        e_enter = true;
    }
    return false;
}

// `brems_photon` of the CPU twin: samples the step's photon into `b_*` and returns its
// units (0 when none: the rejection ran out, counted as truncated, or it carries nothing).
fn brems_emit(place: Place, dir: vec3<f32>, s_mm: f32, m: u32, e_mid: f32, units_left: u32) -> u32 {
    var kappa = -1.0;
    for (var t = 0u; t < MAX_BREMS_TRIALS; t++) {
        let u1 = rng_uniform();
        let u2 = rng_uniform();
        kappa = sample_brems_kappa_trial(m, e_mid, u1, u2);
        if (kappa >= 0.0) {
            break;
        }
    }
    let u_phi = rng_uniform();
    if (kappa < 0.0) {
        h_truncated_tracks += 1u;
        return 0u;
    }
    let k = min(to_units(kappa * e_mid), units_left);
    if (k == 0u) {
        return 0u;
    }
    b_some = true;
    b_place = Place(place.pos + dir * (0.5 * s_mm), place.ijk, true);
    b_dir = rotate(dir, brems_photon_cos(e_mid), u_phi);
    b_units = k;
    radiate_units(k);
    return k;
}

// `electron_track`: an electron from `start` along `dir` with `units`, to its end.
fn electron_track(start: Place, dir: vec3<f32>, units: u32) {
    electron_begin(start, dir, units);
    loop {
        if (electron_step()) {
            break;
        }
    }
}
