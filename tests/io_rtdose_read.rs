//! The RT Dose reader (src/io/rtdose_read.rs) on pydicom's RT Dose test files (tests/data/dicom/
//! rt_pydicom, PROVENANCE.md there). Expected facts from ../shared/testdata/MANIFEST.md:
//! 10×10×15 frames, PixelSpacing 10 mm, frames 5 mm apart by GridFrameOffsetVector (0 to
//! 70 mm), DoseGridScaling 1e−6, stored 795000 to 1254000 (0.795 to 1.254 after scaling),
//! DoseUnits RELATIVE, DoseType PHYSICAL; `rtdose_expb.dcm` is the same in Explicit VR Big
//! Endian.

use std::path::{Path, PathBuf};
use voxdose::io::rtdose_read::read_rt_dose;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dicom/rt_pydicom")
        .join(name)
}

#[test]
fn pydicom_rtdose_geometry_units_and_values() {
    let d = read_rt_dose(&data("rtdose.dcm")).unwrap();
    assert_eq!(d.dose.grid.dims, [10, 10, 15]);
    assert_eq!(d.dose.grid.spacing_mm, [10.0, 10.0, 5.0]);
    assert_eq!(d.units, "RELATIVE");
    assert_eq!(d.dose_type, "PHYSICAL");
    let (min, max) = d
        .dose
        .data
        .iter()
        .fold((f32::INFINITY, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(
        (min - 0.795).abs() < 1e-6 && (max - 1.254).abs() < 1e-6,
        "{min} {max}"
    );
}

#[test]
fn big_endian_copy_reads_the_same_values() {
    let le = read_rt_dose(&data("rtdose.dcm")).unwrap();
    let be = read_rt_dose(&data("rtdose_expb.dcm")).unwrap();
    assert_eq!(le.dose.grid, be.dose.grid);
    assert_eq!(le.dose.data, be.dose.data);
}

#[test]
fn a_ct_or_structure_set_is_not_an_rt_dose() {
    let e = read_rt_dose(&data("rtstruct.dcm")).unwrap_err();
    assert_eq!(e.exit_code(), 23, "{e}");
}
