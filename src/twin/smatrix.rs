//! The dose-per-decay matrix of a cycle: S\[t\]\[s\], the mean absorbed dose in target region t
//! per decay in source region s (Gy per decay), each with its relative σ (batch method).
//!
//! Made by the patient's own transport, one run per source: the source is the cycle's TIA
//! map restricted to the region (so decays are placed as the measured activity places them
//! inside it), in the cycle's voxel model. Sources are the labelled regions and the
//! `remainder` (every voxel with activity outside them); targets are the labelled regions.
//! Then for any TIA per region Ã_s the dose is D_t = Σ_s S\[t\]\[s\]·Ã_s, exactly what one
//! transport of the map scaled region by region gives (transport is linear in the source),
//! so a what-if costs milliseconds (MIRD's schema, DOMAIN.md §1.3, with the patient's own
//! S-values).

use crate::run::Problem;
use crate::source::SourceSpec;
use crate::transport::{simulate, Device, Observer, StopRule};
use crate::Result;
use serde::{Deserialize, Serialize};

/// Name of the source made of every voxel with activity outside the labelled regions.
pub const REMAINDER: &str = "remainder";

/// `cycles/N/smatrix.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SMatrix {
    /// Target regions (rows).
    pub targets: Vec<String>,
    /// Source regions (columns): the labelled regions, then `remainder`.
    pub sources: Vec<String>,
    /// Ã of each source in the cycle's TIA map, Bq·s.
    pub source_tia_bq_s: Vec<f64>,
    /// S\[t\]\[s\], Gy per decay.
    pub gy_per_decay: Vec<Vec<f64>>,
    /// Relative σ of each S\[t\]\[s\].
    pub rel_sigma: Vec<Vec<f64>>,
    /// Decays simulated per source.
    pub decays_per_source: u64,
    /// Seed of the runs (source s uses seed + s).
    pub seed: u64,
}

impl SMatrix {
    /// D_t = Σ_s S\[t\]\[s\]·tia\[s\] (Gy) for TIA per source `tia_bq_s`.
    pub fn dose_gy(&self, tia_bq_s: &[f64]) -> Vec<f64> {
        self.gy_per_decay
            .iter()
            .map(|row| row.iter().zip(tia_bq_s).map(|(s, a)| s * a).sum())
            .collect()
    }

    /// σ of [`SMatrix::dose_gy`] from the S-values' MC σ (independent runs), Gy.
    pub fn dose_sigma_gy(&self, tia_bq_s: &[f64]) -> Vec<f64> {
        self.gy_per_decay
            .iter()
            .zip(&self.rel_sigma)
            .map(|(row, rel)| {
                row.iter()
                    .zip(rel)
                    .zip(tia_bq_s)
                    .map(|((s, r), a)| (s * r * a).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .collect()
    }
}

/// The source regions of `problem`: its regions, then the remainder, with their voxels.
fn sources(problem: &Problem) -> Vec<(String, Vec<u32>)> {
    let n = problem.model.grid.n_voxels();
    let mut labelled = vec![false; n];
    let mut out: Vec<(String, Vec<u32>)> = problem
        .model
        .regions
        .iter()
        .map(|r| {
            for &v in &r.voxels {
                labelled[v as usize] = true;
            }
            (r.name.clone(), r.voxels.clone())
        })
        .collect();
    let weights = source_weights(problem);
    let rest = (0..n as u32)
        .filter(|&v| !labelled[v as usize] && weights[v as usize] > 0.0)
        .collect();
    out.push((REMAINDER.to_string(), rest));
    out
}

/// The problem's voxel source weights (its TIA map, Bq·s per voxel).
fn source_weights(problem: &Problem) -> &[f32] {
    match &problem.source {
        SourceSpec::Voxels { weights } => weights,
        _ => &[],
    }
}

/// S for `problem` (a study cycle: a voxel source and named regions): one transport of
/// `decays` decays per source on `device`.
pub fn compute(
    problem: &Problem,
    decays: u64,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<SMatrix> {
    let weights = source_weights(problem);
    let sources = sources(problem);
    let targets: Vec<String> = problem
        .model
        .regions
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let (mut columns, mut sigmas, mut tia) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (name, voxels)) in sources.iter().enumerate() {
        let mut w = vec![0.0f32; weights.len()];
        for &v in voxels {
            w[v as usize] = weights[v as usize];
        }
        let total: f64 = w.iter().map(|&x| f64::from(x)).sum();
        tia.push(total);
        if total <= 0.0 {
            columns.push(vec![0.0; targets.len()]);
            sigmas.push(vec![0.0; targets.len()]);
            continue;
        }
        observer.note(&format!(
            "S-matrix: source {name} ({}/{}), {decays} decays",
            i + 1,
            sources.len()
        ));
        let mut settings = problem.settings.clone();
        settings.stop = StopRule::Decays(decays);
        settings.seed = problem.settings.seed.wrapping_add(i as u64 + 1);
        let r = simulate(
            &problem.model,
            &SourceSpec::Voxels { weights: w },
            &settings,
            device,
            observer,
        )?;
        columns.push(r.regions.iter().map(|g| g.mean_gy_per_decay).collect());
        sigmas.push(r.regions.iter().map(|g| g.rel_sigma).collect());
    }
    Ok(SMatrix {
        gy_per_decay: transpose(&columns, targets.len()),
        rel_sigma: transpose(&sigmas, targets.len()),
        targets,
        sources: sources.into_iter().map(|s| s.0).collect(),
        source_tia_bq_s: tia,
        decays_per_source: decays,
        seed: problem.settings.seed,
    })
}

/// Rows of `columns` (one per source) as rows per target.
fn transpose(columns: &[Vec<f64>], n_targets: usize) -> Vec<Vec<f64>> {
    (0..n_targets)
        .map(|t| columns.iter().map(|c| c[t]).collect())
        .collect()
}
