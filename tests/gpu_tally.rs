//! The chunked 64-bit fixed-point tally (`shaders/shared/tally.wgsl`) sums exactly: every
//! voxel and counter equals the u64 sum of `energy_units` on the CPU, across chunk bindings
//! and across the lo → hi carry.

mod gpu_common;

use voxdose::physics::rng::Pcg32;
use voxdose::transport::gpu::checks::tally_deposits;
use voxdose::transport::gpu::tally::energy_units;
use voxdose::transport::gpu::DeviceError;
use voxdose::transport::gpu_types::{Counter, Deposit};

fn cpu_sums(n_voxels: usize, deposits: &[Deposit]) -> (Vec<u64>, u64) {
    let mut voxels = vec![0u64; n_voxels];
    let mut total = 0u64;
    for d in deposits {
        let units = u64::from(energy_units(d.energy_kev));
        voxels[d.voxel as usize] += units;
        total += units;
    }
    (voxels, total)
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn tally_is_exact_across_six_chunk_bindings_under_a_4_kib_binding_limit() {
    // 4096-byte bindings hold 512 voxels of 8 bytes: 3000 voxels need 6 chunks.
    let ctx = gpu_common::gpu().with_binding_limit(4096);
    let n_voxels = 3000;
    let mut rng = Pcg32::new(42, 0);
    let deposits: Vec<Deposit> = (0..200_000)
        .map(|_| Deposit {
            voxel: (rng.uniform() * n_voxels as f32) as u32 % n_voxels as u32,
            energy_kev: 500.0 * rng.uniform(),
        })
        .collect();
    let (gpu_voxels, counters) = tally_deposits(&ctx, n_voxels as u64, &deposits).unwrap();
    let (cpu_voxels, total) = cpu_sums(n_voxels, &deposits);
    let differing = gpu_voxels
        .iter()
        .zip(&cpu_voxels)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        differing, 0,
        "{differing} voxels differ between GPU and CPU sums"
    );
    assert_eq!(counters[Counter::Deposited as usize], total);
    assert_eq!(counters[Counter::Histories as usize], deposits.len() as u64);
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn tally_and_workgroup_counters_carry_into_the_high_word() {
    // 60 000 keV is 3.93e9 units: two deposits wrap a voxel's low word, and one workgroup of
    // 64 such deposits wraps its partial counter sum 58 times.
    let ctx = gpu_common::gpu().with_binding_limit(4096);
    let deposits: Vec<Deposit> = (0..50_000u32)
        .map(|i| Deposit {
            voxel: [7, 511, 512, 1023][(i % 4) as usize],
            energy_kev: 60_000.0,
        })
        .collect();
    let (gpu_voxels, counters) = tally_deposits(&ctx, 1024, &deposits).unwrap();
    let (cpu_voxels, total) = cpu_sums(1024, &deposits);
    assert!(cpu_voxels[7] > u64::from(u32::MAX) * 1000);
    assert_eq!(gpu_voxels, cpu_voxels);
    assert_eq!(counters[Counter::Deposited as usize], total);
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_tally_beyond_eight_chunk_bindings_is_too_large_not_a_panic() {
    // 8 chunks × 512 voxels = 4096 voxels at most under a 4 KiB binding limit.
    let ctx = gpu_common::gpu().with_binding_limit(4096);
    let err = tally_deposits(&ctx, 4097, &[]).unwrap_err();
    match err {
        DeviceError::TooLarge {
            needed_bytes,
            limit_bytes,
            ..
        } => assert_eq!((needed_bytes, limit_bytes), (4097 * 8, 4096 * 8)),
        other => panic!("expected TooLarge, got {other}"),
    }
}
