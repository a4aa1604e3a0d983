//! Virtual trials: patients sampled from population distributions of a PBRPK model's
//! parameters, each simulated under the same doses; organ TIAs → organ doses (S-values) →
//! BED; percentiles per organ and the fraction of patients over each limit.
//!
//! **Sampling**: patient k's parameters come from PCG32 stream (seed, k)
//! ([`crate::physics::rng::Pcg32`]), one 53-bit uniform per parameter in name order,
//! turned into a value by inversion ([`super::priors::Distribution::quantile`]); so a
//! patient's draw does not depend on the thread count or on the other patients.
//!
//! **Doses**: D_t (Gy) = Σ_s S\[t\]\[s\] · Ã_s, with Ã_s in decays (MBq·h × 3.6e9) and S from
//! an S-value table ([`SValues`]: JSON, Gy per decay or mGy per MBq·s, target × source).
//!
//! **BED**: [`bed_gy`], through [`crate::radiobiology::lq`]: a mono-exponential dose rate per
//! organ with T_eff = ln 2 · Ã / A_max (the mono-exponential with the organ's peak activity
//! and integral).

use super::model::{Bolus, Model};
use super::priors::{Population, Tissue};
use super::simulate::{self, Scenario};
use super::solve::SolveOptions;
use super::PbpkError;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Seconds per hour and Bq per MBq: MBq·h → decays.
const DECAYS_PER_MBQ_H: f64 = 3.6e9;

/// Organ S-values: Gy per decay, `[target][source]` by organ name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SValues {
    /// Where they come from.
    pub source: Option<String>,
    /// target → source → Gy per decay.
    pub gy_per_decay: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SValuesFile {
    unit: String,
    #[serde(default)]
    source: Option<String>,
    targets: BTreeMap<String, BTreeMap<String, f64>>,
}

impl SValues {
    /// Reads an S-value table:
    /// `{"unit": "Gy/decay" | "mGy/(MBq*s)", "source": "...", "targets": {"Kidney":
    /// {"Kidney": 2.1e-11, "Liver": 1e-14}}}`; every source must be an organ of `model`.
    pub fn load(path: &Path, model: &Model) -> Result<SValues, PbpkError> {
        let bad = |reason: String| PbpkError::InvalidInput {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let f: SValuesFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let scale = match f.unit.replace(' ', "").as_str() {
            "Gy/decay" | "Gy/(Bq*s)" => 1.0,
            "mGy/(MBq*s)" => 1e-9,
            u => {
                return Err(bad(format!(
                    "unit '{u}': use \"Gy/decay\" or \"mGy/(MBq*s)\""
                )))
            }
        };
        let organs: Vec<&str> = model.organs.iter().map(|o| o.name.as_str()).collect();
        let mut out = BTreeMap::new();
        for (target, row) in f.targets {
            let mut r = BTreeMap::new();
            for (source, s) in row {
                if !organs.contains(&source.as_str()) {
                    return Err(bad(format!(
                        "source '{source}' (target '{target}') is not an organ of the model; organs: {}",
                        organs.join(", ")
                    )));
                }
                if !(s >= 0.0 && s.is_finite()) {
                    return Err(bad(format!(
                        "S[{target}][{source}] = {s} must be finite and ≥ 0"
                    )));
                }
                r.insert(source, s * scale);
            }
            out.insert(target, r);
        }
        Ok(SValues {
            source: f.source,
            gy_per_decay: out,
        })
    }
}

/// BED (Gy) of dose `dose_gy` delivered with a mono-exponential dose rate of effective
/// half-life `t_eff_h`: the radiobiology module's Lea–Catcheside factor of that shape
/// (G = T_rep/(T_rep + T_eff)) and BED = D + G·D²/(α/β) (Dale 1985; TWIN.md §1). The one
/// place a trial turns dose into BED: a richer dose-rate shape from the simulated TAC
/// would go here.
pub fn bed_gy(dose_gy: f64, t_eff_h: f64, tissue: &Tissue) -> f64 {
    use crate::radiobiology::lq::{bed_from_g, DoseRateModel};
    let g = DoseRateModel::mono_exponential(t_eff_h).g_factor(tissue.t_rep_h);
    bed_from_g(dose_gy, g, tissue.alpha_beta_gy)
}

/// What to run.
#[derive(Clone, Debug)]
pub struct TrialConfig {
    /// Doses given to every patient.
    pub boluses: Vec<Bolus>,
    /// Parameters fixed for all patients, (name, value).
    pub fixed: Vec<(String, f64)>,
    /// Parameter distributions and tissues.
    pub population: Population,
    /// Organ S-values (None: TIAs only).
    pub s_values: Option<SValues>,
    /// Number of patients.
    pub patients: usize,
    /// Seed of the sampling.
    pub seed: u64,
    /// TIA window, min (None: to infinity).
    pub window_min: Option<f64>,
    /// Half-life of the nuclide, s.
    pub half_life_s: f64,
    /// Solver options.
    pub solve: SolveOptions,
}

/// One virtual patient.
#[derive(Clone, Debug, Serialize)]
pub struct Patient {
    /// Index (0-based; the RNG stream).
    pub index: usize,
    /// Sampled parameter values, in the population's order.
    pub parameters: Vec<f64>,
    /// TIA per organ, MBq·h (empty when the simulation failed).
    pub tia_mbq_h: Vec<f64>,
    /// Dose per S-value target, Gy.
    pub dose_gy: Vec<f64>,
    /// BED per target with tissue parameters, Gy (NaN without).
    pub bed_gy: Vec<f64>,
    /// Why the simulation failed, if it did.
    pub error: Option<String>,
}

/// Percentiles of one quantity.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    /// p2.5, p5, p25, p50, p75, p95, p97.5.
    pub p: BTreeMap<String, f64>,
    /// Mean.
    pub mean: f64,
}

/// The trial's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct TrialResult {
    /// Organ names (TIA columns).
    pub organs: Vec<String>,
    /// S-value targets (dose columns).
    pub targets: Vec<String>,
    /// Sampled parameter names.
    pub parameter_names: Vec<String>,
    /// Every patient.
    pub patients: Vec<Patient>,
}

/// Runs the trial in parallel (rayon's current pool); `progress` is called once per
/// finished patient.
pub fn run(
    model: &Model,
    cfg: &TrialConfig,
    progress: &(dyn Fn() + Sync),
) -> Result<TrialResult, PbpkError> {
    let names: Vec<String> = cfg
        .population
        .parameters
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    for n in &names {
        model.overrides(&[(n.clone(), 1.0)])?; // every sampled parameter is settable
    }
    model.overrides(&cfg.fixed)?;
    let targets: Vec<String> = cfg
        .s_values
        .as_ref()
        .map_or(Vec::new(), |s| s.gy_per_decay.keys().cloned().collect());
    let patients = (0..cfg.patients)
        .into_par_iter()
        .map(|k| {
            let p = one_patient(model, cfg, k, &targets);
            progress();
            p
        })
        .collect();
    Ok(TrialResult {
        organs: model.organs.iter().map(|o| o.name.clone()).collect(),
        targets,
        parameter_names: names,
        patients,
    })
}

/// A 53-bit uniform in (0, 1) from two PCG32 outputs.
fn uniform(rng: &mut crate::physics::rng::Pcg32) -> f64 {
    let hi = u64::from(rng.next_u32() >> 5);
    let lo = u64::from(rng.next_u32() >> 6);
    ((hi << 26 | lo) as f64 + 0.5) / (1u64 << 53) as f64
}

fn one_patient(model: &Model, cfg: &TrialConfig, k: usize, targets: &[String]) -> Patient {
    let mut rng = crate::physics::rng::Pcg32::new(cfg.seed, k as u64);
    let parameters: Vec<f64> = cfg
        .population
        .parameters
        .iter()
        .map(|(_, d)| d.quantile(uniform(&mut rng)))
        .collect();
    let mut patient = Patient {
        index: k,
        parameters,
        tia_mbq_h: Vec::new(),
        dose_gy: Vec::new(),
        bed_gy: Vec::new(),
        error: None,
    };
    match simulate_patient(model, cfg, &patient.parameters) {
        Ok((tia, peak)) => {
            if let Some(s) = &cfg.s_values {
                for t in targets {
                    let (d, teff) = dose_and_teff(model, s, t, &tia, &peak);
                    patient.dose_gy.push(d);
                    patient.bed_gy.push(
                        cfg.population
                            .tissues
                            .get(t)
                            .map_or(f64::NAN, |ts| bed_gy(d, teff, ts)),
                    );
                }
            }
            patient.tia_mbq_h = tia;
        }
        Err(e) => patient.error = Some(e.to_string()),
    }
    patient
}

/// Organ TIAs (MBq·h) and peak activities (MBq) of one parameter set.
fn simulate_patient(
    model: &Model,
    cfg: &TrialConfig,
    values: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), PbpkError> {
    let mut params = cfg.fixed.clone();
    params.extend(
        cfg.population
            .parameters
            .iter()
            .map(|(n, _)| n.clone())
            .zip(values.iter().copied()),
    );
    let last_dose = cfg.boluses.iter().map(|b| b.time_min).fold(0.0, f64::max);
    let end = cfg.window_min.unwrap_or(last_dose + 20160.0).max(last_dose);
    let grid =
        simulate::parse_minutes(&format!("0:{end}:{}", (end / 400.0).max(1.0))).map_err(|r| {
            PbpkError::InvalidInput {
                path: "--window-min".into(),
                reason: r,
            }
        })?;
    let scenario = Scenario {
        boluses: cfg.boluses.clone(),
        grid_min: grid,
        params,
        half_life_s: cfg.half_life_s,
        solve: SolveOptions {
            to_infinity: cfg.window_min.is_none(),
            ..cfg.solve
        },
    };
    let r = simulate::simulate(model, &scenario)?;
    let tia = match (&cfg.window_min, r.tia_infinity_mbq_h) {
        (None, Some(v)) => v,
        (None, None) => {
            return Err(PbpkError::Solver {
                t_min: end,
                reason: "the TIA to infinity did not converge (Hot material that never leaves nor decays); use --window-min".into(),
            })
        }
        (Some(_), _) => r.tia_window_mbq_h,
    };
    let peak = (0..r.organs.len())
        .map(|o| r.activity_mbq.iter().map(|row| row[o]).fold(0.0, f64::max))
        .collect();
    Ok((tia, peak))
}

/// Dose to `target` (Gy) and the effective half-life (h) of its BED: T_eff of the target's
/// own activity when it is an organ, else of the largest contributor.
fn dose_and_teff(
    model: &Model,
    s: &SValues,
    target: &str,
    tia: &[f64],
    peak: &[f64],
) -> (f64, f64) {
    let mut dose = 0.0;
    let mut best = (f64::NEG_INFINITY, f64::INFINITY);
    for (k, organ) in model.organs.iter().enumerate() {
        let sv = s.gy_per_decay[target]
            .get(&organ.name)
            .copied()
            .unwrap_or(0.0);
        let part = sv * tia[k] * DECAYS_PER_MBQ_H;
        dose += part;
        let teff = if peak[k] > 0.0 {
            std::f64::consts::LN_2 * tia[k] / peak[k]
        } else {
            f64::INFINITY
        };
        let weight = if organ.name == target {
            f64::INFINITY
        } else {
            part
        };
        if weight > best.0 {
            best = (weight, teff);
        }
    }
    (dose, best.1)
}

/// Percentiles (linear interpolation between order statistics) of the finite values.
pub fn percentiles(values: &[f64]) -> Option<Percentiles> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let x = p * (v.len() - 1) as f64;
        let (i, f) = (x.floor() as usize, x.fract());
        if i + 1 < v.len() {
            v[i] * (1.0 - f) + v[i + 1] * f
        } else {
            v[i]
        }
    };
    let p = [
        ("p2.5", 0.025),
        ("p5", 0.05),
        ("p25", 0.25),
        ("p50", 0.5),
        ("p75", 0.75),
        ("p95", 0.95),
        ("p97.5", 0.975),
    ]
    .iter()
    .map(|(n, p)| (n.to_string(), q(*p)))
    .collect();
    Some(Percentiles {
        p,
        mean: v.iter().sum::<f64>() / v.len() as f64,
    })
}

/// Writes `patients.csv` (one row per patient) and `summary.json` (percentiles, fractions
/// over limits, failures) into `dir`.
pub fn write_outputs(dir: &Path, r: &TrialResult, cfg: &TrialConfig) -> crate::Result<()> {
    let mut text = String::from("patient");
    for n in &r.parameter_names {
        text.push_str(&format!(",{n}"));
    }
    for o in &r.organs {
        text.push_str(&format!(",tia_mbq_h_{o}"));
    }
    for t in &r.targets {
        text.push_str(&format!(",dose_gy_{t},bed_gy_{t}"));
    }
    text.push_str(",error\n");
    for p in &r.patients {
        text.push_str(&p.index.to_string());
        for v in &p.parameters {
            text.push_str(&format!(",{v:.8e}"));
        }
        let blank = |n: usize| vec![f64::NAN; n];
        let tia = if p.tia_mbq_h.is_empty() {
            blank(r.organs.len())
        } else {
            p.tia_mbq_h.clone()
        };
        for v in tia {
            text.push_str(&format!(",{v:.8e}"));
        }
        for k in 0..r.targets.len() {
            let d = p.dose_gy.get(k).copied().unwrap_or(f64::NAN);
            let b = p.bed_gy.get(k).copied().unwrap_or(f64::NAN);
            text.push_str(&format!(",{d:.8e},{b:.8e}"));
        }
        text.push_str(&format!(
            ",{}\n",
            p.error.as_deref().unwrap_or("").replace([',', '\n'], ";")
        ));
    }
    crate::io::atomic::write_atomic(&dir.join("patients.csv"), text.as_bytes())?;
    let summary = summary(r, cfg);
    let bytes = serde_json::to_vec_pretty(&summary)
        .map_err(|e| crate::Error::Internal(format!("summary.json: {e}")))?;
    crate::io::atomic::write_atomic(&dir.join("summary.json"), &bytes)
}

/// The summary document.
pub fn summary(r: &TrialResult, cfg: &TrialConfig) -> serde_json::Value {
    let ok: Vec<&Patient> = r.patients.iter().filter(|p| p.error.is_none()).collect();
    let col = |f: &dyn Fn(&Patient) -> f64| ok.iter().map(|p| f(p)).collect::<Vec<f64>>();
    let mut tia = serde_json::Map::new();
    for (k, o) in r.organs.iter().enumerate() {
        tia.insert(
            o.clone(),
            serde_json::json!(percentiles(&col(&|p| p.tia_mbq_h[k]))),
        );
    }
    let mut doses = serde_json::Map::new();
    for (k, t) in r.targets.iter().enumerate() {
        let d = col(&|p| p.dose_gy[k]);
        let b = col(&|p| p.bed_gy[k]);
        let tissue = cfg.population.tissues.get(t);
        let over = |vals: &[f64], limit: Option<f64>| {
            limit.map(|l| vals.iter().filter(|v| **v > l).count() as f64 / vals.len().max(1) as f64)
        };
        doses.insert(
            t.clone(),
            serde_json::json!({
                "dose_gy": percentiles(&d),
                "bed_gy": percentiles(&b),
                "tissue": tissue,
                "fraction_over_dose_limit": over(&d, tissue.and_then(|t| t.limit_dose_gy)),
                "fraction_over_bed_limit": over(&b, tissue.and_then(|t| t.limit_bed_gy)),
            }),
        );
    }
    serde_json::json!({
        "patients": r.patients.len(),
        "failed": r.patients.len() - ok.len(),
        "seed": cfg.seed,
        "parameters": r.parameter_names,
        "population_source": cfg.population.source,
        "s_values_source": cfg.s_values.as_ref().and_then(|s| s.source.clone()),
        "doses": cfg.boluses.iter().map(|b| serde_json::json!({"target": b.target, "nmol": b.amount_nmol, "at_min": b.time_min})).collect::<Vec<_>>(),
        "tia_window": cfg.window_min.map_or("0 to infinity".to_string(), |w| format!("0 to {w} min")),
        "units": {"tia": "MBq*h", "dose": "Gy", "bed": "Gy"},
        "bed_model": "radiobiology::lq, mono-exponential dose rate per organ with T_eff = ln2 * TIA / peak activity",
        "tia_mbq_h": tia,
        "targets": doses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TWIN.md §1 check value: D = 10 Gy, T_eff = 50 h, α/β = 2.6 Gy, T_rep = 2.8 h →
    /// BED = 12.0396 Gy.
    #[test]
    fn bed_matches_the_twin_check_value() {
        let t = Tissue {
            alpha_beta_gy: 2.6,
            t_rep_h: 2.8,
            limit_bed_gy: None,
            limit_dose_gy: None,
        };
        assert!((bed_gy(10.0, 50.0, &t) - 12.0396).abs() < 5e-5);
    }

    #[test]
    fn percentiles_interpolate_order_statistics() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        let p = percentiles(&v).unwrap();
        assert_eq!(p.p["p50"], 50.0);
        assert!((p.p["p2.5"] - 2.5).abs() < 1e-12);
        assert_eq!(p.mean, 50.0);
    }

    #[test]
    fn uniforms_lie_strictly_inside_the_unit_interval() {
        let mut rng = crate::physics::rng::Pcg32::new(1, 0);
        for _ in 0..10000 {
            let u = uniform(&mut rng);
            assert!(u > 0.0 && u < 1.0);
        }
    }
}
