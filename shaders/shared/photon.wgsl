// shared/photon.wgsl — photon cross sections and interaction sampling (photoelectric,
// incoherent with S(x) rejection, coherent with F² inversion). CPU twin:
// src/physics/photon.rs (same formulas and uniforms; see its module doc for the methods).

// Constants of src/physics/tables.rs (checked by tests/gpu_types.rs).
const N_ENERGY: u32 = 1024u;
const N_X: u32 = 256u;
const X_MIN: f32 = 1e-3;
const HC_KEV_ANGSTROM: f32 = 12.39842;
const ELECTRON_MASS_KEV: f32 = 510.99895;
const INTERACTION_PHOTO: u32 = 0u;
const INTERACTION_INCOH: u32 = 1u;
const INTERACTION_COH: u32 = 2u;

// `PhotonMu`: linear attenuation coefficients, mm⁻¹.
struct PhotonMu {
    photo: f32,
    incoh: f32,
    coh: f32,
}

fn mu_total(mu: PhotonMu) -> f32 {
    return mu.photo + mu.incoh + mu.coh;
}

// `photon_mu`.
fn photon_mu(m: u32, density_g_cm3: f32, loc: Loc) -> PhotonMu {
    let base = m * N_ENERGY;
    return PhotonMu(
        lerp_p(physics.pair_mu_photo + base, loc.i, loc.f) * density_g_cm3,
        lerp_p(physics.pair_mu_incoh + base, loc.i, loc.f) * density_g_cm3,
        lerp_p(physics.pair_mu_coh + base, loc.i, loc.f) * density_g_cm3,
    );
}

// `photon_mu_total`: the total from its own table, one fetch (Woodcock flights).
fn photon_mu_total(m: u32, density_g_cm3: f32, loc: Loc) -> f32 {
    return lerp_p(physics.pair_mu_total + m * N_ENERGY, loc.i, loc.f) * density_g_cm3;
}

// `choose_interaction`.
fn choose_interaction(mu: PhotonMu, u: f32) -> u32 {
    let x = u * mu_total(mu);
    if (x < mu.photo) {
        return INTERACTION_PHOTO;
    } else if (x < mu.photo + mu.incoh) {
        return INTERACTION_INCOH;
    }
    return INTERACTION_COH;
}

// A rejection trial: `accepted` and up to two results (Option<(ε, cos θ)> / Option<cos θ>).
struct Trial {
    accepted: bool,
    a: f32,
    b: f32,
}

fn x_value(j: u32) -> f32 {
    return ftab[physics.off_x_values + j];
}

fn x_locate(x: f32) -> Loc {
    return log_locate(x, physics.x_ln_min, physics.x_inv_step, physics.x_n);
}

// `incoherent_s_ratio`.
fn incoherent_s_ratio(m: u32, x: f32) -> f32 {
    if (x <= 0.0) {
        return 0.0;
    }
    if (x < x_value(0u)) {
        return ftab[physics.off_s_incoh + m * N_X] * (x / X_MIN) * (x / X_MIN);
    }
    let loc = x_locate(x);
    return lerp_f(physics.off_s_incoh + m * N_X, loc.i, loc.f);
}

// `sample_incoherent_trial`: Some((ε, cos θ)) in (a, b).
fn sample_incoherent_trial(m: u32, e_kev: f32, u0: f32, u1: f32, u2: f32, u3: f32) -> Trial {
    let k = e_kev / ELECTRON_MASS_KEV;
    let eps0 = 1.0 / (1.0 + 2.0 * k);
    let alpha1 = -log(eps0);
    let alpha2 = 0.5 * (1.0 - eps0 * eps0);
    var eps: f32;
    if (u0 * (alpha1 + alpha2) < alpha1) {
        eps = exp(-alpha1 * u1);
    } else {
        eps = sqrt(eps0 * eps0 + (1.0 - eps0 * eps0) * u1);
    }
    let tt = (1.0 - eps) / (k * eps);
    let sin2 = max(tt * (2.0 - tt), 0.0);
    let g = 1.0 - eps * sin2 / (1.0 + eps * eps);
    if (u2 > g) {
        return Trial(false, 0.0, 0.0);
    }
    let cos_theta = clamp(1.0 - tt, -1.0, 1.0);
    let x = e_kev * sqrt(0.5 * (1.0 - cos_theta)) / HC_KEV_ANGSTROM;
    if (u3 > incoherent_s_ratio(m, x)) {
        return Trial(false, 0.0, 0.0);
    }
    return Trial(true, eps, cos_theta);
}

// `ff_cumulative`.
fn ff_cumulative(m: u32, x: f32) -> f32 {
    let base = physics.off_ff_cum + m * N_X;
    let x0 = x_value(0u);
    if (x <= x0) {
        return ftab[base] * (x * x) / (x0 * x0);
    }
    if (x >= x_value(N_X - 1u)) {
        return 1.0;
    }
    let j = x_locate(x).i;
    let xa = x_value(j);
    let xb = x_value(j + 1u);
    let w = (x * x - xa * xa) / (xb * xb - xa * xa);
    return ftab[base + j] + w * (ftab[base + j + 1u] - ftab[base + j]);
}

// `ff_inverse_x2`: binary search, 8 iterations for N_X = 256.
fn ff_inverse_x2(m: u32, c: f32) -> f32 {
    let base = physics.off_ff_cum + m * N_X;
    let x0 = x_value(0u);
    if (c <= ftab[base]) {
        return x0 * x0 * c / max(ftab[base], 1.17549435e-38);
    }
    var lo = 0u;
    var hi = N_X - 1u;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (ftab[base + mid] < c) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let xa = x_value(lo);
    let xb = x_value(hi);
    let ca = ftab[base + lo];
    let cb = ftab[base + hi];
    var w = 0.0;
    if (cb > ca) {
        w = (c - ca) / (cb - ca);
    }
    return xa * xa + w * (xb * xb - xa * xa);
}

// `sample_coherent_trial`: Some(cos θ) in a.
fn sample_coherent_trial(m: u32, e_kev: f32, u0: f32, u1: f32) -> Trial {
    let x_max = e_kev / HC_KEV_ANGSTROM;
    let cum_max = ff_cumulative(m, x_max);
    let x2 = ff_inverse_x2(m, u0 * cum_max);
    let cos_theta = clamp(1.0 - 2.0 * x2 / (x_max * x_max), -1.0, 1.0);
    if (u1 * 2.0 > 1.0 + cos_theta * cos_theta) {
        return Trial(false, 0.0, 0.0);
    }
    return Trial(true, cos_theta, 0.0);
}

// `compton_electron_cos`.
fn compton_electron_cos(e_kev: f32, e_scattered_kev: f32, cos_theta: f32) -> f32 {
    let tkin = e_kev - e_scattered_kev;
    let pc = sqrt(tkin * (tkin + 2.0 * ELECTRON_MASS_KEV));
    if (pc <= 0.0) {
        return 1.0;
    }
    return clamp((e_kev - e_scattered_kev * cos_theta) / pc, -1.0, 1.0);
}
