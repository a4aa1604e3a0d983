//! [`simulate_gpu`]: the transport on a wgpu device, with the CPU driver's semantics.
//!
//! The sequence mirrors `transport::driver::simulate_cpu` step for step:
//! 1. `driver::prepare` builds the same tables, majorant and parameters;
//! 2. the grid, tables and an empty tally go to the device (memory estimate printed first);
//! 3. per batch (`BatchPlan`, the CPU's batch sizes and stop rule): clear the tally, one
//!    `decay_history` dispatch per ≤ 65535 workgroups, history ids continuing across batches
//!    (stream = (seed, history)), so a given seed reproduces the run bit for bit;
//! 4. read the batch tally back piece by piece and fold it into `BatchStatistics` with the
//!    CPU driver's fold (`DeviceTally::fold_batch`); counters come from the workgroup-summed
//!    buffer;
//! 5. `driver::finish` turns the statistics into dose per decay and uncertainties.

use super::device::GpuContext;
use super::grid::{estimate_memory, DeviceGrid};
use super::physics::{pack, DevicePhysics};
use super::pipelines::{self, TransportConstants, DECAY_HISTORY};
use super::tally::{self, DeviceTally};
use super::DeviceError;
use crate::geometry::VoxelModel;
use crate::physics::tables::UNITS_PER_KEV;
use crate::source::SourceSpec;
use crate::tally::{BatchStatistics, BatchSums};
use crate::transport::cpu::HistoryCounters;
use crate::transport::driver::{self, region_voxels, uncertainty_above, BatchPlan};
use crate::transport::gpu_types::{Counter, N_COUNTERS};
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
    let mut packed = pack(&prep);
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
    }
    let estimate = estimate_memory(n_vox as u64, ctx.binding_limit_bytes(), &extra)?;
    eprintln!("voxdose: {estimate} on {}", ctx.adapter_info.name);
    let grid = DeviceGrid::upload(ctx, model)?;
    let tallies = (0..if overlap { 2 } else { 1 })
        .map(|_| DeviceTally::new(ctx, n_vox as u64))
        .collect::<Result<Vec<_>, _>>()?;
    let constants = TransportConstants {
        tally_chunks: tallies[0].plan.n_chunks,
        density_chunks: grid.density_plan.n_chunks,
        histories_per_block: ctx.histories_per_block(),
    };
    let block = constants.histories_per_block;
    let pipeline = pipelines::create_with(ctx, DECAY_HISTORY, &constants.pairs())?;
    let phys = DevicePhysics::upload(ctx, &prep, &packed)?;
    let g1 = pipeline.bind(ctx, 1, &grid.buffers())?;
    let g3 = pipeline.bind_resources(ctx, 3, &phys.resources())?;
    let g2 = tallies
        .iter()
        .map(|t| pipeline.bind(ctx, 2, &t.buffers()))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = |slot: usize| [None, Some(&g1), Some(&g2[slot]), Some(&g3)];
    // Histories per dispatch: a block per invocation, and below 2^25 so that the kernel's
    // local stream index (history · 128 + k) fits in a u32.
    let per_dispatch = pipeline
        .max_invocations_per_dispatch(ctx)
        .saturating_mul(block)
        .min(MAX_HISTORIES_PER_DISPATCH);
    // lavapipe compiles a kernel at its first dispatch, not with the pipeline (≈ 20 s on two
    // cores when Mesa's shader cache is cold): a dispatch of no histories, before the clock,
    // keeps the compile out of the transport time and decays/s.
    packed.params.n_histories = 0;
    ctx.queue
        .write_buffer(&phys.uniform.buffer, 0, bytemuck::bytes_of(&packed.params));
    pipeline.dispatch(ctx, &groups(0), 1);
    ctx.wait()?;
    // Submits batch `n` decays from history `first` on tally `slot`: clear, dispatches, and
    // (one-chunk tallies) the queued read-back, whose submission it returns.
    let mut launch = |slot: usize, first: u64, n: u32| -> Result<Launched> {
        tallies[slot].clear(ctx)?;
        let mut done_in_batch = 0u32;
        while done_in_batch < n {
            let count = (n - done_in_batch).min(per_dispatch);
            let start = first + u64::from(done_in_batch);
            packed.params.seed_lo = settings.seed as u32;
            packed.params.seed_hi = (settings.seed >> 32) as u32;
            packed.params.first_history_lo = start as u32;
            packed.params.first_history_hi = (start >> 32) as u32;
            packed.params.n_histories = count;
            // Queue-ordered: a batch submitted earlier still reads its own parameters.
            ctx.queue
                .write_buffer(&phys.uniform.buffer, 0, bytemuck::bytes_of(&packed.params));
            tallies[slot].reset_queue(ctx);
            // One invocation per block of the work queue, each taking up to
            // `BLOCKS_PER_INVOCATION` blocks (decay_history.wgsl) until none is left.
            let workgroups = pipeline.workgroups_for(ctx, count.div_ceil(block))?;
            pipeline.dispatch(ctx, &groups(slot), workgroups);
            done_in_batch += count;
        }
        let read_back = if overlap {
            Some(tallies[slot].queue_read_back(ctx)?)
        } else {
            None
        };
        Ok(Launched { slot, n, read_back })
    };

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
    let mut next = match plan.batch_size(0, 0, None) {
        Some(n) => Some(launch(0, 0, n)?),
        None => None,
    };
    while let Some(current) = next.take() {
        let n = current.n;
        let after = decays_done + u64::from(n);
        // The next batch goes to the device before this one is folded, when its size is
        // already known; otherwise it waits for this batch's σ.
        if overlap {
            if let Some(Some(n_next)) = plan.size_ahead(batch + 1, after) {
                next = Some(launch(1 - current.slot, after, n_next)?);
            }
        }
        let tally = &tallies[current.slot];
        let deposited_before = stats.deposited_units;
        let c = match current.read_back {
            Some(submission) => tally.fold_queued(
                ctx,
                submission,
                &mut stats,
                u64::from(n),
                &regions,
                &mut region_stats,
                &mut statistics_s,
            )?,
            None => {
                ctx.wait()?;
                let fold_start = Instant::now();
                tally.fold_batch(ctx, &mut stats, u64::from(n), &regions, &mut region_stats)?;
                statistics_s += fold_start.elapsed().as_secs_f64();
                tally.read_counters(ctx)?
            }
        };
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
                Some(n) => Some(launch(current.slot, decays_done, n)?),
                None => None,
            };
        }
    }
    // A batch launched ahead of a stop the plan could not foresee is not possible: the
    // sizes `size_ahead` gives are those of batches the plan always runs.
    debug_assert!(next.is_none());
    progress.finish();
    let wall_s = start.elapsed().as_secs_f64();
    // One invocation per block of the first batch's first dispatch.
    let invocations = per_dispatch.min(plan_first_batch(&plan)).div_ceil(block);
    let info = ctx.device_info(u64::from(invocations));
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
