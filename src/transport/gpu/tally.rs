//! The voxel energy tally and the global counters on the device (`shaders/shared/tally.wgsl`).
//!
//! Energy is 64-bit fixed point, [`UNITS_PER_KEV`] units per keV, stored as (lo, hi) u32
//! pairs; the tally is split across up to [`TALLY_MAX_CHUNKS`] bindings by a [`ChunkPlan`].
//! The host clears it before a batch and folds it into the f64 batch statistics after. A
//! tally of one chunk is copied whole, with the counters, in a submission queued right behind
//! its batch ([`DeviceTally::queue_read_back`]), so the host waits for that batch alone while
//! the device runs on ([`DeviceTally::fold_queued`]). A tally of several chunks (a grid above
//! 2^24 voxels on lavapipe) is folded as the list of the voxels that scored
//! ([`DeviceTally::take_scored`], [`crate::tally::BatchFold::scored`]): on a GPU
//! `tally_compact` makes the list on the device and zeroes what it lists ([`Compactor`]), so
//! only the list crosses to the host; on lavapipe the host makes it from one read-back.

use super::buffers::{self, ChunkPlan, NamedBuffer};
use super::device::GpuContext;
use super::pipelines::{self, Pipeline, TALLY_COMPACT};
use super::DeviceError;
use crate::tally::{BatchFold, BatchStatistics, BatchSums, RegionVoxels};
use crate::transport::gpu_types::{
    CompactParams, TallyParams, COMPACT_ENTRY_WORDS, COMPACT_HEADER_WORDS, COUNTERS_BUFFER_BYTES,
    N_COUNTERS, QUEUE_WORD, TALLY_MAX_CHUNKS, UNITS_PER_KEV,
};
use std::cell::Cell;

/// Bytes per voxel of the tally (lo and hi u32).
pub const TALLY_BYTES_PER_VOXEL: u64 = 8;

/// Bytes of the global counters (a lo, hi u32 pair each), the part of the counters buffer
/// read back.
const COUNTER_BYTES: u64 = 8 * N_COUNTERS as u64;

/// keV → fixed-point units, ties to even: the CPU twin of `energy_units` in
/// `shaders/shared/tally.wgsl` (valid for 0 ≤ e_kev < 65536).
pub fn energy_units(e_kev: f32) -> u32 {
    (e_kev * UNITS_PER_KEV).round_ties_even() as u32
}

/// How a tally of `n_voxels` is split on a device with this binding limit.
pub fn plan(n_voxels: u64, binding_limit_bytes: u64) -> Result<ChunkPlan, DeviceError> {
    ChunkPlan::new(
        "tally_chunk",
        n_voxels,
        TALLY_BYTES_PER_VOXEL,
        TALLY_MAX_CHUNKS,
        binding_limit_bytes,
    )
}

/// The tally buffers of one run (bind group 2).
#[derive(Debug)]
pub struct DeviceTally {
    /// How the voxels are split.
    pub plan: ChunkPlan,
    params: NamedBuffer,
    counters: NamedBuffer,
    chunks: Vec<NamedBuffer>,
    /// Read-back buffer for one chunk (at most the binding limit), reused every batch.
    staging: wgpu::Buffer,
    /// Read-back buffer for the counters, reused every batch.
    counters_staging: wgpu::Buffer,
    /// False only while every voxel is known to be zero (after a [`Compactor::take`] that
    /// listed every voxel that scored), so that [`DeviceTally::clear`] can skip the voxels.
    voxels_dirty: Cell<bool>,
}

impl DeviceTally {
    /// Allocates a zeroed tally for `n_voxels`.
    pub fn new(ctx: &GpuContext, n_voxels: u64) -> Result<Self, DeviceError> {
        let plan = plan(n_voxels, ctx.binding_limit_bytes())?;
        let params = TallyParams {
            n_voxels: n_voxels as u32,
            chunk_shift: plan.shift,
            n_chunks: plan.n_chunks,
            _pad0: 0,
        };
        let chunks = (0..TALLY_MAX_CHUNKS)
            .map(|c| {
                let bytes = plan.chunk_range(c).1 * TALLY_BYTES_PER_VOXEL;
                buffers::storage(ctx, &plan.name(c), bytes)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let staging = buffers::staging(
            ctx,
            "tally_chunk",
            plan.chunk_range(0).1 * TALLY_BYTES_PER_VOXEL,
        )?;
        Ok(DeviceTally {
            staging,
            counters_staging: buffers::staging(ctx, "counters", COUNTER_BYTES)?,
            params: buffers::uniform(ctx, "tally_params", &params)?,
            counters: buffers::storage(ctx, "counters", COUNTERS_BUFFER_BYTES)?,
            chunks,
            plan,
            voxels_dirty: Cell::new(true),
        })
    }

    /// The buffers of bind group 2, in binding order.
    pub fn buffers(&self) -> Vec<&NamedBuffer> {
        let mut all = vec![&self.params, &self.counters];
        all.extend(self.chunks.iter());
        all
    }

    /// Zeroes the work-queue position of `decay_history` (before each dispatch; queue-ordered,
    /// as the dispatch's parameters).
    pub fn reset_queue(&self, ctx: &GpuContext) {
        let offset = 4 * u64::from(QUEUE_WORD);
        ctx.queue
            .write_buffer(&self.counters.buffer, offset, &0u32.to_le_bytes());
    }

    /// Zeroes the voxel tally and the counters (before each batch). The voxels are left as
    /// they are when the last [`Compactor::take`] already zeroed them all.
    pub fn clear(&self, ctx: &GpuContext) -> Result<(), DeviceError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.counters.buffer, 0, None);
        if self.voxels_dirty.get() {
            for chunk in &self.chunks {
                encoder.clear_buffer(&chunk.buffer, 0, None);
            }
        }
        // Whatever runs next scores into the voxels.
        self.voxels_dirty.set(true);
        ctx.queue.submit([encoder.finish()]);
        ctx.check_uncaptured()
    }

    /// Energy per voxel in fixed-point units (waits for the device).
    pub fn read_voxels(&self, ctx: &GpuContext) -> Result<Vec<u64>, DeviceError> {
        let mut out = Vec::with_capacity(self.plan.n_voxels as usize);
        self.each_piece(ctx, |_, raw| {
            out.extend(raw.chunks_exact(8).map(pair_to_u64))
        })?;
        Ok(out)
    }

    /// True when the staging buffer holds the whole tally (one chunk), so a batch's read-back
    /// can be queued with it ([`DeviceTally::queue_read_back`]).
    fn reads_back_whole(&self) -> bool {
        self.plan.n_chunks == 1
    }

    /// Bytes of a one-chunk tally's read-back.
    fn whole_bytes(&self) -> u64 {
        (self.plan.n_voxels * TALLY_BYTES_PER_VOXEL).next_multiple_of(4)
    }

    /// Queues the copy of the whole tally and of the counters into this tally's staging
    /// buffers behind the work submitted so far (one-chunk tallies only), returning the
    /// submission to wait for. Work submitted later does not delay the read-back.
    pub fn queue_read_back(&self, ctx: &GpuContext) -> Result<wgpu::SubmissionIndex, DeviceError> {
        if !self.reads_back_whole() {
            return Err(DeviceError::Failed(format!(
                "the tally spans {} chunks; it is read back piece by piece",
                self.plan.n_chunks
            )));
        }
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let (tally, counters) = (&self.chunks[0].buffer, &self.counters.buffer);
        encoder.copy_buffer_to_buffer(tally, 0, &self.staging, 0, self.whole_bytes());
        encoder.copy_buffer_to_buffer(counters, 0, &self.counters_staging, 0, COUNTER_BYTES);
        Ok(ctx.queue.submit([encoder.finish()]))
    }

    /// Waits for a read-back queued by [`DeviceTally::queue_read_back`] (`submission`) and
    /// hands the counters (indexed by [`crate::transport::gpu_types::Counter`]) and the sum
    /// of the tally's units to `accept`. Only if it accepts them is the tally folded into
    /// `stats` as one batch of `decays` decays (with the regions' batch energies, as
    /// [`BatchStatistics::add_batch_and_regions`]), so a batch the host refuses leaves the
    /// statistics as they were. Adds the seconds spent after the wait to `fold_s` and
    /// returns the counters.
    #[allow(
        clippy::too_many_arguments,
        reason = "the fold's arguments, plus the submission, the fold clock and the check"
    )]
    pub fn fold_queued(
        &self,
        ctx: &GpuContext,
        submission: wgpu::SubmissionIndex,
        stats: &mut BatchStatistics,
        decays: u64,
        regions: &RegionVoxels,
        sums: &mut [BatchSums],
        fold_s: &mut f64,
        accept: impl FnOnce(&[u64; N_COUNTERS as usize], u64) -> Result<(), DeviceError>,
    ) -> Result<[u64; N_COUNTERS as usize], DeviceError> {
        let tally_slice = self.staging.slice(0..self.whole_bytes());
        let counter_slice = self.counters_staging.slice(0..COUNTER_BYTES);
        buffers::map_read_after(ctx, submission, &[&tally_slice, &counter_slice], "tally")?;
        let fold_start = std::time::Instant::now();
        let out = (|| {
            let failed = |e| DeviceError::Failed(format!("reading the tally back: {e}"));
            let raw = tally_slice.get_mapped_range().map_err(failed)?;
            let counters = counters_from(&counter_slice.get_mapped_range().map_err(failed)?);
            accept(&counters, units_sum(&raw))?;
            let mut fold = stats.begin_batch(decays, regions);
            fold_piece(&mut fold, 0, &raw);
            fold.finish(sums);
            Ok(counters)
        })();
        self.staging.unmap();
        self.counters_staging.unmap();
        *fold_s += fold_start.elapsed().as_secs_f64();
        out
    }

    /// The voxels that scored in the batch, with their units, in no fixed order (waits for
    /// the device): listed on the device by `compactor`, which leaves the tally zeroed, or
    /// without one read back piece by piece and listed on the host
    /// ([`tally_compact`]'s rule).
    pub fn take_scored(
        &self,
        ctx: &GpuContext,
        compactor: Option<&Compactor>,
    ) -> Result<ScoredVoxels, DeviceError> {
        match compactor {
            Some(compactor) => compactor.take(ctx, self),
            None => self.scored(ctx),
        }
    }

    /// The voxels that scored so far, with their units, in voxel order, read back piece by
    /// piece; the tally is left as it is (waits for the device).
    pub fn scored(&self, ctx: &GpuContext) -> Result<ScoredVoxels, DeviceError> {
        let mut out = Vec::new();
        self.each_piece(ctx, |first, raw| list_scored(&mut out, first, raw))?;
        Ok(out)
    }

    /// Hands each read-back piece of the voxel tally to `each(first voxel, bytes)`.
    fn each_piece(
        &self,
        ctx: &GpuContext,
        mut each: impl FnMut(usize, &[u8]),
    ) -> Result<(), DeviceError> {
        for c in 0..self.plan.n_chunks {
            let (start, len) = self.plan.chunk_range(c);
            let bytes = len * TALLY_BYTES_PER_VOXEL;
            buffers::read_back_with(
                ctx,
                &self.chunks[c as usize],
                &self.staging,
                bytes,
                |offset, raw| {
                    let first = start + offset / TALLY_BYTES_PER_VOXEL;
                    each(first as usize, raw)
                },
            )?;
        }
        Ok(())
    }

    /// The global counters, indexed by [`crate::transport::gpu_types::Counter`].
    pub fn read_counters(
        &self,
        ctx: &GpuContext,
    ) -> Result<[u64; N_COUNTERS as usize], DeviceError> {
        let mut out = [0u64; N_COUNTERS as usize];
        let (counters, staging) = (&self.counters, &self.counters_staging);
        buffers::read_back_with(ctx, counters, staging, COUNTER_BYTES, |_, raw| {
            out = counters_from(raw)
        })?;
        Ok(out)
    }
}

/// The voxels of a batch that scored, as (voxel, fixed-point units), each voxel once.
pub type ScoredVoxels = Vec<(u32, u64)>;

/// CPU twin of the `tally_compact` kernel (`shaders/tally_compact.wgsl`): the voxels of a
/// tally that scored, with their units, in voxel order. The kernel lists them in no fixed
/// order, and past its list's capacity it leaves the rest in the tally.
pub fn tally_compact(units: &[u64]) -> ScoredVoxels {
    (0u32..)
        .zip(units)
        .filter(|(_, &u)| u != 0)
        .map(|(v, &u)| (v, u))
        .collect()
}

/// Appends the voxels that scored in read-back tally bytes (from voxel `first` on) to `out`,
/// in voxel order ([`crate::tally::collect_scored`]).
fn list_scored(out: &mut Vec<(u32, u64)>, first: usize, raw: &[u8]) {
    crate::tally::collect_scored(raw.len() / 8, first, out, |i| {
        pair_to_u64(&raw[8 * i..8 * i + 8])
    });
}

/// The sum of the units of a batch's voxels as [`Compactor::take`] gives them, saturating
/// like the sum over the whole tally (the batch check, `run::check_batch`).
pub fn scored_units(scored: &[(u32, u64)]) -> u64 {
    scored
        .iter()
        .map(|&(_, u)| u)
        .fold(0u64, u64::saturating_add)
}

/// Bytes of a compacted list of `capacity` entries, header included.
fn compact_bytes(capacity: u64) -> u64 {
    4 * (u64::from(COMPACT_HEADER_WORDS) + u64::from(COMPACT_ENTRY_WORDS) * capacity)
}

/// Entries of the compacted list on this device for `n_voxels`: every voxel, or as many as
/// one binding holds.
pub fn compact_capacity(n_voxels: u64, binding_limit_bytes: u64) -> u64 {
    let per_binding =
        binding_limit_bytes.saturating_sub(compact_bytes(0)) / (4 * u64::from(COMPACT_ENTRY_WORDS));
    n_voxels.min(per_binding).min(u64::from(u32::MAX))
}

/// Device bytes of the compacted list for `n_voxels` (for the memory estimate).
pub fn compact_list_bytes(n_voxels: u64, binding_limit_bytes: u64) -> u64 {
    compact_bytes(compact_capacity(n_voxels, binding_limit_bytes))
}

/// `tally_compact` bound to the tally of a run whose tally spans several bindings: hands the
/// host the voxels that scored in a batch instead of the whole tally
/// (`shaders/tally_compact.wgsl`). A 512×512×400 grid's batch tally is 840 MB; a batch of
/// 10⁵ 177Lu decays scores in well under 10⁶ of its voxels.
#[derive(Debug)]
pub struct Compactor {
    pipeline: Pipeline,
    /// One bind group and dispatch size per chunk in use.
    chunks: Vec<(wgpu::BindGroup, u32)>,
    list: NamedBuffer,
    header_staging: wgpu::Buffer,
    capacity: u32,
}

/// Most workgroups of a `tally_compact` dispatch on a software adapter (where it runs only
/// when a test asks): lavapipe pays per workgroup, so its threads each walk a long stretch.
const SOFTWARE_COMPACT_WORKGROUPS: u64 = 64;

impl Compactor {
    /// Compiles and binds `tally_compact` for `tally` and runs it once (the tally of a new
    /// run is zero, so this lists nothing): lavapipe compiles a kernel at its first dispatch.
    pub fn new(ctx: &GpuContext, tally: &DeviceTally) -> Result<Self, DeviceError> {
        let pipeline = pipelines::create(ctx, TALLY_COMPACT)?;
        let capacity = compact_capacity(tally.plan.n_voxels, ctx.binding_limit_bytes()) as u32;
        let list = buffers::storage(ctx, "compact", compact_bytes(u64::from(capacity)))?;
        let per = u64::from(pipeline.decl.kernel.invocations_per_workgroup());
        let most = if ctx.is_software() {
            SOFTWARE_COMPACT_WORKGROUPS
        } else {
            u64::from(ctx.limits.max_compute_workgroups_per_dimension)
        };
        let chunks = (0..tally.plan.n_chunks)
            .map(|c| {
                let (first, len) = tally.plan.chunk_range(c);
                let x = len.div_ceil(per).clamp(1, most) as u32;
                let params = CompactParams {
                    capacity,
                    stride: x * per as u32,
                    first_voxel: first as u32,
                    n_voxels: len as u32,
                };
                let params = buffers::uniform(ctx, "compact_params", &params)?;
                // The chunk's buffer, under this kernel's name for it.
                let chunk = NamedBuffer {
                    name: format!("compact_chunk ({})", tally.chunks[c as usize].name),
                    buffer: tally.chunks[c as usize].buffer.clone(),
                };
                Ok((pipeline.bind(ctx, 0, &[&params, &list, &chunk])?, x))
            })
            .collect::<Result<Vec<_>, DeviceError>>()?;
        let compactor = Compactor {
            header_staging: buffers::staging(ctx, "compact", compact_bytes(0))?,
            pipeline,
            chunks,
            list,
            capacity,
        };
        compactor.take(ctx, tally)?;
        Ok(compactor)
    }

    /// Takes the batch out of `tally` (the one it was bound to; waits for the device): every
    /// voxel that scored with its units, in no fixed order, and the tally left zeroed. A
    /// batch that scored in more voxels than the list holds has the rest read back whole.
    pub fn take(&self, ctx: &GpuContext, tally: &DeviceTally) -> Result<ScoredVoxels, DeviceError> {
        ctx.queue
            .write_buffer(&self.list.buffer, 0, &0u32.to_le_bytes());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (group, x) in &self.chunks {
            self.pipeline.record(&mut encoder, &[Some(group)], [*x, 1]);
        }
        let header = compact_bytes(0);
        encoder.copy_buffer_to_buffer(&self.list.buffer, 0, &self.header_staging, 0, header);
        let submission = ctx.queue.submit([encoder.finish()]);
        let slice = self.header_staging.slice(0..header);
        buffers::map_read_after(ctx, submission, &[&slice], "compact")?;
        let scored = {
            let raw = slice
                .get_mapped_range()
                .map_err(|e| DeviceError::Failed(format!("reading 'compact': {e}")))?;
            u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]])
        };
        self.header_staging.unmap();
        let listed = scored.min(self.capacity);
        let mut out = Vec::with_capacity(scored as usize);
        // Entries through the tally's staging buffer, whole entries per piece.
        let entry_bytes = 4 * u64::from(COMPACT_ENTRY_WORDS);
        let per_piece = (tally.staging.size() / entry_bytes).max(1);
        let mut done = 0u64;
        while done < u64::from(listed) {
            let n = per_piece.min(u64::from(listed) - done);
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            let offset = header + done * entry_bytes;
            encoder.copy_buffer_to_buffer(
                &self.list.buffer,
                offset,
                &tally.staging,
                0,
                n * entry_bytes,
            );
            let submission = ctx.queue.submit([encoder.finish()]);
            let slice = tally.staging.slice(0..n * entry_bytes);
            buffers::map_read_after(ctx, submission, &[&slice], "compact")?;
            {
                let raw = slice
                    .get_mapped_range()
                    .map_err(|e| DeviceError::Failed(format!("reading 'compact': {e}")))?;
                let words: &[u32] = bytemuck::cast_slice(&raw);
                out.extend(
                    words
                        .chunks_exact(COMPACT_ENTRY_WORDS as usize)
                        .map(|e| (e[0], (u64::from(e[2]) << 32) | u64::from(e[1]))),
                );
            }
            tally.staging.unmap();
            done += n;
        }
        if scored > self.capacity {
            // The voxels past the list are still in the tally; the listed ones are zero.
            tally.each_piece(ctx, |first, raw| list_scored(&mut out, first, raw))?;
        }
        tally.voxels_dirty.set(scored > self.capacity);
        ctx.check_uncaptured()?;
        Ok(out)
    }
}

/// Folds one read-back piece (tally bytes from voxel `first` on) into a batch.
fn fold_piece(fold: &mut BatchFold, first: usize, raw: &[u8]) {
    let len = raw.len() / TALLY_BYTES_PER_VOXEL as usize;
    fold.voxels(first, len, |i: usize| pair_to_u64(&raw[8 * i..8 * i + 8]));
}

/// The sum of the (lo, hi) units in read-back tally bytes, saturating (a sum that large is
/// not a balance, and the batch check says so). One thread: on a software adapter the
/// device's threads are running the next batch meanwhile.
fn units_sum(raw: &[u8]) -> u64 {
    raw.chunks_exact(8)
        .map(pair_to_u64)
        .fold(0u64, u64::saturating_add)
}

/// The counters from their read-back bytes.
fn counters_from(raw: &[u8]) -> [u64; N_COUNTERS as usize] {
    let mut out = [0u64; N_COUNTERS as usize];
    for (o, pair) in out.iter_mut().zip(raw.chunks_exact(8)) {
        *o = pair_to_u64(pair);
    }
    out
}

/// (lo, hi) little-endian u32 pair → u64.
fn pair_to_u64(pair: &[u8]) -> u64 {
    // lo then hi, each little-endian: the u64's own little-endian bytes.
    u64::from_le_bytes([
        pair[0], pair[1], pair[2], pair[3], pair[4], pair[5], pair[6], pair[7],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_units_rounds_ties_to_even_like_wgsl_round() {
        // 0.5 / 65536 keV is exactly half a unit: WGSL round() gives 0, Rust round() 1.
        assert_eq!(energy_units(0.5 / 65536.0), 0);
        assert_eq!(energy_units(1.5 / 65536.0), 2);
        // 2.5 units is a tie too: even (2), where Rust's round() would give 3.
        assert_eq!(energy_units(2.5 / 65536.0), 2);
        // The 208.366 keV line of 177Lu (ICRP-107) is 208.366 × 65536 = 13 655 474.2 units.
        assert_eq!(energy_units(208.366), 13_655_474);
    }

    #[test]
    fn tally_bytes_are_lo_hi_pairs_and_their_sum_saturates() {
        let mut raw = Vec::new();
        for (lo, hi) in [(7u32, 0u32), (u32::MAX, 1), (0, 2)] {
            raw.extend(lo.to_le_bytes());
            raw.extend(hi.to_le_bytes());
        }
        assert_eq!(pair_to_u64(&raw[8..16]), (1 << 32) | u64::from(u32::MAX));
        assert_eq!(units_sum(&raw), 7 + (1 << 33) - 1 + (2 << 32));
        let full = [u8::MAX; 16];
        assert_eq!(units_sum(&full), u64::MAX);
    }

    #[test]
    fn plan_splits_a_512x512x400_grid_over_seven_128_mib_chunks() {
        // 104 857 600 voxels × 8 bytes; 128 MiB holds 2^24 voxels (../shared/docs/WGPU.md §3).
        let p = plan(512 * 512 * 400, 128 << 20).unwrap();
        assert_eq!((p.shift, p.n_chunks), (24, 7));
        assert_eq!(p.chunk_range(6), (6 << 24, 512 * 512 * 400 - (6 << 24)));
        assert_eq!(p.chunk_range(7).1, 0);
    }

    #[test]
    fn plan_rejects_a_grid_beyond_eight_chunks_naming_the_sizes() {
        let err = plan(513 * 512 * 512, 128 << 20).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("tally_chunk") && text.contains("134479872 voxels"),
            "{text}"
        );
    }
}
