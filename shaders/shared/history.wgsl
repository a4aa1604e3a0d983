// shared/history.wgsl — per-invocation counters of a block's histories, added to the
// workgroup counters after each block (`history_flush`; the caller counts the histories): a
// block's sums fit in u32 (8 decays), an invocation's whole share might not. CPU twin:
// `HistoryCounters` in src/transport/cpu/mod.rs; energies in fixed-point units, path in mm
// (f32 per invocation, then 1/65536 mm units: the CPU sums f64, so the path counter agrees to ~1e-6).

const COUNTER_PHOTON_INTERACTIONS: u32 = 4u;
const COUNTER_ELECTRON_STEPS: u32 = 5u;
const COUNTER_TRUNCATED_TRACKS: u32 = 6u;
const COUNTER_ELECTRON_PATH: u32 = 7u;

var<private> h_emitted_units: u32;
var<private> h_escaped_units: u32;
var<private> h_photon_interactions: u32;
var<private> h_electron_steps: u32;
var<private> h_truncated_tracks: u32;
var<private> h_electron_path_mm: f32;

// Deposits `units` in voxel v (`EnergyTally::add`: zero adds are skipped).
fn deposit(v: u32, units: u32) {
    if (units != 0u) {
        tally_add_units(v, units);
    }
}

// Zeroes the counters before a block.
fn history_begin() {
    h_emitted_units = 0u;
    h_escaped_units = 0u;
    h_photon_interactions = 0u;
    h_electron_steps = 0u;
    h_truncated_tracks = 0u;
    h_electron_path_mm = 0.0;
}

fn history_flush() {
    counter_add(COUNTER_EMITTED, h_emitted_units);
    counter_add(COUNTER_ESCAPED, h_escaped_units);
    counter_add(COUNTER_PHOTON_INTERACTIONS, h_photon_interactions);
    counter_add(COUNTER_ELECTRON_STEPS, h_electron_steps);
    counter_add(COUNTER_TRUNCATED_TRACKS, h_truncated_tracks);
    counter_add(COUNTER_ELECTRON_PATH, u32(round(h_electron_path_mm * 65536.0)));
}
