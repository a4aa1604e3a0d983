//! Regression tests of the reliability issue, each named after the behaviour it pins down:
//! output to a closed pipe, a target uncertainty that is not reached, and doses per decay
//! labelled as such (organ table, DVH, RT Dose).

use std::path::Path;
use std::process::{Command, Stdio};
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::write_volume_f32;

fn voxdose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_voxdose"))
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    for cmd in ["nuclides", "phantoms"] {
        let mut child = voxdose()
            .arg(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert_eq!(o.status.code(), Some(0), "{cmd}: {err}");
    }
}

#[test]
fn target_uncertainty_not_reached_is_flagged_in_summary_and_warned() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = voxdose()
        .args([
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "16",
            "--device",
            "cpu",
        ])
        .args([
            "--target-uncertainty",
            "0.5",
            "--max-decays",
            "2000",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("target uncertainty 0.500 % not reached"),
        "{err}"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let t = &s["target_uncertainty"];
    assert_eq!(t["reached"], false);
    assert_eq!(t["max_decays"], 2000);
    assert!(t["reached_percent"].as_f64().unwrap() > 0.5);
}

/// A NIfTI patient (CT with air and tissue, a uniform SPECT, two labelled regions).
fn patient(dir: &Path) {
    let g = Grid::new([8, 8, 8], [4.0; 3], [0.0; 3]);
    let hu = (0..g.n_voxels())
        .map(|i| if g.ijk(i)[2] == 0 { -1000.0 } else { 0.0 })
        .collect();
    write_volume_f32(
        &dir.join("ct.nii.gz"),
        &Volume {
            grid: g.clone(),
            data: hu,
        },
        "HU",
    )
    .unwrap();
    write_volume_f32(
        &dir.join("spect.nii.gz"),
        &Volume::filled(g.clone(), 1e4),
        "Bq/mL",
    )
    .unwrap();
    let labels = (0..g.n_voxels())
        .map(|i| if g.ijk(i)[0] < 4 { 1.0 } else { 2.0 })
        .collect();
    write_volume_f32(
        &dir.join("labels.nii.gz"),
        &Volume {
            grid: g,
            data: labels,
        },
        "labels",
    )
    .unwrap();
}

#[test]
fn dose_per_decay_outputs_are_labelled_per_decay() {
    let dir = tempfile::tempdir().unwrap();
    patient(dir.path());
    let out = dir.path().join("out");
    let o = voxdose()
        .arg("run")
        .arg("--ct")
        .arg(dir.path().join("ct.nii.gz"))
        .arg("--spect")
        .arg(dir.path().join("spect.nii.gz"))
        .arg("--labels")
        .arg(dir.path().join("labels.nii.gz"))
        .args([
            "--decays",
            "2000",
            "--batches",
            "4",
            "--device",
            "cpu",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("organ_table.json")).unwrap()).unwrap();
    let row = &rows[0];
    assert_eq!(row["dose_unit"], "Gy per decay");
    // The new key says the unit; the old one stays for scripts that read it.
    assert_eq!(row["mean_gy_per_decay"], row["mean_gy"]);
    let csv = std::fs::read_to_string(out.join("organ_table.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("dose_unit,mean_gy_per_decay"),
        "{csv}"
    );
    let dvh = std::fs::read_to_string(out.join("dvh.csv")).unwrap();
    assert_eq!(
        dvh.lines().next().unwrap(),
        "region,dose_gy,volume_fraction,dose_gy_per_decay"
    );
    let rt = voxdose::io::rtdose_read::read_rt_dose(&out.join("rtdose.dcm")).unwrap();
    assert_eq!(rt.units, "RELATIVE");
}
