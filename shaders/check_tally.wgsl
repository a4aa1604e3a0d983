// check_tally.wgsl — test kernel `check_tally`: scores a list of deposits into the chunked
// fixed-point tally and the workgroup-summed counters (shared/tally.wgsl).
//
// Bindings row: `CHECK_TALLY` in src/transport/gpu/pipelines.rs. CPU twin: exact u64 sums of
// `transport::gpu::tally::energy_units`, compared by tests/gpu_tally.rs through
// `transport::gpu::checks::tally_deposits`. Each deposit adds to its voxel and to
// COUNTER_DEPOSITED; each invocation adds 1 to COUNTER_HISTORIES.

// Keep in sync with `TallyCheckParams` in src/transport/gpu_types.rs.
struct TallyCheckParams {
    n_deposits: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Keep in sync with `Deposit` in src/transport/gpu_types.rs.
struct Deposit {
    voxel: u32,
    energy_kev: f32,
}

@group(0) @binding(0) var<uniform> tally_check: TallyCheckParams;
@group(0) @binding(1) var<storage, read> deposits: array<Deposit>;

@compute @workgroup_size(64)
fn check_tally(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let d = gid.x;
    if (d < tally_check.n_deposits) {
        let units = energy_units(deposits[d].energy_kev);
        tally_add_units(deposits[d].voxel, units);
        counter_add(COUNTER_DEPOSITED, units);
        counter_add(COUNTER_HISTORIES, 1u);
    }
    counters_flush(lane);
}
