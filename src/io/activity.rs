//! Quantitative emission images (NM SPECT and PT PET, single- and multi-frame) → activity
//! concentration in Bq/mL on the image grid, with the provenance that makes it traceable.
//!
//! Value sources, in order:
//! 1. Real World Value Mapping (0040,9096) with MeasurementUnitsCodeSequence (0040,08EA) in
//!    UCUM: `Bq/ml`, `kBq/ml`, `MBq/ml` (case-insensitive) → Bq/mL.
//! 2. Units (0054,1001) with the modality rescale: `BQML` → Bq/mL; `GML` (SUV body weight) →
//!    Bq/mL = SUV × D / W, with D the injected activity decay-corrected to the image's
//!    decay-correction reference and W the PatientWeight (0010,1030) in g (QIBA FDG-PET
//!    profile, SUV definition).
//! 3. Counts (`CNTS`, or no units at all): refused, unless `--calibration-bq-ml-per-count`
//!    gives the factor (then Bq/mL = factor × rescaled counts).
//!
//! Times: injection from RadiopharmaceuticalStartDateTime (0018,1078) or StartTime (0018,1072)
//! with the series date; acquisition from AcquisitionDateTime, AcquisitionDate/Time or
//! SeriesDate/Time. RadionuclideTotalDose (0018,1074) is in MBq for NM and in Bq for PT
//! (DICOM PS3.3 C.8.4.10 and C.8.9.1 — both recorded in Bq here). DecayCorrection (0054,1102)
//! says what time the values refer to: ADMIN (injection), START (acquisition start), NONE.
//!
//! Units in names: `activity_bq`, `concentration_bq_ml`, `half_life_s`, times in seconds
//! since 1970-01-01 (no time zone: DICOM local time).

use crate::geometry::Volume;
use crate::io::dicom::{first_item, opt_f64, opt_str};
use crate::io::series::{read_series, LinearMap, Series, SeriesIdentity};
use crate::io::InputError;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How to turn the image into Bq/mL when the file does not say.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActivityOptions {
    /// Bq/mL per (rescaled) count, for SPECT without quantitative units.
    pub calibration_bq_ml_per_count: Option<f64>,
}

/// Where the activity values and times came from.
#[derive(Clone, Debug, Serialize)]
pub struct ActivityProvenance {
    /// Modality (NM or PT).
    pub modality: String,
    /// How stored values became Bq/mL, in words.
    pub value_source: String,
    /// Units as given in the file (Units tag or UCUM code), or "counts".
    pub units_in_file: String,
    /// Nuclide as read from the file, normalised ("Lu-177"), if any.
    pub nuclide_in_file: Option<String>,
    /// The raw CodeMeaning / Radionuclide text.
    pub nuclide_text: Option<String>,
    /// Radiopharmaceutical (0018,0031).
    pub radiopharmaceutical: Option<String>,
    /// Injected activity in Bq (converted from MBq for NM).
    pub injected_activity_bq: Option<f64>,
    /// Half-life from the file, s.
    pub half_life_s: Option<f64>,
    /// Injection date-time as read (ISO 8601, local time).
    pub injection_time: Option<String>,
    /// Acquisition date-time (ISO 8601, local time).
    pub acquisition_time: Option<String>,
    /// Hours from injection to acquisition start, when both are known.
    pub scan_hours_after_injection: Option<f64>,
    /// DecayCorrection (0054,1102).
    pub decay_correction: Option<String>,
    /// The time the values refer to (ISO 8601), per DecayCorrection.
    pub reference_time: Option<String>,
    /// PatientWeight, kg.
    pub patient_weight_kg: Option<f64>,
    /// Calibration factor applied (Bq/mL per count), if any.
    pub calibration_bq_ml_per_count: Option<f64>,
    /// Total activity in the image at the reference time, Bq.
    pub total_activity_bq: f64,
    /// Camera, collimator and stated resolution (what partial-volume correction can use).
    pub camera: CameraInfo,
    /// Warnings raised while interpreting the file.
    pub warnings: Vec<String>,
}

/// What an emission series says about the camera that acquired it: the inputs of an
/// assumed point-spread function ([`crate::kinetics::psf`]). Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraInfo {
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// ManufacturerModelName (0008,1090).
    pub model: Option<String>,
    /// CollimatorGridName (0018,1180), e.g. "MEGP", from the data set or the first item
    /// of the Detector Information Sequence (0054,0022).
    pub collimator: Option<String>,
    /// CollimatorType (0018,1181), e.g. "PARA".
    pub collimator_type: Option<String>,
    /// SpatialResolution (0018,1050), mm: "the inherent limiting resolution … for the data
    /// gathering and reconstruction technique chosen" (PS3.3 General Equipment module).
    pub spatial_resolution_mm: Option<f64>,
}

impl CameraInfo {
    /// Reads the camera tags of `header`.
    pub fn read(header: &InMemDicomObject) -> CameraInfo {
        let detector = first_item(header, tags::DETECTOR_INFORMATION_SEQUENCE);
        let either = |tag| opt_str(header, tag).or_else(|| detector.and_then(|d| opt_str(d, tag)));
        CameraInfo {
            manufacturer: opt_str(header, tags::MANUFACTURER),
            model: opt_str(header, tags::MANUFACTURER_MODEL_NAME),
            collimator: either(tags::COLLIMATOR_GRID_NAME),
            collimator_type: either(tags::COLLIMATOR_TYPE),
            spatial_resolution_mm: opt_f64(header, tags::SPATIAL_RESOLUTION)
                .filter(|r| r.is_finite() && *r > 0.0),
        }
    }
}

/// An activity image.
#[derive(Clone, Debug)]
pub struct ActivityImage {
    /// The input path.
    pub path: PathBuf,
    /// Activity concentration, Bq/mL, per voxel.
    pub concentration_bq_ml: Volume<f32>,
    /// Identifiers of the series.
    pub identity: SeriesIdentity,
    /// Where values and times came from.
    pub provenance: ActivityProvenance,
}

/// Reads an NM or PT series (folder or file), or a NIfTI already in Bq/mL.
pub fn read_activity(path: &Path, opts: &ActivityOptions) -> Result<ActivityImage, InputError> {
    if crate::io::ct::is_nifti(path) {
        return read_nifti_activity(path, opts);
    }
    let series = read_series(path)?;
    let modality = series.modality.as_str();
    if modality != "NM" && modality != "PT" {
        return Err(InputError::WrongModality {
            path: path.to_path_buf(),
            detail: format!(
                "expected an NM (SPECT) or PT emission series but (0008,0060) Modality is '{modality}'; pass the emission series (a CT goes to --ct, or in a study file to \"ct\" / \"reference_ct\")"
            ),
        });
    }
    if series.sop_class_uid == "1.2.840.10008.5.1.4.1.1.7" {
        return Err(InputError::WrongModality {
            path: series.header_file.clone(),
            detail: "is a Secondary Capture (SOP class 1.2.840.10008.5.1.4.1.1.7): a picture of an NM image, with no quantitative values; export the reconstructed SPECT as NM or PET Image Storage".into(),
        });
    }
    let mut warnings = series.warnings.clone();
    let radio = Radiopharmaceutical::read(&series.header, modality);
    let times = Times::read(&series.header, &radio, &mut warnings);
    let (maps, value_source, units_in_file) =
        value_maps(&series, &radio, &times, opts, &mut warnings)?;
    let mut k = 0;
    let data = series.values(|_| {
        k += 1;
        maps[k - 1]
    });
    let concentration_bq_ml = Volume {
        grid: series.grid.clone(),
        data,
    };
    crate::io::ct::check_finite(path, &concentration_bq_ml)?;
    check_not_negative(path, &concentration_bq_ml)?;
    let total_activity_bq = total_bq(&concentration_bq_ml);
    let provenance = ActivityProvenance {
        modality: modality.to_string(),
        value_source,
        units_in_file: units_in_file.clone(),
        nuclide_in_file: radio.nuclide.clone(),
        nuclide_text: radio.nuclide_text.clone(),
        radiopharmaceutical: radio.name.clone(),
        injected_activity_bq: radio.injected_bq,
        half_life_s: radio.half_life_s,
        injection_time: times.injection.map(iso),
        acquisition_time: times.acquisition.map(iso),
        scan_hours_after_injection: times.hours_after_injection(),
        decay_correction: times.decay_correction.clone(),
        reference_time: times.reference().map(iso),
        patient_weight_kg: opt_f64(&series.header, tags::PATIENT_WEIGHT),
        calibration_bq_ml_per_count: opts
            .calibration_bq_ml_per_count
            .filter(|_| units_in_file == "counts" || units_in_file == "CNTS"),
        total_activity_bq,
        camera: CameraInfo::read(&series.header),
        warnings,
    };
    Ok(ActivityImage {
        path: path.to_path_buf(),
        concentration_bq_ml,
        identity: series.identity(),
        provenance,
    })
}

fn read_nifti_activity(path: &Path, opts: &ActivityOptions) -> Result<ActivityImage, InputError> {
    let mut vol = crate::io::nifti::read_volume_f32(path)?;
    crate::io::ct::check_finite(path, &vol)?;
    let mut warnings = vec![
        "NIfTI activity: values are taken as Bq/mL; no times or nuclide in the file".to_string(),
    ];
    if let Some(c) = opts.calibration_bq_ml_per_count {
        vol.data
            .iter_mut()
            .for_each(|v| *v = (*v as f64 * c) as f32);
        warnings = vec![format!(
            "NIfTI activity: values are counts × {c} Bq/mL per count"
        )];
    }
    check_not_negative(path, &vol)?;
    let total_activity_bq = total_bq(&vol);
    Ok(ActivityImage {
        path: path.to_path_buf(),
        identity: SeriesIdentity::default(),
        provenance: ActivityProvenance {
            modality: "NIfTI".into(),
            value_source: "NIfTI voxel values".into(),
            units_in_file: if opts.calibration_bq_ml_per_count.is_some() {
                "counts".into()
            } else {
                "Bq/mL (assumed)".into()
            },
            nuclide_in_file: None,
            nuclide_text: None,
            radiopharmaceutical: None,
            injected_activity_bq: None,
            half_life_s: None,
            injection_time: None,
            acquisition_time: None,
            scan_hours_after_injection: None,
            decay_correction: None,
            reference_time: None,
            patient_weight_kg: None,
            calibration_bq_ml_per_count: opts.calibration_bq_ml_per_count,
            total_activity_bq,
            camera: CameraInfo::default(),
            warnings,
        },
        concentration_bq_ml: vol,
    })
}

/// What an NM/PT series' header says about when it was acquired, read from its first image
/// file (the one whose header [`read_activity`] uses) without decoding the series.
#[derive(Clone, Debug, Default)]
pub struct HeaderTimes {
    /// Hours from injection to acquisition start, when both are stated.
    pub scan_hours_after_injection: Option<f64>,
    /// Injection date-time (ISO 8601, local time).
    pub injection_time: Option<String>,
    /// Acquisition date-time (ISO 8601, local time).
    pub acquisition_time: Option<String>,
}

/// The injection and acquisition times of an NM or PT series (folder or file); refuses
/// another modality as [`read_activity`] does.
pub fn read_header_times(path: &Path) -> Result<HeaderTimes, InputError> {
    let files = crate::io::series::list_files(path)?;
    let mut first_error = None;
    for f in &files {
        match crate::io::dicom::open(f) {
            Ok(o) if o.element_opt(tags::PIXEL_DATA).ok().flatten().is_some() => {
                let modality = opt_str(&o, tags::MODALITY).unwrap_or_default();
                if modality != "NM" && modality != "PT" {
                    return Err(InputError::WrongModality {
                        path: path.to_path_buf(),
                        detail: format!("expected an NM (SPECT) or PT emission series but (0008,0060) Modality is '{modality}'; pass the emission series (a CT goes to \"ct\" / \"reference_ct\")"),
                    });
                }
                let radio = Radiopharmaceutical::read(&o, &modality);
                let times = Times::read(&o, &radio, &mut Vec::new());
                return Ok(HeaderTimes {
                    scan_hours_after_injection: times.hours_after_injection(),
                    injection_time: times.injection.map(iso),
                    acquisition_time: times.acquisition.map(iso),
                });
            }
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(InputError::EmptySeries {
        path: path.to_path_buf(),
        detail: format!(
            "{} file(s) looked at, none with PixelData (7FE0,0010)",
            files.len()
        ),
    }))
}

/// Σ concentration × voxel volume, Bq.
pub fn total_bq(vol: &Volume<f32>) -> f64 {
    let ml = vol.grid.voxel_volume_mm3() * 1e-3;
    vol.data.iter().map(|&v| v as f64).sum::<f64>() * ml
}

/// Small negative values are reconstruction noise of some algorithms; beyond −1 % of the
/// maximum they mean a wrong scaling or a subtraction artefact.
fn check_not_negative(path: &Path, vol: &Volume<f32>) -> Result<(), InputError> {
    let max = vol.data.iter().copied().fold(0.0f32, f32::max) as f64;
    let limit = -0.01 * max;
    let neg: Vec<f64> = vol
        .data
        .iter()
        .map(|&v| v as f64)
        .filter(|&v| v < limit)
        .collect();
    if !neg.is_empty() {
        return Err(InputError::NegativeActivity {
            path: path.to_path_buf(),
            count: neg.len(),
            min: neg.iter().copied().fold(f64::INFINITY, f64::min),
        });
    }
    Ok(())
}

/// The per-slice stored → Bq/mL maps and a description of their source.
fn value_maps(
    series: &Series,
    radio: &Radiopharmaceutical,
    times: &Times,
    opts: &ActivityOptions,
    warnings: &mut Vec<String>,
) -> Result<(Vec<LinearMap>, String, String), InputError> {
    let file = &series.header_file;
    let missing = series.slices.iter().filter(|s| s.rescale.is_none()).count();
    if missing > 0 {
        warnings.push(format!(
            "{missing} of {} slice(s) have no RescaleSlope (0028,1053): their stored values are taken as they are (slope 1, intercept 0); if the activity in the field of view looks wrong, the export dropped the rescale",
            series.slices.len()
        ));
    }
    let rescale = |s: &crate::io::series::Slice| {
        s.rescale.unwrap_or(LinearMap {
            slope: 1.0,
            intercept: 0.0,
        })
    };
    // 1. Real-world value mapping with activity units.
    if let Some(rwv) = series.slices[0].real_world.as_ref() {
        let units = rwv.units.clone().unwrap_or_default();
        if let Some(scale) = ucum_activity_scale(&units) {
            let mut maps = Vec::new();
            for s in &series.slices {
                let r = s
                    .real_world
                    .as_ref()
                    .filter(|r| r.units.as_deref() == Some(units.as_str()));
                let r = r.ok_or_else(|| InputError::MixedSeries {
                    path: s.file.clone(),
                    detail: format!(
                        "frame {} has no Real World Value Mapping in {units} while the first has",
                        s.frame
                    ),
                })?;
                maps.push(LinearMap {
                    slope: r.map.slope * scale,
                    intercept: r.map.intercept * scale,
                });
            }
            return Ok((
                maps,
                format!("RealWorldValueMapping (0040,9096) in {units}"),
                units,
            ));
        }
        if !is_counts_unit(&units) {
            return Err(InputError::UnexpectedUnits {
                path: file.clone(),
                tag: "(0040,08EA) MeasurementUnitsCodeSequence CodeValue".into(),
                units,
                accepted: "Bq/ml, kBq/ml, MBq/ml (UCUM)".into(),
            });
        }
    }
    let units = opt_str(&series.header, tags::UNITS);
    match units.as_deref() {
        Some("BQML") => Ok((series.slices.iter().map(rescale).collect(), "Units BQML with RescaleSlope/Intercept per slice".into(), "BQML".into())),
        Some("GML") => {
            let factor = suv_to_bq_ml(series, radio, times, warnings)?;
            let maps = series
                .slices
                .iter()
                .map(|s| {
                    let r = rescale(s);
                    LinearMap { slope: r.slope * factor, intercept: r.intercept * factor }
                })
                .collect();
            Ok((maps, format!("Units GML (SUV body weight) × injected activity / weight = × {factor:.6e} Bq/mL per SUV"), "GML".into()))
        }
        None | Some("CNTS") => counts(series, opts, units.unwrap_or_else(|| "counts".into()), rescale),
        Some(other) => Err(InputError::UnexpectedUnits {
            path: file.clone(),
            tag: "(0054,1001) Units".into(),
            units: other.into(),
            accepted: "BQML, GML (SUV bw, converted with dose and weight), CNTS with --calibration-bq-ml-per-count".into(),
        }),
    }
}

fn counts(
    series: &Series,
    opts: &ActivityOptions,
    units: String,
    rescale: impl Fn(&crate::io::series::Slice) -> LinearMap,
) -> Result<(Vec<LinearMap>, String, String), InputError> {
    let Some(cal) = opts.calibration_bq_ml_per_count else {
        return Err(InputError::NotQuantitative {
            path: series.header_file.clone(),
            detail: format!(
                "the {} image is in counts ((0054,1001) Units {}, no Real World Value Mapping (0040,9096) in Bq/ml)",
                series.modality,
                if units == "counts" { "absent".to_string() } else { units.clone() }
            ),
        });
    };
    let maps = series
        .slices
        .iter()
        .map(|s| {
            let r = rescale(s);
            LinearMap {
                slope: r.slope * cal,
                intercept: r.intercept * cal,
            }
        })
        .collect();
    Ok((
        maps,
        format!("counts × --calibration-bq-ml-per-count {cal}"),
        units,
    ))
}

/// Bq/mL per SUV(bw): D_ref / W, with D decay-corrected to the image's reference time.
fn suv_to_bq_ml(
    series: &Series,
    radio: &Radiopharmaceutical,
    times: &Times,
    warnings: &mut Vec<String>,
) -> Result<f64, InputError> {
    let file = &series.header_file;
    if let Some(t) = opt_str(&series.header, tags::SUV_TYPE) {
        if t != "BW" {
            return Err(InputError::UnexpectedUnits {
                path: file.clone(),
                tag: "(0054,1006) SUVType".into(),
                units: t,
                accepted: "BW (body-weight SUV)".into(),
            });
        }
    }
    let weight_kg = opt_f64(&series.header, tags::PATIENT_WEIGHT)
        .filter(|w| *w > 0.0)
        .ok_or_else(|| {
            crate::io::dicom::missing(
                file,
                tags::PATIENT_WEIGHT,
                "an SUV image needs the weight to give Bq/mL; re-export in BQML",
            )
        })?;
    let dose_bq = radio.injected_bq.filter(|d| *d > 0.0).ok_or_else(|| {
        crate::io::dicom::missing(
            file,
            tags::RADIONUCLIDE_TOTAL_DOSE,
            "an SUV image needs the injected activity to give Bq/mL; re-export in BQML",
        )
    })?;
    let decay = match times.decay_correction.as_deref() {
        Some("ADMIN") | None => 1.0,
        Some("START") | Some("NONE") => {
            let (Some(h), Some(t_half)) = (times.hours_after_injection(), radio.half_life_s) else {
                return Err(InputError::Times {
                    path: file.clone(),
                    detail: "an SUV image decay-corrected to acquisition start needs the injection and acquisition times and (0018,1075) RadionuclideHalfLife; re-export in BQML".into(),
                });
            };
            (-(2f64.ln()) * h * 3600.0 / t_half).exp()
        }
        Some(other) => {
            warnings.push(format!("DecayCorrection '{other}' not understood: SUV converted with the injected activity undecayed"));
            1.0
        }
    };
    Ok(dose_bq * decay / (weight_kg * 1000.0))
}

/// Multiplier from a UCUM activity-concentration code to Bq/mL.
fn ucum_activity_scale(units: &str) -> Option<f64> {
    match units.to_ascii_lowercase().as_str() {
        "bq/ml" | "bq/cm3" => Some(1.0),
        "kbq/ml" | "kbq/cm3" => Some(1e3),
        "mbq/ml" | "mbq/cm3" => Some(1e6),
        _ => None,
    }
}

fn is_counts_unit(units: &str) -> bool {
    matches!(
        units.to_ascii_lowercase().as_str(),
        "" | "{counts}" | "{count}" | "cnts" | "counts" | "1" | "{cnts}"
    )
}

/// What the Radiopharmaceutical Information Sequence (0054,0016) says.
#[derive(Clone, Debug, Default)]
struct Radiopharmaceutical {
    name: Option<String>,
    nuclide_text: Option<String>,
    nuclide: Option<String>,
    injected_bq: Option<f64>,
    half_life_s: Option<f64>,
    start_datetime: Option<String>,
    start_time: Option<String>,
}

impl Radiopharmaceutical {
    fn read(header: &InMemDicomObject, modality: &str) -> Self {
        let Some(item) = first_item(header, tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE) else {
            return Radiopharmaceutical::default();
        };
        let nuclide_text = first_item(item, tags::RADIONUCLIDE_CODE_SEQUENCE)
            .and_then(|c| opt_str(c, tags::CODE_MEANING))
            // Radionuclide (0018,0030), retired but still written by some systems.
            .or_else(|| opt_str(item, dicom_core::Tag(0x0018, 0x0030)))
            .or_else(|| opt_str(header, dicom_core::Tag(0x0018, 0x0030)));
        // DICOM: NM RadionuclideTotalDose in MBq, PET in Bq.
        let to_bq = if modality == "NM" { 1e6 } else { 1.0 };
        Radiopharmaceutical {
            name: opt_str(item, tags::RADIOPHARMACEUTICAL),
            nuclide: nuclide_text.as_deref().and_then(normalise_nuclide),
            nuclide_text,
            injected_bq: opt_f64(item, tags::RADIONUCLIDE_TOTAL_DOSE).map(|d| d * to_bq),
            half_life_s: opt_f64(item, tags::RADIONUCLIDE_HALF_LIFE).filter(|t| *t > 0.0),
            start_datetime: opt_str(item, tags::RADIOPHARMACEUTICAL_START_DATE_TIME),
            start_time: opt_str(item, tags::RADIOPHARMACEUTICAL_START_TIME),
        }
    }
}

/// Injection and acquisition times (seconds, local) and the decay-correction reference.
#[derive(Clone, Debug, Default)]
struct Times {
    injection: Option<f64>,
    acquisition: Option<f64>,
    decay_correction: Option<String>,
}

impl Times {
    fn read(
        header: &InMemDicomObject,
        radio: &Radiopharmaceutical,
        warnings: &mut Vec<String>,
    ) -> Self {
        let date_time = |d, t| -> Option<f64> {
            let d = opt_str(header, d)?;
            let t = opt_str(header, t)?;
            parse_dicom_datetime(&format!("{d}{t}"))
        };
        let acquisition = opt_str(header, tags::ACQUISITION_DATE_TIME)
            .and_then(|s| parse_dicom_datetime(&s))
            .or_else(|| date_time(tags::ACQUISITION_DATE, tags::ACQUISITION_TIME))
            .or_else(|| date_time(tags::SERIES_DATE, tags::SERIES_TIME));
        let acq_date =
            opt_str(header, tags::ACQUISITION_DATE).or_else(|| opt_str(header, tags::SERIES_DATE));
        let from_tm = || -> Option<f64> {
            parse_dicom_datetime(&format!(
                "{}{}",
                acq_date.clone()?,
                radio.start_time.clone()?
            ))
        };
        let mut injection = radio
            .start_datetime
            .as_deref()
            .and_then(parse_dicom_datetime)
            .or_else(from_tm);
        if let (Some(inj), Some(acq), Some(tm)) = (injection, acquisition, from_tm()) {
            // Anonymisers sometimes shift dates in one tag and not the other: prefer the
            // start time on the acquisition date when the full date-time is after the scan.
            if inj > acq && tm <= acq && acq - tm < 86400.0 {
                warnings.push(format!(
                    "(0018,1078) RadiopharmaceuticalStartDateTime {} is after the acquisition {}; using (0018,1072) RadiopharmaceuticalStartTime on the acquisition date ({})",
                    iso(inj), iso(acq), iso(tm)
                ));
                injection = Some(tm);
            }
        }
        Times {
            injection,
            acquisition,
            decay_correction: opt_str(header, tags::DECAY_CORRECTION),
        }
    }

    fn hours_after_injection(&self) -> Option<f64> {
        Some((self.acquisition? - self.injection?) / 3600.0)
    }

    fn reference(&self) -> Option<f64> {
        match self.decay_correction.as_deref() {
            Some("ADMIN") => self.injection,
            _ => self.acquisition,
        }
    }
}

/// Seconds since 1970-01-01 of a DICOM DT (YYYYMMDDHHMMSS.FFFFFF, trailing parts optional,
/// time zone suffix ignored) or DA+TM concatenation. Old "HH:MM:SS" times are accepted.
pub fn parse_dicom_datetime(s: &str) -> Option<f64> {
    let s: String = s.split(['+', '-']).next()?.replace(':', "");
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m.to_string(), format!("0.{f}").parse::<f64>().ok()?),
        None => (s.clone(), 0.0),
    };
    if main.len() < 8 || !main.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |a: usize, b: usize| -> Option<i64> {
        main.get(a..b).map(|x| x.parse().ok()).unwrap_or(Some(0))
    };
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, sec) = (num(8, 10)?, num(10, 12)?, num(12, 14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) as f64 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// ISO 8601 text of seconds since 1970-01-01.
pub fn iso(t: f64) -> String {
    let days = t.div_euclid(86400.0) as i64;
    let secs = t.rem_euclid(86400.0);
    // Inverse of days_from_civil.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (
        (secs / 3600.0) as i64,
        ((secs % 3600.0) / 60.0) as i64,
        secs % 60.0,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02.0}")
}

/// Element symbols by name, for the nuclides of nuclear medicine.
const ELEMENTS: [(&str, &str); 24] = [
    ("lutetium", "Lu"),
    ("fluorine", "F"),
    ("gallium", "Ga"),
    ("technetium", "Tc"),
    ("iodine", "I"),
    ("yttrium", "Y"),
    ("indium", "In"),
    ("holmium", "Ho"),
    ("copper", "Cu"),
    ("actinium", "Ac"),
    ("radium", "Ra"),
    ("lead", "Pb"),
    ("terbium", "Tb"),
    ("samarium", "Sm"),
    ("rhenium", "Re"),
    ("zirconium", "Zr"),
    ("bismuth", "Bi"),
    ("astatine", "At"),
    ("thorium", "Th"),
    ("carbon", "C"),
    ("nitrogen", "N"),
    ("oxygen", "O"),
    ("rubidium", "Rb"),
    ("thallium", "Tl"),
];

/// "Lu-177" from the forms found in files: "^177^Lutetium", "Lutetium-177", "177Lu",
/// "Lu177", "18F", "Lu-177". `None` when no element and mass number can be found.
pub fn normalise_nuclide(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let digits: String = lower
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if digits.is_empty() {
        return None;
    }
    let meta =
        lower.contains(&format!("{digits}m")) || lower.ends_with('m') && !lower.ends_with("ium");
    let letters: String = lower.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    let symbol = ELEMENTS
        .iter()
        .find(|(name, _)| letters.contains(name))
        .map(|(_, s)| s.to_string())
        .or_else(|| {
            let sym = letters.trim_end_matches('m');
            ELEMENTS
                .iter()
                .find(|(_, s)| s.eq_ignore_ascii_case(sym))
                .map(|(_, s)| s.to_string())
        })?;
    Some(format!("{symbol}-{digits}{}", if meta { "m" } else { "" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nuclide_names_from_dicom_forms_are_normalised() {
        for (text, want) in [
            ("^177^Lutetium", "Lu-177"),
            ("Lutetium-177", "Lu-177"),
            ("177Lu", "Lu-177"),
            ("Lu177", "Lu-177"),
            ("18F", "F-18"),
            ("^99m^Technetium", "Tc-99m"),
            ("Tc99m", "Tc-99m"),
        ] {
            assert_eq!(normalise_nuclide(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(normalise_nuclide("FDG"), None);
    }

    #[test]
    fn dicom_datetimes_parse_to_seconds_and_back() {
        // 2006-01-29T13:51:00 is 13177 days after 1970-01-01 (36 years incl. 9
        // leap days = 13149 days to 2006-01-01, + 28).
        let t = parse_dicom_datetime("20060129135100.00").unwrap();
        assert_eq!(t, (13177.0 * 86400.0) + 13.0 * 3600.0 + 51.0 * 60.0);
        assert_eq!(iso(t), "2006-01-29T13:51:00");
        assert_eq!(
            parse_dicom_datetime("20060128145759"),
            Some(t - 86400.0 + 3600.0 + 6.0 * 60.0 + 59.0)
        );
        assert_eq!(parse_dicom_datetime("2006012"), None);
    }
}
