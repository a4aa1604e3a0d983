//! The patient problem (`voxdose run --ct DIR --spect DIR …`):
//!
//! 1. read the CT (HU) and the SPECT/PET (Bq/mL, with provenance);
//! 2. transport grid = the CT grid restricted to the CT ∩ SPECT overlap (coarsened to
//!    `voxel_mm` when given); HU trilinear onto it → material and density (Schneider 2000);
//! 3. activity (or a TIA map) onto it conserving the total (Bq per voxel) → voxel source;
//! 4. regions from an RTSTRUCT (contours by patient coordinates) or a label map (NIfTI);
//! 5. the dose scale: a TIA map's total (Bq·s), or a single-scan rule
//!    ([`SingleScanRule`]): `physical-decay` TIA = A(t)/λ (no biological clearance after the
//!    scan) or `hanscheid` TIA = 2·t·A(t)/ln 2 (Hänscheid et al., J Nucl Med 59:75, 2018,
//!    [`crate::kinetics::stp`]), t = scan time after administration (from the DICOM times,
//!    or `scan_hours`); without either, Gy per decay.

use super::config::{PatientInput, SingleScanRule, TransportConfig};
use super::problem::{Problem, ProblemKind};
use super::Clock;
use crate::geometry::hu::HuConversion;
use crate::geometry::resample::{
    bounding_box_mm, box_text, resample_activity, restrict_to_overlap, sample_trilinear,
};
use crate::geometry::{Grid, Region, Volume, VoxelModel};
use crate::io::activity::{read_activity, ActivityImage, ActivityOptions, ActivityProvenance};
use crate::io::ct::{read_ct, CtImage};
use crate::io::series::SeriesIdentity;
use crate::io::InputError;
use crate::kinetics::stp::{stp_tia, StpMethod};
use crate::physics::materials::builtin_materials;
use crate::physics::nuclide::Nuclide;
use crate::source::SourceSpec;
use crate::transport::Observer;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;

/// How the dose per decay became Gy (`patient.json`, `tia`).
#[derive(Clone, Debug, Serialize)]
pub struct TiaRecord {
    /// "tia-map", "physical-decay", "hanscheid" or "none".
    pub rule: String,
    /// The formula, in words.
    pub formula: String,
    /// Total time-integrated activity, Bq·s (decays), when known.
    pub tia_bq_s: Option<f64>,
    /// Activity at the scan time, Bq (single-scan rules).
    pub activity_at_scan_bq: Option<f64>,
    /// Scan time after administration, h (single-scan rules).
    pub scan_hours: Option<f64>,
    /// Physical half-life used, s.
    pub half_life_s: Option<f64>,
}

/// Everything `patient.json` records.
#[derive(Clone, Debug, Serialize)]
pub struct PatientProvenance {
    /// The CT series.
    pub ct: SeriesIdentity,
    /// The emission series.
    pub spect: SeriesIdentity,
    /// How activity was read.
    pub activity: ActivityProvenance,
    /// Nuclide used for transport and where it came from.
    pub nuclide: String,
    /// "dicom", "--nuclide" or "default".
    pub nuclide_source: String,
    /// The transport grid.
    pub transport_grid: Grid,
    /// Fraction of the SPECT activity outside the transport grid.
    pub activity_outside_grid_fraction: f64,
    /// The dose scaling.
    pub tia: TiaRecord,
    /// Regions source and warnings.
    pub regions_source: String,
    /// All warnings.
    pub warnings: Vec<String>,
}

/// What a patient run's outputs need besides the model: the CT's identity (for RT Dose) and
/// the provenance.
#[derive(Clone, Debug)]
pub struct PatientContext {
    /// The patient, study and frame of reference the RT Dose refers to
    /// (`rtdose_identity`).
    pub ct: SeriesIdentity,
    /// Bits per RT Dose value.
    pub rtdose_bits: crate::io::rtdose::RtDoseBits,
    /// `patient.json`.
    pub provenance: PatientProvenance,
}

/// Builds the patient problem (see the module doc).
pub fn build(
    input: &PatientInput,
    transport: &TransportConfig,
    clock: &mut Clock,
    observer: &mut dyn Observer,
) -> Result<Problem> {
    let mut warnings = Vec::new();
    let ct = read_ct(&input.ct)?;
    clock.lap("read_ct", observer);
    warnings.extend(super::sanity::ct_is_hu(&input.ct, &ct.hu));
    warnings.extend(ct.warnings.iter().map(|w| format!("CT: {w}")));
    let spect = read_activity(
        &input.spect,
        &ActivityOptions {
            calibration_bq_ml_per_count: input.calibration_bq_ml_per_count,
        },
    )?;
    clock.lap("read_spect", observer);
    warnings.extend(
        spect
            .provenance
            .warnings
            .iter()
            .map(|w| format!("SPECT: {w}")),
    );
    warnings.extend(frame_warning(&ct, &spect));
    let grid = transport_grid(input, &ct.hu.grid, &spect.concentration_bq_ml.grid)?;
    let (nuclide, nuclide_source) = choose_nuclide(transport, &spect.provenance, &mut warnings)?;
    warnings.extend(super::sanity::activity_in_fov(
        &input.spect,
        crate::io::activity::total_bq(&spect.concentration_bq_ml),
        &spect.provenance,
        // The image decays with the nuclide it holds (the file's, when it says).
        spect.provenance.half_life_s.unwrap_or(nuclide.half_life_s),
        input.accept_activity_mismatch,
    )?);
    let settings = transport.settings(nuclide)?;
    let mut model = voxel_model(&grid, &ct.hu);
    clock.lap("model", observer);
    let (weights, outside) = activity_source(input, &spect, &grid)?;
    super::sanity::overlap(&input.spect, outside, input.accept_small_overlap)?;
    if outside > OUTSIDE_WARNING_FRACTION {
        warnings.push(format!(
            "{:.1} % of the activity lies outside the CT and is not simulated",
            100.0 * outside
        ));
    }
    clock.lap("source", observer);
    let (regions, regions_source, region_warnings) =
        read_regions(input, &grid, &ct.identity.frame_of_reference_uid)?;
    warnings.extend(region_warnings);
    model.regions = regions;
    let rtdose_id = rtdose_identity(input, &ct, &spect, &mut warnings);
    let total_weight: f64 = weights.iter().sum();
    let tia = tia_record(input, total_weight, &spect.provenance, &settings.nuclide)?;
    for w in &warnings {
        observer.warning(w);
    }
    let source = SourceSpec::Voxels {
        weights: weights.iter().map(|&w| w as f32).collect(),
    };
    drop(weights);
    clock.lap("regions", observer);
    let provenance = PatientProvenance {
        ct: ct.identity.clone(),
        spect: spect.identity.clone(),
        activity: spect.provenance.clone(),
        nuclide: settings.nuclide.name.clone(),
        nuclide_source,
        transport_grid: grid,
        activity_outside_grid_fraction: outside,
        tia,
        regions_source,
        warnings,
    };
    Ok(Problem {
        name: "patient".into(),
        description: format!("CT {} + {}", input.ct.display(), input.spect.display()),
        model,
        source,
        settings,
        tia_bq_s: provenance.tia.tia_bq_s,
        dose_to: Default::default(),
        kind: ProblemKind::Patient(Box::new(PatientContext {
            ct: rtdose_id,
            rtdose_bits: input.rtdose.bits,
            provenance,
        })),
    })
}

/// The identity the RT Dose carries: the CT's; for a CT without one (NIfTI) the DICOM
/// SPECT's patient, study and frame of reference (the run placed the SPECT on the CT by
/// patient coordinates, so the dose lies in the SPECT's frame). Each identifier given with
/// `--patient-id`, `--study-uid`, `--frame-of-reference-uid` replaces the one found. Warns
/// about what was taken or replaced, and when the dose is still linked to no patient.
fn rtdose_identity(
    input: &PatientInput,
    ct: &CtImage,
    spect: &ActivityImage,
    warnings: &mut Vec<String>,
) -> SeriesIdentity {
    let mut id = ct.identity.clone();
    if id.patient_id.is_empty() && id.study_instance_uid.is_empty() {
        let s = &spect.identity;
        if !s.patient_id.is_empty() || !s.study_instance_uid.is_empty() {
            warnings.push(format!("RT Dose: the CT has no DICOM identity; patient {:?}, study and frame of reference taken from the SPECT/PET series", s.patient_id));
            id = SeriesIdentity {
                slices: id.slices,
                ..s.clone()
            };
        }
    }
    let given = &input.rtdose;
    let mut replace = |field: &mut String, value: &Option<String>, what: &str, option: &str| {
        if let Some(v) = value {
            if !field.is_empty() && field != v {
                warnings.push(format!(
                    "RT Dose: {option} {v} replaces the {what} {field} of the input DICOM"
                ));
            }
            field.clone_from(v);
        }
    };
    replace(
        &mut id.patient_id,
        &given.patient_id,
        "PatientID",
        "--patient-id",
    );
    replace(
        &mut id.study_instance_uid,
        &given.study_uid,
        "StudyInstanceUID",
        "--study-uid",
    );
    replace(
        &mut id.frame_of_reference_uid,
        &given.frame_of_reference_uid,
        "FrameOfReferenceUID",
        "--frame-of-reference-uid",
    );
    let missing: Vec<&str> = [
        ("--patient-id", id.patient_id.is_empty()),
        ("--study-uid", id.study_instance_uid.is_empty()),
        (
            "--frame-of-reference-uid",
            id.frame_of_reference_uid.is_empty(),
        ),
    ]
    .into_iter()
    .filter_map(|(o, m)| m.then_some(o))
    .collect();
    if !missing.is_empty() {
        warnings.push(format!("RT Dose: no DICOM CT or SPECT gives its patient, study or frame of reference, so rtdose.dcm is linked to no patient (new UIDs, empty PatientID where missing); give {}", missing.join(", ")));
    }
    id
}

/// A warning when the CT and SPECT name different frames of reference.
fn frame_warning(ct: &CtImage, spect: &ActivityImage) -> Option<String> {
    let (c, s) = (
        &ct.identity.frame_of_reference_uid,
        &spect.identity.frame_of_reference_uid,
    );
    (!c.is_empty() && !s.is_empty() && c != s).then(|| {
        format!("CT and SPECT frames of reference differ ({c} vs {s}): aligned by patient coordinates only")
    })
}

/// The source weights on `grid` (Bq, or Bq·s for a TIA map) and the fraction of the input
/// outside it; refuses a source with nothing inside.
fn activity_source(
    input: &PatientInput,
    spect: &ActivityImage,
    grid: &Grid,
) -> Result<(Vec<f64>, f64)> {
    let (weights, outside) = match &input.tia {
        Some(tia_path) => {
            let tia = crate::io::nifti::read_volume_f32(tia_path)?;
            crate::io::ct::check_finite(tia_path, &tia)?;
            let ml = tia.grid.voxel_volume_mm3() * 1e-3;
            let per_ml = Volume {
                grid: tia.grid.clone(),
                data: tia.data.iter().map(|v| (*v as f64 / ml) as f32).collect(),
            };
            resample_activity(&per_ml, grid)
        }
        None => resample_activity(&spect.concentration_bq_ml, grid),
    };
    let total: f64 = weights.iter().sum();
    #[allow(
        clippy::neg_cmp_op_on_partial_ord,
        reason = "a NaN total must fail the check too"
    )]
    if !(total > 0.0) {
        return Err(Error::Input(InputError::Inconsistent {
            path: input.spect.clone(),
            reason: "no activity inside the CT ∩ SPECT overlap; check the SPECT belongs to this CT"
                .into(),
        }));
    }
    Ok((weights, outside))
}

/// Activity outside the grid above this fraction is reported.
const OUTSIDE_WARNING_FRACTION: f64 = 0.01;

/// The dose scale of a patient run (see the module doc).
fn tia_record(
    input: &PatientInput,
    total: f64,
    p: &ActivityProvenance,
    nuclide: &Nuclide,
) -> Result<TiaRecord> {
    let none = TiaRecord {
        rule: "none".into(),
        formula: "no TIA given: dose in Gy per decay".into(),
        tia_bq_s: None,
        activity_at_scan_bq: None,
        scan_hours: None,
        half_life_s: None,
    };
    if input.tia.is_some() {
        return Ok(TiaRecord {
            rule: "tia-map".into(),
            formula: "dose = dose per decay × Σ TIA map (Bq·s)".into(),
            tia_bq_s: Some(total),
            ..none
        });
    }
    let Some(rule) = input.tia_from_single_scan else {
        return Ok(none);
    };
    let t_h = scan_hours(input, p)?;
    if rule == SingleScanRule::Hanscheid {
        crate::kinetics::stp::haenscheid_applicable(t_h)
            .map_err(|reason| Error::invalid("--tia-from-single-scan", reason))?;
    }
    let lambda = std::f64::consts::LN_2 / nuclide.half_life_s;
    // The activity at scan time: undo a decay correction to administration.
    let a_scan = if p.decay_correction.as_deref() == Some("ADMIN") {
        total * (-lambda * t_h * 3600.0).exp()
    } else {
        total
    };
    let (name, formula, tia_bq_s) = match rule {
        SingleScanRule::PhysicalDecay => ("physical-decay", "TIA = A(t)/λ_phys: physical decay only after the scan (no biological clearance)", a_scan / lambda),
        // Hänscheid's rule is unit-free in time: with t in s it gives Bq·s.
        SingleScanRule::Hanscheid => ("hanscheid", "TIA = 2·t·A(t)/ln 2 (Hänscheid et al. 2018, J Nucl Med 59:75), t = scan time after administration", stp_tia(StpMethod::Haenscheid, t_h * 3600.0, a_scan).tia_h),
    };
    Ok(TiaRecord {
        rule: name.into(),
        formula: formula.into(),
        tia_bq_s: Some(tia_bq_s),
        activity_at_scan_bq: Some(a_scan),
        scan_hours: Some(t_h),
        half_life_s: Some(nuclide.half_life_s),
    })
}

/// Hours from administration to the scan: `scan_hours`, else the DICOM times.
fn scan_hours(input: &PatientInput, p: &ActivityProvenance) -> Result<f64> {
    match input.scan_hours.or(p.scan_hours_after_injection) {
        Some(h) if h.is_finite() && h > 0.0 => Ok(h),
        Some(h) => Err(Error::Input(InputError::Times {
            path: input.spect.clone(),
            detail: format!("the scan is {h:.2} h after administration (injection {:?}, acquisition {:?}); a single-scan rule needs a scan after injection: fix the times or pass --scan-hours", p.injection_time, p.acquisition_time),
        })),
        None => Err(Error::invalid("--scan-hours", "the series has no injection/acquisition times; give the hours between administration and the scan")),
    }
}

/// The nuclide: `--nuclide` (with a warning when it contradicts the file), else the DICOM's,
/// else Lu-177 (with a warning); and where it came from.
fn choose_nuclide(
    transport: &TransportConfig,
    p: &ActivityProvenance,
    warnings: &mut Vec<String>,
) -> Result<(Nuclide, String)> {
    let (name, source) = match (&transport.nuclide, &p.nuclide_in_file) {
        (Some(n), Some(f)) => {
            if !n.eq_ignore_ascii_case(f) {
                warnings.push(format!(
                    "--nuclide {n} overrides the nuclide in the SPECT ({f})"
                ));
            }
            (n.clone(), "--nuclide")
        }
        (Some(n), None) => (n.clone(), "--nuclide"),
        (None, Some(f)) => (f.clone(), "dicom"),
        (None, None) => {
            warnings.push("no nuclide in the SPECT and no --nuclide: assuming Lu-177".into());
            ("Lu-177".into(), "default")
        }
    };
    Ok((Nuclide::load(&name)?, source.to_string()))
}

/// CT grid restricted to the overlap, optionally coarsened to `voxel_mm` voxels.
fn transport_grid(input: &PatientInput, ct: &Grid, spect: &Grid) -> Result<Grid> {
    let overlap = restrict_to_overlap(ct, spect).ok_or_else(|| {
        Error::Input(InputError::NoOverlap {
            what: "CT and SPECT".into(),
            a: input.ct.clone(),
            a_box: box_text(bounding_box_mm(ct)),
            b: input.spect.clone(),
            b_box: box_text(bounding_box_mm(spect)),
        })
    })?;
    Ok(match input.voxel_mm {
        Some(v) => overlap.coarsened(v),
        None => overlap,
    })
}

/// HU (trilinear, −1000 outside) → material and density on `grid` (Schneider 2000).
pub fn voxel_model(grid: &Grid, hu: &Volume<f32>) -> VoxelModel {
    let conv = HuConversion::schneider2000();
    let hu_t = sample_trilinear(hu, grid, -1000.0);
    let (material, density_g_cm3) = hu_t
        .par_iter()
        .with_min_len(1 << 15)
        .map(|&h| conv.convert(h))
        .unzip();
    VoxelModel {
        grid: grid.clone(),
        material,
        density_g_cm3,
        materials: builtin_materials().iter().map(|m| m.name.clone()).collect(),
        regions: Vec::new(),
    }
}

/// Regions from the RTSTRUCT or the label map, where they came from, and warnings.
fn read_regions(
    input: &PatientInput,
    grid: &Grid,
    frame_of_reference: &str,
) -> Result<(Vec<Region>, String, Vec<String>)> {
    if let Some(p) = &input.rtstruct {
        let ss = crate::io::rtstruct::read_rtstruct(p)?;
        let (r, w) = ss.regions_on(grid, frame_of_reference)?;
        return Ok((r, format!("RTSTRUCT {}", p.display()), w));
    }
    if let Some(p) = &input.labels {
        let (r, w) = crate::io::masks::regions_from_labels(p, grid)?;
        return Ok((r, format!("labels {}", p.display()), w));
    }
    Ok((Vec::new(), "none".into(), Vec::new()))
}
