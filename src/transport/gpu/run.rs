//! [`simulate_gpu`]: the transport on a wgpu device, with the CPU driver's semantics.
//!
//! The sequence mirrors `transport::driver::simulate_cpu` step for step:
//! 1. `driver::prepare` builds the same tables, majorant and parameters;
//! 2. the grid, tables and an empty tally go to the device (memory estimate printed first);
//! 3. per batch (`BatchPlan`, the CPU's batch sizes and stop rule): clear the tally, one
//!    `decay_history` dispatch per ≤ 65535 workgroups, history ids continuing across batches
//!    (stream = (seed, history)), so a given seed reproduces the run bit for bit;
//! 4. fold the batch tally into `BatchStatistics` with the CPU driver's fold: a one-chunk
//!    tally read back whole (`DeviceTally::fold_queued`), a larger one as the list of voxels
//!    that scored (`DeviceTally::take_scored`, `BatchFold::scored`); counters come from the
//!    workgroup-summed buffer. Every batch is checked (`check_batch`): on a software adapter
//!    before its fold, and a batch the driver cut short is discarded and run again with fewer
//!    decays per invocation (the same histories on the same streams, so the same dose bit for
//!    bit);
//!    elsewhere, or at one decay per invocation, the run fails;
//! 5. `driver::finish` turns the statistics into dose per decay and uncertainties.

use super::device::GpuContext;
use super::grid::{estimate_memory, DeviceGrid};
use super::physics::{pack, DevicePhysics};
use super::pipelines::{self, Pipeline, TransportConstants, DECAY_HISTORY};
use super::tally::{self, Compactor, DeviceTally};
use super::DeviceError;
use crate::geometry::VoxelModel;
use crate::physics::tables::UNITS_PER_KEV;
use crate::source::SourceSpec;
use crate::tally::{BatchStatistics, BatchSums};
use crate::transport::cpu::HistoryCounters;
use crate::transport::driver::{self, region_voxels, uncertainty_above, BatchPlan};
use crate::transport::gpu_types::{Counter, PhysicsParams, N_COUNTERS};
use crate::transport::{TransportResult, TransportSettings};
use crate::Result;
use std::time::Instant;

/// Most histories one dispatch takes (see `decay_history.wgsl`, `particle_stream`).
const MAX_HISTORIES_PER_DISPATCH: u32 = 1 << 25;

/// Runs the transport on the device `settings.device` asks for: `gpu` — any Vulkan adapter,
/// lavapipe included, or [`super::DeviceError::NoAdapter`]; `auto` — a real GPU, else the CPU
/// reference (`driver::simulate_cpu`); `cpu` — the CPU reference. Same batches, stop rule,
/// statistics and result type as the CPU driver.
pub fn simulate_gpu(
    model: &VoxelModel,
    source: &SourceSpec,
    settings: &TransportSettings,
) -> Result<TransportResult> {
    match super::device::select(settings.device)? {
        Some(ctx) => simulate_on(&ctx, model, source, settings),
        None => driver::simulate_cpu(model, source, settings),
    }
}

/// [`simulate_gpu`] on an open device (tests reuse one context, or force a binding limit).
pub fn simulate_on(
    ctx: &GpuContext,
    model: &VoxelModel,
    source: &SourceSpec,
    settings: &TransportSettings,
) -> Result<TransportResult> {
    let prep = driver::prepare(model, source, settings)?;
    let n_vox = model.grid.n_voxels();
    let packed = pack(&prep);
    let table_bytes = 4 * (packed.ftab.len() + packed.utab.len()) as u64
        + 8 * packed.ptab.len() as u64
        + table_texture_bytes(prep.source.alias.len() as u64);
    // A one-chunk tally is double-buffered: while the host folds batch b, the device runs
    // batch b + 1 on the second tally, whenever that batch's size does not depend on batch
    // b's σ (`BatchPlan::size_ahead`). Larger tallies keep one copy and wait per batch.
    let tally_plan = tally::plan(n_vox as u64, ctx.binding_limit_bytes())?;
    let overlap = tally_plan.n_chunks == 1;
    let mut extra = vec![("tables", table_bytes)];
    if overlap {
        extra.push((
            "second batch tally + staging",
            2 * tally_plan.device_bytes(),
        ));
    } else if ctx.compacts_on_device() {
        // The voxels that scored are listed on the device (`tally_compact`) and only they
        // are read back.
        extra.push((
            "scored-voxel list",
            tally::compact_list_bytes(n_vox as u64, ctx.binding_limit_bytes()),
        ));
    }
    let estimate = estimate_memory(n_vox as u64, ctx.binding_limit_bytes(), &extra)?;
    eprintln!("voxdose: {estimate} on {}", ctx.adapter_info.name);
    let grid = DeviceGrid::upload(ctx, model)?;
    let tallies = (0..if overlap { 2 } else { 1 })
        .map(|_| DeviceTally::new(ctx, n_vox as u64))
        .collect::<Result<Vec<_>, _>>()?;
    let phys = DevicePhysics::upload(ctx, &prep, &packed)?;
    let bound = Bound {
        ctx,
        grid: &grid,
        tallies: &tallies,
        phys: &phys,
        params: packed.params,
        seed: settings.seed,
        overlap,
    };
    // A block size in the settings (`voxdose bench --decays-per-block`) overrides the device's.
    let block = settings.decays_per_block.map_or(
        ctx.histories_per_block(),
        super::device::valid_histories_per_block,
    );
    let first_compile = Instant::now();
    let mut kernel = bound.kernel(TransportConstants {
        tally_chunks: tallies[0].plan.n_chunks,
        density_chunks: grid.density_plan.n_chunks,
        histories_per_block: block,
        blocks_per_invocation: ctx.blocks_per_invocation(),
    })?;
    let compactor = if overlap || !ctx.compacts_on_device() {
        None
    } else {
        Some(Compactor::new(ctx, &tallies[0])?)
    };
    let first_compile_s = first_compile.elapsed().as_secs_f64();

    let mut stats = BatchStatistics::new(n_vox);
    let mut region_stats = vec![BatchSums::default(); model.regions.len()];
    let regions = region_voxels(model);
    let mut counters = HistoryCounters::default();
    let plan = BatchPlan::new(settings.stop, settings.batches);
    let progress =
        crate::report::progress::Progress::new(settings.progress, plan.expected_decays());
    let start = Instant::now();
    let mut decays_done = 0u64;
    let mut batch = 0u32;
    let mut statistics_s = 0.0;
    let mut reruns = 0u32;
    let mut recompile_s = 0.0;
    let mut next = match plan.batch_size(0, 0, None) {
        Some(n) => Some(bound.launch(&kernel, 0, 0, n)?),
        None => None,
    };
    while let Some(current) = next.take() {
        let n = current.n;
        let after = decays_done + u64::from(n);
        // The next batch goes to the device before this one is folded, when its size is
        // already known; otherwise it waits for this batch's σ.
        if overlap {
            if let Some(Some(n_next)) = plan.size_ahead(batch + 1, after) {
                next = Some(bound.launch(&kernel, 1 - current.slot, after, n_next)?);
            }
        }
        let tally = &tallies[current.slot];
        let deposited_before = stats.deposited_units;
        // A batch may be run again only if it is checked before it is folded.
        let rerun_possible = kernel.can_shrink(ctx);
        let check = |c: &[u64; N_COUNTERS as usize], deposited: u64| {
            check_batch(batch, u64::from(n), c, deposited)
        };
        let folded = match current.read_back {
            Some(submission) => tally.fold_queued(
                ctx,
                submission,
                &mut stats,
                u64::from(n),
                &regions,
                &mut region_stats,
                &mut statistics_s,
                check,
            ),
            // A tally of several chunks: the voxels that scored are listed (on a GPU by the
            // device, `Compactor`; on lavapipe by the host from one read-back), and the host
            // checks and folds that list (`BatchFold::scored`).
            None => (|| {
                ctx.wait()?;
                let c = tally.read_counters(ctx)?;
                let fold_start = Instant::now();
                let mut scored = tally.take_scored(ctx, compactor.as_ref())?;
                let checked = if rerun_possible {
                    check(&c, tally::scored_units(&scored))
                } else {
                    Ok(())
                };
                if checked.is_ok() {
                    let mut fold = stats.begin_batch(u64::from(n), &regions);
                    fold.scored(&mut scored);
                    fold.finish(&mut region_stats);
                }
                statistics_s += fold_start.elapsed().as_secs_f64();
                checked.map(|()| c)
            })(),
        };
        let c = match folded {
            Ok(c) => c,
            // lavapipe's loop limit (see `BLOCKS_PER_INVOCATION` in decay_history.wgsl): the
            // batch, not yet folded, is discarded whole and run again with fewer decays per
            // invocation. Its histories keep their streams, so the dose does not change.
            Err(DeviceError::Incomplete { .. }) if rerun_possible => {
                // A batch launched ahead is discarded too (`next` is replaced below), and
                // launched again after this one.
                ctx.wait()?;
                let smaller = kernel.constants.smaller();
                eprintln!(
                    "voxdose: batch {batch} came back cut short on {} (lavapipe ends a \
                     kernel's loops after 65535 iterations); running it again with {} decays \
                     per block, {} blocks per invocation (the dose does not change)",
                    ctx.adapter_info.name,
                    smaller.histories_per_block,
                    smaller.blocks_per_invocation
                );
                let compile_start = Instant::now();
                kernel = bound.kernel(smaller)?;
                recompile_s += compile_start.elapsed().as_secs_f64();
                reruns += 1;
                next = Some(bound.launch(&kernel, current.slot, decays_done, n)?);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // The whole fold's balance, whether or not it was checked before the fold.
        check_batch(
            batch,
            u64::from(n),
            &c,
            stats.deposited_units - deposited_before,
        )?;
        counters = counters.merge(history_counters(&c));
        decays_done = after;
        batch += 1;
        // σ after each batch, where the stop rule or the progress bar needs it.
        let sigma_start = Instant::now();
        let now = (plan.checks_sigma() || progress.is_shown())
            .then(|| uncertainty_above(&stats, model, plan.threshold()));
        statistics_s += sigma_start.elapsed().as_secs_f64();
        progress.update(decays_done, now);
        if plan.done(batch, decays_done, now) {
            break;
        }
        if next.is_none() {
            next = match plan.batch_size(batch, decays_done, now) {
                Some(n) => Some(bound.launch(&kernel, current.slot, decays_done, n)?),
                None => None,
            };
        }
    }
    // A batch launched ahead of a stop the plan could not foresee is not possible: the
    // sizes `size_ahead` gives are those of batches the plan always runs.
    debug_assert!(next.is_none());
    progress.finish();
    // Transport time: a rerun's kernel compile is not transport (as the first compile, which
    // runs before the clock), the discarded batch is.
    let wall_s = start.elapsed().as_secs_f64() - recompile_s;
    // One invocation per block of the first batch's first dispatch, in the final shape.
    let invocations = kernel
        .per_dispatch
        .min(plan_first_batch(&plan))
        .div_ceil(kernel.constants.histories_per_block);
    let mut info = ctx.device_info(u64::from(invocations));
    info.decays_per_block = Some(kernel.constants.histories_per_block);
    info.rerun_batches = Some(reruns);
    info.compile_s = Some(first_compile_s + recompile_s);
    Ok(driver::finish(
        model,
        &stats,
        &region_stats,
        counters,
        wall_s,
        statistics_s,
        info,
    ))
}

/// What every batch of a run is bound to: the device, the grid, tallies and physics on it,
/// the physics parameters (the per-dispatch fields set at each launch) and the seed.
struct Bound<'a> {
    ctx: &'a GpuContext,
    grid: &'a DeviceGrid,
    tallies: &'a [DeviceTally],
    phys: &'a DevicePhysics,
    params: PhysicsParams,
    seed: u64,
    overlap: bool,
}

/// `decay_history` compiled for one set of override constants, with its bind groups.
struct Kernel {
    constants: TransportConstants,
    pipeline: Pipeline,
    grid: wgpu::BindGroup,
    tallies: Vec<wgpu::BindGroup>,
    physics: wgpu::BindGroup,
    /// Histories per dispatch: a block per invocation, and below 2^25 so that the kernel's
    /// local stream index (history · 128 + k) fits in a u32.
    per_dispatch: u32,
}

impl Kernel {
    /// The bind groups of a dispatch on tally `slot`.
    fn groups(&self, slot: usize) -> [Option<&wgpu::BindGroup>; 4] {
        [
            None,
            Some(&self.grid),
            Some(&self.tallies[slot]),
            Some(&self.physics),
        ]
    }

    /// True when a batch cut short can be run again with fewer decays per invocation: on a
    /// software adapter, whose loop limit is what cuts a kernel short, while an invocation
    /// still takes more than one decay.
    fn can_shrink(&self, ctx: &GpuContext) -> bool {
        ctx.is_software()
            && self.constants.histories_per_block * self.constants.blocks_per_invocation > 1
    }
}

impl TransportConstants {
    /// A quarter of the decays per invocation: blocks a quarter the size (32 → 8 → 2 → 1),
    /// then a quarter of the blocks. Each step costs lavapipe a kernel compile (≈ 8 s with a
    /// cold shader cache), so it steps by 4, not 2.
    fn smaller(self) -> Self {
        let mut out = self;
        if self.histories_per_block > 1 {
            out.histories_per_block = (self.histories_per_block / 4).max(1);
        } else {
            out.blocks_per_invocation = (self.blocks_per_invocation / 4).max(1);
        }
        out
    }
}

impl Bound<'_> {
    /// Compiles `decay_history` with `constants`, binds it, and runs a dispatch of no
    /// histories: lavapipe compiles a kernel at its first dispatch, not with the pipeline
    /// (≈ 8 s on two cores when Mesa's shader cache is cold), and this keeps the compile out
    /// of the transport time and decays/s.
    fn kernel(&self, constants: TransportConstants) -> Result<Kernel> {
        let ctx = self.ctx;
        let pipeline = pipelines::create_with(ctx, DECAY_HISTORY, &constants.pairs())?;
        let kernel = Kernel {
            grid: pipeline.bind(ctx, 1, &self.grid.buffers())?,
            physics: pipeline.bind_resources(ctx, 3, &self.phys.resources())?,
            tallies: self
                .tallies
                .iter()
                .map(|t| pipeline.bind(ctx, 2, &t.buffers()))
                .collect::<Result<Vec<_>, _>>()?,
            per_dispatch: pipeline
                .max_invocations_per_dispatch(ctx)
                .saturating_mul(constants.histories_per_block)
                .min(MAX_HISTORIES_PER_DISPATCH),
            constants,
            pipeline,
        };
        let mut params = self.params;
        params.n_histories = 0;
        ctx.queue
            .write_buffer(&self.phys.uniform.buffer, 0, bytemuck::bytes_of(&params));
        kernel.pipeline.dispatch(ctx, &kernel.groups(0), 1);
        ctx.wait()?;
        Ok(kernel)
    }

    /// Submits a batch of `n` decays from history `first` on tally `slot`: clear, dispatches,
    /// and (one-chunk tallies) the queued read-back, whose submission it returns.
    fn launch(&self, kernel: &Kernel, slot: usize, first: u64, n: u32) -> Result<Launched> {
        let ctx = self.ctx;
        let tally = &self.tallies[slot];
        tally.clear(ctx)?;
        let block = kernel.constants.histories_per_block;
        let mut params = self.params;
        params.seed_lo = self.seed as u32;
        params.seed_hi = (self.seed >> 32) as u32;
        let mut done_in_batch = 0u32;
        while done_in_batch < n {
            let count = (n - done_in_batch).min(kernel.per_dispatch);
            let start = first + u64::from(done_in_batch);
            params.first_history_lo = start as u32;
            params.first_history_hi = (start >> 32) as u32;
            params.n_histories = count;
            // Queue-ordered: a batch submitted earlier still reads its own parameters.
            ctx.queue
                .write_buffer(&self.phys.uniform.buffer, 0, bytemuck::bytes_of(&params));
            tally.reset_queue(ctx);
            // One invocation per block of the work queue, each taking up to
            // `BLOCKS_PER_INVOCATION` blocks (decay_history.wgsl) until none is left.
            let workgroups = kernel.pipeline.workgroups_for(ctx, count.div_ceil(block))?;
            kernel
                .pipeline
                .dispatch(ctx, &kernel.groups(slot), workgroups);
            done_in_batch += count;
        }
        let read_back = if self.overlap {
            Some(tally.queue_read_back(ctx)?)
        } else {
            None
        };
        Ok(Launched { slot, n, read_back })
    }
}

/// A batch on the device: its tally slot, its decays and its queued read-back.
struct Launched {
    slot: usize,
    n: u32,
    read_back: Option<wgpu::SubmissionIndex>,
}

/// Bytes of the source table texture for `n` alias columns (whole rows).
fn table_texture_bytes(n: u64) -> u64 {
    use super::buffers::{table_rows, SOURCE_TEXEL_BYTES, SOURCE_TEXTURE_WIDTH};
    u64::from(table_rows(n, SOURCE_TEXTURE_WIDTH))
        * u64::from(SOURCE_TEXTURE_WIDTH)
        * SOURCE_TEXEL_BYTES
}

fn plan_first_batch(plan: &BatchPlan) -> u32 {
    plan.batch_size(0, 0, None).unwrap_or(0)
}

/// The device counters as the CPU's `HistoryCounters`.
fn history_counters(c: &[u64; N_COUNTERS as usize]) -> HistoryCounters {
    HistoryCounters {
        emitted_units: c[Counter::Emitted as usize],
        escaped_units: c[Counter::Escaped as usize],
        electron_path_mm: c[Counter::ElectronPath as usize] as f64 / f64::from(UNITS_PER_KEV),
        photon_interactions: c[Counter::PhotonInteractions as usize],
        electron_steps: c[Counter::ElectronSteps as usize],
        truncated_tracks: c[Counter::TruncatedTracks as usize],
    }
}

/// Checks that batch `batch` of `histories` came back whole: the device counted every
/// history, and the energy emitted equals the energy tallied plus the energy that escaped
/// (exact in fixed-point units, whatever the order of the atomic adds).
pub fn check_batch(
    batch: u32,
    histories: u64,
    counters: &[u64; N_COUNTERS as usize],
    deposited: u64,
) -> std::result::Result<(), DeviceError> {
    let done = counters[Counter::Histories as usize];
    let emitted = counters[Counter::Emitted as usize];
    let escaped = counters[Counter::Escaped as usize];
    if done == histories && deposited.checked_add(escaped) == Some(emitted) {
        return Ok(());
    }
    Err(DeviceError::Incomplete {
        batch,
        histories_done: done,
        histories,
        emitted,
        deposited,
        escaped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(histories: u64, emitted: u64, escaped: u64) -> [u64; N_COUNTERS as usize] {
        let mut c = [0; N_COUNTERS as usize];
        c[Counter::Histories as usize] = histories;
        c[Counter::Emitted as usize] = emitted;
        c[Counter::Escaped as usize] = escaped;
        c
    }

    #[test]
    fn a_rerun_quarters_the_decays_per_invocation_down_to_one() {
        let shape = |c: TransportConstants| (c.histories_per_block, c.blocks_per_invocation);
        let mut c = TransportConstants {
            tally_chunks: 3,
            density_chunks: 2,
            histories_per_block: 32,
            blocks_per_invocation: 16,
        };
        let mut seen = vec![shape(c)];
        while shape(c) != (1, 1) {
            let next = c.smaller();
            assert_eq!(
                (next.tally_chunks, next.density_chunks),
                (3, 2),
                "the grid's constants stay"
            );
            c = next;
            seen.push(shape(c));
        }
        assert_eq!(seen, [(32, 16), (8, 16), (2, 16), (1, 16), (1, 4), (1, 1)]);
    }

    #[test]
    fn a_whole_balanced_batch_passes() {
        assert!(check_batch(0, 1000, &counters(1000, 700, 200), 500).is_ok());
    }

    #[test]
    fn missing_histories_or_unbalanced_energy_fail_the_batch() {
        let short = check_batch(3, 1000, &counters(999, 700, 200), 500).unwrap_err();
        assert!(
            matches!(
                short,
                DeviceError::Incomplete {
                    batch: 3,
                    histories_done: 999,
                    ..
                }
            ),
            "{short:?}"
        );
        let text = short.to_string();
        assert!(
            text.contains("999 of 1000") && text.contains("--device cpu"),
            "{text}"
        );
        // Every history counted, but one was cut off mid-track: its energy never reached
        // the tally.
        let cut = check_batch(0, 1000, &counters(1000, 700, 200), 499).unwrap_err();
        assert!(
            matches!(cut, DeviceError::Incomplete { deposited: 499, .. }),
            "{cut:?}"
        );
        // An overflowing sum is not a balance.
        assert!(check_batch(0, 1, &counters(1, 5, u64::MAX), 6).is_err());
    }
}
