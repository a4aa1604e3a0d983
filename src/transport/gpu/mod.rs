//! The wgpu path: adapter selection, pipelines, and the GPU run of the transport kernels.
//!
//! | module | responsibility |
//! |---|---|
//! | [`device`] | `--device auto\|gpu\|cpu`, Vulkan-only adapter choice, limits, error scopes |
//! | [`kernels`] | the WGSL sources (`shaders/`, shared files prepended) and workgroup sizes |
//! | [`pipelines`] | every kernel's bindings, declared once; layouts and pipelines from them |
//! | [`buffers`] | named device buffers and table textures: size checks, upload, read-back |
//! | [`tally`] | the chunked 64-bit fixed-point tally and counters on the device |
//! | [`grid`] | the voxel model on the device (material, chunked density), memory estimate |
//! | [`physics`] | physics, emission and source tables packed for the device |
//! | [`run`] | [`run::simulate_gpu`]: batches of `decay_history` dispatches, statistics |
//! | [`checks`] | test kernels that compare WGSL helpers with their Rust twins |
//!
//! Energies are in keV, tallies in fixed-point units (65536 per keV), sizes in bytes.
//!
//! **Kernel shape.** `decay_history` runs blocks of `HISTORIES_PER_BLOCK` decays, each
//! invocation taking up to four blocks in turn from the batch's work queue (an atomic
//! counter), so lanes that finish early take the work of slow ones. It is written for devices
//! that run groups of lanes under masks (a GPU's warps; lavapipe's 8-lane AVX2 vectors, which
//! also read storage buffers lane by lane and run every branch, taken or not): each particle has its own random-number stream, so an invocation first draws the
//! emissions of its decays into a queue, then tracks all their electrons through one flat
//! loop of `electron_step` passes (a lane whose electron ended starts the next one, of the
//! same decay or the next, in the same pass), then flies the photons, with no photon code in
//! the electron loop. One tally call per step and one atomic per voxel left, interpolation
//! tables as (value, step) texels fetched with `textureLoad`, the source alias table as one
//! texel per column, and the tally and density chunk switches folded away by `override`
//! constants when a grid needs one chunk. Every batch is checked on its return
//! ([`check_batch`]: every history counted, energy balanced to the unit): lavapipe silently
//! ends a shader's loops after 65535 iterations in all, and a kernel cut short must fail the
//! run, not bias the dose. Measurements and the designs tried and dropped are
//! in BENCHMARKS.md.

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

/// Checks that batch `batch` of `histories` came back whole: the device counted every
/// history, and the energy emitted equals the energy tallied plus the energy that escaped
/// (exact in fixed-point units, whatever the order of the atomic adds).
pub fn check_batch(
    batch: u32,
    histories: u64,
    counters: &[u64; crate::transport::gpu_types::N_COUNTERS as usize],
    deposited: u64,
) -> Result<(), DeviceError> {
    use crate::transport::gpu_types::Counter;
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
    use crate::transport::gpu_types::{Counter, N_COUNTERS};

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
