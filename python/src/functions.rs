//! The functions of `voxdose._native`: runs, fits, BED, the twin and NIfTI volumes in and
//! out. Each hands its work to the library through [`detached`] (GIL released, Ctrl-C
//! stops it) and returns plain values: dicts of flat arrays and JSON text.

use crate::arrays::{volume_dict, write_f32, write_u16};
use crate::errors::to_py;
use crate::observer::{detached, PyObserver};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use voxdose::run::memory_api::run_in_memory;
use voxdose::run::{RunConfig, TransportConfig};
use voxdose::{twin, Error};

/// Adds the functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(fit_study, m)?)?;
    m.add_function(wrap_pyfunction!(bed, m)?)?;
    m.add_function(wrap_pyfunction!(read_volume, m)?)?;
    m.add_function(wrap_pyfunction!(write_volume, m)?)?;
    m.add_function(wrap_pyfunction!(write_labels, m)?)?;
    m.add_function(wrap_pyfunction!(twin_init, m)?)?;
    m.add_function(wrap_pyfunction!(twin_sync, m)?)?;
    m.add_function(wrap_pyfunction!(twin_predict, m)?)?;
    m.add_function(wrap_pyfunction!(twin_plan, m)?)?;
    m.add_function(wrap_pyfunction!(twin_status, m)?)?;
    Ok(())
}

/// JSON text of a serialisable library value.
fn json(value: &impl serde::Serialize) -> voxdose::Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("JSON: {e}")))
}

/// A run configuration from its JSON (`run.json`'s format); a bad one is exit 3, as
/// `voxdose run --config` says.
fn parse_config(text: &str) -> voxdose::Result<RunConfig> {
    let config: RunConfig = serde_json::from_str(text).map_err(|e| {
        Error::invalid(
            "config",
            format!("{e}; a run configuration has the keys of run.json (see README)"),
        )
    })?;
    Ok(config.with_absolute_paths())
}

/// Runs a configuration (JSON text) in memory: dose, σ, labels, summary, notes.
#[pyfunction]
#[pyo3(signature = (config_json, study_dir=None, progress=None))]
fn run<'py>(
    py: Python<'py>,
    config_json: &str,
    study_dir: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let config = parse_config(config_json).map_err(|e| to_py(py, &e))?;
    let mut obs = PyObserver::new(progress);
    let done = detached(py, &mut obs, |o| {
        run_in_memory(&config, study_dir.as_deref(), o)
    })?;
    let out = volume_dict(
        py,
        &done.grid,
        done.dose.iter().map(|&d| d as f32).collect(),
    )?;
    out.set_item("sigma", PyArray1::from_vec(py, done.rel_uncertainty))?;
    out.set_item("labels", PyArray1::from_vec(py, done.labels))?;
    out.set_item("region_names", done.region_names)?;
    out.set_item(
        "summary_json",
        json(&done.summary).map_err(|e| to_py(py, &e))?,
    )?;
    let saved = config.to_json().map_err(|e| to_py(py, &e))?;
    out.set_item("config_json", String::from_utf8_lossy(&saved).into_owned())?;
    out.set_item("notes", obs.notes)?;
    out.set_item("warnings", obs.warnings)?;
    Ok(out)
}

/// Fits a study's kinetics into `out` (`voxdose fit`): TIA maps, region and cycle tables.
#[pyfunction]
#[pyo3(signature = (study, out, force=false, pvc=None, psf_fwhm_mm=Vec::new(), rc_curve=None))]
fn fit_study<'py>(
    py: Python<'py>,
    study: PathBuf,
    out: PathBuf,
    force: bool,
    pvc: Option<String>,
    psf_fwhm_mm: Vec<f64>,
    rc_curve: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut obs = PyObserver::new(None);
    let fit = detached(py, &mut obs, |_| {
        let over = if pvc.is_none() && psf_fwhm_mm.is_empty() && rc_curve.is_none() {
            None
        } else {
            Some(voxdose::kinetics::PartialVolumeOverride::from_flags(
                pvc.as_deref(),
                &psf_fwhm_mm,
                rc_curve.as_deref(),
            )?)
        };
        voxdose::kinetics::fit_study_with(&study, &out, force, over.as_ref())
    })?;
    let d = volume_dict(py, &fit.tia.grid, fit.tia.data)?;
    d.set_item("sigma", PyArray1::from_vec(py, fit.tia_sigma.data))?;
    let cycles: Vec<_> = fit
        .cycle_tia
        .into_iter()
        .map(|v| PyArray1::from_vec(py, v.data))
        .collect();
    d.set_item("cycle_tia", cycles)?;
    d.set_item(
        "regions_json",
        json(&fit.regions).map_err(|e| to_py(py, &e))?,
    )?;
    d.set_item("cycles_json", json(&fit.cycles).map_err(|e| to_py(py, &e))?)?;
    d.set_item("notes", fit.notes)?;
    Ok(d)
}

/// `voxdose bed` into `out`; returns `bed_summary.json`'s content.
#[pyfunction]
#[pyo3(signature = (dose, out, force=false, dose_uncertainty=None, effective_half_life_h=None,
    fit=None, cycle=None, tissue=None, alpha_beta_gy=None, repair_half_time_h=None,
    alpha_per_gy=None, labels=None, tissue_map=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the flags of `voxdose bed`, one each"
)]
fn bed(
    py: Python<'_>,
    dose: PathBuf,
    out: PathBuf,
    force: bool,
    dose_uncertainty: Option<PathBuf>,
    effective_half_life_h: Option<f64>,
    fit: Option<PathBuf>,
    cycle: Option<usize>,
    tissue: Option<String>,
    alpha_beta_gy: Option<f64>,
    repair_half_time_h: Option<f64>,
    alpha_per_gy: Option<f64>,
    labels: Option<PathBuf>,
    tissue_map: Option<String>,
) -> PyResult<String> {
    let cfg = voxdose::radiobiology::bed_command::BedConfig {
        dose,
        dose_uncertainty,
        out,
        force,
        effective_half_life_h,
        fit,
        cycle,
        tissue,
        alpha_beta_gy,
        repair_half_time_h,
        alpha_per_gy,
        labels,
        tissue_map,
    };
    let mut obs = PyObserver::new(None);
    detached(py, &mut obs, |_| {
        json(&voxdose::radiobiology::bed_command::run(&cfg)?)
    })
}

/// A NIfTI file as a dict: flat f32 `data`, `dims`, `affine`, `description`.
#[pyfunction]
fn read_volume(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyDict>> {
    let img = voxdose::io::nifti::read_image(&path).map_err(|e| to_py(py, &Error::from(e)))?;
    let d = volume_dict(py, &img.volume.grid, img.volume.data)?;
    d.set_item("description", img.description)?;
    Ok(d)
}

/// Writes flat f32 data on (dims, affine) as a NIfTI file.
#[pyfunction]
fn write_volume(
    py: Python<'_>,
    path: PathBuf,
    data: PyReadonlyArray1<'_, f32>,
    dims: [usize; 3],
    affine: [[f64; 4]; 4],
    description: &str,
) -> PyResult<()> {
    write_f32(&path, &data, dims, affine, description).map_err(|e| to_py(py, &e))
}

/// Writes flat u16 labels on (dims, affine) as a NIfTI file.
#[pyfunction]
fn write_labels(
    py: Python<'_>,
    path: PathBuf,
    data: PyReadonlyArray1<'_, u16>,
    dims: [usize; 3],
    affine: [[f64; 4]; 4],
    description: &str,
) -> PyResult<()> {
    write_u16(&path, &data, dims, affine, description).map_err(|e| to_py(py, &e))
}

/// `voxdose twin init`; `transport_json` is a run.json `transport` object.
#[pyfunction]
#[pyo3(signature = (dir, study, transport_json, smatrix_decays, ct=None, limits=None,
    patient_id=None, progress=None))]
#[allow(
    clippy::too_many_arguments,
    reason = "the flags of `voxdose twin init`, one each"
)]
fn twin_init(
    py: Python<'_>,
    dir: PathBuf,
    study: PathBuf,
    transport_json: &str,
    smatrix_decays: f64,
    ct: Option<PathBuf>,
    limits: Option<PathBuf>,
    patient_id: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let transport: TransportConfig = serde_json::from_str(transport_json)
        .map_err(|e| to_py(py, &Error::invalid("transport", e.to_string())))?;
    let opts = twin::InitOptions {
        study,
        ct,
        limits,
        transport,
        smatrix_decays,
        patient_id,
        baseline_pet: None,
    };
    let mut obs = PyObserver::new(progress);
    detached(py, &mut obs, |o| json(&twin::init(&dir, &opts, o)?))
}

/// `voxdose twin sync`.
#[pyfunction]
#[pyo3(signature = (dir, study, resync_cycle=None, progress=None))]
fn twin_sync(
    py: Python<'_>,
    dir: PathBuf,
    study: PathBuf,
    resync_cycle: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let opts = twin::SyncOptions {
        study,
        resync_cycle,
    };
    let mut obs = PyObserver::new(progress);
    detached(py, &mut obs, |o| json(&twin::sync(&dir, &opts, o)?))
}

/// `voxdose twin predict --json`.
#[pyfunction]
fn twin_predict(py: Python<'_>, dir: PathBuf, activity_bq: f64, cycles: usize) -> PyResult<String> {
    let mut obs = PyObserver::new(None);
    detached(py, &mut obs, |o| {
        json(&twin::predict(&dir, activity_bq, cycles, o)?)
    })
}

/// `voxdose twin plan --json`; `limits` as `--limit` takes them (`kidney:bed=28`).
#[pyfunction]
fn twin_plan(
    py: Python<'_>,
    dir: PathBuf,
    limits: Vec<String>,
    cycles_left: usize,
    confidence: f64,
) -> PyResult<String> {
    let mut obs = PyObserver::new(None);
    detached(py, &mut obs, |o| {
        let limits = limits
            .iter()
            .map(|l| twin::OrganLimit::parse(l))
            .collect::<voxdose::Result<Vec<_>>>()?;
        json(&twin::plan(&dir, &limits, cycles_left, confidence, o)?)
    })
}

/// `voxdose twin status --json`.
#[pyfunction]
fn twin_status(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
    let mut obs = PyObserver::new(None);
    detached(py, &mut obs, |_| json(&twin::status::status(&dir)?))
}
