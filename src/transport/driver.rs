//! The driver, the same for every device: validation, table set-up, the one batch loop,
//! statistics, dose.
//!
//! 1. materials → [`PhysicsTables`]; nuclide → [`DecayTables`]; source → [`SourceTables`]
//!    ([`prepare`]);
//! 2. the Woodcock majorant of this grid ([`majorant`]);
//! 3. [`run_batches`]: per batch, the backend runs `decay_history` for each history (rayon on
//!    the CPU, dispatches on a GPU), scoring into a batch tally, and folds the tally into
//!    [`BatchStatistics`]; the loop stops on the decay count or the target σ ([`BatchPlan`]);
//! 4. [`finish`]: dose = mean energy per decay / voxel mass, σ per voxel and per region.

use super::backend::{Backend, Fold};
use super::cpu::run::CpuBackend;
use super::cpu::{HistoryCounters, KernelInputs, KernelParams};
use super::pilot::{launch_with_pilot, Planned, RunEstimate};
use super::{EnergyBalance, Observer, RegionDose, StopRule, TransportResult, TransportSettings};
use crate::geometry::VoxelModel;
use crate::physics::decay::{to_units, DecayTables};
use crate::physics::electron::electron_range;
use crate::physics::materials::material_index;
use crate::physics::photon::photon_mu_total;
use crate::physics::tables::{PhysicsTables, N_ENERGY};
use crate::source::{SourceSpec, SourceTables};
use crate::tally::{BatchStatistics, BatchSums, RecordedBatch, RegionVoxels, J_PER_KEV};
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
    check_model(model)?;
    let tables = PhysicsTables::build(&material_indices(model)?);
    let decay = decay_tables(s)?;
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

/// The model's arrays fit its grid, the grid fits the kernels' u32 voxel index, and every
/// density is finite and ≥ 0.
fn check_model(model: &VoxelModel) -> Result<()> {
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
    Ok(())
}

/// The built-in material index of each of the model's materials; every voxel's material must
/// be one of them.
fn material_indices(model: &VoxelModel) -> Result<Vec<usize>> {
    let indices = model
        .materials
        .iter()
        .map(|name| {
            material_index(name).ok_or_else(|| Error::UnknownName {
                what: "material",
                name: name.clone(),
                known: crate::physics::materials::material_names(),
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
    Ok(indices)
}

/// The nuclide's emission tables at the run's cutoffs, checked against the kernels' bounds.
fn decay_tables(s: &TransportSettings) -> Result<DecayTables> {
    let decay = DecayTables::new(
        &s.nuclide,
        s.electron_cutoff_kev as f64,
        s.photon_cutoff_kev as f64,
        s.emissions,
    );
    decay
        .check_bounds()
        .map_err(|reason| Error::InvalidOption {
            option: "--nuclide".into(),
            reason: format!("{reason} (nuclide {})", s.nuclide.name),
        })?;
    Ok(decay)
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
                    best = best.max(photon_mu_total(t, m, rho, ii, f));
                }
            }
            // A grid of vacuum still needs a finite flight length.
            best.max(1e-12)
        })
        .collect()
}

/// What the batch loop leaves: the statistics and the run's clocks.
pub struct BatchRun {
    /// Per-voxel batch statistics.
    pub stats: BatchStatistics,
    /// Regional batch sums, in the model's region order.
    pub region_sums: Vec<BatchSums>,
    /// Event counters of all histories.
    pub counters: HistoryCounters,
    /// Transport wall time, s (without what the backend excludes).
    pub wall_s: f64,
    /// Of `wall_s`, the batch statistics (read-back, fold, σ), s.
    pub statistics_s: f64,
    /// Decays in the first batch (for the device description).
    pub first_batch: u32,
    /// When the schedule records: every batch folded, in order (replayed ones first).
    pub done: Vec<DoneBatch>,
    /// The time estimate from the pilot of the first batch launched (`transport::pilot`).
    pub estimate: Option<RunEstimate>,
}

/// A batch that was run and folded: which it is, what it scored (exact integers), its
/// counters. Folding such batches again in order gives the same statistics bit for bit, which
/// is how shards merge and checkpoints resume.
#[derive(Clone, Debug, PartialEq)]
pub struct DoneBatch {
    /// Batch index in the run's plan (from 0).
    pub index: u32,
    /// History id of its first decay.
    pub first_history: u64,
    /// Its decays and scored voxels.
    pub batch: RecordedBatch,
    /// Its event counters.
    pub counters: HistoryCounters,
}

/// Which batches a run runs, what it starts from, and what it reports after each batch. The
/// default runs every batch of the plan from the start and keeps nothing.
#[derive(Default)]
pub struct Schedule<'a> {
    /// Batches done before (a checkpoint), in order; folded again before anything runs.
    pub replay: &'a [DoneBatch],
    /// Runs only the batches this keeps (a shard of a run of fixed batches); `None`: all.
    pub keep: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
    /// Keeps every batch in [`BatchRun::done`] (shards, checkpoints).
    pub record: bool,
    /// Called after each batch with the batches done so far (a checkpoint writer); an error
    /// ends the run with it.
    pub after_batch: Option<&'a mut AfterBatch<'a>>,
    /// Launches the first batch whole, without the pilot that gives the time estimate
    /// (`transport::pilot`; the dose is the same either way, bit for bit).
    pub no_pilot: bool,
}

/// The hook a [`Schedule`] calls after each batch with the batches done so far.
pub type AfterBatch<'a> = dyn FnMut(&[DoneBatch]) -> Result<()> + 'a;

/// The one batch loop, whatever the device: batch sizes and the stop rule from
/// [`BatchPlan`], history ids continuing across batches (stream = (seed, history), so a seed
/// reproduces a run on the same device, whichever batches of it run where), each batch
/// launched, collected (checked and folded by the backend) and followed by σ where the stop
/// rule or the observer wants it. When the backend overlaps (and every batch runs), the next
/// batch is launched before this one is collected whenever its size does not depend on this
/// batch's σ ([`BatchPlan::size_ahead`]). The [`Schedule`] replays a checkpoint first, skips
/// the batches of other shards, and records.
pub fn run_batches<B: Backend>(
    backend: &mut B,
    model: &VoxelModel,
    plan: &BatchPlan,
    mut schedule: Schedule<'_>,
    observer: &mut dyn Observer,
) -> Result<BatchRun> {
    let record = schedule.record || schedule.after_batch.is_some();
    let mut run = Folded::new(model, record);
    run.replay(schedule.replay);
    let (mut b, mut first) = schedule
        .replay
        .last()
        .map_or((0, 0), |d| (d.index + 1, d.first_history + d.batch.decays));
    let mut sigma = (!schedule.replay.is_empty() && plan.checks_sigma())
        .then(|| uncertainty_above(&run.stats, model, plan.threshold()));
    plan.check_batch_sizes()?;
    let first_batch = plan.batch_size(0, 0, None).unwrap_or(0);
    let mut launcher = Launcher {
        pilot: (!schedule.no_pilot).then(|| plan.planned(b, first, schedule.keep)),
        density: &model.density_g_cm3,
        estimate: None,
    };
    observer.transport_started(plan.expected_decays());
    let start = Instant::now();
    let ahead = backend.overlaps() && schedule.keep.is_none();
    let finished = !schedule.replay.is_empty() && plan.done(b, first, sigma);
    let mut next = if finished {
        None
    } else {
        next_kept(
            &mut launcher,
            backend,
            plan,
            schedule.keep,
            (&mut b, &mut first),
            sigma,
            observer,
        )?
    };
    while let Some((index, at, current)) = next.take() {
        let end = at + u64::from(B::decays(&current));
        if ahead {
            if let Some(Some(n)) = plan.size_ahead(b, first) {
                next = Some((b, first, backend.launch(first, n)?));
                (b, first) = (b + 1, first + u64::from(n));
            }
        }
        run.collect(backend, current, (index, at), observer)?;
        let sigma_start = Instant::now();
        sigma = (plan.checks_sigma() || observer.wants_sigma())
            .then(|| uncertainty_above(&run.stats, model, plan.threshold()));
        run.statistics_s += sigma_start.elapsed().as_secs_f64();
        observer.batch_done(end, sigma);
        if observer.cancelled() {
            return Err(crate::Error::Cancelled);
        }
        if let Some(hook) = schedule.after_batch.as_mut() {
            hook(&run.done)?;
        }
        if plan.done(index + 1, end, sigma) {
            break;
        }
        if next.is_none() {
            next = next_kept(
                &mut launcher,
                backend,
                plan,
                schedule.keep,
                (&mut b, &mut first),
                sigma,
                observer,
            )?;
        }
    }
    // A batch launched ahead of a stop the plan could not foresee is not possible: the
    // sizes `size_ahead` gives are those of batches the plan always runs.
    debug_assert!(next.is_none());
    observer.transport_finished();
    Ok(BatchRun {
        wall_s: start.elapsed().as_secs_f64() - backend.excluded_s(),
        statistics_s: run.statistics_s,
        first_batch,
        stats: run.stats,
        region_sums: run.region_sums,
        counters: run.counters,
        done: if schedule.record {
            run.done
        } else {
            Vec::new()
        },
        estimate: launcher.estimate,
    })
}

/// The run that `batches` (every batch of a run, in index order) fold into, without running
/// anything: how shards merge. `wall_s` is the transport time the batches took where they ran.
/// The statistics are those of a run that ran the batches itself, bit for bit.
pub fn fold_done(model: &VoxelModel, batches: &[DoneBatch], wall_s: f64) -> BatchRun {
    let mut run = Folded::new(model, false);
    run.replay(batches);
    BatchRun {
        wall_s,
        statistics_s: run.statistics_s,
        first_batch: batches.first().map_or(0, |d| d.batch.decays as u32),
        stats: run.stats,
        region_sums: run.region_sums,
        counters: run.counters,
        done: Vec::new(),
        estimate: None,
    }
}

/// The statistics the loop folds into, and the batches it keeps.
struct Folded {
    stats: BatchStatistics,
    region_sums: Vec<BatchSums>,
    regions: RegionVoxels,
    counters: HistoryCounters,
    statistics_s: f64,
    done: Vec<DoneBatch>,
}

impl Folded {
    fn new(model: &VoxelModel, record: bool) -> Self {
        let n = model.grid.n_voxels();
        Folded {
            stats: if record {
                BatchStatistics::record(n)
            } else {
                BatchStatistics::new(n)
            },
            region_sums: vec![BatchSums::default(); model.regions.len()],
            regions: region_voxels(model),
            counters: HistoryCounters::default(),
            statistics_s: 0.0,
            done: Vec::new(),
        }
    }

    /// Folds the batches of a checkpoint again, in order.
    fn replay(&mut self, batches: &[DoneBatch]) {
        for d in batches {
            self.stats
                .refold(&d.batch, &self.regions, &mut self.region_sums);
            self.take_recorded();
            self.counters = self.counters.merge(d.counters);
            // Kept only when recording (a checkpoint goes on from them); a merge folds
            // every batch of a run and must not hold them twice.
            if self.stats.recorded.is_some() {
                self.done.push(d.clone());
            }
        }
    }

    /// Collects batch (index, first history) from the backend and keeps it when recording.
    fn collect<B: Backend>(
        &mut self,
        backend: &mut B,
        batch: B::Batch,
        (index, first_history): (u32, u64),
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let mut fold = Fold {
            stats: &mut self.stats,
            regions: &self.regions,
            region_sums: &mut self.region_sums,
            seconds: &mut self.statistics_s,
        };
        let counters = backend.collect(batch, &mut fold, observer)?;
        self.counters = self.counters.merge(counters);
        if let Some(batch) = self.take_recorded() {
            self.done.push(DoneBatch {
                index,
                first_history,
                batch,
                counters,
            });
        }
        Ok(())
    }

    /// The batch the statistics just recorded, if they record.
    fn take_recorded(&mut self) -> Option<RecordedBatch> {
        self.stats.recorded.as_mut().and_then(Vec::pop)
    }
}

/// Launches batches: the first after its pilot (`transport::pilot`), the others whole.
struct Launcher<'m> {
    /// What the pilot's estimate extrapolates to, until the first launch takes it.
    pilot: Option<Planned>,
    density: &'m [f32],
    /// The pilot's estimate, once it ran.
    estimate: Option<RunEstimate>,
}

impl Launcher<'_> {
    fn launch<B: Backend>(
        &mut self,
        backend: &mut B,
        first: u64,
        n: u32,
        observer: &mut dyn Observer,
    ) -> Result<B::Batch> {
        match self.pilot.take() {
            Some(planned) => {
                let (batch, estimate) =
                    launch_with_pilot(backend, self.density, first, n, &planned, observer)?;
                self.estimate = estimate;
                Ok(batch)
            }
            None => backend.launch(first, n),
        }
    }
}

/// Launches the next batch from (`b`, history `first`) that `keep` keeps, skipping the others
/// (advancing `b` and `first` past it), or `None` at the end of the plan.
fn next_kept<B: Backend>(
    launcher: &mut Launcher<'_>,
    backend: &mut B,
    plan: &BatchPlan,
    keep: Option<&(dyn Fn(u32) -> bool + Sync)>,
    (b, first): (&mut u32, &mut u64),
    sigma: Option<UncertaintySummary>,
    observer: &mut dyn Observer,
) -> Result<Option<(u32, u64, B::Batch)>> {
    while let Some(n) = plan.batch_size(*b, *first, sigma) {
        let (index, at) = (*b, *first);
        (*b, *first) = (index + 1, at + u64::from(n));
        if keep.is_none_or(|k| k(index)) {
            let batch = launcher.launch(backend, at, n, observer)?;
            return Ok(Some((index, at, batch)));
        }
    }
    Ok(None)
}

/// Runs the CPU reference transport (on the rayon pool it is called in).
pub fn simulate_cpu(
    model: &VoxelModel,
    source: &SourceSpec,
    s: &TransportSettings,
    observer: &mut dyn Observer,
) -> Result<TransportResult> {
    simulate_cpu_with(model, source, s, Schedule::default(), observer)
}

/// [`simulate_cpu`] with a [`Schedule`].
pub fn simulate_cpu_with(
    model: &VoxelModel,
    source: &SourceSpec,
    s: &TransportSettings,
    schedule: Schedule<'_>,
    observer: &mut dyn Observer,
) -> Result<TransportResult> {
    let prep = prepare(model, source, s)?;
    let mut backend = CpuBackend::new(model, &prep);
    let plan = BatchPlan::new(s.stop, s.batches);
    let mut run = run_batches(&mut backend, model, &plan, schedule, observer)?;
    let device = backend.device_info(run.first_batch);
    let mut result = finish(model, &run, device);
    result.done = std::mem::take(&mut run.done);
    Ok(result)
}

/// The model's regions, for the regional batch sums.
pub(crate) fn region_voxels(model: &VoxelModel) -> RegionVoxels {
    RegionVoxels::new(model.regions.iter().map(|r| r.voxels.as_slice()))
}

/// Mean relative σ of the voxels whose dose is at least `threshold` × the maximum (GATE's
/// uncertainty-goal convention), and the largest such σ. In parallel over fixed blocks, summed
/// in block order (the same result whatever the thread count).
pub fn uncertainty_above(
    stats: &BatchStatistics,
    model: &VoxelModel,
    threshold: f64,
) -> UncertaintySummary {
    const BLOCK: usize = 1 << 15;
    let n_vox = stats.sum.len();
    // Dose up to a common factor (1/decays and the voxel volume): energy / density.
    let dose = |v: usize| stats.sum[v] / f64::from(model.density_g_cm3[v]).max(1e-30);
    let max = (0..n_vox)
        .into_par_iter()
        .with_min_len(BLOCK)
        .map(dose)
        .reduce(|| 0.0f64, f64::max);
    let (mut sum, mut n, mut worst) = (0.0, 0usize, 0.0f64);
    if max > 0.0 {
        let cut = threshold * max;
        let blocks: Vec<(f64, usize, f64)> = (0..n_vox.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let (mut sum, mut n, mut worst) = (0.0, 0usize, 0.0f64);
                for v in b * BLOCK..((b + 1) * BLOCK).min(n_vox) {
                    if dose(v) >= cut {
                        let r = stats.rel_sigma(v);
                        sum += r;
                        worst = worst.max(r);
                        n += 1;
                    }
                }
                (sum, n, worst)
            })
            .collect();
        for (s, k, w) in blocks {
            sum += s;
            n += k;
            worst = worst.max(w);
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

/// Batches a target-uncertainty run takes at the first size before it may stop or grow.
const MIN_TARGET_BATCHES: u32 = 10;

/// Batch sizes for a stop rule.
///
/// - `Decays(n)`: `batches` batches of n / batches decays (the first n % batches one more).
/// - `TargetUncertainty`: `MIN_TARGET_BATCHES` batches of s₀ = max/100 decays, clamped to
///   1000 ..= 2^17 (so they take at most a tenth of the cap, when it is ≥ 10⁵), then batches sized from the σ reached so far: σ falls as N^-1/2, so about
///   N((σ/target)² − 1) decays remain; the next batch takes that, at least s₀ and at most the
///   decays done so far (the total at most doubles per batch, so a noisy σ cannot send the run
///   far past its target). Few large batches keep the per-batch fold and check (a pass over
///   every voxel) small next to the transport on large grids; the statistics weight batches by
///   size ([`BatchStatistics`]). Sizes depend only on the statistics, so a seed still
///   reproduces a run on the same device.
pub struct BatchPlan {
    stop: StopRule,
    batches: u32,
}

impl BatchPlan {
    /// The plan of `stop` with `batches` batches (at least 2) for a decay count.
    pub fn new(stop: StopRule, batches: u32) -> Self {
        BatchPlan {
            stop,
            batches: batches.max(2),
        }
    }

    /// The decays the run takes at most.
    pub fn expected_decays(&self) -> u64 {
        match self.stop {
            StopRule::Decays(n) => n,
            StopRule::TargetUncertainty { max_decays, .. } => max_decays,
        }
    }

    /// Refuses a decay-count plan whose batches would exceed the 2^32 − 1 decays a batch
    /// (a launch, a kernel's history count) holds: `--decays 1e13` needs at least 2329
    /// batches.
    pub fn check_batch_sizes(&self) -> Result<()> {
        if let StopRule::Decays(n) = self.stop {
            let largest = n.div_ceil(u64::from(self.batches));
            if largest > u64::from(u32::MAX) {
                return Err(Error::invalid(
                    "--batches",
                    format!(
                        "{} batches of {n} decays hold {largest} decays each; a batch holds at \
                         most {} decays: give --batches {} or more",
                        self.batches,
                        u32::MAX,
                        n.div_ceil(u64::from(u32::MAX))
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What the pilot's estimate extrapolates to, for a process that starts at batch `b`,
    /// history `first` (after a checkpoint's batches) and runs the batches `keep` keeps.
    fn planned(&self, b: u32, first: u64, keep: Option<&(dyn Fn(u32) -> bool + Sync)>) -> Planned {
        let decays = match (self.stop, keep) {
            (StopRule::Decays(n), None) => n.saturating_sub(first),
            // A shard: its own batches (a decay-count plan's sizes do not depend on σ).
            (StopRule::Decays(_), Some(k)) => (b..self.batches)
                .filter(|&i| k(i))
                .filter_map(|i| self.batch_size(i, 0, None))
                .map(u64::from)
                .sum(),
            (StopRule::TargetUncertainty { max_decays, .. }, _) => max_decays.saturating_sub(first),
        };
        let min_decays =
            u64::from(MIN_TARGET_BATCHES) * u64::from(self.batch_size(0, 0, None).unwrap_or(0));
        Planned::new(self.stop, decays, first, min_decays)
    }

    /// True when the stop rule and batch sizes depend on σ.
    pub fn checks_sigma(&self) -> bool {
        matches!(self.stop, StopRule::TargetUncertainty { .. })
    }

    /// The dose fraction of the maximum above which voxels' σ is checked.
    pub fn threshold(&self) -> f64 {
        match self.stop {
            StopRule::Decays(_) => 0.5,
            StopRule::TargetUncertainty { threshold, .. } => threshold,
        }
    }

    /// Decays in batch `b`, after `done` decays whose statistics gave `sigma` (`None` before
    /// the first batch), or `None` when the run is over.
    pub fn batch_size(&self, b: u32, done: u64, sigma: Option<UncertaintySummary>) -> Option<u32> {
        match self.stop {
            StopRule::Decays(n) => {
                if b >= self.batches {
                    return None;
                }
                let base = n / self.batches as u64;
                let extra = u64::from((b as u64) < n % self.batches as u64);
                Some((base + extra) as u32)
            }
            StopRule::TargetUncertainty {
                relative,
                max_decays,
                ..
            } => {
                if done >= max_decays {
                    return None;
                }
                let first = (max_decays / 100).clamp(1000, 1 << 17);
                let size = match sigma {
                    Some(s) if b >= MIN_TARGET_BATCHES && s.mean.is_finite() => {
                        let ratio = (s.mean / relative).max(1.0);
                        let left = done as f64 * (ratio * ratio - 1.0);
                        (left.ceil() as u64).clamp(first, done.max(first))
                    }
                    _ => first,
                };
                Some(size.min(max_decays - done).min(u64::from(u32::MAX)) as u32)
            }
        }
    }

    /// The size of batch `b` (as [`BatchPlan::batch_size`], `None`: no such batch) when
    /// neither it nor whether the run reaches it depends on the σ after batch b − 1, so it
    /// can start before that batch's statistics are in; `None` when it does. A `Decays` run
    /// knows every batch ahead; a target run its first `MIN_TARGET_BATCHES`, before which
    /// it can stop only at the decay cap.
    pub fn size_ahead(&self, b: u32, done: u64) -> Option<Option<u32>> {
        let ahead = match self.stop {
            StopRule::Decays(_) => true,
            StopRule::TargetUncertainty { .. } => b < MIN_TARGET_BATCHES,
        };
        if !ahead {
            return None;
        }
        if b > 0 && self.done(b, done, None) {
            return Some(None);
        }
        Some(self.batch_size(b, done, None))
    }

    /// True when the run is over after `b` batches, `decays` decays and σ `sigma` (which a
    /// target-uncertainty run must give: see [`BatchPlan::checks_sigma`]).
    pub fn done(&self, b: u32, decays: u64, sigma: Option<UncertaintySummary>) -> bool {
        match self.stop {
            StopRule::Decays(n) => decays >= n,
            StopRule::TargetUncertainty {
                relative,
                max_decays,
                ..
            } => {
                decays >= max_decays
                    || (b >= MIN_TARGET_BATCHES && sigma.is_some_and(|s| s.mean <= relative))
            }
        }
    }
}

/// Turns the statistics into a result.
pub fn finish(model: &VoxelModel, run: &BatchRun, device: super::DeviceInfo) -> TransportResult {
    let (stats, region_stats, counters) = (&run.stats, &run.region_sums, run.counters);
    let n = model.grid.n_voxels();
    // Per voxel, independent of the others: in parallel, in voxel order.
    let dose: Vec<f64> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 15)
        .map(|v| stats.mean(v) * J_PER_KEV / model.voxel_mass_kg(v).max(1e-30))
        .collect();
    let rel: Vec<f32> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 15)
        .map(|v| stats.rel_sigma(v) as f32)
        .collect();
    let regions = model
        .regions
        .iter()
        .zip(region_stats)
        .map(|(r, &sums)| {
            let mass: f64 = r
                .voxels
                .iter()
                .map(|&v| model.voxel_mass_kg(v as usize))
                .sum();
            let mean_kev = if stats.decays > 0 {
                sums.sum / stats.decays as f64
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
                rel_sigma: stats.rel_sigma_of_sums(sums),
                energy_kev_per_decay: mean_kev,
            }
        })
        .collect();
    let uncertainty = uncertainty_above(stats, model, 0.5);
    TransportResult {
        dose_gy_per_decay: dose,
        rel_uncertainty: rel,
        decays: stats.decays,
        batches: stats.batches,
        energy: EnergyBalance {
            emitted_units: counters.emitted_units,
            deposited_units: stats.deposited_units,
            escaped_units: counters.escaped_units,
        },
        wall_s: run.wall_s,
        statistics_s: run.statistics_s,
        device,
        regions,
        counters,
        uncertainty,
        done: Vec::new(),
        estimate: run.estimate.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigma(mean: f64) -> Option<UncertaintySummary> {
        Some(UncertaintySummary {
            mean,
            max: mean,
            voxels: 100,
        })
    }

    #[test]
    fn fixed_decay_batches_split_the_count_exactly() {
        let plan = BatchPlan::new(StopRule::Decays(1003), 10);
        let sizes: Vec<u32> = (0..11)
            .filter_map(|b| plan.batch_size(b, 0, None))
            .collect();
        assert_eq!(sizes.len(), 10);
        assert_eq!(sizes.iter().map(|&n| u64::from(n)).sum::<u64>(), 1003);
        assert_eq!((sizes[0], sizes[9]), (101, 100));
    }

    #[test]
    fn target_batches_start_fixed_then_grow_towards_the_predicted_need() {
        let plan = BatchPlan::new(
            StopRule::TargetUncertainty {
                relative: 0.02,
                threshold: 0.5,
                max_decays: 1 << 40,
            },
            10,
        );
        let s0 = 1 << 17;
        // The first ten batches are s0 whatever σ says.
        for b in 0..10 {
            assert_eq!(
                plan.batch_size(b, b as u64 * s0, sigma(0.5)),
                Some(s0 as u32)
            );
        }
        let done = 10 * s0;
        // σ = 4 % after N: about 3N more are needed; the total at most doubles per batch.
        assert_eq!(plan.batch_size(10, done, sigma(0.04)), Some(done as u32));
        // σ = 2.2 %: N(1.21 − 1) = 0.21 N more.
        let n = plan.batch_size(10, done, sigma(0.022)).unwrap();
        assert_eq!(
            u64::from(n),
            (done as f64 * (1.1f64 * 1.1 - 1.0)).ceil() as u64
        );
        // Almost there (or there, with too few batches to stop): never below s0.
        assert_eq!(plan.batch_size(10, done, sigma(0.02)), Some(s0 as u32));
        // No voxel above the threshold yet (σ infinite): batches stay at s0.
        assert_eq!(
            plan.batch_size(10, done, sigma(f64::INFINITY)),
            Some(s0 as u32)
        );
    }

    #[test]
    fn target_batches_end_at_the_decay_cap() {
        let plan = BatchPlan::new(
            StopRule::TargetUncertainty {
                relative: 0.001,
                threshold: 0.5,
                max_decays: 50_000,
            },
            10,
        );
        let (mut done, mut b) = (0u64, 0u32);
        while let Some(n) = plan.batch_size(b, done, sigma(0.5)) {
            done += u64::from(n);
            b += 1;
            assert!(b < 100, "the plan must end");
        }
        assert_eq!(done, 50_000);
        assert!(plan.done(b, done, sigma(0.5)));
    }

    #[test]
    fn the_estimate_extrapolates_to_the_decays_this_process_runs() {
        let plan = BatchPlan::new(StopRule::Decays(1003), 10);
        assert_eq!(plan.planned(0, 0, None).decays, 1003);
        // After a checkpoint of three batches (101 decays each), the rest.
        assert_eq!(plan.planned(3, 303, None).decays, 700);
        // A shard of the even batches: their own decays.
        let even = |b: u32| b.is_multiple_of(2);
        let own: u64 = (0..10)
            .filter(|&b| even(b))
            .filter_map(|b| plan.batch_size(b, 0, None))
            .map(u64::from)
            .sum();
        assert_eq!(plan.planned(0, 0, Some(&even)).decays, own);
        assert!(own > 0 && own < 1003);
        assert_eq!(plan.planned(0, 0, None).target, None);
        // A target run: up to the cap, and not before its first ten batches of max/100.
        let target = BatchPlan::new(
            StopRule::TargetUncertainty {
                relative: 0.02,
                threshold: 0.5,
                max_decays: 1_000_000,
            },
            20,
        );
        let p = target.planned(0, 0, None);
        assert_eq!(p.decays, 1_000_000);
        assert_eq!(p.target, Some((0.02, 0.5, 100_000, 1_000_000)));
    }

    #[test]
    fn a_decay_count_whose_batches_overflow_a_launch_is_refused() {
        // 1e13 in 20 batches: 5e11 decays a batch, more than a u32 launch holds.
        let e = BatchPlan::new(StopRule::Decays(10_000_000_000_000), 20)
            .check_batch_sizes()
            .unwrap_err();
        assert!(e.to_string().contains("give --batches 2329 or more"), "{e}");
        assert!(BatchPlan::new(StopRule::Decays(10_000_000_000_000), 2329)
            .check_batch_sizes()
            .is_ok());
    }

    /// Drives `plan` as the GPU driver does (`transport::gpu::run`), launching batch b + 1
    /// ahead whenever `size_ahead` allows it, with σ after batch b from `sigma_after(b)`; returns the
    /// sizes run. Any batch launched ahead must be one the serial loop runs too.
    fn run_ahead(
        plan: &BatchPlan,
        sigma_after: impl Fn(u32) -> Option<UncertaintySummary>,
    ) -> Vec<u32> {
        let (mut sizes, mut done, mut b) = (Vec::new(), 0u64, 0u32);
        let mut next = plan.batch_size(0, 0, None);
        while let Some(n) = next.take() {
            let after = done + u64::from(n);
            if let Some(ahead) = plan.size_ahead(b + 1, after) {
                next = ahead;
            }
            sizes.push(n);
            done = after;
            b += 1;
            let now = sigma_after(b - 1);
            if plan.done(b, done, now) {
                assert_eq!(next, None, "a batch was launched past the end of the run");
                break;
            }
            if next.is_none() {
                next = plan.batch_size(b, done, now);
            }
        }
        sizes
    }

    /// The serial loop of `simulate_cpu`.
    fn run_serial(
        plan: &BatchPlan,
        sigma_after: impl Fn(u32) -> Option<UncertaintySummary>,
    ) -> Vec<u32> {
        let (mut sizes, mut done, mut b, mut sigma) = (Vec::new(), 0u64, 0u32, None);
        while let Some(n) = plan.batch_size(b, done, sigma) {
            sizes.push(n);
            done += u64::from(n);
            b += 1;
            let now = sigma_after(b - 1);
            if plan.done(b, done, now) {
                break;
            }
            sigma = now;
        }
        sizes
    }

    #[test]
    fn batches_launched_ahead_are_the_batches_the_serial_plan_runs() {
        // σ falling as N^-1/2 from 10 % after the first batch.
        let falling = |b: u32| sigma(0.1 / f64::from(b + 1).sqrt());
        let target = |relative, max_decays| {
            BatchPlan::new(
                StopRule::TargetUncertainty {
                    relative,
                    threshold: 0.5,
                    max_decays,
                },
                20,
            )
        };
        let plans = [
            BatchPlan::new(StopRule::Decays(1003), 10),
            // Fewer decays than batches: the plan ends after 5 batches of 1.
            BatchPlan::new(StopRule::Decays(5), 20),
            target(0.02, 1 << 30),
            target(0.001, 50_000),
            // Reached within the first ten batches: stops at the tenth.
            target(0.5, 1 << 30),
        ];
        for plan in &plans {
            assert_eq!(run_ahead(plan, falling), run_serial(plan, falling));
        }
        // What may start ahead: every batch of a Decays run, the first ten of a target run.
        let t = target(0.02, 1 << 30);
        assert_eq!(t.size_ahead(9, 9 << 17), Some(Some(1 << 17)));
        assert_eq!(t.size_ahead(10, 10 << 17), None);
        let d = BatchPlan::new(StopRule::Decays(1003), 10);
        assert_eq!(d.size_ahead(9, 903), Some(Some(100)));
        assert_eq!(d.size_ahead(10, 1003), Some(None));
    }
}
