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
            .contains("dose_unit,mean_gy_per_decay"),
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

/// `run` on the NIfTI patient of [`patient`] with `extra` flags; returns the output and the
/// output folder.
fn patient_run(
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> (std::process::Output, std::path::PathBuf) {
    let out = dir.join(name);
    let o = voxdose()
        .arg("run")
        .arg("--ct")
        .arg(dir.join("ct.nii.gz"))
        .arg("--spect")
        .arg(dir.join("spect.nii.gz"))
        .args([
            "--decays",
            "2000",
            "--batches",
            "4",
            "--device",
            "cpu",
            "--quiet",
        ])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (o, out)
}

#[test]
fn rt_dose_of_a_nifti_ct_takes_the_given_patient_study_and_frame_and_16_bits() {
    let dir = tempfile::tempdir().unwrap();
    patient(dir.path());
    let (study, frame) = (
        "1.2.826.0.1.3680043.8.498.11",
        "1.2.826.0.1.3680043.8.498.12",
    );
    let (o, out) = patient_run(
        dir.path(),
        "given",
        &[
            "--rtdose-bits",
            "16",
            "--patient-id",
            "PAT-0042",
            "--study-uid",
            study,
            "--frame-of-reference-uid",
            frame,
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!err.contains("linked to no patient"), "{err}");
    let nifti = voxdose::io::nifti::read_volume_f32(&out.join("dose.nii.gz")).unwrap();
    for name in ["rtdose.dcm", "rtdose_sigma.dcm"] {
        let rt = voxdose::io::rtdose_read::read_rt_dose(&out.join(name)).unwrap();
        assert_eq!(rt.identity.patient_id, "PAT-0042");
        assert_eq!(rt.identity.study_instance_uid, study);
        assert_eq!(rt.identity.frame_of_reference_uid, frame);
        let file = dicom_object::open_file(out.join(name)).unwrap();
        let bits = file
            .element(dicom_dictionary_std::tags::BITS_ALLOCATED)
            .unwrap()
            .to_int::<u16>()
            .unwrap();
        assert_eq!(bits, 16, "{name}");
    }
    // 16 bits: every value within half a quantum (max/65535) of the NIfTI dose.
    let rt = voxdose::io::rtdose_read::read_rt_dose(&out.join("rtdose.dcm")).unwrap();
    let max = nifti.data.iter().copied().fold(0.0f32, f32::max);
    let quantum = max / 65535.0;
    for (a, b) in rt.dose.data.iter().zip(&nifti.data) {
        assert!(
            (a - b).abs() <= 0.5 * quantum * 1.0001 + 1e-6 * max,
            "{a} vs {b}"
        );
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(saved["input"]["rtdose"]["patient_id"], "PAT-0042");
    assert_eq!(saved["input"]["rtdose"]["bits"], "16");
}

#[test]
fn rt_dose_of_a_nifti_ct_without_identifiers_warns_that_it_is_linked_to_no_patient() {
    let dir = tempfile::tempdir().unwrap();
    patient(dir.path());
    let (o, out) = patient_run(dir.path(), "bare", &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("linked to no patient") && err.contains("--patient-id"),
        "{err}"
    );
    let file = dicom_object::open_file(out.join("rtdose.dcm")).unwrap();
    let bits = file
        .element(dicom_dictionary_std::tags::BITS_ALLOCATED)
        .unwrap()
        .to_int::<u16>()
        .unwrap();
    assert_eq!(bits, 32);
}

#[test]
fn rt_dose_identifiers_that_are_not_dicom_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    patient(dir.path());
    for (flags, needle) in [
        (vec!["--study-uid", "1.2.03.4"], "leading zeros"),
        (
            vec!["--frame-of-reference-uid", "abc"],
            "digits separated by dots",
        ),
        (vec!["--patient-id", "a\\b"], "backslash"),
    ] {
        let (o, out) = patient_run(dir.path(), "bad", &flags);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{flags:?}: {err}");
        assert!(err.contains(needle), "{flags:?}: {err}");
        assert!(!out.exists());
    }
    let out = dir.path().join("phantom");
    let o = voxdose()
        .args([
            "run",
            "--phantom",
            "water-sphere",
            "--grid",
            "16",
            "--decays",
            "100",
            "--patient-id",
            "X",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("writes no RT Dose"), "{err}");
}

#[test]
fn progress_without_a_terminal_is_logged_as_lines_with_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let run = |quiet: bool, name: &str| {
        let mut c = voxdose();
        c.env("VOXDOSE_PROGRESS_INTERVAL_S", "0")
            .args([
                "run",
                "--phantom",
                "water-sphere",
                "--grid",
                "16",
                "--decays",
                "4000",
            ])
            .args(["--batches", "4", "--device", "cpu", "--out"])
            .arg(dir.path().join(name));
        if quiet {
            c.arg("--quiet");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let err = run(false, "log");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("progress:")).collect();
    assert_eq!(lines.len(), 4, "one line per batch with interval 0:\n{err}");
    assert!(
        lines[0].contains("/4000 decays") && lines[0].contains("left"),
        "{err}"
    );
    assert!(lines[3].contains("4000/4000 decays (100.0 %)"), "{err}");
    assert!(err.contains("transport done in"), "{err}");
    let quiet = run(true, "quiet");
    assert!(!quiet.contains("progress:"), "{quiet}");
}

#[test]
fn organ_table_names_the_method_that_made_the_dose() {
    let dir = tempfile::tempdir().unwrap();
    patient(dir.path());
    let labels = dir.path().join("labels.nii.gz");
    let labels = labels.to_str().unwrap();
    for (method, words) in [("mc", "dose to medium"), ("ldm", "local deposition")] {
        let (o, out) = patient_run(
            dir.path(),
            method,
            &["--labels", labels, "--method", method],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("organ_table.json")).unwrap()).unwrap();
        for row in rows.as_array().unwrap() {
            assert_eq!(row["method"], method);
            assert!(
                row["dose_quantity"].as_str().unwrap().contains(words),
                "{row}"
            );
        }
        let csv = std::fs::read_to_string(out.join("organ_table.csv")).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        assert_eq!(header[header.len() - 2..], ["method", "dose_quantity"]);
        assert!(
            csv.lines().nth(1).unwrap().contains(&format!(",{method},")),
            "{csv}"
        );
    }
}
