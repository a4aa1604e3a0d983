// check_rng.wgsl — test kernel `check_rng`: the first outputs of many PCG32 streams.
//
// Bindings row: `CHECK_RNG` in src/transport/gpu/pipelines.rs. CPU twin: `Pcg32` in
// src/physics/rng.rs; compared bit for bit by tests/gpu_rng.rs through
// `transport::gpu::checks::rng_outputs`. Invocation s runs stream first_stream + s (64-bit
// add with carry) and writes n_outputs raw u32 values, then n_outputs uniforms from the same
// generator continued.

// Keep in sync with `RngCheckParams` in src/transport/gpu_types.rs.
struct RngCheckParams {
    seed_lo: u32,
    seed_hi: u32,
    first_stream_lo: u32,
    first_stream_hi: u32,
    n_streams: u32,
    n_outputs: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> rng_check: RngCheckParams;
// [s · n_outputs + k]: k-th u32 of stream s.
@group(0) @binding(1) var<storage, read_write> rng_bits: array<u32>;
// [s · n_outputs + k]: k-th uniform of stream s, drawn after its n_outputs raw values.
@group(0) @binding(2) var<storage, read_write> rng_uniforms: array<f32>;

@compute @workgroup_size(64)
fn check_rng(@builtin(global_invocation_id) gid: vec3<u32>) {
    let s = gid.x;
    if (s < rng_check.n_streams) {
        let stream_lo = rng_check.first_stream_lo + s;
        let stream_hi = rng_check.first_stream_hi + select(0u, 1u, stream_lo < s);
        rng_init(rng_check.seed_lo, rng_check.seed_hi, stream_lo, stream_hi);
        let base = s * rng_check.n_outputs;
        for (var k = 0u; k < rng_check.n_outputs; k++) {
            rng_bits[base + k] = rng_next_u32();
        }
        for (var k = 0u; k < rng_check.n_outputs; k++) {
            rng_uniforms[base + k] = rng_uniform();
        }
    }
}
