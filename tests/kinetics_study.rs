//! End to end: a synthetic study on disk (NIfTI frames + labels + study JSON) through
//! `fit_study`: TIA of known curves, unit conversion, outputs, and the per-cycle cache
//! (issue "Kinetics", items 1, 6 and 7).

use std::path::Path;
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::{read_volume_f32, write_volume_f32};
use voxdose::kinetics::fit_study;
use voxdose::kinetics::models::TacModel;

const TIMES_H: [f64; 4] = [4.0, 24.0, 72.0, 168.0];
/// Region 1: uptake–washout, total activity in Bq (A, λ, δ in 1/h).
const KIDNEY: [f64; 3] = [2.0e8, 0.02, 0.4];
/// Region 2: mono-exponential, Bq and 1/h.
const TUMOUR: [f64; 2] = [5.0e7, 0.008];

fn grid() -> Grid {
    Grid::new([12, 10, 8], [4.0, 4.0, 5.0], [-20.0, -10.0, 0.0])
}

/// Label 1 in a 3×3×2 block, label 2 in a 2×2×2 block.
fn labels() -> Volume<f32> {
    let g = grid();
    let mut v = Volume::filled(g.clone(), 0.0f32);
    for k in 0..8 {
        for j in 0..10 {
            for i in 0..12 {
                let l = if (2..5).contains(&i) && (2..5).contains(&j) && (2..4).contains(&k) {
                    1.0
                } else if (7..9).contains(&i) && (5..7).contains(&j) && (4..6).contains(&k) {
                    2.0
                } else {
                    0.0
                };
                v.data[g.index(i, j, k)] = l;
            }
        }
    }
    v
}

/// Frame at `t_h` in kBq/mL: each region's activity spread evenly over its voxels.
fn frame(t_h: f64) -> Volume<f32> {
    let lab = labels();
    let ml_per_voxel = grid().voxel_volume_mm3() / 1000.0;
    let k = TacModel::UptakeWashout.eval(&KIDNEY, t_h, None) / (18.0 * ml_per_voxel) / 1e3;
    let tu = TacModel::MonoExp.eval(&TUMOUR, t_h, None) / (8.0 * ml_per_voxel) / 1e3;
    Volume {
        grid: lab.grid.clone(),
        data: lab
            .data
            .iter()
            .map(|&l| match l as u32 {
                1 => k as f32,
                2 => tu as f32,
                _ => 0.0,
            })
            .collect(),
    }
}

fn write_frames(dir: &Path, cycle: usize, times: &[f64]) -> Vec<String> {
    times
        .iter()
        .map(|&t| {
            let name = format!("c{cycle}_spect_{t:03}h.nii.gz");
            write_volume_f32(&dir.join(&name), &frame(t), "test frame kBq/mL").unwrap();
            name
        })
        .collect()
}

fn cycle_json(names: &[String], times: &[f64]) -> String {
    let tps: Vec<String> = names
        .iter()
        .zip(times)
        .map(|(n, t)| format!(r#"{{"image": "{n}", "hours": {t}}}"#))
        .collect();
    format!(
        r#"{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}"#,
        tps.join(", ")
    )
}

fn study_json(cycles: &[String]) -> String {
    format!(
        r#"{{"nuclide": "Lu-177", "units": "kBq/mL", "labels": "labels.nii.gz",
            "region_names": {{"1": "kidney", "2": "tumour"}}, "registration": "none",
            "uncertainty": {{"activity_rel_sigma": 0.05, "calibration_rel_sigma": 0.03, "recovery_rel_sigma": 0.04}},
            "cycles": [{}]}}"#,
        cycles.join(", ")
    )
}

#[test]
fn noise_free_study_recovers_analytic_tia_per_region_and_in_the_map() {
    let dir = tempfile::tempdir().unwrap();
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels(), "labels").unwrap();
    let names = write_frames(dir.path(), 1, &TIMES_H);
    let study = dir.path().join("study.json");
    std::fs::write(&study, study_json(&[cycle_json(&names, &TIMES_H)])).unwrap();
    let out = dir.path().join("out");
    let fit = fit_study(&study, &out, false).unwrap();

    // Analytic Ã in Bq·s (models.rs integrals × 3600 s/h).
    let kidney = TacModel::UptakeWashout.integral(&KIDNEY, None) * 3600.0;
    let tumour = TacModel::MonoExp.integral(&TUMOUR, None) * 3600.0;
    let by_name = |n: &str| fit.regions.iter().find(|r| r.name == n).unwrap();
    let (k, t) = (by_name("kidney"), by_name("tumour"));
    // f32 frames carry ~1e-7 relative error; 1e-4 leaves room for the optimiser's tolerance.
    assert!(
        (k.tia_bq_s - kidney).abs() < 1e-4 * kidney,
        "{} vs {kidney}",
        k.tia_bq_s
    );
    assert!(
        (t.tia_bq_s - tumour).abs() < 1e-4 * tumour,
        "{} vs {tumour}",
        t.tia_bq_s
    );
    assert_eq!(k.model, "uptake-washout");
    // Noise-free data: the fit σ is tiny, so the total σ is calibration ⊕ recovery.
    let budget = (0.03f64.powi(2) + 0.04f64.powi(2)).sqrt();
    assert!(
        (k.tia_sigma_bq_s / k.tia_bq_s - budget).abs() < 0.01,
        "{}",
        k.tia_sigma_bq_s / k.tia_bq_s
    );
    assert!((k.tiac_h - kidney / 3600.0 / 7.4e9).abs() < 1e-4 * k.tiac_h);

    // The voxel map integrates to the same decays (voxel fits are exact on exact data).
    let map_total: f64 = fit.tia.data.iter().map(|&v| v as f64).sum();
    assert!(
        (map_total - kidney - tumour).abs() < 1e-3 * (kidney + tumour),
        "map total {map_total} vs {kidney} + {tumour}; non-zero voxels {:?}",
        fit.tia
            .data
            .iter()
            .copied()
            .filter(|&v| v > 0.0)
            .collect::<Vec<_>>()
    );
    let back = read_volume_f32(&out.join("tia.nii.gz")).unwrap();
    assert_eq!(back.grid.dims, grid().dims);
    for f in ["tia_sigma.nii.gz", "regions.json", "regions.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let png = std::fs::read(out.join("tac_c1_kidney.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let csv = std::fs::read_to_string(out.join("regions.csv")).unwrap();
    assert!(csv.lines().count() == 3 && csv.contains("kidney"), "{csv}");

    // Existing outputs are refused without --force.
    let e = fit_study(&study, &out, false).unwrap_err();
    assert_eq!(e.exit_code(), 5);
}

#[test]
fn adding_a_cycle_or_a_time_point_refits_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels(), "labels").unwrap();
    let study = dir.path().join("study.json");
    let out = dir.path().join("out");
    let c1 = write_frames(dir.path(), 1, &TIMES_H);
    std::fs::write(&study, study_json(&[cycle_json(&c1, &TIMES_H)])).unwrap();
    let first = fit_study(&study, &out, false).unwrap();
    assert!(!first.cycles[0].from_cache);
    let voxel_params_c1 = voxel_parameter_maps(&out, 1);
    assert!(voxel_params_c1[1].iter().any(|v| v.is_finite()));

    // Add a second cycle with three scans so far.
    let t2 = &TIMES_H[..3];
    let c2 = write_frames(dir.path(), 2, t2);
    std::fs::write(
        &study,
        study_json(&[cycle_json(&c1, &TIMES_H), cycle_json(&c2, t2)]),
    )
    .unwrap();
    let second = fit_study(&study, &out, true).unwrap();
    assert!(
        second.cycles[0].from_cache,
        "cycle 1 must come from the cache"
    );
    assert!(!second.cycles[1].from_cache);
    assert_eq!(second.cycles[0].regions, first.cycles[0].regions);

    // Add the fourth scan to cycle 2: cycle 2 is refitted, cycle 1 still cached.
    let c2b = write_frames(dir.path(), 2, &TIMES_H);
    std::fs::write(
        &study,
        study_json(&[cycle_json(&c1, &TIMES_H), cycle_json(&c2b, &TIMES_H)]),
    )
    .unwrap();
    let third = fit_study(&study, &out, true).unwrap();
    assert!(third.cycles[0].from_cache);
    assert!(!third.cycles[1].from_cache);
    assert_eq!(third.cycles[1].regions[0].time_h.len(), 4);
    // Two identical cycles: the summed map is twice one cycle.
    let one: f64 = third.cycle_tia[0].data.iter().map(|&v| v as f64).sum();
    let sum: f64 = third.tia.data.iter().map(|&v| v as f64).sum();
    assert!((sum - 2.0 * one).abs() < 1e-5 * sum);
    assert!(out.join("tia_cycle2.nii.gz").exists());
    // The cached cycle's voxel kinetics are written again, unchanged (NaN where not fitted).
    let again = voxel_parameter_maps(&out, 1);
    assert_eq!(again.len(), voxel_params_c1.len());
    for (a, b) in again.iter().zip(&voxel_params_c1) {
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
    assert_eq!(
        voxel_parameter_maps(&out, 2).len(),
        3,
        "uptake–washout: A, λ, δ"
    );
}

/// The voxel parameter maps of cycle `n` in a fit folder, in the order its JSON names them.
fn voxel_parameter_maps(out: &std::path::Path, n: usize) -> Vec<Vec<f32>> {
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join(format!("voxel_kinetics_cycle{n}.json"))).unwrap(),
    )
    .unwrap();
    json["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let file = out.join(p["file"].as_str().unwrap());
            voxdose::io::nifti::read_volume_f32(&file).unwrap().data
        })
        .collect()
}

#[test]
fn single_scan_cycle_uses_haenscheid_and_reports_the_time_point() {
    let dir = tempfile::tempdir().unwrap();
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels(), "labels").unwrap();
    let names = write_frames(dir.path(), 1, &[72.0]);
    let study = dir.path().join("study.json");
    std::fs::write(&study, study_json(&[cycle_json(&names, &[72.0])])).unwrap();
    let fit = fit_study(&study, &dir.path().join("out"), false).unwrap();
    let t = fit.regions.iter().find(|r| r.name == "tumour").unwrap();
    let stp = t.stp.unwrap();
    assert_eq!(stp.time_h, 72.0);
    assert_eq!(t.model, "stp-haenscheid");
    // Hänscheid: Ã ≈ 2t·A(t)/ln2 (Hänscheid et al. 2018), here with A(72 h) from TUMOUR.
    let a72 = TacModel::MonoExp.eval(&TUMOUR, 72.0, None);
    let expect = 2.0 * 72.0 * a72 / std::f64::consts::LN_2 * 3600.0;
    assert!((t.tia_bq_s - expect).abs() < 1e-5 * expect);
}

#[test]
fn missing_image_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study.json");
    let names = vec!["nope.nii.gz".to_string()];
    std::fs::write(
        &study,
        study_json(&[cycle_json(&names, &[4.0])]).replace(r#""labels": "labels.nii.gz","#, ""),
    )
    .unwrap();
    let e = fit_study(&study, &dir.path().join("out"), false).unwrap_err();
    assert!(e.to_string().contains("nope.nii.gz"), "{e}");
    assert_eq!(e.exit_code(), 8);
}
