//! Interfile reading on the real GATE files of `phantoms/lu177_patient15_gate/` (in
//! `$VOXDOSE_TESTDATA` or `../shared/testdata`; "skipped" without them), and on broken copies
//! of them. Expected values are from `../shared/testdata/MANIFEST.md`, section
//! "phantoms/lu177_patient15_gate/".

use std::path::{Path, PathBuf};

use voxdose::io::interfile::{read_header, read_image, NumberFormat};

fn gate_dir() -> Option<PathBuf> {
    match voxdose::phantoms::patient15::data_dir() {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

#[test]
fn gate_attenuation_image_reads_as_the_manifest_describes() {
    let Some(dir) = gate_dir() else { return };
    let img = read_image(&dir.join("patient15_LuDOTATATE_attn.h33")).unwrap();
    let h = &img.header;
    assert_eq!(h.dims, [108, 70, 90]);
    // Slice thickness "(pixels)" is 4.4196 mm (the GATE quirk: see src/io/interfile.rs).
    assert_eq!(h.spacing_mm, [3.9063, 3.9063, 4.4196]);
    assert_eq!(
        (h.format, h.bytes_per_pixel, h.little_endian, h.data_offset),
        (NumberFormat::Unsigned, 2, true, 0)
    );
    assert_eq!(h.data_bytes(), 1_360_800);
    // Values 0–2150, plus 3000 for the couch (21 510 voxels).
    let max_ct = img
        .values
        .iter()
        .cloned()
        .filter(|&v| v < 3000.0)
        .fold(0.0, f32::max);
    assert_eq!(max_ct, 2150.0);
    assert_eq!(img.values.iter().filter(|&&v| v == 3000.0).count(), 21_510);
    assert!(img.values.iter().all(|v| (0.0..=3000.0).contains(v)));
}

#[test]
fn gate_source_image_holds_the_labels_over_the_ct() {
    let Some(dir) = gate_dir() else { return };
    let src = read_image(&dir.join("patient15_LuDOTATATE_src.h33")).unwrap();
    let attn = read_image(&dir.join("patient15_LuDOTATATE_attn.h33")).unwrap();
    let count = |l: f32| src.values.iter().filter(|&&v| v == l).count();
    assert_eq!(count(16000.0), 1535);
    assert_eq!(count(15000.0), 15381);
    let background_equal = src
        .values
        .iter()
        .zip(&attn.values)
        .filter(|(s, _)| **s < 15000.0)
        .all(|(s, a)| s == a);
    assert!(background_equal, "below 15000 the source image is the CT");
}

/// A copy of the GATE header and data in a temp folder, with `edit` applied to the header.
fn broken_copy(
    dir: &Path,
    edit: impl Fn(String) -> String,
    data_len: Option<usize>,
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let header = std::fs::read_to_string(dir.join("patient15_LuDOTATATE_attn.h33")).unwrap();
    let mut data = std::fs::read(dir.join("patient15_LuDOTATATE_attn.i33")).unwrap();
    if let Some(n) = data_len {
        data.resize(n, 0);
    }
    std::fs::write(tmp.path().join("patient15_LuDOTATATE_attn.i33"), data).unwrap();
    let h = tmp.path().join("broken.h33");
    std::fs::write(&h, edit(header)).unwrap();
    (tmp, h)
}

#[test]
fn broken_gate_copies_fail_with_the_key_or_the_sizes_named() {
    let Some(dir) = gate_dir() else { return };
    let (_t, h) = broken_copy(&dir, |s| s.replace("!matrix size [2] := 70", ""), None);
    let e = read_header(&h).unwrap_err();
    assert_eq!(e.exit_code(), 28, "{e}");
    assert!(e.to_string().contains("'matrix size [2]'"), "{e}");

    let (_t, h) = broken_copy(&dir, |s| s, Some(1_360_000));
    let e = read_image(&h).unwrap_err();
    assert_eq!(e.exit_code(), 29, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("1360000 bytes") && msg.contains("1360800"),
        "{msg}"
    );

    // 90 slices of 4 bytes would need twice the data.
    let (_t, h) = broken_copy(
        &dir,
        |s| s.replace("bytes per pixel := 2", "bytes per pixel := 4"),
        None,
    );
    assert_eq!(read_image(&h).unwrap_err().exit_code(), 29);

    let (_t, h) = broken_copy(
        &dir,
        |s| s.replace("patient15_LuDOTATATE_attn.i33", "gone.i33"),
        None,
    );
    let e = read_image(&h).unwrap_err();
    assert_eq!(e.exit_code(), 8, "{e}");
    assert!(e.to_string().contains("gone.i33"), "{e}");
}
