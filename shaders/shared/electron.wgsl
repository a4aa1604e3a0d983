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
    return lerp_f(physics.off_range + m * N_ENERGY, loc.i, loc.f);
}

// `electron_lambda1`: transport mean free path × ρ, mm·g/cm³.
fn electron_lambda1(m: u32, loc: Loc) -> f32 {
    return lerp_f(physics.off_lambda1 + m * N_ENERGY, loc.i, loc.f);
}

// `energy_at_range`: keV at residual range r (mm·g/cm³).
fn energy_at_range(m: u32, r: f32) -> f32 {
    let g = physics.off_range_grid + 3u * m;
    let loc = log_locate(r, ftab[g], ftab[g + 1u], u32(ftab[g + 2u]));
    return lerp_f(physics.off_inv_range_e + m * N_RANGE, loc.i, loc.f);
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
    let a = lerp_f(physics.off_screening, loc.i, loc.f);
    return clamp(1.0 - 2.0 * a * u / (1.0 - u + a), -1.0, 1.0);
}

// `ms_tau`.
fn ms_tau(s_rho: f32, lambda1_rho: f32) -> f32 {
    return 1.0 - exp(-s_rho / lambda1_rho);
}
