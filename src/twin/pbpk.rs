//! The "pbpk" prediction model (`voxdose twin predict --model pbpk`, TWIN.md §2–3): a PBRPK
//! model (SBML) fitted to the patient's own synced cycles predicts the next cycle's organ TIAs
//! for the planned activity and amount of unlabelled (cold) peptide; the twin turns them into
//! doses and BED as the "kinetic" model does.
//!
//! - **Patient**: `--patient-model FILE` (a `voxdose pbpk fit` output), else the one stored in
//!   the twin (`DIR/pbpk/patient.json`, reused while the SBML file and the synced cycles are
//!   the same and no fit flag is given), else a MAP fit ([`crate::pbpk::fit::fit_cycles`]) of
//!   `--params` to the measured region activities of every synced cycle (`cycles/N/
//!   regions.json`), one set of parameters for all cycles, each cycle a fresh patient given its
//!   injected activity (hot peptide: activity / molar activity) and `--measured-cold-nmol`;
//!   the result is stored in the twin.
//! - **Organs ↔ regions**: `--map "Kidney=kidney_left+kidney_right"`, else the patient model's
//!   own map, else by name: a top-level compartment matches the twin's regions whose name,
//!   name before the first `_`, or tissue is its name (case and `_`/`-` ignored, tumor =
//!   tumour). A region outside every mapped organ (the remainder, an organ the model lacks)
//!   keeps the kinetic model's τ.
//! - **Prediction**: per sample of the fitted parameters (ln θ ~ N(ln θ̂, cov), fixed seed)
//!   the next cycle is simulated from a fresh patient (what is left of earlier cycles is
//!   neglected), organ TIA to infinity → τ_O = Ã_O / A. A mapped region's τ is its share of
//!   τ_O, the share it had in the kinetic model (the measured cycles). The twin's draws take
//!   sample i mod n, so every region of a draw comes from one parameter set; S-matrix σ and
//!   the activity curve's shape (for the BED's G factor: the measured shape, stretched by
//!   the T_eff spread) are drawn as in the kinetic model. The intervals hold the fit's
//!   parameter uncertainty, not a between-cycle variation beyond it.

use super::folder::{event, Twin, Txn};
use super::model::{normal, PredictionModel, DEFAULT_SEED};
use super::predict::{
    check_activity, evaluate, model_of, quantile_sorted, records, to_json, Prediction,
    StoredPrediction,
};
use super::TwinError;
use crate::pbpk::fit::{self, Administration, FitProblem, PatientModel};
use crate::pbpk::model::{Bolus, Model};
use crate::pbpk::simulate::{self, Scenario};
use crate::pbpk::solve::SolveOptions;
use crate::pbpk::PbpkError;
use crate::physics::rng::Pcg32;
use crate::transport::Observer;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the twin keeps its fitted patient model.
pub const PATIENT_FILE: &str = "pbpk/patient.json";

/// Samples of the fitted parameters behind the intervals (each one simulation).
pub const DEFAULT_SAMPLES: usize = 400;

/// Relative σ of a measured region activity in the twin's fit (as `voxdose pbpk fit`'s
/// default `--activity-rel-sigma`).
pub const ACTIVITY_REL_SIGMA: f64 = 0.1;

/// What `--model pbpk` was given.
#[derive(Clone, Debug, Default)]
pub struct PbpkOptions {
    /// The SBML model.
    pub sbml: PathBuf,
    /// Cold peptide of each predicted cycle, nmol (default: the latest fitted cycle's).
    pub cold_nmol: Option<f64>,
    /// A `voxdose pbpk fit` patient model to use instead of fitting.
    pub patient_model: Option<PathBuf>,
    /// Organs to regions, `Organ=region+region,…`.
    pub map: Option<String>,
    /// Parameters to fit.
    pub params: Vec<String>,
    /// Priors of the fit (a `voxdose pbpk fit --prior` file).
    pub prior: Option<PathBuf>,
    /// Cold peptide given in each synced cycle, nmol (one value: every cycle).
    pub measured_cold_nmol: Vec<f64>,
    /// Compartment the peptide is injected into (its `Hot` and `Cold` species).
    pub inject_into: Option<String>,
    /// Samples of the fitted parameters.
    pub samples: usize,
}

impl PbpkOptions {
    /// True when a flag asks for a (re)fit.
    fn asks_fit(&self) -> bool {
        !self.params.is_empty()
            || self.map.is_some()
            || self.prior.is_some()
            || !self.measured_cold_nmol.is_empty()
    }
}

/// What a "pbpk" prediction used (the `pbpk` key of the prediction's JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PbpkInfo {
    /// The SBML file.
    pub sbml: PathBuf,
    /// Its FNV-1a 64 hash.
    pub sbml_hash: String,
    /// The patient model used (`--patient-model`, or the twin's `pbpk/patient.json`).
    pub patient_model: PathBuf,
    /// Whether the patient model was fitted by this command.
    pub fitted_now: bool,
    /// Cycles the patient model was fitted to (empty for an outside `--patient-model`).
    pub fitted_cycles: Vec<usize>,
    /// Hot (labelled) peptide of a predicted cycle, nmol (activity / molar activity).
    pub hot_nmol: f64,
    /// Where the cold amount comes from.
    pub cold_nmol_from: String,
    /// Doses of a predicted cycle as given to the model.
    pub doses: Vec<Bolus>,
    /// The patient's parameters (fixed ones without σ).
    pub parameters: Vec<PbpkParameter>,
    /// The organs the model predicts for the twin's regions.
    pub organs: Vec<PbpkOrgan>,
    /// Parameter samples behind the intervals.
    pub samples: usize,
    /// Their seed.
    pub seed: u64,
}

/// One parameter of the patient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PbpkParameter {
    /// Model name.
    pub name: String,
    /// Value (model units).
    pub value: f64,
    /// σ of ln θ (fitted parameters).
    pub sigma_ln: Option<f64>,
}

/// One model organ's predicted TIA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PbpkOrgan {
    /// Top-level compartment.
    pub organ: String,
    /// The twin regions it stands for.
    pub regions: Vec<String>,
    /// TIA to infinity at the fitted parameters, MBq·h.
    pub tia_mbq_h: f64,
    /// 2.5th percentile over the samples, MBq·h.
    pub tia_mbq_h_p2_5: f64,
    /// 97.5th percentile, MBq·h.
    pub tia_mbq_h_p97_5: f64,
}

/// Organ → the twin regions (kinetic model sources) it stands for.
type OrganMap = Vec<(String, Vec<String>)>;

/// Predicts `cycles` cycles of `activity_bq` and `opts.cold_nmol` for the twin in `root` with
/// the PBRPK model, records the prediction (and a newly fitted patient model) and returns it.
pub fn predict(
    root: &Path,
    activity_bq: f64,
    cycles: usize,
    opts: &PbpkOptions,
    observer: &mut dyn Observer,
) -> Result<Prediction> {
    check_activity(activity_bq, cycles)?;
    check_options(activity_bq, opts)?;
    let twin = Twin::open(root, observer)?;
    let kinetic = model_of(&twin)?;
    let s = setup(&twin, &kinetic, opts)?;
    let (cold_nmol, cold_from) = cold_amount(opts, &s.patient);
    let molar = crate::pbpk::molar_activity_mbq_per_nmol(s.half_life_s);
    let doses = vec![
        bolus(&format!("{}.Hot", s.inject), activity_bq / 1e6 / molar),
        bolus(&format!("{}.Cold", s.inject), cold_nmol),
    ];
    let samples = sample_parameters(&s.patient, opts.samples, DEFAULT_SEED);
    let central = s.patient.parameters();
    let tias = simulate_samples(&s.model, &doses, &central, &samples, s.half_life_s)?;
    let pm = pbpk_model(kinetic, &s.map, &s.model, &tias, activity_bq);
    let draws = pm.draw();
    let mut prediction = evaluate(&pm, &draws, activity_bq, cycles, &twin.manifest.limits)?;
    prediction.model = "pbpk".into();
    prediction.cold_nmol = Some(cold_nmol);
    prediction.pbpk = Some(PbpkInfo {
        sbml: opts.sbml.clone(),
        sbml_hash: s.hash.clone(),
        patient_model: opts
            .patient_model
            .clone()
            .unwrap_or_else(|| root.join(PATIENT_FILE)),
        fitted_now: s.fitted_now,
        fitted_cycles: fitted_cycles(&s.patient),
        hot_nmol: doses[0].amount_nmol,
        cold_nmol_from: cold_from,
        doses,
        parameters: parameters(&s.patient),
        organs: organ_tias(&s.map, &s.model, &tias),
        samples: samples.len(),
        seed: DEFAULT_SEED,
    });
    commit(root, &prediction, pm, s.fitted_now.then_some(&s.patient))?;
    Ok(prediction)
}

/// The model, the patient (given, stored or fitted now), the organ map and the injection
/// compartment of a prediction.
struct Setup {
    model: Model,
    hash: String,
    half_life_s: f64,
    patient: PatientModel,
    fitted_now: bool,
    map: OrganMap,
    inject: String,
}

fn setup(twin: &Twin, kinetic: &PredictionModel, opts: &PbpkOptions) -> Result<Setup> {
    let half_life_s = crate::physics::nuclide::Nuclide::load(&twin.manifest.nuclide)?.half_life_s;
    let bytes = std::fs::read(&opts.sbml).map_err(|source| PbpkError::Read {
        path: opts.sbml.clone(),
        source,
    })?;
    let model = Model::load(&opts.sbml)?;
    let hash = fit::fnv1a64_hex(&bytes);
    let stored = stored_patient(&twin.root);
    let given = patient_given(opts, &hash)?;
    let synced: Vec<usize> = twin.manifest.cycles.iter().map(|c| c.cycle).collect();
    let reuse = stored
        .clone()
        .filter(|p| given.is_none() && !opts.asks_fit() && p.model_hash == hash)
        .filter(|p| fitted_cycles(p) == synced);
    let base = given.or(reuse);
    let sources: Vec<String> = kinetic.sources.iter().map(|s| s.name.clone()).collect();
    let known = base.as_ref().or(stored.as_ref());
    let map = organ_map(opts, known, &model, twin, &sources)?;
    let inject = inject_compartment(opts, base.as_ref(), &model)?;
    let fitted_now = base.is_none();
    let patient = match base {
        Some(p) => p,
        None => {
            let fitted = fit_twin(
                twin,
                &model,
                opts,
                stored.as_ref(),
                &map,
                &inject,
                half_life_s,
            )?;
            fitted.with_file(&opts.sbml, &hash, &twin.manifest.nuclide)
        }
    };
    Ok(Setup {
        model,
        hash,
        half_life_s,
        patient,
        fitted_now,
        map,
        inject,
    })
}

/// `--cold-nmol`, else the latest fitted cycle's cold peptide; and where it came from.
fn cold_amount(opts: &PbpkOptions, patient: &PatientModel) -> (f64, String) {
    match opts.cold_nmol {
        Some(c) => (c, "--cold-nmol".to_string()),
        None => (
            cold_of(&patient.doses),
            format!(
                "the cold peptide of the latest fitted cycle ({})",
                describe_cycle(patient)
            ),
        ),
    }
}

/// Refuses option values that cannot be a prediction.
fn check_options(activity_bq: f64, opts: &PbpkOptions) -> Result<()> {
    if let Some(c) = opts.cold_nmol {
        if !(c.is_finite() && c >= 0.0) {
            return Err(Error::invalid(
                "--cold-nmol",
                format!("{c} nmol; give the unlabelled peptide of the next cycle, ≥ 0 nmol"),
            ));
        }
    }
    if let Some(c) = opts
        .measured_cold_nmol
        .iter()
        .find(|c| !(c.is_finite() && **c >= 0.0))
    {
        return Err(Error::invalid(
            "--measured-cold-nmol",
            format!("{c} nmol; give the unlabelled peptide of each synced cycle, ≥ 0 nmol"),
        ));
    }
    if activity_bq <= 0.0 {
        return Err(Error::invalid(
            "--activity-gbq",
            "0 GBq; the PBRPK model needs the hot peptide of the cycle: give an activity > 0",
        ));
    }
    if !(10..=100_000).contains(&opts.samples) {
        return Err(Error::invalid(
            "--pbpk-samples",
            format!("{}; give 10 to 100000 samples", opts.samples),
        ));
    }
    Ok(())
}

/// The twin's stored patient model, if it has a readable one.
fn stored_patient(root: &Path) -> Option<PatientModel> {
    let path = root.join(PATIENT_FILE);
    path.is_file()
        .then(|| PatientModel::load(&path).ok())
        .flatten()
}

/// `--patient-model`, checked against the SBML file.
fn patient_given(opts: &PbpkOptions, hash: &str) -> Result<Option<PatientModel>> {
    let Some(path) = &opts.patient_model else {
        return Ok(None);
    };
    let p = PatientModel::load(path)?;
    if p.model_hash != hash {
        return Err(PbpkError::InvalidInput {
            path: path.clone(),
            reason: format!(
                "it was fitted with another SBML file ({}) than --pbpk-model {}; give the model it was fitted with, or leave out --patient-model to fit this one to the twin's cycles",
                p.model_path.display(),
                opts.sbml.display()
            ),
        }
        .into());
    }
    Ok(Some(p))
}

/// The cycles a patient model was fitted to, in order (empty when not fitted by a twin).
fn fitted_cycles(p: &PatientModel) -> Vec<usize> {
    let mut v: Vec<usize> = p.earlier_cycles.iter().map(|a| a.cycle).collect();
    v.extend(p.cycle);
    v
}

fn describe_cycle(p: &PatientModel) -> String {
    p.cycle
        .map_or("the patient model's doses".into(), |c| format!("cycle {c}"))
}

/// Cold peptide of `doses`, nmol: the doses to species whose name contains `Cold`.
fn cold_of(doses: &[Bolus]) -> f64 {
    doses
        .iter()
        .filter(|b| {
            b.target
                .rsplit('.')
                .next()
                .is_some_and(|s| s.contains("Cold"))
        })
        .map(|b| b.amount_nmol)
        .sum()
}

fn bolus(target: &str, amount_nmol: f64) -> Bolus {
    Bolus {
        time_min: 0.0,
        target: target.to_string(),
        amount_nmol,
    }
}

/// The compartment the peptide goes into: `--inject-into`, else that of the patient model's
/// hot dose, else `Vein` or `Blood` (PyCNO's full and reduced models), whichever has `Hot`.
fn inject_compartment(
    opts: &PbpkOptions,
    patient: Option<&PatientModel>,
    model: &Model,
) -> Result<String> {
    let from_patient = patient.and_then(|p| {
        p.doses
            .iter()
            .find(|b| {
                b.target
                    .rsplit('.')
                    .next()
                    .is_some_and(|s| s.contains("Hot"))
            })
            .and_then(|b| b.target.split_once('.').map(|(c, _)| c.to_string()))
    });
    let has = |c: &str| {
        model.species_index(&format!("{c}.Hot")).is_ok()
            && model.species_index(&format!("{c}.Cold")).is_ok()
    };
    let chosen = opts.inject_into.clone().or(from_patient).or_else(|| {
        ["Vein", "Blood"]
            .iter()
            .find(|c| has(c))
            .map(|c| c.to_string())
    });
    match chosen {
        Some(c) if has(&c) => Ok(c),
        other => Err(PbpkError::UnknownName {
            what: "injection compartment (with species Hot and Cold; --inject-into)",
            name: other.unwrap_or_else(|| "Vein or Blood".into()),
            known: model
                .sbml
                .compartments
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
    }
}

/// Lower case without `_`, `-` and spaces, "tumor" as "tumour".
fn norm(s: &str) -> String {
    s.to_lowercase()
        .replace("tumor", "tumour")
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Organs → regions: `--map`, else the patient model's, else by name ([module docs](self)).
fn organ_map(
    opts: &PbpkOptions,
    patient: Option<&PatientModel>,
    model: &Model,
    twin: &Twin,
    sources: &[String],
) -> Result<OrganMap> {
    let map = if let Some(text) = &opts.map {
        parse_map(text)?
    } else if let Some(p) = patient.filter(|p| !p.data.is_empty()) {
        p.data
            .iter()
            .map(|d| (d.organ.clone(), d.regions.clone()))
            .collect()
    } else {
        auto_map(model, twin, sources)
    };
    check_map(&map, model, sources)?;
    Ok(map)
}

fn parse_map(text: &str) -> Result<OrganMap> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (organ, regions) = item.split_once('=').ok_or_else(|| {
                TwinError::PbpkMap(format!(
                    "--map item '{item}' is not Organ=region+region (e.g. Kidney=kidney_left+kidney_right)"
                ))
            })?;
            Ok((
                organ.trim().to_string(),
                regions.split('+').map(|r| r.trim().to_string()).collect(),
            ))
        })
        .collect()
}

fn auto_map(model: &Model, twin: &Twin, sources: &[String]) -> OrganMap {
    let mut used = vec![false; sources.len()];
    let mut map = Vec::new();
    for organ in &model.organs {
        let key = norm(&organ.name);
        let mut regions = Vec::new();
        for (k, s) in sources.iter().enumerate() {
            let tissue = twin
                .manifest
                .regions
                .iter()
                .find(|r| &r.name == s)
                .and_then(|r| r.tissue.as_deref())
                .map(norm);
            let stem = norm(s.split('_').next().unwrap_or(s));
            if !used[k] && (norm(s) == key || stem == key || tissue.as_deref() == Some(&key)) {
                used[k] = true;
                regions.push(s.clone());
            }
        }
        if !regions.is_empty() {
            map.push((organ.name.clone(), regions));
        }
    }
    map
}

/// Every organ is the model's, every region the twin's and in one organ; at least one.
fn check_map(map: &OrganMap, model: &Model, sources: &[String]) -> Result<()> {
    let organs: Vec<&str> = model.organs.iter().map(|o| o.name.as_str()).collect();
    let how = "name them with --map \"Organ=region+region,…\" (e.g. --map \"Kidney=kidney_left+kidney_right,Tumor=tumour_1\")";
    if map.is_empty() {
        return Err(TwinError::PbpkMap(format!(
            "no organ of the PBRPK model ({}) matches a region of the twin ({}) by name or tissue; {how}",
            organs.join(", "),
            sources.join(", ")
        ))
        .into());
    }
    let mut seen: Vec<&str> = Vec::new();
    for (organ, regions) in map {
        if !organs.contains(&organ.as_str()) {
            return Err(TwinError::PbpkMap(format!(
                "'{organ}' is not an organ (top-level compartment) of the PBRPK model; its organs: {}; {how}",
                organs.join(", ")
            ))
            .into());
        }
        for r in regions {
            if !sources.iter().any(|s| s == r) {
                return Err(TwinError::PbpkMap(format!(
                    "organ '{organ}' is mapped to '{r}', which is not a region of the twin; its regions: {}; {how}",
                    sources.join(", ")
                ))
                .into());
            }
            if seen.contains(&r.as_str()) {
                return Err(TwinError::PbpkMap(format!(
                    "region '{r}' is mapped to two organs; map each region to one organ"
                ))
                .into());
            }
            seen.push(r);
        }
    }
    Ok(())
}

impl PatientModel {
    /// The patient model with the file it was fitted with.
    fn with_file(mut self, sbml: &Path, hash: &str, nuclide: &str) -> PatientModel {
        self.model_path = sbml.to_path_buf();
        self.model_hash = hash.to_string();
        self.nuclide = nuclide.to_string();
        self
    }
}

/// Fits the PBRPK model to every synced cycle of the twin.
fn fit_twin(
    twin: &Twin,
    model: &Model,
    opts: &PbpkOptions,
    stored: Option<&PatientModel>,
    map: &OrganMap,
    inject: &str,
    half_life_s: f64,
) -> Result<PatientModel> {
    let params: Vec<String> = if opts.params.is_empty() {
        stored.map_or_else(Vec::new, |p| {
            p.fitted_parameters.iter().map(|f| f.name.clone()).collect()
        })
    } else {
        opts.params.clone()
    };
    if params.is_empty() {
        return Err(Error::invalid(
            "--params",
            "none given; --model pbpk fits the PBRPK model to the twin's cycles: name the parameters to fit (--params NAME,NAME and --measured-cold-nmol), or give a fitted patient with --patient-model FILE (from `voxdose pbpk fit`)",
        ));
    }
    let records = records(twin)?;
    let colds = measured_colds(opts, stored, &records)?;
    let priors = match &opts.prior {
        Some(p) => crate::pbpk::priors::Population::load(p)?,
        None => Default::default(),
    };
    let map_text: String = map
        .iter()
        .map(|(o, r)| format!("{o}={}", r.join("+")))
        .collect::<Vec<_>>()
        .join(",");
    let molar = crate::pbpk::molar_activity_mbq_per_nmol(half_life_s);
    let mut runs = Vec::new();
    for (r, cold) in records.iter().zip(&colds) {
        runs.push(Administration {
            cycle: r.cycle,
            doses: vec![
                bolus(
                    &format!("{inject}.Hot"),
                    r.injected_activity_bq / 1e6 / molar,
                ),
                bolus(&format!("{inject}.Cold"), *cold),
            ],
            data: fit::read_measured(&twin.cycle_dir(r.cycle), 1, &map_text)?,
        });
    }
    let latest = runs.pop().ok_or_else(|| {
        TwinError::Unusable("the twin has no synced cycle to fit the PBRPK model to".into())
    })?;
    let problem = FitProblem {
        boluses: latest.doses,
        fixed: Vec::new(),
        fit: params,
        priors,
        data: latest.data,
        activity_rel_sigma: ACTIVITY_REL_SIGMA,
        half_life_s,
        solve: SolveOptions::default(),
    };
    Ok(fit::fit_cycles(model, &problem, latest.cycle, &runs)?)
}

/// Cold peptide of each synced cycle: `--measured-cold-nmol` (one value or one per cycle),
/// else what the stored patient model recorded for each.
fn measured_colds(
    opts: &PbpkOptions,
    stored: Option<&PatientModel>,
    records: &[super::cycle::CycleRecord],
) -> Result<Vec<f64>> {
    let n = records.len();
    match opts.measured_cold_nmol.len() {
        1 => return Ok(vec![opts.measured_cold_nmol[0]; n]),
        k if k == n => return Ok(opts.measured_cold_nmol.clone()),
        0 => {}
        k => {
            return Err(Error::invalid(
                "--measured-cold-nmol",
                format!("{k} values for {n} synced cycles; give one value for every cycle, or one per cycle"),
            ))
        }
    }
    let recorded = |c: usize| -> Option<f64> {
        let p = stored?;
        if p.cycle == Some(c) {
            return Some(cold_of(&p.doses));
        }
        p.earlier_cycles
            .iter()
            .find(|a| a.cycle == c)
            .map(|a| cold_of(&a.doses))
    };
    records
        .iter()
        .map(|r| {
            recorded(r.cycle).ok_or_else(|| {
                Error::invalid(
                    "--measured-cold-nmol",
                    format!("not given, and the twin does not record the unlabelled peptide given in cycle {}; give the cold peptide (nmol) of each synced cycle, e.g. --measured-cold-nmol 100 for all", r.cycle),
                )
            })
        })
        .collect()
}

/// `n` samples of the patient's parameters: ln θ ~ N(ln θ̂, cov_ln) (the Cholesky factor of
/// the fit's covariance; its diagonal when that is not positive definite), fixed `seed`.
pub fn sample_parameters(p: &PatientModel, n: usize, seed: u64) -> Vec<Vec<(String, f64)>> {
    let k = p.fitted_parameters.len();
    let l = cholesky(&p.covariance_ln, k).unwrap_or_else(|| {
        (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| {
                        if i == j {
                            p.fitted_parameters[i].sigma_ln
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    });
    (0..n)
        .map(|i| {
            let mut rng = Pcg32::new(seed, i as u64);
            let z: Vec<f64> = (0..k).map(|_| normal(&mut rng)).collect();
            let mut v = p.fixed_parameters.clone();
            for (a, f) in p.fitted_parameters.iter().enumerate() {
                let dz: f64 = (0..=a).map(|b| l[a][b] * z[b]).sum();
                v.push((f.name.clone(), (f.value.ln() + dz).exp()));
            }
            v
        })
        .collect()
}

/// Lower Cholesky factor of a k×k matrix (nalgebra's); `None` unless positive definite.
fn cholesky(a: &[Vec<f64>], k: usize) -> Option<Vec<Vec<f64>>> {
    if a.len() != k || a.iter().any(|r| r.len() != k) {
        return None;
    }
    let l = nalgebra::DMatrix::from_fn(k, k, |i, j| a[i][j])
        .cholesky()?
        .l();
    Some(
        (0..k)
            .map(|i| (0..k).map(|j| l[(i, j)]).collect())
            .collect(),
    )
}

/// Organ TIAs to infinity (MBq·h) at the fitted parameters (first row) and each sample.
fn simulate_samples(
    model: &Model,
    doses: &[Bolus],
    central: &[(String, f64)],
    samples: &[Vec<(String, f64)>],
    half_life_s: f64,
) -> Result<Vec<Vec<f64>>> {
    let mut sets: Vec<Vec<(String, f64)>> = vec![central.to_vec()];
    sets.extend(samples.iter().cloned());
    sets.par_iter()
        .map(|params| {
            let scenario = Scenario {
                boluses: doses.to_vec(),
                grid_min: vec![0.0, 14.0 * 24.0 * 60.0],
                params: params.clone(),
                half_life_s,
                solve: SolveOptions::default(),
            };
            let r = simulate::simulate(model, &scenario)?;
            r.tia_infinity_mbq_h.ok_or_else(|| {
                TwinError::Unusable(
                    "the PBRPK model's activity does not decay to zero (no decay reactions for its Hot species?): the twin needs organ TIAs to infinity".into(),
                )
                .into()
            })
        })
        .collect()
}

/// The kinetic model with the mapped regions' τ from the PBRPK model: median at the fitted
/// parameters, draws from the samples, split by the regions' kinetic τ shares.
fn pbpk_model(
    mut pm: PredictionModel,
    map: &OrganMap,
    model: &Model,
    tias: &[Vec<f64>],
    activity_bq: f64,
) -> PredictionModel {
    let to_tau = 3.6e9 / activity_bq; // MBq·h → Bq·s, per Bq injected
    for (organ, regions) in map {
        let Some(col) = model.organs.iter().position(|o| &o.name == organ) else {
            continue;
        };
        let idx: Vec<usize> = regions
            .iter()
            .filter_map(|r| pm.sources.iter().position(|s| &s.name == r))
            .collect();
        let total: f64 = idx.iter().map(|&s| pm.sources[s].tia_per_injected_s).sum();
        for &s in &idx {
            let share = if total > 0.0 {
                pm.sources[s].tia_per_injected_s / total
            } else {
                1.0 / idx.len() as f64
            };
            let draws: Vec<f64> = tias[1..].iter().map(|t| share * t[col] * to_tau).collect();
            let src = &mut pm.sources[s];
            src.tia_per_injected_s = share * tias[0][col] * to_tau;
            src.tia_ln_sigma = ln_sd(&draws);
            src.tia_draws = Some(draws);
        }
    }
    pm
}

/// SD of ln x (0 for fewer than two positive values).
fn ln_sd(x: &[f64]) -> f64 {
    let l: Vec<f64> = x.iter().filter(|v| **v > 0.0).map(|v| v.ln()).collect();
    if l.len() < 2 {
        return 0.0;
    }
    let m = l.iter().sum::<f64>() / l.len() as f64;
    (l.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (l.len() - 1) as f64).sqrt()
}

fn parameters(p: &PatientModel) -> Vec<PbpkParameter> {
    let mut v: Vec<PbpkParameter> = p
        .fixed_parameters
        .iter()
        .map(|(name, value)| PbpkParameter {
            name: name.clone(),
            value: *value,
            sigma_ln: None,
        })
        .collect();
    v.extend(p.fitted_parameters.iter().map(|f| PbpkParameter {
        name: f.name.clone(),
        value: f.value,
        sigma_ln: Some(f.sigma_ln),
    }));
    v
}

fn organ_tias(map: &OrganMap, model: &Model, tias: &[Vec<f64>]) -> Vec<PbpkOrgan> {
    map.iter()
        .filter_map(|(organ, regions)| {
            let col = model.organs.iter().position(|o| &o.name == organ)?;
            let mut v: Vec<f64> = tias[1..].iter().map(|t| t[col]).collect();
            v.sort_by(f64::total_cmp);
            Some(PbpkOrgan {
                organ: organ.clone(),
                regions: regions.clone(),
                tia_mbq_h: tias[0][col],
                tia_mbq_h_p2_5: quantile_sorted(&v, 0.025),
                tia_mbq_h_p97_5: quantile_sorted(&v, 0.975),
            })
        })
        .collect()
}

/// Records the prediction (and a patient model fitted now) in one transaction.
fn commit(
    root: &Path,
    prediction: &Prediction,
    model: PredictionModel,
    fitted: Option<&PatientModel>,
) -> Result<()> {
    let stored = StoredPrediction {
        time: super::folder::now_utc(),
        prediction: prediction.clone(),
        model,
    };
    let mut txn = Txn::begin(root)?;
    txn.file(
        &format!("predictions/cycle{}.json", prediction.cycle),
        &to_json(&stored)?,
    )?;
    let mut events = Vec::new();
    if let Some(p) = fitted {
        txn.file(PATIENT_FILE, &to_json(p)?)?;
        events.push(event(
            "pbpk-fit",
            serde_json::json!({"model": p.model_path, "cycles": fitted_cycles(p), "objective": p.objective, "converged": p.converged}),
        ));
    }
    events.push(event(
        "predict",
        serde_json::json!({"cycle": prediction.cycle, "activity_bq": prediction.activity_bq, "cycles": prediction.cycles, "model": "pbpk", "cold_nmol": prediction.cold_nmol}),
    ));
    txn.append_history(&events)?;
    txn.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pbpk::fit::FittedParameter;

    fn patient(values: [f64; 2], cov: Vec<Vec<f64>>) -> PatientModel {
        let fitted = values
            .iter()
            .enumerate()
            .map(|(k, v)| FittedParameter {
                name: format!("p{k}"),
                value: *v,
                sigma: v * cov[k][k].sqrt(),
                sigma_ln: cov[k][k].sqrt(),
                ci95: [0.0, 0.0],
                prior: String::new(),
            })
            .collect();
        PatientModel {
            format: fit::PATIENT_FORMAT.into(),
            model_path: PathBuf::new(),
            model_hash: String::new(),
            nuclide: "Lu-177".into(),
            fixed_parameters: vec![("k".into(), 3.0)],
            fitted_parameters: fitted,
            covariance_ln: cov,
            doses: Vec::new(),
            data: Vec::new(),
            activity_rel_sigma: 0.1,
            residuals: Vec::new(),
            objective: 0.0,
            iterations: 0,
            converged: true,
            cycle: None,
            earlier_cycles: Vec::new(),
        }
    }

    /// ln θ of the samples has the fit's mean and covariance (correlation included): with
    /// n = 20000 the sampling σ of a mean is σ/√n (≤ 0.0021 here) and of a covariance entry
    /// at most √(2/n)·σ² = 9e-4 (σ² = 0.09); 5σ bounds. Fixed parameters stay as they are.
    #[test]
    fn parameter_samples_have_the_fits_covariance() {
        let cov = vec![vec![0.09, 0.036], vec![0.036, 0.04]];
        let p = patient([2.0, 0.5], cov.clone());
        let n = 20_000;
        let s = sample_parameters(&p, n, 7);
        assert!(s.iter().all(|v| v[0] == ("k".to_string(), 3.0)));
        let ln: Vec<[f64; 2]> = s.iter().map(|v| [v[1].1.ln(), v[2].1.ln()]).collect();
        let mean = |k: usize| ln.iter().map(|x| x[k]).sum::<f64>() / n as f64;
        let m = [mean(0), mean(1)];
        assert!(
            (m[0] - 2f64.ln()).abs() < 5.0 * 0.3 / (n as f64).sqrt(),
            "{m:?}"
        );
        assert!(
            (m[1] - 0.5f64.ln()).abs() < 5.0 * 0.2 / (n as f64).sqrt(),
            "{m:?}"
        );
        for (a, b) in [(0, 0), (0, 1), (1, 1)] {
            let c = ln
                .iter()
                .map(|x| (x[a] - m[a]) * (x[b] - m[b]))
                .sum::<f64>()
                / (n - 1) as f64;
            assert!((c - cov[a][b]).abs() < 5.0 * 9e-4, "cov[{a}][{b}] = {c}");
        }
        // The same seed gives the same samples.
        assert_eq!(sample_parameters(&p, 3, 7), s[..3].to_vec());
    }

    #[test]
    fn organ_names_match_regardless_of_case_separators_and_spelling() {
        assert_eq!(norm("Tumor"), norm("tumour"));
        assert_eq!(norm("Red_Marrow"), norm("red-marrow"));
        assert_ne!(norm("Kidney"), norm("Liver"));
        let m = parse_map("Kidney=kidney_left+kidney_right, Tumor=tumour_1").unwrap();
        assert_eq!(
            m,
            vec![
                (
                    "Kidney".to_string(),
                    vec!["kidney_left".to_string(), "kidney_right".to_string()]
                ),
                ("Tumor".to_string(), vec!["tumour_1".to_string()])
            ]
        );
        let e = parse_map("Kidney").unwrap_err();
        assert_eq!(e.exit_code(), 63, "{e}");
    }

    #[test]
    fn cold_amount_is_the_sum_of_the_cold_doses() {
        let d = |t: &str, a: f64| bolus(t, a);
        let doses = [
            d("Vein.Hot", 10.0),
            d("Vein.Cold", 90.0),
            d("Blood.Cold", 5.0),
        ];
        assert_eq!(cold_of(&doses), 95.0);
        assert_eq!(cold_of(&doses[..1]), 0.0);
    }
}
