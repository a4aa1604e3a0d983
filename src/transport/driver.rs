//! The CPU driver: validation, table set-up, batches over rayon, statistics.
//!
//! The sequence (the same on the GPU, with dispatches instead of rayon loops):
//! 1. materials → [`PhysicsTables`]; nuclide → [`DecayTables`]; source → [`SourceTables`];
//! 2. the Woodcock majorant of this grid ([`majorant`]);
//! 3. per batch: `decay_history` for each history, scoring into the batch tally;
//! 4. fold the batch into [`BatchStatistics`]; stop on the decay count or the target σ;
//! 5. dose = mean energy per decay / voxel mass.

use super::cpu::decay_history::decay_history;
use super::cpu::{Ctx, HistoryCounters, KernelInputs, KernelParams};
use super::{EnergyBalance, RegionDose, StopRule, TransportResult, TransportSettings};
use crate::geometry::VoxelModel;
use crate::physics::decay::{to_units, DecayTables};
use crate::physics::electron::electron_range;
use crate::physics::materials::material_index;
use crate::physics::nuclide::Nuclide;
use crate::physics::photon::photon_mu;
use crate::physics::tables::{PhysicsTables, N_ENERGY};
use crate::source::{SourceSpec, SourceTables};
use crate::tally::{rel_sigma_of, BatchStatistics, EnergyTally, J_PER_KEV};
use crate::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// Everything the kernels need, built once per run.
pub struct Prepared {
    /// Physics tables of the model's materials.
    pub tables: PhysicsTables,
    /// Emission tables.
    pub decay: DecayTables,
    /// Source tables.
    pub source: SourceTables,
    /// Woodcock majorant per energy-grid point, mm⁻¹.
    pub majorant: Vec<f32>,
    /// Range × ρ at the electron cutoff per material.
    pub range_cutoff: Vec<f32>,
    /// Kernel parameters (first_history and n_histories are set per batch).
    pub params: KernelParams,
}

impl Prepared {
    /// The kernels' read-only bindings for `model` with batch parameters `params`.
    pub fn inputs<'a>(
        &'a self,
        model: &'a VoxelModel,
        params: &'a KernelParams,
    ) -> KernelInputs<'a> {
        KernelInputs {
            params,
            tables: &self.tables,
            majorant: &self.majorant,
            range_cutoff: &self.range_cutoff,
            material: &model.material,
            density: &model.density_g_cm3,
            decay: &self.decay,
            source: &self.source,
        }
    }
}

/// Validates the model and builds the tables.
pub fn prepare(model: &VoxelModel, source: &SourceSpec, s: &TransportSettings) -> Result<Prepared> {
    let n = model.grid.n_voxels();
    if model.material.len() != n || model.density_g_cm3.len() != n {
        return Err(Error::Internal(format!(
            "voxel model arrays ({} materials, {} densities) do not match the grid ({n} voxels)",
            model.material.len(),
            model.density_g_cm3.len()
        )));
    }
    if n == 0 || n > u32::MAX as usize {
        return Err(Error::invalid(
            "grid",
            format!("{n} voxels; the transport handles 1 to 2^32 − 1"),
        ));
    }
    if let Some((i, d)) = model
        .density_g_cm3
        .iter()
        .enumerate()
        .find(|(_, d)| !d.is_finite() || **d < 0.0)
    {
        let [x, y, z] = model.grid.ijk(i);
        return Err(Error::invalid(
            "density",
            format!("voxel ({x}, {y}, {z}) has density {d} g/cm³"),
        ));
    }
    let indices = model
        .materials
        .iter()
        .map(|name| {
            material_index(name).ok_or_else(|| Error::UnknownName {
                what: "material",
                name: name.clone(),
                known: crate::physics::materials::builtin_materials()
                    .iter()
                    .map(|m| m.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(&m) = model
        .material
        .iter()
        .find(|&&m| m as usize >= indices.len())
    {
        return Err(Error::Internal(format!(
            "voxel material index {m} but only {} materials",
            indices.len()
        )));
    }
    let tables = PhysicsTables::build(&indices);
    let nuclide = Nuclide::load(&s.nuclide)?;
    let decay = DecayTables::new(
        &nuclide,
        s.electron_cutoff_kev as f64,
        s.photon_cutoff_kev as f64,
        s.emissions,
    );
    decay
        .check_bounds()
        .map_err(|reason| Error::InvalidOption {
            option: "--nuclide".into(),
            reason: format!("{reason} (nuclide {})", s.nuclide),
        })?;
    let source = source.tables(&model.grid)?;
    let majorant = majorant(&tables, &model.material, &model.density_g_cm3);
    let range_cutoff = (0..tables.n_materials())
        .map(|m| {
            let (i, f) = tables.energy.locate(s.electron_cutoff_kev);
            electron_range(&tables, m, i, f)
        })
        .collect();
    let g = &model.grid;
    let params = KernelParams {
        seed: s.seed,
        first_history: 0,
        n_histories: 0,
        dims: g.dims.map(|d| d as u32),
        spacing_mm: g.spacing_mm.map(|d| d as f32),
        electron_cutoff_units: to_units(s.electron_cutoff_kev),
        photon_cutoff_units: to_units(s.photon_cutoff_kev),
    };
    Ok(Prepared {
        tables,
        decay,
        source,
        majorant,
        range_cutoff,
        params,
    })
}

/// The Woodcock majorant μ_max(E_i) = max over materials of μ_m(E_i)·ρ_max,m (mm⁻¹), where
/// ρ_max,m is the largest density of a voxel of material m. Lookups take the larger of a bin's
/// two ends, which bounds the linearly interpolated μ of every voxel inside the bin.
pub fn majorant(t: &PhysicsTables, material: &[u8], density: &[f32]) -> Vec<f32> {
    let mut rho_max = vec![0.0f32; t.n_materials()];
    for (&m, &d) in material.iter().zip(density) {
        rho_max[m as usize] = rho_max[m as usize].max(d);
    }
    (0..N_ENERGY)
        .map(|i| {
            let mut best = 0.0f32;
            for (m, &rho) in rho_max.iter().enumerate() {
                if rho > 0.0 {
                    let (ii, f) = if i + 1 < N_ENERGY {
                        (i, 0.0)
                    } else {
                        (i - 1, 1.0)
                    };
                    best = best.max(photon_mu(t, m, rho, ii, f).total());
                }
            }
            // A grid of vacuum still needs a finite flight length.
            best.max(1e-12)
        })
        .collect()
}

/// Runs the CPU reference transport.
pub fn simulate_cpu(
    model: &VoxelModel,
    source: &SourceSpec,
    s: &TransportSettings,
) -> Result<TransportResult> {
    let prep = prepare(model, source, s)?;
    let n_vox = model.grid.n_voxels();
    let tally = EnergyTally::new(n_vox);
    let mut stats = BatchStatistics::new(n_vox);
    let mut region_stats = vec![(0.0f64, 0.0f64); model.regions.len()];
    let region_of = region_lookup(model);
    let mut counters = HistoryCounters::default();
    let plan = BatchPlan::new(s.stop, s.batches);
    let progress = crate::report::progress::Progress::new(s.progress, plan.expected_decays());
    let start = Instant::now();
    let mut decays_done = 0u64;
    let mut batch = 0u32;
    loop {
        let Some(n) = plan.batch_size(batch) else {
            break;
        };
        let mut params = prep.params;
        params.first_history = decays_done;
        params.n_histories = n;
        let inp = prep.inputs(model, &params);
        let batch_counters = (0..n)
            .into_par_iter()
            .with_min_len(256)
            .fold(HistoryCounters::default, |mut c, h| {
                let mut ctx = Ctx {
                    inp,
                    tally: &tally,
                    counters: &mut c,
                };
                decay_history(&mut ctx, h);
                c
            })
            .reduce(HistoryCounters::default, HistoryCounters::merge);
        counters = counters.merge(batch_counters);
        stats.add_batch_and_regions(n as u64, |v| tally.take(v), &region_of, &mut region_stats);
        decays_done += n as u64;
        batch += 1;
        let sigma = uncertainty_above(&stats, model, 0.5);
        progress.update(decays_done, sigma);
        if plan.done(batch, decays_done, sigma) {
            break;
        }
    }
    progress.finish();
    let wall_s = start.elapsed().as_secs_f64();
    Ok(finish(
        model,
        &stats,
        &region_stats,
        counters,
        decays_done,
        wall_s,
        cpu_device_info(),
    ))
}

/// Per voxel, the regions it belongs to.
pub(crate) fn region_lookup(model: &VoxelModel) -> Vec<Vec<u16>> {
    if model.regions.is_empty() {
        return Vec::new();
    }
    let mut of = vec![Vec::new(); model.grid.n_voxels()];
    for (r, region) in model.regions.iter().enumerate() {
        for &v in &region.voxels {
            of[v as usize].push(r as u16);
        }
    }
    of
}

/// Mean relative σ of the voxels whose dose is at least `threshold` × the maximum (GATE's
/// uncertainty-goal convention), and the largest such σ.
pub fn uncertainty_above(
    stats: &BatchStatistics,
    model: &VoxelModel,
    threshold: f64,
) -> UncertaintySummary {
    let dose = |v: usize| stats.mean(v) / model.voxel_mass_kg(v).max(1e-30);
    let max = (0..stats.sum.len()).map(dose).fold(0.0f64, f64::max);
    let (mut sum, mut n, mut worst) = (0.0, 0usize, 0.0f64);
    if max > 0.0 {
        for v in 0..stats.sum.len() {
            if dose(v) >= threshold * max {
                let r = stats.rel_sigma(v);
                sum += r;
                worst = worst.max(r);
                n += 1;
            }
        }
    }
    UncertaintySummary {
        mean: if n > 0 { sum / n as f64 } else { f64::INFINITY },
        max: worst,
        voxels: n,
    }
}

/// The relative uncertainty of the high-dose voxels.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct UncertaintySummary {
    /// Mean relative σ over the voxels above the threshold.
    pub mean: f64,
    /// Largest relative σ among them.
    pub max: f64,
    /// How many voxels.
    pub voxels: usize,
}

/// Batch sizes for a stop rule.
pub(crate) struct BatchPlan {
    stop: StopRule,
    batches: u32,
}

impl BatchPlan {
    pub(crate) fn new(stop: StopRule, batches: u32) -> Self {
        BatchPlan {
            stop,
            batches: batches.max(2),
        }
    }

    pub(crate) fn expected_decays(&self) -> u64 {
        match self.stop {
            StopRule::Decays(n) => n,
            StopRule::TargetUncertainty { max_decays, .. } => max_decays,
        }
    }

    /// Decays in batch `b`, or `None` when done.
    pub(crate) fn batch_size(&self, b: u32) -> Option<u32> {
        match self.stop {
            StopRule::Decays(n) => {
                if b >= self.batches {
                    return None;
                }
                let base = n / self.batches as u64;
                let extra = u64::from((b as u64) < n % self.batches as u64);
                Some((base + extra) as u32)
            }
            StopRule::TargetUncertainty { max_decays, .. } => {
                // Fixed batches of 2^17 decays (or fewer if the cap is small), so batch
                // statistics stay valid however long the run goes.
                let size = (max_decays / 10).clamp(1000, 1 << 17);
                (b as u64 * size < max_decays)
                    .then_some(size.min(max_decays - b as u64 * size) as u32)
            }
        }
    }

    pub(crate) fn done(&self, b: u32, decays: u64, sigma: UncertaintySummary) -> bool {
        match self.stop {
            StopRule::Decays(n) => decays >= n,
            StopRule::TargetUncertainty {
                relative,
                max_decays,
                ..
            } => decays >= max_decays || (b >= 10 && sigma.mean <= relative),
        }
    }
}

/// Turns the statistics into a result.
pub fn finish(
    model: &VoxelModel,
    stats: &BatchStatistics,
    region_stats: &[(f64, f64)],
    counters: HistoryCounters,
    decays: u64,
    wall_s: f64,
    device: super::DeviceInfo,
) -> TransportResult {
    let n = model.grid.n_voxels();
    let dose: Vec<f64> = (0..n)
        .map(|v| stats.mean(v) * J_PER_KEV / model.voxel_mass_kg(v).max(1e-30))
        .collect();
    let rel: Vec<f32> = (0..n).map(|v| stats.rel_sigma(v) as f32).collect();
    let regions = model
        .regions
        .iter()
        .zip(region_stats)
        .map(|(r, &(sum, sum_sq))| {
            let mass: f64 = r
                .voxels
                .iter()
                .map(|&v| model.voxel_mass_kg(v as usize))
                .sum();
            let mean_kev = if stats.batches > 0 {
                sum / stats.batches as f64
            } else {
                0.0
            };
            RegionDose {
                name: r.name.clone(),
                voxels: r.voxels.len(),
                mass_kg: mass,
                mean_gy_per_decay: if mass > 0.0 {
                    mean_kev * J_PER_KEV / mass
                } else {
                    0.0
                },
                rel_sigma: rel_sigma_of(sum, sum_sq, stats.batches),
                energy_kev_per_decay: mean_kev,
            }
        })
        .collect();
    let uncertainty = uncertainty_above(stats, model, 0.5);
    TransportResult {
        dose_gy_per_decay: dose,
        rel_uncertainty: rel,
        decays,
        energy: EnergyBalance {
            emitted_units: counters.emitted_units,
            deposited_units: stats.deposited_units,
            escaped_units: counters.escaped_units,
        },
        wall_s,
        device,
        regions,
        counters,
        uncertainty,
    }
}

/// The CPU device description.
pub fn cpu_device_info() -> super::DeviceInfo {
    super::DeviceInfo {
        kind: "cpu".into(),
        name: cpu_name(),
        backend: "rust (rayon)".into(),
        driver: format!("voxdose {} CPU reference", env!("CARGO_PKG_VERSION")),
        parallelism: rayon::current_num_threads() as u64,
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
