// shared/electron.wgsl — electron condensed-history physics: CSDA range and its inverse,
// transport mean free path, screened-Rutherford multiple-scattering deflection. CPU twin:
// src/physics/electron.rs.

// Constants of src/physics/{electron,tables}.rs (checked by tests/gpu_types.rs).
const MAX_STEP_RANGE_FRACTION: f32 = 0.25;
const N_RANGE: u32 = 1024u;
const TAU_MIN: f32 = 1e-6;
const TAU_MAX: f32 = 0.999;

// `electron_range`: CSDA range × ρ, mm·g/cm³.
fn electron_range(m: u32, loc: Loc) -> f32 {
    return lerp_p(physics.pair_range + m * N_ENERGY, loc.i, loc.f);
}

// `electron_lambda1`: transport mean free path × ρ, mm·g/cm³.
fn electron_lambda1(m: u32, loc: Loc) -> f32 {
    return lerp_p(physics.pair_lambda1 + m * N_ENERGY, loc.i, loc.f);
}

// What the electron step needs of a voxel, read once per voxel entered: material,
// density, the material's inverse-range grid (ln_min, inv_step, n) and range cutoff.
struct ElectronMedium {
    m: u32,
    rho: f32,
    ln_min: f32,
    inv_step: f32,
    n: u32,
    range_cut: f32,
}

fn electron_medium(voxel: u32) -> ElectronMedium {
    let m = voxel_material(voxel);
    let g = physics.pair_material + 2u * m;
    let grid_a = pair(g);
    let grid_b = pair(g + 1u);
    return ElectronMedium(
        m, max(voxel_density(voxel), MIN_DENSITY), grid_a.x, grid_a.y, u32(grid_b.x), grid_b.y,
    );
}

// `energy_at_range`: keV at residual range r (mm·g/cm³) in the medium's material.
fn energy_at_range(md: ElectronMedium, r: f32) -> f32 {
    let loc = log_locate(r, md.ln_min, md.inv_step, md.n);
    return lerp_p(physics.pair_inv_range_e + md.m * N_RANGE, loc.i, loc.f);
}

// `sample_ms_cos`.
fn sample_ms_cos(tau: f32, u: f32) -> f32 {
    if (tau < TAU_MIN) {
        return 1.0;
    }
    if (tau >= TAU_MAX) {
        return 2.0 * u - 1.0;
    }
    let loc = log_locate(tau, physics.tau_ln_min, physics.tau_inv_step, physics.tau_n);
    let a = lerp_p(physics.pair_screening, loc.i, loc.f);
    return clamp(1.0 - 2.0 * a * u / (1.0 - u + a), -1.0, 1.0);
}

// `ms_tau`.
fn ms_tau(s_rho: f32, lambda1_rho: f32) -> f32 {
    return 1.0 - exp(-s_rho / lambda1_rho);
}
