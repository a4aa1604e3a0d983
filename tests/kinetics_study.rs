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

// ---------- DICOM time points and RTSTRUCT labels (issue 25) ----------

#[path = "common/study_dicom.rs"]
mod study_dicom;
use study_dicom::{dt_after, write_nm, write_rtstruct, BoxRoi, NmOptions};

/// Writes the study's scans as NM series in Bq/mL (the last two decay-corrected to
/// administration, as some reconstructions export them) and the same values as NIfTI in
/// Bq/mL (activity at the scan, as the DICOM reader must give them back). Returns the time
/// point JSON of both studies; the DICOM study gives "hours" only for its first scan.
fn dicom_and_nifti_scans(dir: &Path) -> (Vec<String>, Vec<String>) {
    let half_life_h = voxdose::kinetics::pipeline::physical_half_life_h("Lu-177").unwrap();
    let (mut dicom, mut nifti) = (Vec::new(), Vec::new());
    for (n, &t) in TIMES_H.iter().enumerate() {
        let admin = n >= 2;
        let lambda_t = std::f64::consts::LN_2 / half_life_h * t;
        let mut vol = frame(t);
        for v in &mut vol.data {
            *v = (*v as f64 * 1e3 * if admin { lambda_t.exp() } else { 1.0 }) as f32;
        }
        let series = dir.join(format!("nm_{t:03}h"));
        std::fs::create_dir_all(&series).unwrap();
        let opts = NmOptions {
            decay_correction: if admin { "ADMIN" } else { "START" },
            injection: Some(dt_after(0.0)),
            acquisition: Some(dt_after(t)),
            series_uid: format!("2.25.{}", 100 + n),
            ..Default::default()
        };
        let mut read = write_nm(&series.join("nm.dcm"), &vol, &opts);
        if admin {
            for v in &mut read.data {
                *v = (*v as f64 * (-lambda_t).exp()) as f32;
            }
        }
        let name = format!("same_{t:03}h.nii.gz");
        write_volume_f32(&dir.join(&name), &read, "Bq/mL").unwrap();
        nifti.push(format!(r#"{{"image": "{name}", "hours": {t}}}"#));
        let time = if n == 0 {
            format!(r#", "hours": {t}"#)
        } else {
            String::new()
        };
        dicom.push(format!(r#"{{"image": "nm_{t:03}h"{time}}}"#));
    }
    (dicom, nifti)
}

fn one_cycle_study(units: &str, labels: &str, tps: &[String]) -> String {
    format!(
        r#"{{"nuclide": "Lu-177", {units} "labels": "{labels}", "registration": "none",
            "region_names": {{"1": "kidney", "2": "tumour"}},
            "cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}]}}"#,
        tps.join(", ")
    )
}

#[test]
fn dicom_time_points_give_the_tia_of_the_same_study_in_nifti() {
    let dir = tempfile::tempdir().unwrap();
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels(), "labels").unwrap();
    let (dicom, nifti) = dicom_and_nifti_scans(dir.path());
    let d_study = dir.path().join("dicom.json");
    let n_study = dir.path().join("nifti.json");
    // No "units": every image is DICOM and states its own.
    std::fs::write(&d_study, one_cycle_study("", "labels.nii.gz", &dicom)).unwrap();
    let nifti_json = one_cycle_study(r#""units": "Bq/mL","#, "labels.nii.gz", &nifti);
    std::fs::write(&n_study, nifti_json).unwrap();
    let d_out = dir.path().join("d");
    let d = fit_study(&d_study, &d_out, false).unwrap();
    let n = fit_study(&n_study, &dir.path().join("n"), false).unwrap();
    // Times from the DICOM (injection → acquisition start) where the study gives none.
    assert_eq!(d.regions[0].time_h, TIMES_H.to_vec());
    for (a, b) in d.regions.iter().zip(&n.regions) {
        assert_eq!(a.name, b.name);
        assert!(
            (a.tia_bq_s - b.tia_bq_s).abs() <= 1e-9 * b.tia_bq_s,
            "{}: DICOM {} vs NIfTI {}",
            a.name,
            a.tia_bq_s,
            b.tia_bq_s
        );
        for (x, y) in a.activity_bq.iter().zip(&b.activity_bq) {
            assert!((x - y).abs() <= 1e-9 * y, "{x} vs {y}");
        }
    }
    // And both are the truth, to the 16-bit storage of the DICOM values.
    let kidney = TacModel::UptakeWashout.integral(&KIDNEY, None) * 3600.0;
    assert!((d.regions[0].tia_bq_s / kidney - 1.0).abs() < 1e-3);
    let map_d: f64 = d.tia.data.iter().map(|&v| v as f64).sum();
    let map_n: f64 = n.tia.data.iter().map(|&v| v as f64).sum();
    assert!((map_d - map_n).abs() <= 1e-6 * map_n);

    // A study mixing both: "units" (here kBq/mL) applies to its NIfTI images only, the
    // DICOM ones keep their own Bq/mL.
    let mut mixed = dicom.clone();
    for (i, &t) in TIMES_H.iter().enumerate().take(2) {
        let mut v = read_volume_f32(&dir.path().join(format!("same_{t:03}h.nii.gz"))).unwrap();
        v.data.iter_mut().for_each(|x| *x /= 1e3);
        let name = format!("kbq_{t:03}h.nii.gz");
        write_volume_f32(&dir.path().join(&name), &v, "kBq/mL").unwrap();
        mixed[i] = format!(r#"{{"image": "{name}", "hours": {t}}}"#);
    }
    let m_study = dir.path().join("mixed.json");
    let m_json = one_cycle_study(r#""units": "kBq/mL","#, "labels.nii.gz", &mixed);
    std::fs::write(&m_study, m_json).unwrap();
    let m = fit_study(&m_study, &dir.path().join("m"), false).unwrap();
    for (a, b) in m.regions.iter().zip(&n.regions) {
        // f32 values divided by 1000 and multiplied back: ~1e-7 per voxel.
        assert!((a.tia_bq_s / b.tia_bq_s - 1.0).abs() < 1e-5, "{}", a.name);
    }

    // regions.json says where each value and time came from.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d_out.join("regions.json")).unwrap()).unwrap();
    let images = json["cycles"][0]["dicom_images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    assert_eq!(images[0]["time_source"], "study");
    assert!(images[1]["time_source"].as_str().unwrap().contains("DICOM"));
    assert_eq!(images[2]["decay_correction"], "ADMIN");
    assert!(images[2]["decay_factor"].as_f64().unwrap() < 0.9);
    assert_eq!(images[0]["decay_factor"], 1.0);
    assert!(d
        .notes
        .iter()
        .any(|n| n.contains("time 24.00 h from the DICOM")));
    // A NIfTI study's regions.json has no such record.
    let nj = std::fs::read_to_string(dir.path().join("n/regions.json")).unwrap();
    assert!(!nj.contains("dicom_images"));

    // The cache key sees the DICOM files: an unchanged re-run is cached, a changed series
    // is refitted.
    let again = fit_study(&d_study, &d_out, true).unwrap();
    assert!(again.cycles[0].from_cache);
    let series = dir.path().join("nm_072h");
    let opts = NmOptions {
        decay_correction: "START",
        injection: Some(dt_after(0.0)),
        acquisition: Some(dt_after(72.0)),
        series_uid: "2.25.102".into(),
        ..Default::default()
    };
    let mut v = frame(72.0);
    v.data.iter_mut().for_each(|x| *x *= 2e3);
    write_nm(&series.join("nm.dcm"), &v, &opts);
    let changed = fit_study(&d_study, &d_out, true).unwrap();
    assert!(!changed.cycles[0].from_cache);

    // A study time that contradicts the DICOM's is used, with a warning.
    let wrong = dir.path().join("wrong.json");
    let mut tps = dicom.clone();
    tps[1] = r#"{"image": "nm_024h", "hours": 30}"#.into();
    std::fs::write(&wrong, one_cycle_study("", "labels.nii.gz", &tps)).unwrap();
    let w = fit_study(&wrong, &dir.path().join("w"), false).unwrap();
    assert_eq!(w.regions[0].time_h[1], 30.0);
    assert!(
        w.notes
            .iter()
            .any(|n| n.contains("study says 30.00 h") && n.contains("24.00 h")),
        "{:?}",
        w.notes
    );
}

#[test]
fn rtstruct_labels_give_the_regions_of_the_nifti_label_map() {
    let dir = tempfile::tempdir().unwrap();
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels(), "labels").unwrap();
    let (dicom, _) = dicom_and_nifti_scans(dir.path());
    // The label map's blocks as contours, and a body outline around both (ROI 3) that
    // overlaps them: the organs keep their voxels.
    let rois = [
        BoxRoi {
            number: 3,
            name: "body",
            lo: [1, 1, 1],
            hi: [11, 9, 7],
        },
        BoxRoi {
            number: 1,
            name: "kidney",
            lo: [2, 2, 2],
            hi: [5, 5, 4],
        },
        BoxRoi {
            number: 2,
            name: "tumour",
            lo: [7, 5, 4],
            hi: [9, 7, 6],
        },
    ];
    write_rtstruct(
        &dir.path().join("rs.dcm"),
        &grid(),
        &rois,
        study_dicom::FRAME_UID,
    );
    let rs_study = dir.path().join("rs.json");
    let nii_study = dir.path().join("nii.json");
    std::fs::write(&rs_study, one_cycle_study("", "rs.dcm", &dicom)).unwrap();
    std::fs::write(&nii_study, one_cycle_study("", "labels.nii.gz", &dicom)).unwrap();
    let rs = fit_study(&rs_study, &dir.path().join("rs"), false).unwrap();
    let nii = fit_study(&nii_study, &dir.path().join("nii"), false).unwrap();
    let names: Vec<&str> = rs.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["kidney", "tumour", "body"]);
    for (a, b) in rs.regions.iter().zip(&nii.regions) {
        assert_eq!((a.name.as_str(), a.n_voxels), (b.name.as_str(), b.n_voxels));
        // Contours half a voxel outside the blocks' centres: the same voxels, so the same
        // sums (the rasterisation tolerance is the boundary band, here empty).
        assert!((a.tia_bq_s - b.tia_bq_s).abs() <= 1e-9 * b.tia_bq_s);
    }
    let body = &rs.regions[2];
    assert_eq!(body.n_voxels, 10 * 8 * 6 - 18 - 8);
    assert!(rs
        .notes
        .iter()
        .any(|n| n.contains("26 voxels lie in more than one ROI")));
    let (lab, _) = rs.labels.as_ref().unwrap();
    let (lab_n, _) = nii.labels.as_ref().unwrap();
    for (a, b) in lab.data.iter().zip(&lab_n.data) {
        assert!(*a == *b || (*b == 0 && *a == 3));
    }
}
