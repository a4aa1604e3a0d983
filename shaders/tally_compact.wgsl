// tally_compact.wgsl — kernel `tally_compact`: lists the voxels of a batch tally that scored,
// as (voxel, lo, hi) triples, and zeroes the voxels it listed.
//
// Bindings row: `TALLY_COMPACT` in src/transport/gpu/pipelines.rs; host side
// `transport::gpu::tally::Compactor`; CPU twin `transport::gpu::tally::tally_compact`.
//
// Why: a tally larger than one storage binding (a 512×512×400 CT grid is 105 M voxels,
// 840 MB) would be copied to the host whole after every batch, while a batch of 10^4–10^5
// decays scores in a few hundred thousand voxels. On a GPU this kernel reads the tally where
// it lives and hands the host only the voxels that scored. The host folds them exactly as it
// folds the whole tally: a voxel that scored nothing adds nothing to Σ E_b or Σ E_b²/n_b, so
// the statistics are the same bit for bit. (lavapipe scans memory several times slower than
// the host does, so on a software adapter the host reads the tally and lists the voxels
// itself, with the CPU twin; the tests run this kernel there too.)
//
// The list holds `capacity` entries. Past it, a voxel is left in the tally, not zeroed: the
// count at word 0 still counts it, so the host knows to read the rest of the tally back
// whole. Entries come in no fixed order (one atomic slot counter); the host's fold does not
// depend on the order.
//
// Dispatch: one per tally chunk, the chunk bound as `compact_chunk` (the same buffer as its
// `tally_chunk*` binding of group 2, here as plain (lo, hi) pairs: the batch's atomics are
// done, and plain loads need no chunk switch). Invocations walk the chunk with a grid
// stride, so a chunk of any size fits the 65535-workgroup limit.

// Keep in sync with `CompactParams` in src/transport/gpu_types.rs.
struct CompactParams {
    // Entries the list holds.
    capacity: u32,
    // Invocations in the dispatch (the grid stride).
    stride: u32,
    // The chunk's first voxel in the grid.
    first_voxel: u32,
    // Voxels in the chunk.
    n_voxels: u32,
}

// Words before the first entry, and words per entry. Also in gpu_types.rs.
const COMPACT_HEADER_WORDS: u32 = 4u;
const COMPACT_ENTRY_WORDS: u32 = 3u;

@group(0) @binding(0) var<uniform> compact_params: CompactParams;
// [0]: voxels that scored (the host zeroes it before the first chunk's dispatch); [1 .. 4):
// unused; then entry e at COMPACT_HEADER_WORDS + 3e: voxel, lo, hi.
@group(0) @binding(1) var<storage, read_write> compact: array<atomic<u32>>;
// The chunk's voxels, (lo, hi).
@group(0) @binding(2) var<storage, read_write> compact_chunk: array<vec2<u32>>;

@compute @workgroup_size(256)
fn tally_compact(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < compact_params.n_voxels; i += compact_params.stride) {
        let units = compact_chunk[i];
        if (units.x != 0u || units.y != 0u) {
            let slot = atomicAdd(&compact[0], 1u);
            if (slot < compact_params.capacity) {
                let w = COMPACT_HEADER_WORDS + COMPACT_ENTRY_WORDS * slot;
                atomicStore(&compact[w], compact_params.first_voxel + i);
                atomicStore(&compact[w + 1u], units.x);
                atomicStore(&compact[w + 2u], units.y);
                compact_chunk[i] = vec2(0u, 0u);
            }
        }
    }
}
