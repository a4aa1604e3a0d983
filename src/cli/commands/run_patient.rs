//! `voxdose run --ct DIR --spect DIR …`: the patient pipeline.
//!
//! 1. read the CT (HU) and the SPECT/PET (Bq/mL, with provenance);
//! 2. transport grid = the CT grid restricted to the CT ∩ SPECT overlap (coarsened to
//!    `--voxel-mm` when given); HU trilinear onto it → material and density (Schneider 2000);
//! 3. activity resampled onto it conserving the total (Bq per voxel) → voxel source;
//! 4. regions from `--rtstruct` (contours by patient coordinates) or `--labels` (NIfTI);
//! 5. transport → dose per decay; scaled to Gy by the TIA: `--tia FILE` (a NIfTI map of
//!    Bq·s per voxel, which then is also the source), or `--tia-from-single-scan RULE`:
//!    `physical-decay` TIA = A(t)/λ (no biological clearance after the scan) or `hanscheid`
//!    TIA = 2·t·A(t)/ln 2 (Hänscheid et al., J Nucl Med 59:75, 2018), t = scan time after
//!    administration (from the DICOM times, or `--scan-hours`); without either, Gy per decay;
//! 6. outputs in `--out`: dose.nii.gz, uncertainty.nii.gz (relative σ), rtdose.dcm and
//!    rtdose_sigma.dcm (DoseType ERROR, σ in Gy), organ_table.csv/.json, dvh.csv,
//!    regions.nii.gz, patient.json (provenance, TIA rule) and summary.json.

use crate::cli::args::RunArgs;
use crate::cli::commands::run::settings_from_args;
use crate::geometry::hu::HuConversion;
use crate::geometry::{Grid, Volume, VoxelModel};
use crate::io::activity::{read_activity, ActivityOptions, ActivityProvenance};
use crate::io::atomic::{prepare_output_dir, write_atomic};
use crate::io::ct::read_ct;
use crate::io::resample::{
    bounding_box_mm, box_text, resample_activity, restrict_to_overlap, sample_trilinear,
};
use crate::io::rtdose::{new_uid, write_rt_dose, DoseType};
use crate::io::InputError;
use crate::physics::materials::builtin_materials;
use crate::report::organ_table::{organ_rows, write_dvh_csv, write_organ_table};
use crate::report::stages::Stages;
use crate::report::summary::{write_summary, RunSummary};
use crate::source::SourceSpec;
use crate::transport::simulate;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// The files a patient run writes.
pub const PATIENT_OUTPUTS: &[&str] = &[
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "rtdose.dcm",
    "rtdose_sigma.dcm",
    "organ_table.csv",
    "organ_table.json",
    "dvh.csv",
    "regions.nii.gz",
    "patient.json",
    "summary.json",
];

/// How the dose per decay became Gy.
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
    pub ct: crate::io::series::SeriesIdentity,
    /// The emission series.
    pub spect: crate::io::series::SeriesIdentity,
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

/// Runs the patient pipeline (called by `voxdose run` when `--ct` is given).
pub fn run_patient(args: &RunArgs) -> Result<()> {
    let mut stages = Stages::start();
    let ct_path = args
        .ct
        .as_deref()
        .ok_or_else(|| Error::invalid("--ct", "missing: give the CT series folder"))?;
    let spect_path = args.spect.as_deref().ok_or_else(|| {
        Error::invalid(
            "--spect",
            "missing: give the quantitative SPECT/PET series folder (or a NIfTI in Bq/mL)",
        )
    })?;
    if args.rtstruct.is_some() && args.labels.is_some() {
        return Err(Error::invalid(
            "--rtstruct/--labels",
            "give one source of regions, not both",
        ));
    }
    let rule = parse_rule(args)?;
    if let Some(c) = args.calibration_bq_ml_per_count {
        if !(c.is_finite() && c > 0.0) {
            return Err(Error::invalid(
                "--calibration-bq-ml-per-count",
                format!("{c}; give a positive factor (Bq/mL per count)"),
            ));
        }
    }
    prepare_output_dir(&args.out, PATIENT_OUTPUTS, args.force)?;
    let mut warnings = Vec::new();
    let ct = read_ct(ct_path)?;
    stages.lap("read_ct");
    warnings.extend(ct.warnings.iter().map(|w| format!("CT: {w}")));
    let spect = read_activity(
        spect_path,
        &ActivityOptions {
            calibration_bq_ml_per_count: args.calibration_bq_ml_per_count,
        },
    )?;
    stages.lap("read_spect");
    warnings.extend(
        spect
            .provenance
            .warnings
            .iter()
            .map(|w| format!("SPECT: {w}")),
    );
    let (ct_for, sp_for) = (
        &ct.identity.frame_of_reference_uid,
        &spect.identity.frame_of_reference_uid,
    );
    if !ct_for.is_empty() && !sp_for.is_empty() && ct_for != sp_for {
        warnings.push(format!("CT and SPECT frames of reference differ ({ct_for} vs {sp_for}): aligned by patient coordinates only"));
    }
    let grid = transport_grid(
        args,
        ct_path,
        &ct.hu.grid,
        spect_path,
        &spect.concentration_bq_ml.grid,
    )?;
    let (nuclide, nuclide_source) = choose_nuclide(args, &spect.provenance, &mut warnings);
    let progress = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let settings = settings_from_args(&args.transport, &nuclide, progress)?;
    let mut model = voxel_model(&grid, &ct.hu);
    stages.lap("model");
    let (weights, outside, source_is_tia) = match &args.tia {
        Some(tia_path) => {
            let tia = crate::io::nifti::read_volume_f32(tia_path)?;
            crate::io::ct::check_finite(tia_path, &tia)?;
            let ml = tia.grid.voxel_volume_mm3() * 1e-3;
            let per_ml = Volume {
                grid: tia.grid.clone(),
                data: tia.data.iter().map(|v| (*v as f64 / ml) as f32).collect(),
            };
            let (w, lost) = resample_activity(&per_ml, &grid);
            (w, lost, true)
        }
        None => {
            let (w, lost) = resample_activity(&spect.concentration_bq_ml, &grid);
            (w, lost, false)
        }
    };
    if outside > 0.01 {
        warnings.push(format!(
            "{:.1} % of the activity lies outside the CT and is not simulated",
            100.0 * outside
        ));
    }
    let total_weight: f64 = weights.iter().sum();
    stages.lap("source");
    #[allow(
        clippy::neg_cmp_op_on_partial_ord,
        reason = "a NaN total must fail the check too"
    )]
    if !(total_weight > 0.0) {
        return Err(Error::Input(InputError::Inconsistent {
            path: spect_path.to_path_buf(),
            reason: "no activity inside the CT ∩ SPECT overlap; check the SPECT belongs to this CT"
                .into(),
        }));
    }
    let (regions, regions_source, region_warnings) =
        read_regions(args, &grid, &ct.identity.frame_of_reference_uid)?;
    warnings.extend(region_warnings);
    model.regions = regions;
    let tia = tia_record(
        &rule,
        source_is_tia,
        total_weight,
        &spect.provenance,
        args,
        &settings.nuclide,
    )?;
    for w in &warnings {
        eprintln!("voxdose: warning: {w}");
    }
    let source = SourceSpec::Voxels {
        weights: weights.iter().map(|&w| w as f32).collect(),
    };
    drop(weights);
    stages.lap("regions");
    let result = simulate(&model, &source, &settings)?;
    stages.lap("transport");
    let scale = tia.tia_bq_s.unwrap_or(1.0);
    let unit = if tia.tia_bq_s.is_some() {
        "Gy"
    } else {
        "Gy per decay"
    };
    let dose: Vec<f64> = result.dose_gy_per_decay.iter().map(|d| d * scale).collect();
    write_outputs(args, &model, &dose, &result, &ct.identity, unit)?;
    let rel: Vec<f64> = model
        .regions
        .iter()
        .map(|r| {
            result
                .regions
                .iter()
                .find(|x| x.name == r.name)
                .map_or(0.0, |x| x.rel_sigma)
        })
        .collect();
    let rows = organ_rows(&model, &dose, &rel);
    write_organ_table(
        &args.out.join("organ_table.csv"),
        &args.out.join("organ_table.json"),
        &rows,
    )?;
    write_dvh_csv(&args.out.join("dvh.csv"), &model, &dose, 200)?;
    let provenance = PatientProvenance {
        ct: ct.identity.clone(),
        spect: spect.identity.clone(),
        activity: spect.provenance.clone(),
        nuclide: settings.nuclide.clone(),
        nuclide_source,
        transport_grid: grid.clone(),
        activity_outside_grid_fraction: outside,
        tia,
        regions_source,
        warnings,
    };
    let json = serde_json::to_vec_pretty(&provenance)
        .map_err(|e| Error::Internal(format!("patient.json: {e}")))?;
    write_atomic(&args.out.join("patient.json"), &json)?;
    stages.lap("outputs");
    let mut summary = RunSummary::new(
        "patient",
        &format!("CT {} + {}", ct_path.display(), spect_path.display()),
        &settings,
        &result,
        provenance.tia.tia_bq_s,
    );
    summary.stages_s = Some(stages);
    write_summary(&args.out.join("summary.json"), &summary)?;
    summary.print_brief();
    Ok(())
}

/// The single-scan rule, if any.
enum Rule {
    None,
    PhysicalDecay,
    Hanscheid,
}

fn parse_rule(args: &RunArgs) -> Result<Rule> {
    match (args.tia.is_some(), args.tia_from_single_scan.as_deref()) {
        (true, Some(_)) => Err(Error::invalid(
            "--tia/--tia-from-single-scan",
            "give a TIA map or a single-scan rule, not both",
        )),
        (_, None) => Ok(Rule::None),
        (false, Some("physical-decay")) => Ok(Rule::PhysicalDecay),
        (false, Some("hanscheid")) => Ok(Rule::Hanscheid),
        (false, Some(other)) => Err(Error::invalid(
            "--tia-from-single-scan",
            format!("'{other}'; known rules: physical-decay, hanscheid"),
        )),
    }
}

fn tia_record(
    rule: &Rule,
    source_is_tia: bool,
    total: f64,
    p: &ActivityProvenance,
    args: &RunArgs,
    nuclide: &str,
) -> Result<TiaRecord> {
    if source_is_tia {
        return Ok(TiaRecord {
            rule: "tia-map".into(),
            formula: "dose = dose per decay × Σ TIA map (Bq·s)".into(),
            tia_bq_s: Some(total),
            activity_at_scan_bq: None,
            scan_hours: None,
            half_life_s: None,
        });
    }
    if matches!(rule, Rule::None) {
        return Ok(TiaRecord {
            rule: "none".into(),
            formula: "no TIA given: dose in Gy per decay".into(),
            tia_bq_s: None,
            activity_at_scan_bq: None,
            scan_hours: None,
            half_life_s: None,
        });
    }
    let half_life_s = crate::physics::nuclide::Nuclide::load(nuclide)?.half_life_s;
    let lambda = std::f64::consts::LN_2 / half_life_s;
    let hours = args.scan_hours.or(p.scan_hours_after_injection);
    let t_h = match hours {
        Some(h) if h.is_finite() && h > 0.0 => h,
        Some(h) => {
            return Err(Error::Input(InputError::Times {
                path: args.spect.clone().unwrap_or_default(),
                detail: format!("the scan is {h:.2} h after administration (injection {:?}, acquisition {:?}); a single-scan rule needs a scan after injection: fix the times or pass --scan-hours", p.injection_time, p.acquisition_time),
            }))
        }
        None => return Err(Error::invalid("--scan-hours", "the series has no injection/acquisition times; give the hours between administration and the scan")),
    };
    // The activity at scan time: undo a decay correction to administration.
    let a_scan = if p.decay_correction.as_deref() == Some("ADMIN") {
        total * (-lambda * t_h * 3600.0).exp()
    } else {
        total
    };
    let (name, formula, tia) = match rule {
        Rule::PhysicalDecay => ("physical-decay", "TIA = A(t)/λ_phys: physical decay only after the scan (no biological clearance)", a_scan / lambda),
        _ => ("hanscheid", "TIA = 2·t·A(t)/ln 2 (Hänscheid et al. 2018, J Nucl Med 59:75), t = scan time after administration", 2.0 * t_h * 3600.0 * a_scan / std::f64::consts::LN_2),
    };
    Ok(TiaRecord {
        rule: name.into(),
        formula: formula.into(),
        tia_bq_s: Some(tia),
        activity_at_scan_bq: Some(a_scan),
        scan_hours: Some(t_h),
        half_life_s: Some(half_life_s),
    })
}

fn choose_nuclide(
    args: &RunArgs,
    p: &ActivityProvenance,
    warnings: &mut Vec<String>,
) -> (String, String) {
    match (&args.transport.nuclide, &p.nuclide_in_file) {
        (Some(n), Some(f)) => {
            if !n.eq_ignore_ascii_case(f) {
                warnings.push(format!(
                    "--nuclide {n} overrides the nuclide in the SPECT ({f})"
                ));
            }
            (n.clone(), "--nuclide".into())
        }
        (Some(n), None) => (n.clone(), "--nuclide".into()),
        (None, Some(f)) => (f.clone(), "dicom".into()),
        (None, None) => {
            warnings.push("no nuclide in the SPECT and no --nuclide: assuming Lu-177".into());
            ("Lu-177".into(), "default".into())
        }
    }
}

/// CT grid restricted to the overlap, optionally coarsened to cubic voxels.
pub fn transport_grid(
    args: &RunArgs,
    ct_path: &Path,
    ct: &Grid,
    spect_path: &Path,
    spect: &Grid,
) -> Result<Grid> {
    let overlap = restrict_to_overlap(ct, spect).ok_or_else(|| {
        Error::Input(InputError::NoOverlap {
            what: "CT and SPECT".into(),
            a: ct_path.to_path_buf(),
            a_box: box_text(bounding_box_mm(ct)),
            b: spect_path.to_path_buf(),
            b_box: box_text(bounding_box_mm(spect)),
        })
    })?;
    match args.phantom.voxel_mm {
        None => Ok(overlap),
        Some(v) if v.is_finite() && v > 0.0 => Ok(coarsen(&overlap, v)),
        Some(v) => Err(Error::invalid(
            "--voxel-mm",
            format!("{v}; give a positive voxel size in mm"),
        )),
    }
}

/// A grid with the same placement and extent, voxels of `voxel_mm` along each axis
/// ([`Grid::coarsened`]).
pub fn coarsen(g: &Grid, voxel_mm: f64) -> Grid {
    g.coarsened(voxel_mm)
}

/// HU (trilinear, −1000 outside) → material and density on `grid`.
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

fn read_regions(
    args: &RunArgs,
    grid: &Grid,
    frame_of_reference: &str,
) -> Result<(Vec<crate::geometry::Region>, String, Vec<String>)> {
    if let Some(p) = &args.rtstruct {
        let ss = crate::io::rtstruct::read_rtstruct(p)?;
        let (r, w) = ss.regions_on(grid, frame_of_reference)?;
        return Ok((r, format!("RTSTRUCT {}", p.display()), w));
    }
    if let Some(p) = &args.labels {
        let (r, w) = crate::io::masks::regions_from_labels(p, grid)?;
        return Ok((r, format!("labels {}", p.display()), w));
    }
    Ok((Vec::new(), "none".into(), Vec::new()))
}

fn write_outputs(
    args: &RunArgs,
    model: &VoxelModel,
    dose: &[f64],
    result: &crate::transport::TransportResult,
    ct: &crate::io::series::SeriesIdentity,
    unit: &str,
) -> Result<()> {
    let grid = model.grid.clone();
    let dose_vol = Volume {
        grid: grid.clone(),
        data: dose.iter().map(|&d| d as f32).collect(),
    };
    let rel = Volume {
        grid: grid.clone(),
        data: result.rel_uncertainty.clone(),
    };
    crate::io::nifti::write_volume_f32(
        &args.out.join("dose.nii.gz"),
        &dose_vol,
        &format!("voxdose absorbed dose to medium, {unit}"),
    )?;
    crate::io::nifti::write_volume_f32(
        &args.out.join("uncertainty.nii.gz"),
        &rel,
        "voxdose relative standard uncertainty of dose",
    )?;
    let sigma = Volume {
        grid: grid.clone(),
        data: dose_vol
            .data
            .iter()
            .zip(&rel.data)
            .map(|(d, r)| d * r)
            .collect(),
    };
    let series = new_uid();
    write_rt_dose(
        &args.out.join("rtdose.dcm"),
        &dose_vol,
        ct,
        DoseType::Physical,
        &series,
        &format!("voxdose dose ({unit})"),
    )?;
    write_rt_dose(
        &args.out.join("rtdose_sigma.dcm"),
        &sigma,
        ct,
        DoseType::Error,
        &series,
        &format!("voxdose 1 sigma ({unit})"),
    )?;
    let labels = crate::io::masks::label_volume(&grid, &model.regions);
    crate::io::nifti::write_labels_u16(
        &args.out.join("regions.nii.gz"),
        &labels,
        "voxdose regions (see organ_table)",
    )
}
