//! The wgpu path: adapter selection, pipelines, and the GPU run of the transport kernels.
//!
//! | module | responsibility |
//! |---|---|
//! | [`device`] | `--device auto\|gpu\|cpu`, Vulkan-only adapter choice, limits, error scopes |
//! | [`kernels`] | the WGSL sources (`shaders/`, shared files prepended) and workgroup sizes |
//! | [`pipelines`] | every kernel's bindings, declared once; layouts and pipelines from them |
//! | [`buffers`] | named device buffers and table textures: size checks, upload, read-back |
//! | [`tally`] | the chunked 64-bit fixed-point tally and counters on the device; `tally_compact` |
//! | [`grid`] | the voxel model on the device (material, chunked density), memory estimate |
//! | [`physics`] | physics, emission and source tables packed for the device |
//! | [`run`] | [`run::GpuBackend`]: batches of `decay_history` dispatches, checks, folds |
//! | [`checks`] | test kernels that compare WGSL helpers with their Rust twins |
//!
//! Energies are in keV, tallies in fixed-point units (65536 per keV), sizes in bytes.
//!
//! **Kernel shape.** `decay_history` runs blocks of `HISTORIES_PER_BLOCK` decays (32 on a
//! software adapter, 8 on a GPU: [`device::GpuContext::histories_per_block`]), each
//! invocation taking up to `BLOCKS_PER_INVOCATION` (2) blocks in turn from the batch's work
//! queue (an atomic
//! counter), so lanes that finish early take the work of slow ones. It is written for devices
//! that run groups of lanes under masks (a GPU's warps; lavapipe's 8-lane AVX2 vectors, which
//! also read storage buffers lane by lane and run every branch, taken or not): each particle
//! has its own random-number stream, so an invocation first draws the emissions of its
//! decays into a queue, then tracks all their electrons through one flat
//! loop of `electron_step` passes (a lane whose electron ended starts the next one, of the
//! same decay or the next, in the same pass), then flies the photons, with no photon code in
//! the electron loop. One tally call per step and one atomic per voxel left, interpolation
//! tables as (value, step) texels fetched with `textureLoad`, the source alias table as one
//! texel per column, and the tally and density chunk switches folded away by `override`
//! constants when a grid needs one chunk. Every batch is checked on its return
//! ([`run::check_batch`]: every history counted, energy balanced to the unit): lavapipe silently
//! ends a shader's loops after 65535 iterations in all, and a kernel cut short must never
//! bias the dose. On a software adapter the check comes before the batch's fold, and a batch
//! cut short is discarded and run again with a quarter of the decays per invocation (the
//! same histories on the same streams: the same dose bit for bit; `device.rerun_batches` in
//! the summary counts them); on a GPU, or at one decay per invocation, the run fails.
//! Measurements and the designs tried and dropped are in BENCHMARKS.md.

pub mod buffers;
pub mod checks;
pub mod device;
pub mod grid;
pub mod kernels;
pub mod physics;
pub mod pipelines;
pub mod run;
pub mod tally;

/// The compute device is unavailable or too small.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No adapter was found.
    #[error("no GPU adapter found ({detail}); install a Vulkan driver (e.g. `apt-get install mesa-vulkan-drivers` for the CPU driver lavapipe) or run with --device cpu")]
    NoAdapter {
        /// What wgpu said.
        detail: String,
    },
    /// The problem does not fit the device.
    #[error("{what} needs {needed_bytes} bytes but the device allows {limit_bytes}; use a coarser grid, crop the volume, or run with --device cpu")]
    TooLarge {
        /// What does not fit.
        what: String,
        /// Bytes needed.
        needed_bytes: u64,
        /// The device limit.
        limit_bytes: u64,
    },
    /// The device failed during the run.
    #[error("GPU failure: {0}")]
    Failed(String),
    /// A batch came back with histories missing or its energy not balanced: the driver cut
    /// the kernel short, and the dose would be wrong.
    #[error(
        "GPU failure: batch {batch} came back incomplete ({histories_done} of {histories} \
         histories; energy emitted {emitted} units, deposited {deposited} + escaped {escaped}); \
         the driver ended the kernel early, so no dose is written. Run with --device cpu, \
         and please report the device and driver"
    )]
    Incomplete {
        /// The batch, from 0.
        batch: u32,
        /// Histories the device reports as done.
        histories_done: u64,
        /// Histories in the batch.
        histories: u64,
        /// Energy emitted, fixed-point units.
        emitted: u64,
        /// Energy in the tally, fixed-point units.
        deposited: u64,
        /// Energy escaped, fixed-point units.
        escaped: u64,
    },
}
