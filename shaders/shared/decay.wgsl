// shared/decay.wgsl — emissions of one decay: β count and energy, Poisson line count, line
// choice. CPU twin: `DecayTables` in src/physics/decay.rs.

// Bound on the Poisson inversion loop (`MAX_LINES_PER_DECAY`).
const MAX_LINES_PER_DECAY: u32 = 64u;
// Bound on βs per decay (`MAX_BETAS_PER_DECAY`; the host refuses tables above it).
const MAX_BETAS_PER_DECAY: u32 = 8u;
// Emissions one decay can draw: the size of decay_history.wgsl's emission queue.
const MAX_EMISSIONS_PER_DECAY: u32 = MAX_BETAS_PER_DECAY + MAX_LINES_PER_DECAY;
// Particle codes (`ELECTRON`, `PHOTON` in src/physics/decay.rs).
const PARTICLE_ELECTRON: u32 = 0u;
const PARTICLE_PHOTON: u32 = 1u;

// `DecayTables::beta_count`.
fn beta_count(u: f32) -> u32 {
    if (physics.n_beta == 0u) {
        return 0u;
    }
    return physics.beta_count_floor + select(0u, 1u, u < physics.beta_count_frac);
}

// `DecayTables::sample_beta_kev`.
fn sample_beta_kev(u: f32) -> f32 {
    let t = u * f32(physics.n_beta - 1u);
    let i = min(u32(t), physics.n_beta - 2u);
    let f = t - f32(i);
    let a = ftab[physics.off_beta + i];
    let b = ftab[physics.off_beta + i + 1u];
    return a + f * (b - a);
}

// `poisson_inversion(mean, u)`.
fn poisson_inversion(mean: f32, u: f32) -> u32 {
    var p = exp(-mean);
    var cdf = p;
    var n = 0u;
    while (u > cdf && n < MAX_LINES_PER_DECAY) {
        n += 1u;
        p *= mean / f32(n);
        cdf += p;
    }
    return n;
}

// `DecayTables::line_count`.
fn line_count(u: f32) -> u32 {
    return poisson_inversion(physics.line_mean_count, u);
}

// `line_alias.sample(u1, u2)`.
fn line_alias_sample(u1: f32, u2: f32) -> u32 {
    let i = alias_column(physics.n_lines, u1);
    if (u2 < ftab[physics.off_line_prob + i]) {
        return i;
    }
    return utab[physics.off_line_alias + i];
}

// `to_units` in src/physics/decay.rs (the same as `energy_units` in tally.wgsl).
fn to_units(e_kev: f32) -> u32 {
    return energy_units(e_kev);
}
