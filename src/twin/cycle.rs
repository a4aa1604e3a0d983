//! Syncing one cycle into a folder: its one-cycle study, the kinetics fit and the dose
//! (`voxdose run --study` through the run layer, so the folder holds everything a study run
//! writes: TIA maps, region tables, dose, σ, BED, organ table), the S-matrix, and
//! `record.json`: per source region its TIA per injected activity τ and the shape of its
//! activity curve, per target region its measured dose and organ-level BED.
//!
//! Organ-level BED of a target uses the region's mean dose and the shape of its dose rate,
//! Ḋ_t(t) ∝ Σ_s S\[t\]\[s\]·Ã_s·f_s(t) with f_s the unit-integral activity curve of source s,
//! so the dose a region receives from its neighbours keeps their kinetics (for a region that
//! holds most of its own dose, as 177Lu's β do, it is the region's own curve). The twin's
//! prediction uses the same formula, so predicted and measured BED compare like with like.

use super::folder::TwinManifest;
use super::smatrix::{self, SMatrix, REMAINDER};
use crate::kinetics::RegionResult;
use crate::radiobiology::{bed_from_g, eqd2_gy, DoseRateModel, ExpTerm, Tissue};
use crate::run::config::StudyInput;
use crate::run::{execute, write_outputs, Clock, DoseTo, Input, Problem, ProblemKind, RunConfig};
use crate::transport::{Device, Observer};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::LN_2;
use std::path::Path;

/// `cycles/N/record.json`: what the twin learnt from a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Date of administration, as the study gives it.
    pub date: Option<String>,
    /// Administered activity, Bq.
    pub injected_activity_bq: f64,
    /// Nuclide.
    pub nuclide: String,
    /// Time points fitted.
    pub time_points: usize,
    /// Per source region (the S-matrix's columns): kinetics.
    pub sources: Vec<SourceRecord>,
    /// Per target region (the S-matrix's rows): measured dose and BED.
    pub regions: Vec<RegionRecord>,
    /// When a prediction was made for this cycle before it was synced: predicted/measured − 1
    /// per region (`cycles/N/prediction.json` holds the prediction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_error: Option<Vec<PredictionError>>,
}

/// One source region's kinetics in a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Region name (`remainder` for activity outside the regions).
    pub name: String,
    /// Ã of the region in the TIA map, Bq·s.
    pub tia_bq_s: f64,
    /// Relative σ of Ã (fit, calibration, recovery).
    pub tia_rel_sigma: f64,
    /// τ = Ã / injected activity, s.
    pub tia_per_injected_s: f64,
    /// Effective half-life of the terminal phase, h.
    pub effective_half_life_h: f64,
    /// Relative σ of the effective half-life (from the fit).
    pub effective_half_life_rel_sigma: f64,
    /// The activity curve, as exponential terms with Σ aᵢ/λᵢ = 1 (aᵢ in 1/h, λᵢ in 1/h).
    pub shape: Vec<ExpTerm>,
    /// The model behind the shape, in words.
    pub model: String,
}

/// One target region's measured dose and BED in a cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionRecord {
    /// Region name.
    pub name: String,
    /// Tissue key, when known.
    pub tissue: Option<String>,
    /// Mass, kg.
    pub mass_kg: f64,
    /// Mean absorbed dose from the cycle's transport, Gy.
    pub dose_gy: f64,
    /// Its relative σ (MC).
    pub dose_rel_sigma: f64,
    /// The same from the S-matrix, Σ_s S\[t\]\[s\]·Ã_s, Gy (a check of the S-matrix).
    pub dose_smatrix_gy: f64,
    /// Lea–Catcheside factor of the region's dose rate (null without a tissue).
    pub g_factor: Option<f64>,
    /// Organ-level BED of the mean dose, Gy (null without a tissue).
    pub bed_gy: Option<f64>,
    /// EQD2, Gy (null without a tissue).
    pub eqd2_gy: Option<f64>,
}

/// Predicted/measured − 1 for one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionError {
    /// Region name.
    pub name: String,
    /// Predicted (median) / measured − 1 of the absorbed dose.
    pub dose: f64,
    /// The same for BED (null without a tissue).
    pub bed: Option<f64>,
}

/// Syncs cycle `n` of the one-cycle study `study_json` into `dir` (fit, dose, S-matrix) and
/// returns its record (without prediction error; [`super::sync`](fn@super::sync) adds it).
pub fn process(
    manifest: &TwinManifest,
    n: usize,
    dir: &Path,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<CycleRecord> {
    let config = RunConfig {
        voxdose_version: None,
        input: Input::Study(StudyInput {
            study: dir.join("study.json"),
            ct: manifest.ct.clone(),
            partial_volume: None,
        }),
        transport: manifest.transport.clone(),
        dose_to: DoseTo::Medium,
    };
    config.validate()?;
    let mut clock = Clock::start();
    let problem = Problem::build_in(&config, dir, false, &mut clock, observer)?;
    super::folder::failpoint("after-fit");
    let result = execute(&problem, device, observer)?;
    clock.lap("transport", observer);
    write_outputs(
        &config,
        &problem,
        &result,
        dir,
        clock.into_stages(),
        observer,
    )?;
    let s = smatrix::compute(&problem, smatrix_decays(manifest), device, observer)?;
    write_json(&dir.join("smatrix.json"), &s)?;
    super::folder::failpoint("after-smatrix");
    let ProblemKind::Study(study) = &problem.kind else {
        return Err(Error::Internal("a twin cycle is a study problem".into()));
    };
    // The transport's regions are the model's, in order: the S-matrix's targets.
    let scale = result.tia_bq_s.unwrap_or(0.0);
    let measured: Vec<(f64, f64, f64)> = result
        .transport
        .regions
        .iter()
        .map(|r| (r.mean_gy_per_decay * scale, r.rel_sigma, r.mass_kg))
        .collect();
    let info = crate::kinetics::study::Study::load(&dir.join("study.json"))?;
    let fits = study
        .fit
        .cycles
        .first()
        .map(|c| c.regions.as_slice())
        .unwrap_or(&[]);
    record(manifest, n, &info.cycles[0], fits, &s, &measured)
}

/// Decays per source of the S-matrix.
fn smatrix_decays(m: &TwinManifest) -> u64 {
    m.smatrix_decays.round().max(1.0) as u64
}

/// The record of cycle `n` (its study entry `info`) from its region fits, its S-matrix and
/// the measured (dose Gy, rel σ, mass kg) of each target region.
pub fn record(
    manifest: &TwinManifest,
    n: usize,
    info: &crate::kinetics::study::Cycle,
    fits: &[RegionResult],
    s: &SMatrix,
    measured: &[(f64, f64, f64)],
) -> Result<CycleRecord> {
    let sources = source_records(s, fits, info.injected_activity_bq);
    let dose_s = s.dose_gy(&s.source_tia_bq_s);
    let regions = s
        .targets
        .iter()
        .enumerate()
        .map(|(t, name)| {
            let tissue = manifest
                .regions
                .iter()
                .find(|r| &r.name == name)
                .and_then(|r| r.tissue.clone());
            let (dose_gy, rel, mass_kg) = measured[t];
            region_record(
                name, tissue, dose_gy, rel, mass_kg, dose_s[t], s, t, &sources,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CycleRecord {
        cycle: n,
        date: info.date.clone(),
        injected_activity_bq: info.injected_activity_bq,
        nuclide: info.nuclide.clone(),
        time_points: info.time_points.len(),
        sources,
        regions,
        prediction_error: None,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one row of the record, from the columns it is made of"
)]
fn region_record(
    name: &str,
    tissue: Option<String>,
    dose_gy: f64,
    dose_rel_sigma: f64,
    mass_kg: f64,
    dose_smatrix_gy: f64,
    s: &SMatrix,
    t: usize,
    sources: &[SourceRecord],
) -> Result<RegionRecord> {
    let (g_factor, bed_gy, eqd2) = match &tissue {
        Some(key) => {
            let tissue = Tissue::named(key)?;
            let weights: Vec<f64> = (0..sources.len())
                .map(|j| s.gy_per_decay[t][j] * sources[j].tia_bq_s)
                .collect();
            let shapes: Vec<&[ExpTerm]> = sources.iter().map(|x| x.shape.as_slice()).collect();
            let g = target_g(&weights, &shapes, &[], tissue.repair_half_time_h);
            let bed = bed_from_g(dose_gy, g, tissue.alpha_beta_gy);
            (Some(g), Some(bed), Some(eqd2_gy(bed, tissue.alpha_beta_gy)))
        }
        None => (None, None, None),
    };
    Ok(RegionRecord {
        name: name.to_string(),
        tissue,
        mass_kg,
        dose_gy,
        dose_rel_sigma,
        dose_smatrix_gy,
        g_factor,
        bed_gy,
        eqd2_gy: eqd2,
    })
}

/// The Lea–Catcheside factor of a target whose dose rate is Σ_s w_s·f_s(t/k_s)/k_s (the
/// source curves `shapes`, each of unit integral, stretched in time by `stretch[s]`, 1 when
/// empty), with weights `w_s` (dose shares, any scale), for a repair half-time in h.
pub fn target_g(
    weights: &[f64],
    shapes: &[&[ExpTerm]],
    stretch: &[f64],
    repair_half_time_h: f64,
) -> f64 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut terms = Vec::new();
    for (s, (&w, shape)) in weights.iter().zip(shapes).enumerate() {
        let k = stretch.get(s).copied().unwrap_or(1.0);
        for e in shape.iter() {
            // f(t/k)/k: amplitudes and rates over k; the integral stays 1.
            terms.push(ExpTerm {
                amplitude: w / total * e.amplitude / k,
                rate_per_h: e.rate_per_h / k,
            });
        }
    }
    DoseRateModel::exponentials(terms).g_factor(repair_half_time_h)
}

/// The source records: each region's Ã (from the TIA map, as the S-matrix saw it), its σ and
/// curve from its fit; the remainder takes the Ã-weighted mean curve of the regions.
fn source_records(s: &SMatrix, fits: &[RegionResult], injected_bq: f64) -> Vec<SourceRecord> {
    let mut out: Vec<SourceRecord> = s
        .sources
        .iter()
        .zip(&s.source_tia_bq_s)
        .filter(|(name, _)| name.as_str() != REMAINDER)
        .map(|(name, &tia)| {
            let fit = fits.iter().find(|r| &r.name == name);
            source_record(name, tia, fit, injected_bq)
        })
        .collect();
    if let Some(i) = s.sources.iter().position(|n| n == REMAINDER) {
        out.push(remainder_record(&out, s.source_tia_bq_s[i], injected_bq));
    }
    out
}

fn source_record(
    name: &str,
    tia: f64,
    fit: Option<&RegionResult>,
    injected_bq: f64,
) -> SourceRecord {
    let (shape, model, t_eff, t_rel, tia_rel) = match fit {
        Some(r) => {
            let (shape, model) = unit_shape(r);
            let tia_rel = if r.tia_bq_s > 0.0 {
                r.tia_sigma_bq_s / r.tia_bq_s
            } else {
                0.0
            };
            let t_rel = if r.tia_bq_s > 0.0 {
                r.tia_sigma_fit_bq_s / r.tia_bq_s
            } else {
                0.0
            };
            (shape, model, r.effective_half_life_h, t_rel, tia_rel)
        }
        None => (mono(1.0e3), "no fit: 1000 h".to_string(), 1.0e3, 0.0, 0.0),
    };
    SourceRecord {
        name: name.to_string(),
        tia_bq_s: tia,
        tia_rel_sigma: tia_rel,
        tia_per_injected_s: tia / injected_bq,
        effective_half_life_h: t_eff,
        effective_half_life_rel_sigma: t_rel,
        shape,
        model,
    }
}

/// A region's activity curve with unit integral, and its description: the fitted model, or
/// a mono-exponential of the region's effective half-life (trapezoid, single scan).
fn unit_shape(r: &RegionResult) -> (Vec<ExpTerm>, String) {
    let fitted = r.fit.as_ref().and_then(|f| {
        let sel = &f.candidates[f.selected?];
        let m = DoseRateModel::from_tac(sel.model, &sel.params).ok()?;
        Some((to_unit_terms(&m)?, sel.model.name().to_string()))
    });
    fitted.unwrap_or_else(|| {
        (
            mono(r.effective_half_life_h),
            format!(
                "{} (mono-exponential, T_eff {:.1} h)",
                r.model, r.effective_half_life_h
            ),
        )
    })
}

/// e^(−λt) with unit integral: a = λ.
fn mono(t_eff_h: f64) -> Vec<ExpTerm> {
    let l = LN_2 / t_eff_h.max(1e-3);
    vec![ExpTerm {
        amplitude: l,
        rate_per_h: l,
    }]
}

/// A dose-rate shape as exponential terms with unit integral (None when it is not a proper
/// decaying curve). Uptake–washout with equal rates is given a uptake rate 10⁻⁶ faster.
pub fn to_unit_terms(m: &DoseRateModel) -> Option<Vec<ExpTerm>> {
    let terms = match m {
        DoseRateModel::MonoExponential {
            effective_half_life_h,
        } if effective_half_life_h.is_finite() && *effective_half_life_h > 0.0 => {
            return Some(mono(*effective_half_life_h))
        }
        DoseRateModel::MonoExponential { .. } => return None,
        DoseRateModel::UptakeWashout {
            washout_rate_per_h: l,
            uptake_excess_per_h: d,
        } => {
            if d.is_infinite() {
                return Some(mono(LN_2 / l));
            }
            let k = l + d.max(1e-6 * l);
            vec![
                ExpTerm {
                    amplitude: 1.0,
                    rate_per_h: *l,
                },
                ExpTerm {
                    amplitude: -1.0,
                    rate_per_h: k,
                },
            ]
        }
        DoseRateModel::Exponentials { terms } => terms.clone(),
    };
    let total: f64 = terms.iter().map(|e| e.amplitude / e.rate_per_h).sum();
    (total > 0.0 && total.is_finite()).then(|| {
        terms
            .iter()
            .map(|e| ExpTerm {
                amplitude: e.amplitude / total,
                rate_per_h: e.rate_per_h,
            })
            .collect()
    })
}

/// The remainder's record: Ã-weighted mean curve and half-life of the regions, their mean σ.
fn remainder_record(regions: &[SourceRecord], tia: f64, injected_bq: f64) -> SourceRecord {
    let total: f64 = regions.iter().map(|r| r.tia_bq_s).sum();
    let w = |r: &SourceRecord| if total > 0.0 { r.tia_bq_s / total } else { 0.0 };
    let shape = regions
        .iter()
        .flat_map(|r| {
            let wr = w(r);
            r.shape.iter().map(move |e| ExpTerm {
                amplitude: e.amplitude * wr,
                rate_per_h: e.rate_per_h,
            })
        })
        .collect::<Vec<_>>();
    let shape = if shape.is_empty() {
        mono(LN_2 * 24.0)
    } else {
        shape
    };
    SourceRecord {
        name: REMAINDER.to_string(),
        tia_bq_s: tia,
        tia_rel_sigma: regions.iter().map(|r| w(r) * r.tia_rel_sigma).sum(),
        tia_per_injected_s: tia / injected_bq,
        effective_half_life_h: regions.iter().map(|r| w(r) * r.effective_half_life_h).sum(),
        effective_half_life_rel_sigma: regions
            .iter()
            .map(|r| w(r) * r.effective_half_life_rel_sigma)
            .sum(),
        shape,
        model: "Ã-weighted mean curve of the regions".into(),
    }
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
    crate::io::atomic::write_atomic(path, &bytes)
}

/// Reads a JSON file the twin wrote.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| crate::io::InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        crate::io::InputError::Malformed {
            path: path.to_path_buf(),
            reason: format!("a twin file that does not parse: {e}"),
        }
        .into()
    })
}
