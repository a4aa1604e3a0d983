//! What an output folder holds, read as voxdose wrote it.
//!
//! JSON files are kept as `serde_json::Value`s (the page shows their numbers as written and
//! tolerates keys added later); the kinetics are read into the fit's own types, so the
//! fitted curve is drawn by the same model code that fitted it. A missing file is simply a
//! section that is not there; a file that is there but unreadable is an error (exit 58).

use super::ReportError;
use crate::kinetics::study::{Study, UncertaintyInputs};
use crate::kinetics::RegionResult;
use crate::run::{Input, RunConfig};
use crate::twin::status::Status;
use crate::twin::{PlanResult, TwinManifest};
use crate::Result;
use rayon::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Which command wrote the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderKind {
    /// `voxdose run` (phantom, patient, materials or `--study`): `summary.json`.
    Run,
    /// `voxdose fit`: `regions.json` without a dose.
    Fit,
    /// `voxdose bed`: `bed_summary.json` without a run summary.
    Bed,
    /// A twin folder: `twin.json`.
    Twin,
    /// `voxdose validate`: `validation.json`.
    Validation,
}

impl FolderKind {
    /// The kind in words, for the page title.
    pub fn name(self) -> &'static str {
        match self {
            FolderKind::Run => "dose run",
            FolderKind::Fit => "kinetics fit",
            FolderKind::Bed => "BED",
            FolderKind::Twin => "digital twin",
            FolderKind::Validation => "validation suite",
        }
    }
}

/// A DVH-like curve: (dose, volume fraction) points of one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Region name.
    pub name: String,
    /// (dose, volume fraction) in increasing dose.
    pub points: Vec<(f64, f64)>,
}

/// The result files of one run, fit or BED folder (for a twin: its latest cycle).
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The folder.
    pub dir: PathBuf,
    /// `summary.json`.
    pub summary: Option<Value>,
    /// `run.json`, as written.
    pub run_json: Option<Value>,
    /// `run.json` as the run layer reads it.
    pub run_config: Option<RunConfig>,
    /// `organ_table.json` rows.
    pub organ_table: Option<Vec<Value>>,
    /// `bed_summary.json`.
    pub bed_summary: Option<Value>,
    /// `validation.json` cases (`voxdose validate`).
    pub validation: Option<Vec<Value>>,
    /// `patient.json` (patient runs).
    pub patient: Option<Value>,
    /// Every region of every cycle of `regions.json`.
    pub kinetics: Vec<RegionResult>,
    /// The relative σ of a measured activity (the study's `activity_rel_sigma`), for error
    /// bars; `None` when the study is not known.
    pub activity_rel_sigma: Option<f64>,
    /// The study's uncertainty inputs: as `regions.json` records them (fits since the report
    /// shows them), else from the study file; `None` when neither is there.
    pub uncertainty: Option<UncertaintyInputs>,
    /// The study file the kinetics came from, when it is still there ([`study_of`]).
    pub study: Option<PathBuf>,
    /// The study file `regions.json` names (`study`), as written.
    pub recorded_study: Option<PathBuf>,
    /// `dvh.csv`.
    pub dvh: Vec<Curve>,
    /// `bed_dvh.csv`.
    pub bed_dvh: Vec<Curve>,
    /// Warnings and notes found in the files (`warnings`, `notes` arrays), without repeats.
    pub warnings: Vec<String>,
}

/// A twin folder's state.
#[derive(Clone, Debug)]
pub struct TwinData {
    /// `twin.json`.
    pub manifest: TwinManifest,
    /// What `voxdose twin status` reports.
    pub status: Status,
    /// The latest plan for the next cycle.
    pub plan: Option<PlanResult>,
    /// Per synced cycle, the sha256 of every input (`cycles/N/inputs.json`).
    pub inputs: Vec<(usize, Vec<(String, String)>)>,
}

/// An output folder.
#[derive(Clone, Debug)]
pub struct Folder {
    /// What wrote it.
    pub kind: FolderKind,
    /// The folder given.
    pub dir: PathBuf,
    /// Its results (a twin's latest cycle).
    pub results: Results,
    /// The twin, for a twin folder.
    pub twin: Option<TwinData>,
}

impl Folder {
    /// Reads the folder `dir`.
    pub fn read(dir: &Path) -> Result<Folder> {
        let kind = kind_of(dir)?;
        let (results, twin) = if kind == FolderKind::Twin {
            let twin = read_twin(dir)?;
            let last = twin.manifest.cycles.last().map(|c| c.cycle);
            let results = match last {
                Some(n) => Results::read(&dir.join("cycles").join(n.to_string()))?,
                None => Results::default(),
            };
            (results, Some(twin))
        } else {
            (Results::read(dir)?, None)
        };
        Ok(Folder {
            kind,
            dir: dir.to_path_buf(),
            results,
            twin,
        })
    }
}

/// A JSON file that holds a list, when it is there; `what` says what else it is.
fn read_list(path: &Path, what: &str) -> Result<Option<Vec<Value>>> {
    match read_json(path)? {
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(unreadable(path, what)),
        None => Ok(None),
    }
}

fn kind_of(dir: &Path) -> Result<FolderKind> {
    let has = |f: &str| dir.join(f).is_file();
    let kind = if has("twin.json") {
        FolderKind::Twin
    } else if has("summary.json") {
        FolderKind::Run
    } else if has("regions.json") {
        FolderKind::Fit
    } else if has("bed_summary.json") {
        FolderKind::Bed
    } else if has("validation.json") {
        FolderKind::Validation
    } else {
        return Err(ReportError::NotAnOutputFolder {
            path: dir.to_path_buf(),
        }
        .into());
    };
    Ok(kind)
}

impl Results {
    /// Reads the result files of `dir` (each optional).
    pub fn read(dir: &Path) -> Result<Results> {
        let summary = read_json(&dir.join("summary.json"))?;
        let run_json = read_json(&dir.join("run.json"))?;
        let mut config_note = None;
        let run_config = match &run_json {
            Some(_) => RunConfig::load(&dir.join("run.json"))
                .map_err(|e| config_note = Some(format!("run.json could not be read as a run configuration ({e}): the inputs are not shown")))
                .ok(),
            None => None,
        };
        let organ_table = read_list(&dir.join("organ_table.json"), "not a list of rows")?;
        let validation = read_list(&dir.join("validation.json"), "not a list of cases")?;
        let mut r = Results {
            dir: dir.to_path_buf(),
            validation,
            summary,
            run_json,
            organ_table,
            bed_summary: read_json(&dir.join("bed_summary.json"))?,
            patient: read_json(&dir.join("patient.json"))?,
            dvh: read_curves(&dir.join("dvh.csv"))?,
            bed_dvh: read_curves(&dir.join("bed_dvh.csv"))?,
            ..Results::default()
        };
        r.run_config = run_config;
        r.read_kinetics()?;
        r.study = study_of(r.run_config.as_ref(), dir, r.recorded_study.as_deref());
        if r.uncertainty.is_none() {
            r.uncertainty = r
                .study
                .as_ref()
                .and_then(|s| Study::load(s).ok())
                .map(|s| s.uncertainty);
        }
        r.activity_rel_sigma = r.uncertainty.map(|u| u.activity_rel_sigma);
        r.warnings = r.collect_warnings();
        r.warnings.extend(config_note);
        Ok(r)
    }

    fn read_kinetics(&mut self) -> Result<()> {
        let path = self.dir.join("regions.json");
        let Some(v) = read_json(&path)? else {
            return Ok(());
        };
        self.recorded_study = v.get("study").and_then(Value::as_str).map(PathBuf::from);
        self.uncertainty = v.get("uncertainty").and_then(uncertainty_of);
        let cycles = v.get("cycles").and_then(Value::as_array);
        for c in cycles.into_iter().flatten() {
            for r in c
                .get("regions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let region: RegionResult = serde_json::from_value(r.clone())
                    .map_err(|e| unreadable(&path, &format!("a region of a cycle: {e}")))?;
                self.kinetics.push(region);
            }
        }
        Ok(())
    }

    fn collect_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in [&self.summary, &self.bed_summary, &self.patient]
            .into_iter()
            .flatten()
        {
            collect_strings(v, &mut out);
        }
        for r in &self.kinetics {
            if let Some(f) = &r.fit {
                for n in &f.notes {
                    push_unique(&mut out, format!("{} (cycle {}): {n}", r.name, r.cycle));
                }
            }
        }
        out
    }

    /// The dose unit of the run ("Gy" or "Gy per decay"), from `summary.json`.
    pub fn dose_unit(&self) -> String {
        self.summary
            .as_ref()
            .and_then(|s| s.get("dose_unit"))
            .and_then(Value::as_str)
            .unwrap_or("Gy")
            .to_string()
    }
}

/// The study file of a folder, the first that is still there of: the one a `run --study`
/// read (`run.json`), the one a fit records (`regions.json`'s `study`), the copy beside the
/// folder's files (a twin cycle's `run.json` names the study where it was staged; the copy
/// stays).
pub fn study_of(
    config: Option<&RunConfig>,
    dir: &Path,
    recorded: Option<&Path>,
) -> Option<PathBuf> {
    let from_run = match config.map(|c| &c.input) {
        Some(Input::Study(s)) => Some(s.study.clone()),
        _ => None,
    };
    [
        from_run,
        recorded.map(Path::to_path_buf),
        Some(dir.join("study.json")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
}

/// The uncertainty inputs `regions.json` records (`uncertainty`); keys added later are
/// ignored, a missing or non-positive `activity_rel_sigma` gives `None`.
fn uncertainty_of(v: &Value) -> Option<UncertaintyInputs> {
    let num = |k: &str| v.get(k).and_then(Value::as_f64);
    let activity_rel_sigma = num("activity_rel_sigma").filter(|s| s.is_finite() && *s > 0.0)?;
    Some(UncertaintyInputs {
        activity_rel_sigma,
        calibration_rel_sigma: num("calibration_rel_sigma").unwrap_or(0.0),
        recovery_rel_sigma: num("recovery_rel_sigma").unwrap_or(0.0),
    })
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "warnings" || k == "notes" {
                    for s in x.as_array().into_iter().flatten().filter_map(Value::as_str) {
                        push_unique(out, s.to_string());
                    }
                } else {
                    collect_strings(x, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// Reads a JSON file; `None` when it does not exist.
pub fn read_json(path: &Path) -> Result<Option<Value>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, &e.to_string())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| unreadable(path, &format!("not valid JSON ({e})")))
}

/// Reads a `region,dose,volume_fraction` CSV (`dvh.csv`, `bed_dvh.csv`); empty when absent.
pub fn read_curves(path: &Path) -> Result<Vec<Curve>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| unreadable(path, &e.to_string()))?;
    let mut curves: Vec<Curve> = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| unreadable(path, &e.to_string()))?;
        let num = |i: usize| rec.get(i).and_then(|s| s.trim().parse::<f64>().ok());
        let (Some(name), Some(d), Some(f)) = (rec.get(0), num(1), num(2)) else {
            return Err(unreadable(path, "a row is not region,dose,volume_fraction"));
        };
        match curves.last_mut() {
            Some(c) if c.name == name => c.points.push((d, f)),
            _ => curves.push(Curve {
                name: name.to_string(),
                points: vec![(d, f)],
            }),
        }
    }
    Ok(curves)
}

/// The files hashed for the header, when present.
const HASHED: &[&str] = &[
    "validation.json",
    "validation.csv",
    "run.json",
    "summary.json",
    "patient.json",
    "organ_table.json",
    "regions.json",
    "bed_summary.json",
    "dose.nii.gz",
    "uncertainty.nii.gz",
    "regions.nii.gz",
    "bed.nii.gz",
    "tia.nii.gz",
];

/// sha256 of the files of `dir` the report is made from (`HASHED`, those present):
/// (file name, hex), in that order. Each file is streamed through the hash (1 MiB
/// buffer), not read whole: a patient's maps are hundreds of MB.
pub fn hash_files(dir: &Path) -> Vec<(String, String)> {
    HASHED
        .par_iter()
        .filter_map(|name| Some((name.to_string(), sha256_file(&dir.join(name))?)))
        .collect()
}

fn sha256_file(path: &Path) -> Option<String> {
    use sha2::Digest;
    let file = std::fs::File::open(path).ok()?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut reader, &mut hasher).ok()?;
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn read_twin(dir: &Path) -> Result<TwinData> {
    let manifest = crate::twin::folder::read_manifest(dir)?;
    let status = crate::twin::status::status(dir)?;
    let plan = status
        .plan
        .clone()
        .and_then(|v| serde_json::from_value::<PlanResult>(v).ok());
    let mut inputs = Vec::new();
    for c in &manifest.cycles {
        let path = dir.join(format!("cycles/{}/inputs.json", c.cycle));
        let files = read_json(&path)?
            .and_then(|v| v.get("files").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| {
                Some((
                    f.get("path")?.as_str()?.to_string(),
                    f.get("sha256")?.as_str()?.to_string(),
                ))
            })
            .collect();
        inputs.push((c.cycle, files));
    }
    Ok(TwinData {
        manifest,
        status,
        plan,
        inputs,
    })
}

fn unreadable(path: &Path, reason: &str) -> crate::Error {
    ReportError::Unreadable {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
    .into()
}
