//! `voxdose twin predict`: the next cycle(s) at an activity, per region: absorbed dose, BED
//! and the cumulative BED/EQD2 and dose after them, each as the median of the model's draws
//! with its 95 % interval (2.5th and 97.5th percentiles).
//!
//! The prediction is recorded (`predictions/cycleN.json`, with the model it came from, and a
//! `predict` line in the history); when cycle N is synced, its measured doses are compared
//! with it re-evaluated at the activity actually given ([`evaluate`]).

use super::cycle::{read_json, CycleRecord};
use super::folder::{event, Twin, Txn};
use super::model::{Draws, Organ, PredictionModel};
use super::smatrix::SMatrix;
use super::{OrganLimit, TwinError};
use crate::radiobiology::{eqd2_gy, LimitQuantity};
use crate::transport::Observer;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A prediction (the JSON of `voxdose twin predict --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The first cycle predicted.
    pub cycle: usize,
    /// Activity per cycle, Bq.
    pub activity_bq: f64,
    /// Cycles predicted at that activity.
    pub cycles: usize,
    /// The prediction model ("kinetic").
    pub model: String,
    /// Draws behind the intervals.
    pub draws: usize,
    /// Unlabelled (cold) peptide of each predicted cycle, nmol (the "pbpk" model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_nmol: Option<f64>,
    /// The PBRPK model behind the prediction: its parameters, the organ TIAs it predicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbpk: Option<super::pbpk::PbpkInfo>,
    /// Per region.
    pub organs: Vec<OrganPrediction>,
}

/// One region's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrganPrediction {
    /// Region name.
    pub name: String,
    /// Tissue key, when known.
    pub tissue: Option<String>,
    /// For an organ of several regions (both kidneys): its regions, whose mass-weighted mean
    /// it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    /// Absorbed dose of one predicted cycle, Gy (median), and its 95 % interval.
    pub dose_gy: f64,
    /// 2.5th percentile, Gy.
    pub dose_gy_p2_5: f64,
    /// 97.5th percentile, Gy.
    pub dose_gy_p97_5: f64,
    /// BED of one predicted cycle, Gy (median; null without a tissue).
    pub bed_gy: Option<f64>,
    /// 2.5th percentile, Gy.
    pub bed_gy_p2_5: Option<f64>,
    /// 97.5th percentile, Gy.
    pub bed_gy_p97_5: Option<f64>,
    /// Cumulative BED after the predicted cycles (measured + predicted), Gy (median).
    pub cumulative_bed_gy: Option<f64>,
    /// 2.5th percentile, Gy.
    pub cumulative_bed_gy_p2_5: Option<f64>,
    /// 97.5th percentile, Gy.
    pub cumulative_bed_gy_p97_5: Option<f64>,
    /// Cumulative EQD2 (of the median cumulative BED), Gy.
    pub cumulative_eqd2_gy: Option<f64>,
    /// Cumulative absorbed dose (median), Gy.
    pub cumulative_dose_gy: f64,
    /// 2.5th percentile, Gy.
    pub cumulative_dose_gy_p2_5: f64,
    /// 97.5th percentile, Gy.
    pub cumulative_dose_gy_p97_5: f64,
    /// The limit on this region, if any.
    pub limit: Option<OrganLimit>,
    /// Limit − median cumulative value of the limited quantity, Gy (negative: over).
    pub margin: Option<f64>,
    /// With a plan: the cumulative value of the limited quantity at the plan's confidence
    /// (one-sided: P(value ≤ it) = confidence), Gy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_bed_gy_quantile: Option<f64>,
}

/// `predictions/cycleN.json`: a prediction and the model it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredPrediction {
    /// When it was made (UTC).
    pub time: String,
    /// The prediction.
    pub prediction: Prediction,
    /// The model (re-evaluated at the activity actually given when the cycle is synced).
    pub model: PredictionModel,
}

/// The synced records of `twin`, in order.
pub fn records(twin: &Twin) -> Result<Vec<CycleRecord>> {
    twin.manifest
        .cycles
        .iter()
        .map(|c| read_json(&twin.cycle_dir(c.cycle).join("record.json")))
        .collect()
}

/// The prediction model of the twin's next cycle.
pub fn model_of(twin: &Twin) -> Result<PredictionModel> {
    let records = records(twin)?;
    let last = records.last().ok_or_else(|| {
        TwinError::Unusable("the twin has no synced cycle to predict from".into())
    })?;
    let s: SMatrix = read_json(&twin.cycle_dir(last.cycle).join("smatrix.json"))?;
    PredictionModel::build(&twin.manifest, &records, s)
}

/// Predicts `cycles` cycles of `activity_bq` each for the twin in `root`, records the
/// prediction and returns it.
pub fn predict(
    root: &Path,
    activity_bq: f64,
    cycles: usize,
    observer: &mut dyn Observer,
) -> Result<Prediction> {
    check_activity(activity_bq, cycles)?;
    let twin = Twin::open(root, observer)?;
    let model = model_of(&twin)?;
    let draws = model.draw();
    let prediction = evaluate(&model, &draws, activity_bq, cycles, &twin.manifest.limits)?;
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
    txn.append_history(&[event(
        "predict",
        serde_json::json!({"cycle": prediction.cycle, "activity_bq": activity_bq, "cycles": cycles}),
    )])?;
    txn.commit()?;
    Ok(prediction)
}

/// Refuses an activity or a cycle count that is not a prediction.
pub fn check_activity(activity_bq: f64, cycles: usize) -> Result<()> {
    if !(activity_bq.is_finite() && activity_bq >= 0.0) {
        return Err(crate::Error::invalid(
            "--activity-gbq",
            format!("{} GBq; give a non-negative activity", activity_bq / 1e9),
        ));
    }
    if !(1..=100).contains(&cycles) {
        return Err(crate::Error::invalid(
            "--cycles",
            format!("{cycles}; give 1 to 100 cycles"),
        ));
    }
    Ok(())
}

/// The prediction of `model`'s `draws` at `activity_bq` for `cycles` cycles, with `limits`.
pub fn evaluate(
    model: &PredictionModel,
    draws: &Draws,
    activity_bq: f64,
    cycles: usize,
    limits: &[OrganLimit],
) -> Result<Prediction> {
    let organs = organs(model, limits)?
        .into_iter()
        .map(|(o, limit)| organ_row(model, draws, &o, activity_bq, cycles, limit))
        .collect();
    Ok(Prediction {
        cycle: model.cycle,
        activity_bq,
        cycles,
        model: "kinetic".into(),
        draws: model.draws,
        cold_nmol: None,
        pbpk: None,
        organs,
    })
}

/// The rows of a prediction with their limits: every region (with the limit that names it,
/// or its tissue when it is that tissue's only region), then one organ per limit on a tissue
/// of several regions (`kidney` over `kidney_left` and `kidney_right`: the mass-weighted mean,
/// as the kidneys' mean dose is reported and limited). A BED limit needs the tissue (α/β).
pub fn organs(
    model: &PredictionModel,
    limits: &[OrganLimit],
) -> Result<Vec<(Organ, Option<OrganLimit>)>> {
    let regions = region_list(model);
    let mut rows: Vec<(Organ, Option<OrganLimit>)> = (0..model.targets.len())
        .map(|t| (Organ::region(model, t), None))
        .collect();
    for l in limits {
        let members: Vec<usize> = l
            .regions(&regions)?
            .iter()
            .filter_map(|r| regions.iter().position(|x| x.name == r.name))
            .collect();
        let organ = match members.as_slice() {
            [t] => *t,
            _ => {
                rows.push((Organ::group(model, &l.organ, &members), None));
                rows.len() - 1
            }
        };
        if l.quantity == LimitQuantity::Bed && !rows[organ].0.has_bed(model) {
            return Err(TwinError::Unusable(format!(
                "{} limits the BED of {}, which has no tissue (α/β); name its tissue in the limits file (\"tissues\": {{\"{}\": \"kidney\"}})",
                l.text(),
                rows[organ].0.name,
                rows[organ].0.name
            ))
            .into());
        }
        rows[organ].1.get_or_insert_with(|| l.clone());
    }
    Ok(rows)
}

/// The model's targets as twin regions (name, tissue), for matching limits.
fn region_list(model: &PredictionModel) -> Vec<super::folder::TwinRegion> {
    model
        .targets
        .iter()
        .map(|t| super::folder::TwinRegion {
            name: t.name.clone(),
            label: 0,
            tissue: t.tissue.clone(),
        })
        .collect()
}

/// The limit on `region` in `regions` (the first of `limits` that names it by name, or by
/// tissue), for reports of measured cycles.
pub fn limit_of(
    region: &super::folder::TwinRegion,
    regions: &[super::folder::TwinRegion],
    limits: &[OrganLimit],
) -> Result<Option<OrganLimit>> {
    for l in limits {
        if l.regions(regions)?.iter().any(|r| r.name == region.name) {
            return Ok(Some(l.clone()));
        }
    }
    Ok(None)
}

/// One organ's prediction (see [`OrganPrediction`]).
fn organ_row(
    m: &PredictionModel,
    d: &Draws,
    o: &Organ,
    a_bq: f64,
    cycles: usize,
    limit: Option<OrganLimit>,
) -> OrganPrediction {
    let draws = |f: &dyn Fn(usize) -> f64| -> [f64; 3] {
        quantiles(&(0..m.draws).map(f).collect::<Vec<_>>())
    };
    let dose = draws(&|i| {
        o.cumulative(m, d, i, a_bq, 1, LimitQuantity::Absorbed)
            - o.measured(m, LimitQuantity::Absorbed)
    });
    let bed = draws(&|i| {
        o.cumulative(m, d, i, a_bq, 1, LimitQuantity::Bed) - o.measured(m, LimitQuantity::Bed)
    });
    let cum_dose = draws(&|i| o.cumulative(m, d, i, a_bq, cycles, LimitQuantity::Absorbed));
    let cum_bed = draws(&|i| o.cumulative(m, d, i, a_bq, cycles, LimitQuantity::Bed));
    let has_bed = o.has_bed(m);
    let margin = limit.as_ref().map(|l| match l.quantity {
        LimitQuantity::Bed => l.value_gy - cum_bed[1],
        LimitQuantity::Absorbed => l.value_gy - cum_dose[1],
    });
    let opt = |v: f64| has_bed.then_some(v);
    let alpha_beta = o
        .members
        .first()
        .and_then(|&(t, _)| m.targets[t].alpha_beta_gy);
    OrganPrediction {
        name: o.name.clone(),
        tissue: o.tissue.clone(),
        members: (o.members.len() > 1).then(|| {
            o.members
                .iter()
                .map(|&(t, _)| m.targets[t].name.clone())
                .collect()
        }),
        dose_gy: dose[1],
        dose_gy_p2_5: dose[0],
        dose_gy_p97_5: dose[2],
        bed_gy: opt(bed[1]),
        bed_gy_p2_5: opt(bed[0]),
        bed_gy_p97_5: opt(bed[2]),
        cumulative_bed_gy: opt(cum_bed[1]),
        cumulative_bed_gy_p2_5: opt(cum_bed[0]),
        cumulative_bed_gy_p97_5: opt(cum_bed[2]),
        cumulative_eqd2_gy: alpha_beta
            .filter(|_| has_bed)
            .map(|ab| eqd2_gy(cum_bed[1], ab)),
        cumulative_dose_gy: cum_dose[1],
        cumulative_dose_gy_p2_5: cum_dose[0],
        cumulative_dose_gy_p97_5: cum_dose[2],
        margin,
        limit,
        cumulative_bed_gy_quantile: None,
    }
}

/// The 2.5th, 50th and 97.5th percentiles of `values`.
fn quantiles(values: &[f64]) -> [f64; 3] {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    [0.025, 0.5, 0.975].map(|p| quantile_sorted(&v, p))
}

/// The p-quantile of sorted values (linear interpolation between order statistics, the
/// "type 7" estimator of R and numpy's default).
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The prediction that was made for cycle `n` (`predictions/cycleN.json`), if any.
pub fn stored_for(root: &Path, n: usize) -> Option<StoredPrediction> {
    read_json(&root.join(format!("predictions/cycle{n}.json"))).ok()
}

/// Pretty JSON bytes.
pub fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| crate::Error::Internal(format!("JSON: {e}")))
}
