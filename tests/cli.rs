//! The command line end to end: a small phantom run, and bad input with clear errors and
//! distinct exit codes (src/error.rs), never touching existing results.

mod common;

use std::process::Command;

fn voxdose(args: &[&str]) -> std::process::Output {
    Command::new(common::voxdose_bin())
        .args(args)
        .output()
        .expect("voxdose runs")
}

#[test]
fn phantom_run_writes_dose_uncertainty_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = voxdose(&[
        "run",
        "--phantom",
        "water-sphere",
        "--decays",
        "2e4",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["dose.nii.gz", "uncertainty.nii.gz", "summary.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["decays"], 20000);
    assert_eq!(s["seed"], 3);
    assert_eq!(s["nuclide"], "Lu-177");
    assert_eq!(s["energy_balance_units"]["exact"], true);
    let e = &s["energy_per_decay_kev"];
    let (em, de, es) = (
        e["emitted"].as_f64().unwrap(),
        e["deposited"].as_f64().unwrap(),
        e["escaped"].as_f64().unwrap(),
    );
    assert!((em - de - es).abs() < 1e-9 * em);
    assert!(s["decays_per_second"].as_f64().unwrap() > 0.0);
    assert!(s["device"]["name"].is_string());
    // The kernel's compile time: GPU runs only (`auto` is the CPU reference without a GPU).
    assert_eq!(
        s["device"]["compile_s"].is_number(),
        s["device"]["kind"] == "gpu",
        "{}",
        s["device"]
    );
    assert_eq!(s["regions"][0]["name"], "sphere");
    // The dose written is the dose summarised: the sphere's mean from the NIfTI equals the
    // summary's regional mean within f32 rounding.
    let dose = voxdose::io::nifti::read_volume_f32(&out.join("dose.nii.gz")).unwrap();
    assert_eq!(dose.grid.dims, [64, 64, 64]);
    let max = dose.data.iter().cloned().fold(0.0f32, f32::max);
    assert!(max > 0.0 && max.is_finite());
}

#[test]
fn same_seed_gives_identical_dose() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = dir.path().join(name);
        let o = voxdose(&[
            "run",
            "--phantom",
            "slab",
            "--voxel-mm",
            "4",
            "--decays",
            "1e4",
            "--seed",
            "11",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        voxdose::io::nifti::read_volume_f32(&out.join("dose.nii.gz"))
            .unwrap()
            .data
    };
    assert_eq!(run("a"), run("b"));
}

fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let o = voxdose(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "args {args:?}: {err}");
    assert!(
        err.contains(needle),
        "args {args:?}: message should mention '{needle}': {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_error_and_a_distinct_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--nuclide",
            "Xx-999",
            "--out",
            o,
        ],
        4,
        "unknown nuclide 'Xx-999'",
    );
    assert_fails(
        &["run", "--phantom", "no-such", "--out", o],
        4,
        "unknown phantom",
    );
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--decays=-5",
            "--out",
            o,
        ],
        3,
        "--decays",
    );
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--target-uncertainty",
            "0",
            "--out",
            o,
        ],
        3,
        "--target-uncertainty",
    );
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--radius-mm",
            "500",
            "--out",
            o,
        ],
        3,
        "--radius-mm",
    );
    assert_fails(
        &["run", "--phantom", "vsv", "--grid", "14", "--out", o],
        3,
        "odd",
    );
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--material",
            "unobtainium",
            "--out",
            o,
        ],
        4,
        "unknown material",
    );
    // An output folder whose parent is a file cannot be created (even as root).
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("out");
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--decays",
            "100",
            "--out",
            bad.to_str().unwrap(),
        ],
        6,
        "cannot write",
    );
    assert_fails(&["run", "--bogus-flag"], 2, "unexpected argument");
}

#[test]
fn an_existing_output_is_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("summary.json"), b"{\"keep\": true}").unwrap();
    let o = dir.path().to_str().unwrap();
    assert_fails(
        &[
            "run",
            "--phantom",
            "water-sphere",
            "--decays",
            "100",
            "--out",
            o,
        ],
        5,
        "already exists",
    );
    assert_eq!(
        std::fs::read(dir.path().join("summary.json")).unwrap(),
        b"{\"keep\": true}"
    );
    assert!(
        !dir.path().join("dose.nii.gz").exists(),
        "nothing is written when refusing"
    );
    let ok = voxdose(&[
        "run",
        "--phantom",
        "water-sphere",
        "--decays",
        "100",
        "--batches",
        "2",
        "--force",
        "--out",
        o,
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn listings_name_the_built_ins() {
    let p = voxdose(&["phantoms"]);
    let text = String::from_utf8_lossy(&p.stdout);
    for name in ["water-sphere", "nema-iec", "slab", "vsv"] {
        assert!(text.contains(name), "{text}");
    }
    let n = voxdose(&["nuclides"]);
    let text = String::from_utf8_lossy(&n.stdout);
    for name in ["Lu-177", "Y-90", "I-131", "Tb-161"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn study_run_chains_fit_transport_and_dose() {
    use voxdose::geometry::{Grid, Volume};
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::centred([12, 12, 12], 4.0);
    // A 4×4×4-voxel hot cube clearing mono-exponentially with T_eff = 60 h.
    let lambda_per_h = std::f64::consts::LN_2 / 60.0;
    let c0_bq_ml = 2.0e5;
    let hot = |v: usize| grid.ijk(v).iter().all(|&i| (4..8).contains(&i));
    let mut points = Vec::new();
    for hours in [4.0f64, 24.0, 96.0, 168.0] {
        let c = c0_bq_ml * (-lambda_per_h * hours).exp();
        let data = (0..grid.n_voxels())
            .map(|v| if hot(v) { c as f32 } else { 0.0 })
            .collect();
        let name = format!("spect_{hours:03}h.nii.gz");
        voxdose::io::nifti::write_volume_f32(
            &dir.path().join(&name),
            &Volume {
                grid: grid.clone(),
                data,
            },
            "test",
        )
        .unwrap();
        points.push(serde_json::json!({"image": name, "hours": hours}));
    }
    let study = serde_json::json!({"nuclide": "Lu-177", "units": "Bq/mL",
        "cycles": [{"injected_activity_bq": 7.4e9, "time_points": points}]});
    std::fs::write(
        dir.path().join("study.json"),
        serde_json::to_vec(&study).unwrap(),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = voxdose(&[
        "run",
        "--study",
        dir.path().join("study.json").to_str().unwrap(),
        "--decays",
        "4e4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "tia.nii.gz",
        "dose.nii.gz",
        "uncertainty.nii.gz",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["dose_unit"], "Gy");
    // Analytic ΣTIA = C0 · V / λ over the 64 hot voxels (0.064 mL each), in Bq·s.
    let analytic = c0_bq_ml * 64.0 * 0.064 / (lambda_per_h / 3600.0);
    let tia = s["tia_bq_s"].as_f64().unwrap();
    assert!(
        (tia / analytic - 1.0).abs() < 0.01,
        "ΣTIA {tia:.4e} vs analytic {analytic:.4e}"
    );
}

/// `voxdose bench --device a,b` runs each phantom on each device in turn and writes one JSON
/// row per pair (here the CPU twice, so the test needs no GPU). Block sizes are GPU rows: the
/// CPU reference gives one row whatever `--decays-per-block` lists.
#[test]
fn bench_runs_each_phantom_on_each_listed_device() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let o = voxdose(&[
        "bench",
        "--device",
        "cpu,cpu",
        "--phantoms",
        "vsv",
        "--decays",
        "2000",
        "--decays-per-block",
        "8,16",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["phantom"], "vsv");
        assert_eq!(r["device"], "cpu");
        assert_eq!(r["decays"], 2000);
        assert!(r["decays_per_second"].as_f64().unwrap() > 0.0);
        assert!(r["decays_per_block"].is_null(), "{r}");
        assert!(r["compile_s"].is_null(), "{r}");
    }
}

#[test]
fn bench_rejects_a_block_size_outside_1_to_32_with_exit_code_3() {
    for bad in ["0", "33"] {
        let o = voxdose(&["bench", "--phantoms", "vsv", "--decays-per-block", bad]);
        assert_eq!(o.status.code(), Some(3), "--decays-per-block {bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--decays-per-block") && err.contains(bad),
            "{err}"
        );
    }
}
