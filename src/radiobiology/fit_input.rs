//! The kinetics of a study fit as dose-rate shapes: per region and cycle, the model `voxdose
//! fit` selected (with its covariance, for σ of G), from the in-memory
//! [`RegionResult`]s or from the `regions.json` a fit folder
//! holds.
//!
//! A region's dose rate is taken proportional to its activity, so the fitted time–activity
//! model is the dose-rate shape. Where no model was fitted the shape is mono-exponential and
//! the record says why:
//! - trapezoid fallback: the clearance observed between the last two scans (log-linear
//!   slope, not slower than physical decay);
//! - single time point, Hänscheid: T_eff = the scan time (the rule is exact for that T_eff,
//!   Hänscheid et al. 2018, J Nucl Med 59:75);
//! - single time point, population half-life: that half-life.
//!
//! The per-voxel fits a folder may also hold (`voxel_kinetics_cycle{n}*`) are read by
//! [`super::voxel_shapes`]; the region kinetics here stand for every voxel without one.
//!
//! Units: h, 1/h; TIA in Bq·s.

use super::lq::{g_sigma_from_covariance, DoseRateModel};
use super::RadiobiologyError;
use crate::kinetics::fit::TiaMethod;
use crate::kinetics::models::TacModel;
use crate::kinetics::stp::StpMethod;
use crate::kinetics::RegionResult;
use serde::Deserialize;
use std::f64::consts::LN_2;
use std::path::Path;

/// One region's kinetics in one cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionKinetics {
    /// Cycle number (1-based).
    pub cycle: usize,
    /// Label value in the study's label map.
    pub label: u32,
    /// Region name.
    pub name: String,
    /// Time-integrated activity of the region in this cycle, Bq·s.
    pub tia_bq_s: f64,
    /// The dose-rate shape.
    pub model: DoseRateModel,
    /// The fitted model with its parameters and covariance, when there is one.
    pub fitted: Option<(TacModel, Vec<f64>, Vec<f64>)>,
    /// Where the shape came from, in words.
    pub description: String,
}

impl RegionKinetics {
    /// σ of the Lea–Catcheside factor from the fit covariance (0 without a fit or with a
    /// covariance that is not finite).
    pub fn g_factor_sigma(&self, repair_half_time_h: f64) -> f64 {
        match &self.fitted {
            Some((m, p, c)) if c.iter().all(|x| x.is_finite()) => {
                g_sigma_from_covariance(*m, p, c, repair_half_time_h).unwrap_or(0.0)
            }
            _ => 0.0,
        }
    }
}

/// The parts of a region record the kinetics need; NaN fields (written as JSON null) are
/// tolerated.
#[derive(Deserialize)]
struct RegionRecord {
    cycle: usize,
    label: u32,
    name: String,
    #[serde(default)]
    time_h: Vec<f64>,
    #[serde(default)]
    activity_bq: Vec<Option<f64>>,
    fit: Option<FitRecord>,
    stp: Option<StpRecord>,
    tia_bq_s: Option<f64>,
}

#[derive(Deserialize)]
struct FitRecord {
    method: TiaMethod,
    selected: Option<usize>,
    #[serde(default)]
    candidates: Vec<CandidateRecord>,
}

#[derive(Deserialize)]
struct CandidateRecord {
    model: TacModel,
    params: Vec<Option<f64>>,
    #[serde(default)]
    covariance: Vec<Option<f64>>,
}

#[derive(Deserialize)]
struct StpRecord {
    method: StpMethod,
    time_h: f64,
}

#[derive(Deserialize)]
struct CycleRecord {
    #[serde(default)]
    physical_half_life_h: Option<f64>,
    regions: Vec<RegionRecord>,
}

#[derive(Deserialize)]
struct RegionsJson {
    cycles: Vec<CycleRecord>,
}

/// Every region's kinetics in every cycle of a `voxdose fit` output folder (`regions.json`);
/// empty when the study had no label map (the folder may still hold voxel kinetics).
pub fn read_fit_folder(dir: &Path) -> Result<Vec<RegionKinetics>, RadiobiologyError> {
    let err = |reason: String| RadiobiologyError::FitFolder {
        path: dir.to_path_buf(),
        reason,
    };
    let path = dir.join("regions.json");
    let bytes = std::fs::read(&path).map_err(|e| {
        err(format!(
            "cannot read regions.json ({e}); give the --out folder of `voxdose fit` (or of `voxdose run --study`)"
        ))
    })?;
    let table: RegionsJson = serde_json::from_slice(&bytes).map_err(|e| {
        err(format!(
            "regions.json does not parse as a voxdose fit table: {e}"
        ))
    })?;
    let mut out = Vec::new();
    for c in table.cycles {
        let lambda_phys = c.physical_half_life_h.map(|t| LN_2 / t);
        for r in c.regions {
            out.push(kinetics_of(r, lambda_phys).map_err(err)?);
        }
    }
    Ok(out)
}

/// The kinetics of in-memory region results (the study run's fit), in the same form.
pub fn from_region_results(
    regions: &[RegionResult],
    physical_half_life_h: f64,
) -> Result<Vec<RegionKinetics>, RadiobiologyError> {
    regions
        .iter()
        .map(|r| {
            // Through the record form, so both paths read the fit the same way.
            let value = serde_json::to_value(r).map_err(|e| RadiobiologyError::InvalidModel {
                reason: format!("region {}: {e}", r.name),
            })?;
            let rec: RegionRecord =
                serde_json::from_value(value).map_err(|e| RadiobiologyError::InvalidModel {
                    reason: format!("region {}: {e}", r.name),
                })?;
            kinetics_of(rec, Some(LN_2 / physical_half_life_h))
                .map_err(|reason| RadiobiologyError::InvalidModel { reason })
        })
        .collect()
}

fn kinetics_of(r: RegionRecord, lambda_phys: Option<f64>) -> Result<RegionKinetics, String> {
    let what = format!("cycle {}, region '{}' (label {})", r.cycle, r.name, r.label);
    let (model, fitted, description) =
        shape_of(&r, lambda_phys).map_err(|e| format!("{what}: {e}"))?;
    model.validate().map_err(|e| format!("{what}: {e}"))?;
    Ok(RegionKinetics {
        cycle: r.cycle,
        label: r.label,
        name: r.name,
        tia_bq_s: r.tia_bq_s.unwrap_or(0.0),
        model,
        fitted,
        description,
    })
}

type Shape = (
    DoseRateModel,
    Option<(TacModel, Vec<f64>, Vec<f64>)>,
    String,
);

fn shape_of(r: &RegionRecord, lambda_phys: Option<f64>) -> Result<Shape, String> {
    if let Some(f) = &r.fit {
        if f.method == TiaMethod::Fit {
            let c = f
                .selected
                .and_then(|i| f.candidates.get(i))
                .ok_or("the fit names no selected model")?;
            let params: Vec<f64> = c
                .params
                .iter()
                .map(|p| p.ok_or("a fitted parameter is not finite"))
                .collect::<Result<_, _>>()?;
            let cov: Vec<f64> = c.covariance.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
            let model = DoseRateModel::from_tac(c.model, &params).map_err(|e| e.to_string())?;
            let text = format!("fitted {} (voxdose fit)", c.model.name());
            return Ok((model, Some((c.model, params, cov)), text));
        }
        let t_eff = observed_half_life_h(&r.time_h, &r.activity_bq, lambda_phys)?;
        return Ok((
            DoseRateModel::mono_exponential(t_eff),
            None,
            format!("no model fitted (trapezoid TIA): mono-exponential with the clearance between the last two scans, T_eff = {t_eff:.2} h"),
        ));
    }
    match &r.stp {
        Some(StpRecord {
            method: StpMethod::Haenscheid,
            time_h,
        }) => Ok((
            DoseRateModel::mono_exponential(*time_h),
            None,
            format!("single time point (Hänscheid): mono-exponential with T_eff = scan time {time_h:.2} h"),
        )),
        Some(StpRecord {
            method:
                StpMethod::PopulationHalfLife {
                    effective_half_life_h,
                },
            ..
        }) => Ok((
            DoseRateModel::mono_exponential(*effective_half_life_h),
            None,
            format!("single time point: population T_eff = {effective_half_life_h:.2} h"),
        )),
        None => Err("no fit and no single-time-point estimate".into()),
    }
}

/// The effective half-life between the last two scans (log-linear), not longer than the
/// physical half-life.
fn observed_half_life_h(
    time_h: &[f64],
    activity: &[Option<f64>],
    lambda_phys: Option<f64>,
) -> Result<f64, String> {
    let n = time_h.len().min(activity.len());
    let floor = lambda_phys.unwrap_or(0.0);
    if n >= 2 {
        if let (Some(a0), Some(a1)) = (activity[n - 2], activity[n - 1]) {
            if a0 > 0.0 && a1 > 0.0 && time_h[n - 1] > time_h[n - 2] {
                let l = ((a0 / a1).ln() / (time_h[n - 1] - time_h[n - 2])).max(floor);
                if l > 0.0 && l.is_finite() {
                    return Ok(LN_2 / l);
                }
            }
        }
    }
    match lambda_phys {
        Some(l) if l > 0.0 => Ok(LN_2 / l),
        _ => Err("no model fitted and the last two scans give no clearance; give --effective-half-life-h".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_json(dir: &Path, v: serde_json::Value) {
        std::fs::write(dir.join("regions.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    }

    #[test]
    fn reads_fitted_models_stp_and_trapezoid_records() {
        let dir = tempfile::tempdir().unwrap();
        write_json(
            dir.path(),
            serde_json::json!({"cycles": [{
            "physical_half_life_h": 159.528,
            "regions": [
                {"cycle": 1, "label": 1, "name": "kidney", "tia_bq_s": 2.0e12,
                 "time_h": [4.0, 24.0, 96.0], "activity_bq": [1.0, 2.0, 1.0],
                 "effective_half_life_h": 50.0,
                 "fit": {"method": "fit", "selected": 0, "candidates": [
                    {"model": "uptake-washout", "params": [100.0, 0.0139, 0.3],
                     "covariance": [1.0, 0.0, 0.0, 0.0, 1e-8, 0.0, 0.0, 0.0, 1e-4]}]}},
                {"cycle": 1, "label": 2, "name": "tumour", "tia_bq_s": 1.0e12,
                 "time_h": [24.0, 96.0], "activity_bq": [4.0, 2.0],
                 "effective_half_life_h": null,
                 "fit": {"method": "trapezoid", "selected": null, "candidates": []}},
                {"cycle": 1, "label": 3, "name": "liver", "tia_bq_s": 1.0e11,
                 "time_h": [24.0], "activity_bq": [1.0], "effective_half_life_h": null,
                 "fit": null, "stp": {"method": {"method": "haenscheid"}, "time_h": 24.0,
                 "activity": 1.0, "tia_h": 1.0}}
            ]}]}),
        );
        let k = read_fit_folder(dir.path()).unwrap();
        assert_eq!(k.len(), 3);
        assert_eq!(
            k[0].model,
            DoseRateModel::UptakeWashout {
                washout_rate_per_h: 0.0139,
                uptake_excess_per_h: 0.3
            }
        );
        assert!(k[0].g_factor_sigma(2.8) > 0.0);
        // Trapezoid: 4 → 2 over 72 h is a 72 h half-life.
        assert_eq!(k[1].model, DoseRateModel::mono_exponential(72.0));
        assert_eq!(k[2].model, DoseRateModel::mono_exponential(24.0));
        assert!(k[2].description.contains("Hänscheid"));
    }

    #[test]
    fn a_folder_without_regions_json_says_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_fit_folder(dir.path()).unwrap_err();
        assert_eq!(e.exit_code(), 34);
        assert!(e.to_string().contains("voxdose fit"), "{e}");
    }
}
