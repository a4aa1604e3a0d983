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
