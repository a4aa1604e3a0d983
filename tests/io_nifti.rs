//! NIfTI reading and writing on real files (tests/data/nifti, copied from ../shared/testdata;
//! see tests/data/nifti/PROVENANCE.md): affines, byte order, label tables, round trips.
//!
//! Expected header values were read from the files with Python's `struct` module (offsets of
//! the NIfTI-1 header) and agree with ../shared/testdata/MANIFEST.md.

use std::path::{Path, PathBuf};
use voxdose::geometry::{Grid, Volume};
use voxdose::io::nifti::{read_image, read_volume_f32, write_volume_f32};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nifti")
        .join(rel)
}

fn assert_close(a: [f64; 3], b: [f64; 3], tol: f64, what: &str) {
    for i in 0..3 {
        assert!((a[i] - b[i]).abs() <= tol, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
fn sform_only_file_gives_anisotropic_grid_in_lps() {
    // standard.nii.gz: uint8 4×5×7, qform_code 0, sform_code 2, srow = diag(1, 3, 2), no
    // offset (MANIFEST "nifti/nibabel"; header bytes 280–327).
    let img = read_image(&data("nibabel/standard.nii.gz")).unwrap();
    let g = &img.volume.grid;
    assert_eq!(img.affine_source, "sform");
    assert_eq!(g.dims, [4, 5, 7]);
    assert_eq!(g.spacing_mm, [1.0, 3.0, 2.0]);
    // RAS +x, +y become LPS −x, −y.
    assert_eq!(
        g.direction,
        [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    assert_eq!(g.origin_mm, [0.0, 0.0, 0.0]);
    // Values are 0 and 255 only (MANIFEST).
    assert!(img.volume.data.iter().all(|&v| v == 0.0 || v == 255.0));
    assert!(img.volume.data.contains(&255.0));
}

#[test]
fn big_endian_las_int16_file_reads_values_and_orientation() {
    // anatomical.nii: big-endian int16, 33×41×25, 2 mm, LAS; sform rows
    // (−2,0,0,32) (0,2,0,−40) (0,0,2,−16); values −610 to 30393 (MANIFEST; header).
    let img = read_image(&data("nibabel/anatomical.nii")).unwrap();
    let g = &img.volume.grid;
    assert_eq!(g.dims, [33, 41, 25]);
    assert_eq!(g.spacing_mm, [2.0; 3]);
    // i runs towards RAS −x = LPS +x; j towards RAS +y = LPS −y.
    assert_eq!(
        g.direction,
        [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    );
    assert_eq!(g.origin_mm, [-32.0, 40.0, -16.0]);
    let min = img
        .volume
        .data
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let max = img
        .volume
        .data
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    assert_eq!((min, max), (-610.0, 30393.0));
}

#[test]
fn big_endian_float_file_keeps_non_integer_origin() {
    // reoriented_anat_moved.nii: big-endian float32, 21×26×22, 4 mm, RAS, origin
    // (−35.298, −47.978, −27.599) mm RAS (MANIFEST; header srow as f32).
    let g = read_volume_f32(&data("nibabel/reoriented_anat_moved.nii"))
        .unwrap()
        .grid;
    assert_eq!(g.dims, [21, 26, 22]);
    assert_eq!(g.spacing_mm, [4.0; 3]);
    let srow_t = [
        -35.297_897_338_867_19,
        -47.977_584_838_867_19,
        -27.599_409_103_393_555,
    ];
    assert_close(
        g.origin_mm,
        [-srow_t[0], -srow_t[1], srow_t[2]],
        1e-9,
        "origin",
    );
}

#[test]
fn totalsegmentator_label_map_has_names_and_expected_counts() {
    // example_seg.nii.gz: 122×101×30, 3 mm, origin (−177.956, 11.319, 94.302) mm RAS; label
    // table in a Caret XML extension (1 spleen, 2 kidney_right, 3 kidney_left, 5 liver);
    // voxel counts liver 38,634, spleen 9,452, kidney_left 3,676, kidney_right 3,947
    // (MANIFEST "nifti/totalseg").
    let img = read_image(&data("totalseg/example_seg.nii.gz")).unwrap();
    let g = &img.volume.grid;
    assert_eq!(g.dims, [122, 101, 30]);
    assert_eq!(g.spacing_mm, [3.0; 3]);
    assert_close(g.origin_mm, [177.956, -11.319, 94.302], 1e-3, "origin");
    assert_eq!(img.label_names.len(), 117);
    for (key, name, count) in [
        (1, "spleen", 9452),
        (2, "kidney_right", 3947),
        (3, "kidney_left", 3676),
        (5, "liver", 38634),
    ] {
        assert_eq!(img.label_names[&key], name);
        let n = img.volume.data.iter().filter(|&&v| v == key as f32).count();
        assert_eq!(n, count, "{name}");
    }
}

#[test]
fn nifti2_file_is_refused_with_the_fix() {
    let e = read_image(&data("nibabel/example_nifti2.nii.gz")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("example_nifti2.nii.gz"), "{msg}");
    assert!(msg.contains("NIfTI-2"), "{msg}");
    assert_eq!(e.exit_code(), 8);
}

fn oblique_grid() -> Grid {
    // 20° about z, then the k axis flipped: a left-handed, oblique grid.
    let (s, c) = 20f64.to_radians().sin_cos();
    let mut g = Grid::new([7, 5, 3], [0.75, 1.25, 2.5], [-101.5, 33.25, -766.5]);
    g.direction = [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, -1.0]];
    g
}

fn ramp(grid: Grid) -> Volume<f32> {
    let data = (0..grid.n_voxels()).map(|i| i as f32 * 0.5 - 3.0).collect();
    Volume { grid, data }
}

#[test]
fn round_trip_keeps_oblique_affine_and_values_nii_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    let vol = ramp(oblique_grid());
    for name in ["dose.nii", "dose.nii.gz"] {
        let p = dir.path().join(name);
        write_volume_f32(&p, &vol, "voxdose test").unwrap();
        let back = read_image(&p).unwrap();
        assert_eq!(back.volume.data, vol.data, "{name}: values");
        assert_eq!(back.description, "voxdose test");
        let (a, b) = (&back.volume.grid, &vol.grid);
        assert_eq!(a.dims, b.dims);
        // The header stores f32: relative error ≤ 2⁻²⁴ ≈ 6e-8 of each value.
        assert_close(a.spacing_mm, b.spacing_mm, 1e-6, "spacing");
        assert_close(a.origin_mm, b.origin_mm, 1e-4, "origin");
        for axis in 0..3 {
            assert_close(a.direction[axis], b.direction[axis], 1e-6, "direction");
        }
        // Voxel (i, j, k) of the file lands on the same patient point.
        let p_in = b.voxel_to_patient([6.0, 4.0, 2.0]);
        assert_close(
            a.voxel_to_patient([6.0, 4.0, 2.0]),
            p_in,
            1e-4,
            "corner voxel",
        );
    }
    let gz = std::fs::read(dir.path().join("dose.nii.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], ".nii.gz must be gzip");
}

#[test]
fn qform_written_matches_sform_when_only_qform_is_read() {
    // Rewrite the header with sform_code 0 and check the qform alone gives the same grid.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.nii");
    let vol = ramp(oblique_grid());
    write_volume_f32(&p, &vol, "").unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    // sform_code is the i16 at byte 254 (NIfTI-1 header layout); our files are little-endian.
    bytes[254..256].copy_from_slice(&0i16.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let img = read_image(&p).unwrap();
    assert_eq!(img.affine_source, "qform");
    for axis in 0..3 {
        assert_close(
            img.volume.grid.direction[axis],
            vol.grid.direction[axis],
            1e-6,
            "qform direction",
        );
    }
    assert_close(
        img.volume.grid.origin_mm,
        vol.grid.origin_mm,
        1e-4,
        "qform origin",
    );
}

#[test]
fn four_d_file_with_two_volumes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("4d.nii");
    write_volume_f32(&p, &ramp(Grid::new([2, 2, 2], [1.0; 3], [0.0; 3])), "").unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    // dim[0] = 4 and dim[4] = 2 (i16 at bytes 40 and 48), halving dim[3] keeps the data size.
    bytes[40..42].copy_from_slice(&4i16.to_le_bytes());
    bytes[46..48].copy_from_slice(&1i16.to_le_bytes());
    bytes[48..50].copy_from_slice(&2i16.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    let e = read_image(&p).unwrap_err();
    assert!(e.to_string().contains("2 volumes"), "{e}");
    assert_eq!(e.exit_code(), 9);
}

#[test]
fn truncated_nifti_is_malformed_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.nii");
    write_volume_f32(&p, &ramp(Grid::new([8, 8, 8], [1.0; 3], [0.0; 3])), "").unwrap();
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_image(&p).unwrap_err();
    assert!(e.to_string().contains("cut.nii"), "{e}");
    assert_eq!(e.exit_code(), 8);
}

#[test]
fn writing_over_an_existing_file_never_leaves_a_half_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dose.nii.gz");
    let vol = ramp(Grid::new([4, 4, 4], [1.0; 3], [0.0; 3]));
    write_volume_f32(&p, &vol, "first").unwrap();
    // A volume whose data do not match its grid fails before anything is written.
    let bad = Volume {
        grid: vol.grid.clone(),
        data: vec![1.0; 3],
    };
    assert!(write_volume_f32(&p, &bad, "second").is_err());
    assert_eq!(read_image(&p).unwrap().description, "first");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
