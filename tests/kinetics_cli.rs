//! `voxdose fit STUDY --out DIR` as a user runs it: outputs written, summary printed, and a
//! bad study file reported with its exit code (issue "Kinetics", item 6).

use std::process::Command;
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::write_volume_f32;

fn voxdose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voxdose"))
}

#[test]
fn fit_command_writes_the_tia_map_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::new([6, 6, 4], [4.0; 3], [0.0; 3]);
    // A mono-exponential (λ = 0.01/h) in every voxel, 1 kBq/mL at t = 0.
    let mut names = Vec::new();
    for t in [4.0f64, 24.0, 72.0] {
        let v = Volume::filled(grid.clone(), (1000.0 * (-0.01 * t).exp()) as f32);
        let n = format!("f{t}.nii.gz");
        write_volume_f32(&dir.path().join(&n), &v, "test").unwrap();
        names.push((n, t));
    }
    let tps: Vec<String> = names
        .iter()
        .map(|(n, t)| format!(r#"{{"image": "{n}", "hours": {t}}}"#))
        .collect();
    let study = dir.path().join("study.json");
    std::fs::write(
        &study,
        format!(
            r#"{{"nuclide": "Lu-177", "units": "Bq/mL", "registration": "none",
                "cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}]}}"#,
            tps.join(",")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = voxdose()
        .arg("fit")
        .arg(&study)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("cycle 1"), "{stdout}");
    let tia = voxdose::io::nifti::read_volume_f32(&out.join("tia.nii.gz")).unwrap();
    // Ã per voxel = 1000 Bq/mL × 0.064 mL / 0.01 h⁻¹ × 3600 s/h (analytic mono-exponential).
    let expect = 1000.0 * 0.064 / 0.01 * 3600.0;
    for &v in &tia.data {
        assert!((v as f64 - expect).abs() < 1e-4 * expect, "{v} vs {expect}");
    }
}

#[test]
fn fit_command_reports_an_invalid_study_with_exit_code_9() {
    let dir = tempfile::tempdir().unwrap();
    let study = dir.path().join("study.json");
    std::fs::write(&study, r#"{"nuclide": "Lu-177", "cycles": [{"injected_activity_bq": 1e9, "time_points": [{"image": "a.nii", "hours": 1}]}]}"#).unwrap();
    let o = voxdose()
        .arg("fit")
        .arg(&study)
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(9));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("units"), "{err}");
}

/// `voxdose run --study` with a CT medium (issue "Kinetics", item 4): the study's
/// `reference_ct`, or `--ct` on the command line, defines the transport geometry on the TIA
/// grid (HU → material and density, Schneider 2000, as `voxdose run --ct --spect`). Checked
/// physically: 177Lu deposits most of its energy within ~1 mm (electrons carry ~81 % per
/// decay, DOMAIN.md §1.5), so in a 16 mm hot cube of density ρ the mean dose per decay scales
/// about as 1/ρ against soft tissue at 1.00 g/cm³; electrons escaping the cube faces make the
/// dense case a little higher (shorter ranges keep more energy inside), hence the band
/// [0.95, 1.15] for D_CT·ρ / D_soft.
#[test]
fn study_run_uses_the_reference_ct_or_the_ct_flag_for_the_transport_medium() {
    use voxdose::geometry::hu::HuConversion;
    let dir = tempfile::tempdir().unwrap();
    let grid = Grid::centred([12, 12, 12], 4.0);
    let hot = |v: usize| grid.ijk(v).iter().all(|&i| (4..8).contains(&i));
    let hu_hot = 1200.0f32;
    let ct = Volume {
        grid: grid.clone(),
        data: (0..grid.n_voxels())
            .map(|v| if hot(v) { hu_hot } else { 0.0 })
            .collect(),
    };
    write_volume_f32(&dir.path().join("ct.nii.gz"), &ct, "HU").unwrap();
    let labels = Volume {
        grid: grid.clone(),
        data: (0..grid.n_voxels())
            .map(|v| if hot(v) { 1.0 } else { 0.0 })
            .collect(),
    };
    write_volume_f32(&dir.path().join("labels.nii.gz"), &labels, "labels").unwrap();
    let lambda_per_h = std::f64::consts::LN_2 / 60.0;
    let mut points = Vec::new();
    for hours in [4.0f64, 24.0, 96.0, 168.0] {
        let c = (2.0e5 * (-lambda_per_h * hours).exp()) as f32;
        let v = Volume {
            grid: grid.clone(),
            data: (0..grid.n_voxels())
                .map(|v| if hot(v) { c } else { 0.0 })
                .collect(),
        };
        let name = format!("spect_{hours:03}h.nii.gz");
        write_volume_f32(&dir.path().join(&name), &v, "test").unwrap();
        points.push(format!(r#"{{"image": "{name}", "hours": {hours}}}"#));
    }
    let write_study = |name: &str, reference_ct: bool| {
        let rc = if reference_ct {
            r#""reference_ct": "ct.nii.gz","#
        } else {
            ""
        };
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                r#"{{"nuclide": "Lu-177", "units": "Bq/mL", {rc} "labels": "labels.nii.gz",
                    "region_names": {{"1": "hot"}}, "registration": "none",
                    "cycles": [{{"injected_activity_bq": 7.4e9, "time_points": [{}]}}]}}"#,
                points.join(", ")
            ),
        )
        .unwrap();
        path
    };
    let with_ref = write_study("study_ref.json", true);
    let plain = write_study("study.json", false);
    let run = |study: &std::path::Path, out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let o = voxdose()
            .args(["run", "--study"])
            .arg(study)
            .args(["--decays", "4e4", "--device", "cpu", "--quiet", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        (s["regions"][0]["mean_dose"].as_f64().unwrap(), err)
    };
    let (soft, log_soft) = run(&plain, "soft", &[]);
    assert!(log_soft.contains("no CT given"), "{log_soft}");
    let (from_ref, log_ref) = run(&with_ref, "ref", &[]);
    assert!(log_ref.contains("reference CT"), "{log_ref}");
    let ct_arg = dir.path().join("ct.nii.gz");
    let (from_flag, log_flag) = run(&plain, "flag", &["--ct", ct_arg.to_str().unwrap()]);
    assert!(log_flag.contains("ct.nii.gz"), "{log_flag}");
    let rho = HuConversion::schneider2000().convert(hu_hot).1 as f64;
    assert!(rho > 1.4, "HU {hu_hot} should be bone-like, got ρ = {rho}");
    for (what, d) in [("reference_ct", from_ref), ("--ct", from_flag)] {
        let r = d * rho / soft;
        eprintln!("{what}: D·ρ/D_soft = {r:.3} (ρ = {rho:.3} g/cm³)");
        assert!((0.95..1.15).contains(&r), "{what}: D·ρ/D_soft = {r}");
    }
    // Same CT, same TIA grid, same seed: the two ways give the same dose, up to a few
    // histories that the TIA's last-digit differences (the reference CT path resamples onto
    // its rebuilt grid) may send elsewhere.
    assert!(
        (from_ref - from_flag).abs() <= 1e-3 * from_ref,
        "{from_ref} vs {from_flag}"
    );

    // A --ct that is not the study's reference CT is refused (exit 3), not silently mixed.
    let other = dir.path().join("other_ct.nii.gz");
    write_volume_f32(&other, &ct, "HU").unwrap();
    let o = voxdose()
        .args(["run", "--study"])
        .arg(&with_ref)
        .args(["--decays", "1e3", "--out"])
        .arg(dir.path().join("bad"))
        .arg("--ct")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
