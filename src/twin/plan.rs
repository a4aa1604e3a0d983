//! `voxdose twin plan`: the largest activity per remaining cycle such that, with the stated
//! probability, every limited organ stays within its limit on cumulative BED or absorbed dose
//! (TWIN.md §2).
//!
//! P(A) is the fraction of the model's draws in which every limit holds after `cycles_left`
//! cycles of activity A (each draw's parameters kept for all of them: a patient's kinetics
//! do not redraw themselves every cycle, and it is the cautious choice). P falls as A grows,
//! so the answer is found by bisection on A to a relative 10⁻⁹. The limiting organ is the one
//! whose limit fails in most draws just above the answer. When the limits fail at A = 0
//! already (a limit reached by the cycles given), the answer is 0, said plainly.

use super::folder::{event, Twin, Txn};
use super::model::{cumulative, Draws, PredictionModel};
use super::predict::{evaluate, model_of, quantile_sorted, to_json, OrganPrediction};
use super::{OrganLimit, TwinError};
use crate::radiobiology::LimitQuantity;
use crate::transport::Observer;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A plan (the JSON of `voxdose twin plan --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanResult {
    /// The next cycle.
    pub cycle: usize,
    /// The largest activity per cycle within the limits at the confidence, Bq.
    pub activity_bq: f64,
    /// The same in GBq.
    pub activity_gbq: f64,
    /// The organ whose limit sets it (null when no limit binds below 10⁶ GBq).
    pub limiting_organ: Option<String>,
    /// The probability asked for.
    pub confidence: f64,
    /// Cycles planned at this activity.
    pub cycles_left: usize,
    /// P(every limit holds) at the activity.
    pub probability_within_limits: f64,
    /// The limits planned against.
    pub limits: Vec<OrganLimit>,
    /// The plan in words.
    pub note: String,
    /// Each region at the planned activity (as `predict`), with the cumulative values at the
    /// plan's confidence.
    pub organs: Vec<OrganPrediction>,
}

/// Largest activity searched, Bq (10⁶ GBq: "no limit binds").
const MAX_ACTIVITY_BQ: f64 = 1e15;

/// A limit bound to a target of the model.
struct Constraint {
    target: usize,
    limit: OrganLimit,
}

/// Plans the twin in `root` (see the module doc); `limits` empty takes the twin's own.
pub fn plan(
    root: &Path,
    limits: &[OrganLimit],
    cycles_left: usize,
    confidence: f64,
    observer: &mut dyn Observer,
) -> Result<PlanResult> {
    check_confidence(confidence)?;
    super::predict::check_activity(0.0, cycles_left)?;
    let twin = Twin::open(root, observer)?;
    let limits = if limits.is_empty() {
        twin.manifest.limits.clone()
    } else {
        limits.to_vec()
    };
    if limits.is_empty() {
        return Err(TwinError::Unusable(
            "no limits to plan against: give --limit ORGAN:bed=GY (e.g. kidney:bed=28), or init the twin with --limits".into(),
        )
        .into());
    }
    let model = model_of(&twin)?;
    let draws = model.draw();
    let result = solve(&model, &draws, &limits, cycles_left, confidence)?;
    let mut txn = Txn::begin(root)?;
    txn.file(&format!("plans/cycle{}.json", result.cycle), &to_json(&result)?)?;
    txn.append_history(&[event(
        "plan",
        serde_json::json!({"cycle": result.cycle, "activity_bq": result.activity_bq,
            "limiting_organ": result.limiting_organ, "confidence": confidence,
            "cycles_left": cycles_left, "limits": limits.iter().map(OrganLimit::text).collect::<Vec<_>>()}),
    )])?;
    txn.commit()?;
    Ok(result)
}

fn check_confidence(c: f64) -> Result<()> {
    if c.is_finite() && c > 0.0 && c < 1.0 {
        return Ok(());
    }
    Err(crate::Error::invalid(
        "--confidence",
        format!("{c}; give a probability between 0 and 1, e.g. 0.95"),
    ))
}

/// The plan of `model` for `limits` (see the module doc).
pub fn solve(
    model: &PredictionModel,
    draws: &Draws,
    limits: &[OrganLimit],
    cycles_left: usize,
    confidence: f64,
) -> Result<PlanResult> {
    let constraints = bind(model, limits)?;
    let within = |a: f64| probability(model, draws, &constraints, a, cycles_left);
    let (activity_bq, note) = if within(0.0) < confidence {
        (0.0, "the limits are already reached (or would be with no further activity) at this confidence: plan no further activity".to_string())
    } else {
        let a = bisect(&within, confidence);
        let note = if a >= MAX_ACTIVITY_BQ {
            format!("no limit binds below {} GBq", MAX_ACTIVITY_BQ / 1e9)
        } else {
            format!(
                "{:.3} GBq per cycle for {cycles_left} cycle(s) keeps every limit with probability {confidence}",
                a / 1e9
            )
        };
        (a, note)
    };
    let limiting = limiting_organ(model, draws, &constraints, activity_bq, cycles_left);
    let mut p = evaluate(model, draws, activity_bq, cycles_left, limits)?;
    for (t, organ) in p.organs.iter_mut().enumerate() {
        organ.cumulative_bed_gy_quantile = model.targets[t].alpha_beta_gy.map(|_| {
            quantile_of(model, draws, t, activity_bq, cycles_left, LimitQuantity::Bed, confidence)
        });
    }
    Ok(PlanResult {
        cycle: p.cycle,
        activity_bq,
        activity_gbq: activity_bq / 1e9,
        limiting_organ: limiting,
        confidence,
        cycles_left,
        probability_within_limits: within(activity_bq),
        limits: limits.to_vec(),
        note,
        organs: p.organs,
    })
}

/// Each limit with the targets it applies to.
fn bind(model: &PredictionModel, limits: &[OrganLimit]) -> Result<Vec<Constraint>> {
    let regions: Vec<_> = model
        .targets
        .iter()
        .map(|t| super::folder::TwinRegion {
            name: t.name.clone(),
            label: 0,
            tissue: t.tissue.clone(),
        })
        .collect();
    let mut out = Vec::new();
    for l in limits {
        for r in l.regions(&regions)? {
            let t = regions.iter().position(|x| x.name == r.name).unwrap_or(0);
            super::predict::limit_of(r, &regions, std::slice::from_ref(l))?;
            out.push(Constraint {
                target: t,
                limit: l.clone(),
            });
        }
    }
    Ok(out)
}

/// P(every constraint holds) at activity `a_bq` per cycle.
fn probability(
    m: &PredictionModel,
    d: &Draws,
    constraints: &[Constraint],
    a_bq: f64,
    cycles: usize,
) -> f64 {
    let ok = (0..m.draws)
        .filter(|&i| {
            constraints.iter().all(|c| {
                cumulative(m, d, c.target, i, a_bq, cycles, c.limit.quantity) <= c.limit.value_gy
            })
        })
        .count();
    ok as f64 / m.draws as f64
}

/// The largest A with `within(A)` ≥ `confidence` (`within` falls with A, `within(0)` holds).
fn bisect(within: &dyn Fn(f64) -> f64, confidence: f64) -> f64 {
    let mut hi = 1e9;
    while within(hi) >= confidence {
        hi *= 2.0;
        if hi > MAX_ACTIVITY_BQ {
            return MAX_ACTIVITY_BQ;
        }
    }
    let mut lo = 0.0;
    while hi - lo > 1e-9 * hi {
        let mid = 0.5 * (lo + hi);
        if within(mid) >= confidence {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The organ whose limit fails in most draws just above `a_bq` (or at it, when it is 0).
fn limiting_organ(
    m: &PredictionModel,
    d: &Draws,
    constraints: &[Constraint],
    a_bq: f64,
    cycles: usize,
) -> Option<String> {
    if a_bq >= MAX_ACTIVITY_BQ {
        return None;
    }
    let probe = a_bq * (1.0 + 1e-6) + 1.0;
    constraints
        .iter()
        .map(|c| {
            let fails = (0..m.draws)
                .filter(|&i| {
                    cumulative(m, d, c.target, i, probe, cycles, c.limit.quantity)
                        > c.limit.value_gy
                })
                .count();
            (fails, &m.targets[c.target].name)
        })
        .max_by_key(|(fails, _)| *fails)
        .map(|(_, name)| name.clone())
}

/// The `p`-quantile of target t's cumulative `quantity` at `a_bq`.
fn quantile_of(
    m: &PredictionModel,
    d: &Draws,
    t: usize,
    a_bq: f64,
    cycles: usize,
    quantity: LimitQuantity,
    p: f64,
) -> f64 {
    let mut v: Vec<f64> = (0..m.draws)
        .map(|i| cumulative(m, d, t, i, a_bq, cycles, quantity))
        .collect();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, p)
}
