//! Patient inputs: PET/NM quantitation and provenance, RTSTRUCT masks, a NIfTI patient run
//! end to end, and the catalogue of bad inputs (each with its own exit code and a message
//! naming the file, the tag and the fix). Bad files are made from good ones in a temp dir.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use std::path::{Path, PathBuf};
use voxdose::geometry::{Grid, Volume};
use voxdose::io::activity::{read_activity, ActivityOptions};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

const PET: &str = "dicom/sts002_ct_pet_rtstruct/PET";
/// PET: SUV bw with PatientWeight 99 kg and RadionuclideTotalDose 433,344,096 Bq, decay
/// corrected to ADMIN (MANIFEST "sts002"), so Bq/mL = SUV × 433344096 / 99000.
const BQ_ML_PER_SUV: f64 = 433_344_096.0 / 99_000.0;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn edit_all(dir: &Path, f: impl Fn(&mut dicom_object::DefaultDicomObject)) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut o = dicom_object::open_file(&p).unwrap();
        f(&mut o);
        o.write_to_file(&p).unwrap();
    }
}

fn put_str(o: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, v: &str) {
    o.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(v.to_string()),
    ));
}

fn max(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

#[test]
fn pet_in_suv_yields_bq_per_ml_with_provenance() {
    let img = read_activity(&data(PET), &ActivityOptions::default()).unwrap();
    let p = &img.provenance;
    // MANIFEST: values after rescale 0 to 21.7 SUV (3 significant digits: ±0.05).
    let m = max(&img.concentration_bq_ml.data) as f64;
    assert!(
        (m / BQ_ML_PER_SUV - 21.7).abs() <= 0.05,
        "max {m} Bq/mL = {} SUV",
        m / BQ_ML_PER_SUV
    );
    assert_eq!(p.units_in_file, "GML");
    assert_eq!(p.nuclide_in_file.as_deref(), Some("F-18"));
    assert_eq!(p.injected_activity_bq, Some(433_344_096.0));
    assert_eq!(p.half_life_s, Some(6588.0));
    assert_eq!(p.decay_correction.as_deref(), Some("ADMIN"));
    // Injection 13:51:00, acquisition 14:57:59 on 2006-01-28 (the DT tag says the 29th:
    // an anonymisation shift that is reported as a warning).
    let h = p.scan_hours_after_injection.unwrap();
    assert!((h - (66.0 * 60.0 + 59.0) / 3600.0).abs() < 1e-9, "{h}");
    assert!(p
        .warnings
        .iter()
        .any(|w| w.contains("RadiopharmaceuticalStartDateTime")));
    assert_eq!(img.concentration_bq_ml.grid.dims, [30, 27, 48]);
}

/// The PET series turned into NM SPECT in Bq/mL: Modality NM, NM Image Storage, no Units, a
/// Real World Value Mapping in UCUM "Bq/ml" and the total dose in MBq.
fn pet_as_nm(dir: &Path, units: &str) {
    copy_dir(&data(PET), dir);
    edit_all(dir, |o| {
        let slope = o
            .element(tags::RESCALE_SLOPE)
            .unwrap()
            .to_float64()
            .unwrap();
        put_str(o, tags::MODALITY, VR::CS, "NM");
        put_str(o, tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.20");
        o.meta_mut().media_storage_sop_class_uid = "1.2.840.10008.5.1.4.1.1.20".into();
        o.meta_mut().update_information_group_length();
        o.remove_element(tags::UNITS);
        let mut code = InMemDicomObject::new_empty();
        put_str(&mut code, tags::CODE_VALUE, VR::SH, units);
        put_str(&mut code, tags::CODING_SCHEME_DESIGNATOR, VR::SH, "UCUM");
        put_str(&mut code, tags::CODE_MEANING, VR::LO, units);
        let mut rwv = InMemDicomObject::new_empty();
        put_str(
            &mut rwv,
            tags::REAL_WORLD_VALUE_SLOPE,
            VR::FD,
            &format!("{}", slope * BQ_ML_PER_SUV),
        );
        rwv.put(DataElement::new(
            tags::REAL_WORLD_VALUE_SLOPE,
            VR::FD,
            PrimitiveValue::from(slope * BQ_ML_PER_SUV),
        ));
        rwv.put(DataElement::new(
            tags::REAL_WORLD_VALUE_INTERCEPT,
            VR::FD,
            PrimitiveValue::from(0.0f64),
        ));
        rwv.put(DataElement::new(
            tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![code]),
        ));
        o.put(DataElement::new(
            tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![rwv]),
        ));
        let mut radio = o
            .element(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0]
            .clone();
        put_str(
            &mut radio,
            tags::RADIONUCLIDE_TOTAL_DOSE,
            VR::DS,
            "433.344096",
        );
        o.put(DataElement::new(
            tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![radio]),
        ));
    });
}

#[test]
fn nm_spect_with_real_world_mapping_in_bq_per_ml_matches_the_pet() {
    let dir = tempfile::tempdir().unwrap();
    pet_as_nm(dir.path(), "Bq/ml");
    let nm = read_activity(dir.path(), &ActivityOptions::default()).unwrap();
    let pet = read_activity(&data(PET), &ActivityOptions::default()).unwrap();
    assert_eq!(nm.provenance.modality, "NM");
    // NM RadionuclideTotalDose is in MBq: 433.344096 MBq = 433,344,096 Bq.
    assert!((nm.provenance.injected_activity_bq.unwrap() - 433_344_096.0).abs() < 1e-3);
    for (a, b) in nm
        .concentration_bq_ml
        .data
        .iter()
        .zip(&pet.concentration_bq_ml.data)
    {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
    }
    // kBq/ml scales by 1000.
    let dir2 = tempfile::tempdir().unwrap();
    pet_as_nm(dir2.path(), "kBq/ml");
    let k = read_activity(dir2.path(), &ActivityOptions::default()).unwrap();
    assert!(
        (max(&k.concentration_bq_ml.data) / max(&nm.concentration_bq_ml.data) - 1000.0).abs()
            < 1e-2
    );
}

#[test]
fn nm_multiframe_spect_is_placed_by_detector_information_and_spacing() {
    // All 48 PET slices as one NM multi-frame file: DetectorInformationSequence carries the
    // first frame's position and the orientation; SpacingBetweenSlices the step.
    let pet = voxdose::io::series::read_series(&data(PET)).unwrap();
    let first = dicom_object::open_file(&pet.slices[0].file).unwrap();
    let mut o = first.clone();
    let step = pet.grid.spacing_mm[2];
    let mut det = InMemDicomObject::new_empty();
    for t in [
        tags::IMAGE_POSITION_PATIENT,
        tags::IMAGE_ORIENTATION_PATIENT,
    ] {
        det.put(first.element(t).unwrap().clone());
        o.remove_element(t);
    }
    o.put(DataElement::new(
        tags::DETECTOR_INFORMATION_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![det]),
    ));
    put_str(&mut o, tags::MODALITY, VR::CS, "NM");
    put_str(
        &mut o,
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.20",
    );
    o.meta_mut().media_storage_sop_class_uid = "1.2.840.10008.5.1.4.1.1.20".into();
    o.meta_mut().update_information_group_length();
    put_str(&mut o, tags::NUMBER_OF_FRAMES, VR::IS, "48");
    put_str(
        &mut o,
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        &format!("{step:.6}"),
    );
    put_str(&mut o, tags::UNITS, VR::CS, "BQML");
    let pixels: Vec<u8> = pet
        .slices
        .iter()
        .flat_map(|s| s.stored.iter().flat_map(|&v| (v as i16).to_le_bytes()))
        .collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(pixels),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nm_multiframe.dcm");
    o.write_to_file(&path).unwrap();
    let nm = read_activity(&path, &ActivityOptions::default()).unwrap();
    assert_eq!(nm.concentration_bq_ml.grid.dims, pet.grid.dims);
    let g = &nm.concentration_bq_ml.grid;
    let last = g.voxel_to_patient([0.0, 0.0, 47.0]);
    let pet_last = pet.grid.voxel_to_patient([0.0, 0.0, 47.0]);
    assert!(
        (last[2] - pet_last[2]).abs() < 0.05,
        "{last:?} vs {pet_last:?}"
    );
    // BQML with the first file's one RescaleSlope for every frame.
    let slope = pet.slices[0].rescale.unwrap().slope as f32;
    let k = 30;
    let n = 30 * 27;
    for i in 0..n {
        let want = pet.slices[k].stored[i] * slope;
        assert!(
            (nm.concentration_bq_ml.data[k * n + i] - want).abs() <= 1e-5 * want.abs().max(1e-3)
        );
    }
}

#[test]
fn rtstruct_gtv_volume_matches_contour_areas_times_plane_spacing() {
    // RS_PET.dcm: one ROI GTV_Mass_PET, 16 closed planar contours on z −576.72 … −527.67
    // (MANIFEST). Reference volume: Σ polygon area × plane gap (each plane stands for one gap);
    // the rasterised volume may differ by the boundary band: Σ perimeter × half a voxel
    // diagonal × gap.
    let ss = voxdose::io::rtstruct::read_rtstruct(&data("dicom/sts002_ct_pet_rtstruct/RS_PET.dcm"))
        .unwrap();
    assert_eq!(ss.structures.len(), 1);
    let s = &ss.structures[0];
    assert_eq!(s.name, "GTV_Mass_PET");
    assert_eq!(s.contours.len(), 16);
    let mut zs: Vec<f64> = s.contours.iter().map(|c| c[0][2]).collect();
    zs.sort_by(f64::total_cmp);
    zs.dedup_by(|a, b| (*a - *b).abs() < 0.01);
    let gap = (zs[zs.len() - 1] - zs[0]) / (zs.len() - 1) as f64;
    let area: f64 = s
        .contours
        .iter()
        .map(|c| voxdose::io::rtstruct::polygon_area_mm2(c))
        .sum();
    let perimeter: f64 = s
        .contours
        .iter()
        .map(|c| {
            (0..c.len())
                .map(|i| {
                    let (a, b) = (c[i], c[(i + 1) % c.len()]);
                    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
                })
                .sum::<f64>()
        })
        .sum();
    let v_ref = area * gap;
    // A 0.5 mm grid, 6 voxel centres per plane slab, over the ROI's box.
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in s.contours.iter().flatten() {
        for a in 0..2 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    let dz = gap / 6.0;
    let dims = [
        ((hi[0] - lo[0]) / 0.5) as usize + 4,
        ((hi[1] - lo[1]) / 0.5) as usize + 4,
        6 * zs.len() + 4,
    ];
    let g = Grid::new(
        dims,
        [0.5, 0.5, dz],
        [lo[0] - 1.0, lo[1] - 1.0, zs[0] - 2.5 * dz - 2.0 * dz],
    );
    let (regions, _) = ss.regions_on(&g, "").unwrap();
    let v = regions[0].voxels.len() as f64 * g.voxel_volume_mm3();
    let band = perimeter * 0.5 * (0.5f64.hypot(0.5)) * gap;
    assert!(
        (v - v_ref).abs() <= band,
        "raster {v:.0} mm³ vs contours {v_ref:.0} mm³ (bound {band:.0})"
    );
    // On the PET's own 5.47 mm grid the volume stays close too (much coarser band).
    let pet = voxdose::io::series::read_series(&data(PET)).unwrap();
    let for_uid = pet.identity().frame_of_reference_uid;
    let (r, _) = ss.regions_on(&pet.grid, &for_uid).unwrap();
    let v_pet = r[0].voxels.len() as f64 * pet.grid.voxel_volume_mm3();
    let band_pet = perimeter * 0.5 * 5.46875 * std::f64::consts::SQRT_2 * gap;
    assert!(
        (v_pet - v_ref).abs() <= band_pet,
        "PET grid {v_pet:.0} vs {v_ref:.0} (bound {band_pet:.0})"
    );
}

// ---------- a patient run on NIfTI inputs ----------

fn nifti_patient(dir: &Path, shift_spect_mm: f64) -> (PathBuf, PathBuf, PathBuf) {
    // CT: 16³ voxels of 4 mm, water (0 HU) with a bone slab; oblique-free but off-origin.
    let mut g = Grid::new([16, 16, 16], [4.0, 4.0, 4.0], [-30.0, 12.5, -766.5]);
    g.direction = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let hu: Vec<f32> = (0..g.n_voxels())
        .map(|i| if g.ijk(i)[2] < 3 { 700.0 } else { 0.0 })
        .collect();
    let ct = dir.join("ct.nii.gz");
    voxdose::io::nifti::write_volume_f32(
        &ct,
        &Volume {
            grid: g.clone(),
            data: hu,
        },
        "HU",
    )
    .unwrap();
    // SPECT: 8³ voxels of 8 mm over the same box, a hot cube in the middle.
    let mut sg = Grid::new([8, 8, 8], [8.0; 3], [-28.0 + shift_spect_mm, 14.5, -764.5]);
    sg.direction = g.direction;
    let act: Vec<f32> = (0..sg.n_voxels())
        .map(|i| {
            let [x, y, z] = sg.ijk(i);
            if (3..5).contains(&x) && (3..5).contains(&y) && (3..5).contains(&z) {
                1.0e5
            } else {
                100.0
            }
        })
        .collect();
    let spect = dir.join("spect.nii.gz");
    voxdose::io::nifti::write_volume_f32(
        &spect,
        &Volume {
            grid: sg.clone(),
            data: act,
        },
        "Bq/mL",
    )
    .unwrap();
    // Labels on the CT grid: 1 = hot cube, 2 = the rest above the slab.
    let lab: Vec<f32> = (0..g.n_voxels())
        .map(|i| {
            let p = g.voxel_to_patient(g.ijk(i).map(|x| x as f64));
            let v = sg.patient_to_voxel(p);
            if (2.5..4.5).contains(&v[0])
                && (2.5..4.5).contains(&v[1])
                && (2.5..4.5).contains(&v[2])
            {
                1.0
            } else if g.ijk(i)[2] >= 3 {
                2.0
            } else {
                0.0
            }
        })
        .collect();
    let labels = dir.join("labels.nii.gz");
    voxdose::io::nifti::write_volume_f32(&labels, &Volume { grid: g, data: lab }, "labels")
        .unwrap();
    (ct, spect, labels)
}

fn run(args: &[&str]) -> voxdose::Result<()> {
    use clap::Parser;
    let mut v = vec!["voxdose", "run"];
    v.extend_from_slice(args);
    let cli = voxdose::cli::args::Cli::try_parse_from(v).unwrap();
    match cli.command {
        voxdose::cli::args::Command::Run(a) => voxdose::cli::commands::run::run(a),
        _ => unreachable!("parsed a run command"),
    }
}

#[test]
fn nifti_patient_run_writes_all_outputs_and_keeps_the_affine() {
    let dir = tempfile::tempdir().unwrap();
    let (ct, spect, labels) = nifti_patient(dir.path(), 0.0);
    let out = dir.path().join("out");
    let s = |p: &Path| p.to_string_lossy().to_string();
    run(&[
        "--ct",
        &s(&ct),
        "--spect",
        &s(&spect),
        "--labels",
        &s(&labels),
        "--nuclide",
        "Lu-177",
        "--decays",
        "20000",
        "--batches",
        "4",
        "--device",
        "cpu",
        "--tia-from-single-scan",
        "hanscheid",
        "--scan-hours",
        "24",
        "--out",
        &s(&out),
        "--quiet",
    ])
    .unwrap();
    for f in voxdose::run::PATIENT_OUTPUTS {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let ct_grid = voxdose::io::nifti::read_volume_f32(&ct).unwrap().grid;
    let dose = voxdose::io::nifti::read_image(&out.join("dose.nii.gz")).unwrap();
    // The transport grid is the CT grid restricted to the overlap (here all of it).
    assert_eq!(dose.volume.grid, ct_grid);
    assert!(dose.description.contains("Gy"));
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("organ_table.json")).unwrap()).unwrap();
    let rows = table.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let hot = rows.iter().find(|r| r["region"] == "label_1").unwrap();
    let rest = rows.iter().find(|r| r["region"] == "label_2").unwrap();
    assert!(hot["mean_gy"].as_f64().unwrap() > 10.0 * rest["mean_gy"].as_f64().unwrap());
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("patient.json")).unwrap()).unwrap();
    assert_eq!(prov["tia"]["rule"], "hanscheid");
    // Where the time went: every stage, in the order they ran, the transport holding wall_s.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let stages = summary["stages_s"].as_object().unwrap();
    let names: Vec<&str> = stages.keys().map(String::as_str).collect();
    let want = [
        "read_ct",
        "read_spect",
        "model",
        "source",
        "regions",
        "transport",
        "outputs",
    ];
    let mut sorted_want = want.to_vec();
    sorted_want.sort_unstable();
    let mut sorted_names = names.clone();
    sorted_names.sort_unstable();
    assert_eq!(sorted_names, sorted_want, "{stages:?}");
    assert!(stages.values().all(|t| t.as_f64().unwrap() >= 0.0));
    assert!(stages["transport"].as_f64().unwrap() >= summary["wall_s"].as_f64().unwrap());
    // A second run into the same folder is refused and leaves the outputs alone.
    let before = std::fs::read(out.join("dose.nii.gz")).unwrap();
    let e = run(&[
        "--ct",
        &s(&ct),
        "--spect",
        &s(&spect),
        "--decays",
        "1000",
        "--device",
        "cpu",
        "--out",
        &s(&out),
        "--quiet",
    ])
    .unwrap_err();
    assert_eq!(e.exit_code(), 5, "{e}");
    assert!(e.to_string().contains("--force"), "{e}");
    assert_eq!(std::fs::read(out.join("dose.nii.gz")).unwrap(), before);
}

// ---------- the catalogue of bad inputs ----------

fn code_and_message(e: impl Into<voxdose::Error>) -> (i32, String) {
    let e = e.into();
    (e.exit_code(), e.to_string())
}

fn expect(r: Result<impl std::fmt::Debug, impl Into<voxdose::Error>>, code: i32, needles: &[&str]) {
    let (c, msg) = code_and_message(r.expect_err("must fail"));
    assert_eq!(c, code, "{msg}");
    for n in needles {
        assert!(msg.contains(n), "'{n}' not in: {msg}");
    }
}

fn ct3(dir: &Path) {
    for f in ["IMG0001.dcm", "IMG0002.dcm", "IMG0003.dcm"] {
        std::fs::copy(data(&format!("dicom/ct3_dcmqi/{f}")), dir.join(f)).unwrap();
    }
}

#[test]
fn bad_truncated_dicom_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.dcm");
    let bytes = std::fs::read(data("dicom/compressed_wg04/CT1_UNC.dcm")).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    expect(
        voxdose::io::ct::read_ct(&p),
        11,
        &["cut.dcm", "truncated", "copy the file again"],
    );
}

#[test]
fn bad_missing_pixel_data() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nopix.dcm");
    let mut o = dicom_object::open_file(data("dicom/ct3_dcmqi/IMG0001.dcm")).unwrap();
    o.remove_element(tags::PIXEL_DATA);
    o.write_to_file(&p).unwrap();
    expect(
        voxdose::io::ct::read_ct(&p),
        12,
        &["nopix.dcm", "(7FE0,0010) PixelData"],
    );
}

#[test]
fn bad_pet_without_units() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&data(PET), dir.path());
    edit_all(dir.path(), |o| {
        o.remove_element(tags::UNITS);
    });
    expect(
        read_activity(dir.path(), &ActivityOptions::default()),
        15,
        &["(0054,1001) Units", "--calibration-bq-ml-per-count"],
    );
    // …and accepted with a calibration factor, recorded in the provenance.
    let ok = read_activity(
        dir.path(),
        &ActivityOptions {
            calibration_bq_ml_per_count: Some(2.0),
        },
    )
    .unwrap();
    assert_eq!(ok.provenance.calibration_bq_ml_per_count, Some(2.0));
}

#[test]
fn bad_nm_activity_in_unexpected_units() {
    let dir = tempfile::tempdir().unwrap();
    pet_as_nm(dir.path(), "g/ml");
    expect(
        read_activity(dir.path(), &ActivityOptions::default()),
        16,
        &["(0040,08EA)", "g/ml", "Bq/ml"],
    );
}

#[test]
fn bad_ct_and_spect_that_do_not_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let (ct, spect, _) = nifti_patient(dir.path(), 500.0);
    let s = |p: &Path| p.to_string_lossy().to_string();
    let out = dir.path().join("out");
    expect(
        run(&[
            "--ct",
            &s(&ct),
            "--spect",
            &s(&spect),
            "--out",
            &s(&out),
            "--device",
            "cpu",
        ]),
        21,
        &["do not overlap", "ct.nii.gz", "spect.nii.gz"],
    );
}

#[test]
fn bad_rtstruct_in_another_frame_of_reference() {
    let ss = voxdose::io::rtstruct::read_rtstruct(&data("dicom/sts002_ct_pet_rtstruct/RS_PET.dcm"))
        .unwrap();
    let g = Grid::new([10, 10, 10], [1.0; 3], [0.0; 3]);
    expect(
        ss.regions_on(&g, "1.2.3.4"),
        22,
        &["RS_PET.dcm", "(3006,0024)", "1.2.3.4"],
    );
}

#[test]
fn bad_nan_voxels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ct_nan.nii.gz");
    let mut data = vec![0.0f32; 27];
    data[13] = f32::NAN;
    voxdose::io::nifti::write_volume_f32(
        &p,
        &Volume {
            grid: Grid::new([3, 3, 3], [1.0; 3], [0.0; 3]),
            data,
        },
        "",
    )
    .unwrap();
    expect(
        voxdose::io::ct::read_ct(&p),
        17,
        &["ct_nan.nii.gz", "NaN", "[1, 1, 1]"],
    );
}

#[test]
fn bad_duplicate_slice_positions() {
    let dir = tempfile::tempdir().unwrap();
    ct3(dir.path());
    let mut o = dicom_object::open_file(dir.path().join("IMG0002.dcm")).unwrap();
    put_str(
        &mut o,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.8.498.77",
    );
    o.write_to_file(dir.path().join("IMG0002_copy.dcm"))
        .unwrap();
    expect(
        voxdose::io::ct::read_ct(dir.path()),
        18,
        &["IMG0002", "(0020,0032)", "duplicate"],
    );
}

#[test]
fn bad_uneven_slice_spacing() {
    let dir = tempfile::tempdir().unwrap();
    ct3(dir.path());
    let mut o = dicom_object::open_file(dir.path().join("IMG0003.dcm")).unwrap();
    let ipp = o
        .element(tags::IMAGE_POSITION_PATIENT)
        .unwrap()
        .to_multi_float64()
        .unwrap();
    put_str(
        &mut o,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &format!("{}\\{}\\{}", ipp[0], ipp[1], ipp[2] + 5.0),
    );
    put_str(
        &mut o,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        "1.2.826.0.1.3680043.8.498.78",
    );
    o.write_to_file(dir.path().join("IMG0004.dcm")).unwrap();
    expect(
        voxdose::io::ct::read_ct(dir.path()),
        19,
        &["uneven", "2.500, 2.500, 5.000"],
    );
}

#[test]
fn bad_pet_given_as_ct() {
    expect(
        voxdose::io::ct::read_ct(&data(PET)),
        23,
        &["--ct expects a CT", "'PT'"],
    );
}

#[test]
fn bad_folder_without_dicom() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    expect(
        voxdose::io::ct::read_ct(dir.path()),
        24,
        &["no DICOM image"],
    );
}

#[test]
fn bad_scan_time_before_injection() {
    let dir = tempfile::tempdir().unwrap();
    let (ct, spect, _) = nifti_patient(dir.path(), 0.0);
    let s = |p: &Path| p.to_string_lossy().to_string();
    let out = dir.path().join("out");
    expect(
        run(&[
            "--ct",
            &s(&ct),
            "--spect",
            &s(&spect),
            "--tia-from-single-scan",
            "hanscheid",
            "--scan-hours=-3",
            "--out",
            &s(&out),
            "--device",
            "cpu",
        ]),
        25,
        &["-3.00 h", "--scan-hours"],
    );
}

#[test]
fn bad_label_map_that_is_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("labels.nii.gz");
    let g = Grid::new([3, 3, 3], [1.0; 3], [0.0; 3]);
    voxdose::io::nifti::write_volume_f32(
        &p,
        &Volume {
            grid: g.clone(),
            data: vec![0.5; 27],
        },
        "",
    )
    .unwrap();
    expect(
        voxdose::io::masks::regions_from_labels(&p, &g),
        26,
        &["labels.nii.gz", "0.5", "label map"],
    );
}

#[test]
fn bad_negative_activity() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("spect.nii.gz");
    let mut data = vec![100.0f32; 27];
    data[0] = -50.0;
    voxdose::io::nifti::write_volume_f32(
        &p,
        &Volume {
            grid: Grid::new([3, 3, 3], [1.0; 3], [0.0; 3]),
            data,
        },
        "",
    )
    .unwrap();
    expect(
        read_activity(&p, &ActivityOptions::default()),
        27,
        &["spect.nii.gz", "negative", "-50"],
    );
}

#[test]
fn bad_secondary_capture_nm_has_no_geometry() {
    // MANIFEST: NM1 is a Secondary Capture with no ImagePositionPatient — not quantitative.
    expect(
        read_activity(
            &data("dicom/compressed_wg04/NM1_UNC.dcm"),
            &ActivityOptions::default(),
        ),
        12,
        &["NM1_UNC.dcm", "(0020,0032) ImagePositionPatient"],
    );
}

#[test]
fn inspect_reports_geometry_units_nuclide_and_times_of_the_pet() {
    let text = voxdose::cli::commands::inspect::describe(&data(PET)).unwrap();
    for needle in [
        "PT series, 48 slice(s)",
        "dims (i, j, k): [30, 27, 48]",
        "GML",
        "F-18",
        "433344096",
        "ADMIN",
    ] {
        assert!(text.contains(needle), "'{needle}' not in:\n{text}");
    }
    let nifti =
        voxdose::cli::commands::inspect::describe(&data("nifti/totalseg/example_seg.nii.gz"))
            .unwrap();
    assert!(nifti.contains("label table: 117 names"), "{nifti}");
}
