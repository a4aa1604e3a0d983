// shared/history.wgsl — per-invocation counters of a block's histories, added to the
// workgroup counters after each block (`history_flush`; the caller counts the histories).
// The emitted and escaped energies are carried (lo, hi) pairs (`emit_units`,
// `escape_units`): a block of 32 225Ac decays emits more than 2^32 units (65536 per keV);
// the other counts of a block fit in u32. CPU twin: `HistoryCounters` in
// src/transport/cpu/mod.rs; energies in fixed-point units, path in mm (f32 per block, then
// 1/65536 mm units: the CPU sums f64, so the path counter agrees to ~1e-6).

const COUNTER_PHOTON_INTERACTIONS: u32 = 4u;
const COUNTER_ELECTRON_STEPS: u32 = 5u;
const COUNTER_TRUNCATED_TRACKS: u32 = 6u;
const COUNTER_ELECTRON_PATH: u32 = 7u;
const COUNTER_RADIATED: u32 = 8u;

var<private> h_emitted_units: u32;
var<private> h_emitted_hi: u32;
var<private> h_escaped_units: u32;
var<private> h_escaped_hi: u32;
var<private> h_photon_interactions: u32;
var<private> h_electron_steps: u32;
var<private> h_truncated_tracks: u32;
var<private> h_electron_path_mm: f32;
var<private> h_radiated_units: u32;
var<private> h_radiated_hi: u32;

// Deposits `units` in voxel v (`EnergyTally::add`: zero adds are skipped).
fn deposit(v: u32, units: u32) {
    if (units != 0u) {
        tally_add_units(v, units);
    }
}

// Adds `units` to the block's emitted energy.
fn emit_units(units: u32) {
    let sum = h_emitted_units + units;
    h_emitted_hi += select(0u, 1u, sum < units);
    h_emitted_units = sum;
}

// Adds `units` to the block's escaped energy.
fn escape_units(units: u32) {
    let sum = h_escaped_units + units;
    h_escaped_hi += select(0u, 1u, sum < units);
    h_escaped_units = sum;
}

// Adds `units` to the block's bremsstrahlung energy.
fn radiate_units(units: u32) {
    let sum = h_radiated_units + units;
    h_radiated_hi += select(0u, 1u, sum < units);
    h_radiated_units = sum;
}

// Zeroes the counters before a block.
fn history_begin() {
    h_emitted_units = 0u;
    h_emitted_hi = 0u;
    h_escaped_units = 0u;
    h_escaped_hi = 0u;
    h_photon_interactions = 0u;
    h_electron_steps = 0u;
    h_truncated_tracks = 0u;
    h_electron_path_mm = 0.0;
    h_radiated_units = 0u;
    h_radiated_hi = 0u;
}

fn history_flush() {
    counter_add_carried(COUNTER_EMITTED, h_emitted_units, h_emitted_hi);
    counter_add_carried(COUNTER_ESCAPED, h_escaped_units, h_escaped_hi);
    counter_add(COUNTER_PHOTON_INTERACTIONS, h_photon_interactions);
    counter_add(COUNTER_ELECTRON_STEPS, h_electron_steps);
    counter_add(COUNTER_TRUNCATED_TRACKS, h_truncated_tracks);
    counter_add(COUNTER_ELECTRON_PATH, u32(round(h_electron_path_mm * 65536.0)));
    counter_add_carried(COUNTER_RADIATED, h_radiated_units, h_radiated_hi);
}
