//! A dose run whose results stay in memory: what [`super::run_to_folder`] computes, without
//! writing `dose.nii.gz`, `summary.json` or any other output. For library callers that want
//! arrays (the Python package): the dose and σ per voxel on the model's grid, and the summary
//! `summary.json` would hold.
//!
//! ```no_run
//! use voxdose::run::memory_api::run_in_memory;
//! use voxdose::run::RunConfig;
//! use voxdose::transport::Silent;
//! let run = run_in_memory(&RunConfig::phantom("water-sphere"), None, &mut Silent)?;
//! println!("{} voxels, {} decays", run.dose.len(), run.summary.decays);
//! # Ok::<(), voxdose::Error>(())
//! ```

use super::config::{Input, RunConfig};
use super::problem::Problem;
use super::{dvk, execute, Clock, Engine};
use crate::geometry::Grid;
use crate::report::summary::RunSummary;
use crate::transport::Observer;
use crate::{Error, Result};
use std::path::Path;

/// A run's results in memory.
#[derive(Clone, Debug)]
pub struct MemoryRun {
    /// The transport grid (dims, spacing, orientation; LPS).
    pub grid: Grid,
    /// Dose per voxel in the summary's `dose_unit`, in the grid's linear order (i fastest);
    /// the values `dose.nii.gz` holds once rounded to f32.
    pub dose: Vec<f64>,
    /// Relative standard uncertainty of the dose per voxel (`uncertainty.nii.gz`).
    pub rel_uncertainty: Vec<f32>,
    /// The model's regions as a label per voxel (region `n` of `region_names` is label
    /// `n + 1`, 0 is no region), as `regions.nii.gz` of a patient run holds them.
    pub labels: Vec<u16>,
    /// The region names, in label order.
    pub region_names: Vec<String>,
    /// What `summary.json` would say (its `stages_s` without an `outputs` stage).
    pub summary: RunSummary,
}

/// Runs `config` like [`super::run_to_folder`] and keeps the results in memory. A study
/// writes its kinetics fit (and the fit's cache) into `study_dir`, which it needs; the other
/// kinds write nothing.
pub fn run_in_memory(
    config: &RunConfig,
    study_dir: Option<&Path>,
    observer: &mut dyn Observer,
) -> Result<MemoryRun> {
    config.validate()?;
    if let Some(note) = config.version_note() {
        observer.warning(&note);
    }
    let out = match (&config.input, study_dir) {
        (Input::Study(_), None) => {
            return Err(Error::invalid(
                "--study",
                "a study run writes its kinetics fit into a folder: give one (study_dir)",
            ))
        }
        (_, dir) => dir.unwrap_or(Path::new(".")),
    };
    let engine = Engine::new(&config.transport)?;
    engine.install(|device| {
        let mut clock = Clock::start();
        let problem = Problem::build_in(config, out, true, &mut clock, observer)?;
        let result = match config.transport.method {
            dvk::DoseMethod::Mc => execute::execute(&problem, device, observer)?,
            m => execute::execute_fast(
                &problem,
                m,
                config.transport.density_scaling,
                device,
                observer,
            )?,
        };
        clock.lap("transport", observer);
        let mut summary = RunSummary::new(
            &problem.name,
            &problem.description,
            &problem.settings,
            &result.transport,
            result.tia_bq_s,
        );
        summary.dose_quantity = result.dose_quantity;
        summary.method = config.transport.method.name();
        summary.stages_s = Some(clock.into_stages());
        let labels = crate::io::masks::label_volume(&problem.model.grid, &problem.model.regions);
        Ok(MemoryRun {
            labels: labels.data,
            grid: problem.model.grid.clone(),
            dose: result.dose(),
            rel_uncertainty: result.transport.rel_uncertainty,
            region_names: problem
                .model
                .regions
                .iter()
                .map(|r| r.name.clone())
                .collect(),
            summary,
        })
    })
}
