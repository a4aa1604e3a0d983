// decay_history.wgsl — kernel `decay_history`: decays in blocks of HISTORIES_PER_BLOCK,
// each invocation taking block after block from the batch's work queue, from their positions
// to the end of every track they start, scored into the chunked fixed-point tally.
//
// Bindings row: `DECAY_HISTORY` in src/transport/gpu/pipelines.rs (groups 1 grid, 2 tally,
// 3 physics). CPU twin: src/transport/cpu/decay_history.rs, with the same random numbers:
// history h (of the run: first_history + local index) draws its emissions from stream
// (seed, 128·h) — 5 for the position, 1 for the β count, per β 1 energy + 2 direction, 1 for
// the line count, per line 2 alias + 2 direction — and its k-th emission (k = 1, 2, … in the
// order drawn) is transported on stream (seed, 128·h + k), a photon's electrons on the
// photon's stream. Each particle carrying its own stream is what lets the invocation run
// several decays' particles in one loop, in any interleaving, with the CPU's numbers.
//
// The work queue: an invocation claims its next block (local histories n·b … n·b + n − 1,
// n = HISTORIES_PER_BLOCK) by an atomic add on `counters[QUEUE_WORD]`, which the host
// zeroes before each dispatch, and stops at the first block past the batch. So the work
// goes to whichever lanes are free, not in fixed shares: a device that splits a dispatch's
// workgroups in equal shares among unequal cores (lavapipe) does not wait for the slowest
// share, and a GPU's long histories do not hold up a workgroup's share. Which invocation
// runs a block changes from run to run; the result does not: every history has its own
// streams, the tally and the counters are integer sums, and the one float sum (the electron
// path) is rounded per block.

// Decays per block, set by the host per device (`histories_per_block` in
// src/transport/gpu/device.rs; the default is `HISTORIES_PER_BLOCK_GPU` of
// src/transport/gpu_types.rs). A bigger block puts more decays' particles through each
// round's loops, so fewer lanes idle in them (a 177Lu decay emits 0.24 photons: a block of 8
// gives a lane about two, and the photon loop runs for the lane with the most);
// a smaller one keeps a GPU's many lanes fed by batches of a given size.
override HISTORIES_PER_BLOCK: u32 = 8u;
// Blocks an invocation takes at most, set by the host (`blocks_per_invocation` in
// src/transport/gpu/device.rs; the default is `BLOCKS_PER_INVOCATION` of
// src/transport/gpu_types.rs). lavapipe ends every loop of an invocation, silently,
// once its loops have run 65535 iterations in all (gallivm's loop limiter,
// `LP_MAX_TGSI_LOOP_ITERATIONS`, one count shared by every loop of a shader): an invocation
// that took blocks until the queue ran dry would be cut off mid-history. On `patient15`,
// 131I (364 keV photons that fly far) was cut at 384 decays per invocation and not at 256;
// lavapipe's blocks of 32 decays, 2 per invocation, are 64. Each invocation of a dispatch
// sized at one per block can take 2, so every thread of a device that hands out workgroups
// in equal shares can take up to twice its share: the queue runs dry before any thread runs
// out of workgroups. The host checks every batch (`check_batch` in
// src/transport/gpu/run.rs): a kernel cut short is never folded into the dose; on a
// software adapter the host runs that batch again in smaller blocks.
override BLOCKS_PER_INVOCATION: u32 = 2u;
// Streams per history: the emission stream and one per emission
// (`PARTICLE_STREAMS_PER_HISTORY` in src/transport/cpu/decay_history.rs).
const PARTICLE_STREAMS_LOG2: u32 = 7u;
// The emission queue's slots. A decay the queue cannot hold to its end is drawn on in the
// next round (`drawing`), so the queue need not hold two decays' worst case (2 ×
// MAX_EMISSIONS_PER_DECAY = 144, as it did): lavapipe compiles a private array indexed at run
// time in time proportional to its slots (a fresh machine's first GPU run: 23 s with 144
// slots, 8.4 s with 72, 3.7 s with 32; its shader cache keeps the result for later runs), and
// a GPU holds it in per-thread memory. Fewer slots mean more rounds, whose loops wait for
// their slowest lane: with 72, a round still takes a lavapipe block of 32 177Lu decays whole
// (1.4 emissions each, 45 a block) and the runs were as fast as with 144 (0.91–1.03 × its
// wall time over four phantoms and nuclides), with 32 up to 1.11 × slower (BENCHMARKS.md).
const QUEUE_SLOTS: u32 = 72u;

@compute @workgroup_size(64)
fn decay_history(@builtin(local_invocation_index) lane: u32) {
    let n = physics.n_histories;
    let blocks = (n + HISTORIES_PER_BLOCK - 1u) / HISTORIES_PER_BLOCK; // n < 2^25 (host)
    for (var taken = 0u; taken < BLOCKS_PER_INVOCATION; taken++) {
        let block = atomicAdd(&counters[QUEUE_WORD], 1u);
        if (block >= blocks) {
            break;
        }
        let first = block * HISTORIES_PER_BLOCK;
        let end = min(first + HISTORIES_PER_BLOCK, n);
        history_begin();
        drawing = false;
        var next = first;
        loop {
            if (next >= end && !drawing) {
                break;
            }
            next = simulate_decays(next, end);
        }
        counter_add(COUNTER_HISTORIES, end - first);
        history_flush();
    }
    counters_flush(lane);
}

// The emissions of the decays in the current round: direction and energy units (w, as f32
// bits), and the start position and the particle's stream (w, as bits: local history · 128 +
// k); electrons from the front, photons from the back.
var<private> queue_dir: array<vec4<f32>, QUEUE_SLOTS>;
var<private> queue_pos: array<vec4<f32>, QUEUE_SLOTS>;

// The decay phase 0 was drawing when the queue filled, which the next round draws on:
// its emission stream's state (`rng_save`), position, stream base (local history · 128),
// emissions drawn so far, βs and lines left to draw, and whether its line count is drawn.
var<private> drawing: bool;
var<private> draw_rng: vec4<u32>;
var<private> draw_pos: vec3<f32>;
var<private> draw_base: u32;
var<private> draw_k: u32;
var<private> draw_betas_left: u32;
var<private> draw_lines_left: u32;
var<private> draw_lines_drawn: bool;

// Starts stream 128·(first_history + local) + k, given `particle` = local · 128 + k.
fn particle_stream(particle: u32) {
    let lo = (physics.first_history_lo << PARTICLE_STREAMS_LOG2) + particle;
    let carry = select(0u, 1u, lo < particle);
    let hi = (physics.first_history_hi << PARTICLE_STREAMS_LOG2)
        | (physics.first_history_lo >> (32u - PARTICLE_STREAMS_LOG2));
    rng_init(physics.seed_lo, physics.seed_hi, lo, hi + carry);
}

// One round: draws the emissions of local histories `first`, `first` + 1, … (the decay a
// full queue cut short first, then up to `end`) until the queue is full, then transports
// them in three phases shaped for SIMD devices (lavapipe; a GPU's warps), where a loop costs
// its body for every group of lanes while any lane is still in it and every branch runs
// under a mask, taken or not:
// 0. draw the emissions (cheap: no transport) into the queue, a decay at a time so the lanes
//    sample their decays' positions together (one flat loop over emissions and decays ran the
//    water sphere 1.27 × slower);
// 1. track the electron emissions through one flat `electron_step` loop, so a lane with a
//    short track starts its next electron, of this decay or the next, instead of idling; a
//    bremsstrahlung photon a step makes is flown (`brems_photon_track`) before the next step
//    (a few per cent of tracks make one);
// 2. fly the photons, one `photon_pass` per pass, each electron a pass sets going tracked
//    before the next pass (`electron_track`).
// Returns the next history to start (`drawing`: the last one started is not drawn to its
// end). Per history the order of events and random numbers is the CPU twin's; the tally's
// integer sums do not depend on the interleaving.
fn simulate_decays(first: u32, end: u32) -> u32 {
    var n_e = 0u;
    var n_p = 0u;
    var h = first;
    if (drawing) {
        rng_restore(draw_rng);
    }
    // Phase 0: decay by decay (so the lanes start their decays together), each drawn emission
    // by emission until it ends or the queue is full.
    loop {
        if (!drawing) {
            if (h >= end || n_e + n_p >= QUEUE_SLOTS) {
                break;
            }
            let base = h << PARTICLE_STREAMS_LOG2;
            h += 1u;
            particle_stream(base);
            let pos = source_position();
            let place = place_locate(pos);
            emit_units(physics.local_units);
            if (!place.inside) {
                // A shape reaching outside the grid: the decay's energy leaves at once.
                escape_units(physics.local_units);
                continue;
            }
            deposit(place_voxel(place), physics.local_units);
            drawing = true;
            draw_pos = pos;
            draw_base = base;
            draw_k = 0u;
            draw_betas_left = beta_count(rng_uniform());
            draw_lines_left = 0u;
            draw_lines_drawn = false;
        }
        loop {
            if (n_e + n_p >= QUEUE_SLOTS) {
                break;
            }
            // The decay's next emission (or its line count, or its end).
            var emit = false;
            var electron = true;
            var units = 0u;
            if (draw_betas_left > 0u) {
                draw_betas_left -= 1u;
                units = to_units(sample_beta_kev(rng_uniform()));
                emit = true;
            } else if (!draw_lines_drawn) {
                draw_lines_left = line_count(rng_uniform());
                draw_lines_drawn = true;
            } else if (draw_lines_left > 0u) {
                draw_lines_left -= 1u;
                let a1 = rng_uniform();
                let a2 = rng_uniform();
                let line = line_alias_sample(a1, a2);
                units = utab[physics.off_line_units + line];
                electron = utab[physics.off_line_particle + line] == PARTICLE_ELECTRON;
                emit = true;
            } else {
                drawing = false;
                break;
            }
            if (emit) {
                let u1 = rng_uniform();
                let u2 = rng_uniform();
                let dir = isotropic(u1, u2);
                emit_units(units);
                draw_k += 1u;
                var slot = n_e;
                if (electron) {
                    n_e += 1u;
                } else {
                    n_p += 1u;
                    slot = QUEUE_SLOTS - n_p;
                }
                queue_dir[slot] = vec4<f32>(dir, bitcast<f32>(units));
                queue_pos[slot] = vec4<f32>(draw_pos, bitcast<f32>(draw_base + draw_k));
            }
        }
        if (drawing) {
            // The queue is full mid-decay.
            break;
        }
    }
    if (drawing) {
        draw_rng = rng_save();
    }
    // Phase 1.
    var q = 0u;
    var e_on = false;
    loop {
        if (!e_on) {
            if (q >= n_e) {
                break;
            }
            let d = queue_dir[q];
            let p = queue_pos[q];
            q += 1u;
            particle_stream(bitcast<u32>(p.w));
            electron_begin(place_locate(p.xyz), d.xyz, bitcast<u32>(d.w));
            e_radiates = true;
        }
        e_on = !electron_step();
        if (b_some) {
            brems_photon_track();
        }
    }
    // Phase 2.
    q = 0u;
    var photon_on = false;
    loop {
        if (!photon_on) {
            if (q >= n_p) {
                break;
            }
            q += 1u;
            let d = queue_dir[QUEUE_SLOTS - q];
            let p = queue_pos[QUEUE_SLOTS - q];
            particle_stream(bitcast<u32>(p.w));
            photon_begin(place_locate(p.xyz), d.xyz, bitcast<u32>(d.w));
        }
        let flown = photon_pass();
        photon_on = !flown.ended;
        if (flown.electron.some) {
            electron_track(flown.electron.place, flown.electron.dir, flown.electron.units);
        }
    }
    return h;
}

// The bremsstrahlung photon `b_*` the last `electron_step` made: flown on the electron's
// stream, each electron it sets going tracked (not radiating) before its next pass, as the
// CPU's `photon_track` inside `electron_track`; then the electron resumes. The electron's
// state is kept aside because `electron_track` reuses the `e_*` globals.
fn brems_photon_track() {
    b_some = false;
    let place = e_place;
    let dir = e_dir;
    let units = e_units;
    let voxel = e_voxel;
    let md = e_md;
    let pending = e_pending;
    let passes = e_pass;
    let enter = e_enter;
    photon_begin(b_place, b_dir, b_units);
    loop {
        let flown = photon_pass();
        if (flown.electron.some) {
            electron_track(flown.electron.place, flown.electron.dir, flown.electron.units);
        }
        if (flown.ended) {
            break;
        }
    }
    e_place = place;
    e_dir = dir;
    e_units = units;
    e_voxel = voxel;
    e_md = md;
    e_pending = pending;
    e_pass = passes;
    e_enter = enter;
    e_radiates = true;
    b_some = false;
}
