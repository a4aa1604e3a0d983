//! `voxdose twin init` and `voxdose twin sync`: what the study brings that the twin has not
//! seen, and the one transaction that records it.
//!
//! Per cycle of the study, against the twin's record of it:
//! - not synced yet: synced (fit, dose, S-matrix, record); if a prediction was made for it,
//!   the prediction is kept in its folder and its error recorded;
//! - the same inputs: left alone (byte for byte);
//! - the last synced cycle with new time points after the synced ones: synced again (a
//!   cycle's scans arrive over days);
//! - anything else changed: refused ([`TwinError::ChangedCycle`]) unless `--resync-cycle N`
//!   names it, which redoes it and says so in the history.
//! A sync that finds nothing new changes nothing but the history (one `sync` line saying so).

use super::cycle::{process, write_json, CycleRecord, PredictionError};
use super::folder::{cycle_rel, event, now_utc, CycleEntry, PatientInfo, Twin, TwinManifest, TwinRegion, Txn, TWIN_FORMAT};
use super::inputs::{compare, cycle_count, hash_cycle, one_cycle, read_study_json, Change};
use super::limits::{tissue_of, LimitsFile};
use super::predict::{evaluate, stored_for, to_json};
use super::TwinError;
use crate::run::{Engine, TransportConfig};
use crate::transport::Observer;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `voxdose twin init`'s settings.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The study file.
    pub study: PathBuf,
    /// A CT for the transport medium when the study names no reference CT.
    pub ct: Option<PathBuf>,
    /// Limits and region tissues (`LIMITS.json`).
    pub limits: Option<PathBuf>,
    /// Transport settings of every cycle.
    pub transport: TransportConfig,
    /// Decays per source region of each cycle's S-matrix.
    pub smatrix_decays: f64,
    /// Patient identifier (default: the study file's name).
    pub patient_id: Option<String>,
    /// A baseline PET for lesion uptake.
    pub baseline_pet: Option<super::status::BaselinePetInput>,
}

/// `voxdose twin sync`'s settings.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The study file (the same patient, with the new scans).
    pub study: PathBuf,
    /// Redo this already-synced cycle even though its inputs changed.
    pub resync_cycle: Option<usize>,
}

/// What a sync did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// Cycles synced for the first time.
    pub new_cycles: Vec<usize>,
    /// The last cycle synced again with new time points.
    pub updated_cycles: Vec<usize>,
    /// Cycles redone by `--resync-cycle`.
    pub resynced_cycles: Vec<usize>,
    /// Prediction errors recorded, per cycle.
    pub prediction_errors: Vec<(usize, Vec<PredictionError>)>,
}

/// What to do with one cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    New,
    Update,
    Resync,
}

/// Creates a twin in `root` from a study and syncs every cycle it lists.
pub fn init(root: &Path, opts: &InitOptions, observer: &mut dyn Observer) -> Result<SyncReport> {
    let _lock = Twin::create(root, observer)?;
    let study_json = read_study_json(&opts.study)?;
    let study = crate::kinetics::study::Study::load(&opts.study)?;
    let limits = match &opts.limits {
        Some(p) => LimitsFile::load(p)?,
        None => LimitsFile::default(),
    };
    let mut manifest = TwinManifest {
        format: TWIN_FORMAT,
        voxdose_version: env!("CARGO_PKG_VERSION").into(),
        created: now_utc(),
        patient: PatientInfo {
            id: patient_id(opts),
        },
        nuclide: study.cycles[0].nuclide.clone(),
        study: std::path::absolute(&opts.study).unwrap_or(opts.study.clone()),
        ct: opts.ct.as_ref().map(|c| std::path::absolute(c).unwrap_or(c.clone())),
        transport: opts.transport.clone(),
        smatrix_decays: opts.smatrix_decays,
        regions: study_regions(&study, &limits.tissues)?,
        limits: limits.limits,
        cycles: Vec::new(),
        baseline_pet: None,
    };
    let regions = manifest.regions.clone();
    for l in &manifest.limits {
        l.regions(&regions)?;
    }
    if let Some(pet) = &opts.baseline_pet {
        manifest.baseline_pet = Some(super::status::baseline_uptake(pet, &study, &regions)?);
    }
    let plan: Vec<(usize, Action)> = (1..=cycle_count(&study_json)).map(|n| (n, Action::New)).collect();
    apply(root, manifest, &study_json, &plan, "init", observer)
}

/// Brings the study's new cycles and time points into the twin in `root`.
pub fn sync(root: &Path, opts: &SyncOptions, observer: &mut dyn Observer) -> Result<SyncReport> {
    let twin = Twin::open(root, observer)?;
    let study_json = read_study_json(&opts.study)?;
    crate::kinetics::study::Study::load(&opts.study)?;
    let plan = plan_sync(&twin, &study_json, opts.resync_cycle)?;
    let mut manifest = twin.manifest.clone();
    manifest.study = std::path::absolute(&opts.study).unwrap_or(opts.study.clone());
    drop(twin);
    apply(root, manifest, &study_json, &plan, "sync", observer)
}

/// The action for each cycle of the study (see the module doc).
fn plan_sync(twin: &Twin, study: &serde_json::Value, resync: Option<usize>) -> Result<Vec<(usize, Action)>> {
    let (n_study, n_synced) = (cycle_count(study), twin.manifest.cycles.len());
    if n_study < n_synced {
        return Err(TwinError::MissingCycles {
            study: n_study,
            synced: n_synced,
        }
        .into());
    }
    if let Some(r) = resync.filter(|&r| r == 0 || r > n_synced) {
        return Err(Error::invalid(
            "--resync-cycle",
            format!("{r}; the twin has synced cycles 1 to {n_synced}"),
        ));
    }
    let mut plan = Vec::new();
    for n in 1..=n_study {
        if n > n_synced {
            plan.push((n, Action::New));
            continue;
        }
        let was: super::inputs::CycleInputs =
            super::cycle::read_json(&twin.cycle_dir(n).join("inputs.json"))?;
        let now = hash_cycle(&one_cycle(study, n)?, n)?;
        match (compare(&was, &now), resync == Some(n)) {
            (_, true) => plan.push((n, Action::Resync)),
            (Change::Same, false) => {}
            (Change::NewTimePoints(_), false) if n == n_synced => plan.push((n, Action::Update)),
            (Change::NewTimePoints(k), false) => {
                return Err(TwinError::ChangedCycle {
                    cycle: n,
                    what: format!("{k} new time point(s) in a cycle that is not the last"),
                }
                .into())
            }
            (Change::Changed(what), false) => return Err(TwinError::ChangedCycle { cycle: n, what }.into()),
        }
    }
    Ok(plan)
}

/// Syncs the cycles of `plan` into a transaction on `root` and commits it with `manifest`
/// and one history event named `what`.
fn apply(
    root: &Path,
    mut manifest: TwinManifest,
    study: &serde_json::Value,
    plan: &[(usize, Action)],
    what: &str,
    observer: &mut dyn Observer,
) -> Result<SyncReport> {
    let mut txn = Txn::begin(root)?;
    let mut report = SyncReport::default();
    if !plan.is_empty() {
        let engine = Engine::new(&manifest.transport)?;
        for &(n, action) in plan {
            observer.note(&format!("twin: cycle {n} ({})", action_word(action)));
            let dir = txn.dir(&cycle_rel(n))?;
            let entry = sync_cycle(&engine, root, &manifest, study, n, &dir, &mut report, observer)?;
            upsert(&mut manifest.cycles, entry);
            match action {
                Action::New => report.new_cycles.push(n),
                Action::Update => report.updated_cycles.push(n),
                Action::Resync => report.resynced_cycles.push(n),
            }
        }
    }
    txn.manifest(&manifest)?;
    let fields = serde_json::json!({
        "study": manifest.study, "changed": !plan.is_empty(),
        "new_cycles": report.new_cycles, "updated_cycles": report.updated_cycles,
        "resynced_cycles": report.resynced_cycles,
    });
    txn.append_history(&[event(what, fields)])?;
    super::folder::failpoint("before-commit-staged");
    txn.commit()?;
    Ok(report)
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::New => "new",
        Action::Update => "new time points",
        Action::Resync => "resync asked for",
    }
}

/// Syncs cycle `n` into `dir` (a staged folder) and returns its entry for `twin.json`.
#[expect(
    clippy::too_many_arguments,
    reason = "the sync's context, passed down rather than bundled for one call"
)]
fn sync_cycle(
    engine: &Engine,
    root: &Path,
    manifest: &TwinManifest,
    study: &serde_json::Value,
    n: usize,
    dir: &Path,
    report: &mut SyncReport,
    observer: &mut dyn Observer,
) -> Result<CycleEntry> {
    let one = one_cycle(study, n)?;
    let inputs = hash_cycle(&one, n)?;
    crate::io::atomic::write_atomic(&dir.join("study.json"), &to_json(&one)?)?;
    write_json(&dir.join("inputs.json"), &inputs)?;
    let mut record = engine.install(|device| process(manifest, n, dir, device, observer))?;
    if let Some(errors) = prediction_error(root, n, dir, &record)? {
        report.prediction_errors.push((n, errors.clone()));
        record.prediction_error = Some(errors);
    }
    write_json(&dir.join("record.json"), &record)?;
    Ok(CycleEntry {
        cycle: n,
        inputs_sha256: inputs.combined,
        time_points: record.time_points,
        synced: now_utc(),
    })
}

/// When a prediction was made for cycle `n`: re-evaluated at the activity given, kept as
/// `prediction.json` beside the cycle, and its error per region (predicted median /
/// measured − 1).
fn prediction_error(
    root: &Path,
    n: usize,
    dir: &Path,
    record: &CycleRecord,
) -> Result<Option<Vec<PredictionError>>> {
    let Some(stored) = stored_for(root, n) else {
        return Ok(None);
    };
    let draws = stored.model.draw();
    let at = evaluate(&stored.model, &draws, record.injected_activity_bq, 1, &[])?;
    let kept = serde_json::json!({
        "made": stored.time,
        "activity_bq_asked": stored.prediction.activity_bq,
        "activity_bq_given": record.injected_activity_bq,
        "prediction": at,
        "as_made": stored.prediction,
    });
    crate::io::atomic::write_atomic(&dir.join("prediction.json"), &to_json(&kept)?)?;
    let errors = at
        .organs
        .iter()
        .filter_map(|p| {
            let m = record.regions.iter().find(|r| r.name == p.name)?;
            Some(PredictionError {
                name: p.name.clone(),
                dose: p.dose_gy / m.dose_gy - 1.0,
                bed: p.bed_gy.zip(m.bed_gy).map(|(pb, mb)| pb / mb - 1.0),
            })
        })
        .collect();
    Ok(Some(errors))
}

/// Replaces or adds the entry of its cycle, keeping cycle order.
fn upsert(cycles: &mut Vec<CycleEntry>, entry: CycleEntry) {
    match cycles.iter_mut().find(|c| c.cycle == entry.cycle) {
        Some(c) => *c = entry,
        None => {
            cycles.push(entry);
            cycles.sort_by_key(|c| c.cycle);
        }
    }
}

fn patient_id(opts: &InitOptions) -> String {
    opts.patient_id.clone().unwrap_or_else(|| {
        opts.study
            .file_stem()
            .map_or("patient".into(), |s| s.to_string_lossy().into_owned())
    })
}

/// The study's regions: the labels of its label map, named as the fit names them, with
/// their tissues.
fn study_regions(study: &crate::kinetics::study::Study, tissues: &BTreeMap<String, String>) -> Result<Vec<TwinRegion>> {
    let Some(path) = &study.labels else {
        return Err(TwinError::Unusable(
            "the study has no label map: a twin predicts per region, so give the study \"labels\"".into(),
        )
        .into());
    };
    let img = crate::io::nifti::read_image(path)?;
    let mut labels: Vec<u32> = img
        .volume
        .data
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.round() as u32)
        .collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| {
            let name = crate::io::masks::region_name(label, &study.region_names, &img.label_names);
            let tissue = tissue_of(&name, tissues)?;
            Ok(TwinRegion { name, label, tissue })
        })
        .collect()
}
