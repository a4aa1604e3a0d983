//! PCG32 in WGSL (`shaders/shared/rng.wgsl`) equals the CPU generator
//! (`voxdose::physics::rng::Pcg32`: `rand_pcg::Pcg32` started at a SplitMix64 output of
//! (seed, stream)) bit for bit, start included.

mod gpu_common;

use voxdose::physics::rng::Pcg32;
use voxdose::transport::gpu::checks::rng_outputs;

fn compare(seed: u64, first_stream: u64, n_streams: u32, n_outputs: u32) {
    let ctx = gpu_common::gpu();
    let (bits, uniforms) = rng_outputs(&ctx, seed, first_stream, n_streams, n_outputs).unwrap();
    let mut mismatches = 0;
    for s in 0..n_streams {
        let stream = first_stream.wrapping_add(u64::from(s));
        let mut cpu = Pcg32::new(seed, stream);
        let base = (s * n_outputs) as usize;
        for k in 0..n_outputs as usize {
            mismatches += usize::from(bits[base + k] != cpu.next_u32());
        }
        for k in 0..n_outputs as usize {
            mismatches += usize::from(uniforms[base + k].to_bits() != cpu.uniform().to_bits());
        }
    }
    assert_eq!(
        mismatches, 0,
        "seed {seed:#x}, streams {first_stream:#x}..+{n_streams}: GPU and CPU PCG32 differ"
    );
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn wgsl_pcg32_matches_cpu_across_the_increment_carry_at_stream_2_pow_31() {
    // (stream << 1) | 1 crosses 2^32 at stream 2^31 (../shared/docs/WGPU.md §5.1).
    compare(0xdead_beef_1234, 0x7fff_f000, 8192, 8);
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn wgsl_pcg32_matches_cpu_for_64_bit_streams_and_seeds() {
    // Stream low half wraps from 0xFFFF_FFFF to 0 inside the range (carry into stream_hi),
    // and the seed has both halves set.
    compare(0xffff_ffff_0000_0001, 0x1_ffff_f800, 4096, 8);
    compare(u64::MAX, u64::MAX - 100, 64, 4);
}
