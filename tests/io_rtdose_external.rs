//! The RT Dose voxdose writes, checked by outside tools: `dciodvfy` (Debian package
//! `dicom3tools`) must report no errors, and pydicom (PyPI `pydicom`, with `numpy`) must read
//! back dose values within one DoseGridScaling quantum. These tests FAIL when a tool is
//! missing; `.ci/run` installs them and runs `cargo test --test io_rtdose_external -- --ignored`.
//! Python is `$VOXDOSE_PYTHON` if set, else `python3`.

use std::path::Path;
use std::process::Command;
use voxdose::geometry::{Grid, Volume};
use voxdose::io::rtdose::{new_uid, write_rt_dose_bits, DoseType, DoseUnits, RtDoseBits};
use voxdose::io::series::SeriesIdentity;

fn ct_identity() -> SeriesIdentity {
    SeriesIdentity {
        study_instance_uid: "1.2.826.0.1.3680043.8.498.1".into(),
        frame_of_reference_uid: "1.2.826.0.1.3680043.8.498.2".into(),
        patient_id: "VOXDOSE-TEST".into(),
        patient_name: "Test^Phantom".into(),
        study_date: "20260101".into(),
        study_time: "120000".into(),
        ..SeriesIdentity::default()
    }
}

fn dose_volume() -> Volume<f32> {
    let mut g = Grid::new([7, 5, 4], [2.0, 3.0, 4.0], [-10.0, 20.5, -766.5]);
    // Row direction −x: the normal row × column is −z while k runs along +z, so the frame
    // offsets along the normal are negative (0, −4, −8, −12 mm).
    g.direction = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let data = (0..g.n_voxels())
        .map(|i| 0.37 * (i as f32).sqrt())
        .collect();
    Volume { grid: g, data }
}

fn write_pair(dir: &Path, bits: RtDoseBits) -> Volume<f32> {
    let vol = dose_volume();
    let series = new_uid();
    write_rt_dose_bits(
        &dir.join("rtdose.dcm"),
        &vol,
        &ct_identity(),
        DoseType::Physical,
        &series,
        "voxdose test dose",
        DoseUnits::Gy,
        bits,
    )
    .unwrap();
    let sigma = Volume {
        grid: vol.grid.clone(),
        data: vol.data.iter().map(|d| 0.05 * d).collect(),
    };
    write_rt_dose_bits(
        &dir.join("rtdose_sigma.dcm"),
        &sigma,
        &ct_identity(),
        DoseType::Error,
        &series,
        "voxdose test sigma",
        DoseUnits::Gy,
        bits,
    )
    .unwrap();
    vol
}

const BOTH: [RtDoseBits; 2] = [RtDoseBits::U32, RtDoseBits::U16];

#[test]
#[ignore = "needs dciodvfy and pydicom (installed by .ci/run)"]
fn rt_dose_in_16_bits_passes_dciodvfy_without_errors() {
    // dciodvfy checks 16-bit files only: on 32-bit OW pixel data it aborts on an assertion
    // of its own (attrothr.cc, bitsallocated <= 16), which is why the 32-bit files are read
    // back with pydicom below instead.
    let bits = RtDoseBits::U16;
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), bits);
    for name in ["rtdose.dcm", "rtdose_sigma.dcm"] {
        let out = Command::new("dciodvfy")
            .arg(dir.path().join(name))
            .output()
            .expect("dciodvfy not found: install the Debian package dicom3tools");
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        // It ran to the end (an abort prints no "Error" line) and checked the RT Dose IOD.
        assert!(
            out.status.code().is_some(),
            "{name}: dciodvfy was killed:\n{text}"
        );
        assert!(
            text.lines().any(|l| l.trim() == "RTDose"),
            "{name}: no IOD checked:\n{text}"
        );
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(
            errors.is_empty(),
            "{name} ({} bits): dciodvfy errors:\n{}\n\nfull output:\n{text}",
            bits.bits(),
            errors.join("\n")
        );
    }
}

#[test]
#[ignore = "needs dciodvfy and pydicom (installed by .ci/run)"]
fn rt_dose_reads_back_in_pydicom_within_the_scaling_quantum_in_16_and_32_bits() {
    for bits in BOTH {
        pydicom_reads_back(bits);
    }
}

fn pydicom_reads_back(bits: RtDoseBits) {
    let dir = tempfile::tempdir().unwrap();
    let vol = write_pair(dir.path(), bits);
    let raw = dir.path().join("expected.f32");
    let bytes: Vec<u8> = vol.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    let script = r#"
import sys, numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1])
exp = np.fromfile(sys.argv[2], dtype='<f4').reshape(int(d.NumberOfFrames), d.Rows, d.Columns)
dose = d.pixel_array.astype(np.float64) * float(d.DoseGridScaling)
err = np.abs(dose - exp).max()
q = float(d.DoseGridScaling)
assert d.DoseUnits == 'GY' and d.DoseType == 'PHYSICAL', (d.DoseUnits, d.DoseType)
assert d.FrameOfReferenceUID == '1.2.826.0.1.3680043.8.498.2'
assert d.StudyInstanceUID == '1.2.826.0.1.3680043.8.498.1'
assert d.BitsAllocated == int(sys.argv[3]) and d.BitsStored == int(sys.argv[3]), d.BitsAllocated
assert d.pixel_array.dtype.itemsize * 8 == int(sys.argv[3]), d.pixel_array.dtype
# f32 input: allow half a quantum plus f32 rounding of the expected value.
tol = 0.5 * q + 1e-7 * float(exp.max())
assert err <= tol, (err, q, tol)
offs = [float(x) for x in d.GridFrameOffsetVector]
assert offs == [0.0, -4.0, -8.0, -12.0], offs
print('ok', err, q)
"#;
    let python = std::env::var("VOXDOSE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(dir.path().join("rtdose.dcm"))
        .arg(&raw)
        .arg(bits.bits().to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("{python} not runnable ({e}): install python3 with pydicom and numpy")
        });
    assert!(
        out.status.success(),
        "pydicom check failed (is pydicom installed? pip install pydicom numpy):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
