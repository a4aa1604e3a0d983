// shared/tally.wgsl — fixed-point energy tallies and global counters (bind group 2).
//
// Host side: `TallyParams`, `N_COUNTERS` and `TALLY_MAX_CHUNKS` in src/transport/gpu_types.rs
// (checked against this file by tests/gpu_types.rs), buffers in src/transport/gpu/tally.rs.
// CPU twin of the arithmetic: `crate::transport::gpu::tally::energy_units` and plain u64 adds.
//
// Energy is a 64-bit fixed-point integer, 65536 units per keV, kept as a (lo, hi) pair of
// `atomic<u32>` (core WGSL has no 64-bit or float atomics): add to lo; if the returned old
// value plus the addend wraps, carry 1 into hi. The host reads (hi << 32) | lo after the
// dispatch. The sum is exact and independent of the order of the atomic adds.
//
// The voxel tally spans up to TALLY_MAX_CHUNKS bindings, because one storage binding is
// limited (128 MiB on lavapipe and wgpu's defaults = 2^24 voxels of 8 bytes). Voxel v lives in
// chunk v >> chunk_shift at index v & (2^chunk_shift − 1); unused chunks are bound to a
// small dummy buffer. Core WGSL cannot pass storage pointers into functions, hence one
// `switch` arm per chunk binding.
//
// Global counters (emitted, deposited, escaped energy, event counts) are first summed in
// `var<workgroup>` atomics, also as carried lo/hi pairs so no workgroup sum can overflow,
// and lane 0 adds them to the global buffer once per workgroup in `counters_flush`.

// Keep in sync with `TallyParams` in src/transport/gpu_types.rs.
struct TallyParams {
    // Voxels in the grid.
    n_voxels: u32,
    // log2 of the voxels per tally chunk binding.
    chunk_shift: u32,
    // Chunk bindings in use (≤ TALLY_MAX_CHUNKS).
    n_chunks: u32,
    _pad0: u32,
}

// Fixed-point scale, units per keV. If changing, also change gpu_types.rs `UNITS_PER_KEV`.
const UNITS_PER_KEV: f32 = 65536.0;
// Tally chunk bindings (tally_chunk0 … tally_chunk7). Also in gpu_types.rs.
const TALLY_MAX_CHUNKS: u32 = 8u;
// Global 64-bit counters. Also in gpu_types.rs (`N_COUNTERS`, `Counter`).
const N_COUNTERS: u32 = 9u;
const COUNTER_EMITTED: u32 = 0u;
const COUNTER_DEPOSITED: u32 = 1u;
const COUNTER_ESCAPED: u32 = 2u;
const COUNTER_HISTORIES: u32 = 3u;

@group(2) @binding(0) var<uniform> tally_params: TallyParams;
// [2c] = lo, [2c + 1] = hi of counter c.
// Word QUEUE_WORD: the next free block of `decay_history`'s work queue (zeroed by the host
// before each dispatch, `DeviceTally::reset_queue`; not a counter, never read back).
@group(2) @binding(1) var<storage, read_write> counters: array<atomic<u32>>;
const QUEUE_WORD: u32 = 2u * N_COUNTERS;
// [2i] = lo, [2i + 1] = hi of voxel (chunk << chunk_shift) + i.
@group(2) @binding(2) var<storage, read_write> tally_chunk0: array<atomic<u32>>;
@group(2) @binding(3) var<storage, read_write> tally_chunk1: array<atomic<u32>>;
@group(2) @binding(4) var<storage, read_write> tally_chunk2: array<atomic<u32>>;
@group(2) @binding(5) var<storage, read_write> tally_chunk3: array<atomic<u32>>;
@group(2) @binding(6) var<storage, read_write> tally_chunk4: array<atomic<u32>>;
@group(2) @binding(7) var<storage, read_write> tally_chunk5: array<atomic<u32>>;
@group(2) @binding(8) var<storage, read_write> tally_chunk6: array<atomic<u32>>;
@group(2) @binding(9) var<storage, read_write> tally_chunk7: array<atomic<u32>>;

var<workgroup> wg_counters: array<atomic<u32>, 18>; // 2 × N_COUNTERS

// keV → fixed-point units, rounding ties to even (WGSL `round`; the CPU twin uses
// `f32::round_ties_even`). Valid for 0 ≤ e_kev < 65536 keV.
fn energy_units(e_kev: f32) -> u32 {
    return u32(round(e_kev * UNITS_PER_KEV));
}

// Chunk bindings this pipeline uses, set by the host at pipeline creation
// (`TransportConstants` in src/transport/gpu/pipelines.rs). With one chunk the switch below
// is folded away: a SIMD device such as lavapipe runs every arm of a divergent switch under
// a mask, so the eight atomic arms would cost eight times one.
override TALLY_CHUNKS: u32 = TALLY_MAX_CHUNKS;

// Adds `units` to voxel v (v < n_voxels; the caller checks).
fn tally_add_units(v: u32, units: u32) {
    if (TALLY_CHUNKS == 1u) {
        let i = 2u * v;
        let old = atomicAdd(&tally_chunk0[i], units);
        if (old + units < old) { atomicAdd(&tally_chunk0[i + 1u], 1u); }
        return;
    }
    let chunk = v >> tally_params.chunk_shift;
    let i = 2u * (v & ((1u << tally_params.chunk_shift) - 1u));
    switch chunk {
        case 0u: {
            let old = atomicAdd(&tally_chunk0[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk0[i + 1u], 1u); }
        }
        case 1u: {
            let old = atomicAdd(&tally_chunk1[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk1[i + 1u], 1u); }
        }
        case 2u: {
            let old = atomicAdd(&tally_chunk2[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk2[i + 1u], 1u); }
        }
        case 3u: {
            let old = atomicAdd(&tally_chunk3[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk3[i + 1u], 1u); }
        }
        case 4u: {
            let old = atomicAdd(&tally_chunk4[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk4[i + 1u], 1u); }
        }
        case 5u: {
            let old = atomicAdd(&tally_chunk5[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk5[i + 1u], 1u); }
        }
        case 6u: {
            let old = atomicAdd(&tally_chunk6[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk6[i + 1u], 1u); }
        }
        case 7u: {
            let old = atomicAdd(&tally_chunk7[i], units);
            if (old + units < old) { atomicAdd(&tally_chunk7[i + 1u], 1u); }
        }
        default: {}
    }
}

// Adds `units` to this workgroup's partial sum of counter c.
fn counter_add(c: u32, units: u32) {
    let old = atomicAdd(&wg_counters[2u * c], units);
    if (old + units < old) { atomicAdd(&wg_counters[2u * c + 1u], 1u); }
}

// Adds hi · 2^32 + lo to the workgroup's counter c.
fn counter_add_carried(c: u32, lo: u32, hi: u32) {
    counter_add(c, lo);
    if (hi != 0u) { atomicAdd(&wg_counters[2u * c + 1u], hi); }
}

// Adds the workgroup's partial sums to the global counters. Every lane of the workgroup must
// call it, in uniform control flow (it holds a barrier), after its last `counter_add`.
fn counters_flush(local_index: u32) {
    workgroupBarrier();
    if (local_index == 0u) {
        for (var c = 0u; c < N_COUNTERS; c++) {
            let lo = atomicLoad(&wg_counters[2u * c]);
            let hi = atomicLoad(&wg_counters[2u * c + 1u]);
            if (lo != 0u || hi != 0u) {
                let old = atomicAdd(&counters[2u * c], lo);
                let carry = select(0u, 1u, old + lo < old);
                atomicAdd(&counters[2u * c + 1u], hi + carry);
            }
        }
    }
}
