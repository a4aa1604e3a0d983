//! Writing a run's results into its output folder, every file atomically:
//!
//! - every run: `dose.nii.gz` (the quantity and unit in its description), `uncertainty.nii.gz`
//!   (relative σ), `summary.json` and `run.json` (the configuration it executed);
//! - a patient run also: `rtdose.dcm` and `rtdose_sigma.dcm` (DoseType ERROR, σ in the dose's
//!   unit), `organ_table.csv/.json`, `dvh.csv`, `regions.nii.gz`, `patient.json`;
//! - a study run: the kinetics fit's files (written when the problem was built), and with
//!   regions: `organ_table.csv/.json` with BED/EQD2 columns, `dvh.csv`, and the cumulative
//!   and per-cycle BED/EQD2 of [`crate::radiobiology::study`] (`bed.nii.gz`, `eqd2.nii.gz`,
//!   `bed_cycle{n}.nii.gz`, `eqd2_cycle{n}.nii.gz`, `bed_summary.json`, `bed_dvh.csv`,
//!   `bed_rtdose.dcm`), each region's tissue chosen from its name (the notes in
//!   `bed_summary.json` say which).

use super::config::{Input, RunConfig};
use super::execute::RunResult;
use super::patient::PatientContext;
use super::problem::{Problem, ProblemKind};
use super::study::StudyContext;
use crate::geometry::{Grid, Volume, VoxelModel};
use crate::io::atomic::write_atomic;
use crate::io::nifti::write_volume_f32;
use crate::io::output_folder::OutputSet;
use crate::io::rtdose::{new_uid, write_rt_dose_bits, DoseType, DoseUnits};
use crate::radiobiology::maps::RegionBed;
use crate::radiobiology::organ_table::{write_organ_table_with_bed, OrganBedColumns};
use crate::radiobiology::study as bed_study;
use crate::report::organ_table::{
    organ_rows, with_method, write_dvh_csv, write_dvh_csv_in, write_organ_table_in,
};
use crate::report::stages::Stages;
use crate::report::summary::{write_summary, RunSummary};
use crate::transport::Observer;
use crate::{Error, Result};
use std::path::Path;

/// The files every run writes.
pub const RUN_OUTPUTS: &[&str] = &[
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "summary.json",
    "run.json",
];

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
    "run.json",
];

/// The files a study run writes besides its fit's (per-cycle BED maps come on top).
pub const STUDY_OUTPUTS: &[&str] = &[
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "summary.json",
    "run.json",
    "organ_table.csv",
    "organ_table.json",
    "dvh.csv",
    "bed.nii.gz",
    "eqd2.nii.gz",
    "bed_summary.json",
    "bed_dvh.csv",
    "bed_rtdose.dcm",
];

/// The files a run of `input` writes (a study's fit adds its own, checked by the fit).
pub fn output_files(input: &Input) -> &'static [&'static str] {
    match input {
        Input::Patient(_) => PATIENT_OUTPUTS,
        Input::Study(_) => STUDY_OUTPUTS,
        Input::Phantom(_) | Input::Materials(_) => RUN_OUTPUTS,
    }
}

/// A study run's files: its own, its fit's and its BED's.
const STUDY_FILES_ALL: &[&str] = &[
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "summary.json",
    "run.json",
    "organ_table.csv",
    "organ_table.json",
    "dvh.csv",
    "bed.nii.gz",
    "eqd2.nii.gz",
    "bed_summary.json",
    "bed_dvh.csv",
    "bed_rtdose.dcm",
    "tia.nii.gz",
    "tia_sigma.nii.gz",
    "regions.json",
    "regions.csv",
];

/// Per-cycle and per-region files of a fit (`tac_c1_kidney.png`, `tia_cycle2.nii.gz`,
/// `voxel_kinetics_cycle1.json` and its parameter maps).
pub const FIT_PATTERNS: &[&str] = &["tac_c*", "tia_cycle*", "voxel_kinetics_cycle*"];

/// Per-cycle BED files (`bed_cycle1.nii.gz`, `eqd2_cycle1.nii.gz`).
pub const BED_PATTERNS: &[&str] = &["bed_cycle*", "eqd2_cycle*"];

/// Everything a run of `input` writes into its folder (for the all-or-nothing folder: what
/// `--force` replaces and what is refused without it).
pub fn output_set(input: &Input) -> OutputSet<'static> {
    match input {
        Input::Study(_) => OutputSet {
            files: STUDY_FILES_ALL,
            patterns: &[
                "tac_c*",
                "tia_cycle*",
                "voxel_kinetics_cycle*",
                "bed_cycle*",
                "eqd2_cycle*",
            ],
        },
        _ => OutputSet {
            files: output_files(input),
            patterns: &[],
        },
    }
}

/// Writes the outputs of `problem`'s `result` into `out`, the stage times in `stages`
/// (its `outputs` lap taken before `summary.json` is written), and returns the summary.
pub fn write_outputs(
    config: &RunConfig,
    problem: &Problem,
    result: &RunResult,
    out: &Path,
    mut stages: Stages,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let dose = result.dose();
    write_maps(out, &problem.model.grid, &dose, result)?;
    match &problem.kind {
        ProblemKind::Patient(patient) => {
            write_patient(out, &problem.model, patient, &dose, result)?
        }
        ProblemKind::Study(study) if result.tia_bq_s.is_some() => {
            write_study(out, &problem.model, study, &dose, result, observer)?
        }
        _ => {}
    }
    write_atomic(&out.join("run.json"), &config.to_json()?)?;
    stages.lap("outputs");
    let mut summary = RunSummary::new(
        &problem.name,
        &problem.description,
        &problem.settings,
        &result.transport,
        result.tia_bq_s,
    );
    summary.dose_quantity = result.dose_quantity;
    summary.method = config.transport.method.name();
    summary.stages_s = Some(stages);
    if let Some(w) = summary.target_uncertainty.and_then(|t| t.warning()) {
        observer.warning(&w);
    }
    write_summary(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// A study run's organ table with BED/EQD2 columns, its DVH and its BED maps (see the
/// module doc); without regions there is no table and no BED.
fn write_study(
    out: &Path,
    model: &VoxelModel,
    study: &StudyContext,
    dose: &[f64],
    result: &RunResult,
    observer: &mut dyn Observer,
) -> Result<()> {
    let regions = bed_study::fit_regions(&study.fit);
    if regions.is_empty() {
        observer.note("no label map in the study: no organ table and no BED (they need regions)");
        return Ok(());
    }
    let (tissues, notes) = bed_study::tissues_from_region_names(&regions);
    for n in &notes {
        observer.note(n);
    }
    let dose_f32: Vec<f32> = dose.iter().map(|&d| d as f32).collect();
    let sigma: Vec<f32> = dose_f32
        .iter()
        .zip(&result.transport.rel_uncertainty)
        .map(|(d, r)| d * r)
        .collect();
    // The fit wrote its voxel parameters into this folder; the TIA grid is the dose grid.
    let (voxel_shapes, voxel_notes) =
        crate::radiobiology::voxel_shapes::load_voxel_shapes(out, &model.grid, None)?;
    for n in &voxel_notes {
        observer.note(n);
    }
    let bed = bed_study::study_bed(&bed_study::StudyBedInput {
        grid: &model.grid,
        dose: bed_study::StudyDose::AllCycles {
            dose_gy: &dose_f32,
            sigma_gy: Some(&sigma),
        },
        regions: &regions,
        fit: &study.fit,
        tissues: &tissues,
        voxel_shapes: &voxel_shapes,
    })?;
    bed_study::write_study_bed(out, &model.grid, &bed, None)?;
    let rows = with_method(
        organ_rows(model, dose, &region_rel_sigma(model, result)),
        result.method,
        result.dose_quantity,
    );
    let columns: Vec<OrganBedColumns> = rows
        .iter()
        .map(|row| bed_columns(&row.region, &bed.summary.regions))
        .collect();
    write_organ_table_with_bed(
        &out.join("organ_table.csv"),
        &out.join("organ_table.json"),
        &rows,
        &columns,
    )?;
    write_dvh_csv(&out.join("dvh.csv"), model, dose, 200)
}

/// The organ-table BED columns of `region` from the study's cumulative BED summary.
fn bed_columns(region: &str, beds: &[RegionBed]) -> OrganBedColumns {
    let b = beds.iter().find(|b| b.name == region);
    OrganBedColumns {
        region: region.to_string(),
        tissue: b.map(|b| b.tissue.clone()),
        bed_mean_gy: b.map(|b| b.bed_mean_gy),
        bed_mean_gy_sigma: b.map(|b| b.bed_mean_gy_sigma),
        eqd2_mean_gy: b.map(|b| b.eqd2_mean_gy),
        bed_d2_gy: b.map(|b| b.bed_d2_gy),
        bed_d98_gy: b.map(|b| b.bed_d98_gy),
        eubed_gy: b.and_then(|b| b.eubed_gy),
    }
}

/// σ of each region's mean dose (batch method), in the model's region order.
fn region_rel_sigma(model: &VoxelModel, result: &RunResult) -> Vec<f64> {
    model
        .regions
        .iter()
        .map(|r| {
            result
                .transport
                .regions
                .iter()
                .find(|x| x.name == r.name)
                .map_or(0.0, |x| x.rel_sigma)
        })
        .collect()
}

/// `dose.nii.gz` and `uncertainty.nii.gz`.
fn write_maps(out: &Path, grid: &Grid, dose: &[f64], result: &RunResult) -> Result<()> {
    let dose_vol = Volume {
        grid: grid.clone(),
        data: dose.iter().map(|&d| d as f32).collect(),
    };
    write_volume_f32(
        &out.join("dose.nii.gz"),
        &dose_vol,
        // The unit first: NIfTI keeps 79 bytes of description.
        &format!(
            "voxdose absorbed dose in {}: {}",
            result.dose_unit(),
            result.dose_quantity
        ),
    )?;
    let sigma = Volume {
        grid: grid.clone(),
        data: result.transport.rel_uncertainty.clone(),
    };
    write_volume_f32(
        &out.join("uncertainty.nii.gz"),
        &sigma,
        "voxdose relative standard uncertainty of dose",
    )
}

/// The patient run's DICOM, tables and provenance.
fn write_patient(
    out: &Path,
    model: &VoxelModel,
    patient: &PatientContext,
    dose: &[f64],
    result: &RunResult,
) -> Result<()> {
    write_rt_doses(out, model, patient, dose, result)?;
    let rows = with_method(
        organ_rows(model, dose, &region_rel_sigma(model, result)),
        result.method,
        result.dose_quantity,
    );
    let unit = result.dose_unit();
    write_organ_table_in(
        &out.join("organ_table.csv"),
        &out.join("organ_table.json"),
        &rows,
        unit,
    )?;
    write_dvh_csv_in(&out.join("dvh.csv"), model, dose, 200, unit)?;
    let labels = crate::io::masks::label_volume(&model.grid, &model.regions);
    crate::io::nifti::write_labels_u16(
        &out.join("regions.nii.gz"),
        &labels,
        "voxdose regions (see organ_table)",
    )?;
    let json = serde_json::to_vec_pretty(&patient.provenance)
        .map_err(|e| Error::Internal(format!("patient.json: {e}")))?;
    write_atomic(&out.join("patient.json"), &json)
}

/// `rtdose.dcm` (the dose) and `rtdose_sigma.dcm` (its one σ), in one series referring to
/// the CT.
fn write_rt_doses(
    out: &Path,
    model: &VoxelModel,
    patient: &PatientContext,
    dose: &[f64],
    result: &RunResult,
) -> Result<()> {
    let unit = result.dose_unit();
    let grid = &model.grid;
    let dose_vol = Volume {
        grid: grid.clone(),
        data: dose.iter().map(|&d| d as f32).collect(),
    };
    let sigma = Volume {
        grid: grid.clone(),
        data: dose_vol
            .data
            .iter()
            .zip(&result.transport.rel_uncertainty)
            .map(|(d, r)| d * r)
            .collect(),
    };
    let series = new_uid();
    // A dose per decay is not an absorbed dose in Gy: DoseUnits RELATIVE, the comment says
    // "Gy per decay" (and `voxdose bed` refuses it).
    let units = if result.tia_bq_s.is_some() {
        DoseUnits::Gy
    } else {
        DoseUnits::Relative
    };
    let (ct, bits) = (&patient.ct, patient.rtdose_bits);
    write_rt_dose_bits(
        &out.join("rtdose.dcm"),
        &dose_vol,
        ct,
        DoseType::Physical,
        &series,
        &format!("voxdose dose ({unit})"),
        units,
        bits,
    )?;
    write_rt_dose_bits(
        &out.join("rtdose_sigma.dcm"),
        &sigma,
        ct,
        DoseType::Error,
        &series,
        &format!("voxdose 1 sigma ({unit})"),
        units,
        bits,
    )
}
