//! [`GpuBackend`]: the transport on a wgpu device, the GPU side of the one batch loop
//! (`transport::driver::run_batches`; the CPU side is `transport::cpu::run::CpuBackend`).
//!
//! 1. `driver::prepare` builds the same tables, majorant and parameters as for the CPU;
//! 2. [`GpuBackend::new`]: the grid, tables and an empty tally go to the device (memory
//!    estimate to the observer first), and `decay_history` is compiled;
//! 3. `launch`: clear the tally, one `decay_history` dispatch per ≤ 65535 workgroups, history
//!    ids continuing across batches (stream = (seed, history)), so a given seed reproduces the
//!    run bit for bit. A one-chunk tally is double-buffered, so the loop launches batch b + 1
//!    on the second tally while batch b is folded;
//! 4. `collect`: fold the batch tally into `BatchStatistics` with the CPU driver's fold: a
//!    one-chunk tally read back whole (`DeviceTally::fold_queued`), a larger one as the list
//!    of voxels that scored (`DeviceTally::take_scored`, `BatchFold::scored`); counters come
//!    from the workgroup-summed buffer. Every batch is checked ([`check_batch`]): on a
//!    software adapter before its fold, and a batch the driver cut short is discarded and run
//!    again with fewer decays per invocation (the same histories on the same streams, so the
//!    same dose bit for bit); elsewhere, or at one decay per invocation, the run fails;
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
use crate::transport::backend::{Backend, Fold, PilotPart};
use crate::transport::cpu::HistoryCounters;
use crate::transport::driver::{self, BatchPlan, Prepared};
use crate::transport::gpu_types::{Counter, PhysicsParams, N_COUNTERS};
use crate::transport::{DeviceInfo, Observer, TransportResult, TransportSettings};
use crate::Result;
use std::time::Instant;

/// Most histories one dispatch takes (see `decay_history.wgsl`, `particle_stream`).
const MAX_HISTORIES_PER_DISPATCH: u32 = 1 << 25;

/// The transport on an open wgpu device (tests reuse one context, or force a binding limit).
pub fn simulate_on(
    ctx: &GpuContext,
    model: &VoxelModel,
    source: &SourceSpec,
    settings: &TransportSettings,
    observer: &mut dyn Observer,
) -> Result<TransportResult> {
    simulate_on_with(ctx, model, source, settings, Default::default(), observer)
}

/// [`simulate_on`] with a [`driver::Schedule`].
pub fn simulate_on_with(
    ctx: &GpuContext,
    model: &VoxelModel,
    source: &SourceSpec,
    settings: &TransportSettings,
    schedule: driver::Schedule<'_>,
    observer: &mut dyn Observer,
) -> Result<TransportResult> {
    let prep = driver::prepare(model, source, settings)?;
    let mut backend = GpuBackend::new(ctx, model, &prep, settings, observer)?;
    let plan = BatchPlan::new(settings.stop, settings.batches);
    let mut run = driver::run_batches(&mut backend, model, &plan, schedule, observer)?;
    let device = backend.device_info(run.first_batch);
    let mut result = driver::finish(model, &run, device);
    result.done = std::mem::take(&mut run.done);
    Ok(result)
}

/// One problem on a wgpu device: its grid, tallies and tables on the device, the compiled
/// kernel, and the run's compile and rerun bookkeeping.
pub struct GpuBackend<'a> {
    ctx: &'a GpuContext,
    grid: DeviceGrid,
    tallies: Vec<DeviceTally>,
    phys: DevicePhysics,
    /// The physics parameters; the per-dispatch fields are set at each launch.
    params: PhysicsParams,
    seed: u64,
    /// Two tallies, batches alternating between them (see [`GpuBackend::new`]).
    overlap: bool,
    kernel: Kernel,
    compactor: Option<Compactor>,
    /// The slot the last launch used.
    last_slot: usize,
    /// Batches collected so far (the index of the next one to collect).
    collected: u32,
    first_compile_s: f64,
    recompile_s: f64,
    reruns: u32,
    /// The first history of the pilot whose parts are on the next slot's tally (see
    /// [`Backend::pilot_part`]), until the rest of its batch is launched.
    pilot_first: Option<u64>,
    /// The pilot's tally as last listed (voxel order), for the next part's growth.
    pilot_scored: Vec<(u32, u64)>,
}

impl<'a> GpuBackend<'a> {
    /// Uploads `model` and the tables `prep` to `ctx` and compiles `decay_history`.
    ///
    /// A one-chunk tally is double-buffered: while the host folds batch b, the device runs
    /// batch b + 1 on the second tally, whenever that batch's size does not depend on batch
    /// b's σ (`BatchPlan::size_ahead`). Larger tallies keep one copy and wait per batch.
    pub fn new(
        ctx: &'a GpuContext,
        model: &VoxelModel,
        prep: &Prepared,
        settings: &TransportSettings,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        let n_vox = model.grid.n_voxels() as u64;
        let packed = pack(prep);
        let tally_plan = tally::plan(n_vox, ctx.binding_limit_bytes())?;
        let overlap = tally_plan.n_chunks == 1;
        let estimate = estimate_memory(
            n_vox,
            ctx.binding_limit_bytes(),
            &extra_memory(ctx, prep, &packed, &tally_plan, overlap, n_vox),
        )?;
        observer.note(&format!("{estimate} on {}", ctx.adapter_info.name));
        let grid = DeviceGrid::upload(ctx, model)?;
        let tallies = (0..if overlap { 2 } else { 1 })
            .map(|_| DeviceTally::new(ctx, n_vox))
            .collect::<Result<Vec<_>, _>>()?;
        let phys = DevicePhysics::upload(ctx, prep, &packed)?;
        // A block size in the settings (`voxdose bench --decays-per-block`) overrides the
        // device's.
        let block = settings.decays_per_block.map_or(
            ctx.histories_per_block(),
            super::device::valid_histories_per_block,
        );
        let constants = TransportConstants {
            tally_chunks: tallies[0].plan.n_chunks,
            density_chunks: grid.density_plan.n_chunks,
            histories_per_block: block,
            blocks_per_invocation: ctx.blocks_per_invocation(),
        };
        let compile = Instant::now();
        let kernel = Kernel::compile(ctx, &grid, &tallies, &phys, packed.params, constants)?;
        let compactor = if overlap || !ctx.compacts_on_device() {
            None
        } else {
            Some(Compactor::new(ctx, &tallies[0])?)
        };
        Ok(GpuBackend {
            ctx,
            grid,
            tallies,
            phys,
            params: packed.params,
            seed: settings.seed,
            overlap,
            kernel,
            compactor,
            last_slot: 1,
            collected: 0,
            first_compile_s: compile.elapsed().as_secs_f64(),
            recompile_s: 0.0,
            reruns: 0,
            pilot_first: None,
            pilot_scored: Vec::new(),
        })
    }

    /// Submits a batch of `n` decays from history `first` on tally `slot`: clear, dispatches,
    /// and (one-chunk tallies) the queued read-back, whose submission it keeps.
    fn launch_on(&self, slot: usize, first: u64, n: u32) -> Result<Launched> {
        self.tallies[slot].clear(self.ctx)?;
        self.dispatch(slot, first, n)?;
        self.launched(slot, first, n)
    }

    /// Submits the dispatches of histories `first .. first + n` on tally `slot`, adding to
    /// what it holds: one per `per_dispatch` histories.
    fn dispatch(&self, slot: usize, first: u64, n: u32) -> Result<()> {
        let ctx = self.ctx;
        let tally = &self.tallies[slot];
        let kernel = &self.kernel;
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
        Ok(())
    }

    /// The batch of `n` decays from `first` whose dispatches on tally `slot` are submitted,
    /// with its read-back queued (one-chunk tallies).
    fn launched(&self, slot: usize, first: u64, n: u32) -> Result<Launched> {
        let read_back = if self.overlap {
            Some(self.tallies[slot].queue_read_back(self.ctx)?)
        } else {
            None
        };
        Ok(Launched {
            slot,
            first,
            n,
            read_back,
        })
    }

    /// The tally slot the next launch takes.
    fn next_slot(&self) -> usize {
        if self.overlap {
            1 - self.last_slot
        } else {
            0
        }
    }

    /// Folds `batch` into `fold`, checked; `Ok(None)` when it came back cut short before its
    /// fold and can be run again.
    fn try_fold(
        &self,
        batch: &mut Launched,
        fold: &mut Fold<'_>,
    ) -> Result<Option<[u64; N_COUNTERS as usize]>> {
        let index = self.collected;
        let n = u64::from(batch.n);
        let deposited_before = fold.stats.deposited_units;
        // A batch may be run again only if it is checked before it is folded.
        let rerun_possible = self.kernel.can_shrink(self.ctx);
        let check =
            |c: &[u64; N_COUNTERS as usize], deposited: u64| check_batch(index, n, c, deposited);
        let folded = match batch.read_back.take() {
            Some(submission) => self.tallies[batch.slot].fold_queued(
                self.ctx,
                submission,
                fold.stats,
                n,
                fold.regions,
                fold.region_sums,
                fold.seconds,
                check,
            ),
            None => self.fold_scored(batch, fold, rerun_possible.then_some(check)),
        };
        match folded {
            Ok(c) => {
                // The whole fold's balance, whether or not it was checked before the fold.
                check_batch(index, n, &c, fold.stats.deposited_units - deposited_before)?;
                Ok(Some(c))
            }
            Err(DeviceError::Incomplete { .. }) if rerun_possible => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A tally of several chunks: the voxels that scored are listed (on a GPU by the device,
    /// `Compactor`; on lavapipe by the host from one read-back), and the host checks (with
    /// `check`, when given) and folds that list (`BatchFold::scored`).
    fn fold_scored(
        &self,
        batch: &Launched,
        fold: &mut Fold<'_>,
        check: Option<impl FnOnce(&[u64; N_COUNTERS as usize], u64) -> Result<(), DeviceError>>,
    ) -> Result<[u64; N_COUNTERS as usize], DeviceError> {
        let ctx = self.ctx;
        let tally = &self.tallies[batch.slot];
        ctx.wait()?;
        let c = tally.read_counters(ctx)?;
        let start = Instant::now();
        let mut scored = tally.take_scored(ctx, self.compactor.as_ref())?;
        let checked = check.map_or(Ok(()), |check| check(&c, tally::scored_units(&scored)));
        if checked.is_ok() {
            let mut f = fold.stats.begin_batch(u64::from(batch.n), fold.regions);
            f.scored(&mut scored);
            f.finish(fold.region_sums);
        }
        *fold.seconds += start.elapsed().as_secs_f64();
        checked.map(|()| c)
    }

    /// lavapipe's loop limit (see `BLOCKS_PER_INVOCATION` in decay_history.wgsl): the batch,
    /// not yet folded, is discarded whole and run again with fewer decays per invocation.
    /// Its histories keep their streams, so the dose does not change. A batch launched ahead
    /// on the other tally is kept: it is checked when it is collected.
    fn rerun(&mut self, batch: &Launched, observer: &mut dyn Observer) -> Result<Launched> {
        let ctx = self.ctx;
        ctx.wait()?;
        let smaller = self.kernel.constants.smaller();
        observer.note(&format!(
            "batch {} came back cut short on {} (lavapipe ends a kernel's loops after 65535 \
             iterations); running it again with {} decays per block, {} blocks per invocation \
             (the dose does not change)",
            self.collected,
            ctx.adapter_info.name,
            smaller.histories_per_block,
            smaller.blocks_per_invocation
        ));
        let compile = Instant::now();
        self.kernel = Kernel::compile(
            ctx,
            &self.grid,
            &self.tallies,
            &self.phys,
            self.params,
            smaller,
        )?;
        self.recompile_s += compile.elapsed().as_secs_f64();
        self.reruns += 1;
        self.launch_on(batch.slot, batch.first, batch.n)
    }
}

/// Device memory beyond the grid and one tally: the tables, and either the second tally
/// with its staging (double-buffered one-chunk tallies) or the scored-voxel list (listed on
/// a GPU by `tally_compact`, so only it is read back).
fn extra_memory(
    ctx: &GpuContext,
    prep: &Prepared,
    packed: &super::physics::PackedTables,
    tally_plan: &super::buffers::ChunkPlan,
    overlap: bool,
    n_vox: u64,
) -> Vec<(&'static str, u64)> {
    let table_bytes = 4 * (packed.ftab.len() + packed.utab.len()) as u64
        + 8 * packed.ptab.len() as u64
        + table_texture_bytes(prep.source.alias.len() as u64);
    let mut extra = vec![("tables", table_bytes)];
    if overlap {
        extra.push((
            "second batch tally + staging",
            2 * tally_plan.device_bytes(),
        ));
    } else if ctx.compacts_on_device() {
        extra.push((
            "scored-voxel list",
            tally::compact_list_bytes(n_vox, ctx.binding_limit_bytes()),
        ));
    }
    extra
}

/// The deposits between two listings of a tally that only grows, both in voxel order: each
/// voxel of `now` less what it held in `before` (0 when it was not listed), zeros dropped.
fn growth(before: &[(u32, u64)], now: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let mut earlier = before.iter().peekable();
    let mut out = Vec::with_capacity(now.len());
    for &(v, units) in now {
        let mut had = 0;
        while let Some(&&(w, u)) = earlier.peek() {
            if w > v {
                break;
            }
            if w == v {
                had = u;
            }
            earlier.next();
        }
        if units > had {
            out.push((v, units - had));
        }
    }
    out
}

impl Backend for GpuBackend<'_> {
    type Batch = Launched;

    fn launch(&mut self, first: u64, n: u32) -> Result<Launched> {
        let slot = self.next_slot();
        self.last_slot = slot;
        self.launch_on(slot, first, n)
    }

    /// A part's dispatches on the tally the batch will take (cleared before the first
    /// part), waited for. Listed (a target run): the tally is read back, and the part's
    /// deposits are its voxels' growth since the part before (integer units, exact).
    fn pilot_part(&mut self, first: u64, n: u32, list: bool) -> Result<PilotPart> {
        let slot = self.next_slot();
        if self.pilot_first.is_none() {
            self.tallies[slot].clear(self.ctx)?;
            self.pilot_first = Some(first);
            self.pilot_scored = Vec::new();
        }
        self.dispatch(slot, first, n)?;
        self.ctx.wait()?;
        if !list {
            return Ok(PilotPart::default());
        }
        let start = Instant::now();
        let scored = self.tallies[slot].scored(self.ctx)?;
        let part = growth(&self.pilot_scored, &scored);
        self.pilot_scored = scored;
        Ok(PilotPart {
            deposits: Some(part),
            listing_s: start.elapsed().as_secs_f64(),
        })
    }

    /// The rest's dispatches on the pilot's tally, which is not cleared. A rerun (lavapipe)
    /// runs the whole batch again from a cleared tally.
    fn launch_rest(&mut self, first: u64, n: u32, done: u32) -> Result<Launched> {
        let slot = self.next_slot();
        if self.pilot_first.take().is_none() {
            self.tallies[slot].clear(self.ctx)?;
        }
        self.pilot_scored = Vec::new();
        self.last_slot = slot;
        self.dispatch(slot, first + u64::from(done), n - done)?;
        self.launched(slot, first, n)
    }

    fn decays(batch: &Launched) -> u32 {
        batch.n
    }

    fn overlaps(&self) -> bool {
        self.overlap
    }

    fn collect(
        &mut self,
        mut batch: Launched,
        fold: &mut Fold<'_>,
        observer: &mut dyn Observer,
    ) -> Result<HistoryCounters> {
        loop {
            if let Some(c) = self.try_fold(&mut batch, fold)? {
                self.collected += 1;
                return Ok(history_counters(&c));
            }
            batch = self.rerun(&batch, observer)?;
        }
    }

    /// Transport time: a rerun's kernel compile is not transport (as the first compile,
    /// which runs before the clock), the discarded batch is.
    fn excluded_s(&self) -> f64 {
        self.recompile_s
    }

    fn device_info(&self, first_batch: u32) -> DeviceInfo {
        // One invocation per block of the first batch's first dispatch, in the final shape.
        let invocations = self
            .kernel
            .per_dispatch
            .min(first_batch)
            .div_ceil(self.kernel.constants.histories_per_block);
        let mut info = self.ctx.device_info(u64::from(invocations));
        info.decays_per_block = Some(self.kernel.constants.histories_per_block);
        info.rerun_batches = Some(self.reruns);
        info.compile_s = Some(self.first_compile_s + self.recompile_s);
        info
    }
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
    /// Compiles `decay_history` with `constants`, binds it, and runs a dispatch of no
    /// histories: lavapipe compiles a kernel at its first dispatch, not with the pipeline
    /// (≈ 8 s on two cores when Mesa's shader cache is cold), and this keeps the compile out
    /// of the transport time and decays/s.
    fn compile(
        ctx: &GpuContext,
        grid: &DeviceGrid,
        tallies: &[DeviceTally],
        phys: &DevicePhysics,
        params: PhysicsParams,
        constants: TransportConstants,
    ) -> Result<Kernel> {
        let pipeline = pipelines::create_with(ctx, DECAY_HISTORY, &constants.pairs())?;
        let kernel = Kernel {
            grid: pipeline.bind(ctx, 1, &grid.buffers())?,
            physics: pipeline.bind_resources(ctx, 3, &phys.resources())?,
            tallies: tallies
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
        let mut empty = params;
        empty.n_histories = 0;
        ctx.queue
            .write_buffer(&phys.uniform.buffer, 0, bytemuck::bytes_of(&empty));
        kernel.pipeline.dispatch(ctx, &kernel.groups(0), 1);
        ctx.wait()?;
        Ok(kernel)
    }

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

/// A batch on the device: its tally slot, its histories and its queued read-back.
pub struct Launched {
    slot: usize,
    first: u64,
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

/// The device counters as the CPU's `HistoryCounters`.
fn history_counters(c: &[u64; N_COUNTERS as usize]) -> HistoryCounters {
    HistoryCounters {
        emitted_units: c[Counter::Emitted as usize],
        escaped_units: c[Counter::Escaped as usize],
        electron_path_mm: c[Counter::ElectronPath as usize] as f64 / f64::from(UNITS_PER_KEV),
        photon_interactions: c[Counter::PhotonInteractions as usize],
        electron_steps: c[Counter::ElectronSteps as usize],
        truncated_tracks: c[Counter::TruncatedTracks as usize],
        radiated_units: c[Counter::Radiated as usize],
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
    fn a_pilot_part_is_the_growth_of_the_tally_since_the_part_before() {
        let before = [(2, 10), (5, 7), (9, 1)];
        let now = [(1, 4), (2, 10), (5, 12), (7, 3), (9, 2)];
        assert_eq!(growth(&before, &now), [(1, 4), (5, 5), (7, 3), (9, 1)]);
        assert_eq!(growth(&[], &now), now);
        assert_eq!(growth(&now, &now), []);
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
