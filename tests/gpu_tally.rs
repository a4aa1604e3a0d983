//! The chunked 64-bit fixed-point tally (`shaders/shared/tally.wgsl`) sums exactly: every
//! voxel and counter equals the u64 sum of `energy_units` on the CPU, across chunk bindings
//! and across the lo → hi carry.

mod gpu_common;

use voxdose::physics::rng::Pcg32;
use voxdose::transport::gpu::checks::{tally_deposits, tally_take};
use voxdose::transport::gpu::tally::{compact_capacity, energy_units, tally_compact, ScoredVoxels};
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

/// Deposits into `distinct` voxels spread over a 3000-voxel tally of six 512-voxel chunks
/// (4 KiB bindings), some past the low word.
fn sparse_deposits(distinct: u32) -> Vec<Deposit> {
    let mut rng = Pcg32::new(7, 0);
    (0..4 * distinct)
        .map(|i| Deposit {
            // 7k mod 3000 is one-to-one for k < 3000 (7 and 3000 are coprime).
            voxel: 7 * (i % distinct) % 3000,
            // Voxel 35 takes four 60 000 keV deposits: past the low word (3.9e9 units each).
            energy_kev: if i % distinct == 5 {
                60_000.0
            } else {
                1.0 + 400.0 * rng.uniform()
            },
        })
        .collect()
}

/// The list a take gave, sorted, and the CPU twin's list of the CPU sums.
fn sorted_and_expected(
    mut scored: ScoredVoxels,
    deposits: &[Deposit],
) -> (ScoredVoxels, ScoredVoxels) {
    scored.sort_unstable();
    let (cpu_voxels, _) = cpu_sums(3000, deposits);
    (scored, tally_compact(&cpu_voxels))
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn tally_compact_lists_every_voxel_that_scored_and_zeroes_the_tally() {
    // 300 voxels score, within the 340 entries a 4 KiB binding holds.
    let ctx = gpu_common::gpu()
        .with_binding_limit(4096)
        .with_compaction_on_device(true);
    assert_eq!(compact_capacity(3000, 4096), 340);
    let deposits = sparse_deposits(300);
    let (scored, left) = tally_take(&ctx, 3000, &deposits).unwrap();
    let (scored, expected) = sorted_and_expected(scored, &deposits);
    assert_eq!(expected.len(), 300);
    assert_eq!(scored, expected);
    assert!(expected.iter().any(|&(_, u)| u > u64::from(u32::MAX)));
    assert!(
        left.iter().all(|&u| u == 0),
        "the listed voxels were not zeroed"
    );
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_batch_past_the_list_capacity_is_taken_whole_with_the_rest_left_in_the_tally() {
    // 1000 voxels score and the list holds 340: 340 are listed and zeroed on the device, the
    // other 660 read back from the tally, where they stay until the next clear.
    let ctx = gpu_common::gpu()
        .with_binding_limit(4096)
        .with_compaction_on_device(true);
    let deposits = sparse_deposits(1000);
    let (scored, left) = tally_take(&ctx, 3000, &deposits).unwrap();
    let (scored, expected) = sorted_and_expected(scored, &deposits);
    assert_eq!(expected.len(), 1000);
    assert_eq!(scored, expected);
    let (cpu_voxels, _) = cpu_sums(3000, &deposits);
    let still: Vec<usize> = (0..3000).filter(|&v| left[v] != 0).collect();
    assert_eq!(still.len(), 1000 - 340);
    assert!(still.iter().all(|&v| left[v] == cpu_voxels[v]));
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn the_host_lists_the_same_voxels_from_one_read_back() {
    // Without the kernel (the software adapter's default) the list is the twin's, in voxel
    // order, and the tally is left for the next clear.
    let ctx = gpu_common::gpu()
        .with_binding_limit(4096)
        .with_compaction_on_device(false);
    let deposits = sparse_deposits(1000);
    let (scored, left) = tally_take(&ctx, 3000, &deposits).unwrap();
    let (cpu_voxels, _) = cpu_sums(3000, &deposits);
    assert_eq!(scored, tally_compact(&cpu_voxels));
    assert_eq!(left, cpu_voxels);
}
