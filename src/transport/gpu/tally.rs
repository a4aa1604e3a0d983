//! The voxel energy tally and the global counters on the device (`shaders/shared/tally.wgsl`).
//!
//! Energy is 64-bit fixed point, [`UNITS_PER_KEV`] units per keV, stored as (lo, hi) u32
//! pairs; the tally is split across up to [`TALLY_MAX_CHUNKS`] bindings by a [`ChunkPlan`].
//! The host clears it before a batch and after it reads it back, piece by piece through one
//! staging buffer kept for the run, folding each mapped piece straight into the f64 batch
//! statistics ([`DeviceTally::fold_batch`]): each batch is exact, and a large grid needs no
//! host copy of its tally. A tally of one chunk is copied whole, with the counters, in a
//! submission queued right behind its batch ([`DeviceTally::queue_read_back`]), so the host
//! waits for that batch alone while the device runs on ([`DeviceTally::fold_queued`]).

use super::buffers::{self, ChunkPlan, NamedBuffer};
use super::device::GpuContext;
use super::DeviceError;
use crate::tally::{BatchFold, BatchStatistics, BatchSums, RegionVoxels};
use crate::transport::gpu_types::{
    TallyParams, COUNTERS_BUFFER_BYTES, N_COUNTERS, QUEUE_WORD, TALLY_MAX_CHUNKS, UNITS_PER_KEV,
};

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

    /// Zeroes the voxel tally and the counters (before each batch).
    pub fn clear(&self, ctx: &GpuContext) -> Result<(), DeviceError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.counters.buffer, 0, None);
        for chunk in &self.chunks {
            encoder.clear_buffer(&chunk.buffer, 0, None);
        }
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

    /// Reads the batch tally back and folds it into `stats` as one batch of `decays` decays,
    /// with the regions' batch energies (`regions`, `sums` as in
    /// [`BatchStatistics::add_batch_and_regions`]); the same fold as the CPU driver's.
    pub fn fold_batch(
        &self,
        ctx: &GpuContext,
        stats: &mut BatchStatistics,
        decays: u64,
        regions: &RegionVoxels,
        sums: &mut [BatchSums],
    ) -> Result<(), DeviceError> {
        let mut fold = stats.begin_batch(decays, regions);
        self.each_piece(ctx, |first, raw| fold_piece(&mut fold, first, raw))?;
        fold.finish(sums);
        Ok(())
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
    /// `stats` as [`DeviceTally::fold_batch`] does, so a batch the host refuses leaves the
    /// statistics as they were. Adds the seconds spent after the wait to `fold_s` and
    /// returns the counters.
    #[allow(
        clippy::too_many_arguments,
        reason = "fold_batch's arguments, plus the submission, the fold clock and the check"
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

    /// The sum of the batch tally's units (waits for the device; reads the tally back, so a
    /// tally of several chunks is read twice when it is checked before its fold).
    pub fn deposited_units(&self, ctx: &GpuContext) -> Result<u64, DeviceError> {
        let mut sum = 0u64;
        self.each_piece(ctx, |_, raw| sum = sum.saturating_add(units_sum(raw)))?;
        Ok(sum)
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
