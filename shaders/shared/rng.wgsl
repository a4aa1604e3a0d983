// shared/rng.wgsl — PCG32 (XSH-RR 64/32) in u32 arithmetic, one stream per history and
// particle; stream s starts at the (s + 1)-th SplitMix64 output of the seed (why: the module
// doc of src/physics/rng.rs).
//
// CPU twin: `Pcg32` in src/physics/rng.rs (bit-identical; tested in tests/gpu_rng.rs, across
// the 2^32 carry of the increment). Core WGSL has no u64, so the 64-bit LCG state and
// increment are (lo, hi) u32 pairs and the high half of each 32×32 product is built from
// 16-bit pieces. The state lives in `var<private>` globals: one generator per invocation.
// If changing, also change src/physics/rng.rs.

var<private> rng_state_lo: u32;
var<private> rng_state_hi: u32;
var<private> rng_inc_lo: u32;
var<private> rng_inc_hi: u32;

// 6364136223846793005 = 0x5851F42D_4C957F2D, the PCG multiplier.
const PCG_MUL_LO: u32 = 0x4C957F2Du;
const PCG_MUL_HI: u32 = 0x5851F42Du;

// High 32 bits of the 64-bit product a·b.
fn mul_hi_u32(a: u32, b: u32) -> u32 {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
    return p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

// state = state · MUL + inc (mod 2^64).
fn rng_step() {
    let lo = rng_state_lo * PCG_MUL_LO;
    let hi = mul_hi_u32(rng_state_lo, PCG_MUL_LO) + rng_state_lo * PCG_MUL_HI
        + rng_state_hi * PCG_MUL_LO;
    let lo2 = lo + rng_inc_lo;
    rng_state_hi = hi + rng_inc_hi + select(0u, 1u, lo2 < lo);
    rng_state_lo = lo2;
}

// 64-bit helpers on (lo, hi) pairs.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// a · b mod 2^64.
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x * b.x, mul_hi_u32(a.x, b.x) + a.x * b.y + a.y * b.x);
}

// z ^ (z >> k) for 0 < k < 32.
fn xor_shr64(z: vec2<u32>, k: u32) -> vec2<u32> {
    return vec2<u32>(z.x ^ ((z.x >> k) | (z.y << (32u - k))), z.y ^ (z.y >> k));
}

// SplitMix64's constants as (lo, hi): the increment 0x9E3779B9_7F4A7C15 and the two
// multipliers of its output function.
const SPLITMIX_GAMMA: vec2<u32> = vec2<u32>(0x7F4A7C15u, 0x9E3779B9u);
const SPLITMIX_MUL1: vec2<u32> = vec2<u32>(0x1CE4E5B9u, 0xBF58476Du);
const SPLITMIX_MUL2: vec2<u32> = vec2<u32>(0x133111EBu, 0x94D049BBu);

// `splitmix64_mix` of src/physics/rng.rs.
fn splitmix64_mix(z0: vec2<u32>) -> vec2<u32> {
    let z1 = mul64(xor_shr64(z0, 30u), SPLITMIX_MUL1);
    let z2 = mul64(xor_shr64(z1, 27u), SPLITMIX_MUL2);
    return xor_shr64(z2, 31u);
}

// `stream_start` of src/physics/rng.rs: output stream + 1 of SplitMix64 seeded with seed.
fn stream_start(seed: vec2<u32>, stream: vec2<u32>) -> vec2<u32> {
    let n = add64(stream, vec2<u32>(1u, 0u));
    return splitmix64_mix(add64(seed, mul64(n, SPLITMIX_GAMMA)));
}

// The generator for (seed, stream), both 64-bit as (lo, hi): `Pcg32::new(seed, stream)`.
fn rng_init(seed_lo: u32, seed_hi: u32, stream_lo: u32, stream_hi: u32) {
    // increment = (stream << 1) | 1
    rng_inc_lo = (stream_lo << 1u) | 1u;
    rng_inc_hi = (stream_hi << 1u) | (stream_lo >> 31u);
    let start = stream_start(vec2<u32>(seed_lo, seed_hi), vec2<u32>(stream_lo, stream_hi));
    let state = add64(start, vec2<u32>(rng_inc_lo, rng_inc_hi));
    rng_state_lo = state.x;
    rng_state_hi = state.y;
    rng_step();
}

// Next 32 random bits: XSH-RR output of the state before the step.
fn rng_next_u32() -> u32 {
    let old_lo = rng_state_lo;
    let old_hi = rng_state_hi;
    rng_step();
    // xorshifted = ((old >> 18) ^ old) >> 27, truncated to u32
    let x_lo = old_lo ^ ((old_lo >> 18u) | (old_hi << 14u));
    let x_hi = old_hi ^ (old_hi >> 18u);
    let xorshifted = (x_lo >> 27u) | (x_hi << 5u);
    let rot = old_hi >> 27u;
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

// Uniform in the open interval (0, 1): (top 24 bits + 0.5) / 2^24, as `Pcg32::uniform`.
fn rng_uniform() -> f32 {
    return (f32(rng_next_u32() >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// The generator's whole state (state lo, hi, increment lo, hi), to set aside while other
// streams run and go on with later (`rng_restore`): `Pcg32` is a copyable value on the CPU.
fn rng_save() -> vec4<u32> {
    return vec4<u32>(rng_state_lo, rng_state_hi, rng_inc_lo, rng_inc_hi);
}

// Continues the stream `rng_save` set aside.
fn rng_restore(s: vec4<u32>) {
    rng_state_lo = s.x;
    rng_state_hi = s.y;
    rng_inc_lo = s.z;
    rng_inc_hi = s.w;
}
