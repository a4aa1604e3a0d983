//! DICOM RT Dose output (RT Dose Storage, 1.2.840.10008.5.1.4.1.1.481.2), Explicit VR Little
//! Endian, written atomically.
//!
//! The dose grid is one multi-frame object: frame k is the plane k of the grid, placed by
//! GridFrameOffsetVector (3004,000C) along the normal of ImageOrientationPatient, with
//! FrameIncrementPointer pointing at it. Values are unsigned 32-bit (default) or 16-bit
//! ([`RtDoseBits`], `--rtdose-bits`) integers times DoseGridScaling (3004,000E), chosen as
//! max / (2ᵇ − 1), so the quantum is max dose / 4 294 967 295 (32 bits) or max dose / 65 535
//! (16 bits, which some planning systems need; 1.5e-5 of the maximum is far below any
//! Monte Carlo σ). DoseUnits GY (RELATIVE for a dose per decay, see [`DoseUnits`]); DoseType PHYSICAL for the dose, ERROR for the
//! companion holding one standard uncertainty (Gy), EFFECTIVE for a biologically weighted dose
//! (BED, written by `voxdose bed`).
//!
//! DoseSummationType is PLAN_OVERVIEW ("dose calculated with respect to plan overview
//! parameters", PS3.3 C.8.8.3, Table C.8-39). No defined term names the dose of a
//! radiopharmaceutical therapy: PLAN, FRACTION, BEAM, BRACHY and their variants require a
//! Referenced RT Plan Sequence and RECORD ("dose calculated for RT Beams Treatment Record") a
//! Referenced Treatment Record Sequence, and voxdose has neither object to reference; an RT
//! Dose with RECORD and no record fails `dciodvfy`. PLAN_OVERVIEW needs no referenced object
//! (dicom3tools 1.00 in Debian 12 warns that its dictionary does not know the term yet).
//! OperatorsName (Type 2, RT Series) is written empty. The study, patient and frame of
//! reference are those of the CT the dose was computed on (see `run::patient` for NIfTI CTs).
//! `dciodvfy` checks 16-bit files; it aborts on any 32-bit OW pixel data (an assertion of its
//! own), so 32-bit files are checked by reading them back with pydicom.

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
    /// A biologically weighted dose (BED or EQD2), still in Gy.
    Effective,
}

impl DoseType {
    /// DoseType (3004,0004).
    fn dicom(self) -> &'static str {
        match self {
            DoseType::Physical => "PHYSICAL",
            DoseType::Error => "ERROR",
            DoseType::Effective => "EFFECTIVE",
        }
    }

    /// InstanceNumber (0020,0013) within the dose series.
    fn instance_number(self) -> &'static str {
        match self {
            DoseType::Physical | DoseType::Effective => "1",
            DoseType::Error => "2",
        }
    }
}

/// DoseUnits (3004,0002): `GY` for absorbed dose, `RELATIVE` for a dose relative to an
/// implicit reference — voxdose's dose per decay (Gy per decay), whose DoseComment says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoseUnits {
    /// Gy.
    Gy,
    /// Relative: Gy per decay of a run without a TIA.
    Relative,
}

impl DoseUnits {
    fn dicom(self) -> &'static str {
        match self {
            DoseUnits::Gy => "GY",
            DoseUnits::Relative => "RELATIVE",
        }
    }
}

/// Bits per stored dose value (BitsAllocated = BitsStored).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RtDoseBits {
    /// Unsigned 16-bit values.
    #[serde(rename = "16")]
    U16,
    /// Unsigned 32-bit values (the default).
    #[default]
    #[serde(rename = "32")]
    U32,
}

impl RtDoseBits {
    /// The bit counts `--rtdose-bits` accepts.
    pub const NAMES: [&'static str; 2] = ["16", "32"];

    /// Bits per value.
    pub fn bits(self) -> u16 {
        match self {
            RtDoseBits::U16 => 16,
            RtDoseBits::U32 => 32,
        }
    }

    /// The largest stored value, 2ᵇ − 1.
    fn max_value(self) -> f64 {
        match self {
            RtDoseBits::U16 => u16::MAX as f64,
            RtDoseBits::U32 => u32::MAX as f64,
        }
    }
}

impl std::str::FromStr for RtDoseBits {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "16" => Ok(RtDoseBits::U16),
            "32" => Ok(RtDoseBits::U32),
            other => Err(Error::invalid(
                "--rtdose-bits",
                format!("'{other}'; give 16 or 32"),
            )),
        }
    }
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
    write_rt_dose_in(
        path,
        dose_gy,
        ct,
        dose_type,
        series_uid,
        description,
        DoseUnits::Gy,
    )
}

/// [`write_rt_dose`] with the DoseUnits given (`RELATIVE` for a dose per decay).
pub fn write_rt_dose_in(
    path: &Path,
    dose_gy: &Volume<f32>,
    ct: &SeriesIdentity,
    dose_type: DoseType,
    series_uid: &str,
    description: &str,
    units: DoseUnits,
) -> Result<()> {
    write_rt_dose_bits(
        path,
        dose_gy,
        ct,
        dose_type,
        series_uid,
        description,
        units,
        RtDoseBits::U32,
    )
}

/// [`write_rt_dose_in`] with the bits per value given.
#[allow(
    clippy::too_many_arguments,
    reason = "the public writers take the same flat arguments as write_rt_dose_in, plus the bits"
)]
pub fn write_rt_dose_bits(
    path: &Path,
    dose_gy: &Volume<f32>,
    ct: &SeriesIdentity,
    dose_type: DoseType,
    series_uid: &str,
    description: &str,
    units: DoseUnits,
    bits: RtDoseBits,
) -> Result<()> {
    check_values(dose_gy)?;
    let along = slice_direction(&dose_gy.grid)?;
    let (scaling_text, pixels) = quantise(&dose_gy.data, bits)?;
    let sop_uid = new_uid();
    let mut obj = Elements(InMemDicomObject::new_empty());
    obj.put_general(ct, &sop_uid, description);
    obj.put_patient_study_series(ct, series_uid, dose_type);
    obj.put_plane(&dose_gy.grid);
    obj.put_image_pixel(&dose_gy.grid, bits);
    obj.put_dose(
        dose_type,
        units,
        description,
        &scaling_text,
        &dose_gy.grid,
        along,
    );
    obj.0.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(pixels),
    ));
    write_file(path, obj.0, &sop_uid)
}

/// The data fit the grid, and every value is finite and ≥ 0.
fn check_values(dose_gy: &Volume<f32>) -> Result<()> {
    if dose_gy.data.len() != dose_gy.grid.n_voxels() {
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
    Ok(())
}

/// ±1: whether the grid's k axis runs along the slice normal (row × column) or against it.
fn slice_direction(g: &crate::geometry::Grid) -> Result<f64> {
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
    Ok(along.signum())
}

/// DoseGridScaling as written (DS text) and the pixels quantised with exactly that value,
/// so readers decode what we meant: little-endian u32 or u16, max dose at 2ᵇ − 1.
fn quantise(dose_gy: &[f32], bits: RtDoseBits) -> Result<(String, Vec<u8>)> {
    let max = dose_gy
        .par_iter()
        .with_min_len(1 << 16)
        .copied()
        .reduce(|| 0.0f32, f32::max) as f64;
    let top = bits.max_value();
    let scaling_text = ds(if max > 0.0 {
        max / top * (1.0 + 1e-9)
    } else {
        1.0
    });
    let scaling: f64 = scaling_text
        .parse()
        .map_err(|_| Error::Internal("DS scaling".into()))?;
    let width = usize::from(bits.bits() / 8);
    let mut pixels = vec![0u8; width * dose_gy.len()];
    pixels
        .par_chunks_mut(width)
        .zip(dose_gy.par_iter())
        .with_min_len(1 << 16)
        .for_each(|(px, &d)| {
            let q = (d as f64 / scaling).round().clamp(0.0, top) as u32;
            px.copy_from_slice(&q.to_le_bytes()[..width]);
        });
    Ok((scaling_text, pixels))
}

/// The RT Dose object being built, one method per group of modules.
struct Elements(InMemDicomObject);

impl Elements {
    fn text(&mut self, tag: Tag, vr: VR, v: &str) {
        self.0.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::from(v.to_string()),
        ));
    }

    fn us(&mut self, tag: Tag, v: u16) {
        self.0
            .put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }

    /// SOP Common and General Equipment: class, instance, creation, manufacturer.
    fn put_general(&mut self, ct: &SeriesIdentity, sop_uid: &str, description: &str) {
        let (date, time) = now_da_tm();
        self.text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        self.text(tags::SOP_CLASS_UID, VR::UI, RT_DOSE_STORAGE);
        self.text(tags::SOP_INSTANCE_UID, VR::UI, sop_uid);
        self.text(tags::INSTANCE_CREATION_DATE, VR::DA, &date);
        self.text(tags::INSTANCE_CREATION_TIME, VR::TM, &time);
        self.text(tags::CONTENT_DATE, VR::DA, &date);
        self.text(tags::CONTENT_TIME, VR::TM, &time);
        self.text(tags::MODALITY, VR::CS, "RTDOSE");
        self.text(tags::MANUFACTURER, VR::LO, "voxdose");
        self.text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "voxdose");
        self.text(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION"));
        self.text(tags::SERIES_DESCRIPTION, VR::LO, &truncate(description, 64));
        self.text(tags::ACCESSION_NUMBER, VR::SH, &ct.accession_number);
        self.text(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            &ct.referring_physician_name,
        );
    }

    /// Patient, General Study and RT Series: the CT's patient and study (new UIDs where the
    /// CT has none), the dose series.
    fn put_patient_study_series(
        &mut self,
        ct: &SeriesIdentity,
        series_uid: &str,
        dose_type: DoseType,
    ) {
        let or_new = |uid: &str| {
            if uid.is_empty() {
                new_uid()
            } else {
                uid.to_string()
            }
        };
        self.text(tags::PATIENT_NAME, VR::PN, &ct.patient_name);
        self.text(tags::PATIENT_ID, VR::LO, &ct.patient_id);
        self.text(tags::PATIENT_BIRTH_DATE, VR::DA, &ct.patient_birth_date);
        self.text(tags::PATIENT_SEX, VR::CS, &ct.patient_sex);
        self.text(tags::STUDY_DATE, VR::DA, &ct.study_date);
        self.text(tags::STUDY_TIME, VR::TM, &ct.study_time);
        self.text(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            &or_new(&ct.study_instance_uid),
        );
        self.text(tags::STUDY_ID, VR::SH, &ct.study_id);
        self.text(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &or_new(&ct.frame_of_reference_uid),
        );
        self.text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
        self.text(tags::OPERATORS_NAME, VR::PN, "");
        self.text(tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
        self.text(tags::SERIES_NUMBER, VR::IS, "9001");
        self.text(tags::INSTANCE_NUMBER, VR::IS, dose_type.instance_number());
    }

    /// Image Plane: position and orientation of the first frame, pixel spacing, thickness.
    fn put_plane(&mut self, g: &crate::geometry::Grid) {
        let [r, c] = [g.direction[0], g.direction[1]];
        let o = g.origin_mm;
        self.text(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            &format!("{}\\{}\\{}", ds(o[0]), ds(o[1]), ds(o[2])),
        );
        self.text(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            &[r[0], r[1], r[2], c[0], c[1], c[2]].map(ds).join("\\"),
        );
        // PixelSpacing: between rows (j spacing), between columns (i spacing).
        self.text(
            tags::PIXEL_SPACING,
            VR::DS,
            &format!("{}\\{}", ds(g.spacing_mm[1]), ds(g.spacing_mm[0])),
        );
        self.text(tags::SLICE_THICKNESS, VR::DS, &ds(g.spacing_mm[2]));
    }

    /// Image Pixel and Multi-frame: 16- or 32-bit unsigned monochrome frames, one per plane.
    fn put_image_pixel(&mut self, g: &crate::geometry::Grid, bits: RtDoseBits) {
        self.us(tags::SAMPLES_PER_PIXEL, 1);
        self.text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
        self.text(tags::NUMBER_OF_FRAMES, VR::IS, &g.dims[2].to_string());
        self.0.put(DataElement::new(
            tags::FRAME_INCREMENT_POINTER,
            VR::AT,
            PrimitiveValue::from(tags::GRID_FRAME_OFFSET_VECTOR),
        ));
        self.us(tags::ROWS, g.dims[1] as u16);
        self.us(tags::COLUMNS, g.dims[0] as u16);
        self.us(tags::BITS_ALLOCATED, bits.bits());
        self.us(tags::BITS_STORED, bits.bits());
        self.us(tags::HIGH_BIT, bits.bits() - 1);
        self.us(tags::PIXEL_REPRESENTATION, 0);
    }

    /// RT Dose: units, type, summation, the frames' offsets along the normal, the scaling.
    fn put_dose(
        &mut self,
        dose_type: DoseType,
        units: DoseUnits,
        description: &str,
        scaling_text: &str,
        g: &crate::geometry::Grid,
        along: f64,
    ) {
        let offsets: Vec<String> = (0..g.dims[2])
            .map(|k| ds(k as f64 * g.spacing_mm[2] * along))
            .collect();
        self.text(tags::DOSE_UNITS, VR::CS, units.dicom());
        self.text(tags::DOSE_TYPE, VR::CS, dose_type.dicom());
        self.text(tags::DOSE_COMMENT, VR::LO, &truncate(description, 64));
        self.text(tags::DOSE_SUMMATION_TYPE, VR::CS, "PLAN_OVERVIEW");
        self.text(tags::GRID_FRAME_OFFSET_VECTOR, VR::DS, &offsets.join("\\"));
        self.text(tags::DOSE_GRID_SCALING, VR::DS, scaling_text);
        self.text(tags::TISSUE_HETEROGENEITY_CORRECTION, VR::CS, "IMAGE");
    }
}

/// Adds the file meta and writes the object atomically. It is encoded straight into the
/// temporary file: no second copy of the pixels in memory. The object is complete, so a
/// failure here is the file's (full disk, lost mount).
fn write_file(path: &Path, obj: InMemDicomObject, sop_uid: &str) -> Result<()> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(RT_DOSE_STORAGE)
        .media_storage_sop_instance_uid(sop_uid)
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(IMPLEMENTATION_UID)
        .implementation_version_name("VOXDOSE_0_1")
        .build()
        .map_err(|e| Error::Internal(format!("RT Dose meta: {e}")))?;
    let file = obj.with_exact_meta(meta);
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

/// Checks a UID given by a user (PS3.5 §9.1): 1 to 64 characters, dot-separated
/// components of digits, none empty, none with a leading zero unless it is "0".
pub fn check_uid(uid: &str) -> std::result::Result<(), String> {
    let bad_component = uid.split('.').find(|c| {
        c.is_empty()
            || !c.bytes().all(|b| b.is_ascii_digit())
            || (c.len() > 1 && c.starts_with('0'))
    });
    match (uid.len(), bad_component) {
        (1..=64, None) => Ok(()),
        (n, _) if n > 64 => Err(format!("{uid:?} has {n} characters; a DICOM UID has at most 64")),
        (_, Some(c)) => Err(format!("{uid:?}: component {c:?} is not a number without leading zeros; a DICOM UID is digits separated by dots, e.g. 1.2.826.0.1.3680043.8.498.1")),
        _ => Err("an empty UID; give digits separated by dots".into()),
    }
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
