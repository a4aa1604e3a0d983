//! The time estimate before a run's transport (`transport::pilot`): a pilot that is the start
//! of the first batch, kept in the run. The line comes before the first progress line, is
//! kept in summary.json, `--estimate-only` stops after it writing nothing, and the dose is
//! the same bit for bit with and without the pilot, on the CPU and on the wgpu device.

mod gpu_common;

use std::process::Command;
use voxdose::phantoms;
use voxdose::transport::driver::{simulate_cpu_with, Schedule};
use voxdose::transport::gpu::run::simulate_on_with;
use voxdose::transport::{Silent, StopRule, TransportResult, TransportSettings};

fn voxdose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voxdose"))
}

/// `slab` at 8 mm (16³ voxels of water, bone, lung): β, electrons and photons cross
/// interfaces.
fn slab() -> phantoms::Phantom {
    phantoms::build(&phantoms::PhantomSpec {
        name: "slab".into(),
        voxel_mm: Some(8.0),
        ..Default::default()
    })
    .unwrap()
}

fn settings(stop: StopRule, batches: u32) -> TransportSettings {
    TransportSettings {
        nuclide: voxdose::physics::nuclide::Nuclide::load("Lu-177").unwrap(),
        stop,
        seed: 7,
        batches,
        electron_cutoff_kev: 10.0,
        photon_cutoff_kev: 10.0,
        emissions: Default::default(),
        decays_per_block: None,
    }
}

/// A target run whose first batches hold max/100 = 4000 decays: a pilot of 256 + 512
/// decays (the next part would pass a quarter of the batch).
fn target_settings() -> TransportSettings {
    settings(
        StopRule::TargetUncertainty {
            relative: 0.5,
            threshold: 0.5,
            max_decays: 400_000,
        },
        20,
    )
}

fn without_pilot() -> Schedule<'static> {
    Schedule {
        no_pilot: true,
        ..Default::default()
    }
}

/// Dose, σ, decays, batches, the energy balance and the integer counters, bit for bit.
fn assert_same_run(a: &TransportResult, b: &TransportResult, what: &str) {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert!(
        bits(&a.dose_gy_per_decay) == bits(&b.dose_gy_per_decay),
        "{what}: dose differs"
    );
    assert!(
        bits32(&a.rel_uncertainty) == bits32(&b.rel_uncertainty),
        "{what}: σ differs"
    );
    assert_eq!((a.decays, a.batches), (b.decays, b.batches), "{what}");
    assert_eq!(a.energy, b.energy, "{what}");
    let c = |r: &TransportResult| {
        (
            r.counters.photon_interactions,
            r.counters.electron_steps,
            r.counters.truncated_tracks,
            r.counters.radiated_units,
        )
    };
    assert_eq!(c(a), c(b), "{what}");
    assert!(
        a.dose_gy_per_decay.iter().any(|&d| d > 0.0),
        "{what}: no dose"
    );
}

#[test]
fn cpu_dose_is_bit_identical_with_and_without_the_pilot() {
    let p = slab();
    // 4 batches of 10⁴: the pilot takes at most 2500 decays of the first.
    let s = settings(StopRule::Decays(40_000), 4);
    let with =
        simulate_cpu_with(&p.model, &p.source, &s, Schedule::default(), &mut Silent).unwrap();
    let without = simulate_cpu_with(&p.model, &p.source, &s, without_pilot(), &mut Silent).unwrap();
    assert_same_run(&with, &without, "--decays");
    let e = with.estimate.expect("a batch of 10⁴ decays has a pilot");
    assert!(
        (256..=2500).contains(&e.pilot_decays) && e.planned_decays == 40_000,
        "{e:?}"
    );
    assert!(e.decays_per_second > 0.0 && e.planned_s > 0.0, "{e:?}");
    assert_eq!(without.estimate, None);
}

#[test]
fn cpu_target_run_with_a_listed_pilot_is_bit_identical_and_estimates_the_decays_to_target() {
    let p = slab();
    // Each part's deposits taken out of the tally for the pilot's σ and given back.
    let s = target_settings();
    let with =
        simulate_cpu_with(&p.model, &p.source, &s, Schedule::default(), &mut Silent).unwrap();
    let without = simulate_cpu_with(&p.model, &p.source, &s, without_pilot(), &mut Silent).unwrap();
    assert_same_run(&with, &without, "--target-uncertainty");
    let e = with.estimate.expect("pilot");
    assert_eq!((e.pilot_decays, e.pilot_parts), (768, 2), "{e:?}");
    let sigma = e.pilot_sigma.expect("two listed parts give σ");
    assert!(sigma > 0.0 && sigma.is_finite(), "{e:?}");
    // At least the ten first batches a target run takes before it may stop.
    let n = e.estimated_decays_to_target.expect("σ gives the decays");
    assert!((40_000..=400_000).contains(&n), "{e:?}");
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_dose_is_bit_identical_with_and_without_the_pilot() {
    let p = slab();
    let s = settings(StopRule::Decays(40_000), 4);
    for (what, e) in gpu_runs_with_and_without_the_pilot(&p, &s) {
        assert!((256..=2500).contains(&e.pilot_decays), "{what}: {e:?}");
        // A run of fixed decays lists no deposits: no σ from the pilot.
        assert_eq!(e.pilot_sigma, None);
    }
}

/// `s` on the device with and without the pilot, on a one-chunk tally (double-buffered: the
/// next batch launched ahead) and on a tally split over bindings of 16 KiB (one slot, the
/// scored voxels listed): the same run bit for bit each time; the pilot's estimates.
fn gpu_runs_with_and_without_the_pilot(
    p: &phantoms::Phantom,
    s: &TransportSettings,
) -> Vec<(&'static str, voxdose::transport::RunEstimate)> {
    let contexts = [
        ("one chunk", gpu_common::gpu()),
        ("chunked", gpu_common::gpu().with_binding_limit(16 << 10)),
    ];
    let mut estimates = Vec::new();
    for (what, ctx) in &contexts {
        let with = simulate_on_with(
            ctx,
            &p.model,
            &p.source,
            s,
            Schedule::default(),
            &mut Silent,
        )
        .unwrap();
        let without =
            simulate_on_with(ctx, &p.model, &p.source, s, without_pilot(), &mut Silent).unwrap();
        assert_same_run(&with, &without, what);
        estimates.push((*what, with.estimate.expect("pilot")));
    }
    estimates
}

#[test]
#[cfg_attr(
    voxdose_skip_gpu_tests,
    ignore = "no Vulkan driver at build time: apt-get install mesa-vulkan-drivers"
)]
fn gpu_target_run_lists_its_pilot_from_the_tally_and_estimates_the_decays_to_target() {
    let p = slab();
    let s = target_settings();
    let cpu = simulate_cpu_with(&p.model, &p.source, &s, Schedule::default(), &mut Silent)
        .unwrap()
        .estimate
        .expect("pilot");
    let cpu_sigma = cpu.pilot_sigma.expect("CPU σ");
    // Reading the tally back between the parts leaves the run as it is.
    for (what, e) in gpu_runs_with_and_without_the_pilot(&p, &s) {
        assert_eq!((e.pilot_decays, e.pilot_parts), (768, 2), "{what}: {e:?}");
        // The same histories as the CPU's pilot (same seed and streams), so the same σ up
        // to the device's f32 rounding of deposits (lavapipe: 7e-8 relative); 1e-3 leaves
        // room for a GPU's own rounding while a wrong part split (parts merged, or a part
        // listed twice) moves σ by far more.
        let sigma = e.pilot_sigma.expect("two listed parts give σ");
        assert!(
            (sigma / cpu_sigma - 1.0).abs() < 1e-3,
            "{what}: GPU pilot σ {sigma} vs CPU {cpu_sigma}"
        );
        let n = e.estimated_decays_to_target.expect("σ gives the decays");
        assert!((40_000..=400_000).contains(&n), "{what}: {e:?}");
    }
}

fn sphere_run(extra: &[&str], out: Option<&std::path::Path>) -> std::process::Output {
    let mut c = voxdose();
    c.env("VOXDOSE_PROGRESS_INTERVAL_S", "0")
        .args(["run", "--phantom", "water-sphere", "--grid", "16"])
        .args(["--device", "cpu"])
        .args(extra);
    if let Some(out) = out {
        c.arg("--out").arg(out);
    }
    c.output().unwrap()
}

#[test]
fn time_estimate_line_comes_before_the_first_progress_line_and_is_kept_in_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = sphere_run(&["--decays", "40000", "--batches", "4"], Some(&out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let estimate = err.find("voxdose: estimate: about ").expect(&err);
    let progress = err.find("voxdose: progress: ").expect(&err);
    assert!(estimate < progress, "the estimate comes first:\n{err}");
    let line = err[estimate..].lines().next().unwrap();
    assert!(
        line.contains("for 40000 decays") && line.contains("an estimate from a pilot of"),
        "{line}"
    );
    assert_eq!(err.matches("voxdose: estimate:").count(), 1, "{err}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let e = &summary["estimate"];
    let pilot = e["pilot_decays"].as_u64().expect("estimate.pilot_decays");
    assert!((256..=2500).contains(&pilot), "{e}");
    assert!(line.contains(&format!("pilot of {pilot} decays")), "{line}");
    assert_eq!(e["planned_decays"].as_u64(), Some(40_000), "{e}");
    for key in ["pilot_s", "decays_per_second", "planned_s", "estimated_s"] {
        assert!(e[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {e}");
    }
    // A --decays run has no target: no σ keys.
    assert!(e.get("estimated_decays_to_target").is_none(), "{e}");
}

#[test]
fn estimate_only_prints_the_estimate_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = sphere_run(
        &["--decays", "1e9", "--batches", "20", "--estimate-only"],
        Some(&out),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("estimate: about ") && err.contains("for 1000000000 decays"),
        "{err}"
    );
    assert!(
        !err.contains("progress:") && !err.contains("error"),
        "{err}"
    );
    assert!(!out.exists(), "--out must not be touched");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // --out is not needed; a target run also says the decays its target needs.
    let o = sphere_run(
        &[
            "--target-uncertainty",
            "1",
            "--max-decays",
            "1e9",
            "--estimate-only",
            "--quiet",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("the target uncertainty needs about"), "{err}");
}

#[test]
fn decays_that_overflow_a_batch_are_refused_with_the_batches_needed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // 1e13 / 20 = 5e11 decays a batch: more than a batch holds (2^32 − 1).
    let o = sphere_run(&["--decays", "1e13"], Some(&out));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("give --batches 2329 or more"), "{err}");
    assert!(!out.exists());
}
