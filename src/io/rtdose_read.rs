//! DICOM RT Dose input: one RT Dose Storage file (multi-frame) → dose values on a grid in
//! patient LPS (mm), with its units, dose type and the identifiers of its patient, study and
//! frame of reference.
//!
//! Geometry (PS3.3 C.8.8.3, RT Dose Module): frame k is the plane at ImagePositionPatient +
//! GridFrameOffsetVector\[k\] along the normal n = row × column of ImageOrientationPatient.
//! When the vector's first value is 0 the offsets are relative to the first frame; otherwise
//! they are absolute positions along n (allowed for axial frames), and we take differences
//! to the first. Offsets must be evenly spaced (a [`Grid`] has one k spacing); when they
//! decrease, the grid's k axis is −n and the frames keep their order.
//!
//! Values: stored pixel × DoseGridScaling (3004,000E), in DoseUnits (3004,0002): `GY` or
//! `RELATIVE` (the caller decides what it accepts).

use crate::geometry::{Grid, Volume};
use crate::io::dicom::{self, opt_f64, opt_f64s, opt_str};
use crate::io::series::SeriesIdentity;
use crate::io::InputError;
use dicom_dictionary_std::tags;
use std::path::Path;

/// An RT Dose as read.
#[derive(Clone, Debug)]
pub struct RtDose {
    /// Dose values (stored × DoseGridScaling) on the grid, in `units`.
    pub dose: Volume<f32>,
    /// DoseUnits (3004,0002): `GY` or `RELATIVE`.
    pub units: String,
    /// DoseType (3004,0004): `PHYSICAL`, `EFFECTIVE` or `ERROR`.
    pub dose_type: String,
    /// DoseSummationType (3004,000A), e.g. `PLAN`, `PLAN_OVERVIEW` (voxdose's).
    pub summation_type: String,
    /// DoseComment (3004,0006), empty when absent.
    pub comment: String,
    /// Patient, study and frame-of-reference identifiers (for outputs in the same frame).
    pub identity: SeriesIdentity,
}

/// Offsets within this (mm) count as evenly spaced.
const OFFSET_TOLERANCE_MM: f64 = 1e-3;

/// Reads one RT Dose file.
pub fn read_rt_dose(path: &Path) -> Result<RtDose, InputError> {
    let file = dicom::open(path)?;
    let modality = opt_str(&file, tags::MODALITY).unwrap_or_default();
    if modality != "RTDOSE" {
        return Err(InputError::WrongModality {
            path: path.to_path_buf(),
            detail: format!("(0008,0060) Modality is '{modality}', not RTDOSE; give an RT Dose file or a dose NIfTI"),
        });
    }
    let fix = "the RT Dose header is incomplete: export it again";
    let need = |tag, n| dicom::req_f64s(&file, tag, n, path, fix);
    let ipp = need(tags::IMAGE_POSITION_PATIENT, 3)?;
    let iop = need(tags::IMAGE_ORIENTATION_PATIENT, 6)?;
    let spacing = need(tags::PIXEL_SPACING, 2)?;
    let rows = opt_f64(&file, tags::ROWS).ok_or_else(|| dicom::missing(path, tags::ROWS, fix))?;
    let cols =
        opt_f64(&file, tags::COLUMNS).ok_or_else(|| dicom::missing(path, tags::COLUMNS, fix))?;
    let n_frames = opt_f64(&file, tags::NUMBER_OF_FRAMES)
        .unwrap_or(1.0)
        .max(1.0) as usize;
    let offsets = if n_frames > 1 {
        opt_f64s(&file, tags::GRID_FRAME_OFFSET_VECTOR).ok_or_else(|| {
            dicom::missing(
                path,
                tags::GRID_FRAME_OFFSET_VECTOR,
                "a multi-frame RT Dose places its frames by this vector: export it again",
            )
        })?
    } else {
        vec![0.0]
    };
    let step_mm = frame_step_mm(path, &offsets, n_frames)?;
    let row = [iop[0], iop[1], iop[2]];
    let col = [iop[3], iop[4], iop[5]];
    let normal = crate::io::series::normal(&[iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]]);
    // A single frame has no k spacing of its own: SliceThickness, else 1 mm (stated nowhere
    // else, so the grid stays valid).
    let k_spacing = if n_frames > 1 {
        step_mm.abs()
    } else {
        opt_f64(&file, tags::SLICE_THICKNESS)
            .filter(|t| *t > 0.0)
            .unwrap_or(1.0)
    };
    let k_dir = if step_mm < 0.0 {
        normal.map(|x| -x)
    } else {
        normal
    };
    // Absolute offsets: the first frame is at offsets[0] along n, not at IPP.
    let first_shift = if offsets[0] != 0.0 {
        offsets[0] - dot([ipp[0], ipp[1], ipp[2]], normal)
    } else {
        0.0
    };
    let origin = [0, 1, 2].map(|a| ipp[a] + first_shift * normal[a]);
    let grid = Grid {
        dims: [cols as usize, rows as usize, n_frames],
        spacing_mm: [spacing[1], spacing[0], k_spacing],
        origin_mm: origin,
        direction: [row, col, k_dir],
    };
    let frames = if opt_f64(&file, tags::BITS_ALLOCATED) == Some(32.0) {
        stored_32bit(&file, path)?
    } else {
        dicom::decode_stored_frames(&file, path)?
    };
    let per_frame = grid.dims[0] * grid.dims[1];
    if frames.len() != n_frames || frames.iter().any(|f| f.len() != per_frame) {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "decoded {} frame(s) but the header says {n_frames} of {} × {}; the pixel data do not match the header",
                frames.len(),
                grid.dims[1],
                grid.dims[0]
            ),
        });
    }
    let scaling = opt_f64(&file, tags::DOSE_GRID_SCALING).ok_or_else(|| {
        dicom::missing(
            path,
            tags::DOSE_GRID_SCALING,
            "without it the stored values have no dose unit: export the RT Dose again",
        )
    })?;
    let data: Vec<f32> = frames
        .into_iter()
        .flatten()
        .map(|v| (v as f64 * scaling) as f32)
        .collect();
    let text = |tag| opt_str(&file, tag).unwrap_or_default();
    let identity = SeriesIdentity {
        study_instance_uid: text(tags::STUDY_INSTANCE_UID),
        series_instance_uid: text(tags::SERIES_INSTANCE_UID),
        frame_of_reference_uid: text(tags::FRAME_OF_REFERENCE_UID),
        modality,
        sop_class_uid: text(tags::SOP_CLASS_UID),
        series_description: text(tags::SERIES_DESCRIPTION),
        patient_id: text(tags::PATIENT_ID),
        patient_name: text(tags::PATIENT_NAME),
        study_id: text(tags::STUDY_ID),
        study_date: text(tags::STUDY_DATE),
        study_time: text(tags::STUDY_TIME),
        patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
        patient_sex: text(tags::PATIENT_SEX),
        referring_physician_name: text(tags::REFERRING_PHYSICIAN_NAME),
        accession_number: text(tags::ACCESSION_NUMBER),
        transfer_syntax: dicom::transfer_syntax_label(&file),
        slices: n_frames,
    };
    Ok(RtDose {
        dose: Volume { grid, data },
        units: text(tags::DOSE_UNITS).to_uppercase(),
        dose_type: text(tags::DOSE_TYPE).to_uppercase(),
        summation_type: text(tags::DOSE_SUMMATION_TYPE),
        comment: text(tags::DOSE_COMMENT),
        identity,
    })
}

/// Stored values of 32-bit pixel data (the usual RT Dose storage), which the pixel
/// converter of dicom-pixeldata 0.10 refuses: the decoded bytes read as 32-bit integers.
/// Native little-endian data come as they are; Explicit VR Big Endian data come as 16-bit
/// words already swapped to little endian (PixelData is OW), so the two halves of each value
/// are swapped back (checked on pydicom's `rtdose_expb.dcm`). Encapsulated 32-bit data
/// (RLE) are refused by the decoder with its own message.
fn stored_32bit(file: &dicom::DicomFile, path: &Path) -> Result<Vec<Vec<f32>>, InputError> {
    use dicom_pixeldata::PixelDecoder;
    let ts = dicom::transfer_syntax_label(file);
    let decoded = file
        .decode_pixel_data()
        .map_err(|e| InputError::PixelDecode {
            path: path.to_path_buf(),
            transfer_syntax: ts.clone(),
            detail: dicom::error_chain(&e),
        })?;
    let big_endian = ts.starts_with("1.2.840.10008.1.2.2 ") || ts == "1.2.840.10008.1.2.2";
    let signed = opt_f64(file, tags::PIXEL_REPRESENTATION) == Some(1.0);
    let values: Vec<f32> = decoded
        .data()
        .chunks_exact(4)
        .map(|c| {
            let mut v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if big_endian {
                v = v.rotate_left(16);
            }
            if signed {
                v as i32 as f32
            } else {
                v as f32
            }
        })
        .collect();
    let n_frames = decoded.number_of_frames().max(1) as usize;
    let per_frame = values.len() / n_frames;
    Ok(values
        .chunks(per_frame.max(1))
        .map(<[f32]>::to_vec)
        .collect())
}

/// The even step between frames (mm, signed along the normal) from GridFrameOffsetVector.
fn frame_step_mm(path: &Path, offsets: &[f64], n_frames: usize) -> Result<f64, InputError> {
    if offsets.len() != n_frames {
        return Err(InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "(3004,000C) GridFrameOffsetVector has {} values for {n_frames} frames; the header is damaged",
                offsets.len()
            ),
        });
    }
    if n_frames < 2 {
        return Ok(0.0);
    }
    let step = offsets[1] - offsets[0];
    let gaps: Vec<f64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
    if step.abs() < OFFSET_TOLERANCE_MM
        || gaps.iter().any(|g| (g - step).abs() > OFFSET_TOLERANCE_MM)
    {
        return Err(InputError::UnevenSpacing {
            path: path.to_path_buf(),
            gaps: format!("{gaps:?} mm (GridFrameOffsetVector)"),
        });
    }
    Ok(step)
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::rtdose::{new_uid, write_rt_dose, DoseType};

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Grid::new([5, 4, 3], [2.0, 3.0, 4.0], [-10.0, 20.5, -766.5]);
        // Row direction −x: the normal is −z while k runs along +z (negative offsets).
        g.direction = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let data: Vec<f32> = (0..g.n_voxels()).map(|i| 0.25 * i as f32).collect();
        let vol = Volume {
            grid: g.clone(),
            data,
        };
        let id = SeriesIdentity {
            patient_id: "P1".into(),
            frame_of_reference_uid: "1.2.3.4".into(),
            ..SeriesIdentity::default()
        };
        let path = dir.path().join("d.dcm");
        write_rt_dose(&path, &vol, &id, DoseType::Effective, &new_uid(), "test").unwrap();
        let back = read_rt_dose(&path).unwrap();
        assert_eq!(back.dose.grid.dims, g.dims);
        for a in 0..3 {
            assert!((back.dose.grid.spacing_mm[a] - g.spacing_mm[a]).abs() < 1e-9);
            assert!((back.dose.grid.origin_mm[a] - g.origin_mm[a]).abs() < 1e-9);
            for b in 0..3 {
                assert!((back.dose.grid.direction[a][b] - g.direction[a][b]).abs() < 1e-9);
            }
        }
        let quantum = 0.25 * 59.0 / u32::MAX as f32;
        for (x, y) in back.dose.data.iter().zip(&vol.data) {
            assert!((x - y).abs() <= quantum + 1e-6 * y, "{x} vs {y}");
        }
        assert_eq!(
            (back.units.as_str(), back.dose_type.as_str()),
            ("GY", "EFFECTIVE")
        );
        assert_eq!(back.identity.patient_id, "P1");
        assert_eq!(back.identity.frame_of_reference_uid, "1.2.3.4");
    }
}
