//! The WGSL transport (`shaders/decay_history.wgsl`) against its CPU twin
//! (`transport::cpu::decay_history`) on lavapipe: same phantom, same seed.
//!
//! - voxel-wise chi-square of the dose difference over the voxels above 0.01 % of the maximum
//!   whose σ is at most 30 % on both devices (so the batch σ is itself well estimated), with
//!   σ² = σ²_gpu + σ²_cpu from the batch method; alpha = 1e-4, critical value from
//!   statrs's χ² quantile (never typed in);
//! - regional mean doses within 1 %;
//! - energy conservation exact in fixed point on the GPU (deposited + escaped = emitted);
//! - the same seed reproduces the GPU result bit for bit.
//!
//! - with 90Y, whose βs make bremsstrahlung photons (flown inside the electron loop of
//!   `decay_history.wgsl`, on the electron's stream), the same χ² and regions, and the energy
//!   given to bremsstrahlung within 4σ of the CPU's.
//!
//! The phantom is `slab` at 8 mm voxels (16³ = 4096 voxels: water, cortical bone, lung,
//! water) with 177Lu, so β, IC/Auger electrons and photons all cross material interfaces.

mod gpu_common;

use statrs::distribution::{ChiSquared, ContinuousCDF};
use voxdose::phantoms;
use voxdose::physics::decay::DecayTables;

use voxdose::transport::driver::simulate_cpu;
use voxdose::transport::gpu::run::simulate_on;
use voxdose::transport::gpu_types::EMISSION_QUEUE_SLOTS;
use voxdose::transport::{StopRule, TransportResult, TransportSettings};

fn settings(decays: u64, batches: u32) -> TransportSettings {
    TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("Lu-177").unwrap(),
        stop: StopRule::Decays(decays),
        seed: 20261201,
        batches,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: Default::default(),
        decays_per_block: None,
    }
}

fn slab() -> phantoms::Phantom {
    phantoms::build(&voxdose::phantoms::PhantomSpec {
        name: "slab".into(),
        radius_mm: None,
        voxel_mm: Some(8.0),
        grid: None,
        material: None,
        ..Default::default()
    })
    .unwrap()
}

/// True when two runs gave the same dose, voxel for voxel and bit for bit.
fn same_dose_bits(a: &TransportResult, b: &TransportResult) -> bool {
    a.dose_gy_per_decay.len() == b.dose_gy_per_decay.len()
        && a.dose_gy_per_decay
            .iter()
            .zip(&b.dose_gy_per_decay)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

fn assert_conserves_energy(r: &TransportResult, what: &str) {
    let e = r.energy;
    assert_eq!(
        e.deposited_units + e.escaped_units,
        e.emitted_units,
        "{what}: deposited {} + escaped {} ≠ emitted {} (fixed-point units)",
        e.deposited_units,
        e.escaped_units,
        e.emitted_units
    );
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_dose_matches_cpu_reference_voxelwise_and_by_region() {
    gpu_matches_cpu(&settings(20_000, 20));
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_bremsstrahlung_of_y90_matches_cpu_reference() {
    let s = TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("Y-90").unwrap(),
        ..settings(10_000, 20)
    };
    let (gpu, cpu) = gpu_matches_cpu(&s);
    let (g, c) = (
        gpu.counters.radiated_units as f64,
        cpu.counters.radiated_units as f64,
    );
    // Photons per decay ~0.2, energy per photon spread over 10 keV–2 MeV: the relative σ of the
    // total is about 1/√(N photons) × (1 + CV²)^½ ≲ 2/√(0.2 N).
    let n_photons = 0.2 * s.stop_decays() as f64;
    let sigma = 2.0 / n_photons.sqrt();
    eprintln!("radiated: GPU {g} CPU {c} units");
    assert!(c > 0.0, "the CPU made no bremsstrahlung");
    assert!(
        (g / c - 1.0).abs() < 4.0 * sigma * 2f64.sqrt(),
        "radiated energy GPU {g} vs CPU {c} (σ {sigma:.4} each)"
    );
}

trait StopDecays {
    fn stop_decays(&self) -> u64;
}

impl StopDecays for TransportSettings {
    fn stop_decays(&self) -> u64 {
        match self.stop {
            StopRule::Decays(n) => n,
            _ => 0,
        }
    }
}

/// The GPU and CPU runs of the `slab` phantom with `s`, checked voxel by voxel (χ²) and by
/// region; returns both.
fn gpu_matches_cpu(s: &TransportSettings) -> (TransportResult, TransportResult) {
    let ctx = gpu_common::gpu();
    let p = slab();
    let s = s.clone();
    let gpu = simulate_on(
        &ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let cpu = simulate_cpu(&p.model, &p.source, &s, &mut voxdose::transport::Silent).unwrap();
    assert_conserves_energy(&gpu, "GPU");
    assert_conserves_energy(&cpu, "CPU");
    assert_eq!(gpu.decays, cpu.decays);

    let max = cpu.dose_gy_per_decay.iter().cloned().fold(0.0, f64::max);
    let (mut chi2, mut dof) = (0.0, 0u64);
    for v in 0..gpu.dose_gy_per_decay.len() {
        let (a, b) = (gpu.dose_gy_per_decay[v], cpu.dose_gy_per_decay[v]);
        let (ra, rb) = (gpu.rel_uncertainty[v], cpu.rel_uncertainty[v]);
        if b < 1e-4 * max || ra > 0.3 || rb > 0.3 {
            continue;
        }
        let var = (a * gpu.rel_uncertainty[v] as f64).powi(2)
            + (b * cpu.rel_uncertainty[v] as f64).powi(2);
        if var > 0.0 {
            chi2 += (a - b).powi(2) / var;
            dof += 1;
        }
    }
    eprintln!("voxel-wise χ² = {chi2:.1} over {dof} voxels");
    assert!(
        dof >= 20,
        "only {dof} voxels above 0.01 % of the maximum with σ ≤ 30 %"
    );
    let alpha = 1e-4;
    let critical = ChiSquared::new(dof as f64)
        .unwrap()
        .inverse_cdf(1.0 - alpha);
    assert!(
        chi2 < critical,
        "voxel-wise χ² = {chi2:.1} > critical {critical:.1} (dof {dof}, alpha {alpha})"
    );

    for (g, c) in gpu.regions.iter().zip(&cpu.regions) {
        assert_eq!(g.name, c.name);
        if c.mean_gy_per_decay > 0.0 {
            let rel = (g.mean_gy_per_decay / c.mean_gy_per_decay - 1.0).abs();
            assert!(
                rel < 0.01,
                "region {}: GPU {} vs CPU {} Gy/decay ({:.3} %)",
                g.name,
                g.mean_gy_per_decay,
                c.mean_gy_per_decay,
                100.0 * rel
            );
        }
    }
    eprintln!(
        "χ² {chi2:.1} / critical {critical:.1}, dof {dof}; emitted GPU {} CPU {}; wall GPU {:.2} s CPU {:.2} s",
        gpu.energy.emitted_units, cpu.energy.emitted_units, gpu.wall_s, cpu.wall_s
    );
    for (g, c) in gpu.regions.iter().zip(&cpu.regions) {
        eprintln!(
            "{}: GPU {:.6e} CPU {:.6e} Gy/decay",
            g.name, g.mean_gy_per_decay, c.mean_gy_per_decay
        );
    }
    (gpu, cpu)
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn same_seed_reproduces_the_gpu_run_bit_for_bit() {
    let ctx = gpu_common::gpu();
    let p = slab();
    let s = settings(5_000, 2);
    let a = simulate_on(
        &ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let b = simulate_on(
        &ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    assert_eq!(a.energy, b.energy);
    let same = same_dose_bits(&a, &b);
    assert!(same, "two runs with seed {} differ", s.seed);
    assert_conserves_energy(&a, "GPU");
}

/// The work-queue block (decays an invocation runs through one loop) is 32 on lavapipe and 8
/// on a GPU (`GpuContext::histories_per_block`): the GPU's size is tested here too, on
/// lavapipe, as the same dose bit for bit. Every history has its own random-number streams
/// and the tally sums integers, so only the electron path (an f32 sum per block, rounded)
/// may change, in its last digits.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn the_gpu_dose_does_not_depend_on_the_work_queue_block_size() {
    // 225Ac too: its 5.8 MeV α, scored where it starts, make a block of 32 decays emit more
    // than 2^32 units, which the kernel's per-block counters must carry. 161Tb too: a block
    // of 32 of its decays (3.0 emissions each, conversion and Auger electrons) overfills the
    // emission queue, whose rounds then stop mid-decay and draw it on in the next round;
    // one decay alone never overfills it.
    let p = slab();
    let with = |nuclide: &str| TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load(nuclide).unwrap(),
        ..settings(5_000, 2)
    };
    let per_block = 32.0 * mean_emissions_per_decay(&with("Tb-161"));
    assert!(
        per_block > 1.2 * f64::from(EMISSION_QUEUE_SLOTS),
        "Tb-161: a block of 32 decays draws {per_block:.1} emissions on average, which does \
         not test a queue of {EMISSION_QUEUE_SLOTS}"
    );
    for nuclide in ["Lu-177", "Tb-161", "Ac-225"] {
        assert_block_size_does_not_matter(&p, &with(nuclide));
    }
}

/// Transported emissions (βs and lines above the cutoffs) per decay of `s.nuclide`.
fn mean_emissions_per_decay(s: &TransportSettings) -> f64 {
    let d = DecayTables::new(
        &s.nuclide,
        f64::from(s.electron_cutoff_kev),
        f64::from(s.photon_cutoff_kev),
        s.emissions,
    );
    f64::from(d.beta_count_floor) + f64::from(d.beta_count_frac) + f64::from(d.line_mean_count)
}

fn assert_block_size_does_not_matter(p: &phantoms::Phantom, s: &TransportSettings) {
    // Blocks of 1 and 32 set on the context, blocks of 8 through the run's settings (as
    // `voxdose bench --decays-per-block` does), which take precedence over the context's.
    let runs: Vec<(u32, TransportResult)> = [1, 8, 32]
        .into_iter()
        .map(|n| {
            let (ctx, s) = if n == 8 {
                let s = TransportSettings {
                    decays_per_block: Some(n),
                    ..s.clone()
                };
                (gpu_common::gpu().with_histories_per_block(32), s)
            } else {
                (gpu_common::gpu().with_histories_per_block(n), s.clone())
            };
            let r = simulate_on(
                &ctx,
                &p.model,
                &p.source,
                &s,
                &mut voxdose::transport::Silent,
            )
            .unwrap();
            assert_eq!(r.device.decays_per_block, Some(n));
            (n, r)
        })
        .collect();
    let (_, first) = &runs[0];
    assert_conserves_energy(first, &format!("{}, blocks of 1", s.nuclide.name));
    for (n, r) in &runs[1..] {
        let what = format!("{}, blocks of {n}", s.nuclide.name);
        assert_same_histories(r, *n, first, 1, &what);
    }
}

/// Asserts that run `a` (blocks of `block_a` decays) scored what run `b` (blocks of
/// `block_b`) did: the same dose bit for bit, the same energy balance and integer counters,
/// and the electron path within its per-block rounding.
fn assert_same_histories(
    a: &TransportResult,
    block_a: u32,
    b: &TransportResult,
    block_b: u32,
    what: &str,
) {
    assert_eq!(a.energy, b.energy, "{what}: energy balance");
    let same = same_dose_bits(a, b);
    assert!(same, "{what}: the dose changed");
    let (ca, cb) = (&a.counters, &b.counters);
    assert_eq!(
        (
            ca.photon_interactions,
            ca.electron_steps,
            ca.truncated_tracks
        ),
        (
            cb.photon_interactions,
            cb.electron_steps,
            cb.truncated_tracks
        ),
        "{what}: counters"
    );
    // Each block's path is rounded to 1/65536 mm: at most half a unit per block of either
    // run, plus f32 summing within a block (1e-6 of the path, generously).
    let blocks = |k: u32| (a.decays as f64 / f64::from(k)).ceil();
    let bound = (blocks(block_a) + blocks(block_b)) * 0.5 / 65536.0 + 1e-6 * cb.electron_path_mm;
    let off = ca.electron_path_mm - cb.electron_path_mm;
    assert!(
        off.abs() <= bound,
        "{what}: electron path {} vs {} mm (bound {bound:e})",
        ca.electron_path_mm,
        cb.electron_path_mm
    );
}

/// lavapipe silently ends a kernel's loops after 65535 iterations per invocation. Letting an
/// invocation take 16 blocks of 32 decays (512 decays of 131I in `patient15`, whose 364 keV
/// photons fly far; 384 were cut in BENCHMARKS.md's measurements, 256 were not) runs past
/// it. The host must discard the batch before its fold, run it again in smaller blocks and
/// give the dose of a run that was never cut, bit for bit: with the tally read back whole
/// behind each batch, and split over two chunk bindings and read back piece by piece.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn a_batch_the_driver_cut_short_is_run_again_in_smaller_blocks_with_the_same_dose() {
    let p = match phantoms::build(&voxdose::phantoms::PhantomSpec::named("patient15")) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let s = TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("I-131").unwrap(),
        ..settings(20_000, 2)
    };
    let plain_ctx = gpu_common::gpu();
    let plain = simulate_on(
        &plain_ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let block = plain.device.decays_per_block.unwrap();
    assert_eq!(
        plain.device.rerun_batches,
        Some(0),
        "the default shape was cut"
    );
    assert_conserves_energy(&plain, "I-131, default shape");
    // 4 MiB bindings put the 680 400-voxel tally in two chunks.
    let split_ctx = || gpu_common::gpu().with_binding_limit(4 << 20);
    for (ctx, what) in [(gpu_common::gpu(), "whole"), (split_ctx(), "split")] {
        let ctx = ctx.with_blocks_per_invocation(16);
        let r = simulate_on(
            &ctx,
            &p.model,
            &p.source,
            &s,
            &mut voxdose::transport::Silent,
        )
        .unwrap();
        let smaller = r.device.decays_per_block.unwrap();
        let reruns = r.device.rerun_batches.unwrap();
        if ctx.is_software() {
            assert!(reruns >= 1, "{what}: lavapipe was not cut short");
            assert!(smaller < block, "{what}: still blocks of {smaller}");
        }
        assert_conserves_energy(&r, what);
        let what = format!("{what}, {reruns} batches run again in blocks of {smaller}");
        assert_same_histories(&r, smaller, &plain, block, &what);
    }
}

/// `voxdose run` of the slab on the GPU with lavapipe on `threads` threads (a real GPU
/// ignores `LP_NUM_THREADS`): the dose file's bytes and the summary.
fn cli_gpu_run(threads: &str, dir: &std::path::Path) -> (Vec<u8>, serde_json::Value) {
    let out = dir.join(format!("threads{threads}"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_voxdose"))
        .args([
            "run",
            "--phantom",
            "slab",
            "--voxel-mm",
            "8",
            "--decays",
            "2e5",
        ])
        .args([
            "--batches",
            "2",
            "--seed",
            "11",
            "--device",
            "gpu",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .env("LP_NUM_THREADS", threads)
        .output()
        .expect("voxdose runs");
    assert!(
        o.status.success(),
        "LP_NUM_THREADS={threads}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap());
    (
        std::fs::read(out.join("dose.nii.gz")).unwrap(),
        summary.unwrap(),
    )
}

/// The work queue hands blocks of decays to whichever invocation is free, so which invocation
/// runs a history depends on the threads and their speed; the result must not. One lavapipe
/// thread runs every workgroup itself, so an invocation that took blocks without bound would
/// run past lavapipe's 65535 loop iterations and be cut short; `BLOCKS_PER_INVOCATION`
/// prevents that, and the batch check would make the run fail.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn the_gpu_run_does_not_depend_on_the_number_of_device_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (dose_1, summary_1) = cli_gpu_run("1", dir.path());
    let (dose_2, summary_2) = cli_gpu_run("2", dir.path());
    assert_eq!(summary_1["energy_balance_units"]["exact"], true);
    for summary in [&summary_1, &summary_2] {
        assert_eq!(
            summary["device"]["rerun_batches"], 0,
            "{}",
            summary["device"]
        );
        let compile_s = summary["device"]["compile_s"].as_f64();
        assert!(compile_s.is_some_and(|c| c > 0.0), "{}", summary["device"]);
    }
    assert_eq!(
        summary_1["energy_balance_units"],
        summary_2["energy_balance_units"]
    );
    assert_eq!(summary_1["counters"], summary_2["counters"]);
    assert!(
        dose_1 == dose_2,
        "the dose differs between 1 and 2 device threads"
    );
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn transport_with_the_grid_split_over_all_chunk_bindings_equals_the_unsplit_run() {
    // A 4 KiB binding limit puts the 4096-voxel tally in 8 bindings of 512 voxels and the
    // densities in 4 of 1024: every chunk arm of tally.wgsl and grid.wgsl is exercised. The
    // unsplit run double-buffers its one-chunk tally (batch b + 1 runs while batch b is
    // folded); the split one waits for each batch and reads it back piece by piece.
    let p = slab();
    let s = settings(5_000, 2);
    let whole = simulate_on(
        &gpu_common::gpu(),
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    // Split, the voxels that scored are listed on the host (lavapipe's way) or on the device
    // by `tally_compact` (a GPU's; here its 340-entry list overflows, so each batch is also
    // read back whole, and the tally must still be cleared before the next).
    for on_device in [false, true] {
        let split_ctx = gpu_common::gpu()
            .with_binding_limit(4096)
            .with_compaction_on_device(on_device);
        let split = simulate_on(
            &split_ctx,
            &p.model,
            &p.source,
            &s,
            &mut voxdose::transport::Silent,
        )
        .unwrap();
        assert_eq!(
            whole.energy, split.energy,
            "listed on the device: {on_device}"
        );
        let same = same_dose_bits(&whole, &split);
        assert!(
            same,
            "the chunked grid changed the dose (listed on the device: {on_device})"
        );
        assert_eq!(whole.rel_uncertainty, split.rel_uncertainty);
    }
    // Two chunks of 2048 voxels and a list of 2046 entries, which holds every voxel a batch
    // scores: the device zeroes what it lists, and the host skips the clear of the voxels.
    let roomy_ctx = gpu_common::gpu()
        .with_binding_limit(24 << 10)
        .with_compaction_on_device(true);
    let roomy = simulate_on(
        &roomy_ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    assert_eq!(whole.energy, roomy.energy);
    assert!(
        same_dose_bits(&whole, &roomy),
        "the device's list changed the dose"
    );
    assert_eq!(whole.rel_uncertainty, roomy.rel_uncertainty);
}

/// A run to a target σ: ten batches of max/100 decays, then batches sized from the σ reached
/// (BatchPlan in src/transport/driver.rs); both devices stop at the target with batches of
/// unequal size, and the GPU run is reproducible from its seed.
#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn target_uncertainty_runs_size_their_batches_and_stop_at_the_target() {
    let ctx = gpu_common::gpu();
    let p = slab();
    let mut s = settings(0, 20);
    // σ ≈ 0.9 % after the ten first batches (10⁵ decays): ≈ 1.2·10⁵ more are needed, so
    // the next batch grows past the first size.
    let target = 0.006;
    let first = 10_000;
    s.stop = StopRule::TargetUncertainty {
        relative: target,
        threshold: 0.5,
        max_decays: 100 * first,
    };
    let gpu = simulate_on(
        &ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    let cpu = simulate_cpu(&p.model, &p.source, &s, &mut voxdose::transport::Silent).unwrap();
    for (r, what) in [(&gpu, "GPU"), (&cpu, "CPU")] {
        assert_conserves_energy(r, what);
        assert!(
            r.uncertainty.mean <= target,
            "{what}: σ {} above the target {target}",
            r.uncertainty.mean
        );
        assert!(
            r.batches > 10 && r.decays > u64::from(r.batches) * first,
            "{what}: {} decays in {} batches; expected ten of {first}, then larger ones",
            r.decays,
            r.batches
        );
        assert!(
            r.decays < 100 * first,
            "{what}: ran to the cap ({} decays)",
            r.decays
        );
    }
    let again = simulate_on(
        &ctx,
        &p.model,
        &p.source,
        &s,
        &mut voxdose::transport::Silent,
    )
    .unwrap();
    assert_eq!(again.decays, gpu.decays);
    assert_eq!(again.dose_gy_per_decay, gpu.dose_gy_per_decay);
    assert_eq!(again.rel_uncertainty, gpu.rel_uncertainty);
}
