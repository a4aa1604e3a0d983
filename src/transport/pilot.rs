//! The run's time estimate before its transport: a pilot that is the first part of the first
//! batch the run launches, kept in the run.
//!
//! The pilot runs the batch's first histories in parts of growing size (256, 512, 1024, …
//! decays), each waited for and timed ([`Backend::pilot_part`]), until the parts have taken
//! [`PILOT_S`] or the next part would take the pilot past 1/[`PILOT_SHARE`] of the batch; the
//! backend then launches the rest of the batch ([`Backend::launch_rest`]). Every history keeps
//! its own streams (seed, history id) and every part scores into the batch's integer tally,
//! which is folded once, so the run's dose and σ are those of a run without a pilot, bit for
//! bit. The estimate is the decays the run will take at the rate of the last (largest) part:
//! the transport alone (not the batch folds, which the first progress line includes).
//!
//! A `--target-uncertainty` run also gets the decays to its target: the backend lists each
//! part's deposits (the CPU from its tally's scored voxels, a device as the growth of its
//! read-back tally), the parts are taken as batches of the batch method, and the
//! mean relative σ of the voxels above the threshold × the pilot's maximum dose gives
//! N ≈ N_pilot (σ_pilot / target)², as σ falls as N^-1/2. A pilot of a few thousand decays
//! sees the high-dose voxels coarsely, so this is an order of magnitude check, not a promise.

use super::backend::Backend;
use super::{Observer, StopRule};
use crate::physics::tables::UNITS_PER_KEV;
use crate::tally::{rel_sigma_of, BatchSums};
use crate::Result;
use serde::Serialize;
use std::time::Instant;

/// Seconds of transport the pilot takes at most (its last part may end past it).
pub const PILOT_S: f64 = 1.0;

/// The pilot takes at most 1/this of its batch (a batch of 4 decays or fewer has no pilot).
pub const PILOT_SHARE: u32 = 4;

/// Decays in the pilot's first part; each next part doubles.
pub const PILOT_FIRST_PART: u32 = 256;

/// The estimate of a run's transport time, from its pilot (summary.json `estimate`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunEstimate {
    /// Decays the pilot ran (the first of the first batch launched, kept in the run).
    pub pilot_decays: u64,
    /// Parts it ran in.
    pub pilot_parts: u32,
    /// Seconds the pilot took.
    pub pilot_s: f64,
    /// Decays per second of its last (largest) part, the rate the estimate takes.
    pub decays_per_second: f64,
    /// Decays this process runs at most: `--decays`, or `--max-decays` for a target run,
    /// less a checkpoint's; a shard's own batches.
    pub planned_decays: u64,
    /// Transport time of `planned_decays` at that rate, s.
    pub planned_s: f64,
    /// The estimated transport time, s: `planned_s`, or for a target run whose pilot gave
    /// σ, the time to the decays the target needs when that comes first.
    pub estimated_s: f64,
    /// Target runs where the backend listed the pilot's parts: their mean relative σ of the
    /// voxels above the threshold (a fraction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pilot_sigma: Option<f64>,
    /// Target runs with `pilot_sigma`: decays from the start of the run to the target, at
    /// least the ten first batches a target run takes before it may stop, at most
    /// `--max-decays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_decays_to_target: Option<u64>,
    /// Target runs with `pilot_sigma`: false when the target needs more than `--max-decays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_within_max_decays: Option<bool>,
    /// A `--target-uncertainty` run (its planned decays are a bound); summary.json has
    /// `target_uncertainty` for that.
    #[serde(skip)]
    pub target_run: bool,
}

/// What the estimate extrapolates to: the decays this process runs at most, those done
/// before (a checkpoint), and a target run's target.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Planned {
    pub decays: u64,
    pub done_before: u64,
    /// relative σ, threshold, the decays before a target run may stop, max decays.
    pub target: Option<(f64, f64, u64, u64)>,
}

impl Planned {
    /// The plan of `stop`: `decays` this process runs, `done_before` replayed, and for a
    /// target run the decays it takes before it may stop (`min_decays`).
    pub fn new(stop: StopRule, decays: u64, done_before: u64, min_decays: u64) -> Self {
        Planned {
            decays,
            done_before,
            target: match stop {
                StopRule::Decays(_) => None,
                StopRule::TargetUncertainty {
                    relative,
                    threshold,
                    max_decays,
                } => Some((relative, threshold, min_decays, max_decays)),
            },
        }
    }
}

/// Launches the batch of `n` decays from history `first` after its pilot, tells `observer`
/// the estimate, and returns the batch with it (`None`: a batch too small for a pilot,
/// launched whole).
pub(crate) fn launch_with_pilot<B: Backend>(
    backend: &mut B,
    density: &[f32],
    first: u64,
    n: u32,
    planned: &Planned,
    observer: &mut dyn Observer,
) -> Result<(B::Batch, Option<RunEstimate>)> {
    // An observer that stops after the estimate gets one from any batch.
    let stop = observer.stop_after_estimate();
    let cap = if stop {
        n.div_ceil(PILOT_SHARE)
    } else {
        n / PILOT_SHARE
    };
    if cap == 0 {
        return Ok((backend.launch(first, n)?, None));
    }
    let list = planned.target.is_some();
    let (mut done, mut part, mut seconds) = (0u32, PILOT_FIRST_PART.min(cap), 0.0);
    let mut parts: Vec<(u32, Vec<(u32, u64)>)> = Vec::new();
    let mut listed = list;
    let mut n_parts = 0u32;
    let rate = loop {
        let start = Instant::now();
        let p = backend.pilot_part(first + u64::from(done), part, list)?;
        // Transport only: listing the deposits is the pilot's own cost.
        let s = (start.elapsed().as_secs_f64() - p.listing_s).max(0.0);
        seconds += s;
        done += part;
        n_parts += 1;
        match p.deposits {
            Some(d) => parts.push((part, d)),
            None => listed = false,
        }
        if seconds >= PILOT_S || done + 2 * part > cap {
            break f64::from(part) / s.max(1e-9);
        }
        part *= 2;
    };
    let sigma = if listed {
        pilot_sigma(&parts, density, planned.target.map_or(0.5, |t| t.1))
    } else {
        None
    };
    drop(parts);
    let estimate = estimate(planned, u64::from(done), n_parts, seconds, rate, sigma);
    observer.estimate(&estimate);
    if stop {
        return Err(crate::Error::StoppedAfterEstimate);
    }
    Ok((backend.launch_rest(first, n, done)?, Some(estimate)))
}

/// The estimate for `planned` from a pilot of `decays` decays in `seconds`, whose last part
/// ran at `rate`, with mean relative σ `sigma` when listed.
fn estimate(
    planned: &Planned,
    decays: u64,
    parts: u32,
    seconds: f64,
    rate: f64,
    sigma: Option<f64>,
) -> RunEstimate {
    let time = |n: u64| n as f64 / rate.max(1e-300);
    let planned_s = time(planned.decays);
    let to_target = match (planned.target, sigma) {
        (Some((relative, _, min_decays, max_decays)), Some(s)) => {
            let need = decays as f64 * (s / relative).powi(2);
            let lo = min_decays.min(max_decays) as f64;
            let n = need.ceil().clamp(lo, max_decays as f64) as u64;
            Some((n, need <= max_decays as f64))
        }
        _ => None,
    };
    let estimated_s = match to_target {
        Some((n, _)) => time(n.saturating_sub(planned.done_before).min(planned.decays)),
        None => planned_s,
    };
    RunEstimate {
        pilot_decays: decays,
        pilot_parts: parts,
        pilot_s: seconds,
        decays_per_second: rate,
        planned_decays: planned.decays,
        planned_s,
        estimated_s,
        pilot_sigma: to_target.and(sigma),
        estimated_decays_to_target: to_target.map(|t| t.0),
        target_within_max_decays: to_target.map(|t| t.1),
        target_run: planned.target.is_some(),
    }
}

/// The mean relative σ of the voxels whose dose is at least `threshold` × the maximum (as
/// `driver::uncertainty_above`), the pilot's parts (decays, deposits in voxel order) taken as
/// the batches of the batch method; `None` with fewer than two parts or no deposit.
pub(crate) fn pilot_sigma(
    parts: &[(u32, Vec<(u32, u64)>)],
    density: &[f32],
    threshold: f64,
) -> Option<f64> {
    if parts.len() < 2 {
        return None;
    }
    let decays: u64 = parts.iter().map(|p| u64::from(p.0)).sum();
    // Every deposit as (voxel, part's decays, keV), in voxel order.
    let mut all: Vec<(u32, u32, f64)> = parts
        .iter()
        .flat_map(|(n, d)| {
            d.iter()
                .map(move |&(v, u)| (v, *n, u as f64 / f64::from(UNITS_PER_KEV)))
        })
        .collect();
    all.sort_by_key(|a| a.0);
    let mut voxels: Vec<(u32, BatchSums)> = Vec::new();
    for (v, n, kev) in all {
        if voxels.last().is_none_or(|l| l.0 != v) {
            voxels.push((v, BatchSums::default()));
        }
        if let Some(l) = voxels.last_mut() {
            l.1.add(kev, u64::from(n));
        }
    }
    // Dose up to a common factor, as in `uncertainty_above`.
    let dose = |v: u32, s: &BatchSums| s.sum / f64::from(density[v as usize]).max(1e-30);
    let max = voxels.iter().map(|(v, s)| dose(*v, s)).fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    let cut = threshold * max;
    let (sum, k) = voxels
        .iter()
        .filter(|(v, s)| dose(*v, s) >= cut)
        .map(|(_, s)| rel_sigma_of(s.sum, s.sum_sq, decays, parts.len() as u32))
        .fold((0.0, 0usize), |(a, k), r| (a + r, k + 1));
    (k > 0).then(|| sum / k as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pilot_sigma_of_parts_that_agree_is_zero_and_of_parts_that_differ_is_the_batch_sigma() {
        let density = [1.0f32; 4];
        let u = UNITS_PER_KEV as u64;
        // Two parts of 10 decays, voxel 2 scoring 10 keV in each: no spread.
        let same = [(10, vec![(2, 10 * u)]), (10, vec![(2, 10 * u)])];
        assert_eq!(pilot_sigma(&same, &density, 0.5), Some(0.0));
        // 10 and 30 keV: mean 2 keV per decay; batch sums E_b = 10, 30 over n_b = 10.
        let differ = [(10, vec![(2, 10 * u)]), (10, vec![(2, 30 * u)])];
        let mut s = BatchSums::default();
        s.add(10.0, 10);
        s.add(30.0, 10);
        let expected = rel_sigma_of(s.sum, s.sum_sq, 20, 2);
        assert!(expected > 0.1);
        assert_eq!(pilot_sigma(&differ, &density, 0.5), Some(expected));
        // A voxel below half the maximum is left out; one part alone gives no σ.
        let low = [
            (10, vec![(1, u), (2, 10 * u)]),
            (10, vec![(1, 3 * u), (2, 10 * u)]),
        ];
        assert_eq!(pilot_sigma(&low, &density, 0.5), Some(0.0));
        assert_eq!(pilot_sigma(&same[..1], &density, 0.5), None);
    }

    #[test]
    fn target_decays_scale_as_the_square_of_the_sigma_ratio_within_the_plan() {
        let planned = Planned::new(
            StopRule::TargetUncertainty {
                relative: 0.02,
                threshold: 0.5,
                max_decays: 1_000_000_000,
            },
            1_000_000_000,
            0,
            10_000,
        );
        // σ 20 % after 10⁴ decays: (0.2 / 0.02)² × 10⁴ = 10⁶ decays, at 10⁴ decays/s 100 s.
        let e = estimate(&planned, 10_000, 5, 1.0, 1e4, Some(0.2));
        assert_eq!(e.estimated_decays_to_target, Some(1_000_000));
        assert_eq!(e.target_within_max_decays, Some(true));
        assert!((e.estimated_s - 100.0).abs() < 1e-9, "{e:?}");
        assert!((e.planned_s - 1e5).abs() < 1e-6, "{e:?}");
        // σ 1000 after 10 decays: 2.5e10 decays, beyond the cap: the run stops at
        // --max-decays.
        let far = estimate(&planned, 10, 5, 1.0, 1e4, Some(1000.0));
        assert_eq!(far.estimated_decays_to_target, Some(1_000_000_000));
        assert_eq!(far.target_within_max_decays, Some(false));
        // A decay-count run: the planned decays only.
        let fixed = Planned::new(StopRule::Decays(5_000_000), 5_000_000, 0, 0);
        let e = estimate(&fixed, 10_000, 5, 1.0, 1e4, None);
        assert_eq!((e.estimated_s, e.estimated_decays_to_target), (500.0, None));
    }
}
