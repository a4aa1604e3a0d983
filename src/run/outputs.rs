//! Writing a run's results into its output folder, every file atomically:
//!
//! - every run: `dose.nii.gz` (the quantity and unit in its description), `uncertainty.nii.gz`
//!   (relative σ), `summary.json` and `run.json` (the configuration it executed);
//! - a patient run also: `rtdose.dcm` and `rtdose_sigma.dcm` (DoseType ERROR, σ in the dose's
//!   unit), `organ_table.csv/.json`, `dvh.csv`, `regions.nii.gz`, `patient.json`;
//! - a study run: the kinetics fit's files, written when the problem was built.

use super::config::{Input, RunConfig};
use super::execute::RunResult;
use super::patient::PatientContext;
use super::problem::{Problem, ProblemKind};
use crate::geometry::{Grid, Volume, VoxelModel};
use crate::io::atomic::write_atomic;
use crate::io::nifti::write_volume_f32;
use crate::io::rtdose::{new_uid, write_rt_dose, DoseType};
use crate::report::organ_table::{organ_rows, write_dvh_csv, write_organ_table};
use crate::report::stages::Stages;
use crate::report::summary::{write_summary, RunSummary};
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

/// The files a run of `input` writes (a study's fit adds its own, checked by the fit).
pub fn output_files(input: &Input) -> &'static [&'static str] {
    match input {
        Input::Patient(_) => PATIENT_OUTPUTS,
        Input::Phantom(_) | Input::Study(_) => RUN_OUTPUTS,
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
) -> Result<RunSummary> {
    let dose = result.dose();
    write_maps(out, &problem.model.grid, &dose, result)?;
    if let ProblemKind::Patient(patient) = &problem.kind {
        write_patient(out, &problem.model, patient, &dose, result)?;
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
    summary.stages_s = Some(stages);
    write_summary(&out.join("summary.json"), &summary)?;
    Ok(summary)
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
        &format!(
            "voxdose absorbed {}, {}",
            result.dose_quantity,
            result.dose_unit()
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
    write_rt_doses(out, model, &patient.ct, dose, result)?;
    let rel: Vec<f64> = model
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
        .collect();
    let rows = organ_rows(model, dose, &rel);
    write_organ_table(
        &out.join("organ_table.csv"),
        &out.join("organ_table.json"),
        &rows,
    )?;
    write_dvh_csv(&out.join("dvh.csv"), model, dose, 200)?;
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
    ct: &crate::io::series::SeriesIdentity,
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
    write_rt_dose(
        &out.join("rtdose.dcm"),
        &dose_vol,
        ct,
        DoseType::Physical,
        &series,
        &format!("voxdose dose ({unit})"),
    )?;
    write_rt_dose(
        &out.join("rtdose_sigma.dcm"),
        &sigma,
        ct,
        DoseType::Error,
        &series,
        &format!("voxdose 1 sigma ({unit})"),
    )
}
