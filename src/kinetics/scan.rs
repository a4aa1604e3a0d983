//! A study time point's image: a NIfTI in the study's `units`, or a DICOM NM/PT series read
//! to Bq/mL from its own units, with what the DICOM says recorded.
//!
//! Responsibility: read one time point's image and say in which unit its values are; check
//! that it holds activity; for DICOM, bring values decay-corrected to administration back to
//! the scan time and compare the DICOM's times with the study's. Alignment is
//! [`super::align`]'s, unit conversion to Bq per voxel [`super::pipeline`]'s.
//!
//! **Units.** NIfTI images carry no unit: the study's `units` says what they are. A DICOM
//! series states its own (Real World Value Mapping in Bq/mL, Units BQML, SUV with dose and
//! weight, or counts × `calibration_bq_ml_per_count`): [`crate::io::activity::read_activity`]
//! converts it to Bq/mL whatever the study's `units` says, so a study may mix both.
//!
//! **Decay correction.** Kinetics needs the activity present at the scan. Values that
//! DecayCorrection (0054,1102) says are corrected to administration (`ADMIN`) are multiplied
//! by exp(−λ t), λ the cycle nuclide's physical decay constant and t the DICOM's acquisition
//! start after injection (the time point's time when the DICOM has none). `START` and `NONE`
//! are taken as the activity at the scan.
//!
//! **Times.** A DICOM time point without a study time takes acquisition start − injection
//! from the DICOM ([`crate::io::activity::read_header_times`], at load). With a study time,
//! the study's is used and a note warns when the DICOM's differs by more than
//! [`TIME_MISMATCH_H`] h and [`TIME_MISMATCH_REL`] of it.

use super::study::{ActivityUnit, Cycle, Study, TimePoint};
use crate::geometry::Volume;
use crate::io::activity::{read_activity, ActivityOptions, CameraInfo};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A study time differing from the DICOM's by more than this (h) and [`TIME_MISMATCH_REL`]
/// is reported.
pub const TIME_MISMATCH_H: f64 = 0.5;
/// Relative part of the time mismatch threshold.
pub const TIME_MISMATCH_REL: f64 = 0.02;

/// What a DICOM time point's header said and what was done with it (in `regions.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DicomScan {
    /// Time point number in its cycle (1-based).
    pub time_point: usize,
    /// The series (folder or file).
    pub path: PathBuf,
    /// NM or PT.
    pub modality: String,
    /// How stored values became Bq/mL.
    pub value_source: String,
    /// Units as the file states them.
    pub units_in_file: String,
    /// DecayCorrection (0054,1102).
    pub decay_correction: Option<String>,
    /// Factor applied to bring the values to the scan time (1 unless `ADMIN`).
    pub decay_factor: f64,
    /// Hours from injection to acquisition start by the DICOM times.
    pub dicom_hours_after_injection: Option<f64>,
    /// Injection date-time the DICOM states.
    pub injection_time: Option<String>,
    /// Acquisition date-time the DICOM states.
    pub acquisition_time: Option<String>,
    /// The time used, h after administration.
    pub time_h: f64,
    /// "study" or "DICOM (acquisition − injection)".
    pub time_source: String,
    /// Nuclide the DICOM names.
    pub nuclide_in_file: Option<String>,
    /// Camera and collimator, stated resolution.
    pub camera: CameraInfo,
    /// FrameOfReferenceUID (0020,0052).
    pub frame_of_reference_uid: String,
    /// Warnings raised while reading it.
    pub warnings: Vec<String>,
}

/// A time point's image as read.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Values on the image's own grid, in `unit`.
    pub image: Volume<f32>,
    /// What the values are.
    pub unit: ActivityUnit,
    /// The DICOM record (`None` for NIfTI).
    pub dicom: Option<DicomScan>,
}

/// Reads time point `tn` (1-based) of `cycle` (see the module doc).
pub fn read_scan(study: &Study, cycle: &Cycle, tn: usize, tp: &TimePoint) -> Result<Scan> {
    if crate::io::ct::is_nifti(&tp.image) {
        let unit = study
            .units
            .ok_or_else(|| super::KineticsError::InvalidStudy {
                path: study.path.clone(),
                reason: format!(
                    "{} is a NIfTI image: give \"units\" (e.g. \"Bq/mL\")",
                    tp.image.display()
                ),
            })?;
        return Ok(Scan {
            image: read_nifti(&tp.image)?,
            unit,
            dicom: None,
        });
    }
    read_dicom(cycle, tn, tp)
}

fn read_nifti(path: &Path) -> Result<Volume<f32>> {
    let vol = crate::io::nifti::read_volume_f32(path)?;
    if let Some(bad) = vol.data.iter().position(|v| !v.is_finite()) {
        return Err(crate::io::InputError::Inconsistent {
            path: path.to_path_buf(),
            reason: format!("voxel {bad} is not finite; fix or mask the image"),
        }
        .into());
    }
    refuse_no_activity(path, &vol)?;
    Ok(vol)
}

fn read_dicom(cycle: &Cycle, tn: usize, tp: &TimePoint) -> Result<Scan> {
    let img = read_activity(
        &tp.image,
        &ActivityOptions {
            calibration_bq_ml_per_count: tp.calibration_bq_ml_per_count,
        },
    )?;
    let mut image = img.concentration_bq_ml;
    refuse_no_activity(&tp.image, &image)?;
    let p = img.provenance;
    let mut warnings = p.warnings.clone();
    let dicom_h = p.scan_hours_after_injection;
    let decay_factor = if p.decay_correction.as_deref() == Some("ADMIN") {
        let half_life_h = super::pipeline::physical_half_life_h(&cycle.nuclide)?;
        let t = dicom_h.unwrap_or(tp.time_h);
        (-std::f64::consts::LN_2 / half_life_h * t).exp()
    } else {
        1.0
    };
    if decay_factor != 1.0 {
        image
            .data
            .iter_mut()
            .for_each(|v| *v = (*v as f64 * decay_factor) as f32);
    }
    if let (false, Some(h)) = (tp.time_from_dicom, dicom_h) {
        if (h - tp.time_h).abs() > TIME_MISMATCH_H.max(TIME_MISMATCH_REL * tp.time_h) {
            warnings.push(format!(
                "warning: the study says {:.2} h after administration but the DICOM times say {h:.2} h (injection {}, acquisition {}); the study's time is used",
                tp.time_h,
                p.injection_time.as_deref().unwrap_or("?"),
                p.acquisition_time.as_deref().unwrap_or("?")
            ));
        }
    }
    if let Some(n) = p.nuclide_in_file.as_deref() {
        if !n.eq_ignore_ascii_case(&cycle.nuclide) {
            warnings.push(format!(
                "warning: the DICOM names {n} but the cycle's nuclide is {}; the cycle's is used",
                cycle.nuclide
            ));
        }
    }
    Ok(Scan {
        image,
        unit: ActivityUnit::PerMl { to_bq_per_ml: 1.0 },
        dicom: Some(DicomScan {
            time_point: tn,
            path: tp.image.clone(),
            modality: p.modality,
            value_source: p.value_source,
            units_in_file: p.units_in_file,
            decay_correction: p.decay_correction,
            decay_factor,
            dicom_hours_after_injection: dicom_h,
            injection_time: p.injection_time,
            acquisition_time: p.acquisition_time,
            time_h: tp.time_h,
            time_source: if tp.time_from_dicom {
                "DICOM (acquisition − injection)".into()
            } else {
                "study".into()
            },
            nuclide_in_file: p.nuclide_in_file,
            camera: p.camera,
            frame_of_reference_uid: img.identity.frame_of_reference_uid,
            warnings,
        }),
    })
}

impl DicomScan {
    /// One line for the log: what was read and where its time came from, then warnings.
    pub fn notes(&self, cn: usize) -> Vec<String> {
        let at = format!("cycle {cn}, time point {}", self.time_point);
        let mut out = vec![format!(
            "{at}: DICOM {} {} ({}{}); time {:.2} h from the {}",
            self.modality,
            self.path.display(),
            self.value_source,
            if self.decay_factor != 1.0 {
                format!(
                    ", decay correction to administration undone: × {:.4}",
                    self.decay_factor
                )
            } else {
                String::new()
            },
            self.time_h,
            self.time_source
        )];
        out.extend(self.warnings.iter().map(|w| format!("{at}: {w}")));
        out
    }
}

/// Refuses a scan without activity: every voxel ≤ 0, or a total ≤ 0 (a sign flip, a
/// subtracted image), which would be fitted into a meaningless TAC (R² ≪ 0).
fn refuse_no_activity(path: &Path, vol: &Volume<f32>) -> Result<()> {
    let total: f64 = vol.data.iter().map(|&v| f64::from(v)).sum();
    if total > 0.0 && vol.data.iter().any(|&v| v > 0.0) {
        return Ok(());
    }
    let negative = vol.data.iter().filter(|&&v| v < 0.0).count();
    let min = vol.data.iter().copied().fold(f32::INFINITY, f32::min);
    if negative > 0 {
        return Err(crate::io::InputError::NegativeActivity {
            path: path.to_path_buf(),
            count: negative,
            min: f64::from(min),
        }
        .into());
    }
    Err(crate::io::InputError::Inconsistent {
        path: path.to_path_buf(),
        reason: "holds no activity (every voxel is 0); check it is the right scan".into(),
    }
    .into())
}
