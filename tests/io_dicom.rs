//! DICOM image series on real files: slice sorting, HU rescale, compressed transfer
//! syntaxes, enhanced multi-frame, oblique orientation, empty SOPClassUID.
//!
//! Files are in tests/data/dicom (see PROVENANCE.md there); the two larger series
//! (TotalSegmentator CT, STS CT) are read from ../shared/testdata when present and the tests
//! say "skipped" otherwise. Expected values come from ../shared/testdata/MANIFEST.md, which
//! records them as read with pydicom 3.0.2 + pylibjpeg.

use std::path::{Path, PathBuf};
use voxdose::io::ct::read_ct;
use voxdose::io::dicom::{decode_stored_frames, open};
use voxdose::io::series::read_series;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dicom")
        .join(rel)
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: ../shared/testdata/{rel} not found");
        None
    }
}

fn stored(path: &Path) -> Vec<f32> {
    let f = open(path).unwrap();
    decode_stored_frames(&f, path).unwrap().concat()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn wg04_lossless_ct_and_nm_decode_bit_identical_to_uncompressed() {
    // MANIFEST "compressed_wg04": RLE, JPLL, JLSL and J2KR decode bit-identical to UNC.
    let mut lossless = vec!["RLE", "JPLL", "J2KR"];
    if cfg!(feature = "jpeg-ls") {
        lossless.push("JLSL");
    }
    for image in ["CT1", "NM1"] {
        let reference = stored(&data(&format!("compressed_wg04/{image}_UNC.dcm")));
        for ts in &lossless {
            let v = stored(&data(&format!("compressed_wg04/{image}_{ts}.dcm")));
            assert_eq!(max_abs_diff(&v, &reference), 0.0, "{image}_{ts}");
        }
    }
}

#[test]
fn wg04_lossy_decodes_within_the_published_differences() {
    // MANIFEST: J2KI differs from UNC by at most 352 (CT1) and 101 (NM1); JLSN by at most 4.
    let mut cases = vec![("CT1", "J2KI", 352.0), ("NM1", "J2KI", 101.0)];
    if cfg!(feature = "jpeg-ls") {
        cases.extend([("CT1", "JLSN", 4.0), ("NM1", "JLSN", 4.0)]);
    }
    for (image, ts, bound) in cases {
        let reference = stored(&data(&format!("compressed_wg04/{image}_UNC.dcm")));
        let v = stored(&data(&format!("compressed_wg04/{image}_{ts}.dcm")));
        let d = max_abs_diff(&v, &reference);
        assert!(d <= bound, "{image}_{ts}: max difference {d} > {bound}");
        assert!(d > 0.0, "{image}_{ts} is lossy: some difference expected");
    }
}

#[cfg(not(feature = "jpeg-ls"))]
#[test]
fn jpeg_ls_without_the_feature_is_refused_with_the_fix() {
    let p = data("compressed_wg04/CT1_JLSL.dcm");
    let f = open(&p).unwrap();
    let e = decode_stored_frames(&f, &p).unwrap_err();
    assert_eq!(e.exit_code(), 14);
    assert!(e.to_string().contains("jpeg-ls"), "{e}");
}

#[test]
fn wg04_ct_gives_hu_from_rescale_intercept() {
    // MANIFEST: CT1 stored −2000..2278, RescaleIntercept −1024 → HU −3024..1254; 512×512,
    // PixelSpacing 0.661468 mm, SliceThickness 5 mm.
    for ts in ["UNC", "RLE", "J2KR"] {
        let ct = read_ct(&data(&format!("compressed_wg04/CT1_{ts}.dcm"))).unwrap();
        let min = ct.hu.data.iter().copied().fold(f32::INFINITY, f32::min);
        let max = ct.hu.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((min, max), (-3024.0, 1254.0), "{ts}");
        assert_eq!(ct.hu.grid.dims, [512, 512, 1]);
        assert_eq!(ct.hu.grid.spacing_mm, [0.661468, 0.661468, 5.0]);
    }
}

#[test]
fn nm_jpeg_12_bit_file_that_does_not_decode_is_a_clear_error() {
    // MANIFEST: NM1_JPLY.dcm has an SOS with Se = 0 in a sequential 12-bit JPEG; libjpeg
    // rejects it, and so must we (never garbage).
    let p = data("compressed_wg04/NM1_JPLY.dcm");
    let f = open(&p).unwrap();
    let e = decode_stored_frames(&f, &p).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 13, "{msg}");
    assert!(
        msg.contains("NM1_JPLY.dcm") && msg.contains("1.2.840.10008.1.2.4.51"),
        "{msg}"
    );
    assert!(msg.contains("(7FE0,0010)"), "{msg}");
}

#[test]
fn three_slice_ct_is_sorted_by_position_with_spacing_from_positions() {
    // MANIFEST "ct3_dcmqi": 23 columns × 38 rows, 0.7 mm, z −177.75, −175.25, −172.75; the
    // 310 ones are all in slice 2 (the middle one).
    let dir = tempfile::tempdir().unwrap();
    for f in ["IMG0003.dcm", "IMG0001.dcm", "IMG0002.dcm"] {
        std::fs::copy(data(&format!("ct3_dcmqi/{f}")), dir.path().join(f)).unwrap();
    }
    let s = read_series(dir.path()).unwrap();
    assert_eq!(s.grid.dims, [23, 38, 3]);
    assert_eq!(s.slice_positions_mm(), vec![-177.75, -175.25, -172.75]);
    assert!((s.grid.spacing_mm[2] - 2.5).abs() < 1e-9);
    assert_eq!(s.grid.spacing_mm[..2], [0.7, 0.7]);
    let ct = read_ct(dir.path()).unwrap();
    let per_slice: Vec<usize> = (0..3)
        .map(|k| {
            ct.hu.data[k * 23 * 38..(k + 1) * 23 * 38]
                .iter()
                .filter(|&&v| v == 1.0)
                .count()
        })
        .collect();
    assert_eq!(per_slice, vec![0, 310, 0]);
}

#[test]
fn legacy_enhanced_ct_matches_its_single_frame_slices() {
    // MANIFEST: legacy_converted_enhanced_ct.dcm holds the same three slices as one
    // multi-frame object with functional groups.
    let dir = tempfile::tempdir().unwrap();
    for f in ["IMG0001.dcm", "IMG0002.dcm", "IMG0003.dcm"] {
        std::fs::copy(data(&format!("ct3_dcmqi/{f}")), dir.path().join(f)).unwrap();
    }
    let single = read_ct(dir.path()).unwrap();
    let multi = read_ct(&data("ct3_dcmqi/legacy_converted_enhanced_ct.dcm")).unwrap();
    assert_eq!(multi.hu.grid.dims, single.hu.grid.dims);
    for a in 0..3 {
        assert!((multi.hu.grid.spacing_mm[a] - single.hu.grid.spacing_mm[a]).abs() < 1e-9);
        assert!((multi.hu.grid.origin_mm[a] - single.hu.grid.origin_mm[a]).abs() < 1e-6);
    }
    assert_eq!(multi.hu.data, single.hu.data);
}

#[test]
fn oblique_series_keeps_its_direction_matrix_and_anisotropic_spacing() {
    // MANIFEST "oblique_rtutils": IOP (0.9541666, −0.2080757, 0.2151061, 0.2785886, 0.880128,
    // −0.3843997); PixelSpacing (3.5, 2.5): 3.5 mm between rows, 2.5 mm between columns;
    // slices 4.5 mm apart; RescaleSlope 0.001. Stored minima/maxima per file, read with
    // pydicom 3.0.2: 0.dcm −9997/9999, 1.dcm −10000/9995, 2.dcm −9997/9984.
    let ct = read_ct(&data("oblique_rtutils")).unwrap();
    let g = &ct.hu.grid;
    assert_eq!(g.dims, [100, 50, 3]);
    assert!((g.spacing_mm[0] - 2.5).abs() < 1e-9 && (g.spacing_mm[1] - 3.5).abs() < 1e-9);
    assert!((g.spacing_mm[2] - 4.5).abs() < 1e-3, "{:?}", g.spacing_mm);
    let row = [0.9541666, -0.2080757, 0.2151061];
    let col = [0.2785886, 0.880128, -0.3843997];
    for c in 0..3 {
        assert!((g.direction[0][c] - row[c]).abs() < 1e-6);
        assert!((g.direction[1][c] - col[c]).abs() < 1e-6);
    }
    // The k axis is the normal: orthogonal to both.
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    assert!(dot(g.direction[2], g.direction[0]).abs() < 1e-6);
    let min = ct.hu.data.iter().copied().fold(f32::INFINITY, f32::min);
    let max = ct.hu.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(
        (min + 10.0).abs() < 1e-4 && (max - 9.999).abs() < 1e-4,
        "{min} {max}"
    );
}

#[test]
fn multiframe_without_geometry_is_reported_not_invented() {
    // MANIFEST "multiframe": emri_small*.dcm have no functional groups and no pixel spacing,
    // position or orientation; all five decode to identical values (0–467).
    let e = read_series(&data("multiframe/emri_small.dcm")).unwrap_err();
    assert_eq!(e.exit_code(), 12, "{e}");
    assert!(e.to_string().contains("(0028,0030) PixelSpacing"), "{e}");
    let reference = stored(&data("multiframe/emri_small.dcm"));
    assert_eq!(reference.len(), 10 * 64 * 64);
    assert_eq!(reference.iter().copied().fold(0.0, f32::max), 467.0);
    let mut variants = vec!["RLE", "big_endian", "jpeg_2k_lossless"];
    if cfg!(feature = "jpeg-ls") {
        variants.push("jpeg_ls_lossless");
    }
    for v in variants {
        let d = stored(&data(&format!("multiframe/emri_small_{v}.dcm")));
        assert_eq!(max_abs_diff(&d, &reference), 0.0, "{v}");
    }
}

#[test]
fn totalsegmentator_ct_sorts_by_position_not_instance_number() {
    // MANIFEST "ct_series_totalseg_j2k": 20 slices, JPEG 2000 lossless, IPP z −766.5 to
    // −804.5 in 2 mm steps with InstanceNumber rising as z falls; SliceThickness 3 mm
    // (overlap); SOPClassUID empty; HU −1024 to 1839.
    let Some(dir) = shared("dicom/ct_series_totalseg_j2k") else {
        return;
    };
    let ct = read_ct(&dir).unwrap();
    let g = &ct.hu.grid;
    assert_eq!(g.dims, [512, 512, 20]);
    assert_eq!(g.spacing_mm, [0.9765625, 0.9765625, 2.0]);
    assert_eq!(g.origin_mm[2], -804.5);
    assert!(
        ct.warnings.iter().any(|w| w.contains("SOPClassUID")),
        "{:?}",
        ct.warnings
    );
    assert!(
        ct.warnings.iter().any(|w| w.contains("overlapping")),
        "{:?}",
        ct.warnings
    );
    let min = ct.hu.data.iter().copied().fold(f32::INFINITY, f32::min);
    let max = ct.hu.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert_eq!((min, max), (-1024.0, 1839.0));
}

#[test]
fn totalsegmentator_ct_and_its_nifti_segmentation_agree_in_geometry() {
    // MANIFEST "nifti/totalseg": example_seg_dicom.nii.gz voxel (i, j, k) is DICOM column i,
    // row 511 − j, slice at z = −804.5 + 2k; rib labels sit on bone (mean 275 HU) and liver
    // on soft tissue (mean 89 HU).
    let (Some(dir), Some(seg)) = (
        shared("dicom/ct_series_totalseg_j2k"),
        shared("nifti/totalseg/example_seg_dicom.nii.gz"),
    ) else {
        return;
    };
    let ct = read_ct(&dir).unwrap();
    let seg = voxdose::io::nifti::read_image(&seg).unwrap();
    for (i, j, k) in [
        (0usize, 0usize, 0usize),
        (511, 0, 19),
        (100, 300, 7),
        (511, 511, 10),
    ] {
        let p_seg = seg
            .volume
            .grid
            .voxel_to_patient([i as f64, j as f64, k as f64]);
        let p_ct = ct
            .hu
            .grid
            .voxel_to_patient([i as f64, (511 - j) as f64, k as f64]);
        for c in 0..3 {
            assert!(
                (p_seg[c] - p_ct[c]).abs() < 1e-3,
                "voxel {:?}: {p_seg:?} vs {p_ct:?}",
                (i, j, k)
            );
        }
    }
    // Mean HU under the liver label (5) on the CT, mapped through patient coordinates.
    let liver = seg
        .label_names
        .iter()
        .find(|(_, n)| n.as_str() == "liver")
        .map(|(k, _)| *k)
        .unwrap();
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (idx, &v) in seg.volume.data.iter().enumerate() {
        if v as u32 == liver {
            let ijk = seg.volume.grid.ijk(idx).map(|x| x as f64);
            let c = ct
                .hu
                .grid
                .patient_to_voxel(seg.volume.grid.voxel_to_patient(ijk))
                .map(|x| x.round() as usize);
            sum += ct.hu.data[ct.hu.grid.index(c[0], c[1], c[2])] as f64;
            n += 1;
        }
    }
    let mean = sum / n as f64;
    assert!(
        (mean - 89.0).abs() < 2.0,
        "liver mean HU {mean} (MANIFEST: 89)"
    );
}

#[test]
fn folder_with_two_series_is_refused_naming_both_files() {
    // ct3_dcmqi holds the single-frame CT, its legacy-converted copy and a SEG: three series.
    let e = read_series(&data("ct3_dcmqi")).unwrap_err();
    assert_eq!(e.exit_code(), 20, "{e}");
    assert!(
        e.to_string().contains("(0020,000E) SeriesInstanceUID"),
        "{e}"
    );
}
