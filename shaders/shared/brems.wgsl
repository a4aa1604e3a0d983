// shared/brems.wgsl — bremsstrahlung: hard-photon cross section, photon energy (κ = k/T by
// ln-uniform proposal and rejection on χ(T, κ)/max χ) and direction (θ = mc²/E). CPU twin:
// src/physics/brems.rs (same formulas and uniforms; see its module doc for the model).

// Constants of src/physics/brems.rs (checked by tests/gpu_types.rs).
const BREMS_K_MIN_KEV: f32 = 10.0;
const N_BREMS_T: u32 = 64u;
const N_BREMS_K: u32 = 33u;
const MAX_BREMS_TRIALS: u32 = 64u;

// `brems_xs`: Σ_h/ρ, mm⁻¹ per g/cm³.
fn brems_xs(m: u32, loc: Loc) -> f32 {
    return lerp_p(physics.pair_brems_xs + m * N_ENERGY, loc.i, loc.f);
}

// `brems_shape`: χ(T, κ)/max χ, bilinear in ln T and κ.
fn brems_shape(m: u32, e_kev: f32, kappa: f32) -> f32 {
    let loc = log_locate(e_kev, physics.brems_t_ln_min, physics.brems_t_inv_step, N_BREMS_T);
    let x = clamp(kappa * (f32(N_BREMS_K) - 1.0), 0.0, f32(N_BREMS_K) - 1.0001);
    let j = u32(x);
    let g = x - f32(j);
    let base = physics.off_brems_shape + m * N_BREMS_T * N_BREMS_K + loc.i * N_BREMS_K + j;
    let lo = ftab[base] + g * (ftab[base + 1u] - ftab[base]);
    let hi = ftab[base + N_BREMS_K] + g * (ftab[base + N_BREMS_K + 1u] - ftab[base + N_BREMS_K]);
    return lo + loc.f * (hi - lo);
}

// `sample_brems_kappa_trial`: κ if accepted, else a negative value.
fn sample_brems_kappa_trial(m: u32, e_kev: f32, u1: f32, u2: f32) -> f32 {
    let kc = BREMS_K_MIN_KEV / e_kev;
    let kappa = kc * exp(-log(kc) * u1);
    return select(-1.0, kappa, u2 <= brems_shape(m, e_kev, kappa));
}

// `brems_photon_cos`.
fn brems_photon_cos(e_kev: f32) -> f32 {
    return cos(ELECTRON_MASS_KEV / (e_kev + ELECTRON_MASS_KEV));
}
