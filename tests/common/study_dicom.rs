//! Small DICOM inputs written from volumes, for study tests: an NM multi-frame SPECT (Units
//! BQML or counts, with radiopharmaceutical times and camera tags) and an RT Structure Set
//! of axis-aligned boxes. Included with `#[path = "common/study_dicom.rs"] mod study_dicom;`.
#![allow(
    dead_code,
    reason = "each test crate that includes this module uses part of it"
)]

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::path::Path;
use voxdose::geometry::{Grid, Volume};

/// NM Image Storage.
const NM_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.20";
/// RT Structure Set Storage.
const RTSTRUCT_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.481.3";
/// The frame of reference of the series written here unless told otherwise.
pub const FRAME_UID: &str = "2.25.3141592653589793238462643383279";

/// How an NM series is written.
#[derive(Clone, Debug)]
pub struct NmOptions {
    /// (0054,1001) Units; `None` leaves it out (counts).
    pub units: Option<&'static str>,
    /// (0054,1102) DecayCorrection.
    pub decay_correction: &'static str,
    /// Injection date-time (DICOM DT), in the radiopharmaceutical sequence.
    pub injection: Option<String>,
    /// Acquisition date-time (DICOM DT).
    pub acquisition: Option<String>,
    /// (0018,1050) SpatialResolution, mm.
    pub spatial_resolution_mm: Option<f64>,
    /// (0018,1180) CollimatorGridName.
    pub collimator: Option<&'static str>,
    /// (0020,0052) FrameOfReferenceUID.
    pub frame_uid: String,
    /// (0020,000E) SeriesInstanceUID.
    pub series_uid: String,
}

impl Default for NmOptions {
    fn default() -> Self {
        NmOptions {
            units: Some("BQML"),
            decay_correction: "START",
            injection: None,
            acquisition: None,
            spatial_resolution_mm: None,
            collimator: None,
            frame_uid: FRAME_UID.into(),
            series_uid: "2.25.1".into(),
        }
    }
}

/// DICOM DT of 2026-01-05 08:00:00 plus `hours` (whole seconds).
pub fn dt_after(hours: f64) -> String {
    let t0 = voxdose::io::activity::parse_dicom_datetime("20260105080000").unwrap();
    let iso = voxdose::io::activity::iso(t0 + (hours * 3600.0).round());
    iso.replace(['-', ':', 'T'], "")
}

fn put(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    o.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(v.to_string()),
    ));
}

fn us(o: &mut InMemDicomObject, tag: Tag, v: u16) {
    o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
}

fn seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn write(path: &Path, obj: InMemDicomObject, sop_class: &str, sop_uid: &str) {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_uid)
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .build()
        .unwrap();
    obj.with_exact_meta(meta).write_to_file(path).unwrap();
}

/// A decimal power-of-ten step for 16-bit storage of values up to `max` (exact in text).
fn slope_for(max: f64) -> f64 {
    if max <= 0.0 {
        1.0
    } else {
        10f64.powf((max / 60000.0).log10().ceil())
    }
}

/// Writes `vol` (an axis-aligned grid, values ≥ 0) as one NM multi-frame file and returns
/// the values a reader gets back (stored × RescaleSlope, as f32).
pub fn write_nm(path: &Path, vol: &Volume<f32>, o: &NmOptions) -> Volume<f32> {
    let g = &vol.grid;
    let max = vol.data.iter().copied().fold(0.0f32, f32::max) as f64;
    let slope = slope_for(max);
    let stored: Vec<u16> = vol
        .data
        .iter()
        .map(|&v| (v as f64 / slope).round().clamp(0.0, 65535.0) as u16)
        .collect();
    let mut obj = InMemDicomObject::new_empty();
    let sop_uid = format!("{}.1", o.series_uid);
    put(&mut obj, tags::SOP_CLASS_UID, VR::UI, NM_STORAGE);
    put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
    put(&mut obj, tags::MODALITY, VR::CS, "NM");
    put(&mut obj, tags::PATIENT_ID, VR::LO, "study-dicom-test");
    put(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, "2.25.7");
    put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, &o.series_uid);
    put(&mut obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, &o.frame_uid);
    if let Some(a) = &o.acquisition {
        put(&mut obj, tags::ACQUISITION_DATE_TIME, VR::DT, a);
    }
    put(&mut obj, tags::DECAY_CORRECTION, VR::CS, o.decay_correction);
    if let Some(u) = o.units {
        put(&mut obj, tags::UNITS, VR::CS, u);
    }
    if let Some(r) = o.spatial_resolution_mm {
        put(&mut obj, tags::SPATIAL_RESOLUTION, VR::DS, &format!("{r}"));
    }
    if let Some(c) = o.collimator {
        put(&mut obj, tags::COLLIMATOR_GRID_NAME, VR::SH, c);
    }
    let mut radio = InMemDicomObject::new_empty();
    put(&mut radio, tags::RADIOPHARMACEUTICAL, VR::LO, "Lu-177 PSMA");
    put(&mut radio, tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "7400");
    if let Some(i) = &o.injection {
        put(
            &mut radio,
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            i,
        );
    }
    let mut code = InMemDicomObject::new_empty();
    put(&mut code, tags::CODE_MEANING, VR::LO, "^177^Lutetium");
    seq(&mut radio, tags::RADIONUCLIDE_CODE_SEQUENCE, vec![code]);
    seq(
        &mut obj,
        tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
        vec![radio],
    );
    let ds = |v: f64| format!("{v}");
    let (d, s) = (g.direction, g.spacing_mm);
    put(
        &mut obj,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &g.origin_mm.map(ds).join("\\"),
    );
    put(
        &mut obj,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        &[d[0][0], d[0][1], d[0][2], d[1][0], d[1][1], d[1][2]]
            .map(ds)
            .join("\\"),
    );
    put(
        &mut obj,
        tags::PIXEL_SPACING,
        VR::DS,
        &format!("{}\\{}", ds(s[1]), ds(s[0])),
    );
    put(&mut obj, tags::SLICE_THICKNESS, VR::DS, &ds(s[2]));
    put(&mut obj, tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(s[2]));
    put(
        &mut obj,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &g.dims[2].to_string(),
    );
    us(&mut obj, tags::ROWS, g.dims[1] as u16);
    us(&mut obj, tags::COLUMNS, g.dims[0] as u16);
    us(&mut obj, tags::SAMPLES_PER_PIXEL, 1);
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    us(&mut obj, tags::BITS_ALLOCATED, 16);
    us(&mut obj, tags::BITS_STORED, 16);
    us(&mut obj, tags::HIGH_BIT, 15);
    us(&mut obj, tags::PIXEL_REPRESENTATION, 0);
    put(&mut obj, tags::RESCALE_SLOPE, VR::DS, &ds(slope));
    put(&mut obj, tags::RESCALE_INTERCEPT, VR::DS, "0");
    let bytes: Vec<u8> = stored.iter().flat_map(|v| v.to_le_bytes()).collect();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(bytes),
    ));
    write(path, obj, NM_STORAGE, &sop_uid);
    Volume {
        grid: g.clone(),
        data: stored.iter().map(|&v| (slope * v as f64) as f32).collect(),
    }
}

/// One ROI: its number, name and the voxel box [lo, hi) (i, j, k) it outlines.
pub struct BoxRoi {
    pub number: i64,
    pub name: &'static str,
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

/// Writes an RT Structure Set whose ROIs are rectangles half a voxel outside each box's
/// outer voxel centres, one contour per slice of the box (an axis-aligned `grid`).
pub fn write_rtstruct(path: &Path, grid: &Grid, rois: &[BoxRoi], frame_uid: &str) {
    let mut obj = InMemDicomObject::new_empty();
    put(&mut obj, tags::SOP_CLASS_UID, VR::UI, RTSTRUCT_STORAGE);
    put(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, "2.25.99.1");
    put(&mut obj, tags::MODALITY, VR::CS, "RTSTRUCT");
    put(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, "2.25.99");
    put(&mut obj, tags::STRUCTURE_SET_LABEL, VR::SH, "test");
    let mut set_rois = Vec::new();
    let mut contours = Vec::new();
    for r in rois {
        let mut item = InMemDicomObject::new_empty();
        put(&mut item, tags::ROI_NUMBER, VR::IS, &r.number.to_string());
        put(&mut item, tags::ROI_NAME, VR::LO, r.name);
        put(
            &mut item,
            tags::REFERENCED_FRAME_OF_REFERENCE_UID,
            VR::UI,
            frame_uid,
        );
        set_rois.push(item);
        let corner = |i: f64, j: f64, k: f64| grid.voxel_to_patient([i, j, k]);
        let mut planes = Vec::new();
        for k in r.lo[2]..r.hi[2] {
            let (i0, i1) = (r.lo[0] as f64 - 0.5, r.hi[0] as f64 - 0.5);
            let (j0, j1) = (r.lo[1] as f64 - 0.5, r.hi[1] as f64 - 0.5);
            let k = k as f64;
            let pts: Vec<String> = [
                corner(i0, j0, k),
                corner(i1, j0, k),
                corner(i1, j1, k),
                corner(i0, j1, k),
            ]
            .iter()
            .flat_map(|p| p.map(|x| format!("{x}")))
            .collect();
            let mut c = InMemDicomObject::new_empty();
            put(
                &mut c,
                tags::CONTOUR_GEOMETRIC_TYPE,
                VR::CS,
                "CLOSED_PLANAR",
            );
            put(&mut c, tags::NUMBER_OF_CONTOUR_POINTS, VR::IS, "4");
            put(&mut c, tags::CONTOUR_DATA, VR::DS, &pts.join("\\"));
            planes.push(c);
        }
        let mut rc = InMemDicomObject::new_empty();
        put(
            &mut rc,
            tags::REFERENCED_ROI_NUMBER,
            VR::IS,
            &r.number.to_string(),
        );
        seq(&mut rc, tags::CONTOUR_SEQUENCE, planes);
        contours.push(rc);
    }
    seq(&mut obj, tags::STRUCTURE_SET_ROI_SEQUENCE, set_rois);
    seq(&mut obj, tags::ROI_CONTOUR_SEQUENCE, contours);
    write(path, obj, RTSTRUCT_STORAGE, "2.25.99.1");
}
