//! DICOM RT Dose output (RT Dose Storage, 1.2.840.10008.5.1.4.1.1.481.2), Explicit VR Little
//! Endian, written atomically.
//!
//! The dose grid is one multi-frame object: frame k is the plane k of the grid, placed by
//! GridFrameOffsetVector (3004,000C) along the normal of ImageOrientationPatient, with
//! FrameIncrementPointer pointing at it. Values are unsigned 32-bit integers times
//! DoseGridScaling (3004,000E), chosen as max / (2³² − 1), so the quantum is
//! max dose / 4 294 967 295. DoseUnits GY; DoseType PHYSICAL for the dose, ERROR for the
//! companion holding one standard uncertainty (Gy). DoseSummationType is RECORD (a delivered
//! radiopharmaceutical therapy, no RT Plan to reference). The study, patient and frame of
//! reference are those of the CT the dose was computed on.

use crate::geometry::Volume;
use crate::io::series::SeriesIdentity;
use crate::{Error, Result};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use rayon::prelude::*;
use std::path::Path;

/// What the values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoseType {
    /// Absorbed dose.
    Physical,
    /// One standard uncertainty of the dose.
    Error,
}

const RT_DOSE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.481.2";

/// Writes `dose_gy` as an RT Dose file referencing the CT's study and frame of reference.
/// `series_uid` lets a dose and its ERROR companion share one series (pass the same value).
pub fn write_rt_dose(
    path: &Path,
    dose_gy: &Volume<f32>,
    ct: &SeriesIdentity,
    dose_type: DoseType,
    series_uid: &str,
    description: &str,
) -> Result<()> {
    let g = &dose_gy.grid;
    if dose_gy.data.len() != g.n_voxels() {
        return Err(Error::Internal(
            "RT Dose: data length differs from the grid".into(),
        ));
    }
    if let Some(v) = dose_gy
        .data
        .par_iter()
        .find_first(|v| !v.is_finite() || **v < 0.0)
    {
        return Err(Error::Internal(format!(
            "RT Dose: dose value {v} is negative or not finite"
        )));
    }
    let [r, c] = [g.direction[0], g.direction[1]];
    let n = [
        r[1] * c[2] - r[2] * c[1],
        r[2] * c[0] - r[0] * c[2],
        r[0] * c[1] - r[1] * c[0],
    ];
    let along: f64 = (0..3).map(|a| n[a] * g.direction[2][a]).sum();
    if (along.abs() - 1.0).abs() > 1e-6 {
        return Err(Error::Internal(
            "RT Dose: the grid's k axis is not along the slice normal".into(),
        ));
    }
    let max = dose_gy
        .data
        .par_iter()
        .with_min_len(1 << 16)
        .copied()
        .reduce(|| 0.0f32, f32::max) as f64;
    // Quantise with the scaling exactly as written (DS text), so readers decode what we meant.
    let scaling_text = ds(if max > 0.0 {
        max / u32::MAX as f64 * (1.0 + 1e-9)
    } else {
        1.0
    });
    let scaling: f64 = scaling_text
        .parse()
        .map_err(|_| Error::Internal("DS scaling".into()))?;
    let mut pixels = vec![0u8; 4 * g.n_voxels()];
    pixels
        .par_chunks_mut(4)
        .zip(dose_gy.data.par_iter())
        .with_min_len(1 << 16)
        .for_each(|(px, &d)| {
            let q = (d as f64 / scaling).round().clamp(0.0, u32::MAX as f64) as u32;
            px.copy_from_slice(&q.to_le_bytes());
        });
    let sop_uid = new_uid();
    let mut obj = InMemDicomObject::new_empty();
    let s = |o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str| {
        o.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::from(v.to_string()),
        ));
    };
    let (date, time) = now_da_tm();
    s(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    s(&mut obj, tags::SOP_CLASS_UID, VR::UI, RT_DOSE_STORAGE);
    s(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &sop_uid);
    s(&mut obj, tags::INSTANCE_CREATION_DATE, VR::DA, &date);
    s(&mut obj, tags::INSTANCE_CREATION_TIME, VR::TM, &time);
    s(&mut obj, tags::STUDY_DATE, VR::DA, &ct.study_date);
    s(&mut obj, tags::STUDY_TIME, VR::TM, &ct.study_time);
    s(&mut obj, tags::CONTENT_DATE, VR::DA, &date);
    s(&mut obj, tags::CONTENT_TIME, VR::TM, &time);
    s(
        &mut obj,
        tags::ACCESSION_NUMBER,
        VR::SH,
        &ct.accession_number,
    );
    s(&mut obj, tags::MODALITY, VR::CS, "RTDOSE");
    s(&mut obj, tags::MANUFACTURER, VR::LO, "voxdose");
    s(
        &mut obj,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        &ct.referring_physician_name,
    );
    s(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        &truncate(description, 64),
    );
    s(&mut obj, tags::MANUFACTURER_MODEL_NAME, VR::LO, "voxdose");
    s(&mut obj, tags::PATIENT_NAME, VR::PN, &ct.patient_name);
    s(&mut obj, tags::PATIENT_ID, VR::LO, &ct.patient_id);
    s(
        &mut obj,
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        &ct.patient_birth_date,
    );
    s(&mut obj, tags::PATIENT_SEX, VR::CS, &ct.patient_sex);
    s(
        &mut obj,
        tags::SLICE_THICKNESS,
        VR::DS,
        &ds(g.spacing_mm[2]),
    );
    s(
        &mut obj,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    let study_uid = if ct.study_instance_uid.is_empty() {
        new_uid()
    } else {
        ct.study_instance_uid.clone()
    };
    let for_uid = if ct.frame_of_reference_uid.is_empty() {
        new_uid()
    } else {
        ct.frame_of_reference_uid.clone()
    };
    s(&mut obj, tags::STUDY_INSTANCE_UID, VR::UI, &study_uid);
    s(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
    s(&mut obj, tags::STUDY_ID, VR::SH, &ct.study_id);
    s(&mut obj, tags::SERIES_NUMBER, VR::IS, "9001");
    s(
        &mut obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        if dose_type == DoseType::Physical {
            "1"
        } else {
            "2"
        },
    );
    let o = g.origin_mm;
    s(
        &mut obj,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &format!("{}\\{}\\{}", ds(o[0]), ds(o[1]), ds(o[2])),
    );
    s(
        &mut obj,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        &[r[0], r[1], r[2], c[0], c[1], c[2]].map(ds).join("\\"),
    );
    s(&mut obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, &for_uid);
    s(&mut obj, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    s(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    s(
        &mut obj,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &g.dims[2].to_string(),
    );
    obj.put(DataElement::new(
        tags::FRAME_INCREMENT_POINTER,
        VR::AT,
        PrimitiveValue::from(tags::GRID_FRAME_OFFSET_VECTOR),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(g.dims[1] as u16),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(g.dims[0] as u16),
    ));
    // PixelSpacing: between rows (j spacing), between columns (i spacing).
    s(
        &mut obj,
        tags::PIXEL_SPACING,
        VR::DS,
        &format!("{}\\{}", ds(g.spacing_mm[1]), ds(g.spacing_mm[0])),
    );
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(32u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(32u16),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(31u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    s(&mut obj, tags::DOSE_UNITS, VR::CS, "GY");
    s(
        &mut obj,
        tags::DOSE_TYPE,
        VR::CS,
        if dose_type == DoseType::Physical {
            "PHYSICAL"
        } else {
            "ERROR"
        },
    );
    s(
        &mut obj,
        tags::DOSE_COMMENT,
        VR::LO,
        &truncate(description, 64),
    );
    s(&mut obj, tags::DOSE_SUMMATION_TYPE, VR::CS, "RECORD");
    let offsets: Vec<String> = (0..g.dims[2])
        .map(|k| ds(k as f64 * g.spacing_mm[2] * along.signum()))
        .collect();
    s(
        &mut obj,
        tags::GRID_FRAME_OFFSET_VECTOR,
        VR::DS,
        &offsets.join("\\"),
    );
    s(&mut obj, tags::DOSE_GRID_SCALING, VR::DS, &scaling_text);
    s(
        &mut obj,
        tags::TISSUE_HETEROGENEITY_CORRECTION,
        VR::CS,
        "IMAGE",
    );
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(pixels),
    ));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(RT_DOSE_STORAGE)
        .media_storage_sop_instance_uid(&sop_uid)
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(IMPLEMENTATION_UID)
        .implementation_version_name("VOXDOSE_0_1")
        .build()
        .map_err(|e| Error::Internal(format!("RT Dose meta: {e}")))?;
    let file = obj.with_exact_meta(meta);
    // Encoded straight into the temporary file: no second copy of the pixels in memory. The
    // object is complete, so a failure here is the file's (full disk, lost mount).
    crate::io::atomic::write_atomic_with(path, |f| {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        file.write_all(&mut w).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut w)
    })
}

/// voxdose's implementation class UID (under the 2.25 UUID arc, fixed).
const IMPLEMENTATION_UID: &str = "2.25.140183276538913012597433120617623011737";

/// A new UID under 2.25 (ITU-T X.667: a UUID written as one decimal integer), from the
/// clock, the process id and a counter mixed by SplitMix64.
pub fn new_uid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = mix(nanos ^ (std::process::id() as u64) << 32);
    let lo = mix(hi ^ c.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ nanos.rotate_left(17));
    // UUID version 4 / variant bits, as X.667 asks for random UUIDs.
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    format!("2.25.{}", ((hi as u128) << 64) | lo as u128)
}

/// A DS value (≤ 16 characters): the fixed or exponent form closest to `v`.
fn ds(v: f64) -> String {
    let v = if v.abs() < 1e-300 { 0.0 } else { v };
    let mut best = String::from("0");
    let mut best_err = f64::INFINITY;
    for p in 0..=12 {
        for s in [format!("{v:.p$}"), format!("{v:.p$e}")] {
            if s.len() <= 16 {
                let err = (s.parse::<f64>().unwrap_or(f64::INFINITY) - v).abs();
                if err < best_err || (err == best_err && s.len() < best.len()) {
                    best_err = err;
                    best = s;
                }
            }
        }
    }
    best
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Today's date and time (UTC) as DICOM DA and TM.
fn now_da_tm() -> (String, String) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let iso = crate::io::activity::iso(t);
    let date = iso[..10].replace('-', "");
    let time = iso[11..].replace(':', "");
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds_values_fit_sixteen_characters() {
        for v in [1.0 / 3.0, -766.5, 1.234e-12, 123456789.123, 0.0] {
            let s = ds(v);
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!(
                (back - v).abs() <= 1e-6 * v.abs().max(1e-12) + 1e-9,
                "{v} → {s}"
            );
        }
    }

    #[test]
    fn uids_are_unique_and_valid() {
        let a = new_uid();
        let b = new_uid();
        assert_ne!(a, b);
        assert!(a.len() <= 64 && a.starts_with("2.25."));
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()));
    }
}
