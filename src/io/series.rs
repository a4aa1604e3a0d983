//! An image series (a folder of single-frame files, one multi-frame file, or a mix) → one
//! grid in patient LPS (mm) with the stored values of each slice, sorted along the normal.
//!
//! Slices are placed by ImagePositionPatient (0020,0032) and ImageOrientationPatient
//! (0020,0037), never by file name or InstanceNumber: the k axis is the slice normal
//! n = row × column direction, slices are sorted by ⟨IPP, n⟩ and the k spacing is the
//! distance between consecutive positions (SliceThickness is only used for a single slice,
//! since overlapping reconstructions have thickness > spacing). Duplicate positions and
//! uneven gaps are refused; slices shifted in-plane (gantry tilt) are refused.
//!
//! Frame geometry comes from, in order: per-frame functional groups (enhanced CT/PT/MR),
//! shared functional groups, the NM Detector Information Sequence with SpacingBetweenSlices
//! (NM tomographic multi-frame), and top-level tags (classic single-frame images).
//!
//! Value mapping (HU, Bq/mL) is left to [`crate::io::ct`] and [`crate::io::activity`]; this
//! module records per slice the rescale and real-world value mapping it found.

use crate::geometry::Grid;
use crate::io::dicom::{self, first_item, items, opt_f64, opt_f64s, opt_str, DicomFile};
use crate::io::InputError;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use glam::DVec3;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Linear stored → value mapping (RescaleSlope/Intercept or a real-world value mapping).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearMap {
    /// Multiplier.
    pub slope: f64,
    /// Offset.
    pub intercept: f64,
}

/// One real-world value mapping (0040,9096) item: a linear map and its units code.
#[derive(Clone, Debug, PartialEq)]
pub struct RealWorldMap {
    /// The map.
    pub map: LinearMap,
    /// MeasurementUnitsCodeSequence (0040,08EA) CodeValue, e.g. "Bq/ml" (UCUM).
    pub units: Option<String>,
}

/// A slice (one frame) of a series, before sorting.
#[derive(Clone, Debug)]
pub struct Slice {
    /// The file it came from.
    pub file: PathBuf,
    /// Frame number inside the file (0 for single-frame files).
    pub frame: u32,
    /// ImagePositionPatient of the frame's first pixel centre, mm (LPS).
    pub position_mm: [f64; 3],
    /// Row and column direction cosines (ImageOrientationPatient).
    pub orientation: [f64; 6],
    /// PixelSpacing: between rows, between columns (mm).
    pub pixel_spacing_mm: [f64; 2],
    /// Rows, columns.
    pub rows_cols: [usize; 2],
    /// Modality LUT rescale, when the file or frame gives one.
    pub rescale: Option<LinearMap>,
    /// Real-world value mapping, when given.
    pub real_world: Option<RealWorldMap>,
    /// SliceThickness (0018,0050) of the frame, mm, when given.
    pub thickness_mm: Option<f64>,
    /// Stored pixel values, rows × columns, row major.
    pub stored: Vec<f32>,
}

/// A sorted series on one grid.
#[derive(Clone, Debug)]
pub struct Series {
    /// The input path (folder or file).
    pub path: PathBuf,
    /// Grid in patient LPS.
    pub grid: Grid,
    /// Slices sorted along the normal (k = 0 first).
    pub slices: Vec<Slice>,
    /// The header of the first file (metadata: modality, units, radiopharmaceutical, …),
    /// without its pixel data.
    pub header: InMemDicomObject,
    /// The file the header came from.
    pub header_file: PathBuf,
    /// SOP class UID (from the data set, or the file meta when the data set's is empty).
    pub sop_class_uid: String,
    /// Modality (0008,0060).
    pub modality: String,
    /// Transfer syntax of the first file, "UID (name)".
    pub transfer_syntax: String,
    /// Things that were handled but are worth telling (overlapping slices, empty tags).
    pub warnings: Vec<String>,
}

/// Geometry tolerance: positions within this (mm) are the same position.
const SAME_POSITION_MM: f64 = 1e-3;

/// Reads a series from a folder (every DICOM image file in it, not recursive) or one file.
pub fn read_series(path: &Path) -> Result<Series, InputError> {
    let files = list_files(path)?;
    let opened: Vec<Result<(PathBuf, DicomFile), InputError>> = files
        .par_iter()
        .map(|f| dicom::open(f).map(|o| (f.clone(), o)))
        .collect();
    let mut objects = Vec::with_capacity(opened.len());
    let mut warnings = Vec::new();
    for r in opened {
        match r {
            Ok((f, o)) => {
                if o.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() {
                    objects.push((f, o));
                } else if path.is_file() {
                    return Err(dicom::missing(
                        &f,
                        tags::PIXEL_DATA,
                        "the file holds no image; pass an image series (CT, NM, PT)",
                    ));
                } else {
                    warnings.push(format!("{}: no PixelData, skipped", f.display()));
                }
            }
            // A folder may hold non-DICOM files (notes, DICOMDIR); a damaged DICOM file is
            // an error.
            Err(InputError::Malformed { path: f, reason })
                if !dicom::has_dicm_magic(&f) && path.is_dir() =>
            {
                warnings.push(format!("{}: {reason}; skipped", f.display()));
            }
            Err(e) => return Err(e),
        }
    }
    if objects.is_empty() {
        return Err(InputError::EmptySeries {
            path: path.to_path_buf(),
            detail: format!(
                "{} file(s) looked at, none with PixelData (7FE0,0010)",
                files.len()
            ),
        });
    }
    check_one_series(path, &objects)?;
    let (first_path, first) = &objects[0];
    let sop_class_uid = sop_class(first, &mut warnings, first_path);
    let modality = opt_str(first, tags::MODALITY).unwrap_or_default();
    let transfer_syntax = dicom::transfer_syntax_label(first);
    let mut header: InMemDicomObject = (**first).clone();
    header.remove_element(tags::PIXEL_DATA);
    let header_file = first_path.clone();
    let per_file: Vec<Result<Vec<Slice>, InputError>> =
        objects.par_iter().map(|(f, o)| slices_of(f, o)).collect();
    let mut slices = Vec::new();
    for r in per_file {
        slices.extend(r?);
    }
    drop(objects);
    let (grid, sorted, more) = assemble(path, slices)?;
    warnings.extend(more);
    Ok(Series {
        path: path.to_path_buf(),
        grid,
        slices: sorted,
        header,
        header_file,
        sop_class_uid,
        modality,
        transfer_syntax,
        warnings,
    })
}

/// The files of a series input: the file itself, or the folder's files in name order
/// (hidden files and DICOMDIR left out).
pub(crate) fn list_files(path: &Path) -> Result<Vec<PathBuf>, InputError> {
    let read_err = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            !name.starts_with('.') && name != "DICOMDIR"
        })
        .collect();
    files.sort();
    Ok(files)
}

fn sop_class(first: &DicomFile, warnings: &mut Vec<String>, path: &Path) -> String {
    match opt_str(first, tags::SOP_CLASS_UID) {
        Some(s) => s,
        None => {
            let meta = first
                .meta()
                .media_storage_sop_class_uid()
                .trim_end_matches('\0')
                .to_string();
            warnings.push(format!(
                "{}: (0008,0016) SOPClassUID is empty; using the file meta's MediaStorageSOPClassUID {meta}",
                path.display()
            ));
            meta
        }
    }
}

fn check_one_series(path: &Path, objects: &[(PathBuf, DicomFile)]) -> Result<(), InputError> {
    let uid_of = |o: &DicomFile| opt_str(o, tags::SERIES_INSTANCE_UID).unwrap_or_default();
    let first = uid_of(&objects[0].1);
    if let Some((f, o)) = objects.iter().find(|(_, o)| uid_of(o) != first) {
        return Err(InputError::MixedSeries {
            path: path.to_path_buf(),
            detail: format!(
                "{} has (0020,000E) SeriesInstanceUID {} but {} has {}",
                objects[0].0.display(),
                first,
                f.display(),
                uid_of(o)
            ),
        });
    }
    Ok(())
}

/// The slices (frames) of one file, with their geometry.
fn slices_of(path: &Path, file: &DicomFile) -> Result<Vec<Slice>, InputError> {
    let rows = opt_f64(file, tags::ROWS).ok_or_else(|| {
        dicom::missing(
            path,
            tags::ROWS,
            "the image header is incomplete: export it again",
        )
    })? as usize;
    let cols = opt_f64(file, tags::COLUMNS).ok_or_else(|| {
        dicom::missing(
            path,
            tags::COLUMNS,
            "the image header is incomplete: export it again",
        )
    })? as usize;
    let n_frames = opt_f64(file, tags::NUMBER_OF_FRAMES)
        .unwrap_or(1.0)
        .max(1.0) as usize;
    let geometry = frame_geometry(path, file, n_frames)?;
    let frames = dicom::decode_stored_frames(file, path)?;
    if frames.len() != n_frames || frames.iter().any(|f| f.len() != rows * cols) {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "decoded {} frame(s) of {} values, but (0028,0008) NumberOfFrames = {n_frames} and Rows × Columns = {rows} × {cols}; the pixel data do not match the header",
                frames.len(),
                frames.first().map_or(0, |f| f.len())
            ),
        });
    }
    Ok(frames
        .into_iter()
        .zip(geometry)
        .enumerate()
        .map(|(k, (stored, g))| Slice {
            file: path.to_path_buf(),
            frame: k as u32,
            position_mm: g.position_mm,
            orientation: g.orientation,
            pixel_spacing_mm: g.pixel_spacing_mm,
            rows_cols: [rows, cols],
            rescale: g.rescale,
            real_world: g.real_world,
            thickness_mm: g.thickness_mm,
            stored,
        })
        .collect())
}

struct FrameGeometry {
    position_mm: [f64; 3],
    orientation: [f64; 6],
    pixel_spacing_mm: [f64; 2],
    rescale: Option<LinearMap>,
    real_world: Option<RealWorldMap>,
    thickness_mm: Option<f64>,
}

const GEOMETRY_FIX: &str = "the image has no usable patient geometry; voxdose needs the position, orientation and pixel spacing of every slice (export from the scanner or PACS, not a screen capture)";

fn frame_geometry(
    path: &Path,
    file: &DicomFile,
    n_frames: usize,
) -> Result<Vec<FrameGeometry>, InputError> {
    let shared = first_item(file, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame = items(file, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let top_rescale = linear(file, tags::RESCALE_SLOPE, tags::RESCALE_INTERCEPT);
    let top_rwv = real_world(file);
    if shared.is_some() || !per_frame.is_empty() {
        // Enhanced multi-frame: look in the frame's groups, then the shared groups.
        let lookup = |k: usize, seq| -> Option<&InMemDicomObject> {
            per_frame
                .get(k)
                .and_then(|f| first_item(f, seq))
                .or_else(|| shared.and_then(|s| first_item(s, seq)))
        };
        return (0..n_frames)
            .map(|k| {
                let pos = lookup(k, tags::PLANE_POSITION_SEQUENCE)
                    .and_then(|s| opt_f64s(s, tags::IMAGE_POSITION_PATIENT))
                    .ok_or_else(|| dicom::missing(path, tags::IMAGE_POSITION_PATIENT, &format!("frame {k} has no Plane Position (0020,9113) item; {GEOMETRY_FIX}")))?;
                let ori = lookup(k, tags::PLANE_ORIENTATION_SEQUENCE)
                    .and_then(|s| opt_f64s(s, tags::IMAGE_ORIENTATION_PATIENT))
                    .ok_or_else(|| dicom::missing(path, tags::IMAGE_ORIENTATION_PATIENT, &format!("frame {k} has no Plane Orientation (0020,9116) item; {GEOMETRY_FIX}")))?;
                let sp = lookup(k, tags::PIXEL_MEASURES_SEQUENCE)
                    .and_then(|s| opt_f64s(s, tags::PIXEL_SPACING))
                    .ok_or_else(|| dicom::missing(path, tags::PIXEL_SPACING, &format!("frame {k} has no Pixel Measures (0028,9110) item; {GEOMETRY_FIX}")))?;
                let rescale = lookup(k, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
                    .and_then(|s| linear(s, tags::RESCALE_SLOPE, tags::RESCALE_INTERCEPT))
                    .or(top_rescale);
                let rwv = lookup(k, tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE)
                    .and_then(|_| {
                        per_frame.get(k).and_then(real_world).or_else(|| shared.and_then(real_world))
                    })
                    .or_else(|| top_rwv.clone());
                let thickness_mm = lookup(k, tags::PIXEL_MEASURES_SEQUENCE)
                    .and_then(|s| opt_f64(s, tags::SLICE_THICKNESS));
                Ok(FrameGeometry {
                    thickness_mm,
                    position_mm: vec3(path, tags::IMAGE_POSITION_PATIENT, &pos)?,
                    orientation: vec6(path, &ori)?,
                    pixel_spacing_mm: vec2(path, &sp)?,
                    rescale,
                    real_world: rwv,
                })
            })
            .collect();
    }
    let spacing = dicom::req_f64s(file, tags::PIXEL_SPACING, 2, path, GEOMETRY_FIX)?;
    let spacing = vec2(path, &spacing)?;
    let detector = first_item(file, tags::DETECTOR_INFORMATION_SEQUENCE);
    let source = |tag| opt_f64s(file, tag).or_else(|| detector.and_then(|d| opt_f64s(d, tag)));
    let ipp = source(tags::IMAGE_POSITION_PATIENT)
        .ok_or_else(|| dicom::missing(path, tags::IMAGE_POSITION_PATIENT, GEOMETRY_FIX))?;
    let iop = source(tags::IMAGE_ORIENTATION_PATIENT)
        .ok_or_else(|| dicom::missing(path, tags::IMAGE_ORIENTATION_PATIENT, GEOMETRY_FIX))?;
    let ipp = vec3(path, tags::IMAGE_POSITION_PATIENT, &ipp)?;
    let iop = vec6(path, &iop)?;
    let step_mm = if n_frames > 1 {
        // NM tomographic multi-frame: frames are planes stepping along the normal.
        opt_f64(file, tags::SPACING_BETWEEN_SLICES)
            .or_else(|| opt_f64(file, tags::SLICE_THICKNESS))
            .ok_or_else(|| {
                dicom::missing(
                    path,
                    tags::SPACING_BETWEEN_SLICES,
                    "a multi-frame image without functional groups needs the frame spacing",
                )
            })?
    } else {
        0.0
    };
    let n = DVec3::from(normal(&iop));
    let thickness_mm = opt_f64(file, tags::SLICE_THICKNESS);
    Ok((0..n_frames)
        .map(|k| FrameGeometry {
            thickness_mm,
            position_mm: (DVec3::from(ipp) + n * (k as f64 * step_mm)).into(),
            orientation: iop,
            pixel_spacing_mm: spacing,
            rescale: top_rescale,
            real_world: top_rwv.clone(),
        })
        .collect())
}

fn linear(
    obj: &InMemDicomObject,
    slope: dicom_core::Tag,
    intercept: dicom_core::Tag,
) -> Option<LinearMap> {
    let s = opt_f64(obj, slope);
    let i = opt_f64(obj, intercept);
    (s.is_some() || i.is_some()).then(|| LinearMap {
        slope: s.unwrap_or(1.0),
        intercept: i.unwrap_or(0.0),
    })
}

/// The first real-world value mapping item of `obj` (0040,9096).
fn real_world(obj: &InMemDicomObject) -> Option<RealWorldMap> {
    let item = first_item(obj, tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE)?;
    let map = linear(
        item,
        tags::REAL_WORLD_VALUE_SLOPE,
        tags::REAL_WORLD_VALUE_INTERCEPT,
    )?;
    let units = first_item(item, tags::MEASUREMENT_UNITS_CODE_SEQUENCE)
        .and_then(|c| opt_str(c, tags::CODE_VALUE));
    Some(RealWorldMap { map, units })
}

fn vec3(path: &Path, tag: dicom_core::Tag, v: &[f64]) -> Result<[f64; 3], InputError> {
    match v {
        [a, b, c] if v.iter().all(|x| x.is_finite()) => Ok([*a, *b, *c]),
        _ => Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "{} = {v:?} is not 3 finite numbers; the header is damaged",
                dicom::tag_name(tag)
            ),
        }),
    }
}

fn vec2(path: &Path, v: &[f64]) -> Result<[f64; 2], InputError> {
    match v {
        [a, b] if *a > 0.0 && *b > 0.0 && a.is_finite() && b.is_finite() => Ok([*a, *b]),
        _ => Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!("(0028,0030) PixelSpacing = {v:?} is not 2 positive numbers (mm); the header is damaged"),
        }),
    }
}

fn vec6(path: &Path, v: &[f64]) -> Result<[f64; 6], InputError> {
    let bad = |why: &str| InputError::Malformed {
        path: path.to_path_buf(),
        reason: format!("(0020,0037) ImageOrientationPatient = {v:?} {why}; the header is damaged"),
    };
    if v.len() != 6 || v.iter().any(|x| !x.is_finite()) {
        return Err(bad("is not 6 finite numbers"));
    }
    let (r, c) = row_and_column(&[v[0], v[1], v[2], v[3], v[4], v[5]]);
    let (r_len, c_len) = (r.length(), c.length());
    if (r_len - 1.0).abs() > 1e-3 || (c_len - 1.0).abs() > 1e-3 || r.dot(c).abs() > 1e-3 {
        return Err(bad("is not two orthogonal unit vectors"));
    }
    // Renormalise: values are often written with 6 digits. (Divided by the length, not
    // multiplied by its reciprocal as `DVec3::normalize` does: the grids' stored bits.)
    let (r, c) = (r / r_len, c / c_len);
    Ok([r.x, r.y, r.z, c.x, c.y, c.z])
}

/// The row direction (along i) and the column direction (along j) of an
/// ImageOrientationPatient (0020,0037).
fn row_and_column(iop: &[f64; 6]) -> (DVec3, DVec3) {
    (
        DVec3::new(iop[0], iop[1], iop[2]),
        DVec3::new(iop[3], iop[4], iop[5]),
    )
}

/// Slice normal n = row direction × column direction (as an array: other readers, e.g.
/// `io::rtdose_read`, place their grids with it).
pub fn normal(iop: &[f64; 6]) -> [f64; 3] {
    let (r, c) = row_and_column(iop);
    r.cross(c).into()
}

/// Checks all slices share a plane geometry, sorts them along the normal, builds the grid.
fn assemble(
    path: &Path,
    mut slices: Vec<Slice>,
) -> Result<(Grid, Vec<Slice>, Vec<String>), InputError> {
    let mut warnings = Vec::new();
    let first = slices[0].clone();
    for s in &slices {
        let same_ori = s
            .orientation
            .iter()
            .zip(first.orientation)
            .all(|(a, b)| (a - b).abs() < 1e-4);
        let same_sp = s
            .pixel_spacing_mm
            .iter()
            .zip(first.pixel_spacing_mm)
            .all(|(a, b)| (a - b).abs() < 1e-4);
        if !same_ori || !same_sp || s.rows_cols != first.rows_cols {
            return Err(InputError::MixedSeries {
                path: path.to_path_buf(),
                detail: format!(
                    "{} (frame {}) has orientation {:?}, spacing {:?} mm, size {:?} but {} has {:?}, {:?} mm, {:?}",
                    s.file.display(), s.frame, s.orientation, s.pixel_spacing_mm, s.rows_cols,
                    first.file.display(), first.orientation, first.pixel_spacing_mm, first.rows_cols
                ),
            });
        }
    }
    let n = DVec3::from(normal(&first.orientation));
    let t = |s: &Slice| DVec3::from(s.position_mm).dot(n);
    slices.sort_by(|a, b| t(a).total_cmp(&t(b)));
    for w in slices.windows(2) {
        if (t(&w[1]) - t(&w[0])).abs() < SAME_POSITION_MM {
            return Err(InputError::DuplicateSlices {
                path: path.to_path_buf(),
                first: w[0].file.clone(),
                second: w[1].file.clone(),
                position_mm: t(&w[0]),
            });
        }
    }
    let gaps: Vec<f64> = slices.windows(2).map(|w| t(&w[1]) - t(&w[0])).collect();
    let k_spacing = if gaps.is_empty() {
        single_slice_thickness(path, &slices[0])?
    } else {
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        // 1 % of a gap (plus 0.01 mm for rounding of IPP to 0.01 mm) is far below any voxel
        // but catches a missing slice (a gap of 2×).
        let tol = 0.01 * mean + 0.01;
        if gaps.iter().any(|g| (g - mean).abs() > tol) {
            let list: Vec<String> = gaps.iter().map(|g| format!("{g:.3}")).collect();
            return Err(InputError::UnevenSpacing {
                path: path.to_path_buf(),
                gaps: format!("[{}] mm", list.join(", ")),
            });
        }
        mean
    };
    // Every slice must sit on the line through the first one along n (no gantry tilt).
    let p0 = slices[0].position_mm;
    for s in &slices {
        let d = DVec3::from(s.position_mm) - DVec3::from(p0);
        let off = d - n * d.dot(n);
        if off.length() > 0.01 * first.pixel_spacing_mm[0].min(first.pixel_spacing_mm[1]) + 0.01 {
            return Err(InputError::Inconsistent {
                path: path.to_path_buf(),
                reason: format!(
                    "{} is shifted {:.3} mm in-plane from the first slice (ImagePositionPatient (0020,0032)): a tilted-gantry or sheared stack; resample it to an orthogonal grid first",
                    s.file.display(),
                    off.length()
                ),
            });
        }
    }
    if let Some(th) = slices[0].thickness_mm {
        if th > k_spacing * 1.01 {
            warnings.push(format!(
                "SliceThickness {th} mm exceeds the slice spacing {k_spacing:.3} mm (overlapping reconstruction): using the spacing from ImagePositionPatient"
            ));
        }
    }
    let [rows, cols] = first.rows_cols;
    let (row_dir, col_dir) = row_and_column(&first.orientation);
    let grid = Grid {
        dims: [cols, rows, slices.len()],
        // PixelSpacing is (between rows, between columns); i runs along a row (columns).
        spacing_mm: [
            first.pixel_spacing_mm[1],
            first.pixel_spacing_mm[0],
            k_spacing,
        ],
        origin_mm: p0,
        direction: [row_dir.to_array(), col_dir.to_array(), n.to_array()],
    };
    Ok((grid, slices, warnings))
}

fn single_slice_thickness(path: &Path, s: &Slice) -> Result<f64, InputError> {
    s.thickness_mm.filter(|t| *t > 0.0).ok_or_else(|| {
        dicom::missing(
            path,
            tags::SLICE_THICKNESS,
            "a single slice needs its thickness to become a 3-D grid",
        )
    })
}

/// Identifiers and descriptive tags of a series, for provenance and RT Dose references.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SeriesIdentity {
    /// StudyInstanceUID (0020,000D).
    pub study_instance_uid: String,
    /// SeriesInstanceUID (0020,000E).
    pub series_instance_uid: String,
    /// FrameOfReferenceUID (0020,0052).
    pub frame_of_reference_uid: String,
    /// Modality (0008,0060).
    pub modality: String,
    /// SOP class UID.
    pub sop_class_uid: String,
    /// SeriesDescription (0008,103E).
    pub series_description: String,
    /// PatientID (0010,0020).
    pub patient_id: String,
    /// PatientName (0010,0010).
    pub patient_name: String,
    /// StudyID (0020,0010).
    pub study_id: String,
    /// StudyDate (0008,0020).
    pub study_date: String,
    /// StudyTime (0008,0030).
    pub study_time: String,
    /// PatientBirthDate (0010,0030).
    pub patient_birth_date: String,
    /// PatientSex (0010,0040).
    pub patient_sex: String,
    /// ReferringPhysicianName (0008,0090).
    pub referring_physician_name: String,
    /// AccessionNumber (0008,0050).
    pub accession_number: String,
    /// Transfer syntax of the first file.
    pub transfer_syntax: String,
    /// Number of slices.
    pub slices: usize,
}

impl Series {
    /// The series' identifiers.
    pub fn identity(&self) -> SeriesIdentity {
        let s = |tag| opt_str(&self.header, tag).unwrap_or_default();
        SeriesIdentity {
            study_instance_uid: s(tags::STUDY_INSTANCE_UID),
            series_instance_uid: s(tags::SERIES_INSTANCE_UID),
            frame_of_reference_uid: s(tags::FRAME_OF_REFERENCE_UID),
            modality: self.modality.clone(),
            sop_class_uid: self.sop_class_uid.clone(),
            series_description: s(tags::SERIES_DESCRIPTION),
            patient_id: s(tags::PATIENT_ID),
            patient_name: s(tags::PATIENT_NAME),
            study_id: s(tags::STUDY_ID),
            study_date: s(tags::STUDY_DATE),
            study_time: s(tags::STUDY_TIME),
            patient_birth_date: s(tags::PATIENT_BIRTH_DATE),
            patient_sex: s(tags::PATIENT_SEX),
            referring_physician_name: s(tags::REFERRING_PHYSICIAN_NAME),
            accession_number: s(tags::ACCESSION_NUMBER),
            transfer_syntax: self.transfer_syntax.clone(),
            slices: self.slices.len(),
        }
    }

    /// Values of the whole grid (k-major), mapping each slice's stored values with `map`.
    pub fn values(&self, mut map: impl FnMut(&Slice) -> LinearMap) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.grid.n_voxels());
        for s in &self.slices {
            let m = map(s);
            out.extend(
                s.stored
                    .iter()
                    .map(|&v| (m.slope * v as f64 + m.intercept) as f32),
            );
        }
        out
    }

    /// Positions of the slices along the normal, mm (for provenance and tests).
    pub fn slice_positions_mm(&self) -> Vec<f64> {
        let n = DVec3::from(self.grid.direction[2]);
        self.slices
            .iter()
            .map(|s| DVec3::from(s.position_mm).dot(n))
            .collect()
    }
}
