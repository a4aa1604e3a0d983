//! `voxdose twin status`: the cycles (date, activity, per-organ dose and BED, cumulative BED
//! against the limit, the error of the prediction made for the cycle), the margins of the
//! organs at risk, the latest plan, and the baseline uptake of each lesion when a baseline
//! PET was given to `init`.
//!
//! Baseline uptake is reported as measured SUVmean and SUVmax (body-weight SUV: activity
//! concentration / (injected activity / body weight), the injected activity decayed to the
//! scan when the image is not decay-corrected to administration), next to the published
//! threshold SUVmean ≥ 10 over the tumour burden, which was associated with a higher response
//! to 177Lu-PSMA-617 (TheraP sub-analysis: Buteau et al., Lancet Oncol 2022;23:1389). It is a
//! measurement and a published figure, not a model of voxdose's.

use super::cycle::CycleRecord;
use super::folder::{read_history, read_manifest, TwinManifest, TwinRegion};
use super::predict::records;
use super::OrganLimit;
use crate::radiobiology::LimitQuantity;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// SUVmean over the tumour burden above which response to 177Lu-PSMA-617 was higher
/// (Buteau et al., Lancet Oncol 2022;23:1389).
pub const SUV_MEAN_RESPONDER_THRESHOLD: f64 = 10.0;

/// A baseline PET for `init --baseline-pet`.
#[derive(Clone, Debug)]
pub struct BaselinePetInput {
    /// PET series folder (DICOM) or NIfTI in Bq/mL.
    pub path: PathBuf,
    /// Body weight, kg (default: the DICOM's PatientWeight).
    pub weight_kg: Option<f64>,
    /// Injected activity, Bq (default: the DICOM's RadionuclideTotalDose).
    pub injected_bq: Option<f64>,
}

/// Baseline uptake per lesion (in `twin.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselinePet {
    /// The PET.
    pub pet: PathBuf,
    /// Body weight used, kg.
    pub weight_kg: f64,
    /// Injected activity at the image's reference time, Bq.
    pub activity_at_reference_bq: f64,
    /// Per lesion (regions of tissue `tumour`).
    pub lesions: Vec<LesionUptake>,
    /// SUVmean over all lesions together (volume-weighted).
    pub suv_mean_tumour_burden: Option<f64>,
    /// The published threshold and what it means.
    pub threshold: String,
}

/// One lesion's baseline uptake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LesionUptake {
    /// Region name.
    pub name: String,
    /// Volume on the PET grid, mL.
    pub volume_ml: f64,
    /// Mean body-weight SUV.
    pub suv_mean: f64,
    /// Largest voxel SUV.
    pub suv_max: f64,
}

/// Measures the baseline uptake of the twin's tumour regions in a PET.
pub fn baseline_uptake(
    pet: &BaselinePetInput,
    study: &crate::kinetics::study::Study,
    regions: &[TwinRegion],
) -> Result<BaselinePet> {
    let img = crate::io::activity::read_activity(&pet.path, &Default::default())?;
    let p = &img.provenance;
    let weight_kg = pet.weight_kg.or(p.patient_weight_kg).ok_or_else(|| {
        crate::Error::invalid("--baseline-pet-weight-kg", "the PET does not give the body weight; pass it")
    })?;
    let injected = pet.injected_bq.or(p.injected_activity_bq).ok_or_else(|| {
        crate::Error::invalid("--baseline-pet-injected-mbq", "the PET does not give the injected activity; pass it")
    })?;
    let activity = match (p.decay_correction.as_deref(), p.half_life_s, p.scan_hours_after_injection) {
        (Some("ADMIN"), _, _) | (_, None, _) | (_, _, None) => injected,
        (_, Some(t_half), Some(h)) => injected * (-(std::f64::consts::LN_2 / t_half) * h * 3600.0).exp(),
    };
    let suv_per_bq_ml = weight_kg * 1000.0 / activity;
    let lesions = lesions(study, regions, &img.concentration_bq_ml, suv_per_bq_ml)?;
    let total_ml: f64 = lesions.iter().map(|l| l.volume_ml).sum();
    Ok(BaselinePet {
        pet: std::path::absolute(&pet.path).unwrap_or(pet.path.clone()),
        weight_kg,
        activity_at_reference_bq: activity,
        suv_mean_tumour_burden: (total_ml > 0.0)
            .then(|| lesions.iter().map(|l| l.suv_mean * l.volume_ml).sum::<f64>() / total_ml),
        lesions,
        threshold: format!(
            "SUVmean ≥ {SUV_MEAN_RESPONDER_THRESHOLD} over the tumour burden was associated with a higher response to 177Lu-PSMA-617 (Buteau et al., Lancet Oncol 2022;23:1389); a published association, not a voxdose prediction"
        ),
    })
}

/// SUVmean/SUVmax of each tumour region, its label map brought onto the PET grid by nearest
/// voxel centre.
fn lesions(
    study: &crate::kinetics::study::Study,
    regions: &[TwinRegion],
    pet: &crate::geometry::Volume<f32>,
    suv_per_bq_ml: f64,
) -> Result<Vec<LesionUptake>> {
    let Some(path) = &study.labels else {
        return Ok(Vec::new());
    };
    let labels = crate::io::nifti::read_volume_f32(path)?;
    let names = regions.iter().map(|r| (r.label, r.name.clone())).collect();
    let on_pet =
        crate::io::masks::label_regions(&labels, &pet.grid, &names, &Default::default());
    let ml = pet.grid.voxel_volume_mm3() * 1e-3;
    Ok(regions
        .iter()
        .filter(|r| r.tissue.as_deref() == Some("tumour"))
        .filter_map(|r| {
            let voxels = &on_pet.iter().find(|x| x.name == r.name)?.voxels;
            let suv: Vec<f64> = voxels
                .iter()
                .map(|&v| f64::from(pet.data[v as usize]) * suv_per_bq_ml)
                .collect();
            (!suv.is_empty()).then(|| LesionUptake {
                name: r.name.clone(),
                volume_ml: suv.len() as f64 * ml,
                suv_mean: suv.iter().sum::<f64>() / suv.len() as f64,
                suv_max: suv.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        })
        .collect())
}

/// The twin's state (`voxdose twin status --json`).
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Patient identifier.
    pub patient: String,
    /// Nuclide.
    pub nuclide: String,
    /// Synced cycles.
    pub cycles: Vec<CycleStatus>,
    /// Per region, over all synced cycles.
    pub organs: Vec<OrganStatus>,
    /// The latest plan, when one was made for the next cycle.
    pub plan: Option<serde_json::Value>,
    /// Baseline uptake, when given.
    pub baseline_pet: Option<BaselinePet>,
    /// Events in the history.
    pub history_events: usize,
}

/// One synced cycle.
#[derive(Clone, Debug, Serialize)]
pub struct CycleStatus {
    /// Cycle number.
    pub cycle: usize,
    /// Date of administration.
    pub date: Option<String>,
    /// Administered activity, Bq.
    pub activity_bq: f64,
    /// Time points.
    pub time_points: usize,
    /// Per region: dose, BED, cumulative BED up to this cycle, prediction error.
    pub regions: Vec<CycleRegion>,
}

/// One region in one cycle.
#[derive(Clone, Debug, Serialize)]
pub struct CycleRegion {
    /// Region name.
    pub name: String,
    /// Dose, Gy.
    pub dose_gy: f64,
    /// BED, Gy.
    pub bed_gy: Option<f64>,
    /// Cumulative BED up to and including this cycle, Gy.
    pub cumulative_bed_gy: Option<f64>,
    /// Predicted/measured − 1 of the dose, when a prediction was made for the cycle.
    pub prediction_error_dose: Option<f64>,
    /// The same for BED.
    pub prediction_error_bed: Option<f64>,
}

/// One region over all synced cycles.
#[derive(Clone, Debug, Serialize)]
pub struct OrganStatus {
    /// Region name.
    pub name: String,
    /// Tissue key.
    pub tissue: Option<String>,
    /// Cumulative absorbed dose, Gy.
    pub cumulative_dose_gy: f64,
    /// Cumulative BED, Gy.
    pub cumulative_bed_gy: Option<f64>,
    /// Its limit.
    pub limit: Option<OrganLimit>,
    /// Limit − cumulative value of the limited quantity, Gy.
    pub margin: Option<f64>,
    /// Fraction of the limit used.
    pub fraction_of_limit: Option<f64>,
}

/// The status of the twin in `root` (read only: no lock taken).
pub fn status(root: &Path) -> Result<Status> {
    let manifest = read_manifest(root)?;
    let twin_records = read_records(root, &manifest)?;
    let plan = manifest
        .cycles
        .last()
        .and_then(|c| std::fs::read(root.join(format!("plans/cycle{}.json", c.cycle + 1))).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Status {
        patient: manifest.patient.id.clone(),
        nuclide: manifest.nuclide.clone(),
        cycles: cycle_rows(&twin_records),
        organs: organ_rows(&manifest, &twin_records)?,
        plan,
        baseline_pet: manifest.baseline_pet.clone(),
        history_events: read_history(root)?.len(),
    })
}

fn read_records(root: &Path, m: &TwinManifest) -> Result<Vec<CycleRecord>> {
    m.cycles
        .iter()
        .map(|c| super::cycle::read_json(&root.join(super::folder::cycle_rel(c.cycle)).join("record.json")))
        .collect()
}

fn cycle_rows(records: &[CycleRecord]) -> Vec<CycleStatus> {
    let mut cum: std::collections::BTreeMap<String, f64> = Default::default();
    records
        .iter()
        .map(|r| CycleStatus {
            cycle: r.cycle,
            date: r.date.clone(),
            activity_bq: r.injected_activity_bq,
            time_points: r.time_points,
            regions: r
                .regions
                .iter()
                .map(|x| {
                    let err = r
                        .prediction_error
                        .as_ref()
                        .and_then(|e| e.iter().find(|e| e.name == x.name));
                    let c = x.bed_gy.map(|b| {
                        let e = cum.entry(x.name.clone()).or_default();
                        *e += b;
                        *e
                    });
                    CycleRegion {
                        name: x.name.clone(),
                        dose_gy: x.dose_gy,
                        bed_gy: x.bed_gy,
                        cumulative_bed_gy: c,
                        prediction_error_dose: err.map(|e| e.dose),
                        prediction_error_bed: err.and_then(|e| e.bed),
                    }
                })
                .collect(),
        })
        .collect()
}

fn organ_rows(m: &TwinManifest, records: &[CycleRecord]) -> Result<Vec<OrganStatus>> {
    m.regions
        .iter()
        .map(|region| {
            let rows = records
                .iter()
                .filter_map(|r| r.regions.iter().find(|x| x.name == region.name));
            let (mut dose, mut bed) = (0.0, 0.0);
            for r in rows {
                dose += r.dose_gy;
                bed += r.bed_gy.unwrap_or(0.0);
            }
            let bed = region.tissue.as_ref().map(|_| bed);
            let limit = super::predict::limit_of(region, &m.regions, &m.limits)?;
            let used = limit.as_ref().map(|l| match l.quantity {
                LimitQuantity::Bed => bed.unwrap_or(0.0),
                LimitQuantity::Absorbed => dose,
            });
            Ok(OrganStatus {
                name: region.name.clone(),
                tissue: region.tissue.clone(),
                cumulative_dose_gy: dose,
                cumulative_bed_gy: bed,
                margin: limit.as_ref().zip(used).map(|(l, u)| l.value_gy - u),
                fraction_of_limit: limit.as_ref().zip(used).map(|(l, u)| u / l.value_gy),
                limit,
            })
        })
        .collect()
}

/// The status as the command line prints it.
pub fn table(s: &Status) -> String {
    let mut out = format!("twin of {} ({})\n", s.patient, s.nuclide);
    for c in &s.cycles {
        out += &format!(
            "cycle {} {} {:.3} GBq, {} time point(s)\n",
            c.cycle,
            c.date.as_deref().unwrap_or("(no date)"),
            c.activity_bq / 1e9,
            c.time_points
        );
        for r in &c.regions {
            let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
            let err = r.prediction_error_dose.map_or(String::new(), |e| {
                format!("  predicted {:+.1} % (BED {})", 100.0 * e, r.prediction_error_bed.map_or("—".into(), |b| format!("{:+.1} %", 100.0 * b)))
            });
            out += &format!(
                "  {:<18} dose {:>8.3} Gy  BED {:>8} Gy  cumulative BED {:>8} Gy{err}\n",
                r.name,
                r.dose_gy,
                opt(r.bed_gy),
                opt(r.cumulative_bed_gy)
            );
        }
    }
    out += "organs over all cycles:\n";
    for o in &s.organs {
        let lim = o.limit.as_ref().map_or(String::new(), |l| {
            format!(
                "  limit {} — margin {:.2} Gy ({:.0} % used)",
                l.text(),
                o.margin.unwrap_or(f64::NAN),
                100.0 * o.fraction_of_limit.unwrap_or(f64::NAN)
            )
        });
        out += &format!(
            "  {:<18} {:<16} dose {:>8.3} Gy  BED {:>8} Gy{lim}\n",
            o.name,
            o.tissue.as_deref().unwrap_or("—"),
            o.cumulative_dose_gy,
            o.cumulative_bed_gy.map_or("—".to_string(), |b| format!("{b:.3}"))
        );
    }
    if let Some(pet) = &s.baseline_pet {
        out += &format!("baseline PET {}:\n", pet.pet.display());
        for l in &pet.lesions {
            out += &format!(
                "  {:<18} SUVmean {:>6.2}  SUVmax {:>6.2}  ({:.1} mL)\n",
                l.name, l.suv_mean, l.suv_max, l.volume_ml
            );
        }
        if let Some(m) = pet.suv_mean_tumour_burden {
            out += &format!("  tumour burden SUVmean {m:.2}; {}\n", pet.threshold);
        }
    }
    if let Some(p) = &s.plan {
        out += &format!(
            "plan for cycle {}: {:.3} GBq (limiting: {}, confidence {})\n",
            p["cycle"],
            p["activity_gbq"].as_f64().unwrap_or(f64::NAN),
            p["limiting_organ"].as_str().unwrap_or("none"),
            p["confidence"]
        );
    }
    out
}

/// The records of an opened twin (re-exported for reports).
pub fn twin_records(twin: &super::Twin) -> Result<Vec<CycleRecord>> {
    records(twin)
}
