//! Test kernels (`shaders/check_*.wgsl`): run a WGSL helper on the device so tests can compare
//! it with its Rust twin bit for bit. Not used by the transport itself.
//!
//! | function | kernel | Rust twin |
//! |---|---|---|
//! | [`rng_outputs`] | `check_rng` | `physics::rng::Pcg32` |
//! | [`tally_deposits`] | `check_tally` | u64 sums of [`super::tally::energy_units`] |
//! | [`tally_take`] | `check_tally`, then `tally_compact` | [`super::tally::tally_compact`] |
//! | [`grid_lookups`] | `check_grid` | [`super::grid::voxel_of`] and the model's arrays |

use super::buffers;
use super::device::GpuContext;
use super::grid::DeviceGrid;
use super::pipelines::{self, Pipeline};
use super::tally::{Compactor, DeviceTally, ScoredVoxels};
use super::DeviceError;
use crate::geometry::VoxelModel;
use crate::transport::gpu_types::{
    Deposit, GridCheckParams, GridLookup, RngCheckParams, TallyCheckParams, N_COUNTERS,
};

fn one_dispatch(ctx: &GpuContext, pipeline: &Pipeline, n: usize) -> Result<u32, DeviceError> {
    let n = u32::try_from(n)
        .map_err(|_| DeviceError::Failed(format!("{n} items do not fit one test dispatch")))?;
    pipeline.workgroups_for(ctx, n)
}

/// For streams `first_stream ..+ n_streams` under `seed`: the first `n_outputs` u32 of each
/// stream, then the next `n_outputs` uniforms; both flattened as `[stream][k]`.
pub fn rng_outputs(
    ctx: &GpuContext,
    seed: u64,
    first_stream: u64,
    n_streams: u32,
    n_outputs: u32,
) -> Result<(Vec<u32>, Vec<f32>), DeviceError> {
    let pipeline = pipelines::create(ctx, pipelines::CHECK_RNG)?;
    let params = RngCheckParams {
        seed_lo: seed as u32,
        seed_hi: (seed >> 32) as u32,
        first_stream_lo: first_stream as u32,
        first_stream_hi: (first_stream >> 32) as u32,
        n_streams,
        n_outputs,
        _pad0: 0,
        _pad1: 0,
    };
    let count = n_streams as u64 * n_outputs as u64;
    let uniform = buffers::uniform(ctx, "rng_check", &params)?;
    let bits = buffers::storage(ctx, "rng_bits", 4 * count)?;
    let uniforms = buffers::storage(ctx, "rng_uniforms", 4 * count)?;
    let group = pipeline.bind(ctx, 0, &[&uniform, &bits, &uniforms])?;
    let workgroups = one_dispatch(ctx, &pipeline, n_streams as usize)?;
    pipeline.dispatch(ctx, &[Some(&group)], workgroups);
    let raw_bits = buffers::read_back(ctx, &bits, 4 * count)?;
    let raw_uniforms = buffers::read_back(ctx, &uniforms, 4 * count)?;
    let n = count as usize;
    Ok((
        bytemuck::cast_slice::<u8, u32>(&raw_bits)[..n].to_vec(),
        bytemuck::cast_slice::<u8, f32>(&raw_uniforms)[..n].to_vec(),
    ))
}

/// Scores `deposits` into a fresh tally of `n_voxels`; returns the energy per voxel and the
/// global counters, both in fixed-point units (counters indexed by `gpu_types::Counter`).
/// `ctx`'s binding limit decides how many chunk bindings the tally spans.
pub fn tally_deposits(
    ctx: &GpuContext,
    n_voxels: u64,
    deposits: &[Deposit],
) -> Result<(Vec<u64>, [u64; N_COUNTERS as usize]), DeviceError> {
    let tally = DeviceTally::new(ctx, n_voxels)?;
    score(ctx, &tally, deposits)?;
    Ok((tally.read_voxels(ctx)?, tally.read_counters(ctx)?))
}

/// Scores `deposits` into a fresh tally of `n_voxels`, then takes the batch out of it as the
/// transport does for a tally of several chunks ([`DeviceTally::take_scored`], listed on the
/// device by `tally_compact` when `ctx` [`GpuContext::compacts_on_device`], else on the
/// host). Returns the list (voxel, units) and the tally as it is left, per voxel.
pub fn tally_take(
    ctx: &GpuContext,
    n_voxels: u64,
    deposits: &[Deposit],
) -> Result<(ScoredVoxels, Vec<u64>), DeviceError> {
    let tally = DeviceTally::new(ctx, n_voxels)?;
    let compactor = if ctx.compacts_on_device() {
        Some(Compactor::new(ctx, &tally)?)
    } else {
        None
    };
    score(ctx, &tally, deposits)?;
    let scored = tally.take_scored(ctx, compactor.as_ref())?;
    Ok((scored, tally.read_voxels(ctx)?))
}

/// Clears `tally` and runs `check_tally` on `deposits` into it.
fn score(ctx: &GpuContext, tally: &DeviceTally, deposits: &[Deposit]) -> Result<(), DeviceError> {
    let pipeline = pipelines::create(ctx, pipelines::CHECK_TALLY)?;
    let params = TallyCheckParams {
        n_deposits: deposits.len() as u32,
        ..Default::default()
    };
    let uniform = buffers::uniform(ctx, "tally_check", &params)?;
    let list = buffers::storage_init(ctx, "deposits", bytemuck::cast_slice(deposits))?;
    let g0 = pipeline.bind(ctx, 0, &[&uniform, &list])?;
    let g2 = pipeline.bind(ctx, 2, &tally.buffers())?;
    let workgroups = one_dispatch(ctx, &pipeline, deposits.len())?;
    tally.clear(ctx)?;
    pipeline.dispatch(ctx, &[Some(&g0), None, Some(&g2)], workgroups);
    Ok(())
}

/// Looks up each position (mm, transport frame) in `model` on the device.
pub fn grid_lookups(
    ctx: &GpuContext,
    model: &VoxelModel,
    points_mm: &[[f32; 3]],
) -> Result<Vec<GridLookup>, DeviceError> {
    let pipeline = pipelines::create(ctx, pipelines::CHECK_GRID)?;
    let grid = DeviceGrid::upload(ctx, model)?;
    let params = GridCheckParams {
        n_points: points_mm.len() as u32,
        ..Default::default()
    };
    let padded: Vec<[f32; 4]> = points_mm.iter().map(|p| [p[0], p[1], p[2], 0.0]).collect();
    let uniform = buffers::uniform(ctx, "grid_check", &params)?;
    let points = buffers::storage_init(ctx, "points_mm", bytemuck::cast_slice(&padded))?;
    let size = std::mem::size_of::<GridLookup>() as u64 * points_mm.len() as u64;
    let lookups = buffers::storage(ctx, "lookups", size)?;
    let g0 = pipeline.bind(ctx, 0, &[&uniform, &points, &lookups])?;
    let g1 = pipeline.bind(ctx, 1, &grid.buffers())?;
    let workgroups = one_dispatch(ctx, &pipeline, points_mm.len())?;
    pipeline.dispatch(ctx, &[Some(&g0), Some(&g1)], workgroups);
    let raw = buffers::read_back(ctx, &lookups, size)?;
    Ok(bytemuck::cast_slice::<u8, GridLookup>(&raw)[..points_mm.len()].to_vec())
}
