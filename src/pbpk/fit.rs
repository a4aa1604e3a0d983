//! Per-patient fit: chosen parameters of a PBRPK model fitted to the patient's measured
//! organ activities (the region TACs `voxdose fit` writes to `regions.json`) by maximum a
//! posteriori with population priors, and the patient model file that results.
//!
//! **Objective** (φ = ln θ, so every parameter stays positive):
//! Σᵢ ((A_model(tᵢ) − Aᵢ)/(u·Aᵢ))² + Σₖ rₖ(θₖ)², with u the relative σ of a measured
//! activity and rₖ the prior residual ([`super::priors::Distribution::residual`]: for a
//! log-normal prior (φ − ln median)/σ, the usual "empirical Bayes" penalty of population
//! PK). Minimised by Levenberg–Marquardt on φ with a central finite-difference Jacobian
//! (each column two simulations). σ of the estimate: the Laplace approximation, cov(φ) =
//! (JᵀJ)⁻¹ at the optimum (prior rows included); σ(θ) ≈ θ·σ(φ), the 95 % interval
//! exp(φ ± 1.96 σ(φ)).
//!
//! **Measured organs**: `--map "Kidney=kidney_left+kidney_right"` sums the named regions'
//! activities (Bq, the same scan times) into the model organ `Kidney`.
//!
//! **The patient model file** ([`PatientModel`], JSON) names the SBML file (with a hash),
//! the nuclide, the fixed and fitted parameter values, cov(φ), and the fit's data and
//! residuals. [`PatientModel::predict`] simulates the fitted patient under any doses and
//! returns organ TIAs (a next cycle with another hot or cold amount).
//!
//! **Several cycles** ([`fit_cycles`], a twin's `predict --model pbpk`): one set of
//! parameters fitted to every cycle's data at once, each cycle simulated from a fresh
//! patient with its own doses; the file then names the latest cycle (`cycle`, whose doses
//! and data are `doses` and `data`) and the earlier ones (`earlier_cycles`), and each
//! residual its cycle.

use super::model::{Bolus, Model};
use super::priors::{Distribution, Population};
use super::simulate::{self, Scenario, SimResult};
use super::solve::SolveOptions;
use super::PbpkError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format tag of the patient model file.
pub const PATIENT_FORMAT: &str = "voxdose-pbpk-patient/1";

/// A measured organ TAC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrganData {
    /// Model organ (top-level compartment) name.
    pub organ: String,
    /// Measured regions summed into it.
    pub regions: Vec<String>,
    /// Scan times, h after the (first) administration.
    pub time_h: Vec<f64>,
    /// Activity, MBq.
    pub activity_mbq: Vec<f64>,
}

/// Reads organ TACs from `DIR/regions.json` (`voxdose fit`), cycle `cycle` (1-based), with
/// `map` = "Organ=regionA+regionB,…".
pub fn read_measured(dir: &Path, cycle: usize, map: &str) -> Result<Vec<OrganData>, PbpkError> {
    let path = dir.join("regions.json");
    let bad = |reason: String| PbpkError::InvalidInput {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        bad(format!(
            "cannot read ({e}); --fit must be the output folder of `voxdose fit`"
        ))
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let cycles = doc["cycles"]
        .as_array()
        .ok_or_else(|| bad("no 'cycles' list".into()))?;
    let c = cycles
        .iter()
        .find(|c| c["cycle"].as_u64() == Some(cycle as u64))
        .ok_or_else(|| bad(format!("no cycle {cycle} (it has {})", cycles.len())))?;
    let regions = c["regions"]
        .as_array()
        .ok_or_else(|| bad("cycle without 'regions'".into()))?;
    let mut out = Vec::new();
    for item in map.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (organ, parts) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("--map item '{item}' is not Organ=region+region")))?;
        let names: Vec<String> = parts.split('+').map(|s| s.trim().to_string()).collect();
        let mut time_h: Option<Vec<f64>> = None;
        let mut sum: Vec<f64> = Vec::new();
        for n in &names {
            let r = regions
                .iter()
                .find(|r| r["name"].as_str() == Some(n))
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        regions.iter().filter_map(|r| r["name"].as_str()).collect();
                    bad(format!(
                        "--map names region '{n}', which cycle {cycle} does not have; regions: {}",
                        known.join(", ")
                    ))
                })?;
            let t: Vec<f64> =
                numbers(&r["time_h"]).ok_or_else(|| bad(format!("region '{n}' without time_h")))?;
            let a: Vec<f64> = numbers(&r["activity_bq"])
                .ok_or_else(|| bad(format!("region '{n}' without activity_bq")))?;
            match &time_h {
                None => {
                    sum = a.iter().map(|x| x * 1e-6).collect();
                    time_h = Some(t);
                }
                Some(t0) if *t0 == t => sum.iter_mut().zip(&a).for_each(|(s, x)| *s += x * 1e-6),
                Some(_) => {
                    return Err(bad(format!(
                        "regions of '{organ}' have different scan times"
                    )))
                }
            }
        }
        out.push(OrganData {
            organ: organ.trim().to_string(),
            regions: names,
            time_h: time_h.unwrap_or_default(),
            activity_mbq: sum,
        });
    }
    if out.is_empty() {
        return Err(bad("--map names no organ".into()));
    }
    Ok(out)
}

fn numbers(v: &serde_json::Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(|x| x.as_f64()).collect()
}

/// What to fit.
#[derive(Clone, Debug)]
pub struct FitProblem {
    /// Boluses as administered.
    pub boluses: Vec<Bolus>,
    /// Parameters held at given values, (name, value).
    pub fixed: Vec<(String, f64)>,
    /// Parameters to fit, by name.
    pub fit: Vec<String>,
    /// Priors by parameter name; a parameter without one gets a log-normal around its
    /// declared value with σ(ln) = [`DEFAULT_PRIOR_SIGMA_LN`].
    pub priors: Population,
    /// Measured organ TACs.
    pub data: Vec<OrganData>,
    /// Relative σ of each measured activity.
    pub activity_rel_sigma: f64,
    /// Half-life of the nuclide, s.
    pub half_life_s: f64,
    /// Solver options.
    pub solve: SolveOptions,
}

/// σ of ln θ of the default (weak) prior: a factor e either way at one σ.
pub const DEFAULT_PRIOR_SIGMA_LN: f64 = 1.0;

/// One fitted parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedParameter {
    /// Model name.
    pub name: String,
    /// MAP value (model units).
    pub value: f64,
    /// σ of the value (delta method, θ·σ_ln).
    pub sigma: f64,
    /// σ of ln θ.
    pub sigma_ln: f64,
    /// 95 % interval, exp(ln θ ± 1.96 σ_ln).
    pub ci95: [f64; 2],
    /// The prior used, in words.
    pub prior: String,
}

/// One residual of the fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    /// Organ.
    pub organ: String,
    /// Scan time, h.
    pub time_h: f64,
    /// Measured activity, MBq.
    pub measured_mbq: f64,
    /// Model activity, MBq.
    pub model_mbq: f64,
    /// (model − measured)/σ.
    pub normalized: f64,
    /// The cycle, in a fit of several ([`fit_cycles`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<usize>,
}

/// An earlier administration fitted with the same parameters as the problem's (a twin's
/// earlier cycles): the patient starts afresh at each (what is left of the cycle before is
/// neglected).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Administration {
    /// Its cycle number.
    pub cycle: usize,
    /// Its doses.
    pub doses: Vec<Bolus>,
    /// What was measured after it.
    pub data: Vec<OrganData>,
}

/// The patient model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatientModel {
    /// [`PATIENT_FORMAT`].
    pub format: String,
    /// The SBML file, as given.
    pub model_path: PathBuf,
    /// FNV-1a 64 hash of the SBML file's bytes (hex), to notice a changed model.
    pub model_hash: String,
    /// Nuclide of the fit.
    pub nuclide: String,
    /// Parameters held fixed, (name, value).
    pub fixed_parameters: Vec<(String, f64)>,
    /// Fitted parameters.
    pub fitted_parameters: Vec<FittedParameter>,
    /// cov(ln θ) of the fitted parameters, row major, in their order.
    pub covariance_ln: Vec<Vec<f64>>,
    /// Doses of the fitted cycle.
    pub doses: Vec<Bolus>,
    /// Measured data fitted.
    pub data: Vec<OrganData>,
    /// Relative σ of the measured activities.
    pub activity_rel_sigma: f64,
    /// Residuals at the optimum.
    pub residuals: Vec<Residual>,
    /// Objective (Σ squared residuals, data and prior) at the optimum.
    pub objective: f64,
    /// Levenberg–Marquardt iterations.
    pub iterations: usize,
    /// Whether the stopping rule was met (else the iteration limit was reached).
    pub converged: bool,
    /// In a fit of several cycles ([`fit_cycles`]): the cycle of `doses` and `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<usize>,
    /// In a fit of several cycles: the earlier ones, fitted with the same parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_cycles: Vec<Administration>,
}

impl PatientModel {
    /// Reads a patient model file.
    pub fn load(path: &Path) -> Result<PatientModel, PbpkError> {
        let bad = |reason: String| PbpkError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let p: PatientModel = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if p.format != PATIENT_FORMAT {
            return Err(bad(format!(
                "format '{}' is not {PATIENT_FORMAT}",
                p.format
            )));
        }
        Ok(p)
    }

    /// All parameter values of the patient: fixed, then fitted.
    pub fn parameters(&self) -> Vec<(String, f64)> {
        let mut v = self.fixed_parameters.clone();
        v.extend(
            self.fitted_parameters
                .iter()
                .map(|p| (p.name.clone(), p.value)),
        );
        v
    }

    /// Simulates the fitted patient under `boluses` (e.g. the next cycle with another hot
    /// or cold amount) on `grid_min`; organ TIAs are in the result (MBq·h, window and to
    /// infinity). `model` must be the SBML the fit used (its hash is checked).
    pub fn predict(
        &self,
        model: &Model,
        model_bytes: &[u8],
        boluses: Vec<Bolus>,
        grid_min: Vec<f64>,
        half_life_s: f64,
        solve: SolveOptions,
    ) -> Result<SimResult, PbpkError> {
        if fnv1a64_hex(model_bytes) != self.model_hash {
            return Err(PbpkError::InvalidInput {
                path: self.model_path.clone(),
                reason: "this SBML file is not the one the patient was fitted with (hash differs)"
                    .into(),
            });
        }
        let scenario = Scenario {
            boluses,
            grid_min,
            params: self.parameters(),
            half_life_s,
            solve,
        };
        simulate::simulate(model, &scenario)
    }
}

/// 64-bit FNV-1a of `bytes`, hex.
pub fn fnv1a64_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The fit's parameters with their priors and bounds.
struct Params {
    names: Vec<String>,
    priors: Vec<Distribution>,
    bounds: Vec<(f64, f64)>,
    start: Vec<f64>,
}

fn fit_params(model: &Model, p: &FitProblem) -> Result<Params, PbpkError> {
    let mut out = Params {
        names: Vec::new(),
        priors: Vec::new(),
        bounds: Vec::new(),
        start: Vec::new(),
    };
    let fixed = model.overrides(&p.fixed)?;
    for name in &p.fit {
        let id = model.parameter_id(name)?;
        model.overrides(&[(name.clone(), 1.0)])?; // refuses parameters set by assignments
        let declared = fixed.get(&id).copied().or(model.declared_value(&id));
        let prior = match p.priors.get(name) {
            Some(d) => d,
            None => {
                let median = declared.filter(|v| *v > 0.0).ok_or_else(|| PbpkError::FitFailed {
                    reason: format!("'{name}' has no prior in --prior and no positive value in the model to centre a default prior on"),
                })?;
                Distribution::LogNormal {
                    median,
                    sigma_ln: DEFAULT_PRIOR_SIGMA_LN,
                }
            }
        };
        out.names.push(name.clone());
        out.bounds.push(prior.bounds());
        out.start.push(prior.center());
        out.priors.push(prior);
    }
    Ok(out)
}

/// Fits `p` on `model`; returns the patient model (paths and hash to be filled by the
/// caller, who knows the file).
pub fn fit(model: &Model, p: &FitProblem) -> Result<PatientModel, PbpkError> {
    fit_runs(model, p, None, &[])
}

/// Fits `p` (the latest cycle, number `cycle`: its boluses and data) together with `earlier`
/// cycles: one set of parameters, every cycle's residuals (a twin's cycles).
pub fn fit_cycles(
    model: &Model,
    p: &FitProblem,
    cycle: usize,
    earlier: &[Administration],
) -> Result<PatientModel, PbpkError> {
    fit_runs(model, p, Some(cycle), earlier)
}

fn fit_runs(
    model: &Model,
    p: &FitProblem,
    cycle: Option<usize>,
    earlier: &[Administration],
) -> Result<PatientModel, PbpkError> {
    let params = fit_params(model, p)?;
    let mut runs: Vec<(Option<usize>, &[Bolus], Observations)> = Vec::new();
    for a in earlier {
        runs.push((
            Some(a.cycle),
            a.doses.as_slice(),
            Observations::new(model, &a.data)?,
        ));
    }
    runs.push((
        cycle,
        p.boluses.as_slice(),
        Observations::new(model, &p.data)?,
    ));
    let sims = |phi: &[f64]| -> Result<Vec<SimResult>, PbpkError> {
        runs.iter()
            .map(|(_, b, o)| simulate_at(model, p, b, &params, phi, &o.grid_min))
            .collect()
    };
    let residuals = |phi: &[f64]| -> Result<Vec<f64>, PbpkError> {
        let mut r = Vec::new();
        for (sim, (_, _, obs)) in sims(phi)?.iter().zip(&runs) {
            r.extend(obs.data_residuals(sim, p.activity_rel_sigma));
        }
        r.extend(
            params
                .priors
                .iter()
                .zip(phi)
                .map(|(d, f)| d.residual(f.exp())),
        );
        Ok(r)
    };
    let phi0: Vec<f64> = params.start.iter().map(|v| v.ln()).collect();
    let lm = levenberg_marquardt(&residuals, phi0, &params.bounds)?;
    let cov = covariance(&lm.jacobian, params.names.len())?;
    let mut report = Vec::new();
    for (sim, (c, _, obs)) in sims(&lm.phi)?.iter().zip(&runs) {
        report.extend(
            obs.report(sim, p.activity_rel_sigma)
                .into_iter()
                .map(|r| Residual { cycle: *c, ..r }),
        );
    }
    let fitted = params
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let (phi, s) = (lm.phi[k], cov[k][k].sqrt());
            FittedParameter {
                name: name.clone(),
                value: phi.exp(),
                sigma: phi.exp() * s,
                sigma_ln: s,
                ci95: [(phi - 1.96 * s).exp(), (phi + 1.96 * s).exp()],
                prior: describe(&params.priors[k]),
            }
        })
        .collect();
    Ok(PatientModel {
        format: PATIENT_FORMAT.into(),
        model_path: model.path.clone().unwrap_or_default(),
        model_hash: String::new(),
        nuclide: String::new(),
        fixed_parameters: p.fixed.clone(),
        fitted_parameters: fitted,
        covariance_ln: cov,
        doses: p.boluses.clone(),
        data: p.data.clone(),
        activity_rel_sigma: p.activity_rel_sigma,
        residuals: report,
        objective: lm.cost,
        iterations: lm.iterations,
        converged: lm.converged,
        cycle,
        earlier_cycles: earlier.to_vec(),
    })
}

fn describe(d: &Distribution) -> String {
    match d {
        Distribution::LogNormal { median, sigma_ln } => {
            format!("lognormal(median {median}, sigma_ln {sigma_ln})")
        }
        Distribution::Normal { mean, sd } => format!("normal(mean {mean}, sd {sd}, > 0)"),
        Distribution::Uniform { min, max } => format!("uniform({min}, {max})"),
    }
}

fn simulate_at(
    model: &Model,
    p: &FitProblem,
    boluses: &[Bolus],
    params: &Params,
    phi: &[f64],
    grid: &[f64],
) -> Result<SimResult, PbpkError> {
    let mut values = p.fixed.clone();
    values.extend(
        params
            .names
            .iter()
            .cloned()
            .zip(phi.iter().map(|f| f.exp())),
    );
    let scenario = Scenario {
        boluses: boluses.to_vec(),
        grid_min: grid.to_vec(),
        params: values,
        half_life_s: p.half_life_s,
        solve: SolveOptions {
            to_infinity: false,
            ..p.solve
        },
    };
    simulate::simulate(model, &scenario)
}

/// Measured points placed on one output grid.
struct Observations<'a> {
    data: &'a [OrganData],
    organ_col: Vec<usize>,
    grid_min: Vec<f64>,
    /// For each organ and point, its grid index.
    at: Vec<Vec<usize>>,
}

impl<'a> Observations<'a> {
    fn new(model: &Model, data: &'a [OrganData]) -> Result<Self, PbpkError> {
        let organ_col = data
            .iter()
            .map(|d| {
                model
                    .organs
                    .iter()
                    .position(|o| o.name == d.organ)
                    .ok_or_else(|| PbpkError::UnknownName {
                        what: "organ (top-level compartment) in --map",
                        name: d.organ.clone(),
                        known: model
                            .organs
                            .iter()
                            .map(|o| o.name.clone())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut grid: Vec<f64> = vec![0.0];
        for d in data {
            if d.time_h.len() != d.activity_mbq.len() || d.time_h.is_empty() {
                return Err(PbpkError::FitFailed {
                    reason: format!("organ '{}' has no usable measurements", d.organ),
                });
            }
            if let Some(a) = d
                .activity_mbq
                .iter()
                .find(|a| !(**a > 0.0 && a.is_finite()))
            {
                return Err(PbpkError::FitFailed {
                    reason: format!("organ '{}' has a measured activity {a} MBq; relative weights need activities > 0", d.organ),
                });
            }
            grid.extend(d.time_h.iter().map(|t| t * 60.0));
        }
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let at = data
            .iter()
            .map(|d| {
                d.time_h
                    .iter()
                    .map(|t| {
                        grid.iter()
                            .position(|g| *g == t * 60.0)
                            .expect("every time was put on the grid above")
                    })
                    .collect()
            })
            .collect();
        Ok(Observations {
            data,
            organ_col,
            grid_min: grid,
            at,
        })
    }

    fn data_residuals(&self, sim: &SimResult, u: f64) -> Vec<f64> {
        self.report(sim, u).iter().map(|r| r.normalized).collect()
    }

    fn report(&self, sim: &SimResult, u: f64) -> Vec<Residual> {
        let mut out = Vec::new();
        for (k, d) in self.data.iter().enumerate() {
            for (i, &g) in self.at[k].iter().enumerate() {
                let model = sim.activity_mbq[g][self.organ_col[k]];
                let meas = d.activity_mbq[i];
                out.push(Residual {
                    organ: d.organ.clone(),
                    time_h: d.time_h[i],
                    measured_mbq: meas,
                    model_mbq: model,
                    normalized: (model - meas) / (u * meas),
                    cycle: None,
                });
            }
        }
        out
    }
}

/// The outcome of a Levenberg–Marquardt minimisation.
struct LmOutcome {
    phi: Vec<f64>,
    cost: f64,
    jacobian: Vec<Vec<f64>>,
    iterations: usize,
    converged: bool,
}

/// Finite-difference step in φ = ln θ (central differences: error ~ h² ≈ 1e-6 relative,
/// well above the solver's 1e-8 noise divided by h).
const FD_STEP: f64 = 1e-3;
/// Most iterations.
const MAX_ITER: usize = 60;

type ResidualFn<'a> = dyn Fn(&[f64]) -> Result<Vec<f64>, PbpkError> + 'a;

fn jacobian(f: &ResidualFn, phi: &[f64], m: usize) -> Result<Vec<Vec<f64>>, PbpkError> {
    let mut j = vec![vec![0.0; phi.len()]; m];
    for k in 0..phi.len() {
        let mut up = phi.to_vec();
        let mut dn = phi.to_vec();
        up[k] += FD_STEP;
        dn[k] -= FD_STEP;
        let (ru, rd) = (f(&up)?, f(&dn)?);
        for i in 0..m {
            j[i][k] = (ru[i] - rd[i]) / (2.0 * FD_STEP);
        }
    }
    Ok(j)
}

fn levenberg_marquardt(
    f: &ResidualFn,
    mut phi: Vec<f64>,
    bounds: &[(f64, f64)],
) -> Result<LmOutcome, PbpkError> {
    let clamp = |phi: &mut Vec<f64>| {
        for (p, (lo, hi)) in phi.iter_mut().zip(bounds) {
            *p = p.clamp(lo.ln(), hi.ln());
        }
    };
    clamp(&mut phi);
    let n = phi.len();
    let mut r = f(&phi)?;
    let mut cost: f64 = r.iter().map(|x| x * x).sum();
    let mut mu = 1e-3;
    let mut converged = false;
    let mut iterations = 0;
    let mut j = jacobian(f, &phi, r.len())?;
    while iterations < MAX_ITER {
        iterations += 1;
        let (jtj, jtr) = normal_equations(&j, &r, n);
        let mut a = jtj.clone();
        for k in 0..n {
            a[k][k] += mu * jtj[k][k].max(1e-12);
        }
        let step = solve_spd(&a, &jtr.iter().map(|x| -x).collect::<Vec<_>>())
            .ok_or_else(|| PbpkError::FitFailed { reason: "singular normal equations; are the fitted parameters identifiable from these organs?".into() })?;
        let mut trial: Vec<f64> = phi.iter().zip(&step).map(|(p, s)| p + s).collect();
        clamp(&mut trial);
        let r_new = f(&trial)?;
        let cost_new: f64 = r_new.iter().map(|x| x * x).sum();
        if cost_new < cost {
            let rel = (cost - cost_new) / cost.max(f64::MIN_POSITIVE);
            let small_step = step.iter().all(|s| s.abs() < 1e-6);
            phi = trial;
            r = r_new;
            cost = cost_new;
            mu = (mu / 3.0).max(1e-9);
            if rel < 1e-9 || small_step {
                converged = true;
                break;
            }
            j = jacobian(f, &phi, r.len())?;
        } else {
            mu *= 4.0;
            if mu > 1e8 {
                converged = true; // no descent direction left: a (local) minimum
                break;
            }
        }
    }
    let j = jacobian(f, &phi, r.len())?;
    Ok(LmOutcome {
        phi,
        cost,
        jacobian: j,
        iterations,
        converged,
    })
}

fn normal_equations(j: &[Vec<f64>], r: &[f64], n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut jtj = vec![vec![0.0; n]; n];
    let mut jtr = vec![0.0; n];
    for (row, ri) in j.iter().zip(r) {
        for a in 0..n {
            jtr[a] += row[a] * ri;
            for b in 0..n {
                jtj[a][b] += row[a] * row[b];
            }
        }
    }
    (jtj, jtr)
}

/// Solves a symmetric positive-definite system by Cholesky; `None` if not positive definite.
fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for k in 0..=i {
            let s = a[i][k] - (0..k).map(|m| l[i][m] * l[k][m]).sum::<f64>();
            if i == k {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][k] = s / l[k][k];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|m| l[i][m] * y[m]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|m| l[m][i] * x[m]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// (JᵀJ)⁻¹.
fn covariance(j: &[Vec<f64>], n: usize) -> Result<Vec<Vec<f64>>, PbpkError> {
    let (jtj, _) = normal_equations(j, &vec![0.0; j.len()], n);
    let mut cov = vec![vec![0.0; n]; n];
    for c in 0..n {
        let mut e = vec![0.0; n];
        e[c] = 1.0;
        let x = solve_spd(&jtj, &e).ok_or_else(|| PbpkError::FitFailed {
            reason: "the curvature at the optimum is singular: σ cannot be computed".into(),
        })?;
        for r in 0..n {
            cov[r][c] = x[r];
        }
    }
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight line y = a·t + b fitted by LM (φ = parameters directly): the exact least-
    /// squares solution of the normal equations.
    #[test]
    fn levenberg_marquardt_reaches_the_least_squares_solution() {
        let t = [0.0, 1.0, 2.0, 3.0];
        let y = [1.1, 2.9, 5.2, 6.8];
        let f = |p: &[f64]| -> Result<Vec<f64>, PbpkError> {
            Ok(t.iter()
                .zip(&y)
                .map(|(ti, yi)| p[0] * ti + p[1] - yi)
                .collect())
        };
        // bounds apply to exp(φ): wide ones leave φ free
        let out =
            levenberg_marquardt(&f, vec![0.5, 0.5], &[(1e-300, 1e300), (1e-300, 1e300)]).unwrap();
        // closed form: slope = Σ(t−t̄)(y−ȳ)/Σ(t−t̄)², intercept = ȳ − slope·t̄
        let (tm, ym) = (1.5, (1.1 + 2.9 + 5.2 + 6.8) / 4.0);
        let sxy: f64 = t.iter().zip(&y).map(|(a, b)| (a - tm) * (b - ym)).sum();
        let sxx: f64 = t.iter().map(|a| (a - tm) * (a - tm)).sum();
        let slope = sxy / sxx;
        assert!((out.phi[0] - slope).abs() < 1e-6, "{:?}", out.phi);
        assert!((out.phi[1] - (ym - slope * tm)).abs() < 1e-6);
    }
}
